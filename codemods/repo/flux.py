"""Flux conventions, kept here for their importers: the model is codemods/flux/ (spec.py)."""

from __future__ import annotations

from codemods.flux.spec import FORCE_ANNOTATION

__all__ = ["FORCE_ANNOTATION"]

"""Flux conventions that are not part of the reference graph (see codemods/repo/graph.py)."""

from __future__ import annotations

# On an object, makes Flux delete and recreate it when an immutable field changed.
FORCE_ANNOTATION = "kustomize.toolkit.fluxcd.io/force"

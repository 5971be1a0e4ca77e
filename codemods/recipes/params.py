"""Moved to `codemods.params` (below the codemods and the recipes, issue 23 §3); this name stays
for plugins that import their parameter types from here."""

from __future__ import annotations

from codemods.params import (
    ParamError,
    Validator,
    assignments,
    job,
    param,
    policy,
    regex,
    release,
    string,
    validators_of,
    values_path,
)

__all__ = [
    "ParamError",
    "Validator",
    "assignments",
    "job",
    "param",
    "policy",
    "regex",
    "release",
    "string",
    "validators_of",
    "values_path",
]

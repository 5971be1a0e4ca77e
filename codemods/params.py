"""Parameter types of the built-in codemods: validate a recipe's `with:` values, or say why not.

Below both the codemods (their Params dataclasses declare fields with `param`) and the recipes
(which validate a `with:` mapping against them), so neither has to import the other late.
`codemods.recipes.params` still names this module for plugins written against it."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable, Mapping
from typing import Any

from codemods.charts import POLICIES  # the registry only, never a chart's own module

Validator = Callable[[Any], Any]


class ParamError(ValueError):
    pass


def string(value: Any) -> str:
    if not isinstance(value, str) or not value:
        raise ParamError(f"expected a non-empty string, got {value!r}")
    return value


def regex(value: Any) -> str:
    text = string(value)
    try:
        re.compile(text)
    except re.error as err:
        raise ParamError(f"not a regular expression: {err}") from None
    return text


def values_path(value: Any) -> tuple[str, ...]:
    """`litellm-helm.migrationJob` or [litellm-helm, migrationJob]."""
    parts = value.split(".") if isinstance(value, str) else value
    if not isinstance(parts, list | tuple) or not parts or not all(isinstance(p, str) and p for p in parts):
        raise ParamError(f"expected a dotted path or a list of keys, got {value!r}")
    return tuple(parts)


def assignments(value: Any) -> dict[str, bool | int | str]:
    if not isinstance(value, Mapping) or not value:
        raise ParamError(f"expected a mapping of keys to values, got {value!r}")
    for key, item in value.items():
        if not isinstance(key, str) or not isinstance(item, bool | int | str):
            raise ParamError(f"{key!r}: values are true/false, numbers or strings, got {item!r}")
    return dict(value)


def _record(fields: dict[str, Validator]) -> Validator:
    def check(value: Any) -> dict[str, Any]:
        if not isinstance(value, Mapping):
            raise ParamError(f"expected a mapping with {', '.join(fields)}, got {value!r}")
        unknown = sorted(set(value) - set(fields))
        if unknown:
            raise ParamError(f"unknown key {unknown[0]!r}; known: {', '.join(fields)}")
        return {k: fields[k](v) for k, v in value.items()}

    return check


def policy(value: Any) -> str:
    name = string(value)
    if name not in POLICIES:
        raise ParamError(f"unknown policy {name!r}; known: {', '.join(sorted(POLICIES))}")
    return name


job = _record({"name": regex, "text": regex})
release = _record({"values_key": string, "chart": string})


def param(check: Validator, help: str, default: Any = None) -> Any:
    """A codemod parameter: its validator and its one-line help, on a dataclass field."""
    return dataclasses.field(default=default, metadata={"check": check, "help": help})


def validators_of(params: type) -> dict[str, Validator]:
    """A Params dataclass's validators by parameter name (a recipe's `with:` keys)."""
    return {f.name: f.metadata["check"] for f in dataclasses.fields(params) if "check" in f.metadata}

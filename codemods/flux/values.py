"""A HelmRelease's values as helm-controller composes them: one reading of `valuesFrom`, one
typing of a `targetPath` value, one merge, for the planner (which source wins, and what its
value is) and the gate (the effective values of a built release) alike.

helm-controller takes each `valuesFrom` entry in order (a ConfigMap or Secret, `valuesKey`
default `values.yaml`; with `targetPath`, the data string set like Helm's `--set` at that
path), merges each over the ones before, then merges `spec.values` on top. A mapping merges
key by key; anything else is replaced (Helm's `MergeMaps`).
"""

from __future__ import annotations

import copy
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

DEFAULT_VALUES_KEY = "values.yaml"
_INTEGER = re.compile(r"[-+]?[1-9][0-9]*")


@dataclass(frozen=True)
class ValuesRef:
    """One `spec.valuesFrom` entry."""

    kind: str
    name: str
    values_key: str = DEFAULT_VALUES_KEY
    target_path: tuple[str, ...] = ()
    optional: bool = False

    @staticmethod
    def of(kind: object, name: object, values_key: object, target_path: object, optional: object) -> ValuesRef:
        """From the entry's fields as written (None where absent), with Flux's defaults."""
        return ValuesRef(
            str(kind or "ConfigMap"),
            str(name or ""),
            str(values_key or DEFAULT_VALUES_KEY),
            split_target_path(str(target_path or "")),
            optional is True or str(optional).lower() == "true",
        )

    def label(self) -> str:
        return f"{self.kind}/{self.name}[{self.values_key}]"


def refs(values_from: object) -> list[ValuesRef]:
    """The `spec.valuesFrom` list of a release loaded as plain data."""
    if not isinstance(values_from, list):
        return []
    return [
        ValuesRef.of(e.get("kind"), e.get("name"), e.get("valuesKey"), e.get("targetPath"), e.get("optional"))
        for e in values_from
        if isinstance(e, dict)
    ]


def split_target_path(path: str) -> tuple[str, ...]:
    """A targetPath's keys (Helm's --set: a backslash escapes a dot inside a key)."""
    return tuple(p.replace("\\.", ".") for p in re.split(r"(?<!\\)\.", path) if p)


def typed_strval(raw: str) -> bool | int | str | None:
    """A targetPath value as helm-controller types it (Helm's strvals typedVal): true/false,
    null and integers are typed; a quoted value stays a string, without its quotes."""
    if len(raw) > 1 and raw[0] == raw[-1] and raw[0] in "'\"":
        return raw[1:-1]
    if raw.lower() in ("true", "false"):
        return raw.lower() == "true"
    if raw.lower() == "null":
        return None
    if raw == "0" or _INTEGER.fullmatch(raw):
        return int(raw)
    return raw


def deep_merge(base: Any, top: Any) -> Any:
    """Helm's merge of values: mappings merge key by key, anything else is replaced."""
    if isinstance(base, dict) and isinstance(top, dict):
        merged = dict(base)
        for key, value in top.items():
            merged[key] = deep_merge(base.get(key), value) if key in base else value
        return merged
    return copy.deepcopy(top)


def nest(path: Iterable[str], value: Any) -> Any:
    out: Any = value
    for key in reversed(tuple(path)):
        out = {key: out}
    return out


def compose(
    entries: Iterable[ValuesRef], data_of: Callable[[ValuesRef], str | None], load: Callable[[str], Any], inline: Any
) -> tuple[dict[str, Any], list[str]]:
    """The effective values: each entry's data (data_of: the string under its key, or None when
    the object or key is missing) in order, then `inline` (spec.values) on top. Returns the
    values and what could not be found (a missing optional entry is skipped silently)."""
    values: dict[str, Any] = {}
    missing: list[str] = []
    for ref in entries:
        raw = data_of(ref)
        if raw is None:
            if not ref.optional:
                missing.append(ref.label())
            continue
        if ref.target_path:
            values = deep_merge(values, nest(ref.target_path, typed_strval(raw)))
            continue
        try:
            loaded = load(raw)
        except ValueError:
            missing.append(f"{ref.label()} (not YAML)")
            continue
        if isinstance(loaded, dict):
            values = deep_merge(values, loaded)
    if isinstance(inline, dict):
        values = deep_merge(values, inline)
    return values, missing

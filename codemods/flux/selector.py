"""Which objects a kustomize patch's `target:` selects, as kustomize selects them.

kustomize reads `group`, `version`, `kind`, `name` and `namespace` of a target as regular
expressions that must match the whole field (`name: openhands.*`), and `labelSelector` and
`annotationSelector` as Kubernetes selectors (`app=x,tier!=db`, `app in (a, b)`, `!legacy`).
A patch with a target applies to every object the target selects, whatever name a strategic
merge patch's own body carries; without one, to the object its body names.

Labels and annotations are read from the object as written: one a parent's `labels:`
transformer adds is not seen here (the build gate, which reads what kustomize builds, is).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache


@dataclass(frozen=True)
class Selected:
    """What a target is matched against: one object as written."""

    kind: str
    name: str
    namespace: str | None = None
    labels: Mapping[str, str] | None = None
    annotations: Mapping[str, str] | None = None


@dataclass(frozen=True)
class Target:
    """A patch's `target:`; a field left out selects everything."""

    kind: str | None = None
    name: str | None = None
    namespace: str | None = None
    label_selector: str | None = None
    annotation_selector: str | None = None

    def selects(self, obj: Selected) -> bool:
        return (
            _matches(self.kind, obj.kind)
            and _matches(self.name, obj.name)
            and (self.namespace is None or _matches(self.namespace, obj.namespace or ""))
            and _selector(self.label_selector, obj.labels or {})
            and _selector(self.annotation_selector, obj.annotations or {})
        )


@lru_cache(maxsize=1024)
def _pattern(expression: str) -> re.Pattern[str] | None:
    try:
        return re.compile(expression)
    except re.error:
        return None  # Go's syntax that Python's lacks: compared as a literal


def _matches(expression: str | None, value: str) -> bool:
    if expression is None or expression == "":
        return True
    pattern = _pattern(expression)
    return pattern.fullmatch(value) is not None if pattern is not None else expression == value


_SET = re.compile(r"^\s*([^\s!=(),]+)\s+(in|notin)\s+\(([^)]*)\)\s*$")


def _selector(expression: str | None, values: Mapping[str, str]) -> bool:
    """A Kubernetes label selector over values: every requirement must hold."""
    if not expression:
        return True
    return all(_requirement(part, values) for part in _split(expression))


def _split(expression: str) -> list[str]:
    """The requirements of a selector: split at commas outside `in (...)` lists."""
    parts, depth, current = [], 0, ""
    for char in expression:
        depth += char == "("
        depth -= char == ")"
        if char == "," and depth == 0:
            parts.append(current)
            current = ""
        else:
            current += char
    return [p for p in [*parts, current] if p.strip()]


def _requirement(text: str, values: Mapping[str, str]) -> bool:
    found = _SET.match(text)
    if found is not None:
        key, operator, listed = found.groups()
        options = {v.strip() for v in listed.split(",")}
        return (values.get(key) in options) if operator == "in" else (values.get(key) not in options)
    text = text.strip()
    for operator in ("!=", "==", "="):
        key, sep, value = text.partition(operator)
        if sep:
            equal = values.get(key.strip()) == value.strip()
            return not equal if operator == "!=" else equal
    if text.startswith("!"):
        return text[1:].strip() not in values
    return text in values

"""Values as the preview shows them, and the mark of a value that is not set: a leaf, so that
the run's summary and report can show a verdict without loading the build parser (PyYAML)."""

from __future__ import annotations

import re
from typing import Any


class _Missing:
    def __repr__(self) -> str:
        return "(unset)"


MISSING: Any = _Missing()


_ALONE: Any = object()


def show(value: Any, against: Any = _ALONE) -> str:
    """A value as the preview prints it. Shown against the other side of a change, a string
    that reads as another type is quoted when that side is not a string ('false' -> false)."""
    if value is MISSING:
        return "(unset)"
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    if isinstance(value, str):
        # A string that reads as another type ("false", "1") is quoted, so `"false" -> false` shows.
        plain = value and value.strip() == value and "\n" not in value
        if plain and against is not _ALONE and not isinstance(against, str) and _READS_AS_OTHER_TYPE.match(value):
            plain = False
        return value if plain else repr(value)
    return str(value)


_READS_AS_OTHER_TYPE = re.compile(
    r"(?i)(true|false|yes|no|on|off|y|n|null|~|[-+]?(\d[\d_]*)?\.?\d+([e][-+]?\d+)?|0x[0-9a-f]+|0o[0-7]+|[-+]?\.inf|\.nan)\Z"
)

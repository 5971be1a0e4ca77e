"""The contract between a chart's knowledge and the values codemod."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from codemods.repo.selectors import JobMatcher

Scalar = bool | int | str
# Reads the release's effective value at a key path (None: set nowhere, the chart default applies).
Lookup = Callable[[tuple[str, ...]], Scalar | None]


@dataclass(frozen=True)
class Fix:
    """Set the value at path (relative to the release's values) to value, because why."""

    path: tuple[str, ...]
    value: Scalar
    why: str


class Policy(Protocol):
    @property
    def name(self) -> str: ...

    @property
    def charts(self) -> tuple[str, ...]:
        """Chart identities of the releases the policy handles directly."""
        ...

    @property
    def subchart_keys(self) -> tuple[str, ...]:
        """Values keys of the sub-charts it handles inside other charts."""
        ...

    @property
    def job(self) -> JobMatcher:
        """The standalone Job manifests that belong to its releases."""
        ...

    @property
    def needles(self) -> tuple[bytes, ...]:
        """What a file must contain to be worth a parse."""
        ...

    def fix(self, prefix: tuple[str, ...], lookup: Lookup, has_standalone_job: bool) -> Fix | None:
        """The one change the release needs, or None. prefix is () for the chart itself, or
        the sub-chart's values key."""
        ...

    def skip_branch(self, prefix: tuple[str, ...], block_enabled: Scalar | None) -> bool:
        """Leave a Jinja branch of the sub-chart's block alone (it disables the sub-chart)."""
        ...

"""The contract between a chart's knowledge and the values codemod."""

from __future__ import annotations

import re
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
    # Safe in every configuration of the chart (any database mode, any values). Where the Flux
    # builds of one release need different fixes, an edit in a file they share applies to all
    # of them: the universal fix is then made for all (codemods/mods/disable_migration_job.py).
    universal: bool = False
    # The fix makes the chart's Job a Helm pre-install hook: on a fresh install it runs before
    # anything else of the release, and Helm waits for it (the run warns when what it needs is
    # created by the same Flux Kustomization).
    pre_install_hook: bool = False


@dataclass(frozen=True)
class Refusal:
    """No value is a safe fix for this release: the known fix would trade one outage for another
    (or its chart version has no such value). The run warns, naming the release, changes nothing
    in it, and `--check` keeps failing: the repository is not fixed."""

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
    def job(self) -> JobMatcher | None:
        """The standalone Job manifests that belong to its releases (None: the chart has none)."""
        ...

    @property
    def needles(self) -> tuple[bytes, ...]:
        """What a file must contain to be worth a parse."""
        ...

    @property
    def chart_needles(self) -> tuple[bytes, ...]:
        """Chart names whose releases may need the fix without a needle in their values."""
        ...

    def fix(
        self,
        prefix: tuple[str, ...],
        lookup: Lookup,
        has_standalone_job: bool,
        chart: str | None = None,
        version: str | None = None,
    ) -> Fix | Refusal | None:
        """The one change the release needs, a Refusal when no change is safe, or None. prefix
        is () for the chart itself, or the sub-chart's values key; chart and version are the
        release's own chart (for a sub-chart: the parent, whose values may change the
        sub-chart's defaults)."""
        ...

    def skip_branch(self, prefix: tuple[str, ...], block_enabled: Scalar | None) -> bool:
        """Leave a Jinja branch of the sub-chart's block alone (it disables the sub-chart)."""
        ...

    def implied_subchart(self, chart: str | None, version: str | None) -> tuple[str, ...] | None:
        """The sub-chart key of a parent chart that, at this version (or range), deploys the
        sub-chart with its defaults when the release's values never mention it; else None."""
        ...


_VERSION = re.compile(r"^v?(\d+)\.(\d+)(?:\.(\d+|[xX*]))?(?:[-+][0-9A-Za-z.-]*)?$")
_UPPER = re.compile(r"<(=?)\s*v?(\d+)\.(\d+)(?:\.(\d+))?")


def _normal(spec: str) -> str:
    """`=0.2.4` is 0.2.4; `=<` and `=>` are Masterminds semver's (Helm's) spellings of `<=`, `>=`."""
    return spec.strip().replace("=<", "<=").replace("=>", ">=").removeprefix("=").strip()


def only_below(spec: str | None, fixed: tuple[int, int, int]) -> bool:
    """True when every version a chart version or range allows is below fixed.

    Understood: an exact version (`0.2.4`, `v0.2.4`; a pre-release counts as its release),
    `0.2.x` / `0.2.*`, `~0.2.1`, `^0.2.1` (below 0.3.0, as for any 0.x), and a range with an
    upper bound (`>=0.2.0 <0.3.0`, `<=0.2.9`). Anything else, or no version at all (the latest
    is installed), is not known to be below: False."""
    if not spec or "||" in spec:  # a union of ranges: not judged
        return False
    text = _normal(spec)
    caret = text.startswith("^")
    text = text.removeprefix("~").removeprefix("^").strip()
    exact = _VERSION.match(text)
    if exact is not None:
        major, minor, patch = int(exact.group(1)), int(exact.group(2)), exact.group(3)
        if caret:  # ^X.Y.Z allows up to the next major, or the next minor for 0.x
            return (major, minor + 1, 0) <= fixed if major == 0 else (major + 1, 0, 0) <= fixed
        if patch is None or not patch.isdigit() or spec.strip().startswith("~"):
            return (major, minor + 1, 0) <= fixed  # any patch of X.Y
        return (major, minor, int(patch)) < fixed
    upper = _UPPER.search(text)
    if upper is None:
        return False
    bound = (int(upper.group(2)), int(upper.group(3)), int(upper.group(4) or 0))
    return bound < fixed if upper.group(1) else bound <= fixed


_LOWER = re.compile(r">=?\s*v?(\d+)\.(\d+)(?:\.(\d+))?")


def at_or_above(spec: str | None, fixed: tuple[int, int, int]) -> bool:
    """True when every version a chart version or range allows is fixed or newer. No version
    at all installs the latest, which is. Understood as in only_below, plus a lower bound
    (`>=0.3.0`); anything else (a digest, an unknown range) is not known: False."""
    if spec is None or not spec.strip():
        return True  # unpinned: Flux installs the latest
    if "||" in spec:  # a union of ranges: not judged
        return False
    text = _normal(spec)
    if text in ("latest", "*", "x", "X"):
        return True
    exact = _VERSION.match(text.removeprefix("~").removeprefix("^").strip())
    if exact is not None:  # an exact version, or the lowest a ~, ^ or X.Y.x range allows
        patch = exact.group(3) or "0"
        return (int(exact.group(1)), int(exact.group(2)), int(patch) if patch.isdigit() else 0) >= fixed
    lower = _LOWER.search(text)
    return lower is not None and (int(lower.group(1)), int(lower.group(2)), int(lower.group(3) or 0)) >= fixed


# How a values lookup spells YAML's null (the scalar's text): Helm drops a null key from the
# merged values, so the template sees nothing there.
_NULLS = ("", "~", "null", "Null", "NULL")


def truthy(value: Scalar | None, default: bool) -> bool:
    """What a chart's `{{ if .Values.x }}` makes of an effective value; None (set nowhere) is the
    chart's default. false, 0 and null are false; any other string, even a quoted "false", is true."""
    if value is None:
        return default
    if isinstance(value, str):
        return value not in _NULLS
    return bool(value)

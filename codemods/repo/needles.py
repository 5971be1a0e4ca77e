"""What the active codemods look for, as cheap byte tests, and how a set of codemods adds up
to one pre-filter for the scan (`codemods.repo.index.scan`).

A leaf: it imports nothing of the project but the selectors' defaults, so the runner, the
doctor and the scan can all ask it without importing one another."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from codemods.repo.selectors import LITELLM_JOB, LITELLM_RELEASE, JobMatcher


@dataclass(frozen=True)
class Needles:
    """What the active codemods look for, as cheap byte tests."""

    values: tuple[bytes, ...] = LITELLM_RELEASE.needles
    # Chart names whose releases matter even when their values never mention a wanted key (a
    # parent chart that deploys the sub-chart by default). Weaker than values: a word like
    # "openhands" is also a namespace, so such a file is a candidate, not a certain match.
    charts: tuple[bytes, ...] = ()
    jobs: tuple[JobMatcher, ...] = (LITELLM_JOB,)
    every_job: bool = False  # reads every Job manifest: the doctor's fuller pre-filter


def needles_for(mods: Iterable[object]) -> Needles:
    """What the active codemods declared they read (their `needs`). A plugin that declares
    nothing gets the fullest pre-filter: every flag the index knows."""
    declared: list[Needles | None] = [getattr(m, "needs", None) for m in mods]
    values = tuple(sorted({n for d in declared if d is not None for n in d.values}))
    jobs = tuple(sorted({j for d in declared if d is not None for j in d.jobs}, key=repr))
    every_job = any(d is None or d.every_job for d in declared)
    charts = tuple(sorted({c for d in declared if d is not None for c in d.charts}))
    return Needles(values=values, jobs=jobs, every_job=every_job, charts=charts)


def flags_alike(needles: Needles | None, other: Needles) -> bool:
    """True when an index flagged with needles flags what one flagged with other would."""
    return (
        needles is not None
        and set(needles.values) == set(other.values)
        and set(needles.jobs) == set(other.jobs)
        and needles.every_job == other.every_job
        and set(needles.charts) == set(other.charts)
    )

"""What every codemod sees: the repo index, the plan so far, the Flux graph, the workloads."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

from codemods.errors import EncodingError
from codemods.plan import Plan
from codemods.repo.flux import FluxGraph, FluxKustomization
from codemods.repo.index import RepoIndex
from codemods.repo.layout import is_within
from codemods.repo.selectors import LITELLM_JOB, LITELLM_RELEASE, JobMatcher, ReleaseSelector
from codemods.repo.workloads import MigrationJob, Release, find_migration_jobs, find_releases


class Codemod(Protocol):
    name: str
    description: str

    def plan(self, ctx: Context) -> None: ...


@dataclass(frozen=True)
class Placement:
    """Where a migration Job belongs: the directory the release's Flux Kustomization builds."""

    job: MigrationJob
    release: Release
    kustomization: FluxKustomization

    @property
    def target_dir(self) -> str:
        return self.kustomization.path


@dataclass
class Context:
    index: RepoIndex
    plan: Plan
    flux: FluxGraph = field(init=False)
    _cache: dict = field(init=False, default_factory=dict)

    def __post_init__(self) -> None:
        self.flux = FluxGraph(self.index)

    def readable_text(self, path: str, codemod: str | None = None) -> str | None:
        """The planned text of path, or None (with a warning) when it is not UTF-8."""
        try:
            return self.plan.text(path)
        except EncodingError as err:
            self.plan.warn(err.path, err.line, err.message, codemod)
            return None

    def _cached(self, key: tuple, compute):
        if key not in self._cache:
            self._cache[key] = compute()
        return self._cache[key]

    def releases(self, selector: ReleaseSelector = LITELLM_RELEASE) -> list[Release]:
        def compute() -> list[Release]:
            found: list[Release] = []
            for unit in self.index.flagged("values_match"):
                text = self.readable_text(unit.primary.path)
                if text is not None:
                    found.extend(find_releases(unit, text, selector))
            return found

        return self._cached(("releases", selector), compute)

    def migration_jobs(self, matcher: JobMatcher = LITELLM_JOB) -> list[MigrationJob]:
        def compute() -> list[MigrationJob]:
            found: list[MigrationJob] = []
            for unit in self.index.flagged("job_match"):
                text = self.readable_text(unit.primary.path)
                if text is not None:
                    found.extend(find_migration_jobs(unit, text, matcher))
            return found

        return self._cached(("jobs", matcher), compute)

    def placements(
        self, selector: ReleaseSelector = LITELLM_RELEASE, matcher: JobMatcher = LITELLM_JOB
    ) -> list[Placement]:
        """Where each matching Job belongs, for Jobs whose owner can be told for sure."""

        def compute() -> list[Placement]:
            placements = []
            for job in self.migration_jobs(matcher):
                placement = self._place(job, self.releases(selector))
                if placement is not None:
                    placements.append(placement)
            for path, line, message in self.flux.warnings:
                self.plan.warn(path, line, message)
            return placements

        return self._cached(("placements", selector, matcher), compute)

    def _place(self, job: MigrationJob, releases: list[Release]) -> Placement | None:
        candidates = _candidate_releases(job, releases)
        if not candidates:
            return None
        # A base release and an overlay's values patch are one release: what counts is the
        # Flux Kustomization that deploys them.
        by_deployer: dict[tuple[str, str], Placement] = {}
        for release in candidates:
            ks = self.flux.deployer(release.directory)
            if ks is not None:
                by_deployer.setdefault((ks.file, ks.name), Placement(job, release, ks))
        if len(by_deployer) == 1:
            return next(iter(by_deployer.values()))
        where = job.unit.primary.path
        if not by_deployer:
            dirs = ", ".join(sorted({f"{r.directory}/" for r in candidates}))
            self.plan.warn(
                where, job.line, f"no Flux Kustomization in this repo builds {dirs}; Job {job.name} stays where it is"
            )
        else:
            names = ", ".join(sorted(p.kustomization.display() for p in by_deployer.values()))
            self.plan.warn(
                where, job.line, f"Job {job.name} could belong to several Flux Kustomizations ({names}); left in place"
            )
        return None


def _candidate_releases(job: MigrationJob, releases: list[Release]) -> list[Release]:
    """The nearest tier of releases the Job could serve."""
    # A Job in the namespace directory serves the releases below it; a Job named
    # "<release>-..." serves that release; a lone release serves any Job.
    below = [r for r in releases if is_within(r.directory, job.directory)]
    named = [r for r in releases if r.name and job.name.startswith(r.name + "-")]
    for tier in ([r for r in below if r in named], below, named, releases):
        if tier:
            return tier
    return []

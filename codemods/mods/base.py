"""What every codemod sees: the repo index, the plan so far, the Flux graph, the workloads."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import Protocol

from codemods.errors import InputError
from codemods.plan import Plan
from codemods.repo.flux import FluxGraph, FluxKustomization
from codemods.repo.index import RepoIndex
from codemods.repo.layout import is_within
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

    def __post_init__(self) -> None:
        self.flux = FluxGraph(self.index)

    @cached_property
    def releases(self) -> list[Release]:
        found: list[Release] = []
        for unit in self.index.flagged("litellm_values"):
            found.extend(find_releases(unit, self.index.read_text(unit.primary.path)))
        return found

    @cached_property
    def migration_jobs(self) -> list[MigrationJob]:
        found: list[MigrationJob] = []
        for unit in self.index.flagged("migration_job"):
            found.extend(find_migration_jobs(unit, self.index.read_text(unit.primary.path)))
        return found

    @cached_property
    def placements(self) -> list[Placement]:
        placements = []
        for job in self.migration_jobs:
            release = self._release_for(job)
            if release is None:
                continue
            ks = self.flux.deployer(release.directory)
            if ks is None:
                self.plan.warn(
                    release.unit.primary.path,
                    release.line,
                    f"no Flux Kustomization in this repo builds {release.directory}/; "
                    f"cannot tell where Job {job.name} belongs, so it stays where it is",
                )
                continue
            placements.append(Placement(job, release, ks))
        for path, line, message in self.flux.warnings:
            self.plan.warn(path, line, f"{message} (skipped while reading Flux Kustomizations)")
        return placements

    def _release_for(self, job: MigrationJob) -> Release | None:
        """The litellm release a Job serves, only when that can be told for sure."""
        releases = self.releases
        # Nearest first: a Job in the namespace directory serves the releases below it.
        below = [r for r in releases if is_within(r.directory, job.directory)]
        named = [r for r in releases if r.name and job.name.startswith(r.name + "-")]
        for candidates in ([r for r in below if r in named], below, named, releases):
            distinct = {(r.unit.logical, r.name) for r in candidates}
            if len(distinct) == 1:
                return candidates[0]
            if len(distinct) > 1:
                self.plan.warn(
                    job.unit.primary.path,
                    job.line,
                    f"Job {job.name} could serve several litellm releases "
                    f"({', '.join(sorted(r.name for r in candidates))}); left in place",
                )
                return None
        return None


def read_or_fail(ctx: Context, path: str) -> str:
    try:
        return ctx.plan.text(path)
    except OSError as err:
        raise InputError(path, None, f"cannot read: {err.strerror}") from None

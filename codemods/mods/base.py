"""What every codemod sees: the repo index, the plan so far, the Flux graph, the workloads."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

from codemods.errors import EncodingError
from codemods.plan import Plan
from codemods.repo.graph import Application, FluxKustomization, KustomizeFile, Link, Ref, RepoGraph
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
    """Where a migration Job belongs, and what makes other Flux Kustomizations apply it.

    The Job belongs to the directory its release's own Flux Kustomization builds (spec.path):
    only there does it wait for the release's dependsOn. It is *stray* when another Flux
    Kustomization applies it; `cut` are the references that make them do so."""

    job: MigrationJob
    release: Release
    kustomization: FluxKustomization  # the release's own
    identity: str  # namespace/name of the release's own Flux Kustomization
    move: bool  # the file must move into target_dir
    cut: tuple[tuple[KustomizeFile, Ref], ...]  # references to remove
    strays: tuple[str, ...]  # identities of the other Flux Kustomizations that apply it now
    namespace_before: str | None  # where the Job lands today
    namespace_at_target: str | None  # where it lands in target_dir without its own metadata.namespace

    @property
    def target_dir(self) -> str:
        return self.kustomization.path

    @property
    def needs_namespace(self) -> str | None:
        """The namespace to write into the moved file, so the Job stays where it was."""
        if self.move and self.namespace_before and self.namespace_at_target != self.namespace_before:
            return self.namespace_before
        return None


@dataclass
class Context:
    index: RepoIndex
    plan: Plan
    graph: RepoGraph = field(init=False)
    _cache: dict = field(init=False, default_factory=dict)

    def __post_init__(self) -> None:
        self.graph = RepoGraph(self.index)

    @property
    def flux(self) -> RepoGraph:
        """The graph, under its old name (plugins use ctx.flux.deployer and ctx.flux.named)."""
        return self.graph

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
            for path, line, message in self.graph.warnings:
                self.plan.warn(path, line, message)
            return placements

        return self._cached(("placements", selector, matcher), compute)

    def _place(self, job: MigrationJob, releases: list[Release]) -> Placement | None:
        candidates = _candidate_releases(job, releases)
        if not candidates:
            return None
        where = job.unit.primary.path
        # A base release and an overlay's values patch are one release: what counts is the
        # Flux Kustomization that applies it.
        owners: dict[str, tuple[Release, FluxKustomization]] = {}
        for release in candidates:
            for app in self.graph.appliers(release.unit.logical):
                owners.setdefault(self.graph.identity(app.flux), (release, app.flux))
        if len(owners) != 1:
            if not owners:
                dirs = ", ".join(sorted({f"{r.directory}/" for r in candidates}))
                message = f"no Flux Kustomization in this repo applies {dirs}; Job {job.name} stays where it is"
            else:
                message = f"Job {job.name} could belong to several Flux Kustomizations ({', '.join(sorted(owners))}); left in place"
            self.plan.warn(where, job.line, message)
            return None
        identity, (release, own) = next(iter(owners.items()))
        applications = self.graph.appliers(job.unit.logical)
        mine = [a for a in applications if self.graph.identity(a.flux) == identity]
        others = [a for a in applications if self.graph.identity(a.flux) != identity]
        if mine:
            # Flux's generated kustomization has no entry to remove: only moving the file stops it.
            move = any(not a.refs() or a.refs()[-1][1].target != job.unit.logical for a in others)
        else:
            # Unlisted in the target directory itself, it only needs listing; elsewhere it moves.
            move = job.directory != own.path
        own_refs = {(k.path, r.node.start_mark.index) for a in mine for k, r in a.refs()}
        direct: dict[tuple[str, int], tuple[KustomizeFile, Ref]] = {}
        if move:
            # Every kustomization that names the file must let go of it, applied by Flux or not:
            # an entry left behind names a missing file and fails that whole build.
            for kustomize, ref in self.graph.referrers(job.unit.logical, fields=None):
                direct[(kustomize.path, ref.node.start_mark.index)] = (kustomize, ref)
        for app in [] if move else others:
            for kustomize, ref in app.refs():
                if ref.target == job.unit.logical:
                    direct[(kustomize.path, ref.node.start_mark.index)] = (kustomize, ref)
        if not move and any(key in own_refs for key in direct):
            shared = ", ".join(sorted(f"{k.path}:{r.node.start_mark.line + 1}" for k, r in direct.values()))
            self.plan.warn(
                where,
                job.line,
                f"Job {job.name} is listed where two Flux Kustomizations build it ({shared}); left as it is",
            )
            return None
        before = next((a.namespace(job.namespace) for a in [*others, *mine]), job.namespace)
        target_link = Link(own.path, self.graph.kustomize_file(own.path), None)
        at_target = Application(own, (target_link,)).namespace(job.namespace)
        return Placement(
            job=job,
            release=release,
            kustomization=own,
            identity=identity,
            move=move,
            cut=tuple(direct[k] for k in sorted(direct)),
            strays=tuple(sorted({self.graph.identity(a.flux) for a in others})),
            namespace_before=before,
            namespace_at_target=at_target,
        )


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

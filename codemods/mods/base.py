"""What every codemod sees: the repo index, the plan so far, the Flux graph, the workloads."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Protocol

from codemods import params
from codemods.charts import POLICIES
from codemods.errors import EncodingError, InputError
from codemods.intents import Adjustment, LeaveInPlace
from codemods.params import param
from codemods.plan import Plan
from codemods.repo.graph import Application, FluxKustomization, KustomizeFile, Link, Ref, RepoGraph
from codemods.repo.index import RepoIndex, Unit
from codemods.repo.layout import is_within
from codemods.repo.needles import Needles
from codemods.repo.selectors import LITELLM_JOB, LITELLM_RELEASE, JobMatcher, ReleaseSelector
from codemods.repo.values import ValuesModel, locate, value_at
from codemods.repo.workloads import (
    UNKNOWN_VERSION,
    MigrationJob,
    Release,
    chart_identity,
    chart_source,
    chart_version,
    find_migration_jobs,
    is_helm_release,
    source_version,
)
from codemods.yamltext.locate import MappingNode, compose, first, scalar_value


class Codemod(Protocol):
    """The contract (docs: README "Write a codemod"). A codemod holds only the change:

    - `name` and `description`, and its parameters as a frozen `Params` dataclass next to its
      code (recipes validate `with:` against it; each field carries its validator and help);
    - `needs`: what it reads from the model, as cheap byte tests, so the runner pre-filters
      from the declaration, not from guessed attributes;
    - `plan(ctx)`: reads the model through the context and proposes changes to ctx.plan. It
      never writes; diff, disk and git consume the plan afterwards."""

    name: str
    description: str

    @property
    def needs(self) -> Needles: ...

    def plan(self, ctx: Context) -> None: ...


@dataclass(frozen=True)
class PlacementParams:
    """Parameters of the codemods that place standalone Jobs (relocate, sync, annotate)."""

    job: dict | None = param(params.job, "which Job manifests: {name: regex, text: regex}")
    release: dict | None = param(params.release, "which releases own them: {values_key: key, chart: name}")


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
    # The name Flux builds the Job with today (a parent's namePrefix/nameSuffix), and the
    # (prefix, suffix) target_dir's build gives a name; None where not known here.
    names_before: tuple[str, ...] = ()
    affixes_at_target: tuple[str, str] | None = ("", "")
    # Set where the clusters resolve the owner's spec.path differently (an overlay per cluster):
    # the directory beside the release that every cluster's build reads.
    directory: str | None = None

    @property
    def target_dir(self) -> str:
        return self.directory if self.directory is not None else self.kustomization.path

    @property
    def needs_namespace(self) -> str | None:
        """The namespace to write into the moved file, so the Job stays where it was."""
        if self.move and self.namespace_before and self.namespace_at_target != self.namespace_before:
            return self.namespace_before
        return None

    @property
    def needs_name(self) -> str | None:
        """The name to write into the moved file so that Flux builds the Job with the name it
        has today (a parent's namePrefix gave it `team-`), or None when none is needed or none
        can do it (two names today, or one the target's own affixes cannot frame)."""
        if not self.move or len(self.names_before) != 1 or self.affixes_at_target is None:
            return None
        (before,) = self.names_before
        prefix, suffix = self.affixes_at_target
        if before == f"{prefix}{self.job.name}{suffix}":
            return None
        inner = before[len(prefix) : len(before) - len(suffix)] if len(before) > len(prefix) + len(suffix) else ""
        if not (before.startswith(prefix) and before.endswith(suffix) and inner):
            return None
        return inner


@dataclass
class Context:
    index: RepoIndex
    plan: Plan
    # What this candidate plan must carry over to moved Jobs, or which Jobs it leaves where they
    # are (codemods.verify.run.prove): empty for the first candidate, learnt from the builds
    # of a refused one for the next.
    carry: tuple[Adjustment, ...] = ()
    graph: RepoGraph = field(init=False)
    _cache: dict = field(init=False, default_factory=dict)

    def __post_init__(self) -> None:
        # A file the graph needs and cannot read is the plan's warning, whichever codemod asked.
        self.graph = RepoGraph.of(self.index, warnings=self.plan.warnings)

    @property
    def flux(self) -> RepoGraph:
        """The graph, under its old name (plugins use ctx.flux.deployer and ctx.flux.named)."""
        return self.graph

    def readable_text(self, path: str, codemod: str | None = None) -> str | None:
        """The planned text of a file the codemod only reads, or None (with a warning) when it
        is not UTF-8. A file the codemod must edit is read with plan.text: not UTF-8, it stops
        the run (README, "Files that are not UTF-8")."""
        try:
            return self.plan.text(path)
        except EncodingError as err:
            self.plan.report(err.diagnostic, codemod)
            return None

    def _cached(self, key: tuple, compute):
        if key not in self._cache:
            self._cache[key] = compute()
        return self._cache[key]

    # -- the model's views, each computed once ---------------------------------------------------
    @property
    def values(self) -> ValuesModel:
        """Where each release's effective values come from (valuesFrom, spec.values, patches)."""
        return self._cached(("values",), lambda: ValuesModel(self.graph))

    def _chart_source_table(self) -> dict[tuple[str, str], list[_ChartSource]]:
        """(kind, name) -> every OCIRepository or HelmChart of that kind and name that names a
        wanted chart (the pre-filter's chart_source files), with where it is declared."""

        def compute() -> dict[tuple[str, str], list[_ChartSource]]:
            found: dict[tuple[str, str], list[_ChartSource]] = {}
            flagged = ("chart_source", "values_match", "chart_match")  # a source may share a release's file
            units = {u.logical: u for attribute in flagged for u in self.index.flagged(attribute)}
            for unit in (units[logical] for logical in sorted(units)):
                text = self.readable_text(unit.primary.path)
                if text is None:
                    continue
                for doc in self._parse(unit, text):
                    kind, name, chart = chart_source(doc)
                    if kind and name and chart:
                        namespace = scalar_value(first(first(doc, "metadata"), "namespace"))
                        where = _ChartSource(unit.logical.rpartition("/")[0], namespace, chart, source_version(doc))
                        found.setdefault((kind, name), []).append(where)
            return found

        return self._cached(("chart_sources",), compute)

    def _parse(self, unit: Unit, text: str, strict: bool | None = None) -> tuple:
        """The documents of a file the pre-filter flagged. One flagged for a chart name alone
        ("openhands" is a namespace too) may be unrelated: a YAML error in it is a warning, not
        the end of the run. strict None: strict when the file holds a codemod's values needle."""
        try:
            return _documents(text, unit)
        except InputError as err:
            needles = self.index.needles
            if strict is None:
                strict = (
                    needles is None
                    or any(n.decode() in text for n in needles.values)
                    or any(_chart_line(c.decode()).search(text) for c in needles.charts)
                )
            if strict:
                raise
            self.plan.warn(
                err.diagnostic.file, err.diagnostic.line, f"{err.diagnostic.message}; not checked for the fix"
            )
            return ()

    def _chart_ref_source(self, unit: Unit, doc: MappingNode) -> tuple[str | None, str | None] | None:
        """(chart, version) of the source a HelmRelease's chartRef names, None when there is no
        chartRef. Sources of one kind and name in other namespaces are not it; of the rest, the
        one nearest the release's own directory is (two clusters may each have an `openhands`).
        A tie between different answers, or no source found, is an unknown version."""
        spec = first(doc, "spec")
        ref = first(spec, "chartRef")
        kind, name = scalar_value(first(ref, "kind")), scalar_value(first(ref, "name"))
        if not kind or not name:
            return None
        namespace = scalar_value(first(ref, "namespace")) or scalar_value(first(first(doc, "metadata"), "namespace"))
        same_name = self._chart_source_table().get((kind, name), [])
        # A source declared in the chartRef's namespace is the one; one that does not say its
        # namespace (a kustomization or Flux may give it one) may be; another namespace's is not.
        candidates = [c for c in same_name if namespace is not None and c.namespace == namespace] or [
            c for c in same_name if c.namespace is None or namespace is None
        ]
        if not candidates:
            return name, UNKNOWN_VERSION
        here = unit.logical.rpartition("/")[0]
        depth = {id(c): _shared_depth(c.directory, here) for c in candidates}
        best = max(depth.values())
        nearest = {(c.chart, c.version) for c in candidates if depth[id(c)] == best}
        if len(nearest) == 1:
            return nearest.pop()
        charts = {chart for chart, _version in nearest}
        return (charts.pop() if len(charts) == 1 else name), UNKNOWN_VERSION

    def _implies(self, values_key: str, unit: Unit, doc: MappingNode, chart: str | None) -> bool:
        """Does the release's chart deploy the values_key sub-chart without its values naming it
        (OpenHands before 0.3.0 deploys litellm-helm, and its Job, by default)? The same
        answer the disable codemod's policy gives, so that one run places the Job too."""
        policies = [p for p in POLICIES.values() if values_key in p.subchart_keys]
        version = self.chart_version_of(unit, doc) if policies else None
        return any(values_key in (p.implied_subchart(chart, version) or ()) for p in policies)

    def chart_of(self, unit: Unit, doc: MappingNode) -> str | None:
        """The chart a HelmRelease installs: spec.chart.spec.chart, or its chartRef's chart."""
        source = self._chart_ref_source(unit, doc)
        return source[0] if source is not None else chart_identity(doc)

    def chart_version_of(self, unit: Unit, doc: MappingNode) -> str | None:
        """The version (or range) of the chart a HelmRelease installs: None when it floats,
        UNKNOWN_VERSION when it cannot be known here."""
        source = self._chart_ref_source(unit, doc)
        return source[1] if source is not None else chart_version(doc)

    def helm_release_documents(self) -> list[tuple[Unit, int, MappingNode]]:
        """Every HelmRelease that may matter: it mentions a wanted key or chart, or takes values
        or its chart from a file that does (read only when such files exist)."""

        def compute() -> list[tuple[Unit, int, MappingNode]]:
            # Input the fix may need (a YAML error in it stops the run), then candidates that
            # only name a parent chart (an error in them is a warning).
            strict = {u.logical: u for u in self.index.flagged("values_match")}
            lenient = {u.logical: u for u in self.index.flagged("chart_match")}
            takes_values = bool(self.index.flagged("values_source"))
            if takes_values or self.index.flagged("chart_source"):
                weak = set(self.index.needles.charts) if self.index.needles is not None else set()
                names = {
                    name: all(c.chart.encode() in weak for c in found)
                    for (_kind, name), found in self._chart_source_table().items()
                }
                for unit in self.index.flagged("helm_release"):
                    text = self.readable_text(unit.primary.path) or ""
                    named = [only_weak for name, only_weak in names.items() if name in text]
                    if (takes_values and "valuesFrom" in text) or (named and not all(named)):
                        strict.setdefault(unit.logical, unit)
                    elif named:
                        lenient.setdefault(unit.logical, unit)
            found = []
            for logical in sorted(strict.keys() | lenient.keys()):
                unit = strict.get(logical) or lenient[logical]
                content = self.readable_text(unit.primary.path)
                if content is None:
                    continue
                for index, doc in enumerate(self._parse(unit, content, logical in strict or None)):
                    if is_helm_release(doc):
                        found.append((unit, index, doc))
            return found

        return self._cached(("helm_release_documents",), compute)

    def releases(self, selector: ReleaseSelector = LITELLM_RELEASE) -> list[Release]:
        """HelmReleases the selector picks: by chart identity, or by a values key in any source."""

        def compute() -> list[Release]:
            found: list[Release] = []
            for unit, index, doc in self.helm_release_documents():
                chart = self.chart_of(unit, doc)
                wanted = selector.chart or selector.values_key
                own = [k for k, _v in _values_pairs(doc) if k.value == selector.values_key]
                by_source = any(
                    value_at(place.root, (selector.values_key,))
                    for source in self.values.sources(unit, index, doc)
                    if source.kind != "spec.values" and not source.target_path
                    for place in locate(
                        source, self.graph.text(source.path) or "", source.path, source.unit.primary.delimiters
                    )
                )
                implied = selector.chart is None and self._implies(selector.values_key, unit, doc, chart)
                if chart != wanted and not (selector.chart is None and (own or by_source)) and not implied:
                    continue
                meta = first(doc, "metadata")
                where = own[0] if own else (first(doc, "kind") or doc)
                found.append(
                    Release(
                        unit,
                        scalar_value(first(meta, "name")) or "",
                        scalar_value(first(meta, "namespace")),
                        where.start_mark.line + 1,
                    )
                )
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
                left = self._left_in_place(job)
                if left is not None:
                    message = (
                        f"Job {job.name} left where it is: the build gate refused every candidate that places it "
                        f"({left.why}); the rest of the change stands without it: place it by hand"
                    )
                    self.plan.warn(job.unit.primary.path, job.line, message)
                    continue
                placement = self._place(job, self.releases(selector))
                if placement is not None:
                    placements.append(placement)
            return placements

        return self._cached(("placements", selector, matcher), compute)

    def _left_in_place(self, job: MigrationJob) -> LeaveInPlace | None:
        return next(
            (
                a
                for a in self.carry
                if isinstance(a, LeaveInPlace) and (a.source, a.job) == (job.unit.logical, job.name)
            ),
            None,
        )

    def _without_an_owner(self, job: MigrationJob, candidates: list[Release]) -> Placement | None:
        """No Flux Kustomization the model resolves applies the release: one the clusters resolve
        differently may (then the Job goes where each cluster's build reads it); else say why."""
        unknown = [ks for ks in self.graph.flux_kustomizations() if "${" in ks.path]
        per_cluster = self._per_cluster_place(job, candidates, unknown)
        if per_cluster is not None:
            return per_cluster
        dirs = ", ".join(sorted({f"{r.directory}/" for r in candidates}))
        message = f"no Flux Kustomization in this repo applies {dirs}; Job {job.name} stays where it is"
        if unknown:
            paths = ", ".join(f"{self.graph.identity(ks)} ({ks.file}): ./{ks.path}" for ks in unknown[:3])
            message += (
                f" (a Flux Kustomization whose spec.path is not known here may: {paths}; a variable the "
                f"clusters set differently, or one defined only in the cluster, decides it)"
            )
        self.plan.warn(job.unit.primary.path, job.line, message)
        return None

    def _per_cluster_place(
        self, job: MigrationJob, candidates: list[Release], unknown: list[FluxKustomization]
    ) -> Placement | None:
        """A release whose Flux Kustomization the clusters resolve differently (`path:
        …/${CLUSTER}`, an overlay per cluster over a shared base): the Job belongs beside the
        release when every cluster's build reads it there and a kustomization there can list it
        (the gate then builds each cluster's reading). None when there is no such place."""
        for release in candidates:
            listing = self.graph.kustomize_file(release.directory)
            if listing is None:
                continue
            for ks in unknown:
                variants = [
                    v
                    for v in self.graph.declared_per_cluster(ks.file)
                    if (v.name, v.namespace) == (ks.name, ks.namespace)
                ]
                reads = [self.graph.build_reads(v) for v in variants]
                if len(variants) <= 1 or not all({release.unit.logical, listing.unit.logical} <= r for r in reads):
                    continue
                return self._shared_placement(job, release, ks, variants[0], listing)
        return None

    def _shared_placement(
        self, job: MigrationJob, release: Release, ks: FluxKustomization, one: FluxKustomization, listing: KustomizeFile
    ) -> Placement:
        others = self.graph.appliers(job.unit.logical)
        cut = {
            (kustomize.path, ref.node.start_mark.index): (kustomize, ref)
            for kustomize, ref in self.graph.referrers(job.unit.logical, fields=None)
        }
        chain = (Link(one.path, self.graph.kustomize_file(one.path), None), Link(release.directory, listing, None))
        at_target = Application(one, chain)
        return Placement(
            job=job,
            release=release,
            kustomization=one,
            identity=self.graph.identity(ks),
            move=job.directory != release.directory,
            cut=tuple(cut[k] for k in sorted(cut)),
            strays=tuple(sorted({self.graph.identity(a.flux) for a in others})),
            namespace_before=next((a.namespace(job.namespace) for a in others), job.namespace),
            namespace_at_target=at_target.namespace(job.namespace),
            names_before=_built_names(job, others),
            affixes_at_target=at_target.affixes(),
            directory=release.directory,
        )

    def _place(self, job: MigrationJob, releases: list[Release]) -> Placement | None:
        candidates = _candidate_releases(job, releases)
        if not candidates:
            return None
        where = job.unit.primary.path
        # A base release and an overlay's values patch are one release: what counts is the
        # Flux Kustomization that applies it.
        # Keyed by declaring file too: two clusters may both declare flux-system/apps.
        owners: dict[tuple[str, str], tuple[Release, FluxKustomization]] = {}
        for release in candidates:
            for app in self.graph.appliers(release.unit.logical):
                owners.setdefault((app.flux.file, self.graph.identity(app.flux)), (release, app.flux))
        if not owners:
            return self._without_an_owner(job, candidates)
        if len(owners) > 1:
            several = ", ".join(sorted(f"{ident} ({file})" for file, ident in owners))
            message = f"Job {job.name} could belong to several Flux Kustomizations ({several}); left in place"
            self.plan.warn(where, job.line, message)
            return None
        (own_file, identity), (release, own) = next(iter(owners.items()))
        applications = self.graph.appliers(job.unit.logical)
        mine = [a for a in applications if (a.flux.file, self.graph.identity(a.flux)) == (own_file, identity)]
        others = [a for a in applications if (a.flux.file, self.graph.identity(a.flux)) != (own_file, identity)]
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
            names_before=_built_names(job, [*others, *mine]),
            affixes_at_target=Application(own, (target_link,)).affixes(),
        )


def _built_names(job: MigrationJob, applications: list[Application]) -> tuple[str, ...]:
    """The names Flux builds the Job with through these applications (their namePrefix and
    nameSuffix), where they are known here."""
    return tuple(sorted({f"{a[0]}{job.name}{a[1]}" for a in (app.affixes() for app in applications) if a}))


def _chart_line(chart: str) -> re.Pattern[str]:
    """`chart: openhands` (or `./charts/openhands`, quoted): a release of that chart, plainly."""
    return re.compile(rf"(?m)^\s*chart:\s*[\"']?(?:[^\s\"'#]*/)?{re.escape(chart)}[\"']?\s*(?:#.*)?$")


@dataclass(frozen=True)
class _ChartSource:
    """An OCIRepository or HelmChart: where it is declared, and the chart and version it serves."""

    directory: str
    namespace: str | None
    chart: str
    version: str | None


def _shared_depth(a: str, b: str) -> int:
    """How many leading directories two repository paths share."""
    depth = 0
    for left, right in zip(a.split("/"), b.split("/"), strict=False):
        if left != right:
            break
        depth += 1
    return depth


def _documents(text: str, unit: Unit) -> tuple:
    copy = unit.primary
    return compose(text, copy.path, copy.delimiters)


def _values_pairs(doc: MappingNode) -> list:
    values = first(first(doc, "spec"), "values")
    return list(values.value) if isinstance(values, MappingNode) else []


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

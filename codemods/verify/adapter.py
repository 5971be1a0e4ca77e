"""The one place that knows the plan and the repository model: it turns them into the gate's inputs.

Kept thin on purpose: when the repository model changes, only this file follows it.
"""

from __future__ import annotations

import posixpath
from collections.abc import Iterable, Mapping
from dataclasses import replace
from typing import Any

from codemods.errors import InputError
from codemods.flux.spec import FluxKustomization, parse_flux_kustomizations
from codemods.intents import EffectiveValue, JobPlacement, MetadataMayGrow
from codemods.plan import Plan
from codemods.repo.graph import RepoGraph
from codemods.repo.layout import is_within
from codemods.verify.gate import relevant
from codemods.verify.model import FluxTarget, MovedJob, Scalar, ValueExpectation, VerifyInput, uid
from codemods.yamltext.locate import MappingNode, compose, first, scalar_value


def flux_targets(plan: Plan, reached: set[str] | None = None, graph: RepoGraph | None = None) -> tuple[FluxTarget, ...]:
    """The Flux Kustomizations a change can reach (every one, without reached), with what a
    build of each needs. Only files whose pre-filtered spec.path is a reached path, or above
    one, or that name components, are parsed: a 3,000-app repository has 3,000 of them."""
    index = plan.index
    graph = graph or RepoGraph.of(index)
    found: list[FluxTarget] = []
    via_components = reached is not None and _reaches_a_component(plan, reached)
    # A Flux Kustomization the change edits (a value fix in its spec.patches) builds differently.
    written = plan.changeset().writes() if reached is not None else {}
    for unit in index.flagged("flux_paths"):
        copy = unit.rendered or unit.template
        assert copy is not None
        edited = any(c.path in written for c in unit.copies)
        if reached is not None and not edited and not _may_reach(plan, copy.path, reached, via_components):
            continue
        # The model parses them: spec.path in any spelling, ${VAR} resolved, artifact roots, and
        # every field that changes the build (codemods/flux/spec.py).
        declared = graph.declared_per_cluster(copy.path)
        several = len({(ks.name, ks.namespace) for ks in declared}) < len(declared)
        found.extend(
            replace(target(graph, ks, _patches_after(plan, ks, written) if edited else None), per_cluster=several)
            for ks in declared
        )
    return tuple(found)


def _patches_after(
    plan: Plan, ks: FluxKustomization, written: Mapping[str, str | None]
) -> tuple[Mapping[str, Any], ...] | None:
    """The Flux Kustomization's spec.patches as the change leaves its file, when they differ."""
    text = written.get(ks.file)
    if text is None:
        return None
    classified = plan.index.layout.classify(ks.file)
    delims = classified[1].delimiters if classified else None
    for after in parse_flux_kustomizations(text, ks.file, delims):
        if (after.name, after.namespace) == (ks.name, ks.namespace) and after.patches != ks.patches:
            return after.patches
    return None


def target(
    graph: RepoGraph, ks: FluxKustomization, patches_after: tuple[Mapping[str, Any], ...] | None = None
) -> FluxTarget:
    """A Flux Kustomization of the model as the gate builds it."""
    variables = graph.variables(ks)
    return FluxTarget(
        name=ks.name,
        # namespace/name as Flux sees it: a parent kustomization may give it its namespace
        namespace=graph.identity(ks).split("/", 1)[0],
        path=ks.path,
        components=ks.components,
        target_namespace=ks.target_namespace,
        substitute=dict(variables.values) if ks.post_build else {},
        depends_on=ks.depends_on,
        file=ks.file,
        line=ks.line,
        substitute_complete=variables.complete,
        name_prefix=ks.name_prefix,
        name_suffix=ks.name_suffix,
        patches=ks.patches,
        images=ks.images,
        ignore_missing_components=ks.ignore_missing_components,
        common_metadata=ks.common_metadata,
        patches_after=patches_after,
    )


def _may_reach(plan: Plan, path: str, reached: set[str], components: bool) -> bool:
    facts = plan.index.facts.get(path)
    candidates = facts.flux_paths if facts is not None else ()
    # A `${VAR}` path is only known once the model resolves it: the few such files are parsed.
    if any("${" in c for c in candidates):
        return True
    # A candidate may be written relative to its source's artifact root (`apps/x` for `kubernetes/apps/x`).
    if any(
        c in reached or any(is_within(node, c) or node.endswith("/" + c) or f"/{c}/" in node for node in reached)
        for c in candidates
    ):
        return True
    # Through spec.components only when a reached directory is a Component at all.
    return components and b"components:" in (plan.index.read_bytes(path) or b"")


def _reaches_a_component(plan: Plan, reached: set[str]) -> bool:
    for directory in reached:
        unit = plan.index.kustomization(directory)
        if unit is not None and b"Component" in (plan.index.read_bytes(unit.primary.path) or b""):
            return True
    return False


def _logical(plan: Plan, path: str) -> str:
    classified = plan.index.layout.classify(path)
    return classified[0] if classified else path


def _documents(plan: Plan, path: str, kind: str) -> Iterable[tuple[str, str | None]]:
    """(name, namespace) of each document of kind in the planned text of a physical file."""
    classified = plan.index.layout.classify(path)
    delims = classified[1].delimiters if classified else None
    try:
        docs = compose(plan.text(path), path, delims)
    except InputError:
        return
    for doc in docs:
        if isinstance(doc, MappingNode) and scalar_value(first(doc, "kind")) == kind:
            meta = first(doc, "metadata")
            name = scalar_value(first(meta, "name"))
            if name:
                yield name, scalar_value(first(meta, "namespace"))


def writes(plan: Plan) -> dict[str, bytes | None]:
    """The frozen change set, as the gate's planned writes."""
    return {path: None if text is None else text.encode("utf-8") for path, text in plan.changeset().writes().items()}


def build_input(plan: Plan) -> VerifyInput:
    """The gate's inputs: the planned writes, the Flux Kustomizations they can reach, and the
    plan's intents (codemods.intents), never which codemod made which edit."""
    index = plan.index
    graph = RepoGraph.of(index)
    templates: dict[str, str] = {}
    for logical, unit in index.units.items():
        template = unit.template
        if template is not None and unit.rendered is None and index.layout.layout_of(template.path).kind == "in-place":
            templates[logical] = template.path
    for src, dst in plan.moves.items():  # an in-place template that moves renders at its new place
        if src in templates.values() and dst.endswith(".j2"):
            templates[dst[: -len(".j2")]] = dst
    planned = writes(plan)
    kustomizations = tuple(u.logical for u in index.kustomizations())
    targets = list(
        flux_targets(plan, relevant(plan.root, planned, kustomizations, templates, index.kept_files()), graph)
    )
    moved = _placements(plan, graph, targets)
    expectations = _values(plan)
    may_gain = frozenset(i.subject for i in plan.intents if isinstance(i, MetadataMayGrow))
    return VerifyInput(
        targets=tuple(targets),
        writes=planned,
        moved_jobs=tuple(moved),
        values=tuple(expectations),
        may_gain_metadata=may_gain,
        kustomizations=kustomizations,
        templates=templates,
        read=index.kept_files(),
    )


def _placements(plan: Plan, graph: RepoGraph, targets: list[FluxTarget]) -> list[MovedJob]:
    """Each JobPlacement as the gate checks it; its owner is added to what is built (where a
    Job lands is always built)."""
    moved: list[MovedJob] = []
    for intent in plan.intents:
        if not isinstance(intent, JobPlacement):
            continue
        job_unit = plan.index.units.get(intent.source)
        if job_unit is None:
            continue
        # (The owner may be read from a template and the target from its render: same logical file.)
        key, where = intent.owner.key, _logical(plan, intent.owner.file)

        def owns(t: FluxTarget, key: str = key, where: str = where) -> bool:
            return t.key == key and _logical(plan, t.file) == where

        if not any(owns(t) for t in targets):
            owner = graph.deployer(posixpath.dirname(intent.destination))
            if owner is not None:
                targets.extend(t for t in flux_targets(plan, {owner.path}, graph) if owns(t))
        owning = [t.uid for t in targets if owns(t)] or [uid(intent.owner.file, key)]
        copy = job_unit.rendered or job_unit.primary  # a render has no masked Jinja in its names
        for name, namespace in _documents(plan, copy.path, "Job"):
            if name != intent.job:
                continue
            # A template's Jinja is masked when parsed: its namespace may not be the real one.
            shown = namespace if copy.delimiters is None else None
            moved.append(
                MovedJob(
                    name,
                    owning[0],
                    shown,
                    intent.source,
                    intent.destination,
                    intent.release,
                    str(intent),
                    intent.names_before,
                    intent.name_after,
                    tuple(owning[1:]),
                    intent.companions,
                )
            )
    return moved


def _values(plan: Plan) -> list[ValueExpectation]:
    """EffectiveValue intents, one expectation per release (judged once, by the first file
    stated for it: a template and its render carry the same release)."""
    by_release: dict[tuple[str, str | None, str], dict[str, Scalar]] = {}
    files: dict[tuple[str, str | None, str], str] = {}
    for intent in plan.intents:
        if isinstance(intent, EffectiveValue):
            key = (intent.release, intent.namespace, intent.source)
            by_release.setdefault(key, {})[intent.path] = intent.value
            files.setdefault(key, intent.file)
    return [
        ValueExpectation(release, values, namespace, files[key], source)
        for key, values in by_release.items()
        for release, namespace, source in [key]
    ]

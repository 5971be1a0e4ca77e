"""Rules on Flux-applied Jobs: job-secret-not-ready, job-ttl-under-flux, job-immutable-under-flux."""

from __future__ import annotations

import posixpath
from collections.abc import Iterator

from codemods.diagnostics import Diagnostic
from codemods.doctor.model import DoctorContext, Finding, line_of
from codemods.doctor.rules import RULES
from codemods.repo.flux import FORCE_ANNOTATION
from codemods.repo.graph import FluxKustomization
from codemods.repo.index import Unit
from codemods.repo.values import selected
from codemods.yamltext.locate import MappingNode, ScalarNode, SequenceNode, entries, first, scalar_value

# Where the doctor looks for a Secret's declaration (DoctorContext.secret_sources).
DECLARATIONS = "no Secret, SOPS file, ExternalSecret, existingSecret value or CloudNativePG cluster"


def check(ctx: DoctorContext) -> Iterator[Diagnostic]:
    for unit in ctx.units("job"):
        for doc in ctx.docs(unit):
            if not (isinstance(doc, MappingNode) and scalar_value(first(doc, "kind")) == "Job"):
                continue
            ks = ctx.applied_by(unit)
            if ks is None:
                directory = posixpath.dirname(unit.logical)
                if not ctx.is_built(directory):
                    ctx.not_reached(directory, unit.primary.path, "a Job")
                continue  # nothing applies it: manifest-not-listed says so where it matters
            yield from _ttl(unit, doc, ks)
            if not _forced_by_a_patch(ctx, unit, doc):
                yield from _immutable(unit, doc, ks)
            yield from _secrets(ctx, unit, doc, ks)


def _ttl(unit: Unit, doc: MappingNode, ks: FluxKustomization) -> Iterator[Diagnostic]:
    for key, _value in entries(first(doc, "spec"), "ttlSecondsAfterFinished"):
        yield Finding(
            unit.primary.path,
            line_of(key),
            "job-ttl-under-flux",
            RULES["job-ttl-under-flux"].severity,
            f"Flux Kustomization {ks.display()} applies this Job: after the TTL deletes it, Flux creates it "
            "again at the next reconciliation and it runs again",
            "remove ttlSecondsAfterFinished (Flux prunes the Job with its Kustomization)",
        )


def _forced_by_a_patch(ctx: DoctorContext, unit: Unit, doc: MappingNode) -> bool:
    """Does a patch of a kustomization that applies the Job give it the force annotation (one
    whose target selects it, or that names it)? The Job Flux builds is then forced."""
    job = selected(doc)
    for app in ctx.flux.appliers(unit.logical):
        for link in app.chain:
            parsed = link.kustomize
            for patch in parsed.patches if parsed is not None else []:
                body = patch.inline.value if patch.inline is not None else ctx.flux.text(patch.path or "") or ""
                aimed = patch.target.selects(job) if patch.target is not None else job.name in body
                if aimed and FORCE_ANNOTATION in body:
                    return True
    return False


def _immutable(unit: Unit, doc: MappingNode, ks: FluxKustomization) -> Iterator[Diagnostic]:
    annotations = first(first(doc, "metadata"), "annotations")
    if scalar_value(first(annotations, FORCE_ANNOTATION)) == "enabled" or ks.force:
        return
    yield Finding(
        unit.primary.path,
        line_of(first(doc, "kind") or doc),
        "job-immutable-under-flux",
        RULES["job-immutable-under-flux"].severity,
        f"Flux Kustomization {ks.display()} applies this Job without spec.force and it has no "
        f"{FORCE_ANNOTATION}: enabled annotation, so any change to it (an image bump) fails as immutable",
        "run `codemods run --only annotate-job-force`, or set spec.force: true on the Kustomization",
    )


def _secret_refs(doc: MappingNode) -> Iterator[ScalarNode]:
    pod = first(first(first(doc, "spec"), "template"), "spec")
    for list_key in ("containers", "initContainers"):
        containers = first(pod, list_key)
        for container in containers.value if isinstance(containers, SequenceNode) else []:
            env = first(container, "env")
            for item in env.value if isinstance(env, SequenceNode) else []:
                name = first(first(first(item, "valueFrom"), "secretKeyRef"), "name")
                if isinstance(name, ScalarNode):
                    yield name
            env_from = first(container, "envFrom")
            for item in env_from.value if isinstance(env_from, SequenceNode) else []:
                name = first(first(item, "secretRef"), "name")
                if isinstance(name, ScalarNode):
                    yield name
    volumes = first(pod, "volumes")
    for volume in volumes.value if isinstance(volumes, SequenceNode) else []:
        name = first(first(volume, "secret"), "secretName")
        if isinstance(name, ScalarNode):
            yield name
        sources = first(first(volume, "projected"), "sources")
        for source in sources.value if isinstance(sources, SequenceNode) else []:
            name = first(first(source, "secret"), "name")
            if isinstance(name, ScalarNode):
                yield name


def _secret_names(doc: MappingNode) -> Iterator[ScalarNode]:
    """Each Secret name a Job reads, once (where it is first named); a ${VAR} name is not judged."""
    seen: set[str] = set()
    for ref in _secret_refs(doc):
        if ref.value and "${" not in ref.value and ref.value not in seen:
            seen.add(ref.value)
            yield ref


def undeclared_secrets(ctx: DoctorContext, doc: MappingNode) -> list[ScalarNode]:
    """The Secret names a Job reads that nothing in the repository declares."""
    return [ref for ref in _secret_names(doc) if not ctx.secret_sources.get(ref.value)]


def _secrets(ctx: DoctorContext, unit: Unit, doc: MappingNode, ks: FluxKustomization) -> Iterator[Diagnostic]:
    for ref in _secret_names(doc):
        name = ref.value
        sources = ctx.secret_sources.get(name, [])
        if not sources:
            yield Finding(
                unit.primary.path,
                line_of(ref),
                "job-secret-not-ready",
                "warning",
                f"Secret {name!r} is declared nowhere in this repository ({DECLARATIONS}): if it does not come "
                "from outside, the Job fails",
                "check the name against what the database release really creates",
            )
            continue
        waits_for = ctx.depends_closure(ks) | {ks.name}
        owners = [(s, ctx.flux.deployer(posixpath.dirname(s.unit.logical))) for s in sources]
        if any(owner is None or owner.name in waits_for for _s, owner in owners):
            continue
        source, owner = owners[0]
        yield Finding(
            unit.primary.path,
            line_of(ref),
            "job-secret-not-ready",
            "error",
            f"Secret {name!r} comes from {source.unit.primary.path} ({source.how}), applied by Flux Kustomization "
            f"{owner.display() if owner else '?'}, which {ks.display()} does not dependsOn: the Job can run first",
            f"add `- name: {owner.name if owner else '?'}` to dependsOn of {ks.display()} ({ks.file}), or move the Job "
            "into a Kustomization that already waits for it",
        )

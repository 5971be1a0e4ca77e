"""Rules on HelmRelease values: helm-template-in-values, subchart-job-not-hook,
hook-annotations-on-pod-template."""

from __future__ import annotations

import re
from collections.abc import Iterator

from codemods.diagnostics import Diagnostic, Severity
from codemods.doctor.model import DoctorContext, Finding, line_of, mappings_below
from codemods.doctor.rules import RULES
from codemods.mods.base import Context
from codemods.mods.disable_migration_job import DisableMigrationJob
from codemods.plan import Plan
from codemods.repo.index import Unit
from codemods.repo.workloads import is_helm_release
from codemods.yamltext.locate import MappingNode, Node, ScalarNode, entries, first

# Values the charts pass to Helm's tpl are fine; these two never are (they name resources).
NAME_KEYS = ("fullnameOverride", "nameOverride")
HELM_SYNTAX = re.compile(r"\{\{-?\s*(\.|\$|include\b|tpl\b|template\b|printf\b|default\b)")
_FALSE = {"false", "False", "FALSE"}
_TRUE = {"true", "True", "TRUE"}
# From this OpenHands chart version on, the chart itself ships migrationJob.enabled: false.


def _finding(rule: str, unit: Unit, node: Node, message: str, fix: str, severity: Severity | None = None) -> Diagnostic:
    return Finding(unit.primary.path, line_of(node), rule, severity or RULES[rule].severity, message, fix)


def _worth_parsing(text: str) -> bool:
    """Only these words can make a values rule fire: most HelmReleases need no parse at all."""
    if "litellm-helm" in text or "migrationJob" in text:
        return True
    return "{{" in text and any(key in text for key in NAME_KEYS)


def check(ctx: DoctorContext) -> Iterator[Diagnostic]:
    yield from _subchart_job(ctx)
    for unit in ctx.units("helm_release"):
        if not _worth_parsing(ctx.text(unit)):
            continue
        for doc in ctx.docs(unit):
            if not is_helm_release(doc):
                continue
            values = first(first(doc, "spec"), "values")
            yield from _template_in_values(unit, values)
            yield from _hook_annotations(unit, values)


def _template_in_values(unit: Unit, values: Node | None) -> Iterator[Diagnostic]:
    for key, value in mappings_below(values):
        is_name = isinstance(key, ScalarNode) and key.value in NAME_KEYS
        if is_name and isinstance(value, ScalarNode) and HELM_SYNTAX.search(value.value):
            yield _finding(
                "helm-template-in-values",
                unit,
                value,
                f"{key.value} is {value.value!r}: Flux passes values to Helm verbatim and Helm does not "
                "template them, so this literal text becomes part of resource names",
                f"use a literal name in {key.value}; for a name that changes per upgrade, the Job must be a "
                "Helm hook with a delete policy, or a standalone Job managed by Flux",
            )


def _hook_annotations(unit: Unit, values: Node | None) -> Iterator[Diagnostic]:
    for key, value in mappings_below(values):
        if not (isinstance(key, ScalarNode) and key.value == "migrationJob"):
            continue
        enabled = [v for _k, v in entries(value, "enabled") if isinstance(v, ScalarNode)]
        if enabled and all(v.value in _FALSE and v.style is None for v in enabled):
            continue  # a disabled Job renders no pod template: the annotations are inert
        for _k, given in entries(value, "annotations"):
            if not isinstance(given, MappingNode):
                continue
            for annotation, _v in given.value:
                if isinstance(annotation, ScalarNode) and annotation.value.startswith("helm.sh/hook"):
                    yield _finding(
                        "hook-annotations-on-pod-template",
                        unit,
                        annotation,
                        f"{annotation.value} under migrationJob.annotations lands on the Job's pod template, "
                        "not on the Job: it changes spec.template and upgrades fail with 'field is immutable'",
                        "remove it; to make the migration a Helm hook use migrationJob.hooks.helm.enabled: true "
                        "(newer charts), or disable the Job with `codemods run --only disable-migration-job`",
                    )


def _subchart_job(ctx: DoctorContext) -> Iterator[Diagnostic]:
    """litellm's migration Job left a plain release resource, judged on the effective values:
    the same model and chart knowledge as `codemods run`, so the two never disagree."""
    context = Context(ctx.index, Plan(ctx.index))
    context.graph = ctx.flux
    fix = "run `codemods run --only disable-migration-job`"
    codemod = DisableMigrationJob()
    for name, file, line in codemod.schema_never_migrated(context):
        if ctx.only is None or file in ctx.only:
            yield Finding(
                file,
                line,
                "schema-never-migrated",
                RULES["schema-never-migrated"].severity,
                f"DISABLE_SCHEMA_UPDATE is true and the migration Job is disabled (HelmRelease {name}): the proxy "
                "skips its start-up migration and no Job runs one, so the database schema is never migrated",
                "remove DISABLE_SCHEMA_UPDATE (the proxy then migrates at start-up), or let a migration Job run",
            )
    needed_list = codemod.needed(context)
    for said in context.plan.warnings:  # a release it could not read is said, not dropped
        if ctx.only is None or said.file in ctx.only:
            ctx.problems.add(said)
    for needed in needed_list:
        path = ".".join(needed.fix.path)
        if needed.set_at is not None:
            file, line = needed.set_at
            how = (
                "explicitly" if needed.explicit else "by the chart's default (this JSON6902 operation drops the value)"
            )
        else:
            file, line, how = needed.unit.primary.path, _release_line(ctx, needed), "by the chart's default"
        if ctx.only is not None and file not in ctx.only and needed.unit.primary.path not in ctx.only:
            continue
        job = path.rsplit(".", 1)[0] if path.endswith(".enabled") else path
        hook_fix = job.endswith(".hooks.helm")
        job = job.removesuffix(".hooks.helm")
        # `how` says where the value the fix changes comes from; for the hook fix that is
        # hooks.helm.enabled, not whether the Job itself is enabled explicitly.
        state = "" if hook_fix else f" {how}"
        wanted = f"{path}: {str(needed.fix.value).lower()}"
        advice = f"{fix}: it sets {wanted} ({needed.fix.why})"
        if not needed.source.editable:
            # A source codemods cannot edit: the fix is the user's, and run says so too.
            advice = f"set {wanted} by hand in {needed.source.path} ({needed.source.why_not}: codemods cannot edit it)"
            if needed.source.why_not == "SOPS-encrypted":
                state = " unless the SOPS-encrypted value says otherwise (the doctor cannot read it)"
        yield Finding(
            file,
            line,
            "subchart-job-not-hook",
            RULES["subchart-job-not-hook"].severity,
            f"{job} is enabled{state} and hooks.helm.enabled is not true: once its TTL deletes the Job, Helm fails "
            f"with 'jobs.batch \"...-migrations\" not found' (HelmRelease {needed.name})",
            advice,
        )


def _release_doc(ctx: DoctorContext, needed) -> MappingNode | None:
    docs = ctx.docs(needed.unit)
    doc = docs[needed.document] if needed.document < len(docs) else None
    return doc if isinstance(doc, MappingNode) else None


def _release_line(ctx: DoctorContext, needed) -> int:
    """The sub-chart's key in spec.values when there is one, else the HelmRelease's kind line."""
    doc = _release_doc(ctx, needed)
    if doc is None:
        return 1
    # The deepest key of the path that the release writes (migrationJob, else litellm-helm).
    node: Node = first(doc, "kind") or doc
    here: Node | None = first(first(doc, "spec"), "values")
    for segment in needed.fix.path[:-1]:
        found = entries(here, segment)
        if not found:
            break
        node, here = found[0]
    return line_of(node)

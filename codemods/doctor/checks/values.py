"""Rules on HelmRelease values: helm-template-in-values, subchart-job-not-hook,
hook-annotations-on-pod-template."""

from __future__ import annotations

import re
from collections.abc import Iterator

from codemods.doctor.model import DoctorContext, Finding, line_of, mappings_below
from codemods.doctor.rules import RULES
from codemods.repo.index import Unit
from codemods.repo.workloads import LITELLM_VALUES_KEY, is_helm_release
from codemods.yamltext.locate import MappingNode, Node, ScalarNode, entries, first, scalar_value

# Values the charts pass to Helm's tpl are fine; these two never are (they name resources).
NAME_KEYS = ("fullnameOverride", "nameOverride")
HELM_SYNTAX = re.compile(r"\{\{-?\s*(\.|\$|include\b|tpl\b|template\b|printf\b|default\b)")
_FALSE = {"false", "False", "FALSE"}
_TRUE = {"true", "True", "TRUE"}
# From this OpenHands chart version on, the chart itself ships migrationJob.enabled: false.
OPENHANDS_DISABLES_FROM = (0, 3, 0)


def _finding(rule: str, unit: Unit, node: Node, message: str, fix: str, severity: str | None = None) -> Finding:
    return Finding(unit.primary.path, line_of(node), rule, severity or RULES[rule].severity, message, fix)


def _worth_parsing(text: str) -> bool:
    """Only these words can make a values rule fire: most HelmReleases need no parse at all."""
    if "litellm-helm" in text or "migrationJob" in text:
        return True
    return "{{" in text and any(key in text for key in NAME_KEYS)


def check(ctx: DoctorContext) -> Iterator[Finding]:
    for unit in ctx.units("helm_release"):
        if not _worth_parsing(ctx.text(unit)):
            continue
        for doc in ctx.docs(unit):
            if not is_helm_release(doc):
                continue
            values = first(first(doc, "spec"), "values")
            yield from _template_in_values(unit, values)
            yield from _hook_annotations(unit, values)
            yield from _subchart_job(ctx, unit, doc, values)


def _template_in_values(unit: Unit, values: Node | None) -> Iterator[Finding]:
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


def _hook_annotations(unit: Unit, values: Node | None) -> Iterator[Finding]:
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


def _chart_version(doc: MappingNode) -> tuple[int, int, int] | None:
    spec = first(doc, "spec")
    chart = first(first(spec, "chart"), "spec")
    if scalar_value(first(chart, "chart")) != "openhands":
        return None
    match = re.fullmatch(r"v?(\d+)\.(\d+)\.(\d+)", scalar_value(first(chart, "version")) or "")
    return (int(match[1]), int(match[2]), int(match[3])) if match else None


def _subchart_job(ctx: DoctorContext, unit: Unit, doc: MappingNode, values: Node | None) -> Iterator[Finding]:
    fix = "run `codemods run --only disable-migration-job` (the proxy then migrates its schema at start-up)"
    for key, block in entries(values, LITELLM_VALUES_KEY):
        jobs = entries(block, "migrationJob")
        if not jobs:
            version = _chart_version(doc)
            if version is not None and version >= OPENHANDS_DISABLES_FROM:
                continue
            yield _finding(
                "subchart-job-not-hook",
                unit,
                key,
                "litellm-helm.migrationJob is enabled by the chart's default and is not a Helm hook: once its "
                "TTL deletes the Job, Helm fails with 'jobs.batch \"...-migrations\" not found'",
                fix,
            )
            continue
        for job_key, job in jobs:
            enabled = entries(job, "enabled")
            values_enabled = [v for _k, v in enabled if isinstance(v, ScalarNode)]
            if values_enabled and all(v.value in _FALSE and v.style is None for v in values_enabled):
                continue
            hook = first(first(first(job, "hooks"), "helm"), "enabled")
            if isinstance(hook, ScalarNode) and hook.value in _TRUE:
                continue
            where = enabled[0][0] if enabled else job_key
            how = "explicitly" if enabled else "by the chart's default"
            yield _finding(
                "subchart-job-not-hook",
                unit,
                where,
                f"litellm-helm.migrationJob is enabled {how} and hooks.helm.enabled is not true: once its TTL "
                "deletes the Job, Helm fails with 'jobs.batch \"...-migrations\" not found'",
                fix,
            )

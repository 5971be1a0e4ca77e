"""The doctor's rules. Their ids are a contract: CI pipelines filter and suppress by them."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Severity = Literal["error", "warning"]


@dataclass(frozen=True)
class Rule:
    id: str
    severity: Severity  # the default; some rules raise or lower it per finding
    title: str
    explanation: str


RULES: dict[str, Rule] = {
    rule.id: rule
    for rule in (
        Rule(
            "helm-template-in-values",
            "error",
            "Helm template syntax in HelmRelease values",
            "Flux hands HelmRelease values to Helm verbatim and Helm does not template values, so "
            "`{{ .Release.* }}` stays literal and ends up in resource names (invalid metadata.name).",
        ),
        Rule(
            "subchart-job-not-hook",
            "error",
            "litellm-helm migration Job is a plain release resource with a TTL",
            "The sub-chart's migration Job is not a Helm hook but has ttlSecondsAfterFinished: once "
            'Kubernetes deletes it, Helm\'s next upgrade fails with `jobs.batch "...-migrations" not '
            "found` and Flux loops between UpgradeFailed and RollbackFailed.",
        ),
        Rule(
            "hook-annotations-on-pod-template",
            "error",
            "Helm hook annotations under migrationJob.annotations",
            "The chart renders migrationJob.annotations onto the pod template, not the Job: the hook "
            "annotations change spec.template and the next upgrade fails with `field is immutable`.",
        ),
        Rule(
            "manifest-not-listed",
            "error",
            "Manifest not referenced by its directory's kustomization",
            "When a directory has a kustomization file, only what it references is built: a manifest "
            "beside it that is not listed is never applied by Flux.",
        ),
        Rule(
            "job-secret-not-ready",
            "error",
            "A Job reads a Secret that may not exist when it runs",
            "The Secret is declared nowhere in the repository (it may come from outside), or it is "
            "declared under a Flux Kustomization that the Job's Kustomization does not dependsOn, "
            "so the Job can start before the Secret exists.",
        ),
        Rule(
            "job-ttl-under-flux",
            "warning",
            "Flux-applied Job with ttlSecondsAfterFinished",
            "Flux re-applies what is missing every interval: after the TTL deletes the Job, Flux "
            "creates it again and it runs again.",
        ),
        Rule(
            "job-immutable-under-flux",
            "warning",
            "Flux-applied Job without the force annotation",
            "A Job's pod template is immutable: any change (an image bump) fails to apply unless the "
            "Job has `kustomize.toolkit.fluxcd.io/force: enabled` or its Kustomization `spec.force`.",
        ),
        Rule(
            "schema-never-migrated",
            "error",
            "DISABLE_SCHEMA_UPDATE set while the migration Job is disabled",
            "With migrationJob.enabled false, the litellm proxy migrates its schema at start-up unless "
            "DISABLE_SCHEMA_UPDATE is true; with both, nothing ever migrates it.",
        ),
        Rule(
            "stale-render",
            "warning",
            "Rendered file whose template no longer exists",
            "makejinja never deletes outputs: a rendered file whose template was moved or removed "
            "stays in the repository and, if listed, is still applied.",
        ),
    )
}

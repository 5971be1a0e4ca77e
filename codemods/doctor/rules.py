"""The doctor's rules. Their ids are a contract: CI pipelines filter and suppress by them."""

from __future__ import annotations

from dataclasses import dataclass

from codemods.diagnostics import Severity


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
            "beside it that is not listed is never applied by Flux. An error for a Job of a release the "
            "recipe's chart policy matches (the Jobs `codemods run` moves or lists), a warning for any "
            "other manifest; a file that says it is applied by hand (a comment line at its top, or the "
            'annotation config.kubernetes.io/local-config: "true") is not reported.',
        ),
        Rule(
            "template-drift",
            "warning",
            "Rendered kustomization lists a file its template does not",
            "The rendered kustomization file was edited by hand: it lists a file that its template does "
            "not. Flux applies that file today; the next render of the template drops it from the list.",
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
        Rule(
            "flux-never-reaches",
            "info",
            "No Flux Kustomization builds this tree",
            "No Flux Kustomization of the repository builds the directory or anything below it, so the "
            "doctor says nothing about how Flux applies its files (it may be applied another way); one "
            "line per such tree.",
        ),
    )
}

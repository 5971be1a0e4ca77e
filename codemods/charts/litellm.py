"""LiteLLM's Helm chart (litellm-helm), deployed directly or as the OpenHands sub-chart.

Upstream `deploy/charts/litellm-helm` (domain-facts §3): `migrationJob.enabled: true`,
`ttlSecondsAfterFinished: 120`, `hooks.helm.enabled: false`, `db.useExisting: false`,
`db.deployStandalone: true`. Under Flux the Job is a plain release resource with a TTL:
once Kubernetes deletes it, every Helm upgrade fails with `jobs.batch "...-migrations" not
found`. With `hooks.helm.enabled: true` the chart renders it as a `pre-install,pre-upgrade`
hook with `before-hook-creation`, which is not a release resource.

Which database the Job migrates decides between the two fixes. Checked against litellm-helm
1.1.0 (appVersion v1.80.12; BerriAI/litellm `deploy/charts/litellm-helm`: Chart.yaml at
56fab12, templates/migrations-job.yaml at 3dd55a7, values.yaml at fba16f9), and the older
template without `hooks` (0595bbc), which has the same precedence: the Job's environment is
`{{ if .Values.db.useExisting }}` the external database (`db.endpoint` or
`db.secret.endpointKey`, credentials from `db.secret`), `{{ else if .Values.db.deployStandalone }}`
the bundled PostgreSQL (`<release>-postgresql`). So with `db.useExisting: true` the Job
migrates the external database whatever `db.deployStandalone` says (that flag, whose
`Chart.yaml` condition adds the bundled PostgreSQL sub-chart, never reaches the Job), and the
hook is safe once that database is up before the release (a Flux `dependsOn`). Only without
`db.useExisting` does the Job migrate the bundled database, which a pre-install hook would run
before; there the Job is disabled and the proxy migrates at start-up. (The proxy's Deployment,
templates/deployment.yaml at f77fbef, tests `db.deployStandalone` first: with both flags true
the proxy itself talks to the bundled database. That is the chart's own inconsistency; the
fix of the Job does not depend on it.)

`migrationJob.enabled: false` is safe whatever the database (the proxy migrates its schema at
start-up), so it is the universal fix: where two Flux builds of one release need the hook and
the Job off, it is what both get.
"""

from __future__ import annotations

from codemods.charts.base import Fix, Lookup, Scalar, at_or_above, only_below
from codemods.repo.selectors import JobMatcher

CHART = "litellm-helm"
# The OpenHands chart depends on litellm-helm without an alias: its values live under this key.
SUBCHART_KEY = "litellm-helm"
# Charts that deploy litellm-helm as a sub-chart, and the first version that ships its
# migration Job off by default: OpenHands 0.3.0 sets litellm-helm.migrationJob.enabled: false
# itself (domain-facts §3). Before it, a release that never mentions litellm-helm still
# deploys the sub-chart with its TTL Job.
PARENT_CHARTS = {"openhands": (0, 3, 0)}
DEFAULT_USE_EXISTING_DB = False
DEFAULT_DEPLOY_STANDALONE_DB = True

WHY_SUBCHART = (
    "its TTL Job is not a Helm hook, so Helm fails with 'jobs.batch not found' once the Job is gone; "
    "the proxy migrates its schema at start-up"
)
WHY_STANDALONE = (
    "the chart's TTL Job is not a Helm hook, so Helm fails with 'jobs.batch not found' once it is gone; "
    "this repository's own migration Job runs the migrations"
)
WHY_HOOK = (
    "the chart's TTL Job is not a Helm hook, so Helm fails with 'jobs.batch not found' once it is gone; "
    "with db.useExisting it migrates the external database, and as a pre-install,pre-upgrade hook it still "
    "does before each upgrade"
)
# Added to WHY_HOOK when db.deployStandalone is true (explicitly or by the chart's default).
WHY_HOOK_STANDALONE = " (db.deployStandalone does not change which database the Job migrates)"
WHY_BUNDLED = (
    "the chart's TTL Job is not a Helm hook, so Helm fails with 'jobs.batch not found' once it is gone; "
    "a pre-install hook would run before the bundled database exists, so the proxy migrates at start-up"
)
WHY_NO_DATABASE = (
    "the chart's TTL Job is not a Helm hook, so Helm fails with 'jobs.batch not found' once it is gone; "
    "with db.useExisting and db.deployStandalone both off the chart does not tell the Job which database to "
    "migrate (only envVars or extraEnvVars can), so a hook could block every install; the proxy migrates at start-up"
)


def _is(value: Scalar | None, wanted: bool) -> bool:
    return value is wanted


def _flag(lookup: Lookup, path: tuple[str, ...], default: bool) -> bool:
    """A boolean value as the chart sees it: the release's, else the chart's default."""
    value = lookup(path)
    return (value if value is not None else default) is True


def database_fix(job: tuple[str, ...], lookup: Lookup) -> Fix:
    """The fix for litellm-helm deployed directly, by the database its Job migrates (the
    precedence of templates/migrations-job.yaml, in the module docstring): the external one
    (db.useExisting) as a hook; the bundled one, or none, by disabling the Job."""
    standalone = _flag(lookup, ("db", "deployStandalone"), DEFAULT_DEPLOY_STANDALONE_DB)
    if _flag(lookup, ("db", "useExisting"), DEFAULT_USE_EXISTING_DB):
        why = WHY_HOOK + (WHY_HOOK_STANDALONE if standalone else "")
        return Fix((*job, "hooks", "helm", "enabled"), True, why, pre_install_hook=True)
    # Disabling the Job is safe whatever the database: where builds disagree, all get it.
    return Fix((*job, "enabled"), False, WHY_BUNDLED if standalone else WHY_NO_DATABASE, universal=True)


class LiteLLM:
    name = "litellm"
    charts = (CHART,)
    subchart_keys = (SUBCHART_KEY,)
    job = JobMatcher(r"(?i)migrat", r"(?i)litellm")
    needles = (b"litellm-helm", b"migrationJob")
    chart_needles = tuple(chart.encode() for chart in PARENT_CHARTS)

    def fix(
        self,
        prefix: tuple[str, ...],
        lookup: Lookup,
        has_standalone_job: bool,
        chart: str | None = None,
        version: str | None = None,
    ) -> Fix | None:
        job = (*prefix, "migrationJob")
        if prefix and _is(lookup((*prefix, "enabled")), False):
            return None  # the sub-chart is off: it renders no Job
        enabled = lookup((*job, "enabled"))
        if _is(enabled, False) or _is(lookup((*job, "hooks", "helm", "enabled")), True):
            return None  # already no Job, or already a hook
        fixed = PARENT_CHARTS.get(chart or "")
        if prefix and enabled is None and fixed is not None and at_or_above(version, fixed):
            return None  # the parent chart's own values turn the Job off
        if prefix:
            return Fix((*job, "enabled"), False, WHY_SUBCHART)
        if has_standalone_job:
            return Fix((*job, "enabled"), False, WHY_STANDALONE, universal=True)
        return database_fix(job, lookup)

    def skip_branch(self, prefix: tuple[str, ...], block_enabled: Scalar | None) -> bool:
        return bool(prefix) and block_enabled is False

    def implied_subchart(self, chart: str | None, version: str | None) -> tuple[str, ...] | None:
        fixed = PARENT_CHARTS.get(chart or "")
        return (SUBCHART_KEY,) if fixed is not None and only_below(version, fixed) else None


LITELLM = LiteLLM()

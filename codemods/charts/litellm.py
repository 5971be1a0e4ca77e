"""LiteLLM's Helm chart (litellm-helm), deployed directly or as the OpenHands sub-chart.

Upstream `deploy/charts/litellm-helm` (domain-facts §3): `migrationJob.enabled: true`,
`ttlSecondsAfterFinished: 120`, `hooks.helm.enabled: false`, `db.useExisting: false`,
`db.deployStandalone: true`. Under Flux the Job is a plain release resource with a TTL:
once Kubernetes deletes it, every Helm upgrade fails with `jobs.batch "...-migrations" not
found`. With `hooks.helm.enabled: true` the chart renders it as a `pre-install,pre-upgrade`
hook with `before-hook-creation`, which is not a release resource.

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
    "as a pre-install,pre-upgrade hook it still migrates the external database before each upgrade"
)
WHY_BUNDLED = (
    "the chart's TTL Job is not a Helm hook, so Helm fails with 'jobs.batch not found' once it is gone; "
    "a pre-install hook would run before the bundled database exists, so the proxy migrates at start-up"
)


def _is(value: Scalar | None, wanted: bool) -> bool:
    return value is wanted


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
        use_existing = lookup(("db", "useExisting"))
        standalone = lookup(("db", "deployStandalone"))
        external = (use_existing if use_existing is not None else DEFAULT_USE_EXISTING_DB) is True and (
            standalone if standalone is not None else DEFAULT_DEPLOY_STANDALONE_DB
        ) is not True
        if external:
            return Fix((*job, "hooks", "helm", "enabled"), True, WHY_HOOK)
        return Fix((*job, "enabled"), False, WHY_BUNDLED, universal=True)

    def skip_branch(self, prefix: tuple[str, ...], block_enabled: Scalar | None) -> bool:
        return bool(prefix) and block_enabled is False

    def implied_subchart(self, chart: str | None, version: str | None) -> tuple[str, ...] | None:
        fixed = PARENT_CHARTS.get(chart or "")
        return (SUBCHART_KEY,) if fixed is not None and only_below(version, fixed) else None


LITELLM = LiteLLM()

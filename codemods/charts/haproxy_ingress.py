"""HAProxy Technologies' Helm chart `kubernetes-ingress` (haproxytech/helm-charts): the CRD Job.

Checked against every released chart from tag `kubernetes-ingress-1.34.0` to
`kubernetes-ingress-1.52.1` of haproxytech/helm-charts. Files read:
`kubernetes-ingress/Chart.yaml`, `kubernetes-ingress/values.yaml`,
`kubernetes-ingress/templates/controller-crdjob.yaml`, `kubernetes-ingress/templates/_helpers.tpl`,
`kubernetes-ingress/crds/` (its presence per tag).

- Up to 1.34.x the chart ships its CRDs in `crds/` (from 1.17.1) and has no CRD Job. Helm, and
  Flux's `spec.install.crds: Create` (the default), create them on install only; Helm never
  upgrades `crds/`, so new CRD versions need `spec.upgrade.crds: CreateReplace` (the default,
  `Skip`, leaves them as first installed). Nothing to fix for the Job here.
- 1.35.0 removed `crds/` and added `templates/controller-crdjob.yaml`: a Job running
  `haproxy-ingress-controller --job-check-crd`, which creates and upgrades the CRDs. There are
  no other CRDs: without the Job the controller has none.
- 1.35.0 to 1.42.x: the Job is a plain release resource with a TTL fixed in the template (0
  in 1.35.1-1.35.2, 120 from 1.35.3; named `<fullname>-crdjob-<revision>` from 1.35.2). Flux's
  helm-controller waits for Jobs; once the TTL deleted it, the upgrade fails with `jobs.batch
  "...-crdjob-N" not found` (haproxytech/helm-charts#213, #266). No value changes that.
- 1.43.0 (#266): `crdjob.ttlSecondsAfterFinished` (default 600), rendered only `if` truthy.
- 1.46.0: the Job is a `post-install,pre-upgrade` hook with
  `before-hook-creation,hook-succeeded`: not a release resource, nothing to fix.
- No version has `crdjob.enabled`, or any value that turns the Job off: the maintainers
  declined it (haproxytech/helm-charts#339, #379) and there is no values schema, so Helm
  ignores such a key. The old preset's `crdjob.enabled: false` changed nothing, and would have
  left the controller without CRDs had it worked.

So: 1.43.0-1.45.x gets `crdjob.ttlSecondsAfterFinished: ""` (the Job stays for Helm to find;
each upgrade's Job has a new name and Helm deletes the old one); 1.35.0-1.42.x is refused
(upgrade the chart to 1.46.0 or newer); older and newer charts need nothing; a version that
cannot be placed in one of these ranges is refused, naming it.
"""

from __future__ import annotations

from codemods.charts.base import Fix, Lookup, Refusal, Scalar, at_or_above, only_below, truthy

CHART = "kubernetes-ingress"
CRD_JOB_SINCE = (1, 35, 0)  # crds/ gone, the CRD Job in its place
TTL_VALUE_SINCE = (1, 43, 0)  # crdjob.ttlSecondsAfterFinished is read
HOOK_SINCE = (1, 46, 0)  # the CRD Job is a Helm hook

TTL = ("crdjob", "ttlSecondsAfterFinished")
WHY_TTL = (
    "the CRD Job is a plain release resource with a TTL, so Helm fails with 'jobs.batch not found' once it "
    "is gone; without a TTL it stays for Helm to find (each upgrade's Job has a new name, and Helm deletes the "
    "old one). The chart has no value that turns the Job off, and it is the only source of the CRDs"
)


def _refusal(version: str | None) -> Refusal:
    if only_below(version, TTL_VALUE_SINCE):
        return Refusal(
            f"kubernetes-ingress chart {version} renders its CRD Job as a plain release resource with a TTL fixed "
            "in the template, and no value turns the Job off or removes the TTL (the chart has no crdjob.enabled, "
            "and no crds/ since 1.35.0); upgrade the chart to 1.46.0 or newer, where the Job is a Helm hook"
        )
    return Refusal(
        f"cannot tell which kubernetes-ingress chart version {version!r} installs: its CRD Job is a hook from "
        '1.46.0, needs crdjob.ttlSecondsAfterFinished: "" in 1.43.0-1.45.x and cannot be fixed by a value in '
        "1.35.0-1.42.x; pin the chart version"
    )


class HAProxyKubernetesIngress:
    name = "haproxy-kubernetes-ingress"
    charts = (CHART,)
    subchart_keys: tuple[str, ...] = ()
    job = None  # the chart's own Job only: no standalone Job manifest belongs to it
    needles = (CHART.encode(),)
    chart_needles: tuple[bytes, ...] = ()

    def fix(
        self,
        prefix: tuple[str, ...],
        lookup: Lookup,
        has_standalone_job: bool,
        chart: str | None = None,
        version: str | None = None,
    ) -> Fix | Refusal | None:
        if at_or_above(version, HOOK_SINCE) or only_below(version, CRD_JOB_SINCE):
            return None  # a hook, or no CRD Job at all (crds/)
        if at_or_above(version, TTL_VALUE_SINCE):
            return Fix(TTL, "", WHY_TTL, universal=True) if truthy(lookup(TTL), True) else None
        return _refusal(version)

    def skip_branch(self, prefix: tuple[str, ...], block_enabled: Scalar | None) -> bool:
        return False

    def implied_subchart(self, chart: str | None, version: str | None) -> tuple[str, ...] | None:
        return None


HAPROXY_KUBERNETES_INGRESS = HAProxyKubernetesIngress()

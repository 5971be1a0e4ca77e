"""Chart knowledge (codemods/charts/): which versions of a parent chart deploy the sub-chart's Job,
and when a preset's fix would trade one outage for another (issue 22 §2)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from codemods.charts import POLICIES, Fix, Refusal
from codemods.charts.base import Lookup, Scalar, at_or_above, only_below, truthy
from tests.helpers import ROOT, run_codemods

FIXED = (0, 3, 0)


@pytest.mark.parametrize(
    ("spec", "below"),
    [
        ("0.2.4", True),
        ("v0.2.4", True),
        ("0.2", True),
        ("0.2.x", True),
        ("0.2.*", True),
        ("~0.2.1", True),
        ("^0.2.1", True),
        (">=0.2.0 <0.3.0", True),
        ("<=0.2.9", True),
        ("0.3.0", False),
        ("0.3.0-rc.1", False),  # a pre-release counts as its release: not known to be older
        ("0.3.x", False),
        ("^0.3.0", False),
        ("<0.3.1", False),  # allows 0.3.0
        ("<=0.3.0", False),
        (">=0.2.0", False),  # no upper bound: the latest is installed
        ("=0.2.4", True),
        ("=<0.3.0", False),  # Masterminds semver's `<=`: allows 0.3.0
        ("=<0.2.9", True),
        (">=0.3.0 || <0.2.0", False),  # a union: not judged
        ("1.0.0", False),
        ("latest", False),
        ("", False),
        (None, False),
    ],
)
def test_a_version_or_range_is_below_only_when_every_version_it_allows_is(spec: str | None, below: bool) -> None:
    assert only_below(spec, FIXED) is below


def test_openhands_before_0_3_deploys_the_litellm_subchart_by_default() -> None:
    litellm = POLICIES["litellm"]
    assert litellm.implied_subchart("openhands", "0.2.4") == ("litellm-helm",)
    assert litellm.implied_subchart("openhands", "0.3.1") is None
    assert litellm.implied_subchart("openhands", None) is None  # unpinned: the latest ships the Job off
    assert litellm.implied_subchart("app-template", "0.2.4") is None
    assert litellm.implied_subchart(None, "0.2.4") is None


@pytest.mark.parametrize(
    ("spec", "newer"),
    [
        (None, True),  # unpinned: Flux installs the latest
        ("", True),
        ("latest", True),
        ("0.3.0", True),
        ("v0.4.2", True),
        ("0.3.x", True),
        ("~0.3.1", True),
        ("^0.3.0", True),
        (">=0.3.0 <0.4.0", True),
        ("0.2.4", False),
        ("0.2.x", False),
        (">=0.2.0", False),  # allows 0.2.x
        ("<0.4.0", False),  # no lower bound
        ("sha256:0123abcd", False),  # a digest: nothing is known of it
        ("*", True),
        ("=0.3.1", True),
        (">=0.3.0 || <0.2.0", False),  # a union: not judged
    ],
)
def test_a_version_or_range_is_at_or_above_only_when_every_version_it_allows_is(spec: str | None, newer: bool) -> None:
    assert at_or_above(spec, FIXED) is newer


def test_openhands_0_3_turns_the_subchart_job_off_itself() -> None:
    litellm = POLICIES["litellm"]
    unset = lambda path: None
    assert litellm.fix(("litellm-helm",), unset, False, "openhands", "0.3.1") is None
    assert litellm.fix(("litellm-helm",), unset, False, "openhands", None) is None
    assert litellm.fix(("litellm-helm",), unset, False, "openhands", "0.2.4") is not None
    assert litellm.fix(("litellm-helm",), unset, False, "openhands", "sha256:0123abcd") is not None  # unknown: explicit
    enabled = lambda path: True if path[-1] == "enabled" and path[-2] == "migrationJob" else None
    assert litellm.fix(("litellm-helm",), enabled, False, "openhands", "0.3.1") is not None  # set true on purpose


# -- litellm-helm deployed directly: the database its Job migrates decides (issue 20 §4) ----------
HOOK = ("migrationJob", "hooks", "helm", "enabled")
OFF = ("migrationJob", "enabled")


@pytest.mark.parametrize(
    ("use_existing", "standalone", "path", "value", "reason"),
    [
        # db.useExisting: the Job migrates the external database, whatever deployStandalone says.
        (True, False, HOOK, True, "with db.useExisting it migrates the external database"),
        (True, True, HOOK, True, "db.deployStandalone does not change which database the Job migrates"),
        (True, None, HOOK, True, "db.deployStandalone does not change which database the Job migrates"),
        # Otherwise the bundled PostgreSQL (chart default), which a pre-install hook runs before.
        (False, True, OFF, False, "a pre-install hook would run before the bundled database exists"),
        (None, True, OFF, False, "a pre-install hook would run before the bundled database exists"),
        (None, None, OFF, False, "a pre-install hook would run before the bundled database exists"),
        # Neither: the chart's templates give the Job no database of their own.
        (False, False, OFF, False, "does not tell the Job which database to migrate"),
        (None, False, OFF, False, "does not tell the Job which database to migrate"),
    ],
)
def test_litellm_direct_fix_follows_the_database_the_job_migrates(
    use_existing: bool | None, standalone: bool | None, path: tuple[str, ...], value: bool, reason: str
) -> None:
    values = {("db", "useExisting"): use_existing, ("db", "deployStandalone"): standalone}
    fix = POLICIES["litellm"].fix((), values.get, False)
    assert fix is not None
    assert (fix.path, fix.value) == (path, value)
    assert reason in fix.why
    if use_existing:
        assert "bundled" not in fix.why, "the Job never uses the bundled database"


def test_litellm_direct_with_its_own_migration_job_is_disabled_whatever_the_database() -> None:
    values = {("db", "useExisting"): True}
    fix = POLICIES["litellm"].fix((), values.get, True)
    assert fix is not None and fix.path == OFF and "own migration Job" in fix.why


# -- end to end: which version a release installs -------------------------------------------------
FLUX = (
    "apiVersion: kustomize.toolkit.fluxcd.io/v1\nkind: Kustomization\nmetadata: {name: apps, namespace: flux-system}\n"
    "spec:\n  interval: 1h\n  path: ./apps/oh\n  prune: true\n  sourceRef: {kind: GitRepository, name: flux-system}\n"
)


def _openhands_from_git(repo: Path, chart_version: str) -> Path:
    (repo / "apps/oh").mkdir(parents=True)
    (repo / "clusters").mkdir()
    (repo / "charts/openhands").mkdir(parents=True)
    (repo / "clusters/flux.yaml").write_text(FLUX)
    (repo / "apps/oh/kustomization.yaml").write_text("resources:\n  - ./helmrelease.yaml\n")
    release = repo / "apps/oh/helmrelease.yaml"
    release.write_text(
        "apiVersion: helm.toolkit.fluxcd.io/v2\nkind: HelmRelease\nmetadata:\n  name: openhands\n  namespace: ai\n"
        "spec:\n  interval: 1h\n  chart:\n    spec:\n      chart: ./charts/openhands\n"
        "      sourceRef:\n        kind: GitRepository\n        name: flux-system\n        namespace: flux-system\n"
        "  values:\n    litellm-helm:\n      image:\n        tag: v1\n"
    )
    (repo / "charts/openhands/Chart.yaml").write_text(f"apiVersion: v2\nname: openhands\nversion: {chart_version}\n")
    return release


def test_a_chart_built_from_a_git_repository_has_no_known_version(tmp_path: Path) -> None:
    """Flux ignores spec.chart.spec.version for a GitRepository or Bucket source (the chart's own
    Chart.yaml decides), so the release is not assumed to be the latest: with litellm-helm in its
    values it gets the explicit line, which is right for every version."""
    release = _openhands_from_git(tmp_path, "0.2.4")
    result = run_codemods("run", "--no-verify", str(tmp_path))
    assert result.returncode == 0, result.stderr
    assert "    litellm-helm:\n      migrationJob:\n        enabled: false\n      image:\n" in release.read_text()
    doctor = run_codemods("doctor", "--format", "json", str(tmp_path))
    assert not [f for f in json.loads(doctor.stdout)["findings"] if f["rule"] == "subchart-job-not-hook"]


def test_an_unrelated_broken_release_that_only_names_the_parent_chart_is_a_warning(tmp_path: Path) -> None:
    """ "openhands" is also a namespace: a HelmRelease that says only that (not litellm-helm) is a
    candidate, not input the fix needs, so its YAML error is a warning and the run goes on."""
    repo = tmp_path / "repo"
    shutil.copytree(ROOT / "examples" / "openhands-cluster-template", repo)
    redis = repo / "kubernetes/apps/openhands/redis/app"
    redis.mkdir(parents=True)
    (redis / "helmrelease.yaml").write_text(
        "apiVersion: helm.toolkit.fluxcd.io/v2\nkind: HelmRelease\nmetadata:\n  name: redis\n  namespace: openhands\n"
        "spec:\n  chart:\n    spec:\n      chart: redis\n  values:\n    auth: {enabled: false\n    replica: 1\n"
    )
    (redis / "kustomization.yaml").write_text("resources:\n  - ./helmrelease.yaml\n")
    result = run_codemods("run", "--no-verify", "--dry-run", str(repo))
    assert result.returncode == 0, result.stderr
    assert "8 files would change" in result.stderr
    assert "kubernetes/apps/openhands/redis/app/helmrelease.yaml:12" in result.stderr
    assert "not checked for the fix" in result.stderr
    # One that names litellm-helm is input the fix needs: its YAML error still stops the run.
    (redis / "helmrelease.yaml").write_text((redis / "helmrelease.yaml").read_text() + "    litellm-helm: {}\n")
    assert run_codemods("run", "--no-verify", "--dry-run", str(repo)).returncode == 2


def _write(root: Path, files: dict[str, str]) -> None:
    for path, text in files.items():
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        (root / path).write_text(text)


OH_SOURCE = (
    "apiVersion: source.toolkit.fluxcd.io/v1\nkind: OCIRepository\nmetadata:\n  name: openhands\n{namespace}"
    "spec:\n  interval: 1h\n  ref:\n{ref}  url: oci://ghcr.io/all-hands-ai/helm-charts/openhands\n"
)
OH_RELEASE = (
    "apiVersion: helm.toolkit.fluxcd.io/v2\nkind: HelmRelease\nmetadata:\n  name: openhands\nspec:\n"
    "  chartRef:\n    kind: OCIRepository\n    name: openhands\n{ref_namespace}  interval: 1h\n"
    "  values:\n    ingress:\n      enabled: false\n"
)
OH_FLUX = (
    "apiVersion: kustomize.toolkit.fluxcd.io/v1\nkind: Kustomization\nmetadata:\n  name: openhands\n"
    "  namespace: flux-system\nspec:\n  interval: 1h\n  path: ./apps/openhands\n  prune: true\n"
    "  sourceRef:\n    kind: GitRepository\n    name: flux-system\n"
)


def _subchart_findings(repo: Path) -> list[dict]:
    doctor = run_codemods("doctor", "--format", "json", str(repo))
    return [f for f in json.loads(doctor.stdout)["findings"] if f["rule"] == "subchart-job-not-hook"]


def test_a_source_in_the_chart_refs_namespace_wins_over_a_nearer_one_that_does_not_say(tmp_path: Path) -> None:
    """The chartRef names flux-system: flux-system's `openhands` (0.2.4) is the chart, not the
    app directory's own `openhands` (0.3.0, whose namespace a kustomization gives it)."""
    _write(
        tmp_path,
        {
            "flux.yaml": OH_FLUX,
            "apps/openhands/kustomization.yaml": "namespace: ai\nresources:\n  - ./helmrelease.yaml\n  - ./oci.yaml\n",
            "apps/openhands/helmrelease.yaml": OH_RELEASE.format(ref_namespace="    namespace: flux-system\n"),
            "apps/openhands/oci.yaml": OH_SOURCE.format(namespace="", ref="    tag: 0.3.0\n"),
            "flux/repos/openhands.yaml": OH_SOURCE.format(
                namespace="  namespace: flux-system\n", ref="    tag: 0.2.4\n"
            ),
        },
    )
    assert len(_subchart_findings(tmp_path)) == 1
    assert run_codemods("run", "--check", "--no-verify", str(tmp_path)).returncode == 1


def test_an_oci_semver_wins_over_its_tag_as_in_flux(tmp_path: Path) -> None:
    _write(
        tmp_path,
        {
            "flux.yaml": OH_FLUX,
            "apps/openhands/kustomization.yaml": "resources:\n  - ./helmrelease.yaml\n  - ./oci.yaml\n",
            "apps/openhands/helmrelease.yaml": OH_RELEASE.format(ref_namespace=""),
            "apps/openhands/oci.yaml": OH_SOURCE.format(namespace="", ref="    tag: 0.3.0\n    semver: 0.2.x\n"),
        },
    )
    assert len(_subchart_findings(tmp_path)) == 1


def test_a_broken_release_of_the_parent_chart_stops_the_run_and_the_doctor_says_why(tmp_path: Path) -> None:
    """`chart: openhands` is plainly an OpenHands release: its YAML error is bad input (exit 2),
    not a candidate skipped. One that only lives in a namespace called openhands is skipped,
    and the doctor lists it as a file it could not check."""
    broken = "  values:\n    image: {tag: 0.2.4\n"
    release = (
        "apiVersion: helm.toolkit.fluxcd.io/v2\nkind: HelmRelease\nmetadata:\n  name: oh\n  namespace: ai\n"
        "spec:\n  interval: 1h\n  chart:\n    spec:\n      chart: openhands\n      version: 0.2.4\n"
        "      sourceRef: {kind: HelmRepository, name: oh}\n" + broken
    )
    _write(tmp_path, {"flux.yaml": OH_FLUX, "apps/openhands/helmrelease.yaml": release})
    assert run_codemods("run", "--check", "--no-verify", str(tmp_path)).returncode == 2
    assert run_codemods("doctor", str(tmp_path)).returncode == 2
    other = release.replace("chart: openhands", "chart: redis").replace("namespace: ai", "namespace: openhands")
    (tmp_path / "apps/openhands/helmrelease.yaml").write_text(other)
    check = run_codemods("run", "--check", "--no-verify", str(tmp_path))
    assert check.returncode == 0 and "not checked for the fix" in check.stderr, check.stderr
    doctor = json.loads(run_codemods("doctor", "--format", "json", str(tmp_path)).stdout)
    assert any(s["file"] == "apps/openhands/helmrelease.yaml" for s in doctor["skipped"]), doctor


# -- presets: a fix that would trade one outage for another is refused or made safe (issue 22 §2) ----
def _values(**flat: Scalar) -> Lookup:
    """A lookup over key paths (`a__b` is a.b), as the effective values give them (absent: the
    chart default)."""
    table = {tuple(key.split("__")): value for key, value in flat.items()}
    return lambda path: table.get(path)


EXTERNAL = {"mariadb__enabled": False, "rabbitmq__enabled": False, "redis__enabled": False}
ONCALL_HOOK = (("migrate", "useHook"), True)
ONCALL_NO_TTL = (("migrate", "ttlSecondsAfterFinished"), "")


def _oncall(version: str | None, **flat: Scalar) -> tuple[tuple[str, ...], Scalar] | str | None:
    decision = POLICIES["grafana-oncall"].fix((), _values(**flat), False, "oncall", version)
    if isinstance(decision, Refusal):
        return "refused: " + decision.why
    return (decision.path, decision.value) if decision is not None else None


@pytest.mark.parametrize(
    ("version", "values", "expected"),
    [
        # The chart's defaults bundle MariaDB, RabbitMQ and Redis: a pre-install hook would hang.
        ("1.16.4", {}, ONCALL_NO_TTL),
        ("1.16.4", EXTERNAL, ONCALL_HOOK),
        (None, EXTERNAL, ONCALL_HOOK),  # unpinned: the latest chart
        ("1.16.x", EXTERNAL, ONCALL_HOOK),
        ("1.3.62", EXTERNAL, ONCALL_HOOK),  # the Secrets and ServiceAccount are hooks too from here
        ("1.3.61", EXTERNAL, ONCALL_NO_TTL),
        ("1.1.0", EXTERNAL, ONCALL_NO_TTL),
        ("sha256:0123abcd", EXTERNAL, ONCALL_NO_TTL),  # not known to be 1.3.62+: the variant safe in all
        ("1.16.4", {**EXTERNAL, "redis__enabled": True}, ONCALL_NO_TTL),
        ("1.16.4", {**EXTERNAL, "redis__enabled": "false"}, ONCALL_NO_TTL),  # a string is true to Helm
        ("1.16.4", {"mariadb__enabled": False, "redis__enabled": False}, ONCALL_NO_TTL),  # RabbitMQ by default
        ("1.16.4", {"mariadb__enabled": False, "redis__enabled": False, "broker__type": "redis"}, ONCALL_HOOK),
        # PostgreSQL: its sub-chart is off by default; MariaDB then does not matter.
        ("1.16.4", {"database__type": "postgresql", "rabbitmq__enabled": False, "redis__enabled": False}, ONCALL_HOOK),
        (
            "1.16.4",
            {
                "database__type": "postgresql",
                "postgresql__enabled": True,
                "rabbitmq__enabled": False,
                "redis__enabled": False,
            },
            ONCALL_NO_TTL,
        ),
        ("1.16.4", {"database__type": "sqlite", "rabbitmq__enabled": False, "redis__enabled": False}, ONCALL_HOOK),
        # Nothing to do: no Job, already a hook, or already no TTL.
        ("1.16.4", {"migrate__enabled": False}, None),
        ("1.16.4", {"migrate__useHook": True}, None),
        ("1.16.4", {"migrate__ttlSecondsAfterFinished": ""}, None),
        ("1.16.4", {"migrate__ttlSecondsAfterFinished": 0}, None),
        ("1.16.4", {"migrate__ttlSecondsAfterFinished": "null"}, None),
        ("1.16.4", {"migrate__ttlSecondsAfterFinished": 20}, ONCALL_NO_TTL),
        ("1.16.4", {"migrate__useHook": False, **EXTERNAL}, ONCALL_HOOK),
    ],
)
def test_the_oncall_policy_picks_the_hook_only_where_it_cannot_hang(
    version: str | None, values: dict, expected: object
) -> None:
    assert _oncall(version, **values) == expected


def test_the_oncall_policy_refuses_charts_whose_ttl_no_value_removes() -> None:
    refused = _oncall("1.0.40", **EXTERNAL)
    assert isinstance(refused, str) and refused.startswith("refused: oncall chart 1.0.40 renders its engine migrate")
    assert "upgrade the chart" in refused
    assert _oncall("1.0.x") == refused.replace("1.0.40", "1.0.x")


def test_the_no_ttl_variants_are_universal_and_say_why() -> None:
    oncall, haproxy = POLICIES["grafana-oncall"], POLICIES["haproxy-kubernetes-ingress"]
    bundled = oncall.fix((), _values(), False, "oncall", "1.16.4")
    assert isinstance(bundled, Fix) and bundled.universal
    assert "MariaDB (mariadb.enabled), RabbitMQ (rabbitmq.enabled), Redis (redis.enabled)" in bundled.why
    hook = oncall.fix((), _values(**EXTERNAL), False, "oncall", "1.16.4")
    assert isinstance(hook, Fix) and not hook.universal
    ttl = haproxy.fix((), _values(), False, "kubernetes-ingress", "1.44.0")
    assert isinstance(ttl, Fix) and ttl.universal


HAPROXY_NO_TTL = (("crdjob", "ttlSecondsAfterFinished"), "")


@pytest.mark.parametrize(
    ("version", "values", "expected"),
    [
        ("1.34.0", {}, None),  # no CRD Job: the CRDs are in crds/
        ("1.17.1", {}, None),
        ("1.35.0", {}, "fixed"),  # the CRD Job, a plain resource, its TTL fixed in the template
        ("1.41.0", {}, "fixed"),
        ("1.42.x", {}, "fixed"),
        ("1.43.0", {}, HAPROXY_NO_TTL),
        ("1.45.1", {"crdjob__ttlSecondsAfterFinished": 600}, HAPROXY_NO_TTL),
        ("1.44.x", {}, HAPROXY_NO_TTL),
        (">=1.43.0 <1.46.0", {}, HAPROXY_NO_TTL),
        ("1.44.0", {"crdjob__ttlSecondsAfterFinished": ""}, None),
        ("1.44.0", {"crdjob__ttlSecondsAfterFinished": 0}, None),
        ("1.46.0", {}, None),  # a Helm hook
        ("1.52.1", {}, None),
        (None, {}, None),  # unpinned: the latest chart
        (">=1.40.0", {}, "unknown"),  # 1.40 and 1.46 both allowed: cannot tell
        ("sha256:0123abcd", {}, "unknown"),
        ("(unknown)", {}, "unknown"),  # a chart built from Git: its Chart.yaml decides
    ],
)
def test_the_haproxy_policy_decides_by_chart_version(version: str | None, values: dict, expected: object) -> None:
    decision = POLICIES["haproxy-kubernetes-ingress"].fix((), _values(**values), False, "kubernetes-ingress", version)
    if expected == "fixed":
        assert isinstance(decision, Refusal) and "upgrade the chart to 1.46.0 or newer" in decision.why
        assert f"chart {version} renders its CRD Job" in decision.why
    elif expected == "unknown":
        assert isinstance(decision, Refusal) and decision.why.startswith("cannot tell which kubernetes-ingress")
        assert repr(version) in decision.why and "pin the chart version" in decision.why
    else:
        assert not isinstance(decision, Refusal)
        assert (None if decision is None else (decision.path, decision.value)) == expected


def test_helm_truthiness_of_effective_values() -> None:
    assert truthy(None, True) and not truthy(None, False)  # set nowhere: the chart default
    assert not truthy(False, True) and not truthy(0, True) and not truthy("", True) and not truthy("null", True)
    assert truthy("false", False)  # a quoted "false" is a non-empty string
    assert truthy(True, False) and truthy(600, False) and truthy("postgresql", False)


# -- one release, several Flux builds: the fix made in a shared file must suit them all --------------
TWO_CLUSTERS = {
    "clusters/production/apps.yaml": (
        "apiVersion: kustomize.toolkit.fluxcd.io/v1\nkind: Kustomization\nmetadata:\n  name: apps-production\n"
        "  namespace: flux-system\nspec:\n  interval: 10m\n  path: ./apps/production\n  prune: true\n"
        "  sourceRef:\n    kind: GitRepository\n    name: flux-system\n"
    ),
    "clusters/staging/apps.yaml": (
        "apiVersion: kustomize.toolkit.fluxcd.io/v1\nkind: Kustomization\nmetadata:\n  name: apps-staging\n"
        "  namespace: flux-system\nspec:\n  interval: 10m\n  path: ./apps/staging\n  prune: true\n"
        "  sourceRef:\n    kind: GitRepository\n    name: flux-system\n"
    ),
    "apps/base/kustomization.yaml": "resources:\n  - release.yaml\n",
    "apps/production/kustomization.yaml": "resources:\n  - ../base\n",
    "apps/staging/kustomization.yaml": (
        "resources:\n  - ../base\npatches:\n  - path: patch.yaml\n    target:\n      kind: HelmRelease\n      name: litellm\n"
    ),
}
LITELLM_BASE = (
    "apiVersion: helm.toolkit.fluxcd.io/v2\nkind: HelmRelease\nmetadata:\n  name: litellm\n  namespace: ai\n"
    "spec:\n  interval: 1h\n  chart:\n    spec:\n      chart: litellm-helm\n      version: 0.1.600\n"
    "      sourceRef: {kind: HelmRepository, name: litellm}\n"
    "  values:\n    db:\n      useExisting: true\n      deployStandalone: false\n"
)
# Staging runs the chart's own PostgreSQL (and no external one, so the Job migrates the bundled
# database): a pre-install hook would run before it exists.
LITELLM_STAGING_PATCH = (
    "apiVersion: helm.toolkit.fluxcd.io/v2\nkind: HelmRelease\nmetadata:\n  name: litellm\n"
    "spec:\n  values:\n    db:\n      useExisting: false\n      deployStandalone: true\n"
)


def test_overlays_that_need_the_hook_and_the_job_off_all_get_the_job_off(tmp_path: Path) -> None:
    """The base is external (the hook), staging's patch bundles the database (the Job off). Both
    edits land in the base: the hook would reach staging too. Before, the first build judged
    decided for both (here staging got the hook); now both get the universal fix."""
    _write(
        tmp_path,
        {**TWO_CLUSTERS, "apps/base/release.yaml": LITELLM_BASE, "apps/staging/patch.yaml": LITELLM_STAGING_PATCH},
    )
    result = run_codemods("run", "--no-verify", str(tmp_path))
    assert result.returncode == 0, result.stderr
    base = (tmp_path / "apps/base/release.yaml").read_text()
    assert base == LITELLM_BASE.replace("  values:\n", "  values:\n    migrationJob:\n      enabled: false\n")
    assert "in every Flux build of the release: they need different changes" in result.stderr
    assert run_codemods("run", "--check", "--no-verify", str(tmp_path)).returncode == 0


class _SplitPolicy:
    """A chart whose builds may need two different fixes, neither safe for the other."""

    name = "split-test"
    charts = ("split-chart",)
    subchart_keys: tuple[str, ...] = ()
    job = None
    needles = (b"split-chart",)
    chart_needles: tuple[bytes, ...] = ()

    def fix(
        self,
        prefix: tuple[str, ...],
        lookup: Lookup,
        has_standalone_job: bool,
        chart: str | None = None,
        version: str | None = None,
    ) -> Fix | None:
        if lookup(("done",)) is True:
            return None
        mode = lookup(("mode",))
        return Fix(("a" if mode == "a" else "b", "on"), True, "test")

    def skip_branch(self, prefix: tuple[str, ...], block_enabled: Scalar | None) -> bool:
        return False

    def implied_subchart(self, chart: str | None, version: str | None) -> tuple[str, ...] | None:
        return None


def test_overlays_that_need_different_fixes_without_a_universal_one_are_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from codemods.mods.disable_migration_job import DisableMigrationJob
    from codemods.runner import plan_repository

    monkeypatch.setitem(POLICIES, _SplitPolicy.name, _SplitPolicy())
    release = LITELLM_BASE.replace("litellm-helm", "split-chart").replace("name: litellm\n", "name: split\n")
    release = release.split("  values:\n")[0] + "  values:\n    mode: a\n"
    patch = "apiVersion: helm.toolkit.fluxcd.io/v2\nkind: HelmRelease\nmetadata:\n  name: split\nspec:\n  values:\n    mode: b\n"
    files = {**TWO_CLUSTERS, "apps/base/release.yaml": release, "apps/staging/patch.yaml": patch}
    files["apps/staging/kustomization.yaml"] = files["apps/staging/kustomization.yaml"].replace(
        "name: litellm", "name: split"
    )
    _write(tmp_path, files)
    plan = plan_repository(tmp_path, [DisableMigrationJob(policy="split-test")])
    assert plan.is_empty
    refusal = (
        "apps/base/release.yaml:11: HelmRelease split: left as it is: its Flux builds need different changes "
        "(a.on: true; b.on: true), and an edit in a file they share would apply to all of them; set each where only "
        "its build reads it"
    )
    assert [str(w) for w in plan.unresolved] == [refusal]


def test_a_refused_release_is_a_warning_with_its_line_and_check_fails(tmp_path: Path) -> None:
    """Chart 1.41.0 of kubernetes-ingress: no value fixes its CRD Job. Nothing is written, the
    warning names the version's line, --check exits 1, and --json carries the warning."""
    shutil.copytree(ROOT / "snapshots" / "preset-haproxy-ingress" / "before", tmp_path / "repo")
    repo = tmp_path / "repo"
    check = run_codemods("run", "--check", "--no-verify", "--recipe", "haproxy-ingress-crdjob", str(repo))
    assert check.returncode == 1
    assert (
        "warning: infrastructure/controllers/haproxy-ingress.yaml:21: HelmRelease haproxy-ingress: left as it is"
        in (check.stderr)
    )
    assert "nothing to change" in check.stderr
    report = json.loads(run_codemods("run", "--json", "--recipe", "haproxy-ingress-crdjob", str(repo)).stdout)
    assert report["status"] == "unchanged" and report["files"] == []
    [warning] = [w for w in report["warnings"] if "left as it is" in w["message"]]
    assert (warning["file"], warning["line"]) == ("infrastructure/controllers/haproxy-ingress.yaml", 21)

"""The semantic harness itself (tests/flux_harness.py), on tiny hand-made trees and real kubectl kustomize.

If the emulator were wrong, tests/test_semantic.py would judge the snapshot cases by a wrong picture
of Flux; and if its comparison could not fail, it would prove nothing. Both are tested here.
"""

from __future__ import annotations

import base64
import shutil
import subprocess
import sys
import textwrap
import tomllib
from pathlib import Path
from typing import Any

import pytest

import tests.test_semantic
from tests.flux_harness import (
    FluxBuild,
    ValuesError,
    compare,
    effective_values,
    emulate,
    load_documents,
    object_key,
)
from tests.helpers import ROOT, SNAPSHOTS, tree


def write(root: Path, files: dict[str, str]) -> Path:
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip("\n"))
    return root


def flux_ks(name: str, path: str, namespace: str | None = "flux-system", **spec_lines: str) -> str:
    """A Flux Kustomization document; spec_lines are extra `key: value` lines of its spec."""
    meta_namespace = f"\n  namespace: {namespace}" if namespace else ""
    extra = "".join(f"\n  {key}: {value}" for key, value in spec_lines.items())
    return (
        f"apiVersion: kustomize.toolkit.fluxcd.io/v1\nkind: Kustomization\nmetadata:\n  name: {name}{meta_namespace}\n"
        f"spec:\n  interval: 1h\n  path: {path}\n  prune: true\n"
        f"  sourceRef:\n    kind: GitRepository\n    name: flux-system{extra}\n"
    )


def configmap(name: str, namespace: str | None = None, **data: str) -> str:
    meta_namespace = f"\n  namespace: {namespace}" if namespace else ""
    lines = "".join(f'\n  {k}: "{v}"' for k, v in data.items()) or " {}"
    return f"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}{meta_namespace}\ndata:{lines}\n"


def keys(build: FluxBuild) -> list[str]:
    assert build.ok, build.error or build.not_built
    return sorted(object_key(o) for o in build.objects)


def test_generated_kustomization_includes_every_manifest_and_stops_at_kustomization_dirs(tmp_path: Path) -> None:
    root = write(
        tmp_path,
        {
            "clusters/main/apps.yaml": flux_ks("apps", "apps/"),
            "apps/a.yaml": configmap("a"),
            "apps/deep/er/b.yml": configmap("b"),
            "apps/notes.txt": "not a manifest",
            "apps/sub/kustomization.yaml": "resources:\n  - listed.yaml\n",
            "apps/sub/listed.yaml": configmap("listed"),
            "apps/sub/unlisted.yaml": configmap("unlisted"),
        },
    )
    files_before = tree(root)
    results = emulate(root)
    assert sorted(results) == ["flux-system/apps"]
    assert keys(results["flux-system/apps"]) == ["ConfigMap /a", "ConfigMap /b", "ConfigMap /listed"]
    assert results["flux-system/apps"].path == "apps"
    assert tree(root) == files_before, "the generated kustomization must not be written into the tree"


def test_generated_kustomization_refuses_a_file_that_is_no_manifest(tmp_path: Path) -> None:
    root = write(
        tmp_path,
        {"flux/apps.yaml": flux_ks("apps", "./apps"), "apps/a.yaml": configmap("a"), "apps/values.yaml": "x: 1\n"},
    )
    build = emulate(root)["flux-system/apps"]
    assert build.error is not None and "apps/values.yaml" in build.error


def test_components_and_target_namespace(tmp_path: Path) -> None:
    root = write(
        tmp_path,
        {
            "flux/app.yaml": flux_ks("app", "./app", targetNamespace="team", components="[../components/extra]"),
            "app/kustomization.yaml": "resources:\n  - config.yaml\n  - role.yaml\n",
            "app/config.yaml": configmap("app-config", namespace="elsewhere"),
            "app/role.yaml": "apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\nmetadata:\n  name: reader\n",
            "components/extra/kustomization.yaml": (
                "apiVersion: kustomize.config.k8s.io/v1alpha1\nkind: Component\nresources:\n  - extra.yaml\n"
            ),
            "components/extra/extra.yaml": configmap("extra"),
        },
    )
    assert keys(emulate(root)["flux-system/app"]) == [
        "ClusterRole /reader",
        "ConfigMap team/app-config",
        "ConfigMap team/extra",
    ]


def test_post_build_substitution(tmp_path: Path) -> None:
    disabled = configmap("raw", CLUSTER="${CLUSTER}").replace(
        "  name: raw", "  name: raw\n  annotations:\n    kustomize.toolkit.fluxcd.io/substitute: disabled"
    )
    root = write(
        tmp_path,
        {
            "flux/app.yaml": flux_ks("app", "./app")
            + "  postBuild:\n    substitute:\n      CLUSTER: prod\n"
            + "    substituteFrom:\n      - kind: ConfigMap\n        name: cluster-settings\n"
            + "      - kind: Secret\n        name: cluster-secrets\n",
            "flux/settings.yaml": configmap("cluster-settings", namespace="flux-system", DOMAIN="example.com"),
            "flux/secrets.yaml": (
                "apiVersion: v1\nkind: Secret\nmetadata:\n  name: cluster-secrets\n  namespace: flux-system\n"
                f"data:\n  TOKEN: {base64.b64encode(b's3cret').decode()}\n"
            ),
            "app/kustomization.yaml": "resources:\n  - values.yaml\n  - raw.yaml\n",
            "app/values.yaml": configmap(
                "values",
                cluster="${CLUSTER}",
                host="app.${DOMAIN}",
                token="${TOKEN}",
                fallback="${MISSING:=fallback}",
                empty="x-${MISSING}-y",
                escaped="$${CLUSTER}",
                nested="${CLAIM:-${CLUSTER}}-data",
                braces="{a: ${CLUSTER}}",
            ),
            "app/raw.yaml": disabled,
        },
    )
    objects = {object_key(o): o for o in emulate(root)["flux-system/app"].objects}
    assert objects["ConfigMap /values"]["data"] == {
        "cluster": "prod",
        "host": "app.example.com",
        "token": "s3cret",
        "fallback": "fallback",
        "empty": "x--y",
        "escaped": "${CLUSTER}",
        "nested": "prod-data",
        "braces": "{a: prod}",
    }
    assert objects["ConfigMap /raw"]["data"] == {"CLUSTER": "${CLUSTER}"}


def test_nested_flux_kustomizations_inherit_namespace_and_variables(tmp_path: Path) -> None:
    root = write(
        tmp_path,
        {
            "clusters/main/apps.yaml": flux_ks("cluster-apps", "./apps")
            + "  postBuild:\n    substitute:\n      TEAM: team-a\n",
            # The namespace directory's `namespace:` moves the child Flux Kustomizations into it.
            "apps/team/kustomization.yaml": "namespace: team\nresources:\n  - ./ks.yaml\n",
            "apps/team/ks.yaml": flux_ks("web", "./workloads/${TEAM}", namespace="flux-system", targetNamespace="web"),
            "workloads/team-a/kustomization.yaml": "resources:\n  - cm.yaml\n  - ks.yaml\n",
            "workloads/team-a/cm.yaml": configmap("web-config"),
            # Reached only through the ${TEAM} path, which no static reading can follow.
            "workloads/team-a/ks.yaml": flux_ks("web-extras", "./extras", namespace="web"),
            "extras/cm.yaml": configmap("extra"),
        },
    )
    results = emulate(root)
    assert sorted(results) == ["flux-system/cluster-apps", "team/web", "web/web-extras"]
    assert results["team/web"].parent == "flux-system/cluster-apps"
    assert results["team/web"].path == "workloads/team-a"
    assert keys(results["team/web"]) == ["ConfigMap web/web-config", "Kustomization web/web-extras"]
    assert results["web/web-extras"].parent == "team/web"
    assert keys(results["web/web-extras"]) == ["ConfigMap /extra"]


@pytest.mark.parametrize("spelling", ["./app", "app", "app/", '"./app/"', "'app'", "/app"])
def test_spec_path_spellings(tmp_path: Path, spelling: str) -> None:
    root = write(tmp_path, {"flux/app.yaml": flux_ks("app", spelling), "app/cm.yaml": configmap("c")})
    build = emulate(root)["flux-system/app"]
    assert build.path == "app"
    assert keys(build) == ["ConfigMap /c"]


def test_path_outside_the_source_is_an_error(tmp_path: Path) -> None:
    root = write(tmp_path / "repo", {"flux/app.yaml": flux_ks("app", "../elsewhere")})
    assert "leaves the source" in (emulate(root)["flux-system/app"].error or "")


def test_source_with_a_subdirectory_artifact_root(tmp_path: Path) -> None:
    ks = flux_ks("apps", "./apps").replace(
        "kind: GitRepository\n    name: flux-system", "kind: OCIRepository\n    name: cluster"
    )
    root = write(tmp_path, {"clusters/main/apps.yaml": ks, "kubernetes/apps/cm.yaml": configmap("c")})
    mapped = emulate(root, {"OCIRepository/flux-system/cluster": "kubernetes"})["flux-system/apps"]
    assert mapped.path == "kubernetes/apps"
    assert keys(mapped) == ["ConfigMap /c"]
    unmapped = emulate(root)["flux-system/apps"]
    assert unmapped.error == "path not found: apps"


def test_unrendered_template_is_not_built_rather_than_failed(tmp_path: Path) -> None:
    root = write(
        tmp_path,
        {
            "flux/app.yaml": flux_ks("app", "./app"),
            "app/kustomization.yaml": "resources:\n  - job.yaml\n",
            "app/job.yaml.j2": "kind: Job  # {{ rendered later }}\n",
        },
    )
    build = emulate(root)["flux-system/app"]
    assert build.error is None
    assert build.not_built is not None and "app/job.yaml.j2" in build.not_built
    assert not build.ok


def test_a_failure_unrelated_to_templates_stays_a_failure(tmp_path: Path) -> None:
    root = write(
        tmp_path,
        {
            "flux/app.yaml": flux_ks("app", "./app"),
            "app/kustomization.yaml": "resources:\n  - missing.yaml\n",
            "app/job.yaml.j2": "kind: Job  # {{ rendered later }}\n",
        },
    )
    build = emulate(root)["flux-system/app"]
    assert build.not_built is None
    assert build.error is not None and "missing.yaml" in build.error


def test_makejinja_inputs_are_not_built(tmp_path: Path) -> None:
    root = write(
        tmp_path,
        {
            "makejinja.toml": '[makejinja]\ninputs = ["./templates/config"]\noutput = "./"\n',
            "templates/config/flux/app.yaml": flux_ks("template-copy", "./app"),
            "flux/app.yaml": flux_ks("app", "./app"),
            "app/cm.yaml": configmap("c"),
        },
    )
    assert sorted(emulate(root)) == ["flux-system/app"]


def test_roots_self_building_flux_system_and_an_unreferenced_namespace_directory(tmp_path: Path) -> None:
    root = write(
        tmp_path,
        {
            # flux2-kustomize-helm-example: flux-system builds its own directory, which declares the rest.
            "clusters/prod/flux-system/gotk-sync.yaml": flux_ks("flux-system", "./clusters/prod"),
            "clusters/prod/infra.yaml": flux_ks("infra", "./infra"),
            "infra/cm.yaml": configmap("infra"),
            # A namespace directory applied by something outside the repository.
            "kubernetes/apps/ai/kustomization.yaml": "namespace: ai\nresources:\n  - ./app/ks.yaml\n",
            "kubernetes/apps/ai/app/ks.yaml": flux_ks("app", "./kubernetes/apps/ai/app/deploy", namespace=None),
            "kubernetes/apps/ai/app/deploy/cm.yaml": configmap("app"),
        },
    )
    results = emulate(root)
    assert sorted(results) == ["./kubernetes/apps/ai", "ai/app", "flux-system/flux-system", "flux-system/infra"]
    assert results["flux-system/flux-system"].parent is None
    assert results["flux-system/infra"].parent == "flux-system/flux-system"
    assert results["ai/app"].parent == "./kubernetes/apps/ai"
    assert keys(results["./kubernetes/apps/ai"]) == ["Kustomization ai/app"]


@pytest.mark.parametrize("bootstrapped", [False, True])
def test_two_clusters_declaring_the_same_name_are_both_built(tmp_path: Path, bootstrapped: bool) -> None:
    """flux2-kustomize-helm-example: clusters/staging/apps.yaml and clusters/production/apps.yaml
    both declare flux-system/apps; each is its own Flux Kustomization, in its own cluster."""
    files = {
        "clusters/staging/apps.yaml": flux_ks("apps", "./apps/staging"),
        "clusters/production/apps.yaml": flux_ks("apps", "./apps/production"),
        "apps/staging/cm.yaml": configmap("staging"),
        "apps/production/cm.yaml": configmap("production"),
    }
    if bootstrapped:  # each cluster's flux-system builds its own directory, which declares apps
        for cluster in ("staging", "production"):
            files[f"clusters/{cluster}/flux-system/gotk-sync.yaml"] = flux_ks("flux-system", f"./clusters/{cluster}")
    results = emulate(write(tmp_path, files))
    staging, production = (
        "flux-system/apps (clusters/staging/apps.yaml)",
        "flux-system/apps (clusters/production/apps.yaml)",
    )
    assert {staging, production} <= results.keys()
    assert "flux-system/apps" not in results
    assert keys(results[staging]) == ["ConfigMap /staging"]
    assert keys(results[production]) == ["ConfigMap /production"]
    if bootstrapped:
        assert results[staging].parent == "flux-system/flux-system (clusters/staging/flux-system/gotk-sync.yaml)"
        assert results[production].parent == "flux-system/flux-system (clusters/production/flux-system/gotk-sync.yaml)"


def test_common_metadata_labels_every_object(tmp_path: Path) -> None:
    ks = flux_ks("app", "./app") + "  commonMetadata:\n    labels:\n      app.kubernetes.io/name: app\n"
    root = write(tmp_path, {"flux/app.yaml": ks, "app/cm.yaml": configmap("c")})
    (obj,) = emulate(root)["flux-system/app"].objects
    assert obj["metadata"]["labels"] == {"app.kubernetes.io/name": "app"}


def test_cached_builds_see_every_file_they_read(tmp_path: Path) -> None:
    """Two trees that differ only in a file outside the built directory must not share a cached build."""
    files = {
        "flux/app.yaml": flux_ks("app", "./app"),
        "app/kustomization.yaml": (
            "resources:\n  - ../shared/base\npatches:\n  - path: ../patches/replicas.yaml\n"
            "configMapGenerator:\n  - name: values\n    files:\n      - values.yaml=../helm/values.yaml\n"
        ),
        "shared/base/kustomization.yaml": "resources:\n  - cm.yaml\n",
        "shared/base/cm.yaml": configmap("base", keep="1", level="1"),
        "patches/replicas.yaml": configmap("base", level="2"),
        "helm/values.yaml": "enabled: true\n",
    }
    first = emulate(write(tmp_path / "one", files))["flux-system/app"]
    for rel, (old, new) in {
        "shared/base/cm.yaml": ('keep: "1"', 'keep: "3"'),
        "patches/replicas.yaml": ('"2"', '"4"'),
        "helm/values.yaml": ("true", "false"),
    }.items():
        changed = {**files, rel: files[rel].replace(old, new)}
        second = emulate(write(tmp_path / rel.replace("/", "_"), changed))["flux-system/app"]
        assert second.objects != first.objects, f"a change in {rel} was not seen"
    same = emulate(write(tmp_path / "same", files))["flux-system/app"]
    assert same.objects == first.objects


def test_a_duplicate_key_fails_the_build_even_where_flux_edits_the_kustomization(tmp_path: Path) -> None:
    root = write(
        tmp_path,
        {
            "flux/app.yaml": flux_ks("app", "./app", targetNamespace="team"),
            "app/kustomization.yaml": "resources:\n  - a.yaml\nresources:\n  - b.yaml\n",
            "app/a.yaml": configmap("a"),
            "app/b.yaml": configmap("b"),
        },
    )
    build = emulate(root)["flux-system/app"]
    assert build.error is not None and "duplicate key 'resources'" in build.error


def test_yaml_is_read_as_kustomize_reads_it() -> None:
    (doc,) = load_documents(
        "a: yes\nb: True\nc: 010\nd: 0o10\ne: 1:30\nf: 2024-01-01\nbase: &m {x: 1, y: 1}\ng: {<<: *m, y: 2}\n"
    )
    assert doc == {
        "a": "yes",
        "b": True,
        "c": 10,
        "d": 8,
        "e": "1:30",
        "f": "2024-01-01",
        "base": {"x": 1, "y": 1},
        "g": {"x": 1, "y": 2},
    }


def _release(**spec: Any) -> dict[str, Any]:
    return {"kind": "HelmRelease", "metadata": {"name": "r", "namespace": "ns"}, "spec": spec}


def _secret(name: str, **data: str) -> dict[str, Any]:
    encoded = {k: base64.b64encode(v.encode()).decode() for k, v in data.items()}
    return {"kind": "Secret", "metadata": {"name": name, "namespace": "ns"}, "data": encoded}


def test_effective_values_merge_values_from_in_order_then_inline_values() -> None:
    objects = [
        {
            "kind": "ConfigMap",
            "metadata": {"name": "base-values-5k2hmbg7c8", "namespace": "ns"},
            "data": {"values.yaml": "a: {x: 1, y: 1}\nsub: {migrationJob: {enabled: true, ttl: 120}}\n"},
        },
        _secret("overrides", custom="a: {y: 2}\n", flag="false", word='"false"'),
    ]
    release = _release(
        valuesFrom=[
            {"kind": "ConfigMap", "name": "base-values-5k2hmbg7c8"},
            {"kind": "Secret", "name": "overrides", "valuesKey": "custom"},
            {"kind": "Secret", "name": "overrides", "valuesKey": "flag", "targetPath": "sub.migrationJob.enabled"},
            {"kind": "Secret", "name": "overrides", "valuesKey": "word", "targetPath": "quoted"},
            {"kind": "Secret", "name": "absent", "optional": True},
        ],
        values={"a": {"z": 3}},
    )
    assert effective_values(release, objects) == {
        "a": {"x": 1, "y": 2, "z": 3},
        "sub": {"migrationJob": {"enabled": False, "ttl": 120}},
        "quoted": "false",
    }
    with pytest.raises(ValuesError, match="absent"):
        effective_values(_release(valuesFrom=[{"kind": "Secret", "name": "absent"}]), objects)


# --- compare(): every promise it checks can be broken, and each breakage is reported -----------------

ATTEMPT3 = SNAPSHOTS / "cluster-template-attempt3"
ATTEMPT3_TABLE = {
    "release": [{"name": "openhands/openhands", "values": {"litellm-helm.migrationJob.enabled": False}}],
    "job": [{"name": "openhands/openhands-litellm-migrations", "flux": "openhands/openhands"}],
}
APP = "kubernetes/apps/openhands/openhands/app"


def _problems(tmp_path: Path, edit: dict[str, tuple[str, str]], base: str = "after") -> list[str]:
    """compare() for attempt 3 when after/ is `base` with textual edits {file: (old, new)}."""
    work = tmp_path / "after"
    shutil.copytree(ATTEMPT3 / base, work)
    for rel, (old, new) in edit.items():
        text = (work / rel).read_text()
        assert old in text, f"{rel}: {old!r} not found"
        (work / rel).write_text(text.replace(old, new))
    return compare(ATTEMPT3_TABLE, ATTEMPT3 / "before", emulate(ATTEMPT3 / "before"), emulate(work))


def test_compare_accepts_the_snapshot_result(tmp_path: Path) -> None:
    assert _problems(tmp_path, {}) == []


def test_compare_reports_a_run_that_changed_nothing(tmp_path: Path) -> None:
    problems = _problems(tmp_path, {}, base="before")
    assert any(p.startswith("check 2:") and "['flux-system/cluster-apps']" in p for p in problems), problems
    assert any(p.startswith("check 3:") and "is True, expected False" in p for p in problems), problems


def test_compare_reports_a_broken_build(tmp_path: Path) -> None:
    problems = _problems(tmp_path, {f"{APP}/kustomization.yaml": ("./httproute.yaml", "./missing.yaml")})
    assert any(p.startswith("check 1: openhands/openhands") for p in problems), problems


def test_compare_reports_a_job_that_changed(tmp_path: Path) -> None:
    problems = _problems(tmp_path, {f"{APP}/migration-job.yaml": ("backoffLimit: 4", "backoffLimit: 5")})
    assert problems == [
        (
            "check 2: Job openhands/openhands-litellm-migrations changed between before and after: "
            "differs: spec.backoffLimit: 4 -> 5"
        )
    ]


def test_compare_reports_a_value_changed_outside_the_declared_path(tmp_path: Path) -> None:
    edit = ("enabled: true   # the runtime", "enabled: false   # the runtime")
    problems = _problems(tmp_path, {f"{APP}/helmrelease.yaml": edit})
    assert len(problems) == 1 and "runtime-api.migrationJob.enabled: True -> False" in problems[0], problems


def test_compare_reports_another_object_that_changed(tmp_path: Path) -> None:
    problems = _problems(tmp_path, {f"{APP}/httproute.yaml": ("port: 3000", "port: 3001")})
    assert problems == [
        (
            "check 4: HTTPRoute openhands/openhands in openhands/openhands changed: "
            "spec.rules[0].backendRefs[0].port: 3000 -> 3001"
        )
    ]


def test_cli_prints_each_flux_kustomization_and_what_it_builds(tmp_path: Path) -> None:
    root = write(
        tmp_path,
        {
            "flux/apps.yaml": flux_ks("apps", "./apps") + "---\n" + flux_ks("broken", "./nowhere"),
            "apps/cm.yaml": configmap("c", namespace="ns"),
        },
    )
    result = subprocess.run(
        [sys.executable, "-m", "tests.flux_harness", str(root)], cwd=ROOT, capture_output=True, text=True, check=False
    )
    assert result.returncode == 1, result.stderr
    assert result.stdout.splitlines() == [
        "flux-system/apps: apps (root)",
        "  ConfigMap ns/c",
        "flux-system/broken: nowhere (root)",
        "  ERROR path not found: nowhere",
    ]


VALUES_FROM_TREE = {
    "flux/app.yaml": flux_ks("app", "./app", targetNamespace="ai"),
    "app/kustomization.yaml": (
        "resources:\n  - helmrelease.yaml\n"
        "configMapGenerator:\n  - name: app-values\n    files:\n      - values.yaml=./helm/values.yaml\n"
        "configurations:\n  - ./helm/kustomizeconfig.yaml\n"
    ),
    "app/helm/kustomizeconfig.yaml": (
        "nameReference:\n  - kind: ConfigMap\n    version: v1\n    fieldSpecs:\n"
        "      - path: spec/valuesFrom/name\n        kind: HelmRelease\n"
    ),
    "app/helm/values.yaml": "litellm-helm:\n  migrationJob:\n    enabled: true\n  replicas: 1\n",
    "app/helmrelease.yaml": (
        "apiVersion: helm.toolkit.fluxcd.io/v2\nkind: HelmRelease\nmetadata:\n  name: app\nspec:\n"
        "  interval: 1h\n  valuesFrom:\n    - kind: ConfigMap\n      name: app-values\n"
        "  values:\n    litellm-helm:\n      fullnameOverride: app-litellm\n"
    ),
}
VALUES_FROM_TABLE: dict[str, Any] = {
    "release": [{"name": "ai/app", "values": [{"path": ["litellm-helm", "migrationJob", "enabled"], "value": False}]}]
}


def _values_from_problems(tmp_path: Path, values_yaml: str) -> list[str]:
    before = write(tmp_path / "before", VALUES_FROM_TREE)
    after = write(tmp_path / "after", {**VALUES_FROM_TREE, "app/helm/values.yaml": values_yaml})
    return compare(VALUES_FROM_TABLE, before, emulate(before), emulate(after))


def test_values_from_a_generated_configmap_are_judged_by_effective_values(tmp_path: Path) -> None:
    fixed = VALUES_FROM_TREE["app/helm/values.yaml"].replace("enabled: true", "enabled: false")
    # The generated ConfigMap's hashed name changes with its content: neither it nor the reference counts.
    assert _values_from_problems(tmp_path, fixed) == []


def test_values_from_a_generated_configmap_still_catch_other_changes(tmp_path: Path) -> None:
    fixed_and_more = VALUES_FROM_TREE["app/helm/values.yaml"].replace("enabled: true", "enabled: false")
    problems = _values_from_problems(tmp_path, fixed_and_more.replace("replicas: 1", "replicas: 2"))
    assert len(problems) == 1, problems
    assert "effective values changed outside the declared paths: litellm-helm.replicas: 1 -> 2" in problems[0]


def test_values_from_unfixed_release_is_reported_with_the_list_form_path(tmp_path: Path) -> None:
    problems = _values_from_problems(tmp_path, VALUES_FROM_TREE["app/helm/values.yaml"])
    assert problems == [
        "check 3: HelmRelease ai/app in flux-system/app: litellm-helm.migrationJob.enabled is True, expected False"
    ]


def test_the_documented_case_format_parses() -> None:
    """The case.toml example in tests/test_semantic.py's docstring is valid TOML of the shape the checks read."""
    doc = tests.test_semantic.__doc__ or ""
    example = doc[doc.index("    semantic_xfail =") : doc.index("A Flux Kustomization's identity")]
    spec = tomllib.loads(textwrap.dedent(example))
    assert spec["semantic_xfail"]
    table = spec["semantic"]
    assert set(table) == {"sources", "release", "job"}
    assert table["release"][0]["values"] == {"litellm-helm.migrationJob.enabled": False}
    assert set(table["job"][0]) == {"name", "flux", "built_before"}


def test_compare_does_not_hold_a_repaired_build_against_its_failure(tmp_path: Path) -> None:
    broken = tmp_path / "broken"
    shutil.copytree(ATTEMPT3 / "after", broken)
    kustomization = broken / APP / "kustomization.yaml"
    kustomization.write_text(kustomization.read_text().replace("./httproute.yaml", "./missing.yaml"))
    before, after = emulate(broken), emulate(ATTEMPT3 / "after")
    assert not before["openhands/openhands"].ok
    assert compare({}, broken, before, after) == []
    assert compare({}, broken, after, before)[0].startswith("check 1: openhands/openhands")


def test_cli_prints_effective_values(tmp_path: Path) -> None:
    root = write(tmp_path, VALUES_FROM_TREE)
    result = subprocess.run(
        [sys.executable, "-m", "tests.flux_harness", "--values", str(root)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    release = lines.index("  HelmRelease ai/app")
    assert lines[release + 1 : release + 6] == [
        "      litellm-helm:",
        "        migrationJob:",
        "          enabled: true",
        "        replicas: 1",
        "        fullnameOverride: app-litellm",
    ]

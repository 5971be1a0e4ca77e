"""Property test of the whole run on generated Flux layouts (issue 20).

Each example is a repository laid out as home-ops repositories are, with the choices drawn at
random: nesting depth, a parent kustomization's transformers (`namespace`, `labels`,
`commonAnnotations`, `namePrefix`), where the Job's namespace comes from, a generated or a
written app kustomization, `targetNamespace`, several clusters sharing the apps. `codemods run`
runs with the real build gate. Whenever it claims success, the independent emulator
(tests/flux_harness.py, which imports nothing of codemods) must agree that Flux builds the fix and
nothing else; whenever it refuses, nothing is written and every problem names a violated intent.
"""

from __future__ import annotations

import json
import tempfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.flux_harness import compare, emulate
from tests.helpers import run_codemods, tree

_BUILDS = ThreadPoolExecutor(max_workers=2)
KS = "apiVersion: kustomize.toolkit.fluxcd.io/v1\nkind: Kustomization\n"
KZ = "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\n"


@dataclass(frozen=True)
class Layout:
    namespace: str
    group: str | None  # an extra directory level: kubernetes/apps/<group>/<namespace>
    parent_namespace: bool  # the namespace kustomization sets `namespace:`
    job_namespace: bool  # the Job's manifest names its namespace
    parent_labels: bool
    parent_annotations: bool
    parent_prefix: bool
    app_kustomization: bool  # a written app kustomization, or Flux's generated one
    target_namespace: bool
    clusters: int
    parent_images: bool = False  # the namespace kustomization pins the Job's image (`images:`)

    @property
    def apps(self) -> str:
        return f"kubernetes/apps/{self.group}" if self.group else "kubernetes/apps"


LAYOUTS = st.builds(
    Layout,
    namespace=st.sampled_from(["ai", "openhands"]),
    group=st.sampled_from([None, "platform"]),
    parent_namespace=st.booleans(),
    job_namespace=st.booleans(),
    parent_labels=st.booleans(),
    parent_annotations=st.booleans(),
    parent_prefix=st.sampled_from([False, False, False, True]),
    app_kustomization=st.booleans(),
    target_namespace=st.booleans(),
    clusters=st.sampled_from([1, 1, 2]),
    parent_images=st.booleans(),
).filter(lambda layout: layout.parent_namespace or layout.job_namespace)  # a Job must land somewhere


def write(root: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


def files_of(layout: Layout) -> dict[str, str]:
    ns, apps = layout.namespace, layout.apps
    out: dict[str, str] = {}
    for cluster in range(layout.clusters):
        where = f"kubernetes/clusters/c{cluster}" if layout.clusters > 1 else "kubernetes/flux"
        out[f"{where}/apps.yaml"] = (
            f"---\n{KS}metadata:\n  name: cluster-apps\n  namespace: flux-system\nspec:\n  interval: 1h\n"
            f"  path: ./{apps}\n  prune: true\n  sourceRef:\n    kind: GitRepository\n    name: flux-system\n"
        )
    out[f"{apps}/kustomization.yaml"] = f"---\n{KZ}resources:\n  - ./{ns}\n"
    parent = [f"---\n{KZ}"]
    if layout.parent_namespace:
        parent.append(f"namespace: {ns}\n")
    if layout.parent_prefix:
        parent.append("namePrefix: team-\n")
    if layout.parent_labels:
        parent.append("labels:\n  - pairs:\n      example.com/team: ai\n    includeSelectors: false\n")
    if layout.parent_annotations:
        parent.append("commonAnnotations:\n  example.com/owner: ai-team\n")
    if layout.parent_images:
        parent.append("images:\n  - name: ghcr.io/berriai/litellm-database\n    newTag: main-v1.80.0-stable\n")
    parent.append("resources:\n  - ./namespace.yaml\n  - ./litellm/ks.yaml\n  - ./migration-job.yaml\n")
    out[f"{apps}/{ns}/kustomization.yaml"] = "".join(parent)
    out[f"{apps}/{ns}/namespace.yaml"] = f"---\napiVersion: v1\nkind: Namespace\nmetadata:\n  name: {ns}\n"
    job_ns = f"  namespace: {ns}\n" if layout.job_namespace else ""
    out[f"{apps}/{ns}/migration-job.yaml"] = (
        f"---\napiVersion: batch/v1\nkind: Job\nmetadata:\n  name: litellm-migrations\n{job_ns}"
        "  labels:\n    app.kubernetes.io/name: litellm-migrations\nspec:\n  template:\n    spec:\n"
        "      restartPolicy: OnFailure\n      containers:\n        - name: migrations\n"
        "          image: ghcr.io/berriai/litellm-database:main-v1.74.0-stable\n"
    )
    target = f"  targetNamespace: {ns}\n" if layout.target_namespace else ""
    ks_ns = "" if layout.parent_namespace else f"  namespace: {ns}\n"
    out[f"{apps}/{ns}/litellm/ks.yaml"] = (
        f"---\n{KS}metadata:\n  name: litellm\n{ks_ns}spec:\n  interval: 1h\n"
        f"  path: ./{apps}/{ns}/litellm/app\n  prune: true\n{target}"
        "  sourceRef:\n    kind: GitRepository\n    name: flux-system\n    namespace: flux-system\n"
    )
    release_ns = "" if layout.target_namespace else f"  namespace: {ns}\n"
    out[f"{apps}/{ns}/litellm/app/helmrelease.yaml"] = (
        f"---\napiVersion: helm.toolkit.fluxcd.io/v2\nkind: HelmRelease\nmetadata:\n  name: litellm\n{release_ns}"
        "spec:\n  interval: 1h\n  chart:\n    spec:\n      chart: litellm-helm\n      version: 0.1.600\n"
        "      sourceRef:\n        kind: HelmRepository\n        name: litellm\n"
        "  values:\n    db:\n      useExisting: false\n      deployStandalone: true\n    migrationJob:\n      enabled: true\n"
    )
    if layout.app_kustomization:
        out[f"{apps}/{ns}/litellm/app/kustomization.yaml"] = f"---\n{KZ}resources:\n  - ./helmrelease.yaml\n"
    return out


def judge(layout: Layout) -> None:
    with tempfile.TemporaryDirectory(prefix="codemods-layout-") as scratch:
        root = Path(scratch) / "repo"
        write(root, files_of(layout))
        before_files = tree(root)
        snapshot = Path(scratch) / "before"
        write(snapshot, {name: data.decode() for name, data in before_files.items()})
        result = run_codemods("run", "--verify", "--json", str(root))
        report = json.loads(result.stdout)
        if result.returncode == 2:
            assert tree(root) == before_files, "a refusal wrote something"
            problems = (report.get("semantic") or {}).get("problems") or []
            assert problems, f"{layout}: refused without a problem: {result.stderr}"
            assert all(p["intent"] for p in problems), problems
            return
        assert result.returncode == 0, f"{layout}: {result.stderr}"
        before = emulate(snapshot, {}, _BUILDS)
        after = emulate(root, {}, _BUILDS)
        ns = layout.namespace
        # A parent's namePrefix names the Job and the app's Flux Kustomization alike; a Job the
        # tool says it left where it is is judged by the Unchanged check alone.
        prefix = "team-" if layout.parent_prefix else ""
        left = any("left where it is" in w["message"] for w in report.get("warnings") or [])
        table = {
            "release": [{"name": f"{ns}/litellm", "values": {"migrationJob.enabled": False}}],
            "job": [] if left else [{"name": f"{ns}/{prefix}litellm-migrations", "flux": f"{ns}/{prefix}litellm"}],
        }
        problems = compare(table, snapshot, before, after)
        assert not problems, f"{layout}: the tool said yes, the emulator disagrees:\n" + "\n".join(problems)


QUICK = settings(max_examples=6, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)


@QUICK
@given(LAYOUTS)
def test_a_claimed_success_is_what_flux_builds_and_a_refusal_names_an_intent(layout: Layout) -> None:
    judge(layout)


@pytest.mark.slow
@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
@given(LAYOUTS)
def test_a_claimed_success_is_what_flux_builds_more_examples(layout: Layout) -> None:
    judge(layout)


@pytest.mark.parametrize(
    "layout",
    [
        Layout("ai", None, True, False, True, True, False, True, False, 1, True),  # the carry-over candidate
        Layout("ai", "platform", True, True, False, False, False, False, True, 2),  # two clusters, generated app
        Layout("openhands", None, True, False, False, False, True, True, False, 1),  # a prefix: refused
    ],
    ids=["carry-over", "two-clusters-generated", "name-prefix"],
)
def test_chosen_layouts(layout: Layout) -> None:
    judge(layout)

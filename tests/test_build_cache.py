"""The build cache (issue 23 §1): a build is keyed by what it reads, and one build of a key at a
time. Real kubectl kustomize, a real SQLite cache file, real threads."""

from __future__ import annotations

import shutil
import threading
from pathlib import Path

from codemods.verify.gate import verify
from codemods.verify.kustomize import discover
from codemods.verify.model import FluxTarget, Options, Semantic, VerifyInput

KZ = "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\n"
REPO = {
    "apps/web/kustomization.yaml": KZ + "resources:\n  - config.yaml\n",
    "apps/web/config.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: web\ndata:\n  a: '1'\n",
    "apps/api/kustomization.yaml": KZ + "resources:\n  - config.yaml\n",
    "apps/api/config.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: api\ndata:\n  a: '1'\n",
}
WEB = FluxTarget("web", "flux-system", "apps/web", target_namespace="web", file="clusters/web.yaml")
API = FluxTarget("api", "flux-system", "apps/api", target_namespace="api", file="clusters/api.yaml")


def _repo(root: Path, files: dict[str, str]) -> Path:
    for path, text in files.items():
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        (root / path).write_text(text)
    return root


def _input(*targets: FluxTarget) -> VerifyInput:
    writes = {f"{t.path}/config.yaml": REPO[f"{t.path}/config.yaml"].replace("'1'", "'2'").encode() for t in targets}
    kustomizations = tuple(f"{t.path}/kustomization.yaml" for t in targets)
    return VerifyInput(targets=targets, writes=writes, kustomizations=kustomizations)


def test_a_build_is_reused_when_what_it_reads_is_the_same_whatever_else_differs(tmp_path: Path) -> None:
    """Two repositories cut from one template, different in one app: the other app's builds
    are answered from the cache (a key is what one build reads, not the whole change's files)."""
    cache = tmp_path / "builds.sqlite"
    first = _repo(tmp_path / "one", REPO)
    second = _repo(
        tmp_path / "two", {**REPO, "apps/api/kustomization.yaml": REPO["apps/api/kustomization.yaml"] + "# ours\n"}
    )
    data = _input(WEB, API)
    options = Options(discover(), cache=cache)
    one, two = verify(first, data, options), verify(second, data, options)
    assert (one.builds, one.cached) == (4, 0)
    assert (two.builds, two.cached) == (2, 2)  # web's two from the cache, api's two built
    # (Refused, both: nothing allows a ConfigMap to change. The builds are what is counted.)
    assert (two.status, two.targets, two.problems) == (one.status, one.targets, one.problems)


def test_workers_that_need_one_build_wait_for_it_instead_of_building_it_again(tmp_path: Path) -> None:
    """batch --jobs N: four repositories of one template verified at once share each build."""
    cache = tmp_path / "builds.sqlite"
    roots = [_repo(tmp_path / f"r{i}", REPO) for i in range(4)]
    data = _input(WEB)
    options = Options(discover(), cache=cache)
    results: list[Semantic] = []
    start = threading.Barrier(len(roots))

    def one(root: Path) -> None:
        start.wait()
        results.append(verify(root, data, options))

    threads = [threading.Thread(target=one, args=(root,)) for root in roots]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(results) == 4 and all(
        (r.status, r.targets, r.problems) == (results[0].status, results[0].targets, results[0].problems)
        for r in results
    )
    assert sum(r.builds for r in results) == 2  # before and after, once each
    assert sum(r.cached for r in results) == 6


def test_a_rerun_of_a_decomposed_build_is_answered_by_the_cache(tmp_path: Path) -> None:
    """The pruned builds and the probe of kinds are cached like any build."""
    root = _repo(tmp_path / "repo", REPO)
    (root / "apps/kustomization.yaml").write_text(KZ + "namespace: all\nresources:\n  - web\n  - api\n")
    everything = FluxTarget("all", "flux-system", "apps", file="clusters/all.yaml")
    data = VerifyInput(
        targets=(everything,),
        writes={"apps/web/config.yaml": REPO["apps/web/config.yaml"].replace("'1'", "'2'").encode()},
        kustomizations=("apps/kustomization.yaml", "apps/web/kustomization.yaml", "apps/api/kustomization.yaml"),
    )
    options = Options(discover(), cache=tmp_path / "builds.sqlite", decompose_from=0)
    first = verify(root, data, options)
    (decomposed,) = first.decomposed
    assert (decomposed.built, decomposed.untouched, decomposed.whole) == (("apps/web/config.yaml",), 1, "")
    assert (first.builds, first.cached) == (3, 0)  # before, after, the probe
    again = verify(shutil.copytree(root, tmp_path / "copy"), data, options)
    assert (again.builds, again.cached) == (0, 3)
    assert again.targets == first.targets

"""Faults and hostile input. The scenarios are bench/reliability.py's, with fewer trials."""

from __future__ import annotations

import importlib.util
import os
import random
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from codemods.errors import InputError
from codemods.plan import Plan
from codemods.repo.index import FIRST_READ, MAX_FILE_BYTES, scan
from tests.helpers import ROOT, git, git_init, run_codemods, tree

EXAMPLE = ROOT / "examples" / "openhands-cluster-template"


def _reliability():
    spec = importlib.util.spec_from_file_location("reliability", ROOT / "bench" / "reliability.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while it loads
    assert spec.loader is not None
    spec.loader.exec_module(module)
    return module


reliability = _reliability()


def _scenario(scenario: str, trials: int) -> None:
    missing = reliability.unavailable(scenario)
    if missing:
        pytest.skip(missing)
    outcomes = reliability.run([scenario], trials=trials, seed=7)
    for outcome in outcomes:
        assert outcome.trials >= trials, outcome.scenario
        assert outcome.ok, f"{outcome.scenario}: {outcome.failures}"


# The kill-during-run and full-disk trials take tens of seconds even once, and the batch kill
# trial about seven: CI runs them (below), so the default run stays under three minutes.
# The hostile-repository and branch-kill trials take 3-4 s each: CI runs them too.
QUICK = [
    s
    for s in reliability.SCENARIOS
    if s not in ("sigkill-run", "disk-full", "sigkill-batch", "hostile", "sigkill-branch")
]


@pytest.mark.parametrize("scenario", QUICK)
def test_reliability_scenario(scenario: str) -> None:
    """One trial of each quick fault: the default run stays fast; CI runs every one, more often."""
    _scenario(scenario, trials=1)


@pytest.mark.slow
@pytest.mark.parametrize("scenario", list(reliability.SCENARIOS))
def test_reliability_scenario_more_trials(scenario: str) -> None:
    _scenario(scenario, trials=4)


@pytest.mark.slow
def test_sigkill_scenario_really_kills_mid_write(tmp_path: Path) -> None:
    # The fault must hit the write phase, or the test proves nothing.
    outcome = reliability.sigkill_run(4, tmp_path, random.Random(11), window=0.03)
    assert outcome.ok, outcome.failures
    assert any("mixed" in seen for seen in outcome.seen), outcome.seen


def test_planted_temp_link_is_not_followed(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    shutil.copytree(EXAMPLE, repo)
    outside = tmp_path / "outside.txt"
    outside.write_text("keep me\n")
    helm = repo / "kubernetes/apps/openhands/openhands/app/helmrelease.yaml"
    (helm.parent / f".{helm.name}.codemods.tmp").symlink_to(outside)
    assert run_codemods("run", str(repo)).returncode == 0
    assert outside.read_text() == "keep me\n"
    assert "enabled: false" in helm.read_text()
    assert not list(repo.rglob("*.codemods.tmp"))


def test_no_write_through_a_linked_directory(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    repo.mkdir()
    (repo / "job.yaml").write_text("kind: Job\n")
    outside = tmp_path / "outside"
    outside.mkdir()
    (repo / "link").symlink_to(outside, target_is_directory=True)
    plan = Plan(scan(repo))
    plan.move("test", "job.yaml", "link/job.yaml", "into a linked directory")
    with pytest.raises(InputError, match="outside the repository"):
        plan.apply()
    assert (repo / "job.yaml").exists() and not list(outside.iterdir())


@pytest.mark.parametrize("hops", [1, 2])
def test_no_write_through_a_link_deep_in_a_path_other_writes_share(tmp_path: Path, hops: int) -> None:
    """Directories are resolved once per transaction: a link met halfway down a path that an
    earlier, harmless write shares is still followed (also through a second link)."""
    repo = tmp_path / "repo"
    (repo / "apps" / "web").mkdir(parents=True)
    (repo / "apps" / "web" / "job.yaml").write_text("kind: Job\n")
    (repo / "apps" / "web" / "job2.yaml").write_text("kind: Job\n")
    outside = tmp_path / "outside"
    (outside / "deep").mkdir(parents=True)
    link = repo / "apps" / "web" / "link"
    if hops == 1:
        link.symlink_to(outside, target_is_directory=True)
    else:
        (repo / "apps" / "hop").symlink_to(outside, target_is_directory=True)
        link.symlink_to("../hop", target_is_directory=True)
    (repo / "apps" / "inside").symlink_to("web", target_is_directory=True)  # a link that stays inside
    plan = Plan(scan(repo))
    plan.move("test", "apps/web/job2.yaml", "apps/inside/moved.yaml", "through a link inside the repository")
    plan.move("test", "apps/web/job.yaml", "apps/web/link/deep/job.yaml", "into a linked directory")
    with pytest.raises(InputError, match="outside the repository"):
        plan.apply()
    assert (repo / "apps/web/job.yaml").exists() and not list((outside / "deep").iterdir())


def test_symlinks_and_huge_files_are_reported_not_read(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    repo.mkdir()
    (repo / "big.yaml").write_bytes(b"# x\n" * (2 * 1024 * 1024))
    (repo / "link.yaml").symlink_to("/etc/hostname")
    index = scan(repo)
    assert ("link.yaml", "symbolic link to outside the repository: not followed") in index.skipped
    assert any(path == "big.yaml" and "too large" in why for path, why in index.skipped)
    assert "big.yaml" not in index.units and "link.yaml" not in index.units


def test_escaping_resources_entries_are_never_read(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    shutil.copytree(EXAMPLE, repo)
    app = repo / "kubernetes/apps/openhands/openhands/app/kustomization.yaml"
    app.write_text(app.read_text() + "  - ../../../../../../../../etc\n")
    assert run_codemods("run", str(repo)).returncode == 0
    assert run_codemods("doctor", str(repo)).returncode in (0, 1)


def test_concurrent_batches_on_one_workdir_are_refused(tmp_path: Path) -> None:
    workdir = tmp_path / "work"
    workdir.mkdir()
    holder = subprocess.Popen(
        [
            "python3",
            "-c",
            "import fcntl,sys,time; f=open(sys.argv[1],'w'); fcntl.flock(f, fcntl.LOCK_EX); print('held', flush=True); time.sleep(30)",
            str(workdir / ".codemods-batch.lock"),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "held"
        result = run_codemods("batch", "file:///nowhere.git", "--workdir", str(workdir))
        assert result.returncode == 2 and "another codemods batch" in result.stderr
    finally:
        holder.kill()
        holder.wait()


def test_batch_recovers_from_stale_locks_and_partial_clones(tmp_path: Path) -> None:
    seed = tmp_path / "seed"
    shutil.copytree(EXAMPLE, seed)
    git_init(seed)
    bare = tmp_path / "remote.git"
    git(tmp_path, "clone", "-q", "--bare", str(seed), str(bare))
    workdir = tmp_path / "work"
    assert run_codemods("batch", f"file://{bare}", "--workdir", str(workdir)).returncode == 0
    (clone,) = [p for p in workdir.iterdir() if p.is_dir()]
    (clone / ".git" / "refs" / "heads" / "codemods").mkdir(parents=True, exist_ok=True)
    (clone / ".git" / "refs" / "heads" / "codemods" / "litellm-migration.lock").write_text("")
    (clone / ".git" / "packed-refs.lock").write_text("")
    (workdir / (clone.name + ".partial")).mkdir()
    result = run_codemods("batch", f"file://{bare}", "--workdir", str(workdir), "--push")
    assert result.returncode == 0, result.stderr
    assert git(tmp_path, "ls-remote", str(bare), "refs/heads/codemods/litellm-migration").stdout


def test_non_utf8_release_is_preserved_with_a_warning(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    repo.mkdir()
    data = "apiVersion: helm.toolkit.fluxcd.io/v2\nkind: HelmRelease\nmetadata:\n  name: caf\xe9\nspec:\n  values:\n    litellm-helm: {}\n".encode(
        "latin-1"
    )
    (repo / "hr.yaml").write_bytes(data)
    result = run_codemods("run", "--json", str(repo))
    assert result.returncode == 0
    assert (repo / "hr.yaml").read_bytes() == data
    assert "hr.yaml:4: not valid UTF-8: left unchanged" in result.stderr
    assert tree(repo) == {"hr.yaml": data}


def test_a_fifo_named_like_a_manifest_is_reported_not_read(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    repo.mkdir()
    os.mkfifo(repo / "pipe.yaml")  # a read would block for ever
    (repo / "job.yaml").write_text("kind: Job\n")
    index = scan(repo)
    assert ("pipe.yaml", "not a regular file: not read") in index.skipped
    assert "job.yaml" in index.units and "pipe.yaml" not in index.units


@pytest.mark.parametrize("size", [0, FIRST_READ - 1, FIRST_READ, FIRST_READ + 1, 3 * FIRST_READ + 7, MAX_FILE_BYTES])
def test_the_scan_reads_every_byte_up_to_the_cap(tmp_path: Path, size: int) -> None:
    """The scan reads with os.read: a file the first read does not cover is read to its end."""
    repo = tmp_path / "repo"
    repo.mkdir()
    body = b"# litellm-helm\n" + b"#" * max(size - 16, 0) + b"\n" if size else b""
    assert len(body) == size
    (repo / "values.yaml").write_bytes(body)
    (repo / "kustomization.yaml").write_bytes(body)
    index = scan(repo)
    assert "values.yaml" in index.units and not index.skipped
    assert index.kept("kustomization.yaml") == body
    assert ("values.yaml" in index.facts) == bool(size)  # the needle is in the first bytes
    (repo / "values.yaml").write_bytes(body + b"#")
    (repo / "kustomization.yaml").unlink()
    if size == MAX_FILE_BYTES:  # one byte more than the cap: reported, not read
        assert any(path == "values.yaml" and "too large" in why for path, why in scan(repo).skipped)


def test_a_file_name_that_is_not_utf8_is_read_like_any_other(tmp_path: Path) -> None:
    """os.scandir gives such a name with surrogate escapes; the doctor's byte search and the
    build gate's digests must use its bytes, not fail to encode it."""
    repo = tmp_path / "repo"
    shutil.copytree(ROOT / "examples" / "openhands-cluster-template", repo)
    app = os.fsencode(repo / "kubernetes/apps/openhands/openhands/app")
    with open(app + b"/caf\xe9.yaml", "wb") as handle:
        handle.write(b"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\n")
    doctor = run_codemods("doctor", str(repo))
    assert doctor.returncode == 1, doctor.stderr  # its findings, not an internal error
    assert "internal error" not in doctor.stderr + doctor.stdout
    dry = run_codemods("run", "--dry-run", str(repo))
    assert dry.returncode == 0, dry.stderr
    assert "8 files would change" in dry.stderr


def test_the_build_gate_writes_a_generated_kustomization_listing_a_name_that_is_not_utf8(tmp_path: Path) -> None:
    """Flux generates the kustomization of a directory without one; the gate writes that file
    with each entry's own bytes instead of failing to encode it."""
    repo = tmp_path / "repo"
    (repo / "apps/litellm").mkdir(parents=True)
    (repo / "flux.yaml").write_text(
        "apiVersion: kustomize.toolkit.fluxcd.io/v1\nkind: Kustomization\nmetadata:\n  name: apps\n"
        "  namespace: flux-system\nspec:\n  interval: 1h\n  path: ./apps/litellm\n  prune: true\n"
        "  sourceRef:\n    kind: GitRepository\n    name: flux-system\n"
    )
    release = (
        b"apiVersion: helm.toolkit.fluxcd.io/v2\nkind: HelmRelease\nmetadata:\n  name: litellm\n  namespace: ai\n"
        b"spec:\n  interval: 1h\n  chart:\n    spec:\n      chart: litellm-helm\n"
        b"      sourceRef: {kind: HelmRepository, name: berriai}\n  values:\n    db:\n      useExisting: false\n"
    )
    with open(os.fsencode(repo / "apps/litellm") + b"/release-\xff.yaml", "wb") as handle:
        handle.write(release)
    check = run_codemods("run", "--check", str(repo))
    assert check.returncode == 1, check.stderr  # the fix is needed; no internal error
    assert "internal error" not in check.stderr

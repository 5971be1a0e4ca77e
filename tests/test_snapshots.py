"""Before/after snapshot cases, OpenRewrite-style: each runs twice and the second run must be a no-op.

Each case is `snapshots/<case>/{before,after,case.toml}`. Besides the tree comparison, the
harness proves the result with real tools: the dry-run diff applies with `git apply`,
`kubectl kustomize` builds the Job where Flux builds the release (and no longer where it was),
and a fresh makejinja render reproduces the rendered files byte-for-byte.

A case whose chart policy refuses a release (the fix would trade one outage for another, or
no value of its chart version fixes it) lists the warnings in case.toml:

    refused = ["path/helmrelease.yaml:12: HelmRelease x: left as it is: ..."]   # substrings of stderr

Every run prints each of them, and `run --check` keeps failing (exit 1) on the result: the
repository is not fixed, though a second run changes nothing.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import tomllib
from pathlib import Path

import pytest

from tests.helpers import SNAPSHOTS, git, git_init, kustomize_jobs, makejinja_executable, run_codemods, tree, tree_diff

# These tests judge bytes, idempotence and git; what Flux builds is judged twice elsewhere:
# by the independent harness (tests/test_semantic.py) and by the product's own build gate on
# every case (tests/test_verify.py::test_every_snapshot_case_is_verified_and_reports_valid_json).
UNVERIFIED = ("--no-verify",)
CASES = sorted(p.name for p in SNAPSHOTS.iterdir() if (p / "before").is_dir())


def gate_flags(case: str) -> tuple[str, ...]:
    """`verify = true` in case.toml: the case's expected result comes from the candidate search
    (codemods.verify.run.prove), which only a run with the build gate makes."""
    return ("--verify",) if spec(case).get("verify") else UNVERIFIED


def spec(case: str) -> dict:
    return tomllib.loads((SNAPSHOTS / case / "case.toml").read_text())


def fresh_copy(case: str, tmp_path: Path) -> Path:
    work = tmp_path / "repo"
    shutil.copytree(SNAPSHOTS / case / "before", work)
    return work


def test_at_least_the_required_cases_exist() -> None:
    assert len(CASES) >= 8


@pytest.mark.parametrize("case", CASES)
def test_run_twice(case: str, tmp_path: Path) -> None:
    expected_code = spec(case).get("exit_code", 0)
    work = fresh_copy(case, tmp_path)
    before, after = tree(SNAPSHOTS / case / "before"), tree(SNAPSHOTS / case / "after")

    args = spec(case).get("args", [])
    refused = spec(case).get("refused", [])
    flags = gate_flags(case)
    first = run_codemods("run", *flags, *args, str(work))
    assert first.returncode == expected_code, first.stderr
    assert not tree_diff(tree(work), after), tree_diff(tree(work), after)
    if expected_code == 2:
        assert spec(case)["error"] in first.stderr
        assert tree(work) == before, "a failed run must write nothing"
        return
    assert [r for r in refused if f"warning: {r}" not in first.stderr] == [], first.stderr

    # Cycle two: the result is a fixed point (a refused release still fails --check).
    check = run_codemods("run", "--check", *flags, *args, str(work))
    assert check.returncode == (1 if refused else 0), f"second cycle:\n{check.stderr}"
    assert [r for r in refused if f"warning: {r}" not in check.stderr] == [], check.stderr
    second = run_codemods("run", *flags, *args, str(work))
    assert second.returncode == 0, second.stderr
    assert tree(work) == after, "second cycle changed files"
    assert "nothing to change" in second.stderr
    if not refused:
        assert "left as it is: " not in first.stderr, "a refusal the case does not declare"


@pytest.mark.parametrize("case", CASES)
def test_dry_run_diff_applies_with_git(case: str, tmp_path: Path) -> None:
    work = fresh_copy(case, tmp_path)
    git_init(work)
    result = run_codemods("run", "--dry-run", *gate_flags(case), *spec(case).get("args", []), str(work))
    assert result.returncode == spec(case).get("exit_code", 0), result.stderr
    after = tree(SNAPSHOTS / case / "after")
    if after == tree(SNAPSHOTS / case / "before"):
        assert result.stdout == "", "nothing to change must print nothing"
        return
    assert tree(work) == tree(SNAPSHOTS / case / "before"), "--dry-run wrote something"
    patch = tmp_path / "change.patch"
    patch.write_bytes(result.stdout.encode())
    git(work, "apply", "--check", str(patch))
    git(work, "apply", str(patch))
    assert not tree_diff(tree(work), after), tree_diff(tree(work), after)
    # Moves must be renames that git sees as such, so history follows the Job.
    git(work, "add", "-A")
    status = git(work, "diff", "--cached", "-M", "--name-status").stdout
    for src, dst, similarity in _renames(result.stdout):
        # git scores a rename with an edit itself; only a pure move must be R100.
        score = "100" if similarity == 100 else r"\d{3}"
        assert re.search(rf"^R{score}\t{re.escape(src)}\t{re.escape(dst)}$", status, re.MULTILINE), status


def _renames(diff: str) -> list[tuple[str, str, int]]:
    """(from, to, similarity) of each rename; a pure move is 100, a move with an edit less."""
    lines = diff.splitlines()
    found = []
    for i, line in enumerate(lines):
        if line.startswith("similarity index ") and lines[i + 1].startswith("rename from "):
            similarity = int(line[len("similarity index ") :].rstrip("%"))
            found.append((lines[i + 1][len("rename from ") :], lines[i + 2][len("rename to ") :], similarity))
    return found


@pytest.mark.parametrize("case", [c for c in CASES if spec(c).get("kustomize")])
def test_kustomize_builds_the_job_where_flux_builds_the_release(case: str) -> None:
    for build in spec(case)["kustomize"]:
        before = kustomize_jobs(SNAPSHOTS / case / "before" / build["dir"])
        after = kustomize_jobs(SNAPSHOTS / case / "after" / build["dir"])
        assert before == sorted(build["jobs_before"]), f"before/{build['dir']}"
        assert after == sorted(build["jobs_after"]), f"after/{build['dir']}"


def _render_cases() -> list[str]:
    return [c for c in CASES if (SNAPSHOTS / c / "after" / "makejinja.toml").exists() or spec(c).get("render_data")]


@pytest.mark.parametrize("case", _render_cases())
@pytest.mark.parametrize("side", ["before", "after"])
def test_fresh_render_reproduces_rendered_files(case: str, side: str, tmp_path: Path) -> None:
    source = SNAPSHOTS / case / side
    expected = tree(source)
    if (source / "makejinja.toml").exists():
        # Render the whole repo with its own makejinja.toml, from templates only.
        work = tmp_path / "repo"
        shutil.copytree(source, work, ignore=_rendered_outputs(source))
        subprocess.run([*makejinja_executable(), "-q"], cwd=work, check=True, capture_output=True)
        rendered = tree(work)
    else:
        # In-place templates: render every x.yaml.j2 (alone, so no copy can hide a difference).
        inputs = tmp_path / "in"
        for rel in expected:
            if rel.endswith(".j2"):
                (inputs / rel).parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(source / rel, inputs / rel)
        out = tmp_path / "out"
        data = SNAPSHOTS / case / spec(case)["render_data"]
        subprocess.run(
            [
                *makejinja_executable(),
                "-q",
                "-i",
                str(inputs),
                "-o",
                str(out),
                "--jinja-suffix",
                ".j2",
                "--data",
                str(data),
            ],
            cwd=tmp_path,
            check=True,
            capture_output=True,
        )
        rendered = {**expected, **tree(out)}
    stale = spec(case).get("stale_renders_before", []) if side == "before" else []
    assert tree_diff(rendered, expected) == [f"missing: {p}" for p in sorted(stale)]


def _rendered_outputs(source: Path):
    """copytree ignore: drop the rendered tree (kubernetes/...) so makejinja must recreate it."""
    templates = {p for p in ("templates", "template") if (source / p).is_dir()}

    def ignore(directory: str, names: list[str]) -> list[str]:
        if Path(directory) == source:
            return [n for n in names if (source / n).is_dir() and n not in templates]
        return []

    return ignore

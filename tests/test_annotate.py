"""Opt-in annotate-job-force, alone and combined with a move in the same run (rename + edit)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from ruamel.yaml import YAML

from codemods.mods.annotate_job_force import annotate_in_text
from tests.helpers import ROOT, git, kubectl, run_codemods, tree
from tests.test_branch import repo  # noqa: F401 - the same git checkout of the example

EXAMPLE = ROOT / "examples" / "openhands-cluster-template"
FORCE = "kustomize.toolkit.fluxcd.io/force: enabled"


@pytest.mark.parametrize(
    ("before", "after"),
    [
        ("kind: Job\nmetadata:\n  name: j\n", f"kind: Job\nmetadata:\n  annotations:\n    {FORCE}\n  name: j\n"),
        (
            "kind: Job\nmetadata:\n    name: j\n",
            f"kind: Job\nmetadata:\n    annotations:\n        {FORCE}\n    name: j\n",
        ),
        (
            "kind: Job\nmetadata:\n  annotations:\n    a: b\n  name: j\n",
            f"kind: Job\nmetadata:\n  annotations:\n    {FORCE}\n    a: b\n  name: j\n",
        ),
        (
            "kind: Job\nmetadata:\n  annotations: { a: b }\n",
            f"kind: Job\nmetadata:\n  annotations: {{ {FORCE}, a: b }}\n",
        ),
        ("kind: Job\nmetadata: {name: j}\n", f"kind: Job\nmetadata: {{annotations: {{{FORCE}}}, name: j}}\n"),
        ("kind: Job\nmetadata:\n  annotations:\n    kustomize.toolkit.fluxcd.io/force: disabled\n", None),
        (
            "kind: ConfigMap\nmetadata:\n  name: j\n---\nkind: Job\nmetadata:\n  name: k\n",
            f"kind: ConfigMap\nmetadata:\n  name: j\n---\nkind: Job\nmetadata:\n  annotations:\n    {FORCE}\n  name: k\n",
        ),
    ],
)
def test_annotate_in_text(before: str, after: str | None) -> None:
    text, notes = annotate_in_text(before, "job.yaml", None)
    assert text == (before if after is None else after)
    assert bool(notes) == (after is not None)
    assert annotate_in_text(text, "job.yaml", None)[0] == text, "second run is a no-op"


def test_move_and_annotate_in_one_run(repo: Path, tmp_path: Path) -> None:
    expected = tmp_path / "expected"
    shutil.copytree(repo, expected, ignore=shutil.ignore_patterns(".git"))
    assert run_codemods("run", "--include", "annotate-job-force", str(expected)).returncode == 0
    moved = "kubernetes/apps/openhands/openhands/app/migration-job.yaml"
    assert FORCE in (expected / moved).read_text()
    assert not (expected / "kubernetes/apps/openhands/migration-job.yaml").exists()
    assert run_codemods("run", "--check", "--include", "annotate-job-force", str(expected)).returncode == 0

    diff = run_codemods("run", "--dry-run", "--include", "annotate-job-force", str(repo)).stdout
    assert "rename from kubernetes/apps/openhands/migration-job.yaml\nrename to " + moved in diff
    assert f"+  annotations:\n+    {FORCE}\n" in diff
    patch = tmp_path / "p.diff"
    patch.write_bytes(diff.encode())
    git(repo, "apply", str(patch))
    assert tree(repo) == tree(expected)

    built = subprocess.run(
        [
            kubectl(),
            "kustomize",
            "--load-restrictor",
            "LoadRestrictionsNone",
            str(expected / "kubernetes/apps/openhands/openhands/app"),
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    (job,) = [d for d in YAML(typ="safe").load_all(built) if d["kind"] == "Job"]
    assert job["metadata"]["annotations"] == {"kustomize.toolkit.fluxcd.io/force": "enabled"}


def test_move_and_annotate_on_a_branch(repo: Path, tmp_path: Path) -> None:
    expected = tmp_path / "expected"
    git(repo, "worktree", "add", "-q", "--detach", str(expected), "main")
    assert run_codemods("run", "--include", "annotate-job-force", str(expected)).returncode == 0
    git(expected, "add", "-A")
    result = run_codemods("run", "--branch", "fix", "--include", "annotate-job-force", str(repo))
    assert result.returncode == 0, result.stderr
    assert git(repo, "rev-parse", "fix^{tree}").stdout == git(expected, "write-tree").stdout
    status = git(repo, "diff", "-M", "--name-status", "main", "fix").stdout
    assert (
        "\tkubernetes/apps/openhands/migration-job.yaml\tkubernetes/apps/openhands/openhands/app/migration-job.yaml"
        in status
    )
    assert next(line for line in status.splitlines() if "migration-job.yaml\t" in line).startswith("R")

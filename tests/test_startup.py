"""`codemods run` starts quickly: what only --branch, `batch` or a forge needs is imported late.

The import-linter contract (pyproject.toml) fixes which module may import which; it counts late
imports too, so it cannot tell a late import from one at the top. This test does: a fresh
interpreter runs `run` and lists what it loaded.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tests.helpers import ROOT, example_repo

# GitPython (and gitdb) cost `run` about 0.3 s; rich, the forge clients and `batch` are for
# `codemods batch` only.
NOT_FOR_RUN = ("git", "gitdb", "rich", "codemods.forge", "codemods.batch", "codemods.vcs.branch")

SCRIPT = """
import json, sys
from codemods.cli import main
code = main(sys.argv[1:])
print(json.dumps({"code": code, "modules": sorted(sys.modules)}))
"""


def _run_and_list(*args: str) -> tuple[int, list[str]]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT, "run", "-q", *args], capture_output=True, text=True, env=env, check=True
    )
    answer = json.loads(done.stdout.splitlines()[-1])
    return answer["code"], answer["modules"]


def _unwanted(modules: list[str]) -> list[str]:
    return [m for m in modules if any(m == name or m.startswith(name + ".") for name in NOT_FOR_RUN)]


def test_run_imports_neither_git_rich_nor_the_forges(tmp_path: Path) -> None:
    repo = example_repo(tmp_path)
    code, modules = _run_and_list("--dry-run", "--no-verify", str(repo))
    assert code == 0
    assert _unwanted(modules) == []
    # A run that writes checks for uncommitted work with `git status`, not with GitPython.
    code, modules = _run_and_list("--no-verify", str(repo))
    assert code == 0
    assert "codemods.vcs.dirty" in modules
    assert _unwanted(modules) == []


def test_a_run_with_nothing_to_change_loads_no_build_parser(tmp_path: Path) -> None:
    """`run --check` on a repository that needs nothing is what CI runs on every commit: it
    reads the tree, and loads neither PyYAML (the parser of kustomize's output, and the
    guard's event pass, which the default recipe no longer needs) nor the gate's build code."""
    repo = tmp_path / "repo"
    (repo / "apps").mkdir(parents=True)
    (repo / "apps" / "app.yaml").write_text("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\n")
    for args in (("--check",), ("--check", "--json")):
        code, modules = _run_and_list(*args, str(repo))
        assert code == 0
        loaded = [m for m in modules if m == "yaml" or m.startswith(("yaml.", "codemods.verify.objects"))]
        assert loaded == [], args
        assert not [m for m in modules if m in ("codemods.verify.gate", "codemods.verify.building")], args

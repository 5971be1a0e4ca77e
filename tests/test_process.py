"""The process boundary: `codemods` as a shell, CI and a user's terminal run it.

Most tests run the CLI inside the test process (tests/helpers.py: run_codemods), the same code
without an interpreter start per call. These run it as a real program: the console script and
`python -m codemods`, exit codes as a shell receives them, a bug's traceback, and, for each kind
of call (run, --check, --dry-run, --json, --branch, doctor, batch, usage and input errors), the
same exit code, stdout and stderr byte for byte in a process as in the test process.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import sysconfig
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.helpers import GIT_ENV, ROOT, SNAPSHOTS, git, git_init, run_codemods, run_codemods_subprocess, tree

EXAMPLE = ROOT / "examples" / "openhands-cluster-template"
CONSOLE_SCRIPT = Path(sysconfig.get_path("scripts")) / "codemods"
PLANT = ROOT / "tests" / "data" / "verify" / "plant"
# Commits made at a fixed time, so that both ways of running make the same ones.
FIXED_TIME = {**GIT_ENV, "GIT_AUTHOR_DATE": "2024-01-01T00:00:00Z", "GIT_COMMITTER_DATE": "2024-01-01T00:00:00Z"}


def test_console_script_and_module_entry_point() -> None:
    assert CONSOLE_SCRIPT.is_file(), f"no console script at {CONSOLE_SCRIPT}: install codemods (pip install -e .)"
    script = subprocess.run([str(CONSOLE_SCRIPT), "--version"], capture_output=True, text=True, check=False)
    module = subprocess.run(
        [sys.executable, "-m", "codemods", "--version"], capture_output=True, text=True, check=False
    )
    assert script.returncode == module.returncode == 0, script.stderr + module.stderr
    assert script.stdout == module.stdout == run_codemods("--version").stdout
    assert script.stdout.startswith("codemods, version ")


def test_exit_codes_as_a_shell_receives_them(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    shutil.copytree(EXAMPLE, repo)
    bad = tmp_path / "bad"
    shutil.copytree(SNAPSHOTS / "bad-yaml" / "before", bad)
    seed = tmp_path / "seed"
    shutil.copytree(EXAMPLE, seed)
    git_init(seed)
    git(tmp_path, "clone", "-q", "--bare", str(seed), str(tmp_path / "remote.git"))
    # Exit codes do not depend on the build gate ($NV); what it decides is tested in test_verify.py.
    script = """
        codemods run --check $NV "$T/repo" 2>/dev/null; echo "check $?"
        codemods run --dry-run $NV "$T/repo" >/dev/null 2>&1; echo "dry-run $?"
        codemods run --json "$T/bad" >/dev/null 2>&1; echo "json-bad-yaml $?"
        codemods doctor "$T/repo" >/dev/null; echo "doctor $?"
        codemods run -q $NV "$T/repo"; echo "run $?"
        codemods run --check $NV "$T/repo" 2>/dev/null; echo "check-fixed $?"
        codemods doctor "$T/repo" >/dev/null; echo "doctor-fixed $?"
        codemods doctor "$T/missing" 2>/dev/null; echo "doctor-missing $?"
        codemods batch "file://$T/remote.git" --workdir "$T/w1" --push $NV >/dev/null 2>&1; echo "batch $?"
        codemods batch "file://$T/nowhere.git" --workdir "$T/w2" >/dev/null 2>&1; echo "batch-failed $?"
        codemods no-such-command 2>/dev/null; echo "usage $?"
    """
    env = {
        **os.environ,
        **GIT_ENV,
        "T": str(tmp_path),
        "NV": "--no-verify",
        "PATH": f"{CONSOLE_SCRIPT.parent}{os.pathsep}{os.environ['PATH']}",
    }
    result = subprocess.run(["bash", "-c", script], env=env, capture_output=True, text=True, check=False)
    codes = dict(line.split() for line in result.stdout.splitlines())
    assert codes == {
        "check": "1",
        "dry-run": "0",
        "json-bad-yaml": "2",
        "doctor": "1",
        "run": "0",
        "check-fixed": "0",
        "doctor-fixed": "0",
        "doctor-missing": "2",
        "batch": "0",
        "batch-failed": "1",
        "usage": "2",
    }, result.stderr


def _planner_bug(tmp_path: Path) -> Path:
    """A recipe whose plugin step raises: what a bug in a codemod looks like to the CLI."""
    default = (ROOT / "codemods" / "recipes" / "presets" / "litellm-migration.yaml").read_text()
    recipe = tmp_path / "bug.yaml"
    recipe.write_text(
        default.replace("name: litellm-migration", "name: bug")
        + "  - codemod: plant-defect\n    with: {defect: no-such-defect, ancestor: kubernetes/apps/openhands/kustomization.yaml}\n"
    )
    return recipe


def test_a_bug_is_exit_2_and_a_traceback_only_with_codemods_debug(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    shutil.copytree(EXAMPLE, repo)
    args = ("run", "--no-verify", "--recipe", str(_planner_bug(tmp_path)), str(repo))
    env = {"PYTHONPATH": os.pathsep.join([str(PLANT), os.environ.get("PYTHONPATH", "")])}
    quiet = run_codemods_subprocess(*args, env=env)
    assert quiet.returncode == 2, quiet.stderr
    assert "internal error: ValueError: unknown defect 'no-such-defect'" in quiet.stderr
    assert "set CODEMODS_DEBUG=1 for a traceback" in quiet.stderr and "Traceback" not in quiet.stderr
    loud = run_codemods_subprocess(*args, env={**env, "CODEMODS_DEBUG": "1"})
    assert loud.returncode == 1  # the interpreter's code for an uncaught exception
    assert "Traceback (most recent call last)" in loud.stderr
    assert "ValueError: unknown defect 'no-such-defect'" in loud.stderr
    assert tree(repo) == tree(EXAMPLE), "a bug writes nothing"
    assert (quiet.returncode, quiet.stdout, quiet.stderr) == _triple(run_codemods(*args, env=env))


def _without_timings(result: subprocess.CompletedProcess[str]) -> tuple[int, str, str]:
    """The result, with the build gate's measured seconds (in the JSON and the summary) blanked."""
    code, out, err = _triple(result)
    blank = (re.compile(r'"build_seconds": [0-9.]+'), re.compile(r"\b[0-9]+\.[0-9] s\)"))
    for pattern in blank:
        out, err = pattern.sub("<time>", out), pattern.sub("<time>", err)
    return code, out, err


def _triple(result: subprocess.CompletedProcess[str]) -> tuple[int, str, str]:
    return result.returncode, result.stdout, result.stderr


def _state(root: Path) -> tuple[dict[str, bytes], dict[str, str]]:
    """The files below root outside git's own directories, and the refs of each repository."""
    files, refs = {}, {}
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root).as_posix()
        if any(part == ".git" or part.endswith(".git") for part in path.relative_to(root).parts):
            if path.name == "HEAD" and path.parent.name.endswith(".git"):
                refs[rel] = git(path.parent, "for-each-ref").stdout
            continue
        if path.is_file():
            files[rel] = path.read_bytes()
    return files, refs


def _copy(source: Path, dest: Path, with_git: bool = False) -> Callable[[], None]:
    def fresh() -> None:
        shutil.rmtree(dest, ignore_errors=True)
        shutil.copytree(source, dest)
        if with_git:  # at a fixed time: both ways of running start from the same commit
            for args in (["init", "-q", "-b", "main"], ["add", "-A"], ["commit", "-q", "-m", "initial"]):
                subprocess.run(["git", *args], cwd=dest, env={**os.environ, **FIXED_TIME}, check=True)

    return fresh


def _remote(tmp_path: Path) -> Callable[[], None]:
    seed = tmp_path / "seed"
    shutil.copytree(EXAMPLE, seed)
    git_init(seed)

    def fresh() -> None:
        for path in (tmp_path / "remote.git", tmp_path / "work"):
            shutil.rmtree(path, ignore_errors=True)
        git(tmp_path, "clone", "-q", "--bare", str(seed), str(tmp_path / "remote.git"))

    return fresh


# name -> (arguments, with {t} for tmp_path; what to set up afresh before each way of running)
SAME: dict[str, tuple[list[str], Callable[[Path], Callable[[], None]]]] = {
    "version": (["--version"], lambda t: lambda: None),
    "list-json": (["list", "--json"], lambda t: lambda: None),
    "run-help": (["run", "--help"], lambda t: lambda: None),
    "usage-error": (["run", "--no-such-flag"], lambda t: lambda: None),
    "missing-path": (["run", "{t}/missing"], lambda t: lambda: None),
    "check": (["run", "--check", "{t}/repo"], lambda t: _copy(EXAMPLE, t / "repo")),
    "crlf-dry-run": (
        ["run", "--dry-run", "--no-verify", "{t}/repo"],
        lambda t: _copy(SNAPSHOTS / "crlf-no-final-newline" / "before", t / "repo"),
    ),
    "json-dry-run-verified": (["run", "--dry-run", "--json", "{t}/repo"], lambda t: _copy(EXAMPLE, t / "repo")),
    "json-bad-yaml": (["run", "--json", "{t}/repo"], lambda t: _copy(SNAPSHOTS / "bad-yaml" / "before", t / "repo")),
    "run": (["run", "--no-verify", "{t}/repo"], lambda t: _copy(EXAMPLE, t / "repo")),
    "branch": (
        ["run", "--branch", "fix", "--no-verify", "{t}/repo"],
        lambda t: _copy(EXAMPLE, t / "repo", with_git=True),
    ),
    "doctor-sarif": (["doctor", "--format", "sarif", "{t}/repo"], lambda t: _copy(EXAMPLE, t / "repo")),
    "batch-push": (
        ["batch", "file://{t}/remote.git", "--workdir", "{t}/work", "--push", "--no-verify"],
        _remote,
    ),
}


@pytest.mark.parametrize("name", sorted(SAME))
def test_in_process_and_subprocess_runs_are_byte_identical(name: str, tmp_path: Path) -> None:
    """run_codemods is only faithful if the process boundary changes nothing a test looks at."""
    template, setup = SAME[name]
    args = [a.format(t=tmp_path) for a in template]
    fresh = setup(tmp_path)
    results, trees = [], []
    for run in (run_codemods, run_codemods_subprocess):
        fresh()
        results.append(_without_timings(run(*args, env=FIXED_TIME)))
        trees.append(_state(tmp_path))
    (in_process, process), (state_in_process, state_process) = results, trees
    assert in_process == process
    assert state_in_process == state_process
    if name == "crlf-dry-run":
        assert "\r\n" in process[1], "the CRLF files' diff keeps its carriage returns"

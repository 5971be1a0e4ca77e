"""Where users already work: plugins, pre-commit, the GitHub Action, shell completion."""

from __future__ import annotations

import base64
import hashlib
import os
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest
from ruamel.yaml import YAML

from tests.helpers import ROOT, git, git_init, run_codemods

EXAMPLE = ROOT / "examples" / "openhands-cluster-template"

PLUGIN_NAME = "codemods_demo_plugin"
PLUGIN_VERSION = "0.1.0"
PLUGIN_ENTRY_POINTS = """\
[codemods.mods]
mark-reviewed = codemods_demo:MarkReviewed
"""

PLUGIN_MODULE = '''\
"""A third-party codemod: appends a review marker to every kustomization file."""

MARK = "# reviewed by codemods-demo\\n"


class MarkReviewed:
    name = "mark-reviewed"
    description = "Append a review marker comment to kustomization files."

    def __init__(self, marker=MARK):
        self.marker = marker

    def plan(self, ctx):
        for unit in ctx.index.kustomizations():
            for copy in unit.copies:
                text = ctx.plan.text(copy.path)
                if not text.endswith(self.marker):
                    ctx.plan.edit(self.name, copy.path, text + self.marker, "marked as reviewed")
'''


def _plugin_wheel(directory: Path) -> Path:
    """A real wheel of the demo plugin, written by hand (PEP 427).

    Building it with a backend would tie the test to whatever setuptools the machine has:
    a fresh Python 3.11 venv has 65.5, a 3.12 venv has none. pip installs a wheel with no
    build step at all, which is what a user's `pip install codemods-demo-plugin` does too."""
    dist_info = f"{PLUGIN_NAME}-{PLUGIN_VERSION}.dist-info"
    files = {
        "codemods_demo.py": PLUGIN_MODULE,
        f"{dist_info}/METADATA": f"Metadata-Version: 2.1\nName: codemods-demo-plugin\nVersion: {PLUGIN_VERSION}\n",
        f"{dist_info}/WHEEL": "Wheel-Version: 1.0\nGenerator: tests\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
        f"{dist_info}/entry_points.txt": PLUGIN_ENTRY_POINTS,
    }
    records = []
    for name, text in files.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(text.encode()).digest()).rstrip(b"=").decode()
        records.append(f"{name},sha256={digest},{len(text.encode())}")
    files[f"{dist_info}/RECORD"] = "\n".join([*records, f"{dist_info}/RECORD,,"]) + "\n"
    wheel = directory / f"{PLUGIN_NAME}-{PLUGIN_VERSION}-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as archive:
        for name, text in files.items():
            archive.writestr(name, text)
    return wheel


def _fresh_venv_seeing_codemods(venv: Path) -> Path:
    """A new venv (no system site-packages) that sees this environment's codemods through a
    site directory, so the plugin lands in the venv alone, not in the environment under test.
    Without a pip of its own (ensurepip alone takes seconds): this environment's pip installs
    into it (`pip --python`)."""
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / "bin" / "python"
    purelib = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    # addsitedir (not a bare path line) so the .pth files of editable installs are honoured too.
    dirs = [d for d in {sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]} if Path(d).is_dir()]
    (Path(purelib) / "codemods-under-test.pth").write_text(
        "".join(f"import site; site.addsitedir({d!r})\n" for d in dirs)
    )
    return python


@pytest.mark.slow  # a venv and a pip install: CI runs it
def test_plugin_in_a_fresh_venv_is_listed_and_runs(tmp_path: Path) -> None:
    python = _fresh_venv_seeing_codemods(tmp_path / "venv")
    wheel = _plugin_wheel(tmp_path)
    pip = [sys.executable, "-m", "pip", "--python", str(python), "install", "-q", "--no-deps", "--no-index"]
    subprocess.run([*pip, str(wheel)], check=True, capture_output=True)
    listing = subprocess.run([str(python), "-m", "codemods", "list"], capture_output=True, text=True, check=True).stdout
    assert "mark-reviewed" in listing and "Append a review marker" in listing
    assert "mark-reviewed" not in run_codemods("list").stdout, "only the venv has the plugin"

    repo = tmp_path / "repo"
    shutil.copytree(EXAMPLE, repo)
    default = subprocess.run(
        [str(python), "-m", "codemods", "run", "--check", str(repo)], capture_output=True, text=True, check=False
    )
    assert "mark-reviewed" not in default.stderr, "plugins are opt-in"
    result = subprocess.run(
        [str(python), "-m", "codemods", "run", "--only", "mark-reviewed", str(repo)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    marked = repo / "kubernetes/apps/openhands/kustomization.yaml"
    assert marked.read_text().endswith("# reviewed by codemods-demo\n")
    recipe = tmp_path / "recipe.yaml"
    recipe.write_text(
        'name: review\ndescription: d\nsteps:\n  - codemod: mark-reviewed\n    with: {marker: "# second\\n"}\n'
    )
    again = subprocess.run(
        [str(python), "-m", "codemods", "run", "--recipe", str(recipe), str(repo)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert again.returncode == 0, again.stderr
    assert marked.read_text().endswith("# reviewed by codemods-demo\n# second\n")


@pytest.fixture(scope="module")
def pre_commit_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("pre-commit-home")


def _try_repo(target: Path, home: Path) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "PRE_COMMIT_HOME": str(home),
        "GIT_AUTHOR_NAME": "t",
        "GIT_AUTHOR_EMAIL": "t@x",
        "GIT_COMMITTER_NAME": "t",
        "GIT_COMMITTER_EMAIL": "t@x",
    }
    return subprocess.run(
        [sys.executable, "-m", "pre_commit", "try-repo", str(ROOT), "codemods-check", "--all-files"],
        cwd=target,
        capture_output=True,
        text=True,
        env=env,
        timeout=900,
        check=False,
    )


@pytest.mark.slow  # pre-commit builds a venv and installs codemods and its dependencies into it
def test_pre_commit_hook_fails_a_broken_repo_and_passes_a_fixed_one(tmp_path: Path, pre_commit_home: Path) -> None:
    broken = tmp_path / "broken"
    shutil.copytree(EXAMPLE, broken)
    git_init(broken)
    failed = _try_repo(broken, pre_commit_home)
    assert failed.returncode == 1, failed.stdout + failed.stderr
    assert "codemods (litellm migration Job" in failed.stdout and "Failed" in failed.stdout
    assert "would change" in failed.stdout

    fixed = tmp_path / "fixed"
    shutil.copytree(EXAMPLE, fixed)
    assert run_codemods("run", str(fixed)).returncode == 0
    git_init(fixed)
    passed = _try_repo(fixed, pre_commit_home)
    assert passed.returncode == 0, passed.stdout + passed.stderr
    assert "Passed" in passed.stdout


def test_shell_completion_through_click() -> None:
    source = subprocess.run(
        [sys.executable, "-m", "codemods"],
        env={**os.environ, "_CODEMODS_COMPLETE": "bash_source"},
        capture_output=True,
        text=True,
        check=False,
    )
    assert "_codemods_completion" in source.stdout and "complete -o nosort -F" in source.stdout

    def complete(words: str) -> list[str]:
        env = {
            **os.environ,
            "_CODEMODS_COMPLETE": "bash_complete",
            "COMP_WORDS": words,
            "COMP_CWORD": str(len(words.split(" ")) - 1),
        }
        out = subprocess.run(
            [sys.executable, "-m", "codemods"], env=env, capture_output=True, text=True, check=False
        ).stdout
        return [line.split(",", 1)[1] for line in out.splitlines()]

    assert {"run", "batch", "doctor", "list", "recipes"} <= set(complete("codemods "))
    assert complete("codemods run --only relo") == ["relocate-migration-job"]
    assert "grafana-oncall-migrate" in complete("codemods run --recipe gra")


def test_github_action_runs_batch_against_a_remote(tmp_path: Path) -> None:
    action = YAML(typ="safe").load((ROOT / "action.yml").read_text())
    assert action["runs"]["using"] == "composite"
    script = action["runs"]["steps"][-1]["run"]
    assert "${{" not in script, "inputs reach the script through env, never pasted into it"
    seed = tmp_path / "seed"
    shutil.copytree(EXAMPLE, seed)
    git_init(seed)
    bare = tmp_path / "remotes" / "acme" / "app.git"
    git(tmp_path, "clone", "-q", "--bare", str(seed), str(bare))
    (tmp_path / "repos.txt").write_text(f"file://{bare}\n")
    env = {
        **os.environ,
        "INPUT_COMMAND": "batch",
        "INPUT_REPOS_FILE": "repos.txt",
        "INPUT_RECIPE": "litellm-migration",
        "INPUT_BRANCH": "",
        "INPUT_OPEN_PR": "false",
        "INPUT_PUSH": "true",
        "INPUT_ARGS": "--jobs 2",
        "INPUT_PATH": ".",
        "GITHUB_TOKEN": "",
        "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}",
    }
    result = subprocess.run(["bash", "-ec", script], cwd=tmp_path, env=env, capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    assert git(tmp_path, "ls-remote", str(bare), "refs/heads/codemods/litellm-migration").stdout
    assert (tmp_path / "codemods-report.json").exists()


def test_a_run_of_built_ins_does_not_look_for_plugins() -> None:
    """Scanning every installed distribution for entry points costs a run a tenth of its
    start-up: only a name that is not built in (or `codemods list`) looks for plugins."""
    from codemods.mods import plugins
    from codemods.recipes import load
    from codemods.runner import select

    plugins.cache_clear()
    try:
        mods = select(only=(), skip=("annotate-job-force",), include=("annotate-job-force",), recipe=load(None))
        assert [m.name for m in mods] == [
            "disable-migration-job",
            "relocate-migration-job",
            "sync-kustomization-resources",
        ]
        assert plugins.cache_info().misses == 0
        with pytest.raises(ValueError, match="unknown codemod 'nope'; known: disable-migration-job"):
            select(only=("nope",))
        assert plugins.cache_info().misses == 1
    finally:
        plugins.cache_clear()

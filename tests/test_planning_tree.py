"""A batch clone keeps its planning tree between runs (`codemods.vcs.git.refresh_tree`).

Whatever the last run left there, and whatever moved since, the tree a run plans on must be
exactly what a fresh checkout of the base gives: the same files, bytes, modes and links.
"""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import threading
from pathlib import Path

import git as gitpython
import pytest

from codemods import subproc
from codemods.runner import select
from codemods.vcs.branch import Delivery, deliver
from codemods.vcs.git import PLANNING_DIR, checkout_tree, index_entries, refresh_tree
from codemods.vcs.remote import clear_stale_locks
from tests.helpers import example_repo, git

MODS = select()

Snapshot = dict[str, tuple[str, bytes, bool]]


def snapshot(root: Path) -> Snapshot:
    """Every file and link under root: kind, content (or link target), executable bit."""
    found: Snapshot = {}
    for where, dirs, files in os.walk(root):
        for name in files + [d for d in dirs if os.path.islink(os.path.join(where, d))]:
            path = os.path.join(where, name)
            rel = os.path.relpath(path, root)
            if os.path.islink(path):
                found[rel] = ("link", os.readlink(path).encode(), False)
            else:
                found[rel] = ("file", Path(path).read_bytes(), bool(os.stat(path).st_mode & stat.S_IXUSR))
    return found


def empty_dirs(root: Path) -> list[str]:
    return [os.path.relpath(w, root) for w, d, f in os.walk(root) if not d and not f and Path(w) != root]


def fresh(work: Path, rev: str, tmp: Path) -> tuple[Snapshot, dict[str, tuple[int, bytes]]]:
    repo = gitpython.Repo(work)
    where = tmp / f"fresh-{len(list(tmp.glob('fresh-*')))}"
    checkout_tree(repo, repo.commit(rev).hexsha, where / "tree", where / "index")
    return snapshot(where / "tree"), index_entries(repo, where / "index")


def refreshed(work: Path, rev: str) -> tuple[Snapshot, dict[str, tuple[int, bytes]], Path]:
    repo = gitpython.Repo(work)
    tree, index = refresh_tree(repo, repo.commit(rev).hexsha, work / ".git" / PLANNING_DIR)
    return snapshot(tree), index_entries(repo, index), tree


@pytest.fixture
def work(tmp_path: Path) -> Path:
    return example_repo(tmp_path)


def fix(work: Path, base: str = "main") -> str:
    result = deliver(
        work, Delivery("fix", base, MODS, check_name=False, findings=False, scratch=work / ".git" / PLANNING_DIR)
    )
    return result.status


def test_a_rerun_plans_on_exactly_what_a_fresh_checkout_gives(work: Path, tmp_path: Path) -> None:
    assert fix(work) == "changed"  # the change (edits and moves) is applied in the planning tree
    tree = work / ".git" / PLANNING_DIR / "tree"
    assert snapshot(tree) != fresh(work, "main", tmp_path)[0]
    files, entries, tree = refreshed(work, "main")
    assert (files, entries) == fresh(work, "main", tmp_path)
    assert empty_dirs(tree) == []
    assert fix(work) == "up-to-date"
    assert git(work, "diff", "--stat", "main", "fix").stdout == git(work, "diff", "--stat", "main", "fix").stdout


def test_after_the_change_is_merged_the_moved_files_are_the_base_s(work: Path, tmp_path: Path) -> None:
    # The last run left each moved Job, untracked, where the merged base now has it.
    assert fix(work) == "changed"
    git(work, "merge", "-q", "--ff-only", "fix")
    assert fix(work) == "unchanged"
    files, entries, _tree = refreshed(work, "main")
    assert (files, entries) == fresh(work, "main", tmp_path)


def test_the_base_s_new_attributes_are_applied_to_every_file(work: Path, tmp_path: Path) -> None:
    assert fix(work) == "changed"
    (work / ".gitattributes").write_text("*.yaml text eol=crlf\n")
    git(work, "add", ".gitattributes")
    git(work, "commit", "-qm", "crlf")
    files, entries, _tree = refreshed(work, "main")
    assert (files, entries) == fresh(work, "main", tmp_path)
    assert b"\r\n" in files["kubernetes/apps/openhands/openhands/app/helmrelease.yaml"][1]


def test_changed_checkout_settings_start_the_tree_over(work: Path, tmp_path: Path) -> None:
    assert fix(work) == "changed"
    git(work, "config", "core.autocrlf", "true")
    files, entries, _tree = refreshed(work, "main")
    assert (files, entries) == fresh(work, "main", tmp_path)
    assert b"\r\n" in files["kubernetes/apps/openhands/openhands/app/helmrelease.yaml"][1]


def test_what_a_killed_run_left_is_cleared(work: Path, tmp_path: Path) -> None:
    assert fix(work) == "changed"
    tree = work / ".git" / PLANNING_DIR / "tree"
    helm = "kubernetes/apps/openhands/openhands/app/helmrelease.yaml"
    (tree / helm).write_text("half written")
    (tree / "stray" / "deeper").mkdir(parents=True)
    (tree / "stray" / "deeper" / "file.yaml").write_text("kind: Job\n")
    (tree / "kubernetes" / "link").symlink_to("apps")
    files, entries, tree = refreshed(work, "main")
    assert (files, entries) == fresh(work, "main", tmp_path)
    assert empty_dirs(tree) == []


def test_a_directory_where_the_base_has_a_file_is_replaced(work: Path, tmp_path: Path) -> None:
    assert fix(work) == "changed"
    tree = work / ".git" / PLANNING_DIR / "tree"
    helm = tree / "kubernetes/apps/openhands/openhands/app/helmrelease.yaml"
    helm.unlink()
    (helm / "inside").mkdir(parents=True)
    (helm / "inside" / "x.yaml").write_text("a: 1\n")
    files, entries, _tree = refreshed(work, "main")
    assert (files, entries) == fresh(work, "main", tmp_path)


@pytest.mark.parametrize("damage", ["index", "settings", "tree", "index.lock"])
def test_a_damaged_planning_tree_is_made_again(work: Path, tmp_path: Path, damage: str) -> None:
    assert fix(work) == "changed"
    scratch = work / ".git" / PLANNING_DIR
    if damage == "tree":
        shutil.rmtree(scratch / "tree")
    elif damage == "index.lock":  # git refuses the update: the tree is made again
        (scratch / "index.lock").write_text("")
    else:
        (scratch / damage).write_bytes(b"DIRC\0\0\0\x02garbage")
    files, entries, _tree = refreshed(work, "main")
    assert (files, entries) == fresh(work, "main", tmp_path)


def test_a_repository_s_own_lock_files_are_not_git_s(work: Path) -> None:
    (work / "charts").mkdir()
    (work / "charts" / "Chart.lock").write_text("dependencies: []\n")
    git(work, "add", "-A")
    git(work, "commit", "-qm", "chart")
    assert fix(work) == "changed"
    stale = work / ".git" / "refs" / "heads" / "fix.lock"
    stale.write_text("")
    (work / ".git" / PLANNING_DIR / "index.lock").write_text("")
    removed = clear_stale_locks(work / ".git")
    assert sorted(p.name for p in removed) == ["fix.lock", "index.lock"]
    assert (work / ".git" / PLANNING_DIR / "tree" / "charts" / "Chart.lock").is_file()
    subprocess.run(["git", "fsck", "--no-dangling"], cwd=work, check=True, capture_output=True)


def test_a_relative_workdir_is_the_same_place_for_git(work: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(work.parent)
    relative = Path(work.name)
    result = deliver(
        relative, Delivery("fix", "main", MODS, check_name=False, findings=False, scratch=relative / ".git" / "x")
    )
    assert result.status == "changed"
    assert (work / ".git" / "x" / "tree" / "kubernetes").is_dir()


FILTERED = "*.yaml filter=x\n"
SMUDGE = "sed s/openhands/SMUDGED/"


@pytest.mark.parametrize(
    "configure",
    [
        {"GIT_CONFIG_COUNT": "2", "GIT_CONFIG_KEY_0": "filter.x.smudge", "GIT_CONFIG_VALUE_0": SMUDGE,
         "GIT_CONFIG_KEY_1": "filter.x.clean", "GIT_CONFIG_VALUE_1": "cat"},
        {"GIT_CONFIG_PARAMETERS": f"'filter.x.smudge'='{SMUDGE}' 'filter.x.clean'='cat'"},
        "global",
    ],
    ids=["GIT_CONFIG_COUNT", "GIT_CONFIG_PARAMETERS", "Filter-in-global-config"],
)  # fmt: skip
def test_a_filter_git_applies_from_anywhere_remakes_the_tree(
    work: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, configure: object
) -> None:
    (work / ".gitattributes").write_text(FILTERED)
    git(work, "add", ".gitattributes")
    git(work, "commit", "-qm", "a filter")
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.delenv("GIT_CONFIG_GLOBAL", raising=False)
    refreshed(work, "main")
    if configure == "global":  # git reads section names case-insensitively
        (home / ".gitconfig").write_text(f'[Filter "x"]\n\tsmudge = {SMUDGE}\n\tclean = cat\n')
    else:
        assert isinstance(configure, dict)
        for name, value in configure.items():
            monkeypatch.setenv(name, value)
    files, entries, _tree = refreshed(work, "main")
    assert (files, entries) == fresh(work, "main", tmp_path)
    assert b"SMUDGED" in files["kubernetes/apps/openhands/openhands/app/helmrelease.yaml"][1]


def test_the_temporary_index_is_plain_whatever_git_index_version_says(
    work: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GIT_INDEX_VERSION", "4")
    assert fix(work) == "changed"
    files, entries, _tree = refreshed(work, "main")
    assert (files, entries) == fresh(work, "main", tmp_path)


HELM = "kubernetes/apps/openhands/openhands/app/helmrelease.yaml"


@pytest.mark.parametrize("where", ["config.worktree", "info/attributes"])
def test_attributes_git_applies_from_outside_the_tree_remake_the_tree(
    work: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, where: str
) -> None:
    """An attributes file outside the tree changes between runs: git says so (`check-attr`),
    wherever the file is named (here `core.attributesFile` in `config.worktree`)."""
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.delenv("GIT_CONFIG_GLOBAL", raising=False)
    if where == "config.worktree":
        attributes = tmp_path / "attributes"
        git(work, "config", "extensions.worktreeConfig", "true")
        git(work, "config", "--worktree", "core.attributesFile", str(attributes))
    else:
        attributes = work / ".git" / "info" / "attributes"
        attributes.parent.mkdir(exist_ok=True)
    attributes.write_text("")
    refreshed(work, "main")
    attributes.write_text("*.yaml text eol=crlf\n")
    files, entries, _tree = refreshed(work, "main")
    assert (files, entries) == fresh(work, "main", tmp_path)
    assert b"\r\n" in files[HELM][1]


def test_a_filter_in_config_worktree_remakes_the_tree(work: Path, tmp_path: Path) -> None:
    (work / ".gitattributes").write_text(FILTERED)
    git(work, "add", ".gitattributes")
    git(work, "commit", "-qm", "a filter")
    git(work, "config", "extensions.worktreeConfig", "true")
    refreshed(work, "main")
    git(work, "config", "--worktree", "filter.x.smudge", SMUDGE)
    git(work, "config", "--worktree", "filter.x.clean", "cat")
    files, entries, _tree = refreshed(work, "main")
    assert (files, entries) == fresh(work, "main", tmp_path)
    assert b"SMUDGED" in files[HELM][1]


def test_a_name_that_is_not_utf8_keeps_the_planning_tree(work: Path, tmp_path: Path) -> None:
    """GitPython's index reader cannot decode such a name; git lists that index instead, so
    the rerun still rewrites nothing that did not move."""
    with open(os.fsencode(work) + b"/caf\xe9.txt", "wb") as handle:
        handle.write(b"notes\n")
    git(work, "add", "-A")
    git(work, "commit", "-qm", "a Latin-1 name")
    assert fix(work) == "changed"
    untouched = work / ".git" / PLANNING_DIR / "tree" / "kubernetes" / "flux" / "cluster" / "ks.yaml"
    written = untouched.stat().st_mtime_ns
    assert fix(work) == "up-to-date"
    assert untouched.stat().st_mtime_ns == written  # the tree was kept, not made again
    files, entries, _tree = refreshed(work, "main")
    assert (files, entries) == fresh(work, "main", tmp_path)
    assert "caf\udce9.txt" in entries


def _git_commands(trace: Path) -> list[str]:
    """The git commands a GIT_TRACE2_EVENT file saw start, by name."""
    names = []
    for line in trace.read_text().splitlines():
        event = json.loads(line)
        if event.get("event") == "cmd_name":
            names.append(event["name"])
    return names


def test_an_up_to_date_rerun_asks_git_for_nothing_it_answered_last_time(
    work: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The same change on the same base and settings, whose commit the branch still holds:
    no tree is built again (no update-index, write-tree, nor an object read). The base is a
    full ref name, as a batch gives it (read from the ref files)."""
    assert fix(work, "refs/heads/main") == "changed"
    trace = tmp_path / "trace"
    monkeypatch.setenv("GIT_TRACE2_EVENT", str(trace))
    assert fix(work, "refs/heads/main") == "up-to-date"
    commands = _git_commands(trace)
    assert "read-tree" in commands and not {"update-index", "write-tree", "cat-file"} & set(commands), commands


def test_a_rerun_with_other_settings_builds_the_tree_again(
    work: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert fix(work) == "changed"
    tip = git(work, "rev-parse", "fix").stdout
    git(work, "config", "core.autocrlf", "true")  # the planning tree is remade, in CRLF
    trace = tmp_path / "trace"
    monkeypatch.setenv("GIT_TRACE2_EVENT", str(trace))
    assert fix(work) == "up-to-date"  # git stores the same blobs: the commit still holds
    assert {"update-index", "write-tree"} <= set(_git_commands(trace))
    assert git(work, "rev-parse", "fix").stdout == tip


def test_a_branch_moved_elsewhere_is_not_taken_for_up_to_date(work: Path) -> None:
    assert fix(work) == "changed"
    ours = git(work, "rev-parse", "fix").stdout.strip()
    git(work, "update-ref", "refs/heads/fix", "main")  # the branch no longer holds our commit
    assert fix(work) == "updated"
    assert git(work, "rev-parse", "fix^{tree}").stdout == git(work, "rev-parse", f"{ours}^{{tree}}").stdout


@pytest.mark.slow  # about 3 s of git over thousands of files: CI runs it
def test_a_repository_of_many_files_is_refreshed(work: Path, tmp_path: Path) -> None:
    """`check-attr` is fed every path and answers six records for each: far more than a pipe
    holds both ways (it used to hang, each side waiting for the other to read)."""
    many = work / "kubernetes" / "generated"
    many.mkdir()
    for number in range(1200):
        (many / f"config-map-with-a-rather-long-descriptive-name-{number:05d}.yaml").write_text("a: 1\n")
    git(work, "add", "-A")
    git(work, "commit", "-qm", "many files")
    found: list[tuple[Snapshot, dict[str, tuple[int, bytes]], Path]] = []
    worker = threading.Thread(target=lambda: found.append(refreshed(work, "main")))
    worker.start()
    worker.join(60)
    if worker.is_alive():  # stuck: end its git, so that the test fails instead of hanging
        subproc.shutdown()
        worker.join(5)
        subproc.reopen()
    assert found, "the refresh did not finish"
    files, entries, _tree = found[0]
    assert (files, entries) == fresh(work, "main", tmp_path)

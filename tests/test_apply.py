"""Plan-then-apply: a failure while writing leaves the checkout exactly as it was."""

from __future__ import annotations

import shutil
import stat
from pathlib import Path

import pytest

from codemods.errors import InputError
from codemods.mods import DEFAULT
from codemods.runner import plan_repository
from tests.helpers import ROOT, tree

EXAMPLE = ROOT / "examples" / "openhands-cluster-template"


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    work = tmp_path / "repo"
    shutil.copytree(EXAMPLE, work)
    return work


def test_failure_while_staging_writes_nothing(repo: Path) -> None:
    plan = plan_repository(repo, DEFAULT)
    edited = [path for path, _old, _new in plan.edits()]
    assert len(edited) >= 4
    # A real fault: the temp file for the last edit cannot be created (a directory is in the way).
    last = repo / edited[-1]
    blocker = last.with_name(f".{last.name}.codemods.tmp")
    blocker.mkdir()
    before = tree(repo)
    with pytest.raises(InputError, match="cannot write"):
        plan.apply()
    blocker.rmdir()
    assert tree(repo) == {k: v for k, v in before.items()}
    assert not [p for p in repo.rglob("*.tmp")], "staged temp files must be cleaned up"


def test_destination_that_appeared_after_planning_aborts_before_any_write(repo: Path) -> None:
    plan = plan_repository(repo, DEFAULT)
    _src, dst = next(iter(plan.moves.items()))
    (repo / dst).write_text("someone else's file\n")
    before = tree(repo)
    with pytest.raises(InputError, match="already exists"):
        plan.apply()
    assert tree(repo) == before
    assert not [p for p in repo.rglob("*.tmp")]


def test_file_modes_survive_an_edit(repo: Path) -> None:
    target = repo / "kubernetes/apps/openhands/openhands/app/helmrelease.yaml"
    target.chmod(0o755)
    plan = plan_repository(repo, DEFAULT)
    plan.apply()
    assert stat.S_IMODE(target.stat().st_mode) == 0o755
    assert b"enabled: false" in target.read_bytes()


def test_a_problem_two_codemods_meet_is_reported_once(repo: Path) -> None:
    # A Job that shares its file with another document: relocate and sync both decline to
    # touch it, and the user reads why once, not once per codemod.
    job = repo / "kubernetes/apps/openhands/migration-job.yaml"
    job.write_text(job.read_text() + "---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: other\n")
    plan = plan_repository(repo, DEFAULT)
    plan.warn(str(job.relative_to(repo)), 3, "the same words", "relocate-migration-job")
    plan.warn(str(job.relative_to(repo)), 3, "the same words", "sync-kustomization-resources")
    texts = [str(w) for w in plan.warnings]
    assert len(texts) == len(set(texts)), texts

"""The CLI contract that scripts and CI pipelines depend on: flags, exit codes, report fields."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import jsonschema
import pytest

from tests.helpers import ROOT, SNAPSHOTS, example_repo, git, run_codemods, tree

EXAMPLE = ROOT / "examples" / "openhands-cluster-template"
NAMES = ["disable-migration-job", "relocate-migration-job", "sync-kustomization-resources"]
SCHEMA = json.loads((ROOT / "codemods" / "schemas" / "report.schema.json").read_text())
# Files of the example that the change edits, moves and edits.
HELM = "kubernetes/apps/openhands/openhands/app/helmrelease.yaml"
JOB = "kubernetes/apps/openhands/migration-job.yaml"
KUSTOMIZATION = "kubernetes/apps/openhands/kustomization.yaml"


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    work = tmp_path / "repo"
    shutil.copytree(EXAMPLE, work)
    return work


def test_example_is_the_attempt3_snapshot() -> None:
    # The README's demo must show the real thing: keep it identical to the tested case.
    assert tree(EXAMPLE) == tree(SNAPSHOTS / "cluster-template-attempt3" / "before")


def test_list_names_every_codemod() -> None:
    result = run_codemods("list")
    assert result.returncode == 0
    assert [line.split()[0] for line in result.stdout.splitlines()] == [*NAMES, "annotate-job-force"]
    assert "(opt-in)" in result.stdout.splitlines()[-1]
    as_json = json.loads(run_codemods("list", "--json").stdout)
    assert [(m["name"], m["opt_in"]) for m in as_json] == [*((n, False) for n in NAMES), ("annotate-job-force", True)]
    assert all(m["description"] for m in as_json)


def test_help_and_version() -> None:
    assert run_codemods("--help").returncode == 0
    assert "--dry-run" in run_codemods("run", "--help").stdout
    assert run_codemods("--version").stdout.startswith("codemods, version ")


def test_check_exit_codes(repo: Path) -> None:
    before = tree(repo)
    check = run_codemods("run", "--check", str(repo))
    assert check.returncode == 1
    assert tree(repo) == before
    assert "would change" in check.stderr
    assert run_codemods("run", str(repo)).returncode == 0
    assert run_codemods("run", "--check", str(repo)).returncode == 0


def test_dry_run_writes_nothing_and_prints_a_git_diff(repo: Path) -> None:
    before = tree(repo)
    result = run_codemods("run", "--dry-run", str(repo))
    assert result.returncode == 0
    assert tree(repo) == before
    assert result.stdout.startswith("diff --git a/")
    assert "rename from templates/config/kubernetes/apps/openhands/migration-job.yaml.j2" in result.stdout
    # The human summary goes to stderr, never into the diff.
    assert "disable-migration-job" in result.stderr and "disable-migration-job" not in result.stdout


def test_default_path_is_the_current_directory(repo: Path) -> None:
    assert run_codemods("run", "--check", cwd=repo).returncode == 1


def test_json_report(repo: Path) -> None:
    plain = run_codemods("run", "--dry-run", str(repo)).stdout
    result = run_codemods("run", "--dry-run", "--json", str(repo))
    report = json.loads(result.stdout)
    assert report["status"] == "changed" and report["applied"] is False and report["error"] is None
    assert report["diff"] == plain
    assert {c["codemod"] for c in report["changes"]} == set(NAMES)
    assert all(c["reason"] and c["file"] for c in report["changes"])
    moves = [c for c in report["changes"] if c["action"] == "move"]
    assert {m["to"] for m in moves} == {
        "kubernetes/apps/openhands/openhands/app/migration-job.yaml",
        "templates/config/kubernetes/apps/openhands/openhands/app/migration-job.yaml.j2",
    }
    assert "openhands-postgresql, openhands-secrets" in moves[0]["reason"]
    applied = json.loads(run_codemods("run", "--json", str(repo)).stdout)
    assert applied["applied"] is True and "diff" not in applied
    again = json.loads(run_codemods("run", "--json", str(repo)).stdout)
    assert again["status"] == "unchanged" and again["files"] == [] and again["applied"] is False


def test_only_and_skip(repo: Path) -> None:
    only = json.loads(run_codemods("run", "--dry-run", "--json", "--only", "disable-migration-job", str(repo)).stdout)
    assert {c["codemod"] for c in only["changes"]} == {"disable-migration-job"}
    skip = json.loads(
        run_codemods(
            "run",
            "--dry-run",
            "--json",
            "--skip",
            "relocate-migration-job",
            "--skip",
            "sync-kustomization-resources",
            str(repo),
        ).stdout
    )
    assert {c["codemod"] for c in skip["changes"]} == {"disable-migration-job"}
    # Unverified, the move alone is planned, and the run says what it leaves undone.
    unverified = run_codemods("run", "--dry-run", "--no-verify", "--only", "relocate-migration-job", str(repo))
    assert "without sync-kustomization-resources" in unverified.stderr
    # The gate refuses the move alone (the old entry would name a missing file): the Job stays,
    # and the warning says why.
    alone = run_codemods("run", "--dry-run", "--only", "relocate-migration-job", str(repo))
    assert alone.returncode == 0, alone.stderr
    assert "left where it is: the build gate refused every candidate that places it" in alone.stderr
    assert "migration-job.yaml: no such file or directory" in alone.stderr


@pytest.mark.parametrize("args", [["--only", "nope"], ["--skip", "nope"]])
def test_unknown_codemod_is_exit_2(repo: Path, args: list[str]) -> None:
    result = run_codemods("run", *args, str(repo))
    assert result.returncode == 2
    assert "unknown codemod 'nope'" in result.stderr


def test_missing_path_is_exit_2(tmp_path: Path) -> None:
    result = run_codemods("run", str(tmp_path / "nope"))
    assert result.returncode == 2


def test_bad_yaml_is_exit_2_with_file_and_line_and_json_error(tmp_path: Path) -> None:
    work = tmp_path / "repo"
    shutil.copytree(SNAPSHOTS / "bad-yaml" / "before", work)
    result = run_codemods("run", "--json", str(work))
    assert result.returncode == 2
    report = json.loads(result.stdout)
    assert report["status"] == "failed"
    assert report["error"]["file"] == "kubernetes/apps/ai/openhands/app/helmrelease.yaml"
    assert report["error"]["line"] == 11
    assert "nothing was written" in result.stderr


def test_target_without_kustomization_gets_the_job_moved_and_nothing_listed(repo: Path) -> None:
    # Flux generates the kustomization of a spec.path that has none (issue 11 §2): being in
    # the directory is being applied, so the Job just moves, and the release is fixed too.
    for copy in (
        repo / "kubernetes/apps/openhands/openhands/app/kustomization.yaml",
        repo / "templates/config/kubernetes/apps/openhands/openhands/app/kustomization.yaml.j2",
    ):
        copy.unlink()
    result = run_codemods("run", str(repo))
    assert result.returncode == 0, result.stderr
    app = "kubernetes/apps/openhands/openhands/app"
    for side in ("", "templates/config/"):
        suffix = ".j2" if side else ""
        assert (repo / f"{side}{app}/migration-job.yaml{suffix}").is_file()
        assert not (repo / f"{side}kubernetes/apps/openhands/migration-job.yaml{suffix}").exists()
        assert not (repo / f"{side}{app}/kustomization.yaml{suffix}").exists(), "nothing to list, nothing created"
        namespace_kustomization = (repo / f"{side}kubernetes/apps/openhands/kustomization.yaml{suffix}").read_text()
        assert "migration-job.yaml" not in namespace_kustomization
    assert "enabled: false" in (repo / f"{app}/helmrelease.yaml").read_text()
    assert run_codemods("run", "--check", str(repo)).returncode == 0


def test_unparsable_file_that_needs_no_edit_is_skipped(repo: Path) -> None:
    (repo / "kubernetes/apps/openhands/notes.yaml").write_text("this: is: not: yaml\n")
    result = run_codemods("run", "--check", str(repo))
    assert result.returncode == 1, result.stderr


def test_broken_flux_kustomization_is_a_warning(repo: Path) -> None:
    (repo / "kubernetes/apps/other.yaml").write_text(
        "apiVersion: kustomize.toolkit.fluxcd.io/v1\nkind: Kustomization\nspec:\n  path: ./kubernetes/apps/openhands\n  x: [\n"
    )
    result = run_codemods("run", "--dry-run", str(repo))
    assert result.returncode == 0
    assert "warning: kubernetes/apps/other.yaml:" in result.stderr


# -- dirty checkouts (issue 21 §8) ------------------------------------------------------------


def _modify(work: Path, path: str) -> None:
    with (work / path).open("a", encoding="utf-8") as handle:
        handle.write("# a local edit, not committed\n")


def _stage(work: Path, path: str) -> None:
    _modify(work, path)
    git(work, "add", path)


def _untrack(work: Path, path: str) -> None:
    """Committed nowhere: git has no copy of it to give back."""
    git(work, "rm", "-q", "--cached", path)
    git(work, "commit", "-q", "-m", f"untrack {path}")


@pytest.mark.parametrize(
    ("path", "make_dirty", "state"),
    [(HELM, _modify, "modified"), (JOB, _stage, "staged"), (KUSTOMIZATION, _untrack, "untracked")],
    ids=["edited-file-modified", "moved-file-staged", "edited-file-untracked"],
)
def test_run_refuses_to_change_a_file_with_uncommitted_changes(
    tmp_path: Path, path: str, make_dirty: object, state: str
) -> None:
    work = example_repo(tmp_path)
    make_dirty(work, path)  # type: ignore[operator]
    _modify(work, "cluster.toml")  # uncommitted too, but the change does not touch it
    before = tree(work)
    result = run_codemods("run", "--json", str(work))
    assert result.returncode == 2, result.stderr
    assert tree(work) == before, "nothing written"
    assert f"{path} ({state})" in result.stderr
    assert "commit or stash them" in result.stderr and "--allow-dirty" in result.stderr
    assert "cluster.toml" not in result.stderr
    report = json.loads(result.stdout)
    jsonschema.validate(report, SCHEMA)
    assert report["status"] == "failed" and not report["applied"]
    assert report["uncommitted"] == [{"file": path, "state": state}]
    assert path in report["error"]["message"]
    # --dry-run and --check write nothing, so they never refuse.
    dry = run_codemods("run", "--dry-run", str(work))
    assert dry.returncode == 0 and dry.stdout.startswith("diff --git")
    assert run_codemods("run", "--check", str(work)).returncode == 1
    assert tree(work) == before


def test_allow_dirty_changes_the_file_and_keeps_the_local_edit(tmp_path: Path) -> None:
    work = example_repo(tmp_path)
    _modify(work, HELM)
    result = run_codemods("run", "--allow-dirty", str(work))
    assert result.returncode == 0, result.stderr
    text = (work / HELM).read_text()
    assert "# a local edit, not committed" in text and "enabled: false" in text
    assert not (work / JOB).exists()


def test_refusal_names_paths_relative_to_a_subdirectory_path(tmp_path: Path) -> None:
    work = example_repo(tmp_path, under="clusters/home")
    _modify(work / "clusters/home", HELM)
    result = run_codemods("run", "--json", str(work / "clusters/home"))
    assert result.returncode == 2
    assert json.loads(result.stdout)["uncommitted"] == [{"file": HELM, "state": "modified"}]


def test_when_git_cannot_say_the_run_refuses_unless_allowed(tmp_path: Path) -> None:
    work = example_repo(tmp_path)
    (work / ".git" / "index").write_bytes(b"not an index")  # git status fails on it
    before = tree(work)
    result = run_codemods("run", str(work))
    assert result.returncode == 2
    assert "cannot tell which files have uncommitted changes: git status failed" in result.stderr
    assert "--allow-dirty" in result.stderr
    assert tree(work) == before
    assert run_codemods("run", "--allow-dirty", str(work)).returncode == 0


def test_ignored_files_and_directories_outside_git_are_not_checked(tmp_path: Path) -> None:
    # Documented choices, as for cargo fix: nothing to compare with outside a repository, and
    # a file git is told to ignore is not version-controlled work to protect.
    plain = tmp_path / "plain"
    shutil.copytree(EXAMPLE, plain)
    assert run_codemods("run", str(plain)).returncode == 0
    work = example_repo(tmp_path)
    _untrack(work, HELM)
    (work / ".gitignore").write_text("helmrelease.yaml\n")
    git(work, "add", ".gitignore")
    git(work, "commit", "-q", "-m", "ignore the render")
    result = run_codemods("run", str(work))
    assert result.returncode == 0, result.stderr
    assert "enabled: false" in (work / HELM).read_text()


def test_a_written_change_is_never_reported_as_nothing_written(tmp_path: Path) -> None:
    """Once files are written, a touched file the doctor's after-look cannot parse is a warning,
    never an error that makes the run say "nothing was written" and exit 2 (the adversarial
    trial's W2: a written file with an undefined alias, under --no-verify)."""
    from codemods.runner import plan_repository, select, touched_findings

    work = tmp_path / "repo"
    shutil.copytree(SNAPSHOTS / "s17-namespace-from-parent" / "before", work)
    plan = plan_repository(work, select())
    plan.apply(durable=False)
    release = work / "kubernetes/apps/openhands/openhands/app/helmrelease.yaml"
    release.write_text(release.read_text().replace("    litellm-helm:\n", "    litellm-helm: *nowhere\n    x:\n", 1))
    findings = touched_findings(plan, written=True)
    assert any("nowhere" in f.message and f.severity == "warning" for f in findings), findings

"""`codemods run --branch`: one commit on a branch, the checkout untouched. Real git repositories."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import jsonschema
import pytest

from tests.helpers import ROOT, example_repo, git, git_init, run_codemods, tree

EXAMPLE = ROOT / "examples" / "openhands-cluster-template"
BRANCH = "codemods/litellm-migration"
JOB = "kubernetes/apps/openhands/migration-job.yaml"
MOVED_JOB = "kubernetes/apps/openhands/openhands/app/migration-job.yaml"


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    return example_repo(tmp_path)


def snapshot(work: Path) -> dict[str, object]:
    """Everything about a checkout that --branch must leave alone."""
    return {
        "head": git(work, "rev-parse", "HEAD").stdout,
        "symbolic": git(work, "symbolic-ref", "-q", "HEAD", check=False).stdout,
        "index": git(work, "ls-files", "-s", "--debug").stdout,
        "status": git(work, "status", "--porcelain", "--untracked-files=all").stdout,
        "files": tree(work),
        "worktrees": git(work, "worktree", "list", "--porcelain").stdout,
    }


def refs(work: Path) -> str:
    return git(work, "for-each-ref").stdout


def run_branch(work: Path, *extra: str) -> object:
    return run_codemods("run", "--branch", BRANCH, *extra, str(work))


def test_checkout_is_left_exactly_as_it_was(repo: Path) -> None:
    helm = repo / "kubernetes/apps/openhands/openhands/app/helmrelease.yaml"
    helm.write_text(helm.read_text() + "# local edit, not staged\n")
    (repo / "notes.txt").write_text("untracked\n")
    (repo / "cluster.toml").write_text('cluster_domain = "staged.example"\n')
    git(repo, "add", "cluster.toml")
    git(repo, "checkout", "-q", "-b", "feature")
    before = snapshot(repo)
    result = run_branch(repo, "--base", "main")
    assert result.returncode == 0, result.stderr
    assert snapshot(repo) == before
    assert f"created branch {BRANCH}" in result.stderr


def test_one_commit_on_the_base_with_the_move_as_a_rename(repo: Path) -> None:
    assert run_branch(repo).returncode == 0
    base = git(repo, "rev-parse", "main").stdout.strip()
    assert git(repo, "rev-parse", f"{BRANCH}^").stdout.strip() == base
    assert git(repo, "rev-list", "--count", f"main..{BRANCH}").stdout.strip() == "1"
    status = git(repo, "diff", "-M", "--name-status", base, BRANCH).stdout
    assert f"R100\t{JOB}\t{MOVED_JOB}" in status
    assert "R100\ttemplates/config/kubernetes/apps/openhands/migration-job.yaml.j2\t" in status
    git(repo, "checkout", "-q", BRANCH)
    follow = git(repo, "log", "--follow", "--format=%s", "--", MOVED_JOB).stdout.splitlines()
    assert follow == ["Fix the litellm migration Job for Flux (8 files)", "initial"]


def test_message_names_every_changed_file(repo: Path) -> None:
    assert run_branch(repo).returncode == 0
    message = git(repo, "log", "-1", "--format=%B", BRANCH).stdout
    subject, blank = message.splitlines()[:2]
    assert len(subject) <= 72 and blank == ""
    changed = git(repo, "diff", "--name-only", "--no-renames", "main", BRANCH).stdout.split()
    assert len(changed) == 10  # 6 edits, and both ends of 2 renames
    for path in changed:
        assert path in message, path
    assert "openhands-postgresql, openhands-secrets" in message
    assert "litellm-helm.migrationJob.enabled: false" in message
    trailers = git(repo, "log", "-1", "--format=%(trailers:key=Codemods-Recipe,valueonly)", BRANCH).stdout.strip()
    assert trailers == "litellm-migration"


def test_branch_tree_equals_a_plain_run_on_a_clean_checkout(repo: Path, tmp_path: Path) -> None:
    assert run_branch(repo).returncode == 0
    plain = tmp_path / "plain"
    git(repo, "worktree", "add", "-q", "--detach", str(plain), "main")
    assert run_codemods("run", str(plain)).returncode == 0
    git(plain, "add", "-A")
    assert git(plain, "write-tree").stdout == git(repo, "rev-parse", f"{BRANCH}^{{tree}}").stdout


def test_rerun_is_up_to_date_and_moves_nothing(repo: Path) -> None:
    assert run_branch(repo).returncode == 0
    tip, all_refs = git(repo, "rev-parse", BRANCH).stdout, refs(repo)
    again = run_branch(repo)
    assert again.returncode == 0
    assert "up to date" in again.stderr
    assert git(repo, "rev-parse", BRANCH).stdout == tip
    assert refs(repo) == all_refs


def test_branch_is_rebuilt_when_the_base_moves(repo: Path) -> None:
    assert run_branch(repo).returncode == 0
    old_tip = git(repo, "rev-parse", BRANCH).stdout.strip()
    (repo / "cluster.toml").write_text((repo / "cluster.toml").read_text() + "extra = 1\n")
    git(repo, "commit", "-qam", "base moves on")
    result = run_codemods("run", "--branch", BRANCH, "--json", str(repo))
    assert result.returncode == 0
    report = json.loads(result.stdout)
    assert report["branch"]["status"] == "updated"
    new_base = git(repo, "rev-parse", "main").stdout.strip()
    assert git(repo, "rev-parse", f"{BRANCH}^").stdout.strip() == new_base
    assert git(repo, "rev-list", "--count", f"main..{BRANCH}").stdout.strip() == "1"
    assert git(repo, "rev-parse", BRANCH).stdout.strip() not in (old_tip, new_base)


def test_foreign_commit_is_refused(repo: Path) -> None:
    assert run_branch(repo).returncode == 0
    git(repo, "checkout", "-q", BRANCH)
    (repo / "cluster.toml").write_text("hand = true\n")
    git(repo, "commit", "-qam", "a human fix on the bot branch")
    foreign = git(repo, "rev-parse", "HEAD").stdout.strip()
    git(repo, "checkout", "-q", "main")
    (repo / "makejinja.toml").write_text((repo / "makejinja.toml").read_text() + "\n")
    git(repo, "commit", "-qam", "base moves on")
    before = refs(repo)
    result = run_branch(repo)
    assert result.returncode == 2
    assert foreign[:12] in result.stderr and "did not make" in result.stderr
    assert refs(repo) == before


def test_checked_out_branch_is_refused(repo: Path) -> None:
    assert run_branch(repo).returncode == 0
    (repo / "cluster.toml").write_text((repo / "cluster.toml").read_text() + "x = 1\n")
    git(repo, "commit", "-qam", "base moves on")
    git(repo, "checkout", "-q", BRANCH)
    before = snapshot(repo)
    result = run_branch(repo, "--base", "main")
    assert result.returncode == 2 and "checked out" in result.stderr
    assert snapshot(repo) == before


def test_nothing_to_change_creates_no_branch(repo: Path) -> None:
    assert run_codemods("run", str(repo)).returncode == 0
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "fixed by hand")
    before = refs(repo)
    result = run_branch(repo)
    assert result.returncode == 0
    assert "nothing to change" in result.stderr and "no branch created" in result.stderr
    assert refs(repo) == before


def test_summary_file_is_markdown_naming_every_file(repo: Path, tmp_path: Path) -> None:
    summary = tmp_path / "pr.md"
    assert run_branch(repo, "--summary-file", str(summary)).returncode == 0
    text = summary.read_text()
    assert text.startswith("## Fix the litellm migration Job for Flux")
    for path in git(repo, "diff", "--name-only", "--no-renames", "main", BRANCH).stdout.split():
        assert f"`{path}`" in text, path


def test_message_template_override_keeps_the_contract(repo: Path, tmp_path: Path) -> None:
    template = tmp_path / "msg.j2"
    template.write_text("chore: " + "very long subject " * 8 + "\n\n{% for f in files %}* {{ f.path }}\n{% endfor %}")
    assert run_branch(repo, "--message-template", str(template)).returncode == 0
    message = git(repo, "log", "-1", "--format=%B", BRANCH).stdout
    subject = message.splitlines()[0]
    assert len(subject) <= 72 and subject.endswith("…") and subject.startswith("chore: very long subject")
    assert "* kubernetes/apps/openhands/kustomization.yaml" in message
    assert "Codemods-Recipe: litellm-migration" in message  # added: reruns must recognise the commit


def test_bad_message_template_is_exit_2_with_line(repo: Path, tmp_path: Path) -> None:
    template = tmp_path / "msg.j2"
    template.write_text("subject\n\n{% for f in files %}\n")
    result = run_branch(repo, "--message-template", str(template))
    assert result.returncode == 2 and f"{template}:" in result.stderr
    assert BRANCH not in refs(repo)


def test_dry_run_with_branch_creates_nothing(repo: Path) -> None:
    before = refs(repo)
    result = run_branch(repo, "--dry-run")
    assert result.returncode == 0
    assert result.stdout.startswith("diff --git")
    assert refs(repo) == before


def test_detached_head_is_exit_2(repo: Path) -> None:
    git(repo, "checkout", "-q", "--detach")
    before = refs(repo)
    result = run_branch(repo)
    assert result.returncode == 2 and "detached" in result.stderr
    assert refs(repo) == before


def test_unborn_branch_is_exit_2(tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    shutil.copytree(EXAMPLE, empty)
    git(empty, "init", "-q", "-b", "main")
    result = run_branch(empty)
    assert result.returncode == 2 and "no commits" in result.stderr
    assert refs(empty) == ""


def test_not_a_git_repository_is_exit_2(tmp_path: Path) -> None:
    plain = tmp_path / "plain"
    shutil.copytree(EXAMPLE, plain)
    result = run_branch(plain)
    assert result.returncode == 2 and "not inside a git repository" in result.stderr
    assert not (plain / ".git").exists()


def test_bare_repository_is_exit_2(repo: Path, tmp_path: Path) -> None:
    bare = tmp_path / "bare.git"
    git(tmp_path, "clone", "-q", "--bare", str(repo), str(bare))
    before = refs(bare)
    result = run_branch(bare)
    assert result.returncode == 2 and "bare" in result.stderr
    assert refs(bare) == before


def test_path_inside_the_repository_plans_only_that_directory(repo: Path) -> None:
    sub = repo / "kubernetes"
    result = run_codemods("run", "--branch", BRANCH, "--json", str(sub))
    assert result.returncode == 0, result.stderr
    changed = git(repo, "diff", "--name-only", "main", BRANCH).stdout.split()
    assert changed and all(p.startswith("kubernetes/") for p in changed)


def test_branch_flags_need_branch(repo: Path) -> None:
    result = run_codemods("run", "--base", "main", str(repo))
    assert result.returncode == 2 and "go with --branch" in result.stderr


def test_a_repository_path_that_looks_like_a_variable_is_a_path(tmp_path: Path) -> None:
    # Found by the hostile-input trials: GitPython expanded "$HOME" in the path by default.
    work = tmp_path / "repo $HOME\\x"
    shutil.copytree(EXAMPLE, work)
    git_init(work)
    result = run_codemods("run", "--branch", "codemods/fix", "--no-verify", str(work))
    assert result.returncode == 0, result.stderr
    assert "codemods/fix" in refs(work)


def test_a_sha256_repository_is_exit_2_naming_the_format(tmp_path: Path) -> None:
    work = tmp_path / "sha256"
    shutil.copytree(EXAMPLE, work)
    git(tmp_path, "init", "-q", "--object-format=sha256", "-b", "main", str(work))
    git(work, "add", "-A")
    git(work, "-c", "user.name=t", "-c", "user.email=t@example.invalid", "commit", "-qm", "init")
    before = refs(work)
    result = run_branch(work)
    assert result.returncode == 2
    assert "sha256 object format" in result.stderr and "unborn" not in result.stderr
    assert refs(work) == before


def _author_and_committer(work: Path, ref: str) -> str:
    return git(work, "log", "-1", "--format=%an <%ae> / %cn <%ce>", ref).stdout.strip()


@pytest.mark.parametrize(
    "configure",
    [
        # config.worktree: git reads it once extensions.worktreeConfig is on.
        [["extensions.worktreeConfig", "true"], ["--worktree", "user.name", "Pat"],
         ["--worktree", "user.email", "pat@example.invalid"]],
        # author.* and committer.* come before user.* for git.
        [["author.name", "Pat"], ["author.email", "pat@example.invalid"], ["committer.name", "Pat"],
         ["committer.email", "pat@example.invalid"]],
    ],
    ids=["config.worktree", "author-and-committer-keys"],
)  # fmt: skip
def test_the_identity_git_reads_is_the_commit_s(repo: Path, tmp_path: Path, configure: list[list[str]]) -> None:
    """Nothing but the repository's configuration names anyone (no user file, no system file):
    the commit is Pat's, as `git commit` would make it, not the neutral identity."""
    empty = tmp_path / "empty-gitconfig"
    empty.write_text("")
    for words in configure:
        git(repo, "config", *words)
    env = {"GIT_CONFIG_GLOBAL": str(empty), "GIT_CONFIG_NOSYSTEM": "1", "HOME": str(tmp_path)}
    result = run_codemods("run", "--branch", BRANCH, "--no-verify", str(repo), env=env)
    assert result.returncode == 0, result.stderr
    assert _author_and_committer(repo, BRANCH) == "Pat <pat@example.invalid> / Pat <pat@example.invalid>"


def test_a_configuration_git_cannot_read_is_exit_2_naming_its_file_and_line(repo: Path) -> None:
    config = repo / ".git" / "config"
    good = config.read_text()
    before = refs(repo)
    config.write_text(good + "[core\n")
    result = run_branch(repo, "--no-verify")
    assert result.returncode == 2, result.stderr
    assert "line" in result.stderr and ".git/config" in result.stderr, result.stderr
    assert "internal error" not in result.stderr.lower()
    config.write_text(good)
    assert refs(repo) == before


# -- uncommitted files left out of the plan (issue 21 §8) -------------------------------------

HELM = "kubernetes/apps/openhands/openhands/app/helmrelease.yaml"
SCHEMA = json.loads((ROOT / "codemods" / "schemas" / "report.schema.json").read_text())


def test_branch_names_the_uncommitted_files_it_planned_without(repo: Path) -> None:
    (repo / HELM).write_text((repo / HELM).read_text() + "# local edit, not committed\n")
    extra = "kubernetes/apps/openhands/openhands/app/extra-values.yaml"
    (repo / extra).write_text("a: 1\n")  # a new manifest, never added
    (repo / "notes.txt").write_text("untracked, and no manifest\n")  # cannot change a plan: not named
    (repo / "cluster.toml").write_text('cluster_domain = "staged.example"\n')
    git(repo, "add", "cluster.toml")
    before = snapshot(repo)
    result = run_branch(repo, "--json")
    assert result.returncode == 0, result.stderr
    assert snapshot(repo) == before, "asking git changed nothing, not even the index's stat data"
    report = json.loads(result.stdout)
    jsonschema.validate(report, SCHEMA)
    assert report["uncommitted"] == [{"file": extra, "state": "untracked"}, {"file": HELM, "state": "modified"}]
    base = git(repo, "rev-parse", "HEAD").stdout.strip()
    warning = next(line for line in result.stderr.splitlines() if "uncommitted" in line)
    assert warning.startswith(f"warning: planned on the committed tree of {base[:12]}, without the uncommitted")
    assert f"{extra} (untracked)" in warning and f"{HELM} (modified)" in warning
    assert "notes.txt" not in result.stderr and "cluster.toml" not in result.stderr
    # The branch is the committed tree's fix: the local edit is not in it.
    assert "local edit" not in git(repo, "show", f"{BRANCH}:{HELM}").stdout


def test_branch_on_a_clean_checkout_names_nothing(repo: Path) -> None:
    result = run_branch(repo, "--json")
    assert result.returncode == 0
    assert "uncommitted" not in json.loads(result.stdout)
    assert "uncommitted" not in result.stderr


def test_status_entries_of_a_rename_name_the_new_path(repo: Path) -> None:
    # parse_status is given --no-renames output by the run; it still reads a rename's two
    # paths right if a caller asks git for renames.
    from codemods.vcs.dirty import parse_status

    git(repo, "mv", JOB, "kubernetes/apps/openhands/job.yaml")
    raw = subprocess.run(
        ["git", "status", "--porcelain=v1", "-z", "--untracked-files=all"], cwd=repo, capture_output=True, check=True
    ).stdout
    assert raw.startswith(b"R  ")
    found = parse_status(raw, "kubernetes/apps/")
    assert list(found) == ["openhands/job.yaml"]
    assert found["openhands/job.yaml"].state == "staged"

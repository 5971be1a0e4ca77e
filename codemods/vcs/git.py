"""Thin GitPython helpers. The user's working tree, index and HEAD are never touched.

The base commit is checked out into a temporary directory through a temporary index file
(no `git worktree`, so an interrupted run leaves no metadata behind). The new tree is built
in another temporary index, committed with `commit-tree`, and published with one
compare-and-swap `update-ref`: the only change to the repository a run makes.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterable
from pathlib import Path

import git
from git.exc import GitCommandError, InvalidGitRepositoryError, NoSuchPathError

from codemods.errors import InputError
from codemods.plan import Plan

ZERO = "0" * 40
FALLBACK_IDENTITY = {
    "GIT_AUTHOR_NAME": "codemods",
    "GIT_AUTHOR_EMAIL": "codemods@localhost",
    "GIT_COMMITTER_NAME": "codemods",
    "GIT_COMMITTER_EMAIL": "codemods@localhost",
}


def _fail(repo_path: str, message: str) -> InputError:
    return InputError(repo_path, None, message)


def command_error(repo_path: str, err: GitCommandError) -> InputError:
    stderr = (err.stderr or "").strip().removeprefix("stderr:").strip().strip("'")
    return _fail(repo_path, f"git {err.command[1] if len(err.command) > 1 else ''} failed: {stderr or err}")


def open_repository(path: Path) -> tuple[git.Repo, str]:
    """The repository holding path, and path's posix prefix inside it ("" at the top)."""
    try:
        repo = git.Repo(path, search_parent_directories=True)
    except (InvalidGitRepositoryError, NoSuchPathError):
        raise _fail(str(path), "not inside a git repository") from None
    if repo.bare or repo.working_tree_dir is None:
        raise _fail(str(path), "is a bare repository: --branch needs a checkout")
    top = Path(repo.working_tree_dir).resolve()
    prefix = path.resolve().relative_to(top).as_posix()
    return repo, "" if prefix == "." else prefix


def validate_branch_name(repo: git.Repo, name: str) -> None:
    try:
        repo.git.check_ref_format("--branch", name)
    except GitCommandError:
        raise _fail(repo.working_tree_dir or "", f"{name!r} is not a valid branch name") from None


def resolve_base(repo: git.Repo, base: str | None) -> str:
    where = repo.working_tree_dir or ""
    if base is None:
        if not repo.head.is_valid():
            raise _fail(where, "the repository has no commits yet (unborn branch): nothing to base a branch on")
        if repo.head.is_detached:
            raise _fail(where, "HEAD is detached: check out a branch, or say which commit to build on with --base")
        return repo.head.commit.hexsha
    try:
        return repo.git.rev_parse("--verify", "--quiet", f"{base}^{{commit}}")
    except GitCommandError:
        raise _fail(where, f"--base {base!r} does not name a commit") from None


def branch_tip(repo: git.Repo, name: str) -> str | None:
    try:
        return repo.git.rev_parse("--verify", "--quiet", f"refs/heads/{name}")
    except GitCommandError:
        return None


def checked_out_in(repo: git.Repo, name: str) -> str | None:
    """The worktree that has the branch checked out, if any."""
    current = None
    for line in repo.git.worktree("list", "--porcelain").splitlines():
        if line.startswith("worktree "):
            current = line[len("worktree ") :]
        elif line == f"branch refs/heads/{name}":
            return current
    return None


def commits_not_in(repo: git.Repo, tip: str, base: str) -> list[git.Commit]:
    shas = repo.git.rev_list(tip, "--not", base).split()
    return [repo.commit(sha) for sha in shas]


def checkout_tree(repo: git.Repo, commit: str, dest: Path, index: Path) -> None:
    """Write commit's tree to dest as a checkout would (filters, modes), without HEAD or index."""
    env = {"GIT_INDEX_FILE": str(index)}
    repo.git.read_tree(commit, env=env)
    dest.mkdir(parents=True, exist_ok=True)
    repo.git.checkout_index("--all", "--force", f"--prefix={dest}{os.sep}", env=env)


def build_tree(repo: git.Repo, base: str, plan: Plan, prefix: str, index: Path) -> str:
    """The tree of base with the applied plan: edits hashed from plan.root, moves as the same blob."""
    env = {"GIT_INDEX_FILE": str(index)}
    repo.git.read_tree(base, env=env)
    base_tree = repo.commit(base).tree
    lead = f"{prefix}/" if prefix else ""
    entries: list[str] = []
    for path, _old, _new in plan.edits():
        blob = base_tree[lead + path]
        sha = repo.git.hash_object("-w", f"--path={lead}{path}", str(plan.root / path))
        entries.append(f"{blob.mode:o} {sha}\t{lead}{path}")
    for src, dst in plan.moves.items():
        blob = base_tree[lead + src]
        entries.append(f"0 {ZERO}\t{lead}{src}")
        entries.append(f"{blob.mode:o} {blob.hexsha}\t{lead}{dst}")
    for path in sorted(plan.deletes):
        entries.append(f"0 {ZERO}\t{lead}{path}")
    _update_index(repo, entries, env)
    return repo.git.write_tree(env=env)


def _update_index(repo: git.Repo, entries: Iterable[str], env: dict[str, str]) -> None:
    with tempfile.TemporaryFile() as info:
        info.write(("\n".join(entries) + "\n").encode("utf-8"))
        info.seek(0)
        repo.git.update_index("--index-info", istream=info, env=env)


def identity_env(repo: git.Repo) -> dict[str, str]:
    """The user's git identity when configured; a neutral one otherwise (CI, bots)."""
    env: dict[str, str] = {}
    for role in ("AUTHOR", "COMMITTER"):
        try:
            repo.git.var(f"GIT_{role}_IDENT")
        except GitCommandError:
            env.update({k: v for k, v in FALLBACK_IDENTITY.items() if k.startswith(f"GIT_{role}_")})
    return env


def commit_tree(repo: git.Repo, tree: str, parent: str, message: str) -> str:
    with tempfile.NamedTemporaryFile("w", encoding="utf-8", suffix=".msg", delete=False) as handle:
        handle.write(message)
    try:
        return repo.git.commit_tree(tree, "-p", parent, "-F", handle.name, env=identity_env(repo))
    finally:
        os.unlink(handle.name)


def update_branch(repo: git.Repo, name: str, new: str, old: str | None) -> None:
    """Compare-and-swap: fails if someone else moved the branch since we looked."""
    repo.git.update_ref("-m", "codemods: litellm-migration", f"refs/heads/{name}", new, old or ZERO)

"""Clone, fetch and push for `codemods batch`, with credentials that never touch the disk.

Credentials go to git as an `http.extraHeader` through GIT_CONFIG_* environment variables,
so `.git/config` only ever holds the clean URL. GIT_TERMINAL_PROMPT=0: a bot must fail, not
wait for a password.
"""

from __future__ import annotations

import base64
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import git
from git.exc import GitCommandError

from codemods.vcs.bounded import BoundedGit, Repo
from codemods.vcs.git import PLANNING_DIR, commits_not_in, is_shared, read_config, ref_target
from codemods.vcs.message import has_trailer


def token_userinfo(
    url: str,
    github_token: str | None,
    gitlab_token: str | None,
    *,
    kind: str | None = None,
    gitea_token: str | None = None,
) -> str | None:
    """Basic-auth credentials for an https remote from the forge token in the environment:
    GitLab takes `oauth2:<token>`, GitHub (and GitHub Enterprise) `x-access-token:<token>`,
    Gitea/Forgejo `<token>:x-oauth-basic`. kind is the forge chosen for the host; without it
    the host's name decides, as before. Never over plain http: a token is not sent in clear."""
    if not url.startswith("https://"):
        return None
    host = urlsplit(url).hostname or ""
    kind = kind or ("gitlab" if "gitlab" in host else "github")
    token = {"github": github_token, "gitlab": gitlab_token, "gitea": gitea_token}.get(kind)
    return credentials(kind, token) if token else None


def credentials(kind: str, token: str) -> str:
    """The basic-auth user:password each forge's git takes for its token."""
    if kind == "gitlab":
        return f"oauth2:{token}"
    if kind == "gitea":
        return f"{token}:x-oauth-basic"
    return f"x-access-token:{token}"


def git_env(url: str, userinfo: str | None) -> dict[str, str]:
    env = {"GIT_TERMINAL_PROMPT": "0"}
    if userinfo and url.startswith(("http://", "https://")):
        parts = urlsplit(url)
        credentials = userinfo if ":" in userinfo else f"x-access-token:{userinfo}"
        header = "Authorization: Basic " + base64.b64encode(credentials.encode()).decode()
        env.update(
            {
                "GIT_CONFIG_COUNT": "1",
                "GIT_CONFIG_KEY_0": f"http.{parts.scheme}://{parts.netloc}/.extraHeader",
                "GIT_CONFIG_VALUE_0": header,
            }
        )
    return env


def clear_stale_locks(git_dir: Path) -> list[Path]:
    """Remove *.lock files a killed git left in one of *our* clones (the workdir is locked).
    The planning tree's files are the repository's own (a `Chart.lock`, say): not locks."""
    removed = []
    planning_tree = git_dir / PLANNING_DIR / "tree"
    for where, dirs, files in os.walk(git_dir):
        if Path(where) == planning_tree.parent:
            dirs[:] = [d for d in dirs if d != planning_tree.name]
        for name in files:
            lock = Path(where) / name
            if name.endswith(".lock") and lock.is_file() and not lock.is_symlink():
                lock.unlink()
                removed.append(lock)
    return removed


def clone_or_fetch(url: str, dest: Path, env: dict[str, str]) -> git.Repo:
    """A clone without a working tree: planning uses the commit's tree, not a checkout.

    The clone is made beside dest and renamed into place, so a killed run never leaves a
    half clone where the next run would look for a whole one."""
    if (dest / ".git").is_dir():
        clear_stale_locks(dest / ".git")
        repo = Repo(dest, expand_vars=False)
        _refresh(repo, url, env)
        return repo
    dest.parent.mkdir(parents=True, exist_ok=True)
    partial = dest.with_name(dest.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    shutil.rmtree(dest, ignore_errors=True)  # a directory without .git is not a clone of ours
    # Plain `git clone`, not Repo.clone_from: GitPython rewrites the stored URL (expanding
    # $VARS, turning backslashes into slashes), which breaks later pushes. `--` keeps any
    # URL from being read as an option. `--template=` (none): a bot's clone needs no sample
    # hooks, and takes no hook from the user's template directory; it saves a dozen files.
    BoundedGit().execute(
        ["git", "clone", "--no-checkout", "--quiet", "--template=", "--", url, str(partial)], env={**os.environ, **env}
    )
    os.rename(partial, dest)
    return Repo(dest, expand_vars=False)


def _refresh(repo: git.Repo, url: str, env: dict[str, str]) -> None:
    """Bring an existing clone up to date with the remote: its branches and its default branch.

    One `ls-remote` (a single connection) tells whether anything moved: a weekly rerun, where
    nothing did, fetches nothing. Otherwise `fetch --prune`. The default branch is set from the
    same answer, without the second connection of `remote set-head --auto`."""
    with repo.config_reader() as config:
        configured = config.get_value('remote "origin"', "url", default="")
    if configured != url:
        repo.git.remote("set-url", "origin", url, env=env)
    refs, head = remote_refs(repo, env, "HEAD", "refs/heads/*")
    heads = {name.removeprefix("refs/heads/"): sha for name, sha in refs.items() if name.startswith("refs/heads/")}
    tracking: list[git.RemoteReference] = list(git.RemoteReference.list_items(repo))
    local = {
        ref.path.removeprefix("refs/remotes/origin/"): ref_target(repo, ref.path)
        for ref in tracking
        if ref.path.startswith("refs/remotes/origin/") and ref.path != "refs/remotes/origin/HEAD"
    }
    if local != heads:
        repo.git.fetch("--prune", "--quiet", "origin", env=env)
    if head is None:  # the remote did not say (an empty repository): ask as before
        repo.git.remote("set-head", "origin", "--auto", env=env)
    elif _remote_head(repo) != head:
        repo.git.remote("set-head", "origin", head, env=env)


def _remote_head(repo: git.Repo) -> str | None:
    try:
        return default_branch(repo)
    except (TypeError, ValueError, OSError):
        return None


def default_branch(repo: git.Repo) -> str:
    """The remote's default branch, from refs/remotes/origin/HEAD (read in-process)."""
    head = git.SymbolicReference(repo, "refs/remotes/origin/HEAD")
    return head.reference.path.removeprefix("refs/remotes/origin/")


def remote_branch(repo: git.Repo, branch: str) -> str | None:
    return ref_target(repo, f"refs/remotes/origin/{branch}")


def track_remote_branch(repo: git.Repo, branch: str, remote_sha: str | None) -> None:
    """Make the local branch what the remote has, so "up to date" means up to date there."""
    local = ref_target(repo, f"refs/heads/{branch}")
    if local == remote_sha:
        return
    if remote_sha is not None:
        repo.git.update_ref(f"refs/heads/{branch}", remote_sha)
    else:
        repo.git.update_ref("-d", f"refs/heads/{branch}")


def push(
    repo: git.Repo,
    branch: str,
    expected_remote: str | None,
    env: dict[str, str],
    commit: str | None,
    *,
    to: str = "origin",
    shared: bool | None = None,
) -> None:
    """Push commit (or the local branch) to the branch; overwrite only the exact remote commit
    we checked (ours), never more.

    The local branch is set to commit first, so a refused push leaves the commit reported on a
    branch, as before. It is written in-process, without an object lookup or a reflog entry
    (either would start a git process): the workdir is locked, the clone is ours, and the next
    run sets it from the remote's anyway (track_remote_branch). A shared repository's refs get
    git's group permissions, so there git writes it (shared: core.sharedRepository says so,
    when the caller knows; else git's configuration is read)."""
    if commit is not None:
        if is_shared(read_config(repo)) if shared is None else shared:
            repo.git.update_ref(f"refs/heads/{branch}", commit)
        else:
            git.Head(repo, f"refs/heads/{branch}").set_reference(git.Commit(repo, bytes.fromhex(commit)))
    lease = f"--force-with-lease=refs/heads/{branch}:{expected_remote or ''}"
    source = commit or f"refs/heads/{branch}"
    repo.git.push("--quiet", lease, "--", to, f"{source}:refs/heads/{branch}", env=env)


def local_branch(repo: git.Repo, branch: str) -> str | None:
    return ref_target(repo, f"refs/heads/{branch}")


def restore_local_branch(repo: git.Repo, branch: str, sha: str | None) -> None:
    """Put the local branch back where it was (a dry run moves it only to predict)."""
    track_remote_branch(repo, branch, sha)


def first_foreign(repo: git.Repo, tip: str, base: str) -> git.Commit | None:
    """The newest commit on tip that base lacks and codemods did not make (no trailer): a
    person's. `run`, `--close-stale` and `close --delete-branch` all ask this one question."""
    return next((c for c in commits_not_in(repo, tip, base) if not has_trailer(str(c.message))), None)


def only_ours(repo: git.Repo, tip: str, base: str) -> bool:
    """Whether every commit on tip that base lacks is one codemods made (it has the trailer)."""
    return first_foreign(repo, tip, base) is None


def describe_commit(commit: git.Commit) -> str:
    """`1a2b3c4d5e6f ('subject')`: how a person's commit is named in notes."""
    message = str(commit.message)
    return f"{commit.hexsha[:12]} ({(message.splitlines()[0] if message else '')!r})"


def delete_remote_branch(
    repo: git.Repo, branch: str, expected_remote: str, env: dict[str, str], *, remote_name: str = "origin"
) -> None:
    """Delete the remote branch, only if it is still the exact commit we checked."""
    lease = f"--force-with-lease=refs/heads/{branch}:{expected_remote}"
    repo.git.push("--quiet", lease, "--", remote_name, f":refs/heads/{branch}", env=env)


def remote_refs(
    repo: git.Repo, env: dict[str, str], *patterns: str, remote_name: str = "origin"
) -> tuple[dict[str, str], str | None]:
    """The remote's refs matching patterns ({full name: sha}, HEAD included when asked) and
    the branch its HEAD names, from one `ls-remote --symref` (one connection)."""
    refs: dict[str, str] = {}
    head: str | None = None
    for line in str(repo.git.ls_remote("--symref", "--", remote_name, *patterns, env=env)).splitlines():
        sha, _tab, name = line.partition("\t")
        if sha.startswith("ref: ") and name == "HEAD":
            head = sha.removeprefix("ref: refs/heads/")
        elif name:
            refs[name] = sha
    return refs, head


def remote_branch_now(repo: git.Repo, branch: str, env: dict[str, str], *, remote_name: str = "origin") -> str | None:
    """Where the remote's branch is now (one `ls-remote`): after a refused lease, whether it moved."""
    ref = f"refs/heads/{branch}"
    return remote_refs(repo, env, ref, remote_name=remote_name)[0].get(ref)


FORK_REFS = "refs/remotes/codemods-fork"


def fetch_branch(repo: git.Repo, url: str, branch: str, env: dict[str, str]) -> str | None:
    """The branch's commit on another remote (a fork), fetched into the clone so the run can
    build on it and push over it with a lease; None when that remote has no such branch."""
    sha = remote_branch_now(repo, branch, env, remote_name=url)
    if sha is not None:
        repo.git.fetch("--quiet", "--no-tags", "--", url, f"+refs/heads/{branch}:{FORK_REFS}/{branch}", env=env)
    return sha


@dataclass(frozen=True)
class BranchDeletion:
    """What `batch close --delete-branch` did with the rollout's branch, and why."""

    sha: str | None  # the commit checked (and deleted, or kept); None: the remote has no such branch
    deleted: bool
    reason: str | None = None  # why it was kept


CHECKED_REF = "refs/codemods/checked"
DEFAULT_REF = "refs/codemods/default"


def delete_branch_if_ours(url: str, branch: str, env: dict[str, str]) -> BranchDeletion:
    """Delete the remote branch only when every commit on it beyond the remote's default branch
    is codemods' own (the same test as `run` and `--close-stale`), and only if it is still the
    exact commit checked: the deletion is a push with a lease on that sha, which the server
    enforces, so a commit pushed meanwhile keeps the branch.

    Commits only are fetched (`--filter=tree:0`: no trees, no files; a server without filters
    sends them too), into a scratch repository removed afterwards: `close` keeps no clones."""
    with tempfile.TemporaryDirectory(prefix="codemods-branch-") as scratch:
        # `--template=` (none): no sample hooks, and no pre-push hook from the user's template.
        BoundedGit().execute(["git", "init", "--quiet", "--bare", "--template=", scratch])
        repo = Repo(scratch, expand_vars=False)
        with repo.config_writer() as config:
            config.set_value('remote "origin"', "url", url)
        try:
            return _delete_if_ours(repo, branch, env)
        finally:
            repo.close()


def _delete_if_ours(repo: git.Repo, branch: str, env: dict[str, str]) -> BranchDeletion:
    ref = f"refs/heads/{branch}"
    refs, default = remote_refs(repo, env, "HEAD", ref)
    if ref not in refs:
        return BranchDeletion(None, False, "the remote has no such branch")
    if default is None:
        return BranchDeletion(refs[ref], False, "the remote names no default branch to compare it with")
    if default == branch:
        return BranchDeletion(refs[ref], False, "it is the default branch")
    repo.git.fetch(
        "--quiet",
        "--no-tags",
        "--filter=tree:0",
        "origin",
        f"+{ref}:{CHECKED_REF}",
        f"+refs/heads/{default}:{DEFAULT_REF}",
        env=env,
    )
    checked = ref_target(repo, CHECKED_REF)
    assert checked is not None  # the fetch wrote it
    foreign = first_foreign(repo, checked, DEFAULT_REF)
    if foreign is not None:
        return BranchDeletion(checked, False, f"it holds {describe_commit(foreign)}, which codemods did not make")
    try:
        delete_remote_branch(repo, branch, checked, env)
    except GitCommandError:
        now = remote_branch_now(repo, branch, env)
        if now == checked:
            raise  # refused for another reason: an error, not a decision
        moved = f"it moved to {now[:12]}" if now else "it was deleted"
        return BranchDeletion(checked, False, f"{moved} after codemods checked {checked[:12]}")
    return BranchDeletion(checked, True)

"""Run the codemods on many repositories: clone or fetch, branch, push, pull request.

One repository's failure never stops the others; each ends with exactly one status.
"""

from __future__ import annotations

import fcntl
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from git.exc import GitCommandError

from codemods.batch.repos import RepoSpec
from codemods.errors import InputError
from codemods.forge import Forge, ForgeError, PullRequestSpec, owner_repo
from codemods.mods import Codemod
from codemods.plan import Plan
from codemods.recipes import Recipe
from codemods.secrets import redact
from codemods.vcs import remote
from codemods.vcs.branch import deliver
from codemods.verify.model import Semantic

Status = Literal["changed", "updated", "up-to-date", "unchanged", "failed"]
DEFAULT_BRANCH = "codemods/litellm-migration"


@dataclass(frozen=True)
class BatchOptions:
    workdir: Path
    branch: str = DEFAULT_BRANCH
    mods: Sequence[Codemod] = ()
    dry_run: bool = False
    push: bool = False
    forge: Forge | None = None  # set: open or update a pull request
    draft: bool = False
    labels: tuple[str, ...] = ()
    reviewers: tuple[str, ...] = ()
    message_template: Path | None = None
    recipe: Recipe | None = None
    secrets: tuple[str, ...] = ()  # tokens to mask in every message
    github_token: str | None = None
    gitlab_token: str | None = None
    gate: Callable[[Plan], Semantic] | None = None  # build gate (issue 12): a refusal fails the repo


@dataclass
class RepoResult:
    repo: str
    status: Status
    branch: str
    commit: str | None = None
    pr_url: str | None = None
    error: str | None = None
    files: list[str] = field(default_factory=list)
    diff: str | None = None

    def as_report(self) -> dict[str, object]:
        return {
            "repo": self.repo,
            "status": self.status,
            "branch": self.branch,
            "commit": self.commit,
            "pr_url": self.pr_url,
            "error": self.error,
            "files": self.files,
        }


def process(spec: RepoSpec, options: BatchOptions) -> RepoResult:
    """One repository, end to end. Never raises: a failure is a result."""
    result = RepoResult(spec.shown, "failed", options.branch)
    secrets = (*options.secrets, spec.userinfo or "")
    try:
        _process(spec, options, result)
    except InputError as err:
        result.status, result.error = "failed", redact(str(err), secrets)
    except GitCommandError as err:
        raw = (err.stderr or "").strip().removeprefix("stderr:").strip().strip("'") or str(err)
        detail = " ".join(line.strip() for line in raw.splitlines() if line.strip())
        result.status, result.error = (
            "failed",
            redact(f"git {err.command[1] if len(err.command) > 1 else ''}: {detail}", secrets),
        )
    except ForgeError as err:
        result.status, result.error = "failed", redact(f"forge: {err}", secrets)
    except Exception as exc:  # noqa: BLE001 - one repo's bug must not stop the others
        result.status, result.error = "failed", redact(f"internal error: {type(exc).__name__}: {exc}", secrets)
    return result


def _process(spec: RepoSpec, options: BatchOptions, result: RepoResult) -> None:
    # Credentials in the URL win; else the forge token from the environment authenticates
    # https pushes (it reaches git as a header in the environment, never in .git/config).
    userinfo = spec.userinfo or remote.token_userinfo(spec.url, options.github_token, options.gitlab_token)
    env = remote.git_env(spec.url, userinfo)
    dest = options.workdir / spec.slug()
    repo = remote.clone_or_fetch(spec.url, dest, env)
    default = remote.default_branch(repo)
    remote_sha = remote.remote_branch(repo, options.branch)
    if options.push:
        remote.track_remote_branch(repo, options.branch, remote_sha)
    delivered = deliver(
        dest,
        options.branch,
        f"refs/remotes/origin/{default}",
        options.mods,
        options.message_template,
        write=not options.dry_run,
        check_name=False,  # checked once for the whole batch
        recipe=options.recipe,
        findings=False,  # nobody reads them in a batch
        gate=options.gate,
    )
    result.status = delivered.status
    result.commit = delivered.commit
    result.files = delivered.plan.changed_files()
    if options.dry_run:
        result.diff = delivered.plan.diff()
        return
    if options.push and delivered.status in ("changed", "updated"):
        remote.push(repo, options.branch, remote_sha, env)
    if options.forge is not None and delivered.status in ("changed", "updated", "up-to-date"):
        pr_spec = PullRequestSpec(
            owner_repo=owner_repo(spec.url),
            head=options.branch,
            base=default,
            title=(delivered.message or "").splitlines()[0] if delivered.message else options.branch,
            body=delivered.summary or "",
            draft=options.draft,
            labels=options.labels,
            reviewers=options.reviewers,
        )
        if delivered.status == "up-to-date":
            # Nothing new: find the open pull request, never open another (a closed one
            # stays closed, as with Renovate).
            found = options.forge.find(pr_spec)
            result.pr_url = found.url if found else None
        else:
            result.pr_url = options.forge.upsert(pr_spec).url


class WorkdirBusy(Exception):
    pass


@contextmanager
def workdir_lock(workdir: Path) -> Iterator[None]:
    """One batch per workdir: it owns the clones there, stale git locks included."""
    workdir.mkdir(parents=True, exist_ok=True)
    with open(workdir / ".codemods-batch.lock", "w") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise WorkdirBusy(f"another codemods batch is using {workdir}") from None
        yield


def run_batch(
    specs: Sequence[RepoSpec],
    options: BatchOptions,
    jobs: int = 1,
    on_done: Callable[[RepoResult], None] | None = None,
) -> list[RepoResult]:
    """Results in input order; on_done is called as each repository finishes."""

    def work(spec: RepoSpec) -> RepoResult:
        result = process(spec, options)
        if on_done is not None:
            on_done(result)
        return result

    with workdir_lock(options.workdir):
        if jobs <= 1:
            return [work(spec) for spec in specs]
        with ThreadPoolExecutor(max_workers=jobs, thread_name_prefix="codemods") as pool:
            return list(pool.map(work, specs))

"""Run the codemods on many repositories: clone or fetch, branch, push, pull request.

One repository's failure never stops the others; each ends with exactly one status.
"""

from __future__ import annotations

import fcntl
import os
import re
import threading
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import git
from git.exc import GitCommandError

from codemods.batch.pulls import (
    Decision,
    apply_edit,
    change_id,
    decide,
    mark_closed,
    new_body,
    open_pull_request,
    plan_edit,
)
from codemods.batch.repos import RepoSpec
from codemods.errors import InputError
from codemods.forge import (
    DEFAULT_API,
    NAMES,
    TOKEN_ENV,
    WELL_KNOWN_HOSTS,
    Forge,
    ForgeError,
    PullRequest,
    PullRequestSpec,
    RateGate,
    RateLimited,
    api_for_host,
    host_of,
    kind_for_host,
    make_forge,
    owner_repo,
    project_path,
)
from codemods.forge.http import RetryPolicy, token_url_problem
from codemods.mods import Codemod
from codemods.plan import Plan
from codemods.recipes import Recipe
from codemods.secrets import redact
from codemods.vcs import remote
from codemods.vcs.branch import BranchResult, Delivery, deliver
from codemods.vcs.git import PLANNING_DIR, is_shared, read_config
from codemods.vcs.message import context as message_context
from codemods.vcs.message import logical_files, render
from codemods.verify.model import Semantic

Status = Literal[
    "changed",
    "updated",
    "up-to-date",
    "unchanged",
    "failed",
    "closed-by-human",
    "closed-by-codemods",
    "closed-stale",
    "not-started",
    "blocked-by-human",
]
DEFAULT_BRANCH = "codemods/litellm-migration"
STALE_COMMENT = (
    "This repository no longer needs this change (it was fixed another way), so codemods closes "
    "this pull request and deletes its branch."
)


@dataclass
class ForgeRouter:
    """Which forge, and which token, for each repository: chosen by the repository's host."""

    default_kind: str = "github"
    api_url: str | None = None  # --api-url: the API of the default forge
    hosts: dict[str, str] = field(default_factory=dict)  # --forge-host HOST=KIND
    tokens: dict[str, str | None] = field(default_factory=dict)
    policy: RetryPolicy = field(default_factory=RetryPolicy)
    insecure_http: bool = False  # --insecure-http: a token may go over plain http to any host
    notify: Callable[[str], None] | None = None  # where "waiting until ..." goes (stderr)
    # The self-hosted hosts the user pointed at (--forge-host, --api-url's host, discovery URLs):
    # with the well-known public hosts, the only ones a forge token goes to over git.
    named_hosts: dict[str, str] = field(default_factory=dict)
    _clients: dict[tuple[str, str], Forge] = field(default_factory=dict)
    _gates: dict[tuple[str, str], RateGate] = field(default_factory=dict)  # one per API, for every worker
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def kind(self, url: str) -> str:
        return kind_for_host(host_of(url), self.hosts, self.default_kind)

    def api(self, url: str, kind: str) -> str:
        host = host_of(url)
        if self.api_url and kind == self.default_kind:
            return self.api_url
        if not host:
            return DEFAULT_API[kind]
        return api_for_host(kind, url.split("://", 1)[0] if "://" in url else "ssh", host)

    def api_of(self, url: str) -> tuple[str, str]:
        """(forge kind, API base URL) of a repository."""
        kind = self.kind(url)
        return kind, self.api(url, kind)

    def for_url(self, url: str) -> tuple[Forge, str]:
        """The forge client and the project path on it."""
        kind = self.kind(url)
        return self.client(kind, self.api(url, kind)), project_path(url, kind)

    def client(self, kind: str, api: str) -> Forge:
        token = self.tokens.get(kind)
        if not token:
            raise ForgeError(f"no token for {kind}: set {TOKEN_ENV[kind]}")
        with self._lock:
            if (kind, api) not in self._clients:
                gate = self._gates.setdefault((kind, api), RateGate(NAMES[kind], self.policy, self.notify))
                self._clients[(kind, api)] = make_forge(
                    kind, api, token, self.policy, gate=gate, insecure_http=self.insecure_http
                )
            return self._clients[(kind, api)]

    def trusts(self, url: str, kind: str) -> bool:
        """Whether kind's token may authenticate git on url's host: the forge's well-known public
        host, or a host the user named for it. A host that is this forge only because nothing
        else names it (--forge's default, or a name containing "gitlab") gets no token."""
        host = host_of(url).lower()
        bare = host.split(":", 1)[0]
        if WELL_KNOWN_HOSTS.get(bare) == kind:
            return True
        return self.named_hosts.get(host, self.named_hosts.get(bare)) == kind

    def git_userinfo(self, url: str) -> str | None:
        """Credentials for git on url from the forge's token, only where the user pointed
        (trusts), and only over https (plain http to a loopback host, or --insecure-http)."""
        kind = self.kind(url)
        token = self.tokens.get(kind)
        if not token or not host_of(url) or not self.trusts(url, kind):
            return None
        if token_url_problem(url, self.insecure_http) is not None:
            return None
        return remote.credentials(kind, token)

    def calls_here(self) -> int:
        """API calls this thread made through every client: the up-front token checks."""
        with self._lock:
            clients = list(self._clients.values())
        calls: list[int] = [c.client.calls for c in clients]  # type: ignore[attr-defined]
        return sum(calls)

    def stopped(self, url: str) -> str | None:
        """Why the run stopped calling this repository's forge (its rate limit outlasts
        --max-wait), or None."""
        gate = self._gates.get(self.api_of(url))
        return gate.stopped if gate is not None else None


@dataclass(frozen=True)
class BatchOptions:
    workdir: Path
    branch: str = DEFAULT_BRANCH
    mods: Sequence[Codemod] = ()
    dry_run: bool = False
    push: bool = False
    forges: ForgeRouter | None = None  # set: open or update a pull request (or predict it)
    open_pr: bool = False
    draft: bool = False
    labels: tuple[str, ...] = ()
    reviewers: tuple[str, ...] = ()
    team_reviewers: tuple[str, ...] = ()
    assignees: tuple[str, ...] = ()
    base_branch: str | None = None  # plan on it and open the pull request against it, not the default
    fork: bool = False  # push to a fork and open the pull request from it
    fork_owner: str | None = None  # whose fork: the token's user when None
    message_template: Path | None = None
    pr_title_template: Path | None = None
    pr_body_template: Path | None = None
    recipe: Recipe | None = None
    secrets: tuple[str, ...] = ()  # tokens to mask in every message
    github_token: str | None = None
    gitlab_token: str | None = None
    gitea_token: str | None = None
    reopen: bool = False
    close_stale: bool = False
    gate: Callable[[Plan], Semantic] | None = None  # build gate (issue 12): a refusal fails the repo
    credentials: Callable[[str], str | None] | None = None  # git credentials for a URL (ForgeRouter.git_userinfo)


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
    name: str = ""  # short: owner/repo, for the table
    forge: str | None = None
    moves: dict[str, str] = field(default_factory=dict)
    note: str | None = None  # what converging did beyond the status: retargeted, reopened, ...
    pr_number: int | None = None
    discovery: dict[str, object] | None = None

    def as_report(self) -> dict[str, object]:
        entry: dict[str, object] = {
            "repo": self.repo,
            "status": self.status,
            "branch": self.branch,
            "commit": self.commit,
            "pr_url": self.pr_url,
            "error": self.error,
            "files": self.files,
            "name": self.name,
            "forge": self.forge,
            "moves": self.moves,
            "note": self.note,
        }
        if self.discovery is not None:
            entry["discovery"] = self.discovery
        return entry


def short_name(url: str) -> str:
    try:
        return owner_repo(url)
    except ForgeError:
        return url.rstrip("/").rsplit("/", 1)[-1]


def _tidy_error(message: str, dest: Path, name: str) -> str:
    """Name the repository, not where it was cloned or checked out."""
    message = re.sub(r"\S*/codemods-[^/\s]+/tree/", "", message)
    for where in dict.fromkeys((str(dest), os.path.realpath(dest))):  # as given, and as git sees it
        message = message.replace(f"{where}/.git/{PLANNING_DIR}/tree/", "")
        message = message.replace(f"{where}/", "").replace(where, name)
    return message


def process(spec: RepoSpec, options: BatchOptions) -> RepoResult:
    """One repository, end to end. Never raises: a failure is a result."""
    result = RepoResult(spec.shown, "failed", options.branch, name=short_name(spec.url))
    secrets = (*options.secrets, spec.userinfo or "")
    dest = options.workdir / spec.slug()
    error: str | None = None
    try:
        _process(spec, options, result)
    except RateLimited as err:  # the run stopped waiting: this repository is for the next run
        result.status, result.note = "not-started", redact(f"{err}; a rerun finishes it", secrets)
        return result
    except InputError as err:
        error = str(err)
    except GitCommandError as err:
        raw = (err.stderr or "").strip().removeprefix("stderr:").strip().strip("'") or str(err)
        detail = " ".join(line.strip() for line in raw.splitlines() if line.strip())
        error = f"git {err.command[1] if len(err.command) > 1 else ''}: {detail}"
    except ForgeError as err:
        error = f"forge: {err}"
    except Exception as exc:  # noqa: BLE001 - one repo's bug must not stop the others
        error = f"internal error: {type(exc).__name__}: {exc}"
    if error is not None:
        result.status, result.error = "failed", redact(_tidy_error(error, dest, result.name), secrets)
    return result


def _pr_text(delivered: BranchResult, options: BatchOptions) -> tuple[str, str]:
    """Title and body: the templates when given, with the commit template's variables."""
    lead = f"{delivered.prefix}/" if delivered.prefix else ""
    title = (delivered.message or "").splitlines()[0] if delivered.message else options.branch
    body = delivered.summary or ""
    if options.pr_title_template or options.pr_body_template:
        values = message_context(delivered.plan, lead, options.recipe)
        if options.pr_title_template:
            text = options.pr_title_template.read_text(encoding="utf-8")
            rendered = render(text, values, str(options.pr_title_template)).strip()
            if not rendered:
                raise InputError(str(options.pr_title_template), 1, "the template rendered an empty title")
            title = rendered.splitlines()[0].strip()
        if options.pr_body_template:
            text = options.pr_body_template.read_text(encoding="utf-8")
            body = render(text, values, str(options.pr_body_template))
    return title, body


def _userinfo(spec: RepoSpec, options: BatchOptions) -> str | None:
    """Credentials in the URL win; else the forge token from the environment authenticates
    git (it reaches git as a header in the environment, never in .git/config)."""
    if spec.userinfo is not None:
        return spec.userinfo
    if options.credentials is not None:  # the run's rule: only hosts the user pointed at
        return options.credentials(spec.url)
    kind = options.forges.kind(spec.url) if options.forges else None
    return remote.token_userinfo(
        spec.url, options.github_token, options.gitlab_token, kind=kind, gitea_token=options.gitea_token
    )


def _process(spec: RepoSpec, options: BatchOptions, result: RepoResult) -> None:
    env = remote.git_env(spec.url, _userinfo(spec, options))
    dest = options.workdir / spec.slug()
    repo = remote.clone_or_fetch(spec.url, dest, env)
    settings = read_config(repo)  # one `git config --list` for the planning tree, identity and sharing
    default = _base_branch(repo, options)
    target = _push_target(repo, spec, options, env)
    remote_sha = target.sha
    # A dry run predicts: it builds the branch as a real run would, on a local branch that
    # mirrors the remote one, then puts the local branch back. Nothing leaves the workdir.
    saved_local = remote.local_branch(repo, options.branch) if options.dry_run else None
    if options.push or options.dry_run:
        remote.track_remote_branch(repo, options.branch, remote_sha)
    try:
        how = Delivery(
            options.branch,
            f"refs/remotes/origin/{default}",
            options.mods,
            options.message_template,
            recipe=options.recipe,
            gate=options.gate,
            check_name=False,  # checked once for the whole batch
            findings=False,  # nobody reads them in a batch
            scratch=dest / ".git" / PLANNING_DIR,
            # A pushed run publishes the commit itself (push, then the local mirror); a dry run
            # puts the branch back anyway. Either way git's update-ref would be a wasted process.
            move_branch=not (options.push or options.dry_run),
            keep_foreign=True,  # a person's commit on the branch: blocked-by-human, not failed
            config=settings,
        )
        delivered = deliver(dest, how)
    finally:
        if options.dry_run:
            remote.restore_local_branch(repo, options.branch, saved_local)
    result.status = delivered.status
    result.commit = None if options.dry_run else delivered.commit
    result.files = logical_files(delivered.plan)
    result.moves = dict(sorted(delivered.plan.moves.items()))
    if options.dry_run:
        result.diff = delivered.plan.diff()
    forge, project = options.forges.for_url(spec.url) if options.forges else (None, "")
    result.forge = forge.kind if forge else None
    result.note = target.note
    if delivered.status == "unchanged":
        if forge is not None and options.close_stale:
            _close_stale(repo, forge, project, default, target, env, options, result)
        return
    if forge is None or not options.open_pr:
        if delivered.foreign is not None:
            _blocked(result, delivered.foreign, options.branch, None)
        elif options.push and not options.dry_run and delivered.status in ("changed", "updated"):
            _push_unless_moved(repo, target, env, delivered.commit, result, shared=is_shared(settings))
        return
    change = change_id(delivered.plan.diff() if result.diff is None else result.diff)
    decision = decide(forge.pulls(project, target.head), change, options.reopen)
    result.note = "; ".join(n for n in (target.note, decision.note) if n) or None
    if decision.respect_closed:
        # A person (or `batch close`) closed this very change: push nothing, open nothing.
        assert decision.closed_pr is not None
        result.status, result.pr_url, result.pr_number = (
            decision.closed_status,
            decision.closed_pr.url,
            decision.closed_pr.number,
        )
        return
    if delivered.foreign is not None:
        _blocked(result, delivered.foreign, options.branch, decision.open_pr)
        return
    pushing = not options.dry_run and delivered.status in ("changed", "updated")
    if pushing and not _push_unless_moved(repo, target, env, delivered.commit, result, shared=is_shared(settings)):
        return
    place = PullRequestPlace(forge, project, target.head, default)
    _open_or_update(place, delivered, decision, change, options, result)


@dataclass(frozen=True)
class PullRequestPlace:
    """Where a repository's pull request lives: the forge, the project there, its head and base."""

    forge: Forge
    project: str
    head: str  # the branch, or owner:branch from a fork
    base: str


def _open_or_update(
    place: PullRequestPlace,
    delivered: BranchResult,
    decision: Decision,
    change: str,
    options: BatchOptions,
    result: RepoResult,
) -> None:
    """Bring the open pull request up to date (retargeted, its text refreshed unless a person
    edited it), or open one; a dry run says what it would do."""
    forge, project, head, default = place.forge, place.project, place.head, place.base
    title, body = _pr_text(delivered, options)
    pr_spec = PullRequestSpec(
        owner_repo=project,
        head=head,
        base=default,
        title=title,
        body=new_body(title, body, change, delivered.base),
        draft=options.draft,
        labels=options.labels,
        reviewers=options.reviewers,
        team_reviewers=options.team_reviewers,
        assignees=options.assignees,
    )
    if decision.open_pr is not None:
        pr = decision.open_pr
        edit = plan_edit(pr, PullRequestSpec(project, head, default, title, body), change, delivered.base)
        if edit.base is not None:
            result.note = f"{'would retarget' if options.dry_run else 'retargeted'} from {pr.base} to {default}"
        if not options.dry_run:
            apply_edit(forge, project, pr, edit)
        result.pr_url, result.pr_number = pr.url, pr.number
        return
    if options.dry_run:
        result.note = result.note or "would open a pull request"
        return
    created, recovery = open_pull_request(forge, pr_spec)
    if delivered.status == "up-to-date" and decision.closed_pr is None:
        result.note = "the branch had no pull request: opened one"
    result.note = "; ".join(n for n in (result.note, recovery) if n) or None
    result.pr_url, result.pr_number = created.url, created.number


def _blocked(result: RepoResult, foreign: str, branch: str, pr: PullRequest | None) -> None:
    """A person's commit is on the branch: codemods leaves it alone, and says what unblocks it.
    Not a failure: a weekly rerun must not exit 1 until someone acts."""
    result.status, result.commit = "blocked-by-human", None
    if pr is None:
        result.note = (
            f"{branch} holds {foreign}, which codemods did not make; it is left alone: delete or rename "
            "the branch, or pick another --branch, and the next run will take over"
        )
        return
    result.pr_url, result.pr_number = pr.url, pr.number
    result.note = (
        f"a person pushed {foreign} to {branch}; codemods will not overwrite it: merge or close "
        f"#{pr.number}, or delete the branch, and the next run will take over"
    )


@dataclass(frozen=True)
class PushTarget:
    """Where the rollout's branch lives: origin, or the fork (`--fork`)."""

    branch: str
    sha: str | None  # the branch's commit there when the run looked; None: no such branch
    remote: str = "origin"  # what git pushes to: the remote's name, or the fork's URL
    head: str = ""  # the pull request's head: the branch, or owner:branch from a fork
    note: str | None = None  # what was done to get there: "forked acme/app to bot/app"


def _base_branch(repo: git.Repo, options: BatchOptions) -> str:
    """The branch the change is planned on and the pull request targets: --base-branch, which
    the repository must have, or the remote's default branch."""
    if options.base_branch is None:
        return remote.default_branch(repo)
    if remote.remote_branch(repo, options.base_branch) is None:
        raise InputError("--base-branch", None, f"the repository has no branch {options.base_branch!r}")
    return options.base_branch


def _push_target(repo: git.Repo, spec: RepoSpec, options: BatchOptions, env: dict[str, str]) -> PushTarget:
    """origin; or with --fork, the fork (asked of the forge, made when missing, except in a
    dry run), whose branch is fetched so the run builds on what the fork holds."""
    branch = options.branch
    if not options.fork or options.forges is None:
        return PushTarget(branch, remote.remote_branch(repo, branch), head=branch)
    forge, project = options.forges.for_url(spec.url)
    fork = forge.find_fork(project, options.fork_owner)
    note = None
    if fork is None and options.dry_run:
        owner = options.fork_owner or forge.user()
        return PushTarget(branch, None, head=f"{owner}:{branch}", note=f"would fork {project} to {owner}")
    if fork is None:
        fork = forge.fork(project, options.fork_owner)
        note = f"forked {project} to {fork.project}"
    if host_of(fork.clone_url) != host_of(spec.url):
        raise ForgeError(
            f"the fork {fork.project} is on {host_of(fork.clone_url)}, not {host_of(spec.url)}: not pushed"
        )
    sha = remote.fetch_branch(repo, fork.clone_url, branch, env)
    return PushTarget(branch, sha, fork.clone_url, f"{fork.owner}:{branch}", note)


def _push_unless_moved(
    repo: git.Repo,
    target: PushTarget,
    env: dict[str, str],
    commit: str | None,
    result: RepoResult,
    *,
    shared: bool | None = None,
) -> bool:
    """Push over exactly the commit checked (a lease the server enforces). When the push is
    refused because the branch moved meanwhile (a person pushed), nothing was overwritten:
    blocked-by-human, and the next run looks again. Any other refusal is an error."""
    branch, expected = target.branch, target.sha
    try:
        remote.push(repo, branch, expected, env, commit, to=target.remote, shared=shared)
    except GitCommandError:
        now = remote.remote_branch_now(repo, branch, env, remote_name=target.remote)
        if now == expected:
            raise
        moved = f"moved to {now[:12]}" if now else "was deleted"
        result.status, result.commit = "blocked-by-human", None
        result.note = f"{branch} {moved} while codemods ran; nothing was overwritten, and the next run looks again"
        return False
    return True


def _close_stale(
    repo: git.Repo,
    forge: Forge,
    project: str,
    default: str,
    target: PushTarget,
    env: dict[str, str],
    options: BatchOptions,
    result: RepoResult,
) -> None:
    """The repository no longer needs the change: close the bot's open pull request, with a
    comment, and delete its branch. A branch holding a person's commits is left alone."""
    remote_sha = target.sha
    open_prs = [p for p in forge.pulls(project, target.head) if p.state == "open"]
    if not open_prs and remote_sha is None:
        return
    if remote_sha is not None and not remote.only_ours(repo, remote_sha, f"refs/remotes/origin/{default}"):
        result.note = f"{options.branch} holds commits codemods did not make: left open"
        return
    result.status = "closed-stale"
    if open_prs:
        result.pr_url, result.pr_number = open_prs[0].url, open_prs[0].number
    if options.dry_run:
        return
    for pr in open_prs:
        forge.comment(project, pr, STALE_COMMENT)
        forge.close(project, pr, mark_closed(pr.body))
    if remote_sha is None:
        return
    try:
        remote.delete_remote_branch(repo, options.branch, remote_sha, env, remote_name=target.remote)
    except GitCommandError:
        now = remote.remote_branch_now(repo, options.branch, env, remote_name=target.remote)
        if now == remote_sha:
            raise
        if now is not None:  # a push after the check: the lease kept it, and so does codemods
            result.note = f"{options.branch} moved to {now[:12]} after codemods checked it: branch kept"


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
    on_start: Callable[[RepoSpec], None] | None = None,
) -> list[RepoResult]:
    """Results in input order; on_done is called as each repository finishes.

    Two entries of one repository (listed twice, or with and without credentials in the URL)
    share a clone and its planning tree: they take turns, never two workers in one clone."""
    clones: dict[str, threading.Lock] = {}
    for spec in specs:
        clones.setdefault(spec.slug(), threading.Lock())

    def work(spec: RepoSpec) -> RepoResult:
        if on_start is not None:
            on_start(spec)
        stopped = options.forges.stopped(spec.url) if options.forges else None
        if stopped is not None:  # its forge's rate limit outlasts --max-wait: not even cloned
            result = RepoResult(spec.shown, "not-started", options.branch, name=short_name(spec.url))
            result.note = f"{stopped}; a rerun finishes it"
        else:
            with clones[spec.slug()]:
                result = process(spec, options)
        if on_done is not None:
            on_done(result)
        return result

    with workdir_lock(options.workdir):
        if jobs <= 1:
            return [work(spec) for spec in specs]
        with ThreadPoolExecutor(max_workers=jobs, thread_name_prefix="codemods") as pool:
            return list(pool.map(work, specs))

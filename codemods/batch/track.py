"""`codemods batch status|merge|close`: follow the rollout's pull requests on the forges.

These read and act on the forge; nothing is cloned. `status` makes at most 2 API calls per
repository (GitHub and GitLab: one GraphQL query; Gitea: the pull request list and the commit
status) and reports them; `merge` and `close` report every call they make.

`merge` sends the head commit it checked, so a commit pushed after the check is not merged.
`close --delete-branch` deletes a branch only if it holds nothing but codemods' commits, with a
lease on the exact commit checked: it fetches the branch's commits (no files) into a scratch
repository for that (see codemods.vcs.remote.delete_branch_if_ours), because the forges' branch
deletion APIs take no expected commit, and their compare APIs cap the commits they list.
"""

from __future__ import annotations

import functools
import json
import sys
import threading
from collections import Counter
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import click
from git.exc import GitCommandError
from rich.console import Console

from codemods.batch.events import EventLog
from codemods.batch.options import (
    Selection,
    check_apis,
    make_router,
    output_options,
    parse_specs,
    repositories,
    require_tokens,
    selection_options,
)
from codemods.batch.output import Column, show
from codemods.batch.pulls import mark_closed, read_marker
from codemods.batch.repos import RepoSpec
from codemods.batch.runner import DEFAULT_BRANCH, ForgeRouter, short_name
from codemods.exitcodes import ExitCode
from codemods.forge import Forge, ForgeError, PullRequest
from codemods.secrets import redact
from codemods.vcs import remote

CLOSE_COMMENT = (
    "Closed by codemods: this rollout is withdrawn. Later runs leave it closed (closed-by-codemods); "
    "`codemods batch --open-pr --reopen` opens it again."
)


@dataclass
class Tracked:
    repo: str
    name: str
    forge: str | None = None
    pr_url: str | None = None
    number: int | None = None
    state: str = "none"  # none (no PR), open, draft, merged, closed
    checks: str = "none"
    mergeable: str = "unknown"
    review: str = "unknown"
    base: str = ""
    api_calls: int = 0
    action: str | None = None  # merge/close: what was done or why not
    error: str | None = None
    head_sha: str | None = None  # status/merge: the head the forge reported; close: the branch commit checked
    branch_deleted: bool | None = None  # close --delete-branch only

    def as_report(self) -> dict[str, object]:
        return {
            "repo": self.repo,
            "name": self.name,
            "forge": self.forge,
            "pr_url": self.pr_url,
            "number": self.number,
            "state": self.state,
            "checks": self.checks,
            "mergeable": self.mergeable,
            "review": self.review,
            "base": self.base,
            "api_calls": self.api_calls,
            "action": self.action,
            "error": self.error,
            "head_sha": self.head_sha,
            "branch_deleted": self.branch_deleted,
        }


@dataclass(frozen=True)
class Tracking:
    """The options every tracking subcommand shares: which repositories (REPO arguments,
    --repos-file, discovery), which forge and how it is reached, whose branch, output."""

    repos: tuple[str, ...]
    selection: Selection
    branch: str
    fork: bool
    fork_owner: str | None
    jobs: int
    as_json: bool  # the JSON report on stdout
    report: Path | None  # the JSON report to this file
    log_format: str
    fmt: str

    @property
    def forks(self) -> bool:
        return self.fork or self.fork_owner is not None


TRACKING_FIELDS = tuple(f.name for f in fields(Tracking))


def _common(command: Callable[..., int]) -> Callable[..., int]:
    """Add the shared options to a tracking subcommand, which receives them as `tracking`."""

    @functools.wraps(command)
    def with_tracking(**kwargs: Any) -> int:
        tracking = Tracking(**{name: kwargs.pop(name) for name in TRACKING_FIELDS})
        return command(tracking, **kwargs)

    decorators: list[Callable[[Any], Any]] = [
        click.argument("repos", nargs=-1),
        selection_options,
        click.option("--branch", default=DEFAULT_BRANCH, show_default=True, help="The rollout's branch."),
        click.option(
            "--fork",
            is_flag=True,
            help="The pull requests come from forks (batch --fork): of the token's user, or --fork-owner.",
        ),
        click.option("--fork-owner", metavar="OWNER", help="Whose forks the pull requests come from. Implies --fork."),
        click.option("--jobs", "-j", type=click.IntRange(min=1), default=4, show_default=True),
        click.option("--json", "as_json", is_flag=True, help="Print the JSON report on stdout."),
        click.option("--report", type=click.Path(dir_okay=False, path_type=Path), help="Write the JSON report."),
        output_options,
    ]
    for decorator in reversed(decorators):
        with_tracking = decorator(with_tracking)
    return with_tracking


@dataclass
class Setup:
    """What every tracking subcommand works from, checked before any call that acts."""

    specs: list[RepoSpec]
    router: ForgeRouter
    secrets: tuple[str, ...]
    events: EventLog
    head: Callable[[RepoSpec], str]  # the pull request's head on that repository's forge
    check_calls: int = 0  # the up-front token checks (GET /user, once per forge API)


def _setup(tracking: Tracking) -> Setup:
    """The repositories (arguments, --repos-file, discovery), their forges, and the same checks
    as the rollout's, before anything else: each API's URL may have the token, and the forge
    accepts it (exit 2 otherwise)."""
    selection, branch, fork_owner = tracking.selection, tracking.branch, tracking.fork_owner
    events = EventLog(tracking.log_format, lines=False)
    router = make_router(selection, notify=events.notice)
    checked: set[tuple[str, str]] = set()
    listed, _found, sources = repositories(selection, tracking.repos, router, checked)
    if not listed:
        where = (
            "discovery found none to track" if sources else "give REPO arguments, --repos-file or a discovery option"
        )
        raise click.UsageError(f"no repositories: {where}")
    specs = parse_specs(listed)
    require_tokens(router, specs, "")
    check_apis(router, [router.api_of(s.url) for s in specs], checked)
    fork = tracking.forks
    if fork and any(router.kind(s.url) == "gitlab" for s in specs):
        raise click.UsageError("--fork: not supported on GitLab yet")
    owners: dict[tuple[str, str], str] = {}
    lock = threading.Lock()

    def head(spec: RepoSpec) -> str:
        if not fork:
            return branch
        client, _project = router.for_url(spec.url)
        if fork_owner is not None:
            return f"{fork_owner}:{branch}"
        key = router.api_of(spec.url)
        with lock:
            if key not in owners:
                owners[key] = client.user()
            return f"{owners[key]}:{branch}"

    secrets = tuple(t for t in router.tokens.values() if t)
    return Setup(specs, router, secrets, events, head, check_calls=router.calls_here())


def _each(setup: Setup, jobs: int, work: Callable[[Tracked, RepoSpec], None]) -> list[Tracked]:
    router, secrets, events = setup.router, setup.secrets, setup.events
    specs = setup.specs
    events.total = len(specs)

    def one(spec: RepoSpec) -> Tracked:
        tracked = Tracked(spec.shown, short_name(spec.url), forge=router.kind(spec.url))
        events.started(tracked.repo, tracked.name)
        try:
            work(tracked, spec)
        except ForgeError as err:
            tracked.error = redact(f"forge: {err}", (*secrets, spec.userinfo or ""))
        except GitCommandError as err:  # close --delete-branch talks to git
            detail = " ".join(str(err.stderr or err).split())
            tracked.error = redact(f"git {err.command[1] if len(err.command) > 1 else ''}: {detail}", secrets)
        events.finished(
            tracked.repo, tracked.name, tracked.state, error=tracked.error, action=tracked.action, pr_url=tracked.pr_url
        )
        return tracked

    with ThreadPoolExecutor(max_workers=jobs, thread_name_prefix="codemods") as pool:
        return list(pool.map(one, specs))


def _read_status(tracked: Tracked, spec: RepoSpec, router: ForgeRouter, head: str, with_review: bool) -> None:
    forge, project = router.for_url(spec.url)
    status, calls = forge.status(project, head, with_review=with_review)
    tracked.api_calls += calls
    if status is not None:
        tracked.pr_url, tracked.number, tracked.state = status.url, status.number, status.state
        tracked.head_sha = status.head or None
        tracked.checks, tracked.mergeable, tracked.review, tracked.base = (
            status.checks,
            status.mergeable,
            status.review,
            status.base,
        )


COLUMNS = {
    "state": Column("state"),
    "checks": Column("checks"),
    "merge": Column("merge"),
    "review": Column("review"),
    "calls": Column("calls"),
    "note": Column("note", wrap=True),
}


def _output(results: list[Tracked], title: str, columns: Sequence[str], tracking: Tracking, setup: Setup) -> None:
    events = setup.events
    counts = dict(Counter(r.state for r in results))
    data = {
        "version": 1,
        "command": title,
        "branch": tracking.branch,
        "counts": counts,
        # Every call: each repository's, and the token checks made once per forge API first.
        "api_calls": sum(r.api_calls for r in results) + setup.check_calls,
        "api_calls_per_repo": max((r.api_calls for r in results), default=0),
        "check_api_calls": setup.check_calls,
        "repos": [r.as_report() for r in results],
    }
    text = json.dumps(data, indent=2) + "\n"
    if tracking.report is not None:
        tracking.report.write_text(text, encoding="utf-8")
    if tracking.as_json:
        sys.stdout.write(text)
    console = Console(stderr=True)
    rows = []
    for r in results:
        values = {
            "repo": r.name,
            "PR": f"#{r.number}" if r.number else "",
            "state": r.state,
            "checks": r.checks,
            "merge": r.mergeable,
            "review": r.review,
            "calls": str(r.api_calls),
            "note": r.error or r.action or "",
        }
        if tracking.fmt in ("plain", "markdown") and r.pr_url:
            values["PR"] = r.pr_url if tracking.fmt == "plain" else f"[#{r.number}]({r.pr_url})"
        rows.append(values)
    shown = [Column("repo", short=24), Column("PR"), *(COLUMNS[c] for c in columns)]
    if not (events.json and tracking.fmt == "table") and not (tracking.as_json and tracking.fmt == "json"):
        show(console, f"codemods batch {title}", shown, rows, tracking.fmt, data)
    summary = ", ".join(f"{n} {state}" for state, n in sorted(counts.items()))
    if events.json:
        events.summary(counts, api_calls=data["api_calls"], api_calls_per_repo=data["api_calls_per_repo"])
    else:
        console.print(
            f"{summary}; {data['api_calls']} API calls ({data['api_calls_per_repo']} per repository at most)",
            highlight=False,
        )


@click.command("status")
@_common
def status_command(tracking: Tracking) -> int:
    """Where each repository's pull request stands: state (open, draft, merged, closed), CI,
    mergeability and review. Reads the forge only, at most 2 API calls per repository.

    Exit 1 while any pull request fails its checks (or a repository could not be read)."""
    setup = _setup(tracking)
    router = setup.router
    results = _each(setup, tracking.jobs, lambda t, s: _read_status(t, s, router, setup.head(s), False))
    columns = ("state", "checks", "merge", "review", "calls", "note")
    _output(results, "status", columns, tracking, setup)
    failing = any(r.checks == "failure" and r.state in ("open", "draft") for r in results)
    return ExitCode.SOME_FAILED if failing or any(r.error for r in results) else ExitCode.OK


@click.command("merge")
@_common
@click.option(
    "--method", type=click.Choice(["merge", "squash", "rebase"]), default="merge", show_default=True, help="How."
)
def merge_command(tracking: Tracking, method: str) -> int:
    """Merge the rollout's pull requests that are approved and green; skip the others, saying why.

    The merge names the head commit that was checked: one pushed since is not merged (the
    forge refuses, and the repository is skipped, saying so).

    Exit 1 when a merge the forge was asked for failed."""
    setup = _setup(tracking)
    router = setup.router

    def merge(tracked: Tracked, spec: RepoSpec) -> None:
        client, project = router.for_url(spec.url)
        head = setup.head(spec)
        before = _calls(client)
        try:
            _read_status(tracked, spec, router, head, True)
            reasons = _merge_blockers(tracked)
            if reasons:
                tracked.action = "skipped: " + ", ".join(reasons)
                return
            _merge_checked_head(tracked, client, project, head, method)
        finally:  # every call, the merge's and a re-read's included
            tracked.api_calls = _calls(client) - before

    results = _each(setup, tracking.jobs, merge)
    _output(results, "merge", ("state", "checks", "review", "note"), tracking, setup)
    return ExitCode.SOME_FAILED if any(r.error for r in results) else ExitCode.OK


def _calls(client: Forge) -> int:
    """API calls this thread made through client: one repository's, as workers are threads."""
    return int(client.client.calls)  # type: ignore[attr-defined]


def _merge_blockers(tracked: Tracked) -> list[str]:
    if tracked.state != "open":
        return ["no open pull request" if tracked.state == "none" else f"it is {tracked.state}"]
    reasons = []
    if tracked.checks != "success":
        reasons.append(f"checks: {tracked.checks}")
    if tracked.review != "approved":
        reasons.append(f"review: {tracked.review}")
    if tracked.mergeable == "no":
        reasons.append("conflicts")
    if not tracked.head_sha:
        reasons.append("the forge did not say which commit it checked")
    return reasons


def _merge_checked_head(tracked: Tracked, client: Forge, project: str, branch: str, method: str) -> None:
    """Merge the head that was checked, and nothing newer. When the forge refuses, read the pull
    request again: a head that moved is a skip (a person's new commit awaits review), not a
    failure; any other refusal is an error, as before."""
    assert tracked.number is not None and tracked.pr_url is not None and tracked.head_sha
    checked = tracked.head_sha
    try:
        client.merge(project, PullRequest(tracked.number, tracked.pr_url), method, checked)
    except ForgeError as refusal:
        try:
            now = next((p for p in client.pulls(project, branch) if p.number == tracked.number), None)
        except ForgeError:
            raise refusal from None  # the merge's own error is the one to report
        if now is None or now.state != "open" or not now.head or now.head == checked:
            raise
        tracked.head_sha = now.head
        tracked.action = (
            f"skipped: the head moved from {checked[:12]} to {now.head[:12]} after the check; "
            "the forge refused to merge it: review the new commit, then run merge again"
        )
        return
    tracked.state, tracked.action = "merged", f"merged ({method})"


@click.command("close")
@_common
@click.option("--comment", default=CLOSE_COMMENT, show_default=False, help="The comment left on each pull request.")
@click.option(
    "--delete-branch",
    is_flag=True,
    help="Delete the branch too, unless it holds a commit codemods did not make (a person's); with git, "
    "and only while it is the commit checked.",
)
def close_command(tracking: Tracking, comment: str, delete_branch: bool) -> int:
    """Close the rollout's open pull requests, with a comment. Only the bot's: a pull request
    without codemods' marker in its body is left to the person who owns it. The marker then
    records that codemods closed it: the next rollout reports `closed-by-codemods` (not a person's
    `closed-by-human`) and leaves it closed until `batch --reopen`.

    --delete-branch deletes the branch only when it holds nothing but codemods' commits, and
    only if it is still the commit checked; a branch with a person's commit is kept, saying so."""
    if delete_branch and tracking.forks:
        raise click.UsageError("--delete-branch with --fork: the branch is on the fork; its owner deletes it")
    setup = _setup(tracking)
    router = setup.router

    def close(tracked: Tracked, spec: RepoSpec) -> None:
        client, project = router.for_url(spec.url)
        calls_before = _calls(client)
        open_prs = [p for p in client.pulls(project, setup.head(spec)) if p.state == "open"]
        if not open_prs:
            tracked.action = "no open pull request"
        left_open = False
        for pr in open_prs:
            tracked.pr_url, tracked.number, tracked.state = pr.url, pr.number, "open"
            marker, _text = read_marker(pr.body)
            if not marker:
                tracked.action, left_open = "left open: not made by codemods", True
                continue
            client.comment(project, pr, comment)
            client.close(project, pr, mark_closed(pr.body))  # says who closed it, for the next run
            tracked.state, tracked.action = "closed", "closed with a comment"
        tracked.api_calls = _calls(client) - calls_before
        # Not under a pull request a person still has open: deleting the branch would close it.
        if delete_branch and tracked.state == "closed" and not left_open:
            _delete_branch(tracked, spec, router, tracking.branch)

    results = _each(setup, tracking.jobs, close)
    _output(results, "close", ("state", "note"), tracking, setup)
    return ExitCode.SOME_FAILED if any(r.error for r in results) else ExitCode.OK


def _delete_branch(tracked: Tracked, spec: RepoSpec, router: ForgeRouter, branch: str) -> None:
    """Through git, not the forge's API: only a push can delete with a lease on a commit."""
    userinfo = spec.userinfo or router.git_userinfo(spec.url)  # only on a host the user pointed at
    deletion = remote.delete_branch_if_ours(spec.url, branch, remote.git_env(spec.url, userinfo))
    tracked.head_sha, tracked.branch_deleted = deletion.sha, deletion.deleted
    tracked.action = f"{tracked.action}, " + (
        "branch deleted" if deletion.deleted else f"branch kept: {deletion.reason}"
    )


SUBCOMMANDS: dict[str, click.Command] = {"status": status_command, "merge": merge_command, "close": close_command}

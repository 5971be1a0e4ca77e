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

import json
import sys
from collections import Counter
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import click
from git.exc import GitCommandError
from rich import box
from rich.console import Console
from rich.table import Table

from codemods.batch.pulls import read_marker
from codemods.batch.repos import RepoSpec, parse_spec, read_repos_file
from codemods.batch.runner import DEFAULT_BRANCH, ForgeRouter, short_name
from codemods.exitcodes import ExitCode
from codemods.forge import KINDS, TOKEN_ENV, Forge, ForgeError, PullRequest, token_for
from codemods.secrets import redact
from codemods.vcs import remote

CLOSE_COMMENT = "Closed by codemods: this rollout is withdrawn. Re-running `codemods batch --open-pr` opens it again."


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


def _common(command: Callable[..., int]) -> Callable[..., int]:
    """The options every tracking subcommand shares: which repositories, which forge, output."""
    for decorator in reversed(
        [
            click.argument("repos", nargs=-1),
            click.option(
                "--repos-file",
                type=click.Path(exists=True, dir_okay=False, path_type=Path),
                help="One repository per line.",
            ),
            click.option("--branch", default=DEFAULT_BRANCH, show_default=True, help="The rollout's branch."),
            click.option("--forge", type=click.Choice(list(KINDS)), help="Forge of hosts nothing else names."),
            click.option("--api-url", help="API base URL of the --forge forge."),
            click.option("--forge-host", "forge_hosts", multiple=True, metavar="HOST=KIND", help="Self-hosted forge."),
            click.option("--jobs", "-j", type=click.IntRange(min=1), default=4, show_default=True),
            click.option("--json", "as_json", is_flag=True, help="Print the JSON report on stdout."),
            click.option("--report", type=click.Path(dir_okay=False, path_type=Path), help="Write the JSON report."),
        ]
    ):
        command = decorator(command)
    return command


def _setup(
    repos: tuple[str, ...],
    repos_file: Path | None,
    forge: str | None,
    api_url: str | None,
    forge_hosts: tuple[str, ...],
) -> tuple[list[RepoSpec], ForgeRouter, tuple[str, ...]]:
    from codemods.batch.command import parse_forge_hosts

    all_repos = list(repos) + (read_repos_file(repos_file) if repos_file else [])
    if not all_repos:
        raise click.UsageError("no repositories: give REPO arguments or --repos-file")
    try:
        specs = [parse_spec(r) for r in all_repos]
    except ValueError as err:
        raise click.BadParameter(str(err), param_hint="REPO") from None
    tokens = {kind: token_for(kind) for kind in KINDS}
    router = ForgeRouter(forge or "github", api_url, parse_forge_hosts(forge_hosts), tokens)
    missing = sorted({TOKEN_ENV[k] for k in (router.kind(s.url) for s in specs) if not tokens[k]})
    if missing:
        raise click.UsageError(f"needs a token in {' and '.join(missing)}")
    return specs, router, tuple(t for t in tokens.values() if t)


def _each(
    specs: Sequence[RepoSpec],
    router: ForgeRouter,
    secrets: tuple[str, ...],
    jobs: int,
    work: Callable[[Tracked, RepoSpec], None],
) -> list[Tracked]:
    def one(spec: RepoSpec) -> Tracked:
        tracked = Tracked(spec.shown, short_name(spec.url), forge=router.kind(spec.url))
        try:
            work(tracked, spec)
        except ForgeError as err:
            tracked.error = redact(f"forge: {err}", (*secrets, spec.userinfo or ""))
        except GitCommandError as err:  # close --delete-branch talks to git
            detail = " ".join(str(err.stderr or err).split())
            tracked.error = redact(f"git {err.command[1] if len(err.command) > 1 else ''}: {detail}", secrets)
        return tracked

    with ThreadPoolExecutor(max_workers=jobs, thread_name_prefix="codemods") as pool:
        return list(pool.map(one, specs))


def _read_status(tracked: Tracked, spec: RepoSpec, router: ForgeRouter, branch: str, with_review: bool) -> None:
    forge, project = router.for_url(spec.url)
    status, calls = forge.status(project, branch, with_review=with_review)
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


def _output(
    results: list[Tracked], title: str, columns: Sequence[str], as_json: bool, report: Path | None, branch: str
) -> None:
    counts = dict(Counter(r.state for r in results))
    data = {
        "version": 1,
        "command": title,
        "branch": branch,
        "counts": counts,
        "api_calls": sum(r.api_calls for r in results),
        "api_calls_per_repo": max((r.api_calls for r in results), default=0),
        "repos": [r.as_report() for r in results],
    }
    text = json.dumps(data, indent=2) + "\n"
    if report is not None:
        report.write_text(text, encoding="utf-8")
    if as_json:
        sys.stdout.write(text)
    console = Console(stderr=True)
    table = Table(title=f"codemods batch {title}", title_justify="left", box=box.SIMPLE, pad_edge=False)
    table.add_column("repo", no_wrap=True, max_width=24)
    table.add_column("PR", no_wrap=True)
    for column in columns:
        table.add_column(column, no_wrap=column != "note")
    for r in results:
        values = {
            "state": r.state,
            "checks": r.checks,
            "merge": r.mergeable,
            "review": r.review,
            "calls": str(r.api_calls),
            "note": r.error or r.action or "",
        }
        name = r.name if len(r.name) <= 24 else "…" + r.name[-23:]
        table.add_row(name, f"#{r.number}" if r.number else "", *(values[c] for c in columns))
    console.print(table)
    summary = ", ".join(f"{n} {state}" for state, n in sorted(counts.items()))
    console.print(f"{summary}; {data['api_calls']} API calls ({data['api_calls_per_repo']} per repository at most)")


@click.command("status")
@_common
def status_command(
    repos: tuple[str, ...],
    repos_file: Path | None,
    branch: str,
    forge: str | None,
    api_url: str | None,
    forge_hosts: tuple[str, ...],
    jobs: int,
    as_json: bool,
    report: Path | None,
) -> int:
    """Where each repository's pull request stands: state (open, draft, merged, closed), CI,
    mergeability and review. Reads the forge only, at most 2 API calls per repository.

    Exit 1 while any pull request fails its checks (or a repository could not be read)."""
    specs, router, secrets = _setup(repos, repos_file, forge, api_url, forge_hosts)
    results = _each(specs, router, secrets, jobs, lambda t, s: _read_status(t, s, router, branch, False))
    _output(results, "status", ("state", "checks", "merge", "review", "calls", "note"), as_json, report, branch)
    failing = any(r.checks == "failure" and r.state in ("open", "draft") for r in results)
    return ExitCode.SOME_FAILED if failing or any(r.error for r in results) else ExitCode.OK


@click.command("merge")
@_common
@click.option(
    "--method", type=click.Choice(["merge", "squash", "rebase"]), default="merge", show_default=True, help="How."
)
def merge_command(
    repos: tuple[str, ...],
    repos_file: Path | None,
    branch: str,
    forge: str | None,
    api_url: str | None,
    forge_hosts: tuple[str, ...],
    jobs: int,
    as_json: bool,
    report: Path | None,
    method: str,
) -> int:
    """Merge the rollout's pull requests that are approved and green; skip the others, saying why.

    The merge names the head commit that was checked: one pushed since is not merged (the
    forge refuses, and the repository is skipped, saying so).

    Exit 1 when a merge the forge was asked for failed."""
    specs, router, secrets = _setup(repos, repos_file, forge, api_url, forge_hosts)

    def merge(tracked: Tracked, spec: RepoSpec) -> None:
        client, project = router.for_url(spec.url)
        before = _calls(client)
        try:
            _read_status(tracked, spec, router, branch, True)
            reasons = _merge_blockers(tracked)
            if reasons:
                tracked.action = "skipped: " + ", ".join(reasons)
                return
            _merge_checked_head(tracked, client, project, branch, method)
        finally:  # every call, the merge's and a re-read's included
            tracked.api_calls = _calls(client) - before

    results = _each(specs, router, secrets, jobs, merge)
    _output(results, "merge", ("state", "checks", "review", "note"), as_json, report, branch)
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
def close_command(
    repos: tuple[str, ...],
    repos_file: Path | None,
    branch: str,
    forge: str | None,
    api_url: str | None,
    forge_hosts: tuple[str, ...],
    jobs: int,
    as_json: bool,
    report: Path | None,
    comment: str,
    delete_branch: bool,
) -> int:
    """Close the rollout's open pull requests, with a comment. Only the bot's: a pull request
    without codemods' marker in its body is left to the person who owns it.

    --delete-branch deletes the branch only when it holds nothing but codemods' commits, and
    only if it is still the commit checked; a branch with a person's commit is kept, saying so."""
    specs, router, secrets = _setup(repos, repos_file, forge, api_url, forge_hosts)

    def close(tracked: Tracked, spec: RepoSpec) -> None:
        client, project = router.for_url(spec.url)
        calls_before = _calls(client)
        open_prs = [p for p in client.pulls(project, branch) if p.state == "open"]
        if not open_prs:
            tracked.action = "no open pull request"
        left_open = False
        for pr in open_prs:
            tracked.pr_url, tracked.number, tracked.state = pr.url, pr.number, "open"
            fields, _text = read_marker(pr.body)
            if not fields:
                tracked.action, left_open = "left open: not made by codemods", True
                continue
            client.comment(project, pr, comment)
            client.close(project, pr)
            tracked.state, tracked.action = "closed", "closed with a comment"
        tracked.api_calls = _calls(client) - calls_before
        # Not under a pull request a person still has open: deleting the branch would close it.
        if delete_branch and tracked.state == "closed" and not left_open:
            _delete_branch(tracked, spec, router, branch)

    results = _each(specs, router, secrets, jobs, close)
    _output(results, "close", ("state", "note"), as_json, report, branch)
    return ExitCode.SOME_FAILED if any(r.error for r in results) else ExitCode.OK


def _delete_branch(tracked: Tracked, spec: RepoSpec, router: ForgeRouter, branch: str) -> None:
    """Through git, not the forge's API: only a push can delete with a lease on a commit."""
    kind = router.kind(spec.url)
    userinfo = spec.userinfo or remote.token_userinfo(
        spec.url,
        router.tokens.get("github"),
        router.tokens.get("gitlab"),
        kind=kind,
        gitea_token=router.tokens.get("gitea"),
    )
    deletion = remote.delete_branch_if_ours(spec.url, branch, remote.git_env(spec.url, userinfo))
    tracked.head_sha, tracked.branch_deleted = deletion.sha, deletion.deleted
    tracked.action = f"{tracked.action}, " + (
        "branch deleted" if deletion.deleted else f"branch kept: {deletion.reason}"
    )


SUBCOMMANDS: dict[str, click.Command] = {"status": status_command, "merge": merge_command, "close": close_command}

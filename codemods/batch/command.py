"""`codemods batch`: the command line of the multi-repository runner."""

from __future__ import annotations

import os
import sys
import tempfile
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import click
from rich.console import Console

from codemods import subproc
from codemods.batch.events import EventLog
from codemods.batch.options import (
    Selection,
    check_apis,
    make_router,
    output_options,
    parse_forge_hosts,
    parse_specs,
    repositories,
    require_tokens,
    selection_options,
)
from codemods.batch.output import counts, print_table, summary_line, write_report
from codemods.batch.repos import RepoSpec, in_shard, parse_shard
from codemods.batch.runner import (
    DEFAULT_BRANCH,
    BatchOptions,
    ForgeRouter,
    RepoResult,
    WorkdirBusy,
    run_batch,
    short_name,
)
from codemods.batch.track import SUBCOMMANDS
from codemods.cli_options import RECIPE_HELP, complete_recipes, verify_options
from codemods.errors import InputError
from codemods.exitcodes import ExitCode
from codemods.forge import TOKEN_ENV, host_of
from codemods.mods import Codemod
from codemods.recipes import Recipe
from codemods.recipes import load as load_recipe
from codemods.runner import UnknownCodemod, select
from codemods.verify.run import make_gate

__all__ = ["batch_command", "output_options", "parse_forge_hosts", "token_destinations"]


def _default_workdir() -> Path:
    return Path(tempfile.gettempdir()) / "codemods-batch"


class BatchCommand(click.Command):
    """`codemods batch REPO... [flags]` as always, and `codemods batch status|merge|close ...`.

    A click group cannot take REPO arguments beside subcommands, so the first argument
    decides: a subcommand's name runs it, anything else is the rollout itself."""

    def make_context(
        self, info_name: str | None, args: list[str], parent: click.Context | None = None, **extra: Any
    ) -> click.Context:
        if args and args[0] in SUBCOMMANDS:
            sub = SUBCOMMANDS[args[0]]
            return sub.make_context(f"{info_name} {args[0]}", args[1:], parent=parent, **extra)
        return super().make_context(info_name, args, parent=parent, **extra)


@click.command("batch", cls=BatchCommand)
@click.argument("repos", nargs=-1)
@selection_options
@click.option(
    "--workdir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Where clones live between runs (fetched when present).",
)
@click.option(
    "--jobs", "-j", type=click.IntRange(min=1), default=1, show_default=True, help="Repositories processed in parallel."
)
@click.option(
    "--branch",
    help=f"Branch that holds the change in each repository [default: the recipe's, {DEFAULT_BRANCH} for litellm-migration].",
)
@click.option(
    "--base-branch",
    metavar="NAME",
    help="Plan on this branch and open the pull request against it [default: each repository's default branch].",
)
@click.option("--recipe", metavar="NAME|FILE", shell_complete=complete_recipes, help=RECIPE_HELP)
@click.option(
    "--dry-run",
    is_flag=True,
    help="Clone and print each repository's diff, labelled by repo; push nothing, create no branch.",
)
@click.option("--push", is_flag=True, help="Push the branch to origin (force only over a branch codemods made).")
@click.option("--open-pr", is_flag=True, help="Open the pull request, or update the open one (implies --push).")
@click.option(
    "--fork",
    is_flag=True,
    help="Push the branch to a fork (made through the forge's API when missing) and open the pull request from "
    "it: for a token that may not push to the repositories (GitHub, Gitea).",
)
@click.option(
    "--fork-owner",
    metavar="OWNER",
    help="With --fork: the user or organisation that owns the forks [default: the token's user]. Implies --fork.",
)
@click.option("--reopen", is_flag=True, help="Open a pull request again for a change a person closed.")
@click.option(
    "--close-stale",
    is_flag=True,
    help="When a repository no longer needs the change, close the bot's pull request and delete its branch.",
)
@click.option(
    "--pr-title-template",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="A Jinja2 template for the pull request title (the commit template's variables).",
)
@click.option(
    "--pr-body-template",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="A Jinja2 template for the pull request body (the commit template's variables).",
)
@click.option("--draft", is_flag=True, help="Open pull requests as drafts.")
@click.option("--label", "labels", multiple=True, metavar="L", help="Label for the pull request (repeatable).")
@click.option("--reviewer", "reviewers", multiple=True, metavar="R", help="Reviewer to request (repeatable).")
@click.option(
    "--team-reviewer",
    "team_reviewers",
    multiple=True,
    metavar="[ORG/]TEAM",
    help="Team to request a review from, on GitHub and Gitea (repeatable).",
)
@click.option(
    "--assignee", "assignees", multiple=True, metavar="USER", help="User to assign the pull request to (repeatable)."
)
@click.option(
    "--report", type=click.Path(dir_okay=False, path_type=Path), help="Write a JSON report of every repository."
)
@output_options
@click.option(
    "--shard", metavar="I/N", help="Process only the stable I-th of N slices of the repository list (1 <= I <= N)."
)
@click.option("--only", multiple=True, metavar="NAME", help="Run only this codemod (repeatable).")
@click.option("--skip", multiple=True, metavar="NAME", help="Do not run this codemod (repeatable).")
@click.option(
    "--message-template",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="A Jinja2 template for the commit message.",
)
@verify_options
def batch_command(
    repos: tuple[str, ...],
    selection: Selection,
    workdir: Path | None,
    jobs: int,
    branch: str | None,
    base_branch: str | None,
    recipe: str | None,
    dry_run: bool,
    push: bool,
    open_pr: bool,
    fork: bool,
    fork_owner: str | None,
    draft: bool,
    labels: tuple[str, ...],
    reviewers: tuple[str, ...],
    team_reviewers: tuple[str, ...],
    assignees: tuple[str, ...],
    report: Path | None,
    log_format: str,
    fmt: str,
    shard: str | None,
    only: tuple[str, ...],
    skip: tuple[str, ...],
    message_template: Path | None,
    reopen: bool,
    close_stale: bool,
    pr_title_template: Path | None,
    pr_body_template: Path | None,
    verify: bool | None,
    kustomize: str | None,
    jinja_vars: Path | None,
) -> int:
    """Run the codemods on many repositories: one branch and one pull request each.

    A REPO is a git URL (https, ssh, file://) or a local path; discovery options add every
    repository of an organisation, user or group. Each repository is planned on its default
    branch (the remote HEAD), or on --base-branch. Statuses: changed (new branch), updated
    (rebuilt), up-to-date (nothing pushed), unchanged (nothing to fix), closed-by-human (a person
    closed this change's pull request: left alone), closed-by-codemods (`batch close` withdrew
    it: left closed until --reopen), closed-stale (--close-stale closed the bot's pull request),
    blocked-by-human (a person pushed to the branch: left alone, the note says what to do), failed,
    not-started (the run stopped at a rate limit that outlasts --max-wait: a rerun finishes it).

    \b
    Also: `codemods batch status|merge|close REPO...` track the pull requests (see --help of each).
    Exit codes: 0 every repository done (blocked-by-human and closed-by-* are not failures), 1 some
    failed or not started, 2 bad arguments or a token the forge rejects (checked once, before any
    clone). Tokens come from GITHUB_TOKEN, GITLAB_TOKEN or GITEA_TOKEN and never appear in any
    output; they go over https only (plain http to a loopback host, or with --insecure-http), and
    git gets one only on the forge's public host or a host named by --forge-host, --api-url or a
    discovery URL.
    """
    console = Console(stderr=True)
    events = EventLog(log_format, lines=not console.is_terminal)
    router = make_router(selection, notify=events.notice)
    checked: set[tuple[str, str]] = set()  # the APIs whose URL and token were checked
    listed, found, sources = repositories(selection, repos, router, checked)
    if not listed and not sources:
        raise click.UsageError("no repositories: give REPO arguments, --repos-file or a discovery option")
    chosen_recipe, mods = _recipe_and_mods(recipe, only, skip)
    branch = branch or chosen_recipe.branch
    specs = parse_specs(_sharded(listed, shard))
    _check_branch_names(branch, base_branch)
    try:  # build gate (issue 12): every repository is verified; a refused one is `failed`
        # Builds are cached in the workdir: a rerun on an unchanged base reuses them.
        cache = (workdir or _default_workdir()) / ".codemods-builds.sqlite"
        gate = make_gate(verify, kustomize, jinja_vars, cache)
    except InputError as err:
        raise click.UsageError(str(err)) from None
    fork = fork or fork_owner is not None
    uses_forge = open_pr or close_stale or fork
    if open_pr and not dry_run:
        push = True
    if uses_forge:
        flag = "--open-pr" if open_pr else "--close-stale" if close_stale else "--fork"
        require_tokens(router, specs, flag)
        _refuse_unsupported(router, specs, fork, team_reviewers)
        check_apis(router, [router.api_of(s.url) for s in specs], checked)
    if dry_run:
        _say(console, events, "tokens", f"tokens go to: {token_destinations(router, specs, checked)}")
    options = BatchOptions(
        # Absolute: git runs in other directories, and errors are tidied by this very path.
        workdir=Path(os.path.abspath(workdir or _default_workdir())),
        branch=branch,
        mods=mods,
        dry_run=dry_run,
        push=push and not dry_run,
        forges=router if uses_forge else None,
        open_pr=open_pr,
        draft=draft,
        labels=labels,
        reviewers=reviewers,
        team_reviewers=team_reviewers,
        assignees=assignees,
        base_branch=base_branch,
        fork=fork,
        fork_owner=fork_owner,
        message_template=message_template,
        pr_title_template=pr_title_template,
        pr_body_template=pr_body_template,
        secrets=tuple(t for t in router.tokens.values() if t),
        recipe=chosen_recipe,
        github_token=router.tokens["github"],
        gitlab_token=router.tokens["gitlab"],
        gitea_token=router.tokens["gitea"],
        reopen=reopen,
        close_stale=close_stale,
        gate=gate,
        credentials=router.git_userinfo,
    )
    try:
        results = _run_with_progress(console, events, specs, options, jobs)
    except WorkdirBusy as err:
        raise click.UsageError(str(err)) from None
    if dry_run:
        for result in results:
            if result.diff:
                sys.stdout.write(f"# codemods: {result.repo}\n{result.diff}")
    reasons = {item.repo.clone_url: item.as_report() for item in found}
    for result in results:
        result.discovery = reasons.get(result.repo)
    if not (events.json and fmt == "table"):  # stderr holds JSON events only
        print_table(console, results, fmt)
    if events.json:
        events.summary(counts(results))
    else:
        console.print(summary_line(results), highlight=False)
    if report is not None:
        write_report(report, results, branch, dry_run, [item.as_report() for item in found] if sources else None)
    # A repository not started is a rollout not finished: the run is not a success.
    return ExitCode.SOME_FAILED if any(r.status in ("failed", "not-started") for r in results) else ExitCode.OK


def _say(console: Console, events: EventLog, event: str, message: str) -> None:
    """A line for people on stderr, or an event when stderr is JSON events."""
    if events.json:
        events.emit(event, message=message)
    else:
        console.print(message, highlight=False, markup=False, soft_wrap=True)


def _recipe_and_mods(recipe: str | None, only: tuple[str, ...], skip: tuple[str, ...]) -> tuple[Recipe, list[Codemod]]:
    try:
        chosen = load_recipe(recipe)
    except InputError as err:
        raise click.BadParameter(str(err), param_hint="--recipe") from None
    try:
        return chosen, list(select(only, skip, (), chosen))
    except UnknownCodemod as err:
        raise click.BadParameter(str(err), param_hint="--only/--skip") from None


def _sharded(listed: list[str], shard: str | None) -> list[str]:
    if not shard:
        return listed
    try:
        index, total = parse_shard(shard)
    except ValueError as err:
        raise click.BadParameter(str(err), param_hint="--shard") from None
    return [r for r in listed if in_shard(r, index, total)]


def _check_branch_names(branch: str, base_branch: str | None) -> None:
    for name, hint in ((branch, "--branch"), (base_branch, "--base-branch")):
        if (
            name is not None
            and subproc.run(["git", "check-ref-format", "--branch", name], subproc.Limits.git()).returncode
        ):
            raise click.BadParameter(f"{name!r} is not a valid branch name", param_hint=hint)
    if base_branch is not None and base_branch == branch:
        raise click.BadParameter("the pull request's branch cannot be its own base", param_hint="--base-branch")


def _refuse_unsupported(
    router: ForgeRouter, specs: Sequence[RepoSpec], fork: bool, team_reviewers: tuple[str, ...]
) -> None:
    """What a forge cannot do is a usage error before any clone, not a failure per repository."""
    kinds = {router.kind(s.url) for s in specs}
    if team_reviewers and "gitlab" in kinds:
        raise click.UsageError(
            "--team-reviewer: GitLab has no team reviewers (a group's approval is an approval rule of the project); "
            "name the people with --reviewer"
        )
    if fork and "gitlab" in kinds:
        raise click.UsageError(
            "--fork: not supported on GitLab yet (a merge request from a fork is opened on the fork's project, "
            "with the target project's id); give the token Developer access and push to a branch instead"
        )


def token_destinations(router: ForgeRouter, specs: Sequence[RepoSpec], apis: set[tuple[str, str]]) -> str:
    """Where each token will be sent, for --dry-run: the forge APIs, and the hosts of git
    remotes that the token authenticates (ForgeRouter.git_userinfo decides, as in the run)."""
    where: dict[str, list[str]] = {}
    for kind, api in sorted(apis):
        where.setdefault(TOKEN_ENV[kind], []).append(f"{urlsplit(api).netloc} (API {api})")
    for spec in specs:
        if spec.userinfo is None and router.git_userinfo(spec.url):
            entry = f"{host_of(spec.url)} (git)"
            hosts = where.setdefault(TOKEN_ENV[router.kind(spec.url)], [])
            if entry not in hosts:
                hosts.append(entry)
    if not where:
        return "nowhere: no token is sent"
    return "; ".join(f"{env} to {', '.join(hosts)}" for env, hosts in sorted(where.items()))


def _run_with_progress(
    console: Console, events: EventLog, specs: list[RepoSpec], options: BatchOptions, jobs: int
) -> list[RepoResult]:
    events.total = len(specs)

    def started(spec: RepoSpec) -> None:
        events.started(spec.shown, _name(spec))

    def finished(result: RepoResult) -> None:
        events.finished(
            result.repo,
            result.name,
            result.status,
            error=result.error,
            note=result.note,
            pr_url=result.pr_url,
            commit=result.commit,
        )

    if events.json or not console.is_terminal:  # a CI log gets a line (or an event) per repository
        return run_batch(specs, options, jobs, finished, started)
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    with Progress(
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=True,
    ) as progress:
        task = progress.add_task("repositories", total=len(specs))
        lock = threading.Lock()

        def advance(_result: RepoResult) -> None:
            with lock:
                progress.advance(task)

        return run_batch(specs, options, jobs, advance)


def _name(spec: RepoSpec) -> str:
    return short_name(spec.url)

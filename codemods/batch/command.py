"""`codemods batch`: the command line of the multi-repository runner."""

from __future__ import annotations

import os
import sys
import tempfile
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import click
from rich.console import Console

from codemods import subproc
from codemods.batch.discover import Found
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
from codemods.verify.run import Gate, make_gate

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
def batch_command(**flags: Any) -> int:
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
    return rollout(BatchFlags(**flags))


@dataclass(frozen=True)
class BatchFlags:
    """`codemods batch`'s flags as click parsed them, one field per option. Click passes each as
    a keyword, so an option without a field (or a field without an option) is a TypeError on the
    command's first use, not a silent default."""

    repos: tuple[str, ...]
    selection: Selection
    workdir: Path | None
    jobs: int
    branch: str | None
    base_branch: str | None
    recipe: str | None
    dry_run: bool
    push: bool
    open_pr: bool
    fork: bool
    fork_owner: str | None
    draft: bool
    labels: tuple[str, ...]
    reviewers: tuple[str, ...]
    team_reviewers: tuple[str, ...]
    assignees: tuple[str, ...]
    report: Path | None
    log_format: str
    fmt: str
    shard: str | None
    only: tuple[str, ...]
    skip: tuple[str, ...]
    message_template: Path | None
    reopen: bool
    close_stale: bool
    pr_title_template: Path | None
    pr_body_template: Path | None
    verify: bool | None
    kustomize: str | None
    jinja_vars: Path | None

    @property
    def forks(self) -> bool:
        return self.fork or self.fork_owner is not None  # --fork-owner implies --fork

    @property
    def uses_forge(self) -> bool:
        return self.open_pr or self.close_stale or self.forks

    @property
    def pushes(self) -> bool:
        return (self.push or self.open_pr) and not self.dry_run  # --open-pr implies --push

    @property
    def forge_flag(self) -> str:
        """The flag that makes the run call a forge, for a message about its tokens."""
        return "--open-pr" if self.open_pr else "--close-stale" if self.close_stale else "--fork"


def rollout(flags: BatchFlags) -> int:
    """The rollout, step by step: which repositories and codemods, the checks made before any
    clone (branch names, the gate, the forges and their tokens), the run, its results."""
    console = Console(stderr=True)
    events = EventLog(flags.log_format, lines=not console.is_terminal)
    router = make_router(flags.selection, notify=events.notice)
    checked: set[tuple[str, str]] = set()  # the APIs whose URL and token were checked
    listed, found, sources = repositories(flags.selection, flags.repos, router, checked)
    if not listed and not sources:
        raise click.UsageError("no repositories: give REPO arguments, --repos-file or a discovery option")
    chosen_recipe, mods = _recipe_and_mods(flags.recipe, flags.only, flags.skip)
    branch = flags.branch or chosen_recipe.branch
    specs = parse_specs(_sharded(listed, flags.shard))
    _check_branch_names(branch, flags.base_branch)
    gate = _gate(flags)
    if flags.uses_forge:
        require_tokens(router, specs, flags.forge_flag)
        _refuse_unsupported(router, specs, flags.forks, flags.team_reviewers)
        check_apis(router, [router.api_of(s.url) for s in specs], checked)
    if flags.dry_run:
        _say(console, events, "tokens", f"tokens go to: {token_destinations(router, specs, checked)}")
    options = _batch_options(flags, branch, chosen_recipe, mods, router, gate)
    try:
        results = _run_with_progress(console, events, specs, options, flags.jobs)
    except WorkdirBusy as err:
        raise click.UsageError(str(err)) from None
    _show_results(flags, console, events, results, branch, found if sources else None)
    # A repository not started is a rollout not finished: the run is not a success.
    return ExitCode.SOME_FAILED if any(r.status in ("failed", "not-started") for r in results) else ExitCode.OK


def _gate(flags: BatchFlags) -> Gate | None:
    """The build gate (issue 12): every repository is verified; a refused one is `failed`.
    Builds are cached in the workdir: a rerun on an unchanged base reuses them."""
    cache = (flags.workdir or _default_workdir()) / ".codemods-builds.sqlite"
    try:
        return make_gate(flags.verify, flags.kustomize, flags.jinja_vars, cache)
    except InputError as err:
        raise click.UsageError(str(err)) from None


def _batch_options(
    flags: BatchFlags, branch: str, recipe: Recipe, mods: list[Codemod], router: ForgeRouter, gate: Gate | None
) -> BatchOptions:
    return BatchOptions(
        # Absolute: git runs in other directories, and errors are tidied by this very path.
        workdir=Path(os.path.abspath(flags.workdir or _default_workdir())),
        branch=branch,
        mods=mods,
        dry_run=flags.dry_run,
        push=flags.pushes,
        forges=router if flags.uses_forge else None,
        open_pr=flags.open_pr,
        draft=flags.draft,
        labels=flags.labels,
        reviewers=flags.reviewers,
        team_reviewers=flags.team_reviewers,
        assignees=flags.assignees,
        base_branch=flags.base_branch,
        fork=flags.forks,
        fork_owner=flags.fork_owner,
        message_template=flags.message_template,
        pr_title_template=flags.pr_title_template,
        pr_body_template=flags.pr_body_template,
        secrets=tuple(t for t in router.tokens.values() if t),
        recipe=recipe,
        github_token=router.tokens["github"],
        gitlab_token=router.tokens["gitlab"],
        gitea_token=router.tokens["gitea"],
        reopen=flags.reopen,
        close_stale=flags.close_stale,
        gate=gate,
        credentials=router.git_userinfo,
    )


def _show_results(
    flags: BatchFlags,
    console: Console,
    events: EventLog,
    results: list[RepoResult],
    branch: str,
    found: list[Found] | None,
) -> None:
    """The diffs of a dry run, the table (or events), the summary and the JSON report; found:
    what discovery found, when discovery options were given (None otherwise)."""
    if flags.dry_run:
        for result in results:
            if result.diff:
                sys.stdout.write(f"# codemods: {result.repo}\n{result.diff}")
    reasons = {item.repo.clone_url: item.as_report() for item in found or []}
    for result in results:
        result.discovery = reasons.get(result.repo)
    if not (events.json and flags.fmt == "table"):  # stderr holds JSON events only
        print_table(console, results, flags.fmt)
    if events.json:
        events.summary(counts(results))
    else:
        console.print(summary_line(results), highlight=False)
    if flags.report is not None:
        discovery = [item.as_report() for item in found] if found is not None else None
        write_report(flags.report, results, branch, flags.dry_run, discovery)


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
    # Start-up time, not a cycle: only a terminal gets the progress bar (rich.progress, ~30 ms).
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

"""`codemods batch`: the command line of the multi-repository runner."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import threading
from pathlib import Path
from typing import Any

import click
from rich.console import Console

from codemods.batch.discover import Found, discover, parse_sources
from codemods.batch.output import print_table, write_report
from codemods.batch.repos import in_shard, parse_shard, parse_spec, read_repos_file
from codemods.batch.runner import DEFAULT_BRANCH, BatchOptions, ForgeRouter, RepoResult, WorkdirBusy, run_batch
from codemods.batch.track import SUBCOMMANDS
from codemods.cli import RECIPE_HELP, complete_recipes, verify_options
from codemods.errors import InputError
from codemods.exitcodes import ExitCode
from codemods.forge import KINDS, TOKEN_ENV, ForgeError, host_of, token_for
from codemods.recipes import load as load_recipe
from codemods.runner import UnknownCodemod, select
from codemods.secrets import redact
from codemods.verify.run import make_gate


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
@click.option(
    "--repos-file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="One repository per line; '#' comments and blank lines are ignored.",
)
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
@click.option("--recipe", metavar="NAME|FILE", shell_complete=complete_recipes, help=RECIPE_HELP)
@click.option(
    "--dry-run",
    is_flag=True,
    help="Clone and print each repository's diff, labelled by repo; push nothing, create no branch.",
)
@click.option("--push", is_flag=True, help="Push the branch to origin (force only over a branch codemods made).")
@click.option("--open-pr", is_flag=True, help="Open the pull request, or update the open one (implies --push).")
@click.option(
    "--forge",
    type=click.Choice(list(KINDS)),
    help="Forge of hosts that nothing else names (default github); --forge-host and host names decide the rest.",
)
@click.option("--api-url", help="API base URL of the --forge forge (GitHub Enterprise, self-hosted GitLab or Gitea).")
@click.option(
    "--forge-host",
    "forge_hosts",
    multiple=True,
    metavar="HOST=KIND",
    help="The forge of a self-hosted host: github, gitlab or gitea (repeatable).",
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
@click.option("--github-org", multiple=True, metavar="ORG|URL", help="Every repository of a GitHub organisation.")
@click.option("--github-user", multiple=True, metavar="USER|URL", help="Every repository of a GitHub user.")
@click.option(
    "--gitlab-group", multiple=True, metavar="GROUP|URL", help="Every project of a GitLab group, subgroups included."
)
@click.option("--gitea-org", multiple=True, metavar="ORG|URL", help="Every repository of a Gitea/Forgejo organisation.")
@click.option("--topic", "topics", multiple=True, metavar="T", help="Discovered repositories must have this topic.")
@click.option(
    "--code-search", metavar="QUERY", help="Discovered repositories must mention QUERY (the forge's code search)."
)
@click.option("--include-archived", is_flag=True, help="Discovery keeps archived repositories.")
@click.option("--include-forks", is_flag=True, help="Discovery keeps forks.")
@click.option("--draft", is_flag=True, help="Open pull requests as drafts.")
@click.option("--label", "labels", multiple=True, metavar="L", help="Label for the pull request (repeatable).")
@click.option("--reviewer", "reviewers", multiple=True, metavar="R", help="Reviewer to request (repeatable).")
@click.option(
    "--report", type=click.Path(dir_okay=False, path_type=Path), help="Write a JSON report of every repository."
)
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
    repos_file: Path | None,
    workdir: Path | None,
    jobs: int,
    branch: str | None,
    recipe: str | None,
    dry_run: bool,
    push: bool,
    open_pr: bool,
    forge: str | None,
    api_url: str | None,
    draft: bool,
    labels: tuple[str, ...],
    reviewers: tuple[str, ...],
    report: Path | None,
    shard: str | None,
    only: tuple[str, ...],
    skip: tuple[str, ...],
    message_template: Path | None,
    forge_hosts: tuple[str, ...],
    reopen: bool,
    close_stale: bool,
    pr_title_template: Path | None,
    pr_body_template: Path | None,
    github_org: tuple[str, ...],
    github_user: tuple[str, ...],
    gitlab_group: tuple[str, ...],
    gitea_org: tuple[str, ...],
    topics: tuple[str, ...],
    code_search: str | None,
    include_archived: bool,
    include_forks: bool,
    verify: bool | None,
    kustomize: str | None,
    jinja_vars: Path | None,
) -> int:
    """Run the codemods on many repositories: one branch and one pull request each.

    A REPO is a git URL (https, ssh, file://) or a local path; discovery options add every
    repository of an organisation, user or group. Each repository is planned on its default
    branch (the remote HEAD). Statuses: changed (new branch), updated (rebuilt), up-to-date
    (nothing pushed), unchanged (nothing to fix), closed-by-human (a person closed this change's
    pull request: left alone), closed-stale (--close-stale closed the bot's pull request),
    blocked-by-human (a person pushed to the branch: left alone, the note says what to do), failed.

    \b
    Also: `codemods batch status|merge|close REPO...` track the pull requests (see --help of each).
    Exit codes: 0 no repository failed (blocked-by-human is not a failure), 1 some failed, 2 bad arguments.
    Tokens come from GITHUB_TOKEN, GITLAB_TOKEN or GITEA_TOKEN and never appear in any output.
    """
    hosts = parse_forge_hosts(forge_hosts)
    default_kind = forge or "github"
    tokens = {kind: token_for(kind) for kind in KINDS}
    router = ForgeRouter(default_kind, api_url, hosts, tokens)
    sources = parse_sources(
        {("github", "org"): github_org, ("github", "user"): github_user},
        {("gitlab", "group"): gitlab_group, ("gitea", "org"): gitea_org},
    )
    found: list[Found] = []
    if sources:
        missing = sorted({TOKEN_ENV[s.kind] for s in sources if not tokens[s.kind]})
        if missing:
            raise click.UsageError(f"discovery needs a token in {', '.join(missing)}")
        try:
            found = discover(
                sources, tokens, topics, code_search, include_archived=include_archived, include_forks=include_forks
            )
        except ForgeError as err:
            raise click.UsageError(redact(f"discovery: {err}", tuple(t for t in tokens.values() if t))) from None
        for item in found:
            if item.included:
                router.hosts.setdefault(host_of(item.repo.clone_url), item.source.kind)
    elif topics or code_search or include_archived or include_forks:
        raise click.UsageError("--topic, --code-search, --include-archived and --include-forks filter discovery")
    all_repos = list(repos) + (read_repos_file(repos_file) if repos_file else [])
    all_repos += [item.repo.clone_url for item in found if item.included and item.repo.clone_url not in all_repos]
    if not all_repos and not sources:
        raise click.UsageError("no repositories: give REPO arguments, --repos-file or a discovery option")
    try:
        chosen_recipe = load_recipe(recipe)
    except InputError as err:
        raise click.BadParameter(str(err), param_hint="--recipe") from None
    branch = branch or chosen_recipe.branch
    try:
        mods = select(only, skip, (), chosen_recipe)
    except UnknownCodemod as err:
        raise click.BadParameter(str(err), param_hint="--only/--skip") from None
    if shard:
        try:
            index, total = parse_shard(shard)
        except ValueError as err:
            raise click.BadParameter(str(err), param_hint="--shard") from None
        all_repos = [r for r in all_repos if in_shard(r, index, total)]
    try:
        specs = [parse_spec(r) for r in all_repos]
    except ValueError as err:
        raise click.BadParameter(str(err), param_hint="REPO") from None
    if subprocess.run(["git", "check-ref-format", "--branch", branch], capture_output=True, check=False).returncode:
        raise click.BadParameter(f"{branch!r} is not a valid branch name", param_hint="--branch")
    try:  # build gate (issue 12): every repository is verified; a refused one is `failed`
        # Builds are cached in the workdir: a rerun on an unchanged base reuses them.
        cache = (workdir or _default_workdir()) / ".codemods-builds.sqlite"
        gate = make_gate(verify, kustomize, jinja_vars, mods, cache)
    except InputError as err:
        raise click.UsageError(str(err)) from None
    secrets = tuple(t for t in tokens.values() if t)
    uses_forge = open_pr or close_stale
    if open_pr and not dry_run:
        push = True
    if uses_forge:
        # Per repository host: a mixed fleet needs each of its forges' tokens, and only those.
        needed = sorted({router.kind(s.url) for s in specs})
        missing = [TOKEN_ENV[kind] for kind in needed if not tokens[kind]]
        if missing:
            flag = "--open-pr" if open_pr else "--close-stale"
            raise click.UsageError(f"{flag} needs a token in {' and '.join(missing)}")
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
        message_template=message_template,
        pr_title_template=pr_title_template,
        pr_body_template=pr_body_template,
        secrets=secrets,
        recipe=chosen_recipe,
        github_token=tokens["github"],
        gitlab_token=tokens["gitlab"],
        gitea_token=tokens["gitea"],
        reopen=reopen,
        close_stale=close_stale,
        gate=gate,
    )
    console = Console(stderr=True)
    try:
        results = _run_with_progress(console, specs, options, jobs)
    except WorkdirBusy as err:
        raise click.UsageError(str(err)) from None
    if dry_run:
        for result in results:
            if result.diff:
                sys.stdout.write(f"# codemods: {result.repo}\n{result.diff}")
    reasons = {item.repo.clone_url: item.as_report() for item in found}
    for result in results:
        result.discovery = reasons.get(result.repo)
    print_table(console, results)
    if report is not None:
        write_report(report, results, branch, dry_run, [item.as_report() for item in found] if sources else None)
    return ExitCode.SOME_FAILED if any(r.status == "failed" for r in results) else ExitCode.OK


def parse_forge_hosts(values: tuple[str, ...]) -> dict[str, str]:
    hosts = {}
    for value in values:
        host, _sep, kind = value.partition("=")
        if not host or kind not in KINDS:
            raise click.BadParameter(f"{value!r}: give HOST=github|gitlab|gitea", param_hint="--forge-host")
        hosts[host.strip().lower()] = kind
    return hosts


def _run_with_progress(console: Console, specs, options: BatchOptions, jobs: int) -> list[RepoResult]:
    lock = threading.Lock()
    done = [0]
    if not console.is_terminal:  # a CI log gets one line per repository instead of a bar

        def log_line(result: RepoResult) -> None:
            with lock:
                done[0] += 1
                console.print(f"[{done[0]}/{len(specs)}] {result.repo}: {result.status}", highlight=False)

        return run_batch(specs, options, jobs, log_line)
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

        def advance(_result: RepoResult) -> None:
            with lock:
                progress.advance(task)

        return run_batch(specs, options, jobs, advance)

"""`codemods batch`: the command line of the multi-repository runner."""

from __future__ import annotations

import subprocess
import sys
import tempfile
import threading
from pathlib import Path

import click
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from codemods.batch.output import print_table, write_report
from codemods.batch.repos import in_shard, parse_shard, parse_spec, read_repos_file
from codemods.batch.runner import DEFAULT_BRANCH, BatchOptions, RepoResult, WorkdirBusy, run_batch
from codemods.cli import RECIPE_HELP, complete_recipes, verify_options
from codemods.errors import InputError
from codemods.forge import DEFAULT_API, TOKEN_ENV, make_forge, token_for
from codemods.recipes import load as load_recipe
from codemods.runner import UnknownCodemod, select
from codemods.verify.run import make_gate

EXIT_OK, EXIT_SOME_FAILED = 0, 1  # 2, bad arguments, is click's own


def _default_workdir() -> Path:
    return Path(tempfile.gettempdir()) / "codemods-batch"


@click.command("batch")
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
    type=click.Choice(["github", "gitlab"]),
    help="Forge API for --open-pr (default: gitlab for gitlab hosts, else github).",
)
@click.option("--api-url", help="API base URL (GitHub Enterprise, self-hosted GitLab).")
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
    verify: bool | None,
    kustomize: str | None,
    jinja_vars: Path | None,
) -> int:
    """Run the codemods on many repositories: one branch and one pull request each.

    A REPO is a git URL (https, ssh, file://) or a local path. Each repository is planned on
    its default branch (the remote HEAD). Statuses: changed (new branch), updated (rebuilt),
    up-to-date (nothing pushed, no new PR), unchanged (nothing to fix), failed.

    \b
    Exit codes: 0 no repository failed, 1 some failed, 2 bad arguments.
    Tokens come from GITHUB_TOKEN or GITLAB_TOKEN and never appear in any output.
    """
    all_repos = list(repos) + (read_repos_file(repos_file) if repos_file else [])
    if not all_repos:
        raise click.UsageError("no repositories: give REPO arguments or --repos-file")
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
    tokens = tuple(t for t in (token_for("github"), token_for("gitlab")) if t)
    forge_client = None
    if open_pr and not dry_run:
        push = True
        kind = forge or ("gitlab" if any("gitlab" in s.url for s in specs) and not api_url else "github")
        token = token_for(kind)
        if token is None:
            raise click.UsageError(f"--open-pr needs a token in {TOKEN_ENV[kind]}")
        forge_client = make_forge(kind, api_url or DEFAULT_API[kind], token)
    options = BatchOptions(
        workdir=workdir or _default_workdir(),
        branch=branch,
        mods=mods,
        dry_run=dry_run,
        push=push and not dry_run,
        forge=forge_client,
        draft=draft,
        labels=labels,
        reviewers=reviewers,
        message_template=message_template,
        secrets=tokens,
        recipe=chosen_recipe,
        github_token=token_for("github"),
        gitlab_token=token_for("gitlab"),
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
    print_table(console, results)
    if report is not None:
        write_report(report, results, branch, dry_run)
    return EXIT_SOME_FAILED if any(r.status == "failed" for r in results) else EXIT_OK


def _run_with_progress(console: Console, specs, options: BatchOptions, jobs: int) -> list[RepoResult]:
    lock = threading.Lock()
    done = [0]
    with Progress(
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=True,
        disable=not console.is_terminal,
    ) as progress:
        task = progress.add_task("repositories", total=len(specs))

        def on_done(result: RepoResult) -> None:
            with lock:
                done[0] += 1
                progress.advance(task)
                if not console.is_terminal:  # a CI log gets one line per repository instead
                    console.print(f"[{done[0]}/{len(specs)}] {result.repo}: {result.status}", highlight=False)

        return run_batch(specs, options, jobs, on_done)

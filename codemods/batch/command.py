"""`codemods batch`: the command line of the multi-repository runner."""

from __future__ import annotations

import os
import sys
import tempfile
import threading
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import click
from rich.console import Console

from codemods import subproc
from codemods.batch.discover import Found, Source, discover, parse_sources
from codemods.batch.output import print_table, write_report
from codemods.batch.repos import RepoSpec, in_shard, parse_shard, parse_spec, read_repos_file
from codemods.batch.runner import DEFAULT_BRANCH, BatchOptions, ForgeRouter, RepoResult, WorkdirBusy, run_batch
from codemods.batch.track import SUBCOMMANDS
from codemods.cli import RECIPE_HELP, complete_recipes, verify_options
from codemods.errors import InputError
from codemods.exitcodes import ExitCode
from codemods.forge import KINDS, TOKEN_ENV, ForgeError, RateLimited, TokenRejected, check_token, host_of, token_for
from codemods.forge.http import DEFAULT_MAX_WAIT, RetryPolicy, token_url_problem
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
@click.option(
    "--api-url",
    help="API base URL of the --forge forge (GitHub Enterprise, self-hosted GitLab or Gitea), discovery by name included.",
)
@click.option(
    "--insecure-http",
    is_flag=True,
    help="Allow a token over plain http to a host that is not loopback (otherwise refused, exit 2).",
)
@click.option(
    "--max-wait",
    type=click.FloatRange(min=0),
    default=DEFAULT_MAX_WAIT,
    show_default=True,
    metavar="SECONDS",
    help="Longest wait, in all, for one forge's rate limit; past it the run stops and the rest is not-started.",
)
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
    insecure_http: bool,
    max_wait: float,
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
    blocked-by-human (a person pushed to the branch: left alone, the note says what to do), failed,
    not-started (the run stopped at a rate limit that outlasts --max-wait: a rerun finishes it).

    \b
    Also: `codemods batch status|merge|close REPO...` track the pull requests (see --help of each).
    Exit codes: 0 every repository done (blocked-by-human is not a failure), 1 some failed or not
    started, 2 bad arguments or a token the forge rejects (checked once, before any clone).
    Tokens come from GITHUB_TOKEN, GITLAB_TOKEN or GITEA_TOKEN and never appear in any output;
    they go over https only (plain http to a loopback host, or with --insecure-http).
    """
    hosts = parse_forge_hosts(forge_hosts)
    default_kind = forge or "github"
    tokens = {kind: token_for(kind) for kind in KINDS}
    console = Console(stderr=True)
    router = ForgeRouter(
        default_kind,
        api_url,
        hosts,
        tokens,
        policy=RetryPolicy(max_wait=max_wait),
        insecure_http=insecure_http,
        notify=lambda message: console.print(message, highlight=False, markup=False, soft_wrap=True),
    )
    sources = parse_sources(
        {("github", "org"): github_org, ("github", "user"): github_user},
        {("gitlab", "group"): gitlab_group, ("gitea", "org"): gitea_org},
        api_urls={default_kind: api_url} if api_url else {},
    )
    checked: set[tuple[str, str]] = set()  # the APIs whose URL and token were checked
    found = _discovered(router, sources, checked, topics, code_search, include_archived, include_forks)
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
    if subproc.run(["git", "check-ref-format", "--branch", branch], subproc.Limits.git()).returncode:
        raise click.BadParameter(f"{branch!r} is not a valid branch name", param_hint="--branch")
    try:  # build gate (issue 12): every repository is verified; a refused one is `failed`
        # Builds are cached in the workdir: a rerun on an unchanged base reuses them.
        cache = (workdir or _default_workdir()) / ".codemods-builds.sqlite"
        gate = make_gate(verify, kustomize, jinja_vars, cache)
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
        _check_apis(router, [router.api_of(s.url) for s in specs], checked)
    if dry_run:
        where = token_destinations(router, specs, checked, uses_forge)
        console.print(f"tokens go to: {where}", highlight=False, markup=False, soft_wrap=True)
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
    # A repository not started is a rollout not finished: the run is not a success.
    return ExitCode.SOME_FAILED if any(r.status in ("failed", "not-started") for r in results) else ExitCode.OK


def _discovered(
    router: ForgeRouter,
    sources: list[Source],
    checked: set[tuple[str, str]],
    topics: tuple[str, ...],
    code_search: str | None,
    include_archived: bool,
    include_forks: bool,
) -> list[Found]:
    """Every repository the discovery options find, with why each is in or out; the hosts of
    those kept join the router. Their APIs' URLs and tokens are checked first."""
    if not sources:
        if topics or code_search or include_archived or include_forks:
            raise click.UsageError("--topic, --code-search, --include-archived and --include-forks filter discovery")
        return []
    missing = sorted({TOKEN_ENV[s.kind] for s in sources if not router.tokens.get(s.kind)})
    if missing:
        raise click.UsageError(f"discovery needs a token in {', '.join(missing)}")
    _check_apis(router, [(s.kind, s.api) for s in sources], checked)
    try:
        found = discover(
            sources,
            lambda source: router.client(source.kind, source.api),
            topics,
            code_search,
            include_archived=include_archived,
            include_forks=include_forks,
        )
    except ForgeError as err:
        secrets = tuple(t for t in router.tokens.values() if t)
        raise click.UsageError(redact(f"discovery: {err}", secrets)) from None
    for item in found:
        if item.included:
            router.hosts.setdefault(host_of(item.repo.clone_url), item.source.kind)
    return found


def _check_apis(router: ForgeRouter, apis: list[tuple[str, str]], checked: set[tuple[str, str]]) -> None:
    """Before any clone: every API the run will send a token to is one the token may go to
    (https, or plain http to a loopback host or with --insecure-http; judged without DNS),
    and the forge accepts the token. Each API once; a refusal is exit 2."""
    todo = sorted(set(apis) - checked)
    for kind, api in todo:
        problem = token_url_problem(api, router.insecure_http)
        if problem is not None:
            raise click.UsageError(f"refusing to send {TOKEN_ENV[kind]} to {api}: {problem}")
    for kind, api in todo:
        checked.add((kind, api))
        try:
            check_token(router.client(kind, api))
        except TokenRejected as err:
            raise click.UsageError(str(err)) from None
        except RateLimited:
            pass  # the gate has stopped: every repository on this forge is reported not-started


def token_destinations(router: ForgeRouter, specs: list[RepoSpec], apis: set[tuple[str, str]], uses_forge: bool) -> str:
    """Where each token will be sent, for --dry-run: the forge APIs, and the hosts of https git
    remotes that the token authenticates (remote.token_userinfo decides, as in the run)."""
    from codemods.vcs.remote import token_userinfo

    where: dict[str, list[str]] = {}
    for kind, api in sorted(apis):
        where.setdefault(TOKEN_ENV[kind], []).append(f"{urlsplit(api).netloc} (API {api})")
    for spec in specs:
        chosen = router.kind(spec.url) if uses_forge else None
        for kind in KINDS:
            only = {k: router.tokens.get(k) if k == kind else None for k in KINDS}
            sent = token_userinfo(spec.url, only["github"], only["gitlab"], kind=chosen, gitea_token=only["gitea"])
            if sent and spec.userinfo is None:
                entry = f"{host_of(spec.url)} (git)"
                if entry not in where.setdefault(TOKEN_ENV[kind], []):
                    where[TOKEN_ENV[kind]].append(entry)
    if not where:
        return "nowhere: no token is sent"
    return "; ".join(f"{env} to {', '.join(hosts)}" for env, hosts in sorted(where.items()))


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

"""What `batch` and `batch status|merge|close` share: which repositories (REPO arguments,
--repos-file, discovery), which forge and how it is reached (--forge, --api-url, --forge-host,
--insecure-http, --max-wait), and the checks made before anything is cloned or called: every
API a token will go to is one it may go to, and the forge accepts the token.

One module, so a flag added for the rollout is there for tracking it too (issue 23 §3)."""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import click

from codemods.batch.discover import Found, Source, discover, parse_sources
from codemods.batch.events import LOG_FORMATS
from codemods.batch.output import FORMATS
from codemods.batch.repos import RepoSpec, parse_spec, read_repos_file
from codemods.batch.runner import ForgeRouter
from codemods.forge import KINDS, TOKEN_ENV, ForgeError, RateLimited, TokenRejected, check_token, host_of, token_for
from codemods.forge.http import DEFAULT_MAX_WAIT, RetryPolicy, token_url_problem
from codemods.secrets import redact


@dataclass(frozen=True)
class Selection:
    """The repositories a command acts on, and how their forges are reached."""

    repos_file: Path | None = None
    github_org: tuple[str, ...] = ()
    github_user: tuple[str, ...] = ()
    gitlab_group: tuple[str, ...] = ()
    gitea_org: tuple[str, ...] = ()
    topics: tuple[str, ...] = ()
    code_search: str | None = None
    include_archived: bool = False
    include_forks: bool = False
    forge: str | None = None
    api_url: str | None = None
    forge_hosts: tuple[str, ...] = ()
    insecure_http: bool = False
    max_wait: float = DEFAULT_MAX_WAIT

    def sources(self) -> list[Source]:
        return parse_sources(
            {("github", "org"): self.github_org, ("github", "user"): self.github_user},
            {("gitlab", "group"): self.gitlab_group, ("gitea", "org"): self.gitea_org},
            api_urls={self.default_kind: self.api_url} if self.api_url else {},
        )

    @property
    def default_kind(self) -> str:
        return self.forge or "github"


SELECTION_FIELDS = tuple(f.name for f in fields(Selection))

_OPTIONS: list[Callable[[Any], Any]] = [
    click.option(
        "--repos-file",
        type=click.Path(exists=True, dir_okay=False, path_type=Path),
        help="One repository per line; '#' comments and blank lines are ignored.",
    ),
    click.option(
        "--forge",
        type=click.Choice(list(KINDS)),
        help="Forge of hosts that nothing else names (default github); --forge-host and host names decide the rest.",
    ),
    click.option(
        "--api-url",
        help="API base URL of the --forge forge (GitHub Enterprise, self-hosted GitLab or Gitea), "
        "discovery by name included.",
    ),
    click.option(
        "--forge-host",
        "forge_hosts",
        multiple=True,
        metavar="HOST=KIND",
        help="The forge of a self-hosted host: github, gitlab or gitea (repeatable).",
    ),
    click.option(
        "--insecure-http",
        is_flag=True,
        help="Allow a token over plain http to a host that is not loopback (otherwise refused, exit 2).",
    ),
    click.option(
        "--max-wait",
        type=click.FloatRange(min=0),
        default=DEFAULT_MAX_WAIT,
        show_default=True,
        metavar="SECONDS",
        help="Longest wait, in all, for one forge's rate limit; past it the run stops and the rest is not-started.",
    ),
    click.option("--github-org", multiple=True, metavar="ORG|URL", help="Every repository of a GitHub organisation."),
    click.option("--github-user", multiple=True, metavar="USER|URL", help="Every repository of a GitHub user."),
    click.option(
        "--gitlab-group",
        multiple=True,
        metavar="GROUP|URL",
        help="Every project of a GitLab group, subgroups included.",
    ),
    click.option(
        "--gitea-org", multiple=True, metavar="ORG|URL", help="Every repository of a Gitea/Forgejo organisation."
    ),
    click.option("--topic", "topics", multiple=True, metavar="T", help="Discovered repositories must have this topic."),
    click.option(
        "--code-search", metavar="QUERY", help="Discovered repositories must mention QUERY (the forge's code search)."
    ),
    click.option("--include-archived", is_flag=True, help="Discovery keeps archived repositories."),
    click.option("--include-forks", is_flag=True, help="Discovery keeps forks."),
]


def selection_options(command: Callable[..., int]) -> Callable[..., int]:
    """Add the selection's options to a click command, which receives them as `selection`."""

    @functools.wraps(command)
    def with_selection(*args: Any, **kwargs: Any) -> int:
        selection = Selection(**{name: kwargs.pop(name) for name in SELECTION_FIELDS})
        return command(*args, selection=selection, **kwargs)

    for decorator in reversed(_OPTIONS):
        with_selection = decorator(with_selection)
    return with_selection


def output_options(command: Callable[..., int]) -> Callable[..., int]:
    """--log-format and --format, shared by the rollout and its tracking subcommands."""
    command = click.option(
        "--format",
        "fmt",
        type=click.Choice(FORMATS),
        default="table",
        show_default=True,
        help="The results: a table on stderr, or tab-separated lines, JSON or a Markdown table on stdout.",
    )(command)
    return click.option(
        "--log-format",
        type=click.Choice(LOG_FORMATS),
        default="text",
        show_default=True,
        help="stderr: text, or one JSON object per event (repository started/finished, waits, errors).",
    )(command)


def parse_forge_hosts(values: tuple[str, ...]) -> dict[str, str]:
    hosts = {}
    for value in values:
        host, _sep, kind = value.partition("=")
        if not host or kind not in KINDS:
            raise click.BadParameter(f"{value!r}: give HOST=github|gitlab|gitea", param_hint="--forge-host")
        hosts[host.strip().lower()] = kind
    return hosts


def make_router(selection: Selection, notify: Callable[[str], None] | None = None) -> ForgeRouter:
    """The forges of the run, with every token from the environment and one rate-limit gate
    per API. The hosts the user named (--forge-host, --api-url, discovery URLs) are the only
    self-hosted ones a token goes to over git (ForgeRouter.git_userinfo)."""
    hosts = parse_forge_hosts(selection.forge_hosts)
    router = ForgeRouter(
        selection.default_kind,
        selection.api_url,
        dict(hosts),
        {kind: token_for(kind) for kind in KINDS},
        policy=RetryPolicy(max_wait=selection.max_wait),
        insecure_http=selection.insecure_http,
        notify=notify,
        named_hosts=dict(hosts),
    )
    if selection.api_url:
        router.named_hosts.setdefault(host_of(selection.api_url), selection.default_kind)
    return router


def repositories(
    selection: Selection, repos: Sequence[str], router: ForgeRouter, checked: set[tuple[str, str]]
) -> tuple[list[str], list[Found], list[Source]]:
    """Every repository to act on, as given (REPO arguments, --repos-file, then the discovered
    ones), what discovery found (with why each is in or out), and the discovery sources."""
    sources = selection.sources()
    found = discovered(router, sources, checked, selection)
    listed = list(repos) + (read_repos_file(selection.repos_file) if selection.repos_file else [])
    listed += [item.repo.clone_url for item in found if item.included and item.repo.clone_url not in listed]
    return listed, found, sources


def parse_specs(listed: Sequence[str]) -> list[RepoSpec]:
    try:
        return [parse_spec(r) for r in listed]
    except ValueError as err:
        raise click.BadParameter(str(err), param_hint="REPO") from None


def discovered(
    router: ForgeRouter, sources: list[Source], checked: set[tuple[str, str]], selection: Selection
) -> list[Found]:
    """Every repository the discovery options find, with why each is in or out; the hosts of
    those kept join the router. Their APIs' URLs and tokens are checked first."""
    if not sources:
        if selection.topics or selection.code_search or selection.include_archived or selection.include_forks:
            raise click.UsageError("--topic, --code-search, --include-archived and --include-forks filter discovery")
        return []
    missing = sorted({TOKEN_ENV[s.kind] for s in sources if not router.tokens.get(s.kind)})
    if missing:
        raise click.UsageError(f"discovery needs a token in {', '.join(missing)}")
    check_apis(router, [(s.kind, s.api) for s in sources], checked)
    for source in sources:  # the user pointed here: its host may have the token over git too
        router.named_hosts.setdefault(host_of(source.api), source.kind)
    try:
        found = discover(
            sources,
            lambda source: router.client(source.kind, source.api),
            selection.topics,
            selection.code_search,
            include_archived=selection.include_archived,
            include_forks=selection.include_forks,
        )
    except ForgeError as err:
        secrets = tuple(t for t in router.tokens.values() if t)
        raise click.UsageError(redact(f"discovery: {err}", secrets)) from None
    for item in found:
        if item.included:
            router.hosts.setdefault(host_of(item.repo.clone_url), item.source.kind)
    return found


def check_apis(router: ForgeRouter, apis: list[tuple[str, str]], checked: set[tuple[str, str]]) -> None:
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


def require_tokens(router: ForgeRouter, specs: Sequence[RepoSpec], what: str) -> None:
    """Per repository host: a mixed fleet needs each of its forges' tokens, and only those."""
    needed = sorted({router.kind(s.url) for s in specs})
    missing = [TOKEN_ENV[kind] for kind in needed if not router.tokens.get(kind)]
    if missing:
        raise click.UsageError(f"{what} needs a token in {' and '.join(missing)}".lstrip())

"""Find the repositories, as multi-gitter and Renovate's autodiscover do: list an
organisation, user or group, keep those that match, and say why each was kept or not."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

from codemods.forge import DEFAULT_API, Discovered, Forge, api_for_host


@dataclass(frozen=True)
class Source:
    kind: str  # github, gitlab, gitea
    scope: str  # org, user, group
    owner: str
    api: str

    @property
    def label(self) -> str:
        return f"{self.kind}-{self.scope} {self.owner}"


@dataclass(frozen=True)
class Found:
    repo: Discovered
    source: Source
    included: bool
    reason: str

    def as_report(self) -> dict[str, object]:
        return {
            "project": self.repo.project,
            "url": self.repo.clone_url,
            "source": self.source.label,
            "included": self.included,
            "reason": self.reason,
        }


def parse_source(kind: str, scope: str, value: str, api_url: str | None = None) -> Source:
    """ORG (on the public host, or on api_url when the user named one: `--api-url`) or the web
    URL of the org or group on a self-hosted forge: `https://git.example.com/platform/gitops`."""
    if "://" in value:
        parts = urlsplit(value)
        host = f"{parts.hostname}:{parts.port}" if parts.port else parts.hostname or ""
        return Source(kind, scope, parts.path.strip("/"), api_for_host(kind, parts.scheme, host))
    return Source(kind, scope, value.strip("/"), api_url or DEFAULT_API[kind])


def parse_sources(
    *groups: Mapping[tuple[str, str], Sequence[str]], api_urls: Mapping[str, str] | None = None
) -> list[Source]:
    """api_urls: the API of a forge kind that a name (not a URL) is looked up on."""
    apis = api_urls or {}
    return [
        parse_source(kind, scope, v, apis.get(kind))
        for group in groups
        for (kind, scope), vs in group.items()
        for v in vs
    ]


def discover(
    sources: Sequence[Source],
    connect: Callable[[Source], Forge],
    topics: Sequence[str] = (),
    code_search: str | None = None,
    *,
    include_archived: bool = False,
    include_forks: bool = False,
) -> list[Found]:
    """Every repository each source lists, once, with why it is in or out of the run."""
    found: list[Found] = []
    seen: set[str] = set()
    for source in sources:
        forge = connect(source)  # the run's client: its token checks and rate limit apply
        listed = forge.list_repos(source.owner, source.scope)
        matches = forge.search_code(code_search, source.owner, source.scope) if code_search else None
        for repo in listed:
            if repo.clone_url in seen:
                continue
            seen.add(repo.clone_url)
            found.append(_judge(repo, source, topics, code_search, matches, include_archived, include_forks))
    return found


def _judge(
    repo: Discovered,
    source: Source,
    topics: Sequence[str],
    code_search: str | None,
    matches: set[str] | None,
    include_archived: bool,
    include_forks: bool,
) -> Found:
    def out(reason: str) -> Found:
        return Found(repo, source, False, reason)

    if repo.archived and not include_archived:
        return out("archived (--include-archived keeps it)")
    if repo.fork and not include_forks:
        return out("a fork (--include-forks keeps it)")
    missing = [t for t in topics if t not in repo.topics]
    if missing:
        return out(f"no topic {', '.join(missing)}")
    if matches is not None and repo.search_key not in matches:
        return out(f"code search found no {code_search!r}")
    why = [f"in {source.label}"]
    if topics:
        why.append(f"topic {', '.join(topics)}")
    if code_search:
        why.append(f"code search matched {code_search!r}")
    if repo.archived:
        why.append("archived, kept by --include-archived")
    if repo.fork:
        why.append("a fork, kept by --include-forks")
    return Found(repo, source, True, "; ".join(why))

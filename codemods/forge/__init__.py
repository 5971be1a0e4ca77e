"""Pull requests on GitHub, merge requests on GitLab, pull requests on Gitea/Forgejo.

Each forge is reached through the same small interface: list the pull requests of a head
branch (all states), open, edit, close, merge one, read its status, and discover
repositories. Which forge a repository lives on, and with which token, is decided per
repository host, so one run can span GitHub, GitLab and Gitea.
"""

from __future__ import annotations

import os
import posixpath
from dataclasses import dataclass
from typing import Protocol
from urllib.parse import urlsplit

from codemods.forge.http import AnswerLost, ForgeError, RateGate, RateLimited, RetryPolicy, UnsafeDestination

__all__ = [
    "DEFAULT_API",
    "KINDS",
    "NAMES",
    "TOKEN_ENV",
    "WELL_KNOWN_HOSTS",
    "AnswerLost",
    "Discovered",
    "Forge",
    "ForgeError",
    "Fork",
    "PullRequest",
    "PullRequestSpec",
    "PullStatus",
    "RateGate",
    "RateLimited",
    "TokenRejected",
    "UnsafeDestination",
    "api_for_host",
    "check_token",
    "host_of",
    "kind_for_host",
    "make_forge",
    "owner_repo",
    "project_path",
    "token_for",
]

KINDS = ("github", "gitlab", "gitea")
DEFAULT_API = {
    "github": "https://api.github.com",
    "gitlab": "https://gitlab.com/api/v4",
    "gitea": "https://codeberg.org/api/v1",
}
TOKEN_ENV = {"github": "GITHUB_TOKEN", "gitlab": "GITLAB_TOKEN", "gitea": "GITEA_TOKEN"}
NAMES = {"github": "GitHub", "gitlab": "GitLab", "gitea": "Gitea"}  # as messages name them
# Public hosts whose forge is known without asking.
WELL_KNOWN_HOSTS = {"github.com": "github", "gitlab.com": "gitlab", "codeberg.org": "gitea"}
API_PATH = {"github": "/api/v3", "gitlab": "/api/v4", "gitea": "/api/v1"}


@dataclass(frozen=True)
class PullRequestSpec:
    owner_repo: str  # the project path on the forge: owner/repo, or group/sub/repo on GitLab
    head: str  # branch with the change
    base: str  # default branch
    title: str
    body: str
    draft: bool = False
    labels: tuple[str, ...] = ()
    reviewers: tuple[str, ...] = ()
    team_reviewers: tuple[str, ...] = ()  # GitHub and Gitea: team slugs, "org/team" or "team"
    assignees: tuple[str, ...] = ()


@dataclass(frozen=True)
class Fork:
    """A fork the rollout's branch is pushed to (`--fork`)."""

    project: str  # owner/name on the forge
    clone_url: str
    owner: str  # who owns it: the pull request's head is owner:branch


@dataclass(frozen=True)
class PullRequest:
    number: int
    url: str
    created: bool = False
    state: str = "open"  # open, closed (unmerged) or merged
    base: str = ""
    title: str = ""
    body: str = ""
    draft: bool = False
    head: str = ""  # the head commit's sha, when the forge's answer names it


@dataclass(frozen=True)
class PullStatus:
    """What `batch status` shows for one pull request."""

    number: int
    url: str
    state: str  # open, draft, merged, closed
    checks: str  # success, failure, pending, none
    mergeable: str  # yes, no, unknown
    review: str  # approved, changes-requested, review-required, none, unknown
    base: str = ""
    head: str = ""  # the sha of the head commit these checks and this review are about


@dataclass(frozen=True)
class Discovered:
    project: str  # path on the forge
    clone_url: str
    archived: bool = False
    fork: bool = False
    topics: tuple[str, ...] = ()
    source: str = ""  # e.g. "github-org acme"
    key: str = ""  # what search_code answers with: the project path, or GitLab's project id

    @property
    def search_key(self) -> str:
        return self.key or self.project


class Forge(Protocol):
    kind: str
    api_url: str

    def pulls(self, project: str, head: str) -> list[PullRequest]:
        """Every pull request whose head is this branch, any state, newest first."""
        ...

    def create(self, spec: PullRequestSpec) -> PullRequest:
        """submit, then decorate."""
        ...

    def submit(self, spec: PullRequestSpec) -> PullRequest:
        """The one request that opens the pull request (AnswerLost when its answer was lost)."""
        ...

    def decorate(self, spec: PullRequestSpec, pr: PullRequest) -> None:
        """What opening sets after the pull request exists (labels, reviewers): safe to repeat."""
        ...

    def user(self) -> str:
        """Who the token belongs to (GET /user on every forge): the token's check."""
        ...

    def edit(self, project: str, pr: PullRequest, *, title: str | None, body: str | None, base: str | None) -> None: ...

    def comment(self, project: str, pr: PullRequest, text: str) -> None: ...

    def close(self, project: str, pr: PullRequest, body: str | None = None) -> None:
        """Close it; body, when given, replaces its body in the same request (the marker that
        says codemods closed it)."""
        ...

    def find_fork(self, project: str, owner: str | None) -> Fork | None:
        """owner's fork of project (owner: the token's user when None), or None when it has none.
        A repository of that name that is not a fork of project is a ForgeError."""
        ...

    def fork(self, project: str, owner: str | None) -> Fork:
        """owner's fork of project, made through the API when missing (waits until it exists)."""
        ...

    # No branch deletion here: the forges' APIs delete without an expected commit, so a branch is
    # deleted by a git push with a lease (codemods.vcs.remote), never through them.

    def merge(self, project: str, pr: PullRequest, method: str, sha: str) -> None:
        """Merge only if the head is still sha: a commit pushed after the check is not merged
        (the forge refuses, and this raises ForgeError)."""
        ...

    def status(self, project: str, head: str, with_review: bool = True) -> tuple[PullStatus | None, int]:
        """The newest pull request of the branch and the API calls it took: at most 2, unless
        with_review asks a forge whose list endpoints lack the review state for one more."""
        ...

    def list_repos(self, owner: str, scope: str) -> list[Discovered]:
        """scope: org, user or group (GitLab groups include their subgroups)."""
        ...

    def search_code(self, query: str, owner: str, scope: str) -> set[str]:
        """The search keys (Discovered.search_key) of projects below owner whose files mention query."""
        ...


def _path_parts(url: str) -> list[str]:
    path = urlsplit(url).path if "://" in url else url.split(":", 1)[-1]
    return [p for p in path.rstrip("/").split("/") if p]


def owner_repo(url: str) -> str:
    """`owner/repo` from the last two path segments of a clone URL (scp-style included)."""
    parts = _path_parts(url)
    if len(parts) < 2:
        raise ForgeError(f"cannot tell owner/repo from {url!r}")
    return posixpath.join(parts[-2], parts[-1].removesuffix(".git"))


def project_path(url: str, kind: str) -> str:
    """The project's path on its forge. GitLab projects live in nested groups
    (`group/sub/repo`), so the whole path counts there; a local or file:// URL has no
    namespace, so its last two segments stand for owner/repo."""
    if kind != "gitlab" or not host_of(url):
        return owner_repo(url)
    parts = _path_parts(url)
    if len(parts) < 2:
        raise ForgeError(f"cannot tell the project path from {url!r}")
    parts[-1] = parts[-1].removesuffix(".git")
    return "/".join(parts)


def host_of(url: str) -> str:
    """host[:port] of a clone URL (scp-style included); "" for local paths and file://."""
    if "://" in url:
        parts = urlsplit(url)
        if parts.scheme == "file":
            return ""
        host = parts.hostname or ""
        return f"{host}:{parts.port}" if parts.port else host
    if "@" in url.split(":", 1)[0]:
        return url.split("@", 1)[1].split(":", 1)[0]
    return ""


def kind_for_host(host: str, overrides: dict[str, str], default: str) -> str:
    """`--forge-host` first, then the well-known public hosts, then the host's own name
    (gitlab.example.com, gitea.example.com, forgejo...), then the default forge."""
    if host in overrides:
        return overrides[host]
    bare = host.split(":", 1)[0]
    if bare in overrides:
        return overrides[bare]
    if bare in WELL_KNOWN_HOSTS:
        return WELL_KNOWN_HOSTS[bare]
    if "gitlab" in bare:
        return "gitlab"
    if "gitea" in bare or "forgejo" in bare:
        return "gitea"
    return default


def api_for_host(kind: str, scheme: str, host: str) -> str:
    """The API base URL of a forge on host: the public APIs, or the standard self-hosted paths."""
    bare = host.split(":", 1)[0]
    if kind == "github" and bare == "github.com":
        return DEFAULT_API["github"]
    if WELL_KNOWN_HOSTS.get(bare) == kind and kind != "github":
        return DEFAULT_API[kind]
    return f"{'http' if scheme == 'http' else 'https'}://{host}{API_PATH[kind]}"


def token_for(kind: str) -> str | None:
    return os.environ.get(TOKEN_ENV[kind]) or None


def make_forge(
    kind: str,
    api_url: str | None,
    token: str,
    policy: RetryPolicy | None = None,
    *,
    gate: RateGate | None = None,
    insecure_http: bool = False,
) -> Forge:
    """gate: the rate limit shared by everything that calls this API; insecure_http: the
    token may go over plain http to a host that is not loopback (`--insecure-http`)."""
    policy = policy or RetryPolicy()
    gate = gate or RateGate(NAMES[kind], policy)
    if kind == "github":
        from codemods.forge.github import GitHub

        return GitHub(api_url or DEFAULT_API["github"], token, policy, gate=gate, insecure_http=insecure_http)
    if kind == "gitlab":
        from codemods.forge.gitlab import GitLab

        return GitLab(api_url or DEFAULT_API["gitlab"], token, policy, gate=gate, insecure_http=insecure_http)
    if kind == "gitea":
        from codemods.forge.gitea import Gitea

        return Gitea(api_url or DEFAULT_API["gitea"], token, policy, gate=gate, insecure_http=insecure_http)
    raise ValueError(f"unknown forge {kind!r}")


class TokenRejected(ForgeError):
    """The forge answered 401 to the token: nothing the run does there can succeed."""


def check_token(forge: Forge) -> None:
    """Ask the forge who the token is, once, before any work. Only a 401 condemns the token:
    a 403 (a GitHub App's installation token may not read /user), a 404 (an API that lacks
    the endpoint) or a flaky forge leaves the verdict to the calls the run makes."""
    try:
        forge.user()
    except (RateLimited, UnsafeDestination):
        raise
    except ForgeError as err:
        if err.status == 401:
            raise TokenRejected(
                f"{NAMES[forge.kind]} token rejected: bad credentials ({TOKEN_ENV[forge.kind]}, API {forge.api_url})",
                401,
            ) from None

"""Pull requests on GitHub, merge requests on GitLab, pull requests on Gitea/Forgejo.

Each forge is reached through the same small interface: list the pull requests of a head
branch (all states), open, edit, close, merge one, read its status, and discover
repositories. Which forge a repository lives on, and with which token, is decided per
repository host, so one run can span GitHub, GitLab and Gitea.
"""

from __future__ import annotations

import os
import posixpath
from http import HTTPStatus
from urllib.parse import urlsplit

from codemods.forge.gitea import Gitea
from codemods.forge.github import GitHub
from codemods.forge.gitlab import GitLab
from codemods.forge.http import AnswerLost, ForgeError, RateGate, RateLimited, RetryPolicy, UnsafeDestination
from codemods.forge.model import Discovered, Forge, Fork, PullRequest, PullRequestSpec, PullStatus

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
CLIENTS: dict[str, type[GitHub | GitLab | Gitea]] = {"github": GitHub, "gitlab": GitLab, "gitea": Gitea}


_OWNER_AND_NAME = 2  # the fewest path segments a repository's URL has: owner (or group) and name


def _path_parts(url: str) -> list[str]:
    path = urlsplit(url).path if "://" in url else url.split(":", 1)[-1]
    return [p for p in path.rstrip("/").split("/") if p]


def owner_repo(url: str) -> str:
    """`owner/repo` from the last two path segments of a clone URL (scp-style included)."""
    parts = _path_parts(url)
    if len(parts) < _OWNER_AND_NAME:
        raise ForgeError(f"cannot tell owner/repo from {url!r}")
    return posixpath.join(parts[-2], parts[-1].removesuffix(".git"))


def project_path(url: str, kind: str) -> str:
    """The project's path on its forge. GitLab projects live in nested groups
    (`group/sub/repo`), so the whole path counts there; a local or file:// URL has no
    namespace, so its last two segments stand for owner/repo."""
    if kind != "gitlab" or not host_of(url):
        return owner_repo(url)
    parts = _path_parts(url)
    if len(parts) < _OWNER_AND_NAME:
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
    if kind not in CLIENTS:
        raise ValueError(f"unknown forge {kind!r}")
    return CLIENTS[kind](api_url or DEFAULT_API[kind], token, policy, gate=gate, insecure_http=insecure_http)


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
        if err.status == HTTPStatus.UNAUTHORIZED:
            raise TokenRejected(
                f"{NAMES[forge.kind]} token rejected: bad credentials ({TOKEN_ENV[forge.kind]}, API {forge.api_url})",
                401,
            ) from None

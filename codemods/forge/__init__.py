"""Pull requests on GitHub and merge requests on GitLab: find by branch, update, or open one."""

from __future__ import annotations

import os
import posixpath
from dataclasses import dataclass
from typing import Protocol
from urllib.parse import urlsplit

from codemods.forge.http import ForgeError, RetryPolicy

__all__ = [
    "DEFAULT_API",
    "Forge",
    "ForgeError",
    "PullRequest",
    "PullRequestSpec",
    "make_forge",
    "owner_repo",
    "token_for",
]

DEFAULT_API = {"github": "https://api.github.com", "gitlab": "https://gitlab.com/api/v4"}
TOKEN_ENV = {"github": "GITHUB_TOKEN", "gitlab": "GITLAB_TOKEN"}


@dataclass(frozen=True)
class PullRequestSpec:
    owner_repo: str
    head: str  # branch with the change
    base: str  # default branch
    title: str
    body: str
    draft: bool = False
    labels: tuple[str, ...] = ()
    reviewers: tuple[str, ...] = ()


@dataclass(frozen=True)
class PullRequest:
    number: int
    url: str
    created: bool


class Forge(Protocol):
    def find(self, spec: PullRequestSpec) -> PullRequest | None: ...

    def upsert(self, spec: PullRequestSpec) -> PullRequest: ...


def owner_repo(url: str) -> str:
    """`owner/repo` from the last two path segments of a clone URL (scp-style included)."""
    path = urlsplit(url).path if "://" in url else url.split(":", 1)[-1]
    parts = [p for p in path.rstrip("/").split("/") if p]
    if len(parts) < 2:
        raise ForgeError(f"cannot tell owner/repo from {url!r}")
    name = parts[-1].removesuffix(".git")
    return posixpath.join(parts[-2], name)


def token_for(kind: str) -> str | None:
    return os.environ.get(TOKEN_ENV[kind]) or None


def make_forge(kind: str, api_url: str | None, token: str, policy: RetryPolicy | None = None) -> Forge:
    if kind == "github":
        from codemods.forge.github import GitHub

        return GitHub(api_url or DEFAULT_API["github"], token, policy)
    if kind == "gitlab":
        from codemods.forge.gitlab import GitLab

        return GitLab(api_url or DEFAULT_API["gitlab"], token, policy)
    raise ValueError(f"unknown forge {kind!r}")

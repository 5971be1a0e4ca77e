"""What every forge client speaks: pull requests, their status, forks, discovered repositories,
and the `Forge` interface. The clients (github.py, gitlab.py, gitea.py) and the package's
helpers both import this module, so the package can import the clients at the top."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


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

"""GitHub REST (and one GraphQL query for status): pull requests found by their head branch."""

from __future__ import annotations

from http import HTTPStatus
from typing import Any
from urllib.parse import quote

from codemods.forge.http import AnswerLost, Client, ForgeApi, ForgeError
from codemods.forge.model import Discovered, Fork, PullRequest, PullRequestSpec, PullStatus

FORK_POLLS = 10  # GitHub makes a fork asynchronously: ask this many times, FORK_POLL_WAIT apart
FORK_POLL_WAIT = 3.0

# One query gives state, draft, mergeability, review decision and the CI rollup of the
# newest pull requests of a branch: `batch status` needs one call per repository.
STATUS_QUERY = """
query($owner: String!, $name: String!, $head: String!) {
  repository(owner: $owner, name: $name) {
    pullRequests(headRefName: $head, first: 5, orderBy: {field: CREATED_AT, direction: DESC}) {
      nodes {
        number url state isDraft mergeable reviewDecision baseRefName headRefOid headRepositoryOwner { login }
        commits(last: 1) { nodes { commit { statusCheckRollup { state } } } }
      }
    }
  }
}
"""
CHECKS = {"SUCCESS": "success", "FAILURE": "failure", "ERROR": "failure", "PENDING": "pending", "EXPECTED": "pending"}
REVIEW = {"APPROVED": "approved", "CHANGES_REQUESTED": "changes-requested", "REVIEW_REQUIRED": "review-required"}
MERGEABLE = {"MERGEABLE": "yes", "CONFLICTING": "no"}


def _pull(data: dict[str, Any], created: bool = False) -> PullRequest:
    state = "merged" if data.get("merged_at") else data["state"]
    return PullRequest(
        data["number"],
        data["html_url"],
        created=created,
        state=state,
        base=(data.get("base") or {}).get("ref", ""),
        title=data.get("title") or "",
        body=data.get("body") or "",
        draft=bool(data.get("draft")),
        head=(data.get("head") or {}).get("sha") or "",
    )


def graphql_url(api_url: str) -> str:
    """api.github.com/graphql; GitHub Enterprise serves it at /api/graphql beside /api/v3."""
    base = api_url.rstrip("/")
    return base.removesuffix("/v3") + "/graphql" if base.endswith("/api/v3") else base + "/graphql"


def split_head(head: str) -> tuple[str | None, str]:
    """(the fork's owner, the branch) of a head: `owner:branch` from a fork, else (None, branch).
    A branch name never holds a colon (git check-ref-format), so the split is unambiguous."""
    owner, sep, branch = head.rpartition(":")
    return (owner, branch) if sep else (None, head)


def team_slug(team: str) -> str:
    """GitHub and Gitea take a team's name in the repository's organisation: "org/team" is "team"."""
    return team.rsplit("/", 1)[-1]


class PullRequestEdits:
    """Edits of an open pull request, spoken alike by GitHub and Gitea/Forgejo (whose API copies
    GitHub's here): title, body and base; a comment; closing; reviewers; forks."""

    client: Client
    _login: str | None = None

    def user(self) -> str:
        """Who the token belongs to (GET /user): the token's check, and the default fork owner."""
        if self._login is None:
            data = self.client.request("GET", "/user").data
            self._login = str(data.get("login", "")) if isinstance(data, dict) else ""
        return self._login

    def edit(self, project: str, pr: PullRequest, *, title: str | None, body: str | None, base: str | None) -> None:
        fields = {k: v for k, v in (("title", title), ("body", body), ("base", base)) if v is not None}
        if fields:
            self.client.request("PATCH", f"/repos/{project}/pulls/{pr.number}", fields)

    def comment(self, project: str, pr: PullRequest, text: str) -> None:
        self.client.request("POST", f"/repos/{project}/issues/{pr.number}/comments", {"body": text})

    def close(self, project: str, pr: PullRequest, body: str | None = None) -> None:
        fields = {"state": "closed", **({"body": body} if body is not None else {})}
        self.client.request("PATCH", f"/repos/{project}/pulls/{pr.number}", fields)

    def _request_reviewers(
        self, project: str, number: int, reviewers: tuple[str, ...], teams: tuple[str, ...] = ()
    ) -> None:
        fields: dict[str, object] = {"reviewers": list(reviewers)}
        if teams:
            fields["team_reviewers"] = [team_slug(t) for t in teams]
        self.client.request(  # adds to the set: sending it twice changes nothing
            "POST", f"/repos/{project}/pulls/{number}/requested_reviewers", fields, idempotent=True
        )

    def _fork_of(self, data: dict[str, Any], project: str) -> Fork:
        parent = (data.get("parent") or {}).get("full_name")
        if not data.get("fork") or (parent and parent.lower() != project.lower()):
            raise ForgeError(
                f"{data.get('full_name')} exists and is not a fork of {project}: pick another --fork-owner"
            )
        owner = (data.get("owner") or {}).get("login") or data["full_name"].split("/")[0]
        return Fork(data["full_name"], data["clone_url"], owner)

    def find_fork(self, project: str, owner: str | None) -> Fork | None:
        owner = owner or self.user()
        name = project.rsplit("/", 1)[-1]
        try:
            data = self.client.request("GET", f"/repos/{owner}/{name}").data
        except ForgeError as err:
            if err.status == HTTPStatus.NOT_FOUND:
                return None
            raise
        return self._fork_of(data, project)

    def fork(self, project: str, owner: str | None) -> Fork:
        found = self.find_fork(project, owner)
        if found is not None:
            return found
        login = self.user()
        body = {"organization": owner} if owner and owner != login else {}
        try:  # a POST that creates: not sent twice; a lost answer is looked up (the poll below)
            self.client.request("POST", f"/repos/{project}/forks", body)
        except AnswerLost:
            pass
        for attempt in range(FORK_POLLS):
            found = self.find_fork(project, owner or login)
            if found is not None:
                return found
            if attempt + 1 < FORK_POLLS:
                self.client.policy.sleep(FORK_POLL_WAIT)
        raise ForgeError(f"the fork of {project} was asked for but did not appear in {FORK_POLLS} checks")


class GitHub(PullRequestEdits, ForgeApi):
    kind = "github"

    display = "GitHub"

    @staticmethod
    def auth_headers(token: str) -> dict[str, str]:
        return {
            "Authorization": f"Bearer {token}",
            "Accept": "application/vnd.github+json",
            "X-GitHub-Api-Version": "2022-11-28",
        }

    def pulls(self, project: str, head: str) -> list[PullRequest]:
        fork_owner, branch = split_head(head)
        query = quote(f"{fork_owner or project.split('/')[0]}:{branch}", safe="")
        found = self.client.request("GET", f"/repos/{project}/pulls?head={query}&state=all&per_page=100").data or []
        return sorted((_pull(p) for p in found), key=lambda p: -p.number)

    def create(self, spec: PullRequestSpec) -> PullRequest:
        pr = self.submit(spec)
        self.decorate(spec, pr)
        return pr

    def submit(self, spec: PullRequestSpec) -> PullRequest:
        body = {"title": spec.title, "head": spec.head, "base": spec.base, "body": spec.body, "draft": spec.draft}
        return _pull(self.client.request("POST", f"/repos/{spec.owner_repo}/pulls", body).data, created=True)

    def decorate(self, spec: PullRequestSpec, pr: PullRequest) -> None:
        if spec.labels:  # adds to the set: sending it twice changes nothing
            self.client.request(
                "POST",
                f"/repos/{spec.owner_repo}/issues/{pr.number}/labels",
                {"labels": list(spec.labels)},
                idempotent=True,
            )
        if spec.reviewers or spec.team_reviewers:
            self._request_reviewers(spec.owner_repo, pr.number, spec.reviewers, spec.team_reviewers)
        if spec.assignees:  # adds to the set: sending it twice changes nothing
            self.client.request(
                "POST",
                f"/repos/{spec.owner_repo}/issues/{pr.number}/assignees",
                {"assignees": list(spec.assignees)},
                idempotent=True,
            )

    def merge(self, project: str, pr: PullRequest, method: str, sha: str) -> None:
        # `sha`: GitHub answers 409 "Head branch was modified" when the head is no longer it.
        body = {"merge_method": method, "sha": sha}
        self.client.request("PUT", f"/repos/{project}/pulls/{pr.number}/merge", body)

    def status(self, project: str, head: str, with_review: bool = True) -> tuple[PullStatus | None, int]:
        owner, name = project.split("/", 1)
        fork_owner, branch = split_head(head)
        before = self.client.calls
        reply = self.client.request(
            "POST",
            graphql_url(self.api_url),
            {"query": STATUS_QUERY, "variables": {"owner": owner, "name": name, "head": branch}},
            idempotent=True,  # a query: it changes nothing
        ).data
        if reply.get("errors"):
            raise ForgeError(f"GraphQL: {reply['errors'][0].get('message', reply['errors'][0])}")
        repository = (reply.get("data") or {}).get("repository")
        if repository is None:
            raise ForgeError(f"GraphQL: repository {project} not found")
        nodes = repository["pullRequests"]["nodes"]
        if fork_owner is not None:  # the branch of that fork, not a same-named one elsewhere
            nodes = [n for n in nodes if ((n.get("headRepositoryOwner") or {}).get("login") or "") == fork_owner]
        calls = self.client.calls - before
        if not nodes:
            return None, calls
        node = nodes[0]
        commits = node["commits"]["nodes"]
        rollup = commits[0]["commit"]["statusCheckRollup"] if commits else None
        state = node["state"].lower()
        if state == "open" and node["isDraft"]:
            state = "draft"
        return (
            PullStatus(
                node["number"],
                node["url"],
                state,
                CHECKS.get(rollup["state"], "pending") if rollup else "none",
                MERGEABLE.get(node["mergeable"], "unknown"),
                REVIEW.get(node["reviewDecision"] or "", "none"),
                node["baseRefName"],
                node.get("headRefOid") or "",
            ),
            calls,
        )

    def list_repos(self, owner: str, scope: str) -> list[Discovered]:
        path = f"/orgs/{owner}/repos?per_page=100&type=all" if scope == "org" else f"/users/{owner}/repos?per_page=100"
        return [
            Discovered(
                r["full_name"],
                r["clone_url"],
                archived=bool(r.get("archived")),
                fork=bool(r.get("fork")),
                topics=tuple(r.get("topics") or ()),
                source=f"github-{scope} {owner}",
            )
            for r in self.client.paginate(path)
        ]

    def search_code(self, query: str, owner: str, scope: str) -> set[str]:
        qualifier = "org" if scope == "org" else "user"
        q = quote(f"{query} {qualifier}:{owner}", safe="")
        return {item["repository"]["full_name"] for item in self.client.paginate(f"/search/code?q={q}&per_page=100")}

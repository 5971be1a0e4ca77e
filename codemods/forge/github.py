"""GitHub REST (and one GraphQL query for status): pull requests found by their head branch."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from codemods.forge import Discovered, PullRequest, PullRequestSpec, PullStatus
from codemods.forge.http import Client, ForgeError, RateGate, RetryPolicy

# One query gives state, draft, mergeability, review decision and the CI rollup of the
# newest pull requests of a branch: `batch status` needs one call per repository.
STATUS_QUERY = """
query($owner: String!, $name: String!, $head: String!) {
  repository(owner: $owner, name: $name) {
    pullRequests(headRefName: $head, first: 5, orderBy: {field: CREATED_AT, direction: DESC}) {
      nodes {
        number url state isDraft mergeable reviewDecision baseRefName headRefOid
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


class PullRequestEdits:
    """Edits of an open pull request, spoken alike by GitHub and Gitea/Forgejo (whose API copies
    GitHub's here): title, body and base; a comment; closing."""

    client: Client

    def edit(self, project: str, pr: PullRequest, *, title: str | None, body: str | None, base: str | None) -> None:
        fields = {k: v for k, v in (("title", title), ("body", body), ("base", base)) if v is not None}
        if fields:
            self.client.request("PATCH", f"/repos/{project}/pulls/{pr.number}", fields)

    def comment(self, project: str, pr: PullRequest, text: str) -> None:
        self.client.request("POST", f"/repos/{project}/issues/{pr.number}/comments", {"body": text})

    def close(self, project: str, pr: PullRequest) -> None:
        self.client.request("PATCH", f"/repos/{project}/pulls/{pr.number}", {"state": "closed"})

    def _request_reviewers(self, project: str, number: int, reviewers: tuple[str, ...]) -> None:
        self.client.request(  # adds to the set: sending it twice changes nothing
            "POST",
            f"/repos/{project}/pulls/{number}/requested_reviewers",
            {"reviewers": list(reviewers)},
            idempotent=True,
        )


class GitHub(PullRequestEdits):
    kind = "github"

    def __init__(
        self,
        api_url: str,
        token: str,
        policy: RetryPolicy | None = None,
        *,
        gate: RateGate | None = None,
        insecure_http: bool = False,
    ) -> None:
        self.api_url = api_url
        self.client = Client(
            api_url,
            {
                "Authorization": f"Bearer {token}",
                "Accept": "application/vnd.github+json",
                "X-GitHub-Api-Version": "2022-11-28",
            },
            secrets=(token,),
            policy=policy,
            gate=gate,
            name="GitHub",
            insecure_http=insecure_http,
        )

    def user(self) -> str:
        data = self.client.request("GET", "/user").data
        return str(data.get("login", "")) if isinstance(data, dict) else ""

    def pulls(self, project: str, head: str) -> list[PullRequest]:
        owner = project.split("/")[0]
        query = quote(f"{owner}:{head}", safe="")
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
        if spec.reviewers:
            self._request_reviewers(spec.owner_repo, pr.number, spec.reviewers)

    def merge(self, project: str, pr: PullRequest, method: str, sha: str) -> None:
        # `sha`: GitHub answers 409 "Head branch was modified" when the head is no longer it.
        body = {"merge_method": method, "sha": sha}
        self.client.request("PUT", f"/repos/{project}/pulls/{pr.number}/merge", body)

    def status(self, project: str, head: str, with_review: bool = True) -> tuple[PullStatus | None, int]:
        owner, name = project.split("/", 1)
        before = self.client.calls
        reply = self.client.request(
            "POST",
            graphql_url(self.api_url),
            {"query": STATUS_QUERY, "variables": {"owner": owner, "name": name, "head": head}},
            idempotent=True,  # a query: it changes nothing
        ).data
        if reply.get("errors"):
            raise ForgeError(f"GraphQL: {reply['errors'][0].get('message', reply['errors'][0])}")
        repository = (reply.get("data") or {}).get("repository")
        if repository is None:
            raise ForgeError(f"GraphQL: repository {project} not found")
        nodes = repository["pullRequests"]["nodes"]
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

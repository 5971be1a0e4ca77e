"""GitLab REST (and one GraphQL query for status): merge requests found by their source branch.

Projects are addressed by their full path, URL-encoded, so nested groups work
(`group/sub/repo` is `group%2Fsub%2Frepo`).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from codemods.forge.http import ForgeApi, ForgeError
from codemods.forge.model import Discovered, Fork, PullRequest, PullRequestSpec, PullStatus

STATUS_QUERY = """
query($path: ID!, $head: String!) {
  project(fullPath: $path) {
    mergeRequests(sourceBranches: [$head], sort: CREATED_DESC, first: 5) {
      nodes {
        iid webUrl state draft approved detailedMergeStatus targetBranch diffHeadSha headPipeline { status }
      }
    }
  }
}
"""
PIPELINE = {"SUCCESS": "success", "FAILED": "failure", "CANCELED": "failure", "SKIPPED": "success"}
STATE = {"opened": "open", "closed": "closed", "merged": "merged", "locked": "closed"}
UNMERGEABLE = {"CONFLICT", "NEED_REBASE", "BROKEN_STATUS"}


def _project(path: str) -> str:
    return quote(path, safe="")


def _pull(data: dict[str, Any], created: bool = False) -> PullRequest:
    return PullRequest(
        data["iid"],
        data["web_url"],
        created=created,
        state=STATE.get(data.get("state", "opened"), "closed"),
        base=data.get("target_branch", ""),
        title=data.get("title") or "",
        body=data.get("description") or "",
        draft=bool(data.get("draft")),
        head=data.get("sha") or "",
    )


def graphql_url(api_url: str) -> str:
    return api_url.rstrip("/").removesuffix("/v4") + "/graphql"


class GitLab(ForgeApi):
    kind = "gitlab"

    display = "GitLab"

    @staticmethod
    def auth_headers(token: str) -> dict[str, str]:
        return {"PRIVATE-TOKEN": token}

    def user(self) -> str:
        data = self.client.request("GET", "/user").data
        return str(data.get("username", "")) if isinstance(data, dict) else ""

    def pulls(self, project: str, head: str) -> list[PullRequest]:
        branch = quote(head, safe="")
        found = (
            self.client.request(
                "GET", f"/projects/{_project(project)}/merge_requests?source_branch={branch}&state=all&per_page=100"
            ).data
            or []
        )
        return sorted((_pull(mr) for mr in found), key=lambda p: -p.number)

    def _user_ids(self, usernames: tuple[str, ...]) -> list[int]:
        ids = []
        for name in usernames:
            users = self.client.request("GET", f"/users?username={quote(name, safe='')}").data or []
            if not users:
                raise ForgeError(f"GitLab user {name!r} not found")
            ids.append(users[0]["id"])
        return ids

    def create(self, spec: PullRequestSpec) -> PullRequest:
        pr = self.submit(spec)
        self.decorate(spec, pr)
        return pr

    def decorate(self, spec: PullRequestSpec, pr: PullRequest) -> None:
        pass  # labels and reviewers go with the merge request itself

    def submit(self, spec: PullRequestSpec) -> PullRequest:
        fields: dict[str, object] = {
            "title": f"Draft: {spec.title}" if spec.draft else spec.title,
            "description": spec.body,
            "source_branch": spec.head,
            "target_branch": spec.base,
            "remove_source_branch": True,
        }
        if spec.labels:
            fields["labels"] = ",".join(spec.labels)
        if spec.reviewers:
            fields["reviewer_ids"] = self._user_ids(spec.reviewers)
        if spec.assignees:
            fields["assignee_ids"] = self._user_ids(spec.assignees)
        if spec.team_reviewers:
            raise ForgeError("GitLab has no team reviewers; name the people with --reviewer")
        data = self.client.request("POST", f"/projects/{_project(spec.owner_repo)}/merge_requests", fields).data
        return _pull(data, created=True)

    def edit(self, project: str, pr: PullRequest, *, title: str | None, body: str | None, base: str | None) -> None:
        pairs = (("title", title), ("description", body), ("target_branch", base))
        fields = {k: v for k, v in pairs if v is not None}
        if fields:
            self.client.request("PUT", f"/projects/{_project(project)}/merge_requests/{pr.number}", fields)

    def comment(self, project: str, pr: PullRequest, text: str) -> None:
        self.client.request("POST", f"/projects/{_project(project)}/merge_requests/{pr.number}/notes", {"body": text})

    def close(self, project: str, pr: PullRequest, body: str | None = None) -> None:
        fields = {"state_event": "close", **({"description": body} if body is not None else {})}
        self.client.request("PUT", f"/projects/{_project(project)}/merge_requests/{pr.number}", fields)

    def find_fork(self, project: str, owner: str | None) -> Fork | None:
        raise ForgeError("--fork is not supported on GitLab yet")

    def fork(self, project: str, owner: str | None) -> Fork:
        raise ForgeError("--fork is not supported on GitLab yet")

    def merge(self, project: str, pr: PullRequest, method: str, sha: str) -> None:
        if method == "rebase":
            # GitLab rebases per project setting (fast-forward merge), not per request.
            raise ForgeError("GitLab merges with the project's merge method; use --method merge or squash")
        # `sha`: GitLab answers 409 "SHA does not match HEAD of source branch" when it moved.
        fields = {"squash": method == "squash", "sha": sha}
        self.client.request("PUT", f"/projects/{_project(project)}/merge_requests/{pr.number}/merge", fields)

    def status(self, project: str, head: str, with_review: bool = True) -> tuple[PullStatus | None, int]:
        before = self.client.calls
        reply = self.client.request(
            "POST",
            graphql_url(self.api_url),
            {"query": STATUS_QUERY, "variables": {"path": project, "head": head}},
            idempotent=True,  # a query: it changes nothing
        ).data
        if reply.get("errors"):
            raise ForgeError(f"GraphQL: {reply['errors'][0].get('message', reply['errors'][0])}")
        found = (reply.get("data") or {}).get("project")
        if found is None:
            raise ForgeError(f"GraphQL: project {project} not found")
        nodes = found["mergeRequests"]["nodes"]
        calls = self.client.calls - before
        if not nodes:
            return None, calls
        node = nodes[0]
        state = STATE.get(node["state"], "closed")
        if state == "open" and node["draft"]:
            state = "draft"
        pipeline = (node.get("headPipeline") or {}).get("status")
        merge_status = node.get("detailedMergeStatus") or ""
        if node.get("approved"):
            review = "approved"
        elif merge_status == "NOT_APPROVED":
            review = "review-required"
        else:
            review = "none"
        return (
            PullStatus(
                int(node["iid"]),
                node["webUrl"],
                state,
                PIPELINE.get(pipeline, "pending") if pipeline else "none",
                "yes" if merge_status == "MERGEABLE" else "no" if merge_status in UNMERGEABLE else "unknown",
                review,
                node.get("targetBranch", ""),
                node.get("diffHeadSha") or "",
            ),
            calls,
        )

    def list_repos(self, owner: str, scope: str) -> list[Discovered]:
        if scope == "group":
            path = f"/groups/{_project(owner)}/projects?include_subgroups=true&per_page=100"
        else:
            path = f"/users/{_project(owner)}/projects?per_page=100"
        return [
            Discovered(
                p["path_with_namespace"],
                p["http_url_to_repo"],
                archived=bool(p.get("archived")),
                fork="forked_from_project" in p,
                topics=tuple(p.get("topics") or p.get("tag_list") or ()),
                source=f"gitlab-{scope} {owner}",
                key=str(p["id"]),
            )
            for p in self.client.paginate(path)
        ]

    def search_code(self, query: str, owner: str, scope: str) -> set[str]:
        where = "groups" if scope == "group" else "users"
        found = self.client.paginate(f"/{where}/{_project(owner)}/search?scope=blobs&search={quote(query, safe='')}")
        return {str(blob["project_id"]) for blob in found}

"""GitLab REST: one merge request per repo, found by its source branch and updated in place."""

from __future__ import annotations

from urllib.parse import quote

from codemods.forge import PullRequest, PullRequestSpec
from codemods.forge.http import Client, ForgeError, RetryPolicy


class GitLab:
    def __init__(self, api_url: str, token: str, policy: RetryPolicy | None = None) -> None:
        self.client = Client(api_url, {"PRIVATE-TOKEN": token}, secrets=(token,), policy=policy)

    @staticmethod
    def _project(spec: PullRequestSpec) -> str:
        return quote(spec.owner_repo, safe="")

    def find(self, spec: PullRequestSpec) -> PullRequest | None:
        branch = quote(spec.head, safe="")
        found = (
            self.client.request(
                "GET", f"/projects/{self._project(spec)}/merge_requests?source_branch={branch}&state=opened"
            ).data
            or []
        )
        if not found:
            return None
        return PullRequest(found[0]["iid"], found[0]["web_url"], created=False)

    def _reviewer_ids(self, usernames: tuple[str, ...]) -> list[int]:
        ids = []
        for name in usernames:
            users = self.client.request("GET", f"/users?username={quote(name, safe='')}").data or []
            if not users:
                raise ForgeError(f"GitLab user {name!r} not found")
            ids.append(users[0]["id"])
        return ids

    def upsert(self, spec: PullRequestSpec) -> PullRequest:
        title = f"Draft: {spec.title}" if spec.draft else spec.title
        fields: dict[str, object] = {"title": title, "description": spec.body}
        if spec.labels:
            fields["labels"] = ",".join(spec.labels)
        existing = self.find(spec)
        if existing is not None:
            self.client.request("PUT", f"/projects/{self._project(spec)}/merge_requests/{existing.number}", fields)
            return existing
        if spec.reviewers:
            fields["reviewer_ids"] = self._reviewer_ids(spec.reviewers)
        fields.update({"source_branch": spec.head, "target_branch": spec.base, "remove_source_branch": True})
        data = self.client.request("POST", f"/projects/{self._project(spec)}/merge_requests", fields).data
        return PullRequest(data["iid"], data["web_url"], created=True)

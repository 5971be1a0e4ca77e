"""GitHub REST: one pull request per repo, found by its head branch and updated in place."""

from __future__ import annotations

from urllib.parse import quote

from codemods.forge import PullRequest, PullRequestSpec
from codemods.forge.http import Client, RetryPolicy


class GitHub:
    def __init__(self, api_url: str, token: str, policy: RetryPolicy | None = None) -> None:
        self.client = Client(
            api_url,
            {
                "Authorization": f"Bearer {token}",
                "Accept": "application/vnd.github+json",
                "X-GitHub-Api-Version": "2022-11-28",
            },
            secrets=(token,),
            policy=policy,
        )

    def find(self, spec: PullRequestSpec) -> PullRequest | None:
        owner = spec.owner_repo.split("/")[0]
        head = quote(f"{owner}:{spec.head}", safe="")
        found = self.client.request("GET", f"/repos/{spec.owner_repo}/pulls?head={head}&state=open").data or []
        if not found:
            return None
        return PullRequest(found[0]["number"], found[0]["html_url"], created=False)

    def upsert(self, spec: PullRequestSpec) -> PullRequest:
        existing = self.find(spec)
        if existing is not None:
            self.client.request(
                "PATCH", f"/repos/{spec.owner_repo}/pulls/{existing.number}", {"title": spec.title, "body": spec.body}
            )
            pr = existing
        else:
            body = {"title": spec.title, "head": spec.head, "base": spec.base, "body": spec.body, "draft": spec.draft}
            data = self.client.request("POST", f"/repos/{spec.owner_repo}/pulls", body).data
            pr = PullRequest(data["number"], data["html_url"], created=True)
        if spec.labels:
            self.client.request(
                "POST", f"/repos/{spec.owner_repo}/issues/{pr.number}/labels", {"labels": list(spec.labels)}
            )
        if spec.reviewers and pr.created:
            self.client.request(
                "POST",
                f"/repos/{spec.owner_repo}/pulls/{pr.number}/requested_reviewers",
                {"reviewers": list(spec.reviewers)},
            )
        return pr

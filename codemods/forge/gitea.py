"""Gitea and Forgejo REST (`/api/v1`): close to GitHub's, with a few differences.

The pull request list cannot filter by head branch (filtered here), labels are set by id,
a draft is a title starting with "WIP:", and there is no code search across repositories.
"""

from __future__ import annotations

from typing import Any

from codemods.forge.github import PullRequestEdits, split_head
from codemods.forge.http import ForgeApi, ForgeError
from codemods.forge.model import Discovered, PullRequest, PullRequestSpec, PullStatus

DRAFT_PREFIX = "WIP: "
CHECKS = {"success": "success", "failure": "failure", "error": "failure", "pending": "pending", "warning": "success"}


def _pull(data: dict[str, Any], created: bool = False) -> PullRequest:
    title = data.get("title") or ""
    return PullRequest(
        data["number"],
        data["html_url"],
        created=created,
        state="merged" if data.get("merged") else data["state"],
        base=(data.get("base") or {}).get("ref", ""),
        title=title,
        body=data.get("body") or "",
        draft=bool(data.get("draft")) or title.startswith(("WIP:", "[WIP]")),
        head=(data.get("head") or {}).get("sha") or "",
    )


class Gitea(PullRequestEdits, ForgeApi):
    kind = "gitea"

    display = "Gitea"

    @staticmethod
    def auth_headers(token: str) -> dict[str, str]:
        return {"Authorization": f"token {token}"}

    def _raw_pulls(self, project: str, head: str, pages: int) -> list[dict[str, Any]]:
        # Most recently updated first: the rollout's pull request is on the first page unless
        # the repository is very busy, so status reads one page and a run a few.
        path = f"/repos/{project}/pulls?state=all&sort=recentupdate&limit=50"
        fork_owner, branch = split_head(head)

        def matches(pull: dict[str, Any]) -> bool:
            head_of = pull.get("head") or {}
            if head_of.get("ref") != branch:
                return False
            owner = (((head_of.get("repo") or {}).get("owner")) or {}).get("login")
            return fork_owner is None or owner == fork_owner

        return [p for p in self.client.paginate(path, limit=pages) if matches(p)]

    def pulls(self, project: str, head: str) -> list[PullRequest]:
        return sorted((_pull(p) for p in self._raw_pulls(project, head, pages=5)), key=lambda p: -p.number)

    def _label_ids(self, project: str, names: tuple[str, ...]) -> list[int]:
        known = {label["name"]: label["id"] for label in self.client.paginate(f"/repos/{project}/labels?limit=50")}
        missing = [n for n in names if n not in known]
        if missing:
            raise ForgeError(f"Gitea label(s) {', '.join(missing)} not found in {project}")
        return [known[n] for n in names]

    def create(self, spec: PullRequestSpec) -> PullRequest:
        pr = self.submit(spec)
        self.decorate(spec, pr)
        return pr

    def submit(self, spec: PullRequestSpec) -> PullRequest:
        fields: dict[str, object] = {
            "title": f"{DRAFT_PREFIX}{spec.title}" if spec.draft else spec.title,
            "head": spec.head,
            "base": spec.base,
            "body": spec.body,
        }
        if spec.labels:  # set by id with the pull request itself
            fields["labels"] = self._label_ids(spec.owner_repo, spec.labels)
        if spec.assignees:
            fields["assignees"] = list(spec.assignees)
        return _pull(self.client.request("POST", f"/repos/{spec.owner_repo}/pulls", fields).data, created=True)

    def decorate(self, spec: PullRequestSpec, pr: PullRequest) -> None:
        if spec.reviewers or spec.team_reviewers:
            self._request_reviewers(spec.owner_repo, pr.number, spec.reviewers, spec.team_reviewers)

    def merge(self, project: str, pr: PullRequest, method: str, sha: str) -> None:
        # `head_commit_id`: Gitea/Forgejo answer 409 "head out of date" when the head moved.
        self.client.request("POST", f"/repos/{project}/pulls/{pr.number}/merge", {"Do": method, "head_commit_id": sha})

    def status(self, project: str, head: str, with_review: bool = True) -> tuple[PullStatus | None, int]:
        before = self.client.calls
        found = self._raw_pulls(project, head, pages=1)
        if not found:
            return None, self.client.calls - before
        data = max(found, key=lambda p: p["number"])
        pr = _pull(data)
        state = "draft" if pr.state == "open" and pr.draft else pr.state
        combined = self.client.request("GET", f"/repos/{project}/commits/{data['head']['sha']}/status").data or {}
        checks = CHECKS.get(combined.get("state") or "", "pending") if combined.get("statuses") else "none"
        review = "unknown"  # not in the list endpoint: a third call, made only when asked
        if with_review:
            reviews = self.client.request("GET", f"/repos/{project}/pulls/{pr.number}/reviews").data or []
            states = [r.get("state") for r in reviews if not r.get("dismissed") and not r.get("stale")]
            if "REQUEST_CHANGES" in states:
                review = "changes-requested"
            elif "APPROVED" in states:
                review = "approved"
            else:
                review = "none"
        mergeable = "yes" if data.get("mergeable") else "no" if data.get("mergeable") is False else "unknown"
        status = PullStatus(pr.number, pr.url, state, checks, mergeable, review, pr.base, pr.head)
        return status, self.client.calls - before

    def list_repos(self, owner: str, scope: str) -> list[Discovered]:
        path = f"/orgs/{owner}/repos?limit=50" if scope == "org" else f"/users/{owner}/repos?limit=50"
        return [
            Discovered(
                r["full_name"],
                r["clone_url"],
                archived=bool(r.get("archived")),
                fork=bool(r.get("fork")),
                topics=tuple(r.get("topics") or ()),
                source=f"gitea-{scope} {owner}",
            )
            for r in self.client.paginate(path)
        ]

    def search_code(self, query: str, owner: str, scope: str) -> set[str]:
        raise ForgeError("Gitea/Forgejo has no code search across repositories; use --topic, or list REPOs")

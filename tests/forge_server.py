"""A real HTTP server on 127.0.0.1 that speaks the GitHub, GitLab and Gitea endpoints batch uses.

It is a fake of an external service, not of our code: the forge clients talk real HTTP to it.
Its API answers under the forge's usual prefix (`/api/v3`, `/api/v4`, `/api/v1`, GraphQL at
`/api/graphql`) and also at the root, as `--api-url` tests have always used it. Every other
path is git's smart HTTP protocol, served by the real `git http-backend` from `git_root`, so
repositories have http clone URLs on this host (`http://127.0.0.1:PORT/group/sub/app.git`),
and merges, branch deletions and code search act on real repositories.

The very first API request gets GitHub's secondary-rate-limit answer (403 with Retry-After),
unless rate_limit_first is off. `failures` injects answers: {regex on "METHOD path": (status, times)}.

Faults of a flaky forge (issue 21): `after_commit` does the request, then loses its answer,
{regex on "METHOD path": (fault, times)} with fault "drop" (the connection is closed without
an answer) or a status such as "502"; `rate_limit_after` = (regex, seconds) spends the quota at
the first matching request, after which every API request is refused until the reset, and
`rate_limit_at` does the same from the matching request itself (refused too), with
the forge's headers (GitHub: 403, X-RateLimit-Remaining 0 and X-RateLimit-Reset; GitLab and
Gitea: 429 with Retry-After and RateLimit-Reset); `rate_limited_until` sets the reset directly.
The request log records when each request arrived (`at`) and the status answered (`status`,
0 for none), and `GET /user` answers who the token is, as the forges' token check asks.

Forks (`--fork`): `GET /repos/OWNER/NAME` answers a hosted repository (with `fork` and
`parent`), and `POST /repos/OWNER/NAME/forks` makes a real bare clone under the token's user
(codemods-bot) or the `organization` asked for. A pull request's head may be `owner:branch`
from a fork. `read_only` projects refuse every push (git's receive-pack answers 403), as a
repository the token may read but not write. `git_requests` logs git's own requests (method,
path, headers), so a test can see which host got a token.

`on_request` runs an action once, just before the request it matches is answered: {regex on
"METHOD path?query": action}, e.g. a person's push to the pull request's branch between the
check and the merge. A merge that names the head it checked (GitHub and GitLab `sha`, Gitea
`head_commit_id`) is refused with 409 when the head is no longer that commit, as the forges do.
"""

from __future__ import annotations

import json
import math
import os
import re
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar
from urllib.parse import parse_qs, unquote, urlsplit

API_PREFIX = re.compile(r"^/api/v[134](?=/)")


@dataclass(frozen=True)
class Request:
    """One API request, as a route's handler sees it: the method, the path's match, the query
    and the JSON body."""

    method: str
    match: re.Match[str]
    query: dict[str, list[str]]
    body: Any


Routes = list[tuple[re.Pattern[str], set[str] | None, Callable[["FakeForge", Request], tuple[int, object]]]]


@dataclass
class Recorded:
    method: str
    path: str
    headers: dict[str, str]
    body: object
    at: float = field(default_factory=time.time)  # when it arrived
    status: int = 0  # the status answered; 0 when the answer was dropped


def _git(git_dir: Path, *args: str, check: bool = True) -> str:
    result = subprocess.run(["git", "--git-dir", str(git_dir), *args], capture_output=True, text=True, check=check)
    return result.stdout.strip()


@dataclass
class FakeForge:
    token: str
    rate_limit_first: bool = True
    kind: str = "github"
    git_root: Path | None = None  # bare repositories served over smart HTTP, <project>.git
    requests: list[Recorded] = field(default_factory=list)
    pulls: dict[str, list[dict]] = field(default_factory=dict)  # project -> PRs or MRs, native shape
    users: dict[str, int] = field(default_factory=lambda: {"alice": 7, "bob": 8})
    repos: list[dict] = field(default_factory=list)  # for discovery: project, archived, fork, topics
    labels: dict[str, int] = field(default_factory=lambda: {"codemods": 1, "a": 2, "b": 3})  # Gitea label ids
    comments: list[tuple[str, int, str]] = field(default_factory=list)  # project, number, text
    on_request: dict[str, Callable[[], None]] = field(default_factory=dict)  # regex -> action, run once
    failures: dict[str, tuple[int, int]] = field(default_factory=dict)  # regex on "METHOD path" -> (status, times)
    lock: threading.Lock = field(default_factory=threading.Lock)
    url: str = ""
    after_commit: dict[str, tuple[str, int]] = field(default_factory=dict)  # regex -> ("drop" or "502", times)
    rate_limit_after: tuple[str, float] | None = None  # (regex on "METHOD path", seconds until the reset)
    rate_limit_at: tuple[str, float] | None = None  # the same, the matching request refused too
    rate_limited_until: float = 0.0  # epoch seconds: API requests are refused until then
    read_only: set[str] = field(default_factory=set)  # projects the token may not push to
    git_requests: list[Recorded] = field(default_factory=list)  # git smart-HTTP requests
    user: str = "codemods-bot"  # who the token is

    def calls(self, method: str, pattern: str = "") -> list[Recorded]:
        return [r for r in self.requests if r.method == method and re.search(pattern, r.path)]

    # -- a flaky forge ------------------------------------------------------------------------
    def rate_limit_answer(self) -> tuple[int, object, dict[str, str]] | None:
        """The forge's refusal while the quota is spent, with its reset headers."""
        if time.time() >= self.rate_limited_until:
            return None
        reset = str(math.ceil(self.rate_limited_until))
        if self.kind == "github":
            headers = {"X-RateLimit-Limit": "5000", "X-RateLimit-Remaining": "0", "X-RateLimit-Reset": reset}
            return 403, {"message": "API rate limit exceeded for user."}, headers
        wait = str(max(math.ceil(self.rate_limited_until - time.time()), 1))
        return 429, {"message": "429 Too Many Requests"}, {"Retry-After": wait, "RateLimit-Reset": reset}

    def spend_quota(self, key: str) -> None:
        if self.rate_limit_after is not None and re.search(self.rate_limit_after[0], key):
            self.rate_limited_until = math.ceil(time.time() + self.rate_limit_after[1])
            self.rate_limit_after = None

    def spend_quota_at(self, key: str) -> None:
        if self.rate_limit_at is not None and re.search(self.rate_limit_at[0], key):
            self.rate_limited_until = math.ceil(time.time() + self.rate_limit_at[1])
            self.rate_limit_at = None

    def fault_after_commit(self, key: str) -> str | None:
        """How the answer of a request that was done is lost, if it is."""
        pattern = next((p for p, (_f, n) in self.after_commit.items() if n > 0 and re.search(p, key)), None)
        if pattern is None:
            return None
        fault, left = self.after_commit[pattern]
        self.after_commit[pattern] = (fault, left - 1)
        return fault

    # -- hosted repositories --------------------------------------------------------------
    def git_dir(self, project: str) -> Path | None:
        if self.git_root is None:
            return None
        path = self.git_root / f"{project}.git"
        return path if path.is_dir() else None

    def clone_url(self, project: str) -> str:
        return f"{self.url}/{project}.git"

    def branch_sha(self, project: str, branch: str) -> str:
        git_dir = self.git_dir(project)
        if git_dir is None:
            return "0" * 40
        return _git(git_dir, "rev-parse", "--verify", "--quiet", f"refs/heads/{branch}", check=False) or "0" * 40

    def _repo_entry(self, project: str) -> dict:
        return next((r for r in self.repos if r["project"] == project), {"project": project})

    def _search(self, query: str, owner: str) -> list[str]:
        """Projects below owner whose default branch mentions query: real `git grep`."""
        hits = []
        for repo in self.repos:
            project = repo["project"]
            git_dir = self.git_dir(project)
            if not project.startswith(f"{owner}/") or git_dir is None:
                continue
            found = subprocess.run(
                ["git", "--git-dir", str(git_dir), "grep", "-q", "-F", query, "HEAD"], capture_output=True, check=False
            )
            if found.returncode == 0:
                hits.append(project)
        return hits

    def _merge(self, project: str, head: str, base: str) -> bool:
        """Fast-forward base to the head branch in the real repository, as a merge would land."""
        git_dir = self.git_dir(project)
        if git_dir is None:
            return True
        head_sha, base_sha = self.branch_sha(project, head), self.branch_sha(project, base)
        ancestor = subprocess.run(
            ["git", "--git-dir", str(git_dir), "merge-base", "--is-ancestor", base_sha, head_sha], check=False
        )
        if ancestor.returncode != 0:
            return False
        _git(git_dir, "update-ref", f"refs/heads/{base}", head_sha, base_sha)
        return True

    def _delete_branch(self, project: str, branch: str) -> None:
        git_dir = self.git_dir(project)
        if git_dir is not None:
            _git(git_dir, "update-ref", "-d", f"refs/heads/{branch}", check=False)

    def _repos_of(self, owner: str, nested: bool) -> list[dict]:
        def below(project: str) -> bool:
            parent = project.rsplit("/", 1)[0]
            return parent == owner or (nested and parent.startswith(f"{owner}/"))

        return [r for r in self.repos if below(r["project"])]

    # -- GitHub and Gitea ---------------------------------------------------------------------
    def _head(self, repo: str, head: str) -> dict:
        """A pull request's head: `branch`, or `owner:branch` from owner's fork of repo."""
        owner, _sep, branch = head.rpartition(":")
        owner = owner or repo.split("/")[0]
        head_repo = repo if owner == repo.split("/")[0] else f"{owner}/{repo.split('/')[-1]}"
        return {
            "ref": branch,
            "label": f"{owner}:{branch}",
            "repo": {"full_name": head_repo, "owner": {"login": owner}},
        }

    def _github_pr(self, repo: str, body: dict) -> dict:
        prs = self.pulls.setdefault(repo, [])
        number = len(prs) + 1
        host = "github.example" if self.kind == "github" else "gitea.example"
        return {
            "number": number,
            "html_url": f"https://{host}/{repo}/pull/{number}",
            "state": "open",
            "merged_at": None,
            "merged": False,
            "title": body["title"],
            "body": body["body"],
            "draft": body.get("draft", False),
            "head": self._head(repo, body["head"]),
            "base": {"ref": body["base"]},
            "labels": [],
            "requested_reviewers": [],
            "requested_teams": [],
            "assignees": list(body.get("assignees") or []),
            "checks": None,  # success, failure, pending: set by tests
            "review": None,  # APPROVED, CHANGES_REQUESTED: set by tests
            "mergeable": True,
        }

    def head_sha(self, repo: str, pr: dict) -> str:
        head = pr["head"]
        return self.branch_sha((head.get("repo") or {}).get("full_name") or repo, head["ref"])

    def _with_sha(self, repo: str, pr: dict) -> dict:
        return {**pr, "head": {**pr["head"], "sha": self.head_sha(repo, pr)}}

    def _repo_answer(self, project: str) -> tuple[int, object]:
        entry = next((r for r in self.repos if r["project"].lower() == project.lower()), None)
        if entry is None or self.git_dir(entry["project"]) is None:
            return 404, {"message": "Not Found"}
        answer = {
            "full_name": entry["project"],
            "clone_url": self.clone_url(entry["project"]),
            "owner": {"login": entry["project"].split("/")[0]},
            "fork": bool(entry.get("fork")),
        }
        if entry.get("parent"):
            answer["parent"] = {"full_name": entry["parent"]}
        return 200, answer

    def _fork(self, repo: str, body: dict) -> tuple[int, object]:
        """A real fork: a bare clone of repo under the organization asked for, or the token's user."""
        owner = (body or {}).get("organization") or self.user
        fork = f"{owner}/{repo.split('/')[-1]}"
        source, git_root = self.git_dir(repo), self.git_root
        assert source is not None and git_root is not None
        if self.git_dir(fork) is None:
            subprocess.run(
                ["git", "clone", "-q", "--bare", str(source), str(git_root / f"{fork}.git")],
                check=True,
                capture_output=True,
            )
            self.repos.append({"project": fork, "fork": True, "parent": repo})
        return 202, self._repo_answer(fork)[1]

    def github(self, method: str, path: str, query: dict[str, list[str]], body: Any) -> tuple[int, object]:
        """GitHub's REST API, and Gitea's where it is the same (self.kind says which)."""
        return self._route(GITHUB_ROUTES, method, path, query, body, {"message": "Not Found"})

    def _route(
        self, routes: Routes, method: str, path: str, query: dict[str, list[str]], body: Any, missing: object
    ) -> tuple[int, object]:
        """The first route whose pattern is the whole path and that takes the method answers."""
        for pattern, methods, handler in routes:
            m = pattern.fullmatch(path)
            if m is not None and (methods is None or method in methods):
                return handler(self, Request(method, m, query, body))
        return 404, missing

    def _gh_pulls(self, r: Request) -> tuple[int, object]:
        gitea = self.kind == "gitea"
        repo = r.match.group(1)
        prs = self.pulls.setdefault(repo, [])
        if r.method == "GET":
            state = r.query.get("state", ["open"])[0]
            found = [p for p in prs if state == "all" or p["state"] == state]
            if not gitea and "head" in r.query:  # Gitea's list cannot filter by head
                found = [p for p in found if p["head"]["label"] == r.query["head"][0]]
            return 200, [self._with_sha(repo, p) for p in sorted(found, key=lambda p: -p["number"])]
        body = r.body
        label = self._head(repo, body["head"])["label"]
        if any(p["head"]["label"] == label and p["state"] == "open" for p in prs):
            return 422, {"message": "Validation Failed", "errors": [{"message": "A pull request already exists"}]}
        pr = self._github_pr(repo, body)
        if gitea and body.get("labels"):
            names = {v: k for k, v in self.labels.items()}
            pr["labels"] = sorted(names[i] for i in body["labels"])
        prs.append(pr)
        return 201, pr

    def _numbered(self, repo: str, r: Request) -> dict:
        """The pull request (or merge request) of repo whose number the path names."""
        return self.pulls[repo][int(r.match.group(2)) - 1]

    def _gh_pull(self, r: Request) -> tuple[int, object]:
        pr = self._numbered(r.match.group(1), r)
        if r.method == "PATCH":
            pr.update({k: v for k, v in r.body.items() if k in ("title", "body", "state")})
            if "base" in r.body:
                pr["base"] = {"ref": r.body["base"]}
        return 200, self._with_sha(r.match.group(1), pr)

    def _gh_merge(self, r: Request) -> tuple[int, object]:
        repo, body = r.match.group(1), r.body
        pr = self._numbered(repo, r)
        checked = body.get("sha") or body.get("head_commit_id")
        if checked and pr["state"] == "open" and checked != self.head_sha(repo, pr):
            moved = "Head branch was modified. Review and try the merge again."
            return 409, {"message": "head out of date" if self.kind == "gitea" else moved}
        if pr["state"] != "open" or not self._merge(repo, pr["head"]["ref"], pr["base"]["ref"]):
            return 405, {"message": "Pull Request is not mergeable"}
        pr.update({"state": "closed", "merged_at": "2026-01-01T00:00:00Z", "merged": True})
        pr["merge_method"] = body.get("merge_method") or body.get("Do")
        return 200, {"merged": True}

    def _gh_reviews(self, r: Request) -> tuple[int, object]:
        pr = self._numbered(r.match.group(1), r)
        return 200, ([{"state": pr["review"], "dismissed": False, "stale": False}] if pr["review"] else [])

    def _gh_labels(self, r: Request) -> tuple[int, object]:
        pr = self._numbered(r.match.group(1), r)
        pr["labels"] = sorted(set(pr["labels"]) | set(r.body["labels"]))
        return 200, [{"name": n} for n in pr["labels"]]

    def _comment(self, repo: str, r: Request) -> tuple[int, object]:
        self.comments.append((repo, int(r.match.group(2)), r.body["body"]))
        return 201, {"body": r.body["body"]}

    def _gh_comment(self, r: Request) -> tuple[int, object]:
        return self._comment(r.match.group(1), r)

    def _gl_comment(self, r: Request) -> tuple[int, object]:
        return self._comment(unquote(r.match.group(1)), r)

    def _gh_reviewers(self, r: Request) -> tuple[int, object]:
        pr = self._numbered(r.match.group(1), r)
        pr["requested_reviewers"] = r.body.get("reviewers") or []
        pr["requested_teams"] = r.body.get("team_reviewers") or []
        return 201, pr

    def _gh_assignees(self, r: Request) -> tuple[int, object]:
        pr = self._numbered(r.match.group(1), r)
        pr["assignees"] = sorted(set(pr["assignees"]) | set(r.body["assignees"]))
        return 201, pr

    def _gh_fork(self, r: Request) -> tuple[int, object]:
        return self._fork(r.match.group(1), r.body)

    def _gh_repo(self, r: Request) -> tuple[int, object]:
        return self._repo_answer(r.match.group(1))

    def _gh_delete_branch(self, r: Request) -> tuple[int, object]:
        self._delete_branch(r.match.group(1), unquote(r.match.group(2)))
        return 204, None

    def _gl_delete_branch(self, r: Request) -> tuple[int, object]:
        self._delete_branch(unquote(r.match.group(1)), unquote(r.match.group(2)))
        return 204, None

    def _gh_label_list(self, r: Request) -> tuple[int, object]:
        return 200, [{"id": i, "name": n} for n, i in self.labels.items()]

    def _gh_commit_status(self, r: Request) -> tuple[int, object]:
        repo, sha = r.match.group(1), r.match.group(2)
        checks = [p["checks"] for p in self.pulls.get(repo, []) if self.branch_sha(repo, p["head"]["ref"]) == sha]
        state = checks[-1] if checks else None
        return 200, {"state": state or "", "statuses": [{"state": state}] if state else []}

    def _gh_owner_repos(self, r: Request) -> tuple[int, object]:
        return 200, [
            {
                "full_name": repo["project"],
                "clone_url": self.clone_url(repo["project"]),
                "archived": repo.get("archived", False),
                "fork": repo.get("fork", False),
                "topics": repo.get("topics", []),
            }
            for repo in self._repos_of(r.match.group(2), nested=False)
        ]

    def _gh_search_code(self, r: Request) -> tuple[int, object]:
        terms = r.query["q"][0].split()
        owner = next(t.split(":", 1)[1] for t in terms if t.startswith(("org:", "user:")))
        text = " ".join(t for t in terms if not t.startswith(("org:", "user:")))
        return 200, {"items": [{"repository": {"full_name": p}} for p in self._search(text, owner)]}

    def github_graphql(self, variables: dict[str, str]) -> object:
        repo = f"{variables['owner']}/{variables['name']}"
        if not any(r["project"] == repo for r in self.repos) and repo not in self.pulls:
            return {"data": {"repository": None}}
        prs = [p for p in self.pulls.get(repo, []) if p["head"]["ref"] == variables["head"]]
        nodes = []
        for p in sorted(prs, key=lambda p: -p["number"])[:5]:
            state = "MERGED" if p["merged_at"] else p["state"].upper()
            review = p["review"] or ("REVIEW_REQUIRED" if p["requested_reviewers"] else None)
            rollup = {"state": p["checks"].upper()} if p["checks"] else None
            nodes.append(
                {
                    "number": p["number"],
                    "url": p["html_url"],
                    "state": state,
                    "isDraft": p["draft"],
                    "mergeable": "MERGEABLE" if p["mergeable"] else "CONFLICTING",
                    "reviewDecision": review,
                    "baseRefName": p["base"]["ref"],
                    "headRefOid": self.head_sha(repo, p),
                    "headRepositoryOwner": {"login": p["head"]["repo"]["owner"]["login"]},
                    "commits": {"nodes": [{"commit": {"statusCheckRollup": rollup}}]},
                }
            )
        return {"data": {"repository": {"pullRequests": {"nodes": nodes}}}}

    # -- GitLab -------------------------------------------------------------------------
    def gitlab(self, method: str, path: str, query: dict[str, list[str]], body: Any) -> tuple[int, object]:
        return self._route(GITLAB_ROUTES, method, path, query, body, {"message": "404 Not Found"})

    def _gl_users(self, r: Request) -> tuple[int, object]:
        name = r.query["username"][0]
        return 200, ([{"id": self.users[name], "username": name}] if name in self.users else [])

    def _gl_merge_requests(self, r: Request) -> tuple[int, object]:
        repo = unquote(r.match.group(1))
        if "/" not in repo:
            return 404, {"message": "404 Project Not Found"}
        mrs = self.pulls.setdefault(repo, [])
        if r.method == "GET":
            branch, state = r.query["source_branch"][0], r.query.get("state", ["opened"])[0]
            found = [mr for mr in mrs if mr["source_branch"] == branch and state in ("all", mr["state"])]
            return 200, [self._mr_with_sha(repo, mr) for mr in sorted(found, key=lambda mr: -mr["iid"])]
        iid = len(mrs) + 1
        mr = {
            "iid": iid,
            "web_url": f"https://gitlab.example/{repo}/-/merge_requests/{iid}",
            "state": "opened",
            "draft": r.body["title"].startswith("Draft: "),
            "checks": None,
            "approved": False,
            "mergeable": True,
            **r.body,
        }
        mrs.append(mr)
        return 201, mr

    def _gl_merge_request(self, r: Request) -> tuple[int, object]:
        mr, body = self._numbered(unquote(r.match.group(1)), r), r.body
        event = body.pop("state_event", None) if isinstance(body, dict) else None
        mr.update(body)
        if event == "close":
            mr["state"] = "closed"
        mr["draft"] = mr["title"].startswith("Draft: ")
        return 200, self._mr_with_sha(unquote(r.match.group(1)), mr)

    def _gl_merge(self, r: Request) -> tuple[int, object]:
        repo, body = unquote(r.match.group(1)), r.body
        mr = self._numbered(repo, r)
        head = self.branch_sha(repo, mr["source_branch"])
        if body.get("sha") and mr["state"] == "opened" and body["sha"] != head:
            return 409, {"message": f"SHA does not match HEAD of source branch: {head}"}
        if mr["state"] != "opened" or not self._merge(repo, mr["source_branch"], mr["target_branch"]):
            return 405, {"message": "405 Method Not Allowed"}
        mr.update({"state": "merged", "squash": body.get("squash", False)})
        return 200, mr

    def _gl_group_projects(self, r: Request) -> tuple[int, object]:
        group = unquote(r.match.group(1))
        nested = r.query.get("include_subgroups", ["false"])[0] == "true"
        out = []
        for repo in self._repos_of(group, nested):
            entry = {
                "id": repo.get("id", abs(hash(repo["project"])) % 100000),
                "path_with_namespace": repo["project"],
                "http_url_to_repo": self.clone_url(repo["project"]),
                "archived": repo.get("archived", False),
                "topics": repo.get("topics", []),
            }
            if repo.get("fork"):
                entry["forked_from_project"] = {"id": 1}
            out.append(entry)
        return 200, out

    def _gl_group_search(self, r: Request) -> tuple[int, object]:
        group = unquote(r.match.group(1))
        hits = self._search(r.query["search"][0], group)
        ids = {repo["project"]: repo.get("id", abs(hash(repo["project"])) % 100000) for repo in self.repos}
        return 200, [{"project_id": ids[p], "filename": "?"} for p in hits]

    def _mr_with_sha(self, repo: str, mr: dict) -> dict:
        return {**mr, "sha": self.branch_sha(repo, mr["source_branch"])}

    def gitlab_graphql(self, variables: dict[str, str]) -> object:
        repo = variables["path"]
        if not any(r["project"] == repo for r in self.repos) and repo not in self.pulls:
            return {"data": {"project": None}}
        mrs = [mr for mr in self.pulls.get(repo, []) if mr["source_branch"] == variables["head"]]
        nodes = []
        for mr in sorted(mrs, key=lambda mr: -mr["iid"])[:5]:
            if not mr["mergeable"]:
                merge_status = "CONFLICT"
            elif not mr["approved"] and mr.get("reviewer_ids"):
                merge_status = "NOT_APPROVED"
            else:
                merge_status = "MERGEABLE"
            pipeline = {"success": "SUCCESS", "failure": "FAILED", "pending": "RUNNING"}.get(mr["checks"] or "")
            nodes.append(
                {
                    "iid": str(mr["iid"]),
                    "webUrl": mr["web_url"],
                    "state": mr["state"],
                    "draft": mr["draft"],
                    "approved": mr["approved"],
                    "detailedMergeStatus": merge_status,
                    "targetBranch": mr["target_branch"],
                    "diffHeadSha": self.branch_sha(repo, mr["source_branch"]),
                    "headPipeline": {"status": pipeline} if pipeline else None,
                }
            )
        return {"data": {"project": {"mergeRequests": {"nodes": nodes}}}}

    # -- dispatch -------------------------------------------------------------------------
    def authorized(self, headers: dict[str, str]) -> bool:
        if self.kind == "gitlab":
            return headers.get("private-token", "") == self.token
        if self.kind == "gitea":
            return headers.get("authorization", "") == f"token {self.token}"
        return headers.get("authorization", "") == f"Bearer {self.token}"

    def api(self, method: str, path: str, query: dict[str, list[str]], body: Any) -> tuple[int, object]:
        if path in ("/api/graphql", "/graphql"):
            variables = body.get("variables") or {}
            return 200, self.gitlab_graphql(variables) if self.kind == "gitlab" else self.github_graphql(variables)
        path = API_PREFIX.sub("", path)
        if path == "/user":  # who the token is: the token check of every forge
            return 200, {"login": self.user, "username": self.user, "id": 1}
        handler = self.gitlab if self.kind == "gitlab" else self.github
        return handler(method, path, query, body)


_REPO = r"/repos/([^/]+/[^/]+)"
# (path pattern, the methods it takes (None: any), handler): the first whose pattern is the
# whole path and that takes the method answers; none: 404.
GITHUB_ROUTES: Routes = [
    (re.compile(rf"{_REPO}/pulls"), None, FakeForge._gh_pulls),
    (re.compile(rf"{_REPO}/pulls/(\d+)"), None, FakeForge._gh_pull),
    (re.compile(rf"{_REPO}/pulls/(\d+)/merge"), None, FakeForge._gh_merge),
    (re.compile(rf"{_REPO}/pulls/(\d+)/reviews"), None, FakeForge._gh_reviews),
    (re.compile(rf"{_REPO}/issues/(\d+)/labels"), None, FakeForge._gh_labels),
    (re.compile(rf"{_REPO}/issues/(\d+)/comments"), None, FakeForge._gh_comment),
    (re.compile(rf"{_REPO}/pulls/(\d+)/requested_reviewers"), None, FakeForge._gh_reviewers),
    (re.compile(rf"{_REPO}/issues/(\d+)/assignees"), None, FakeForge._gh_assignees),
    (re.compile(rf"{_REPO}/forks"), None, FakeForge._gh_fork),
    (re.compile(_REPO), {"GET"}, FakeForge._gh_repo),
    (re.compile(rf"{_REPO}/(?:git/refs/heads|branches)/(.+)"), {"DELETE"}, FakeForge._gh_delete_branch),
    (re.compile(rf"{_REPO}/labels"), None, FakeForge._gh_label_list),
    (re.compile(rf"{_REPO}/commits/([0-9a-f]+)/status"), None, FakeForge._gh_commit_status),
    (re.compile(r"/(orgs|users)/([^/]+)/repos"), None, FakeForge._gh_owner_repos),
    (re.compile(r"/search/code"), None, FakeForge._gh_search_code),
]
_PROJECT = r"/projects/([^/]+)"
GITLAB_ROUTES: Routes = [
    (re.compile(r"/users"), None, FakeForge._gl_users),
    (re.compile(rf"{_PROJECT}/merge_requests"), None, FakeForge._gl_merge_requests),
    (re.compile(rf"{_PROJECT}/merge_requests/(\d+)"), None, FakeForge._gl_merge_request),
    (re.compile(rf"{_PROJECT}/merge_requests/(\d+)/merge"), None, FakeForge._gl_merge),
    (re.compile(rf"{_PROJECT}/merge_requests/(\d+)/notes"), None, FakeForge._gl_comment),
    (re.compile(rf"{_PROJECT}/repository/branches/(.+)"), None, FakeForge._gl_delete_branch),
    (re.compile(r"/groups/([^/]+)/projects"), None, FakeForge._gl_group_projects),
    (re.compile(r"/groups/([^/]+)/search"), None, FakeForge._gl_group_search),
]


def is_git_path(path: str) -> bool:
    return bool(re.search(r"\.git/(info/refs|git-upload-pack|git-receive-pack)$", path))


class Handler(BaseHTTPRequestHandler):
    """The stand-in's HTTP side: git's smart HTTP through git http-backend, the API through
    the forge's routes, with the injected faults and rate limits on the way."""

    forge: ClassVar[FakeForge]  # set by serve(), on a subclass per server
    record: Recorded | None = None  # the API request being answered, for its logged status

    def log_message(self, *args: object) -> None:  # keep test output clean
        pass

    def _handle(self) -> None:
        self.record = None
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        split = urlsplit(self.path)
        self._run_action(f"{self.command} {self.path}")
        if is_git_path(split.path):
            with self.forge.lock:
                headers = {k.lower(): v for k, v in self.headers.items()}
                self.forge.git_requests.append(Recorded(self.command, split.path, headers, None))
            if self._injected(f"{self.command} {split.path}") or self._refused_push(split.path, split.query):
                return
            self._git(split.path, split.query, raw)
            return
        body = json.loads(raw or b"null") if raw else {}
        headers = {k.lower(): v for k, v in self.headers.items()}
        key = f"{self.command} {split.path}"
        with self.forge.lock:
            self.record = Recorded(self.command, split.path, headers, body)
            self.forge.requests.append(self.record)
            if self.forge.rate_limit_first:
                self.forge.rate_limit_first = False
                self._reply(
                    403,
                    {"message": "You have exceeded a secondary rate limit. Please wait a few minutes."},
                    {"Retry-After": "1"},
                )
                return
            if self._injected(f"{self.command} {split.path}", locked=True):
                return
            if not self.forge.authorized(headers):
                self._reply(401, {"message": "Bad credentials"})
                return
            self.forge.spend_quota_at(key)
            if (limited := self.forge.rate_limit_answer()) is not None:
                self._reply(*limited)
                return
            status, data = self.forge.api(self.command, split.path, parse_qs(split.query), body or {})
            self.forge.spend_quota(key)
            fault = self.forge.fault_after_commit(key)
        if fault == "drop":  # done, and the answer never leaves: the client sees a closed connection
            self.close_connection = True
            return
        if fault is not None:
            status, data = int(fault), {"message": f"injected failure {fault} after the request was done"}
        self._reply(status, data)

    def _refused_push(self, path: str, query: str) -> bool:
        """A push (receive-pack) to a project the token may only read: 403, as forges answer."""
        if "git-receive-pack" not in path and "service=git-receive-pack" not in query:
            return False
        project = re.sub(r"\.git/.*$", "", path).strip("/")
        if project not in self.forge.read_only:
            return False
        self._reply(403, {"message": f"Permission to {project}.git denied to {self.forge.user}."})
        return True

    def _run_action(self, key: str) -> None:
        """The on_request action that matches, once; outside the lock, as it may touch git."""
        with self.forge.lock:
            pattern = next((p for p in self.forge.on_request if re.search(p, key)), None)
            action = self.forge.on_request.pop(pattern) if pattern is not None else None
        if action is not None:
            action()

    def _injected(self, key: str, locked: bool = False) -> bool:
        """Answer with an injected failure when one matches "METHOD path"."""
        if not locked:
            with self.forge.lock:
                return self._injected(key, locked=True)
        failing = next((p for p, (_s, n) in self.forge.failures.items() if n > 0 and re.search(p, key)), None)
        if failing is None:
            return False
        status, left = self.forge.failures[failing]
        self.forge.failures[failing] = (status, left - 1)
        self._reply(status, {"message": f"injected failure {status}"})
        return True

    def _git(self, path: str, query: str, raw: bytes) -> None:
        """git's smart HTTP through the real `git http-backend` (CGI)."""
        assert self.forge.git_root is not None, "this stand-in hosts no repositories"
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "GIT_PROJECT_ROOT": str(self.forge.git_root),
            "GIT_HTTP_EXPORT_ALL": "1",
            "GIT_CONFIG_NOSYSTEM": "1",
            "HOME": str(self.forge.git_root),
            "REMOTE_USER": "codemods-test",  # enables receive-pack (push)
            "REMOTE_ADDR": "127.0.0.1",
            "REQUEST_METHOD": self.command,
            "PATH_INFO": unquote(path),
            "QUERY_STRING": query,
            "CONTENT_TYPE": self.headers.get("Content-Type", ""),
            "CONTENT_LENGTH": str(len(raw)),
            "HTTP_CONTENT_ENCODING": self.headers.get("Content-Encoding", ""),
            "GIT_PROTOCOL": self.headers.get("Git-Protocol", ""),
        }
        out = subprocess.run(["git", "http-backend"], input=raw, env=env, capture_output=True, check=False).stdout
        head, _sep, payload = out.partition(b"\r\n\r\n")
        status = 200
        self_headers = []
        for line in head.decode("latin-1").split("\r\n"):
            name, _colon, value = line.partition(":")
            if name.lower() == "status":
                status = int(value.strip().split()[0])
            elif name:
                self_headers.append((name, value.strip()))
        self.send_response(status)
        for name, value in self_headers:
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def _reply(self, status: int, data: object, headers: dict[str, str] | None = None) -> None:
        raw = json.dumps(data).encode() if data is not None else b""
        if self.record is not None:
            self.record.status = status
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(raw)))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(raw)

    do_GET = do_POST = do_PATCH = do_PUT = do_DELETE = _handle


def serve(forge: FakeForge, kind: str | None = None) -> ThreadingHTTPServer:
    forge.kind = kind or forge.kind
    handler = type("ForgeHandler", (Handler,), {"forge": forge})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    forge.url = f"http://127.0.0.1:{server.server_address[1]}"
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    return server

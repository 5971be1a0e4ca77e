"""A real HTTP server on 127.0.0.1 that speaks the GitHub and GitLab endpoints batch uses.

It is a fake of an external service, not of our code: the forge clients talk real HTTP to it.
The very first request gets GitHub's secondary-rate-limit answer (403 with Retry-After).
"""

from __future__ import annotations

import json
import re
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, unquote, urlsplit


@dataclass
class Recorded:
    method: str
    path: str
    headers: dict[str, str]
    body: object


@dataclass
class FakeForge:
    token: str
    rate_limit_first: bool = True
    requests: list[Recorded] = field(default_factory=list)
    pulls: dict[str, list[dict]] = field(default_factory=dict)  # owner/repo -> PRs or MRs
    users: dict[str, int] = field(default_factory=lambda: {"alice": 7, "bob": 8})
    lock: threading.Lock = field(default_factory=threading.Lock)
    url: str = ""

    def calls(self, method: str, pattern: str = "") -> list[Recorded]:
        return [r for r in self.requests if r.method == method and re.search(pattern, r.path)]

    # -- GitHub -------------------------------------------------------------------------
    def github(self, method: str, path: str, query: dict[str, list[str]], body: dict) -> tuple[int, object]:
        if m := re.fullmatch(r"/repos/([^/]+/[^/]+)/pulls", path):
            repo = m.group(1)
            prs = self.pulls.setdefault(repo, [])
            if method == "GET":
                head = query["head"][0]
                return 200, [
                    p for p in prs if f"{repo.split('/')[0]}:{p['head']['ref']}" == head and p["state"] == "open"
                ]
            if any(p["head"]["ref"] == body["head"] and p["state"] == "open" for p in prs):
                return 422, {"message": "Validation Failed", "errors": [{"message": "A pull request already exists"}]}
            number = len(prs) + 1
            pr = {
                "number": number,
                "html_url": f"https://github.example/{repo}/pull/{number}",
                "state": "open",
                "title": body["title"],
                "body": body["body"],
                "draft": body.get("draft", False),
                "head": {"ref": body["head"]},
                "base": {"ref": body["base"]},
                "labels": [],
                "requested_reviewers": [],
            }
            prs.append(pr)
            return 201, pr
        if m := re.fullmatch(r"/repos/([^/]+/[^/]+)/pulls/(\d+)", path):
            pr = self.pulls[m.group(1)][int(m.group(2)) - 1]
            pr.update({k: v for k, v in body.items() if k in ("title", "body", "state")})
            return 200, pr
        if m := re.fullmatch(r"/repos/([^/]+/[^/]+)/issues/(\d+)/labels", path):
            pr = self.pulls[m.group(1)][int(m.group(2)) - 1]
            pr["labels"] = sorted(set(pr["labels"]) | set(body["labels"]))
            return 200, [{"name": n} for n in pr["labels"]]
        if m := re.fullmatch(r"/repos/([^/]+/[^/]+)/pulls/(\d+)/requested_reviewers", path):
            pr = self.pulls[m.group(1)][int(m.group(2)) - 1]
            pr["requested_reviewers"] = body["reviewers"]
            return 201, pr
        return 404, {"message": "Not Found"}

    # -- GitLab -------------------------------------------------------------------------
    def gitlab(self, method: str, path: str, query: dict[str, list[str]], body: dict) -> tuple[int, object]:
        if path == "/users":
            name = query["username"][0]
            return 200, ([{"id": self.users[name], "username": name}] if name in self.users else [])
        if m := re.fullmatch(r"/projects/([^/]+)/merge_requests", path):
            repo = unquote(m.group(1))
            mrs = self.pulls.setdefault(repo, [])
            if method == "GET":
                branch = query["source_branch"][0]
                return 200, [mr for mr in mrs if mr["source_branch"] == branch and mr["state"] == "opened"]
            iid = len(mrs) + 1
            mr = {
                "iid": iid,
                "web_url": f"https://gitlab.example/{repo}/-/merge_requests/{iid}",
                "state": "opened",
                **body,
            }
            mrs.append(mr)
            return 201, mr
        if m := re.fullmatch(r"/projects/([^/]+)/merge_requests/(\d+)", path):
            mr = self.pulls[unquote(m.group(1))][int(m.group(2)) - 1]
            mr.update(body)
            return 200, mr
        return 404, {"message": "404 Not Found"}


def serve(forge: FakeForge, kind: str) -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:  # keep test output clean
            pass

        def _handle(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = json.loads(self.rfile.read(length) or b"null") if length else {}
            split = urlsplit(self.path)
            with forge.lock:
                forge.requests.append(
                    Recorded(self.command, split.path, {k.lower(): v for k, v in self.headers.items()}, body)
                )
                if forge.rate_limit_first:
                    forge.rate_limit_first = False
                    self._reply(
                        403,
                        {"message": "You have exceeded a secondary rate limit. Please wait a few minutes."},
                        {"Retry-After": "1"},
                    )
                    return
                auth = (
                    self.headers.get("Authorization", "") if kind == "github" else self.headers.get("PRIVATE-TOKEN", "")
                )
                if forge.token not in auth:
                    self._reply(401, {"message": "Bad credentials"})
                    return
                handler = forge.github if kind == "github" else forge.gitlab
                status, data = handler(self.command, split.path, parse_qs(split.query), body or {})
            self._reply(status, data)

        def _reply(self, status: int, data: object, headers: dict[str, str] | None = None) -> None:
            raw = json.dumps(data).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(raw)))
            for key, value in (headers or {}).items():
                self.send_header(key, value)
            self.end_headers()
            self.wfile.write(raw)

        do_GET = do_POST = do_PATCH = do_PUT = _handle

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    forge.url = f"http://127.0.0.1:{server.server_address[1]}"
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server

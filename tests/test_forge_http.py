"""The forge HTTP client against a real server on 127.0.0.1: retries, backoff, limits."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from codemods.forge.http import Client, ForgeError, RetryPolicy

SECRET = "glpat-SECRET-TOKEN-123"


@pytest.fixture
def server() -> Iterator[tuple[str, list[tuple[int, dict[str, str]]]]]:
    """Answers each request with the next scripted (status, headers); records what it got."""
    script: list[tuple[int, dict[str, str]]] = []
    seen: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

        def do_GET(self) -> None:
            seen.append(self.path)
            status, headers = script.pop(0) if script else (200, {})
            body = json.dumps({"ok": status < 400, "message": f"{SECRET} must never be echoed"}).encode()
            self.send_response(status)
            for key, value in headers.items():
                self.send_header(key, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}", script
    httpd.shutdown()


def client(url: str, waits: list[float], tries: int = 5) -> Client:
    return Client(
        url,
        {"Authorization": f"Bearer {SECRET}"},
        secrets=(SECRET,),
        policy=RetryPolicy(tries=tries, backoff=0.5, sleep=waits.append),
    )


def test_5xx_is_retried_with_exponential_backoff(server) -> None:
    url, script = server
    script += [(502, {}), (503, {}), (200, {})]
    waits: list[float] = []
    assert client(url, waits).request("GET", "/x").data["ok"] is True
    assert waits == [0.5, 1.0]


def test_rate_limit_waits_as_told(server) -> None:
    url, script = server
    script += [(429, {"Retry-After": "7"}), (403, {"Retry-After": "2"}), (200, {})]
    waits: list[float] = []
    client(url, waits).request("GET", "/x")
    assert waits == [7.0, 2.0]


def test_retry_after_is_capped(server) -> None:
    url, script = server
    script += [(429, {"Retry-After": "86400"}), (200, {})]
    waits: list[float] = []
    client(url, waits).request("GET", "/x")
    assert waits == [60.0]


def test_retries_are_bounded_and_the_error_is_redacted(server) -> None:
    url, script = server
    script += [(500, {})] * 10
    waits: list[float] = []
    with pytest.raises(ForgeError) as err:
        client(url, waits, tries=3).request("GET", "/x")
    assert len(waits) == 2 and "gave up after 3 tries" in str(err.value)
    assert SECRET not in str(err.value) and "***" in str(err.value)


def test_other_4xx_fail_at_once(server) -> None:
    url, script = server
    script += [(404, {})]
    waits: list[float] = []
    with pytest.raises(ForgeError, match="HTTP 404"):
        client(url, waits).request("GET", "/x")
    assert waits == []


def test_pagination_follows_the_link_header_and_counts_each_call() -> None:
    pages = {"/items?page=1": ([1, 2], 2), "/items?page=2": ([3], 3), "/items?page=3": ([], None)}

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

        def do_GET(self) -> None:
            items, following = pages[self.path]
            body = json.dumps(items).encode()
            self.send_response(200)
            if following is not None:
                host = f"http://127.0.0.1:{self.server.server_address[1]}"
                self.send_header("Link", f'<{host}/items?page={following}>; rel="next", <{host}/x>; rel="last"')
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    try:
        api = Client(f"http://127.0.0.1:{httpd.server_address[1]}", {}, policy=RetryPolicy(sleep=lambda _s: None))
        assert api.paginate("/items?page=1") == [1, 2, 3]
        assert api.calls == 3
        assert api.paginate("/items?page=1", limit=1) == [1, 2], "bounded"
    finally:
        httpd.shutdown()


def test_forge_and_project_by_host() -> None:
    from codemods.forge import api_for_host, host_of, kind_for_host, project_path
    from codemods.forge.github import graphql_url as github_graphql
    from codemods.forge.gitlab import graphql_url as gitlab_graphql

    assert project_path("https://gitlab.example.com/group/sub/repo.git", "gitlab") == "group/sub/repo"
    assert project_path("git@gitlab.com:group/sub/repo.git", "gitlab") == "group/sub/repo"
    assert project_path("https://github.com/acme/repo.git", "github") == "acme/repo"
    assert project_path("file:///srv/git/acme/repo.git", "gitlab") == "acme/repo", "no namespace in a path"
    assert host_of("ssh://git@git.example.com:2222/a/b.git") == "git.example.com:2222"
    assert host_of("git@github.com:a/b.git") == "github.com" and host_of("/srv/a/b") == ""
    assert kind_for_host("git.example.com", {"git.example.com": "gitea"}, "github") == "gitea"
    assert kind_for_host("gitlab.example.com", {}, "github") == "gitlab"
    assert kind_for_host("code.example.com:3000", {"code.example.com": "gitea"}, "github") == "gitea"
    assert kind_for_host("codeberg.org", {}, "github") == "gitea"
    assert kind_for_host("git.example.com", {}, "gitlab") == "gitlab", "the default forge"
    assert api_for_host("github", "https", "github.com") == "https://api.github.com"
    assert api_for_host("github", "https", "ghe.example.com") == "https://ghe.example.com/api/v3"
    assert api_for_host("gitlab", "ssh", "gitlab.example.com") == "https://gitlab.example.com/api/v4"
    assert api_for_host("gitea", "http", "127.0.0.1:3000") == "http://127.0.0.1:3000/api/v1"
    assert github_graphql("https://api.github.com") == "https://api.github.com/graphql"
    assert github_graphql("https://ghe.example.com/api/v3") == "https://ghe.example.com/api/graphql"
    assert gitlab_graphql("https://gitlab.com/api/v4") == "https://gitlab.com/api/graphql"


def test_change_id_ignores_where_the_change_applies() -> None:
    from codemods.batch.pulls import bare_title, change_id, plan_edit, read_marker, with_marker
    from codemods.forge import PullRequest, PullRequestSpec

    a = "diff --git a/x b/x\nindex 111..222 100644\n@@ -10,3 +10,3 @@ spec:\n-  enabled: true\n+  enabled: false\n"
    moved = a.replace("index 111..222", "index 333..444").replace("@@ -10,3 +10,3 @@", "@@ -14,3 +14,3 @@")
    assert change_id(a) == change_id(moved)
    assert change_id(a) != change_id(a.replace("false", "False"))
    assert bare_title("Draft: Fix it") == "Fix it" and bare_title("WIP: Fix it") == "Fix it"
    body = with_marker("Summary", "c1", "t1", "b1", "abc")
    assert read_marker(body) == ({"change": "c1", "base": "abc", "title": "t1", "body": "b1"}, "Summary")
    assert read_marker("a person's text") == ({}, "a person's text")
    pr = PullRequest(1, "u", base="main", title="Mine", body="Theirs entirely")
    edit = plan_edit(pr, PullRequestSpec("a/b", "h", "develop", "New", "New body"), "c2", "def")
    assert (edit.title, edit.body, edit.base) == (None, None, "develop"), "no marker: only the base moves"

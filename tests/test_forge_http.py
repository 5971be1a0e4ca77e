"""The forge HTTP client against a real server on 127.0.0.1: retries, backoff, limits."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from codemods.forge.http import AnswerLost, Client, ForgeError, RateLimited, RetryPolicy, UnsafeDestination

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


def client(url: str, waits: list[float], tries: int = 5, max_wait: float = 3600.0) -> Client:
    """A client whose sleeps are recorded, not slept, on a clock that they move on."""
    start = 1_000_000.0
    return Client(
        url,
        {"Authorization": f"Bearer {SECRET}"},
        secrets=(SECRET,),
        policy=RetryPolicy(
            tries=tries, backoff=0.5, max_wait=max_wait, sleep=waits.append, clock=lambda: start + sum(waits)
        ),
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


def test_a_wait_past_max_wait_stops_instead_of_retrying_early(server) -> None:
    # It used to sleep 60 s (a cap) and ask again long before the forge said to: now a wait
    # past --max-wait stops the client at once, and every later call refuses without asking.
    url, script = server
    script += [(429, {"Retry-After": "86400"}), (200, {})]
    waits: list[float] = []
    api = client(url, waits, max_wait=3600)
    with pytest.raises(RateLimited, match="past --max-wait 3600s"):
        api.request("GET", "/x")
    with pytest.raises(RateLimited):
        api.request("GET", "/y")
    assert waits == [] and script == [(200, {})], "no sleep, and /y was never sent"


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


# -- issue 21: what is sent again, where a token may go, one rate limit for every thread --------


class Scripted:
    """A server that answers each request with the next scripted status (0: close the
    connection without an answer, after reading the request; a "stall" header: answer that
    many seconds late) and records what it got."""

    def __init__(self) -> None:
        self.script: list[tuple[int, dict[str, str]]] = []
        self.seen: list[tuple[str, str, str]] = []  # method, path, Authorization header
        scripted = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def _answer(self) -> None:
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                scripted.seen.append((self.command, self.path, self.headers.get("Authorization", "")))
                status, headers = scripted.script.pop(0) if scripted.script else (200, {})
                if status == 0:
                    self.close_connection = True
                    return
                headers = dict(headers)
                time.sleep(float(headers.pop("stall", 0)))  # answer late: after the client's timeout
                body = json.dumps({"number": 1, "ok": status < 400}).encode()
                try:
                    self.send_response(status)
                    for key, value in headers.items():
                        self.send_header(key, value)
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                except OSError:  # the client gave up waiting
                    self.close_connection = True

            do_GET = do_POST = do_PATCH = do_PUT = do_DELETE = _answer

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()


@pytest.fixture
def scripted() -> Iterator[Scripted]:
    server = Scripted()
    yield server
    server.httpd.shutdown()


@pytest.mark.parametrize("lost", [502, 0], ids=["5xx-after-commit", "connection-dropped"])
def test_a_post_whose_answer_is_lost_is_never_sent_again(scripted: Scripted, lost: int) -> None:
    scripted.script += [(lost, {}), (201, {})]
    waits: list[float] = []
    with pytest.raises(AnswerLost, match="not sent again") as err:
        client(scripted.url, waits).request("POST", "/repos/a/b/pulls", {"title": "t"})
    assert [m for m, _p, _a in scripted.seen] == ["POST"], "sent once"
    assert waits == [] and SECRET not in str(err.value)


@pytest.mark.parametrize("lost", [502, 0], ids=["5xx", "connection-dropped"])
def test_idempotent_requests_are_sent_again_after_a_lost_answer(scripted: Scripted, lost: int) -> None:
    for method in ("GET", "PATCH", "PUT", "DELETE"):
        scripted.script += [(lost, {}), (200, {})]
        assert client(scripted.url, []).request(method, "/x", {} if method != "GET" else None).status == 200
    marked = client(scripted.url, [])
    scripted.script += [(lost, {}), (200, {})]
    assert marked.request("POST", "/graphql", {"query": "{}"}, idempotent=True).status == 200, "a query may go again"
    assert [m for m, _p, _a in scripted.seen] == ["GET"] * 2 + ["PATCH"] * 2 + ["PUT"] * 2 + ["DELETE"] * 2 + [
        "POST"
    ] * 2


def test_a_timed_out_post_is_not_sent_again_and_a_timed_out_get_is(scripted: Scripted) -> None:
    scripted.script += [(201, {"stall": "0.6"}), (200, {"stall": "0.6"}), (200, {})]
    api = Client(scripted.url, {}, policy=RetryPolicy(timeout=0.2, sleep=lambda _s: None))
    with pytest.raises(AnswerLost, match="timed out; not sent again"):
        api.request("POST", "/repos/a/b/pulls", {"title": "t"})
    assert api.request("GET", "/repos/a/b/pulls").status == 200
    assert [m for m, _p, _a in scripted.seen] == ["POST", "GET", "GET"]


def test_a_post_the_forge_refused_for_its_rate_limit_is_sent_again(scripted: Scripted) -> None:
    scripted.script += [(429, {"Retry-After": "3"}), (403, {"X-RateLimit-Remaining": "0", "Retry-After": "1"})]
    waits: list[float] = []
    assert client(scripted.url, waits).request("POST", "/repos/a/b/pulls", {"title": "t"}).status == 200
    assert [m for m, _p, _a in scripted.seen] == ["POST"] * 3 and waits == [3.0, 1.0]


def test_a_rate_limit_holds_every_thread_of_the_batch_once() -> None:
    """One thread meets the limit; a second one, started while the first waits, sends nothing
    before the reset (it used to be refused too, and sleep on its own); one message."""
    import math

    from codemods.forge.github import GitHub
    from codemods.forge.http import RateGate
    from tests.forge_server import FakeForge, serve

    forge = FakeForge(SECRET, rate_limit_first=False)
    httpd = serve(forge, "github")
    try:
        forge.rate_limit_at = ("^GET /repos/acme/one/pulls$", 0.3)  # the first request spends the quota
        messages: list[str] = []
        policy = RetryPolicy()
        github = GitHub(forge.url, SECRET, policy, gate=RateGate("GitHub", policy, messages.append))
        first = threading.Thread(target=github.pulls, args=("acme/one", "b"))
        first.start()
        deadline = time.time() + 5
        while not messages and time.time() < deadline:  # the first thread is holding the gate
            time.sleep(0.01)
        github.pulls("acme/two", "b")
        first.join()
        reset = math.ceil(forge.rate_limited_until)  # X-RateLimit-Reset counts whole seconds
        assert (forge.requests[0].path, forge.requests[0].status) == ("/repos/acme/one/pulls", 403)
        assert sorted((r.path, r.status) for r in forge.requests[1:]) == [
            ("/repos/acme/one/pulls", 200),
            ("/repos/acme/two/pulls", 200),
        ], "one refusal: the second thread waited behind the first"
        assert all(r.at >= reset for r in forge.requests if r.status == 200), "nothing before the reset"
        assert messages == [f"waiting until {time.strftime('%H:%M:%S', time.localtime(reset))} (GitHub rate limit)"]
    finally:
        httpd.shutdown()


def test_a_pagination_link_to_another_host_gets_no_token(scripted: Scripted) -> None:
    elsewhere = Scripted()
    try:
        scripted.script += [(200, {"Link": f'<{elsewhere.url}/items?page=2>; rel="next"'})]
        with pytest.raises(UnsafeDestination, match="refusing to send the token to 127.0.0.1:"):
            client(scripted.url, []).paginate("/items?page=1")
        assert elsewhere.seen == [], "the other host was never asked"
    finally:
        elsewhere.httpd.shutdown()


@pytest.mark.parametrize(
    ("url", "insecure", "allowed"),
    [
        ("https://ghe.example/api/v3", False, True),
        ("http://127.0.0.1:8080/api/v3", False, True),
        ("http://127.200.1.9/api/v1", False, True),
        ("http://[::1]:3000/api/v1", False, True),
        ("http://localhost:3000/api/v1", False, True),
        ("http://LOCALHOST/api/v1", False, True),
        ("http://ghe.example/api/v3", False, False),
        ("http://10.0.0.1/api/v3", False, False),
        ("http://127.0.0.1.nip.io/api/v3", False, False),  # a name is not an address: never resolved
        ("http://localhost.evil.example/api/v3", False, False),
        ("http://2130706433/api/v3", False, False),  # 127.0.0.1 as an integer: refused, not decoded
        ("http://127.0.0.1@evil.example/api/v3", False, False),
        ("http://127.0.0.1:80\\@evil.example/api/v3", False, False),
        ("ftp://ghe.example/api", False, False),
        ("http://ghe.example/api/v3", True, True),
    ],
)
def test_where_a_token_may_go_is_judged_without_dns(url: str, insecure: bool, allowed: bool) -> None:
    from codemods.forge.http import token_url_problem

    problem = token_url_problem(url, insecure)
    assert (problem is None) == allowed, problem


def test_a_client_refuses_plain_http_to_a_remote_host_before_connecting(monkeypatch: pytest.MonkeyPatch) -> None:
    import socket

    asked: list[object] = []
    monkeypatch.setattr(socket, "getaddrinfo", lambda *a, **_k: asked.append(a))
    api = Client("http://ghe.example/api/v3", {"Authorization": f"Bearer {SECRET}"}, secrets=(SECRET,))
    with pytest.raises(UnsafeDestination, match="ghe.example is reached over plain http"):
        api.request("GET", "/user")
    assert asked == [], "no DNS lookup, no connection"

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
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
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

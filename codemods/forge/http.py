"""A small JSON-over-HTTP client with the retries forges need, on the standard library.

Which request is sent again (issue 21), decided by what the forge can have done with it:
- GET, HEAD, PUT, PATCH and DELETE are idempotent: after a 5xx, a timeout or a dropped
  connection they are sent again, with exponential backoff.
- A POST creates something. It is sent again only when the forge refused it before doing
  anything: a rate limit, or a connection that was never made. After a 5xx, a timeout or a
  dropped connection it may have been done, so it is not resent: `AnswerLost`, and the caller
  asks the forge what it holds (a pull request is looked up by its branch). A POST that only
  reads (GraphQL) or adds to a set (labels, reviewers) says so with `idempotent=True`.
- A rate limit (429; 403 with Retry-After, `X-RateLimit-Remaining: 0` or GitHub's
  "secondary rate limit") holds the client's `RateGate`: every thread that uses the client
  waits behind it, until Retry-After or X-RateLimit-Reset, saying so once on stderr; a limit
  that lasts past the run's budget (`--max-wait`) stops it cleanly (`RateLimited`).

The token is sent only to the base URL's origin, and only over https, or over plain http to
a loopback host or when the user allowed it (`--insecure-http`). Hosts are judged as
written, never resolved: no DNS lookup decides where a token may go.
"""

from __future__ import annotations

import ipaddress
import json
import re
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any
from urllib.parse import urlsplit

from codemods import __version__
from codemods.secrets import redact

USER_AGENT = f"codemods/{__version__}"
MAX_PAGES = 50  # 5,000 repositories at 100 a page: a bound, not a limit anyone should meet
IDEMPOTENT = frozenset({"GET", "HEAD", "PUT", "PATCH", "DELETE", "OPTIONS"})
DEFAULT_MAX_WAIT = 3600.0  # one GitHub primary rate-limit window: an unattended run waits it out
SECONDARY_LIMIT_WAIT = 60.0  # GitHub's advice for a secondary limit that names no time


class ForgeError(Exception):
    """An API call that failed for good. The message never holds the token."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status  # the HTTP status of the answer, when there was one


class AnswerLost(ForgeError):
    """A request that changes something was sent and its answer lost (a 5xx, a timeout, a
    dropped connection): the forge may have done it, so it was not sent again."""


class RateLimited(ForgeError):
    """The forge's rate limit lasts past the run's --max-wait: the run stops instead of waiting."""


class UnsafeDestination(ForgeError):
    """A token would go somewhere the user did not point: plain http, or another host."""


@dataclass
class RetryPolicy:
    tries: int = 5
    backoff: float = 1.0  # first wait after a 5xx or a lost answer; doubles each time
    max_backoff: float = 60.0  # never sleep longer than this for one such retry
    max_wait: float = DEFAULT_MAX_WAIT  # --max-wait: rate-limit waits in all, per forge API
    timeout: float = 30.0  # seconds for one request's connection and answer
    sleep: Callable[[float], None] = time.sleep
    clock: Callable[[], float] = time.time


@dataclass
class Response:
    status: int
    data: Any
    headers: dict[str, str] = field(default_factory=dict)


def is_loopback_host(host: str) -> bool:
    """127.0.0.0/8, ::1 and the name localhost, as written: never resolved."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def token_url_problem(url: str, insecure_http: bool = False) -> str | None:
    """Why a token may not be sent to url, or None. Parsed only: no DNS lookup."""
    parts = urlsplit(url)
    scheme, netloc = parts.scheme.lower(), parts.netloc
    if scheme not in ("http", "https") or not parts.hostname:
        return f"{url} is not an http(s) URL with a host"
    if "@" in netloc or "\\" in netloc:
        return f"{url} has credentials or a backslash in its host part"
    if scheme == "https" or insecure_http or is_loopback_host(parts.hostname):
        return None
    return (
        f"{parts.hostname} is reached over plain http and is not a loopback host, so the token would travel "
        "in clear: use https, or --insecure-http to allow it"
    )


def _origin(url: str) -> tuple[str, str]:
    parts = urlsplit(url)
    return parts.scheme.lower(), parts.netloc.lower()


def clock_time(moment: float) -> str:
    return time.strftime("%H:%M:%S", time.localtime(moment))


def _to_stderr(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


class RateGate:
    """One forge API's rate limit, shared by every thread that calls it: the batch waits once,
    not each worker on its own, and never longer in all than the policy's max_wait."""

    HOLD_SLACK = 1.0  # Retry-After and X-RateLimit-Reset count whole seconds: one hold, not many

    def __init__(self, name: str, policy: RetryPolicy, notify: Callable[[str], None] | None = None) -> None:
        self.name = name
        self.policy = policy
        self.notify = notify or _to_stderr
        self.stopped: str | None = None  # why the run stopped waiting for this forge
        self._until = 0.0
        self._held = 0.0  # seconds held so far, all holds together
        self._lock = threading.Lock()

    def enter(self) -> None:
        """Before each request: wait out a hold another thread met; refuse once stopped."""
        with self._lock:
            self._refuse_if_stopped()
            remaining = self._until - self.policy.clock()
        if remaining > 0:
            self.policy.sleep(remaining)
            with self._lock:
                self._refuse_if_stopped()

    def hold(self, wait: float) -> None:
        """The forge said to wait `wait` seconds: hold every thread until then, or stop the run
        when that takes the waits past max_wait. Returns when the wait is over."""
        with self._lock:
            now = self.policy.clock()
            until = now + wait
            if until > self._until + self.HOLD_SLACK:
                extra = until - max(self._until, now)
                if self._held + extra > self.policy.max_wait:
                    self.stopped = (
                        f"{self.name} rate limit until {clock_time(until)}, past --max-wait "
                        f"{self.policy.max_wait:g}s: stopped"
                    )
                    raise RateLimited(self.stopped)
                self._held += extra
                self._until = until
                self.notify(f"waiting until {clock_time(until)} ({self.name} rate limit)")
            remaining = max(self._until, until) - now
        self.policy.sleep(remaining)

    def _refuse_if_stopped(self) -> None:
        if self.stopped is not None:
            raise RateLimited(self.stopped)


def _is_rate_limited(status: int, headers: dict[str, str], body: str) -> bool:
    if status == HTTPStatus.TOO_MANY_REQUESTS:
        return True
    if status != HTTPStatus.FORBIDDEN:
        return False
    return (
        "retry-after" in headers
        or "secondary rate limit" in body.lower()
        or headers.get("x-ratelimit-remaining") == "0"
    )


def _rate_limit_wait(headers: dict[str, str], now: float) -> float:
    """Retry-After (seconds), else the reset time (GitHub's X-RateLimit-Reset, GitLab's
    RateLimit-Reset, epoch seconds), else GitHub's advice for a secondary limit: a minute."""
    try:
        return max(float(headers["retry-after"]), 0.0)
    except (KeyError, ValueError):
        pass
    for name in ("x-ratelimit-reset", "ratelimit-reset"):
        try:
            return max(float(headers[name]) - now, 1.0)
        except (KeyError, ValueError):
            continue
    return SECONDARY_LIMIT_WAIT


@dataclass
class _Failure:
    """One attempt that got no usable answer, and what it means for sending again."""

    message: str
    kind: str  # rate-limit, unsent (never reached the forge), server (5xx) or lost (no answer)
    wait: float = 0.0
    status: int | None = None


class Client:
    def __init__(
        self,
        base_url: str,
        headers: dict[str, str],
        secrets: tuple[str, ...] = (),
        policy: RetryPolicy | None = None,
        *,
        gate: RateGate | None = None,
        name: str = "forge",
        insecure_http: bool = False,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.headers = {"User-Agent": USER_AGENT, "Accept": "application/json", **headers}
        self.secrets = secrets
        self.policy = policy or RetryPolicy()
        self.gate = gate or RateGate(name, self.policy)
        self.insecure_http = insecure_http
        self._local = threading.local()  # calls are counted per thread: one repository's work

    def url_for(self, path: str) -> str:
        """The URL of path (below the base URL, or a whole URL: a pagination link, a GraphQL
        endpoint), refused when the token must not go there."""
        if not path.startswith(("http://", "https://")):
            url = f"{self.base_url}{path}"
        elif _origin(path) != _origin(self.base_url):
            raise UnsafeDestination(
                f"refusing to send the token to {urlsplit(path).netloc}: the API is {urlsplit(self.base_url).netloc}"
            )
        else:
            url = path
        problem = token_url_problem(url, self.insecure_http) if self.secrets else None
        if problem is not None:
            raise UnsafeDestination(f"refusing to send the token: {problem}")
        return url

    def request(self, method: str, path: str, body: Any = None, *, idempotent: bool | None = None) -> Response:
        """idempotent: whether a request whose answer was lost may be sent again; by default
        every method but POST."""
        url = self.url_for(path)
        resend_lost = method in IDEMPOTENT if idempotent is None else idempotent
        self._local.calls = self.calls + 1
        data = json.dumps(body).encode() if body is not None else None
        headers = dict(self.headers)
        if data is not None:
            headers["Content-Type"] = "application/json"
        last_error = ""
        for attempt in range(self.policy.tries):
            self.gate.enter()
            outcome = self._attempt(method, url, path, data, headers)
            if isinstance(outcome, Response):
                return outcome
            last_error = outcome.message
            if outcome.kind in ("server", "lost") and not resend_lost:
                raise AnswerLost(
                    redact(f"{last_error}; not sent again, the forge may have done it", self.secrets), outcome.status
                )
            if attempt + 1 == self.policy.tries:
                break
            if outcome.kind == "rate-limit":
                self.gate.hold(outcome.wait)  # refused unprocessed: any method may go again
            else:
                self.policy.sleep(min(self.policy.backoff * (2**attempt), self.policy.max_backoff))
        raise ForgeError(redact(f"{last_error} (gave up after {self.policy.tries} tries)", self.secrets))

    def _attempt(
        self, method: str, url: str, path: str, data: bytes | None, headers: dict[str, str]
    ) -> Response | _Failure:
        # Late: urllib.request brings http.client, ssl and email (a tenth of a batch's start-up),
        # and a batch that opens no pull request never calls a forge.
        import http.client
        import socket
        import urllib.error
        import urllib.request

        request = urllib.request.Request(url, data=data, headers=headers, method=method)
        try:
            with urllib.request.urlopen(request, timeout=self.policy.timeout) as reply:
                raw = reply.read().decode("utf-8") or "null"
                return Response(reply.status, json.loads(raw), {k.lower(): v for k, v in reply.headers.items()})
        except urllib.error.HTTPError as err:
            reply_headers = {k.lower(): v for k, v in err.headers.items()}
            text = err.read().decode("utf-8", "replace")
            message = f"{method} {path}: HTTP {err.code}: {text[:300]}"
            if _is_rate_limited(err.code, reply_headers, text):
                return _Failure(message, "rate-limit", _rate_limit_wait(reply_headers, self.policy.clock()), err.code)
            if err.code >= HTTPStatus.INTERNAL_SERVER_ERROR:
                return _Failure(message, "server", status=err.code)
            raise ForgeError(redact(message, self.secrets), err.code) from None
        except urllib.error.URLError as err:
            # Refused, or a name that does not resolve: the request never left this machine.
            unsent = isinstance(err.reason, ConnectionRefusedError | socket.gaierror)
            return _Failure(f"{method} {path}: {err.reason}", "unsent" if unsent else "lost")
        except (TimeoutError, ConnectionError, http.client.HTTPException) as err:
            return _Failure(f"{method} {path}: {err or type(err).__name__}", "lost")

    @property
    def calls(self) -> int:
        """API calls this thread made through this client, retries not counted."""
        return getattr(self._local, "calls", 0)

    def paginate(self, path: str, limit: int = MAX_PAGES) -> list[Any]:
        """Every item of a list endpoint, following the Link header's rel="next" (GitHub,
        GitLab and Gitea all send one), at most limit pages. A link to another host is
        refused (url_for): the token stays with the API it was given for."""
        items: list[Any] = []
        next_path: str | None = path
        for _page in range(limit):
            if next_path is None:
                break
            reply = self.request("GET", next_path)
            data = reply.data or []
            items.extend(data["items"] if isinstance(data, dict) and "items" in data else data)
            next_path = next_link(reply.headers.get("link", ""))
        return items


def next_link(header: str) -> str | None:
    for part in header.split(","):
        match = re.search(r'<([^>]+)>\s*;\s*rel="?next"?', part)
        if match:
            return match.group(1)
    return None


class ForgeApi:
    """What every forge client shares: its API URL and an authenticated `Client`. A forge says
    only how its token is sent (`auth_headers`) and its name for messages (`display`)."""

    display = ""

    @staticmethod
    def auth_headers(token: str) -> dict[str, str]:
        raise NotImplementedError

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
            self.auth_headers(token),
            secrets=(token,),
            policy=policy,
            gate=gate,
            name=self.display,
            insecure_http=insecure_http,
        )

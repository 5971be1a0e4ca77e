"""A small JSON-over-HTTP client with the retries forges need, on the standard library.

Retries: HTTP 403/429 with Retry-After, or GitHub's "secondary rate limit" message, wait as
told (bounded); 5xx and connection errors back off exponentially. Every path is bounded.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from codemods import __version__
from codemods.secrets import redact

USER_AGENT = f"codemods/{__version__}"
MAX_PAGES = 50  # 5,000 repositories at 100 a page: a bound, not a limit anyone should meet


class ForgeError(Exception):
    """An API call that failed for good. The message never holds the token."""


@dataclass
class RetryPolicy:
    tries: int = 5
    backoff: float = 1.0  # first wait after a 5xx; doubles each time
    max_wait: float = 60.0  # never sleep longer than this for one retry
    sleep: Callable[[float], None] = time.sleep


@dataclass
class Response:
    status: int
    data: Any
    headers: dict[str, str] = field(default_factory=dict)


def _is_rate_limited(status: int, headers: dict[str, str], body: str) -> bool:
    if status == 429:
        return True
    if status != 403:
        return False
    return (
        "retry-after" in headers
        or "secondary rate limit" in body.lower()
        or headers.get("x-ratelimit-remaining") == "0"
    )


def _rate_limit_wait(headers: dict[str, str], attempt: int, policy: RetryPolicy) -> float:
    retry_after = headers.get("retry-after")
    if retry_after is not None:
        try:
            return min(float(retry_after), policy.max_wait)
        except ValueError:
            pass
    reset = headers.get("x-ratelimit-reset")
    if reset is not None and headers.get("x-ratelimit-remaining") == "0":
        try:
            return min(max(float(reset) - time.time(), 0.0), policy.max_wait)
        except ValueError:
            pass
    # GitHub's advice for a secondary limit without Retry-After: wait at least a minute.
    return min(policy.backoff * (2**attempt) * 30, policy.max_wait)


class Client:
    def __init__(
        self, base_url: str, headers: dict[str, str], secrets: tuple[str, ...] = (), policy: RetryPolicy | None = None
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.headers = {"User-Agent": USER_AGENT, "Accept": "application/json", **headers}
        self.secrets = secrets
        self.policy = policy or RetryPolicy()
        self._local = threading.local()  # calls are counted per thread: one repository's work

    def request(self, method: str, path: str, body: Any = None) -> Response:
        """path is below the base URL, or a whole URL (a pagination link, a GraphQL endpoint)."""
        # Late: urllib.request brings http.client, ssl and email (a tenth of a batch's start-up),
        # and a batch that opens no pull request never calls a forge.
        import urllib.error
        import urllib.request

        url = path if path.startswith(("http://", "https://")) else f"{self.base_url}{path}"
        self._local.calls = self.calls + 1
        data = json.dumps(body).encode() if body is not None else None
        headers = dict(self.headers)
        if data is not None:
            headers["Content-Type"] = "application/json"
        last_error = ""
        for attempt in range(self.policy.tries):
            request = urllib.request.Request(url, data=data, headers=headers, method=method)
            try:
                with urllib.request.urlopen(request, timeout=30) as reply:
                    raw = reply.read().decode("utf-8") or "null"
                    return Response(reply.status, json.loads(raw), {k.lower(): v for k, v in reply.headers.items()})
            except urllib.error.HTTPError as err:
                reply_headers = {k.lower(): v for k, v in err.headers.items()}
                text = err.read().decode("utf-8", "replace")
                last_error = f"{method} {path}: HTTP {err.code}: {text[:300]}"
                if _is_rate_limited(err.code, reply_headers, text):
                    wait = _rate_limit_wait(reply_headers, attempt, self.policy)
                elif err.code >= 500:
                    wait = min(self.policy.backoff * (2**attempt), self.policy.max_wait)
                else:
                    raise ForgeError(redact(last_error, self.secrets)) from None
            except (urllib.error.URLError, TimeoutError, ConnectionError) as err:
                reason = getattr(err, "reason", err)
                last_error = f"{method} {path}: {reason}"
                wait = min(self.policy.backoff * (2**attempt), self.policy.max_wait)
            if attempt + 1 < self.policy.tries:
                self.policy.sleep(wait)
        raise ForgeError(redact(f"{last_error} (gave up after {self.policy.tries} tries)", self.secrets))

    @property
    def calls(self) -> int:
        """API calls this thread made through this client, retries not counted."""
        return getattr(self._local, "calls", 0)

    def paginate(self, path: str, limit: int = MAX_PAGES) -> list[Any]:
        """Every item of a list endpoint, following the Link header's rel="next" (GitHub,
        GitLab and Gitea all send one), at most limit pages."""
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

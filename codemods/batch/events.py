"""What a batch command says while it works, on stderr: text for people, or one JSON object
per line (`--log-format json`) for CI log processors.

Events: `repo-started`, `repo-finished` (with its status, and its error or note), `wait` (a
forge's rate limit holds the run), `stopped` (a rate limit past --max-wait), and `summary`
(the counts at the end). Every JSON event has `time` (UTC, ISO 8601), `event` and `level`
(info, warning or error). Messages are the ones the report holds: tokens never appear.
"""

from __future__ import annotations

import json
import sys
import threading
from datetime import UTC, datetime
from typing import TextIO

LOG_FORMATS = ("text", "json")
LEVELS = {"failed": "error", "not-started": "warning", "blocked-by-human": "warning"}


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class EventLog:
    """Thread-safe: workers report as they finish. In text mode it prints what it always did
    (a line per finished repository when stderr is not a terminal, where no progress bar runs);
    in json mode, every event, and nothing else on stderr."""

    def __init__(self, log_format: str = "text", stream: TextIO | None = None, *, lines: bool = True) -> None:
        self.json = log_format == "json"
        self.stream = stream
        self.lines = lines  # text mode: a line per finished repository
        self.total = 0
        self._done = 0
        self._lock = threading.Lock()

    def _out(self) -> TextIO:
        return self.stream or sys.stderr  # late: tests capture sys.stderr after this is made

    def emit(self, event: str, level: str = "info", **fields: object) -> None:
        self._write(event, level, fields)

    def _write(self, event: str, level: str, fields: dict[str, object]) -> None:
        if not self.json:
            return
        record: dict[str, object] = {"time": _now(), "event": event, "level": level}
        record.update({k: v for k, v in fields.items() if v is not None})
        with self._lock:
            self._out().write(json.dumps(record, sort_keys=False) + "\n")
            self._out().flush()

    def started(self, repo: str, name: str) -> None:
        self.emit("repo-started", repo=repo, name=name)

    def finished(self, repo: str, name: str, status: str, **fields: object) -> None:
        """status: the repository's status (run) or its pull request's state (status|merge|close)."""
        with self._lock:
            self._done += 1
            done = self._done
        if self.json:
            level = "error" if fields.get("error") else LEVELS.get(status, "info")
            fields.update(repo=repo, name=name, status=status, done=done, total=self.total)
            self._write("repo-finished", level, fields)
        elif self.lines:
            with self._lock:
                self._out().write(f"[{done}/{self.total}] {repo}: {status}\n")
                self._out().flush()

    def notice(self, message: str) -> None:
        """A forge's rate limit: "waiting until 14:05:09 (GitHub rate limit)"."""
        if self.json:
            self.emit("wait", "warning", message=message)
        else:
            with self._lock:
                self._out().write(message + "\n")
                self._out().flush()

    def summary(self, counts: dict[str, int], **fields: object) -> None:
        self._write("summary", "info", {"counts": counts, **fields})

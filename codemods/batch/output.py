"""What a batch run shows: progress while it runs, a table at the end, a JSON report."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

from rich.console import Console
from rich.table import Table

from codemods.batch.runner import RepoResult

REPORT_VERSION = 1
ERROR_WIDTH = 160
STATUS_STYLE = {"changed": "green", "updated": "cyan", "up-to-date": "dim", "unchanged": "dim", "failed": "bold red"}


def counts(results: Sequence[RepoResult]) -> dict[str, int]:
    tally: Counter[str] = Counter(r.status for r in results)
    return {status: tally.get(status, 0) for status in STATUS_STYLE}


def write_report(path: Path, results: Sequence[RepoResult], branch: str, dry_run: bool) -> None:
    data = {
        "version": REPORT_VERSION,
        "branch": branch,
        "dry_run": dry_run,
        "counts": counts(results),
        "repos": [r.as_report() for r in results],
    }
    path.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")


def print_table(console: Console, results: Sequence[RepoResult]) -> None:
    table = Table(title="codemods batch", title_justify="left")
    for column in ("repo", "status", "commit", "pull request", "error"):
        table.add_column(column, overflow="fold")
    for r in results:
        style = STATUS_STYLE[r.status]
        error = r.error or ""
        if len(error) > ERROR_WIDTH:  # the table is for reading; the report keeps it whole
            error = error[: ERROR_WIDTH - 1] + "…"
        table.add_row(r.repo, f"[{style}]{r.status}[/]", (r.commit or "")[:12], r.pr_url or "", error)
    console.print(table)
    console.print(", ".join(f"{n} {status}" for status, n in counts(results).items() if n))

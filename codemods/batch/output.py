"""What a batch run shows: progress while it runs, a table at the end, a JSON report."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

from rich import box
from rich.console import Console
from rich.table import Table

from codemods.batch.runner import RepoResult

REPORT_VERSION = 1
ERROR_WIDTH = 160
NAME_WIDTH = 24
# The first five are always counted (the report's contract); the rest appear when they occur.
STATUS_STYLE = {
    "changed": "green",
    "updated": "cyan",
    "up-to-date": "dim",
    "unchanged": "dim",
    "failed": "bold red",
    "closed-by-human": "yellow",
    "closed-stale": "magenta",
    "not-started": "bold yellow",  # the run stopped at a rate limit past --max-wait: rerun
    "blocked-by-human": "yellow",
}
ALWAYS_COUNTED = ("changed", "updated", "up-to-date", "unchanged", "failed")


def counts(results: Sequence[RepoResult]) -> dict[str, int]:
    tally: Counter[str] = Counter(str(r.status) for r in results)
    return {status: tally.get(status, 0) for status in STATUS_STYLE if status in ALWAYS_COUNTED or tally.get(status)}


def write_report(
    path: Path,
    results: Sequence[RepoResult],
    branch: str,
    dry_run: bool,
    discovered: list[dict[str, object]] | None = None,
) -> None:
    data: dict[str, object] = {
        "version": REPORT_VERSION,
        "branch": branch,
        "dry_run": dry_run,
        "counts": counts(results),
        "repos": [r.as_report() for r in results],
    }
    if discovered is not None:
        data["discovered"] = discovered
    path.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")


def _short(text: str, width: int) -> str:
    return text if len(text) <= width else "…" + text[-(width - 1) :]


def print_table(console: Console, results: Sequence[RepoResult]) -> None:
    """Short names and PR numbers fit 80 columns; the URLs are in the JSON report."""
    table = Table(title="codemods batch", title_justify="left", box=box.SIMPLE, pad_edge=False)
    table.add_column("repo", no_wrap=True, max_width=NAME_WIDTH)
    table.add_column("status", no_wrap=True)
    table.add_column("commit", no_wrap=True)
    table.add_column("PR", no_wrap=True)
    table.add_column("error / note", overflow="fold")
    for r in results:
        style = STATUS_STYLE[r.status]
        error = r.error or r.note or ""
        if len(error) > ERROR_WIDTH:  # the table is for reading; the report keeps it whole
            error = error[: ERROR_WIDTH - 1] + "…"
        pr = f"#{r.pr_number}" if r.pr_number is not None else ""
        table.add_row(_short(r.name or r.repo, NAME_WIDTH), f"[{style}]{r.status}[/]", (r.commit or "")[:8], pr, error)
    console.print(table)
    console.print(", ".join(f"{n} {status}" for status, n in counts(results).items() if n))

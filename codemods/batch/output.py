"""What a batch run shows: progress while it runs, a table at the end, a JSON report."""

from __future__ import annotations

import json
import os
import sys
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from rich import box
from rich.console import Console
from rich.markup import escape
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
    "closed-by-codemods": "magenta",  # `batch close` withdrew it: left closed until --reopen
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


FORMATS = ("table", "plain", "json", "markdown")


@dataclass(frozen=True)
class Column:
    name: str
    short: int | None = None  # a bounded table shortens it to this many characters, keeping the end
    wrap: bool = False  # a bounded table folds it over lines instead of widening


def bounded(console: Console) -> bool:
    """Whether the table must fit a width: a terminal's, or COLUMNS when the user set it.
    Elsewhere (a CI log, a pipe) nothing is cut: every name and note is printed whole."""
    return console.is_terminal or bool(os.environ.get("COLUMNS"))


def show(
    console: Console,
    title: str,
    columns: Sequence[Column],
    rows: Sequence[dict[str, str]],
    fmt: str,
    data: dict[str, object],
    styles: dict[str, str] | None = None,
) -> None:
    """The results in the chosen --format: a table on stderr (for people), or plain lines, JSON
    or a Markdown table on stdout (for a pipe, a file, a CI job summary)."""
    if fmt == "json":
        sys.stdout.write(json.dumps(data, indent=2) + "\n")
    elif fmt == "plain":
        lines = ["\t".join(c.name for c in columns)]
        lines += ["\t".join(_one_line(row.get(c.name, "")) for c in columns) for row in rows]
        sys.stdout.write("\n".join(lines) + "\n")
    elif fmt == "markdown":
        sys.stdout.write(markdown_table(title, columns, rows))
    else:
        _table(console, title, columns, rows, styles or {})


def _one_line(text: str) -> str:
    return " ".join(text.split())


def markdown_table(title: str, columns: Sequence[Column], rows: Sequence[dict[str, str]]) -> str:
    def cell(text: str) -> str:
        return _one_line(text).replace("|", "\\|") or " "

    lines = [f"### {title}", "", "| " + " | ".join(c.name for c in columns) + " |"]
    lines.append("| " + " | ".join("---" for _ in columns) + " |")
    lines += ["| " + " | ".join(cell(row.get(c.name, "")) for c in columns) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def _table(
    console: Console, title: str, columns: Sequence[Column], rows: Sequence[dict[str, str]], styles: dict[str, str]
) -> None:
    fit = bounded(console)
    if not fit:  # as wide as its content: a CI log has no width to fit
        console = Console(file=console.file, width=100_000, color_system=None, highlight=False)
    table = Table(title=title, title_justify="left", box=box.SIMPLE, pad_edge=False)
    for column in columns:
        if column.wrap:
            table.add_column(column.name, overflow="fold" if fit else "ignore", no_wrap=not fit)
        else:
            table.add_column(column.name, no_wrap=True, max_width=column.short if fit else None)
    for row in rows:
        cells = []
        for column in columns:
            text = row.get(column.name, "")
            if fit and column.short and len(text) > column.short:
                text = _short(text, column.short)
            style = styles.get(text) if column.name == "status" else None
            cells.append(f"[{style}]{escape(text)}[/]" if style else escape(text))
        table.add_row(*cells)
    console.print(table)


RUN_COLUMNS = (
    Column("repo", short=NAME_WIDTH),
    Column("status"),
    Column("commit"),
    Column("PR"),
    Column("error / note", wrap=True),
)


def print_table(console: Console, results: Sequence[RepoResult], fmt: str = "table") -> None:
    """Short names and PR numbers fit 80 columns on a terminal; the URLs are in the JSON report.
    Not on a terminal, nothing is cut."""
    fit = bounded(console)
    rows = []
    for r in results:
        error = r.error or r.note or ""
        if fit and len(error) > ERROR_WIDTH:  # the table is for reading; the report keeps it whole
            error = error[: ERROR_WIDTH - 1] + "…"
        pr = f"#{r.pr_number}" if r.pr_number is not None else ""
        if fmt in ("plain", "markdown") and r.pr_url:
            pr = r.pr_url if fmt == "plain" else f"[{pr}]({r.pr_url})"
        rows.append(
            {
                "repo": r.name or r.repo,
                "status": r.status,
                "commit": (r.commit or "")[:8],
                "PR": pr,
                "error / note": error,
            }
        )
    data = {"version": REPORT_VERSION, "counts": counts(results), "repos": [r.as_report() for r in results]}
    show(console, "codemods batch", RUN_COLUMNS, rows, fmt, data, STATUS_STYLE)


def summary_line(results: Sequence[RepoResult]) -> str:
    return ", ".join(f"{n} {status}" for status, n in counts(results).items() if n)

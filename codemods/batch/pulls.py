"""Converge a repository's pull request from the forge's state, never from a previous run's.

The bot's pull request body ends with a hidden marker that records which change it carries
(a patch-id-like fingerprint, stable when only the base moves) and fingerprints of the title
and body the bot last wrote. A title or body that no longer matches its fingerprint was
edited by a person and is kept; a closed pull request whose change is the same one is left
closed.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, replace
from typing import Literal

from codemods.forge import AnswerLost, Forge, PullRequest, PullRequestSpec

MARKER = re.compile(r"\s*<!-- codemods: (?P<fields>[^>]*?) -->\s*$")
DRAFT_PREFIXES = ("Draft: ", "WIP: ", "[Draft] ", "[WIP] ")
_HUNK = re.compile(r"^@@ -\d+(?:,\d+)? \+\d+(?:,\d+)? @@")


def change_id(diff: str) -> str:
    """The change itself, not where it applies: hunk line numbers and blob ids are left out
    (as `git patch-id` does), so the same fix on a base that moved keeps its id."""
    kept = [_HUNK.sub("@@", line) for line in diff.splitlines() if not line.startswith("index ")]
    return hashlib.sha256("\n".join(kept).encode("utf-8")).hexdigest()[:16]


def fingerprint(text: str) -> str:
    return hashlib.sha256(text.strip().encode("utf-8")).hexdigest()[:10]


def bare_title(title: str) -> str:
    for prefix in DRAFT_PREFIXES:
        if title.startswith(prefix):
            return title[len(prefix) :]
    return title


def read_marker(body: str) -> tuple[dict[str, str], str]:
    """(the marker's fields, the body without it); no fields when there is no marker."""
    match = MARKER.search(body)
    if match is None:
        return {}, body
    fields = dict(part.split("=", 1) for part in match.group("fields").split() if "=" in part)
    return fields, body[: match.start()]


def with_marker(body: str, change: str, title_print: str, body_print: str, base: str) -> str:
    fields = f"change={change} base={base[:12]} title={title_print} body={body_print}"
    return f"{body.rstrip()}\n\n<!-- codemods: {fields} -->\n"


CLOSED_BY = "closed"  # the marker's field that says who closed it: "codemods" (batch close, --close-stale)


def mark_closed(body: str) -> str:
    """The body with its marker saying that codemods closed the pull request, so the next run
    tells its own withdrawal from a person's "no" (closed-by-codemods, not closed-by-human).
    A body without the marker (a person's) is returned unchanged."""
    match = MARKER.search(body)
    if match is None:
        return body
    parts = [p for p in match.group("fields").split() if not p.startswith(f"{CLOSED_BY}=")]
    fields = " ".join([*parts, f"{CLOSED_BY}=codemods"])
    return f"{body[: match.start()].rstrip()}\n\n<!-- codemods: {fields} -->\n"


def new_body(title: str, body: str, change: str, base: str) -> str:
    """base: the commit the branch is built on; a rebuilt branch says so in its pull request."""
    return with_marker(body, change, fingerprint(bare_title(title)), fingerprint(body), base)


@dataclass
class Decision:
    """What the forge's state says to do with one repository's pull request."""

    open_pr: PullRequest | None = None
    closed_pr: PullRequest | None = None  # the newest closed, unmerged one when none is open
    respect_closed: bool = False  # a person (or codemods) closed this very change: leave it closed
    note: str | None = None
    closed_status: Literal["closed-by-human", "closed-by-codemods"] = "closed-by-human"  # codemods: `batch close`


def decide(pulls: list[PullRequest], change: str, reopen: bool) -> Decision:
    open_prs = [p for p in pulls if p.state == "open"]
    if open_prs:
        return Decision(open_pr=open_prs[0])
    closed = next((p for p in pulls if p.state == "closed"), None)
    if closed is None:
        return Decision()
    fields, _text = read_marker(closed.body)
    # Without our marker we cannot tell the change apart: assume it is the one they closed.
    same = fields.get("change", change) == change
    if same and not reopen and fields.get(CLOSED_BY) == "codemods":
        note = f"closed by codemods (batch close): #{closed.number}; --reopen opens it again"
        return Decision(closed_pr=closed, respect_closed=True, note=note, closed_status="closed-by-codemods")
    if same and not reopen:
        return Decision(closed_pr=closed, respect_closed=True, note=f"closed by a person: #{closed.number}")
    if same:
        return Decision(
            closed_pr=closed, note=f"--reopen: a new pull request for the change closed in #{closed.number}"
        )
    return Decision(closed_pr=closed, note=f"a new change since #{closed.number} was closed: a new pull request")


@dataclass
class Edit:
    title: str | None = None
    body: str | None = None
    base: str | None = None

    def __bool__(self) -> bool:
        return any(v is not None for v in (self.title, self.body, self.base))


def plan_edit(pr: PullRequest, spec: PullRequestSpec, change: str, base_commit: str) -> Edit:
    """The smallest edit that brings an open pull request up to date, keeping a person's
    title and body (and never touching labels or reviewers, which are set once)."""
    edit = Edit()
    if pr.base != spec.base:
        edit.base = spec.base
    fields, text = read_marker(pr.body)
    if not fields:
        return edit  # a person rewrote the body, marker and all: it is theirs now
    title_print, body_print = fields.get("title", ""), fields.get("body", "")
    title = pr.title
    if fingerprint(bare_title(pr.title)) == title_print:  # still ours: keep it current
        draft_prefix = pr.title[: len(pr.title) - len(bare_title(pr.title))]
        title = draft_prefix + bare_title(spec.title)
        title_print = fingerprint(bare_title(spec.title))
    if fingerprint(text) == body_print:
        text, body_print = spec.body, fingerprint(spec.body)
    body = with_marker(text, change, title_print, body_print, base_commit)
    if title != pr.title:
        edit.title = title
    if body.strip() != pr.body.strip():
        edit.body = body
    return edit


def apply_edit(forge: Forge, project: str, pr: PullRequest, edit: Edit) -> None:
    if edit:
        forge.edit(project, pr, title=edit.title, body=edit.body, base=edit.base)


def open_pull_request(forge: Forge, spec: PullRequestSpec) -> tuple[PullRequest, str | None]:
    """Open the pull request, sending the create once: (the pull request, a note on recovery).

    A create whose answer was lost (a 5xx, a timeout, a dropped connection) may have been done.
    The forge is asked for the branch's open pull request, and the run carries on from that one
    (labels, reviewers). Only when the forge holds none is the create sent once more: all three
    forges refuse a second open pull request for one head branch, so even a list that lags
    behind cannot make a duplicate."""
    try:
        pr, note = forge.submit(spec), None
    except AnswerLost:
        held = next((p for p in forge.pulls(spec.owner_repo, spec.head) if p.state == "open"), None)
        if held is None:
            pr = forge.submit(spec)
            note = "the forge lost its answer to opening the pull request and held none: opened it again"
        else:
            pr = replace(held, created=True)
            note = f"the forge lost its answer to opening the pull request: found #{held.number} by its branch"
    forge.decorate(spec, pr)
    return pr, note

"""Minimal text edits on the original string: the parser locates, these functions write."""

from __future__ import annotations

import itertools
from dataclasses import dataclass


@dataclass(frozen=True, order=True)
class Splice:
    start: int
    end: int
    text: str


def apply_splices(text: str, splices: list[Splice]) -> str:
    ordered = sorted(set(splices))
    for before, after in itertools.pairwise(ordered):
        if after.start < before.end:
            raise ValueError(f"overlapping edits at offsets {before.start} and {after.start}")
    out: list[str] = []
    cursor = 0
    for splice in ordered:
        out.append(text[cursor : splice.start])
        out.append(splice.text)
        cursor = splice.end
    out.append(text[cursor:])
    return "".join(out)


def line_start(text: str, offset: int) -> int:
    return text.rfind("\n", 0, offset) + 1


def line_end(text: str, offset: int) -> int:
    """Offset just past the line's break, or len(text) on a last line without one."""
    end = text.find("\n", offset)
    return len(text) if end == -1 else end + 1


def line_offset(text: str, line: int) -> int:
    """Offset of the start of a 0-based line number (len(text) past the last line)."""
    offset = 0
    for _ in range(line):
        nxt = text.find("\n", offset)
        if nxt == -1:
            return len(text)
        offset = nxt + 1
    return offset


def dominant_eol(text: str) -> str:
    crlf = text.count("\r\n")
    return "\r\n" if crlf and crlf * 2 >= text.count("\n") else "\n"


def eol_near(text: str, offset: int) -> str:
    """The line break style of the line holding offset, or the file's if that line has none."""
    end = text.find("\n", offset)
    if end == -1:
        return dominant_eol(text)
    return "\r\n" if end > 0 and text[end - 1] == "\r" else "\n"


def insert_lines_after(text: str, offset: int, lines: list[str]) -> Splice:
    """Insert whole lines after the line that holds offset, in that line's break style."""
    eol = eol_near(text, offset)
    end = text.find("\n", offset)
    if end == -1:  # last line has no final newline: keep it that way
        return Splice(len(text), len(text), "".join(eol + line for line in lines))
    return Splice(end + 1, end + 1, "".join(line + eol for line in lines))


def insert_lines_before(text: str, offset: int, lines: list[str]) -> Splice:
    eol = eol_near(text, offset)
    start = line_start(text, offset)
    return Splice(start, start, "".join(line + eol for line in lines))


def delete_lines(text: str, first_offset: int, last_offset: int) -> Splice:
    """Delete the whole lines from the one holding first_offset to the one holding last_offset."""
    start = line_start(text, first_offset)
    end = line_end(text, last_offset)
    if end == len(text) and not text.endswith("\n") and start > 0:
        # Deleting an unterminated last line: take the previous break instead, so the file
        # still ends without a newline as it did.
        start -= 2 if text[start - 2 : start] == "\r\n" else 1
    return Splice(start, end, "")


def line_text(text: str, offset: int) -> str:
    """The line holding offset, without its break."""
    start = line_start(text, offset)
    end = text.find("\n", offset)
    if end == -1:
        end = len(text)
    return text[start:end].rstrip("\r")

"""Jinja awareness without rendering: find template tags and mask them so YAML can be parsed.

Masking keeps every character offset and every line break, so node positions found in the
masked text are positions in the original text. Tags that fill a line on their own become
YAML comments; inline tags become placeholders of the same length.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from typing import Literal

TagKind = Literal["block", "variable", "comment"]

_OPENING = {"if", "for", "macro", "call", "filter", "set_block", "block", "with", "raw", "autoescape", "trans"}


MAX_TAG = 4096  # characters in one Jinja tag; longer ones are left unmasked


@dataclass(frozen=True)
class Delimiters:
    block_start: str = "{%"
    block_end: str = "%}"
    variable_start: str = "{{"
    variable_end: str = "}}"
    comment_start: str = "{#"
    comment_end: str = "#}"


STANDARD = Delimiters()
# onedr0p/cluster-template's makejinja.toml; used only when a repo's own file says so.
CLUSTER_TEMPLATE = Delimiters("#%", "%#", "#{", "}#", "#|", "#|")


@dataclass(frozen=True)
class Tag:
    kind: TagKind
    start: int
    end: int
    statement: str  # first word of a block tag ("if", "endif"), "" otherwise


@cache
def _tag_pattern(delims: Delimiters) -> re.Pattern[str]:
    # Bounded: a file full of unclosed `{%` must cost linear time, not quadratic.
    def part(name: str, start: str, end: str) -> str:
        return f"(?P<{name}>{re.escape(start)}.{{0,{MAX_TAG}}}?{re.escape(end)})"

    return re.compile(
        "|".join(
            (
                part("block", delims.block_start, delims.block_end),
                part("variable", delims.variable_start, delims.variable_end),
                part("comment", delims.comment_start, delims.comment_end),
            )
        ),
        re.DOTALL,
    )


def find_tags(text: str, delims: Delimiters) -> list[Tag]:
    tags: list[Tag] = []
    for match in _tag_pattern(delims).finditer(text):
        kind: TagKind = match.lastgroup  # type: ignore[assignment]
        statement = ""
        if kind == "block":
            inner = match.group()[len(delims.block_start) : -len(delims.block_end)]
            words = inner.strip("-+ \t\r\n").split(None, 1)
            statement = words[0] if words else ""
        tags.append(Tag(kind, match.start(), match.end(), statement))
    return tags


def _is_alone_on_line(text: str, start: int, end: int) -> bool:
    line_start = text.rfind("\n", 0, start) + 1
    line_end = text.find("\n", end)
    if line_end == -1:
        line_end = len(text)
    return not text[line_start:start].strip() and not text[end:line_end].strip()


def mask(text: str, delims: Delimiters) -> str:
    """Return text of identical length and line structure that a YAML parser can read."""
    tags = find_tags(text, delims)
    if not tags:
        return text
    chars = list(text)
    for tag in tags:
        if _is_alone_on_line(text, tag.start, tag.end):
            # A line of its own becomes a comment line (one per physical line it spans).
            at_line_start = True
            for i in range(tag.start, tag.end):
                if chars[i] in "\r\n":
                    at_line_start = True
                    continue
                chars[i] = "#" if at_line_start else " "
                at_line_start = False
        else:
            filler = "x" if tag.kind == "variable" else " "
            for i in range(tag.start, tag.end):
                if chars[i] not in "\r\n":
                    chars[i] = filler
    return "".join(chars)


def _opens_block(tag: Tag, text: str) -> bool:
    if tag.statement in _OPENING:
        return True
    # "{% set x %}...{% endset %}" is a block; "{% set x = 1 %}" is not.
    return tag.statement == "set" and "=" not in text[tag.start : tag.end]


@dataclass(frozen=True)
class JinjaLines:
    """Per line: the Jinja block depth at its start, which lines are stand-alone block tags, and
    which hold another tag (a `#{ variable }#` or a `#| comment |#`: template text, though a
    line of it may start with `#` as a YAML comment does)."""

    depth: list[int]
    block_statements: dict[int, str]
    tagged: frozenset[int] = frozenset()

    def depth_after(self, line: int) -> int:
        return self.depth[line + 1] if line + 1 < len(self.depth) else 0


def jinja_lines(text: str, delims: Delimiters | None) -> JinjaLines:
    n_lines = text.count("\n") + 1
    depth_at = [0] * (n_lines + 1)
    statements: dict[int, str] = {}
    if delims is None:
        return JinjaLines(depth_at[:n_lines], statements)
    changes: dict[int, int] = {}  # line -> depth after the tags of that line
    tagged: set[int] = set()
    depth = 0
    for tag in find_tags(text, delims):
        if tag.kind != "block":
            tagged.update(range(text.count("\n", 0, tag.start), text.count("\n", 0, tag.end) + 1))
            continue
        if tag.statement.startswith("end"):
            depth = max(0, depth - 1)
        elif _opens_block(tag, text):
            depth += 1
        end_line = text.count("\n", 0, tag.end)
        changes[end_line] = depth
        if _is_alone_on_line(text, tag.start, tag.end):
            statements[text.count("\n", 0, tag.start)] = tag.statement
    depth = 0
    for line in range(n_lines):
        depth_at[line] = depth
        depth = changes.get(line, depth)
    return JinjaLines(depth_at[:n_lines], statements, frozenset(tagged))

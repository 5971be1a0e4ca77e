"""The one check a YAML text passes before anything parses it into nodes or hands it to kustomize.

A few hundred bytes of nested anchors ("billion laughs") expand to gigabytes in whatever
resolves aliases (kustomize did, at 8 GB a process); 100,000 `[` exhaust a recursive parser.
This pass reads the text as a stream of parser events, never building a node, and refuses:

- a document whose aliases, expanded, would give far more nodes than it holds itself (the
  idea of go-yaml's excessive-aliasing check, computed from the sizes of the anchored nodes
  instead of counted while expanding them);
- nesting deeper than MAX_DEPTH levels, aliases expanded;
- a file over MAX_YAML_BYTES;
- for the round-trip composer only (`check_composable`), a file of more than
  MAX_COMPOSED_NODES nodes, which would take it seconds to minutes.

It runs on every text `yamltext.locate.compose` parses (every file the run or the doctor
reads as YAML) and on every file the build gate would hand to kustomize (`verify.tree`,
`verify.gate`). The refusal is a `HostileYAML` naming the file and the line of the alias,
the anchor or the level at fault.

The events come from libyaml through PyYAML when it is installed (`codemods[build]`, which
also brings kubectl): about 2 % of the cost of ruamel.yaml's parse, and the same grammar as
go-yaml, kustomize's parser, which is a port of it. Without it, ruamel.yaml's own parser
gives the events, only for the files the byte tests below cannot clear.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from functools import lru_cache
from typing import Any

from codemods.errors import HostileYAML

# The scan skips a larger file as "too large for a manifest" (repo/index.py); the build gate
# refuses to hand one to kustomize. The largest file of the corpus is 40 KiB; CRD bundles,
# the largest manifests there are, stay under 2 MiB.
MAX_YAML_BYTES = 4 * 1024 * 1024

# Collection levels, aliases expanded. libyaml stops at 1,000 and go-yaml at 10,000, but
# ruamel.yaml's composer recurses two frames a level and fails near 450 under Python's
# default limit of 1,000 (batch workers start deeper). The corpus nests 14 levels at most,
# and CRD schemas about 30: 200 is far above real files and far below the parsers' limits.
MAX_DEPTH = 200

# A document may expand to max(ALIAS_FLOOR, ALIAS_RATIO x its own nodes) through its aliases.
# kubectl kustomize (v1.37, kustomize v5.8) spends about 1.3 KiB and 15 us per node once
# expanded: 122,000 nodes took 223 MiB and 2 s, 1.2 million 1.6 GiB and 19 s. The floor keeps
# a small document's expansion near 200 MiB; the ratio lets aliases at most double what a
# document would cost written out in full (itself capped by MAX_YAML_BYTES), where a fixed
# ratio of 10 would let a 4 MiB file ask for gigabytes. go-yaml's own check allows 99 %
# aliased nodes below 400,000 decoded nodes and 10 % above 4 million; this one decides before
# anything is decoded. In the corpus and every snapshot, documents with aliases expand by 1.18
# times at most and to 266 nodes at most (a name, a port, a merge key): the limits are far
# above that, and an 11-level, 9-alias bomb asks for 4 x 10^10.
ALIAS_FLOOR = 100_000
ALIAS_RATIO = 2
_SATURATED = 1 << 62  # sizes stop growing here: a chain of doublings stays a machine integer

# ruamel.yaml's scanner looks up to 1,024 characters ahead at a cost per level: a run of
# flow openers takes it about a second to reach MAX_DEPTH. A run of 1,000 outside quotes and
# comments is refused at once (only a block scalar could hold one as text, and none does).
_FLOW_RUN_LENGTH = 1000
_FLOW_RUN = re.compile(rf"(?:[\[{{][ \t\r\n]*){{{_FLOW_RUN_LENGTH}}}")
# YAML allows a tab before a comment and go-yaml (kustomize) reads it; libyaml does not.
# Spaces of the same length keep every position, and the whole text gets checked.
_TAB_BEFORE_COMMENT = re.compile(r"\t(?=[ \t]*#)")

TOO_DEEP = f"YAML is nested too deeply to parse: more than {MAX_DEPTH} levels"

# ruamel.yaml's round-trip composer (every file the run or the doctor reads as YAML) builds
# about 25,000 nodes a second here: a 4 MiB file of `k: v` lines took it 16 s, and one of
# `[a,a,...]` holds two million nodes. The corpus's largest file holds 619; a HelmRelease with
# a chart's whole values inline holds a few thousand. Past this, a file is not parsed (about
# 4 s of composing at most). The build gate hands larger files to kustomize, which is fast.
MAX_COMPOSED_NODES = 100_000
# A node takes at least two thirds of a character (`[:,:]` holds three per two), so a text
# of fewer characters than this cannot hold more nodes than the limit: not counted.
_COUNT_FROM = MAX_COMPOSED_NODES * 2 // 3

_SCALAR, _ALIAS, _START, _END, _DOCUMENT_START, _DOCUMENT_END = range(6)


def check(text: str | bytes, path: str) -> None:
    """Raise HostileYAML when text is too large, too deep or an alias bomb; else return.

    A text that does not parse is checked up to its error: the parser that reads it next
    reports the error itself (a bomb before it is still refused)."""
    if len(text) > MAX_YAML_BYTES:
        raise too_large(path, len(text))
    source = _decoded(text)
    if isinstance(source, str):
        if not _may_be_hostile(source):
            return
        if "\t" in source:
            source = _TAB_BEFORE_COMMENT.sub(" ", source)
    engine = _libyaml()
    if engine is None and isinstance(source, str):
        _refuse_flow_run(source, path)
    _Counter(path).feed(_events(source, engine, path))


def check_composable(text: str, path: str) -> None:
    """Raise HostileYAML when text holds more than MAX_COMPOSED_NODES nodes (aliases counted
    once, as a composer builds them): counted from the parser's events, only for a text long
    enough to hold that many, and only up to the first node past the limit. Where libyaml
    stops at a syntax error that ruamel.yaml reads past (a BOM inside the stream), the count
    goes on with ruamel.yaml's own parser, which reads the text as the composer will."""
    if len(text) < _COUNT_FROM:
        return
    source = _decoded(text)
    engine = _libyaml()
    if not _count_nodes(source, engine, path) and engine is not None:
        _count_nodes(source, None, path)


def _count_nodes(source: str | bytes, engine: Any, path: str) -> bool:
    """Raise HostileYAML past MAX_COMPOSED_NODES; else whether the parser read to the end."""
    nodes = 0
    ended: list[bool] = []
    for kind, event in _events(source, engine, path, ended):
        if kind in (_SCALAR, _START, _ALIAS):
            nodes += 1
            if nodes > MAX_COMPOSED_NODES:
                raise HostileYAML(
                    path,
                    event.start_mark.line + 1,
                    f"more than {MAX_COMPOSED_NODES:,} YAML nodes by this line: too many to parse "
                    "(a manifest holds hundreds); not parsed",
                )
    return bool(ended)


def too_large(path: str, size: int) -> HostileYAML:
    """The refusal of a file over MAX_YAML_BYTES (size in bytes, or characters once decoded)."""
    return HostileYAML(
        path,
        None,
        f"{size / (1024 * 1024):.0f} MiB: over the {MAX_YAML_BYTES // (1024 * 1024)} MiB a YAML file may hold; not parsed",
    )


def _decoded(text: str | bytes) -> str | bytes:
    """UTF-8 as text; other bytes as they are: the parser reads a UTF-16 BOM as kustomize does."""
    if isinstance(text, str):
        return text
    try:
        return text.decode("utf-8")
    except UnicodeDecodeError:
        return text


def _may_be_hostile(text: str) -> bool:
    """Can text hold an alias, or nest deeper than MAX_DEPTH? Byte tests at C speed.

    Every collection starts at a line's first token, or after `-`, `?`, `:`, `[` or `{` on
    it; one indicator starts at most two levels (`- a: b`, `[a: b]`), an explicit key three
    (`? - a` then `: b: c`). A `-` is an indicator only before white space (in `litellm-helm`
    it is a character of the name). So lines + 2 x (`- `, `[`, `{`) + 3 x `?` bounds the
    depth; a file of a few hundred lines of hyphenated names needs no parse to pass."""
    if "*" in text and "&" in text:
        return True
    # YAML 1.1's line breaks (NEL, LS, PS) break lines for ruamel.yaml too.
    breaks = text.count("\n") + text.count("\x85") + text.count("\u2028") + text.count("\u2029")
    dashes = text.count("- ") + text.count("-\t") + text.count("-\r") + text.endswith("-")
    dashes += text.count("-\n") + text.count("-\x85") + text.count("-\u2028") + text.count("-\u2029")
    bound = breaks + 1 + 2 * (dashes + text.count("[") + text.count("{")) + 3 * text.count("?")
    return bound > MAX_DEPTH


def _refuse_flow_run(source: str, path: str) -> None:
    if source.count("[") + source.count("{") < _FLOW_RUN_LENGTH:  # too few openers for a run: no search
        return
    for match in _FLOW_RUN.finditer(source):
        line_start = source.rfind("\n", 0, match.start()) + 1
        before = source[line_start : match.start()]
        if "#" not in before and "'" not in before and before.count('"') % 2 == 0:
            line = source.count("\n", 0, match.start()) + 1
            raise HostileYAML(path, line, TOO_DEEP)


@lru_cache(maxsize=1)
def _libyaml() -> Any:
    """PyYAML's libyaml loader class, or None. Imported on the first text that needs the pass."""
    try:
        import yaml
    except ImportError:  # pragma: no cover - depends on the installation
        return None
    return getattr(yaml, "CSafeLoader", None)


@lru_cache(maxsize=2)
def _kinds(engine: Any) -> dict[type, int]:
    """Event class -> kind, for the library that makes the events."""
    if engine is not None:
        from yaml import events
    else:
        from ruamel.yaml import events  # type: ignore[no-redef]
    return {
        events.ScalarEvent: _SCALAR,
        events.AliasEvent: _ALIAS,
        events.SequenceStartEvent: _START,
        events.MappingStartEvent: _START,
        events.SequenceEndEvent: _END,
        events.MappingEndEvent: _END,
        events.DocumentStartEvent: _DOCUMENT_START,
        events.DocumentEndEvent: _DOCUMENT_END,
    }


def _events(source: str | bytes, engine: Any, path: str, ended: list[bool] | None = None) -> Iterator[tuple[int, Any]]:
    """(kind, event) of each event up to the end or the first syntax error (ended, when given,
    gets True appended when the parser read to the end)."""
    kinds = _kinds(engine)
    if engine is not None:
        import yaml

        stream: Iterable[Any] = yaml.parse(source, Loader=engine)
        errors: tuple[type[BaseException], ...] = (yaml.YAMLError,)
    else:
        from ruamel.yaml import YAML
        from ruamel.yaml.error import YAMLError

        stream = YAML(typ="safe", pure=True).parse(source)
        errors = (YAMLError,)
    try:
        for event in stream:
            kind = kinds.get(type(event))
            if kind is not None:
                yield kind, event
        if ended is not None:
            ended.append(True)
    except errors as err:
        # libyaml refuses 1,000 levels in its scanner, which reads ahead of the events.
        if "maximum nesting depth" in str(err):
            mark = getattr(err, "problem_mark", None)
            line = mark.line + 1 if mark is not None else None
            raise HostileYAML(path, line, TOO_DEEP) from None
        return  # the parser that reads it next says what is wrong, and where


class _Open:
    """A collection being read: its size so far, its tallest child, its anchor and line."""

    __slots__ = ("anchor", "line", "size", "tallest")

    def __init__(self, anchor: str | None, line: int, size: int = 1) -> None:
        self.anchor, self.line, self.size, self.tallest = anchor, line, size, 0

    def holds(self, size: int, height: int) -> None:
        self.size = min(self.size + size, _SATURATED)
        self.tallest = max(self.tallest, height)


class _Counter:
    """Sizes and heights of the nodes being read, aliases counted by their anchor's size.

    A node's size is how many nodes it stands for with every alias in it expanded (itself
    included); its height, how many collection levels it holds. An alias adds its anchor's
    size and height where it stands: a running sum per open collection, never a copy."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._document()

    def _document(self) -> None:
        self.anchors: dict[str, tuple[int, int, int]] = {}  # name -> (size, height, line)
        self.open = [_Open(None, 0, size=0)]  # the collections being read, the document first
        self.own = 0  # nodes written in the document
        self.total = 0  # nodes with every alias expanded
        self.biggest: tuple[int, str, int, int] | None = None  # the largest alias: size, name, line, anchor's line

    def feed(self, events: Iterable[tuple[int, Any]]) -> None:
        for kind, event in events:
            if kind == _SCALAR:
                self._scalar(event)
            elif kind == _START:
                self._start(event)
            elif kind == _END:
                self._end()
            elif kind == _ALIAS:
                self._alias(event)
            elif kind == _DOCUMENT_START:
                self._document()
            else:
                self._verdict()
        self._verdict()  # a document cut short by a syntax error is judged on what was read

    def _scalar(self, event: Any) -> None:
        self.own += 1
        self.total += 1
        self.open[-1].holds(1, 0)
        if event.anchor:
            self.anchors[event.anchor] = (1, 0, event.start_mark.line + 1)

    def _start(self, event: Any) -> None:
        self.own += 1
        self.total += 1
        line = event.start_mark.line + 1
        if len(self.open) > MAX_DEPTH:  # this collection would be level MAX_DEPTH + 1
            raise HostileYAML(self.path, line, TOO_DEEP)
        self.open.append(_Open(event.anchor, line))

    def _end(self) -> None:
        done = self.open.pop()
        height = done.tallest + 1
        self.open[-1].holds(done.size, height)
        if done.anchor:
            self.anchors[done.anchor] = (done.size, height, done.line)

    def _alias(self, event: Any) -> None:
        # An alias of an anchor still open (its own ancestor) is an error for every parser
        # that resolves it; counted as one node here, it is theirs to report.
        size, height, anchor_line = self.anchors.get(event.anchor, (1, 0, 0))
        line = event.start_mark.line + 1
        depth = len(self.open) - 1 + height
        if depth > MAX_DEPTH:
            raise HostileYAML(
                self.path,
                line,
                f"YAML is nested too deeply once its aliases are expanded: the alias *{event.anchor} here "
                f"(anchor at line {anchor_line}) reaches {depth} levels, more than {MAX_DEPTH}",
            )
        self.open[-1].holds(size, height)
        self.total = min(self.total + size, _SATURATED)
        if self.biggest is None or size > self.biggest[0]:
            self.biggest = (size, event.anchor, line, anchor_line)

    def _verdict(self) -> None:
        limit = max(ALIAS_FLOOR, ALIAS_RATIO * self.own)
        if self.total <= limit or self.biggest is None:
            return
        size, name, line, anchor_line = self.biggest
        raise HostileYAML(
            self.path,
            line,
            f"YAML alias bomb: with its aliases expanded this document holds {_count(self.total)} nodes, "
            f"written as {self.own:,} (at most {limit:,}); the alias *{name} here stands for {_count(size)} "
            f"(anchor at line {anchor_line}); not expanded, not parsed",
        )


def _count(nodes: int) -> str:
    return f"{nodes:,}" if nodes < _SATURATED else f"over {_SATURATED:,}"

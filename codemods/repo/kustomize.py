"""kustomize `resources:` lists: read them, and add or remove one entry byte-exactly.

Unlike `kustomize edit add resource`, this keeps comments, Jinja block lines, indentation,
quoting, `---` and line breaks (domain-facts §4).
"""

from __future__ import annotations

import posixpath
from dataclasses import dataclass

from codemods.flux.fields import is_kustomization
from codemods.yamltext.jinja import Delimiters, jinja_lines
from codemods.yamltext.locate import MappingNode, Node, ScalarNode, SequenceNode, compose, entries, first, scalar_value
from codemods.yamltext.splice import (
    Splice,
    apply_splices,
    delete_lines,
    dominant_eol,
    insert_lines_after,
    insert_lines_before,
    line_offset,
    line_text,
)


def entry_key(entry: str) -> str:
    """Entries compare equal with or without ./ (and a trailing slash on directories)."""
    return posixpath.normpath(entry.strip()).rstrip("/")


@dataclass(frozen=True)
class Entry:
    value: str
    node: ScalarNode


def _kustomization_doc(text: str, path: str, delims: Delimiters | None) -> MappingNode | None:
    for doc in compose(text, path, delims):
        kind, api = scalar_value(first(doc, "kind")), scalar_value(first(doc, "apiVersion"))
        if isinstance(doc, MappingNode) and is_kustomization(kind, api):
            return doc
    return None


def resource_entries(text: str, path: str, delims: Delimiters | None, key: str = "resources") -> list[Entry]:
    doc = _kustomization_doc(text, path, delims)
    found: list[Entry] = []
    for _k, seq in entries(doc, key):
        if isinstance(seq, SequenceNode):
            found.extend(Entry(item.value, item) for item in seq.value if isinstance(item, ScalarNode))
    return found


def listings(text: str, path: str, delims: Delimiters | None, entry: str, key: str = "resources") -> list[Entry]:
    """Every item of the list under key that names entry (with or without ./)."""
    wanted = entry_key(entry)
    return [e for e in resource_entries(text, path, delims, key) if entry_key(e.value) == wanted]


def lists_entry(text: str, path: str, delims: Delimiters | None, entry: str, key: str = "resources") -> bool:
    return bool(listings(text, path, delims, entry, key))


def _last_line(node: Node) -> int:
    """0-based line of a node's last character (a block scalar ends at the next line's start)."""
    return node.end_mark.line if node.end_mark.column > 0 else node.end_mark.line - 1


def _format_like(entry: str, examples: list[ScalarNode]) -> str:
    dotted = sum(1 for n in examples if n.value.startswith("./"))
    bare = len(examples) - dotted
    name = entry_key(entry)
    if dotted >= bare and examples or not examples:
        name = "./" + name
    quotes = [n.style for n in examples if n.style in ('"', "'")]
    if quotes and len(quotes) * 2 > len(examples):
        quote = max(set(quotes), key=quotes.count)
        name = f"{quote}{name}{quote}"
    return name


def _sort_key(value: str) -> str:
    return entry_key(value).lower()


def add_entry(text: str, path: str, delims: Delimiters | None, entry: str, guard: Guard | None = None) -> str | None:
    """Text with entry added to resources, or None when it is already listed.

    In a sorted list the entry goes to its sorted place, otherwise to the end. A guard, if
    given, wraps the new line the way it wrapped the entry where it came from.
    """
    doc = _kustomization_doc(text, path, delims)
    if doc is None:
        return None
    if lists_entry(text, path, delims, entry):
        return None
    pairs = entries(doc, "resources")
    if not pairs:
        return _add_resources_key(text, doc, entry)
    key_node, seq = pairs[-1]
    if isinstance(seq, SequenceNode) and seq.flow_style:
        return _add_to_flow(text, seq, entry)
    if not isinstance(seq, SequenceNode) or not seq.value:
        # "resources:" with no items: start a block list under it.
        indent = " " * (key_node.start_mark.column + _indent_step(text))
        return apply_splices(
            text, [insert_lines_after(text, key_node.start_mark.index, [f"{indent}- {_format_like(entry, [])}"])]
        )
    items = [i for i in seq.value if isinstance(i, ScalarNode)]
    if not items:
        return None
    jl = jinja_lines(text, delims)
    # The new line copies an existing item's prefix ("  - "), so indentation and dash spacing match.
    model = items[0]
    prefix = line_text(text, model.start_mark.index)[: model.start_mark.column]
    new_lines = [prefix + _format_like(entry, items)]
    if guard is not None:
        indent = prefix[: len(prefix) - len(prefix.lstrip())]
        new_lines = [indent + guard.opening, *new_lines, indent + guard.closing]
    names = [_sort_key(i.value) for i in items]
    new_key = _sort_key(entry)
    if names == sorted(names):
        following = next((i for i in items if _sort_key(i.value) > new_key), None)
        if following is not None:
            anchor_line = _outermost_block_start(jl, following.start_mark.line)
            anchor_line = _above_comments(text, anchor_line, jl)
            anchor = line_offset(text, anchor_line)
            return apply_splices(text, [insert_lines_before(text, anchor, new_lines)])
    # Append after the last item, past any Jinja blocks still open there.
    last = items[-1]
    last_line = _last_line(last)
    while jl.depth_after(last_line) > 0 and last_line + 1 < len(jl.depth):
        last_line += 1
    return apply_splices(text, [insert_lines_after(text, line_offset(text, last_line), new_lines)])


@dataclass(frozen=True)
class Guard:
    """Jinja block lines that wrap one entry alone, e.g. `#% if x %#` ... `#% endif %#`."""

    opening: str  # stripped text of the opening line
    closing: str


def _sole_guard_lines(text: str, item: ScalarNode, jl) -> tuple[int, int] | None:
    """The lines of an `if` and its `endif` around the entry alone (0-based), or None. Plain
    comment lines inside the guard, above or below the entry, describe it: they belong to it."""
    top = _above_comments(text, item.start_mark.line, jl)
    bottom = _last_line(item)
    bottom += _comment_run(text, bottom + 1, jl)
    if jl.block_statements.get(top - 1) == "if" and jl.block_statements.get(bottom + 1, "").startswith("endif"):
        return top - 1, bottom + 1
    return None


def find_guard(text: str, path: str, delims: Delimiters | None, entry: str, key: str = "resources") -> Guard | None:
    """The Jinja guard around a listed entry, when it guards that entry alone."""
    if delims is None:
        return None
    jl = jinja_lines(text, delims)
    for listed in listings(text, path, delims, entry, key):
        lines = _sole_guard_lines(text, listed.node, jl)
        if lines is not None:
            return Guard(
                line_text(text, line_offset(text, lines[0])).strip(),
                line_text(text, line_offset(text, lines[1])).strip(),
            )
    return None


def in_jinja_block(text: str, path: str, delims: Delimiters | None, entry: str, key: str = "resources") -> int | None:
    """1-based line of a listed entry that sits inside a Jinja block, else None."""
    if delims is None:
        return None
    jl = jinja_lines(text, delims)
    for listed in listings(text, path, delims, entry, key):
        if jl.depth[listed.node.start_mark.line] > 0:
            return listed.node.start_mark.line + 1
    return None


def remove_entry(text: str, path: str, delims: Delimiters | None, entry: str, key: str = "resources") -> str | None:
    """Text with every listing of entry removed from the list under key, or None when it is not listed.

    A list left with no items goes with its key: kustomize reads `resources:` with nothing
    after it as null, and Flux users never write that."""
    wanted = entry_key(entry)
    doc = _kustomization_doc(text, path, delims)
    splices: list[Splice] = []
    jl = jinja_lines(text, delims)
    for key_node, seq in entries(doc, key):
        if not isinstance(seq, SequenceNode):
            continue
        matching = [i for i in seq.value if isinstance(i, ScalarNode) and entry_key(i.value) == wanted]
        if (
            matching
            and len(matching) == len(seq.value)
            and not seq.flow_style
            and jl.depth[key_node.start_mark.line] == 0
        ):
            last_line = _last_line(seq.value[-1])
            while jl.depth_after(last_line) > 0 and last_line + 1 < len(jl.depth):
                last_line += 1  # a Jinja block still open after the last item closes with the list
            # A `#{ variable }#` line in the list renders entries YAML does not see: the list stays.
            if not jl.tagged.intersection(range(key_node.start_mark.line, last_line + 1)):
                splices.append(delete_lines(text, key_node.start_mark.index, line_offset(text, last_line)))
                continue
        for pos, item in enumerate(seq.value):
            if not isinstance(item, ScalarNode) or entry_key(item.value) != wanted:
                continue
            if seq.flow_style:
                splices.append(_flow_item_removal(text, seq, pos))
                continue
            first_line = item.start_mark.line
            last_line = _last_line(item)
            # An `if` that guarded only this entry goes with it, or a dangling pair would remain.
            guard_lines = _sole_guard_lines(text, item, jl)
            if guard_lines is not None:
                first_line, last_line = guard_lines
            next_item = seq.value[pos + 1] if pos + 1 < len(seq.value) else None
            if next_item is None or next_item.start_mark.line > last_line + 1 + _comment_run(text, last_line + 1, jl):
                # Comments right above an entry that ends its group describe that entry alone.
                first_line = _above_comments(text, first_line, jl)
            splices.append(delete_lines(text, line_offset(text, first_line), line_offset(text, last_line)))
    if not splices:
        return None
    return apply_splices(text, splices)


def _outermost_block_start(jl, line: int) -> int:
    """For an entry inside a Jinja block, the line of the block's outermost opening tag."""
    while line > 0 and jl.depth[line] > 0:
        line -= 1
        if line in jl.block_statements and jl.depth[line] == 0:
            return line
    return line


def _above_comments(text: str, line: int, jl) -> int:
    """Move up over plain comment lines that introduce the anchor entry."""
    while line > 0:
        prev = line_text(text, line_offset(text, line - 1)).strip()
        if prev.startswith("#") and (line - 1) not in jl.block_statements and (line - 1) not in jl.tagged:
            line -= 1
        else:
            break
    return line


def _comment_run(text: str, line: int, jl) -> int:
    """How many plain comment lines start at line (0 when the next line is content)."""
    count = 0
    total = len(jl.depth)
    while line + count < total:
        stripped = line_text(text, line_offset(text, line + count)).strip()
        if stripped.startswith("#") and (line + count) not in jl.block_statements and (line + count) not in jl.tagged:
            count += 1
        else:
            break
    return count


def _indent_step(text: str) -> int:
    """The file's own indentation step: the smallest positive indent of a key or item."""
    best = 0
    for raw in text.splitlines():
        stripped = raw.lstrip(" ")
        indent = len(raw) - len(stripped)
        if indent and stripped and not stripped.startswith("#") and (best == 0 or indent < best):
            best = indent
    return best or 2


def _add_resources_key(text: str, doc: MappingNode, entry: str) -> str:
    eol = dominant_eol(text)
    step = _indent_step(text)
    lines = ["resources:", " " * step + "- " + _format_like(entry, [])]
    last_value: Node = doc.value[-1][1]
    end = last_value.end_mark.index
    if end > 0 and text[end - 1] == "\n":
        return apply_splices(text, [Splice(end, end, "".join(line + eol for line in lines))])
    return apply_splices(text, [insert_lines_after(text, max(end - 1, 0), lines)])


def _add_to_flow(text: str, seq: SequenceNode, entry: str) -> str:
    items = [i for i in seq.value if isinstance(i, ScalarNode)]
    formatted = _format_like(entry, items)
    close = seq.end_mark.index - 1  # the "]"
    if not items:
        return apply_splices(text, [Splice(close, close, formatted)])
    names = [_sort_key(i.value) for i in items]
    if names == sorted(names):  # a sorted list stays sorted, as in block style
        following = next((i for i in items if _sort_key(i.value) > _sort_key(entry)), None)
        if following is not None:
            at = following.start_mark.index
            return apply_splices(text, [Splice(at, at, formatted + ", ")])
    last_end = items[-1].end_mark.index
    return apply_splices(text, [Splice(last_end, last_end, ", " + formatted)])


def _flow_item_removal(text: str, seq: SequenceNode, pos: int) -> Splice:
    item = seq.value[pos]
    if pos + 1 < len(seq.value):
        return Splice(item.start_mark.index, seq.value[pos + 1].start_mark.index, "")
    if pos > 0:
        return Splice(seq.value[pos - 1].end_mark.index, item.end_mark.index, "")
    return Splice(item.start_mark.index, item.end_mark.index, "")

"""Expanding a YAML anchor where an edit must not reach its other users.

`a: &shared {...}` and `b: *shared` are one node: an edit of `a.x` changes `b.x` too. When one
path must change and the anchor's other users must keep their value, the alias is replaced
by a copy of the anchored text, re-indented for its place, so each path has its own node:

- the path to change is an alias (`b: *shared`): that alias alone becomes a copy;
- the path to change holds the anchor: every alias becomes a copy and the anchor goes.

Only plain mapping values are expanded (`key: *name`): an alias in a sequence or a merge key
(`<<: *name`) means something else, and the caller keeps its warning. Byte-exact elsewhere.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from codemods.yamltext.locate import MappingNode, Node, ScalarNode, SequenceNode, compose
from codemods.yamltext.mapping import is_alias_of
from codemods.yamltext.splice import Splice, apply_splices


def _pairs(node: Node, seen: set[int]) -> Iterator[tuple[Node, Node]]:
    """Every (key, value) of every mapping below node, aliases included but not walked twice."""
    if id(node) in seen:
        return
    seen.add(id(node))
    if isinstance(node, MappingNode):
        for key, value in node.value:
            yield key, value
            yield from _pairs(value, seen)
    elif isinstance(node, SequenceNode):
        for item in node.value:
            yield from _pairs(item, seen)


def _line_start(text: str, index: int) -> int:
    return text.rfind("\n", 0, index) + 1


def _last_scalar(node: Node) -> Node:
    while isinstance(node, MappingNode | SequenceNode) and node.value:
        last = node.value[-1]
        node = last[1] if isinstance(node, MappingNode) else last
    return node


def _copy_of(text: str, anchored: Node, indent: int) -> str | None:
    """The anchored node's text without its `&name`, for a value whose key is at column
    `indent`: a block re-indented below it (starting with a newline), else inline."""
    if not isinstance(anchored, MappingNode | SequenceNode) or anchored.flow_style or not anchored.value:
        start = re.compile(rf"&{re.escape(anchored.anchor)}\s*").match(text, anchored.start_mark.index)
        return text[start.end() : anchored.end_mark.index] if start else None
    first = anchored.value[0][0] if isinstance(anchored, MappingNode) else anchored.value[0]
    body_start = _line_start(text, first.start_mark.index)
    end = _last_scalar(anchored).end_mark.index
    newline = text.find("\n", max(end - 1, body_start))
    body = text[body_start : newline if newline != -1 else len(text)]
    holder = _line_start(text, anchored.start_mark.index)
    holder_indent = len(text[holder:]) - len(text[holder:].lstrip(" "))
    old = _indent_of(text, body_start)
    new = indent + (old - holder_indent)
    lines = []
    for line in body.split("\n"):
        if not line.strip():
            lines.append(line)
        elif line[:old].strip() or len(line) - len(line.lstrip(" ")) < old:
            return None  # a line left of the block (a comment): no faithful copy
        else:
            lines.append(" " * new + line[old:])
    return "\n" + "\n".join(lines)


def _indent_of(text: str, line_start: int) -> int:
    line = text[line_start : text.find("\n", line_start) if "\n" in text[line_start:] else len(text)]
    return len(line) - len(line.lstrip(" "))


def _alias_splice(text: str, key: Node, anchored: Node) -> Splice | None:
    """`key: *name` -> `key:` and a copy of the anchored node (a trailing comment stays on the key's line)."""
    alias = re.compile(rf"[ \t]*:[ \t]*\*{re.escape(anchored.anchor)}(?![\w-])").match(text, key.end_mark.index)
    if alias is None:
        return None
    copy = _copy_of(text, anchored, key.start_mark.column)
    if copy is None:
        return None
    line_end = text.find("\n", alias.end())
    line_end = len(text) if line_end == -1 else line_end
    rest = text[alias.end() : line_end]
    if not copy.startswith("\n"):  # inline: the alias token becomes the text it stood for
        return Splice(alias.end() - len(anchored.anchor) - 1, alias.end(), copy)
    return Splice(alias.start(), line_end, ":" + (rest if rest.strip() else "") + copy)


def _uses(text: str, root: Node, anchored: Node) -> list[Node] | None:
    """The keys whose value is an alias of anchored; None when some use is not `key: *name`."""
    keys = [k for k, v in _pairs(root, set()) if v is anchored and is_alias_of(k, v)]
    written = len(re.findall(rf"\*{re.escape(anchored.anchor)}(?![\w-])", text))
    if len(keys) != written or any(isinstance(k, ScalarNode) and k.value == "<<" for k in keys):
        return None
    return keys


def expand_alias(text: str, path: str, key: Node, anchored: Node) -> str | None:
    """Text with the alias value of `key` replaced by a copy of the anchored node; None when it
    cannot be done faithfully."""
    splice = _alias_splice(text, key, anchored)
    return apply_splices(text, [splice]) if splice is not None else None


def expand_anchor(text: str, path: str, document: int, anchored: Node) -> str | None:
    """Text with every alias of anchored replaced by a copy, and the anchor removed; None when a
    use is not a plain mapping value or a copy cannot be made faithfully."""
    docs = compose(text, path, None)
    root = docs[document] if document < len(docs) else None
    uses = _uses(text, root, anchored) if root is not None else None
    if not uses:
        return None
    splices = [_alias_splice(text, key, anchored) for key in uses]
    if any(s is None for s in splices):
        return None
    at = anchored.start_mark.index
    if not text.startswith(f"&{anchored.anchor}", at):
        return None  # a tag before the anchor, say: not touched
    start = at
    while start > 0 and text[start - 1] in " \t":
        start -= 1
    drop = Splice(start, at + 1 + len(anchored.anchor), "")
    return apply_splices(text, [drop, *(s for s in splices if s is not None)])

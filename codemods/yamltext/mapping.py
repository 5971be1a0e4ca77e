"""Add a key to a mapping located by the parser, in the mapping's own style and indentation."""

from __future__ import annotations

from codemods.yamltext.locate import MappingNode, Node, ScalarNode
from codemods.yamltext.splice import Splice, insert_lines_after

NULL_SCALARS = {"", "~", "null", "Null", "NULL"}


def is_alias_of(key: Node, value: Node) -> bool:
    """compose hands back the anchored node itself for `*alias`: its position is before the key.
    Editing it would edit every user of the anchor."""
    return value.start_mark.index < key.end_mark.index


def is_empty(value: Node) -> bool:
    return isinstance(value, ScalarNode) and value.style is None and value.value in NULL_SCALARS


def _flow_insert(text: str, mapping: MappingNode, item: str) -> Splice:
    open_brace = mapping.start_mark.index  # the "{"
    inner = text[open_brace + 1 : mapping.end_mark.index - 1]
    if not inner.strip():
        pad = " " if inner else ""
        return Splice(open_brace + 1, mapping.end_mark.index - 1, f"{pad}{item}{pad}")
    pad = " " if inner.startswith(" ") else ""
    return Splice(open_brace + 1 + len(pad), open_brace + 1 + len(pad), f"{item}, ")


def add_first_child(text: str, key: Node, value: Node, block_lines: list[str], flow_item: str, step: int) -> Splice:
    """Make block_lines (relative indentation, one level = `step` spaces) the first entries of
    key's mapping; flow_item (`k: v`) is used when the mapping is written `{...}`.

    The new lines go right after the key's own line, before any comment that introduces the
    first existing entry. An empty value (`key:`, `key: ~`) becomes a mapping.
    """
    if isinstance(value, MappingNode) and value.flow_style:
        return _flow_insert(text, value, flow_item)
    if isinstance(value, MappingNode):
        indent = " " * value.start_mark.column
    elif is_empty(value) and value.value:  # "key: ~" or "key: null": replace it by a flow mapping
        return Splice(value.start_mark.index, value.end_mark.index, "{" + flow_item + "}")
    else:
        indent = " " * (key.start_mark.column + step)
    return insert_lines_after(text, key.start_mark.index, [indent + line for line in block_lines])


def child_step(key: Node, value: Node, default: int) -> int:
    """The file's own indentation step at this level, from the mapping itself when it can."""
    if isinstance(value, MappingNode) and not value.flow_style:
        return value.start_mark.column - key.start_mark.column or default
    return default

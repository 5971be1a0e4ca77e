"""Parse YAML (masked if it is a Jinja template) into ruamel nodes that carry exact positions."""

from __future__ import annotations

import re
import threading
import warnings
from collections.abc import Iterator
from functools import lru_cache
from typing import NoReturn

from ruamel.yaml import YAML
from ruamel.yaml.composer import ReusedAnchorWarning
from ruamel.yaml.error import MarkedYAMLError, YAMLError
from ruamel.yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode
from ruamel.yaml.reader import ReaderError

from codemods.errors import InputError
from codemods.yamltext.guard import check, check_composable
from codemods.yamltext.jinja import Delimiters, mask

__all__ = [
    "MappingNode",
    "Node",
    "ScalarNode",
    "SequenceNode",
    "compose",
    "entries",
    "first",
    "scalar_value",
    "walk_path",
]

_local = threading.local()


def _yaml() -> YAML:
    # A YAML instance is not thread-safe; one per thread keeps the batch runner safe.
    instance = getattr(_local, "yaml", None)
    if instance is None:
        instance = _local.yaml = YAML(typ="rt")
    return instance


@lru_cache(maxsize=512)
def compose(text: str, path: str, delims: Delimiters | None) -> tuple[Node | None, ...]:
    """All documents of text as node trees. Positions index into text itself.

    Composing (not constructing) keeps duplicate keys, which Jinja if/else branches produce,
    and never expands aliases; the guard refuses what would hurt a parser or whatever expands
    the aliases later (the build gate's kustomize, a walk over the values).
    """
    source = mask(text, delims) if delims is not None else text
    check(source, path)  # an alias bomb, deep nesting, a huge file: refused before it is parsed
    check_composable(source, path)  # a file that would take the composer minutes: not parsed either
    try:
        return _compose_all(source)
    except MarkedYAMLError as err:
        # YAML allows a tab before a comment (s-separate-in-line) and kustomize reads it;
        # ruamel's scanner does not. Spaces of the same length keep every position.
        relaxed = _TAB_BEFORE_COMMENT.sub(" ", source)
        if relaxed != source:
            try:
                return _compose_all(relaxed)
            except (YAMLError, RecursionError):
                pass
        _raise(path, err)
    except ReaderError as err:  # a character YAML does not allow: say where, not at which offset
        line = source.count("\n", 0, err.position) + 1
        what = "a NUL byte: binary data" if err.character == 0 else f"the character #x{err.character:04x}"
        raise InputError(path, line, f"cannot parse YAML: {what}, which YAML text cannot hold") from None
    except YAMLError as err:
        raise InputError(path, None, f"cannot parse YAML: {err}") from None
    except RecursionError:
        raise InputError(path, None, "YAML is nested too deeply to parse") from None


_TAB_BEFORE_COMMENT = re.compile(r"\t(?=[ \t]*#)")


def _compose_all(source: str) -> tuple[Node | None, ...]:
    with warnings.catch_warnings():
        # Re-used anchor names are valid YAML (the later one wins) and common in real repos.
        warnings.simplefilter("ignore", ReusedAnchorWarning)
        return tuple(_yaml().compose_all(source))


def _raise(path: str, err: MarkedYAMLError) -> NoReturn:
    mark = err.problem_mark or err.context_mark
    problem = err.problem or err.context or "invalid YAML"
    context, problem_mark = err.context_mark, err.problem_mark
    if err.context and context is not None and problem_mark is not None and context.line != problem_mark.line:
        problem = f"{problem} ({err.context} at line {context.line + 1})"
    if mark is None:
        raise InputError(path, None, f"cannot parse YAML: {problem}") from None
    raise InputError(path, mark.line + 1, f"cannot parse YAML: {problem}", mark.column + 1) from None


def entries(node: Node | None, key: str) -> list[tuple[ScalarNode, Node]]:
    """Every (key, value) pair of a mapping with that key; duplicates from Jinja branches included."""
    if not isinstance(node, MappingNode):
        return []
    return [(k, v) for k, v in node.value if isinstance(k, ScalarNode) and k.value == key]


def first(node: Node | None, key: str) -> Node | None:
    found = entries(node, key)
    return found[0][1] if found else None


def scalar_value(node: Node | None) -> str | None:
    return node.value if isinstance(node, ScalarNode) else None


def literal_value(text: str, node: Node | None) -> str | None:
    """A plain scalar's value only when the text holds it literally: a Jinja expression that
    masking turned into a placeholder (`namespace: {{ ns }}`) has no value we may copy."""
    if not isinstance(node, ScalarNode):
        return None
    # The slice may start with an anchor or a tag (`&ns openhands`); masking replaces the
    # characters of a Jinja tag, so a masked value is nowhere in the original text.
    if node.style is None and node.value not in text[node.start_mark.index : node.end_mark.index]:
        return None
    return node.value


def walk_path(node: Node | None, path: tuple[str, ...]) -> Iterator[Node]:
    """Every node reached by following the key path, across duplicate keys."""
    if not path:
        if node is not None:
            yield node
        return
    for _key, value in entries(node, path[0]):
        yield from walk_path(value, path[1:])

"""The identities (apiVersion, kind, metadata.name, metadata.namespace) of the objects a manifest
file holds, read without building the objects, or None when they cannot be known exactly.

A decomposed build (codemods/verify/decompose.py) builds only the parts of a Flux Kustomization
that a change touches; the untouched parts are known by these identities alone, so thousands of
files are read this way. libyaml's composer (through PyYAML, about 50 us for a Flux
Kustomization's file) gives the node tree without constructing any object and without expanding
an alias: the same grammar as go-yaml, kustomize's parser, which is a port of it. Only what
reads the same to both is taken: each identity field a string scalar with no tag of its own
that YAML 1.1 and 1.2 alike read as that string, in a mapping without merge keys or a key
written twice. Anything else (a List, no name, a name that reads as a number) is None, and the
caller builds the whole tree instead.
"""

from __future__ import annotations

import re
from typing import Any, NamedTuple

from ruamel.yaml.error import YAMLError

_pyyaml: Any
try:  # libyaml's composer; ruamel.yaml's (pure Python, slower) without it
    import yaml as _pyyaml

    _LOADER: Any = getattr(_pyyaml, "CSafeLoader", None) or _pyyaml.SafeLoader
    _ERRORS: tuple[type[BaseException], ...] = (_pyyaml.YAMLError, YAMLError, UnicodeDecodeError, ValueError)
except ImportError:  # pragma: no cover - depends on the installation
    _pyyaml = None
    _ERRORS = (YAMLError, UnicodeDecodeError, ValueError)

_STR = "tag:yaml.org,2002:str"
_NULL = "tag:yaml.org,2002:null"
# A name, a kind, an apiVersion as Kubernetes spells them (the names a DNS label allows, and `/`).
_SAFE = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9_.\-/]*[A-Za-z0-9])?")
# Plain texts one of YAML 1.1 or 1.2 reads as something else (a number, a boolean, a null, a
# date); quoted, they are strings to both.
_PLAIN_OTHER = re.compile(
    r"(?i)(?:y|n|yes|no|on|off|true|false|null|~|[-+]?[0-9_.]+(?:e[-+]?[0-9]+)?|0x[0-9a-f_]+|0o?[0-7_]+|0b[01_]+"
    r"|[0-9][0-9_]*(?::[0-5]?[0-9])+(?:\.[0-9_]*)?|\.inf|\.nan|[0-9]{4}-[0-9]{1,2}-[0-9]{1,2}.*)"
)


class ObjectId(NamedTuple):
    api_version: str
    kind: str
    name: str
    namespace: str | None


def identities(data: bytes) -> list[tuple[ObjectId, Any]] | None:
    """The objects of a manifest file, in order, each with its YAML node (for a caller that
    must know the shape of a field); None when they cannot be known exactly.

    No guard pass first (it costs five times the compose): composing never expands an alias (an
    aliased node is the same node object), libyaml stops nesting at 1,000 levels, and the tree
    only reads files under the guard's size cap."""
    try:
        text = data.decode("utf-8")
        docs = list(_compose_all(text))
    except _ERRORS:
        return None
    found = []
    for doc in docs:
        if doc is None or (doc.id == "scalar" and doc.tag == _NULL and doc.value in ("", "~", "null")):
            continue  # an empty document (`---` and nothing, or a null): no object
        one = _identity(doc)
        if one is None:
            return None
        found.append((one, doc))
    return found


def _compose_all(text: str) -> Any:
    if _pyyaml is not None:
        return _pyyaml.compose_all(text, Loader=_LOADER)
    from ruamel.yaml import YAML  # pragma: no cover - without PyYAML

    return YAML(typ="safe", pure=True).compose_all(text)  # pragma: no cover


def _identity(doc: Any) -> ObjectId | None:
    top = _fields(doc)
    meta = _fields(top.get("metadata")) if top is not None else None
    if top is None or meta is None:
        return None
    api, kind = _text(top.get("apiVersion")), _text(top.get("kind"))
    name, namespace = _text(meta.get("name")), _text(meta.get("namespace"))
    if api is None or kind is None or name is None or ("namespace" in meta and namespace is None):
        return None
    # A List is expanded into its items by kustomize; a kustomization file is no resource.
    if kind.endswith("List") or api.startswith("kustomize.config.k8s.io/"):
        return None
    return ObjectId(api, kind, name, namespace)


def _fields(node: Any) -> dict[str, Any] | None:
    """A mapping node's values by key; None for anything else, or a key that is not a plain
    string, written twice, or a merge (`<<`)."""
    if node is None or node.id != "mapping" or node.tag != "tag:yaml.org,2002:map":
        return None
    out: dict[str, Any] = {}
    for key, value in node.value:
        if key.id != "scalar" or key.tag != _STR or key.value in out or key.value == "<<":
            return None
        out[key.value] = value
    return out


def _text(node: Any) -> str | None:
    if node is None or node.id != "scalar" or node.tag != _STR:
        return None
    value = str(node.value)
    if not _SAFE.fullmatch(value):
        return None
    if not node.style and not plain_name(value):
        return None
    return value


def plain_name(value: str) -> bool:
    """A name that reads as this very string, written plain, to YAML 1.1 and 1.2 alike."""
    return _SAFE.fullmatch(value) is not None and _PLAIN_OTHER.fullmatch(value) is None


def field(node: Any, key: str) -> Any:
    """The value node of key in a mapping node (None: absent, or node is no mapping)."""
    if node is None or node.id != "mapping":
        return None
    for k, v in node.value:
        if k.id == "scalar" and k.value == key:
            return v
    return None

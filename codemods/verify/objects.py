"""Built objects: parsing kustomize's output, identities, effective HelmRelease values, diffs."""

from __future__ import annotations

import base64
import copy
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any

from codemods.flux import values
from codemods.flux.envsubst import Variables, substitute
from codemods.flux.spec import SUBSTITUTE_KEY, CommonMetadata
from codemods.verify.shown import MISSING
from codemods.verify.yamlload import LoadError, load, load_all

Obj = dict[str, Any]
# kustomize's name-suffix hash: 10 characters of this alphabet (k8s SafeEncodeString).
_HASHED = re.compile(r"^(?P<base>.+)-(?P<hash>[bcdfghjklmnpqrstvwxz2456789]{10})$")
_DOCUMENT = re.compile(r"^---[ \t]*\n", re.MULTILINE)


def parse(
    stdout: str, variables: Variables | Mapping[str, str] | None = None, common: CommonMetadata | None = None
) -> list[Obj]:
    """kustomize's output as the objects Flux applies: each object after its post-build
    substitution (unless it opts out with kustomize.toolkit.fluxcd.io/substitute: disabled), then
    spec.commonMetadata. Raises SubstitutionError where Flux's substitution fails the build."""
    if variables is not None and not isinstance(variables, Variables):
        variables = Variables(dict(variables), complete=False)
    docs: list[Obj] = []
    try:
        if variables is None or not variables.enabled:
            docs = [d for d in load_all(stdout) if isinstance(d, dict)]
        else:
            for chunk in _DOCUMENT.split(stdout):  # Flux substitutes object by object
                found = [d for d in load_all(chunk) if isinstance(d, dict)]
                if not any(_substitution_disabled(d) for d in found):
                    text = substitute(chunk, variables)
                    if text != chunk:
                        found = [d for d in load_all(text) if isinstance(d, dict)]
                docs += found
    except LoadError:
        return []
    for doc in docs:
        if common is not None:
            common.apply(doc)
    return _unhash(docs)


def _substitution_disabled(doc: Obj) -> bool:
    meta = doc.get("metadata") or {}
    return any(
        isinstance(meta.get(key), dict) and meta[key].get(SUBSTITUTE_KEY) == "disabled"
        for key in ("labels", "annotations")
    )


def _unhash(docs: list[Obj]) -> list[Obj]:
    """Generated ConfigMap/Secret names carry a content hash that changes with any edit of
    their data; name them without it (everywhere they are referenced) so the data change shows
    as a change, not as one object removed and another added."""
    renames: dict[str, str] = {}
    for doc in docs:
        if doc.get("kind") in ("ConfigMap", "Secret"):
            name = str((doc.get("metadata") or {}).get("name") or "")
            match = _HASHED.match(name)
            if match:
                renames[name] = f"{match.group('base')}-<hash>"
    if not renames:
        return docs
    return [_rename(doc, renames) for doc in docs]


def _rename(value: Any, renames: Mapping[str, str]) -> Any:
    if isinstance(value, dict):
        return {k: _rename(v, renames) for k, v in value.items()}
    if isinstance(value, list):
        return [_rename(v, renames) for v in value]
    if isinstance(value, str) and value in renames:
        return renames[value]
    return value


def identity(doc: Obj) -> str:
    """`Kind namespace/name`, or `Kind name` for an object without a namespace."""
    meta = doc.get("metadata") or {}
    namespace = meta.get("namespace")
    name = meta.get("name", "?")
    return f"{doc.get('kind', '?')} {namespace}/{name}" if namespace else f"{doc.get('kind', '?')} {name}"


def by_identity(docs: list[Obj]) -> dict[str, Obj]:
    return {identity(d): d for d in docs}


def effective_values(release: Obj, built: list[Obj]) -> tuple[dict[str, Any], list[str]]:
    """A HelmRelease's values as Helm gets them (codemods.flux.values: each valuesFrom in order
    from the same build's ConfigMaps and Secrets, then spec.values on top). Returns the values
    and the sources that could not be found in the build."""
    spec = release.get("spec") or {}
    namespace = (release.get("metadata") or {}).get("namespace")

    def data_of(ref: values.ValuesRef) -> str | None:
        source = next(
            (
                d
                for d in built
                if d.get("kind") == ref.kind
                and (d.get("metadata") or {}).get("name") == ref.name
                and (d.get("metadata") or {}).get("namespace") in (namespace, None)
            ),
            None,
        )
        return _data(source, ref.values_key) if source is not None else None

    return values.compose(values.refs(spec.get("valuesFrom")), data_of, _load_values, spec.get("values"))


def _load_values(raw: str) -> Any:
    try:
        return load(raw)
    except LoadError as err:
        raise ValueError(str(err)) from None


def _data(source: Obj, key: str) -> str | None:
    if isinstance((source.get("stringData") or {}).get(key), str):
        return str(source["stringData"][key])
    value = (source.get("data") or {}).get(key)
    if value is None:
        return None
    if source.get("kind") == "Secret":
        try:
            return base64.b64decode(str(value)).decode("utf-8")
        except (ValueError, UnicodeDecodeError):
            return None
    return str(value)


def flatten(value: Any, prefix: str = "") -> Iterator[tuple[str, Any]]:
    """(dotted path, leaf) pairs; an empty mapping or list is a leaf of its own."""
    if isinstance(value, dict) and value:
        for key, item in value.items():
            yield from flatten(item, f"{prefix}.{key}" if prefix else str(key))
    else:
        yield prefix, value


def lookup(values: Any, dotted: str) -> tuple[bool, Any]:
    for key in dotted.split("."):
        if not isinstance(values, dict) or key not in values:
            return False, None
        values = values[key]
    return True, values


def value_diff(before: Any, after: Any) -> list[tuple[str, Any, Any]]:
    """(path, before, after) for each leaf that differs; an absent side is MISSING."""
    old, new = dict(flatten(before)), dict(flatten(after))

    def filled(path: str, side: dict[str, Any]) -> bool:
        # An empty mapping that only gained keys (`{}` -> `{a: 1}`) is not a change of its own.
        return any(p.startswith(f"{path}.") for p in side) if path else bool(side)

    return [
        (path, old.get(path, MISSING), new.get(path, MISSING))
        for path in sorted(old.keys() | new.keys())
        if old.get(path, MISSING) != new.get(path, MISSING)
        and not (old.get(path) == {} and path not in new and filled(path, new))
        and not (new.get(path) == {} and path not in old and filled(path, old))
    ]


def without_paths(doc: Any, paths: Sequence[tuple[str, ...]]) -> Any:
    """A copy of doc with each path removed, and the mappings that removal emptied too."""
    out = copy.deepcopy(doc)
    for path in paths:
        _remove(out, path)
    return out


def without_intended(doc: Any, paths: Sequence[tuple[str, ...]]) -> Any:
    """without_paths, and also each path's ancestors left empty ({} or null) by it: setting
    `a.b.c` where `a` was `a:`, `a: null` or `a: {}` fills `a`, which is part of setting `a.b.c`."""
    out = without_paths(doc, paths)
    for path in paths:
        for depth in range(len(path) - 1, 0, -1):
            found, value = lookup_path(out, path[:depth])
            if found and value in (None, {}):
                _, parent = lookup_path(out, path[: depth - 1])
                del parent[path[depth - 1]]
    return out


def lookup_path(values: Any, path: Sequence[str]) -> tuple[bool, Any]:
    for key in path:
        if not isinstance(values, dict) or key not in values:
            return False, None
        values = values[key]
    return True, values


def intended_ancestor(path: str, before: Any, after: Any, intended: Iterable[str]) -> bool:
    """Is (path: before -> after) only an ancestor of an intended path being filled: an empty
    ({} or null) value that the intended leaf now sits under?"""
    return (
        before is not MISSING
        and before in (None, {})
        and after is MISSING
        and any(i.startswith(path + ".") for i in intended)
    )


def _remove(node: Any, path: tuple[str, ...]) -> None:
    if not path or not isinstance(node, dict) or path[0] not in node:
        return
    if len(path) == 1:
        del node[path[0]]
        return
    _remove(node[path[0]], path[1:])
    if node[path[0]] == {}:
        del node[path[0]]


def metadata_only_added(before: Obj, after: Obj) -> bool:
    """after is before plus labels or annotations (none lost or changed)."""
    meta_keys = ("labels", "annotations")
    strip = [("metadata", k) for k in meta_keys]
    if without_paths(before, strip) != without_paths(after, strip):
        return False
    for key in meta_keys:
        old = (before.get("metadata") or {}).get(key) or {}
        new = (after.get("metadata") or {}).get(key) or {}
        if any(new.get(k) != v for k, v in old.items()):
            return False
    return True

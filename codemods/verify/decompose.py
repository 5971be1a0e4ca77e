"""Decomposed builds: build only the parts of a Flux Kustomization that a change touches.

A kustomization that only aggregates (resources, and transformers that act on each object
alone) builds the union of its entries' builds, each object transformed on its own. The build
of a large tree is then, exactly, kustomize's build of the same tree with every untouched entry
left out (the pruned build: kustomize itself applies every transformer to what it builds), plus
the untouched entries' objects, which are the same before and after the change. Those are known
by their identities (codemods/verify/ids.py), transformed as kustomize transforms them: what
`namespace` does to a kind depends on kustomize's schema, so kustomize is asked once, on a
probe of every kind involved (probe_spec).

Exact, or not at all. Whatever could make the whole build differ from the pruned one plus the
identities is built, or makes the gate build the whole tree:
- a kustomization on the way with any field but resources, bases, namespace, commonAnnotations,
  labels (without selectors or templates) and strategic-merge patches with a target:
  namePrefix/nameSuffix and generators rename what other parts refer to; replacements, vars,
  components, helmCharts and transformer plugins read or write across objects; commonLabels
  and images write fields beyond metadata, and JSON 6902 patches fail on a missing path, on
  objects the pruned build would not see. That entry is built whole (at the root: everything);
- an untouched object a transformer on its way could fail on or change beyond metadata (a patch
  whose fields do not fit the object's, a list it would merge, commonAnnotations on a workload
  with a pod template, `namespace` on a kind whose other fields it rewrites), `${...}` under a
  post-build substitution, or an identity that cannot be read exactly: that entry is built;
- two objects with one identity (kustomize refuses the build), a Job or a HelmRelease the
  intents name among the untouched objects, or a release and its valuesFrom source on two
  sides of the cut (combine): the whole tree is built.
"""

from __future__ import annotations

import json
import posixpath
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import jinja2

from codemods.errors import HostileYAML, InputError
from codemods.flux.fields import KUSTOMIZATION_NAMES, KUSTOMIZE_API, is_remote, resolve
from codemods.flux.spec import dump, flux_kustomization, read_kustomization
from codemods.verify import objects as o
from codemods.verify.builds import BuildSpec, relative_to
from codemods.verify.ids import ObjectId, identities, plain_name
from codemods.verify.ids import field as child
from codemods.verify.model import FluxTarget
from codemods.verify.tree import TemplatesOnly, Tree, build_files
from codemods.verify.yamlload import LoadError, load, load_all
from codemods.yamltext.guard import check

# The fields of a kustomization whose transformers act on each object alone, on metadata only.
_AGGREGATING = frozenset(
    {"apiVersion", "kind", "resources", "bases", "namespace", "commonAnnotations", "labels", "patches"}
)
# `namespace` also rewrites fields of these kinds (subjects, webhook services, conversion).
_NAMESPACE_FIELDS = frozenset(
    {
        "RoleBinding",
        "ClusterRoleBinding",
        "ServiceAccount",
        "ValidatingWebhookConfiguration",
        "MutatingWebhookConfiguration",
        "APIService",
        "CustomResourceDefinition",
    }
)
# commonAnnotations also writes the pod templates of these kinds (and of anything with one).
_TEMPLATED = frozenset(
    {"ReplicationController", "Deployment", "ReplicaSet", "DaemonSet", "StatefulSet", "Job", "CronJob"}
)
PROBE_NAMESPACE = "codemods-probe"
_PROBE_INDEX = "codemods.probe/index"


class NotExact(Exception):
    """The target cannot be decomposed exactly: the gate builds it whole (the message says why)."""


class _Unreadable(Exception):
    """An untouched entry's objects cannot be known exactly without building it."""


@dataclass(frozen=True)
class _Patch:
    kind: str | None  # the target's kind (None: every kind)
    docs: tuple[dict[str, Any], ...]


@dataclass(frozen=True)
class _Level:
    """A kustomization an untouched object passes through, and what it does to each object."""

    directory: str
    namespace: str | None
    metadata: bool  # commonAnnotations or labels
    patches: tuple[_Patch, ...]


@dataclass(frozen=True)
class Stub:
    """An object of an untouched part: its identity as written, the kustomizations it passes
    through (innermost first) with their `namespace`, and what the intents' checks ask of it."""

    id: ObjectId
    levels: tuple[str, ...]
    namespaces: tuple[str | None, ...]
    file: str
    values_from: bool  # its file mentions valuesFrom


@dataclass(frozen=True)
class Decomposition:
    specs: Mapping[str, BuildSpec]  # side -> the pruned build
    stubs: tuple[Stub, ...]
    built: tuple[str, ...]  # the parts the pruned builds hold (touched, or unreadable)
    untouched: int  # the parts known by their identities only

    def kinds(self) -> list[tuple[str, str]]:
        """Every (apiVersion, kind) of the stubs: what the probe asks kustomize about."""
        return sorted({(s.id.api_version, s.id.kind) for s in self.stubs})


def plan(trees: Mapping[str, Tree], target: FluxTarget, touched: frozenset[str]) -> Decomposition | str:
    """The pruned builds of target before and after and the untouched objects, or why the
    target must be built whole."""
    try:
        return _Planner(trees, target, touched).plan()
    except NotExact as err:
        return str(err)
    except TemplatesOnly as err:
        return f"{err.logical} is an in-place template"
    except jinja2.TemplateError as err:
        return f"a template does not render: {err}"


class _Planner:
    def __init__(self, trees: Mapping[str, Tree], target: FluxTarget, touched: frozenset[str]) -> None:
        self.trees, self.target, self.touched = trees, target, touched
        self.substitutes = target.variables.enabled
        self.stubs: list[Stub] = []
        self.built: list[str] = []
        self.untouched = 0
        self.writes: dict[str, dict[str, str]] = {side: {} for side in trees}
        self.exact: dict[str, set[str]] = {side: set() for side in trees}  # files copied alone
        self.dirs: dict[str, set[str]] = {side: set() for side in trees}  # closures, copied with neighbours
        self.visiting: set[str] = set()

    def plan(self) -> Decomposition:
        edits = self.target.edits
        if self.target.patches_after is not None:
            raise NotExact("the change edits the Flux Kustomization's own spec.patches")
        if edits.components:
            raise NotExact("spec.components")
        if edits.name_prefix is not None or edits.name_suffix is not None:
            raise NotExact("spec.namePrefix/nameSuffix rename what other parts refer to")
        if self.substitutes and self.target.variables.invalid_name is not None:
            raise NotExact("a post-build variable name Flux refuses")
        path = self.target.path
        nodes = {side: self._root(tree) for side, tree in self.trees.items()}
        level = self._level(path, nodes)
        if level is None:
            raise NotExact(f"{nodes['before'][0]}: {self._why(path, nodes)}")
        self._node(path, nodes, level, ())
        specs = {}
        for side, tree in self.trees.items():
            files = self.exact[side] | set(build_files(tree, self.dirs[side]))
            specs[side] = BuildSpec(path, tuple(sorted(files)), tuple(sorted(self.writes[side].items())))
        return Decomposition(specs, tuple(self.stubs), tuple(dict.fromkeys(self.built)), self.untouched)

    # -- the kustomizations on the way ------------------------------------------------------
    def _root(self, tree: Tree) -> tuple[str, Any]:
        """The kustomization Flux builds for spec.path (the edits merged in), and where it is."""
        path, edits = self.target.path, self.target.edits
        kustomization = tree.kustomization(path)
        if kustomization is None:
            if not tree.is_dir(path):
                raise NotExact(f"spec.path ./{path} does not exist")
            entries = [relative_to(e, path) for e in tree.generated(path)]
            return posixpath.join(path, "kustomization.yaml"), flux_kustomization(None, entries, edits, [])
        return kustomization, flux_kustomization(_own(tree, kustomization), [], edits, [])

    def _level(self, directory: str, nodes: Mapping[str, tuple[str, Any]]) -> _Level | None:
        """What the kustomization in directory does to each object, the same on both sides;
        None when it does more than aggregate, or the change alters it."""
        found = {}
        for side, (_file, data) in nodes.items():
            if _why_not(data) is not None:
                return None
            found[side] = self._transforms(data, directory, self.trees[side])
        levels = list(found.values())
        if any(level is None for level in levels) or levels[0] != levels[-1]:
            return None
        return levels[0]

    def _why(self, directory: str, nodes: Mapping[str, tuple[str, Any]]) -> str:
        for _file, data in nodes.values():
            reason = _why_not(data)
            if reason is not None:
                return reason
        return "the change alters what it does to each object, or one of its patches"

    def _transforms(self, data: dict[str, Any], directory: str, tree: Tree) -> _Level | None:
        patches = []
        for entry in data.get("patches") or ():
            patch = _patch(entry, directory, tree)
            if patch is None:
                return None
            patches.append(patch)
        metadata = bool(data.get("commonAnnotations") or data.get("labels"))
        return _Level(directory, data.get("namespace"), metadata, tuple(patches))

    def _node(
        self, directory: str, nodes: Mapping[str, tuple[str, Any]], level: _Level, outer: tuple[_Level, ...]
    ) -> None:
        """Prune one aggregating kustomization: its untouched entries become stubs, its touched
        ones are decomposed further or built."""
        chain = (*outer, level)
        entries = {side: _entries(data, directory) for side, (_file, data) in nodes.items()}
        if any(len({r for _f, _w, r in found}) < len(found) for found in entries.values()):
            raise NotExact(f"{nodes['before'][0]} lists an entry twice")  # kustomize refuses it
        listed = {side: [r for _f, _w, r in found] for side, found in entries.items()}
        untouched: set[str] = set()
        for resolved in sorted(set(listed["before"]) & set(listed["after"])):
            if self._touched(resolved):
                continue
            try:
                stubs = self._walk(resolved, chain)
            except (_Unreadable, TemplatesOnly):
                continue  # built with the touched ones
            self.stubs.extend(stubs)
            self.untouched += 1
            untouched.add(resolved)
        for side, (file, data) in nodes.items():
            pruned = dict(data)
            for key in ("resources", "bases"):
                if key in data:
                    pruned[key] = [w for f, w, r in entries[side] if f == key and r not in untouched]
            self.writes[side][file] = dump(pruned)
            self.exact[side] |= _patch_files(data, directory, self.trees[side])
        for resolved in dict.fromkeys([*listed["before"], *listed["after"]]):
            if resolved in untouched:
                continue
            sides = [side for side in listed if resolved in listed[side]]
            child_nodes = self._child(resolved) if len(sides) == len(listed) else None
            if child_nodes is not None:
                child_level = self._level(resolved, child_nodes)
                if child_level is not None:
                    self._node(resolved, child_nodes, child_level, chain)
                    continue
            self.built.append(resolved)
            for side in sides:
                self._leaf(side, resolved)

    def _child(self, directory: str) -> dict[str, tuple[str, Any]] | None:
        """A touched entry's kustomization on both sides, read as kustomize reads it; None for a
        file, a remote entry or a directory without one."""
        found = {}
        for side, tree in self.trees.items():
            if is_remote(directory) or tree.exists(directory):
                return None
            kustomization = tree.kustomization(directory)
            if kustomization is None:
                return None
            try:
                found[side] = (kustomization, _own(tree, kustomization))
            except NotExact:
                return None
        if any(
            len({r for _f, _w, r in _entries(d, directory)}) < len(_entries(d, directory)) for _k, d in found.values()
        ):
            return None
        return found

    def _leaf(self, side: str, entry: str) -> None:
        tree = self.trees[side]
        if tree.exists(entry) or is_remote(entry):
            self.exact[side].add(entry)
        else:
            self.dirs[side] |= tree.closure(entry)

    def _touched(self, entry: str) -> bool:
        """Does the change alter what entry builds, on either side?"""
        if entry in self.touched:
            return True
        for tree in self.trees.values():
            if tree.exists(entry) or is_remote(entry):
                continue
            if any(posixpath.join(entry, name) in self.touched for name in KUSTOMIZATION_NAMES):
                return True
            if tree.closure(entry) & self.touched:
                return True
        return False

    # -- the untouched entries: their objects, by identity ---------------------------------
    def _walk(self, entry: str, chain: tuple[_Level, ...]) -> list[Stub]:
        tree = self.trees["before"]
        if is_remote(entry) or entry in self.visiting:
            raise _Unreadable
        data = tree.read(entry)
        if data is not None:
            return self._file(entry, data, chain)
        kustomization = tree.kustomization(entry)
        if kustomization is None:
            raise _Unreadable  # kustomize's error, in the pruned build
        raw = tree.read(kustomization) or b""
        check(raw, kustomization)
        try:
            doc = load(raw)
        except LoadError:
            raise _Unreadable from None
        if _why_not(doc) is not None:
            raise _Unreadable
        level = self._transforms(doc, entry, tree)
        found = _entries(doc, entry)
        if level is None or len({r for _f, _w, r in found}) < len(found):
            raise _Unreadable
        self.visiting.add(entry)
        try:
            return [stub for _f, _w, resolved in found for stub in self._walk(resolved, (*chain, level))]
        finally:
            self.visiting.discard(entry)

    def _file(self, path: str, data: bytes, chain: tuple[_Level, ...]) -> list[Stub]:
        if self.substitutes and b"$" in data:
            raise _Unreadable  # Flux substitutes it: its identity, or the build, may change
        found = identities(data)
        if found is None:
            raise _Unreadable
        inner_first = chain[::-1]
        merges = b"<<" in data
        for ident, node in found:
            _admit(ident, node, inner_first, merges)
        levels = tuple(level.directory for level in inner_first)
        namespaces = tuple(level.namespace for level in inner_first)
        values_from = b"valuesFrom" in data
        return [Stub(ident, levels, namespaces, path, values_from) for ident, _node in found]


def _own(tree: Tree, kustomization: str) -> dict[str, Any]:
    try:
        return read_kustomization((tree.read(kustomization) or b"").decode("utf-8-sig"), kustomization)
    except (InputError, UnicodeDecodeError) as err:
        raise NotExact(f"{kustomization}: {err}") from None


def _entries(data: Any, directory: str) -> list[tuple[str, str, str]]:
    """(field, as written, repository path) of each resources and bases entry."""
    return [
        (key, entry, entry if is_remote(entry) else resolve(directory, entry))
        for key in ("resources", "bases")
        for entry in (data.get(key) or [])
    ]


def _why_not(data: Any) -> str | None:
    """Why a kustomization is not a plain aggregation of its entries (None: it is)."""
    if not isinstance(data, dict):
        return "not a mapping"
    for rule in (_only_aggregating, _header, _entries_and_namespace, _metadata_transformers):
        reason = rule(data)
        if reason is not None:
            return reason
    return None


def _only_aggregating(data: dict[str, Any]) -> str | None:
    extra = sorted(k for k in data if k not in _AGGREGATING)
    return f"{extra[0]} acts across objects or beyond their metadata" if extra else None


def _header(data: dict[str, Any]) -> str | None:
    if data.get("kind") not in (None, "Kustomization"):
        return f"kind {data.get('kind')}"
    api = data.get("apiVersion")
    if api is not None and not (isinstance(api, str) and api.startswith(KUSTOMIZE_API)):
        return f"apiVersion {api}"
    return None


def _entries_and_namespace(data: dict[str, Any]) -> str | None:
    namespace = data.get("namespace")
    if namespace is not None and not (isinstance(namespace, str) and plain_name(namespace)):
        return "a namespace written other than as a plain name"
    if any(not _strings(data.get(key)) for key in ("resources", "bases")):
        return "an entry that is not a path"
    return None


def _metadata_transformers(data: dict[str, Any]) -> str | None:
    if not isinstance(data.get("patches") or [], list) or not isinstance(data.get("labels") or [], list):
        return "patches or labels that are not lists"
    annotations = data.get("commonAnnotations")
    if annotations is not None and not _pairs(annotations):
        return "commonAnnotations that are not names and values"
    for labels in data.get("labels") or ():
        if not isinstance(labels, dict) or set(labels) - {"pairs", "includeSelectors", "includeTemplates"}:
            return "labels with fields"
        if labels.get("includeSelectors") or labels.get("includeTemplates") or not _pairs(labels.get("pairs") or {}):
            return "labels on selectors or templates"
    return None


def _strings(value: Any) -> bool:
    return value is None or (isinstance(value, list) and all(isinstance(v, str) for v in value))


def _pairs(value: Any) -> bool:
    return isinstance(value, dict) and all(isinstance(k, str) and isinstance(v, str) for k, v in value.items())


def _patch(entry: Any, directory: str, tree: Tree) -> _Patch | None:
    """A strategic-merge patch with a target that can neither rename nor fail on an object
    whose fields fit its own; None for anything else."""
    if not isinstance(entry, dict) or set(entry) - {"patch", "path", "target", "options"}:
        return None
    target, options = entry.get("target"), entry.get("options") or {}
    if not isinstance(target, dict) or not isinstance(options, dict) or any(options.values()):
        return None  # no target: kustomize fails when the patch's own object is not built
    kind = target.get("kind")
    text = _patch_text(entry, directory, tree)
    if text is None or (kind is not None and not isinstance(kind, str)):
        return None
    try:
        check(text, directory)
        docs = [d for d in load_all(text) if d is not None]
    except (LoadError, HostileYAML):
        return None  # the whole build's to refuse, where it names the file
    if not docs or not all(isinstance(d, dict) and _merges_plainly(d) for d in docs):
        return None  # a JSON 6902 patch (a list) fails on a missing path
    return _Patch(kind, tuple(docs))


def _patch_text(entry: dict[str, Any], directory: str, tree: Tree) -> str | None:
    inline, path = entry.get("patch"), entry.get("path")
    if isinstance(inline, str) and path is None:
        return inline
    if isinstance(path, str) and inline is None and not is_remote(path):
        data = tree.read(resolve(directory, path))
        try:
            return data.decode("utf-8") if data is not None else None
        except UnicodeDecodeError:
            return None
    return None


def _patch_files(data: Any, directory: str, tree: Tree) -> set[str]:
    found = set()
    for entry in data.get("patches") or ():
        if isinstance(entry, dict) and isinstance(entry.get("path"), str):
            found.add(resolve(directory, entry["path"]))
    return {f for f in found if tree.exists(f)}


def _merges_plainly(doc: dict[str, Any]) -> bool:
    """No `$patch` or other directive, and only labels and annotations in its metadata (with a
    target, kustomize keeps the object's own name, namespace, kind and apiVersion)."""
    if _directives(doc):
        return False
    meta = doc.get("metadata")
    if meta is None:
        return True
    if not isinstance(meta, dict) or set(meta) - {"name", "namespace", "labels", "annotations"}:
        return False
    return all(meta.get(key) is None or _pairs(meta[key]) for key in ("labels", "annotations"))


def _directives(value: Any) -> bool:
    if isinstance(value, dict):
        return any((isinstance(k, str) and k.startswith("$")) or _directives(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_directives(v) for v in value)
    return False


def _admit(ident: ObjectId, node: Any, levels: Iterable[_Level], merges: bool) -> None:
    """Raise _Unreadable unless every transformer on the way does to this object only what
    kustomize is asked (probe) or what cannot fail and leaves its identity alone."""
    spec = child(node, "spec")
    meta = child(node, "metadata")
    applied: list[dict[str, Any]] = []
    for level in levels:
        if level.namespace is not None and ident.kind in _NAMESPACE_FIELDS:
            raise _Unreadable
        if level.metadata:
            if ident.kind in _TEMPLATED or child(spec, "template") is not None or child(spec, "jobTemplate"):
                raise _Unreadable
            if any(
                child(meta, key) is not None and child(meta, key).id != "mapping" for key in ("labels", "annotations")
            ):
                raise _Unreadable
        for patch in level.patches:
            if patch.kind not in (None, ident.kind):
                continue
            if merges:
                raise _Unreadable  # a merge key: the object's fields are not as composed
            for doc in patch.docs:
                body = _body(doc)
                if not _fits(body, node) or any(not _agree(body, other) for other in applied):
                    raise _Unreadable
                applied.append(body)


def _body(doc: dict[str, Any]) -> dict[str, Any]:
    """What a patch with a target writes: not the kind, apiVersion, name or namespace it names
    (kustomize keeps the object's own)."""
    body = {k: v for k, v in doc.items() if k not in ("apiVersion", "kind", "metadata")}
    meta = doc.get("metadata") or {}
    kept = {k: v for k, v in meta.items() if k in ("labels", "annotations")}
    return {**body, "metadata": kept} if kept else body


def _fits(value: Any, node: Any) -> bool:
    """Can a strategic merge of value into node neither fail nor merge a list?"""
    if node is None or value is None:
        return True
    if isinstance(value, dict):
        return node.id == "mapping" and all(_fits(v, child(node, k)) for k, v in value.items())
    if isinstance(value, list):
        return False  # a list the object has: merged by key or replaced, as the schema says
    return node.id == "scalar"


def _agree(one: Any, other: Any) -> bool:
    """Two patches that write the same field write it in the same shape."""
    if isinstance(one, dict) and isinstance(other, dict):
        return all(_agree(v, other[k]) for k, v in one.items() if k in other)
    if one is None or other is None:
        return True
    return not isinstance(one, (dict, list)) and not isinstance(other, (dict, list))


# -- the probe: what `namespace` does to each kind, as kustomize says -------------------------
def probe_spec(kinds: list[tuple[str, str]]) -> BuildSpec:
    """One build that sets `namespace` on an object of each (apiVersion, kind)."""
    docs = [
        json.dumps(
            {
                "apiVersion": api,
                "kind": kind,
                "metadata": {"name": f"{PROBE_NAMESPACE}-{i}", "annotations": {_PROBE_INDEX: str(i)}},
            }
        )
        for i, (api, kind) in enumerate(kinds)
    ]
    kustomization = dump({"namespace": PROBE_NAMESPACE, "resources": ["probe.yaml"]})
    return BuildSpec(
        "probe",
        (),
        (("probe/kustomization.yaml", kustomization), ("probe/probe.yaml", "".join(f"---\n{d}\n" for d in docs))),
    )


Scope = Mapping[tuple[str, str], tuple[bool, bool]]  # (apiVersion, kind) -> (namespaced, renamed)


def read_probe(stdout: str, kinds: list[tuple[str, str]]) -> Scope | None:
    try:
        docs = [d for d in load_all(stdout) if isinstance(d, dict)]
    except LoadError:
        return None
    scope: dict[tuple[str, str], tuple[bool, bool]] = {}
    for doc in docs:
        meta = doc.get("metadata") or {}
        index = (meta.get("annotations") or {}).get(_PROBE_INDEX)
        if not (isinstance(index, str) and index.isdigit() and int(index) < len(kinds)):
            return None
        scope[kinds[int(index)]] = (meta.get("namespace") == PROBE_NAMESPACE, meta.get("name") == PROBE_NAMESPACE)
    return scope if len(scope) == len(kinds) else None


# -- the objects of a decomposed build --------------------------------------------------------
def _no_release(name: str) -> bool:
    return False


@dataclass(frozen=True)
class Change:
    """What a change touches, and what its intents' checks read in full (so none of it may be
    known by identity only)."""

    touched: frozenset[str] = frozenset()  # logical paths written, deleted or rendered anew
    jobs: frozenset[str] = frozenset()  # the Jobs it places, by name as built
    release: Callable[[str], bool] = _no_release  # is a HelmRelease name one whose values it sets?


def combine(decomposition: Decomposition, built: list[o.Obj], scope: Scope | None, change: Change) -> list[o.Obj] | str:
    """The whole build's objects: the pruned build's and the untouched ones (the same objects on
    both sides, by identity); or why that would not be exactly the whole build."""
    if decomposition.stubs and scope is None:
        return "kustomize's probe of the kinds failed"
    finals: list[ObjectId] = []
    entering: dict[str, set[tuple[str, str, str]]] = {}
    for stub in decomposition.stubs:
        final, clash = _transformed(stub, scope or {}, entering)
        if clash:
            return f"two untouched objects are {stub.id.kind} {stub.id.name} in {clash}"
        finals.append(final)
    reason = _unique(built, finals, scope or {}) or _read_in_full(built, finals, decomposition.stubs, change)
    if reason:
        return reason
    return built + [_stub_object(i) for i in finals]


def _key(ident: ObjectId, scope: Scope) -> tuple[str, str, str]:
    namespaced, _renamed = scope.get((ident.api_version, ident.kind), (True, False))
    return ident.kind, ident.name, (ident.namespace or "default") if namespaced else ""


def _transformed(stub: Stub, scope: Scope, entering: dict[str, set[tuple[str, str, str]]]) -> tuple[ObjectId, str]:
    """The stub's identity after every kustomization on its way, and the directory where it
    meets another object of the same identity ("" when none)."""
    ident = stub.id
    namespaced, renamed = scope.get((ident.api_version, ident.kind), (True, False))
    for directory, namespace in zip(stub.levels, stub.namespaces, strict=True):
        seen = entering.setdefault(directory, set())
        key = _key(ident, scope)
        if key in seen:
            return ident, directory or "."
        seen.add(key)
        if namespace is not None:
            ident = ident._replace(
                namespace=namespace if namespaced else ident.namespace, name=namespace if renamed else ident.name
            )
    return ident, ""


def _unique(built: list[o.Obj], finals: list[ObjectId], scope: Scope) -> str:
    keys = {_key(i, scope) for i in finals}
    if len(keys) < len(finals):
        return "two untouched objects have one identity"
    names = {(i.kind, i.name) for i in finals}
    for obj in built:
        meta = obj.get("metadata") or {}
        ident = ObjectId(str(obj.get("apiVersion")), str(obj.get("kind")), str(meta.get("name")), meta.get("namespace"))
        known = (ident.api_version, ident.kind) in scope
        if (known and _key(ident, scope) in keys) or (not known and (ident.kind, ident.name) in names):
            return f"{ident.kind} {ident.name} is both built and untouched"
    return ""


def _read_in_full(built: list[o.Obj], finals: list[ObjectId], stubs: tuple[Stub, ...], change: Change) -> str:
    for ident in finals:
        if ident.kind == "Job" and ident.name in change.jobs:
            return f"Job {ident.name}, which the change places, is untouched"
        if ident.kind == "HelmRelease" and change.release(ident.name):
            return f"HelmRelease {ident.name}, whose values the change sets, is untouched"
    sources = {(k, n) for obj in built for k, n in _values_sources(obj)}
    if any((i.kind, i.name) in sources for i in finals):
        return "a built HelmRelease takes values from an untouched object"
    if any(obj.get("kind") in ("ConfigMap", "Secret") for obj in built) and any(
        s.id.kind == "HelmRelease" and s.values_from for s in stubs
    ):
        return "an untouched HelmRelease may take values from a built object"
    return ""


def _values_sources(obj: o.Obj) -> list[tuple[str, str]]:
    if obj.get("kind") != "HelmRelease":
        return []
    refs = (obj.get("spec") or {}).get("valuesFrom") or []
    return [(str(r.get("kind", "ConfigMap")), str(r.get("name"))) for r in refs if isinstance(r, dict)]


def _stub_object(ident: ObjectId) -> o.Obj:
    meta: dict[str, Any] = {"name": ident.name}
    if ident.namespace is not None:
        meta["namespace"] = ident.namespace
    return {"apiVersion": ident.api_version, "kind": ident.kind, "metadata": meta}

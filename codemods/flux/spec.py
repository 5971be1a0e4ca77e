"""Flux Kustomizations (kustomize.toolkit.fluxcd.io): the objects, and what each field changes in
the build (the kustomize-controller API reference, "Writing a Kustomization spec").

One parse, over YAML nodes (each object keeps its node: edits stay byte-exact splices), gives the
planner its graph and the build gate its targets. The fields that change what is built:
- written into the kustomization Flux builds (fluxcd/pkg/kustomize Generator): targetNamespace,
  namePrefix and nameSuffix (they replace the directory's own), patches and components
  (appended), images (replacing an entry of the same name, else appended);
- applied to the built objects: postBuild (substitute wins over substituteFrom; see envsubst.py),
  then commonMetadata (labels and annotations set on every object, over the build's own).
A Flux Kustomization is itself built by a parent, so every field is read after the parent's
post-build substitution, unless the object opts out (kustomize.toolkit.fluxcd.io/substitute).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple, Protocol

from ruamel.yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from codemods.flux.envsubst import SubstitutionError, Variables, names, substitute
from codemods.flux.fields import normalize, resolve
from codemods.yamltext.jinja import Delimiters
from codemods.yamltext.locate import compose, entries, first, literal_value, scalar_value

FLUX_KUSTOMIZE_GROUP = "kustomize.toolkit.fluxcd.io/"
DEFAULT_FLUX_NAMESPACE = "flux-system"
# A label or annotation with this key and value "disabled" keeps an object out of substitution.
SUBSTITUTE_KEY = "kustomize.toolkit.fluxcd.io/substitute"
# On an object, makes Flux delete and recreate it when an immutable field changed.
FORCE_ANNOTATION = "kustomize.toolkit.fluxcd.io/force"


class SubstituteRef(NamedTuple):
    """One postBuild.substituteFrom entry."""

    kind: str  # ConfigMap or Secret
    name: str
    optional: bool = False


@dataclass(frozen=True)
class CommonMetadata:
    """spec.commonMetadata: set on every object Flux applies, over what the build gave it."""

    labels: tuple[tuple[str, str], ...] = ()
    annotations: tuple[tuple[str, str], ...] = ()

    def __bool__(self) -> bool:
        return bool(self.labels or self.annotations)

    def apply(self, obj: dict[str, Any]) -> None:
        if not self:
            return
        meta = obj.get("metadata")
        if not isinstance(meta, dict):
            meta = obj["metadata"] = {}
        for key, pairs in (("labels", self.labels), ("annotations", self.annotations)):
            if pairs:
                current = meta.get(key)
                meta[key] = {**(current if isinstance(current, dict) else {}), **dict(pairs)}


class _EditFields(Protocol):
    """The fields of a Flux Kustomization that Flux writes into the kustomization it builds."""

    @property
    def target_namespace(self) -> str | None: ...
    @property
    def name_prefix(self) -> str | None: ...
    @property
    def name_suffix(self) -> str | None: ...
    @property
    def components(self) -> tuple[str, ...]: ...
    @property
    def ignore_missing_components(self) -> bool: ...
    @property
    def patches(self) -> tuple[Mapping[str, Any], ...]: ...
    @property
    def images(self) -> tuple[Mapping[str, Any], ...]: ...


@dataclass(frozen=True)
class BuildEdits:
    """What Flux writes into the kustomization it builds for a Flux Kustomization."""

    target_namespace: str | None = None
    name_prefix: str | None = None  # None: not set (the directory's own stays)
    name_suffix: str | None = None
    components: tuple[str, ...] = ()  # repository paths (spec.components resolved from spec.path)
    ignore_missing_components: bool = False
    patches: tuple[Mapping[str, Any], ...] = ()
    images: tuple[Mapping[str, Any], ...] = ()

    @classmethod
    def of(cls, fields: _EditFields) -> BuildEdits:
        """The edits of anything that carries the seven fields (a Flux Kustomization of the
        model, or the gate's target made from one)."""
        return cls(
            fields.target_namespace,
            fields.name_prefix,
            fields.name_suffix,
            fields.components,
            fields.ignore_missing_components,
            fields.patches,
            fields.images,
        )

    def __bool__(self) -> bool:
        return any(
            (
                self.target_namespace,
                self.name_prefix is not None,
                self.name_suffix is not None,
                self.components,
                self.patches,
                self.images,
            )
        )


def flux_kustomization(
    own: Mapping[str, Any] | None, resources: Sequence[str], edits: BuildEdits, components: Sequence[str]
) -> dict[str, Any]:
    """The kustomization Flux builds: the directory's own (None: the generated one, listing
    resources), with edits merged as Flux's generator merges them. components are the edits'
    components as the kustomization names them (relative to where it is written)."""
    merged: dict[str, Any] = (
        dict(own)
        if own is not None
        else {"apiVersion": "kustomize.config.k8s.io/v1beta1", "kind": "Kustomization", "resources": list(resources)}
    )
    if edits.target_namespace:
        merged["namespace"] = edits.target_namespace
    if edits.name_prefix is not None:
        merged["namePrefix"] = edits.name_prefix
    if edits.name_suffix is not None:
        merged["nameSuffix"] = edits.name_suffix
    if edits.patches:
        merged["patches"] = [*_list(merged.get("patches")), *(dict(p) for p in edits.patches)]
    if components:
        merged["components"] = [*_list(merged.get("components")), *components]
    if edits.images:
        images = _list(merged.get("images"))
        for image in edits.images:
            at = next(
                (i for i, old in enumerate(images) if isinstance(old, dict) and old.get("name") == image.get("name")),
                None,
            )
            if at is None:
                images.append(dict(image))
            else:
                images[at] = dict(image)
        merged["images"] = images
    return merged


def read_kustomization(text: str, path: str) -> dict[str, Any]:
    """A kustomization file's first document as data, scalars as YAML 1.2's core schema types
    them (kustomize's reading: `yes` and `2024-01-01` stay strings, `010` is ten), so that the
    merged file says what the original said. Raises InputError when it is not YAML."""
    docs = compose(text, path, None)
    data = _typed(docs[0]) if docs else None
    return data if isinstance(data, dict) else {}


_NULL = re.compile(r"(?:~|null|Null|NULL|)\Z")
_BOOL = re.compile(r"(?:true|True|TRUE|false|False|FALSE)\Z")
_INT = re.compile(r"[-+]?[0-9]+\Z|0o[0-7]+\Z|0x[0-9a-fA-F]+\Z")
_FLOAT = re.compile(
    r"[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?\Z|[-+]?\.(?:inf|Inf|INF)\Z|\.(?:nan|NaN|NAN)\Z"
)


def _typed(node: Node | None) -> Any:
    if isinstance(node, MappingNode):
        out: dict[str, Any] = {}
        for key, value in node.value:
            if isinstance(key, ScalarNode) and str(key.tag or "").endswith(":merge"):
                for merged in value.value if isinstance(value, SequenceNode) else [value]:
                    source = _typed(merged)
                    out.update({k: v for k, v in (source.items() if isinstance(source, dict) else ()) if k not in out})
            elif isinstance(key, ScalarNode):
                out[key.value] = _typed(value)
        return out
    if isinstance(node, SequenceNode):
        return [_typed(item) for item in node.value]
    if not isinstance(node, ScalarNode):
        return None
    return _scalar(node)


def _scalar(node: ScalarNode) -> Any:
    text = node.value
    if node.style or str(node.tag or "").endswith(":str"):  # quoted, a block scalar, or tagged a string
        return text
    if _NULL.match(text):
        return None
    if _BOOL.match(text):
        return text.lower() == "true"
    if _INT.match(text):
        return int(text, 0) if text.startswith(("0o", "0x")) else int(text, 10)
    if _FLOAT.match(text):
        return float(
            text.replace(".inf", "inf")
            .replace(".Inf", "inf")
            .replace(".INF", "inf")
            .replace(".nan", "nan")
            .replace(".NaN", "nan")
            .replace(".NAN", "nan")
        )
    return text


def dump(kustomization: Mapping[str, Any]) -> str:
    """A kustomization as YAML kustomize reads back exactly (JSON: every string stays a string)."""
    return json.dumps(kustomization, indent=2, ensure_ascii=False) + "\n"


def _list(value: object) -> list[Any]:
    return list(value) if isinstance(value, list) else []


@dataclass(frozen=True)
class FluxKustomization:
    """One Flux Kustomization, read after its parent's post-build substitution."""

    name: str
    namespace: str | None  # metadata.namespace as written (None: inherited or default)
    path: str  # logical directory, normalized, variables substituted
    depends_on: tuple[str, ...]  # "name" or "namespace/name"
    file: str  # physical file that declares it
    line: int  # 1-based line of spec.path
    force: bool = False
    components: tuple[str, ...] = ()  # logical directories
    target_namespace: str | None = None
    substitutions: tuple[tuple[str, str], ...] = ()  # postBuild.substitute
    substitute_from: tuple[SubstituteRef, ...] = ()  # postBuild.substituteFrom
    source: tuple[str, str] | None = None  # (kind, name) of sourceRef
    raw_path: str = ""
    name_prefix: str | None = None
    name_suffix: str | None = None
    common_metadata: CommonMetadata = field(default_factory=CommonMetadata)
    patches: tuple[Mapping[str, Any], ...] = ()
    images: tuple[Mapping[str, Any], ...] = ()
    ignore_missing_components: bool = False
    post_build: bool = False  # has spec.postBuild at all
    # postBuild.substitute entries whose value the parent's substitution left unknown (it needs a
    # variable that only the cluster's objects define).
    unknown_substitutions: tuple[str, ...] = ()
    # Its own YAML node (positions index into the file's text); not part of its identity.
    node: MappingNode | None = field(default=None, compare=False, hash=False, repr=False)

    def display(self) -> str:
        return f"{self.namespace}/{self.name}" if self.namespace else self.name

    @property
    def variables(self) -> dict[str, str]:
        """postBuild.substitute as Flux reads it (line breaks dropped), the known values."""
        unknown = set(self.unknown_substitutions)
        return {k: v.replace("\n", "") for k, v in self.substitutions if k not in unknown}

    @property
    def edits(self) -> BuildEdits:
        return BuildEdits.of(self)

    def mentions_variables(self) -> bool:
        """Is any field that changes the build written with a `${...}` its parent substitutes?"""
        return "${" in json.dumps(
            [
                self.raw_path,
                self.target_namespace,
                self.name_prefix,
                self.name_suffix,
                self.components,
                self.substitutions,
                self.common_metadata.labels,
                self.common_metadata.annotations,
                self.patches,
                self.images,
            ]
        )


def is_flux_kustomization(doc: Node | None) -> bool:
    api = scalar_value(first(doc, "apiVersion")) or ""
    return api.startswith(FLUX_KUSTOMIZE_GROUP) and scalar_value(first(doc, "kind")) == "Kustomization"


def parse_flux_kustomizations(
    text: str, path: str, delims: Delimiters | None, variables: Variables | None = None
) -> list[FluxKustomization]:
    """Every Flux Kustomization of a file; variables: the post-build substitution of whatever
    builds the file (None: read as written)."""
    found = []
    for doc in compose(text, path, delims):
        if isinstance(doc, MappingNode) and is_flux_kustomization(doc):
            ks = _parse_one(doc, text, path, variables if variables is not None and not _opted_out(doc) else None)
            if ks is not None:
                found.append(ks)
    return found


def _opted_out(doc: MappingNode) -> bool:
    meta = first(doc, "metadata")
    return any(
        scalar_value(first(first(meta, where), SUBSTITUTE_KEY)) == "disabled" for where in ("labels", "annotations")
    )


class _Reader:
    """Reads one object's fields as its parent's build leaves them."""

    def __init__(self, text: str, variables: Variables | None) -> None:
        self.text = text
        self.variables = variables

    def sub(self, value: str) -> str:
        if self.variables is None or "$" not in value:
            return value
        try:
            return substitute(value, self.variables)
        except SubstitutionError:
            return value  # Flux fails the parent's build; as written says the least

    def literal(self, node: Node | None) -> str | None:
        value = literal_value(self.text, node)
        return None if value is None else self.sub(value)

    def data(self, node: Node | None) -> Any:
        """A node as plain data (scalars as their text, substituted)."""
        if isinstance(node, ScalarNode):
            return self.sub(node.value)
        if isinstance(node, SequenceNode):
            return [self.data(item) for item in node.value]
        if isinstance(node, MappingNode):
            return {k.value: self.data(v) for k, v in node.value if isinstance(k, ScalarNode)}
        return None

    def unknown(self, pairs: tuple[tuple[str, str], ...]) -> tuple[str, ...]:
        """The keys whose value still needs a variable the parent's substitution does not know."""
        if self.variables is None or self.variables.complete:
            return ()
        return tuple(k for k, v in pairs if "${" in v and names(v))

    def pairs(self, node: Node | None) -> tuple[tuple[str, str], ...]:
        return tuple(
            (k.value, value)
            for k, v in (node.value if isinstance(node, MappingNode) else [])
            if isinstance(k, ScalarNode) and (value := self.literal(v)) is not None
        )


def _parse_one(doc: MappingNode, text: str, path: str, variables: Variables | None) -> FluxKustomization | None:
    read = _Reader(text, variables)
    meta, spec = first(doc, "metadata"), first(doc, "spec")
    name = scalar_value(first(meta, "name"))
    if name is None:
        return None
    path_node = first(spec, "path")
    raw_path = scalar_value(path_node) or ""
    base = normalize(read.sub(raw_path))
    depends = []
    for item in _items(first(spec, "dependsOn")):
        dep_name, dep_ns = scalar_value(first(item, "name")), scalar_value(first(item, "namespace"))
        if dep_name:
            depends.append(f"{dep_ns}/{dep_name}" if dep_ns else dep_name)
    post = first(spec, "postBuild")
    source = first(spec, "sourceRef")
    source_kind, source_name = scalar_value(first(source, "kind")), scalar_value(first(source, "name"))
    common = first(spec, "commonMetadata")
    substitutions = read.pairs(first(post, "substitute"))
    where = path_node or first(meta, "name") or doc
    return FluxKustomization(
        name=name,
        namespace=literal_value(text, first(meta, "namespace")),
        path=base,
        depends_on=tuple(depends),
        file=path,
        line=where.start_mark.line + 1,
        force=(scalar_value(first(spec, "force")) or "").lower() == "true",
        components=tuple(
            resolve(base, read.sub(c.value)) for c in _items(first(spec, "components")) if isinstance(c, ScalarNode)
        ),
        target_namespace=read.literal(first(spec, "targetNamespace")),
        substitutions=substitutions,
        substitute_from=tuple(
            SubstituteRef(
                scalar_value(first(item, "kind")) or "ConfigMap",
                read.sub(scalar_value(first(item, "name")) or ""),
                (scalar_value(first(item, "optional")) or "").lower() == "true",
            )
            for item in _items(first(post, "substituteFrom"))
        ),
        source=(source_kind, source_name) if source_kind and source_name else None,
        raw_path=raw_path,
        name_prefix=read.literal(first(spec, "namePrefix")),
        name_suffix=read.literal(first(spec, "nameSuffix")),
        common_metadata=CommonMetadata(read.pairs(first(common, "labels")), read.pairs(first(common, "annotations"))),
        patches=tuple(p for p in (read.data(i) for i in _items(first(spec, "patches"))) if isinstance(p, dict)),
        images=tuple(i for i in (read.data(i) for i in _items(first(spec, "images"))) if isinstance(i, dict)),
        ignore_missing_components=(scalar_value(first(spec, "ignoreMissingComponents")) or "").lower() == "true",
        post_build=bool(entries(spec, "postBuild")),
        unknown_substitutions=read.unknown(substitutions),
        node=doc,
    )


def _items(node: Node | None) -> list[Node]:
    return list(node.value) if isinstance(node, SequenceNode) else []


def present_components(edits: BuildEdits, exists: Callable[[str], bool]) -> list[str]:
    """spec.components as Flux adds them: a missing one is left out only when
    ignoreMissingComponents says so (kustomize then fails on it)."""
    return [c for c in edits.components if not (edits.ignore_missing_components and not exists(c))]

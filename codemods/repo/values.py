"""Where a HelmRelease's effective values come from, and which source wins for a key path.

Flux builds the values handed to Helm in this order (domain-facts §4):
1. `spec.valuesFrom`, in order: a ConfigMap or Secret (a manifest in the repository, or made
   by a kustomize generator from a file), its `valuesKey` (default `values.yaml`), placed at
   `targetPath` when given;
2. `spec.values` on top;
and kustomize patches in the overlays that the release's Flux Kustomization builds rewrite
the HelmRelease (spec.values) before Flux sees it, so they win over the file they patch: a base's
patches apply before its overlay's, and a JSON6902 patch's operations in order. Each Flux
Kustomization that applies the release may patch it differently: `variants()` gives one list of
sources per distinct build.

A `targetPath` source and a JSON6902 `add`/`replace` operation place one value at a path (the
ConfigMap's data string, typed like Helm's `--set`; the operation's `value` node). An operation
replaces what was at its path, so it *shadows* every lower-priority source below that path.

A source is an *address*, not a node: the file's unit, the document, the path to the values
root (and, for a ConfigMap's data key or an inline patch, the block scalar that holds YAML).
Each copy of the unit (template and render) is located afresh, so both are edited alike.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Iterator
from dataclasses import dataclass, field, replace

from codemods.diagnostics import warning
from codemods.errors import InputError
from codemods.flux.selector import Selected
from codemods.flux.values import ValuesRef
from codemods.repo.graph import Application, Generator, KustomizeFile, RepoGraph, target_of
from codemods.repo.index import Unit
from codemods.repo.layout import Copy
from codemods.yamltext.locate import MappingNode, Node, ScalarNode, SequenceNode, compose, entries, first, scalar_value
from codemods.yamltext.splice import Splice

Step = str | int  # a mapping key, or a sequence position


@dataclass(frozen=True)
class Embedded:
    """YAML held in a literal block scalar (`data: {values.yaml: |}`, `patch: |-`), with the
    map from offsets in its dedented text back to offsets in the file."""

    inner: str
    starts: tuple[int, ...]  # file offset of each inner line's first character
    indent: str

    def outer(self, offset: int) -> int:
        line = self.inner.count("\n", 0, offset)
        column = offset - (self.inner.rfind("\n", 0, offset) + 1)
        return self.starts[min(line, len(self.starts) - 1)] + column

    def splice(self, inner: Splice) -> Splice:
        # New lines need the block's indentation; the insertion point is already past it.
        return Splice(self.outer(inner.start), self.outer(inner.end), inner.text.replace("\n", "\n" + self.indent))


def embedded(text: str, node: ScalarNode) -> Embedded | None:
    """The YAML inside a literal block scalar, or None for any other scalar style."""
    if node.style != "|":
        return None
    head_end = text.find("\n", node.start_mark.index)
    if head_end == -1 or head_end >= node.end_mark.index:
        return None
    body = text[head_end + 1 : node.end_mark.index]
    lines = body.split("\n")
    indent_width = min((len(line) - len(line.lstrip(" ")) for line in lines if line.strip()), default=0)
    indent = " " * indent_width
    starts, inner_lines = [], []
    offset = head_end + 1
    for line in lines:
        cut = indent_width if line.startswith(indent) else len(line) - len(line.lstrip(" "))
        starts.append(offset + cut)
        inner_lines.append(line[cut:])
        offset += len(line) + 1
    return Embedded("\n".join(inner_lines), tuple(starts), indent)


@dataclass(frozen=True)
class ValuesSource:
    """One place that contributes to a release's effective values."""

    kind: str  # "valuesFrom", "spec.values" or "patch"
    unit: Unit
    document: int  # position of the YAML document in the file
    container: tuple[Step, ...]  # path to the values root, or to the block scalar holding it
    inner: tuple[Step, ...] = ()  # path to the values root inside the block scalar
    in_block: bool = False
    target_path: tuple[str, ...] = ()  # valuesFrom targetPath: where these values are placed
    editable: bool = True
    why_not: str = ""
    label: str = ""  # for messages: "ConfigMap openhands-values (helm/values.yaml)"
    line: int | None = None  # where the source is written, for a report when it cannot be edited
    strval: bool = False  # a targetPath data string: one flat value, typed like Helm's --set
    op: str = ""  # a JSON6902 operation: "add", "replace", "remove", ...

    @property
    def shadows(self) -> bool:
        """A JSON6902 operation replaces (or removes) everything at its path."""
        return self.kind == "json6902"

    @property
    def path(self) -> str:
        return self.unit.primary.path


@dataclass(frozen=True)
class Located:
    """A source's values root in one copy's text: the text to splice, the root node, and the
    key node above it (None at a document's root), with the map back to file offsets."""

    text: str
    root: Node | None
    key: ScalarNode | None
    block: Embedded | None


def _walk(node: Node | None, steps: tuple[Step, ...]) -> Iterator[tuple[ScalarNode | None, Node]]:
    """(key above, node) for every node at the path; duplicate keys (Jinja branches) all count."""
    if node is None:
        return
    if not steps:
        yield None, node
        return
    head, rest = steps[0], steps[1:]
    if isinstance(head, int):
        if isinstance(node, SequenceNode) and head < len(node.value):
            yield from _walk(node.value[head], rest)
        return
    for key, value in entries(node, head):
        if rest:
            yield from _walk(value, rest)
        else:
            yield key, value


def locate(source: ValuesSource, text: str, path: str, delims) -> list[Located]:
    docs = compose(text, path, delims)
    if source.document >= len(docs):
        return []
    found = []
    for key, node in _walk(docs[source.document], source.container):
        if not source.in_block:
            found.append(Located(text, node, key, None))
            continue
        if not isinstance(node, ScalarNode):
            continue
        block = embedded(text, node)
        if block is None:
            continue
        inner_docs = compose(block.inner, f"{path} (block at line {node.start_mark.line + 1})", None)
        for doc in inner_docs[:1]:
            for inner_key, inner_node in _walk(doc, source.inner) if source.inner else [(None, doc)]:
                found.append(Located(block.inner, inner_node, inner_key, block))
    return found


def value_at(root: Node | None, steps: tuple[str, ...]) -> list[tuple[ScalarNode, Node]]:
    """Every (key, value) pair at a key path below root."""
    if not steps:
        return []
    return [(k, v) for k, v in _walk(root, steps) if k is not None]


def _doc_index(text: str, path: str, delims, predicate) -> int | None:
    for i, doc in enumerate(compose(text, path, delims)):
        if predicate(doc):
            return i
    return None


def _matches(wanted: set[str | None], lands: set[str | None]) -> bool:
    """Whether a manifest landing in one of lands can be the release's (in one of wanted): an
    unknown namespace, or one still holding a `${VAR}`, could be any."""

    def known(namespaces: set[str | None]) -> set[str]:
        return {n for n in namespaces if n is not None and "${" not in n}

    if known(wanted) != wanted or known(lands) != lands:
        return True
    return bool(wanted & lands)


def _is(kind: str, name: str | None):
    """A document of this kind and name (name None: of this kind, whatever its name)."""

    def check(doc: Node | None) -> bool:
        return (
            isinstance(doc, MappingNode)
            and scalar_value(first(doc, "kind")) == kind
            and (name is None or scalar_value(first(first(doc, "metadata"), "name")) == name)
        )

    return check


def _replacement_targets(file: str, item: Node, release: Selected) -> Iterator[tuple[str, int, str]]:
    """(file, line, fieldPath) of one replacement's targets that select release (`select`, less
    what `reject` excludes)."""
    targets = first(item, "targets")
    for target in targets.value if isinstance(targets, SequenceNode) else []:
        select = target_of(first(target, "select"))
        if select is None or not select.selects(release):
            continue
        rejects = first(target, "reject")
        if any(
            (rejected := target_of(r)) is not None and rejected.selects(release)
            for r in (rejects.value if isinstance(rejects, SequenceNode) else [])
        ):
            continue
        paths = first(target, "fieldPaths")
        for node in paths.value if isinstance(paths, SequenceNode) else []:
            if isinstance(node, ScalarNode):
                yield file, node.start_mark.line + 1, re.sub(r"\[[^\]]*\]", "", node.value)


def _given(release: Selected, parsed: KustomizeFile) -> Selected:
    """The release as the next level up sees it: with the labels and annotations parsed gave it."""
    if not parsed.labels and not parsed.annotations:
        return release
    return replace(
        release,
        labels={**(release.labels or {}), **dict(parsed.labels)},
        annotations={**(release.annotations or {}), **dict(parsed.annotations)},
    )


def selected(doc: MappingNode) -> Selected:
    """An object (a HelmRelease, a Job) as a patch target selects it: its kind, name,
    namespace, labels and annotations as written."""
    metadata = first(doc, "metadata")

    def pairs(key: str) -> dict[str, str]:
        found = first(metadata, key)
        if not isinstance(found, MappingNode):
            return {}
        return {str(scalar_value(k)): str(scalar_value(v)) for k, v in found.value if scalar_value(k) is not None}

    return Selected(
        scalar_value(first(doc, "kind")) or "",
        scalar_value(first(metadata, "name")) or "",
        scalar_value(first(metadata, "namespace")),
        pairs("labels"),
        pairs("annotations"),
    )


@dataclass
class ValuesModel:
    """Answers "where do this release's values come from" on the reference graph."""

    graph: RepoGraph
    _elsewhere: dict[tuple[object, ...], ValuesSource | None] = field(default_factory=dict, repr=False)
    _anywhere: dict[tuple[object, ...], list[tuple[str, ValuesSource, set[str | None]]]] = field(
        default_factory=dict, repr=False
    )

    def sources(self, unit: Unit, doc_index: int, doc: MappingNode) -> list[ValuesSource]:
        """The release's sources, lowest priority first (the patches of every build, together)."""
        found: list[ValuesSource] = []
        for variant in self.variants(unit, doc_index, doc):
            found.extend(source for source in variant if source not in found)
        return found

    def variants(self, unit: Unit, doc_index: int, doc: MappingNode) -> list[list[ValuesSource]]:
        """The release's sources, lowest priority first, once per distinct Flux build of it."""
        namespace = scalar_value(first(first(doc, "metadata"), "namespace"))
        spec = first(doc, "spec")
        applications = self._builds(unit)
        release = selected(doc)
        values_from = first(spec, "valuesFrom")
        items = values_from.value if isinstance(values_from, SequenceNode) else []
        own = ValuesSource("spec.values", unit, doc_index, ("spec", "values"), label="spec.values")
        variants: list[list[ValuesSource]] = []
        # Each build of the release reads its own chain: an overlay's generator may replace a
        # base's values file in one build and not in another.
        for group in [[app] for app in applications] or [[]]:
            found = (self._values_from(unit, item, group, namespace) for item in items)
            variant = [source for source in found if source is not None]
            variant += [own, *self._patches(release, group)]
            if variant not in variants:
                variants.append(variant)
        return variants

    def _builds(self, unit: Unit) -> list[Application]:
        """Every Flux build of the file; for a release under a `${CLUSTER}` path the clusters
        resolve differently, each cluster's (an overlay may patch its values in one cluster and
        not another)."""
        return self.graph.appliers(unit.logical) or self.graph.per_cluster().appliers(unit.logical)

    def replaced(self, unit: Unit, release: Selected, path: tuple[str, ...]) -> tuple[str, int, str] | None:
        """A kustomize `replacements` entry on one of the release's builds that writes into its
        values at, above or below path: (file, line, fieldPath). The values model reads what the
        files say; a replacement copies another object's field over it during the build, so
        what Flux applies there is not known here."""
        applications = self._builds(unit)
        chain = {link.kustomize.path: link.kustomize for app in applications for link in app.chain if link.kustomize}
        for parsed in chain.values():
            for file, line, field_path in self._replacements(parsed, release):
                steps = tuple(field_path.split("."))
                written = steps[2:] if steps[:2] == ("spec", "values") else None
                if steps == ("spec",) or (written is not None and written[: len(path)] == path[: len(written)]):
                    return file, line, field_path
        return None

    def _replacements(self, parsed: KustomizeFile, release: Selected) -> Iterator[tuple[str, int, str]]:
        """(file, line, fieldPath) of each replacement target of parsed that selects release."""
        text = self.graph.text(parsed.path) or ""
        if "replacements" not in text:
            return
        copy = parsed.unit.primary
        for doc in compose(text, copy.path, copy.delimiters):
            for item in _patch_items(doc, ("replacements",)):
                listed = scalar_value(first(item, "path"))
                if listed is not None:  # replacements kept in a file of their own
                    yield from self._replacement_file(posixpath.join(parsed.directory, listed), release)
                else:
                    yield from _replacement_targets(copy.path, item, release)

    def _replacement_file(self, path: str, release: Selected) -> Iterator[tuple[str, int, str]]:
        unit = self.graph.index.units.get(posixpath.normpath(path))
        if unit is None:
            return
        copy = unit.primary
        for doc in compose(self.graph.text(copy.path) or "", copy.path, copy.delimiters):
            for item in doc.value if isinstance(doc, SequenceNode) else [doc]:
                if item is not None:
                    yield from _replacement_targets(copy.path, item, release)

    # -- valuesFrom ------------------------------------------------------------------------
    def _values_from(
        self, unit: Unit, item: Node, applications: list[Application], own_namespace: str | None
    ) -> ValuesSource | None:
        namespaces = {app.namespace(own_namespace) for app in applications} or {own_namespace}
        ref = ValuesRef.of(
            *(scalar_value(first(item, k)) for k in ("kind", "name", "valuesKey", "targetPath", "optional"))
        )
        kind, name, key, target = ref.kind, ref.name, ref.values_key, ref.target_path
        label = f"{kind} {name} ({key})"
        # A generator on the release's own build chain, first: its name is the one written
        # in valuesFrom before kustomize adds the hash suffix.
        directories = [posixpath.dirname(unit.logical)]
        directories += [link.directory for app in applications for link in app.chain]
        generated = self._generated(kind, name, key, applications, directories[0])
        if generated is not None:
            file = generated[1]
            if file is None:
                return None  # an overlay's `behavior: replace` left no such key: nothing to read
            return self._generated_source(file, target, label)
        # A ConfigMap or Secret manifest. It may name no values key at all (a targetPath value;
        # `db:` settings that decide the fix), so the pre-filter may have passed over it. Beside
        # the release and along its builds first: the same build applies it.
        near = {u.logical: u for directory in directories for u in self.graph.index.units_in(directory)}
        for candidate in near.values():
            text = self.graph.text(candidate.primary.path) or ""
            if name not in text:
                continue
            for _namespace, source in self._manifest_sources(candidate, text, kind, name, key, target, label):
                return source
        seen = {*near, unit.logical}
        memo = (kind, name, key, target, frozenset(namespaces))
        if memo not in self._elsewhere:  # variants() asks again for each build of the release
            self._elsewhere[memo] = self._manifest_elsewhere(unit, kind, name, key, target, label, namespaces, seen)
        return self._elsewhere[memo]

    def _generated(
        self, kind: str, name: str, key: str, applications: list[Application], own: str
    ) -> tuple[Generator, str | None] | None:
        """The generator whose file gives the release's valuesFrom key, and that file, as
        kustomize builds it: an overlay's `behavior: replace` or `merge` (outermost first)
        overrides what a base's generator made; `replace` without the key removes it (file
        None). None: no generator of that name on the chain. applications: the one build of
        the release being read (variants() asks once per build), or none. A level's Components
        act after its own generators (a Component's `replace` overrides the level's own
        ConfigMap), the last listed last; the Flux Kustomization's `spec.components` join the top."""
        chain = [link.directory for link in applications[0].chain] if applications else []
        levels = [*chain, own]
        directories: list[str] = []
        for depth, level in enumerate(levels):
            listed = [*self._components_of(self.graph.kustomize_file(level))]
            if applications and depth == 0:
                listed += applications[0].flux.components
            directories += [*reversed(listed), level]
        for directory in dict.fromkeys(directories):
            parsed = self.graph.kustomize_file(directory)
            for generator in parsed.generators if parsed else []:
                if generator.kind != kind or generator.name != name:
                    continue
                file = dict(generator.files).get(key)
                if file is not None or generator.behavior == "replace":
                    return generator, file
        return None

    def _generated_source(self, file: str, target: tuple[str, ...], label: str) -> ValuesSource | None:
        """The values source of a generator's file: values.json read only, a targetPath file
        read only (the whole file is the value), a SOPS file read only, else editable YAML."""
        source_unit = self.graph.index.units.get(file)
        json_unit = self._json_file(file) if source_unit is None else None
        if json_unit is not None:
            # values.json: read (it may decide the fix: db.useExisting), never edited,
            # since an edit in YAML's style would leave it no longer JSON.
            return ValuesSource(
                "valuesFrom",
                json_unit,
                0,
                (),
                target_path=target,
                editable=False,
                why_not="a JSON file (an edit would not stay JSON)",
                label=f"{label} from {file}",
                line=1,
                strval=bool(target),
            )
        if source_unit is None:
            return None
        if target:
            # The whole file is the one value (with its final newline): no YAML to edit.
            return ValuesSource(
                "valuesFrom",
                source_unit,
                0,
                (),
                target_path=target,
                editable=False,
                why_not="a generated file whose whole content is the value",
                label=f"{label} from {source_unit.primary.path}",
                line=1,
                strval=True,
            )
        sops = "sops" in posixpath.basename(file) or "ENC[" in (self.graph.text(source_unit.primary.path) or "")
        return ValuesSource(
            "valuesFrom",
            source_unit,
            0,
            (),
            target_path=target,
            editable=not sops,
            why_not="SOPS-encrypted" if sops else "",
            label=f"{label} from {source_unit.primary.path}",
        )

    def _manifest_sources(
        self, candidate: Unit, text: str, kind: str, name: str, key: str, target: tuple[str, ...], label: str
    ) -> Iterator[tuple[str | None, ValuesSource]]:
        """(its own metadata.namespace, the values source) of each document in candidate that is
        a `kind` named `name` holding `key`, in file order."""
        copy = candidate.primary
        for index, doc in enumerate(compose(text, copy.path, copy.delimiters)):
            if not _is(kind, name)(doc):
                continue
            for field_name in ("stringData", "data"):
                holder = first(doc, field_name)
                if first(holder, key) is None:
                    continue
                encoded = kind == "Secret" and field_name == "data"
                sops = first(doc, "sops") is not None or "ENC[" in text
                data_line = next(k.start_mark.line + 1 for k, _v in entries(holder, key))
                yield (
                    scalar_value(first(first(doc, "metadata"), "namespace")),
                    ValuesSource(
                        "valuesFrom",
                        candidate,
                        index,
                        (field_name, key),
                        # A targetPath value is one flat string (Helm's --set), never a YAML document.
                        in_block=not target,
                        target_path=target,
                        editable=not (encoded or sops),
                        why_not="SOPS-encrypted" if sops else ("base64 in Secret data" if encoded else ""),
                        label=f"{label} in {copy.path}",
                        line=data_line,
                        strval=bool(target),
                    ),
                )
                break

    def _manifest_elsewhere(
        self,
        release: Unit,
        kind: str,
        name: str,
        key: str,
        target: tuple[str, ...],
        label: str,
        namespaces: set[str | None],
        seen: set[str],
    ) -> ValuesSource | None:
        """The ConfigMap or Secret anywhere else in the repository, as Flux finds it: by name in
        the release's namespace, whichever Flux Kustomization applies it (a shared `config/`
        directory, a cluster's `settings/`). Read only when nothing nearer answered, and only
        files whose text names it. A document counts when a Flux Kustomization applies it (in
        a repository that has any) into the release's namespace; a namespace that is unknown
        or still a `${VAR}` matches any. Two that count are ambiguous: none, and a warning."""
        found: dict[tuple[str, int], ValuesSource] = {}
        for logical, source, lands in self._named_anywhere(kind, name, key, target, label):
            if logical not in seen and _matches(namespaces, lands):
                found[(source.path, source.document)] = source
        if len(found) > 1:
            where = ", ".join(dict.fromkeys(path for path, _document in sorted(found)))
            self.graph.warnings.add(
                warning(
                    release.primary.path,
                    None,
                    f"valuesFrom {label}: {len(found)} manifests of that name land in the release's namespace "
                    f"({where}); none is read, so the fix assumes the chart's defaults for what they set",
                )
            )
        return next(iter(found.values())) if len(found) == 1 else None

    def _named_anywhere(
        self, kind: str, name: str, key: str, target: tuple[str, ...], label: str
    ) -> list[tuple[str, ValuesSource, set[str | None]]]:
        """(logical path, source, namespaces it lands in) of every manifest of the repository
        that is a `kind` named `name` holding `key` and that a Flux Kustomization applies (in a
        repository that has any): read once, whichever build of a release asks."""
        memo = (kind, name, key, target, label)
        if memo in self._anywhere:
            return self._anywhere[memo]
        naming = re.compile(rf"^[ \t-]*name:[ \t]*[\"']?{re.escape(name)}[\"']?[ \t]*(#.*)?$", re.MULTILINE)
        flux_applies_things = bool(self.graph.index.flagged("flux_paths"))
        found: list[tuple[str, ValuesSource, set[str | None]]] = []
        for candidate, text in self.graph.files_naming(kind, name):
            logical = candidate.logical
            if not naming.search(text):
                continue
            try:
                sources = list(self._manifest_sources(candidate, text, kind, name, key, target, label))
            except InputError as err:
                self.graph.warnings.add(
                    warning(err.diagnostic.file, err.diagnostic.line, f"{err.diagnostic.message}; not read for {label}")
                )
                continue
            appliers = self.graph.appliers(logical) if sources else []
            if sources and not appliers and flux_applies_things:
                continue  # no Flux Kustomization applies it: it never reaches the cluster
            for own, source in sources:
                found.append((logical, source, {app.namespace(own) for app in appliers} or {own}))
        self._anywhere[memo] = found
        return found

    # -- patches -----------------------------------------------------------------------------
    def _patches(self, release: Selected, applications: list[Application]) -> Iterator[ValuesSource]:
        """Patches of the release in the overlays its Flux Kustomization builds: strategic merge,
        and each JSON6902 operation on spec.values. A base is built (and patched) before the
        overlay that includes it, so the chain is walked bottom up; at each level a Component's
        patches apply before the kustomization's own (kustomize runs components first), and at
        the top the Flux Kustomization's spec.components join the root's."""
        seen: set[tuple[str, int]] = set()
        for app in applications:
            # An outer level's patch targets see the labels the inner levels gave the release
            # (a level's own labels come after its patches).
            built = release
            for link in reversed(app.chain):
                parsed = link.kustomize
                extra = app.flux.components if link is app.chain[0] else ()
                for directory in [*self._components_of(parsed), *extra]:
                    yield from self._component_patches(directory, built, seen, set())
                if parsed is not None:
                    yield from self._file_patches(parsed, built, seen)
                    built = _given(built, parsed)
            yield from self._flux_patches(app, built, seen)

    @staticmethod
    def _components_of(parsed: KustomizeFile | None) -> list[str]:
        if parsed is None:
            return []
        return [ref.target for ref in parsed.refs if ref.field == "components" and not ref.remote]

    def _component_patches(
        self, directory: str, release: Selected, seen: set[tuple[str, int]], visiting: set[str]
    ) -> Iterator[ValuesSource]:
        """A Component's patches, after those of the Components it includes itself."""
        component = self.graph.kustomize_file(directory)
        if component is None or directory in visiting:
            return
        visiting.add(directory)
        for inner in self._components_of(component):
            yield from self._component_patches(inner, release, seen, visiting)
        yield from self._file_patches(component, release, seen)

    def _file_patches(
        self, parsed: KustomizeFile, release: Selected, seen: set[tuple[str, int]]
    ) -> Iterator[ValuesSource]:
        """The patches one kustomization file (or Component) makes to the release, in order: those
        whose target selects it (kind, name and namespace as regular expressions, label and
        annotation selectors), and, without a target, a strategic merge patch naming it."""
        for patch in parsed.patches:
            if patch.target is not None and not patch.target.selects(release):
                continue
            body = None if patch.target is not None else release.name  # a target overrides the body's name
            if patch.inline is not None:
                key = (parsed.path, patch.inline.start_mark.index)
                if key in seen:
                    continue
                seen.add(key)
                if patch.json6902:
                    yield from self._inline_json6902(parsed.unit, patch.inline)
                else:
                    yield from self._inline_patch(parsed.unit, patch.inline, body)
            elif patch.path is not None:
                yield from self._patch_file(patch.path, patch.json6902, body, seen)

    def _patch_file(
        self, path: str, json6902: bool, name: str | None, seen: set[tuple[str, int]]
    ) -> Iterator[ValuesSource]:
        patch_unit = self.graph.index.units.get(path) or self._json_file(path)
        if patch_unit is None or (patch_unit.primary.path, 0) in seen:
            return
        seen.add((patch_unit.primary.path, 0))
        text = self.graph.text(patch_unit.primary.path) or ""
        copy = patch_unit.primary
        if json6902 or _is_operation_list(text, copy.path, copy.delimiters):
            yield from self._json6902(patch_unit, text, (), False, f"patch {copy.path}", None)
            return
        index = _doc_index(text, copy.path, copy.delimiters, _is("HelmRelease", name))
        if index is not None:
            yield ValuesSource("patch", patch_unit, index, ("spec", "values"), label=f"patch {copy.path}")

    def _flux_patches(self, app: Application, release: Selected, seen: set[tuple[str, int]]) -> Iterator[ValuesSource]:
        """The Flux Kustomization's own `spec.patches`: Flux adds them to the kustomization it
        builds, so they apply after every patch of the chain (inline only, as Flux allows)."""
        flux = app.flux
        if flux.node is None or not flux.patches:
            return
        classified = self.graph.index.layout.classify(flux.file)
        unit = self.graph.index.units.get(classified[0] if classified else flux.file)
        if unit is None:
            return
        for item in _patch_items(flux.node, ("spec", "patches")):
            target = target_of(first(item, "target"))
            if target is not None and not target.selects(release):
                continue
            body = None if target is not None else release.name  # a target overrides the body's name
            node = first(item, "patch")
            if not isinstance(node, ScalarNode) or (unit.primary.path, node.start_mark.index) in seen:
                continue
            seen.add((unit.primary.path, node.start_mark.index))
            inner = embedded(self.graph.text(unit.primary.path) or "", node)
            if inner is not None and _is_operation_list(inner.inner, unit.primary.path, None):
                yield from self._inline_json6902(unit, node, ("spec", "patches"))
            else:
                yield from self._inline_patch(unit, node, body, ("spec", "patches"))

    def _json_file(self, path: str) -> Unit | None:
        """A JSON patch file: the scan reads only YAML, so it is made a unit of its own here."""
        if not path.endswith(".json") or not (self.graph.index.root / path).is_file():
            return None
        return Unit(path, None, Copy(path, False, None))

    def _inline_json6902(
        self, unit: Unit, node: ScalarNode, at: tuple[str, ...] = ("patches",)
    ) -> Iterator[ValuesSource]:
        copy = unit.primary
        text = self.graph.text(copy.path) or ""
        block = embedded(text, node)
        line = node.start_mark.line + 1
        for index, doc in enumerate(compose(text, copy.path, copy.delimiters)):
            for position, item in enumerate(_patch_items(doc, at)):
                if first(item, "patch") is not node:
                    continue
                label = f"inline JSON6902 patch in {copy.path} (line {line})"
                if block is None:
                    # A quoted or folded patch string: its offsets do not map back to the file.
                    yield ValuesSource(
                        "json6902",
                        unit,
                        index,
                        (),
                        target_path=(),
                        editable=False,
                        why_not="a JSON6902 patch written as a quoted or folded string",
                        label=label,
                        line=line,
                        op="?",
                    )
                    return
                yield from self._json6902(unit, block.inner, (*at, position, "patch"), True, label, block, index)

    def _json6902(
        self,
        unit: Unit,
        text: str,
        container: tuple[Step, ...],
        in_block: bool,
        label: str,
        block: Embedded | None,
        document: int = 0,
    ) -> Iterator[ValuesSource]:
        """One source per operation on spec.values (text: the operation list's own text)."""
        where = f"{label} (block)" if block else unit.primary.path
        try:
            docs = compose(text, where, None if block else unit.primary.delimiters)
        except Exception:  # noqa: BLE001 - a patch that is not YAML (nor JSON) patches no values
            return
        ops = docs[0] if docs else None
        if not isinstance(ops, SequenceNode):
            return
        for position, item in enumerate(ops.value):
            op = scalar_value(first(item, "op")) or ""
            pointer = scalar_value(first(item, "path"))
            if pointer is None or op == "test":
                continue
            steps = _pointer(pointer)
            if steps is None:
                continue
            offset = block.outer(item.start_mark.index) if block else item.start_mark.index
            line = (self.graph.text(unit.primary.path) or "").count("\n", 0, offset) + 1
            if steps[:2] != ("spec", "values"):
                if ("spec", "values")[: len(steps)] == steps:
                    # The operation replaces spec (or values) wholesale: not a shape to edit safely.
                    yield ValuesSource(
                        "json6902",
                        unit,
                        document,
                        (),
                        target_path=(),
                        editable=False,
                        why_not=f"a JSON6902 `{op}` of {pointer} as a whole",
                        label=f"{label}, operation at line {line}",
                        line=line,
                        op=op,
                    )
                continue
            editable = op in ("add", "replace") and first(item, "value") is not None
            yield ValuesSource(
                "json6902",
                unit,
                document,
                container if in_block else (position, "value"),
                inner=(position, "value") if in_block else (),
                in_block=in_block,
                target_path=steps[2:],
                editable=editable,
                why_not="" if editable else f"a JSON6902 `{op}` operation",
                label=f"{label}, `{op} {pointer}` at line {line}",
                line=line,
                op=op,
            )

    def _inline_patch(
        self, unit: Unit, node: ScalarNode, name: str | None, at: tuple[str, ...] = ("patches",)
    ) -> Iterator[ValuesSource]:
        copy = unit.primary
        text = self.graph.text(copy.path) or ""
        block = embedded(text, node)
        if block is None:
            return
        try:
            inner = compose(block.inner, copy.path, None)
        except Exception:  # noqa: BLE001 - a patch string that is not YAML patches no values
            return
        if not inner or not _is("HelmRelease", name)(inner[0]):
            return
        # Address the scalar by its place among the file's patches.
        for index, doc in enumerate(compose(text, copy.path, copy.delimiters)):
            for position, item in enumerate(_patch_items(doc, at)):
                if first(item, "patch") is node:
                    yield ValuesSource(
                        "patch",
                        unit,
                        index,
                        (*at, position, "patch"),
                        inner=("spec", "values"),
                        in_block=True,
                        label=f"inline patch in {copy.path} (line {node.start_mark.line + 1})",
                    )


def _pointer(pointer: str) -> tuple[str, ...] | None:
    """A JSON pointer's keys (RFC 6901: `~1` is `/`, `~0` is `~`); None when it is not one."""
    if pointer == "":
        return ()
    if not pointer.startswith("/"):
        return None
    return tuple(part.replace("~1", "/").replace("~0", "~") for part in pointer[1:].split("/"))


def _is_operation_list(text: str, path: str, delims) -> bool:
    """A patch file holding JSON6902 operations (YAML or JSON), not a strategic-merge object."""
    try:
        docs = compose(text, path, delims)
    except Exception:  # noqa: BLE001 - not YAML: not an operation list this model reads
        return False
    return (
        bool(docs)
        and isinstance(docs[0], SequenceNode)
        and all(isinstance(item, MappingNode) and first(item, "op") is not None for item in docs[0].value)
    )


def _patch_items(doc: Node | None, at: tuple[str, ...] = ("patches",)) -> list[Node]:
    patches = doc
    for key in at:
        patches = first(patches, key)
    return list(patches.value) if isinstance(patches, SequenceNode) else []

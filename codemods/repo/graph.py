"""What kustomize and Flux build from a checkout: the reference graph, asked one question.

*Which Flux Kustomizations apply this file, through which chain, and in which namespace
does its object end up?* Codemods, doctor rules and the build gate all ask it here.

The graph is read upward and lazily: from a file to the kustomizations that name it (found
by a text search for its base name, then parsed), to the directories that build those, up
to a directory that is some Flux Kustomization's `spec.path`. A no-op run on a large repo
therefore parses almost nothing (domain-facts §5).

kustomize and Flux are read through the one model in codemods/flux/ (domain-facts §4):
- every kustomization file, both kinds, and every path it names: the field table of
  codemods/flux/fields.py (`resources`, `bases`, `components`, patches, generators,
  `replacements`, `validators`, ...). Remote URLs stay opaque;
- a directory without a kustomization file, built by Flux, gets a generated one: every
  manifest below it, recursively, stopping at subdirectories that have their own;
- the outermost `namespace:` on the way down wins; Flux `targetNamespace` beats them all.
Flux Kustomizations (codemods/flux/spec.py): `spec.path` in any spelling, and every field that
changes the build, read after the post-build substitution of the Flux Kustomization that applies
this one (codemods/flux/envsubst.py: Flux's `${VAR}` grammar).
"""

from __future__ import annotations

import base64
import binascii
import posixpath
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from functools import lru_cache

from codemods.diagnostics import Diagnostic, DiagnosticError, Diagnostics, warning
from codemods.errors import InputError
from codemods.flux import envsubst, fields
from codemods.flux.envsubst import Variables
from codemods.flux.selector import Target
from codemods.flux.spec import DEFAULT_FLUX_NAMESPACE, FluxKustomization, parse_flux_kustomizations
from codemods.repo.index import RepoIndex, Unit
from codemods.yamltext.locate import (
    MappingNode,
    Node,
    ScalarNode,
    SequenceNode,
    compose,
    entries,
    first,
    literal_value,
    scalar_value,
)

MAX_DEPTH = 64  # reference chains longer than this are cycles or nonsense
# Below this many referrers() questions a byte search answers each; above, the word index pays.
_LAZY_QUESTIONS = 64
# What makes kustomize build a named path as part of the output (the others only feed it).
APPLYING_FIELDS = fields.APPLYING_FIELDS
_BUILDING_FIELDS = frozenset(f.label for f in fields.PATH_FIELDS if f.builds)
is_remote = fields.is_remote


@dataclass(frozen=True)
class Ref:
    """One path a kustomization file names."""

    field: str  # "resources", "components", "patches", "configMapGenerator.files", ...
    value: str  # as written
    target: str  # the logical path it resolves to (normalized); the raw value when remote
    node: ScalarNode  # where it is written, in the primary copy
    remote: bool = False

    @property
    def applies(self) -> bool:
        return self.field in APPLYING_FIELDS and not self.remote


@dataclass(frozen=True)
class Generator:
    """A configMapGenerator or secretGenerator entry: its name and its files by key."""

    kind: str  # "ConfigMap" or "Secret"
    name: str
    files: tuple[tuple[str, str], ...]  # (data key, logical path)
    node: Node
    behavior: str = "create"  # an overlay's "replace" or "merge" acts on a base's generated object


@dataclass(frozen=True)
class Patch:
    """A kustomize patch: a file, or an inline string (edited inside, byte-exactly)."""

    target: Target | None  # None: a strategic merge patch applies to the object its body names
    path: str | None  # logical path of a patch file
    inline: ScalarNode | None  # the `patch: |` scalar of an inline patch
    json6902: bool


@dataclass
class KustomizeFile:
    """A parsed kustomization file of a logical directory."""

    unit: Unit
    directory: str
    kind: str  # "Kustomization" or "Component"
    namespace: str | None
    refs: list[Ref]
    generators: list[Generator]
    patches: list[Patch]
    name_prefix: str | None = None
    name_suffix: str | None = None
    # What its `commonLabels` and `labels` (and `commonAnnotations`) give every object it builds:
    # an outer kustomization's patch target selects the object with them.
    labels: tuple[tuple[str, str], ...] = ()
    annotations: tuple[tuple[str, str], ...] = ()

    @property
    def path(self) -> str:
        return self.unit.primary.path

    def builds_nothing_but(self, gone: set[str]) -> bool:
        """Would this file build nothing at all once the refs to `gone` are removed?"""
        left = [r for r in self.refs if r.field in _BUILDING_FIELDS and r.target not in gone]
        return not left and not self.generators and not any(r.field == "helmCharts" for r in self.refs)


@dataclass(frozen=True)
class Link:
    """One step down a build chain: `directory` is built, and names the next step via `ref`."""

    directory: str
    kustomize: KustomizeFile | None  # None: Flux generates the kustomization
    ref: Ref | None  # how the next step is reached (None: generated inclusion or the end)


@dataclass(frozen=True)
class Application:
    """A Flux Kustomization applies a file through a chain of directories, top first."""

    flux: FluxKustomization
    chain: tuple[Link, ...]

    def namespace(self, own: str | None) -> str | None:
        """Where the object ends up: targetNamespace, else the outermost `namespace:`, else its own."""
        if self.flux.target_namespace:
            return self.flux.target_namespace
        for link in self.chain:
            if link.kustomize is not None and link.kustomize.namespace:
                return link.kustomize.namespace
        return own

    def refs(self) -> list[tuple[KustomizeFile, Ref]]:
        return [(link.kustomize, link.ref) for link in self.chain if link.kustomize is not None and link.ref]

    def affixes(self) -> tuple[str, str] | None:
        """(prefix, suffix) that the chain's namePrefix/nameSuffix give an object's name: the
        innermost first, each outer one around it, Flux's own in place of the root's. None
        when one is not known here (a Jinja expression)."""
        prefixes: list[str] = []
        suffixes: list[str] = []
        for depth, link in enumerate(self.chain):
            parsed = link.kustomize
            prefix, suffix = (parsed.name_prefix, parsed.name_suffix) if parsed is not None else (None, None)
            if depth == 0:  # Flux writes its own into the kustomization it builds for spec.path
                prefix = self.flux.name_prefix if self.flux.name_prefix is not None else prefix
                suffix = self.flux.name_suffix if self.flux.name_suffix is not None else suffix
            if (prefix and "{{" in prefix) or (suffix and "{{" in suffix):
                return None
            prefixes.append(prefix or "")
            suffixes.insert(0, suffix or "")
        if not self.chain:
            prefixes, suffixes = [self.flux.name_prefix or ""], [self.flux.name_suffix or ""]
        return "".join(prefixes), "".join(suffixes)


def _scalar_items(node: Node | None) -> list[ScalarNode]:
    if isinstance(node, SequenceNode):
        return [item for item in node.value if isinstance(item, ScalarNode)]
    return []


_join = fields.resolve


def parse_kustomize_file(unit: Unit, text: str) -> KustomizeFile | None:
    copy = unit.primary
    directory = posixpath.dirname(unit.logical)
    for doc in compose(text, copy.path, copy.delimiters):
        if not isinstance(doc, MappingNode):
            continue
        kind = scalar_value(first(doc, "kind")) or "Kustomization"
        if not fields.is_kustomization(kind, scalar_value(first(doc, "apiVersion"))):
            continue
        return KustomizeFile(
            unit,
            directory,
            kind,
            literal_value(text, first(doc, "namespace")),
            list(_refs(doc, directory)),
            list(_generators(doc, directory)),
            list(_patches(doc, directory)),
            literal_value(text, first(doc, "namePrefix")),
            literal_value(text, first(doc, "nameSuffix")),
            tuple(_given_labels(doc)),
            tuple(_pairs(first(doc, "commonAnnotations"))),
        )
    return None


def _pairs(node: Node | None) -> Iterator[tuple[str, str]]:
    for key, value in node.value if isinstance(node, MappingNode) else []:
        if isinstance(key, ScalarNode) and isinstance(value, ScalarNode):
            yield key.value, value.value


def _given_labels(doc: MappingNode) -> Iterator[tuple[str, str]]:
    """The labels a kustomization gives every object: `commonLabels`, and each `labels:` entry's
    `pairs`."""
    yield from _pairs(first(doc, "commonLabels"))
    listed = first(doc, "labels")
    for item in listed.value if isinstance(listed, SequenceNode) else []:
        yield from _pairs(first(item, "pairs"))


def _ref(field_name: str, node: ScalarNode, directory: str, value: str | None = None) -> Ref:
    raw = node.value if value is None else value
    if is_remote(raw):
        return Ref(field_name, raw, raw, node, remote=True)
    return Ref(field_name, raw, _join(directory, raw), node)


def _refs(doc: MappingNode, directory: str) -> Iterator[Ref]:
    for entry in fields.path_entries(doc, fields.NODES):
        assert isinstance(entry.node, ScalarNode)
        yield _ref(entry.field.label, entry.node, directory, entry.value)
    # A chart builds objects though it names no local path: kustomize fetches it.
    for _key, seq in entries(doc, "helmCharts"):
        for item in seq.value if isinstance(seq, SequenceNode) else []:
            chart = first(item, "name")
            if isinstance(chart, ScalarNode) and first(item, "valuesFile") is None:
                yield Ref("helmCharts", chart.value, chart.value, chart, remote=True)


def _generators(doc: MappingNode, directory: str) -> Iterator[Generator]:
    for gen, kind in (("configMapGenerator", "ConfigMap"), ("secretGenerator", "Secret")):
        for _key, seq in entries(doc, gen):
            for item in seq.value if isinstance(seq, SequenceNode) else []:
                name = scalar_value(first(item, "name"))
                if not name:
                    continue
                files = []
                for node in _scalar_items(first(item, "files")):
                    key, _, path = node.value.rpartition("=")
                    files.append((key.strip() or posixpath.basename(path.strip()), _join(directory, path)))
                behavior = scalar_value(first(item, "behavior")) or "create"
                yield Generator(kind, name, tuple(files), item, behavior)


def target_of(node: Node | None) -> Target | None:
    """A patch's `target:` mapping as a selector (None when there is none)."""
    if not isinstance(node, MappingNode):
        return None
    return Target(
        *(scalar_value(first(node, k)) for k in ("kind", "name", "namespace", "labelSelector", "annotationSelector"))
    )


def _patches(doc: MappingNode, directory: str) -> Iterator[Patch]:
    for key in ("patches", "patchesJson6902"):
        for _key, seq in entries(doc, key):
            for item in seq.value if isinstance(seq, SequenceNode) else []:
                target = target_of(first(item, "target"))
                path = scalar_value(first(item, "path"))
                inline = first(item, "patch")
                json6902 = key == "patchesJson6902"
                if isinstance(inline, ScalarNode):
                    json6902 = json6902 or inline.value.lstrip().startswith(("- op:", "[", "- {"))
                    yield Patch(target, None, inline, json6902)
                elif path and not is_remote(path):
                    yield Patch(target, _join(directory, path), None, json6902)
    for _key, seq in entries(doc, "patchesStrategicMerge"):
        for item in _scalar_items(seq):
            if "\n" in item.value:
                yield Patch(None, None, item, False)
            elif not is_remote(item.value):
                yield Patch(None, _join(directory, item.value), None, False)


@lru_cache(maxsize=4096)
def _path_pattern(candidate: str) -> re.Pattern[str] | None:
    """A `${VAR}` spec.path found by the pre-filter, as a pattern over real directories."""
    return envsubst.pattern(candidate)


# The words of a kustomization file: YAML's separators, quotes, comments and generator `key=`.
_WORD_SPLIT = re.compile(r"[\s,\[\]{}'\"#=]+")
_QUOTED = re.compile(r"'([^'\n]*)'|\"([^\"\n]*)\"")


@dataclass
class RepoGraph:
    """The reference graph of one checkout, parsed on demand and memoised."""

    index: RepoIndex
    warnings: Diagnostics = field(default_factory=Diagnostics)  # files it needed and could not read
    # Kustomization files an answer depended on and that could not be read or parsed: the
    # answer is unknown (Flux's own build fails on them), so a run must stop, not guess.
    needed_unreadable: Diagnostics = field(default_factory=Diagnostics)
    _read_errors: dict[str, Diagnostic] = field(default_factory=dict)
    _kustomize: dict[str, KustomizeFile | None] = field(default_factory=dict)
    _texts: dict[str, str] = field(default_factory=dict)
    _flux: dict[str, list[FluxKustomization]] = field(default_factory=dict)
    _appliers: dict[tuple[str, str], list[Application]] = field(default_factory=dict)
    _active: set[tuple[str, str]] = field(default_factory=set)
    _roots: dict[tuple[str, str], str] = field(default_factory=dict)  # source -> its artifact root
    _by_last: dict[str, list[tuple[str, Unit]]] | None = None  # spec.path candidates by last segment
    _mentioned: dict[str, list[str]] | None = None  # path -> directories whose kustomization may name it
    _asked: dict[str, list[str]] = field(default_factory=dict)  # answered without the word index
    _search: list[tuple[Unit, str, str, bytes | None]] | None = None  # see _searchable()
    _with_components: list[tuple[Unit, str]] | None = None  # Flux files that have spec.components
    _naming: dict[tuple[str, str], list[tuple[Unit, str]]] = field(default_factory=dict)  # files_naming()
    # In the view per_cluster() returns: a `${CLUSTER}` spec.path applies each cluster's reading.
    _each_cluster: bool = False
    _cluster_view: RepoGraph | None = None

    @classmethod
    def of(cls, index: RepoIndex, warnings: Diagnostics | None = None) -> RepoGraph:
        """The index's one graph: the codemods, the build gate and the doctor's look at the
        touched files share its parses (the tree is the same until the plan is applied).
        warnings: where the first asker wants unreadable files reported; later askers share it."""
        graph = index.derived.get("graph")
        if not isinstance(graph, RepoGraph):
            graph = cls(index) if warnings is None else cls(index, warnings=warnings)
            index.derived["graph"] = graph
        return graph

    # -- files ---------------------------------------------------------------------------
    def text(self, path: str) -> str | None:
        if path not in self._texts:
            try:
                self._texts[path] = self.index.read_text(path)
            except InputError as err:
                self.warnings.add(err.diagnostic.as_warning())
                self._read_errors[path] = err.diagnostic
                self._texts[path] = ""
            except OSError as err:
                self.warnings.add(warning(path, None, f"cannot read: {err.strerror}"))
                self._read_errors[path] = warning(path, None, f"cannot read: {err.strerror}")
                self._texts[path] = ""
        return self._texts[path]

    def _needed(self, path: str, err: DiagnosticError | None = None) -> None:
        """An answer depends on path, which could not be read (or parsed: err)."""
        diagnostic = err.diagnostic if err is not None else self._read_errors.get(path)
        if diagnostic is not None:
            self.needed_unreadable.add(diagnostic)

    def _lossy(self, path: str) -> str:
        try:  # read as the scan reads: never through a link, never more than the size cap
            return (self.index.read_bytes(path) or b"").decode("utf-8", "replace")
        except OSError:
            return ""

    def kustomize_file(self, directory: str) -> KustomizeFile | None:
        if directory not in self._kustomize:
            unit = self.index.kustomization(directory)
            parsed = None
            if unit is not None:
                try:
                    text = self.text(unit.primary.path) or ""
                    if unit.primary.path in self._read_errors:
                        self._needed(unit.primary.path)
                        raise InputError(unit.primary.path, None, "unreadable")  # the empty file below
                    parsed = parse_kustomize_file(unit, text)
                    if parsed is not None and parsed.namespace is None and unit.template and unit.rendered:
                        # A templated `namespace:` has its real value in the render.
                        rendered = self.text(unit.rendered.path) or ""
                        for doc in compose(rendered, unit.rendered.path, None):
                            if isinstance(doc, MappingNode):
                                parsed.namespace = literal_value(rendered, first(doc, "namespace"))
                                break
                except InputError as err:
                    if unit.primary.path not in self._read_errors:  # a read error was said already
                        self.warnings.add(err.diagnostic.as_warning())
                        self._needed(unit.primary.path, err)
                    parsed = KustomizeFile(unit, directory, "Kustomization", None, [], [], [])
            self._kustomize[directory] = parsed
        return self._kustomize[directory]

    def _words_resolve_to(self, unit: Unit) -> set[str]:
        """Every repository path that a word of this kustomization file resolves to.

        A reference is always one such word, in any style (block or flow, quoted or not,
        `key=path` in a generator), so this over-approximates the references: a comment's word
        or a key is only a candidate, and the parse decides."""
        here = posixpath.dirname(unit.logical)
        text = self.text(unit.primary.path) or ""
        if unit.primary.path in self._read_errors:
            # Its words still count: a file that may list the target is one the run needs.
            text = self._lossy(unit.primary.path)
        words = set(_WORD_SPLIT.split(text))
        words.update(q for pair in _QUOTED.findall(text) for q in pair if q)  # paths with spaces
        prefix = f"{here}/" if here else ""
        targets: set[str] = set()
        for word in words:
            if not word or word.endswith(":") or "://" in word:
                continue
            word = word.removeprefix("./")
            if word and "/." not in word and "\\" not in word and "//" not in word and word[0] not in "./":
                target = prefix + word.rstrip("/")  # plain words need no normalizing (most of them)
            else:
                target = _join(here, word)  # exactly as a reference's target is resolved
            if target and not target.startswith(".."):
                targets.add(target)
        return targets

    def _mentions(self) -> dict[str, list[str]]:
        """Repository path -> directories whose kustomization file has a word that resolves to it.

        Built in one pass over the text of every kustomization file, it makes each referrers()
        question a lookup instead of a scan of every file (the doctor asks it of every manifest)."""
        if self._mentioned is None:
            mentioned: dict[str, list[str]] = {}
            for unit in self.index.kustomizations():
                here = posixpath.dirname(unit.logical)
                for target in self._words_resolve_to(unit):
                    listed = mentioned.setdefault(target, [])
                    if not listed or listed[-1] != here:
                        listed.append(here)
            self._mentioned = mentioned
        return self._mentioned

    def _mentioners(self, logical: str) -> list[str]:
        """The directories whose kustomization file has a word that resolves to logical.

        A run that fixes one app asks this a few times; a byte search of each file answers
        those without the word index, which costs a pass over every word of every kustomization
        file. Past _LAZY_QUESTIONS questions (the doctor's whole-repository run) the index is
        built once and answers the rest."""
        if self._mentioned is not None or len(self._asked) >= _LAZY_QUESTIONS:
            return self._mentions().get(logical, [])
        if logical in self._asked:
            return self._asked[logical]
        found: list[str] = []
        # A name that is not UTF-8 comes from os.scandir with surrogate escapes: its own bytes.
        encoded = logical.encode("utf-8", "surrogateescape")
        for unit, here, prefix, data in self._searchable():
            # No word of the file can resolve to logical (see _words_resolve_to) unless: a plain
            # word resolves below here, to here/word, so the file holds logical's path relative
            # to here; a word starting with `/` holds logical itself; and any other word needs
            # normalizing (`..`, `/.`, `//`, a backslash): such files have data None here.
            if (
                data is not None
                and here != logical
                and encoded not in data
                and not (
                    logical.startswith(prefix) and logical[len(prefix) :].encode("utf-8", "surrogateescape") in data
                )
            ):
                continue
            if (not found or found[-1] != here) and logical in self._words_resolve_to(unit):
                found.append(here)
        self._asked[logical] = found
        return found

    def _searchable(self) -> list[tuple[Unit, str, str, bytes | None]]:
        """(unit, directory, directory/ prefix, bytes or None: always read) of each kustomization file."""
        if self._search is None:
            self._search = []
            for unit in self.index.kustomizations():
                here = unit.logical.rpartition("/")[0]
                # Decoded as the word index would (cheap next to its word pass): a file that is
                # not UTF-8 is said once, as a warning, whether or not a question needs it.
                self.text(unit.primary.path)
                data = self.index.kept(unit.primary.path)
                if data is not None and (
                    b".." in data or b"/." in data or b"\\" in data or data.count(b"//") > data.count(b"://")
                ):
                    data = None
                self._search.append((unit, here, f"{here}/" if here else "", data))
        return self._search

    def has_kustomization(self, directory: str) -> bool:
        return self.index.kustomization(directory) is not None

    def referrers(
        self, logical: str, fields: tuple[str, ...] | None = APPLYING_FIELDS
    ) -> list[tuple[KustomizeFile, Ref]]:
        """Every (kustomization file, ref) that names logical; fields=None: any field."""
        if not logical:
            return []
        found: list[tuple[KustomizeFile, Ref]] = []
        # Only a kustomization with a word that resolves to logical can name it: a bare
        # "helmrelease.yaml" names a different file in every app; only those few are parsed.
        for here in self._mentioners(logical):
            parsed = self.kustomize_file(here)
            if parsed is None:
                continue
            for ref in parsed.refs:
                if ref.target == logical and not ref.remote and (fields is None or ref.field in fields):
                    found.append((parsed, ref))
        return found

    # -- Flux Kustomizations ----------------------------------------------------------------
    def declared_in(self, path: str) -> list[FluxKustomization]:
        """The Flux Kustomizations a physical file declares, as the model resolves them."""
        return self._declared_in(path)

    def _declared_in(self, path: str) -> list[FluxKustomization]:
        if path not in self._flux:
            classified = self.index.layout.classify(path)
            delims = classified[1].delimiters if classified else None
            self._flux[path] = []  # a cycle through ${VAR} resolution sees no declarations
            text = self.text(path) or ""
            try:
                raw = parse_flux_kustomizations(text, path, delims)
            except InputError as err:
                # A warning, not a stop: a broken file declares nothing Flux applies (whatever
                # applies it fails to build), unlike a kustomization file that may list the Job.
                self.warnings.add(err.diagnostic.as_warning())
                return []
            # Flux reads an object as its parent's build leaves it: after that build's substitution.
            if any(ks.mentions_variables() for ks in raw):
                variables = self._inherited_variables(classified[0] if classified else path)
                raw = parse_flux_kustomizations(text, path, delims, variables)
            self._flux[path] = [self._under_artifact_root(ks) for ks in raw]
        return self._flux[path]

    def declared_per_cluster(self, path: str) -> list[FluxKustomization]:
        """As declared_in, except for a file that clusters apply with different post-build values
        (CLUSTER=main and CLUSTER=staging): then one Flux Kustomization per distinct set of
        values, as each cluster's Flux reads it (its `${CLUSTER}` path resolved), so that each
        cluster's build can be made and judged."""
        declared = self._declared_in(path)
        if not any("${" in ks.path for ks in declared):
            return declared
        classified = self.index.layout.classify(path)
        delims = classified[1].delimiters if classified else None
        distinct: list[Variables] = []
        for app in self.appliers(classified[0] if classified else path):
            variables = self.variables(app.flux)
            if variables not in distinct:
                distinct.append(variables)
        if len(distinct) <= 1:
            return declared
        found: list[FluxKustomization] = []
        for variables in distinct:
            for ks in parse_flux_kustomizations(self.text(path) or "", path, delims, variables):
                resolved = self._under_artifact_root(ks)
                if resolved not in found:
                    found.append(resolved)
        return found

    def _inherited_variables(self, logical: str) -> Variables:
        """The post-build substitution of the Flux Kustomization(s) that apply a file; an
        unknown source in any of them leaves what it could define unknown."""
        values: dict[str, str] = {}
        differ: set[str] = set()
        complete = True
        found = False
        for app in self.appliers(logical):
            variables = self.variables(app.flux)
            found = found or app.flux.post_build
            differ |= {k for k, v in variables.values.items() if values.get(k, v) != v}
            values.update(variables.values)
            complete = complete and variables.complete
        if differ:
            # Two clusters apply the file with different values (CLUSTER=main, CLUSTER=staging):
            # neither is the value, so what needs one is unknown here, never one cluster's.
            values = {k: v for k, v in values.items() if k not in differ}
            complete = False
        return Variables(values, complete) if found else Variables({}, True)

    def variables(self, ks: FluxKustomization) -> Variables:
        """ks's post-build variables as Flux loads them: each substituteFrom ConfigMap or Secret in
        order (looked up in the repository), then postBuild.substitute on top. A variable
        defined inline is known even when a substituteFrom object is not in the repository."""
        merged: dict[str, str] = {}
        complete = True
        for ref in ks.substitute_from:
            data = self._source_data(ref.kind, ref.name, self.identity(ks).split("/", 1)[0]) if ref.name else None
            if data is None:
                complete = False  # in the cluster only (or optional and absent: unknowable here)
                continue
            merged.update({k: v.replace("\n", "") for k, v in data.items()})
        merged.update(ks.variables)
        for name in ks.unknown_substitutions:  # inline, but from the parent's unknowns
            merged.pop(name, None)
            complete = False
        return Variables(merged, complete)

    def files_naming(self, kind: str, name: str) -> list[tuple[Unit, str]]:
        """(unit, text) of each file whose bytes hold both kind and name, in path order: the few
        worth a parse when a manifest is looked for by name across the repository. The others
        are read the scan's way and never decoded (nor kept); one that is not UTF-8 is passed.
        Read once per (kind, name): each Flux build of a release asks again."""
        if (kind, name) not in self._naming:
            self._naming[(kind, name)] = list(self._read_naming(kind.encode(), name.encode()))
        return self._naming[(kind, name)]

    def _read_naming(self, kind_bytes: bytes, name_bytes: bytes) -> Iterator[tuple[Unit, str]]:
        for logical in sorted(self.index.units):
            unit = self.index.units[logical]
            try:
                data = self.index.read_bytes(unit.primary.path)
                if data is None or name_bytes not in data or kind_bytes not in data:
                    continue
                yield unit, data.decode("utf-8")
            except (OSError, UnicodeDecodeError):
                continue

    def _source_data(self, kind: str, name: str, namespace: str) -> dict[str, str] | None:
        """The data of the ConfigMap or Secret named name in the repository (the one in namespace
        first, as Flux reads it from the Flux Kustomization's namespace); None when there is none,
        or its values are encrypted (SOPS)."""
        found: list[tuple[str | None, dict[str, str] | None]] = []
        for unit, text in self.files_naming(kind, name):
            copy = unit.primary
            try:
                docs = compose(text, copy.path, copy.delimiters)
            except InputError:
                continue
            for doc in docs:
                meta = first(doc, "metadata")
                if scalar_value(first(doc, "kind")) == kind and scalar_value(first(meta, "name")) == name:
                    found.append((scalar_value(first(meta, "namespace")), _source_values(doc, kind)))
        own = [data for space, data in found if space in (None, namespace)]
        return (own or [data for _space, data in found] or [None])[0]

    # -- sources whose artifact root is a subdirectory --------------------------------------------
    def _under_artifact_root(self, ks: FluxKustomization) -> FluxKustomization:
        """A source built from a subdirectory (`flux push artifact --path=./kubernetes`) roots every
        spec.path there: when the path is no directory of the repository but exists below exactly
        one directory, that directory is the source's artifact root."""
        if ks.path in self.index.directories() or "${" in ks.path or ks.path.startswith(".."):
            return ks
        root = self._roots.get(ks.source) if ks.source else None
        if root is None:
            below = sorted(d[: -len(ks.path) - 1] for d in self.index.directories() if d.endswith("/" + ks.path))
            if len(below) != 1:
                return ks
            root = below[0]
            if ks.source:
                self._roots[ks.source] = root
        path = posixpath.join(root, ks.path)
        return replace(ks, path=path, components=tuple(posixpath.join(root, c) for c in ks.components))

    def flux_kustomizations(self) -> list[FluxKustomization]:
        """Every Flux Kustomization of the repository (parses every pre-filtered file)."""
        return [ks for unit in self.index.flagged("flux_paths") for ks in self._declared_in(unit.primary.path)]

    def flux_at(self, directory: str) -> list[FluxKustomization]:
        """Flux Kustomizations whose spec.path is directory; parses only files whose paths could match."""
        found: list[FluxKustomization] = []
        for unit in self._path_candidates(directory):
            declared = self._declared_in(unit.primary.path)
            if self._each_cluster and any("${" in ks.path for ks in declared):
                declared = self.declared_per_cluster(unit.primary.path)
            found.extend(ks for ks in declared if ks.path == directory)
        return found

    def per_cluster(self) -> RepoGraph:
        """This graph as the clusters read it: a Flux Kustomization whose `${CLUSTER}` spec.path
        the clusters resolve differently (unknown here, so it applies nothing) applies each
        cluster's reading. The parses are shared; the appliers are its own."""
        if self._each_cluster:
            return self
        if self._cluster_view is None:
            self._cluster_view = replace(self, _appliers={}, _active=set(), _each_cluster=True, _cluster_view=None)
        return self._cluster_view

    def _path_candidates(self, directory: str) -> list[Unit]:
        """Files whose pre-filtered spec.path could be directory: an exact path, a path under an
        artifact root (a suffix of directory), or a ${VAR} pattern. Indexed once by last segment."""
        if self._by_last is None:
            self._by_last = {}
            for unit in self.index.flagged("flux_paths"):
                facts = self.index.facts.get(unit.primary.path)
                for candidate in facts.flux_paths if facts else ():
                    key = "${" if "${" in candidate else posixpath.basename(candidate)
                    self._by_last.setdefault(key, []).append((candidate, unit))
        found: dict[str, Unit] = {}
        for candidate, unit in self._by_last.get(posixpath.basename(directory), []):
            if directory == candidate or directory.endswith("/" + candidate):
                found[unit.primary.path] = unit
        for candidate, unit in self._by_last.get("${", []):
            pattern = _path_pattern(candidate)
            if pattern is not None and pattern.match(directory):
                found[unit.primary.path] = unit
        return list(found.values())

    def flux_with_component(self, directory: str) -> list[FluxKustomization]:
        """Flux Kustomizations whose spec.components name directory."""
        needle = posixpath.basename(directory)
        if self._with_components is None:
            # Only a file that has spec.components at all is parsed (a name like "app" is everywhere).
            self._with_components = []
            for unit in self.index.flagged("flux_paths"):
                text = self.text(unit.primary.path) or ""
                if "components:" in text:
                    self._with_components.append((unit, text))
        found: list[FluxKustomization] = []
        for unit, text in self._with_components:
            if needle and needle in text:
                found.extend(ks for ks in self._declared_in(unit.primary.path) if directory in ks.components)
        return found

    def named(self, name: str) -> list[FluxKustomization]:
        needle = name
        found: list[FluxKustomization] = []
        for unit in self.index.flagged("flux_paths"):
            if needle in (self.text(unit.primary.path) or ""):
                found.extend(ks for ks in self._declared_in(unit.primary.path) if ks.name == name)
        return found

    def identity(self, ks: FluxKustomization) -> str:
        """namespace/name as Flux sees it: declared, else inherited from whatever applies its file."""
        if ks.namespace:
            return f"{ks.namespace}/{ks.name}"
        classified = self.index.layout.classify(ks.file)
        logical = classified[0] if classified else ks.file
        for app in self.appliers(logical):
            namespace = app.namespace(None)
            if namespace:
                return f"{namespace}/{ks.name}"
        return f"{DEFAULT_FLUX_NAMESPACE}/{ks.name}"

    # -- the question ----------------------------------------------------------------------
    def appliers(self, logical: str) -> list[Application]:
        """Every way a Flux Kustomization applies the file at logical (a manifest)."""
        return self._memo(("file", logical), lambda: self._file_appliers(logical))

    def dir_appliers(self, directory: str) -> list[Application]:
        """Every way a Flux Kustomization builds the directory (its chain ends with it)."""
        return self._memo(("dir", directory), lambda: self._dir_appliers(directory))

    def _memo(self, key: tuple[str, str], compute: Callable[[], list[Application]]) -> list[Application]:
        if key not in self._appliers:
            if key in self._active or len(self._active) > MAX_DEPTH:
                return []  # a reference cycle: kustomize itself refuses one
            self._active.add(key)
            try:
                self._appliers[key] = _unique(compute())
            finally:
                self._active.discard(key)
        return self._appliers[key]

    def _link(self, directory: str) -> Link:
        return Link(directory, self.kustomize_file(directory), None)

    def _through_referrers(self, logical: str, tail: tuple[Link, ...]) -> Iterator[Application]:
        for parsed, ref in self.referrers(logical):
            for app in self.dir_appliers(parsed.directory):
                last = app.chain[-1]
                yield Application(app.flux, (*app.chain[:-1], Link(last.directory, last.kustomize, ref), *tail))

    def _through_generated(self, logical: str, tail: tuple[Link, ...]) -> Iterator[Application]:
        """Flux's generated kustomization of the parent (and up) includes what has no listing."""
        parent = posixpath.dirname(logical)
        if logical and not self.has_kustomization(parent):
            for app in self.dir_appliers(parent):
                yield Application(app.flux, (*app.chain, *tail))

    def _file_appliers(self, logical: str) -> list[Application]:
        return [*self._through_referrers(logical, ()), *self._through_generated(logical, ())]

    def _dir_appliers(self, directory: str) -> list[Application]:
        found = [Application(ks, (self._link(directory),)) for ks in self.flux_at(directory)]
        for ks in self.flux_with_component(directory):
            found.append(Application(ks, (self._link(ks.path), self._link(directory))))
        tail = (self._link(directory),)
        found.extend(self._through_referrers(directory, tail))
        found.extend(self._through_generated(directory, tail))
        return found

    def build_reads(self, ks: FluxKustomization) -> frozenset[str]:
        """Every file (logical path) Flux's build of ks reads: its spec.path and components, as
        the model walks them (codemods/flux/fields.py); the build gate copies the same set."""
        view = _IndexView(self)
        memo: dict[str, frozenset[str]] = {}
        found: set[str] = set()
        for directory in (ks.path, *ks.components):
            found |= fields.build_reads(view, directory, memo)
        return frozenset(found)

    def deployer(self, logical_dir: str) -> FluxKustomization | None:
        """The one Flux Kustomization that builds logical_dir, or None (none, or several)."""
        found = {(ks.file, ks.name): ks for ks in (a.flux for a in self.dir_appliers(logical_dir))}
        return next(iter(found.values())) if len(found) == 1 else None


class _IndexView:
    """The checkout as the planner sees it (its index and parses), for the model's walks."""

    def __init__(self, graph: RepoGraph) -> None:
        self.graph = graph
        self.index = graph.index

    def listdir(self, directory: str) -> tuple[list[str], list[str]]:
        prefix = f"{directory}/" if directory else ""
        files = [u.logical[len(prefix) :] for u in self.index.units_in(directory)]
        subdirectories = {
            d[len(prefix) :].split("/", 1)[0]
            for d in self.index.directories()
            if d.startswith(prefix) and d != directory
        }
        return sorted(files), sorted(subdirectories)

    def kustomization(self, directory: str) -> str | None:
        unit = self.index.kustomization(directory)
        return unit.logical if unit is not None else None

    def references(self, kustomization: str) -> list[str]:
        parsed = self.graph.kustomize_file(posixpath.dirname(kustomization))
        return [r.target for r in parsed.refs if not r.remote] if parsed is not None else []

    def exists(self, path: str) -> bool:
        # Files the index does not list (a JSON patch, an env file) are read where they are.
        if path in self.index.units:
            return True
        full = self.index.root / path  # a link is never followed, by the gate either
        return not path.startswith("..") and full.is_file() and not full.is_symlink()

    def is_manifest(self, path: str) -> bool:
        unit = self.index.units.get(path)
        copy = (unit.rendered or unit.template) if unit is not None else None
        data = self.index.read_bytes(copy.path) if copy is not None else None
        return data is not None and b"apiVersion" in data and b"kind" in data


def _source_values(doc: Node | None, kind: str) -> dict[str, str] | None:
    """A ConfigMap's data, or a Secret's data (base64) and stringData, as Flux reads them."""
    if first(doc, "sops") is not None:
        return None
    values: dict[str, str] = {}
    for key in ("data", "stringData") if kind == "Secret" else ("data",):
        mapping = first(doc, key)
        for k, v in mapping.value if isinstance(mapping, MappingNode) else []:
            if not isinstance(k, ScalarNode) or not isinstance(v, ScalarNode):
                continue
            if key == "data" and kind == "Secret":
                try:
                    values[k.value] = base64.b64decode("".join(v.value.split()), validate=True).decode()
                except (binascii.Error, UnicodeDecodeError):
                    return None
            else:
                values[k.value] = v.value
    return values


def _unique(apps: list[Application]) -> list[Application]:
    seen: set[tuple] = set()
    out = []
    for app in apps:
        key = (app.flux.file, app.flux.name, tuple((link.directory, id(link.ref)) for link in app.chain))
        if key not in seen:
            seen.add(key)
            out.append(app)
    return out

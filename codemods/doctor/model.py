"""Everything the rules look up: findings, parsed documents, Flux ownership, Secret sources."""

from __future__ import annotations

import posixpath
import re
from dataclasses import dataclass
from functools import cached_property

from codemods.diagnostics import Diagnostic, Diagnostics, Severity, finding
from codemods.errors import InputError
from codemods.mods.base import Context
from codemods.plan import Plan
from codemods.recipes import instantiate, load
from codemods.repo.graph import FluxKustomization, Ref, RepoGraph, parse_kustomize_file
from codemods.repo.index import KUSTOMIZATION_NAMES, RepoIndex, Unit
from codemods.repo.layout import is_within
from codemods.repo.selectors import JobMatcher, ReleaseSelector
from codemods.repo.workloads import is_helm_release
from codemods.yamltext.locate import MappingNode, Node, ScalarNode, SequenceNode, compose, first, scalar_value

_EXISTING_SECRET_KEY = re.compile(r"(?i)^existing[-_]?secret(name)?$|existingSecret$")


def Finding(file: str, line: int, rule: str, severity: Severity, message: str, fix: str) -> Diagnostic:
    """A rule's finding: a Diagnostic whose code and source are the rule's id."""
    return finding(file, line, rule, severity, message, fix)


@dataclass(frozen=True)
class SecretSource:
    name: str
    unit: Unit
    line: int
    how: str  # "Secret", "ExternalSecret", "CloudNativePG", "existingSecret value"


def line_of(node: Node) -> int:
    return node.start_mark.line + 1


def mappings_below(node: Node | None):
    """Every (key node, value node) pair in a tree, each node visited once.

    Aliases share nodes, so a tree walk without memory is exponential on an alias bomb
    ("billion laughs"); with it, the walk is linear in the document."""
    seen: set[int] = set()
    stack = [node]
    while stack:
        current = stack.pop()
        if current is None or id(current) in seen:
            continue
        seen.add(id(current))
        if isinstance(current, MappingNode):
            yield from current.value
            stack.extend(value for _key, value in reversed(current.value))
        elif isinstance(current, SequenceNode):
            stack.extend(reversed(current.value))


class DoctorContext:
    def __init__(self, index: RepoIndex, only: set[str] | None = None) -> None:
        self.index = index
        self.problems = Diagnostics()  # files skipped, with why: each once, whichever rule met it
        # The one model the codemods and the gate ask too; the run's own when the doctor looks
        # at the files a run touches (its warnings then went to the run already).
        self.flux = RepoGraph.of(index, warnings=self.problems)
        self.only = only  # physical paths to report on; None for the whole repository
        self._texts: dict[str, str] = {}
        # Files a rule would have judged for how Flux applies them, in directories no Flux
        # Kustomization builds: (logical directory, physical path, what it is).
        self.unreached: list[tuple[str, str, str]] = []
        self._drift: dict[str, list[Ref]] = {}

    def wanted(self, unit: Unit) -> bool:
        return self.only is None or any(c.path in self.only for c in unit.copies)

    def docs(self, unit: Unit) -> tuple[Node | None, ...]:
        copy = unit.primary
        try:
            return compose(self.index.read_text(copy.path), copy.path, copy.delimiters)
        except InputError as err:
            self.problems.add(err.diagnostic.as_warning())
            return ()

    def text(self, unit: Unit) -> str:
        return self.text_of(unit.primary.path)

    def text_of(self, path: str) -> str:
        """A physical file's text ("" when it cannot be read: it is among the skipped)."""
        if path not in self._texts:
            try:
                self._texts[path] = self.index.read_text(path)
            except InputError as err:
                self.problems.add(err.diagnostic.as_warning())
                self._texts[path] = ""
        return self._texts[path]

    def unreadable(self, path: str) -> bool:
        """Could a file not be read or parsed (it is among the skipped)?"""
        return any(problem.file == path for problem in self.problems)

    def units(self, attribute: str) -> list[Unit]:
        return [u for u in self.index.flagged(attribute) if self.wanted(u)]

    # -- what kustomize and Flux build -------------------------------------------------
    def is_referenced(self, unit: Unit) -> bool:
        """Does any kustomization name this file (resources, components, patches, generators)?

        Asked of the reference graph, never of the text: a comment that mentions the file
        name is not a listing."""
        return bool(self.flux.referrers(unit.logical, fields=None))

    def is_built(self, directory: str) -> bool:
        """Does some Flux Kustomization build this directory?"""
        return bool(self.flux.dir_appliers(directory))

    def applied_by(self, unit: Unit) -> FluxKustomization | None:
        """The Flux Kustomization that applies this file, or None when nothing does."""
        applications = self.flux.appliers(unit.logical)
        return applications[0].flux if applications else None

    def not_reached(self, directory: str, path: str, what: str) -> None:
        """A rule met a file Flux never reaches: no finding on it, one info line for its tree."""
        self.unreached.append((directory, path, what))

    @cached_property
    def built_directories(self) -> frozenset[str]:
        """Every directory of the repository that some Flux Kustomization builds (asked only
        when a file Flux never reaches needs its tree's root)."""
        return frozenset(d for d in self.index.directories() if self.is_built(d))

    def unreached_root(self, directory: str) -> str:
        """The top of the tree no Flux Kustomization reaches: the highest ancestor of directory
        with no built directory at or below it ("" when Flux builds nothing at all)."""
        built = self.built_directories
        root = directory
        while root:
            parent = posixpath.dirname(root)
            if any(is_within(d, parent) for d in built):
                break
            root = parent
        return root

    @cached_property
    def recipe_jobs(self) -> frozenset[str]:
        """Logical paths of the Jobs `codemods run` (the default recipe) would move or list: the
        Jobs of a release its chart policy matches, whose owner it can tell for sure.

        The same model and decision as the run (Context.placements), so a Job the run cannot
        place is not called an error the run would fix."""
        context = Context(self.index, Plan(self.index))  # a scratch plan: its warnings are the run's to say
        context.graph = self.flux
        found: set[str] = set()
        for mod in instantiate(load(None)):
            selector, matcher = getattr(mod, "selector", None), getattr(mod, "matcher", None)
            if isinstance(selector, ReleaseSelector) and isinstance(matcher, JobMatcher):
                found.update(p.job.unit.logical for p in context.placements(selector, matcher))
        return frozenset(found)

    # -- template drift ------------------------------------------------------------------
    def drifted_refs(self, unit: Unit) -> list[Ref]:
        """Entries the rendered copy of a kustomization file lists and its template does not
        (nothing when the template's entries are themselves templated: they cannot be compared)."""
        if unit.template is None or unit.rendered is None:
            return []
        if unit.logical not in self._drift:
            self._drift[unit.logical] = self._rendered_only(unit)
        return self._drift[unit.logical]

    def _rendered_only(self, unit: Unit) -> list[Ref]:
        assert unit.template is not None and unit.rendered is not None
        template = self.flux.kustomize_file(posixpath.dirname(unit.logical))
        if template is None or self.unreadable(unit.template.path):
            return []
        delimiters = unit.template.delimiters
        if delimiters is not None and any(
            delimiters.variable_start in ref.value or delimiters.block_start in ref.value for ref in template.refs
        ):
            return []
        try:
            rendered = parse_kustomize_file(
                Unit(unit.logical, rendered=unit.rendered), self.text_of(unit.rendered.path)
            )
        except InputError as err:
            self.problems.add(err.diagnostic.as_warning())
            return []
        if rendered is None:
            return []
        listed = {(ref.field, ref.target) for ref in template.refs}
        return [ref for ref in rendered.refs if not ref.remote and (ref.field, ref.target) not in listed]

    @cached_property
    def drift_targets(self) -> frozenset[str]:
        """Logical paths that only a rendered kustomization lists: Flux applies them today."""
        return frozenset(ref.target for unit in self.index.kustomizations() for ref in self.drifted_refs(unit))

    def depends_closure(self, ks: FluxKustomization) -> set[str]:
        """Names of every Flux Kustomization that ks waits for, directly or not."""
        seen: set[str] = set()
        stack = [d.rsplit("/", 1)[-1] for d in ks.depends_on]
        while stack:
            name = stack.pop()
            if name in seen:
                continue
            seen.add(name)
            for dep in self.flux.named(name):
                stack.extend(d.rsplit("/", 1)[-1] for d in dep.depends_on)
        return seen

    # -- Secrets ------------------------------------------------------------------------
    @cached_property
    def secret_sources(self) -> dict[str, list[SecretSource]]:
        sources: dict[str, list[SecretSource]] = {}

        def add(name: str | None, unit: Unit, node: Node, how: str) -> None:
            if name and "${" not in name:
                sources.setdefault(name, []).append(SecretSource(name, unit, line_of(node), how))

        # Declarations count wherever they are, even outside the files being reported on.
        for unit in self.index.flagged("secret_source"):
            for doc in self.docs(unit):
                if not isinstance(doc, MappingNode):
                    continue
                kind = scalar_value(first(doc, "kind"))
                api = scalar_value(first(doc, "apiVersion")) or ""
                meta = first(doc, "metadata")
                name_node = first(meta, "name")
                if kind == "Secret":
                    add(scalar_value(name_node), unit, name_node or doc, "Secret")
                elif kind == "ExternalSecret":
                    target = first(first(doc, "spec"), "target")
                    target_name = first(target, "name")
                    add(
                        scalar_value(target_name) or scalar_value(name_node),
                        unit,
                        target_name or name_node or doc,
                        "ExternalSecret",
                    )
                elif kind == "Cluster" and api.startswith("postgresql.cnpg.io/"):
                    cluster = scalar_value(name_node)
                    if cluster:
                        add(f"{cluster}-app", unit, name_node or doc, "CloudNativePG")
                        add(f"{cluster}-superuser", unit, name_node or doc, "CloudNativePG")
                elif is_helm_release(doc):
                    for key, value in mappings_below(first(first(doc, "spec"), "values")):
                        if (
                            isinstance(key, ScalarNode)
                            and _EXISTING_SECRET_KEY.search(key.value)
                            and isinstance(value, ScalarNode)
                        ):
                            add(value.value, unit, value, "existingSecret value")
        return sources


def kustomization_file(unit: Unit) -> bool:
    return posixpath.basename(unit.logical) in KUSTOMIZATION_NAMES

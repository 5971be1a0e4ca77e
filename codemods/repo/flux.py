"""Flux Kustomizations: which one builds a directory, and what it waits for."""

from __future__ import annotations

import posixpath
from dataclasses import dataclass, field

from codemods.errors import InputError
from codemods.repo.index import RepoIndex
from codemods.repo.kustomize import resource_entries
from codemods.repo.layout import is_within, normalize
from codemods.yamltext.locate import MappingNode, SequenceNode, compose, first, scalar_value

FLUX_KUSTOMIZE_GROUP = "kustomize.toolkit.fluxcd.io/"
# On an object, makes Flux delete and recreate it when an immutable field changed.
FORCE_ANNOTATION = "kustomize.toolkit.fluxcd.io/force"
MAX_OVERLAY_HOPS = 8


@dataclass(frozen=True)
class FluxKustomization:
    name: str
    namespace: str | None
    path: str  # logical directory, normalized
    depends_on: tuple[str, ...]  # "name" or "namespace/name"
    file: str  # physical file that declares it
    line: int  # 1-based line of spec.path
    force: bool = False  # spec.force: Flux recreates immutable objects that changed

    def display(self) -> str:
        return f"{self.namespace}/{self.name}" if self.namespace else self.name


def parse_flux_kustomizations(text: str, path: str, delims) -> list[FluxKustomization]:
    found = []
    for doc in compose(text, path, delims):
        if not isinstance(doc, MappingNode):
            continue
        api = scalar_value(first(doc, "apiVersion")) or ""
        if not api.startswith(FLUX_KUSTOMIZE_GROUP) or scalar_value(first(doc, "kind")) != "Kustomization":
            continue
        meta = first(doc, "metadata")
        spec = first(doc, "spec")
        path_node = first(spec, "path")
        name = scalar_value(first(meta, "name"))
        raw_path = scalar_value(path_node)
        if name is None or raw_path is None or "${" in raw_path:
            continue
        depends = []
        deps = first(spec, "dependsOn")
        if isinstance(deps, SequenceNode):
            for item in deps.value:
                dep_name = scalar_value(first(item, "name"))
                dep_ns = scalar_value(first(item, "namespace"))
                if dep_name:
                    depends.append(f"{dep_ns}/{dep_name}" if dep_ns else dep_name)
        found.append(
            FluxKustomization(
                name=name,
                namespace=scalar_value(first(meta, "namespace")),
                path=normalize(raw_path),
                depends_on=tuple(depends),
                file=path,
                line=path_node.start_mark.line + 1,  # type: ignore[union-attr]
                force=(scalar_value(first(spec, "force")) or "").lower() == "true",
            )
        )
    return found


@dataclass
class FluxGraph:
    """Lazily parsed: only files whose pre-filtered spec.path could match are ever parsed."""

    index: RepoIndex
    warnings: list[tuple[str, int | None, str]] = field(default_factory=list)
    _parsed: dict[str, list[FluxKustomization]] = field(default_factory=dict)
    _by_name: dict[str, list[FluxKustomization]] = field(default_factory=dict)

    def _kustomizations_in(self, path: str) -> list[FluxKustomization]:
        if path not in self._parsed:
            classified = self.index.layout.classify(path)
            delims = classified[1].delimiters if classified else None
            try:
                self._parsed[path] = parse_flux_kustomizations(self.index.read_text(path), path, delims)
            except InputError as err:
                # A broken ks.yaml needs no edit from us: warn, and build the graph without it.
                self.warnings.append((err.path, err.line, err.message))
                self._parsed[path] = []
        return self._parsed[path]

    def _reaches(self, build_dir: str, logical_dir: str) -> bool:
        """Does Flux, building build_dir, pull in logical_dir (through kustomize resources, or
        through the kustomization Flux generates for a directory that has none)?"""
        if build_dir == logical_dir:
            return True
        unit = self.index.kustomization(build_dir)
        if unit is None:
            # Flux generates one: the directory's manifests, plus each subdirectory, which is
            # built in turn (by its own kustomization if it has one, else generated again).
            rest = logical_dir[len(build_dir) :].lstrip("/") if build_dir else logical_dir
            child = posixpath.join(build_dir, rest.split("/", 1)[0])
            return self._reaches(child, logical_dir)
        copy = unit.primary
        try:
            listed = resource_entries(self.index.read_text(copy.path), copy.path, copy.delimiters)
        except InputError as err:
            self.warnings.append((err.path, err.line, err.message))
            return False
        for entry in listed:
            target = normalize(posixpath.join(build_dir, entry.value))
            if target != build_dir and is_within(logical_dir, target) and self._reaches(target, logical_dir):
                return True
        return False

    def declared_at(self, logical_dir: str) -> list[FluxKustomization]:
        """Flux Kustomizations whose spec.path is logical_dir; parses only pre-filtered files."""
        found: list[FluxKustomization] = []
        for unit in self.index.flagged("flux_paths"):
            facts = self.index.facts.get(unit.primary.path)
            if facts is not None and logical_dir in facts.flux_paths:
                found.extend(ks for ks in self._kustomizations_in(unit.primary.path) if ks.path == logical_dir)
        return found

    def named(self, name: str) -> list[FluxKustomization]:
        """Flux Kustomizations called name; parses only files that mention the name."""
        if name not in self._by_name:
            needle = name.encode()
            found: list[FluxKustomization] = []
            for unit in self.index.flagged("flux_paths"):
                path = unit.primary.path
                if path not in self._parsed and needle not in (self.index.root / path).read_bytes():
                    continue
                found.extend(ks for ks in self._kustomizations_in(path) if ks.name == name)
            self._by_name[name] = found
        return self._by_name[name]

    def _listed_by(self, logical_dir: str) -> list[str]:
        """Directories whose kustomization lists logical_dir (e.g. an overlay's ../base/app)."""
        needle = posixpath.basename(logical_dir)
        found: list[str] = []
        for unit in self.index.kustomizations():
            copy = unit.primary
            try:
                text = self.index.read_text(copy.path)
                if needle not in text:
                    continue
                listed = resource_entries(text, copy.path, copy.delimiters)
            except InputError as err:
                self.warnings.append((err.path, err.line, err.message))
                continue
            here = posixpath.dirname(unit.logical)
            if any(normalize(posixpath.join(here, e.value)) == logical_dir for e in listed):
                found.append(here)
        return found

    def deployer(self, logical_dir: str) -> FluxKustomization | None:
        """The Flux Kustomization whose build includes logical_dir, nearest spec.path first.

        Ancestors are tried first, from the pre-filtered paths alone. Failing that (a plain
        Flux repo: a cluster overlay lists ../base/<app>), walk up the kustomizations that
        list the directory until one is a Flux spec.path.
        """
        best: FluxKustomization | None = None
        for unit in self.index.flagged("flux_paths"):
            facts = self.index.facts.get(unit.primary.path)
            if facts is None or not any(is_within(logical_dir, p) for p in facts.flux_paths):
                continue
            for ks in self._kustomizations_in(unit.primary.path):
                closer = best is None or len(ks.path) > len(best.path)
                if is_within(logical_dir, ks.path) and closer and self._reaches(ks.path, logical_dir):
                    best = ks
        if best is not None:
            return best
        return self._deployer_through_overlays(logical_dir)

    def _deployer_through_overlays(self, logical_dir: str) -> FluxKustomization | None:
        frontier, seen = [logical_dir], {logical_dir}
        for _hop in range(MAX_OVERLAY_HOPS):
            found = [ks for d in frontier for ks in self.declared_at(d)]
            if len(found) == 1:
                return found[0]
            if len(found) > 1:
                names = ", ".join(sorted(ks.display() for ks in found))
                self.warnings.append(
                    (found[0].file, found[0].line, f"{logical_dir}/ is built by several Flux Kustomizations ({names})")
                )
                return None
            frontier = [parent for d in frontier for parent in self._listed_by(d) if parent not in seen]
            seen.update(frontier)
            if not frontier:
                return None
        return None

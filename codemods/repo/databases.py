"""Databases a repository deploys, and which Flux Kustomization applies them.

A Helm pre-install hook runs before anything else of its release exists, and Helm waits for it
(by default 5 minutes). A migration hook that needs a database which the *same* Flux
Kustomization creates therefore races that database on a fresh install: Flux applies both at
once, and the database is rarely ready in time. A database in another Flux Kustomization that
this one `dependsOn` is ready (or at least applied) first.

Recognised, by their own manifests: a CloudNativePG `Cluster`, a Zalando `postgresql`, a
Crunchy `PostgresCluster`, a StatefulSet running a PostgreSQL, MySQL or MariaDB image, and a
HelmRelease of a chart of one of those names.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from codemods.errors import InputError
from codemods.repo.graph import FluxKustomization, RepoGraph
from codemods.repo.index import Unit
from codemods.repo.workloads import chart_name, is_helm_release
from codemods.yamltext.locate import MappingNode, Node, SequenceNode, compose, first, scalar_value

_MARKERS = (
    b"postgresql.cnpg.io",
    b"acid.zalan.do",
    b"postgres-operator.crunchydata.com",
    b"StatefulSet",
    b"HelmRelease",
)
_DATABASE = re.compile(r"(?i)postgres|mysql|mariadb")
_OPERATORS = {
    ("postgresql.cnpg.io/", "Cluster"): "CloudNativePG Cluster",
    ("acid.zalan.do/", "postgresql"): "Zalando postgresql",
    ("postgres-operator.crunchydata.com/", "PostgresCluster"): "Crunchy PostgresCluster",
}


@dataclass(frozen=True)
class Database:
    what: str  # "CloudNativePG Cluster openhands-postgresql"
    file: str  # the physical file that declares it
    line: int  # 1-based line of its kind


def _images(doc: MappingNode) -> list[str]:
    pod = first(first(first(doc, "spec"), "template"), "spec")
    found = []
    for key in ("containers", "initContainers"):
        containers = first(pod, key)
        for container in containers.value if isinstance(containers, SequenceNode) else []:
            image = scalar_value(first(container, "image"))
            if image:
                found.append(image)
    return found


def database_in(doc: Node | None) -> str | None:
    """What database a manifest creates ("CloudNativePG Cluster x"), or None."""
    if not isinstance(doc, MappingNode):
        return None
    kind = scalar_value(first(doc, "kind")) or ""
    api = scalar_value(first(doc, "apiVersion")) or ""
    name = scalar_value(first(first(doc, "metadata"), "name")) or "?"
    for (group, operator_kind), label in _OPERATORS.items():
        if kind == operator_kind and api.startswith(group):
            return f"{label} {name}"
    if kind == "StatefulSet":
        image = next((i for i in _images(doc) if _DATABASE.search(i.rsplit("/", 1)[-1])), None)
        return f"StatefulSet {name} (image {image})" if image else None
    if is_helm_release(doc):
        chart = chart_name(doc)
        return f"HelmRelease {name} (chart {chart})" if chart and _DATABASE.search(chart) else None
    return None


def _declared(graph: RepoGraph, unit: Unit) -> list[Database]:
    copy = unit.primary
    data = graph.index.read_bytes(copy.path)
    if data is None or not any(marker in data for marker in _MARKERS):
        return []
    try:
        docs = compose(data.decode("utf-8"), copy.path, copy.delimiters)
    except (InputError, UnicodeDecodeError):
        return []  # a file the run could not read is said by the run itself
    found = []
    for doc in docs:
        what = database_in(doc)
        if what is not None and isinstance(doc, MappingNode):
            kind = first(doc, "kind") or doc
            found.append(Database(what, copy.path, kind.start_mark.line + 1))
    return found


def applied_with(graph: RepoGraph, logical: str) -> list[tuple[FluxKustomization, Database]]:
    """Databases that a Flux Kustomization applying the file at logical applies too."""
    owners = {(a.flux.file, graph.identity(a.flux)): a.flux for a in graph.appliers(logical)}
    if not owners:
        return []
    found: list[tuple[FluxKustomization, Database]] = []
    for other in sorted(graph.index.units):
        databases = _declared(graph, graph.index.units[other])
        if not databases:
            continue
        for app in graph.appliers(other):
            ks = owners.get((app.flux.file, graph.identity(app.flux)))
            if ks is not None:
                found.extend((ks, database) for database in databases if (ks, database) not in found)
    return found

"""The objects the codemods are about: litellm HelmReleases and stray migration Jobs."""

from __future__ import annotations

import posixpath
from dataclasses import dataclass
from typing import TypeGuard

from codemods.repo.index import Unit
from codemods.repo.selectors import LITELLM_JOB, LITELLM_RELEASE, JobMatcher, ReleaseSelector
from codemods.yamltext.locate import MappingNode, Node, compose, first, scalar_value, walk_path

HELM_RELEASE_GROUP = "helm.toolkit.fluxcd.io/"
LITELLM_VALUES_KEY = "litellm-helm"


def is_helm_release(doc: Node | None) -> TypeGuard[MappingNode]:
    return (
        isinstance(doc, MappingNode)
        and (scalar_value(first(doc, "apiVersion")) or "").startswith(HELM_RELEASE_GROUP)
        and scalar_value(first(doc, "kind")) == "HelmRelease"
    )


@dataclass(frozen=True)
class Release:
    """A Flux HelmRelease whose values configure the litellm-helm sub-chart."""

    unit: Unit
    name: str
    namespace: str | None
    line: int  # 1-based line of the litellm-helm key in the primary copy

    @property
    def directory(self) -> str:
        return posixpath.dirname(self.unit.logical)


@dataclass(frozen=True)
class MigrationJob:
    unit: Unit
    name: str
    namespace: str | None
    line: int
    only_document: bool  # the file holds nothing but this Job, so it can move whole

    @property
    def directory(self) -> str:
        return posixpath.dirname(self.unit.logical)


def chart_name(doc: Node | None) -> str | None:
    """The chart a HelmRelease installs: spec.chart.spec.chart, else the chartRef's name."""
    spec = first(doc, "spec")
    name = scalar_value(first(first(first(spec, "chart"), "spec"), "chart"))
    if name:
        return name.rsplit("/", 1)[-1]
    return scalar_value(first(first(spec, "chartRef"), "name"))


def _values_keys(doc: MappingNode, key: str) -> list[Node]:
    keys: list[Node] = []
    for values in walk_path(doc, ("spec", "values")):
        if isinstance(values, MappingNode):
            keys.extend(k for k, _v in values.value if scalar_value(k) == key)
    return keys


def is_selected(doc: Node | None, selector: ReleaseSelector) -> bool:
    if not is_helm_release(doc):
        return False
    if selector.chart is not None:
        return chart_name(doc) == selector.chart
    return bool(_values_keys(doc, selector.values_key))


def find_releases(unit: Unit, text: str, selector: ReleaseSelector = LITELLM_RELEASE) -> list[Release]:
    copy = unit.primary
    found = []
    for doc in compose(text, copy.path, copy.delimiters):
        if not is_selected(doc, selector):
            continue
        meta = first(doc, "metadata")
        keys = _values_keys(doc, selector.values_key)  # type: ignore[arg-type]
        where = keys[0] if keys else (first(doc, "kind") or doc)
        name = scalar_value(first(meta, "name")) or ""
        found.append(Release(unit, name, scalar_value(first(meta, "namespace")), where.start_mark.line + 1))  # type: ignore[union-attr]
    return found


def find_migration_jobs(unit: Unit, text: str, matcher: JobMatcher = LITELLM_JOB) -> list[MigrationJob]:
    copy = unit.primary
    docs = [d for d in compose(text, copy.path, copy.delimiters) if d is not None]
    found = []
    for doc in docs:
        if not isinstance(doc, MappingNode) or scalar_value(first(doc, "kind")) != "Job":
            continue
        if not (scalar_value(first(doc, "apiVersion")) or "").startswith("batch/"):
            continue
        meta = first(doc, "metadata")
        name = scalar_value(first(meta, "name")) or ""
        body = text[doc.start_mark.index : doc.end_mark.index]
        if not matcher.name_re.search(name) or not matcher.text_re.search(body):
            continue
        found.append(
            MigrationJob(unit, name, scalar_value(first(meta, "namespace")), doc.start_mark.line + 1, len(docs) == 1)
        )
    return found

"""The objects the codemods are about: litellm HelmReleases and stray migration Jobs."""

from __future__ import annotations

import posixpath
import re
from dataclasses import dataclass

from codemods.repo.index import Unit
from codemods.yamltext.locate import MappingNode, Node, compose, first, scalar_value, walk_path

HELM_RELEASE_GROUP = "helm.toolkit.fluxcd.io/"
LITELLM_VALUES_KEY = "litellm-helm"
_MIGRATION_NAME = re.compile(r"(?i)migrat")
_LITELLM = re.compile(r"(?i)litellm")


def is_helm_release(doc: Node | None) -> bool:
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


def find_releases(unit: Unit, text: str) -> list[Release]:
    copy = unit.primary
    found = []
    for doc in compose(text, copy.path, copy.delimiters):
        if not is_helm_release(doc):
            continue
        for block_key in _litellm_keys(doc):
            meta = first(doc, "metadata")
            name = scalar_value(first(meta, "name")) or ""
            found.append(Release(unit, name, scalar_value(first(meta, "namespace")), block_key.start_mark.line + 1))
            break
    return found


def _litellm_keys(doc: MappingNode) -> list[Node]:
    keys = []
    for values in walk_path(doc, ("spec", "values")):
        if isinstance(values, MappingNode):
            keys.extend(k for k, _v in values.value if scalar_value(k) == LITELLM_VALUES_KEY)
    return keys


def find_migration_jobs(unit: Unit, text: str) -> list[MigrationJob]:
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
        if not _MIGRATION_NAME.search(name) or not _LITELLM.search(body):
            continue
        found.append(
            MigrationJob(unit, name, scalar_value(first(meta, "namespace")), doc.start_mark.line + 1, len(docs) == 1)
        )
    return found

"""The objects the codemods are about: litellm HelmReleases and stray migration Jobs."""

from __future__ import annotations

import json
import posixpath
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TypeGuard

from codemods.repo.index import Unit
from codemods.repo.selectors import LITELLM_JOB, JobMatcher, ReleaseSelector
from codemods.yamltext.jinja import Delimiters
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
    walk_path,
)
from codemods.yamltext.mapping import add_first_child, child_step
from codemods.yamltext.splice import Splice, apply_splices, insert_lines_after

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
    """The chart a HelmRelease installs, from its own text: spec.chart.spec.chart, else the chartRef's name."""
    spec = first(doc, "spec")
    name = scalar_value(first(first(first(spec, "chart"), "spec"), "chart"))
    if name:
        return name.rsplit("/", 1)[-1]
    return scalar_value(first(first(spec, "chartRef"), "name"))


def chart_from_url(url: str) -> str:
    """oci://ghcr.io/berriai/litellm-helm:0.1.2 (or @sha256:...) -> litellm-helm."""
    last = url.rstrip("/").rsplit("/", 1)[-1]
    return last.split("@", 1)[0].split(":", 1)[0]


def chart_source(doc: Node | None) -> tuple[str | None, str | None, str | None]:
    """(kind, name, chart) of an OCIRepository (chart from its url) or a HelmChart (spec.chart)."""
    kind = scalar_value(first(doc, "kind"))
    name = scalar_value(first(first(doc, "metadata"), "name"))
    spec = first(doc, "spec")
    if kind == "OCIRepository":
        url = scalar_value(first(spec, "url"))
        return kind, name, chart_from_url(url) if url else None
    if kind == "HelmChart":
        chart = scalar_value(first(spec, "chart"))
        return kind, name, chart.rsplit("/", 1)[-1] if chart else None
    return None, None, None


# A chart version nothing here can tell: a digest, a chart built from a GitRepository or a
# Bucket (its own Chart.yaml decides), an ambiguous or missing source. Neither old nor new.
UNKNOWN_VERSION = "(unknown)"
_BUILT_FROM_FILES = ("GitRepository", "Bucket")


def source_version(doc: Node | None) -> str | None:
    """The chart version an OCIRepository (spec.ref.digest, semver, else tag) or a HelmChart
    (spec.version) pins: a version, a range or a digest; None when it floats."""
    spec = first(doc, "spec")
    if scalar_value(first(doc, "kind")) == "OCIRepository":
        ref = first(spec, "ref")
        # Flux's precedence: digest (no version: nothing is known of it), then semver, then tag.
        return (
            scalar_value(first(ref, "digest")) or scalar_value(first(ref, "semver")) or scalar_value(first(ref, "tag"))
        )
    if scalar_value(first(first(spec, "sourceRef"), "kind")) in _BUILT_FROM_FILES:
        return UNKNOWN_VERSION  # Flux ignores spec.version for these
    return scalar_value(first(spec, "version"))


def chart_identity(doc: Node | None) -> str | None:
    """The chart a HelmRelease's spec.chart installs (spec.chart.spec.chart), or the name its
    chartRef gives (the Context resolves a chartRef to its source's chart: issue 11 §4)."""
    spec = first(doc, "spec")
    name = scalar_value(first(first(first(spec, "chart"), "spec"), "chart"))
    if name:
        return name.rsplit("/", 1)[-1]
    return scalar_value(first(first(spec, "chartRef"), "name"))


def chart_version(doc: Node | None) -> str | None:
    """The chart version (or range) a HelmRelease's spec.chart installs; None when it floats.
    (A chartRef's version is its source's: see source_version.)"""
    template = first(first(first(doc, "spec"), "chart"), "spec")
    if scalar_value(first(first(template, "sourceRef"), "kind")) in _BUILT_FROM_FILES:
        return UNKNOWN_VERSION  # Flux ignores spec.version: the chart's own Chart.yaml decides
    return scalar_value(first(template, "version"))


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
            MigrationJob(
                unit, name, literal_value(text, first(meta, "namespace")), doc.start_mark.line + 1, len(docs) == 1
            )
        )
    return found


def set_name(text: str, path: str, delims: Delimiters | None, name: str) -> str | None:
    """Text with metadata.name of its one document set to name, when it is written as a plain
    literal (not a Jinja expression, an alias or a quoted string with escapes)."""
    docs = [d for d in compose(text, path, delims) if isinstance(d, MappingNode)]
    if len(docs) != 1:
        return None
    current = first(first(docs[0], "metadata"), "name")
    if not isinstance(current, ScalarNode) or current.style is not None:
        return None
    if text[current.start_mark.index : current.end_mark.index] != current.value or current.value == name:
        return None
    return apply_splices(text, [Splice(current.start_mark.index, current.end_mark.index, name)])


def set_namespace(text: str, path: str, delims: Delimiters | None, namespace: str) -> str | None:
    """Text with metadata.namespace of its one document set to namespace, right after `name:`."""
    docs = [d for d in compose(text, path, delims) if isinstance(d, MappingNode)]
    if len(docs) != 1:
        return None
    meta_entries = entries(docs[0], "metadata")
    if not meta_entries:
        return None
    meta_key, meta = meta_entries[0]
    current = first(meta, "namespace")
    if isinstance(current, ScalarNode):
        if current.value == namespace:
            return None
        return apply_splices(text, [Splice(current.start_mark.index, current.end_mark.index, namespace)])
    name = entries(meta, "name")
    if not isinstance(meta, MappingNode) or meta.flow_style or not name:
        item = f"namespace: {namespace}"
        return apply_splices(text, [add_first_child(text, meta_key, meta, [item], item, 2)])
    name_key, name_value = name[0]
    indent = " " * name_key.start_mark.column
    end = max(name_value.end_mark.index - 1, name_key.end_mark.index)
    return apply_splices(text, [insert_lines_after(text, end, [f"{indent}namespace: {namespace}"])])


_PLAIN_KEY = re.compile(r"[A-Za-z0-9][A-Za-z0-9_./-]*")


_PLAIN_VALUE = re.compile(r"[A-Za-z_][A-Za-z0-9_./-]*")
# Words YAML 1.1 or 1.2 reads as something other than a string (a label value must stay one).
_NOT_STRINGS = {"y", "n", "yes", "no", "on", "off", "true", "false", "null", "nan", "inf"}


def _quoted(value: str) -> str:
    """A label or annotation value as a YAML string: plain where YAML reads it back as the same
    string (as people write them), double-quoted otherwise (`true`, `1.0`, `a: b`)."""
    if _PLAIN_VALUE.fullmatch(value) and value.lower() not in _NOT_STRINGS:
        return value
    return json.dumps(value, ensure_ascii=False)


def add_metadata(
    text: str,
    path: str,
    delims: Delimiters | None,
    section: str,
    items: Sequence[tuple[str, str]],
    at: tuple[str, ...] = ("metadata",),
) -> str | None:
    """Text with `items` added under <at>.<section> (labels, annotations) of its one document,
    in the file's own style (the mapping at `at` is made when missing, below an existing
    parent); keys already there are left as they are. None when nothing is added or the file
    is not one mapping document."""
    docs = [d for d in compose(text, path, delims) if isinstance(d, MappingNode)]
    if len(docs) != 1:
        return None
    parent_key: Node | None = None
    parent: Node = docs[0]
    for name in at[:-1]:
        found = entries(parent, name)
        if not found or not isinstance(found[0][1], MappingNode):
            return None
        parent_key, parent = found[0]
    lines = [f"{k if _PLAIN_KEY.fullmatch(k) else _quoted(k)}: {_quoted(v)}" for k, v in items]
    holder = entries(parent, at[-1])
    if not holder:
        if parent_key is None:
            return None
        step = child_step(parent_key, parent, 2)
        block = [f"{at[-1]}:", f"{' ' * step}{section}:", *(" " * 2 * step + line for line in lines)]
        flow = f"{at[-1]}: {{{section}: {{{', '.join(lines)}}}}}"
        return apply_splices(text, [add_first_child(text, parent_key, parent, block, flow, step)])
    meta_key, meta = holder[0]
    if not isinstance(meta, MappingNode):
        return None
    current = entries(meta, section)
    have = current[0][1] if current else None
    missing = [(k, v) for k, v in items if first(have, k) is None] if have is not None else list(items)
    if not missing:
        return None
    lines = [f"{k if _PLAIN_KEY.fullmatch(k) else _quoted(k)}: {_quoted(v)}" for k, v in missing]
    step = child_step(meta_key, meta, 2)
    if not current:
        block = [f"{section}:", *(" " * step + line for line in lines)]
        flow = f"{section}: {{{', '.join(lines)}}}"
        return apply_splices(text, [add_first_child(text, meta_key, meta, block, flow, step)])
    key, node = current[0]
    return apply_splices(text, [add_first_child(text, key, node, lines, ", ".join(lines), child_step(key, node, step))])


def set_container_image(text: str, path: str, delims: Delimiters | None, container: str, image: str) -> str | None:
    """Text with the image of the named container (or init container) of its one document's pod
    template replaced, the scalar's own quoting kept; None when nothing changes."""
    docs = [d for d in compose(text, path, delims) if isinstance(d, MappingNode)]
    if len(docs) != 1:
        return None
    splices = []
    for pod in walk_path(docs[0], ("spec", "template", "spec")):
        for key in ("initContainers", "containers"):
            items = first(pod, key)
            for item in items.value if isinstance(items, SequenceNode) else ():
                node = first(item, "image")
                if scalar_value(first(item, "name")) != container or not isinstance(node, ScalarNode):
                    continue
                if node.value != image:
                    quote = text[node.start_mark.index] if text[node.start_mark.index] in "'\"" else ""
                    splices.append(Splice(node.start_mark.index, node.end_mark.index, f"{quote}{image}{quote}"))
    return apply_splices(text, splices) if splices else None

"""Codemod: turn off a chart's TTL Job that is not a Helm hook, in Flux HelmRelease values.

By default: `litellm-helm.migrationJob.enabled: false`. The litellm-helm sub-chart's migration
Job has a TTL and is not a Helm hook; once the TTL controller deletes it, every Helm upgrade
and rollback fails with `jobs.batch "...-migrations" not found`. With the Job disabled, the
litellm proxy migrates its schema at start-up. Recipes point it at other charts' keys.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from codemods.errors import InputError
from codemods.mods.base import Context
from codemods.repo.selectors import ReleaseSelector
from codemods.repo.workloads import is_selected
from codemods.yamltext.jinja import Delimiters
from codemods.yamltext.locate import MappingNode, Node, ScalarNode, compose, entries
from codemods.yamltext.mapping import add_first_child, child_step, is_alias_of, is_empty
from codemods.yamltext.splice import Splice, apply_splices

NAME = "disable-migration-job"
WHY = "its TTL Job is not a Helm hook, so Helm fails with 'jobs.batch not found' once the Job is gone"
Scalar = bool | int | str
_TRUE = {"true", "True", "TRUE"}
_FALSE = {"false", "False", "FALSE"}
_PLAIN = re.compile(r"^[A-Za-z_][\w./-]*$")


def render_scalar(value: Scalar) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if _PLAIN.match(value) and value not in _TRUE | _FALSE | {"null", "Null", "NULL", "~"}:
        return value
    return json.dumps(value)


def _holds(node: ScalarNode, value: Scalar) -> bool:
    """Does the scalar already mean value, to Helm? A quoted "false" is a truthy string."""
    if isinstance(value, bool):
        return node.style is None and node.value in (_TRUE if value else _FALSE)
    if isinstance(value, int):
        return node.style is None and node.value == str(value)
    return node.value == value


@dataclass
class _Result:
    splices: list[Splice] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    skipped: list[tuple[int, str]] = field(default_factory=list)


def _nested_lines(path: tuple[str, ...], items: list[str], step: int) -> list[str]:
    lines = [" " * (step * depth) + f"{segment}:" for depth, segment in enumerate(path)]
    return lines + [" " * (step * len(path)) + item for item in items]


def _nested_flow(path: tuple[str, ...], items: list[str]) -> str:
    inner = ", ".join(items)
    for segment in reversed(path):
        inner = f"{segment}: {{{inner}}}"
    return inner


def _assign(
    text: str, key: Node, mapping: Node, dotted: str, assignments: Mapping[str, Scalar], step: int, out: _Result
) -> None:
    """Set every assignment in the mapping under key: replace wrong values, add missing keys."""
    where = key.start_mark.line + 1
    if not (is_empty(mapping) or isinstance(mapping, MappingNode)):
        out.skipped.append((where, f"{dotted} is not a mapping; left as it is"))
        return
    missing = [k for k in assignments if not (isinstance(mapping, MappingNode) and entries(mapping, k))]
    if missing:
        items = [f"{k}: {render_scalar(assignments[k])}" for k in missing]
        out.splices.append(add_first_child(text, key, mapping, items, ", ".join(items), step))
        why = f"{dotted} was empty" if is_empty(mapping) else "not set, so the chart's default applied"
        out.notes.extend(f"line {where}: added {dotted}.{item} ({why})" for item in items)
    for name, value in assignments.items():
        for k, v in entries(mapping, name) if isinstance(mapping, MappingNode) else []:
            line = k.start_mark.line + 1
            if not isinstance(v, ScalarNode) or is_alias_of(k, v):
                out.skipped.append((line, f"{dotted}.{name} is not a plain value; left as it is"))
                continue
            if _holds(v, value):
                continue
            new = render_scalar(value)
            if v.style is None and v.value == "" and v.start_mark.index == v.end_mark.index:
                colon = text.index(":", k.end_mark.index)
                out.splices.append(Splice(colon + 1, colon + 1, " " + new))
                was = "empty"
            else:
                was = text[v.start_mark.index : v.end_mark.index]
                out.splices.append(Splice(v.start_mark.index, v.end_mark.index, new))
            out.notes.append(f"line {line}: set {dotted}.{name}: {new} (was {was})")


def _ensure(
    text: str,
    key: Node,
    node: Node,
    path: tuple[str, ...],
    dotted: str,
    assignments: Mapping[str, Scalar],
    step: int,
    out: _Result,
) -> None:
    """Walk path below key, creating what is missing, then assign."""
    line = key.start_mark.line + 1
    if is_alias_of(key, node):
        out.skipped.append((line, f"{dotted} comes from a YAML alias; edit its anchor by hand"))
        return
    if not path:
        _assign(text, key, node, dotted, assignments, child_step(key, node, step), out)
        return
    if not (is_empty(node) or isinstance(node, MappingNode)):
        out.skipped.append((line, f"{dotted} is not a mapping; left as it is"))
        return
    children = entries(node, path[0]) if isinstance(node, MappingNode) else []
    if not children:
        inner = child_step(key, node, step)
        items = [f"{k}: {render_scalar(v)}" for k, v in assignments.items()]
        lines = _nested_lines(path, items, inner)
        out.splices.append(add_first_child(text, key, node, lines, _nested_flow(path, items), step))
        full = ".".join((dotted, *path))
        why = "" if is_empty(node) else " (not set, so the chart's default applied)"
        out.notes.extend(f"line {line}: added {full}.{item}{why}" for item in items)
        return
    for child_key, child in children:
        _ensure(text, child_key, child, path[1:], f"{dotted}.{path[0]}", assignments, child_step(key, node, step), out)


def disable_in_text(
    text: str,
    path: str,
    delims: Delimiters | None,
    values_path: tuple[str, ...] = ("litellm-helm", "migrationJob"),
    assignments: Mapping[str, Scalar] | None = None,
    chart: str | None = None,
) -> _Result:
    """Splices that make values_path hold assignments in every selected HelmRelease.

    Without chart, a release is selected by values_path[0] being in its values (a sub-chart
    key such as litellm-helm), and nothing is created above it. With chart, every release of
    that chart is selected and the whole path is created when absent.
    """
    assignments = assignments if assignments is not None else {"enabled": False}
    selector = ReleaseSelector(values_path[0], chart)
    out = _Result()
    for doc in compose(text, path, delims):
        if not is_selected(doc, selector):
            continue
        for spec_key, spec in entries(doc, "spec"):
            values_entries = entries(spec, "values")
            if chart is not None and not values_entries:
                _ensure(text, spec_key, spec, ("values", *values_path), "spec", assignments, 2, out)
                continue
            for values_key, values in values_entries:
                step = child_step(values_key, values, 2)
                if chart is not None:
                    _ensure(text, values_key, values, values_path, "values", assignments, step, out)
                    continue
                for key, block in entries(values, values_path[0]):
                    _ensure(text, key, block, values_path[1:], values_path[0], assignments, step, out)
    return out


class DisableMigrationJob:
    name = NAME
    description = "Set litellm-helm.migrationJob.enabled to false in Flux HelmRelease values (recipes: any key)."

    def __init__(
        self,
        values_path: tuple[str, ...] = ("litellm-helm", "migrationJob"),
        set: Mapping[str, Scalar] | None = None,
        chart: str | None = None,
    ) -> None:
        self.values_path = tuple(values_path)
        self.assignments = dict(set) if set is not None else {"enabled": False}
        self.chart = chart
        self.selector = ReleaseSelector(self.values_path[0], chart)

    def plan(self, ctx: Context) -> None:
        for unit in ctx.index.flagged("values_match"):
            for copy in unit.copies:
                if copy.path not in ctx.index.facts:
                    continue
                text = ctx.readable_text(copy.path, NAME)
                if text is None:
                    continue
                result = disable_in_text(
                    text, copy.path, copy.delimiters, self.values_path, self.assignments, self.chart
                )
                for line, message in result.skipped:
                    ctx.plan.warn(copy.path, line, message, NAME)
                if not result.splices:
                    continue
                try:
                    new_text = apply_splices(text, result.splices)
                except ValueError as err:
                    raise InputError(copy.path, None, f"conflicting edits: {err}") from None
                check = disable_in_text(
                    new_text, copy.path, copy.delimiters, self.values_path, self.assignments, self.chart
                )
                if check.splices:
                    raise InputError(copy.path, None, "internal check failed: the edit did not take; nothing written")
                ctx.plan.edit(NAME, copy.path, new_text, "; ".join(result.notes) + f": {WHY}")

"""Codemod: set `litellm-helm.migrationJob.enabled: false` in Flux HelmRelease values.

The litellm-helm sub-chart's migration Job has a TTL and is not a Helm hook. Once the TTL
controller deletes it, every Helm upgrade and rollback fails with `jobs.batch "...-migrations"
not found`. With the Job disabled, the litellm proxy migrates its schema at start-up.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from codemods.errors import InputError
from codemods.mods.base import Context
from codemods.repo.workloads import LITELLM_VALUES_KEY, is_helm_release
from codemods.yamltext.jinja import Delimiters
from codemods.yamltext.locate import MappingNode, Node, ScalarNode, compose, entries
from codemods.yamltext.mapping import add_first_child, child_step, is_alias_of, is_empty
from codemods.yamltext.splice import Splice, apply_splices

NAME = "disable-migration-job"
WHY = "its TTL Job is not a Helm hook, so Helm fails with 'jobs.batch not found' once the Job is gone"
_FALSE = {"false", "False", "FALSE"}


@dataclass
class _Result:
    splices: list[Splice] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    skipped: list[tuple[int, str]] = field(default_factory=list)


def _set_enabled_false(text: str, job_key: Node, job: Node, step: int, out: _Result) -> None:
    where = job_key.start_mark.line + 1
    if is_empty(job) or (isinstance(job, MappingNode) and not entries(job, "enabled")):
        out.splices.append(add_first_child(text, job_key, job, ["enabled: false"], "enabled: false", step))
        why = "migrationJob was empty" if is_empty(job) else "the chart defaults to true"
        out.notes.append(f"line {where}: added {LITELLM_VALUES_KEY}.migrationJob.enabled: false ({why})")
        return
    if not isinstance(job, MappingNode):
        out.skipped.append((where, "migrationJob is not a mapping; left as it is"))
        return
    for key, value in entries(job, "enabled"):
        line = key.start_mark.line + 1
        if not isinstance(value, ScalarNode) or is_alias_of(key, value):
            out.skipped.append((line, "migrationJob.enabled is not a plain value; left as it is"))
            continue
        if value.style is None and value.value in _FALSE:
            continue
        if value.style is None and value.value == "" and value.start_mark.index == value.end_mark.index:
            colon = text.index(":", key.end_mark.index)
            out.splices.append(Splice(colon + 1, colon + 1, " false"))
            was = "empty"
        else:
            was = text[value.start_mark.index : value.end_mark.index]
            out.splices.append(Splice(value.start_mark.index, value.end_mark.index, "false"))
        out.notes.append(f"line {line}: set {LITELLM_VALUES_KEY}.migrationJob.enabled: false (was {was})")


def _disable_in_block(text: str, key: Node, block: Node, step: int, out: _Result) -> None:
    line = key.start_mark.line + 1
    if is_alias_of(key, block):
        out.skipped.append((line, f"{LITELLM_VALUES_KEY} values come from an alias; edit its anchor by hand"))
        return
    if not (is_empty(block) or isinstance(block, MappingNode)):
        out.skipped.append((line, f"{LITELLM_VALUES_KEY} is not a mapping; left as it is"))
        return
    jobs = entries(block, "migrationJob") if isinstance(block, MappingNode) else []
    if not jobs:
        inner = child_step(key, block, step)
        lines = ["migrationJob:", " " * inner + "enabled: false"]
        out.splices.append(add_first_child(text, key, block, lines, "migrationJob: {enabled: false}", step))
        why = "" if is_empty(block) else " (the chart defaults to true)"
        out.notes.append(f"line {line}: added {LITELLM_VALUES_KEY}.migrationJob.enabled: false{why}")
        return
    for job_key, job in jobs:
        if is_alias_of(job_key, job):
            out.skipped.append(
                (job_key.start_mark.line + 1, "migrationJob comes from an alias; edit its anchor by hand")
            )
            continue
        _set_enabled_false(text, job_key, job, child_step(key, block, step), out)


def disable_in_text(text: str, path: str, delims: Delimiters | None) -> _Result:
    out = _Result()
    for doc in compose(text, path, delims):
        if not is_helm_release(doc):
            continue
        for spec_key, spec in entries(doc, "spec"):
            for values_key, values in entries(spec, "values"):
                if not isinstance(values, MappingNode):
                    continue
                step = values.start_mark.column - values_key.start_mark.column or 2
                for key, block in entries(values, LITELLM_VALUES_KEY):
                    _disable_in_block(text, key, block, step, out)
    return out


def _verify(text: str, path: str, delims: Delimiters | None) -> None:
    """Re-read the result: it must parse and every litellm-helm block must now be disabled."""
    check = disable_in_text(text, path, delims)
    if check.splices:
        raise InputError(
            path, None, "internal check failed: the edit did not disable the migration Job; nothing written"
        )


class DisableMigrationJob:
    name = NAME
    description = "Set litellm-helm.migrationJob.enabled to false in Flux HelmRelease values."

    def plan(self, ctx: Context) -> None:
        for unit in ctx.index.flagged("litellm_values"):
            for copy in unit.copies:
                if copy.path not in ctx.index.facts:
                    continue
                text = ctx.readable_text(copy.path, NAME)
                if text is None:
                    continue
                result = disable_in_text(text, copy.path, copy.delimiters)
                for line, message in result.skipped:
                    ctx.plan.warn(copy.path, line, message, NAME)
                if not result.splices:
                    continue
                try:
                    new_text = apply_splices(text, result.splices)
                except ValueError as err:
                    raise InputError(copy.path, None, f"conflicting edits: {err}") from None
                try:
                    _verify(new_text, copy.path, copy.delimiters)
                except InputError as err:
                    raise InputError(
                        copy.path, err.line, f"the edited file would be broken ({err.message}); nothing written"
                    ) from None
                ctx.plan.edit(NAME, copy.path, new_text, "; ".join(result.notes) + f": {WHY}")

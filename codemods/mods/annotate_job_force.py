"""Opt-in codemod: let Flux recreate a Job whose spec changed.

A Job's pod template is immutable, so a Flux-applied Job fails to apply after any change (an
image bump) unless it carries `kustomize.toolkit.fluxcd.io/force: enabled` or its
Kustomization sets `spec.force`. Opt-in, because recreating a Job runs it again.
"""

from __future__ import annotations

from codemods.errors import InputError
from codemods.intents import MetadataMayGrow
from codemods.mods.base import Context, PlacementParams
from codemods.repo.flux import FORCE_ANNOTATION
from codemods.repo.needles import Needles
from codemods.repo.selectors import JobMatcher, ReleaseSelector, as_job, as_release
from codemods.yamltext.locate import MappingNode, compose, entries, first, scalar_value
from codemods.yamltext.mapping import add_first_child, child_step, is_alias_of
from codemods.yamltext.splice import Splice, apply_splices

NAME = "annotate-job-force"


def annotate_in_text(text: str, path: str, delims) -> tuple[str, list[str]]:
    """Text with the force annotation on every Job document that lacks it, and notes."""
    text, notes, _names = _annotate(text, path, delims)
    return text, notes


def _annotate(text: str, path: str, delims) -> tuple[str, list[str], list[str]]:
    """annotate_in_text, and the names of the Jobs it annotated."""
    splices: list[Splice] = []
    notes: list[str] = []
    names: list[str] = []
    for doc in compose(text, path, delims):
        if not (isinstance(doc, MappingNode) and scalar_value(first(doc, "kind")) == "Job"):
            continue
        name = scalar_value(first(first(doc, "metadata"), "name"))
        for meta_key, meta in entries(doc, "metadata"):
            if not isinstance(meta, MappingNode) or is_alias_of(meta_key, meta):
                continue
            step = child_step(meta_key, meta, 2)
            pairs = entries(meta, "annotations")
            if not pairs:
                lines = ["annotations:", " " * step + f"{FORCE_ANNOTATION}: enabled"]
                flow = "annotations: {" + f"{FORCE_ANNOTATION}: enabled" + "}"
                splices.append(add_first_child(text, meta_key, meta, lines, flow, step))
            else:
                key, annotations = pairs[0]
                if scalar_value(first(annotations, FORCE_ANNOTATION)) is not None:
                    continue  # set already, to enabled or on purpose to something else
                item = f"{FORCE_ANNOTATION}: enabled"
                splices.append(add_first_child(text, key, annotations, [item], item, step))
            notes.append(f"line {meta_key.start_mark.line + 1}: added {FORCE_ANNOTATION}: enabled")
            if name:
                names.append(name)
    return (apply_splices(text, splices) if splices else text), notes, names


class AnnotateJobForce:
    name = NAME
    description = (
        "(opt-in) Add kustomize.toolkit.fluxcd.io/force: enabled to Flux-applied Jobs, so changes can be applied."
    )
    opt_in = True

    Params = PlacementParams

    def __init__(self, job: JobMatcher | dict | None = None, release: ReleaseSelector | dict | None = None) -> None:
        self.matcher = as_job(job)
        self.selector = as_release(release)

    @property
    def needs(self) -> Needles:
        return Needles(values=self.selector.needles, jobs=(self.matcher,), every_job=True)

    def plan(self, ctx: Context) -> None:
        # where Flux will build them after this run
        handled = {p.job.unit.logical for p in ctx.placements(self.selector, self.matcher)}
        for unit in ctx.index.flagged("job"):
            if unit.logical not in handled and not ctx.graph.appliers(unit.logical):
                continue
            for copy in unit.copies:
                path = ctx.plan.moves.get(copy.path, copy.path)
                if path in ctx.plan.deletes:
                    continue
                text = ctx.readable_text(path, NAME)  # read to decide: not UTF-8, a warning
                if text is None:
                    continue
                try:
                    new_text, notes, names = _annotate(text, path, copy.delimiters)
                except InputError as err:
                    raise InputError(copy.path, err.line, err.message) from None
                for name in names:  # the annotation is all the build may show of this edit
                    ctx.plan.expect(MetadataMayGrow(f"Job {name}"))
                if notes:
                    ctx.plan.edit(
                        NAME,
                        path,
                        new_text,
                        "; ".join(notes)
                        + ": a Job's pod template is immutable, so Flux must recreate it to apply a change",
                    )

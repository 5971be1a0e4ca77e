"""Codemod: keep kustomize references in step with where migration Jobs really are.

A manifest that sits in a directory but is not listed in its kustomization is never applied
by Flux: the incident's committed "final fix" moved the Job and forgot exactly this. And a
reference left behind keeps another Flux Kustomization applying the Job, or names a file
that is gone, which fails that whole build.

Every reference that made another Flux Kustomization apply the Job goes (in ancestors,
siblings, Components, directory resources); a kustomization or Component left building
nothing is deleted, and the entries naming it in turn. The Job is listed, exactly once,
where its release's Flux Kustomization builds it.
"""

from __future__ import annotations

import posixpath

from codemods.intents import FluxRef, JobPlacement
from codemods.mods.base import Context, Placement, PlacementParams
from codemods.repo.graph import APPLYING_FIELDS, KustomizeFile, Ref
from codemods.repo.kustomize import Guard, add_entry, find_guard, in_jinja_block, lists_entry, remove_entry
from codemods.repo.needles import Needles
from codemods.repo.selectors import JobMatcher, ReleaseSelector, as_job, as_release
from codemods.yamltext.jinja import Delimiters
from codemods.yamltext.locate import compose, first, scalar_value

NAME = "sync-kustomization-resources"


class SyncKustomizationResources:
    name = NAME
    description = (
        "Remove every reference that makes another Flux Kustomization apply a migration Job, "
        "and list the Job, once, where its release's Flux Kustomization builds it."
    )

    Params = PlacementParams

    def __init__(self, job: JobMatcher | dict | None = None, release: ReleaseSelector | dict | None = None) -> None:
        self.matcher = as_job(job)
        self.selector = as_release(release)

    @property
    def needs(self) -> Needles:
        return Needles(values=self.selector.needles, jobs=(self.matcher,), every_job=False)

    def plan(self, ctx: Context) -> None:
        for placement in ctx.placements(self.selector, self.matcher):
            self._sync(ctx, placement)

    def _sync(self, ctx: Context, placement: Placement) -> None:
        job = placement.job
        placed = ctx.plan.placement(job.unit.logical)
        final = placed.destination if placed is not None else job.unit.logical
        if placement.move and final == job.unit.logical:
            return  # relocate-migration-job left it in place (and said why): its entries must stay
        guard: Guard | None = None
        listed_before: dict[bool, bool] = {}  # is_template -> a cut kustomization listed the Job
        why = f"Job {job.name} belongs to Flux Kustomization {placement.identity}, which builds {placement.target_dir}/"
        if placement.strays:
            why += f"; {', '.join(placement.strays)} applied it without waiting for the release's dependencies"
        gone: set[str] = set()
        for kustomize, ref in placement.cut:
            for copy in kustomize.unit.copies:
                text = ctx.plan.text(copy.path)
                listed_before[copy.is_template] = listed_before.get(copy.is_template, False) or lists_entry(
                    text, copy.path, copy.delimiters, ref.value, ref.field
                )
                if copy.is_template:
                    guard = find_guard(text, copy.path, copy.delimiters, ref.value, ref.field) or guard
                    line = in_jinja_block(text, copy.path, copy.delimiters, ref.value, ref.field)
                    if guard is None and line is not None:
                        ctx.plan.warn(
                            copy.path,
                            line,
                            f"{ref.value} was listed inside a Jinja block shared with other entries; "
                            f"it is listed unconditionally where it moved: check the condition",
                            NAME,
                        )
            gone.add(ref.target)
            self._unlist(ctx, kustomize, ref, f"removed {ref.value}: {why}")
        self._prune_emptied(ctx, {k.directory: k for k, _r in placement.cut}, gone, job.unit.logical)
        self._list(ctx, placement, final, guard, listed_before)
        if placed is None and placement.cut and ctx.plan.placement(final) is None:
            # It stays where its owner already builds it: the cut references are the whole
            # change, and its owner must still build the same Job.
            owner = FluxRef(placement.kustomization.file, placement.identity)
            ctx.plan.expect(JobPlacement(job.name, final, final, owner))

    def _list(
        self, ctx: Context, placement: Placement, final: str, guard: Guard | None, listed_before: dict[bool, bool]
    ) -> None:
        """List the Job where its owner builds it, unless Flux's generated kustomization does."""
        job = placement.job
        if posixpath.dirname(final) != placement.target_dir:
            return
        target = ctx.index.kustomization(placement.target_dir)
        if target is None:
            return  # Flux generates the target's kustomization: being there is being listed
        entry = posixpath.basename(final)
        reason = f"listed ./{entry}: Flux Kustomization {placement.identity} applies only what its kustomization lists"
        if guard is not None:
            reason += f" (kept its guard `{guard.opening}`)"
        for copy in target.copies:
            # A rendered copy lists the Job only if its old rendered kustomization did: that
            # is what the guard evaluated to at render time, and what a fresh render will give.
            if not copy.is_template and listed_before and not listed_before.get(False, listed_before.get(True, False)):
                continue
            text = ctx.plan.text(copy.path)
            new_text = add_entry(text, copy.path, copy.delimiters, entry, guard if copy.is_template else None)
            if new_text is not None:
                ctx.plan.edit(NAME, copy.path, new_text, reason)
                if final == job.unit.logical:
                    owner = FluxRef(placement.kustomization.file, placement.identity)
                    companions = _companions(ctx, job.unit.primary.path, job.unit.primary.delimiters, job.name)
                    ctx.plan.expect(
                        JobPlacement(
                            job.name, final, final, owner, release=placement.release.name, companions=companions
                        )
                    )

    @staticmethod
    def _unlist(ctx: Context, kustomize: KustomizeFile, ref: Ref, reason: str) -> None:
        for copy in kustomize.unit.copies:
            if copy.path in ctx.plan.deletes:
                continue
            text = ctx.plan.text(copy.path)
            new_text = remove_entry(text, copy.path, copy.delimiters, ref.value, ref.field)
            if new_text is not None:
                ctx.plan.edit(NAME, copy.path, new_text, reason)

    def _prune_emptied(self, ctx: Context, edited: dict[str, KustomizeFile], gone: set[str], moved: str) -> None:
        """Delete kustomizations and Components the cut leaves building nothing, then their entries."""
        pending = list(edited.values())
        while pending:
            kustomize = pending.pop()
            if not kustomize.builds_nothing_but(gone) or not self._deletable(ctx, kustomize, moved):
                continue
            what = "Component" if kustomize.kind == "Component" else "kustomization"
            for copy in kustomize.unit.copies:
                ctx.plan.delete(NAME, copy.path, f"removed: this {what} built nothing but the moved Job")
            gone.add(kustomize.directory)
            for parent, ref in ctx.graph.referrers(kustomize.directory, APPLYING_FIELDS):
                self._unlist(
                    ctx, parent, ref, f"removed {ref.value}: the {what} it named built nothing but the moved Job"
                )
                pending.append(parent)

    @staticmethod
    def _deletable(ctx: Context, kustomize: KustomizeFile, moved: str) -> bool:
        """Only a file whose directory holds nothing else, and that no Flux Kustomization builds directly."""
        others = [u for u in ctx.index.units_in(kustomize.directory) if u is not kustomize.unit and u.logical != moved]
        return not others and not ctx.graph.flux_at(kustomize.directory)


def _companions(ctx: Context, path: str, delimiters: Delimiters | None, job: str) -> tuple[str, ...]:
    """The other documents of the Job's file, "Kind name": listing the file applies them too."""
    text = ctx.readable_text(path, NAME)
    if text is None:
        return ()
    found = []
    for doc in compose(text, path, delimiters):
        kind, name = scalar_value(first(doc, "kind")), scalar_value(first(first(doc, "metadata"), "name"))
        if kind and name and (kind, name) != ("Job", job):
            found.append(f"{kind} {name}")
    return tuple(found)

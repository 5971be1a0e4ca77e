"""Codemod: keep kustomization `resources:` in step with where migration Jobs really are.

A manifest that sits in a directory but is not listed in its kustomization is never applied
by Flux: the incident's committed "final fix" moved the Job and forgot exactly this.
"""

from __future__ import annotations

import posixpath

from codemods.mods.base import Context, Placement
from codemods.repo.index import Unit
from codemods.repo.kustomize import Guard, add_entry, find_guard, in_jinja_block, lists_entry, remove_entry
from codemods.repo.selectors import JobMatcher, ReleaseSelector, as_job, as_release

NAME = "sync-kustomization-resources"


class SyncKustomizationResources:
    name = NAME
    description = (
        "Unlist moved migration Jobs from their old kustomization and list them, once, where Flux builds them."
    )

    def __init__(self, job: JobMatcher | dict | None = None, release: ReleaseSelector | dict | None = None) -> None:
        self.matcher = as_job(job)
        self.selector = as_release(release)

    def plan(self, ctx: Context) -> None:
        for placement in ctx.placements(self.selector, self.matcher):
            self._sync(ctx, placement)

    def _sync(self, ctx: Context, placement: Placement) -> None:
        job = placement.job
        final = ctx.plan.relocated.get(job.unit.logical, job.unit.logical)
        entry = posixpath.basename(final)
        guard: Guard | None = None
        listed_before: dict[bool, bool] = {}  # is_template -> old kustomization listed the Job
        if final != job.unit.logical:
            old = ctx.index.kustomization(job.directory)
            for copy in old.copies if old else []:
                text = ctx.plan.text(copy.path)
                listed_before[copy.is_template] = lists_entry(text, copy.path, copy.delimiters, entry)
                if copy.is_template:
                    guard = find_guard(text, copy.path, copy.delimiters, entry) or guard
                    line = in_jinja_block(text, copy.path, copy.delimiters, entry)
                    if guard is None and line is not None:
                        ctx.plan.warn(
                            copy.path,
                            line,
                            f"./{entry} was listed inside a Jinja block shared with other entries; "
                            f"it is listed unconditionally where it moved: check the condition",
                            NAME,
                        )
                new_text = remove_entry(text, copy.path, copy.delimiters, entry)
                if new_text is not None:
                    ctx.plan.edit(
                        NAME, copy.path, new_text, f"removed ./{entry}: the Job moved to {posixpath.dirname(final)}/"
                    )
        if posixpath.dirname(final) != placement.target_dir:
            return
        target = ctx.index.kustomization(placement.target_dir)
        if target is not None:
            self._list(ctx, placement, target, entry, guard, listed_before)

    @staticmethod
    def _list(
        ctx: Context,
        placement: Placement,
        target: Unit,
        entry: str,
        guard: Guard | None,
        listed_before: dict[bool, bool],
    ) -> None:
        ks = placement.kustomization
        reason = f"listed ./{entry}: Flux Kustomization {ks.display()} applies only what its kustomization lists"
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

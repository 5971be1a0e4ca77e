"""Codemod: keep kustomization `resources:` in step with where migration Jobs really are.

A manifest that sits in a directory but is not listed in its kustomization is never applied
by Flux: the incident's committed "final fix" moved the Job and forgot exactly this.
"""

from __future__ import annotations

import posixpath

from codemods.mods.base import Context
from codemods.repo.kustomize import add_entry, remove_entry

NAME = "sync-kustomization-resources"


class SyncKustomizationResources:
    name = NAME
    description = "Unlist moved migration Jobs from their old kustomization and list them, once, where Flux builds them."

    def plan(self, ctx: Context) -> None:
        for placement in ctx.placements:
            job = placement.job
            final = ctx.plan.relocated.get(job.unit.logical, job.unit.logical)
            entry = posixpath.basename(final)
            if final != job.unit.logical:
                old_dir = job.directory
                self._edit_kustomization(
                    ctx, old_dir, lambda t, p, d: remove_entry(t, p, d, entry),
                    f"removed ./{entry}: the Job moved to {posixpath.dirname(final)}/",
                )
            if posixpath.dirname(final) == placement.target_dir:
                ks = placement.kustomization
                self._edit_kustomization(
                    ctx, placement.target_dir, lambda t, p, d: add_entry(t, p, d, entry),
                    f"listed ./{entry}: Flux Kustomization {ks.display()} applies only what its kustomization lists",
                )

    @staticmethod
    def _edit_kustomization(ctx: Context, directory: str, change, reason: str) -> None:
        unit = ctx.index.kustomization(directory)
        if unit is None:
            return
        for copy in unit.copies:
            text = ctx.plan.text(copy.path)
            new_text = change(text, copy.path, copy.delimiters)
            if new_text is not None:
                ctx.plan.edit(NAME, copy.path, new_text, reason)

"""Codemod: move a stray litellm migration Job into the directory Flux builds for its release.

Only there does the Job wait for the release's `dependsOn` (database, secrets). The target is
read from the Flux graph, never assumed to be `app/`. Template and rendered copies move
together, byte-for-byte, so a fresh render reproduces the rendered tree.
"""

from __future__ import annotations

import posixpath

from codemods.intents import CarryOver, FluxRef, JobPlacement
from codemods.mods.base import Context, Placement, PlacementParams
from codemods.repo.index import Unit
from codemods.repo.layout import Copy
from codemods.repo.needles import Needles
from codemods.repo.selectors import JobMatcher, ReleaseSelector, as_job, as_release
from codemods.repo.workloads import add_metadata, set_container_image, set_name, set_namespace
from codemods.yamltext.jinja import Delimiters

NAME = "relocate-migration-job"


def _waits_for(placement: Placement) -> str:
    deps = placement.kustomization.depends_on
    return f"waits for {', '.join(deps)}" if deps else "has no dependsOn"


class RelocateMigrationJob:
    name = NAME
    description = "Move stray litellm migration Job manifests into the directory Flux builds for the release."

    Params = PlacementParams

    def __init__(self, job: JobMatcher | dict | None = None, release: ReleaseSelector | dict | None = None) -> None:
        self.matcher = as_job(job)
        self.selector = as_release(release)

    @property
    def needs(self) -> Needles:
        return Needles(values=self.selector.needles, jobs=(self.matcher,), every_job=False)

    def plan(self, ctx: Context) -> None:
        for placement in ctx.placements(self.selector, self.matcher):
            job = placement.job
            if not placement.move:
                continue
            if not job.only_document:
                ctx.plan.warn(
                    job.unit.primary.path,
                    job.line,
                    f"Job {job.name} shares its file with other documents; move it by hand",
                    NAME,
                )
                continue
            self._relocate(ctx, placement)

    def _relocate(self, ctx: Context, placement: Placement) -> None:
        job, ks, target = placement.job, placement.kustomization, placement.target_dir
        dest_logical = posixpath.join(target, posixpath.basename(job.unit.logical))
        why = (
            f"Flux Kustomization {placement.identity} ({ks.file}) builds {target}/ and {_waits_for(placement)}; "
            f"outside it, Job {job.name} runs before the release's dependencies are ready"
        )
        steps = self._steps(ctx, placement, ctx.index.units.get(dest_logical))
        if steps is None:
            return
        for action, src, dst in steps:
            if action == "move":
                ctx.plan.move(NAME, src, dst, f"moved into {target}/: {why}")
            else:
                ctx.plan.delete(NAME, src, f"removed: {dst} already holds this Job ({why})")
        owner = FluxRef(ks.file, placement.identity)
        moved = [
            (next(c for c in job.unit.copies if c.path == src), dst) for action, src, dst in steps if action == "move"
        ]
        renamed = _keep_name(ctx, placement, moved)
        ctx.plan.expect(
            JobPlacement(job.name, job.unit.logical, dest_logical, owner, None, placement.names_before, renamed)
        )
        _keep_namespace(ctx, placement, moved)
        carried = next(
            (c for c in ctx.carry if isinstance(c, CarryOver) and (c.source, c.job) == (job.unit.logical, job.name)),
            None,
        )
        if carried is not None:
            for copy, dst in moved:
                self._carry_over(ctx, carried, copy.delimiters, dst, target)

    def _steps(self, ctx: Context, placement: Placement, existing: Unit | None) -> list[tuple[str, str, str]] | None:
        """(action, src, dst) for each copy of the Job: a move into the target directory, or a
        deletion where an identical twin is already there. None, with a warning, when a copy
        cannot be placed: then nothing is moved."""
        job, target = placement.job, placement.target_dir
        steps: list[tuple[str, str, str]] = []
        for copy in job.unit.copies:
            if copy.is_template:
                dest_dir = ctx.index.layout.template_dir_for(copy.path, target)
                if dest_dir is None:
                    ctx.plan.warn(
                        copy.path, job.line, f"no template directory renders to {target}/; move it by hand", NAME
                    )
                    return None
            else:
                dest_dir = target
            dest = posixpath.join(dest_dir, posixpath.basename(copy.path))
            twin = None
            if existing is not None:
                twin = existing.template if copy.is_template else existing.rendered
            if twin is None:
                steps.append(("move", copy.path, dest))
            elif self._is_redundant(ctx, copy.path, twin.path, job.unit.template is None and not copy.is_template):
                steps.append(("delete", copy.path, twin.path))
            else:
                ctx.plan.warn(copy.path, job.line, f"{twin.path} already exists and differs; left both in place", NAME)
                return None
        return steps

    @staticmethod
    def _carry_over(ctx: Context, carried: CarryOver, delimiters: Delimiters | None, dst: str, target: str) -> None:
        """Write into the moved manifest what the kustomizations that applied it before gave it."""
        text = ctx.plan.text(dst)
        for at, section, items in carried.sections():
            new_text = add_metadata(text, dst, delimiters, section, items, at)
            if new_text is not None:
                text = new_text
        for container, image in carried.images:
            new_text = set_container_image(text, dst, delimiters, container, image)
            if new_text is not None:
                text = new_text
        if text != ctx.plan.text(dst):
            ctx.plan.edit(
                NAME,
                dst,
                text,
                f"{carried}, which {target}/ does not: without it the Job Flux builds would not be the same",
            )

    @staticmethod
    def _is_redundant(ctx: Context, path: str, twin: str, orphan_render: bool) -> bool:
        """A copy that adds nothing beside the twin already in place may be removed."""
        if ctx.plan.text(path) == ctx.plan.text(twin):
            return True
        # A rendered file with no template in a makejinja tree is a stale render: makejinja
        # never deletes outputs whose template moved away (domain-facts §1).
        return orphan_render and ctx.index.layout.is_rendered_area(posixpath.dirname(path))


def _keep_name(ctx: Context, placement: Placement, moved: list[tuple[Copy, str]]) -> str | None:
    """A name the Job had from a parent kustomization's namePrefix or nameSuffix, which the
    target does not give it, is written into the moved manifests: Flux builds the same Job.
    Returns the name written, or None."""
    name = placement.needs_name
    if name is None:
        return None
    written = False
    for copy, dst in moved:
        new_text = set_name(ctx.plan.text(dst), dst, copy.delimiters, name)
        if new_text is not None:
            written = True
            ctx.plan.edit(
                NAME,
                dst,
                new_text,
                f"metadata.name: {name}: a parent kustomization's namePrefix or nameSuffix named the Job so, "
                f"which {placement.target_dir}/ does not; Flux builds the same Job",
            )
    return name if written else None


def _keep_namespace(ctx: Context, placement: Placement, moved: list[tuple[Copy, str]]) -> None:
    """A namespace the Job had from a parent kustomization the target does not set is written
    into the moved manifests: the Job stays where it ran."""
    namespace = placement.needs_namespace
    if namespace is None:
        return
    for copy, dst in moved:
        new_text = set_namespace(ctx.plan.text(dst), dst, copy.delimiters, namespace)
        if new_text is not None:
            ctx.plan.edit(
                NAME,
                dst,
                new_text,
                f"added metadata.namespace: {namespace}: it came from a parent kustomization's namespace, "
                f"which {placement.target_dir}/ does not set; the Job stays in {namespace}",
            )

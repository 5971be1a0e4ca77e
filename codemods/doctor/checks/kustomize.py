"""Rules on what kustomize builds: manifest-not-listed, stale-render."""

from __future__ import annotations

import posixpath
import re
from collections.abc import Iterator
from pathlib import Path

from codemods import subproc
from codemods.diagnostics import Diagnostic
from codemods.doctor.model import DoctorContext, Finding, kustomization_file
from codemods.doctor.rules import RULES

_API_VERSION = re.compile(r"(?m)^apiVersion:[ \t]*\S")
_KIND = re.compile(r"(?m)^kind:[ \t]*[\"']?(\w+)")


def check(ctx: DoctorContext) -> Iterator[Diagnostic]:
    yield from _not_listed(ctx)
    yield from _stale_renders(ctx)


def _not_listed(ctx: DoctorContext) -> Iterator[Diagnostic]:
    for kustomization in ctx.index.kustomizations():
        directory = posixpath.dirname(kustomization.logical)
        built: bool | None = None  # asked once per directory, and only when a file is unlisted
        for unit in ctx.index.units_in(directory):
            if kustomization_file(unit) or not ctx.wanted(unit):
                continue
            text = ctx.text(unit)
            kinds = _KIND.findall(text)
            if not kinds or not _API_VERSION.search(text) or ctx.is_referenced(unit):
                continue
            if built is None:
                # A kustomization the model could not read (it is reported as skipped) lists
                # nothing the model can see: its neighbours are not called unlisted.
                ctx.flux.kustomize_file(directory)
                built = ctx.is_built(directory) and not ctx.unreadable(kustomization.primary.path)
            if not built:
                break  # no Flux Kustomization builds it: what it leaves out is nobody's business
            is_job = "Job" in kinds
            line = text.count("\n", 0, _KIND.search(text).start()) + 1  # type: ignore[union-attr]
            name = posixpath.basename(unit.logical)
            yield Finding(
                unit.primary.path,
                line,
                "manifest-not-listed",
                "error" if is_job else "warning",
                f"{name} ({', '.join(sorted(set(kinds)))}) sits beside {posixpath.basename(kustomization.logical)} "
                "but none of its resources, components, patches or generators references it: Flux never applies it",
                f"add ./{name} to resources in {kustomization.primary.path}"
                + (" (`codemods run` does this for litellm migration Jobs)" if is_job else "")
                + ", or delete the file",
            )


def _rendered_once(ctx: DoctorContext) -> set[str] | None:
    """Logical paths that some makejinja input rendered at any point in git history, or None
    without history. A file makejinja never rendered (a Taskfile, talhelper's output, a
    hand-added manifest) is not stale just because no template renders it today."""
    template_dirs = ctx.index.layout.template_dirs()
    limits = subproc.Limits.git()
    try:
        top = subproc.run(["git", "-C", str(ctx.index.root), "rev-parse", "--show-toplevel"], limits)
        # Only a repository of its own has the makejinja history: a tree inside another
        # project's checkout (a fixture, a vendored copy) does not.
        if top.returncode != 0 or Path(top.stdout.decode(errors="surrogateescape").strip()).resolve() != (
            ctx.index.root.resolve()
        ):
            return None
        done = subproc.run(
            ["git", "-C", str(ctx.index.root), "log", "--all", "--format=", "--name-only", "--", *template_dirs],
            limits,
        )
    except (OSError, subproc.LimitExceeded):
        return None
    if done.returncode != 0:
        return None
    rendered: set[str] = set()
    for line in done.stdout.decode(errors="surrogateescape").splitlines():
        path = line.strip()
        classified = ctx.index.layout.classify(path) if path else None
        if classified is not None and classified[1].is_template:
            rendered.add(classified[0])
    return rendered


def _stale_renders(ctx: DoctorContext) -> Iterator[Diagnostic]:
    layout = ctx.index.layout
    if not layout.template_dirs():  # no layout here renders from a template directory
        return
    history = _rendered_once(ctx)
    for unit in ctx.index.units.values():
        if unit.template is not None or unit.rendered is None or not ctx.wanted(unit):
            continue
        if history is not None and unit.logical not in history:
            continue
        for template_dir in layout.template_dirs_rendering(unit.logical):
            if (ctx.index.root / template_dir).is_dir():
                yield Finding(
                    unit.rendered.path,
                    1,
                    "stale-render",
                    RULES["stale-render"].severity,
                    f"no template in {template_dir}/ renders to this file any more; makejinja never deletes "
                    "old outputs, so it stays (and is applied if listed)",
                    "delete it (`codemods run` removes stale litellm migration Job renders)",
                )
                break

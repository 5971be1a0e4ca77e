"""Rules on what kustomize builds: manifest-not-listed, template-drift, stale-render."""

from __future__ import annotations

import posixpath
import re
from collections.abc import Iterator
from pathlib import Path

from codemods import subproc
from codemods.diagnostics import Diagnostic
from codemods.doctor.model import DoctorContext, Finding, kustomization_file
from codemods.doctor.rules import RULES
from codemods.repo.index import Unit
from codemods.yamltext.locate import MappingNode, first, scalar_value

_API_VERSION = re.compile(r"(?m)^apiVersion:[ \t]*\S")
_KIND = re.compile(r"(?m)^kind:[ \t]*[\"']?(\w+)")


def check(ctx: DoctorContext) -> Iterator[Diagnostic]:
    yield from _not_listed(ctx)
    yield from _template_drift(ctx)
    yield from _stale_renders(ctx)


# A file that says it is applied by hand is no omission. Said in a comment line at the top of the
# file (before its first YAML content), in one of these words: "applied manually", "apply by hand",
# "manually applied", or a `kubectl apply -f` / `kubectl create -f` command line (flags may come
# between). Deliberately narrow: a comment further down, or any other wording, does not count.
BY_HAND = re.compile(
    r"(?i)\bappl(?:y|ied)\s+(?:it\s+|this\s+)?(?:manually|by\s+hand)\b"
    r"|\bmanually\s+appl(?:y|ied)\b"
    r"|\bkubectl\s+(?:apply|create)\s+(?:--?[\w-]+(?:=\S+)?\s+)*-f\b"
)
# kustomize's own mark for configuration that is never applied to a cluster.
LOCAL_CONFIG = "config.kubernetes.io/local-config"


def header_comments(text: str) -> Iterator[str]:
    """The comment lines at the top of a file: before its first line of YAML content (blank
    lines, `---` and directives may come between them)."""
    for raw in text.lstrip("\ufeff").splitlines():
        line = raw.strip()
        if not line or line == "---" or line.startswith("%"):
            continue
        if not line.startswith(("#", "{#")):
            return
        yield line


def applied_by_hand(ctx: DoctorContext, unit: Unit, text: str) -> bool:
    """Does the file say it is applied by hand (a header comment), or is every object in it
    kustomize local configuration (`config.kubernetes.io/local-config: "true"`)?"""
    if any(BY_HAND.search(line) for line in header_comments(text)):
        return True
    if LOCAL_CONFIG not in text:
        return False
    objects = [doc for doc in ctx.docs(unit) if isinstance(doc, MappingNode) and first(doc, "kind") is not None]
    return bool(objects) and all(
        scalar_value(first(first(first(doc, "metadata"), "annotations"), LOCAL_CONFIG)) == "true" for doc in objects
    )


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
                if not ctx.unreadable(kustomization.primary.path):
                    ctx.not_reached(directory, unit.primary.path, "a manifest its kustomization does not list")
                continue  # no Flux Kustomization builds it: what it leaves out is nobody's business
            if unit.logical in ctx.drift_targets or applied_by_hand(ctx, unit, text):
                continue  # the rendered kustomization lists it (template-drift), or it says so
            yield _unlisted(ctx, unit, kustomization, text, kinds)


def _unlisted(ctx: DoctorContext, unit: Unit, kustomization: Unit, text: str, kinds: list[str]) -> Diagnostic:
    # Only a Job that `codemods run` places is an error: the run fixes it. Any other manifest
    # (a runbook Job, a ConfigMap) may be left out on purpose.
    is_recipe_job = "Job" in kinds and unit.logical in ctx.recipe_jobs
    line = text.count("\n", 0, _KIND.search(text).start()) + 1  # type: ignore[union-attr]
    name = posixpath.basename(unit.logical)
    return Finding(
        unit.primary.path,
        line,
        "manifest-not-listed",
        "error" if is_recipe_job else "warning",
        f"{name} ({', '.join(sorted(set(kinds)))}) sits beside {posixpath.basename(kustomization.logical)} "
        "but none of its resources, components, patches or generators references it: Flux never applies it",
        f"add ./{name} to resources in {kustomization.primary.path}"
        + (" (`codemods run` does this for litellm migration Jobs)" if is_recipe_job else "")
        + ", or delete the file"
        + ("" if is_recipe_job else ", or say in a comment at its top that it is applied by hand"),
    )


def _template_drift(ctx: DoctorContext) -> Iterator[Diagnostic]:
    for unit in ctx.index.kustomizations():
        if unit.template is None or unit.rendered is None or not ctx.wanted(unit):
            continue
        drifted = ctx.drifted_refs(unit)
        if not drifted:
            continue
        directory = posixpath.dirname(unit.logical)
        if not ctx.is_built(directory):
            ctx.not_reached(directory, unit.rendered.path, "a kustomization whose render differs from its template")
            continue
        renderer = "makejinja" if ctx.index.layout.layout_of(unit.template.path).kind == "makejinja" else "template"
        for ref in drifted:
            yield Finding(
                unit.rendered.path,
                ref.node.start_mark.line + 1,
                "template-drift",
                RULES["template-drift"].severity,
                f"{posixpath.basename(unit.rendered.path)} lists {ref.value} ({ref.field}), which its template "
                f"{unit.template.path} does not list: Flux applies it today, and the next {renderer} render "
                "drops it from the list",
                f"add {ref.value} to {ref.field} in {unit.template.path}, or remove it from {unit.rendered.path} "
                "if it should go",
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

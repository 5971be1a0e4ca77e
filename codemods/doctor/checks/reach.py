"""flux-never-reaches: one info line per tree that no Flux Kustomization builds.

The rules on how Flux applies a file (manifest-not-listed, template-drift, the Job rules) say
nothing about a file in such a tree: they tell the context here instead (DoctorContext.not_reached),
and this check says it once per tree, at the tree's top directory.
"""

from __future__ import annotations

from collections.abc import Iterator

from codemods.diagnostics import Diagnostic
from codemods.doctor.model import DoctorContext
from codemods.doctor.rules import RULES

RULE = "flux-never-reaches"


def check(ctx: DoctorContext) -> Iterator[Diagnostic]:
    """Run after every other check: it reports what they set aside."""
    if ctx.only is not None:
        return  # a run's look at the files it touches: about those files only, not about trees
    trees: dict[str, list[tuple[str, str]]] = {}
    for directory, path, what in ctx.unreached:
        trees.setdefault(ctx.unreached_root(directory), []).append((path, what))
    for root, files in trees.items():
        shown = f"{root}/" if root else "./"
        count = len({path for path, _what in files})
        example, what = min(files)
        yield Diagnostic(
            shown,
            None,
            f"no Flux Kustomization of this repository builds {shown}: how Flux would apply its files is not "
            f"judged ({count} file{'s' if count != 1 else ''} set aside, e.g. {example}, {what})",
            RULES[RULE].severity,
            RULE,
            RULE,
            fix="nothing if it is applied another way (by hand, or by another repository's Flux); otherwise "
            "point a Flux Kustomization's spec.path at it",
        )

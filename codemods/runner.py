"""Plan one repository with a chosen set of codemods. Pure planning: nothing is written here."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path

from codemods.mods import ALL, BY_NAME, Codemod, Context
from codemods.plan import Plan
from codemods.repo.index import scan


class UnknownCodemod(ValueError):
    pass


def select(only: Iterable[str] = (), skip: Iterable[str] = ()) -> list[Codemod]:
    only, skip = list(only), list(skip)
    for name in [*only, *skip]:
        if name not in BY_NAME:
            raise UnknownCodemod(f"unknown codemod {name!r}; known: {', '.join(BY_NAME)}")
    return [mod for mod in ALL if (not only or mod.name in only) and mod.name not in skip]


def plan_repository(root: Path, mods: Sequence[Codemod]) -> Plan:
    index = scan(root)
    plan = Plan(index)
    for path, why in index.skipped:
        plan.warn(path, None, why)
    ctx = Context(index, plan)
    for mod in mods:
        mod.plan(ctx)
    names = {mod.name for mod in mods}
    if plan.moves and "sync-kustomization-resources" not in names:
        plan.warn(
            ".",
            None,
            "relocate-migration-job ran without sync-kustomization-resources: moved Jobs are not listed "
            "where Flux builds them, and their old kustomization entries now point at missing files",
        )
    return plan

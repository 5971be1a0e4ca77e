"""Plan one repository with a chosen set of codemods. Pure planning: nothing is written here."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path

from codemods.mods import BY_NAME, EVERY, Codemod, Context, is_opt_in
from codemods.plan import Plan
from codemods.repo.index import scan


class UnknownCodemod(ValueError):
    pass


def select(only: Iterable[str] = (), skip: Iterable[str] = (), include: Iterable[str] = ()) -> list[Codemod]:
    """The default codemods, plus opt-in ones named in include; --only may name any."""
    only, skip, include = list(only), list(skip), list(include)
    for name in [*only, *skip, *include]:
        if name not in BY_NAME:
            raise UnknownCodemod(f"unknown codemod {name!r}; known: {', '.join(BY_NAME)}")
    if only:
        chosen = [m for m in EVERY if m.name in only]
    else:
        chosen = [m for m in EVERY if not is_opt_in(m) or m.name in include]
    return [m for m in chosen if m.name not in skip]


def plan_repository(root: Path, mods: Sequence[Codemod]) -> Plan:
    # annotate-job-force looks at every Job, so it needs the doctor's fuller pre-filter.
    index = scan(root, doctor=any(is_opt_in(m) for m in mods))
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


def touched_findings(plan: Plan) -> list:
    """The doctor's findings on the files a plan touches, in the tree as it is now."""
    from codemods.doctor import diagnose  # only runs when there is a change

    touched = set(plan.changed_files())
    if not touched:
        return []
    findings, _problems = diagnose(plan.root, only=touched)
    return findings

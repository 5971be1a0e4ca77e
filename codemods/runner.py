"""Plan one repository with a chosen set of codemods. Pure planning: nothing is written here."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path

from codemods.diagnostics import NOT_UTF8, Diagnostic
from codemods.errors import EncodingError, InputError
from codemods.intents import Adjustment, JobPlacement
from codemods.mods import Codemod, Context, factory, is_known, names, run_order
from codemods.plan import Plan
from codemods.recipes import Recipe, instantiate
from codemods.recipes import load as load_recipe
from codemods.repo.index import scan
from codemods.repo.needles import flags_alike, needles_for

MUST_EDIT_NON_UTF8 = "not valid UTF-8, and the change must edit it: save it as UTF-8 and run again"
NEEDED = "what Flux applies, and so what the change must do, depends on this file: fix it and run again"
NEEDED_NON_UTF8 = f"not valid UTF-8; {NEEDED}"


class UnknownCodemod(ValueError):
    pass


def select(
    only: Iterable[str] = (), skip: Iterable[str] = (), include: Iterable[str] = (), recipe: Recipe | None = None
) -> list[Codemod]:
    """The recipe's codemods (default: litellm-migration), plus opt-in ones named in include;
    --only may name any codemod, configured by the recipe when the recipe has it."""
    only, skip, include = list(only), list(skip), list(include)
    for name in [*only, *skip, *include]:
        if not is_known(name):
            raise UnknownCodemod(f"unknown codemod {name!r}; known: {', '.join(names())}")
    base = instantiate(recipe if recipe is not None else load_recipe(None))
    configured = {mod.name: mod for mod in base}

    def pick(name: str) -> Codemod:
        return configured.get(name) or factory(name)()

    if only:
        chosen = [pick(name) for name in set(only)]
    else:
        chosen = base + [pick(name) for name in include if name not in configured]
    chosen.sort(key=lambda m: run_order(m.name))
    return [m for m in chosen if m.name not in skip]


def plan_repository(root: Path, mods: Sequence[Codemod], carry: tuple[Adjustment, ...] = ()) -> Plan:
    """Every codemod's edits and intents for the tree at root; `carry` is what a candidate plan
    must carry over to moved Jobs (see codemods.verify.run.prove)."""
    needles = needles_for(mods)
    # The doctor's flags cost a few byte tests per file; with them the doctor can look at
    # the touched files through this same index instead of a second pass over the tree.
    index = scan(root, doctor=True, needles=needles)
    plan = Plan(index)
    for path, why in index.skipped:
        plan.warn(path, None, why)
    ctx = Context(index, plan, carry)
    try:
        for mod in mods:
            mod.plan(ctx)
        plan.changeset()  # frozen now, while the planned tree is there to read
    except EncodingError as err:
        # Read only, such a file is a warning (Context.readable_text); this one the change
        # must edit, move or delete: the run stops, like for a YAML error in it.
        raise EncodingError(err.path, err.line, MUST_EDIT_NON_UTF8) from None
    for needed in ctx.graph.needed_unreadable:
        # Where Flux applies a file, and so what the change must do, depends on this one.
        if needed.code == NOT_UTF8:
            raise EncodingError(needed.file, needed.line, NEEDED_NON_UTF8)
        raise InputError(needed.file, needed.line, f"{needed.message}; {NEEDED}", needed.column)
    _warn_what_flux_will_do(plan)
    names_run = {mod.name for mod in mods}
    if plan.moves and "sync-kustomization-resources" not in names_run:
        plan.warn(
            ".",
            None,
            "relocate-migration-job ran without sync-kustomization-resources: moved Jobs are not listed "
            "where Flux builds them, and their old kustomization entries now point at missing files",
        )
    return plan


def _warn_what_flux_will_do(plan: Plan) -> None:
    """Say what the change will make Flux do that can fail: a Job it moves or lists that reads a
    Secret declared nowhere (the doctor's model). The codemods say the rest themselves (a new
    pre-install hook that waits on a database the same Flux Kustomization creates)."""
    if not any(isinstance(intent, JobPlacement) for intent in plan.intents):
        return
    from codemods.doctor.risks import secrets_declared_nowhere  # only loaded when a Job moves

    for said in secrets_declared_nowhere(plan):
        plan.report(said, said.source)


def touched_findings(plan: Plan, *, written: bool) -> list[Diagnostic]:
    """The doctor's findings on the files a plan touches, in the tree as it is now: before the
    change (the plan's own index and graph, no second pass) or, once written, after it."""
    touched = set(plan.changed_files())
    if not touched:
        return []
    from codemods.doctor import default_needles, diagnose_index  # only loaded when there is a change

    index = plan.index
    try:
        if written or not index.doctor or not flags_alike(index.needles, default_needles()):
            index = scan(plan.root, doctor=True, needles=default_needles())
        findings, _problems = diagnose_index(index, only=touched)
    except InputError as err:
        if not written:
            raise
        # The change is written already: a file the doctor cannot read now is a finding to
        # show, never an error that would report "nothing was written" (exit 2).
        return [err.diagnostic.as_warning("doctor")]
    return findings

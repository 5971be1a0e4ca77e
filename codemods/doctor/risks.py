"""What a planned change makes Flux do that can fail, judged with the doctor's own rules.

The run's summary names it (as warnings): a Job the change moves, or lists where Flux builds
it, that reads a Secret declared nowhere in the repository (the doctor's job-secret-not-ready
model: DoctorContext.secret_sources). Before the change such a Job may not have been applied at
all, so the doctor's look at the tree before the change cannot say it.
"""

from __future__ import annotations

from codemods.diagnostics import Diagnostic, warning
from codemods.doctor.checks.jobs import DECLARATIONS, undeclared_secrets
from codemods.doctor.model import DoctorContext, line_of
from codemods.errors import InputError
from codemods.intents import JobPlacement
from codemods.plan import Plan
from codemods.yamltext.locate import MappingNode, compose, first, scalar_value

RELOCATE = "relocate-migration-job"
SYNC = "sync-kustomization-resources"


def _jobs_flux_will_run(plan: Plan) -> dict[str, str]:
    """Physical path after the change -> codemod, of each Job the plan places (JobPlacement):
    moved where its release's Flux Kustomization builds it, or listed there where it is."""
    index = plan.index
    found: dict[str, str] = {}
    for placed in plan.intents:
        if not isinstance(placed, JobPlacement):
            continue
        unit = index.units.get(placed.source)
        moved = plan.moves.get(unit.primary.path) if unit is not None else None
        if moved is not None:
            found[moved] = RELOCATE
        elif placed.destination in index.units:
            # Listed where it is, or removed as redundant beside the copy already there (which
            # the listing then applies): said of the listing either way.
            found.setdefault(index.units[placed.destination].primary.path, SYNC)
    return found


def secrets_declared_nowhere(plan: Plan) -> list[Diagnostic]:
    """A warning for each Secret that a Job the change makes Flux apply reads and nothing declares."""
    found: list[Diagnostic] = []
    jobs = _jobs_flux_will_run(plan)
    if not jobs:
        return found
    ctx = DoctorContext(plan.index)
    for path, codemod in sorted(jobs.items()):
        classified = plan.index.layout.classify(path)
        delimiters = classified[1].delimiters if classified is not None else None
        try:
            docs = compose(plan.text(path), path, delimiters)
        except InputError:
            continue  # the codemod that moved it read it: a file it could not read is said already
        for doc in docs:
            if not (isinstance(doc, MappingNode) and scalar_value(first(doc, "kind")) == "Job"):
                continue
            job = scalar_value(first(first(doc, "metadata"), "name")) or "?"
            for ref in undeclared_secrets(ctx, doc):
                found.append(
                    warning(
                        path,
                        line_of(ref),
                        f"once this change is applied, Flux runs Job {job}, which reads Secret {ref.value!r}: it is "
                        f"declared nowhere in this repository ({DECLARATIONS}), so unless it comes from outside "
                        "the Job fails",
                        codemod,
                    )
                )
    return found

"""One module per codemod; the registry keeps them in the order they must run."""

from __future__ import annotations

from codemods.mods.annotate_job_force import AnnotateJobForce
from codemods.mods.base import Codemod, Context
from codemods.mods.disable_migration_job import DisableMigrationJob
from codemods.mods.relocate_migration_job import RelocateMigrationJob
from codemods.mods.sync_kustomization_resources import SyncKustomizationResources

# Run order matters: annotate-job-force edits a Job where relocate-migration-job moved it.
EVERY: tuple[Codemod, ...] = (
    DisableMigrationJob(),
    RelocateMigrationJob(),
    SyncKustomizationResources(),
    AnnotateJobForce(),
)
BY_NAME: dict[str, Codemod] = {mod.name: mod for mod in EVERY}


def is_opt_in(mod: Codemod) -> bool:
    return bool(getattr(mod, "opt_in", False))


DEFAULT: tuple[Codemod, ...] = tuple(mod for mod in EVERY if not is_opt_in(mod))

__all__ = ["BY_NAME", "DEFAULT", "EVERY", "Codemod", "Context", "is_opt_in"]

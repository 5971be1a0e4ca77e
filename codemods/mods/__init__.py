"""One module per codemod; the registry keeps them in the order they must run."""

from __future__ import annotations

from codemods.mods.base import Codemod, Context
from codemods.mods.disable_migration_job import DisableMigrationJob
from codemods.mods.relocate_migration_job import RelocateMigrationJob
from codemods.mods.sync_kustomization_resources import SyncKustomizationResources

ALL: tuple[Codemod, ...] = (DisableMigrationJob(), RelocateMigrationJob(), SyncKustomizationResources())
BY_NAME: dict[str, Codemod] = {mod.name: mod for mod in ALL}

__all__ = ["ALL", "BY_NAME", "Codemod", "Context"]

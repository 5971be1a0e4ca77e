"""The codemod registry: the built-ins in the order they must run, then plugins.

Third-party codemods register through the entry point group `codemods.mods`: the entry
point names a class with `name`, `description` and `plan(ctx)`, constructed with the
recipe's parameters. Plugins are opt-in unless they say `opt_in = False`.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from functools import cache

from codemods.mods.annotate_job_force import AnnotateJobForce
from codemods.mods.base import Codemod, Context
from codemods.mods.disable_migration_job import DisableMigrationJob
from codemods.mods.relocate_migration_job import RelocateMigrationJob
from codemods.mods.sync_kustomization_resources import SyncKustomizationResources

ENTRY_POINT_GROUP = "codemods.mods"

# Run order matters: annotate-job-force edits a Job where relocate-migration-job moved it.
BUILTIN: dict[str, Callable[..., Codemod]] = {
    "disable-migration-job": DisableMigrationJob,
    "relocate-migration-job": RelocateMigrationJob,
    "sync-kustomization-resources": SyncKustomizationResources,
    "annotate-job-force": AnnotateJobForce,
}
EVERY: tuple[Codemod, ...] = tuple(make() for make in BUILTIN.values())


def is_opt_in(mod: object) -> bool:
    return bool(getattr(mod, "opt_in", False))


@cache
def plugins() -> dict[str, Callable[..., Codemod]]:
    """Codemods installed by other packages, by name; a broken plugin is reported, not fatal."""
    # Late: importlib.metadata and the scan of every installed distribution cost a run that
    # names only built-ins (most runs) a tenth of its time on a big repository.
    from importlib.metadata import entry_points

    found: dict[str, Callable[..., Codemod]] = {}
    for point in entry_points(group=ENTRY_POINT_GROUP):
        try:
            make = point.load()
            name = make.name
        except Exception as exc:  # noqa: BLE001 - someone else's package must not break ours
            print(f"warning: codemods plugin {point.name!r} failed to load: {exc}", file=sys.stderr)
            continue
        if name in BUILTIN:
            print(
                f"warning: codemods plugin {point.value!r} reuses the built-in name {name!r}; ignored", file=sys.stderr
            )
            continue
        if not hasattr(make, "opt_in"):
            make.opt_in = True
        found[name] = make
    return found


def factory(name: str) -> Callable[..., Codemod]:
    return BUILTIN.get(name) or plugins()[name]


def every() -> list[Codemod]:
    """Every codemod with its default parameters: built-ins first, then plugins."""
    return [*EVERY, *(make() for make in plugins().values())]


def names() -> list[str]:
    return [*BUILTIN, *plugins()]


def is_known(name: str) -> bool:
    """A built-in or an installed plugin; plugins are only looked up for a name that is not built in."""
    return name in BUILTIN or name in plugins()


def run_order(name: str) -> int:
    """Where a codemod runs among all of them: built-ins in their order, then plugins."""
    builtin = list(BUILTIN)
    return builtin.index(name) if name in BUILTIN else len(builtin) + list(plugins()).index(name)


DEFAULT: tuple[Codemod, ...] = tuple(mod for mod in EVERY if not is_opt_in(mod))

__all__ = [
    "BUILTIN",
    "DEFAULT",
    "EVERY",
    "Codemod",
    "Context",
    "every",
    "factory",
    "is_known",
    "is_opt_in",
    "names",
    "plugins",
    "run_order",
]

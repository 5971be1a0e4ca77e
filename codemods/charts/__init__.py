"""Chart knowledge: what each supported chart needs, one module per chart.

The generic layers (repo model, codemods, runner) never import these modules; a recipe names
a policy, and codemods/mods/disable_migration_job.py looks it up in POLICIES.
"""

from __future__ import annotations

from codemods.charts.base import Fix, Policy, Refusal
from codemods.charts.litellm import LITELLM

POLICIES: dict[str, Policy] = {LITELLM.name: LITELLM}

__all__ = ["POLICIES", "Fix", "Policy", "Refusal"]

"""Chart knowledge: what each supported chart needs, one module per chart.

The generic layers (repo model, codemods, runner) never import these modules; a recipe names
a policy, and codemods/mods/disable_migration_job.py looks it up in POLICIES.
"""

from __future__ import annotations

from codemods.charts.base import Fix, Policy, Refusal
from codemods.charts.grafana_oncall import GRAFANA_ONCALL
from codemods.charts.haproxy_ingress import HAPROXY_KUBERNETES_INGRESS
from codemods.charts.litellm import LITELLM

POLICIES: dict[str, Policy] = {policy.name: policy for policy in (LITELLM, GRAFANA_ONCALL, HAPROXY_KUBERNETES_INGRESS)}

__all__ = ["POLICIES", "Fix", "Policy", "Refusal"]

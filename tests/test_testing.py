"""codemods.testing: the helpers plugin authors test their codemods with (issue 20)."""

from __future__ import annotations

import pytest

from codemods.intents import EffectiveValue
from codemods.mods.disable_migration_job import DisableMigrationJob
from codemods.testing import CodemodTest, assert_snapshot_case
from tests.helpers import SNAPSHOTS

RELEASE = """\
apiVersion: helm.toolkit.fluxcd.io/v2
kind: HelmRelease
metadata:
  name: openhands
  namespace: ai
spec:
  chart:
    spec:
      chart: openhands
      version: 0.2.1
  values:
    litellm-helm:
      migrationJob:
        enabled: true  # keep this comment
"""


class TestDisable(CodemodTest):
    TRANSFORM = DisableMigrationJob

    def test_before_and_after(self) -> None:
        plan = self.assertCodemod(
            {"apps/release.yaml": RELEASE},
            {"apps/release.yaml": RELEASE.replace("enabled: true  #", "enabled: false  #")},
        )
        assert any(isinstance(i, EffectiveValue) for i in plan.intents)

    def test_a_wrong_after_fails_and_says_which_file(self) -> None:
        with pytest.raises(AssertionError, match="differs: apps/release.yaml"):
            self.assertCodemod({"apps/release.yaml": RELEASE}, {"apps/release.yaml": RELEASE})

    def test_a_missing_warning_fails(self) -> None:
        with pytest.raises(AssertionError, match="warnings not said"):
            self.assertCodemod(
                {"apps/release.yaml": RELEASE},
                {"apps/release.yaml": RELEASE.replace("enabled: true  #", "enabled: false  #")},
                warnings=["no such warning"],
            )


class AppendMarker:
    """Not idempotent on purpose: it appends its marker every time."""

    name = "append-marker"
    description = "test"

    def plan(self, ctx) -> None:
        text = ctx.plan.text("kustomization.yaml")
        ctx.plan.edit(self.name, "kustomization.yaml", text + "# marked\n", "marked")


class TestIdempotence(CodemodTest):
    TRANSFORM = AppendMarker

    def test_a_codemod_that_changes_its_own_result_again_fails(self) -> None:
        with pytest.raises(AssertionError, match="not idempotent"):
            self.assertCodemod(
                {"kustomization.yaml": "resources: []\n"}, {"kustomization.yaml": "resources: []\n# marked\n"}
            )


def test_a_snapshot_case_runs_as_the_suite_runs_it() -> None:
    assert_snapshot_case(SNAPSHOTS / "s17-namespace-from-parent")


def test_a_snapshot_case_that_needs_the_gate_runs_with_it() -> None:
    """s23's after is the second candidate's: only the gate's builds teach it."""
    assert_snapshot_case(SNAPSHOTS / "s23-parent-labels-carried-over")
    with pytest.raises(AssertionError, match="differs"):
        from codemods.runner import select
        from codemods.testing import assert_transform

        case = SNAPSHOTS / "s23-parent-labels-carried-over"
        assert_transform(select(), case / "before", case / "after", verify=False)

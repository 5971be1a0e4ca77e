"""A test plugin that plants, after the real codemods, one defect the old repository model had.

It is a real plugin (found through the `codemods.mods` entry point of the dist-info beside it,
once this directory is on PYTHONPATH), so the defect reaches the build gate through the real
`run`, `run --branch` and `batch`, exactly as a planner bug would.
"""

from __future__ import annotations

from typing import Any

OVERRIDE_PATCH = """patches:
  - target:
      kind: HelmRelease
      name: openhands
    patch: |-
      - op: add
        path: /spec/values/litellm-helm/migrationJob/enabled
        value: true
"""


class PlantDefect:
    name = "plant-defect"
    description = "Test only: plant a defect the old model had."
    opt_in = True

    def __init__(self, defect: str = "", ancestor: str = "", app: str = "") -> None:
        self.defect, self.ancestor, self.app = defect, ancestor, app

    def plan(self, ctx: Any) -> None:
        plan = ctx.plan
        original = plan.index.read_text(self.ancestor)
        if self.defect == "dangling-ancestor":
            # The Job moved, but the ancestor still lists it where it was.
            plan.edit(self.name, self.ancestor, original, "planted: the ancestor entry stays")
        elif self.defect == "emptied-kustomization":
            # The entry went, and everything else the kustomization listed with it.
            emptied = "---\napiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:\n"
            plan.edit(self.name, self.ancestor, emptied, "planted: resources left null")
        elif self.defect == "job-applied-twice":
            # The ancestor now points at the Job's new place: two Flux Kustomizations apply it.
            twice = original.replace("./migration-job.yaml", "./openhands/app/migration-job.yaml")
            plan.edit(self.name, self.ancestor, twice, "planted: listed from the ancestor too")
        elif self.defect == "value-overridden-by-patch":
            # An overlay patch sets the value back: the file says false, the build says true.
            text = plan.text(self.app)
            plan.edit(self.name, self.app, text + OVERRIDE_PATCH, "planted: a patch overrides the fix")
        else:
            raise ValueError(f"unknown defect {self.defect!r}")

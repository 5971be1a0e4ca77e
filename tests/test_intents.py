"""Typed intents and the candidate search (issue 20): codemods state postconditions, the gate
judges intents and builds without naming a codemod, and a refused plan leads to the next
candidate; a refusal lists the candidates tried and the intent each violated."""

from __future__ import annotations

import json
import shutil
import textwrap
from pathlib import Path

import jsonschema
import pytest

from codemods.intents import EffectiveValue, JobPlacement, MetadataMayGrow
from codemods.runner import plan_repository, select
from tests.helpers import ROOT, SNAPSHOTS, run_codemods, tree
from tests.test_verify import PLANT_ENV, SCHEMA, example_copy, plant_recipe

CARRIED = SNAPSHOTS / "s23-parent-labels-carried-over" / "before"


def test_codemods_state_their_intents_on_the_plan(tmp_path: Path) -> None:
    plan = plan_repository(example_copy(tmp_path), select(include=["annotate-job-force"]))
    kinds = {type(i) for i in plan.intents}
    assert kinds == {JobPlacement, EffectiveValue, MetadataMayGrow}
    placement = next(i for i in plan.intents if isinstance(i, JobPlacement))
    assert (placement.job, placement.owner.key) == ("openhands-litellm-migrations", "openhands/openhands")
    assert placement.source == "kubernetes/apps/openhands/migration-job.yaml"
    assert placement.destination == "kubernetes/apps/openhands/openhands/app/migration-job.yaml"
    value = next(i for i in plan.intents if isinstance(i, EffectiveValue))
    assert (value.release, value.path, value.value) == ("openhands", "litellm-helm.migrationJob.enabled", False)


@pytest.mark.parametrize(
    ("defect", "intent"),
    [
        ("job-applied-twice", "JobPlacement(Job openhands-litellm-migrations built by exactly openhands/openhands"),
        ("value-overridden-by-patch", "EffectiveValue(HelmRelease openhands: litellm-helm.migrationJob.enabled"),
        ("emptied-kustomization", "Unchanged(everything else)"),
    ],
)
def test_a_refusal_names_the_intent_it_found_violated(defect: str, intent: str, tmp_path: Path) -> None:
    """Its headline is the last candidate that places the Job, and each candidate tried names
    its own (the one that leaves the Job in place, tried last, has others)."""
    work = example_copy(tmp_path)
    result = run_codemods("run", "--json", "--recipe", str(plant_recipe(tmp_path, defect)), str(work), env=PLANT_ENV)
    assert result.returncode == 2, result.stderr
    report = json.loads(result.stdout)
    jsonschema.validate(report, SCHEMA)
    assert any(p["intent"].startswith(intent) for p in report["semantic"]["problems"]), report["semantic"]["problems"]
    for candidate in report["semantic"]["candidates"]:
        assert not candidate["accepted"] and all(v["intent"] for v in candidate["violated"]), candidate


def test_a_refused_candidate_leads_to_the_next_and_the_summary_says_why(tmp_path: Path) -> None:
    """A parent's labels and commonAnnotations: the plain move builds another Job (violates
    JobPlacement), the next candidate carries them over and is accepted."""
    work = tmp_path / "repo"
    shutil.copytree(CARRIED, work)
    result = run_codemods("run", "--json", str(work))
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    jsonschema.validate(report, SCHEMA)
    first, second = report["semantic"]["candidates"]
    assert (first["accepted"], second["accepted"]) == (False, True)
    assert first["candidate"] == "the change as planned"
    assert first["violated"][0]["intent"].startswith("JobPlacement(Job openhands-litellm-migrations")
    assert "would lose its label platform.example.com/team" in first["violated"][0]["message"]
    assert "label platform.example.com/team=ai" in second["candidate"]
    assert "annotation platform.example.com/owner=ai-team" in second["candidate"]
    assert "candidate 1, the change as planned: refused" in result.stderr
    assert report["semantic"]["status"] == "verified"
    moved = (work / "kubernetes/apps/openhands/openhands/app/migration-job.yaml").read_text()
    assert "    platform.example.com/team: ai\n" in moved


def test_without_the_gate_there_is_one_plan(tmp_path: Path) -> None:
    """--no-verify has no builds to learn from: the plain move, as before."""
    work = tmp_path / "repo"
    shutil.copytree(CARRIED, work)
    assert run_codemods("run", "--no-verify", str(work)).returncode == 0
    assert (
        "platform.example.com" not in (work / "kubernetes/apps/openhands/openhands/app/migration-job.yaml").read_text()
    )


PREFIX = """\
---
apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
namePrefix: prod-
"""


def test_when_no_candidate_can_keep_the_job_it_stays_and_the_values_fix_lands_alone(tmp_path: Path) -> None:
    """A parent's namePrefix renames the Job where it is: no metadata carried over makes the
    moved Job the same one, so the last candidate leaves it where it is; the values fix is not
    refused with it, and the warning and the candidates say why the Job stayed."""
    work = example_copy(tmp_path)
    parent = work / "kubernetes/apps/openhands/kustomization.yaml"
    parent.write_text(
        parent.read_text().replace("---\napiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\n", PREFIX, 1)
    )
    assert "namePrefix: prod-" in parent.read_text()
    before = tree(work)
    result = run_codemods("run", "--json", str(work))
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["semantic"]["status"] == "verified"
    *refused, accepted = report["semantic"]["candidates"]
    assert refused and all(not c["accepted"] and all(v["intent"] for v in c["violated"]) for c in refused)
    assert accepted["accepted"] and accepted["candidate"].startswith("the change without placing Job")
    # Refused only for where the Job goes: moving the values fix elsewhere is never tried.
    assert not any("spec.values" in c["candidate"] for c in report["semantic"]["candidates"])
    (warning,) = [w for w in report["warnings"] if "left where it is" in w["message"]]
    assert "migration-job.yaml" in warning["file"] and "prod-openhands-litellm-migrations" in warning["message"]
    after = tree(work)
    changed = {p for p in before.keys() | after.keys() if before.get(p) != after.get(p)}
    assert changed and all(p.endswith(("helmrelease.yaml", "helmrelease.yaml.j2")) for p in changed), changed


PLUGIN = textwrap.dedent(
    """\
    from codemods.intents import EffectiveValue


    class SetReplicas:
        name = "set-replicas"
        description = "Test only: set the release's replicaCount."

        def __init__(self, state: bool = True) -> None:
            self.state = state

        def plan(self, ctx):
            path = "kubernetes/apps/openhands/openhands/app/helmrelease.yaml"
            text = ctx.plan.text(path)
            ctx.plan.edit(self.name, path, text.replace("  values:\\n", "  values:\\n    replicaCount: 2\\n", 1), "two")
            if self.state:
                ctx.plan.expect(EffectiveValue("openhands", "replicaCount", 2, "openhands", path))
    """
)


@pytest.mark.parametrize("state", [True, False])
def test_a_plugin_gets_the_gate_for_free(state: bool, tmp_path: Path) -> None:
    """The gate never names a codemod: a plugin that states its intent is verified; the same
    edit unstated is damage (Unchanged)."""
    plugins = tmp_path / "plugins"
    plugins.mkdir()
    (plugins / "set_replicas.py").write_text(PLUGIN)
    dist = plugins / "set_replicas-0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: set-replicas\nVersion: 0\n")
    (dist / "entry_points.txt").write_text("[codemods.mods]\nset-replicas = set_replicas:SetReplicas\n")
    recipe = tmp_path / "recipe.yaml"
    recipe.write_text(
        "name: replicas\ndescription: test\nsteps:\n  - codemod: set-replicas\n"
        f"    with: {{state: {'true' if state else 'false'}}}\n"
    )
    work = example_copy(tmp_path)
    result = run_codemods("run", "--json", "--recipe", str(recipe), str(work), env={"PYTHONPATH": str(plugins)})
    report = json.loads(result.stdout)
    if state:
        assert result.returncode == 0, result.stderr
        assert report["semantic"]["status"] == "verified"
    else:
        assert result.returncode == 2, result.stderr
        problem = report["semantic"]["problems"][0]
        assert problem["intent"] == "Unchanged(everything else)"
        assert "spec.values.replicaCount" in problem["message"]


def test_the_gate_names_no_codemod() -> None:
    gate_sources = [p.read_text() for p in (ROOT / "codemods" / "verify").glob("*.py")]
    for name in (
        "disable-migration-job",
        "relocate-migration-job",
        "sync-kustomization-resources",
        "annotate-job-force",
    ):
        assert not any(name in text for text in gate_sources), name


def test_an_image_a_parent_kustomization_set_is_carried_over(tmp_path: Path) -> None:
    """A parent's `images:` transformer pins the Job's tag: the plain move would build the
    manifest's tag; the next candidate writes the pinned image into the moved manifest."""
    work = example_copy(tmp_path)
    parent = work / "kubernetes/apps/openhands/kustomization.yaml"
    parent.write_text(
        parent.read_text() + "images:\n  - name: ghcr.io/berriai/litellm-database\n    newTag: main-v1.80.0-stable\n"
    )
    result = run_codemods("run", "--json", str(work))
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    first, second = report["semantic"]["candidates"]
    assert not first["accepted"] and "image" in first["violated"][0]["message"]
    assert second["accepted"]
    assert "image ghcr.io/berriai/litellm-database:main-v1.80.0-stable for container migrations" in second["candidate"]
    moved = (work / "kubernetes/apps/openhands/openhands/app/migration-job.yaml").read_text()
    assert "image: ghcr.io/berriai/litellm-database:main-v1.80.0-stable\n" in moved
    assert run_codemods("run", "--check", str(work)).returncode == 0


def test_a_refused_valuesfrom_edit_leads_to_the_release_s_own_spec_values(tmp_path: Path) -> None:
    """The gate refuses the edit of a ConfigMap another Flux Kustomization applies; the next
    candidate carries the fix in the release's spec.values, and the candidates say so. A refusal
    only about where a Job goes never tries it (it would change nothing)."""
    from codemods.intents import ValuesInRelease

    work = tmp_path / "repo"
    shutil.copytree(SNAPSHOTS / "s38-values-source-of-another-kustomization-overridden-in-the-release" / "before", work)
    result = run_codemods("run", "--json", str(work))
    assert result.returncode == 0, result.stderr
    first, second = json.loads(result.stdout)["semantic"]["candidates"]
    assert not first["accepted"] and [v["intent"] for v in first["violated"]] == ["Unchanged(everything else)"]
    release = "kubernetes/apps/ai/openhands/app/helmrelease.yaml"
    assert second == {
        "candidate": f"the change as planned, and {ValuesInRelease(release, 'openhands')}",
        "accepted": True,
        "violated": [],
    }
    assert "        enabled: false\n" in (work / release).read_text()
    assert (work / "kubernetes/settings/openhands-flags.yaml").read_text() == (
        SNAPSHOTS / "s38-values-source-of-another-kustomization-overridden-in-the-release" / "before"
    ).joinpath("kubernetes/settings/openhands-flags.yaml").read_text()

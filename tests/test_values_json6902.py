"""JSON6902 operations and targetPath values that the tool cannot edit safely are reported, never ignored."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from tests.helpers import SNAPSHOTS, run_codemods, tree

KUSTOMIZATION = "apps/staging/kustomization.yaml"


def _staging(tmp_path: Path, operation: str) -> Path:
    work = tmp_path / "repo"
    shutil.copytree(SNAPSHOTS / "s21-json6902-inline-overlay" / "before", work)
    path = work / KUSTOMIZATION
    text = path.read_text()
    old = "      - op: replace\n        path: /spec/values/litellm-helm/migrationJob/enabled\n        value: true\n"
    assert old in text
    path.write_text(text.replace(old, operation))
    return work


@pytest.mark.parametrize(
    "operation",
    [
        "      - op: remove\n        path: /spec/values/litellm-helm/migrationJob/enabled\n",
        "      - op: remove\n        path: /spec/values/litellm-helm/migrationJob\n",
        "      - op: copy\n        from: /spec/interval\n        path: /spec/values/litellm-helm/migrationJob/enabled\n",
    ],
)
def test_an_operation_it_cannot_edit_is_reported_at_its_line(tmp_path: Path, operation: str) -> None:
    work = _staging(tmp_path, operation)
    before = tree(work)
    check = run_codemods("run", "--check", "--no-verify", str(work))
    assert check.returncode == 1, check.stderr
    assert f"{KUSTOMIZATION}:10:" in check.stderr
    run = run_codemods("run", "--no-verify", str(work))
    assert tree(work) == before, "nothing it can make safely"
    doctor = run_codemods("doctor", "--format", "json", str(work))
    findings = [f for f in json.loads(doctor.stdout)["findings"] if f["rule"] == "subchart-job-not-hook"]
    assert [(f["file"], f["line"]) for f in findings] == [(KUSTOMIZATION, 10)], run.stderr
    # Enabled by the chart's default once the operation drops the value, not "explicitly".
    assert "by the chart's default (this JSON6902 operation drops the value)" in findings[0]["message"]


def test_an_escaped_pointer_names_the_key(tmp_path: Path) -> None:
    # `~1` is `/` in a JSON pointer: this operation adds a key named "litellm-helm/migrationJob", not the
    # sub-chart's migrationJob (which the base already disables): nothing to change.
    work = _staging(
        tmp_path,
        "      - op: add\n        path: /spec/values/litellm-helm~1migrationJob\n        value: {enabled: true}\n",
    )
    check = run_codemods("run", "--check", "--no-verify", str(work))
    assert check.returncode == 0, check.stderr


def test_an_operation_s_value_is_named_by_its_path_in_the_values(tmp_path: Path) -> None:
    # An `add` of the whole sub-chart map: the edit inside its value is litellm-helm's key, and
    # the note says so (it said values.migrationJob.enabled, the umbrella chart's key).
    work = _staging(
        tmp_path,
        "      - op: add\n        path: /spec/values/litellm-helm\n        value:\n"
        "          migrationJob:\n            enabled: true\n",
    )
    run = run_codemods("run", "--no-verify", str(work))
    assert run.returncode == 0, run.stderr
    assert "set values.litellm-helm.migrationJob.enabled: false (was true)" in run.stdout + run.stderr
    assert "            enabled: false\n" in (work / KUSTOMIZATION).read_text()

"""Semantic check of every snapshot case: what Flux builds from before/ and after/ (issue 11, "Tests").

The emulator is tests/flux_harness.py, written without importing the `codemods` package, so it is a
second, independent opinion on what Flux and kustomize build. For each case it builds every Flux
Kustomization of before/ and of after/ (real `kubectl kustomize --load-restrictor LoadRestrictionsNone`)
and asserts:

1. Every Flux Kustomization build that worked before still works after, and the set of Flux
   Kustomizations (identity "namespace/name" as built) is the same.
2. Each declared migration Job is built after by exactly the declared Flux Kustomization, in the
   declared namespace, and by no other. As built after, it is the same object as before: same
   name, namespace, spec (so image); labels and annotations may only be added.
3. Each declared HelmRelease's effective values after carry the declared values. Effective values =
   spec.valuesFrom in order (ConfigMap or Secret from the same build output; valuesKey default
   values.yaml; targetPath; optional) deep-merged, then spec.values on top.
4. Every other built object is unchanged, per Flux Kustomization. Excluded: the declared Jobs; the
   declared releases, whose effective values are compared with the declared paths removed and whose
   valuesFrom names are compared without their kustomize hash suffix; and the ConfigMaps/Secrets
   that feed a declared release's valuesFrom (a generated, hash-suffixed name changes with them).
5. Cases with exit_code = 2: before and after build identically (checks 1 and 4 with nothing declared).

A case without a [semantic] table gets checks 1 and 4 with nothing declared: every built object must
be identical before and after.

case.toml format (stable; other branches write it too)
-------------------------------------------------------
    # Optional, top level (before any [table]) or inside [semantic]: the case is a known failure of
    # the harness; the test is xfail(strict=True) with this reason, so it turns green when fixed.
    semantic_xfail = "check 2: the Job stays in the namespace Kustomization"

    [semantic]
    # Optional: artifact root of a source, when it is a subdirectory of the repository (e.g. an
    # OCIRepository pushed with `flux push artifact --path=./kubernetes`). Key "Kind/namespace/name"
    # of the sourceRef (namespace defaults to the Flux Kustomization's own), value a directory
    # relative to the case tree. Sources not listed are the repository root.
    sources = { "OCIRepository/flux-system/cluster" = "kubernetes" }

    [[semantic.release]]
    name = "openhands/openhands"                 # HelmRelease namespace/name as built (after)
    values = { "litellm-helm.migrationJob.enabled" = false }   # dotted paths in the effective values
    # For keys that contain dots, the list form (each path a list of keys):
    # values = [ { path = ["litellm-helm", "migrationJob", "enabled"], value = false } ]

    [[semantic.job]]
    name = "openhands/openhands-litellm-migrations"   # Job namespace/name as built after
    flux = "openhands/openhands"                      # the only Flux Kustomization that builds it after
    # Optional, default true. false: no Flux Kustomization built the Job before (e.g. its file was
    # never listed); it is then compared (name, spec) with the Job manifest found in before/'s files.
    built_before = true
    # Optional: the Job's namespace as built before, when the case means to change it (e.g. "" for a
    # Job that had none, which Flux could not apply); default: the namespace of `name`.
    # namespace_before = ""
    # Optional: documents of the Job's file ("Kind name") that join `flux`'s build with it, new
    # there and applied by nothing before (a ConfigMap holding its script).
    # with = ["ConfigMap openhands-migrate-script"]

A Flux Kustomization's identity is "namespace/name" as built (namespace flux-system when unset).
A Job or HelmRelease that gets no namespace anywhere is named with an empty one: "/openhands".
Kustomization directories that nothing in the repository builds, but that list Flux Kustomizations
(a namespace directory applied by a cluster-level Kustomization kept outside the repository), are
built as roots whose identity is "./<dir>" (e.g. "./kubernetes/apps/ai"). `python -m tests.flux_harness
DIR` prints the identities and what each builds.
"""

from __future__ import annotations

import functools
import tomllib
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from tests.flux_harness import FluxBuild, compare, emulate

SNAPSHOTS = Path(__file__).resolve().parent.parent / "snapshots"
CASES = sorted(p.name for p in SNAPSHOTS.iterdir() if (p / "before").is_dir())
# Builds are subprocesses: two at a time (the machine has two cores), shared by every case.
_BUILDS = ThreadPoolExecutor(max_workers=2)


def case_spec(case: str) -> dict[str, Any]:
    return tomllib.loads((SNAPSHOTS / case / "case.toml").read_text())


def semantic(case: str) -> dict[str, Any]:
    table = case_spec(case).get("semantic", {})
    assert isinstance(table, dict), f"{case}: [semantic] must be a table"
    return table


def xfail_reason(case: str) -> str | None:
    spec = case_spec(case)
    return spec.get("semantic_xfail") or spec.get("semantic", {}).get("semantic_xfail")


@functools.cache
def built(case: str) -> tuple[dict[str, FluxBuild], dict[str, FluxBuild]]:
    """What Flux builds from before/ and from after/; both trees at once, so both build workers stay busy."""
    sources = semantic(case).get("sources", {})
    with ThreadPoolExecutor(max_workers=2) as trees:
        before, after = trees.map(lambda side: emulate(SNAPSHOTS / case / side, sources, _BUILDS), ["before", "after"])
    return before, after


def _case_param(case: str) -> Any:
    reason = xfail_reason(case)
    marks = [pytest.mark.xfail(strict=True, reason=reason)] if reason else []
    return pytest.param(case, marks=marks, id=case)


@pytest.mark.parametrize("case", [_case_param(c) for c in CASES])
def test_flux_builds_the_fix_and_nothing_else(case: str) -> None:
    before, after = built(case)
    assert before, f"{case}: the harness found no Flux Kustomization in before/"
    problems = compare(semantic(case), SNAPSHOTS / case / "before", before, after)
    assert not problems, f"{case}:\n" + "\n".join(problems)

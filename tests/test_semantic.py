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

A Flux Kustomization's identity is "namespace/name" as built (namespace flux-system when unset).
Kustomization directories that nothing in the repository builds, but that list Flux Kustomizations
(a namespace directory applied by a cluster-level Kustomization kept outside the repository), are
built as roots whose identity is "./<dir>" (e.g. "./kubernetes/apps/ai"). `python -m tests.flux_harness
DIR` prints the identities and what each builds.
"""

from __future__ import annotations

import functools
import re
import tomllib
from collections.abc import Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from ruamel.yaml.error import YAMLError

from tests.flux_harness import (
    FluxBuild,
    Obj,
    ValuesError,
    effective_values,
    emulate,
    load_documents,
    object_key,
    values_sources,
)

SNAPSHOTS = Path(__file__).resolve().parent.parent / "snapshots"
CASES = sorted(p.name for p in SNAPSHOTS.iterdir() if (p / "before").is_dir())
# kustomize's name hash: 10 characters of an alphabet without vowels (sigs.k8s.io/kustomize/api/hasher).
HASH_SUFFIX = re.compile(r"-[2456789bcdfghkmt]{10}$")
# Builds are subprocesses: two at a time (the machine has two cores), shared by every case.
_BUILDS = ThreadPoolExecutor(max_workers=2)

Path_ = tuple[str, ...]


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


def declared_values(release: Mapping[str, Any]) -> list[tuple[Path_, Any]]:
    """The [[semantic.release]] values as (key path, value): a table of dotted paths, or the list form."""
    values = release.get("values", {})
    if isinstance(values, dict):
        return [(tuple(dotted.split(".")), value) for dotted, value in values.items()]
    return [(tuple(item["path"]), item["value"]) for item in values]


def lookup(data: Any, path: Path_) -> tuple[bool, Any]:
    for key in path:
        if not isinstance(data, dict) or key not in data:
            return False, None
        data = data[key]
    return True, data


def without(data: Any, paths: Iterable[Path_]) -> Any:
    """A copy of data with the given key paths removed (missing paths are fine)."""
    if not isinstance(data, dict):
        return data
    heads: dict[str, list[Path_]] = {}
    removed: set[str] = set()
    for path in paths:
        if len(path) == 1:
            removed.add(path[0])
        elif path:
            heads.setdefault(path[0], []).append(path[1:])
    kept = {k: without(v, heads[k]) if k in heads else v for k, v in data.items() if k not in removed}
    # A mapping left empty by the removal is dropped too: the fix may have created it (`migrationJob:
    # {enabled: false}` where there was none), and Helm merges {} and an absent key alike.
    return {k: v for k, v in kept.items() if not (k in heads and v == {})}


def objects_by_build(results: Mapping[str, FluxBuild]) -> dict[tuple[str, str], Obj]:
    """(Flux Kustomization identity, "Kind namespace/name") -> object, for every successful build."""
    return {(identity, object_key(obj)): obj for identity, build in results.items() for obj in build.objects}


def builders_of(results: Mapping[str, FluxBuild], key: str) -> list[str]:
    return sorted(identity for identity, build in results.items() if any(object_key(o) == key for o in build.objects))


def differences(before: Any, after: Any, path: str = "") -> list[str]:
    """Leaf-level differences, "path: before -> after", so a failure names what changed."""
    if isinstance(before, dict) and isinstance(after, dict):
        out: list[str] = []
        for key in sorted(before.keys() | after.keys(), key=str):
            sub = f"{path}.{key}" if path else str(key)
            if key not in after:
                out.append(f"{sub}: {before[key]!r} -> absent")
            elif key not in before:
                out.append(f"{sub}: absent -> {after[key]!r}")
            else:
                out += differences(before[key], after[key], sub)
        return out
    if isinstance(before, list) and isinstance(after, list) and len(before) == len(after):
        return [
            d for i, (x, y) in enumerate(zip(before, after, strict=True)) for d in differences(x, y, f"{path}[{i}]")
        ]
    return [] if before == after and type(before) is type(after) else [f"{path}: {before!r} -> {after!r}"]


def same_but_added_metadata(before: Obj, after: Obj) -> str | None:
    """None when after equals before except for labels/annotations that were only added."""
    for field in ("labels", "annotations"):
        old = (before.get("metadata") or {}).get(field) or {}
        new = (after.get("metadata") or {}).get(field) or {}
        changed = sorted(k for k, v in old.items() if new.get(k) != v)
        if changed:
            return f"{field} changed or removed: {changed}"

    def core(obj: Obj) -> Obj:
        meta = {k: v for k, v in (obj.get("metadata") or {}).items() if k not in ("labels", "annotations")}
        return {**obj, "metadata": meta}

    if core(before) != core(after):
        return "differs: " + "; ".join(differences(core(before), core(after)))
    return None


def release_shape(release: Obj) -> Obj:
    """A HelmRelease without its values, and valuesFrom names without kustomize's hash suffix."""
    spec = {k: v for k, v in (release.get("spec") or {}).items() if k != "values"}
    if "valuesFrom" in spec:
        spec["valuesFrom"] = [{**ref, "name": HASH_SUFFIX.sub("", str(ref.get("name")))} for ref in spec["valuesFrom"]]
    return {**release, "spec": spec}


def job_in_files(case: str, side: str, name: str) -> list[Obj]:
    """Job manifests named `name` in the tree's YAML files (rendered files; templates are not YAML)."""
    jobs: list[Obj] = []
    root = SNAPSHOTS / case / side
    for path in sorted([*root.rglob("*.yaml"), *root.rglob("*.yml")]):
        try:
            docs = load_documents(path.read_text(encoding="utf-8-sig"))
        except (YAMLError, UnicodeDecodeError, ValueError):  # a file that does not parse holds no Job to compare
            continue
        jobs += [
            d
            for d in docs
            if isinstance(d, dict) and d.get("kind") == "Job" and (d.get("metadata") or {}).get("name") == name
        ]
    return jobs


def check_builds(before: Mapping[str, FluxBuild], after: Mapping[str, FluxBuild]) -> list[str]:
    """Check 1: the same Flux Kustomizations, and every build that worked still works."""
    problems = []
    if set(before) != set(after):
        problems.append(
            f"check 1: Flux Kustomizations differ: only before {sorted(set(before) - set(after))}, "
            f"only after {sorted(set(after) - set(before))}"
        )
    for identity in sorted(set(before) & set(after)):
        if before[identity].ok and not after[identity].ok:
            reason = after[identity].error or after[identity].not_built
            problems.append(f"check 1: {identity} ({after[identity].path}) built before, fails after: {reason}")
    return problems


def check_jobs(case: str, before: Mapping[str, FluxBuild], after: Mapping[str, FluxBuild]) -> list[str]:
    """Check 2: each declared Job is built by exactly its Flux Kustomization, and is the same object."""
    problems = []
    for job in semantic(case).get("job", []):
        namespace, name = job["name"].split("/", 1)
        key = f"Job {namespace}/{name}"
        builders = builders_of(after, key)
        if builders != [job["flux"]]:
            elsewhere = {i: [object_key(o) for o in b.objects if o.get("kind") == "Job"] for i, b in after.items()}
            problems.append(
                f"check 2: {key} is built after by {builders}, expected only {job['flux']!r}; "
                f"Jobs per build: {elsewhere}"
            )
            continue
        after_job = next(o for o in after[job["flux"]].objects if object_key(o) == key)
        if job.get("built_before", True):
            before_key = f"Job {job.get('namespace_before', namespace)}/{name}"
            instances = [o for b in before.values() for o in b.objects if object_key(o) == before_key]
            if not instances:
                problems.append(f"check 2: {before_key} is not built before (declare built_before = false?)")
            for old in instances:
                if "namespace_before" in job:
                    old = {**old, "metadata": {**(old.get("metadata") or {}), "namespace": namespace}}
                difference = same_but_added_metadata(old, after_job)
                if difference:
                    problems.append(f"check 2: {key} changed between before and after: {difference}")
        else:
            if builders_of(before, key):
                problems.append(f"check 2: {key} declared built_before = false, but before builds it")
            candidates = job_in_files(case, "before", name)
            if not any(c.get("spec") == after_job.get("spec") for c in candidates):
                problems.append(
                    f"check 2: {key} as built after matches no Job manifest {name!r} in before/ "
                    f"({len(candidates)} found)"
                )
    return problems


def releases(results: Mapping[str, FluxBuild], key: str) -> list[tuple[str, Obj]]:
    return [(i, o) for i, b in results.items() for o in b.objects if object_key(o) == key]


def check_releases(case: str, after: Mapping[str, FluxBuild]) -> list[str]:
    """Check 3: the declared releases' effective values after carry the declared values."""
    problems = []
    for release in semantic(case).get("release", []):
        key = f"HelmRelease {release['name']}"
        found = releases(after, key)
        if not found:
            problems.append(f"check 3: {key} is not built after")
        for identity, obj in found:
            try:
                values = effective_values(obj, after[identity].objects)
            except ValuesError as exc:
                problems.append(f"check 3: {key} in {identity}: effective values: {exc}")
                continue
            for path, expected in declared_values(release):
                present, actual = lookup(values, path)
                if not present or actual != expected or type(actual) is not type(expected):
                    shown = repr(actual) if present else "absent"
                    problems.append(f"check 3: {key} in {identity}: {'.'.join(path)} is {shown}, expected {expected!r}")
    return problems


def check_unchanged(case: str, before: Mapping[str, FluxBuild], after: Mapping[str, FluxBuild]) -> list[str]:
    """Check 4: every other built object is unchanged, per Flux Kustomization."""
    table = semantic(case)
    excluded_jobs = {f"Job {j['name']}" for j in table.get("job", [])}
    excluded_jobs |= {
        f"Job {j['namespace_before']}/{j['name'].split('/', 1)[1]}"
        for j in table.get("job", [])
        if "namespace_before" in j
    }
    declared = {f"HelmRelease {r['name']}": [p for p, _ in declared_values(r)] for r in table.get("release", [])}

    def feeders(results: Mapping[str, FluxBuild]) -> set[tuple[str, str]]:
        return {
            (identity, f"{kind} {namespace}/{name}")
            for identity, build in results.items()
            for obj in build.objects
            if object_key(obj) in declared
            for kind, namespace, name in values_sources(obj)
        }

    old, new = objects_by_build(before), objects_by_build(after)
    skip_old, skip_new = feeders(before), feeders(after)
    problems = []
    for ident in sorted((old.keys() - skip_old) | (new.keys() - skip_new)):
        identity, key = ident
        if key in excluded_jobs:
            continue
        if ident not in old or ident in skip_old:
            problems.append(f"check 4: {key} is new in {identity}")
            continue
        if ident not in new or ident in skip_new:
            problems.append(f"check 4: {key} is no longer built by {identity}")
            continue
        a, b = old[ident], new[ident]
        if key in declared:
            if release_shape(a) != release_shape(b):
                problems.append(
                    f"check 4: {key} in {identity} changed beyond its values:\n"
                    "  " + "; ".join(differences(release_shape(a), release_shape(b)))
                )
            try:
                values_a = without(effective_values(a, before[identity].objects), declared[key])
                values_b = without(effective_values(b, after[identity].objects), declared[key])
            except ValuesError as exc:
                problems.append(f"check 4: {key} in {identity}: effective values: {exc}")
                continue
            if values_a != values_b:
                problems.append(
                    f"check 4: {key} in {identity}: effective values changed outside the declared "
                    f"paths: " + "; ".join(differences(values_a, values_b))
                )
        elif a != b:
            problems.append(f"check 4: {key} in {identity} changed: " + "; ".join(differences(a, b)))
    return problems


def _case_param(case: str) -> Any:
    reason = xfail_reason(case)
    marks = [pytest.mark.xfail(strict=True, reason=reason)] if reason else []
    return pytest.param(case, marks=marks, id=case)


@pytest.mark.parametrize("case", [_case_param(c) for c in CASES])
def test_flux_builds_the_fix_and_nothing_else(case: str) -> None:
    before, after = built(case)
    assert before, f"{case}: the harness found no Flux Kustomization in before/"
    problems = check_builds(before, after)
    problems += check_jobs(case, before, after)
    problems += check_releases(case, after)
    problems += check_unchanged(case, before, after)
    assert not problems, f"{case}:\n" + "\n".join(problems)

"""The build gate: build every affected Flux Kustomization before and after, judge the change.

Which Flux Kustomizations a change reaches is decided here; how each is built (as Flux builds it:
the kustomization Flux generates for a directory without one, the fields it merges in,
`--load-restrictor LoadRestrictionsNone`, then post-build substitution and commonMetadata) is
codemods/verify/builds.py, in parts where that is exact (codemods/verify/decompose.py), run by
codemods/verify/building.py; the judgement of the builds against the plan's intents is _Judge.
"""

from __future__ import annotations

import copy
import hashlib
import posixpath
import tempfile
from collections.abc import Iterable, Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any, Literal

import jinja2

from codemods.flux import envsubst
from codemods.flux.envsubst import SubstitutionError
from codemods.flux.fields import KUSTOMIZATION_NAMES
from codemods.flux.spec import FLUX_KUSTOMIZE_GROUP
from codemods.intents import UNCHANGED, CarryOver, EffectiveValue
from codemods.repo.layout import relative_path
from codemods.verify import objects as o
from codemods.verify.building import REMOTE, Built, build_targets
from codemods.verify.builds import execute, flux_spec
from codemods.verify.decompose import Change
from codemods.verify.kustomize import NO_KUSTOMIZE, BuildOutput, describe
from codemods.verify.model import (
    FluxTarget,
    JobMove,
    MovedJob,
    Options,
    Problem,
    Semantic,
    TargetPreview,
    ValueChange,
    ValueExpectation,
    VerifyInput,
)
from codemods.verify.shown import MISSING, show
from codemods.verify.tree import TemplatesOnly, Tree

TEMPLATES_ONLY = "not verified: templates only"


def _is_within(path: str, directory: str) -> bool:
    return directory in ("", path) or path.startswith(directory + "/")


# -- which Flux Kustomizations a change reaches ------------------------------------------------
def includers(tree: Tree, touched: set[str], kustomizations: Iterable[str]) -> set[str]:
    """Every file or directory whose build includes a touched file, transitively, through the
    kustomization files' references. Only kustomization files that mention a name on the way
    are parsed: the rest are skipped by a byte search."""
    # A touched kustomization file (an inline patch, an entry) changes its own directory's build.
    own = {posixpath.dirname(t) for t in touched if posixpath.basename(t) in KUSTOMIZATION_NAMES}
    reach = set(touched) | own
    frontier = set(touched) | own
    texts = {k: tree.raw(k) for k in kustomizations}
    while frontier:
        found: set[str] = set()
        for kustomization, (data, unrendered) in texts.items():
            directory = posixpath.dirname(kustomization)
            if data is None or directory in reach:
                continue
            # An entry that names a node is that node's path relative to the kustomization
            # (`./x`, `x/`, `../base/x`): only a file whose bytes hold it is parsed.
            named = [
                n
                for n in frontier
                if n
                and posixpath.basename(n).encode(errors="surrogateescape") in data
                and relative_path(n, directory).encode(errors="surrogateescape") in data
            ]
            if not named:
                continue
            # A template that cannot be rendered here may list it: count it in (the build of
            # whatever includes it is then reported "templates only").
            if unrendered or any(ref in reach for ref in tree.references(kustomization)):
                reach.add(directory)
                found.add(directory)
        frontier = found
    return reach


def _generated_reach(tree: Tree, start: str, reach: set[str]) -> bool:
    """Does the kustomization Flux generates for start (which has none) include a reached node?"""
    for node in reach:
        if node == start or not _is_within(node, start):
            continue
        directory = posixpath.dirname(node)
        blocked = False
        while directory != start and _is_within(directory, start):
            if tree.kustomization(directory) is not None:
                blocked = True
                break
            directory = posixpath.dirname(directory)
        if not blocked:
            return True
    return False


def _reaches(tree: Tree, target: FluxTarget, reach: set[str]) -> bool:
    if target.path in reach or any(c in reach for c in target.components):
        return True
    try:
        generated = tree.kustomization(target.path) is None
    except TemplatesOnly:
        return True
    return generated and _generated_reach(tree, target.path, reach)


_REACH_MEMO: dict[str, tuple[Tree, Tree, set[str], set[str]]] = {}


def _reach(
    root: Path,
    writes: Mapping[str, bytes | None],
    kustomizations: Iterable[str],
    templates: Mapping[str, str],
    options: Options | None = None,
    on_disk: Mapping[str, bytes] | None = None,
) -> tuple[Tree, Tree, set[str], set[str]]:
    """The trees before and after, and what includes a touched file in each (remembered for
    the last input: the adapter asks first, then the gate with the same one). on_disk: files
    already read, the same bytes as on disk, so not part of the key."""
    jinja_vars = options.jinja_vars if options is not None else None
    key = _reach_key(root, writes, kustomizations, templates, jinja_vars)
    if key in _REACH_MEMO:  # used once: the files on disk may change before a later call
        return _REACH_MEMO.pop(key)
    result = _compute_reach(root, writes, kustomizations, templates, jinja_vars, on_disk or {})
    _REACH_MEMO.clear()
    _REACH_MEMO[key] = result
    return result


def _reach_key(
    root: Path,
    writes: Mapping[str, bytes | None],
    kustomizations: Iterable[str],
    templates: Mapping[str, str],
    jinja_vars: Mapping[str, object] | None,
) -> str:
    # Paths from the file system may hold surrogate escapes (a name that is not UTF-8): their bytes.
    hasher = hashlib.sha256(str(root.resolve()).encode(errors="surrogateescape"))
    for path, data in sorted(writes.items()):
        hasher.update(
            f"{path}\0{len(data) if data is not None else -1}\0".encode(errors="surrogateescape") + (data or b"")
        )
    hasher.update("\0".join(kustomizations).encode(errors="surrogateescape"))
    hasher.update(repr(sorted(templates.items())).encode(errors="surrogateescape") + repr(jinja_vars).encode())
    return hasher.hexdigest()


def _compute_reach(
    root: Path,
    writes: Mapping[str, bytes | None],
    kustomizations: Iterable[str],
    templates: Mapping[str, str],
    jinja_vars: Mapping[str, object] | None,
    on_disk: Mapping[str, bytes],
) -> tuple[Tree, Tree, set[str], set[str]]:
    before = Tree(root, {}, templates, jinja_vars, on_disk=on_disk)
    templates_after = {logical: t for logical, t in templates.items() if writes.get(t, b"") is not None}
    after = Tree(root, writes, templates_after, jinja_vars, base=before)
    touched = _touched(writes, templates)
    kustomizations = list(kustomizations)
    kustomizations_after = {k for k in kustomizations if writes.get(k, b"") is not None}
    kustomizations_after |= {
        p for p, d in writes.items() if d is not None and posixpath.basename(p) in KUSTOMIZATION_NAMES
    }
    return (
        before,
        after,
        includers(before, touched, kustomizations),
        includers(after, touched, sorted(kustomizations_after)),
    )


def relevant(
    root: Path,
    writes: Mapping[str, bytes | None],
    kustomizations: Iterable[str],
    templates: Mapping[str, str],
    on_disk: Mapping[str, bytes] | None = None,
) -> set[str]:
    """Files and directories whose build includes a planned write, before or after: a Flux
    Kustomization can only be affected when its spec.path is one of them or above one."""
    _before, _after, reach_before, reach_after = _reach(root, writes, kustomizations, templates, on_disk=on_disk)
    return reach_before | reach_after


# -- one build ------------------------------------------------------------------------------------
def build_alone(tree: Tree, target: FluxTarget, command: tuple[str, ...]) -> tuple[BuildOutput, list[o.Obj] | None]:
    """One Flux Kustomization built the way the gate builds it, on its own (no cache): what Flux
    would apply, as objects, or why the build fails."""
    reads: set[str] = set()
    for directory in (target.path, *target.components):
        if tree.is_dir(directory) or tree.kustomization(directory):
            reads |= tree.closure(directory)
    spec = flux_spec(tree, target.path, target.edits, reads)
    with tempfile.TemporaryDirectory(prefix="codemods-build-") as scratch:
        output = execute(spec, tree, command, Path(scratch))
    if not output.ok:
        return output, None
    try:
        return output, o.parse(output.stdout, target.variables, target.common_metadata)
    except SubstitutionError as err:
        return BuildOutput(False, output.stdout, f"post-build variable substitution failed: {err}"), None


# -- the gate -------------------------------------------------------------------------------------
def verify(root: Path, data: VerifyInput, options: Options) -> Semantic:
    if not data.writes:
        return Semantic("skipped", reason="nothing to change", all_targets=data.targets)
    if options.kustomize is None:
        return Semantic("not verified", reason=NO_KUSTOMIZE, all_targets=data.targets)
    before, after, reach_before, reach_after = _reach(
        root, data.writes, data.kustomizations, data.templates, options, data.read
    )
    wanted = {uid for m in data.moved_jobs for uid in m.owners}
    affected = [
        t
        for t in data.targets
        if t.uid in wanted
        or t.patches_after is not None
        or _reaches(before, t, reach_before)
        or _reaches(after, t, reach_after)
    ]
    previews: dict[str, TargetPreview] = {}
    buildable: list[FluxTarget] = []
    own: dict[tuple[str, str], set[str]] = {}  # (target uid, side) -> what its build reads
    for target in affected:
        try:
            for side, tree in (("before", before), ("after", after)):
                reads = own.setdefault((target.uid, side), set())
                for directory in (target.path, *target.components):
                    if tree.is_dir(directory) or tree.kustomization(directory):
                        reads |= tree.closure(directory)
        except (TemplatesOnly, jinja2.TemplateError):
            previews[target.uid] = TargetPreview(target, "templates only")
            continue
        buildable.append(target)
    change = Change(
        touched=frozenset(_touched(data.writes, data.templates)),
        jobs=frozenset(m.name for m in data.moved_jobs),
        release=lambda name: any(_same_name(e.release, name) for e in data.values),
    )
    outcome = build_targets({"before": before, "after": after}, buildable, own, options, change)
    problems, moves, target_previews, unjudged = _judge(data, buildable, outcome.builds, own)
    for preview in target_previews:
        previews[preview.target.uid] = preview
    ordered = tuple(previews[t.uid] for t in affected if t.uid in previews)
    status: Literal["verified", "refused", "not verified"] = "refused" if problems else "verified"
    reason = None
    if not problems and any(p.status == "templates only" for p in ordered):
        reason = TEMPLATES_ONLY
    elif not problems and (fetched := _not_fetched(list(outcome.builds.values()))):
        reason, status = f"not verified: {fetched}", "not verified"
    elif not problems and unjudged:
        names = ", ".join(sorted({f"HelmRelease {e.release} ({e.file})" for e in unjudged}))
        reason = f"not verified: no Flux Kustomization in this repository applies {names}"
    runs = outcome.runs
    if not problems and not runs and reason:
        status = "not verified"  # nothing could be built; with no reason, nothing Flux builds was touched
    return Semantic(
        status,
        reason=reason,
        kustomize=describe(options.kustomize),
        builds=sum(1 for b in runs if not b.cached),
        build_seconds=round(sum(b.seconds for b in runs if not b.cached), 3),
        cached=sum(1 for b in runs if b.cached),
        targets=ordered,
        moves=tuple(moves),
        problems=tuple(problems),
        all_targets=data.targets,
        decomposed=outcome.decomposed,
    )


def _touched(writes: Mapping[str, bytes | None], templates: Mapping[str, str]) -> set[str]:
    """Every logical path the change writes, deletes or renders anew."""
    return set(writes) | {logical for logical, t in templates.items() if t in writes}


def _jobs_named(objs: list[o.Obj] | None, job: MovedJob, target: FluxTarget, side: str) -> list[o.Obj]:
    # By name only (as target's namePrefix/nameSuffix leave it, or as a parent's gave it before):
    # the namespace is the build's to decide (and to be compared, after).
    if side == "after":
        names = {target.built_name(job.name_after or job.name)}
    else:
        names = {target.built_name(job.name), *job.names_before}
    return [d for d in objs or () if d.get("kind") == "Job" and (d.get("metadata") or {}).get("name") in names]


def _judge(
    data: VerifyInput,
    built: list[FluxTarget],
    outputs: Mapping[tuple[str, str], Built],
    reads: Mapping[tuple[str, str], set[str]],
) -> tuple[list[Problem], list[JobMove], list[TargetPreview], tuple[ValueExpectation, ...]]:
    """Every intent of the plan against the builds, then Unchanged for everything else
    (reads: the files each build reads, by (target uid, side))."""
    judge = _Judge(data, outputs, reads)
    judge.builds(built)
    for job in data.moved_jobs:
        judge.placement(job)
    judge.values()
    judge.unchanged()
    judge.single_owner()
    # A release that no Flux Kustomization of this repository applies cannot be judged here:
    # that is "not verified", never a refusal (nothing Flux builds can break).
    unjudged = tuple(e for e in data.values if id(e) not in judge.seen_expectations)
    return _unique(judge.problems), judge.moves, judge.previews, unjudged


class _Judge:
    """The builds before and after, judged intent by intent. Each check adds its problems,
    naming the intent it found violated; `excused` collects what an intent allows to change."""

    def __init__(
        self, data: VerifyInput, outputs: Mapping[tuple[str, str], Built], reads: Mapping[tuple[str, str], set[str]]
    ) -> None:
        self.data, self.outputs, self.reads = data, outputs, reads
        self.problems: list[Problem] = []
        self.previews: list[TargetPreview] = []
        self.moves: list[JobMove] = []
        self.ok: list[FluxTarget] = []
        self.excused: dict[str, set[str]] = {}
        self.value_changes: dict[str, list[ValueChange]] = {}
        self.seen_expectations: set[int] = set()
        # namespace/name in the messages, and the declaring file too when two clusters share it.
        sharing: dict[str, set[str]] = {}
        for t in data.targets:
            sharing.setdefault(t.key, set()).add(t.uid)
        self.shown = {t.uid: t.key if len(sharing[t.key]) == 1 else f"{t.key} ({t.file})" for t in data.targets}

    def objs(self, target: FluxTarget, side: str) -> list[o.Obj]:
        return self.outputs[(target.uid, side)].objects or []

    def refuse(
        self, who: str, file: str, line: int | None, message: str, intent: object = UNCHANGED, subject: str = ""
    ) -> None:
        self.problems.append(Problem(self.shown.get(who, who), file, line, message, str(intent), subject=subject))

    # -- Unchanged: every build that worked still works ---------------------------------------
    def builds(self, built: list[FluxTarget]) -> None:
        for target in built:
            old, new = self.outputs[(target.uid, "before")].output, self.outputs[(target.uid, "after")].output
            assert old is not None and new is not None
            stopped = next((b.error for b in (old, new) if b.limited), None)
            if stopped is not None:  # nothing is known of what it builds: the change cannot be proven
                self.refuse(target.uid, target.file, target.line, f"./{target.path}: {stopped}")
                self.previews.append(TargetPreview(target, "not built"))
            elif old.ok and not new.ok:
                message = f"builds ./{target.path} before the change but not after: {new.error}"
                self.refuse(target.uid, target.file, target.line, message)
                self.previews.append(TargetPreview(target, "not built"))
            elif not old.ok:
                # Broken before: not this change's doing (a cycle of kustomizations, a missing file).
                self.previews.append(TargetPreview(target, "not built", error=old.error))
            else:
                self.ok.append(target)
        self.excused = {t.uid: set() for t in self.ok}
        self.value_changes = {t.uid: [] for t in self.ok}

    # -- JobPlacement: built by exactly its owner, and the same Job ---------------------------
    def placement(self, job: MovedJob) -> None:
        ok, objs = self.ok, self.objs
        # Two Jobs may share a name in two namespaces (one release per namespace): this one is
        # the Job its destination builds, in that namespace.
        landed = [d for t in ok if t.uid in job.owners for d in _jobs_named(objs(t, "after"), job, t, "after")]
        namespace = _landed_namespace(job.namespace, landed)

        def named(found: list[o.Obj]) -> list[o.Obj]:
            return [
                d
                for d in found
                if namespace is None or _same_name(namespace, (d.get("metadata") or {}).get("namespace"))
            ]

        was = tuple(t for t in ok if named(_jobs_named(objs(t, "before"), job, t, "before")))
        if not was and any(_jobs_named(objs(t, "before"), job, t, "before") for t in ok):
            spaces = sorted(
                {
                    str((d.get("metadata") or {}).get("namespace"))
                    for t in ok
                    for d in _jobs_named(objs(t, "before"), job, t, "before")
                }
            )
            message = f"Job {job.name} would move from namespace {', '.join(spaces)} to {namespace}"
            self.refuse(job.to_target, job.destination, None, message, job.intent)
        now = tuple(t for t in ok if named(_jobs_named(objs(t, "after"), job, t, "after")))
        self.moves.append(JobMove(_job_label(job, now or was, objs), was, now))
        for t in (*was, *now):
            for side in ("before", "after"):
                self.excused[t.uid] |= {o.identity(d) for d in _jobs_named(objs(t, side), job, t, side)}
        if not set(job.owners) <= {t.uid for t in ok}:
            return  # its build was not run (templates only) or already refused: nothing to judge
        owner = ", ".join(self.shown.get(uid, uid) for uid in job.owners)
        if sorted(t.uid for t in now) != sorted(job.owners):
            appliers = ", ".join(self.shown.get(t.uid, t.key) for t in now) or "no Flux Kustomization"
            message = (
                f"Job {job.name} must be applied by its release's Flux Kustomization {owner} "
                f"alone; after the change it is applied by {appliers}"
            )
            self.refuse(job.to_target, job.destination, None, message, job.intent)
            return
        if not was:
            if job.release is not None:  # newly applied: in its release's namespace, nowhere else
                problem = _outside_release_namespace(job, now[0], objs(now[0], "after"), namespace)
                if problem:
                    self.refuse(job.to_target, job.destination, None, problem, job.intent)
                self._companions(job, now[0])
            return
        old_job = named(_jobs_named(objs(was[0], "before"), job, was[0], "before"))[0]
        for landing in now:  # each cluster's reading of the owner, when the clusters differ
            new_job = named(_jobs_named(objs(landing, "after"), job, landing, "after"))[0]
            if not o.metadata_only_added(old_job, new_job):
                message = f"Job {job.name} {_job_difference(old_job, new_job)}"
                self.refuse(landing.uid, job.destination, None, message, job.intent)
                self.problems[-1] = replace(self.problems[-1], carry=_carry_over(job, old_job, new_job))
                return

    def _companions(self, job: MovedJob, owner: FluxTarget) -> None:
        """The documents sharing a newly listed Job's file join the owner's build with it: each
        may be added there, when no Flux Kustomization applied it before."""
        kinds: dict[str, str] = {}  # the name the owner builds -> kind
        for companion in job.companions:
            kind, _, written = companion.partition(" ")
            kinds[owner.built_name(written)] = kind
        before = {o.identity(d) for t in self.ok for d in self.objs(t, "before")}
        for doc in self.objs(owner, "after"):
            built = str((doc.get("metadata") or {}).get("name"))
            if kinds.get(built) == doc.get("kind") and o.identity(doc) not in before:
                self.excused[owner.uid].add(o.identity(doc))

    # -- EffectiveValue: the fix is in what Helm receives, and nothing else moved -------------
    def values(self) -> None:
        for target in self.ok:
            before_map = o.by_identity(self.objs(target, "before"))
            for ident, release in o.by_identity(self.objs(target, "after")).items():
                if release.get("kind") == "HelmRelease":
                    self._release(target, ident, release, before_map.get(ident))

    def _release(self, target: FluxTarget, ident: str, release: o.Obj, old_release: o.Obj | None) -> None:
        expectation = _expected(self.data.values, release, target, self.reads.get((target.uid, "after"), set()))
        eff_after, _missing = o.effective_values(release, self.objs(target, "after"))
        eff_before: dict[str, Any] = {}
        if old_release is not None:
            eff_before, _ = o.effective_values(old_release, self.objs(target, "before"))
        diff = o.value_diff(eff_before, eff_after) if old_release is not None else []
        if expectation is not None:  # an empty parent the fix fills is part of the fix
            diff = [d for d in diff if not o.intended_ancestor(*d, expectation.values)]
        self.value_changes[target.uid] += [
            ValueChange(ident, f"spec.values.{path}", was, now) for path, was, now in diff
        ]
        if expectation is None:
            return
        self.seen_expectations.add(id(expectation))
        where, line = expectation.file or target.file, None if expectation.file else target.line
        for dotted, wanted in expectation.values.items():
            found, actual = o.lookup(eff_after, dotted)
            if not found or actual != wanted or type(actual) is not type(wanted):
                got = show(actual) if found else "unset"
                message = (
                    f"{ident}: the effective values do not carry the fix: {dotted} is {got} "
                    f"after the change (wanted {show(wanted)})"
                )
                intent = EffectiveValue(expectation.release, dotted, wanted, expectation.namespace, expectation.file)
                self.refuse(target.uid, where, line, message, intent)
        allowed = set(expectation.values)
        stray = [path for path, _w, _n in diff if path not in allowed]
        if stray:
            message = f"{ident}: the change also alters the effective value {stray[0]}"
            self.refuse(target.uid, expectation.file or target.file, None, message)
            return
        if old_release is not None:
            paths = [("spec", "values", *p.split(".")) for p in allowed]
            if o.without_intended(old_release, paths) == o.without_intended(release, paths):
                self.excused[target.uid].add(ident)
                self.excused[target.uid] |= _values_sources(release)

    # -- Unchanged: everything no intent names is exactly as it was ---------------------------
    def unchanged(self) -> None:
        for target in self.ok:
            before_map, after_map = (
                o.by_identity(self.objs(target, "before")),
                o.by_identity(self.objs(target, "after")),
            )
            added = tuple(sorted(after_map.keys() - before_map.keys()))
            removed = tuple(sorted(before_map.keys() - after_map.keys()))
            moved_values = {v.subject for v in self.value_changes[target.uid]}
            changed = tuple(
                sorted(
                    k
                    for k in before_map.keys() & after_map.keys()
                    if before_map[k] != after_map[k] or k in moved_values
                )
            )
            for ident in (*added, *removed, *changed):
                if ident in self.excused[target.uid]:
                    continue
                if ident in changed and self._judged_in_its_own_build(before_map[ident], after_map[ident]):
                    continue
                if (
                    ident in changed
                    and _may_gain(self.data, ident)
                    and o.metadata_only_added(before_map[ident], after_map[ident])
                ):
                    continue
                verb = "adds" if ident in added else "removes" if ident in removed else "changes"
                detail = ""
                if ident in changed:
                    diff = o.value_diff(before_map[ident], after_map[ident])
                    if diff:
                        path, was, now = diff[0]
                        detail = f" ({path}: {show(was, now)} -> {show(now, was)})"
                message = f"the change {verb} {ident}{detail}, which it must not touch"
                self.refuse(target.uid, target.file, target.line, message, subject=ident)
            preview = TargetPreview(target, "verified", added, removed, changed, tuple(self.value_changes[target.uid]))
            self.previews.append(preview)

    def _judged_in_its_own_build(self, old: o.Obj, new: o.Obj) -> bool:
        """A Flux Kustomization whose `spec.patches` alone changed: what they change is judged
        in its own build, built before and after with them (a value fix in such a patch)."""
        if old.get("kind") != "Kustomization" or not str(old.get("apiVersion", "")).startswith(FLUX_KUSTOMIZE_GROUP):
            return False
        meta = old.get("metadata") or {}
        key = f"{meta.get('namespace')}/{meta.get('name')}"
        if not any(t.key == key for t in self.ok):
            return False

        def without_patches(obj: o.Obj) -> o.Obj:
            return {**obj, "spec": {k: v for k, v in (obj.get("spec") or {}).items() if k != "patches"}}

        return without_patches(old) == without_patches(new)

    def single_owner(self) -> None:
        """An object that more Flux Kustomizations apply after than before: they would fight over it."""
        count_before: dict[str, list[str]] = {}
        count_after: dict[str, list[str]] = {}
        for target in self.ok:
            for ident in o.by_identity(self.objs(target, "before")):
                count_before.setdefault(ident, []).append(target.uid)
            for ident in o.by_identity(self.objs(target, "after")):
                count_after.setdefault(ident, []).append(target.uid)
        for ident, owners in sorted(count_after.items()):
            if len(owners) > 1 and len(owners) > len(count_before.get(ident, [])):
                first = next(t for t in self.ok if t.uid == owners[0])
                names = ", ".join(self.shown.get(u, u) for u in owners)
                message = f"{ident} is applied by {len(owners)} Flux Kustomizations: {names}"
                self.refuse(first.uid, first.file, first.line, message)


def _not_fetched(builds: list[Built]) -> str | None:
    """Why a build was not run: a Flux Kustomization whose build names a remote resource."""
    for item in builds:
        if item.target is not None and item.output is not None and item.output.error.startswith(REMOTE):
            where = item.output.error[len(REMOTE) + 2 :]
            return f"Flux Kustomization {item.target.key}: {where}, a remote resource the gate does not fetch"
    return None


def _unique(problems: list[Problem]) -> list[Problem]:
    seen: set[Problem] = set()
    return [p for p in problems if not (p in seen or seen.add(p))]  # type: ignore[func-returns-value]


def _may_gain(data: VerifyInput, ident: str) -> bool:
    kind, _space, rest = ident.partition(" ")
    name = rest.rsplit("/", 1)[-1]
    return any(entry in (ident, f"{kind} {name}") for entry in data.may_gain_metadata)


def _expected(
    expectations: tuple[ValueExpectation, ...], release: o.Obj, target: FluxTarget, reads: set[str]
) -> ValueExpectation | None:
    """The expectation of a built release: by name and namespace; of two releases of one name
    whose namespaces only their builds give, the one whose file this build reads."""
    meta = release.get("metadata") or {}
    found = [
        expectation
        for expectation in expectations
        if _same_name(target.built_name(expectation.release), meta.get("name"))
        and (expectation.namespace is None or _same_name(expectation.namespace, meta.get("namespace")))
    ]
    if len(found) > 1:
        found = [e for e in found if e.source in reads] or found
    return found[0] if found else None


def _same_name(written: str, built: object) -> bool:
    """A name as written in the source (`${APP}-anubis`) and as built after substitution."""
    if not isinstance(built, str):
        return False
    pattern = envsubst.pattern(written, ".+")
    return written == built if pattern is None else pattern.match(built) is not None


def _values_sources(release: o.Obj) -> set[str]:
    namespace = (release.get("metadata") or {}).get("namespace")
    out = set()
    for ref in (release.get("spec") or {}).get("valuesFrom") or ():
        if isinstance(ref, dict):
            kind, name = ref.get("kind", "ConfigMap"), ref.get("name")
            out.add(f"{kind} {namespace}/{name}" if namespace else f"{kind} {name}")
    return out


def _landed_namespace(written: str | None, landed: list[o.Obj]) -> str | None:
    """The namespace a moved Job is judged in: as its manifest writes it, or, where that is
    left to the build (none written, or `${APPS_NS}` that Flux substitutes), as its owner's
    build gives it."""
    built = (landed[0].get("metadata") or {}).get("namespace") if landed else None
    if written is not None and "${" not in written:
        return written
    if isinstance(built, str) and (written is None or _same_name(written, built)):
        return built
    return written


def _outside_release_namespace(job: MovedJob, target: FluxTarget, built: list[o.Obj], namespace: str | None) -> str:
    """Why a newly applied Job does not land beside its release in target's build; "" when it does."""
    assert job.release is not None
    spaces = {
        (d.get("metadata") or {}).get("namespace")
        for d in built
        if d.get("kind") == "HelmRelease"
        and _same_name(target.built_name(job.release), (d.get("metadata") or {}).get("name"))
    }
    if not spaces:
        return f"Job {job.name} would be applied by {target.key}, which does not apply its HelmRelease {job.release}"
    if namespace not in spaces:
        where = ", ".join(sorted(str(s) for s in spaces))
        return f"Job {job.name} would be applied in namespace {namespace}, not its HelmRelease's ({where})"
    return ""


def _job_label(job: MovedJob, where: tuple[FluxTarget, ...], objs: Any) -> str:
    for target in where:
        for side in ("after", "before"):
            for doc in _jobs_named(objs(target, side), job, target, side):
                namespace, name = (doc.get("metadata") or {}).get("namespace"), target.built_name(job.name)
                return f"{namespace}/{name}" if namespace else name
    return f"{job.namespace}/{job.name}" if job.namespace else job.name


_CARRIED = (("metadata",), ("spec", "template", "metadata"))


def _carry_over(job: MovedJob, old: o.Obj, new: o.Obj) -> CarryOver | None:
    """The labels and annotations the Job had where it was built before and lacks where it is
    built after (on the Job and on its pod template), when writing them into its manifest
    makes the two builds the same Job."""
    lost: dict[tuple[tuple[str, ...], str], tuple[tuple[str, str], ...]] = {}
    restored = copy.deepcopy(new)
    for at in _CARRIED:
        had_meta, has_meta = _at(old, at), _at(new, at)
        for key in ("labels", "annotations"):
            had, has = had_meta.get(key) or {}, has_meta.get(key) or {}
            items = tuple(sorted((str(k), str(v)) for k, v in had.items() if k not in has and isinstance(v, str)))
            lost[(at, key)] = items
            if items:
                target: dict[str, Any] = restored
                for name in at:
                    target = target.setdefault(name, {})
                target.setdefault(key, {}).update(dict(items))
    images = _lost_images(old, restored)
    if not any(lost.values()) and not images:
        return None
    if not o.metadata_only_added(old, restored):
        return None  # something else differs too: carrying metadata over would not be enough
    meta, template = _CARRIED
    return CarryOver(
        job.source,
        job.name,
        lost[(meta, "labels")],
        lost[(meta, "annotations")],
        lost[(template, "labels")],
        lost[(template, "annotations")],
        images,
    )


def _containers(obj: o.Obj) -> list[dict[str, Any]]:
    spec = _at(obj, ("spec", "template", "spec"))
    return [c for key in ("initContainers", "containers") for c in spec.get(key) or () if isinstance(c, dict)]


def _lost_images(old: o.Obj, restored: o.Obj) -> tuple[tuple[str, str], ...]:
    """(container, image) where a parent's `images:` transformer gave the Job another image than
    its manifest names; restored gets the old image (so the caller can test the rest is equal)."""
    before = {c.get("name"): c.get("image") for c in _containers(old)}
    lost = []
    for container in _containers(restored):
        name, image = container.get("name"), before.get(container.get("name"))
        if isinstance(name, str) and isinstance(image, str) and container.get("image") != image:
            container["image"] = image
            lost.append((name, image))
    return tuple(lost)


def _at(obj: o.Obj, path: tuple[str, ...]) -> dict[str, Any]:
    node: Any = obj
    for name in path:
        node = node.get(name) if isinstance(node, dict) else None
    return node if isinstance(node, dict) else {}


def _job_difference(old: o.Obj, new: o.Obj) -> str:
    old_meta, new_meta = old.get("metadata") or {}, new.get("metadata") or {}
    if old_meta.get("name") != new_meta.get("name"):
        return f"would be renamed from {old_meta.get('name')} to {new_meta.get('name')}"
    if old_meta.get("namespace") != new_meta.get("namespace"):
        return f"would move from namespace {old_meta.get('namespace')} to {new_meta.get('namespace')}"
    for key in ("labels", "annotations"):
        lost = sorted(k for k in (old_meta.get(key) or {}) if k not in (new_meta.get(key) or {}))
        if lost:
            return f"would lose its {key[:-1]} {lost[0]}"
    # A label or annotation it only gains is allowed: name what is not.
    diff = [
        (path, was, now)
        for path, was, now in o.value_diff(old, new)
        if not (was is MISSING and path.startswith(("metadata.labels.", "metadata.annotations.")))
    ]
    if diff:
        path, was, now = _within_lists(*diff[0])
        return f"would change where it lands: {path}: {show(was, now)} -> {show(now, was)}"
    return "would change where it lands"


def _within_lists(path: str, was: Any, now: Any) -> tuple[str, Any, Any]:
    """The first leaf that differs inside two lists of the same length (a container's image, not
    every container): what a reader needs to see of a refused Job."""
    if isinstance(was, dict) and isinstance(now, dict):
        for key in sorted(was.keys() | now.keys(), key=str):
            if was.get(key, MISSING) != now.get(key, MISSING):
                return _within_lists(f"{path}.{key}", was.get(key, MISSING), now.get(key, MISSING))
    if isinstance(was, list) and isinstance(now, list) and len(was) == len(now):
        for index, (before, after) in enumerate(zip(was, now, strict=True)):
            if before != after:
                return _within_lists(f"{path}[{index}]", before, after)
    return path, was, now

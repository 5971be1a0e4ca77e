"""The build gate: build every affected Flux Kustomization before and after, judge the change.

Flux's semantics, emulated here for one Flux Kustomization at a time: the kustomization Flux
generates for a directory without one, `spec.components`, `targetNamespace`, and
`postBuild.substitute`; built with `--load-restrictor LoadRestrictionsNone`, as Flux does.
"""

from __future__ import annotations

import copy
import hashlib
import json
import os
import posixpath
import sqlite3
import tempfile
import threading
import time
from collections import OrderedDict
from collections.abc import Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, closing
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Literal

import jinja2

from codemods.errors import InputError
from codemods.flux import envsubst
from codemods.flux.envsubst import SubstitutionError
from codemods.flux.fields import KUSTOMIZATION_NAMES
from codemods.flux.spec import dump, flux_kustomization, present_components, read_kustomization
from codemods.intents import UNCHANGED, CarryOver, EffectiveValue
from codemods.repo.layout import relative_path
from codemods.verify import objects as o
from codemods.verify.kustomize import NO_KUSTOMIZE, BuildOutput, build, describe
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
from codemods.verify.tree import (
    TemplatesOnly,
    Tree,
    build_files,
    digest,
    materialise,
    refuse_hostile,
    refuse_oversized,
)

TEMPLATES_ONLY = "not verified: templates only"
# kustomize would fetch a remote base or resource: from a repository other people control, that
# is a request to any URL (and a wait of up to the build's time limit), so it is never built.
REMOTE = "not built: a remote resource, which the build gate does not fetch"


def _is_within(path: str, directory: str) -> bool:
    return directory == "" or path == directory or path.startswith(directory + "/")


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
    touched = set(writes) | {logical for logical, t in templates.items() if t in writes}
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
@dataclass
class _Build:
    target: FluxTarget
    side: str  # "before" or "after"
    output: BuildOutput | None = None
    objects: list[o.Obj] | None = None
    seconds: float = 0.0
    cached: bool = False
    hit: BuildOutput | None = None  # the cache's answer, looked up before anything is copied


def _prepare(tree: Tree, target: FluxTarget, base: Path, where: Path, files: list[str]) -> tuple[Path, str | None]:
    """Lay out in where the kustomization Flux builds for target (the model's merge of its fields,
    codemods/flux/spec.py): (the directory to build, None) or (where, why it cannot be built).

    A directory without a kustomization gets Flux's generated one, written in where and naming
    the shared copy in base. A directory with its own, when target changes it, is built in a copy
    of its own (files, hard-linked) with the merged file in its place, exactly as Flux edits it."""
    kustomization = tree.kustomization(target.path)
    if not tree.is_dir(target.path) and kustomization is None:
        return where, f"spec.path ./{target.path} does not exist"
    edits = target.edits
    components = present_components(edits, lambda c: tree.is_dir(c) or tree.kustomization(c) is not None)
    if kustomization is not None and edits:
        try:
            own = read_kustomization((tree.read(kustomization) or b"").decode("utf-8-sig"), kustomization)
        except (InputError, UnicodeDecodeError) as err:
            return where, f"{kustomization}: {err}"
        materialise(tree, files, where)
        written = where / kustomization
        written.unlink(missing_ok=True)  # a hard link: the shared copy keeps its bytes
        relative = [_relative(where / c, where / target.path) for c in components]
        merged = flux_kustomization(own, [], edits, relative)
        written.write_text(dump(merged), encoding="utf-8", errors="surrogateescape")
        return where / target.path, None
    if kustomization is not None:
        resources = [_relative(base / target.path, where)]
    else:
        resources = [_relative(base / entry, where) for entry in tree.generated(target.path)]
    merged = flux_kustomization(None, resources, edits, [_relative(base / c, where) for c in components])
    where.mkdir(parents=True, exist_ok=True)
    # Entries are file names: one that is not UTF-8 is written as its own bytes.
    (where / "kustomization.yaml").write_text(dump(merged), encoding="utf-8", errors="surrogateescape")
    return where, None


def _relative(path: Path, where: Path) -> str:
    # kustomize refuses an absolute directory ("new root cannot be absolute"): relative it is.
    return os.path.relpath(path, where)


def _quote(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _cache_key(command: tuple[str, ...], target: FluxTarget, inputs: str) -> str:
    # Everything of the target that changes kustomize's output (substitution and commonMetadata
    # are applied to the output after, not cached).
    edits = target.edits
    build: list[Any] = [target.path, edits.target_namespace, edits.name_prefix, edits.name_suffix, edits.components]
    build += [edits.ignore_missing_components, edits.patches, edits.images]
    # And what turns the output into objects: the parsed objects are remembered (_Recent) too.
    common = target.common_metadata
    build += [sorted(target.substitute.items()), target.substitute_complete, common.labels, common.annotations]
    fields = [*command, target.uid, json.dumps(build, sort_keys=True, default=str)]
    return hashlib.sha256("\0".join([*fields, inputs]).encode()).hexdigest()


class _Recent:
    """The builds this process has already read from the cache or made, parsed, by cache key.

    A batch over a fleet of repositories cut from one template asks for the same builds again
    and again: each is then read from SQLite and parsed once per process, not once per
    repository. Only used with a cache (a key names its inputs exactly). The objects are shared
    between repositories, so they are only ever read (the gate copies what it changes).

    Bounded by the size of the builds' output (parsed objects take several times that): the
    least recently used go first, and an output over a quarter of the budget is not kept."""

    BUDGET = 8 * 1024 * 1024  # characters of kustomize output

    def __init__(self) -> None:
        self._items: OrderedDict[tuple[str, str], tuple[BuildOutput, list[o.Obj] | None]] = OrderedDict()
        self._size = 0
        self._lock = threading.Lock()

    def get(self, cache: Path, key: str) -> tuple[BuildOutput, list[o.Obj] | None] | None:
        with self._lock:
            found = self._items.get((str(cache), key))
            if found is not None:
                self._items.move_to_end((str(cache), key))
            return found

    def put(self, cache: Path, key: str, output: BuildOutput, objects: list[o.Obj] | None) -> None:
        size = len(output.stdout) + len(output.error)
        if size > self.BUDGET // 4:
            return
        with self._lock:
            old = self._items.pop((str(cache), key), None)
            if old is not None:
                self._size -= len(old[0].stdout) + len(old[0].error)
            self._items[(str(cache), key)] = (output, objects)
            self._size += size
            while self._size > self.BUDGET:
                _key, (dropped, _objects) = self._items.popitem(last=False)
                self._size -= len(dropped.stdout) + len(dropped.error)

    def __len__(self) -> int:
        return len(self._items)

    def cache_clear(self) -> None:
        with self._lock:
            self._items.clear()
            self._size = 0


_RECENT = _Recent()


def _cached(cache: Path | None, key: str) -> BuildOutput | None:
    """A build result from the cache: one SQLite file (a workdir holds only clones as
    directories), one connection per call, so parallel repositories share it safely."""
    if cache is None or not cache.exists():
        return None
    try:
        with closing(sqlite3.connect(cache, timeout=30)) as db:
            row = db.execute("SELECT ok, stdout, error FROM builds WHERE key = ?", (key,)).fetchone()
    except sqlite3.Error:
        return None
    return BuildOutput(bool(row[0]), str(row[1]), str(row[2])) if row else None


def _store(cache: Path | None, key: str, output: BuildOutput) -> None:
    if cache is None:
        return
    try:
        cache.parent.mkdir(parents=True, exist_ok=True)
        with closing(sqlite3.connect(cache, timeout=30)) as db, db:
            db.execute("CREATE TABLE IF NOT EXISTS builds (key TEXT PRIMARY KEY, ok INTEGER, stdout TEXT, error TEXT)")
            db.execute(
                "INSERT OR REPLACE INTO builds VALUES (?, ?, ?, ?)", (key, int(output.ok), output.stdout, output.error)
            )
    except (OSError, sqlite3.Error):
        pass  # a cache that cannot be written only costs the next run a build


def _objects(item: _Build) -> None:
    """The build's objects as Flux applies them; a substitution Flux cannot run fails the build."""
    assert item.output is not None
    try:
        item.objects = o.parse(item.output.stdout, item.target.variables, item.target.common_metadata)
    except SubstitutionError as err:
        item.output = BuildOutput(False, item.output.stdout, f"post-build variable substitution failed: {err}")
        item.objects = None


def _run(
    command: tuple[str, ...],
    tree: Tree,
    item: _Build,
    base: Path,
    where: Path,
    cache: Path | None,
    inputs: str,
    files: list[str],
) -> None:
    start = time.perf_counter()
    key = _cache_key(command, item.target, inputs)
    hit = item.hit if inputs else None
    built, missing = _prepare(tree, item.target, base, where, files) if hit is None else (where, None)
    if hit is not None:
        item.output, item.cached = hit, True
        if hit.ok and item.objects is None:
            _objects(item)
        if cache is not None:
            _RECENT.put(cache, key, item.output, item.objects)
    elif missing is not None:
        item.output = BuildOutput(False, "", missing)
    elif (remote := _remote(tree, item.target)) is not None:
        item.output = BuildOutput(False, "", f"{REMOTE}: {remote}")
    else:
        result = build(command, built)
        # Name files as the repository does, not as the temporary copies are laid out.
        error = result.error
        for shown in (f"{_relative(base, where)}/", f"{base}/", f"{where}/"):
            error = error.replace(shown, "")
        error = error.replace(str(where), "<flux>")
        item.output = BuildOutput(result.ok, result.stdout, error, limited=result.limited)
        if result.ok:
            _objects(item)
        if inputs and not result.limited:  # a stopped build says nothing to remember
            _store(cache, key, item.output)
            if cache is not None:
                _RECENT.put(cache, key, item.output, item.objects)
    item.seconds = time.perf_counter() - start


def build_alone(tree: Tree, target: FluxTarget, command: tuple[str, ...]) -> tuple[BuildOutput, list[o.Obj] | None]:
    """One Flux Kustomization built the way the gate builds it, on its own (no cache): what Flux
    would apply, as objects, or why the build fails."""
    reads: set[str] = set()
    for directory in (target.path, *target.components):
        if tree.is_dir(directory) or tree.kustomization(directory):
            reads |= tree.closure(directory)
    files = build_files(tree, reads)
    item = _Build(target, "after")
    with tempfile.TemporaryDirectory(prefix="codemods-build-") as scratch:
        base = Path(scratch) / "base"
        materialise(tree, files, base)
        _run(command, tree, item, base, Path(scratch) / "build", None, "", files)
    assert item.output is not None
    return item.output, item.objects


# -- the gate -------------------------------------------------------------------------------------
def verify(root: Path, data: VerifyInput, options: Options) -> Semantic:
    if not data.writes:
        return Semantic("skipped", reason="nothing to change", all_targets=data.targets)
    if options.kustomize is None:
        return Semantic("not verified", reason=NO_KUSTOMIZE, all_targets=data.targets)
    before, after, reach_before, reach_after = _reach(
        root, data.writes, data.kustomizations, data.templates, options, data.read
    )
    wanted = {m.to_target for m in data.moved_jobs}
    affected = [
        t
        for t in data.targets
        if t.uid in wanted or _reaches(before, t, reach_before) or _reaches(after, t, reach_after)
    ]
    previews: dict[str, TargetPreview] = {}
    buildable: list[FluxTarget] = []
    files: dict[str, set[str]] = {"before": set(), "after": set()}
    own: dict[tuple[str, str], set[str]] = {}  # (target uid, side) -> what its build reads
    for target in affected:
        try:
            for side, tree in (("before", before), ("after", after)):
                reads = own.setdefault((target.uid, side), set())
                for directory in (target.path, *target.components):
                    if tree.is_dir(directory) or tree.kustomization(directory):
                        reads |= tree.closure(directory)
                files[side] |= reads
        except (TemplatesOnly, jinja2.TemplateError):
            previews[target.uid] = TargetPreview(target, "templates only")
            continue
        buildable.append(target)
    builds: list[_Build] = []
    with ExitStack() as stack:
        made: list[Path] = []

        def scratch() -> Path:
            """The directory for copies and builds, made on first use: a batch rerun whose
            every build the cache answers needs none."""
            if not made:
                made.append(Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="codemods-verify-"))))
            return made[0]

        trees = {"before": before, "after": after}
        assert options.kustomize is not None
        command = options.kustomize
        inputs: dict[str, str] = {}  # side -> digest of every file its builds may read
        copied: dict[str, list[str]] = {}  # side -> the files its builds may read
        for side in ("before", "after"):
            copied[side] = build_files(trees[side], files[side])
            refuse_hostile(trees[side], copied[side], files[side])
            refuse_oversized(trees[side], copied[side])
            inputs[side] = digest(trees[side], copied[side])
        first = [_Build(t, side) for t in buildable for side in ("before", "after")]
        # Copied only for a build the cache does not answer (a batch rerun copies nothing).
        for item in first:
            key = _cache_key(command, item.target, inputs[item.side])
            recent = _RECENT.get(options.cache, key) if options.cache is not None else None
            if recent is not None:
                item.hit, item.objects = recent
            else:
                item.hit = _cached(options.cache, key)
        base = {"before": Path(), "after": Path()}
        for side in {b.side for b in first if b.hit is None}:
            base[side] = scratch() / side
            materialise(trees[side], copied[side], base[side])
        jobs = options.jobs or os.cpu_count() or 1

        def run_all(
            items: list[_Build], bases: Mapping[str, Path], label: str, digests: Mapping[str, str], whole: bool = False
        ) -> None:
            def one(pair: tuple[int, _Build]) -> None:
                i, item = pair
                where = scratch() / f"{label}{i}-{item.side}" if item.hit is None else Path()
                tree = trees[item.side]
                # What a build in a copy of its own needs (only made when Flux edits its kustomization).
                reads = build_files(tree, own.get((item.target.uid, item.side), set()), whole=whole)
                _run(command, tree, item, bases[item.side], where, options.cache, digests[item.side], reads)

            # Threads only for real builds (kubectl waits on I/O); an answer from the cache is
            # parsed here. Starting a pool costs milliseconds per repository in a batch rerun.
            pairs = list(enumerate(items))
            to_build = [pair for pair in pairs if pair[1].hit is None]
            if to_build:
                scratch()  # made here, not by two threads at once
            for pair in pairs:
                if pair[1].hit is not None or len(to_build) == 1:
                    one(pair)
            if len(to_build) > 1:
                with ThreadPoolExecutor(max_workers=min(jobs, len(to_build))) as pool:
                    list(pool.map(one, to_build))
            builds.extend(items)

        run_all(first, base, "w", inputs)
        # A file this walk does not know of (a transformer's config, say) may be missing from the
        # partial copy: a failed build is tried again on a copy of the whole tree before it counts.
        failed = [b for b in first if b.output is not None and not b.output.ok and not b.output.limited]
        if failed:
            whole = {"before": scratch() / "whole-before", "after": scratch() / "whole-after"}
            for side in {b.side for b in failed}:
                everything = build_files(trees[side], set(), whole=True)
                refuse_hostile(trees[side], everything, files[side])
                refuse_oversized(trees[side], everything)
                materialise(trees[side], everything, whole[side])
            retry = [_Build(b.target, b.side) for b in failed]
            run_all(retry, whole, "r", {"before": "", "after": ""}, whole=True)  # a whole-tree build is not cached
            replaced = {(b.target.uid, b.side): b for b in retry}
            first = [replaced.get((b.target.uid, b.side), b) for b in first]
    outputs = {(b.target.uid, b.side): b for b in first}
    problems, moves, target_previews, unjudged = _judge(data, buildable, outputs)
    for preview in target_previews:
        previews[preview.target.uid] = preview
    ordered = tuple(previews[t.uid] for t in affected if t.uid in previews)
    status: Literal["verified", "refused", "not verified"] = "refused" if problems else "verified"
    reason = None
    if not problems and any(p.status == "templates only" for p in ordered):
        reason = TEMPLATES_ONLY
    elif not problems and (fetched := _not_fetched(first)):
        reason, status = f"not verified: {fetched}", "not verified"
    elif not problems and unjudged:
        names = ", ".join(sorted({f"HelmRelease {e.release} ({e.file})" for e in unjudged}))
        reason = f"not verified: no Flux Kustomization in this repository applies {names}"
    if not problems and not builds and reason:
        status = "not verified"  # nothing could be built; with no reason, nothing Flux builds was touched
    return Semantic(
        status,
        reason=reason,
        kustomize=describe(options.kustomize),
        builds=sum(1 for b in builds if not b.cached),
        build_seconds=round(sum(b.seconds for b in builds if not b.cached), 3),
        cached=sum(1 for b in builds if b.cached),
        targets=ordered,
        moves=tuple(moves),
        problems=tuple(problems),
        all_targets=data.targets,
    )


def _jobs_named(objs: list[o.Obj] | None, job: MovedJob, target: FluxTarget) -> list[o.Obj]:
    # By name only (as target's namePrefix/nameSuffix leave it): the namespace is the build's to
    # decide (and to be compared, after).
    name = target.built_name(job.name)
    return [d for d in objs or () if d.get("kind") == "Job" and (d.get("metadata") or {}).get("name") == name]


def _judge(
    data: VerifyInput, built: list[FluxTarget], outputs: Mapping[tuple[str, str], _Build]
) -> tuple[list[Problem], list[JobMove], list[TargetPreview], tuple[ValueExpectation, ...]]:
    """Every intent of the plan against the builds, then Unchanged for everything else."""
    judge = _Judge(data, outputs)
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

    def __init__(self, data: VerifyInput, outputs: Mapping[tuple[str, str], _Build]) -> None:
        self.data, self.outputs = data, outputs
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

    def refuse(self, who: str, file: str, line: int | None, message: str, intent: object = UNCHANGED) -> None:
        self.problems.append(Problem(self.shown.get(who, who), file, line, message, str(intent)))

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
        landed = [d for t in ok if t.uid == job.to_target for d in _jobs_named(objs(t, "after"), job, t)]
        namespace = job.namespace or ((landed[0].get("metadata") or {}).get("namespace") if landed else None)

        def named(found: list[o.Obj]) -> list[o.Obj]:
            return [d for d in found if namespace is None or (d.get("metadata") or {}).get("namespace") == namespace]

        was = tuple(t for t in ok if named(_jobs_named(objs(t, "before"), job, t)))
        if not was and any(_jobs_named(objs(t, "before"), job, t) for t in ok):
            spaces = sorted(
                {
                    str((d.get("metadata") or {}).get("namespace"))
                    for t in ok
                    for d in _jobs_named(objs(t, "before"), job, t)
                }
            )
            message = f"Job {job.name} would move from namespace {', '.join(spaces)} to {namespace}"
            self.refuse(job.to_target, job.destination, None, message, job.intent)
        now = tuple(t for t in ok if named(_jobs_named(objs(t, "after"), job, t)))
        self.moves.append(JobMove(_job_label(job, now or was, objs), was, now))
        for t in (*was, *now):
            for side in ("before", "after"):
                self.excused[t.uid] |= {o.identity(d) for d in _jobs_named(objs(t, side), job, t)}
        if job.to_target not in {t.uid for t in ok}:
            return  # its build was not run (templates only) or already refused: nothing to judge
        owner = self.shown.get(job.to_target, job.to_target)
        if [t.uid for t in now] != [job.to_target]:
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
            return
        old_job = named(_jobs_named(objs(was[0], "before"), job, was[0]))[0]
        new_job = named(_jobs_named(objs(now[0], "after"), job, now[0]))[0]
        if not o.metadata_only_added(old_job, new_job):
            message = f"Job {job.name} {_job_difference(old_job, new_job)}"
            self.refuse(job.to_target, job.destination, None, message, job.intent)
            self.problems[-1] = replace(self.problems[-1], carry=_carry_over(job, old_job, new_job))

    # -- EffectiveValue: the fix is in what Helm receives, and nothing else moved -------------
    def values(self) -> None:
        for target in self.ok:
            before_map = o.by_identity(self.objs(target, "before"))
            for ident, release in o.by_identity(self.objs(target, "after")).items():
                if release.get("kind") == "HelmRelease":
                    self._release(target, ident, release, before_map.get(ident))

    def _release(self, target: FluxTarget, ident: str, release: o.Obj, old_release: o.Obj | None) -> None:
        expectation = _expected(self.data.values, release, target)
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
                got = o.show(actual) if found else "unset"
                message = (
                    f"{ident}: the effective values do not carry the fix: {dotted} is {got} "
                    f"after the change (wanted {o.show(wanted)})"
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
                        detail = f" ({path}: {o.show(was, now)} -> {o.show(now, was)})"
                message = f"the change {verb} {ident}{detail}, which it must not touch"
                self.refuse(target.uid, target.file, target.line, message)
            preview = TargetPreview(target, "verified", added, removed, changed, tuple(self.value_changes[target.uid]))
            self.previews.append(preview)

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


def _remote(tree: Tree, target: FluxTarget) -> str | None:
    try:
        return tree.remote_in(target.path)
    except TemplatesOnly:
        return None


def _not_fetched(builds: list[_Build]) -> str | None:
    """Why a build was not run: a Flux Kustomization whose build names a remote resource."""
    for item in builds:
        if item.output is not None and item.output.error.startswith(REMOTE):
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
    expectations: tuple[ValueExpectation, ...], release: o.Obj, target: FluxTarget
) -> ValueExpectation | None:
    meta = release.get("metadata") or {}
    for expectation in expectations:
        if _same_name(target.built_name(expectation.release), meta.get("name")) and (
            expectation.namespace is None or _same_name(expectation.namespace, meta.get("namespace"))
        ):
            return expectation
    return None


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
            for doc in _jobs_named(objs(target, side), job, target):
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
        if not (was is o.MISSING and path.startswith(("metadata.labels.", "metadata.annotations.")))
    ]
    if diff:
        path, was, now = diff[0]
        return f"would change where it lands: {path}: {o.show(was, now)} -> {o.show(now, was)}"
    return "would change where it lands"

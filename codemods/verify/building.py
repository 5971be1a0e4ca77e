"""The gate's builds: every affected Flux Kustomization before and after, decomposed where that is
exact (codemods/verify/decompose.py), each answered by the cache or run in a copy of its own
(codemods/verify/builds.py), in parallel."""

from __future__ import annotations

import json
import os
import tempfile
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Self

from codemods.flux.envsubst import SubstitutionError
from codemods.verify import decompose
from codemods.verify import objects as o
from codemods.verify.builds import BuildSpec, Objects, execute, flux_spec, obtain
from codemods.verify.kustomize import BuildOutput
from codemods.verify.model import Decomposed, FluxTarget, Options
from codemods.verify.tree import TemplatesOnly, Tree, build_files, refuse_hostile, refuse_oversized

SIDES = ("before", "after")
# kustomize would fetch a remote base or resource: from a repository other people control, that
# is a request to any URL (and a wait of up to the build's time limit), so it is never built.
REMOTE = "not built: a remote resource, which the build gate does not fetch"


@dataclass
class Built:
    """One build and its answer. target None: the probe of kinds (decompose.probe_spec)."""

    target: FluxTarget | None
    side: str
    spec: BuildSpec
    output: BuildOutput | None = None
    objects: list[o.Obj] | None = None
    seconds: float = 0.0
    cached: bool = False


@dataclass(frozen=True)
class Outcome:
    builds: Mapping[tuple[str, str], Built]  # (target uid, side) -> the build the judge reads
    runs: tuple[Built, ...]  # every build asked for (probes and retries too), for the counts
    decomposed: tuple[Decomposed, ...]


def build_targets(
    trees: Mapping[str, Tree],
    targets: list[FluxTarget],
    reads: Mapping[tuple[str, str], set[str]],
    options: Options,
    change: decompose.Change,
) -> Outcome:
    """Build targets before and after (reads: what each build reads, by (uid, side))."""
    with _Runner(trees, options) as runner:
        plans, notes = _plans(trees, targets, reads, change.touched, options)
        first = {
            (t.uid, side): Built(t, side, plans[t.uid].specs[side] if t.uid in plans else _whole(trees, t, reads, side))
            for t in targets
            for side in SIDES
        }
        kinds = sorted({k for p in plans.values() for k in p.kinds()})
        probe = Built(None, "before", decompose.probe_spec(kinds)) if kinds else None
        _refuse_hostile(trees, first.values(), reads)
        runner.run([*first.values(), *([probe] if probe else [])])
        scope = decompose.read_probe(probe.output.stdout, kinds) if probe and probe.output and probe.output.ok else None
        fallback = []
        for target in targets:
            plan = plans.get(target.uid)
            if plan is None:
                continue
            reason = _combine(plan, [first[(target.uid, side)] for side in SIDES], scope, change)
            if reason:
                notes[target.uid] = f"built whole: {reason}"
                del plans[target.uid]
                fallback += [Built(target, side, _whole(trees, target, reads, side)) for side in SIDES]
        _refuse_hostile(trees, fallback, reads)
        runner.run(fallback)
        first.update({(b.target.uid, b.side): b for b in fallback if b.target is not None})
        retried = runner.retry_whole([b for b in first.values() if _failed(b)], reads)
        first.update({(b.target.uid, b.side): b for b in retried if b.target is not None})
        runs = tuple(runner.done)
    decomposed = tuple(
        Decomposed(t, plans[t.uid].built, plans[t.uid].untouched)
        if t.uid in plans
        else Decomposed(t, (), 0, notes[t.uid])
        for t in targets
        if t.uid in plans or t.uid in notes
    )
    return Outcome(first, runs, decomposed)


def _plans(
    trees: Mapping[str, Tree],
    targets: list[FluxTarget],
    reads: Mapping[tuple[str, str], set[str]],
    touched: frozenset[str],
    options: Options,
) -> tuple[dict[str, decompose.Decomposition], dict[str, str]]:
    """A decomposition for each target whose build reads at least options.decompose_from files,
    or why it is built whole."""
    plans: dict[str, decompose.Decomposition] = {}
    notes: dict[str, str] = {}
    for target in targets:
        if max(len(reads[(target.uid, side)]) for side in SIDES) < options.decompose_from:
            continue
        if any(_remote(tree, target) for tree in trees.values()):
            continue  # not built at all (_whole)
        found = decompose.plan(trees, target, touched)
        if isinstance(found, str):
            notes[target.uid] = f"built whole: {found}"
        else:
            plans[target.uid] = found
    return plans, notes


def _whole(
    trees: Mapping[str, Tree], target: FluxTarget, reads: Mapping[tuple[str, str], set[str]], side: str
) -> BuildSpec:
    remote = _remote(trees[side], target)
    if remote is not None:
        return BuildSpec(target.path, error=f"{REMOTE}: {remote}", cacheable=False)
    return flux_spec(trees[side], target.path, target.edits_on(side), reads[(target.uid, side)])


def _remote(tree: Tree, target: FluxTarget) -> str | None:
    """`file names url`: a remote resource the build of target would fetch (None: there is none)."""
    try:
        return tree.remote_in(target.path)
    except TemplatesOnly:
        return None


def _combine(
    plan: decompose.Decomposition, pair: list[Built], scope: decompose.Scope | None, change: decompose.Change
) -> str:
    """Put each side's untouched objects beside its pruned build's; why not, when that is not exact."""
    for item in pair:
        assert item.output is not None
        if not item.output.ok and not item.output.limited:
            return f"the pruned build fails ({item.output.error})"
    combined: list[list[o.Obj] | None] = []
    for item in pair:
        if item.output is not None and item.output.limited:
            combined.append(None)
            continue
        found = decompose.combine(plan, item.objects or [], scope, change)
        if isinstance(found, str):
            return found
        combined.append(found)
    for item, objects in zip(pair, combined, strict=True):
        item.objects = objects
    return ""


def _failed(item: Built) -> bool:
    """A build kustomize ran that failed (not one stopped at a limit, nor one never run)."""
    return item.output is not None and not item.output.ok and not item.output.limited and item.spec.error is None


def _refuse_hostile(
    trees: Mapping[str, Tree], items: Iterable[Built], reads: Mapping[tuple[str, str], set[str]]
) -> None:
    """The YAML guard on every file a build is handed (a YAML file, or one a kustomization
    names), and the input limit on what one side's builds read (before any is copied)."""
    items = list(items)
    for side in SIDES:
        files = sorted({f for b in items if b.side == side for f in b.spec.files})
        if files:
            named = set().union(*(r for (_uid, s), r in reads.items() if s == side))
            refuse_hostile(trees[side], files, named)
            refuse_oversized(trees[side], files)


def _parser(target: FluxTarget | None) -> Callable[[BuildOutput], tuple[BuildOutput, Objects]]:
    """The build's objects as Flux applies them; a substitution Flux cannot run fails the build."""

    def parse(output: BuildOutput) -> tuple[BuildOutput, Objects]:
        if target is None or not output.ok:
            return output, None
        try:
            return output, o.parse(output.stdout, target.variables, target.common_metadata)
        except SubstitutionError as err:
            return BuildOutput(False, output.stdout, f"post-build variable substitution failed: {err}"), None

    return parse


def _parsing(target: FluxTarget | None) -> str:
    """What turns a build's output into objects: part of its cache key (objects are kept too)."""
    if target is None:
        return "probe"
    common = target.common_metadata
    return json.dumps(
        [sorted(target.substitute.items()), target.substitute_complete, common.labels, common.annotations]
    )


class _Runner:
    """Runs builds, each in a directory of its own under one scratch directory (made on first
    use: a batch rerun whose every build the cache answers makes none)."""

    def __init__(self, trees: Mapping[str, Tree], options: Options) -> None:
        assert options.kustomize is not None
        self.trees, self.options, self.command = trees, options, options.kustomize
        self._stack = ExitStack()
        self._root: Path | None = None
        self._lock = threading.Lock()
        self.done: list[Built] = []  # every build asked for, in order

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self._stack.close()

    def _scratch(self) -> Path:
        with self._lock:
            if self._root is None:
                self._root = Path(self._stack.enter_context(tempfile.TemporaryDirectory(prefix="codemods-verify-")))
            return Path(tempfile.mkdtemp(prefix="b", dir=self._root))

    def run(self, items: list[Built]) -> None:
        if not items:
            return
        self.done.extend(items)
        jobs = self.options.jobs or os.cpu_count() or 1
        if len(items) == 1 or jobs == 1:
            for item in items:
                self._one(item)
            return
        with ThreadPoolExecutor(max_workers=min(jobs, len(items))) as pool:
            list(pool.map(self._one, items))

    def _one(self, item: Built) -> None:
        start = time.perf_counter()
        tree = self.trees[item.side]
        cache = self.options.cache
        key = item.spec.key(tree, self.command, _parsing(item.target)) if cache and item.spec.cacheable else ""
        answer = obtain(
            cache, key, lambda: execute(item.spec, tree, self.command, self._scratch()), _parser(item.target)
        )
        item.output, item.objects, item.cached = answer.output, answer.objects, answer.cached
        item.seconds = time.perf_counter() - start

    def retry_whole(self, failed: list[Built], reads: Mapping[tuple[str, str], set[str]]) -> list[Built]:
        """A file the model's walk does not know of (a transformer's configuration, say) may be
        missing from a build's copy: a failed build is tried again on a copy of the whole tree
        before it counts (never cached: its key would be the whole tree)."""
        retry = []
        for item in failed:
            tree = self.trees[item.side]
            everything = build_files(tree, set(), whole=True)
            refuse_hostile(tree, everything, set().union(*(r for (_u, s), r in reads.items() if s == item.side)))
            refuse_oversized(tree, everything)
            assert item.target is not None
            spec = _whole(self.trees, item.target, reads, item.side)
            retry.append(Built(item.target, item.side, replace(spec, files=tuple(everything), cacheable=False)))
        self.run(retry)
        return retry

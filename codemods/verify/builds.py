"""One kustomize build of the gate: what it copies and writes (a BuildSpec, pure data), the key of
its result (the content of every file it reads and writes, the kustomize binary, and what turns
the output into objects), and the cache that answers it: this process's memory, the batch's
SQLite file, one build at a time for one key.

Each build runs in a copy of its own holding exactly the files its spec names, so its key covers
everything kustomize can read: two builds with the same key build the same thing, whatever
repository, run or target they come from.
"""

from __future__ import annotations

import hashlib
import json
import os
import posixpath
import sqlite3
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable
from contextlib import closing
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

from codemods.errors import InputError
from codemods.flux.spec import BuildEdits, dump, flux_kustomization, present_components, read_kustomization
from codemods.verify import objects as o
from codemods.verify.kustomize import BuildOutput, build
from codemods.verify.tree import Tree, build_files, materialise

Objects = list[o.Obj] | None


@dataclass(frozen=True)
class BuildSpec:
    """One build: copy files from a tree, write texts over them, build directory."""

    directory: str  # what kustomize builds, repository-relative
    files: tuple[str, ...] = ()  # copied from the tree (hard links where they can be)
    writes: tuple[tuple[str, str], ...] = ()  # (path, text) written in the copy, over any copied file
    error: str | None = None  # it cannot be built: this is its failure
    cacheable: bool = True  # a copy of the whole tree (the fallback of a failed build) is not kept

    def key(self, tree: Tree, command: tuple[str, ...], parsing: str = "") -> str:
        """The hash of everything the build's output depends on: the kustomize binary, the
        directory, every file's path and content, the written texts, and parsing (what turns
        the output into objects: the post-build substitution and commonMetadata)."""
        hasher = hashlib.sha256(json.dumps([binary(command), self.directory, parsing]).encode())
        for path in self.files:
            data = tree.read(path)
            # A name that is not UTF-8 holds surrogate escapes: hash its bytes.
            hasher.update(f"\0{path}\0{len(data) if data is not None else -1}\0".encode(errors="surrogateescape"))
            hasher.update(data or b"")
        for path, text in self.writes:
            hasher.update(f"\0w{path}\0{len(text)}\0".encode(errors="surrogateescape"))
            hasher.update(text.encode(errors="surrogateescape"))
        return hasher.hexdigest()


@lru_cache(maxsize=8)
def binary(command: tuple[str, ...]) -> tuple[str, ...]:
    """The kustomize command as a cache key knows it: its arguments, and the binary's real path,
    size and modification time (an upgrade in place changes them), read once per process."""
    try:
        real = os.path.realpath(command[0])
        info = os.stat(real)
    except OSError:
        return command
    return (real, str(info.st_size), str(info.st_mtime_ns), *command[1:])


def flux_spec(tree: Tree, path: str, edits: BuildEdits, reads: Iterable[str]) -> BuildSpec:
    """The build Flux makes of spec.path: the directory's own kustomization with the Flux
    Kustomization's fields merged in (codemods/flux/spec.py), or, for a directory without one,
    the kustomization Flux generates, written in place as Flux writes it."""
    kustomization = tree.kustomization(path)
    if not tree.is_dir(path) and kustomization is None:
        return BuildSpec(path, error=f"spec.path ./{path} does not exist")
    components = present_components(edits, lambda c: tree.is_dir(c) or tree.kustomization(c) is not None)
    relative = [relative_to(c, path) for c in components]
    files = tuple(build_files(tree, set(reads)))
    if kustomization is not None and not edits:
        return BuildSpec(path, files)
    if kustomization is not None:
        try:
            own = read_kustomization((tree.read(kustomization) or b"").decode("utf-8-sig"), kustomization)
        except (InputError, UnicodeDecodeError) as err:
            return BuildSpec(path, error=f"{kustomization}: {err}")
        return BuildSpec(path, files, ((kustomization, dump(flux_kustomization(own, [], edits, relative))),))
    resources = [relative_to(entry, path) for entry in tree.generated(path)]
    generated = flux_kustomization(None, resources, edits, relative)
    return BuildSpec(path, files, ((posixpath.join(path, "kustomization.yaml"), dump(generated)),))


def relative_to(path: str, directory: str) -> str:
    """path as a kustomization in directory names it (both repository-relative)."""
    return posixpath.relpath(path or ".", directory or ".")


def execute(spec: BuildSpec, tree: Tree, command: tuple[str, ...], where: Path) -> BuildOutput:
    """Copy, write and build spec in where (a directory of its own); errors name repository paths."""
    if spec.error is not None:
        return BuildOutput(False, "", spec.error)
    materialise(tree, list(spec.files), where)
    for path, text in spec.writes:
        written = where / path
        written.parent.mkdir(parents=True, exist_ok=True)
        written.unlink(missing_ok=True)  # a hard link: the repository keeps its bytes
        # Entries are file names: one that is not UTF-8 is written as its own bytes.
        written.write_text(text, encoding="utf-8", errors="surrogateescape")
    result = build(command, where / spec.directory)
    error = result.error.replace(f"{where}/", "").replace(str(where), "<flux>")
    return BuildOutput(result.ok, result.stdout, error, limited=result.limited)


# -- the cache ----------------------------------------------------------------------------------
class Recent:
    """The builds this process has already read from the cache or made, parsed, by cache key.

    A batch over a fleet of repositories cut from one template asks for the same builds again
    and again: each is then read from SQLite and parsed once per process, not once per
    repository. Only used with a cache (a key names its inputs exactly). The objects are shared
    between repositories, so they are only ever read (the gate copies what it changes).

    Bounded by the size of the builds' output (parsed objects take several times that): the
    least recently used go first, and an output over a quarter of the budget is not kept."""

    BUDGET = 8 * 1024 * 1024  # characters of kustomize output

    def __init__(self) -> None:
        self._items: OrderedDict[tuple[str, str], tuple[BuildOutput, Objects]] = OrderedDict()
        self._size = 0
        self._lock = threading.Lock()

    def get(self, cache: Path, key: str) -> tuple[BuildOutput, Objects] | None:
        with self._lock:
            found = self._items.get((str(cache), key))
            if found is not None:
                self._items.move_to_end((str(cache), key))
            return found

    def put(self, cache: Path, key: str, output: BuildOutput, objects: Objects) -> None:
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


RECENT = Recent()


@dataclass
class _Flight:
    """A build one worker is making for a key: the others wait for its result."""

    done: threading.Event = field(default_factory=threading.Event)
    result: tuple[BuildOutput, Objects] | None = None


class Flights:
    """Single flight per (cache, key) within the process (batch --jobs N runs repositories in
    threads): the first worker to ask builds, the others wait for it. A worker holding a flight
    never waits for another one (it only runs kustomize), so waiting cannot deadlock."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._flights: dict[tuple[str, str], _Flight] = {}

    def claim(self, cache: Path, key: str) -> tuple[_Flight, bool]:
        with self._lock:
            found = self._flights.get((str(cache), key))
            if found is not None:
                return found, False
            flight = self._flights[(str(cache), key)] = _Flight()
            return flight, True

    def land(self, cache: Path, key: str, flight: _Flight, result: tuple[BuildOutput, Objects] | None) -> None:
        flight.result = result
        with self._lock:
            self._flights.pop((str(cache), key), None)
        flight.done.set()

    def cache_clear(self) -> None:
        with self._lock:
            self._flights.clear()


FLIGHTS = Flights()


@dataclass(frozen=True)
class Answer:
    output: BuildOutput
    objects: Objects
    cached: bool  # answered without running kustomize in this call


def obtain(
    cache: Path | None,
    key: str,
    make: Callable[[], BuildOutput],
    parse: Callable[[BuildOutput], tuple[BuildOutput, Objects]],
) -> Answer:
    """A build's parsed result: from this process's memory, from another worker building the
    same key right now, from the SQLite cache, or made (and then kept). Without a cache or a
    key, always made. A build stopped at a limit is never kept."""
    if cache is None or not key:
        return Answer(*parse(make()), cached=False)
    recent = RECENT.get(cache, key)
    if recent is not None:
        return Answer(*recent, cached=True)
    flight, mine = FLIGHTS.claim(cache, key)
    if not mine:
        flight.done.wait()
        if flight.result is not None:
            return Answer(*flight.result, cached=True)
        return Answer(*parse(make()), cached=False)  # the owner's build was stopped: try ours
    result: tuple[BuildOutput, Objects] | None = None
    try:
        stored = _cached(cache, key)
        made = stored is None
        output, objects = parse(make() if stored is None else stored)
        if not output.limited:
            result = (output, objects)
            if made:
                _store(cache, key, output)
            RECENT.put(cache, key, output, objects)
        return Answer(output, objects, cached=not made)
    finally:
        FLIGHTS.land(cache, key, flight, result)


def _cached(cache: Path, key: str) -> BuildOutput | None:
    """A build result from the cache: one SQLite file (a workdir holds only clones as
    directories), one connection per call, so parallel repositories share it safely."""
    if not cache.exists():
        return None
    try:
        with closing(sqlite3.connect(cache, timeout=30)) as db:
            row = db.execute("SELECT ok, stdout, error FROM builds WHERE key = ?", (key,)).fetchone()
    except sqlite3.Error:
        return None
    return BuildOutput(bool(row[0]), str(row[1]), str(row[2])) if row else None


def _store(cache: Path, key: str, output: BuildOutput) -> None:
    try:
        cache.parent.mkdir(parents=True, exist_ok=True)
        with closing(sqlite3.connect(cache, timeout=30)) as db, db:
            db.execute("CREATE TABLE IF NOT EXISTS builds (key TEXT PRIMARY KEY, ok INTEGER, stdout TEXT, error TEXT)")
            db.execute(
                "INSERT OR REPLACE INTO builds VALUES (?, ?, ?, ?)", (key, int(output.ok), output.stdout, output.error)
            )
    except (OSError, sqlite3.Error):
        pass  # a cache that cannot be written only costs the next run a build

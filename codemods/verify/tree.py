"""A repository tree as a build sees it (on disk, or on disk with the planned writes on top),
what one kustomize build reads from it, and copying that into a directory kustomize can build.

Jinja templates rendered in place (`x.yaml.j2` -> `x.yaml`) that have no rendered copy are
rendered here with jinja2 when variables are given; otherwise a build that needs one is
reported as "templates only".
"""

from __future__ import annotations

import hashlib
import os
import posixpath
import shutil
import stat
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import jinja2

from codemods import subproc
from codemods.errors import BuildTooLarge
from codemods.flux import fields
from codemods.flux.fields import KUSTOMIZATION_NAMES
from codemods.verify.yamlload import LoadError, load
from codemods.yamltext.guard import MAX_YAML_BYTES, check, too_large

_YAML_SUFFIXES = (".yaml", ".yml", ".json")
_SKIP_DIRS = {".git", "node_modules", "__pycache__"}


class TemplatesOnly(Exception):
    """The build needs a file that exists only as an in-place Jinja template."""

    def __init__(self, logical: str) -> None:
        super().__init__(logical)
        self.logical = logical


@dataclass
class Tree:
    """Files under root, with writes (path -> bytes, or None for deleted) laid over them."""

    root: Path
    writes: Mapping[str, bytes | None] = field(default_factory=dict)
    templates: Mapping[str, str] = field(default_factory=dict)  # logical -> in-place template path
    jinja_vars: Mapping[str, object] | None = None
    base: Tree | None = None  # the same root without writes: its reads are shared
    on_disk: Mapping[str, bytes] = field(default_factory=dict)  # files already read from disk
    _read: dict[str, bytes | None] = field(default_factory=dict)
    _listing: dict[str, tuple[list[str], list[str]]] = field(default_factory=dict)
    _closure: dict[str, frozenset[str]] = field(default_factory=dict)
    _parsed: set[str] = field(default_factory=set)  # named where kustomize parses it as YAML
    _data: set[str] = field(default_factory=set)  # named as a generator's data
    _data_uses: dict[str, set[tuple[str, int]]] = field(default_factory=dict)  # the generator entries naming it
    _remote: dict[str, str] = field(default_factory=dict)  # kustomization -> a remote resource it names

    # -- files -------------------------------------------------------------------------
    def read(self, path: str) -> bytes | None:
        if path not in self._read:
            self._read[path] = self._load(path)
        return self._read[path]

    def _load(self, path: str) -> bytes | None:
        if path == ".." or path.startswith(("../", "/")):
            return None  # outside the repository: never read (kustomize reports it missing)
        if path in self.writes:
            return self.writes[path]
        template = self.templates.get(path)
        if template is not None:  # before the base: the template itself may be among the writes
            source = self.read(template)
            if source is None:
                return None
            if self.jinja_vars is None:
                raise TemplatesOnly(path)
            environment = jinja2.Environment(keep_trailing_newline=True, undefined=jinja2.StrictUndefined)
            rendered = environment.from_string(source.decode("utf-8")).render(**self.jinja_vars)
            return rendered.encode("utf-8")
        if self.base is not None:
            return self.base.read(path)
        data = self.on_disk.get(path)
        if data is not None:
            return data
        return read_regular(self.root, path)

    def raw(self, path: str) -> tuple[bytes | None, bool]:
        """(bytes, rendered?) without rendering: an in-place template's own text, unrendered."""
        try:
            return self.read(path), False
        except TemplatesOnly:
            return self.read(self.templates[path]), True

    def exists(self, path: str) -> bool:
        """Is there such a file (an in-place template counts, unrendered)?"""
        return self.raw(path)[0] is not None

    def is_dir(self, path: str) -> bool:
        files, dirs = self.listdir(path)
        return bool(files or dirs) or (self.root / path).is_dir()

    def listdir(self, directory: str) -> tuple[list[str], list[str]]:
        """(file names, subdirectory names) of directory, writes and renderable templates included."""
        if directory in self._listing:
            return self._listing[directory]
        files: set[str] = set()
        dirs: set[str] = set()
        try:
            with os.scandir(self.root / directory) as entries:
                for entry in entries:
                    if entry.is_symlink():
                        continue
                    if entry.is_dir():
                        if entry.name not in _SKIP_DIRS:
                            dirs.add(entry.name)
                    elif entry.is_file():
                        files.add(entry.name)
        except OSError:
            pass
        prefix = f"{directory}/" if directory else ""
        for path, data in self.writes.items():
            if not path.startswith(prefix):
                continue
            head, _sep, rest = path[len(prefix) :].partition("/")
            if rest:
                dirs.add(head)
            elif data is None:
                files.discard(head)
            else:
                files.add(head)
        for logical in self.templates:
            if posixpath.dirname(logical) == directory:
                files.add(posixpath.basename(logical))
        listing = (sorted(files), sorted(d for d in dirs if self._has_files(posixpath.join(directory, d))))
        self._listing[directory] = listing
        return listing

    def _has_files(self, directory: str) -> bool:
        """A directory whose every file the plan deletes is gone for git, and for the build."""
        prefix = f"{directory}/"
        if not any(p.startswith(prefix) and d is None for p, d in self.writes.items()):
            return True  # nothing deleted below it: as it is on disk (or newly written)
        if any(p.startswith(prefix) and d is not None for p, d in self.writes.items()):
            return True
        for dirpath, _dirnames, filenames in os.walk(self.root / directory):
            for name in filenames:
                rel = Path(dirpath, name).relative_to(self.root).as_posix()
                if self.writes.get(rel, b"") is not None:
                    return True
        return False

    def kustomization(self, directory: str) -> str | None:
        for name in KUSTOMIZATION_NAMES:
            path = posixpath.join(directory, name)
            if self.exists(path):
                return path
        return None

    # -- what a build reads (the model's walk: codemods/flux/fields.py) ---------------------
    def is_manifest(self, path: str) -> bool:
        data = self.read(path)
        return data is not None and b"apiVersion" in data and b"kind" in data

    def generated(self, directory: str) -> list[str]:
        """What Flux lists in the kustomization it generates for a directory without one."""
        return fields.generated(self, directory)

    def closure(self, directory: str) -> frozenset[str]:
        """Every file the build of directory reads (raises TemplatesOnly)."""
        return fields.build_reads(self, directory, self._closure)

    def references(self, kustomization: str) -> list[str]:
        """Local paths a kustomization file names, resolved to repo-relative paths."""
        data = self.read(kustomization)
        if data is None:
            return []
        check(data, kustomization)  # before PyYAML builds it, and kustomize expands it
        try:
            doc = load(data)
        except LoadError:
            return []
        here = posixpath.dirname(kustomization)
        found = []
        for number, entry in enumerate(fields.path_entries(doc, fields.DATA)):
            if fields.is_remote(entry.value):
                self._remote.setdefault(kustomization, entry.value)
            else:
                path = fields.resolve(here, entry.value)
                (self._data if entry.field.data else self._parsed).add(path)
                if entry.field.data:
                    self._data_uses.setdefault(path, set()).add((kustomization, number))
                found.append(path)
        return found

    def size(self, path: str) -> int:
        """Bytes of a file as a build reads it, without reading an unchanged one."""
        if path in self.writes or path in self.templates:
            try:
                data = self.read(path)
            except TemplatesOnly:
                return 0  # never copied (see materialise): no build reads it
            return len(data) if data is not None else 0
        try:
            info = os.lstat(self.root / path)
        except OSError:
            return 0
        return info.st_size if stat.S_ISREG(info.st_mode) else 0

    def data_uses(self, path: str) -> int:
        return len(self._data_uses.get(path, ()))

    def remote_in(self, directory: str) -> str | None:
        """`file: url` of a remote resource the build of directory would fetch, if any."""
        for path in sorted(self.closure(directory)):
            if path in self._remote:
                return f"{path} names {self._remote[path]}"
        return None

    def only_data(self, path: str) -> bool:
        """Is path named only as a generator's data (a file kustomize copies, never parses)?"""
        return path in self._data and path not in self._parsed

    def all_files(self) -> Iterator[str]:
        """Every file of the tree (for the full copy a partial one falls back to)."""
        stack = [""]
        while stack:
            directory = stack.pop()
            files, dirs = self.listdir(directory)
            yield from (posixpath.join(directory, f) for f in files)
            stack.extend(posixpath.join(directory, d) for d in dirs)


def is_yaml_name(path: str) -> bool:
    """A file kustomize parses as YAML when it reads it (JSON is YAML to it)."""
    return path.endswith(_YAML_SUFFIXES) or posixpath.basename(path) in KUSTOMIZATION_NAMES


def read_regular(root: Path, path: str) -> bytes | None:
    """The bytes of a regular file of the repository; None for anything else.

    The type comes from lstat, before any open: a FIFO named `x.yaml` would block a read
    for ever, a link may lead out of the repository or round in a loop. A YAML file over
    the guard's size cap is refused unread (HostileYAML): kustomize would parse all of it."""
    full = os.path.join(root, path)
    try:
        info = os.lstat(full)
    except OSError:
        return None
    if not stat.S_ISREG(info.st_mode):
        return None
    if info.st_size > MAX_YAML_BYTES and is_yaml_name(path):
        raise too_large(path, info.st_size)
    try:
        # O_NONBLOCK: should a FIFO take the file's place after the lstat, open() returns at once.
        fd = os.open(full, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError:
        return None
    with os.fdopen(fd, "rb") as handle:
        return handle.read()


def build_files(tree: Tree, files: set[str], whole: bool = False) -> list[str]:
    """What builds need: the files, and every file beside them (a kustomization may read a file
    this walk does not know of); with whole, the entire tree. Never anything outside it."""
    wanted = set(tree.all_files()) if whole else _with_neighbours(tree, files)
    return sorted(p for p in wanted if p != ".." and not p.startswith(("../", "/")))


def refuse_hostile(tree: Tree, wanted: list[str], closure: set[str]) -> None:
    """Raise HostileYAML for a file a build may parse that the YAML guard refuses (an alias
    bomb kustomize would expand to gigabytes, nesting too deep, a file too large), before
    any is copied: every YAML file of wanted, and whatever a kustomization names (a
    resource need not be called .yaml)."""
    for path in wanted:
        if not (is_yaml_name(path) or path in closure):
            continue
        if not is_yaml_name(path) and tree.only_data(path):
            continue  # a generator's data.txt is no YAML: the build's output cap bounds it
        try:
            data = tree.read(path)
        except TemplatesOnly:
            continue  # never copied: no build reads it
        if data is not None:
            check(data, path)


def refuse_oversized(tree: Tree, wanted: list[str]) -> None:
    """Raise BuildTooLarge when the builds of a side would read more than the input limit,
    before anything is copied or built: kustomize holds what it reads in memory several times
    over, so a generator over a file of hundreds of MB (or one file named by many generators)
    takes gigabytes and minutes before any output or memory limit can stop it."""
    limit = subproc.Limits.build().input
    weights = {path: tree.size(path) * max(1, tree.data_uses(path)) for path in wanted}
    total = sum(weights.values())
    if total <= limit:
        return
    largest = max(weights, key=lambda p: weights[p])
    uses = tree.data_uses(largest)
    times = f" named by {uses} generators" if uses > 1 else ""
    raise BuildTooLarge(
        largest,
        None,
        f"{subproc.size(tree.size(largest))}{times}: the build would read {subproc.size(total)}, over the "
        f"{subproc.size(limit)} a build may read (CODEMODS_BUILD_INPUT_MB); kustomize would need gigabytes",
    )


def materialise(tree: Tree, wanted: list[str], dest: Path) -> None:
    """Write the files of build_files() into dest. Hard links where the file is unchanged and
    the filesystem allows, copies otherwise."""
    for path in wanted:
        target = dest / path
        target.parent.mkdir(parents=True, exist_ok=True)
        if path in tree.writes or not (tree.root / path).is_file() or tree.templates.get(path):
            try:
                data = tree.read(path)
            except TemplatesOnly:
                continue  # no build reads it, or that build is already "templates only"
            if data is not None:
                target.write_bytes(data)
            continue
        source = tree.root / path
        if not source.resolve().is_relative_to(tree.root.resolve()):
            continue  # a link that leads out of the repository is not followed
        try:
            os.link(source, target)
        except OSError:
            shutil.copyfile(source, target)


def digest(tree: Tree, paths: list[str]) -> str:
    """What a set of files holds, as one hash: equal digests, equal builds."""
    hasher = hashlib.sha256()
    for path in paths:
        data = tree.read(path)
        # A name that is not UTF-8 holds surrogate escapes: hash its bytes.
        hasher.update(f"{path}\0{len(data) if data is not None else -1}\0".encode(errors="surrogateescape"))
        hasher.update(data or b"")
    return hasher.hexdigest()


def _with_neighbours(tree: Tree, files: set[str]) -> set[str]:
    """The files, and the others beside them, in case a kustomization reads one the walk does
    not know of; a neighbour larger than a manifest may be (a backup, an archive) is left out
    unread: no kustomization names it, and copying it would cost its size twice."""
    wanted = set(files)
    for directory in {posixpath.dirname(f) for f in files}:
        names, _dirs = tree.listdir(directory)
        beside = (posixpath.join(directory, n) for n in names)
        wanted.update(p for p in beside if p in files or tree.size(p) <= MAX_YAML_BYTES)
    return {p for p in wanted if not p.endswith(".j2") or p in files}

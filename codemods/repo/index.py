"""One cheap pass over a checkout: list YAML files and flag the few that need a parse.

Reading and regex-searching bytes is hundreds of times faster than a YAML parse, so every
decision about what to parse is made here, on bytes (domain-facts §5).
"""

from __future__ import annotations

import os
import posixpath
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

from codemods.errors import EncodingError
from codemods.flux.fields import KUSTOMIZATION_NAMES
from codemods.repo.layout import Copy, Layout, load_layout, normalize
from codemods.repo.needles import Needles
from codemods.yamltext.guard import MAX_YAML_BYTES, too_large

YAML_SUFFIXES = (".yaml", ".yml", ".yaml.j2", ".yml.j2")
_SKIP_DIRS = {"node_modules", "__pycache__"}
# No GitOps manifest is this big; a file that is gets a warning instead of a read and a parse
# (the YAML guard's cap: the build gate refuses to hand such a file to kustomize).
MAX_FILE_BYTES = MAX_YAML_BYTES
FIRST_READ = 64 * 1024
_READ_ON = 1024 * 1024

# Literal `in` tests run at C speed; a regex only runs on the few files that pass them.
_JOB_KIND = re.compile(rb"kind:[ \t]*[\"']?Job\b")
_SECRET_KIND = re.compile(rb"(?m)^kind:[ \t]*[\"']?(?:Secret|ExternalSecret)\b")
# A quoted spec.path may hold spaces ("./apps/app dir"); a plain one ends at a space or comment.
_FLUX_PATH = re.compile(rb"(?m)^[ \t]*path:[ \t]*(?:\"([^\"\n]+)\"|'([^'\n]+)'|([^\"'\s#]+))")


class Facts(NamedTuple):
    """What the pre-filter saw in one physical file. (A NamedTuple: one is made for most files
    of a repository, and a tuple is built at half the cost of a frozen dataclass.)"""

    values_match: bool = False  # a HelmRelease that mentions a wanted values key or chart
    job_match: bool = False  # a Job that a wanted JobMatcher's patterns both occur in
    flux_paths: tuple[str, ...] = ()  # spec.path candidates of Flux Kustomizations
    job: bool = False  # any Job manifest
    helm_release: bool = False  # any Flux HelmRelease
    secret_source: bool = False  # may declare a Secret (Secret, ExternalSecret, CNPG, existingSecret)
    chart_source: bool = False  # an OCIRepository or HelmChart that mentions a wanted chart
    values_source: bool = False  # a ConfigMap, Secret or plain file that mentions a wanted values key
    chart_match: bool = False  # a HelmRelease that names a wanted chart only (not a values key)


@dataclass
class Unit:
    """A logical file: its rendered copy, its template, or both."""

    logical: str
    template: Copy | None = None
    rendered: Copy | None = None

    @property
    def copies(self) -> list[Copy]:
        return [c for c in (self.template, self.rendered) if c is not None]

    @property
    def primary(self) -> Copy:
        """The copy to analyse: the template is the source of truth when there is one."""
        copy = self.template or self.rendered
        assert copy is not None
        return copy


@dataclass
class RepoIndex:
    root: Path
    layout: Layout
    units: dict[str, Unit] = field(default_factory=dict)
    facts: dict[str, Facts] = field(default_factory=dict)  # physical path -> facts, flagged files only
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (path, why)
    shadowed: list[str] = field(default_factory=list)  # templates another makejinja input overrides
    _dirs: dict[str, list[str]] = field(default_factory=dict)  # logical dir -> logical files
    _memo: dict[str, list[Unit]] = field(default_factory=dict)  # derived views, once scan() is done
    # How scan() flagged the files: a reader that needs other flags must scan again.
    doctor: bool = False
    needles: Needles | None = None
    # Models derived from this index (the reference graph), built once and shared by the
    # codemods, the build gate and the doctor's look at the touched files.
    derived: dict[str, object] = field(default_factory=dict)
    # The bytes scan() already read of the files every graph question reads again (kustomization
    # files and Flux Kustomizations): a few KiB each, and a second open() of thousands is not free.
    _kept: dict[str, bytes] = field(default_factory=dict)
    _logical_of: dict[str, str] = field(default_factory=dict)  # physical -> logical, files with facts
    _kustomization_files: set[str] = field(default_factory=set)  # logical paths
    _directories: set[str] | None = None

    def units_in(self, logical_dir: str) -> list[Unit]:
        return [self.units[p] for p in self._dirs.get(logical_dir, ())]

    def kustomization(self, logical_dir: str) -> Unit | None:
        for name in KUSTOMIZATION_NAMES:
            unit = self.units.get(posixpath.join(logical_dir, name))
            if unit is not None:
                return unit
        return None

    def kustomizations(self) -> list[Unit]:
        """Every kustomization file's unit, in path order (computed once: the index is final)."""
        if "kustomizations" not in self._memo:
            self._memo["kustomizations"] = [self.units[logical] for logical in sorted(self._kustomization_files)]
        return self._memo["kustomizations"]

    def flagged(self, attribute: str) -> list[Unit]:
        """Units with at least one copy whose facts have attribute set, in path order."""
        key = f"flagged:{attribute}"
        if key not in self._memo:
            seen = {self._logical_of[path] for path, facts in self.facts.items() if getattr(facts, attribute)}
            self._memo[key] = [self.units[logical] for logical in sorted(seen)]
        return self._memo[key]

    def directories(self) -> set[str]:
        """Every directory of the repository that holds a file, directly or below ("" the root)."""
        if self._directories is None:
            found = {""}
            for directory in self._dirs:
                while directory and directory not in found:
                    found.add(directory)
                    directory = directory.rpartition("/")[0]
            self._directories = found
        return self._directories

    def kept(self, path: str) -> bytes | None:
        """The bytes scan() read of a kustomization file or a Flux Kustomization (None: not kept)."""
        return self._kept.get(path)

    def kept_files(self) -> Mapping[str, bytes]:
        """Every file kept(), by path: the build gate reads them from here, not from disk again."""
        return self._kept

    def read_bytes(self, path: str) -> bytes | None:
        """A file's bytes, read the scan's fast way; None when it is too large to be a manifest."""
        data = self._kept.get(path)
        return data if data is not None else _read_capped(os.path.join(self.root, path))

    def read_text(self, path: str) -> str:
        data = self.read_bytes(path)
        if data is None:  # grown past the cap since the scan
            raise too_large(path, os.lstat(self.root / path).st_size)
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError as err:
            line = data.count(b"\n", 0, err.start) + 1
            raise EncodingError(path, line, "not valid UTF-8: left unchanged") from None


def _walk(root: Path, skipped: list[tuple[str, str]]) -> Iterator[tuple[str, str]]:
    """(repo-relative posix path, absolute path) of every YAML-ish regular file.

    Symbolic links are never followed (they may lead out of the repository); they are
    reported in skipped."""
    stack = [("", str(root))]
    while stack:
        rel_dir, abs_dir = stack.pop()
        try:
            entries = list(os.scandir(abs_dir))
        except OSError:
            continue
        for entry in entries:
            name = entry.name
            rel = f"{rel_dir}/{name}" if rel_dir else name
            wanted = name.endswith(YAML_SUFFIXES) or name in KUSTOMIZATION_NAMES
            if entry.is_symlink():
                if wanted or _is_dir_link(entry):
                    target = os.path.realpath(entry.path)
                    where = "outside the repository" if not _inside(root, target) else "inside the repository"
                    skipped.append((rel, f"symbolic link to {where}: not followed"))
                continue
            if entry.is_dir():
                if not name.startswith(".") and name not in _SKIP_DIRS:
                    stack.append((rel, entry.path))
            elif wanted:
                # A FIFO or a device named like a manifest would block or never end a read.
                if entry.is_file():
                    yield rel, entry.path
                else:
                    skipped.append((rel, "not a regular file: not read"))


def scanned(path: str) -> bool:
    """Whether scan() reads the file at this posix path (relative to the scanned root), judged
    by its name alone as _walk judges it: a YAML-ish name, no hidden or skipped directory on
    the way. makejinja.toml too, which load_layout reads."""
    *dirs, name = path.split("/")
    if any(part.startswith(".") or part in _SKIP_DIRS for part in dirs):
        return False
    return name.endswith(YAML_SUFFIXES) or name in KUSTOMIZATION_NAMES or path == "makejinja.toml"


def _is_dir_link(entry: os.DirEntry[str]) -> bool:
    """Does a link lead to a directory? A loop of links (ring-a -> ring-b -> ring-a) counts as
    one: never followed, and said so, rather than an ELOOP that ends the run."""
    try:
        return entry.is_dir()
    except OSError:
        return True


def _facts(data: bytes, doctor: bool, needles: Needles) -> Facts | None:
    """The codemods' flags; with doctor, also the flags only the doctor's rules need.

    This runs once per file of the repository, so it is written for the interpreter: plain
    `in` tests (C speed), a regex only behind a literal that must occur, no generators."""
    mentions = False
    for needle in needles.values:
        if needle in data:
            mentions = True
            break
    release_kind = b"HelmRelease" in data
    # Only a HelmRelease can need the values edit; other files that mention the key never do.
    values_match = mentions and release_kind
    job = b"Job" in data and _JOB_KIND.search(data) is not None
    job_match = False
    if job:
        for matcher in needles.jobs:
            name, text = matcher.bytes_res
            if name.search(data) is not None and text.search(data) is not None:
                job_match = True
                break
    flux_paths: tuple[str, ...] = ()
    if b"kustomize.toolkit.fluxcd.io" in data:
        flux_paths = tuple(
            normalize(b"".join(groups).decode("utf-8", "replace")) for groups in _FLUX_PATH.findall(data)
        )
    # A HelmRelease whose chartRef names a litellm-helm OCIRepository need not mention the chart.
    helm_release = release_kind and b"helm.toolkit.fluxcd.io" in data
    named = False
    for chart in needles.charts:
        if chart in data:
            named = True
            break
    chart_match = named and release_kind and not values_match
    chart_source = values_source = False
    if (mentions or named) and not release_kind:
        chart_source = b"OCIRepository" in data or b"HelmChart" in data
        values_source = mentions and not chart_source
    secret_source = False
    if doctor:
        # A top-level `kind: Secret` declares one; the indented one of substituteFrom does not.
        secret_source = (
            (b"Secret" in data and _SECRET_KIND.search(data) is not None)
            or b"existingSecret" in data
            or b"postgresql.cnpg.io" in data
        )
    else:
        job = False  # only the doctor's rules read every Job
    if (
        values_match
        or job_match
        or flux_paths
        or job
        or helm_release
        or secret_source
        or chart_source
        or values_source
        or chart_match
    ):
        return Facts(
            values_match,
            job_match,
            flux_paths,
            job,
            helm_release,
            secret_source,
            chart_source,
            values_source,
            chart_match,
        )
    return None


def _read_capped(abs_path: str) -> bytes | None:
    """The bytes of a file, or None when it holds more than MAX_FILE_BYTES.

    The scan reads every file of the repository, so this is os.open/os.read rather than open():
    no buffered reader to build and no fstat for its buffer size, which halves the cost of
    reading a small manifest. A first small read covers almost every manifest (os.read(n)
    allocates n bytes up front); it still reads until end of file, as short reads are allowed.
    The walk only yields regular files; should a FIFO or a link take one's place before the
    open, O_NONBLOCK makes the open and the read return at once and O_NOFOLLOW refuses the link."""
    fd = os.open(abs_path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOFOLLOW)
    try:
        data = os.read(fd, FIRST_READ)
        if not data:
            return data
        parts, size = [data], len(data)
        while size <= MAX_FILE_BYTES:
            more = os.read(fd, min(_READ_ON, MAX_FILE_BYTES + 1 - size))
            if not more:
                break
            parts.append(more)
            size += len(more)
    finally:
        os.close(fd)
    if size > MAX_FILE_BYTES:
        return None
    return data if len(parts) == 1 else b"".join(parts)


def _inside(root: Path, real: str) -> bool:
    base = os.path.realpath(root)
    return real == base or real.startswith(base + os.sep)


def scan(root: Path, doctor: bool = False, needles: Needles = Needles()) -> RepoIndex:
    layout = load_layout(root)
    index = RepoIndex(root, layout, doctor=doctor, needles=needles)
    units = index.units
    for rel, abs_path in _walk(root, index.skipped):
        classified = layout.classify(rel)
        if classified is None:
            continue
        logical, copy = classified
        try:
            data = _read_capped(abs_path)
        except OSError as err:
            index.skipped.append((rel, f"cannot read: {err.strerror}"))
            continue
        if data is None:
            try:
                size = f"{os.stat(abs_path, follow_symlinks=False).st_size // (1024 * 1024)} MiB"
            except OSError:  # gone since the read
                size = "over 4 MiB"
            index.skipped.append((rel, f"{size}: too large for a manifest, not read"))
            continue
        # Only a file that was read whole becomes part of the model: nothing reads it later.
        unit = units.get(logical)
        if unit is None:
            unit = units[logical] = Unit(logical)
        if copy.is_template:
            if unit.template is not None and layout.precedence(unit.template.path) <= layout.precedence(copy.path):
                index.shadowed.append(copy.path)
                continue
            if unit.template is not None:
                index.shadowed.append(unit.template.path)
            unit.template = copy
        else:
            unit.rendered = copy
        facts = _facts(data, doctor, needles)
        if facts is not None:
            index.facts[rel] = facts
            index._logical_of[rel] = logical
        if logical.rpartition("/")[2] in KUSTOMIZATION_NAMES:
            index._kustomization_files.add(logical)
            index._kept[rel] = data
        elif facts is not None and facts.flux_paths:
            index._kept[rel] = data
    dirs = index._dirs
    for logical in sorted(units):
        # rpartition is posixpath.dirname for these normalized paths, at a fifth of the cost.
        dirs.setdefault(logical.rpartition("/")[0], []).append(logical)
    return index

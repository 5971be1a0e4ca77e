"""Read the temporary index file a branch is built from: its entries and its cache tree.

Only the plain formats are read (versions 2 and 3, no split index, no sparse directories);
`INDEX_CONFIG` makes git write exactly those for the temporary index, whatever the user's
configuration says (`index.version=4`, `feature.manyFiles`, `core.splitIndex`,
`index.sparse`, a sparse checkout). Paths are bytes on disk and are decoded with
surrogateescape, so a file name that is not UTF-8 survives the round trip.

The cache tree (the `TREE` extension) holds the id git stored for each directory that
`read-tree` read and no later update touched. A directory whose recomputed id differs from
it (a tree an old git wrote with mode `100664`, say) is a new object, to be written too.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path

from codemods.errors import InputError

# `git -c ...` for every command that writes the temporary index (see the module docstring).
INDEX_CONFIG = (
    *("-c", "index.version=2"),
    *("-c", "feature.manyFiles=false"),
    *("-c", "core.splitIndex=false"),
    *("-c", "index.sparse=false"),
    *("-c", "core.sparseCheckout=false"),
    *("-c", "index.skipHash=false"),
)

# GIT_INDEX_VERSION in the environment beats `-c index.version`: it is set for those commands too.
INDEX_ENV = {"GIT_INDEX_VERSION": "2"}

_EXTENDED = 0x4000


@dataclass(frozen=True)
class IndexContent:
    entries: dict[str, tuple[int, bytes]]  # path: (mode, binary object id), stage 0 only
    trees: dict[str, bytes]  # directory ("" is the root): the tree id the cache tree holds


def read_index(path: Path) -> IndexContent:
    data = path.read_bytes()
    if data[:4] != b"DIRC" or len(data) < 32:
        raise InputError(str(path), None, "not a git index file")
    version, count = struct.unpack(">II", data[4:12])
    if version not in (2, 3):
        raise InputError(str(path), None, f"index version {version}: only versions 2 and 3 are read")
    entries: dict[str, tuple[int, bytes]] = {}
    pos = 12
    for _ in range(count):
        start = pos
        (mode,) = struct.unpack(">I", data[pos + 24 : pos + 28])
        binsha = data[pos + 40 : pos + 60]
        (flags,) = struct.unpack(">H", data[pos + 60 : pos + 62])
        pos += 64 if flags & _EXTENDED else 62
        end = data.index(b"\0", pos)
        name = data[pos:end].decode("utf-8", "surrogateescape")
        pos = start + ((end + 1 - start + 7) & ~7)  # 1 to 8 NULs pad an entry to 8 bytes
        if (flags >> 12) & 3 == 0:
            entries[name] = (mode, binsha)
    trees: dict[str, bytes] = {}
    while pos + 8 <= len(data) - 20:
        signature = data[pos : pos + 4]
        (size,) = struct.unpack(">I", data[pos + 4 : pos + 8])
        if signature == b"TREE":
            _read_cache_tree(data[pos + 8 : pos + 8 + size], 0, None, trees)
        pos += 8 + size
    return IndexContent(entries, trees)


def _read_cache_tree(data: bytes, pos: int, parent: str | None, trees: dict[str, bytes]) -> int:
    """One cache-tree entry and its subtrees (pre-order): `name NUL count SP subtrees LF [id]`;
    a count of -1 is a directory an update invalidated (no id)."""
    end = data.index(b"\0", pos)
    name = data[pos:end].decode("utf-8", "surrogateescape")
    where = "" if parent is None else f"{parent}/{name}" if parent else name  # the root's name is empty
    space = data.index(b" ", end)
    newline = data.index(b"\n", space)
    count, subtrees = int(data[end + 1 : space]), int(data[space + 1 : newline])
    pos = newline + 1
    if count >= 0:
        trees[where] = data[pos : pos + 20]
        pos += 20
    for _ in range(subtrees):
        pos = _read_cache_tree(data, pos, where, trees)
    return pos

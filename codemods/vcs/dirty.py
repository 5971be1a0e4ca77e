"""Uncommitted changes in a checkout, as git itself reports them.

`codemods run` in place refuses to edit, move or delete a file that differs from HEAD (in the
work tree or the index) or that git does not track: the user's own edits would be mixed with
the codemods' in one file, and git could not give the user's version back. `--allow-dirty`
lifts the refusal, as for `cargo fix`. Files git ignores are not checked (cargo's convention
too): they are meant to stay outside version control. A directory outside any git work tree
has nothing to compare against, and is not checked either.

`codemods run --branch` plans on a committed tree; `left_out` says which uncommitted files it
therefore did not see as they are in the checkout.

git is asked (`git rev-parse --show-prefix`, then `git status --porcelain=v1 -z`); its files are
never read here. GitPython is not imported: an in-place run does not pay for it.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from codemods import subproc
from codemods.errors import InputError
from codemods.repo.index import scanned

ALLOW_FLAG = "--allow-dirty"
# git's own message for a directory outside any repository (the locale is pinned to C below).
_NOT_A_REPOSITORY = b"not a git repository"
# The porcelain v1 codes of a path with a merge conflict (git-status(1), "Short Format").
_SHORTEST_ENTRY = len("XY p")  # two status letters, a space, a path of one character
_UNMERGED = {"DD", "AU", "UD", "UA", "DU", "AA", "UU"}
# Y, the work tree against the index (Y "A": `git add -N`); else X, the index against HEAD.
_WORK_TREE_STATES = {"M": "modified", "D": "deleted", "T": "type changed", "A": "added"}
_INDEX_STATES = {"M": "staged", "D": "deleted", "T": "type changed", "A": "added"}


@dataclass(frozen=True)
class Uncommitted:
    file: str  # posix, relative to the directory asked about (as a plan names its files)
    state: str  # modified, staged, added, deleted, type changed, unmerged or untracked

    def __str__(self) -> str:
        return f"{self.file} ({self.state})"

    def as_json(self) -> dict[str, str]:
        return {"file": self.file, "state": self.state}


class GitStatusError(InputError):
    """git could not say which files have uncommitted changes."""


class DirtyCheckout(InputError):
    """The change would edit, move or delete files with uncommitted changes."""

    def __init__(self, where: str, files: Sequence[Uncommitted]) -> None:
        count = f"{len(files)} file{'s' if len(files) != 1 else ''}"
        listed = ", ".join(str(f) for f in files)
        super().__init__(
            where,
            None,
            f"the change would edit, move or delete {count} with uncommitted changes, which git could not "
            f"give back: {listed}; commit or stash them first, or pass {ALLOW_FLAG} to change them anyway",
        )
        self.files = list(files)


def uncommitted(directory: Path) -> dict[str, Uncommitted] | None:
    """Every file below directory that differs from HEAD (work tree or index) or is untracked,
    by path relative to directory; a directory git reports as a whole (a nested repository)
    ends in "/". None when directory is in no git work tree, or git is not installed."""
    shown = _git(directory, "rev-parse", "--show-prefix")
    if shown is None:
        return None
    prefix = shown.decode("utf-8", "surrogateescape").removesuffix("\n")
    # --untracked-files=all: each untracked file by name, whatever status.showUntrackedFiles
    # says; --no-renames: one path per entry; the pathspec "." keeps the walk inside directory.
    output = _git(directory, "status", "--porcelain=v1", "-z", "--no-renames", "--untracked-files=all", "--", ".")
    return parse_status(output or b"", prefix)


def parse_status(output: bytes, prefix: str = "") -> dict[str, Uncommitted]:
    """`git status --porcelain=v1 -z` output (paths from the top of the work tree) as
    Uncommitted files, by path relative to prefix (the directory asked about, "" or "dir/")."""
    found: dict[str, Uncommitted] = {}
    fields = iter(output.split(b"\0"))
    for entry in fields:
        if len(entry) < _SHORTEST_ENTRY:
            continue  # the empty field after the last NUL
        code = entry[:2].decode("ascii", "replace")
        if code[0] in "RC":
            next(fields, None)  # a rename or copy (only without --no-renames): its source follows
        path = entry[3:].decode("utf-8", "surrogateescape")
        if path.startswith(prefix):
            relative = path[len(prefix) :]
            # `git rm --cached` lists a path twice (deleted from the index, and untracked):
            # untracked is what it is now.
            previous = found.get(relative)
            if previous is None or previous.state != "untracked":
                found[relative] = Uncommitted(relative, state(code))
    return found


def state(code: str) -> str:
    """A word for a porcelain status code XY (X: the index against HEAD, Y: the work tree
    against the index)."""
    if code == "??":
        return "untracked"
    if code in _UNMERGED:
        return "unmerged"
    if code[1] != " ":
        return _WORK_TREE_STATES.get(code[1], "modified")
    return _INDEX_STATES.get(code[0], "staged")


def refuse_dirty(directory: Path, touched: Iterable[str]) -> None:
    """Raise DirtyCheckout when any file the change would touch (paths relative to directory)
    has uncommitted changes."""
    try:
        found = uncommitted(directory)
    except GitStatusError as err:
        advice = f"; fix that, or pass {ALLOW_FLAG} to write without asking git"
        raise GitStatusError(err.path, None, err.diagnostic.message + advice) from None
    if not found:
        return
    dirty = [hit for path in sorted(set(touched)) if (hit := _lookup(found, path)) is not None]
    if dirty:
        raise DirtyCheckout(str(directory), dirty)


def left_out(directory: Path, touched: Iterable[str]) -> list[Uncommitted]:
    """What a plan made on a committed tree did not see as the checkout has it: uncommitted
    files below directory that the plan would change (touched) or that the scan reads
    (manifests, kustomizations, templates, makejinja.toml). Other files (a README, a script)
    cannot change a plan and are not named."""
    found = uncommitted(directory) or {}
    wanted = set(touched)
    return [found[path] for path in sorted(found) if path in wanted or scanned(path)]


def _lookup(found: Mapping[str, Uncommitted], path: str) -> Uncommitted | None:
    if path in found:
        return found[path]
    parts = path.split("/")
    for depth in range(1, len(parts)):  # inside a directory git reports whole (a nested repository)
        whole = found.get("/".join(parts[:depth]) + "/")
        if whole is not None:
            return Uncommitted(path, whole.state)
    return None


def _git(directory: Path, *args: str) -> bytes | None:
    """git's stdout; None outside a work tree or without git; GitStatusError on any other failure."""
    # C locale: git's messages in English, to recognise "not a git repository". No optional
    # locks: a status that only reads must not take index.lock from a concurrent git command.
    env = {**os.environ, "LC_ALL": "C", "GIT_OPTIONAL_LOCKS": "0"}
    try:
        done = subproc.run(["git", *args], subproc.Limits.git(), cwd=directory, env=env)
    except FileNotFoundError:
        return None  # no git installed: nothing to ask
    except subproc.LimitExceeded as err:
        raise GitStatusError(str(directory), None, f"cannot tell which files have uncommitted changes: {err}") from None
    except OSError as err:
        raise GitStatusError(str(directory), None, f"cannot run git: {err.strerror or err}") from None
    if done.returncode == 0:
        return done.stdout
    if _NOT_A_REPOSITORY in done.stderr:
        return None
    said = done.stderr.decode("utf-8", "replace").strip() or f"exit status {done.returncode}"
    raise GitStatusError(
        str(directory),
        None,
        f"cannot tell which files have uncommitted changes: git {args[0]} failed: {said}",
    )

"""A repository's planned changes: edits, moves and deletions, their diff, and an atomic apply.

Codemods never write. They read the planned view of a file (so a later codemod sees an
earlier one's edit) and add changes with a reason. Only `apply` touches the disk, after
every change of the repo has been planned and every new file has been staged.
"""

from __future__ import annotations

import difflib
import os
import stat
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from codemods.errors import InputError
from codemods.repo.index import RepoIndex

Action = Literal["edit", "move", "delete"]


@dataclass(frozen=True)
class Change:
    codemod: str
    action: Action
    file: str  # the file changed; for a move, its old path
    reason: str
    to: str | None = None  # new path of a move


@dataclass(frozen=True)
class Warning:
    file: str
    line: int | None
    message: str
    codemod: str | None = None

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        return f"{where}: {self.message}"


@dataclass
class Plan:
    index: RepoIndex
    changes: list[Change] = field(default_factory=list)
    warnings: list[Warning] = field(default_factory=list)
    unresolved: list[Warning] = field(default_factory=list)  # needed, but not possible here
    moves: dict[str, str] = field(default_factory=dict)  # physical src -> dst, byte-for-byte
    deletes: set[str] = field(default_factory=set)
    relocated: dict[str, str] = field(default_factory=dict)  # logical src -> logical dst
    _texts: dict[str, str] = field(default_factory=dict)  # physical path -> planned text
    _originals: dict[str, str] = field(default_factory=dict)

    @property
    def root(self) -> Path:
        return self.index.root

    # -- the planned view -------------------------------------------------------------
    def text(self, path: str) -> str:
        """The planned content of path; a move's destination reads as its (edited) source."""
        if path in self._texts:
            return self._texts[path]
        if path not in self._originals:
            source = self._source_of(path)
            self._originals[path] = self.text(source) if source else self.index.read_text(path)
        return self._originals[path]

    def _source_of(self, path: str) -> str | None:
        return next((src for src, dst in self.moves.items() if dst == path), None)

    # -- adding changes ---------------------------------------------------------------
    def edit(self, codemod: str, path: str, new_text: str, reason: str) -> None:
        """Edit a file; after a move, edit its destination (the diff shows a rename with hunks)."""
        if path in self.moves or path in self.deletes:
            raise AssertionError(f"{path}: edit the move's destination, not its source")
        if new_text == self.text(path):
            return
        self._texts[path] = new_text
        self.changes.append(Change(codemod, "edit", path, reason))

    def move(self, codemod: str, src: str, dst: str, reason: str) -> None:
        if src in self._texts:
            raise AssertionError(f"{src}: moved after being edited")
        self.moves[src] = dst
        self.changes.append(Change(codemod, "move", src, reason, to=dst))

    def delete(self, codemod: str, path: str, reason: str) -> None:
        """Delete a file; edits planned for it before are dropped (the diff shows the original go)."""
        if path in self._texts:
            self.changes[:] = [c for c in self.changes if not (c.action == "edit" and c.file == path)]
            self._texts[path] = self._originals[path]
        self.deletes.add(path)
        self.changes.append(Change(codemod, "delete", path, reason))

    def unresolved_warning(self, file: str, line: int | None, message: str, codemod: str | None = None) -> None:
        """A change that is needed but cannot be made here (a SOPS file, a remote base): it is
        reported, and `--check` still fails, because the repository is not fixed."""
        warning = Warning(file, line, message, codemod)
        if warning not in self.unresolved:
            self.unresolved.append(warning)
        self.warn(file, line, message, codemod)

    def warn(self, file: str, line: int | None, message: str, codemod: str | None = None) -> None:
        """Say something once: two codemods that meet the same problem in a file report it once."""
        if not any((w.file, w.line, w.message) == (file, line, message) for w in self.warnings):
            self.warnings.append(Warning(file, line, message, codemod))

    # -- reading the result -------------------------------------------------------------
    def edits(self) -> Iterator[tuple[str, str, str]]:
        """(path, old text, new text) of every file that stays in place and changes."""
        destinations = set(self.moves.values())
        for path in sorted(self._texts):
            old, new = self._originals[path], self._texts[path]
            if old != new and path not in destinations and path not in self.deletes:
                yield path, old, new

    def moved_text(self, dst: str) -> str | None:
        """The new content of a move's destination when it was also edited, else None."""
        if dst in self._texts and self._texts[dst] != self._originals.get(dst):
            return self._texts[dst]
        return None

    @property
    def is_empty(self) -> bool:
        return not self.moves and not self.deletes and not any(True for _ in self.edits())

    def changed_files(self) -> list[str]:
        files = {p for p, _o, _n in self.edits()} | set(self.moves) | set(self.moves.values()) | self.deletes
        return sorted(files)

    def diff(self) -> str:
        """A git-format diff that `git apply` turns into exactly what `apply` writes."""
        parts: list[tuple[str, str]] = []
        for path, old, new in self.edits():
            parts.append((path, _edit_diff(path, old, new)))
        for src, dst in self.moves.items():
            header = f"diff --git a/{src} b/{dst}\n"
            edited = self.moved_text(dst)
            if edited is None:
                parts.append((src, f"{header}similarity index 100%\nrename from {src}\nrename to {dst}\n"))
                continue
            old = self.text(src)
            similarity = int(difflib.SequenceMatcher(a=old, b=edited, autojunk=False).ratio() * 100)
            header += f"similarity index {similarity}%\nrename from {src}\nrename to {dst}\n"
            parts.append((src, header + _hunks(_split_lines(old), _split_lines(edited), f"a/{src}", f"b/{dst}")))
        for path in self.deletes:
            parts.append((path, _delete_diff(path, self.text(path), _git_mode(self.root / path))))
        return "".join(text for _key, text in sorted(parts))

    # -- writing ---------------------------------------------------------------------
    def apply(self, durable: bool = True) -> None:
        """Stage every new file first; only then replace, rename and delete.

        A failure while staging leaves the checkout untouched. Each replace and rename is
        atomic, so an interrupted commit phase leaves every file either old or new, whole.
        durable=False skips fsync, for throw-away checkouts.
        """
        root = self.root.resolve()
        for path in [*(p for p, _o, _n in self.edits()), *self.moves, *self.moves.values(), *self.deletes]:
            _check_inside(root, path)
        # Everything the commit phase will replace, rename or remove must be writable now: a
        # read-only mount or an immutable file found halfway through would leave half an edit.
        for path in [*(p for p, _o, _n in self.edits()), *self.moves, *self.deletes]:
            for where in (self.root / path, (self.root / path).parent):
                if not os.access(where, os.W_OK):
                    raise InputError(path, None, f"cannot write {where}: not writable; nothing was changed")
        for dst in self.moves.values():
            existing = (self.root / dst).parent
            while not existing.exists():
                existing = existing.parent
            if not os.access(existing, os.W_OK):
                raise InputError(dst, None, f"cannot write {existing}: not writable; nothing was changed")
        staged: list[tuple[Path, Path]] = []
        try:
            for path, _old, new in self.edits():
                final = self.root / path
                tmp = _temp_path(final)
                staged.append((tmp, final))
                _write_new(tmp, new.encode("utf-8"), stat.S_IMODE(final.stat().st_mode), durable)
            for src, dst in self.moves.items():
                target = self.root / dst
                if target.exists() or target.is_symlink():
                    raise InputError(dst, None, "cannot move a file here: the path already exists")
                target.parent.mkdir(parents=True, exist_ok=True)
                _check_inside(root, dst)  # the directories just made must not lead outside either
                edited = self.moved_text(dst)
                if edited is not None:  # a rename with an edit: stage the new content at the destination
                    tmp = _temp_path(target)
                    staged.append((tmp, target))
                    _write_new(tmp, edited.encode("utf-8"), stat.S_IMODE((self.root / src).stat().st_mode), durable)
        except OSError as err:
            _discard(staged)
            culprit = os.path.relpath(str(err.filename), self.root) if err.filename else str(self.root)
            raise InputError(culprit, None, f"cannot write: {err.strerror or err}; nothing was changed") from None
        except BaseException:
            _discard(staged)
            raise
        for tmp, final in staged:
            os.replace(tmp, final)
        for src, dst in self.moves.items():
            if self.moved_text(dst) is None:
                os.rename(self.root / src, self.root / dst)
            else:
                (self.root / src).unlink()
        for path in sorted(self.deletes):
            (self.root / path).unlink(missing_ok=True)


def _discard(staged: list[tuple[Path, Path]]) -> None:
    for tmp, _final in staged:
        try:
            os.unlink(tmp)
        except OSError:
            pass  # never created, or already gone


def _check_inside(root: Path, path: str) -> None:
    """Refuse any write whose real location is outside the repository (a link on the way)."""
    real = Path(os.path.realpath(root / path))
    if real != root and root not in real.parents:
        raise InputError(path, None, "refusing to write outside the repository (a symbolic link leads elsewhere)")


def _temp_path(final: Path) -> Path:
    """Deterministic, so a rerun after a crash stages over (and so consumes) any leftover."""
    return final.with_name(f".{final.name}.codemods.tmp")


def _write_new(tmp: Path, data: bytes, mode: int, durable: bool) -> None:
    """Create tmp afresh, never through a link someone planted there, and write data."""
    try:
        os.unlink(tmp)
    except FileNotFoundError:
        pass
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
        if durable:
            handle.flush()
            os.fsync(handle.fileno())
    os.chmod(tmp, mode)


def _split_lines(text: str) -> list[str]:
    # Only "\n" ends a line for git; str.splitlines would also split on \x0b, \u2028, ...
    lines = text.split("\n")
    out = [line + "\n" for line in lines[:-1]]
    if lines[-1]:
        out.append(lines[-1])
    return out


def _hunks(old: list[str], new: list[str], old_name: str, new_name: str) -> str:
    out: list[str] = []
    for line in difflib.unified_diff(old, new, old_name, new_name, n=3):
        out.append(line)
        if not line.endswith("\n"):
            out.append("\n\\ No newline at end of file\n")
    return "".join(out)


def _edit_diff(path: str, old: str, new: str) -> str:
    return f"diff --git a/{path} b/{path}\n" + _hunks(_split_lines(old), _split_lines(new), f"a/{path}", f"b/{path}")


def _delete_diff(path: str, old: str, mode: str) -> str:
    return f"diff --git a/{path} b/{path}\ndeleted file mode {mode}\n" + _hunks(
        _split_lines(old), [], f"a/{path}", "/dev/null"
    )


def _git_mode(path: Path) -> str:
    try:
        return "100755" if path.stat().st_mode & stat.S_IXUSR else "100644"
    except OSError:
        return "100644"

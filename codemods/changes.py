"""An immutable change set: what a plan proposes, consumed alike by the diff, the disk
transaction and the git tree builder.

Codemods propose changes to a Plan (codemods/plan.py); `Plan.changeset()` freezes them here.
Nothing below reads the plan again, so the three consumers cannot disagree.
"""

from __future__ import annotations

import difflib
import os
import stat
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from codemods.errors import InputError

Kind = Literal["edit", "move", "delete"]


@dataclass(frozen=True)
class FileChange:
    kind: Kind
    path: str  # the file changed; for a move, its old path
    old: str  # its text before
    new: str | None  # its text after (a move's, at its destination); None when deleted
    to: str | None = None  # a move's new path

    @property
    def rewritten(self) -> bool:
        """A move whose content changes too (a rename with hunks)."""
        return self.kind == "move" and self.new != self.old


@dataclass(frozen=True)
class ChangeSet:
    root: Path
    files: tuple[FileChange, ...]

    def __iter__(self) -> Iterator[FileChange]:
        return iter(self.files)

    def of(self, kind: Kind) -> list[FileChange]:
        return [f for f in self.files if f.kind == kind]

    @property
    def is_empty(self) -> bool:
        return not self.files

    def changed_files(self) -> list[str]:
        return sorted({f.path for f in self.files} | {f.to for f in self.files if f.to})

    def writes(self) -> Mapping[str, str | None]:
        """The tree after, as differences: path -> new text, None where a file goes."""
        out: dict[str, str | None] = {}
        for change in self.files:
            if change.kind == "move":
                out[change.path] = None
                assert change.to is not None
                out[change.to] = change.new
            else:
                out[change.path] = change.new
        return out

    # -- the diff -----------------------------------------------------------------------------
    def diff(self) -> str:
        """A git-format diff that `git apply` turns into exactly what `apply` writes."""
        parts: list[tuple[str, str]] = []
        for change in self.files:
            path = change.path
            if change.kind == "edit":
                assert change.new is not None
                parts.append((path, _edit_diff(path, change.old, change.new)))
            elif change.kind == "move":
                dst = change.to
                header = f"diff --git a/{path} b/{dst}\n"
                if not change.rewritten:
                    parts.append((path, f"{header}similarity index 100%\nrename from {path}\nrename to {dst}\n"))
                    continue
                assert change.new is not None
                similarity = int(difflib.SequenceMatcher(a=change.old, b=change.new, autojunk=False).ratio() * 100)
                header += f"similarity index {similarity}%\nrename from {path}\nrename to {dst}\n"
                hunks = _hunks(_split_lines(change.old), _split_lines(change.new), f"a/{path}", f"b/{dst}")
                parts.append((path, header + hunks))
            else:
                parts.append((path, _delete_diff(path, change.old, _git_mode(self.root / path))))
        return "".join(text for _key, text in sorted(parts))

    # -- the disk transaction ------------------------------------------------------------------
    def apply(self, durable: bool = True) -> None:
        """Stage every new file first; only then replace, rename and delete.

        A failure while staging leaves the checkout untouched. Each replace and rename is
        atomic, so an interrupted commit phase leaves every file either old or new, whole.
        durable=False skips fsync, for throw-away checkouts.
        """
        root = self.root.resolve()
        self._refuse_outside(root)
        self._refuse_unwritable()
        staged = self._stage(root, durable)
        for tmp, final in staged:
            os.replace(tmp, final)
        for change in self.of("move"):
            assert change.to is not None
            if change.rewritten:
                (self.root / change.path).unlink()
            else:
                os.rename(self.root / change.path, self.root / change.to)
        for change in sorted(self.of("delete"), key=lambda c: c.path):
            (self.root / change.path).unlink(missing_ok=True)

    def _refuse_outside(self, root: Path) -> None:
        """No path written, renamed to or removed may lead outside the repository."""
        real_dirs: dict[str, str] = {}  # one transaction: each directory is resolved once
        for path in [*(c.path for c in self.files), *(c.to for c in self.of("move") if c.to)]:
            _check_inside(root, path, real_dirs)

    def _refuse_unwritable(self) -> None:
        """Everything the commit phase will replace, rename or remove must be writable now: a
        read-only mount or an immutable file found halfway through would leave half an edit."""
        for change in self.files:
            for where in (self.root / change.path, (self.root / change.path).parent):
                if not os.access(where, os.W_OK):
                    raise InputError(change.path, None, f"cannot write {where}: not writable; nothing was changed")
        for change in self.of("move"):
            assert change.to is not None
            existing = (self.root / change.to).parent
            while not existing.exists():
                existing = existing.parent
            if not os.access(existing, os.W_OK):
                raise InputError(change.to, None, f"cannot write {existing}: not writable; nothing was changed")

    def _stage(self, root: Path, durable: bool) -> list[tuple[Path, Path]]:
        """Every new content written beside its target, as (temporary file, target). On any
        failure, what was staged is removed again and the checkout is as it was."""
        staged: list[tuple[Path, Path]] = []
        try:
            for change in self.of("edit"):
                assert change.new is not None
                final = self.root / change.path
                tmp = _temp_path(final)
                staged.append((tmp, final))
                _write_new(tmp, change.new.encode("utf-8"), stat.S_IMODE(final.stat().st_mode), durable)
            for change in self.of("move"):
                self._stage_move(root, change, durable, staged)
        except OSError as err:
            _discard(staged)
            culprit = os.path.relpath(str(err.filename), self.root) if err.filename else str(self.root)
            raise InputError(culprit, None, f"cannot write: {err.strerror or err}; nothing was changed") from None
        except BaseException:
            _discard(staged)
            raise
        return staged

    def _stage_move(self, root: Path, change: FileChange, durable: bool, staged: list[tuple[Path, Path]]) -> None:
        """Make the destination's directories; a rename with an edit stages the new content there."""
        assert change.to is not None and change.new is not None
        target = self.root / change.to
        if target.exists() or target.is_symlink():
            raise InputError(change.to, None, "cannot move a file here: the path already exists")
        target.parent.mkdir(parents=True, exist_ok=True)
        _check_inside(root, change.to, {})  # the directories just made must not lead outside either
        if change.rewritten:
            tmp = _temp_path(target)
            staged.append((tmp, target))
            mode = stat.S_IMODE((self.root / change.path).stat().st_mode)
            _write_new(tmp, change.new.encode("utf-8"), mode, durable)


def _discard(staged: list[tuple[Path, Path]]) -> None:
    for tmp, _final in staged:
        try:
            os.unlink(tmp)
        except OSError:
            pass  # never created, or already gone


def _check_inside(root: Path, path: str, real_dirs: dict[str, str]) -> None:
    """Refuse any write whose real location is outside the repository (a link on the way).

    real_dirs remembers each directory's real path for the rest of a transaction (before
    anything is written), so each step of a path costs one lstat however many files share it."""
    if any(part in ("", ".", "..") for part in path.split("/")):
        real = Path(os.path.realpath(root / path))  # not a plain relative path: resolve it whole
    else:
        real = Path(_real(root, path, real_dirs))
    if real != root and root not in real.parents:
        raise InputError(path, None, "refusing to write outside the repository (a symbolic link leads elsewhere)")


def _real(root: Path, path: str, real_dirs: dict[str, str]) -> str:
    parent, _slash, name = path.rpartition("/")
    if parent and parent not in real_dirs:
        real_dirs[parent] = _real(root, parent, real_dirs)
    place = os.path.join(real_dirs[parent] if parent else str(root), name)
    # Everything above is real already: only a link at this step can lead elsewhere.
    return os.path.realpath(place) if os.path.islink(place) else place


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

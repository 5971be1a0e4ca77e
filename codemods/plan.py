"""A repository's planned changes: edits, moves and deletions, their diff, and an atomic apply.

Codemods never write. They read the planned view of a file (so a later codemod sees an
earlier one's edit) and add changes with a reason. Only `apply` touches the disk, after
every change of the repo has been planned and every new file has been staged.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from codemods.changes import ChangeSet, FileChange
from codemods.diagnostics import Diagnostic, Diagnostics, warning
from codemods.intents import Intent, JobPlacement
from codemods.repo.index import RepoIndex

Action = Literal["edit", "move", "delete"]


@dataclass(frozen=True)
class Change:
    codemod: str
    action: Action
    file: str  # the file changed; for a move, its old path
    reason: str
    to: str | None = None  # new path of a move


def Warning(file: str, line: int | None, message: str, codemod: str | None = None) -> Diagnostic:
    """A codemod's warning: a Diagnostic of severity "warning" (the name plugins know)."""
    return warning(file, line, message, codemod)


@dataclass
class Plan:
    index: RepoIndex
    changes: list[Change] = field(default_factory=list)
    warnings: Diagnostics = field(default_factory=Diagnostics)  # each said once
    unresolved: Diagnostics = field(default_factory=Diagnostics)  # needed, but not possible here
    # What the edits are for (codemods.intents): the build gate checks these against the builds,
    # and everything else must build as before. Stated once each, in the order stated.
    intents: list[Intent] = field(default_factory=list)
    moves: dict[str, str] = field(default_factory=dict)  # physical src -> dst, byte-for-byte
    deletes: set[str] = field(default_factory=set)
    _texts: dict[str, str] = field(default_factory=dict)  # physical path -> planned text
    _originals: dict[str, str] = field(default_factory=dict)
    _frozen: ChangeSet | None = None

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
        assert self._frozen is None, "the change set is frozen: codemods plan before anything consumes it"
        if path in self.moves or path in self.deletes:
            raise AssertionError(f"{path}: edit the move's destination, not its source")
        if new_text == self.text(path):
            return
        self._texts[path] = new_text
        self.changes.append(Change(codemod, "edit", path, reason))

    def move(self, codemod: str, src: str, dst: str, reason: str) -> None:
        assert self._frozen is None, "the change set is frozen: codemods plan before anything consumes it"
        if src in self._texts:
            raise AssertionError(f"{src}: moved after being edited")
        self.moves[src] = dst
        self.changes.append(Change(codemod, "move", src, reason, to=dst))

    def delete(self, codemod: str, path: str, reason: str) -> None:
        """Delete a file; edits planned for it before are dropped (the diff shows the original go)."""
        assert self._frozen is None, "the change set is frozen: codemods plan before anything consumes it"
        if path in self._texts:
            self.changes[:] = [c for c in self.changes if not (c.action == "edit" and c.file == path)]
            self._texts[path] = self._originals[path]
        self.deletes.add(path)
        self.changes.append(Change(codemod, "delete", path, reason))

    def expect(self, intent: Intent) -> None:
        """State what the planned edits must achieve in what Flux builds (a postcondition)."""
        assert self._frozen is None, "the change set is frozen: codemods plan before anything consumes it"
        if intent not in self.intents:
            self.intents.append(intent)

    def placement(self, source: str) -> JobPlacement | None:
        """The stated placement of the Job whose manifest is at logical path `source`, if any."""
        return next((i for i in self.intents if isinstance(i, JobPlacement) and i.source == source), None)

    def unresolved_warning(self, file: str, line: int | None, message: str, codemod: str | None = None) -> None:
        """A change that is needed but cannot be made here (a SOPS file, a remote base): it is
        reported, and `--check` still fails, because the repository is not fixed."""
        self.unresolved.add(warning(file, line, message, codemod))
        self.warn(file, line, message, codemod)

    def warn(self, file: str, line: int | None, message: str, codemod: str | None = None) -> None:
        """Say something once: two codemods that meet the same problem in a file report it once."""
        self.warnings.add(warning(file, line, message, codemod))

    def report(self, diagnostic: Diagnostic, codemod: str | None = None) -> None:
        """Say a diagnostic (an error the run goes on without) as a warning, once."""
        self.warnings.add(diagnostic.as_warning(codemod))

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

    # -- freezing --------------------------------------------------------------------------
    def changeset(self) -> ChangeSet:
        """The planned change, frozen: what diff, disk and git consume. Made once, when the
        codemods are done (the runner calls it while the planned tree is still there)."""
        if self._frozen is None:
            self._frozen = self._freeze()
        return self._frozen

    def _freeze(self) -> ChangeSet:
        files = [FileChange("edit", path, old, new) for path, old, new in self.edits()]
        for src, dst in self.moves.items():
            edited = self.moved_text(dst)
            old = self.text(src)
            files.append(FileChange("move", src, old, edited if edited is not None else old, dst))
        for path in self.deletes:
            files.append(FileChange("delete", path, self._originals.get(path) or self.text(path), None))
        return ChangeSet(self.root, tuple(sorted(files, key=lambda f: f.path)))

    def diff(self) -> str:
        return self.changeset().diff()

    def apply(self, durable: bool = True) -> None:
        self.changeset().apply(durable)

"""Errors that name a file and a line, so a user can go straight to the problem."""

from __future__ import annotations


class InputError(Exception):
    """Bad input in the repository: the run is aborted and nothing is written (exit 2)."""

    def __init__(self, path: str, line: int | None, message: str, column: int | None = None) -> None:
        super().__init__(message)
        self.path = path
        self.line = line  # 1-based, None when the problem is the file as a whole
        self.column = column  # 1-based
        self.message = message

    def location(self) -> str:
        if self.line is None:
            return self.path
        if self.column is None:
            return f"{self.path}:{self.line}"
        return f"{self.path}:{self.line}:{self.column}"

    def __str__(self) -> str:
        return f"{self.location()}: {self.message}"


class EncodingError(InputError):
    """A file that is not UTF-8: it is never edited, only reported (and left byte-identical)."""

"""Errors that name a file and a line, so a user can go straight to the problem.

Each carries a `codemods.diagnostics.Diagnostic` (severity "error"), the one type every
warning, finding and error is; `codemods.exitcodes` says which exit code each ends a run with.
"""

from __future__ import annotations

from codemods.diagnostics import BAD_INPUT, HOSTILE_YAML, NOT_UTF8, Diagnostic, DiagnosticError


class InputError(DiagnosticError):
    """Bad input in the repository: the run is aborted and nothing is written (exit 2)."""

    code = BAD_INPUT

    def __init__(self, path: str, line: int | None, message: str, column: int | None = None) -> None:
        super().__init__(Diagnostic(path, line, message, "error", self.code, column=column))


class EncodingError(InputError):
    """A file that is not UTF-8: it is never edited, only reported (and left byte-identical).

    Read only, it is a warning and the run goes on without it; when the change must edit,
    move or delete it, it stops the run (exit 2) like a YAML error in such a file."""

    code = NOT_UTF8


class HostileYAML(InputError):
    """YAML that would hurt whatever expands or parses it: an alias bomb, nesting too deep, a
    file too large (codemods.yamltext.guard). Refused before anything expands it (exit 2);
    a file the run only reads is a warning, like a YAML error in it."""

    code = HOSTILE_YAML


class BuildTooLarge(InputError):
    """A build would read more than the input limit (codemods.subproc.Limits.build().input): the
    run is refused before kustomize starts (exit 2, nothing written)."""

"""Every command's exit codes, and which kind of error ends a run with which: one table.

| code | `run` | `doctor` | `batch`, `batch status/merge/close` |
| --- | --- | --- | --- |
| 0 | success; with --check, nothing to change | no error-severity finding | every repository done |
| 1 | with --check: changes are needed | an error-severity finding | a repository failed |
| 2 | bad input, bad usage or an internal error: nothing was written | the same | the same |
"""

from __future__ import annotations

from enum import IntEnum

import click

from codemods.diagnostics import DiagnosticError


class ExitCode(IntEnum):
    OK = 0
    CHANGES_NEEDED = 1  # `run --check`: the repository needs a change; `doctor`: an error finding
    SOME_FAILED = 1  # `batch`: at least one repository failed (an alias of CHANGES_NEEDED)
    FAILURE = 2  # bad input (file and line named), bad usage, or an internal error


# Which kind of error ends a command with which code, the first match winning.
ERRORS: tuple[tuple[type[BaseException], ExitCode], ...] = (
    (DiagnosticError, ExitCode.FAILURE),  # bad input: the message names its file and line
    (click.ClickException, ExitCode.FAILURE),  # bad usage: a flag, an argument
    (click.Abort, ExitCode.FAILURE),  # interrupted
    (Exception, ExitCode.FAILURE),  # an internal error: still a clear message, and nothing half-written
)


def for_error(error: BaseException) -> ExitCode:
    """The exit code an error ends a command with."""
    return next((code for kind, code in ERRORS if isinstance(error, kind)), ExitCode.FAILURE)

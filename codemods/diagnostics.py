"""One type for everything the tool says about a place in a repository.

A codemod's warning, a doctor finding, a file the model could not read and the error that
stops a run are all a `Diagnostic`: a file, a line (and column), a message, a severity, the
code of its kind (a doctor rule id, `not-utf-8`, `bad-input`), who reported it (a codemod or a
rule) and, for findings, the fix. An error travels as a `DiagnosticError`, which carries one.

Each output keeps its own JSON shape (scripts read them): `warning_json`, `finding_json` and
`brief_json` give exactly the fields the report and the doctor have always printed.

`Diagnostics` is the one place duplicates are dropped: the same file, line and message is
said once, however many codemods or rules meet it.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, Literal, get_args

Severity = Literal["error", "warning", "info"]
SEVERITIES: tuple[str, ...] = get_args(Severity)

# Codes of the diagnostics that are not doctor rules (whose ids are their codes).
NOT_UTF8 = "not-utf-8"
BAD_INPUT = "bad-input"
HOSTILE_YAML = "hostile-yaml"


@dataclass(frozen=True)
class Diagnostic:
    file: str  # repository-relative, or a path given on the command line
    line: int | None  # 1-based; None when it is about the file as a whole
    message: str
    severity: Severity = "warning"
    code: str | None = None  # a doctor rule id, or a kind such as "not-utf-8"
    source: str | None = None  # the codemod or rule that reports it
    column: int | None = None  # 1-based
    fix: str | None = None  # how to fix it (doctor findings)

    def __post_init__(self) -> None:
        if self.severity not in SEVERITIES:
            raise ValueError(f"severity must be one of {', '.join(SEVERITIES)}, not {self.severity!r}")

    def location(self) -> str:
        """`file`, `file:line` or `file:line:column`."""
        if not self.line:
            return self.file
        if self.column is None:
            return f"{self.file}:{self.line}"
        return f"{self.file}:{self.line}:{self.column}"

    def __str__(self) -> str:
        return f"{self.location()}: {self.message}"

    @property
    def key(self) -> tuple[str, int | None, str]:
        """What makes two diagnostics the same thing said twice."""
        return self.file, self.line, self.message

    def sort_key(self) -> tuple[str, int, str, str, str, str, int]:
        """By file and line, then as the doctor has always ordered its findings."""
        return (
            self.file,
            self.line or 0,
            self.code or "",
            self.severity,
            self.message,
            self.fix or "",
            self.column or 0,
        )

    # -- the names the three old types had (plugins, tests and the outputs read them) -------------
    @property
    def codemod(self) -> str | None:
        """The codemod that reported a warning (the report's `codemod`)."""
        return self.source

    @property
    def rule(self) -> str:
        """The doctor rule of a finding (its id is the finding's code)."""
        return self.code or ""

    @property
    def path(self) -> str:
        return self.file

    def as_warning(self, source: str | None = None) -> Diagnostic:
        """The same, said as a warning (an error the run can go on without)."""
        return replace(self, severity="warning", source=source if source is not None else self.source)

    # -- JSON, field for field as each output has always printed it --------------------------------
    def warning_json(self) -> dict[str, Any]:
        return {"file": self.file, "line": self.line, "message": self.message, "codemod": self.source}

    def finding_json(self) -> dict[str, Any]:
        return {
            "rule": self.rule,
            "severity": self.severity,
            "file": self.file,
            "line": self.line,
            "message": self.message,
            "fix": self.fix,
        }

    def brief_json(self) -> dict[str, Any]:
        """File, line and message: the report's `error`, the doctor's `skipped`."""
        return {"file": self.file, "line": self.line, "message": self.message}


def warning(
    file: str, line: int | None, message: str, codemod: str | None = None, *, code: str | None = None
) -> Diagnostic:
    """A codemod's warning (`plan.Warning`)."""
    return Diagnostic(file, line, message, "warning", code, codemod)


def finding(file: str, line: int, rule: str, severity: Severity, message: str, fix: str) -> Diagnostic:
    """A doctor finding (`doctor.Finding`): the rule is both its code and its source."""
    return Diagnostic(file, line, message, severity, rule, rule, fix=fix)


class Diagnostics(list[Diagnostic]):
    """An ordered list of diagnostics that holds each (file, line, message) once."""

    def add(self, diagnostic: Diagnostic) -> bool:
        """Append unless the same thing was said already; True when it was new."""
        if any(d.key == diagnostic.key for d in self):
            return False
        self.append(diagnostic)
        return True


class DiagnosticError(Exception):
    """An error that carries its Diagnostic: the run stops, and the message names file and line."""

    def __init__(self, diagnostic: Diagnostic) -> None:
        super().__init__(diagnostic.message)
        self.diagnostic = diagnostic

    # The attributes InputError has always had (plugins and tests read them).
    @property
    def path(self) -> str:
        return self.diagnostic.file

    @property
    def line(self) -> int | None:
        return self.diagnostic.line

    @property
    def column(self) -> int | None:
        return self.diagnostic.column

    @property
    def message(self) -> str:
        return self.diagnostic.message

    def location(self) -> str:
        return self.diagnostic.location()

    def __str__(self) -> str:
        return str(self.diagnostic)

"""Doctor output: text for people, JSON for scripts, SARIF 2.1.0 for code-scanning UIs."""

from __future__ import annotations

import json
from collections.abc import Sequence
from itertools import groupby
from typing import Any

from codemods import __version__
from codemods.diagnostics import BAD_INPUT, Diagnostic
from codemods.doctor.rules import RULES

SARIF_SCHEMA = "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json"
# SARIF's levels: an info finding is a "note".
SARIF_LEVEL = {"error": "error", "warning": "warning", "info": "note"}
# What a repository the doctor could not read gets, as a finding: fix the file, run again.
INPUT_FIX = "fix the file and run `codemods doctor` again; nothing else was checked"


def counts(findings: Sequence[Diagnostic]) -> dict[str, int]:
    return {
        "errors": sum(1 for f in findings if f.severity == "error"),
        "warnings": sum(1 for f in findings if f.severity == "warning"),
    }


def text(findings: Sequence[Diagnostic], problems: Sequence[Diagnostic] = ()) -> str:
    """Grouped by file: `file:line: rule: message`, each followed by its fix."""
    out: list[str] = []
    for _file, group in groupby(findings, key=lambda f: f.file):
        for f in group:
            out.append(f"{f.location()}: {f.rule}: {f.message}")
            out.append(f"    {f.severity}; fix: {f.fix}")
        out.append("")
    for problem in problems:
        out.append(f"{problem.file}:{problem.line or 1}: skipped: {problem.message}")
    tally = counts(findings)
    out.append(
        f"{tally['errors']} error{'s' if tally['errors'] != 1 else ''}, {tally['warnings']} warning{'s' if tally['warnings'] != 1 else ''}"
    )
    return "\n".join(out) + "\n"


def as_json(findings: Sequence[Diagnostic], problems: Sequence[Diagnostic] = ()) -> str:
    data = {
        "findings": [f.finding_json() for f in findings],
        "summary": counts(findings),
        "skipped": [p.brief_json() for p in problems],
    }
    return json.dumps(data, indent=2) + "\n"


def input_error(error: Diagnostic) -> Diagnostic:
    """The finding a doctor run that stopped on bad input reports: its code (`bad-input`,
    `not-utf-8`) as the rule, at error severity, where the file is bad."""
    code = error.code or BAD_INPUT
    return Diagnostic(error.file, error.line, error.message, "error", code, code, error.column, INPUT_FIX)


def json_error(error: Diagnostic) -> str:
    """`--format json` when the doctor stopped on bad input: the same document, holding the
    error as an error finding (scripts that read findings see it) and as `error`."""
    data = json.loads(as_json([input_error(error)]))
    data["error"] = error.brief_json()
    return json.dumps(data, indent=2) + "\n"


def _location(f: Diagnostic) -> dict[str, Any]:
    physical: dict[str, Any] = {"artifactLocation": {"uri": f.file, "uriBaseId": "SRCROOT"}}
    if f.line:  # a finding about a whole directory has no line
        physical["region"] = {"startLine": f.line, **({"startColumn": f.column} if f.column else {})}
    return {"physicalLocation": physical}


def _rule_descriptor(rule_id: str, title: str, explanation: str, severity: str) -> dict[str, Any]:
    return {
        "id": rule_id,
        "name": "".join(part.capitalize() for part in rule_id.split("-")),
        "shortDescription": {"text": title},
        "fullDescription": {"text": explanation},
        "defaultConfiguration": {"level": SARIF_LEVEL[severity]},
        "help": {"text": explanation},
    }


def _result(f: Diagnostic, rule_ids: list[str]) -> dict[str, Any]:
    return {
        "ruleId": f.rule,
        "ruleIndex": rule_ids.index(f.rule),
        "level": SARIF_LEVEL[f.severity],
        "message": {"text": f"{f.message}. Fix: {f.fix}"},
        "locations": [_location(f)],
    }


def sarif(findings: Sequence[Diagnostic], error: Diagnostic | None = None) -> str:
    """SARIF 2.1.0. With error (the doctor stopped on bad input), the run says so twice: an
    error-level toolExecutionNotification of a failed invocation, and an error result, so that
    a code-scanning upload shows it instead of an empty run."""
    rules = [_rule_descriptor(r.id, r.title, r.explanation, r.severity) for r in RULES.values()]
    rule_ids = list(RULES)
    shown = list(findings)
    run: dict[str, Any] = {}
    if error is not None:
        failed = input_error(error)
        if failed.rule not in rule_ids:
            rule_ids.append(failed.rule)
            rules.append(_rule_descriptor(failed.rule, "The repository could not be read", INPUT_FIX, "error"))
        shown.append(failed)
        run["invocations"] = [
            {
                "executionSuccessful": False,
                "exitCode": 2,
                "toolExecutionNotifications": [
                    {
                        "level": "error",
                        "message": {"text": failed.message},
                        "descriptor": {"id": failed.rule},
                        "locations": [_location(failed)],
                    }
                ],
            }
        ]
    log = {
        "$schema": SARIF_SCHEMA,
        "version": "2.1.0",
        "runs": [
            {
                "tool": {"driver": {"name": "codemods", "version": __version__, "rules": rules}},
                "originalUriBaseIds": {"SRCROOT": {"description": {"text": "The repository that was checked."}}},
                **run,
                "results": [_result(f, rule_ids) for f in shown],
            }
        ],
    }
    return json.dumps(log, indent=2) + "\n"

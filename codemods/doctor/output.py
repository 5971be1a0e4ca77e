"""Doctor output: text for people, JSON for scripts, SARIF 2.1.0 for code-scanning UIs."""

from __future__ import annotations

import json
from collections.abc import Sequence
from itertools import groupby

from codemods import __version__
from codemods.diagnostics import Diagnostic
from codemods.doctor.rules import RULES

SARIF_SCHEMA = "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json"


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
            out.append(f"{f.file}:{f.line}: {f.rule}: {f.message}")
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


def sarif(findings: Sequence[Diagnostic]) -> str:
    rule_ids = list(RULES)
    rules = [
        {
            "id": rule.id,
            "name": "".join(part.capitalize() for part in rule.id.split("-")),
            "shortDescription": {"text": rule.title},
            "fullDescription": {"text": rule.explanation},
            "defaultConfiguration": {"level": rule.severity},
            "help": {"text": rule.explanation},
        }
        for rule in RULES.values()
    ]
    results = [
        {
            "ruleId": f.rule,
            "ruleIndex": rule_ids.index(f.rule),
            "level": f.severity,
            "message": {"text": f"{f.message}. Fix: {f.fix}"},
            "locations": [
                {
                    "physicalLocation": {
                        "artifactLocation": {"uri": f.file, "uriBaseId": "SRCROOT"},
                        "region": {"startLine": f.line},
                    }
                }
            ],
        }
        for f in findings
    ]
    log = {
        "$schema": SARIF_SCHEMA,
        "version": "2.1.0",
        "runs": [
            {
                "tool": {"driver": {"name": "codemods", "version": __version__, "rules": rules}},
                "originalUriBaseIds": {"SRCROOT": {"description": {"text": "The repository that was checked."}}},
                "results": results,
            }
        ],
    }
    return json.dumps(log, indent=2) + "\n"

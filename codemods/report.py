"""Human summary (stderr) and machine-readable report (JSON) of a planned run."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from codemods.diagnostics import Diagnostic, DiagnosticError
from codemods.plan import Plan

if TYPE_CHECKING:
    from codemods.verify.model import Semantic

REPORT_VERSION = 1


def summary_lines(
    plan: Plan, applied: bool, findings: Sequence[Diagnostic] | None = None, semantic: Semantic | None = None
) -> list[str]:
    lines: list[str] = []
    for change in plan.changes:
        target = f"{change.file} -> {change.to}" if change.to else change.file
        lines.append(f"{change.action:<6} {target}")
        lines.append(f"       {change.codemod}: {change.reason}")
    for warning in plan.warnings:
        lines.append(f"warning: {warning}")
    if findings:
        when = "after" if applied else "before"
        lines.append(f"doctor, on the files this run touches ({when} the change):")
        lines.extend(f"  {f.file}:{f.line}: {f.rule} ({f.severity}): {f.message}" for f in findings)
    if semantic is not None:  # build gate (issue 12)
        from codemods.verify import preview  # start-up: loaded only with a verdict (~0.1 s, PyYAML)

        lines.extend(preview.text_lines(semantic))
    edited = sum(1 for _ in plan.edits())
    if plan.is_empty:
        lines.append("nothing to change")
    else:
        verb = "changed" if applied else "would change"
        total = edited + len(plan.moves) + len(plan.deletes)
        lines.append(
            f"{total} file{'s' if total != 1 else ''} {verb}: {edited} edited, "
            f"{len(plan.moves)} moved, {len(plan.deletes)} deleted"
        )
    return lines


def report(
    path: str,
    plan: Plan | None,
    applied: bool,
    error: DiagnosticError | None,
    diff: str | None,
    findings: Sequence[Diagnostic] | None = None,
    semantic: Semantic | None = None,
) -> dict[str, Any]:
    data: dict[str, Any] = {
        "version": REPORT_VERSION,
        "path": path,
        "status": "failed" if error else ("unchanged" if plan is None or plan.is_empty else "changed"),
        "applied": applied,
        "files": plan.changed_files() if plan else [],
        "changes": [
            {"codemod": c.codemod, "action": c.action, "file": c.file, "to": c.to, "reason": c.reason}
            for c in (plan.changes if plan else [])
        ],
        "warnings": [w.warning_json() for w in (plan.warnings if plan else [])],
        "error": error.diagnostic.brief_json() if error else None,
        "findings": [f.finding_json() for f in (findings or [])],
    }
    if diff is not None:
        data["diff"] = diff
    if semantic is not None:  # build gate (issue 12); documented in codemods/schemas/report.schema.json
        from codemods.verify import preview  # start-up: loaded only with a verdict (~0.1 s, PyYAML)

        data["semantic"] = preview.as_json(semantic)
    return data

"""The preview, "What Flux will apply differently": text for the summary and the commit
message, a dict for --json, Markdown and a Mermaid flowchart for the pull-request body."""

from __future__ import annotations

import re
from typing import Any

from codemods.verify.model import FluxTarget, Problem, Semantic, TargetPreview
from codemods.verify.shown import show

HEADING = "What Flux will apply differently"


def _where(target: FluxTarget, shared: bool = False) -> str:
    """Named by namespace/name and path, and by its file too where two clusters share both."""
    where = f"{target.file}, ./{target.path}" if shared else f"./{target.path}"
    return f"Flux Kustomization {target.key} ({where})"


def _target_lines(preview: TargetPreview, indent: str = "  ", shared: bool = False) -> list[str]:
    where = _where(preview.target, shared)
    lines = [f"{where}:" if preview.status == "verified" else f"{where}: {_status(preview)}"]
    if preview.status != "verified":
        return lines
    changed_values = _values_by_subject(preview, "{path}: {before} -> {after}")
    for ident in preview.added:
        lines.append(f"{indent}+ {ident}")
    for ident in preview.removed:
        lines.append(f"{indent}- {ident}")
    for ident in preview.changed:
        lines.append(f"{indent}~ {ident}")
        lines.extend(f"{indent}    {v}" for v in changed_values.get(ident, []))
    if not (preview.added or preview.removed or preview.changed):
        lines.append(f"{indent}(nothing it applies changes)")
    return lines


def _status(preview: TargetPreview) -> str:
    if preview.status == "templates only":
        return "not verified: templates only"
    if preview.status == "not built" and preview.error:
        return f"not built, before the change either: {preview.error}"
    return "not built (see the problems)" if preview.status == "not built" else preview.status


def headline(semantic: Semantic, timings: bool = True) -> str:
    if semantic.status == "verified":
        plural = "s" if semantic.builds != 1 else ""
        note = f"; {semantic.reason}" if semantic.reason else ""
        reused = f", {semantic.cached} reused" if semantic.cached else ""
        cost = f": {semantic.builds} build{plural}, {semantic.build_seconds:.1f} s{reused}" if timings else ""
        parts = "".join(f"; {d.line()}" for d in semantic.decomposed) if timings else ""
        return f"{HEADING} (verified with {semantic.kustomize}{cost}{parts}{note}):"
    if semantic.status == "refused":
        return f"{HEADING}: REFUSED, the change would break what Flux builds:"
    return f"{HEADING}: {semantic.reason or semantic.status}"


def text_lines(semantic: Semantic, timings: bool = True) -> list[str]:
    """The preview as plain lines (run summary; the commit message, without timings)."""
    if semantic.status == "skipped":
        return []
    lines = [headline(semantic, timings)]
    for number, candidate in enumerate(semantic.candidates, 1):
        verdict = "accepted" if candidate.accepted else "refused"
        lines.append(f"  candidate {number}, {candidate.description}: {verdict}")
        lines.extend(f"    violates {p.intent or 'Unchanged(everything else)'}: {p}" for p in candidate.problems)
    for problem in semantic.problems:
        lines.append(f"  refused: {problem}")
    for preview in semantic.targets:
        seen = [(p.target.key, p.target.path) for p in semantic.targets]
        shared = seen.count((preview.target.key, preview.target.path)) > 1
        lines.extend("  " + line for line in _target_lines(preview, shared=shared))
    for move in semantic.moves:
        lines.append(f"  {move.line()}")
    return lines


def as_json(semantic: Semantic) -> dict[str, Any]:
    def target(t: FluxTarget) -> dict[str, Any]:
        return {
            "name": t.name,
            "namespace": t.namespace,
            "path": t.path,
            "file": t.file,
            "line": t.line,
            "depends_on": list(t.depends_on),
        }

    return {
        "status": semantic.status,
        "reason": semantic.reason,
        "kustomize": semantic.kustomize,
        "builds": semantic.builds,
        "build_seconds": semantic.build_seconds,
        "cached": semantic.cached,
        "targets": [
            {
                **target(p.target),
                "status": p.status,
                "added": list(p.added),
                "removed": list(p.removed),
                "changed": list(p.changed),
                "values": [
                    {
                        "object": v.subject,
                        "path": v.path,
                        "before": show(v.before, v.after),
                        "after": show(v.after, v.before),
                    }
                    for v in p.values
                ],
                **({"error": p.error} if p.error else {}),
            }
            for p in semantic.targets
        ],
        "moves": [
            {"job": m.job, "from": [target(t) for t in m.before], "to": [target(t) for t in m.after], "text": m.line()}
            for m in semantic.moves
        ],
        "problems": [_problem(p) for p in semantic.problems],
        "candidates": [
            {"candidate": c.description, "accepted": c.accepted, "violated": [_problem(p) for p in c.problems]}
            for c in semantic.candidates
        ],
        "decomposed": [
            {
                "kustomization": d.target.key,
                "file": d.target.file,
                "built": list(d.built),
                "untouched": d.untouched,
                "whole": d.whole or None,
            }
            for d in semantic.decomposed
        ],
    }


def _problem(p: Problem) -> dict[str, Any]:
    return {"kustomization": p.target, "file": p.file, "line": p.line, "message": p.message, "intent": p.intent}


# -- pull-request body ---------------------------------------------------------------------------
def markdown(semantic: Semantic) -> str:
    """The "What changes in Flux" section's body."""
    if semantic.status == "skipped":
        return "Nothing Flux applies changes."
    if semantic.status == "not verified":
        return f"_{semantic.reason}_: the builds were not run, so this pull request shows files only."
    out = [
        (
            # No timings and no cache counts: the body must read the same on every rerun, or
            # the rollout would rewrite an unchanged pull request each week.
            f"Built with `{semantic.kustomize}`, before and after, as Flux builds them."
        )
    ]
    if semantic.reason:
        out[0] += f" {semantic.reason.capitalize()}."
    for preview in semantic.targets:
        out.append("")
        out.append(
            f"**{preview.target.key}** (`./{preview.target.path}`)"
            + ("" if preview.status == "verified" else f": {_status(preview)}")
        )
        if preview.status != "verified":
            continue
        values = _values_by_subject(preview, "`{path}`: `{before}` → `{after}`")
        for ident in preview.added:
            out.append(f"- added: {ident}")
        for ident in preview.removed:
            out.append(f"- removed: {ident}")
        for ident in preview.changed:
            shown = "; ".join(values.get(ident, [])) or "changed"
            out.append(f"- changed: {ident}: {shown}")
        if not (preview.added or preview.removed or preview.changed):
            out.append("- nothing it applies changes")
    if semantic.moves:
        out.append("")
        out.extend(f"- {m.line()}" for m in semantic.moves)
    return "\n".join(out)


_UNSAFE = re.compile(r"[^A-Za-z0-9_]")


def _node(key: str) -> str:
    return "ks_" + _UNSAFE.sub("_", key)


def _label(text: str) -> str:
    return text.replace('"', "#quot;")


def _resolve(dependent: FluxTarget, dependency: str) -> str:
    """dependsOn without a namespace means the dependent's own."""
    if "/" in dependency:
        return dependency
    return f"{dependent.namespace}/{dependency}" if dependent.namespace else dependency


def mermaid(semantic: Semantic) -> str:
    """A flowchart of the Flux Kustomizations involved: dependsOn edges, and each moved Job
    as a labelled edge from where it was applied to where it is applied now."""
    involved: dict[str, FluxTarget] = {p.target.uid: p.target for p in semantic.targets}
    for move in semantic.moves:
        involved.update({t.uid: t for t in (*move.before, *move.after)})
    everyone = {t.uid: t for t in (*semantic.all_targets, *involved.values())}
    # A node is named namespace/name, and by its file too when two clusters share that name.
    sharing: dict[str, set[str]] = {}
    for target in everyone.values():
        sharing.setdefault(target.key, set()).add(target.uid)

    def name(target: FluxTarget) -> str:
        return target.key if len(sharing[target.key]) == 1 else f"{target.key} ({target.file})"

    edges: list[str] = []
    nodes: dict[str, str] = {}

    def add(target: FluxTarget | None, key: str) -> str:
        shown = name(target) if target else key
        label = f"{shown}<br/>./{target.path}" if target else key
        nodes.setdefault(shown, f'  {_node(shown)}["{_label(label)}"]')
        return _node(shown)

    def dependency(dependent: FluxTarget, key: str) -> FluxTarget | None:
        # The one of that name declared nearest the dependent (the same cluster's directory).
        found = [t for t in everyone.values() if t.key == key]
        folder = dependent.file.rsplit("/", 1)[0] if "/" in dependent.file else ""
        return min(found, key=lambda t: (not t.file.startswith(folder), t.file), default=None)

    for uid in sorted(involved, key=lambda u: (involved[u].key, u)):
        target = involved[uid]
        add(target, target.key)
        for depends in target.depends_on:
            other = _resolve(target, depends)
            edges.append(f"  {add(target, target.key)} -->|dependsOn| {add(dependency(target, other), other)}")
    for move in semantic.moves:
        for old in move.before or ():
            for new in move.after or ():
                edges.append(f'  {add(old, old.key)} -. "{_label("moves Job " + move.job)}" .-> {add(new, new.key)}')
    return "\n".join(["flowchart LR", *nodes.values(), *dict.fromkeys(edges)])


def verify_commands(semantic: Semantic, prefix: str = "") -> list[str]:
    """What a reviewer runs to see the same builds."""
    paths = sorted({p.target.path for p in semantic.targets})
    return [f"kubectl kustomize --load-restrictor LoadRestrictionsNone ./{prefix}{p}" for p in paths]


def flux_commands(semantic: Semantic, releases: list[tuple[str | None, str]]) -> list[str]:
    """What to look at in the cluster after merging."""
    out = [f"flux get hr -n {ns} {name}" if ns else f"flux get hr {name}" for ns, name in releases]
    return [*out, "flux get ks -A"]


def released(semantic: Semantic) -> list[tuple[str | None, str]]:
    """The HelmReleases whose values the change alters, as (namespace, name)."""
    found: dict[tuple[str | None, str], None] = {}
    for preview in semantic.targets:
        for change in preview.values:
            ident = change.subject.split(" ", 1)[1]
            namespace, _slash, name = ident.rpartition("/")
            found[(namespace or None, name)] = None
    return list(found)


def _values_by_subject(preview: TargetPreview, line: str) -> dict[str, list[str]]:
    """Each changed object's value changes, one formatted line each (text and Markdown share it);
    each side is shown against the other, so 'false' -> false reads as a type change."""
    found: dict[str, list[str]] = {}
    for change in preview.values:
        before, after = show(change.before, change.after), show(change.after, change.before)
        found.setdefault(change.subject, []).append(line.format(path=change.path, before=before, after=after))
    return found

"""Commit message and pull-request summary, rendered from packaged Jinja2 templates."""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from functools import lru_cache
from importlib import resources
from pathlib import Path

import jinja2

from codemods import __version__
from codemods.errors import InputError
from codemods.plan import Change, Plan
from codemods.recipes import Recipe
from codemods.recipes import load as load_recipe
from codemods.verify import preview
from codemods.verify.model import Semantic

TRAILER_KEY = "Codemods-Recipe"
SUBJECT_LIMIT = 72


@dataclass
class FileChanges:
    path: str
    to: str | None = None
    changes: list[Change] = field(default_factory=list)


def _files(plan: Plan, prefix: str) -> list[FileChanges]:
    # A move is one file: an edit of its destination belongs to the move's entry.
    source_of = {dst: src for src, dst in plan.moves.items()}
    by_file: dict[str, FileChanges] = {}
    for change in plan.changes:
        path = f"{prefix}{source_of.get(change.file, change.file)}"
        entry = by_file.setdefault(path, FileChanges(path))
        if change.to:
            entry.to = f"{prefix}{change.to}"
        entry.changes.append(change)
    return [by_file[k] for k in sorted(by_file)]


def logical_files(plan: Plan, prefix: str = "") -> list[str]:
    """The files a change touches, a move counted once (by its new path): the count the
    commit subject, the pull request and the batch report all give."""
    files = {p for p, _old, _new in plan.edits()} | set(plan.moves.values()) | set(plan.deletes)
    return sorted(f"{prefix}{p}" for p in files)


def _subject(recipe: Recipe, files: list[FileChanges]) -> str:
    count = len(files)
    return f"{recipe.subject} ({count} file{'s' if count != 1 else ''})"


@dataclass
class FileGroup:
    """One line of the PR's file list: a logical file with its template and its render."""

    paths: list[str]  # "a" or "a -> b" for a move; the template first
    changes: list[Change]


def _groups(plan: Plan, files: list[FileChanges]) -> list[FileGroup]:
    """A template and its render are one line, not two rows each."""
    by_logical: dict[str, FileGroup] = {}
    for entry in files:
        raw = entry.changes[0].file  # the repository-relative path, without the --branch prefix
        classified = plan.index.layout.classify(raw)
        logical = classified[0] if classified else raw
        shown = f"`{entry.path}`" + (f" → `{entry.to}`" if entry.to else "")
        group = by_logical.setdefault(logical, FileGroup([], []))
        if classified is not None and classified[1].is_template:
            group.paths.insert(0, shown)
        else:
            group.paths.append(shown)
        for change in entry.changes:
            # The template's and the render's reasons differ only in their line numbers.
            change = replace(change, reason=_LINE_PREFIX.sub("", change.reason))
            key = (change.codemod, change.action, change.reason)
            if not any((c.codemod, c.action, c.reason) == key for c in group.changes):
                group.changes.append(change)
    return [by_logical[k] for k in sorted(by_logical)]


_LINE_PREFIX = re.compile(r"^line \d+: ")


def _flux(semantic: Semantic | None, prefix: str) -> dict[str, object]:
    """The build gate's part of the texts (issue 12)."""
    if semantic is None:
        return {"flux_lines": [], "flux_markdown": "", "mermaid": "", "verify_commands": [], "flux_commands": []}
    return {
        "flux_lines": preview.text_lines(semantic, timings=False),  # history keeps no timings
        "flux_markdown": preview.markdown(semantic),
        "mermaid": preview.mermaid(semantic) if semantic.targets or semantic.moves else "",
        "verify_commands": preview.verify_commands(semantic, prefix),
        "flux_commands": preview.flux_commands(semantic, preview.released(semantic)),
    }


def context(
    plan: Plan, prefix: str = "", recipe: Recipe | None = None, semantic: Semantic | None = None
) -> dict[str, object]:
    recipe = recipe or load_recipe(None)
    files = _files(plan, prefix)
    return {
        **_flux(semantic, prefix),
        "file_groups": _groups(plan, files),
        "moves": [(f"{prefix}{c.file}", f"{prefix}{c.to}") for c in plan.changes if c.action == "move"],
        "subject": _subject(recipe, files),
        "explanation": recipe.explanation,
        "files": files,
        "warnings": [str(w) for w in plan.warnings],
        "recipe": recipe.name,
        "trailer_key": TRAILER_KEY,
        "version": __version__,
    }


def _environment() -> jinja2.Environment:
    return jinja2.Environment(undefined=jinja2.StrictUndefined, keep_trailing_newline=True, autoescape=False)


@lru_cache(maxsize=8)
def _packaged(name: str) -> str:
    return resources.files("codemods.vcs").joinpath("templates", name).read_text(encoding="utf-8")


@lru_cache(maxsize=16)
def _compile(template_text: str) -> jinja2.Template:
    return _environment().from_string(template_text)


def render(template_text: str, values: dict[str, object], source: str) -> str:
    try:
        return _compile(template_text).render(**values)
    except jinja2.TemplateSyntaxError as err:
        raise InputError(source, err.lineno, f"bad message template: {err.message}") from None
    except jinja2.UndefinedError as err:
        raise InputError(source, None, f"bad message template: {err.message}") from None


def commit_message(
    plan: Plan,
    prefix: str = "",
    template: Path | None = None,
    recipe: Recipe | None = None,
    semantic: Semantic | None = None,
    values: dict[str, object] | None = None,
) -> str:
    """values: context(plan, prefix, recipe, semantic), when the caller has it already."""
    text = template.read_text(encoding="utf-8") if template else _packaged("commit-message.j2")
    values = values if values is not None else context(plan, prefix, recipe, semantic)
    message = render(text, values, str(template) if template else "commit-message.j2")
    return normalize_message(message, str(values["recipe"]))


def normalize_message(message: str, recipe_name: str) -> str:
    """Enforce the contract whatever the template says: a subject of at most 72 characters
    and the trailer that marks the commit as the tool's."""
    lines = message.strip("\n").splitlines()
    if not lines or not lines[0].strip():
        raise InputError("commit message", 1, "the template rendered an empty subject")
    subject = lines[0].strip()
    if len(subject) > SUBJECT_LIMIT:
        subject = subject[: SUBJECT_LIMIT - 1].rstrip() + "…"
    body = [line.rstrip() for line in lines[1:]]
    if not any(line.startswith(f"{TRAILER_KEY}:") for line in body):
        body += ["", f"{TRAILER_KEY}: {recipe_name}"]
    return "\n".join([subject, *body]) + "\n"


def summary_markdown(
    plan: Plan,
    prefix: str = "",
    recipe: Recipe | None = None,
    semantic: Semantic | None = None,
    values: dict[str, object] | None = None,
) -> str:
    values = values if values is not None else context(plan, prefix, recipe, semantic)
    return render(_packaged("summary.md.j2"), values, "summary.md.j2")


def has_trailer(message: str | bytes) -> bool:
    if isinstance(message, bytes):  # GitPython types a commit message as str | bytes
        message = message.decode("utf-8", "replace")
    return any(line.startswith(f"{TRAILER_KEY}:") for line in message.splitlines())

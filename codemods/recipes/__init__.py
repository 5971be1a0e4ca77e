"""Declarative recipes: codemods composed with parameters, in the spirit of OpenRewrite.

A recipe names its codemods in order, with their parameters, and the texts of the branch,
commit and pull request it makes. The built-in `litellm-migration` is the default; presets
for other charts ship beside it (codemods/recipes/presets/*.yaml).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from codemods.errors import InputError
from codemods.mods import Codemod, factory, is_known, names
from codemods.params import ParamError, validators_of
from codemods.yamltext.locate import MappingNode, Node, ScalarNode, SequenceNode, compose

# The package's own files (importlib.resources would cost every run a tenth of its start-up).
PRESETS = Path(__file__).parent / "presets"

DEFAULT = "litellm-migration"
MAX_SUBJECT = 72  # git's convention for a commit subject: one line in `git log --oneline` and mail
_NAME = re.compile(r"^[a-z0-9][a-z0-9-]*$")


@dataclass(frozen=True)
class Step:
    codemod: str
    params: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Recipe:
    name: str
    description: str
    steps: tuple[Step, ...]
    branch: str
    subject: str
    explanation: str
    source: str


def _value(node: Node) -> Any:
    """Plain Python from a composed node (YAML 1.2 core scalars)."""
    if isinstance(node, MappingNode):
        return {_value(k): _value(v) for k, v in node.value}
    if isinstance(node, SequenceNode):
        return [_value(item) for item in node.value]
    assert isinstance(node, ScalarNode), node  # compose gives mapping, sequence or scalar nodes
    tag = node.tag.split(":")[-1] if isinstance(node.tag, str) else str(node.tag)
    text = node.value
    if node.style is None:
        if tag.endswith("bool") or text in ("true", "True", "TRUE", "false", "False", "FALSE"):
            return text.lower() == "true"
        if tag.endswith("int") or re.fullmatch(r"[-+]?\d+", text):
            return int(text)
        if text in ("", "~", "null", "Null", "NULL"):
            return None
    return text


class _Reader:
    def __init__(self, source: str) -> None:
        self.source = source

    def fail(self, node: Node | None, message: str) -> InputError:
        line = node.start_mark.line + 1 if node is not None else None
        return InputError(self.source, line, message)

    def mapping(self, node: Node | None, what: str) -> dict[str, tuple[Node, Node]]:
        if not isinstance(node, MappingNode):
            raise self.fail(node, f"{what} must be a mapping")
        found: dict[str, tuple[Node, Node]] = {}
        for key, value in node.value:
            if not isinstance(key, ScalarNode):
                raise self.fail(key, f"{what}: keys must be plain strings")
            if key.value in found:
                raise self.fail(key, f"{what}: {key.value!r} is given twice")
            found[key.value] = (key, value)
        return found

    def text(self, fields: dict[str, tuple[Node, Node]], name: str, default: str | None = None) -> str:
        if name not in fields:
            if default is None:
                raise InputError(self.source, 1, f"{name!r} is required")
            return default
        _key, node = fields[name]
        if not isinstance(node, ScalarNode) or not node.value.strip():
            raise self.fail(node, f"{name!r} must be a non-empty string")
        return node.value


def parse_recipe(text: str, source: str, known: set[str] | None = None) -> Recipe:
    """Validate a recipe file; every error names the file and the line."""
    reader = _Reader(source)
    docs = [d for d in compose(text, source, None) if d is not None]
    if len(docs) != 1:
        raise InputError(source, None, "a recipe file holds exactly one YAML document")
    top = reader.mapping(docs[0], "the recipe")
    allowed = {"name", "description", "branch", "commit", "steps"}
    for key, (key_node, _value_node) in top.items():
        if key not in allowed:
            raise reader.fail(key_node, f"unknown key {key!r}; known: {', '.join(sorted(allowed))}")
    name = reader.text(top, "name")
    if not _NAME.match(name):
        raise reader.fail(top["name"][1], f"name {name!r}: use lowercase letters, digits and dashes")
    commit = reader.mapping(top["commit"][1], "commit") if "commit" in top else {}
    for key, (key_node, _v) in commit.items():
        if key not in ("subject", "explanation"):
            raise reader.fail(key_node, f"commit: unknown key {key!r}; known: explanation, subject")
    if "steps" not in top:
        raise InputError(source, 1, "'steps' is required")
    steps_node = top["steps"][1]
    if not isinstance(steps_node, SequenceNode) or not steps_node.value:
        raise reader.fail(steps_node, "steps must be a non-empty list")
    steps = tuple(_step(reader, node, known) for node in steps_node.value)
    subject = reader.text(commit, "subject", f"Apply codemods recipe {name}")
    if len(subject) > MAX_SUBJECT:
        raise reader.fail(commit["subject"][1], f"commit subject: at most {MAX_SUBJECT} characters")
    return Recipe(
        name=name,
        description=reader.text(top, "description"),
        steps=steps,
        branch=reader.text(top, "branch", f"codemods/{name}"),
        subject=subject,
        explanation=reader.text(commit, "explanation", reader.text(top, "description")).strip(),
        source=source,
    )


def _step(reader: _Reader, node: Node, known: set[str] | None) -> Step:
    fields = reader.mapping(node, "a step")
    for key, (key_node, _v) in fields.items():
        if key not in ("codemod", "with"):
            raise reader.fail(key_node, f"a step: unknown key {key!r}; known: codemod, with")
    if "codemod" not in fields:
        raise reader.fail(node, "a step needs 'codemod'")
    codemod_node = fields["codemod"][1]
    codemod = reader.text(fields, "codemod")
    if not (codemod in known if known is not None else is_known(codemod)):
        listed = known if known is not None else names()
        raise reader.fail(codemod_node, f"unknown codemod {codemod!r}; known: {', '.join(sorted(listed))}")
    params: dict[str, Any] = {}
    if "with" in fields:  # the codemod's own Params dataclass is the schema
        schema = getattr(factory(codemod), "Params", None)
        validators = validators_of(schema) if schema is not None else None
        for key, (key_node, value_node) in reader.mapping(fields["with"][1], f"{codemod}: with").items():
            if validators is not None and key not in validators:
                raise reader.fail(
                    key_node, f"{codemod}: unknown parameter {key!r}; known: {', '.join(validators) or 'none'}"
                )
            value = _value(value_node)
            try:
                params[key] = validators[key](value) if validators is not None else value
            except ParamError as err:
                raise reader.fail(value_node, f"{codemod}: {key}: {err}") from None
    return Step(codemod, params)


def _preset(name: str):
    return PRESETS / f"{name}.yaml"


@cache
def _builtin_one(name: str) -> Recipe:
    """One built-in recipe, parsing only its own file (every run needs the default)."""
    recipe = parse_recipe(_preset(name).read_text(encoding="utf-8"), f"builtin:{name}.yaml")
    if recipe.name != name:
        raise InputError(f"builtin:{name}.yaml", None, f"the file's recipe is named {recipe.name!r}")
    return recipe


@cache
def builtin() -> dict[str, Recipe]:
    """The recipes shipped with codemods, by name (parsed once per process)."""
    recipes = {}
    for entry in sorted(PRESETS.iterdir(), key=lambda e: e.name):
        if entry.name.endswith(".yaml"):
            recipe = parse_recipe(entry.read_text(encoding="utf-8"), f"builtin:{entry.name}")
            recipes[recipe.name] = recipe
    return recipes


def load(spec: str | None) -> Recipe:
    """A recipe from a file path, or a built-in by name (default: litellm-migration)."""
    if spec is None:
        return _builtin_one(DEFAULT)
    path = Path(spec)
    if path.is_file():
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as err:
            raise InputError(spec, None, f"cannot read the recipe: {err}") from None
        return parse_recipe(text, spec)
    if _NAME.match(spec) and _preset(spec).is_file():
        return _builtin_one(spec)
    recipes = builtin()
    raise InputError(
        spec, None, f"no such recipe file, and no built-in recipe of that name; built-in: {', '.join(recipes)}"
    )


def instantiate(recipe: Recipe) -> list[Codemod]:
    """The recipe's codemods, configured, in its order."""
    return [factory(step.codemod)(**step.params) for step in recipe.steps]

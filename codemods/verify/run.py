"""The gate as the commands use it: options from flags, one call per planned repository."""

from __future__ import annotations

import json
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from ruamel.yaml import YAML
from ruamel.yaml.error import YAMLError

from codemods.diagnostics import Diagnostic
from codemods.errors import InputError
from codemods.plan import Plan
from codemods.verify.kustomize import NO_KUSTOMIZE, discover
from codemods.verify.model import Options, Semantic


class Refused(InputError):
    """The build gate found the plan would change what Flux applies in a way it must not."""

    code = "refused"

    def __init__(self, semantic: Semantic, warnings: tuple[Diagnostic, ...] = ()) -> None:
        first = semantic.problems[0]
        more = len(semantic.problems) - 1
        tail = f" (and {more} more problem{'s' if more != 1 else ''}: see the summary)" if more else ""
        super().__init__(
            first.file or ".",
            first.line,
            f"refused by the build gate: Flux Kustomization {first.target}: {first.message}{tail}",
        )
        self.semantic = semantic
        self.warnings = warnings  # the plan's own, which often say why (shown with the refusal)


@dataclass(frozen=True)
class Gate:
    options: Options

    def __call__(self, plan: Plan) -> Semantic:
        """Judge a plan before anything is written; raises Refused."""
        if plan.is_empty:  # a no-op builds nothing, and parses nothing for it either
            return Semantic("skipped", reason="nothing to change")
        if self.options.kustomize is None:
            return Semantic("not verified", reason=NO_KUSTOMIZE)
        # Loaded only when there is something to build: a no-op run must not pay for them.
        from codemods.verify.adapter import build_input
        from codemods.verify.gate import verify

        semantic = verify(plan.root, build_input(plan), self.options)
        if semantic.refused:
            raise Refused(semantic, tuple(plan.warnings))
        return semantic


def make_gate(
    mode: bool | None,
    kustomize: str | None,
    jinja_vars: Path | None,
    cache: Path | None = None,
) -> Gate | None:
    """mode None: verify when a kustomize is found; True: a missing one is an error; False: skip."""
    if mode is False:
        return None
    command = discover(kustomize)
    if command is None and (mode is True or kustomize):
        raise InputError(
            kustomize or ".",
            None,
            "--verify: no kustomize found (put kustomize or kubectl on PATH, pip install 'codemods[build]', "
            "or give --kustomize PATH)",
        )
    variables = load_jinja_vars(jinja_vars) if jinja_vars is not None else None
    return Gate(Options(command, variables, cache=cache))


def load_jinja_vars(path: Path) -> Mapping[str, object]:
    """Variables for in-place .j2 templates: TOML, JSON or YAML, by the file's suffix."""
    try:
        text = path.read_text(encoding="utf-8")
        if path.suffix == ".toml":
            data: object = tomllib.loads(text)
        elif path.suffix == ".json":
            data = json.loads(text)
        else:
            data = YAML(typ="safe", pure=False).load(text)
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError, json.JSONDecodeError, YAMLError) as err:
        raise InputError(str(path), None, f"cannot read --jinja-vars: {err}") from None
    if not isinstance(data, dict):
        raise InputError(str(path), None, "--jinja-vars must hold a mapping of variables")
    return data

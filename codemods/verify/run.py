"""The gate as the commands use it: options from flags, one call per planned repository."""

from __future__ import annotations

import json
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path

from ruamel.yaml import YAML
from ruamel.yaml.error import YAMLError

from codemods.diagnostics import Diagnostic
from codemods.errors import HostileYAML, InputError
from codemods.intents import Adjustment, EffectiveValue, JobPlacement, LeaveInPlace, ValuesInRelease
from codemods.plan import Plan
from codemods.verify.kustomize import NO_KUSTOMIZE, discover
from codemods.verify.model import Candidate, Options, Semantic
from codemods.yamltext.guard import check


class Refused(InputError):
    """The build gate found the plan would change what Flux applies in a way it must not."""

    code = "refused"

    def __init__(self, semantic: Semantic, warnings: tuple[Diagnostic, ...] = ()) -> None:
        first = semantic.problems[0]
        more = len(semantic.problems) - 1
        tail = f" (and {more} more problem{'s' if more != 1 else ''}: see the summary)" if more else ""
        if len(semantic.candidates) > 1:
            tail += f" ({len(semantic.candidates)} candidate plans tried, each refused: see the summary)"
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

        try:
            semantic = verify(plan.root, build_input(plan), self.options)
        except HostileYAML as err:  # refused before any build: say why it matters here
            found = err.diagnostic
            raise HostileYAML(
                found.file, found.line, f"{found.message}; a build of the change would hand it to kustomize"
            ) from None
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
            check(text, str(path))  # JSON is YAML to the guard: nesting that would exhaust json's recursion
            data = json.loads(text)
        else:
            check(text, str(path))  # the templates render what the aliases expand to
            data = YAML(typ="safe", pure=False).load(text)
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError, json.JSONDecodeError, YAMLError) as err:
        raise InputError(str(path), None, f"cannot read --jinja-vars: {err}") from None
    except RecursionError:  # TOML nested thousands deep
        raise InputError(str(path), None, "cannot read --jinja-vars: nested too deeply") from None
    if not isinstance(data, dict):
        raise InputError(str(path), None, "--jinja-vars must hold a mapping of variables")
    return data


# Carry-over candidates tried at most: each costs a round of builds (the search stops earlier
# when nothing new is learnt); the candidate that leaves Jobs in place comes after them.
MAX_CANDIDATES = 3


def prove(
    plan_for: Callable[[tuple[Adjustment, ...]], Plan],
    gate: Callable[[Plan], Semantic],
    first: Plan | None = None,
) -> tuple[Plan, Semantic]:
    """The first candidate plan whose builds satisfy every intent, simplest first.

    The first candidate is the plan as the codemods make it. A refused candidate's problems
    say what a next one must carry over (a moved Job's labels, annotations and images that a
    parent kustomization gave it, read from the build before the change); the next candidate
    is planned with that, and so on while something new is learnt. When nothing more can be
    learnt, the last candidate leaves the Jobs it could not place where they are, so that the
    rest of the change (the values fix) is not refused with them. The accepted semantic, or
    the refusal, lists every candidate tried and the intents each violated."""
    adjust: tuple[Adjustment, ...] = ()
    tried: list[Candidate] = []
    plan = first if first is not None else plan_for(adjust)
    headline: Refused | None = None  # the last refusal of a candidate that places the Jobs
    while True:
        described = _describe(adjust)
        try:
            semantic = gate(plan)
        except Refused as err:
            tried.append(Candidate(described, False, err.semantic.problems))
            if not any(isinstance(a, LeaveInPlace) for a in adjust):
                headline = err
            following = _next_candidate(plan, err.semantic, adjust, len(tried))
            if following is not None:
                # Left in place, a Job may leave nothing to change: a fixed point (warned of),
                # as a second run after the values fix must be.
                adjust = following
                plan = plan_for(adjust)
                continue
            said = headline or err
            if len(tried) > 1:
                raise Refused(replace(said.semantic, candidates=tuple(tried)), said.warnings) from None
            raise
        if tried:
            semantic = replace(semantic, candidates=(*tried, Candidate(described, True)))
        return plan, semantic


def _next_candidate(
    plan: Plan, refused: Semantic, adjust: tuple[Adjustment, ...], tried: int
) -> tuple[Adjustment, ...] | None:
    """What the next candidate changes, or None when none is left to try."""
    learnt = tuple(dict.fromkeys(p.carry for p in refused.problems if p.carry and p.carry not in adjust))
    if learnt and tried < MAX_CANDIDATES:
        return (*adjust, *learnt)
    overridden = _values_in_release(plan, refused, adjust)
    if overridden:
        return (*adjust, *overridden)
    why = refused.problems[0].message if refused.problems else ""
    placed = tuple(
        dict.fromkeys(LeaveInPlace(i.source, i.job, why) for i in plan.intents if isinstance(i, JobPlacement))
    )
    if not placed:
        return None  # nothing the plan places: the refusal is the values fix's own
    return (*adjust, *placed)


def _values_in_release(plan: Plan, refused: Semantic, adjust: tuple[Adjustment, ...]) -> tuple[ValuesInRelease, ...]:
    """The releases a plan fixed in a valuesFrom source that the refusal is about, to be fixed
    next in their own spec.values (once each): a release whose fix the builds did not carry,
    or, when a ConfigMap or Secret changed that must not, each such release (the edited
    manifest is one of theirs)."""
    broke_a_source = any(p.subject.startswith(("ConfigMap ", "Secret ")) for p in refused.problems)
    found = (
        ValuesInRelease(i.source, i.release)
        for i in plan.intents
        if isinstance(i, EffectiveValue)
        and i.via == "valuesFrom"
        and i.source
        and (
            broke_a_source
            or any(p.intent.startswith(f"EffectiveValue(HelmRelease {i.release}:") for p in refused.problems)
        )
    )
    return tuple(a for a in dict.fromkeys(found) if a not in adjust)


def _describe(adjust: tuple[Adjustment, ...]) -> str:
    left = [a for a in adjust if isinstance(a, LeaveInPlace)]
    rest = [a for a in adjust if not isinstance(a, LeaveInPlace)]
    if left:
        without = "the change without placing " + ", ".join(f"Job {a.job} ({a.source})" for a in left)
        moved = [str(a) for a in rest if isinstance(a, ValuesInRelease)]
        return without + (", and " + "; ".join(moved) if moved else "")
    if not adjust:
        return "the change as planned"
    return "the change as planned, and " + "; ".join(str(c) for c in adjust)

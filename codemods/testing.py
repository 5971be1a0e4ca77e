"""Test helpers for codemod authors, in the spirit of LibCST's `CodemodTest`.

A test names the codemod and gives the tree before and after, as `{path: text}` or a directory:

    from codemods.testing import CodemodTest

    class TestMarkReviewed(CodemodTest):
        TRANSFORM = MarkReviewed

        def test_marks_a_kustomization(self) -> None:
            self.assertCodemod(
                {"kustomization.yaml": "resources: []\\n"},
                {"kustomization.yaml": "resources: []\\n# reviewed\\n"},
            )

`assertCodemod` plans the change in a temporary copy, writes it, compares every file byte for
byte (a file missing from `after` must be gone), then plans again and requires nothing to
change (a codemod must be idempotent). With `verify=True` the real build gate judges it too:
every Flux Kustomization the change reaches is built before and after with kustomize, and the
intents the codemod stated must hold (see codemods.intents). `assert_snapshot_case` runs a
directory in this repository's `snapshots/` format (`before/`, `after/`, optional `case.toml`
with `args`).
"""

from __future__ import annotations

import shutil
import tempfile
import tomllib
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, ClassVar

from codemods.intents import Adjustment
from codemods.mods import Codemod
from codemods.plan import Plan
from codemods.recipes import load as load_recipe
from codemods.runner import plan_repository, select

Tree = Mapping[str, str | bytes] | Path


def read_tree(root: Path) -> dict[str, bytes]:
    """Every file below root (outside .git), by posix relative path, with its bytes."""
    return {
        p.relative_to(root).as_posix(): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file() and ".git" not in p.relative_to(root).parts
    }


def write_tree(root: Path, tree: Tree) -> None:
    if isinstance(tree, Path):
        shutil.copytree(tree, root, dirs_exist_ok=True)
        return
    for name, content in tree.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content.encode() if isinstance(content, str) else content)


def _expected(tree: Tree) -> dict[str, bytes]:
    if isinstance(tree, Path):
        return read_tree(tree)
    return {name: content.encode() if isinstance(content, str) else content for name, content in tree.items()}


def differences(actual: Mapping[str, bytes], expected: Mapping[str, bytes]) -> list[str]:
    """Human lines: missing, unexpected and differing files."""
    out = [f"missing: {p}" for p in sorted(expected.keys() - actual.keys())]
    out += [f"unexpected: {p}" for p in sorted(actual.keys() - expected.keys())]
    for path in sorted(actual.keys() & expected.keys()):
        if actual[path] != expected[path]:
            out.append(f"differs: {path}\n--- expected\n{expected[path]!r}\n+++ actual\n{actual[path]!r}")
    return out


def _plan(root: Path, mods: Sequence[Codemod], verify: bool, kustomize: str | None) -> Plan:
    if not verify:
        return plan_repository(root, mods)
    from codemods.verify.run import make_gate, prove  # start-up: only a verify=True test loads the gate

    gate = make_gate(True, kustomize, None)
    assert gate is not None

    def plan_for(carry: tuple[Adjustment, ...]) -> Plan:
        return plan_repository(root, mods, carry)

    plan, _semantic = prove(plan_for, gate)  # raises Refused, naming the violated intent
    return plan


def assert_transform(
    mods: Sequence[Codemod],
    before: Tree,
    after: Tree,
    *,
    verify: bool = False,
    kustomize: str | None = None,
    warnings: Sequence[str] = (),
) -> Plan:
    """The codemods turn `before` into exactly `after`, then change nothing more. `warnings`
    are texts each of which some warning of the plan must contain."""
    with tempfile.TemporaryDirectory(prefix="codemods-test-") as scratch:
        root = Path(scratch) / "repo"
        root.mkdir()
        write_tree(root, before)
        plan = _plan(root, mods, verify, kustomize)
        plan.apply(durable=False)
        found = differences(read_tree(root), _expected(after))
        assert not found, "the codemod's result is not `after`:\n" + "\n".join(found)
        said = [str(w) for w in plan.warnings]
        missing = [w for w in warnings if not any(w in s for s in said)]
        assert not missing, f"warnings not said: {missing}; said: {said}"
        again = plan_repository(root, mods)
        assert again.is_empty, f"not idempotent: a second run changes {again.changed_files()}"
        return plan


def assert_snapshot_case(case: Path, mods: Sequence[Codemod] | None = None, *, verify: bool = False) -> Plan:
    """A directory in the `snapshots/` format: `before/`, `after/`, and an optional `case.toml`
    (`args`: CLI arguments, of which `--only`, `--skip`, `--include` and `--recipe` choose the
    codemods when `mods` is not given; `verify = true`)."""
    spec: dict[str, Any] = {}
    if (case / "case.toml").is_file():
        spec = tomllib.loads((case / "case.toml").read_text())
    chosen = list(mods) if mods is not None else _codemods_of(spec.get("args", []))
    return assert_transform(chosen, case / "before", case / "after", verify=verify or bool(spec.get("verify")))


def _codemods_of(args: Sequence[str]) -> list[Codemod]:
    picked: dict[str, list[str]] = {"--only": [], "--skip": [], "--include": []}
    recipe = None
    pairs = list(zip(args, [*args[1:], ""], strict=False))  # each flag with the word after it
    for flag, value in pairs:
        if flag in picked:
            picked[flag].append(value)
        elif flag == "--recipe":
            recipe = load_recipe(value)
    return select(picked["--only"], picked["--skip"], picked["--include"], recipe)


class CodemodTest:
    """Base class of a codemod's tests: set TRANSFORM (the codemod class, or any callable that
    returns a codemod) and call `assertCodemod(before, after, **params)`."""

    TRANSFORM: ClassVar[Callable[..., Codemod]]
    VERIFY: ClassVar[bool] = False  # judge every case with the build gate too

    # Named like unittest's and LibCST's assertions.
    def assertCodemod(
        self,
        before: Tree,
        after: Tree,
        *,
        warnings: Sequence[str] = (),
        verify: bool | None = None,
        **params: Any,
    ) -> Plan:
        mod = type(self).TRANSFORM(**params)
        return assert_transform(
            [mod], before, after, verify=self.VERIFY if verify is None else verify, warnings=warnings
        )

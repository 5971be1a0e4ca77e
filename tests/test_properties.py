"""Property tests (hypothesis): generated real-world-shaped YAML, byte-exact no-ops and edits."""

from __future__ import annotations

import difflib
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import jinja2
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from ruamel.yaml import YAML

from codemods.mods.disable_migration_job import disable_in_text
from codemods.runner import plan_repository, select
from codemods.yamltext.jinja import STANDARD
from codemods.yamltext.splice import apply_splices

WORDS = st.sampled_from(["alpha", "beta", "gamma", "delta", "omega", "proxy", "image", "tag", "port", "mode"])
PLAIN = st.text(alphabet="abcdefghijklmnopqrstuvwxyz", min_size=1, max_size=8).filter(
    lambda s: s not in ("true", "false", "null", "yes", "no", "on", "off", "y", "n")
)
COMMENT = st.text(alphabet="abcdefgh :-_'\"#{}[]", min_size=0, max_size=12)


@dataclass
class Style:
    step: int
    flush_sequences: bool
    comments: bool
    jinja: bool
    anchors: list[str] = field(default_factory=list)  # complete anchors, usable by later aliases
    made: int = 0  # anchors named so far, so nested ones never share a name

    def fresh(self) -> Style:
        """The same style for another document: anchors do not cross documents."""
        return Style(self.step, self.flush_sequences, self.comments, self.jinja)


@st.composite
def scalars(draw) -> str:
    kind = draw(st.sampled_from(["plain", "single", "double", "int", "bool", "null", "tilde"]))
    word = draw(PLAIN)
    return {
        "plain": word,
        "single": f"'{word} x'",
        "double": f'"{word}: y"',
        "int": str(draw(st.integers(0, 9999))),
        "bool": draw(st.sampled_from(["true", "false", "True"])),
        "null": "null",
        "tilde": "~",
    }[kind]


@st.composite
def flow(draw) -> str:
    pad = draw(st.sampled_from(["", " "]))
    if draw(st.booleans()):
        items = draw(st.lists(scalars(), min_size=0, max_size=3))
        return "[" + pad + ", ".join(items) + pad + "]" if items else "[]"
    keys = draw(st.lists(WORDS, min_size=0, max_size=3, unique=True))
    return "{" + pad + ", ".join(f"{k}: {draw(scalars())}" for k in keys) + pad + "}" if keys else "{}"


def _comment(draw, style: Style) -> str:
    text = draw(COMMENT)
    # In a .j2 file `{#`, `{{` and `{%` start Jinja, even inside a YAML comment.
    return text.replace("{", "(").replace("}", ")") if style.jinja else text


def _comment_lines(draw, indent: int, style: Style) -> list[str]:
    if not style.comments or draw(st.integers(0, 3)) != 0:
        return []
    kind = draw(st.sampled_from(["comment", "blank", "spaces", "offset-comment"]))
    if kind == "blank":
        return [""]
    if kind == "spaces":
        return [" " * draw(st.integers(1, 6))]
    where = indent if kind == "comment" else draw(st.integers(0, indent + 4))
    return [" " * where + "#" + _comment(draw, style)]


def _inline(draw, style: Style) -> str:
    return ("  # " + _comment(draw, style)) if style.comments and draw(st.integers(0, 4)) == 0 else ""


@st.composite
def block_mapping(draw, indent: int, style: Style, depth: int, reserved: tuple[str, ...] = ()) -> list[str]:
    keys = draw(st.lists(WORDS.filter(lambda w: w not in reserved), min_size=1, max_size=4, unique=True))
    lines: list[str] = []
    for key in keys:
        usable = len(style.anchors)
        entry: list[str] = [*_comment_lines(draw, indent, style)]
        sp = " " * indent
        kind = draw(
            st.sampled_from(["scalar", "scalar", "flow", "map", "seq", "alias"] if depth > 0 else ["scalar", "flow"])
        )
        if kind == "alias" and not style.anchors:
            kind = "scalar"
        if kind == "scalar":
            entry.append(f"{sp}{key}: {draw(scalars())}{_inline(draw, style)}")
        elif kind == "flow":
            entry.append(f"{sp}{key}: {draw(flow())}{_inline(draw, style)}")
        elif kind == "alias":
            entry.append(f"{sp}{key}: *{draw(st.sampled_from(style.anchors))}")
        elif kind == "map":
            anchor = ""
            if draw(st.integers(0, 3)) == 0:
                style.made += 1
                anchor = f" &a{style.made}"
            entry.append(f"{sp}{key}:{anchor}{_inline(draw, style)}")
            entry += draw(block_mapping(indent + style.step, style, depth - 1))
            if anchor:
                style.anchors.append(anchor[2:])
        else:
            entry.append(f"{sp}{key}:{_inline(draw, style)}")
            dash = indent if style.flush_sequences else indent + style.step
            for _ in range(draw(st.integers(1, 3))):
                entry.append(f"{' ' * dash}- {draw(scalars())}{_inline(draw, style)}")
        if style.jinja and draw(st.integers(0, 4)) == 0:
            entry = [f"{sp}{{% if flag %}}", *entry, f"{sp}{{% endif %}}"]
            del style.anchors[usable:]  # an anchor in a false branch is gone after rendering
        lines += entry
    return lines


JOB_FORMS = {
    "disabled": ["migrationJob:", "  enabled: false"],
    "disabled-caps": ["migrationJob:", "  enabled: False"],
    "enabled": ["migrationJob:", "  enabled: true"],
    "enabled-quoted": ["migrationJob:", '  enabled: "true"'],
    "no-enabled": ["migrationJob:", "  ttlSecondsAfterFinished: 120"],
    "no-job": [],
    "flow": ["migrationJob: {enabled: true, backoffLimit: 4}"],
    # Anchored, and (half the time) reused by another sub-chart's alias after the block.
    "anchored": ["migrationJob: &mj", "  enabled: true"],
}


@st.composite
def helmrelease_files(draw, job_forms: list[str]) -> tuple[str, str, bool]:
    """(file text, job form, is Jinja)."""
    step = draw(st.sampled_from([2, 4]))
    style = Style(step, draw(st.booleans()), draw(st.booleans()), draw(st.booleans()))
    form = draw(st.sampled_from(job_forms))
    values_indent = step * 2
    # Text order is generation order, so an alias always follows its anchor.
    before = draw(block_mapping(values_indent, style, depth=2)) if draw(st.booleans()) else []
    used = tuple(
        line.strip().split(":")[0]
        for line in before
        if line.startswith(" " * values_indent) and not line.startswith(" " * (values_indent + 1))
    )
    block = [" " * values_indent + "litellm-helm:" + _inline(draw, style)]
    inner = " " * (values_indent + step)
    block += [
        inner + line.replace("  ", " " * step, 1) if line.startswith("  ") else inner + line for line in JOB_FORMS[form]
    ]
    block += draw(block_mapping(values_indent + step, style, depth=1, reserved=("migrationJob",)))
    after = draw(block_mapping(values_indent, style, depth=2, reserved=used)) if draw(st.booleans()) else []
    if form == "anchored" and draw(st.booleans()):
        after += [" " * values_indent + "runtime-api:", inner + "migrationJob: *mj"]
    values = [*before, *block, *after]
    s = " " * step
    doc = [
        "apiVersion: helm.toolkit.fluxcd.io/v2",
        "kind: HelmRelease",
        "metadata:",
        f"{s}name: app",
        "spec:",
        f"{s}interval: 1h",
        f"{s}values:",
        *values,
    ]
    docs = [doc]
    for _ in range(draw(st.integers(0, 2))):
        other = [
            "apiVersion: v1",
            "kind: ConfigMap",
            "metadata:",
            f"{s}name: cm",
            "data:",
            *draw(block_mapping(step, style.fresh(), depth=1)),
        ]
        docs.insert(draw(st.integers(0, len(docs))), other)
    parts = []
    for i, lines in enumerate(docs):
        prefix = ["# before the separator"] if style.comments and draw(st.booleans()) else []
        parts.append("\n".join([*prefix, "---", *lines]) if i or draw(st.booleans()) else "\n".join(lines))
    text = "\n".join(parts) + "\n"
    if draw(st.booleans()):
        text = text.replace("\n", "\r\n")
    if draw(st.booleans()):
        text = text.rstrip("\r\n")
    return text, form, style.jinja


def _plan_single_file(text: str, jinja: bool):
    with tempfile.TemporaryDirectory() as tmp:
        name = "helmrelease.yaml.j2" if jinja else "helmrelease.yaml"
        (Path(tmp) / name).write_bytes(text.encode())
        plan = plan_repository(Path(tmp), select())
        return plan, (Path(tmp) / name).read_bytes().decode()


# The full count runs with the slow trials (CI); the default run tries a quarter of it.
PROPERTY = settings(
    max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much]
)
QUICK = settings(PROPERTY, max_examples=30)
NO_OPS = helmrelease_files(["disabled", "disabled-caps"])
EDITS = helmrelease_files(["enabled", "enabled-quoted", "no-enabled", "no-job", "flow", "anchored"])


@QUICK
@given(NO_OPS)
def test_no_op_run_is_byte_identical(generated: tuple[str, str, bool]) -> None:
    no_op_run_is_byte_identical(generated)


@pytest.mark.slow
@PROPERTY
@given(NO_OPS)
def test_no_op_run_is_byte_identical_more_examples(generated: tuple[str, str, bool]) -> None:
    no_op_run_is_byte_identical(generated)


@QUICK
@given(EDITS)
def test_edit_changes_only_the_intended_lines_and_data(generated: tuple[str, str, bool]) -> None:
    edit_changes_only_the_intended_lines_and_data(generated)


@pytest.mark.slow
@PROPERTY
@given(EDITS)
def test_edit_changes_only_the_intended_lines_and_data_more_examples(generated: tuple[str, str, bool]) -> None:
    edit_changes_only_the_intended_lines_and_data(generated)


def no_op_run_is_byte_identical(generated: tuple[str, str, bool]) -> None:
    text, _form, jinja = generated
    plan, _ = _plan_single_file(text, jinja)
    assert plan.is_empty, plan.diff()


def _render(text: str, flag: bool) -> str:
    env = jinja2.Environment(keep_trailing_newline=True, trim_blocks=True, lstrip_blocks=True)
    return env.from_string(text.replace("\r\n", "\n")).render(flag=flag)


def _load(text: str) -> list:
    return list(YAML(typ="safe").load_all(text))


def _expected(docs: list) -> list:
    for doc in docs:
        if isinstance(doc, dict) and doc.get("kind") == "HelmRelease":
            values = doc["spec"]["values"]
            block = values["litellm-helm"] or {}  # every child may sit in a false Jinja branch
            job = block.get("migrationJob")
            block["migrationJob"] = {**(job if isinstance(job, dict) else {}), "enabled": False}
            values["litellm-helm"] = block
    return docs


def edit_changes_only_the_intended_lines_and_data(generated: tuple[str, str, bool]) -> None:
    text, form, jinja = generated
    delims = STANDARD if jinja else None
    result = disable_in_text(text, "helmrelease.yaml", delims)
    after = apply_splices(text, result.splices)
    if "*mj" in text:
        # Editing the anchor would change runtime-api.migrationJob too: skipped, naming both lines.
        assert after == text and not result.splices
        ((line, why),) = result.skipped
        anchor_line = next(i for i, ln in enumerate(text.replace("\r\n", "\n").split("\n"), 1) if "&mj" in ln)
        alias_line = next(i for i, ln in enumerate(text.replace("\r\n", "\n").split("\n"), 1) if "*mj" in ln)
        assert line == anchor_line and f"line {alias_line}" in why, why
        return
    form = "enabled" if form == "anchored" else form

    # Only the intended lines: one value replaced, or the missing keys inserted.
    old, new = text.replace("\r\n", "\n").split("\n"), after.replace("\r\n", "\n").split("\n")
    changes = [
        (tag, old[i1:i2], new[j1:j2])
        for tag, i1, i2, j1, j2 in difflib.SequenceMatcher(a=old, b=new, autojunk=False).get_opcodes()
        if tag != "equal"
    ]
    if form in ("enabled", "enabled-quoted"):
        assert changes == [
            ("replace", [line], [line.replace('"true"', "false").replace("true", "false")])
            for line in [next(ln for ln in old if "enabled: " in ln and "true" in ln)]
        ]
    elif form == "flow":
        ((tag, removed, added),) = changes
        assert tag == "replace" and added == [removed[0].replace("enabled: true", "enabled: false")]
    else:
        ((tag, removed, added),) = changes
        assert tag == "insert" and not removed
        assert [a.strip() for a in added] == (
            ["enabled: false"] if form == "no-enabled" else ["migrationJob:", "enabled: false"]
        )

    # The result parses to the intended data, in every Jinja branch.
    for flag in (True, False) if jinja else (None,):
        before_text = _render(text, flag) if jinja else text
        after_text = _render(after, flag) if jinja else after
        assert _load(after_text) == _expected(_load(before_text))

    # Idempotent.
    assert not disable_in_text(after, "helmrelease.yaml", delims).splices

"""Jinja masking and splicing primitives."""

from __future__ import annotations

import pytest

from codemods.errors import HostileYAML, InputError
from codemods.yamltext.jinja import CLUSTER_TEMPLATE, STANDARD, jinja_lines, mask
from codemods.yamltext.locate import compose
from codemods.yamltext.splice import Splice, apply_splices, delete_lines, insert_lines_after

TEMPLATES = [
    (
        STANDARD,
        "{% if a %}\nkey: {{ v }}\n{# note #}\nlist:\n  - {{ x }}-y\n{% for i in l %}\n  - {{ i }}\n{% endfor %}\n{%- if b -%}\nz: 1\n{% endif %}\n",
    ),
    (
        CLUSTER_TEMPLATE,
        '#% if a %#\n---\nkey: #{ v }#\n#| note #|\nname: "#{ x }#-y"\n  #% for i in l %#\n#% endfor %#\n',
    ),
    (STANDARD, "{% set x %}\nmulti\nline\n{% endset %}\nkey: {{\n  v\n}}\n"),
]


@pytest.mark.parametrize(("delims", "text"), TEMPLATES)
def test_mask_keeps_every_offset_and_line_break(delims, text: str) -> None:
    masked = mask(text, delims)
    assert len(masked) == len(text)
    assert [i for i, c in enumerate(masked) if c == "\n"] == [i for i, c in enumerate(text) if c == "\n"]


def test_masked_templates_parse_and_keep_positions() -> None:
    text = TEMPLATES[1][1]
    (doc,) = compose(text, "t.yaml.j2", CLUSTER_TEMPLATE)
    keys = {k.value: (k.start_mark.line, k.start_mark.column) for k, _v in doc.value}
    assert keys == {"key": (2, 0), "name": (4, 0)}


def test_block_lines_and_depth() -> None:
    text = "a:\n  #% if x %#\n  - b\n  #% if y %#\n  - c\n  #% endif %#\n  #% endif %#\n  - d\n"
    jl = jinja_lines(text, CLUSTER_TEMPLATE)
    assert jl.depth == [0, 0, 1, 1, 2, 2, 1, 0, 0]
    assert jl.block_statements == {1: "if", 3: "if", 5: "endif", 6: "endif"}


def test_helm_syntax_is_data_in_makejinja_templates() -> None:
    text = 'name: "x-{{ .Release.Revision }}"\n'
    assert mask(text, CLUSTER_TEMPLATE) == text


def test_parse_error_names_file_line_and_column() -> None:
    with pytest.raises(InputError) as err:
        compose("a:\n  b: [1, 2\nc: 3\n", "dir/x.yaml", None)
    assert str(err.value).startswith("dir/x.yaml:3:")


def test_an_alias_bomb_is_refused_before_it_is_composed_and_heavy_reuse_composes_unexpanded() -> None:
    """Composing never expands aliases, but kustomize and walks over the values would: a bomb
    is refused (issue 21) at the alias that carries it; reuse within the limits composes,
    each alias the anchored node itself."""
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    lines += [f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 10) + "]" for i in range(1, 10)]
    with pytest.raises(HostileYAML, match=r"12,345,679,021 nodes, written as 31 .*the alias \*a8 here") as err:
        compose("\n".join(lines) + "\n", "bomb.yaml", None)
    assert str(err.value).startswith("bomb.yaml:10: ")
    reuse = "base: &base {" + ", ".join(f"k{i}: v" for i in range(100)) + "}\n"
    reuse += "".join(f"app{i}: *base\n" for i in range(400))  # 40,000 nodes expanded: under the floor
    (doc,) = compose(reuse, "reuse.yaml", None)
    assert len(doc.value) == 401
    assert all(value is doc.value[0][1] for _key, value in doc.value[1:])


def test_splices_apply_in_order_and_refuse_overlap() -> None:
    assert apply_splices("abcdef", [Splice(4, 5, "E"), Splice(0, 1, "A")]) == "AbcdEf"
    with pytest.raises(ValueError):
        apply_splices("abcdef", [Splice(0, 3, ""), Splice(2, 4, "")])


def test_line_edits_keep_line_endings() -> None:
    text = "a\r\nb\r\nc"
    assert apply_splices(text, [insert_lines_after(text, 0, ["x"])]) == "a\r\nx\r\nb\r\nc"
    assert apply_splices(text, [insert_lines_after(text, len(text) - 1, ["x"])]) == "a\r\nb\r\nc\r\nx"
    assert apply_splices(text, [delete_lines(text, len(text) - 1, len(text) - 1)]) == "a\r\nb"
    assert apply_splices(text, [delete_lines(text, 3, 3)]) == "a\r\nc"


def test_deep_flow_nesting_is_refused_at_once_and_a_quoted_run_of_brackets_is_not() -> None:
    import time

    depth = 50_000
    start = time.perf_counter()
    with pytest.raises(InputError, match="nested too deeply"):
        compose("a: " + "[" * depth + "]" * depth + "\n", "deep.yaml", None)
    assert time.perf_counter() - start < 2, "ruamel's scanner is quadratic in flow depth: refuse before it runs"
    # The same characters inside a quoted scalar or a comment are no nesting at all.
    assert compose('a: "' + "[" * 2000 + '"\n', "quoted.yaml", None)
    assert compose("a: 1 # " + "{" * 2000 + "\n", "comment.yaml", None)

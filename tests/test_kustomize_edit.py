"""Byte-exact add and remove of `resources:` entries, where `kustomize edit` would rewrite the file."""

from __future__ import annotations

import pytest

from codemods.repo.kustomize import Guard, add_entry, find_guard, remove_entry
from codemods.yamltext.jinja import CLUSTER_TEMPLATE, STANDARD

HEAD = "---\napiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\n"


@pytest.mark.parametrize(
    ("body", "entry", "expected"),
    [
        (
            "resources:\n  - ./a.yaml\n  - ./c.yaml\n",
            "./b.yaml",
            "resources:\n  - ./a.yaml\n  - ./b.yaml\n  - ./c.yaml\n",
        ),
        (
            "resources:\n  - ./c.yaml\n  - ./a.yaml\n",
            "./b.yaml",
            "resources:\n  - ./c.yaml\n  - ./a.yaml\n  - ./b.yaml\n",
        ),
        ("resources:\n- a.yaml\n- c.yaml\n", "./b.yaml", "resources:\n- a.yaml\n- b.yaml\n- c.yaml\n"),
        (
            'resources:\n    - "a.yaml"\n    - "c.yaml"\n',
            "b.yaml",
            'resources:\n    - "a.yaml"\n    - "b.yaml"\n    - "c.yaml"\n',
        ),
        ("resources:\n  -   ./a.yaml\n", "./b.yaml", "resources:\n  -   ./a.yaml\n  -   ./b.yaml\n"),
        (
            "resources:\n  - ./a.yaml\n  # the c thing\n  - ./c.yaml\n",
            "./b.yaml",
            "resources:\n  - ./a.yaml\n  - ./b.yaml\n  # the c thing\n  - ./c.yaml\n",
        ),
        ("resources: [a.yaml]\n", "./b.yaml", "resources: [a.yaml, b.yaml]\n"),
        ("resources: []\n", "./b.yaml", "resources: [./b.yaml]\n"),
        ("namespace: x\n", "./b.yaml", "namespace: x\nresources:\n  - ./b.yaml\n"),
        ("resources:\n  - ./a.yaml\n  - ./b.yaml\n", "b.yaml", None),
        ("resources:\n  - ./app/\n", "./app", None),
    ],
)
def test_add_entry(body: str, entry: str, expected: str | None) -> None:
    result = add_entry(HEAD + body, "k.yaml", None, entry)
    assert result == (None if expected is None else HEAD + expected)


def test_add_entry_places_before_a_guarded_block_and_after_closed_ones() -> None:
    body = "resources:\n  - ./a.yaml\n  #% if x %#\n  - ./c.yaml\n  #% endif %#\n  - ./e.yaml\n"
    text = HEAD + body
    assert add_entry(text, "k", CLUSTER_TEMPLATE, "./b.yaml") == HEAD + body.replace(
        "  #% if x %#\n", "  - ./b.yaml\n  #% if x %#\n"
    )
    assert add_entry(text, "k", CLUSTER_TEMPLATE, "./d.yaml") == HEAD + body.replace(
        "  - ./e.yaml\n", "  - ./d.yaml\n  - ./e.yaml\n"
    )
    unsorted = HEAD + "resources:\n  - ./z.yaml\n  #% if x %#\n  - ./c.yaml\n  #% endif %#\n"
    assert add_entry(unsorted, "k", CLUSTER_TEMPLATE, "./b.yaml") == unsorted + "  - ./b.yaml\n"


def test_add_entry_with_guard() -> None:
    text = HEAD + "resources:\n- ./a.yaml\n- ./c.yaml\n"
    guard = Guard("{% if run %}", "{% endif %}")
    assert (
        add_entry(text, "k", STANDARD, "./b.yaml", guard)
        == HEAD + "resources:\n- ./a.yaml\n{% if run %}\n- ./b.yaml\n{% endif %}\n- ./c.yaml\n"
    )


def test_add_entry_crlf_without_final_newline() -> None:
    text = (HEAD + "resources:\n  - ./a.yaml").replace("\n", "\r\n")
    assert add_entry(text, "k", None, "./b.yaml") == text + "\r\n  - ./b.yaml"


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ("resources:\n  - ./a.yaml\n  - ./job.yaml\n  - ./z.yaml\n", "resources:\n  - ./a.yaml\n  - ./z.yaml\n"),
        ("resources:\n  - ./a.yaml\n  # migrations\n  - job.yaml\n", "resources:\n  - ./a.yaml\n"),
        ("resources:\n  # apps\n  - ./job.yaml\n  - ./z.yaml\n", "resources:\n  # apps\n  - ./z.yaml\n"),
        ("resources:\n  - ./a.yaml\n  #% if m %#\n  - ./job.yaml\n  #% endif %#\n", "resources:\n  - ./a.yaml\n"),
        ("resources:\n  - ./a.yaml  # keep\n  - ./job.yaml  # TODO move\n", "resources:\n  - ./a.yaml  # keep\n"),
        ("resources: [a.yaml, job.yaml, z.yaml]\n", "resources: [a.yaml, z.yaml]\n"),
        ("resources: [a.yaml, job.yaml]\n", "resources: [a.yaml]\n"),
    ],
)
def test_remove_entry(body: str, expected: str) -> None:
    assert remove_entry(HEAD + body, "k", CLUSTER_TEMPLATE, "./job.yaml") == HEAD + expected


def test_remove_absent_entry_is_none() -> None:
    assert remove_entry(HEAD + "resources:\n  - ./a.yaml\n", "k", None, "job.yaml") is None


def test_find_guard_only_for_a_sole_entry() -> None:
    sole = HEAD + "resources:\n  #% if m %#\n  - ./job.yaml\n  #% endif %#\n"
    assert find_guard(sole, "k", CLUSTER_TEMPLATE, "job.yaml") == Guard("#% if m %#", "#% endif %#")
    shared = HEAD + "resources:\n  #% if m %#\n  - ./a.yaml\n  - ./job.yaml\n  #% endif %#\n"
    assert find_guard(shared, "k", CLUSTER_TEMPLATE, "job.yaml") is None


def test_a_guard_holding_the_entry_and_its_comments_is_the_entry_s_own() -> None:
    # The comments inside the guard describe the entry: the guard is found (it moves with the
    # entry), and removing the entry removes the guard, not only what it held.
    for comments in ("  # schema migrations\n", "  # schema migrations\n  # run once per upgrade\n"):
        text = HEAD + "resources:\n  - ./a.yaml\n  #% if m %#\n" + comments + "  - ./job.yaml\n  #% endif %#\n"
        assert find_guard(text, "k", CLUSTER_TEMPLATE, "job.yaml") == Guard("#% if m %#", "#% endif %#")
        assert remove_entry(text, "k", CLUSTER_TEMPLATE, "./job.yaml") == HEAD + "resources:\n  - ./a.yaml\n"
    below = HEAD + "resources:\n  #% if m %#\n  - ./job.yaml\n  # the schema Job\n  #% endif %#\n  - ./z.yaml\n"
    assert find_guard(below, "k", CLUSTER_TEMPLATE, "job.yaml") == Guard("#% if m %#", "#% endif %#")
    assert remove_entry(below, "k", CLUSTER_TEMPLATE, "./job.yaml") == HEAD + "resources:\n  - ./z.yaml\n"


def test_a_template_variable_line_in_the_guard_is_another_entry_not_a_comment() -> None:
    # `#{ extra }#` starts with `#` but renders list entries: the guard is shared, and removing
    # the Job's entry keeps the guard and the variable line.
    text = HEAD + "resources:\n  #% if m %#\n  - ./job.yaml\n  #{ extra }#\n  #% endif %#\n"
    assert find_guard(text, "k", CLUSTER_TEMPLATE, "job.yaml") is None
    expected = HEAD + "resources:\n  #% if m %#\n  #{ extra }#\n  #% endif %#\n"
    assert remove_entry(text, "k", CLUSTER_TEMPLATE, "./job.yaml") == expected
    above = HEAD + "resources:\n  - ./a.yaml\n  #{ extra }#\n  - ./job.yaml\n"
    assert (
        remove_entry(above, "k", CLUSTER_TEMPLATE, "./job.yaml") == HEAD + "resources:\n  - ./a.yaml\n  #{ extra }#\n"
    )


def test_in_jinja_block_reports_the_line() -> None:
    from codemods.repo.kustomize import in_jinja_block

    text = HEAD + "resources:\n  #% if m %#\n  - ./a.yaml\n  - ./job.yaml\n  #% endif %#\n  - ./z.yaml\n"
    assert in_jinja_block(text, "k", CLUSTER_TEMPLATE, "job.yaml") == 7
    assert in_jinja_block(text, "k", CLUSTER_TEMPLATE, "z.yaml") is None
    assert in_jinja_block(text, "k", None, "job.yaml") is None

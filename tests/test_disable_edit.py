"""The disable-migration-job edit on small, exact inputs: every value shape and style."""

from __future__ import annotations

import pytest

from codemods.mods.disable_migration_job import disable_in_text
from codemods.yamltext.jinja import CLUSTER_TEMPLATE, STANDARD, Delimiters
from codemods.yamltext.splice import apply_splices

HR = "apiVersion: helm.toolkit.fluxcd.io/v2\nkind: HelmRelease\nmetadata:\n  name: x\nspec:\n  values:\n"


def disable(body: str, delims: Delimiters | None = None, head: str = HR) -> tuple[str, list[tuple[int, str]]]:
    text = head + body
    result = disable_in_text(text, "helmrelease.yaml", delims)
    out = apply_splices(text, result.splices)
    assert out.startswith(head)
    return out[len(head) :], result.skipped


CASES = {
    "true becomes false": (
        "    litellm-helm:\n      migrationJob:\n        enabled: true\n",
        "    litellm-helm:\n      migrationJob:\n        enabled: false\n",
    ),
    "quoted string true is truthy for Helm": (
        '    litellm-helm:\n      migrationJob:\n        enabled: "true"\n',
        "    litellm-helm:\n      migrationJob:\n        enabled: false\n",
    ),
    "quoted string false is truthy too": (
        "    litellm-helm:\n      migrationJob:\n        enabled: 'false'\n",
        "    litellm-helm:\n      migrationJob:\n        enabled: false\n",
    ),
    "comments stay": (
        "    litellm-helm:   # c\n      migrationJob:   # c2\n        enabled: true   # c3\n",
        "    litellm-helm:   # c\n      migrationJob:   # c2\n        enabled: false   # c3\n",
    ),
    "quoted keys": (
        '    "litellm-helm":\n      \'migrationJob\':\n        "enabled": yes\n',
        '    "litellm-helm":\n      \'migrationJob\':\n        "enabled": false\n',
    ),
    "missing enabled goes first": (
        "    litellm-helm:\n      migrationJob:\n        ttl: 1\n",
        "    litellm-helm:\n      migrationJob:\n        enabled: false\n        ttl: 1\n",
    ),
    "missing migrationJob goes first": (
        "    litellm-helm:\n      # note\n      image: x\n",
        "    litellm-helm:\n      migrationJob:\n        enabled: false\n      # note\n      image: x\n",
    ),
    "four-space nesting": (
        "        litellm-helm:\n            image: x\n",
        "        litellm-helm:\n            migrationJob:\n                enabled: false\n            image: x\n",
    ),
    "empty migrationJob": (
        "    litellm-helm:\n      migrationJob:\n    other: 1\n",
        "    litellm-helm:\n      migrationJob:\n        enabled: false\n    other: 1\n",
    ),
    "null migrationJob": (
        "    litellm-helm:\n      migrationJob: ~\n",
        "    litellm-helm:\n      migrationJob: {enabled: false}\n",
    ),
    "empty litellm-helm": (
        "    litellm-helm:\n    other: 1\n",
        "    litellm-helm:\n      migrationJob:\n        enabled: false\n    other: 1\n",
    ),
    "empty enabled": (
        "    litellm-helm:\n      migrationJob:\n        enabled:\n        ttl: 1\n",
        "    litellm-helm:\n      migrationJob:\n        enabled: false\n        ttl: 1\n",
    ),
    "flow litellm-helm": ("    litellm-helm: {}\n", "    litellm-helm: {migrationJob: {enabled: false}}\n"),
    "flow migrationJob with spaces": (
        "    litellm-helm:\n      migrationJob: { ttl: 1 }\n",
        "    litellm-helm:\n      migrationJob: { enabled: false, ttl: 1 }\n",
    ),
    "empty flow migrationJob": (
        "    litellm-helm:\n      migrationJob: { }\n",
        "    litellm-helm:\n      migrationJob: { enabled: false }\n",
    ),
    "already false is untouched": (
        "    litellm-helm:\n      migrationJob:\n        enabled: False\n",
        "    litellm-helm:\n      migrationJob:\n        enabled: False\n",
    ),
    "merge key keeps its place": (
        "    d: &d\n      image: x\n    litellm-helm:\n      <<: *d\n      migrationJob:\n        enabled: true\n",
        "    d: &d\n      image: x\n    litellm-helm:\n      <<: *d\n      migrationJob:\n        enabled: false\n",
    ),
    "other charts untouched": (
        "    runtime-api:\n      migrationJob:\n        enabled: true\n    migrationJob:\n      enabled: true\n",
        "    runtime-api:\n      migrationJob:\n        enabled: true\n    migrationJob:\n      enabled: true\n",
    ),
}


@pytest.mark.parametrize("name", CASES)
def test_disable(name: str) -> None:
    before, expected = CASES[name]
    out, skipped = disable(before)
    assert out == expected
    assert not skipped
    again, _ = disable(out)
    assert again == out, "second run must be a no-op"


@pytest.mark.parametrize(
    ("body", "delims"),
    [
        ("    litellm-helm:\n      migrationJob:\n        enabled: #{ migrate | default(true) }#\n", CLUSTER_TEMPLATE),
        ("    litellm-helm:\n      migrationJob:\n        enabled: {{ migrate }}\n", STANDARD),
    ],
)
def test_templated_value_is_replaced(body: str, delims: Delimiters) -> None:
    out, _ = disable(body, delims)
    assert out.endswith("        enabled: false\n")


def test_every_jinja_branch_is_disabled() -> None:
    body = "    litellm-helm:\n      migrationJob:\n        {% if a %}\n        enabled: true\n        {% else %}\n        enabled: yes\n        {% endif %}\n"
    out, _ = disable(body, STANDARD)
    assert out == body.replace("enabled: true", "enabled: false").replace("enabled: yes", "enabled: false")


def test_not_a_helmrelease_is_ignored() -> None:
    head = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\nspec:\n  values:\n"
    body = "    litellm-helm:\n      migrationJob:\n        enabled: true\n"
    assert disable(body, head=head)[0] == body


@pytest.mark.parametrize(
    "body",
    [
        "    defaults: &d\n      migrationJob: {enabled: true}\n    litellm-helm: *d\n",
        "    defaults: &d {enabled: true}\n    litellm-helm:\n      migrationJob: *d\n",
    ],
)
def test_aliases_are_refused_not_edited(body: str) -> None:
    # Editing an anchor would change every other user of it: do no harm, say why.
    out, skipped = disable(body)
    assert out == body
    assert skipped and "alias" in skipped[0][1]


def test_crlf_and_bom_survive() -> None:
    text = "\ufeff" + (HR + "    litellm-helm:\n      migrationJob:\n        enabled: true").replace("\n", "\r\n")
    result = disable_in_text(text, "f", None)
    out = apply_splices(text, result.splices)
    assert out == text.replace("enabled: true", "enabled: false")
    text = "\ufeff" + (HR + "    litellm-helm:\n      image: x").replace("\n", "\r\n")
    out = apply_splices(text, disable_in_text(text, "f", None).splices)
    assert out == text.replace(
        "litellm-helm:\r\n", "litellm-helm:\r\n      migrationJob:\r\n        enabled: false\r\n"
    )

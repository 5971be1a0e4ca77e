"""A patch target selects as kustomize does (codemods/flux/selector.py)."""

from __future__ import annotations

import pytest

from codemods.flux.selector import Selected, Target

RELEASE = Selected("HelmRelease", "openhands", "ai", {"app": "openhands", "tier": "web"}, {"team": "ml"})


@pytest.mark.parametrize(
    ("target", "selects"),
    [
        (Target(), True),
        (Target(kind="HelmRelease", name="openhands"), True),
        (Target(name="open.*"), True),  # a regular expression
        (Target(name="open"), False),  # that must match the whole name
        (Target(name="x|openhands"), True),
        (Target(kind="Helm.*"), True),
        (Target(kind="Kustomization"), False),
        (Target(namespace="a."), True),
        (Target(namespace="flux-system"), False),
        (Target(name="(?P<bad"), False),  # not a Python regex: compared as written
        (Target(label_selector="app=openhands"), True),
        (Target(label_selector="app==openhands,tier=web"), True),
        (Target(label_selector="app=openhands,tier=db"), False),
        (Target(label_selector="tier!=db"), True),
        (Target(label_selector="missing!=x"), True),  # != holds for an object without the key
        (Target(label_selector="tier in (web, api)"), True),
        (Target(label_selector="tier notin (web)"), False),
        (Target(label_selector="app in (a,b),tier"), False),
        (Target(label_selector="tier"), True),
        (Target(label_selector="!tier"), False),
        (Target(label_selector="!legacy"), True),
        (Target(annotation_selector="team=ml"), True),
        (Target(annotation_selector="team=ops"), False),
    ],
)
def test_a_target_selects_as_kustomize_does(target: Target, selects: bool) -> None:
    assert target.selects(RELEASE) is selects

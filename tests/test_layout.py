"""The three template layouts behind one protocol, and the order they are consulted in."""

from __future__ import annotations

from pathlib import Path

from codemods.repo.layout import (
    IN_PLACE,
    RENDERED,
    InPlaceJinja,
    Layout,
    MakejinjaInput,
    Rendered,
    TemplateLayout,
    load_layout,
)
from codemods.yamltext.jinja import CLUSTER_TEMPLATE, STANDARD
from tests.helpers import ROOT


def test_each_layout_is_a_template_layout() -> None:
    layouts: list[TemplateLayout] = [
        MakejinjaInput("templates/config", "", ".j2", CLUSTER_TEMPLATE),
        InPlaceJinja(),
        Rendered(),
    ]
    assert [layout.kind for layout in layouts] == ["makejinja", "in-place", "rendered"]


def test_layouts_are_consulted_in_order() -> None:
    config = MakejinjaInput("templates/config", "", ".j2", CLUSTER_TEMPLATE, exclude=("*.md",), order=1)
    overrides = MakejinjaInput("templates/config/overrides", "", ".j2", CLUSTER_TEMPLATE, order=0)
    layout = Layout((overrides, config, IN_PLACE, RENDERED))
    # A .j2 under a makejinja input is makejinja's, with its delimiters; elsewhere it renders in place.
    classified = layout.classify("templates/config/apps/hr.yaml.j2")
    assert classified is not None
    assert classified[0] == "apps/hr.yaml" and classified[1].delimiters == CLUSTER_TEMPLATE
    assert layout.layout_of("templates/config/apps/hr.yaml.j2") is config
    assert layout.layout_of("templates/config/overrides/apps/hr.yaml.j2") is overrides
    assert layout.layout_of("apps/hr.yaml.j2") is IN_PLACE
    assert layout.layout_of("apps/hr.yaml") is RENDERED
    assert layout.classify("apps/hr.yaml.j2")[1].delimiters == STANDARD  # type: ignore[index]
    assert layout.classify("templates/config/README.md") is None  # excluded: makejinja skips it
    assert layout.precedence("templates/config/overrides/a.yaml.j2") < layout.precedence("templates/config/a.yaml.j2")
    assert layout.template_dir_for("templates/config/apps/job.yaml.j2", "apps/ns/app") == "templates/config/apps/ns/app"
    assert layout.template_dir_for("apps/job.yaml.j2", "apps/ns/app") == "apps/ns/app"
    assert layout.is_rendered_area("apps") and not Layout().is_rendered_area("apps")
    assert layout.template_dirs() == ("templates/config/overrides", "templates/config")
    assert layout.template_dirs_rendering("apps/job.yaml") == (
        "templates/config/overrides/apps",
        "templates/config/apps",
    )
    assert Layout().template_dirs() == () and Layout().template_dirs_rendering("apps/job.yaml") == ()


def test_cluster_template_layout(tmp_path: Path) -> None:
    layout = load_layout(ROOT / "examples" / "openhands-cluster-template")
    assert [part.kind for part in layout.layouts] == ["makejinja", "in-place", "rendered"]
    assert load_layout(tmp_path) == Layout()

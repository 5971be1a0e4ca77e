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


def test_a_template_expression_replaced_by_the_fix_is_a_warning(tmp_path: Path) -> None:
    """cluster-template: `enabled: #{ var | default(true) }#` becomes `false` (what Flux must
    apply), and the person who sets that variable is told it no longer does anything."""
    import json
    import shutil

    from tests.helpers import run_codemods

    repo = tmp_path / "repo"
    shutil.copytree(ROOT / "examples" / "openhands-cluster-template", repo)
    template = repo / "templates/config/kubernetes/apps/openhands/openhands/app/helmrelease.yaml.j2"
    text = template.read_text()
    expression = "#{ litellm_migration_job | default(true) }#"
    marker = "      migrationJob:\n        enabled: true\n        ttlSecondsAfterFinished: 120\n"
    assert text.count(marker) == 1
    template.write_text(text.replace(marker, marker.replace("enabled: true", f"enabled: {expression}")))
    line = template.read_text().splitlines().index(f"        enabled: {expression}") + 1
    result = run_codemods("run", "--no-verify", "--json", str(repo))
    assert result.returncode == 0, result.stderr
    assert "        enabled: false\n        ttlSecondsAfterFinished: 120\n" in template.read_text()
    assert expression not in template.read_text()
    report = json.loads(result.stdout)
    [warning] = [w for w in report["warnings"] if "template expression" in w["message"]]
    assert warning["file"] == str(template.relative_to(repo)) and warning["line"] == line
    assert expression in warning["message"] and "no longer sets it" in warning["message"]
    again = run_codemods("run", "--no-verify", "--json", str(repo))
    assert not [w for w in json.loads(again.stdout)["warnings"] if "template expression" in w["message"]]


def test_the_template_expression_warning_names_the_line_inside_an_embedded_block(tmp_path: Path) -> None:
    """values.yaml: | in a ConfigMap template: the line is the file's, not the block's."""
    import json

    from tests.helpers import run_codemods

    (tmp_path / "apps/oh").mkdir(parents=True)
    (tmp_path / "clusters").mkdir()
    (tmp_path / "clusters/flux.yaml").write_text(
        "apiVersion: kustomize.toolkit.fluxcd.io/v1\nkind: Kustomization\nmetadata: {name: apps, namespace: flux-system}\n"
        "spec:\n  interval: 1h\n  path: ./apps/oh\n  prune: true\n  sourceRef: {kind: GitRepository, name: flux-system}\n"
    )
    (tmp_path / "apps/oh/kustomization.yaml").write_text("resources:\n  - ./helmrelease.yaml\n  - ./values.yaml\n")
    (tmp_path / "apps/oh/helmrelease.yaml").write_text(
        "apiVersion: helm.toolkit.fluxcd.io/v2\nkind: HelmRelease\nmetadata:\n  name: openhands\n  namespace: ai\n"
        "spec:\n  interval: 1h\n  chart:\n    spec:\n      chart: openhands\n      version: 0.2.4\n"
        "      sourceRef: {kind: HelmRepository, name: openhands}\n"
        "  valuesFrom:\n    - kind: ConfigMap\n      name: oh-values\n"
    )
    template = tmp_path / "apps/oh/values.yaml.j2"
    template.write_text(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: oh-values\n  namespace: ai\ndata:\n  values.yaml: |\n"
        "    litellm-helm:\n      image:\n        tag: v1\n      migrationJob:\n"
        '        enabled: "{{ litellm_migrate }}"\n'
    )
    result = run_codemods("run", "--no-verify", "--json", str(tmp_path))
    assert result.returncode == 0, result.stderr
    assert template.read_text().endswith("      migrationJob:\n        enabled: false\n")
    report = json.loads(result.stdout)
    [warning] = [w for w in report["warnings"] if "template expression" in w["message"]]
    assert (warning["file"], warning["line"]) == ("apps/oh/values.yaml.j2", 12)
    # The change's own note counts lines in the file too, not in the block.
    [change] = [c for c in report["changes"] if c["file"] == "apps/oh/values.yaml.j2"]
    assert change["reason"].startswith("line 12: set litellm-helm.migrationJob.enabled: false"), change

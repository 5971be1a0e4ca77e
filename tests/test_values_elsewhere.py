"""A valuesFrom ConfigMap found anywhere in the repository, as Flux finds it: by name, in the
release's namespace. The snapshot case `s06-values-from-configmap-elsewhere` is the main path;
these are its variants, on copies of its `before` tree."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.helpers import ROOT, run_codemods

CASE = ROOT / "snapshots" / "s06-values-from-configmap-elsewhere" / "before"
RELEASE = "apps/litellm/helmrelease.yaml"
HOOK = "      hooks:\n        helm:\n          enabled: true\n"
DISABLED = "    migrationJob:\n      enabled: false\n"


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    work = tmp_path / "repo"
    shutil.copytree(CASE, work)
    return work


def test_the_release_s_own_namespace_decides(repo: Path) -> None:
    result = run_codemods("run", "--no-verify", str(repo))
    assert result.returncode == 0, result.stderr
    assert HOOK in (repo / RELEASE).read_text()


def test_a_configmap_of_that_name_in_another_namespace_is_not_read(repo: Path) -> None:
    # Only the sandbox ConfigMap is left: it says "external database" too, but Flux never hands
    # it to a release in namespace ai, so the chart's defaults (a bundled database) decide.
    shutil.rmtree(repo / "config")
    result = run_codemods("run", "--no-verify", str(repo))
    assert result.returncode == 0, result.stderr
    text = (repo / RELEASE).read_text()
    assert DISABLED in text and "hooks" not in text


def test_two_configmaps_landing_in_the_namespace_are_ambiguous_and_said(repo: Path) -> None:
    # A second Flux Kustomization applies another ConfigMap of that name into ai: which one
    # Flux reads depends on which was applied last. Neither is guessed at; the run says so.
    (repo / "more").mkdir()
    shutil.copy(repo / "config" / "litellm-values.yaml", repo / "more" / "litellm-values.yaml")
    flux = repo / "flux.yaml"
    more = (
        "---\napiVersion: kustomize.toolkit.fluxcd.io/v1\nkind: Kustomization\nmetadata:\n  name: more\n"
        "  namespace: flux-system\nspec:\n  interval: 1h\n  path: ./more\n  prune: true\n  targetNamespace: ai\n"
        "  sourceRef:\n    kind: GitRepository\n    name: flux-system\n"
    )
    flux.write_text(flux.read_text() + more)
    result = run_codemods("run", "--no-verify", str(repo))
    assert result.returncode == 0, result.stderr
    assert DISABLED in (repo / RELEASE).read_text()
    said = result.stdout + result.stderr
    assert "2 manifests of that name land in the release's namespace" in said
    assert "config/litellm-values.yaml, more/litellm-values.yaml" in said


def test_a_configmap_no_flux_kustomization_applies_is_not_read(repo: Path) -> None:
    # An example kept in docs/ is never applied: it is not the release's values.
    (repo / "docs").mkdir()
    shutil.move(repo / "config" / "litellm-values.yaml", repo / "docs" / "litellm-values.yaml")
    (repo / "config" / "kustomization.yaml").write_text(
        "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources: []\n"
    )
    result = run_codemods("run", "--no-verify", str(repo))
    assert result.returncode == 0, result.stderr
    text = (repo / RELEASE).read_text()
    assert DISABLED in text and "hooks" not in text


def test_the_configmap_may_be_any_document_of_its_file(repo: Path) -> None:
    # One file, two documents of that name: the sandbox one first, the release's second.
    sandbox = (
        (repo / "sandbox" / "litellm-values.yaml")
        .read_text()
        .replace("metadata:\n", "metadata:\n  namespace: sandbox\n")
    )
    bundled = sandbox.replace("useExisting: true", "useExisting: false").replace(
        "deployStandalone: false", "deployStandalone: true"
    )
    config = repo / "config" / "litellm-values.yaml"
    config.write_text(bundled + "---\n" + config.read_text().replace("metadata:\n", "metadata:\n  namespace: ai\n"))
    (repo / "flux.yaml").write_text(
        (repo / "flux.yaml")
        .read_text()
        .replace("  path: ./config\n  prune: true\n  targetNamespace: ai\n", "  path: ./config\n  prune: true\n")
    )
    shutil.rmtree(repo / "sandbox")
    result = run_codemods("run", "--no-verify", str(repo))
    assert result.returncode == 0, result.stderr
    assert HOOK in (repo / RELEASE).read_text()


def test_a_target_namespace_from_postbuild_substitution_is_resolved(repo: Path) -> None:
    # `config` and `sandbox` take their namespaces from the variables of what applies them.
    flux = (repo / "flux.yaml").read_text()
    flux = flux.replace(
        "  path: ./config\n  prune: true\n  targetNamespace: ai\n",
        "  path: ./config\n  prune: true\n  targetNamespace: ${NS}\n",
    )
    flux = flux.replace("  targetNamespace: sandbox\n", "  targetNamespace: ${SANDBOX_NS}\n")
    (repo / "kubernetes").mkdir()
    (repo / "kubernetes" / "flux.yaml").write_text(flux)
    (repo / "flux.yaml").write_text(
        "apiVersion: kustomize.toolkit.fluxcd.io/v1\nkind: Kustomization\nmetadata:\n  name: cluster\n"
        "  namespace: flux-system\nspec:\n  interval: 1h\n  path: ./kubernetes\n  prune: true\n"
        "  sourceRef:\n    kind: GitRepository\n    name: flux-system\n"
        "  postBuild:\n    substitute:\n      NS: ai\n      SANDBOX_NS: sandbox\n"
    )
    result = run_codemods("run", "--no-verify", str(repo))
    assert result.returncode == 0, result.stderr
    assert HOOK in (repo / RELEASE).read_text()
    assert "manifests of that name" not in result.stdout + result.stderr


def test_a_file_naming_the_chart_gets_no_shortcut_past_the_namespace(repo: Path) -> None:
    # A comment with the chart's name used to make the sandbox ConfigMap a candidate on sight.
    sandbox = repo / "sandbox" / "litellm-values.yaml"
    sandbox.write_text(
        "# a throwaway litellm-helm for experiments\n"
        + sandbox.read_text()
        .replace("useExisting: true", "useExisting: false")
        .replace("deployStandalone: false", "deployStandalone: true")
    )
    result = run_codemods("run", "--no-verify", str(repo))
    assert result.returncode == 0, result.stderr
    assert HOOK in (repo / RELEASE).read_text()


def test_a_broken_file_naming_the_configmap_is_a_warning_with_its_line(repo: Path) -> None:
    config = repo / "config" / "litellm-values.yaml"
    config.write_text(config.read_text() + '---\nkind: ConfigMap\nmetadata:\n  name: "unterminated\n')
    shutil.rmtree(repo / "sandbox")
    result = run_codemods("run", "--no-verify", str(repo))
    assert result.returncode == 0, result.stderr
    said = result.stdout + result.stderr
    assert "config/litellm-values.yaml:" in said and "not read for ConfigMap litellm-values" in said


# -- an overlay's configMapGenerator with a behavior, on copies of snapshot s33 ----------------
OVERLAYS = ROOT / "snapshots" / "s33-overlay-generator-replaces-the-values-file" / "before"
APPS = "kubernetes/apps/openhands"


@pytest.mark.parametrize(
    ("generator", "edited"),
    [
        # merge, with the key: the overlay's file wins for it, as with replace.
        ("behavior: merge\n    files:\n      - values.yaml=./values-prod.yaml", {"base", "prod"}),
        # merge under another key: the base's values.yaml is still what the release reads.
        ("behavior: merge\n    files:\n      - extra.yaml=./values-prod.yaml", {"base"}),
        # replace under another key: prod's ConfigMap has no values.yaml, so the two builds no
        # longer share the file that enables the Job: the fix goes where both read it, the
        # release's own spec.values, above every valuesFrom.
        ("behavior: replace\n    files:\n      - extra.yaml=./values-prod.yaml", {"release"}),
    ],
)
def test_an_overlay_generator_s_behavior_decides_which_file_feeds_the_release(
    tmp_path: Path, generator: str, edited: set[str]
) -> None:
    work = tmp_path / "repo"
    shutil.copytree(OVERLAYS, work)
    prod = work / APPS / "prod" / "kustomization.yaml"
    prod.write_text(
        prod.read_text().replace("behavior: replace\n    files:\n      - values.yaml=./values-prod.yaml", generator)
    )
    result = run_codemods("run", "--no-verify", str(work))
    assert result.returncode == 0, result.stderr
    files = {"base": "base/values.yaml", "prod": "prod/values-prod.yaml", "release": "base/helmrelease.yaml"}
    fixed = {label for label, path in files.items() if "enabled: false" in (work / APPS / path).read_text()}
    assert fixed == edited, result.stdout


def test_each_build_of_a_release_reads_the_repository_once_for_a_manifest(repo: Path) -> None:
    """A release that many Flux Kustomizations build (one per tenant namespace) asks for its
    valuesFrom manifest once per build: the files naming it are read once, and the answer
    for each build is filtered from them (it took 20 s for 100 builds over 20,000 files)."""
    from codemods.repo.graph import RepoGraph
    from codemods.repo.index import scan

    graph = RepoGraph.of(scan(repo))
    first = graph.files_naming("ConfigMap", "litellm-values")
    assert first and graph.files_naming("ConfigMap", "litellm-values") is first


def test_a_component_s_generator_overrides_the_base_s_values_file(tmp_path: Path) -> None:
    """The prod overlay's `behavior: replace` generator lives in a Component it lists: the
    Component's file feeds prod's release, as kustomize builds it."""
    work = tmp_path / "repo"
    shutil.copytree(OVERLAYS, work)
    prod, component = work / APPS / "prod", work / APPS / "components" / "prod-values"
    component.mkdir(parents=True)
    (prod / "values-prod.yaml").rename(component / "values-prod.yaml")
    generator = (prod / "kustomization.yaml").read_text().split("configMapGenerator:\n", 1)[1]
    (component / "kustomization.yaml").write_text(
        "apiVersion: kustomize.config.k8s.io/v1alpha1\nkind: Component\nconfigMapGenerator:\n" + generator
    )
    (prod / "kustomization.yaml").write_text(
        "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:\n  - ../base\n"
        "components:\n  - ../components/prod-values\n"
    )
    result = run_codemods("run", str(work))
    assert result.returncode == 0, result.stderr
    assert "enabled: false" in (component / "values-prod.yaml").read_text()
    assert "enabled: false" in (work / APPS / "base" / "values.yaml").read_text()
    assert "candidate" not in result.stderr, result.stderr  # the first plan is the one the builds prove

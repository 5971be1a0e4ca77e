"""Declarative recipes: validation with line numbers, presets, recipe-driven texts."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from codemods.errors import InputError
from codemods.recipes import builtin, load, parse_recipe
from tests.helpers import ROOT, SNAPSHOTS, git, git_init, run_codemods, tree

EXAMPLE = ROOT / "examples" / "openhands-cluster-template"


def test_builtin_recipes_load_and_list() -> None:
    recipes = builtin()
    assert {"litellm-migration", "grafana-oncall-migrate", "haproxy-ingress-crdjob"} <= set(recipes)
    listing = json.loads(run_codemods("recipes", "--json").stdout)
    assert {r["name"] for r in listing} == set(recipes)
    default = load(None)
    assert default.name == "litellm-migration" and default.branch == "codemods/litellm-migration"
    assert [s.codemod for s in default.steps] == [
        "disable-migration-job",
        "relocate-migration-job",
        "sync-kustomization-resources",
    ]


def test_default_recipe_equals_plain_run(tmp_path: Path) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    shutil.copytree(EXAMPLE, a)
    shutil.copytree(EXAMPLE, b)
    assert run_codemods("run", str(a)).returncode == 0
    assert run_codemods("run", "--recipe", "litellm-migration", str(b)).returncode == 0
    assert tree(a) == tree(b)


GOOD = """\
name: my-team-fix
description: Disable the migration Job of our in-house chart's sub-chart.
commit:
  subject: Disable the sandbox migration Job
steps:
  - codemod: disable-migration-job
    with:
      values_path: [sandbox, jobs, migrate]
      set: {enabled: false, ttlSecondsAfterFinished: 0}
"""


def test_a_recipe_file_composes_codemods_with_parameters(tmp_path: Path) -> None:
    recipe = tmp_path / "recipe.yaml"
    recipe.write_text(GOOD)
    repo = tmp_path / "repo"
    repo.mkdir()
    hr = "apiVersion: helm.toolkit.fluxcd.io/v2\nkind: HelmRelease\nmetadata:\n  name: x\nspec:\n  values:\n    sandbox:\n      image: x\n"
    (repo / "hr.yaml").write_text(hr)
    result = run_codemods("run", "--recipe", str(recipe), str(repo))
    assert result.returncode == 0, result.stderr
    assert (repo / "hr.yaml").read_text() == hr.replace(
        "    sandbox:\n",
        "    sandbox:\n      jobs:\n        migrate:\n          enabled: false\n          ttlSecondsAfterFinished: 0\n",
    )
    assert run_codemods("run", "--check", "--recipe", str(recipe), str(repo)).returncode == 0


BAD = {
    "not a mapping": ("- a\n- b\n", 1, "the recipe must be a mapping"),
    "unknown key": ("name: x\ndescription: d\nstep: []\n", 3, "unknown key 'step'"),
    "missing name": ("description: d\nsteps:\n  - codemod: disable-migration-job\n", 1, "'name' is required"),
    "bad name": (
        "name: My Fix\ndescription: d\nsteps:\n  - codemod: disable-migration-job\n",
        1,
        "use lowercase letters",
    ),
    "no steps": ("name: x\ndescription: d\nsteps: []\n", 3, "steps must be a non-empty list"),
    "unknown codemod": (
        "name: x\ndescription: d\nsteps:\n  - codemod: disable-everything\n",
        4,
        "unknown codemod 'disable-everything'",
    ),
    "unknown parameter": (
        "name: x\ndescription: d\nsteps:\n  - codemod: disable-migration-job\n    with:\n      path: a.b\n",
        6,
        "unknown parameter 'path'",
    ),
    "set is not a mapping": (
        "name: x\ndescription: d\nsteps:\n  - codemod: disable-migration-job\n    with:\n      set: false\n",
        6,
        "set: expected a mapping",
    ),
    "values_path wrong type": (
        "name: x\ndescription: d\nsteps:\n  - codemod: disable-migration-job\n    with:\n      values_path: 42\n",
        6,
        "values_path: expected a dotted path",
    ),
    "set value wrong type": (
        "name: x\ndescription: d\nsteps:\n  - codemod: disable-migration-job\n    with:\n      set: {enabled: [1]}\n",
        6,
        "values are true/false, numbers or strings",
    ),
    "bad regex": (
        "name: x\ndescription: d\nsteps:\n  - codemod: relocate-migration-job\n    with:\n      job: {name: '(unclosed'}\n",
        6,
        "not a regular expression",
    ),
    "unknown matcher key": (
        "name: x\ndescription: d\nsteps:\n  - codemod: sync-kustomization-resources\n    with:\n      release: {chart: x, kind: y}\n",
        6,
        "unknown key 'kind'",
    ),
    "step key": (
        "name: x\ndescription: d\nsteps:\n  - codemod: disable-migration-job\n    params: {}\n",
        5,
        "unknown key 'params'",
    ),
    "subject too long": (
        "name: x\ndescription: d\ncommit:\n  subject: " + "x" * 80 + "\nsteps:\n  - codemod: disable-migration-job\n",
        4,
        "at most 72 characters",
    ),
    "duplicate key": (
        "name: x\nname: y\ndescription: d\nsteps:\n  - codemod: disable-migration-job\n",
        2,
        "given twice",
    ),
    "yaml error": ("name: x\ndescription: [d\nsteps: []\n", 3, "cannot parse YAML"),
}


@pytest.mark.parametrize("case", BAD)
def test_bad_recipes_are_refused_naming_the_line(case: str, tmp_path: Path) -> None:
    text, line, message = BAD[case]
    with pytest.raises(InputError) as err:
        parse_recipe(text, "recipe.yaml")
    assert err.value.line == line, str(err.value)
    assert message in err.value.message
    # And through the CLI: exit 2, the message names file and line, nothing written.
    recipe = tmp_path / "recipe.yaml"
    recipe.write_text(text)
    repo = tmp_path / "repo"
    shutil.copytree(EXAMPLE, repo)
    result = run_codemods("run", "--recipe", str(recipe), str(repo))
    assert result.returncode == 2
    assert f"{recipe}:{line}" in result.stderr
    assert tree(repo) == tree(EXAMPLE)


def test_unknown_recipe_name_is_exit_2(tmp_path: Path) -> None:
    result = run_codemods("run", "--recipe", "no-such-recipe", str(tmp_path))
    assert result.returncode == 2 and "built-in: " in result.stderr


def test_recipe_sets_branch_subject_and_trailer(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    shutil.copytree(SNAPSHOTS / "preset-grafana-oncall-external-db" / "before", repo)
    git_init(repo)
    bare = tmp_path / "remote.git"
    git(tmp_path, "clone", "-q", "--bare", str(repo), str(bare))
    report = tmp_path / "report.json"
    result = run_codemods(
        "batch",
        f"file://{bare}",
        "--recipe",
        "grafana-oncall-migrate",
        "--push",
        "--workdir",
        str(tmp_path / "w"),
        "--report",
        str(report),
    )
    assert result.returncode == 0, result.stderr
    entry = json.loads(report.read_text())["repos"][0]
    assert entry["status"] == "changed" and entry["branch"] == "codemods/grafana-oncall-migrate"
    message = git(
        tmp_path, "--git-dir", str(bare), "log", "-1", "--format=%B", "codemods/grafana-oncall-migrate"
    ).stdout
    assert message.startswith("Fix the Grafana OnCall migrate Job for Flux (2 files)")
    assert "Codemods-Recipe: grafana-oncall-migrate" in message
    assert "migrate.useHook" in message


def test_each_built_in_codemod_declares_its_parameters_and_needs() -> None:
    """The contract: a frozen Params dataclass next to the code is the recipe schema, and the
    codemod declares what it reads, which is all the pre-filter looks for."""
    import dataclasses

    from codemods.mods import BUILTIN
    from codemods.params import validators_of
    from codemods.repo.needles import needles_for

    for name, make in BUILTIN.items():
        params = make.Params
        assert dataclasses.is_dataclass(params) and params.__dataclass_params__.frozen, name
        assert set(validators_of(params)) == {f.name for f in dataclasses.fields(params)}, name
        assert all(f.metadata["help"] for f in dataclasses.fields(params)), name
        needs = make().needs
        assert needs.values or needs.jobs, name
    default = needles_for([make() for make in BUILTIN.values()])
    assert b"litellm-helm" in default.values and default.every_job  # annotate-job-force reads every Job

"""The build gate (issue 12): real kubectl kustomize, real git, real bare remotes, no mocks.

Planted breakages reach the gate through a real plugin codemod (tests/data/verify/plant, found
through its entry point once that directory is on PYTHONPATH), so `run`, `run --branch` and
`batch` see them exactly as they would see a planner bug.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import jsonschema
import pytest

from tests.helpers import ROOT, SNAPSHOTS, git, git_init, run_codemods, tree
from tests.test_batch import make_remote, remote_ref
from tests.test_snapshots import CASES, spec

EXAMPLE = ROOT / "examples" / "openhands-cluster-template"
DATA = ROOT / "tests" / "data" / "verify"
PLANT = DATA / "plant"
EXPECTED = DATA / "expected"
SCHEMA = json.loads((ROOT / "codemods" / "schemas" / "report.schema.json").read_text())
MERMAID_HOME = ROOT / "tests" / "mermaid" / ".install"
ANCESTOR = "kubernetes/apps/openhands/kustomization.yaml"
APP = "kubernetes/apps/openhands/openhands/app/kustomization.yaml"
# Regenerate the preview and PR-body snapshots with CODEMODS_UPDATE_SNAPSHOTS=1, then read them.
UPDATE = bool(os.environ.get("CODEMODS_UPDATE_SNAPSHOTS"))

# defect -> what the refusal must name (besides "refused by the build gate").
DEFECTS = {
    "emptied-kustomization": [
        "Flux Kustomization flux-system/cluster-apps",
        "kubernetes/flux/cluster/ks.yaml",
        "couldn't make target for path 'kubernetes/apps/openhands': kustomization.yaml is empty",
    ],
    "job-applied-twice": [
        "Flux Kustomization openhands/openhands",
        "Job openhands-litellm-migrations must be applied by its release's Flux Kustomization openhands/openhands",
        "applied by openhands/openhands, flux-system/cluster-apps",
    ],
    "value-overridden-by-patch": [
        "Flux Kustomization openhands/openhands",
        "the effective values do not carry the fix: litellm-helm.migrationJob.enabled is true",
    ],
}


def plant_recipe(tmp_path: Path, defect: str) -> Path:
    """The default recipe plus the plugin step that plants defect."""
    default = (ROOT / "codemods" / "recipes" / "presets" / "litellm-migration.yaml").read_text()
    default = default.replace("name: litellm-migration", f"name: planted-{defect}")
    recipe = tmp_path / f"planted-{defect}.yaml"
    recipe.write_text(
        default + f"  - codemod: plant-defect\n    with: {{defect: {defect}, ancestor: {ANCESTOR}, app: {APP}}}\n"
    )
    return recipe


PLANT_ENV = {"PYTHONPATH": os.pathsep.join([str(PLANT), os.environ.get("PYTHONPATH", "")])}


def example_copy(tmp_path: Path, name: str = "repo") -> Path:
    work = tmp_path / name
    shutil.copytree(EXAMPLE, work)
    return work


def assert_names(text: str, defect: str) -> None:
    assert "refused by the build gate" in text, text
    for needle in DEFECTS[defect]:
        assert needle in text, f"{needle!r} missing from:\n{text}"


# A defect planted only where the Job moves: the candidate that leaves the Job where it is has
# none, so the values fix lands alone, and the refused candidate says what the move broke.
LEFT_IN_PLACE = [
    "flux-system/cluster-apps",
    "kubernetes/flux/cluster/ks.yaml",
    "builds ./kubernetes/apps before the change but not after",
    "migration-job.yaml",
]
VALUES_FILES = {
    "kubernetes/apps/openhands/openhands/app/helmrelease.yaml",
    "templates/config/kubernetes/apps/openhands/openhands/app/helmrelease.yaml.j2",
}


def test_a_breakage_planted_in_the_move_never_lands_and_the_values_fix_does(tmp_path: Path) -> None:
    work = example_copy(tmp_path)
    before = tree(work)
    recipe = plant_recipe(tmp_path, "dangling-ancestor")
    result = run_codemods("run", "--json", "--recipe", str(recipe), str(work), env=PLANT_ENV)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    jsonschema.validate(report, SCHEMA)
    refused, accepted = report["semantic"]["candidates"]
    assert (refused["accepted"], accepted["accepted"]) == (False, True)
    violated = " ".join(f"{v['file']} {v['kustomization']} {v['message']}" for v in refused["violated"])
    for needle in LEFT_IN_PLACE:
        assert needle in violated, (needle, violated)
    assert accepted["candidate"].startswith("the change without placing Job openhands-litellm-migrations")
    after = tree(work)
    assert {p for p in before.keys() | after.keys() if before.get(p) != after.get(p)} == VALUES_FILES
    assert any("left where it is" in w["message"] for w in report["warnings"]), report["warnings"]


@pytest.mark.parametrize("defect", sorted(DEFECTS))
def test_run_refuses_each_planted_breakage_and_writes_nothing(defect: str, tmp_path: Path) -> None:
    work = example_copy(tmp_path)
    before = tree(work)
    result = run_codemods("run", "--recipe", str(plant_recipe(tmp_path, defect)), str(work), env=PLANT_ENV)
    assert result.returncode == 2, result.stderr
    assert_names(result.stderr, defect)
    assert "nothing was written" in result.stderr
    assert tree(work) == before
    # The planted step really ran: without the gate the same plan is written.
    unguarded = example_copy(tmp_path, "unguarded")
    plain = run_codemods(
        "run", "--no-verify", "--recipe", str(plant_recipe(tmp_path, defect)), str(unguarded), env=PLANT_ENV
    )
    assert plain.returncode == 0, plain.stderr
    assert "plant-defect: planted" in plain.stderr


@pytest.mark.parametrize("defect", sorted(DEFECTS))
def test_run_branch_refuses_each_planted_breakage_and_creates_no_branch(defect: str, tmp_path: Path) -> None:
    work = example_copy(tmp_path)
    git_init(work)
    head = git(work, "rev-parse", "HEAD").stdout
    recipe = plant_recipe(tmp_path, defect)
    result = run_codemods("run", "--branch", "fix", "--json", "--recipe", str(recipe), str(work), env=PLANT_ENV)
    assert result.returncode == 2, result.stderr
    assert_names(result.stderr, defect)
    report = json.loads(result.stdout)
    jsonschema.validate(report, SCHEMA)
    assert report["status"] == "failed" and report["semantic"]["status"] == "refused"
    assert report["semantic"]["problems"], report["semantic"]
    assert git(work, "rev-parse", "--verify", "-q", "refs/heads/fix", check=False).returncode != 0
    assert git(work, "rev-parse", "HEAD").stdout == head
    assert git(work, "status", "--porcelain").stdout == ""


@pytest.mark.parametrize("defect", sorted(DEFECTS))
def test_batch_fails_each_planted_breakage_and_pushes_nothing(defect: str, tmp_path: Path) -> None:
    url = make_remote(tmp_path, "planted", EXAMPLE)
    report_file = tmp_path / "report.json"
    result = run_codemods(
        "batch",
        "--workdir",
        str(tmp_path / "work"),
        "--push",
        "--recipe",
        str(plant_recipe(tmp_path, defect)),
        "--report",
        str(report_file),
        url,
        env=PLANT_ENV,
    )
    assert result.returncode == 1, result.stderr
    (entry,) = json.loads(report_file.read_text())["repos"]
    assert entry["status"] == "failed"
    assert_names(entry["error"], defect)
    assert remote_ref(url, "refs/heads/planted-" + defect) is None
    assert remote_ref(url, f"refs/heads/codemods/planted-{defect}") is None


# -- the preview and the pull-request body ----------------------------------------------------------
PREVIEW_CASES = {
    "cluster-template": EXAMPLE,
    "valuesfrom": DATA / "valuesfrom",
    "plain-flux-overlays": SNAPSHOTS / "plain-flux-overlays" / "before",
}


def _stable(text: str) -> str:
    """Timings and commit ids vary between runs; everything else must not."""
    text = re.sub(r"\d+ builds?, \d+\.\d s", "N builds, T s", text)
    text = re.sub(r"\b[0-9a-f]{40}\b", "<sha>", text)
    return re.sub(r"codemods \d+\.\d+\.\d+", "codemods <version>", text)


def _preview(stderr: str) -> str:
    lines = stderr.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("What Flux will apply differently"))
    end = next(i for i in range(start + 1, len(lines)) if not lines[i].startswith("  "))
    return "\n".join(lines[start:end]) + "\n"


def _branch_run(case: str, tmp_path: Path) -> tuple[str, str, str, dict]:
    work = tmp_path / case
    shutil.copytree(PREVIEW_CASES[case], work)
    git_init(work)
    body = tmp_path / "pr.md"
    result = run_codemods("run", "--branch", "codemods/fix", "--json", "--summary-file", str(body), str(work))
    assert result.returncode == 0, result.stderr
    message = git(work, "log", "-1", "--format=%B", "codemods/fix").stdout
    return _preview(result.stderr), body.read_text(), message, json.loads(result.stdout)


def _compare(name: str, actual: str) -> None:
    path = EXPECTED / name
    if UPDATE:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(actual)
    assert path.exists(), f"{path} missing: run with CODEMODS_UPDATE_SNAPSHOTS=1 and read the result"
    assert actual == path.read_text(), f"{name} differs from its snapshot"


@pytest.fixture(scope="module", params=sorted(PREVIEW_CASES))
def branch_case(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> tuple:
    case = request.param
    return (case, *_branch_run(case, tmp_path_factory.mktemp(case)))


def test_preview_pr_body_and_commit_message_snapshots(branch_case: tuple) -> None:
    case, preview, body, message, report = branch_case
    _compare(f"{case}.preview.txt", _stable(preview))
    _compare(f"{case}.pr.md", _stable(body))
    _compare(f"{case}.commit.txt", _stable(message))
    jsonschema.validate(report, SCHEMA)
    assert report["semantic"]["status"] == "verified"
    assert report["semantic"]["builds"] > 0 and report["semantic"]["build_seconds"] > 0
    # The same preview in every place a reviewer looks.
    assert "What Flux will apply differently" in message
    assert "### What changes in Flux" in body
    for move in report["semantic"]["moves"]:
        assert move["text"] in preview and move["text"] in body and move["text"] in message.replace("\n      ", " ")


def test_pr_body_reads_in_the_order_a_reviewer_needs(branch_case: tuple) -> None:
    _case, _preview_text, body, _message, _report = branch_case
    sections = re.findall(r"^### (.+)$", body, flags=re.MULTILINE)
    assert sections[:3] == ["Why", "What changes in Flux", "Files"]
    assert sections[-4:] == ["How to verify", "How to roll back", "What closing this PR does"] or sections[-3:] == [
        "How to verify",
        "How to roll back",
        "What closing this PR does",
    ]
    assert "kubectl kustomize --load-restrictor LoadRestrictionsNone ./" in body
    assert "flux get ks -A" in body and "flux get hr -n " in body
    assert "git revert -m 1" in body


def test_files_group_a_template_with_its_render() -> None:
    """The cluster-template body lists helmrelease.yaml.j2 and its render on one row."""
    body = (EXPECTED / "cluster-template.pr.md").read_text()
    rows = [line for line in body.splitlines() if "helmrelease.yaml" in line and line.startswith("|")]
    assert len(rows) == 1, rows
    assert "helmrelease.yaml.j2` + `kubernetes/" in rows[0]


def _mermaid_blocks(body: str) -> list[str]:
    return re.findall(r"```mermaid\n(.*?)```", body, flags=re.DOTALL)


def test_mermaid_flowchart_parses_with_the_real_mermaid(branch_case: tuple) -> None:
    if shutil.which("node") is None or not (MERMAID_HOME / "node_modules" / "mermaid").is_dir():
        pytest.skip("no Mermaid parser installed: run tests/mermaid/install.sh (needs node and npm)")
    _case, _preview_text, body, _message, report = branch_case
    (block,) = _mermaid_blocks(body)
    assert "-->|dependsOn|" in block or not any(t["depends_on"] for t in report["semantic"]["targets"])
    for move in report["semantic"]["moves"]:
        assert f"moves Job {move['job']}" in block
    parsed = subprocess.run(
        ["node", str(ROOT / "tests" / "mermaid" / "parse.mjs")],
        input=block,
        capture_output=True,
        text=True,
        env={**os.environ, "MERMAID_HOME": str(MERMAID_HOME)},
        check=False,
    )
    assert parsed.returncode == 0, parsed.stdout + parsed.stderr
    assert json.loads(parsed.stdout)["diagramType"].startswith("flowchart")


def test_mermaid_parser_rejects_a_broken_flowchart() -> None:
    """The parser check above can fail: a broken diagram is refused."""
    if shutil.which("node") is None or not (MERMAID_HOME / "node_modules" / "mermaid").is_dir():
        pytest.skip("no Mermaid parser installed: run tests/mermaid/install.sh (needs node and npm)")
    parsed = subprocess.run(
        ["node", str(ROOT / "tests" / "mermaid" / "parse.mjs")],
        input='flowchart LR\n  a["x"] -. "unclosed .-> b[[[\n',
        capture_output=True,
        text=True,
        env={**os.environ, "MERMAID_HOME": str(MERMAID_HOME)},
        check=False,
    )
    assert parsed.returncode == 1


# -- every snapshot case, verified; the JSON report against its schema --------------------------------
@pytest.mark.parametrize("case", [c for c in CASES if spec(c).get("exit_code", 0) == 0])
def test_every_snapshot_case_is_verified_and_reports_valid_json(case: str, tmp_path: Path) -> None:
    work = tmp_path / "repo"
    shutil.copytree(SNAPSHOTS / case / "before", work)
    result = run_codemods("run", "--dry-run", "--json", *spec(case).get("args", []), str(work))
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    jsonschema.validate(report, SCHEMA)
    changes = tree(SNAPSHOTS / case / "before") != tree(SNAPSHOTS / case / "after")
    semantic = report["semantic"]
    if not changes:
        assert semantic["status"] == "skipped" and semantic["builds"] == 0
        return
    assert semantic["status"] == "verified", semantic
    assert semantic["builds"] >= 2 and semantic["builds"] % 2 == 0  # before and after, per target
    assert semantic["targets"], semantic


def test_failed_report_is_valid_json_too(tmp_path: Path) -> None:
    work = tmp_path / "repo"
    shutil.copytree(SNAPSHOTS / "bad-yaml" / "before", work)
    result = run_codemods("run", "--json", str(work))
    assert result.returncode == 2
    jsonschema.validate(json.loads(result.stdout), SCHEMA)


def test_no_verify_leaves_the_report_as_it_was(tmp_path: Path) -> None:
    work = example_copy(tmp_path)
    report = json.loads(run_codemods("run", "--dry-run", "--json", "--no-verify", str(work)).stdout)
    assert "semantic" not in report
    jsonschema.validate(report, SCHEMA)


def _python_without_kubectl(tmp_path: Path) -> list[str]:
    """This interpreter, seen from a directory without kubectl beside it."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    python = bin_dir / "python3"
    python.symlink_to(os.path.realpath(sys.executable))
    return [str(python)]


def test_without_kustomize_it_says_so_once_and_verify_makes_it_an_error(tmp_path: Path) -> None:
    work = example_copy(tmp_path)
    python = _python_without_kubectl(tmp_path)
    site = [p for p in sys.path if p.endswith("site-packages")]
    env = {
        **os.environ,
        "PATH": str(tmp_path / "bin"),  # holds only the interpreter
        "PYTHONPATH": os.pathsep.join([str(ROOT), *site]),
    }
    assert shutil.which("kubectl", path=env["PATH"]) is None and shutil.which("kustomize", path=env["PATH"]) is None
    run = subprocess.run(
        [*python, "-m", "codemods", "run", "--dry-run", "--json", str(work)], env=env, check=False, **_text()
    )
    assert run.returncode == 0, run.stderr
    report = json.loads(run.stdout)
    assert report["semantic"]["status"] == "not verified"
    assert report["semantic"]["reason"] == "not verified: no kustomize found"
    assert run.stderr.count("not verified: no kustomize found") == 1
    strict = subprocess.run([*python, "-m", "codemods", "run", "--verify", str(work)], env=env, check=False, **_text())
    assert strict.returncode == 2
    assert "no kustomize found" in strict.stderr and "nothing was written" in strict.stderr
    assert tree(work) == tree(EXAMPLE)


def _text() -> dict:
    return {"capture_output": True, "text": True}


def test_explicit_kustomize_is_used(tmp_path: Path) -> None:
    kubectl = shutil.which("kubectl") or str(Path(sys.executable).parent / "kubectl")
    work = example_copy(tmp_path)
    report = json.loads(run_codemods("run", "--dry-run", "--json", "--kustomize", kubectl, str(work)).stdout)
    assert report["semantic"]["kustomize"] == "kubectl kustomize"
    missing = run_codemods("run", "--kustomize", str(tmp_path / "nope"), str(work))
    assert missing.returncode == 2 and tree(work) == tree(EXAMPLE)


# -- Flux's semantics, as the gate emulates them ----------------------------------------------------
def _write(root: Path, files: dict[str, str]) -> None:
    for rel, text in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)


FLUX_REPO = {
    "apps/web/config.yaml": (
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: config\ndata:\n"
        '  replicas: "${REPLICAS}"\n  tier: "${TIER:=gold}"\n  other: "${UNKNOWN}"\n'
    ),
    "apps/web/deep/nested.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: nested\ndata:\n  x: '1'\n",
    "apps/web/lib/kustomization.yaml": "resources:\n  - ./listed.yaml\n",
    "apps/web/lib/listed.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: listed\ndata:\n  x: '1'\n",
    "apps/web/lib/unlisted.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: unlisted\ndata:\n  x: '1'\n",
    "components/team/kustomization.yaml": (
        "apiVersion: kustomize.config.k8s.io/v1alpha1\nkind: Component\nlabels:\n  - pairs:\n      team: a\n"
    ),
}


def _gate(tmp_path: Path, writes: dict[str, str]):
    from codemods.verify.gate import verify
    from codemods.verify.kustomize import discover
    from codemods.verify.model import FluxTarget, Options, VerifyInput

    root = tmp_path / "flux"
    _write(root, FLUX_REPO)
    target = FluxTarget(
        "web",
        "flux-system",
        "apps/web",
        components=("components/team",),
        target_namespace="web",
        substitute={"REPLICAS": "3"},
        file="clusters/web.yaml",
        line=9,
    )
    data = VerifyInput(
        targets=(target,),
        writes={k: v.encode() for k, v in writes.items()},
        kustomizations=("apps/web/lib/kustomization.yaml", "components/team/kustomization.yaml"),
    )
    return verify(root, data, Options(discover()))


def test_flux_emulation_generated_kustomization_components_namespace_and_substitution(tmp_path: Path) -> None:
    """Each change below is visible only if the gate builds the way Flux does."""
    config = FLUX_REPO["apps/web/config.yaml"]
    semantic = _gate(
        tmp_path,
        {
            # postBuild.substitute: the known variable, and a default
            "apps/web/config.yaml": config.replace("${REPLICAS}", "${REPLICAS}-x").replace("gold", "silver"),
            # the generated kustomization includes manifests below the path, recursively
            "apps/web/deep/nested.yaml": FLUX_REPO["apps/web/deep/nested.yaml"].replace("'1'", "'2'"),
            # spec.components
            "components/team/kustomization.yaml": FLUX_REPO["components/team/kustomization.yaml"].replace(
                "team: a", "team: b"
            ),
        },
    )
    assert semantic.status == "refused"
    assert semantic.builds == 2
    messages = "\n".join(str(p) for p in semantic.problems)
    assert "clusters/web.yaml:9: Flux Kustomization flux-system/web" in messages
    # targetNamespace puts every object in web
    assert "changes ConfigMap web/config (data.replicas: 3 -> 3-x)" in messages
    assert "changes ConfigMap web/nested (data.x: 1 -> 2)" in messages
    assert "metadata.labels.team: a -> b" in messages
    (preview,) = semantic.targets
    assert preview.changed == ("ConfigMap web/config", "ConfigMap web/listed", "ConfigMap web/nested")


def test_substitution_defaults_and_unknown_variables(tmp_path: Path) -> None:
    config = FLUX_REPO["apps/web/config.yaml"]
    default = _gate(tmp_path / "a", {"apps/web/config.yaml": config.replace("gold", "silver")})
    assert "changes ConfigMap web/config (data.tier: gold -> silver)" in str(default.problems[0])
    # a variable known nowhere is left as written
    unknown = _gate(tmp_path / "b", {"apps/web/config.yaml": config.replace("${UNKNOWN}", "${UNKNOWN}x")})
    assert "(data.other: ${UNKNOWN} -> ${UNKNOWN}x)" in str(unknown.problems[0])


def test_a_file_no_build_reads_reaches_no_flux_kustomization(tmp_path: Path) -> None:
    """lib/ has its own kustomization, which does not list unlisted.yaml: nothing to build."""
    unlisted = FLUX_REPO["apps/web/lib/unlisted.yaml"].replace("'1'", "'2'")
    semantic = _gate(tmp_path, {"apps/web/lib/unlisted.yaml": unlisted})
    assert semantic.status == "verified" and semantic.builds == 0 and not semantic.targets


# -- templates ----------------------------------------------------------------------------------
def _templates_only(tmp_path: Path) -> Path:
    """The in-place Jinja case with its renders removed: only x.yaml.j2 files are left."""
    work = tmp_path / "repo"
    shutil.copytree(SNAPSHOTS / "jinja-inplace-conditionals" / "before", work)
    for template in work.rglob("*.j2"):
        template.with_suffix("").unlink()
    return work


def test_in_place_templates_without_vars_are_not_verified(tmp_path: Path) -> None:
    work = _templates_only(tmp_path)
    result = run_codemods("run", "--dry-run", "--json", str(work))
    assert result.returncode == 0, result.stderr
    semantic = json.loads(result.stdout)["semantic"]
    assert semantic["status"] == "not verified" and semantic["reason"] == "not verified: templates only"
    assert {t["status"] for t in semantic["targets"]} == {"templates only"}
    assert semantic["builds"] == 0


def test_jinja_vars_render_in_place_templates_for_the_build(tmp_path: Path) -> None:
    work = _templates_only(tmp_path)
    before = tree(work)
    variables = SNAPSHOTS / "jinja-inplace-conditionals" / "render.toml"
    result = run_codemods("run", "--json", "--jinja-vars", str(variables), str(work))
    assert result.returncode == 0, result.stderr
    semantic = json.loads(result.stdout)["semantic"]
    assert semantic["status"] == "verified", semantic
    assert semantic["builds"] >= 2
    (target,) = [t for t in semantic["targets"] if t["name"] == "openhands"]
    assert "Job llm/openhands-litellm-migrations" in target["added"]
    # The renders were for the build only: no rendered file appears in the checkout.
    assert not [p for p in tree(work) if p not in before and not p.endswith(".j2")]


def test_builds_are_reused_on_unchanged_inputs_and_redone_on_changed_ones(tmp_path: Path) -> None:
    from codemods.verify.gate import verify
    from codemods.verify.kustomize import discover
    from codemods.verify.model import FluxTarget, Options, VerifyInput

    root = tmp_path / "flux"
    _write(root, FLUX_REPO)
    target = FluxTarget("web", "flux-system", "apps/web", target_namespace="web", file="clusters/web.yaml")
    nested = FLUX_REPO["apps/web/deep/nested.yaml"]
    data = VerifyInput(targets=(target,), writes={"apps/web/deep/nested.yaml": nested.replace("'1'", "'2'").encode()})
    options = Options(discover(), cache=tmp_path / "builds.sqlite")
    first, second = verify(root, data, options), verify(root, data, options)
    assert (first.builds, first.cached) == (2, 0)
    assert (second.builds, second.cached) == (0, 2)
    assert second.problems == first.problems and second.targets == first.targets
    # The base moved on: the before-build is redone, the after-build too (it reads the same file).
    (root / "apps/web/config.yaml").write_text(FLUX_REPO["apps/web/config.yaml"].replace("REPLICAS", "COUNT"))
    third = verify(root, data, options)
    assert (third.builds, third.cached) == (2, 0)


def test_a_process_reuses_a_build_only_from_the_same_cache(tmp_path: Path) -> None:
    """Builds read or made once are kept in memory for the rest of the process (a batch over
    one template's copies parses each once), but never answer for another cache."""
    from codemods.verify.gate import verify
    from codemods.verify.kustomize import discover
    from codemods.verify.model import FluxTarget, Options, VerifyInput

    root = tmp_path / "flux"
    _write(root, FLUX_REPO)
    target = FluxTarget("web", "flux-system", "apps/web", target_namespace="web", file="clusters/web.yaml")
    nested = FLUX_REPO["apps/web/deep/nested.yaml"]
    data = VerifyInput(targets=(target,), writes={"apps/web/deep/nested.yaml": nested.replace("'1'", "'2'").encode()})
    first = verify(root, data, Options(discover(), cache=tmp_path / "a.sqlite"))
    (tmp_path / "a.sqlite").unlink()
    again = verify(root, data, Options(discover(), cache=tmp_path / "a.sqlite"))
    elsewhere = verify(root, data, Options(discover(), cache=tmp_path / "b.sqlite"))
    uncached = verify(root, data, Options(discover()))
    assert (first.builds, first.cached) == (2, 0)
    assert (again.builds, again.cached) == (0, 2)  # from memory: the file is gone
    assert (elsewhere.builds, elsewhere.cached) == (2, 0)
    assert (uncached.builds, uncached.cached) == (2, 0)
    for other in (again, elsewhere, uncached):
        assert other.problems == first.problems and other.targets == first.targets


def test_batch_keeps_its_builds_for_the_next_run(tmp_path: Path) -> None:
    url = make_remote(tmp_path, "cached", EXAMPLE)
    args = ("batch", "--workdir", str(tmp_path / "work"), url)
    assert run_codemods(*args).returncode == 0
    cache = tmp_path / "work" / ".codemods-builds.sqlite"

    def keys() -> list[str]:
        with sqlite3.connect(cache) as db:
            return sorted(row[0] for row in db.execute("SELECT key FROM builds"))

    first = keys()
    assert len(first) == 4  # two Flux Kustomizations, before and after
    again = run_codemods(*args)
    assert again.returncode == 0 and "up-to-date" in again.stderr
    assert keys() == first  # the same inputs: every build was found, none added


# -- adversarial cases: empty sub-chart values, two clusters declaring one name ---------------
_EMPTY_SUB_REPO = {
    "kubernetes/apps/openhands/kustomization.yaml": "---\napiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nnamespace: openhands\nresources:\n  - ./namespace.yaml\n  - ./openhands/ks.yaml\n",
    "kubernetes/apps/openhands/namespace.yaml": "---\napiVersion: v1\nkind: Namespace\nmetadata:\n  name: openhands\n",
    "kubernetes/apps/openhands/openhands/app/helmrelease.yaml": "---\napiVersion: helm.toolkit.fluxcd.io/v2\nkind: HelmRelease\nmetadata:\n  name: openhands\nspec:\n  chartRef:\n    kind: OCIRepository\n    name: openhands\n  interval: 1h\n  values:\n    litellm-helm: null\n",
    "kubernetes/apps/openhands/openhands/app/kustomization.yaml": "---\napiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:\n  - ./helmrelease.yaml\n  - ./ocirepository.yaml\n",
    "kubernetes/apps/openhands/openhands/app/ocirepository.yaml": "---\napiVersion: source.toolkit.fluxcd.io/v1\nkind: OCIRepository\nmetadata:\n  name: openhands\nspec:\n  interval: 15m\n  ref:\n    tag: 0.2.4\n  url: oci://ghcr.io/all-hands-ai/helm-charts/openhands\n",
    "kubernetes/apps/openhands/openhands/ks.yaml": "---\napiVersion: kustomize.toolkit.fluxcd.io/v1\nkind: Kustomization\nmetadata:\n  name: &app openhands\n  namespace: &namespace openhands\nspec:\n  dependsOn:\n    - name: openhands-postgresql\n  interval: 1h\n  path: ./kubernetes/apps/openhands/openhands/app\n  prune: true\n  sourceRef:\n    kind: GitRepository\n    name: flux-system\n    namespace: flux-system\n  targetNamespace: *namespace\n",
    "kubernetes/flux/cluster/ks.yaml": "---\napiVersion: kustomize.toolkit.fluxcd.io/v1\nkind: Kustomization\nmetadata:\n  name: cluster-apps\n  namespace: flux-system\nspec:\n  interval: 1h\n  path: ./kubernetes/apps\n  prune: true\n  sourceRef:\n    kind: GitRepository\n    name: flux-system\n",
}


@pytest.mark.parametrize("empty", ["litellm-helm:", "litellm-helm: null", "litellm-helm: {}"])
def test_an_empty_sub_chart_mapping_the_fix_fills_is_the_intended_change(empty: str, tmp_path: Path) -> None:
    files = dict(_EMPTY_SUB_REPO)
    release = "kubernetes/apps/openhands/openhands/app/helmrelease.yaml"
    files[release] = files[release].replace("litellm-helm: null", empty)
    _write(tmp_path, files)
    result = run_codemods("run", "--dry-run", str(tmp_path))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "verified with" in result.stderr, result.stderr
    assert "litellm-helm.migrationJob.enabled: (unset) -> false" in result.stderr
    assert "spec.values.litellm-helm:" not in result.stderr  # no "{} -> (unset)" noise


_TWO_CLUSTERS_REPO = {
    "apps/base/openhands/kustomization.yaml": "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nnamespace: openhands\nresources:\n  - namespace.yaml\n  - repository.yaml\n  - release.yaml\n",
    "apps/base/openhands/namespace.yaml": "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: openhands\n",
    "apps/base/openhands/release.yaml": 'apiVersion: helm.toolkit.fluxcd.io/v2\nkind: HelmRelease\nmetadata:\n  name: openhands\n  namespace: openhands\nspec:\n  interval: 50m\n  chart:\n    spec:\n      chart: openhands\n      version: "0.2.x"\n      sourceRef:\n        kind: HelmRepository\n        name: openhands\n  values:\n    litellm-helm:\n      db:\n        useExisting: true\n        secret:\n          name: openhands-db\n',
    "apps/base/openhands/repository.yaml": "apiVersion: source.toolkit.fluxcd.io/v1\nkind: HelmRepository\nmetadata:\n  name: openhands\n  namespace: openhands\nspec:\n  interval: 24h\n  url: https://example.github.io/openhands-charts\n",
    "apps/production/kustomization.yaml": "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:\n  - ../base/openhands\npatches:\n  - path: litellm-patch.yaml\n    target:\n      kind: HelmRelease\n      name: openhands\n",
    "apps/production/litellm-patch.yaml": "- op: add\n  path: /spec/values/litellm-helm/migrationJob\n  value:\n    enabled: true\n",
    "apps/staging/kustomization.yaml": "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:\n  - ../base/openhands\n",
    "clusters/production/apps.yaml": "apiVersion: kustomize.toolkit.fluxcd.io/v1\nkind: Kustomization\nmetadata:\n  name: apps\n  namespace: flux-system\nspec:\n  interval: 10m0s\n  sourceRef:\n    kind: GitRepository\n    name: flux-system\n  path: ./apps/production\n  prune: true\n  wait: true\n",
    "clusters/staging/apps.yaml": "apiVersion: kustomize.toolkit.fluxcd.io/v1\nkind: Kustomization\nmetadata:\n  name: apps\n  namespace: flux-system\nspec:\n  interval: 10m0s\n  sourceRef:\n    kind: GitRepository\n    name: flux-system\n  path: ./apps/staging\n  prune: true\n  wait: true\n",
}


def test_two_clusters_declaring_the_same_name_are_both_built_and_judged(tmp_path: Path) -> None:
    """clusters/staging/apps.yaml and clusters/production/apps.yaml both declare flux-system/apps;
    production's overlay patch turns the Job back on in a way no codemod edits (a JSON6902 copy):
    the gate must see production and refuse. (With an `add`, the values codemod fixes both
    clusters: tests/test_values_json6902.py and snapshot s21-json6902-patch-file-two-clusters.)"""
    files = dict(_TWO_CLUSTERS_REPO)
    files["apps/production/litellm-patch.yaml"] = (
        "- op: add\n  path: /spec/values/litellm-helm/migrationJob\n  value: {}\n"
        "- op: copy\n  from: /spec/values/litellm-helm/db/useExisting\n"
        "  path: /spec/values/litellm-helm/migrationJob/enabled\n"
    )
    _write(tmp_path, files)
    result = run_codemods("run", "--dry-run", str(tmp_path))
    assert result.returncode == 2, result.stdout + result.stderr
    assert "Flux Kustomization flux-system/apps (clusters/production/apps.yaml)" in result.stderr
    assert "litellm-helm.migrationJob.enabled is true after the change" in result.stderr
    assert "(./apps/production)" in result.stderr and "(./apps/staging)" in result.stderr
    # Without production's patch both clusters are built, each once.
    (tmp_path / "apps/production/kustomization.yaml").write_text("resources:\n  - ../base/openhands\n")
    result = run_codemods("run", "--dry-run", str(tmp_path))
    assert result.returncode == 0, result.stderr
    assert result.stderr.count("Flux Kustomization flux-system/apps (./apps/production)") == 1
    assert result.stderr.count("Flux Kustomization flux-system/apps (./apps/staging)") == 1


def test_the_preview_quotes_a_string_that_reads_as_another_type() -> None:
    from codemods.verify.shown import show

    # enabled: "false" is a string Helm treats as true: the preview must not say "false -> false".
    assert (show("false", False), show(False, "false")) == ("'false'", "false")
    assert [show(v, 0) for v in ("1", "1.5", "null", "yes", "")] == ["'1'", "'1.5'", "'null'", "'yes'", "''"]
    assert [show(v, 0) for v in ("openhands", "v1.2.3", "a b", 3)] == ["openhands", "v1.2.3", "a b", "3"]
    # Two strings (a ConfigMap's data) need no quotes to tell them apart.
    assert (show("1", "2"), show("2", "1")) == ("1", "2")


def test_the_builds_kept_in_memory_are_bounded_by_their_size() -> None:
    from codemods.verify.builds import Recent as _Recent
    from codemods.verify.kustomize import BuildOutput

    recent = _Recent()
    cache = Path("/cache.sqlite")
    small = BuildOutput(True, "x" * (recent.BUDGET // 8), "")
    for n in range(20):
        recent.put(cache, f"k{n}", small, [])
    assert len(recent) == 8  # the budget holds eight of them: the oldest went first
    assert recent.get(cache, "k0") is None and recent.get(cache, "k19") == (small, [])
    recent.put(cache, "huge", BuildOutput(True, "x" * (recent.BUDGET // 2), ""), [])
    assert recent.get(cache, "huge") is None and len(recent) == 8
    recent.put(cache, "k19", small, [])  # the same key again replaces, it does not count twice
    assert len(recent) == 8 and recent.get(cache, "k12") is not None

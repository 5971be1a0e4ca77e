"""One Diagnostic type, one exit-code map, and files that are not UTF-8 treated one way.

The CLI runs in-process (`codemods.cli.main`), as a user would call it."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import click
import pytest

from codemods.cli import main
from codemods.diagnostics import Diagnostic, DiagnosticError, Diagnostics
from codemods.doctor import Finding
from codemods.errors import EncodingError, InputError
from codemods.exitcodes import ExitCode, for_error
from codemods.plan import Warning
from tests.helpers import ROOT, git, git_init, tree

EXAMPLE = ROOT / "examples" / "openhands-cluster-template"
LATIN1 = "# caf\xe9\n".encode("latin-1")


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    capsys.readouterr()
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def plain(tmp_path: Path) -> Path:
    """The example without its templates: rendered files only."""
    repo = tmp_path / "plain"
    shutil.copytree(EXAMPLE, repo, ignore=shutil.ignore_patterns("templates", "makejinja.toml", "cluster.toml"))
    return repo


def templated(tmp_path: Path) -> Path:
    repo = tmp_path / "templated"
    shutil.copytree(EXAMPLE, repo)
    return repo


def spoil(repo: Path, rel: str) -> int:
    """Append a Latin-1 line to a file; the 1-based line the bad byte is on."""
    path = repo / rel
    data = path.read_bytes()
    path.write_bytes(data + LATIN1)
    return data.count(b"\n") + 1


# -- the type ------------------------------------------------------------------------------------


def test_warnings_findings_and_errors_are_one_type() -> None:
    warning = Warning("a.yaml", 3, "left alone", "relocate-migration-job")
    finding = Finding("b.yaml", 4, "stale-render", "warning", "stale", "delete it")
    error = InputError("c.yaml", 5, "cannot parse YAML", 7)
    assert all(isinstance(d, Diagnostic) for d in (warning, finding, error.diagnostic))
    assert isinstance(error, DiagnosticError) and issubclass(EncodingError, InputError)
    assert (str(warning), str(finding), str(error)) == (
        "a.yaml:3: left alone",
        "b.yaml:4: stale",
        "c.yaml:5:7: cannot parse YAML",
    )
    assert str(Warning("a.yaml", None, "whole file")) == "a.yaml: whole file"
    # The attributes the old types had, which plugins and scripts read.
    assert (warning.codemod, finding.rule, finding.fix, finding.severity) == (
        "relocate-migration-job",
        "stale-render",
        "delete it",
        "warning",
    )
    assert (error.path, error.line, error.column, error.message) == ("c.yaml", 5, 7, "cannot parse YAML")
    assert error.diagnostic.severity == "error" and error.location() == "c.yaml:5:7"
    assert EncodingError("d.yaml", 2, "not valid UTF-8").diagnostic.code == "not-utf-8"
    # The JSON of each output: exactly the fields it always had.
    assert warning.warning_json() == {
        "file": "a.yaml",
        "line": 3,
        "message": "left alone",
        "codemod": "relocate-migration-job",
    }
    assert list(finding.finding_json()) == ["rule", "severity", "file", "line", "message", "fix"]
    assert error.diagnostic.brief_json() == {"file": "c.yaml", "line": 5, "message": "cannot parse YAML"}
    with pytest.raises(ValueError, match="severity"):
        Diagnostic("a.yaml", 1, "x", "fatal")  # type: ignore[arg-type]


def test_the_same_thing_is_said_once() -> None:
    said = Diagnostics()
    assert said.add(Warning("a.yaml", 3, "left alone", "relocate-migration-job"))
    assert not said.add(Warning("a.yaml", 3, "left alone", "sync-kustomization-resources"))
    assert not said.add(InputError("a.yaml", 3, "left alone").diagnostic.as_warning())
    assert said.add(Warning("a.yaml", 4, "left alone"))
    assert [str(d) for d in said] == ["a.yaml:3: left alone", "a.yaml:4: left alone"]


# -- the exit codes --------------------------------------------------------------------------------


def test_one_map_from_outcome_to_exit_code() -> None:
    assert (ExitCode.OK, ExitCode.CHANGES_NEEDED, ExitCode.SOME_FAILED, ExitCode.FAILURE) == (0, 1, 1, 2)
    for error in (
        InputError("a.yaml", 1, "bad"),
        EncodingError("a.yaml", 1, "not valid UTF-8"),
        click.UsageError("bad flag"),
        click.Abort(),
        RuntimeError("a bug"),
    ):
        assert for_error(error) == ExitCode.FAILURE


@pytest.fixture
def needs_fix(tmp_path: Path) -> Path:
    return templated(tmp_path)


@pytest.fixture
def fixed(tmp_path: Path) -> Path:
    repo = tmp_path / "fixed"
    shutil.copytree(EXAMPLE, repo)
    assert main(["run", "-q", "--no-verify", str(repo)]) == 0
    return repo


@pytest.fixture
def broken(tmp_path: Path) -> Path:
    """A HelmRelease that must be parsed and cannot be: bad input."""
    repo = plain(tmp_path)
    release = repo / "kubernetes/apps/openhands/openhands/app/helmrelease.yaml"
    release.write_bytes(release.read_bytes() + b"bad: [unclosed\n")
    return repo


@pytest.mark.parametrize(
    ("args", "repo", "expected"),
    [
        (("run", "--check", "--no-verify"), "fixed", 0),
        (("run", "--check", "--no-verify"), "needs_fix", 1),
        (("run", "--check", "--no-verify"), "broken", 2),
        (("run", "--no-verify"), "fixed", 0),
        (("run", "--no-verify"), "needs_fix", 0),
        (("run", "--no-verify"), "broken", 2),
        (("run", "--dry-run", "--no-verify"), "needs_fix", 0),
        (("run", "--check", "--no-verify", "--only", "no-such-codemod"), "needs_fix", 2),
        (("run", "--check", "--no-verify"), "missing", 2),
        (("doctor",), "fixed", 0),
        (("doctor",), "needs_fix", 1),
        (("doctor",), "broken", 2),
        (("doctor",), "missing", 2),
        (("list",), None, 0),
        (("recipes",), None, 0),
        (("no-such-command",), None, 2),
        (("batch",), None, 2),  # no repositories
        (("batch", "status"), None, 2),
        (("batch", "merge"), None, 2),
        (("batch", "close"), None, 2),
    ],
)
def test_every_command_keeps_its_exit_codes(
    request: pytest.FixtureRequest,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    args: tuple[str, ...],
    repo: str | None,
    expected: int,
) -> None:
    where: tuple[str, ...] = ()
    if repo == "missing":
        where = (str(tmp_path / "missing"),)
    elif repo is not None:
        where = (str(request.getfixturevalue(repo)),)
    code, _out, err = run(capsys, *args, *where)
    assert code == expected, err


def test_batch_exit_codes(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    seed = tmp_path / "seed"
    shutil.copytree(EXAMPLE, seed)
    git_init(seed)
    bare = tmp_path / "remote.git"
    git(tmp_path, "clone", "-q", "--bare", str(seed), str(bare))
    workdir = str(tmp_path / "work")
    assert run(capsys, "batch", "--no-verify", "--workdir", workdir, f"file://{bare}")[0] == 0
    code, _out, err = run(capsys, "batch", "--no-verify", "--workdir", workdir, f"file://{tmp_path}/none.git")
    assert code == 1, err  # a repository failed


# -- files that are not UTF-8 --------------------------------------------------------------------


def test_a_kustomization_the_change_need_not_edit_is_a_warning(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    repo = plain(tmp_path)
    rel = "kubernetes/apps/openhands/postgresql/app/kustomization.yaml"
    line = spoil(repo, rel)
    before = (repo / rel).read_bytes()
    code, _out, err = run(capsys, "run", "--check", "--no-verify", str(repo))
    assert code == 1, err  # the fix is still needed, and nothing fails
    code, out, err = run(capsys, "run", "--json", "--no-verify", str(repo))
    assert code == 0, err
    assert err.count(f"warning: {rel}:{line}: not valid UTF-8: left unchanged") == 1, err
    report = json.loads(out)
    assert report["status"] == "changed" and report["applied"]
    assert {"file": rel, "line": line, "message": "not valid UTF-8: left unchanged", "codemod": None} in report[
        "warnings"
    ]
    assert (repo / rel).read_bytes() == before


@pytest.mark.parametrize(
    "rel",
    [
        "kubernetes/apps/openhands/kustomization.yaml",  # the entry of the moved Job goes from it
        "kubernetes/apps/openhands/openhands/app/helmrelease.yaml",  # its values get the fix
    ],
)
def test_a_file_the_change_must_edit_stops_the_run(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, rel: str
) -> None:
    # The template is UTF-8, its render is not: the render must be edited like the template.
    repo = templated(tmp_path)
    line = spoil(repo, rel)
    before = tree(repo)
    for args in (("--check",), ()):
        code, _out, err = run(capsys, "run", "--no-verify", *args, str(repo))
        assert code == 2, err
        assert f"error: {rel}:{line}: not valid UTF-8, and the change must edit it" in err
        assert "nothing was written" in err
    assert tree(repo) == before


def test_a_warning_two_codemods_meet_prints_once(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    # relocate-migration-job and annotate-job-force both read the Job; neither can.
    repo = plain(tmp_path)
    rel = "kubernetes/apps/openhands/migration-job.yaml"
    line = spoil(repo, rel)
    before = (repo / rel).read_bytes()
    code, out, err = run(capsys, "run", "--json", "--no-verify", "--include", "annotate-job-force", str(repo))
    assert code == 0, err
    assert err.count(f"{rel}:{line}: not valid UTF-8") == 1, err
    assert [w["file"] for w in json.loads(out)["warnings"]].count(rel) == 1
    assert (repo / rel).read_bytes() == before


def test_the_doctor_says_a_file_was_skipped_once(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    repo = plain(tmp_path)
    job = "kubernetes/apps/openhands/migration-job.yaml"
    kustomization = "kubernetes/apps/openhands/kustomization.yaml"
    job_line, ks_line = spoil(repo, job), spoil(repo, kustomization)
    code, out, err = run(capsys, "doctor", "--format", "json", str(repo))
    assert code == 1, err
    report = json.loads(out)
    assert sorted(report["skipped"], key=lambda s: s["file"]) == [
        {"file": kustomization, "line": ks_line, "message": "not valid UTF-8: left unchanged"},
        {"file": job, "line": job_line, "message": "not valid UTF-8: left unchanged"},
    ]
    # A kustomization it could not read lists nothing it can see: its neighbours are not "unlisted".
    assert not [f for f in report["findings"] if f["rule"] == "manifest-not-listed"], report["findings"]


@pytest.mark.parametrize(
    ("rel", "spoiled", "expected"),
    [
        # Lists the stray Job: unread, the Job would move and leave its entry pointing at nothing.
        ("kubernetes/apps/openhands/kustomization.yaml", LATIN1, ":{line}: not valid UTF-8; what Flux applies"),
        # The target's kustomization: unparsed, where the Job belongs is unknown.
        ("kubernetes/apps/openhands/openhands/app/kustomization.yaml", b"  ? [\n", ":{line}:3: cannot parse YAML"),
    ],
)
def test_a_kustomization_the_answer_depends_on_stops_the_run(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, rel: str, spoiled: bytes, expected: str
) -> None:
    repo = plain(tmp_path)
    path = repo / rel
    data = path.read_bytes()
    path.write_bytes(data + spoiled)
    line = data.count(b"\n") + 1
    before = tree(repo)
    for args in (("--check",), ("--dry-run",), ()):
        code, _out, err = run(capsys, "run", "--no-verify", *args, str(repo))
        assert code == 2, err
        assert f"error: {rel}{expected.format(line=line)}" in err, err
        assert "nothing was written" in err
    assert tree(repo) == before


@pytest.mark.parametrize("template", [False, True])
def test_a_key_the_fix_walks_twice_is_bad_input_in_plain_yaml_only(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, template: bool
) -> None:
    values = "      migrationJob:\n        enabled: true\n        enabled: false\n"
    if template:  # Jinja if/else branches write a key twice on purpose; one of them renders
        values = (
            "      migrationJob:\n{% if a %}\n        enabled: true\n{% else %}\n        enabled: false\n{% endif %}\n"
        )
    name = "helmrelease.yaml.j2" if template else "helmrelease.yaml"
    (tmp_path / name).write_text(
        "apiVersion: helm.toolkit.fluxcd.io/v2\nkind: HelmRelease\nmetadata:\n  name: openhands\nspec:\n"
        "  values:\n    litellm-helm:\n" + values
    )
    before = tree(tmp_path)
    code, _out, err = run(capsys, "run", "--no-verify", str(tmp_path))
    if template:
        assert code == 0, err
        assert "enabled: false\n{% else %}" in (tmp_path / name).read_text()
    else:
        assert code == 2, err
        assert f"error: {name}:10: duplicate key 'enabled' (also at line 9)" in err
        assert tree(tmp_path) == before

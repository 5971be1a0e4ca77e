"""Fidelity on ~1,100 real GitOps files from three public repositories (../shared/corpus).

A no-op run must leave every file byte-identical, and an edit of a real HelmRelease must
change exactly the intended lines: nothing else in the file, no other file.
"""

from __future__ import annotations

import difflib
import json
import os
import re
import shutil
from pathlib import Path

import pytest

from tests.helpers import CORPUS, run_codemods, tree

REPOS = sorted(p.name for p in CORPUS.iterdir() if p.is_dir()) if CORPUS.is_dir() else []

if not REPOS:
    if os.environ.get("CI"):
        raise RuntimeError(f"the corpus is missing at {CORPUS}; CI must run with ../shared beside the clone")
    pytest.skip(f"no corpus at {CORPUS}", allow_module_level=True)


@pytest.fixture(scope="module")
def corpus_copy(tmp_path_factory: pytest.TempPathFactory) -> Path:
    # shared/ is read-only: work on a copy with write bits, as a checkout would have.
    root = tmp_path_factory.mktemp("corpus")
    for repo in REPOS:
        shutil.copytree(CORPUS / repo, root / repo, copy_function=shutil.copyfile)
    return root


def test_corpus_is_the_expected_size() -> None:
    files = [p for p in CORPUS.rglob("*") if p.is_file() and p.suffix in (".yaml", ".yml", ".j2")]
    assert len(files) > 1000


@pytest.mark.parametrize("repo", REPOS)
def test_check_finds_nothing_and_run_writes_nothing(repo: str, corpus_copy: Path) -> None:
    root = corpus_copy / repo
    before = tree(root)
    check = run_codemods("run", "--check", str(root))
    assert check.returncode == 0, check.stderr
    assert "nothing to change" in check.stderr
    result = run_codemods("run", str(root))
    assert result.returncode == 0, result.stderr
    assert result.stdout == ""
    assert tree(root) == before


_SPEC = re.compile(r"^(?P<indent>[ ]*)spec:[ ]*\r?$", re.MULTILINE)
_VALUES = re.compile(r"^(?P<indent>[ ]*)values:[ ]*\r?$", re.MULTILINE)


def _injection_point(text: str) -> tuple[int, str, str] | None:
    """(offset after the `values:` line, child indent, step) of the first HelmRelease, by text alone."""
    if "helm.toolkit.fluxcd.io" not in text or "kind: HelmRelease" not in text:
        return None
    spec = _SPEC.search(text, text.index("kind: HelmRelease"))
    if spec is None:
        return None
    lines_after_spec = text[spec.end() + 1 :].splitlines()
    child = next((ln for ln in lines_after_spec if ln.strip() and not ln.lstrip().startswith("#")), "")
    child_indent = len(child) - len(child.lstrip(" "))
    for values in _VALUES.finditer(text, spec.end()):
        if len(values.group("indent")) != child_indent:
            continue
        rest = text[values.end() + 1 :].splitlines()
        first = next((ln for ln in rest if ln.strip() and not ln.lstrip().startswith("#")), "")
        indent = len(first) - len(first.lstrip(" "))
        if indent <= child_indent:
            return None
        return values.end() + 1, " " * indent, " " * (indent - child_indent)
    return None


def _inject_everywhere(root: Path, block: str) -> dict[str, tuple[str, str, str]]:
    """Insert a litellm-helm block into every real HelmRelease's values; return what went where."""
    injected: dict[str, tuple[str, str, str]] = {}
    for path in sorted(root.rglob("*")):
        if not path.is_file() or not path.name.endswith((".yaml", ".yml", ".yaml.j2")):
            continue
        text = path.read_text()
        point = _injection_point(text)
        if point is None:
            continue
        offset, indent, step = point
        lines = block.format(i=indent, s=step)
        path.write_text(text[:offset] + lines + text[offset:])
        injected[path.relative_to(root).as_posix()] = (text, lines, indent)
    return injected


def _changed_lines(old: str, new: str) -> list[tuple[str, list[str], list[str]]]:
    a, b = old.splitlines(keepends=True), new.splitlines(keepends=True)
    ops = difflib.SequenceMatcher(a=a, b=b, autojunk=False).get_opcodes()
    return [(tag, a[i1:i2], b[j1:j2]) for tag, i1, i2, j1, j2 in ops if tag != "equal"]


def test_the_injection_reaches_most_of_the_corpus_helmreleases(tmp_path: Path) -> None:
    root = tmp_path / "corpus"
    shutil.copytree(CORPUS, root, copy_function=shutil.copyfile)
    injected = _inject_everywhere(root, "{i}litellm-helm:\n{i}{s}migrationJob:\n{i}{s}{s}enabled: true\n")
    assert len(injected) >= 150, "the injection should reach most of the corpus' HelmReleases"


# One repository per test, so the default run's two workers share the work evenly.
@pytest.mark.parametrize("repo", REPOS)
def test_flip_only_the_enabled_line_in_every_real_helmrelease(repo: str, tmp_path: Path) -> None:
    root = tmp_path / repo
    shutil.copytree(CORPUS / repo, root, copy_function=shutil.copyfile)
    injected = _inject_everywhere(root, "{i}litellm-helm:\n{i}{s}migrationJob:\n{i}{s}{s}enabled: true\n")
    assert injected, f"{repo} has HelmReleases to edit"
    before = tree(root)
    untouched = {p: b for p, b in before.items() if p not in injected}
    # Bytes are the claim here; the build gate's verdict on the same edit is the slow test below.
    result = run_codemods("run", "--no-verify", str(root))
    assert result.returncode == 0, result.stderr
    after = tree(root)
    assert {p: after[p] for p in untouched} == untouched
    for rel, (_original, lines, _indent) in injected.items():
        enabled_line = lines.splitlines(keepends=True)[2]
        changes = _changed_lines(before[rel].decode(), after[rel].decode())
        assert changes == [("replace", [enabled_line], [enabled_line.replace("enabled: true", "enabled: false")])], rel


@pytest.mark.parametrize("repo", REPOS)
def test_insert_migration_job_at_each_files_own_indentation(repo: str, tmp_path: Path) -> None:
    root = tmp_path / repo
    shutil.copytree(CORPUS / repo, root, copy_function=shutil.copyfile)
    injected = _inject_everywhere(root, "{i}litellm-helm:\n{i}{s}image:\n{i}{s}{s}tag: main-stable\n")
    assert injected, f"{repo} has HelmReleases to edit"
    before = tree(root)
    result = run_codemods("run", "--no-verify", str(root))
    assert result.returncode == 0, result.stderr
    after = tree(root)
    assert {p: after[p] for p in before if p not in injected} == {p: before[p] for p in before if p not in injected}
    for rel, (_original, lines, indent) in injected.items():
        step = lines.splitlines()[1][len(indent) :]
        step = step[: len(step) - len(step.lstrip(" "))]
        changes = _changed_lines(before[rel].decode(), after[rel].decode())
        assert changes == [
            ("insert", [], [f"{indent}{step}migrationJob:\n", f"{indent}{step}{step}enabled: false\n"])
        ], (rel, changes)
        assert after[rel].decode().index(f"{indent}litellm-helm:\n") < after[rel].decode().index(
            f"{indent}{step}migrationJob:\n"
        )


@pytest.mark.slow  # about 160 kustomize builds per repository
def test_the_build_gate_verifies_the_injected_fix_on_real_repositories(tmp_path: Path) -> None:
    root = tmp_path / "corpus"
    shutil.copytree(CORPUS, root, copy_function=shutil.copyfile)
    _inject_everywhere(root, "{i}litellm-helm:\n{i}{s}migrationJob:\n{i}{s}{s}enabled: true\n")
    for repo in REPOS:
        result = run_codemods("run", "--dry-run", "--json", "--verify", str(root / repo))
        assert result.returncode == 0, result.stderr
        semantic = json.loads(result.stdout)["semantic"]
        # cluster-template's corpus copy holds the templates only: nothing rendered to build.
        templates_only = (root / repo / "makejinja.toml").is_file()
        wanted = "not verified" if templates_only else "verified"
        assert semantic["status"] == wanted, (repo, semantic.get("reason"), semantic.get("problems"))
        assert not semantic["problems"], (repo, semantic["problems"])

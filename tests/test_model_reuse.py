"""One scan, one graph: the doctor's look at the files a run touches reuses the run's own index.

The shortcut must never change an answer, so every snapshot case compares it with the doctor's
own fresh scan of the same tree.
"""

from __future__ import annotations

import posixpath
import tomllib
from pathlib import Path

import pytest

from codemods.doctor import diagnose
from codemods.errors import InputError
from codemods.repo.graph import RepoGraph
from codemods.runner import plan_repository, select, touched_findings
from tests.helpers import CORPUS, SNAPSHOTS

CASES = sorted(p.name for p in SNAPSHOTS.iterdir() if (p / "before").is_dir())


@pytest.mark.parametrize("case", CASES)
def test_touched_findings_from_the_runs_index_equal_a_fresh_doctor(case: str) -> None:
    spec = tomllib.loads((SNAPSHOTS / case / "case.toml").read_text())
    if spec.get("args"):
        pytest.skip("its arguments choose other codemods, whose index the doctor does not reuse")
    root = SNAPSHOTS / case / "before"
    try:
        plan = plan_repository(root, select())
    except InputError:
        assert spec.get("exit_code") == 2
        return
    touched = set(plan.changed_files())
    reused = touched_findings(plan, written=False)
    fresh, _problems = diagnose(root, only=touched) if touched else ([], [])
    assert reused == fresh


def test_the_codemods_and_the_doctor_share_one_graph_per_index() -> None:
    plan = plan_repository(SNAPSHOTS / "s01-ancestor-entry-plain" / "before", select())
    assert RepoGraph.of(plan.index) is RepoGraph.of(plan.index)
    assert not plan.is_empty
    graph = RepoGraph.of(plan.index)
    parsed_before = dict(graph._kustomize)
    touched_findings(plan, written=False)
    # The doctor asked the same graph: whatever it parsed was added to the run's memo.
    assert set(parsed_before) <= set(graph._kustomize)


def test_after_a_write_the_doctor_reads_the_tree_again(tmp_path: Path) -> None:
    import shutil

    work = tmp_path / "repo"
    shutil.copytree(SNAPSHOTS / "s01-ancestor-entry-plain" / "before", work)
    plan = plan_repository(work, select())
    before = touched_findings(plan, written=False)
    plan.apply()
    after = touched_findings(plan, written=True)
    assert "subchart-job-not-hook" in {f.rule for f in before}
    assert "subchart-job-not-hook" not in {f.rule for f in after}, "the doctor read the stale index"
    fresh, _ = diagnose(work, only=set(plan.changed_files()))
    assert after == fresh


def _every_reference_is_found(root: Path) -> int:
    """referrers() looks references up through a word index; it must find every one a full
    parse of every kustomization file sees."""
    from codemods.repo.index import scan

    graph = RepoGraph.of(scan(root))
    checked = 0
    for unit in graph.index.kustomizations():
        parsed = graph.kustomize_file(posixpath.dirname(unit.logical))
        for ref in parsed.refs if parsed else ():
            if ref.remote or not ref.target or ref.target.startswith(".."):
                continue
            found = graph.referrers(ref.target, fields=None)
            assert any(r is ref for _f, r in found), f"{unit.primary.path}: {ref.value!r} not found"
            checked += 1
    return checked


@pytest.mark.parametrize("case", CASES)
def test_the_word_index_finds_every_reference_of_every_case(case: str) -> None:
    _every_reference_is_found(SNAPSHOTS / case / "before")


def test_the_word_index_finds_references_in_any_spelling(tmp_path: Path) -> None:
    (tmp_path / "a" / "sub dir").mkdir(parents=True)
    (tmp_path / "a" / "b").mkdir()
    (tmp_path / "a" / "kustomization.yaml").write_text(
        "resources: [./x.yaml, 'b/', \"sub dir/y.yaml\"]\n"
        "configMapGenerator:\n  - name: c\n    files:\n      - key=./b/../z.txt\n"
        "patches:\n  - path: ./b//p.yaml # a comment\n"
        "components:\n  - b\\\\c\n"
    )
    assert _every_reference_is_found(tmp_path) == 6


def test_the_word_index_finds_every_reference_in_the_corpus() -> None:
    if not CORPUS.is_dir():
        pytest.skip(f"no corpus at {CORPUS} (../shared is not beside this checkout)")
    assert _every_reference_is_found(CORPUS) > 100


def _lazy_answers_equal_the_word_index(root: Path, every: int = 1) -> int:
    """A run that asks referrers() a few times answers by a byte search of each kustomization
    file instead of building the word index: for every path (every n-th, sorted), both must
    name the same directories, in the same order."""
    from codemods.repo.index import scan

    index = scan(root)
    full = RepoGraph(index)
    mentioned = full._mentions()
    questions = set(mentioned) | set(index.units)
    questions |= {posixpath.dirname(p) for p in questions}
    lazy = RepoGraph(index)
    for question in sorted(questions)[::every]:
        lazy._asked.clear()  # below the threshold for every question: always the byte search
        assert lazy._mentioners(question) == mentioned.get(question, []), question
    return len(questions)


@pytest.mark.parametrize("case", CASES)
def test_the_byte_search_answers_as_the_word_index_on_every_case(case: str) -> None:
    _lazy_answers_equal_the_word_index(SNAPSHOTS / case / "before")


def test_the_byte_search_answers_as_the_word_index_in_any_spelling(tmp_path: Path) -> None:
    for directory in ("a/sub dir", "a/b/c", "d", "e/f"):
        (tmp_path / directory).mkdir(parents=True)
    (tmp_path / "a" / "kustomization.yaml").write_text(
        "resources: [./x.yaml, 'b/', \"sub dir/y.yaml\", /d/abs.yaml, ../e/f]\n"
        "configMapGenerator:\n  - name: c\n    files:\n      - key=./b/../z.txt\n"
        "patches:\n  - path: ./b//p.yaml # a comment\n"
        "components:\n  - b\\\\c\n"
    )
    (tmp_path / "a" / "b" / "kustomization.yaml").write_text("resources:\n  - ./c/.\n  - ..\n  - .\n")
    (tmp_path / "d" / "kustomization.yaml").write_text("resources:\n  - ../a/x.yaml # https://example.com/x\n")
    (tmp_path / "e" / "f" / "kustomization.yaml").write_text(
        "# yaml-language-server: $schema=https://json.schemastore.org/kustomization\nresources: [/a/b/c]\n"
    )
    assert _lazy_answers_equal_the_word_index(tmp_path) > 10


@pytest.mark.parametrize("every", [pytest.param(1, marks=pytest.mark.slow), 7])
def test_the_byte_search_answers_as_the_word_index_in_the_corpus(every: int) -> None:
    """Every 7th of the corpus's thousands of paths by default (a tenth of the time); all of
    them in the slow run."""
    if not CORPUS.is_dir():
        pytest.skip(f"no corpus at {CORPUS} (../shared is not beside this checkout)")
    assert _lazy_answers_equal_the_word_index(CORPUS, every) > 100


def test_a_few_questions_search_bytes_and_many_build_the_word_index(tmp_path: Path) -> None:
    from codemods.repo.graph import _LAZY_QUESTIONS
    from codemods.repo.index import scan

    for i in range(_LAZY_QUESTIONS + 5):
        (tmp_path / f"app{i}").mkdir()
        (tmp_path / f"app{i}" / "kustomization.yaml").write_text("resources:\n  - ./helmrelease.yaml\n")
    graph = RepoGraph(scan(tmp_path))
    asked = [f"app{i}/helmrelease.yaml" for i in range(_LAZY_QUESTIONS + 5)]
    for question in asked[:_LAZY_QUESTIONS]:
        assert [f.directory for f, _ref in graph.referrers(question)] == [posixpath.dirname(question)]
    assert graph._mentioned is None  # a run that fixes one app asks a handful: no word index
    for question in asked[_LAZY_QUESTIONS:]:
        assert [f.directory for f, _ref in graph.referrers(question)] == [posixpath.dirname(question)]
    assert graph._mentioned is not None  # the doctor's run over every manifest: built once

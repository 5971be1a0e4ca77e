"""The trees `run --branch` and `batch` commit are git's own: `update-index` and `write-tree`
on the temporary index. They must be what `git add -A` and `git write-tree` give on a checkout
of the base with the same change applied, whatever the names, modes, moves and deletions.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from codemods.changes import ChangeSet, FileChange
from codemods.vcs.bounded import Repo
from codemods.vcs.git import INDEX_CONFIG, build_tree, checkout_tree, index_entries
from tests.helpers import ROOT, example_repo, git, git_init, run_codemods

# Names whose order trips a naive sort ("a.b" < "a" (a directory) < "a0" in git's tree order),
# and one that is not UTF-8 (as os.walk names it: surrogateescape).
NAMES = ["a", "a.b", "a-b", "a0", "b", "Z", "é", "x y", ".hidden", "a.b.c", "caf\udce9"]
KINDS = ["file", "executable", "link"]

Layout = dict[str, str]  # path -> kind

paths = st.lists(st.sampled_from(NAMES), min_size=1, max_size=4).map("/".join)


def _free(path: str, taken: set[str]) -> bool:
    """Whether a file may be put at path: nothing there, and no file or directory in the way."""
    return path not in taken and not any(
        other.startswith(path + "/") or path.startswith(other + "/") for other in taken
    )


@st.composite
def layouts(draw: st.DrawFn) -> Layout:
    layout: Layout = {}
    for path in sorted(draw(st.lists(paths, min_size=1, max_size=12, unique=True))):
        if _free(path, set(layout)):
            layout[path] = draw(st.sampled_from(KINDS))
    return layout


def _content(path: str) -> str:
    return f"content of {path!a}\n"


@st.composite
def change_sets(draw: st.DrawFn, layout: Layout) -> list[FileChange]:
    """Edits, deletions and moves (some with an edit) to free places, of files (a change set
    never changes a link: it refuses to write through one)."""
    files = sorted(layout)
    regular = [p for p in files if layout[p] != "link"]
    edited = draw(st.lists(st.sampled_from(regular), unique=True)) if regular else []
    rest = [p for p in regular if p not in edited]
    deleted = draw(st.lists(st.sampled_from(rest), unique=True)) if rest else []
    movable = [p for p in rest if p not in deleted]
    moved = draw(st.lists(st.sampled_from(movable), unique=True)) if movable else []
    changes = [FileChange("edit", p, _content(p), f"edited {p!a}\n") for p in edited]
    changes += [FileChange("delete", p, _content(p), None) for p in deleted]
    taken = set(files)
    for src in moved:
        dst = draw(paths)
        if not _free(dst, taken):
            continue
        taken.add(dst)
        rewrite = draw(st.booleans())
        new = f"moved and edited {src!a}\n" if rewrite else _content(src)
        changes.append(FileChange("move", src, _content(src), new, to=dst))
    return changes


def _write_layout(work: Path, layout: Layout) -> None:
    for number, (path, kind) in enumerate(sorted(layout.items())):
        where = work / path
        where.parent.mkdir(parents=True, exist_ok=True)
        if kind == "link":
            where.symlink_to(f"target-{number}")
            continue
        where.write_text(_content(path))
        where.chmod(0o755 if kind == "executable" else 0o644)


def _check_against_git(layout: Layout, changes: list[FileChange]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp) / "work"
        _write_layout(work, layout)
        git(work, "init", "-q")
        git(work, "add", "-A")
        git(work, "commit", "-qm", "base")
        # codemods: the base into a temporary checkout and index, the change, the tree.
        repo = Repo(work)
        plan, index = Path(tmp) / "plan", Path(tmp) / "index"
        checkout_tree(repo, repo.head.commit.hexsha, plan, index)
        ChangeSet(plan, tuple(changes)).apply(durable=False)
        ours = build_tree(repo, ChangeSet(plan, tuple(changes)), "", plan, index)
        repo.close()
        # git: the same change on the checkout, `git add -A`, `git write-tree`.
        ChangeSet(work, tuple(changes)).apply(durable=False)
        git(work, "add", "-A")
        assert ours == git(work, "write-tree").stdout.strip()
        git(work, "ls-tree", "-r", ours)  # every tree of it is stored


PROPERTY = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
QUICK = settings(PROPERTY, max_examples=10)  # the default run; the slow run tries 300


@QUICK
@given(data=st.data())
def test_the_tree_is_what_git_add_and_write_tree_give_on_a_checkout(data: st.DataObject) -> None:
    layout = data.draw(layouts())
    _check_against_git(layout, data.draw(change_sets(layout)))


@pytest.mark.slow
@PROPERTY
@given(data=st.data())
def test_the_tree_is_git_s_on_many_more_changes(data: st.DataObject) -> None:
    layout = data.draw(layouts())
    _check_against_git(layout, data.draw(change_sets(layout)))


def test_a_directory_left_empty_disappears() -> None:
    layout = {"keep.yaml": "file", "gone/only.yaml": "file", "moved/away.yaml": "executable"}
    changes = [
        FileChange("delete", "gone/only.yaml", _content("gone/only.yaml"), None),
        FileChange("move", "moved/away.yaml", _content("moved/away.yaml"), _content("moved/away.yaml"), to="a.yaml"),
    ]
    _check_against_git(layout, changes)


@pytest.fixture
def attributed_repo(tmp_path: Path) -> Path:
    """The example, with an executable manifest, a CRLF Job that moves, and eol attributes."""
    work = tmp_path / "repo"
    shutil.copytree(ROOT / "examples" / "openhands-cluster-template", work)
    git_init(work)
    job = work / "kubernetes/apps/openhands/migration-job.yaml"
    job.write_bytes(job.read_bytes().replace(b"\n", b"\r\n"))  # stored with CRLF: -text keeps it
    (work / ".gitattributes").write_text("kubernetes/apps/openhands/migration-job.yaml -text\n")
    helm = work / "kubernetes/apps/openhands/openhands/app/helmrelease.yaml"
    helm.chmod(0o755)
    git(work, "add", "-A")
    git(work, "commit", "-qm", "attributes")
    return work


def test_branch_keeps_modes_and_moves_the_very_same_blob(attributed_repo: Path) -> None:
    work = attributed_repo
    job = "kubernetes/apps/openhands/migration-job.yaml"
    helm = "kubernetes/apps/openhands/openhands/app/helmrelease.yaml"
    before = {
        line.split("\t")[1]: line.split("\t")[0] for line in git(work, "ls-tree", "-r", "HEAD").stdout.splitlines()
    }
    result = run_codemods("run", "--branch", "fix", str(work))
    assert result.returncode == 0, result.stderr
    after = {line.split("\t")[1]: line.split("\t")[0] for line in git(work, "ls-tree", "-r", "fix").stdout.splitlines()}
    moved_to = "kubernetes/apps/openhands/openhands/app/migration-job.yaml"
    assert job not in after
    assert after[moved_to] == before[job]  # same mode, same blob: the CRLF bytes untouched
    assert after[helm].split()[0] == "100755" and after[helm] != before[helm]
    # Everything the branch does not touch is the base's entry, and git itself finds the tree whole.
    untouched = {p: v for p, v in before.items() if after.get(p) == v}
    assert len(untouched) >= len(before) - 10
    subprocess.run(["git", "fsck", "--no-dangling", "--strict"], cwd=work, check=True, capture_output=True)


# -- the repository configurations an adversarial review tried (each broke --branch once) --------
HELM = "kubernetes/apps/openhands/openhands/app/helmrelease.yaml"
EXAMPLE = ROOT / "examples" / "openhands-cluster-template"


@pytest.fixture(scope="module")
def plain_branch_tree(tmp_path_factory: pytest.TempPathFactory) -> str:
    """The tree `run --branch` makes of the example in a repository without any odd setting."""
    plain = example_repo(tmp_path_factory.mktemp("plain"))
    assert run_codemods("run", "--branch", "fix", "--no-verify", str(plain)).returncode == 0
    return git(plain, "rev-parse", "fix^{tree}").stdout.strip()


def test_an_untouched_tree_an_old_git_wrote_is_kept_as_git_keeps_it(tmp_path: Path, plain_branch_tree: str) -> None:
    # The base stores kubernetes/flux with a file of mode 100664 (old git). The index reads it
    # as 100644, but its cache tree holds the stored id: the untouched directory stays the
    # base's tree, as on a checkout of the base (`git add -A`, `git write-tree`); the
    # directories above the change are written anew.
    work = example_repo(tmp_path)
    flux = git(work, "rev-parse", "HEAD:kubernetes/flux").stdout.strip()
    listing = git(work, "ls-tree", flux).stdout.replace("100644 blob", "100664 blob", 1)
    odd = _literal_tree(work, listing)
    kubernetes = git(work, "ls-tree", "HEAD:kubernetes").stdout.replace(flux, odd)
    kube_tree = _literal_tree(work, kubernetes)
    root = _literal_tree(
        work,
        git(work, "ls-tree", "HEAD").stdout.replace(
            git(work, "rev-parse", "HEAD:kubernetes").stdout.strip(), kube_tree
        ),
    )
    base = git(work, "commit-tree", root, "-m", "a tree an old git wrote").stdout.strip()
    git(work, "reset", "-q", "--hard", base)
    # Only the odd trees are left: the canonical ones git wrote at first are pruned.
    git(work, "reflog", "expire", "--expire=now", "--all")
    git(work, "gc", "-q", "--prune=now")
    result = run_codemods("run", "--branch", "fix", "--no-verify", str(work))
    assert result.returncode == 0, result.stderr
    git(work, "ls-tree", "-r", "fix")  # every tree of the branch is readable
    assert git(work, "rev-parse", "fix:kubernetes/flux").stdout.strip() == odd
    assert _checkout_tree_after_the_change(work) == git(work, "rev-parse", "fix^{tree}").stdout.strip()
    assert plain_branch_tree != git(work, "rev-parse", "fix^{tree}").stdout.strip()  # it holds the odd tree
    subprocess.run(["git", "fsck", "--no-dangling"], cwd=work, check=True, capture_output=True)


def _checkout_tree_after_the_change(work: Path) -> str:
    """What git makes of the same change on the checkout: `codemods run` writes it there,
    then `git add -A` and `git write-tree`."""
    result = run_codemods("run", "--no-verify", str(work))
    assert result.returncode == 0, result.stderr
    git(work, "add", "-A")
    return git(work, "write-tree").stdout.strip()


def _literal_tree(work: Path, listing: str) -> str:
    """A tree object with exactly these entries (mktree refuses a non-canonical mode)."""
    data = b""
    for line in listing.splitlines():
        meta, name = line.split("\t", 1)
        mode, _kind, sha = meta.split()
        data += mode.encode() + b" " + name.encode() + b"\0" + bytes.fromhex(sha)
    return (
        subprocess.run(
            ["git", "hash-object", "-t", "tree", "-w", "--literally", "--stdin"],
            cwd=work,
            input=data,
            capture_output=True,
            check=True,
        )
        .stdout.decode()
        .strip()
    )


def test_edited_files_committed_with_crlf_stay_crlf_as_git_add_keeps_them(tmp_path: Path) -> None:
    work = tmp_path / "repo"
    shutil.copytree(EXAMPLE, work)
    for path in work.rglob("*.yaml"):
        path.write_bytes(path.read_bytes().replace(b"\n", b"\r\n"))
    git_init(work)
    (work / ".gitattributes").write_text("* text=auto\n")
    git(work, "add", ".gitattributes")
    git(work, "commit", "-qm", "attributes")
    result = run_codemods("run", "--branch", "fix", "--no-verify", str(work))
    assert result.returncode == 0, result.stderr
    committed = subprocess.run(["git", "show", f"fix:{HELM}"], cwd=work, capture_output=True, check=True).stdout
    assert b"enabled: false\r\n" in committed and committed.count(b"\r\n") == committed.count(b"\n")
    numstat = git(work, "diff", "--numstat", "HEAD", "fix", "--", HELM).stdout.split()
    assert numstat[:2] == ["1", "1"]  # one line changed, not the whole file


def test_a_directory_named_with_quotes_is_a_name(tmp_path: Path) -> None:
    work = tmp_path / "repo"
    shutil.copytree(EXAMPLE, work / '"prod"')
    (work / "prod").write_text("an unrelated file named prod\n")
    git_init(work)
    result = run_codemods("run", "--branch", "fix", "--no-verify", str(work))
    assert result.returncode == 0, result.stderr
    committed = git(work, "show", f'fix:"prod"/{HELM}').stdout
    assert "enabled: false" in committed and "unrelated" not in committed


@pytest.mark.parametrize(
    "config",
    [["index.version", "4"], ["core.splitIndex", "true"], ["feature.manyFiles", "true"], ["index.sparse", "true"]],
)
def test_the_user_s_index_format_does_not_matter(tmp_path: Path, config: list[str], plain_branch_tree: str) -> None:
    work = example_repo(tmp_path)
    git(work, "config", *config)
    if config[0] == "index.sparse":
        git(work, "sparse-checkout", "set", "--cone", "kubernetes/flux")
    git(work, "update-index", "--really-refresh", check=False)
    result = run_codemods("run", "--branch", "fix", "--no-verify", str(work))
    assert result.returncode == 0, result.stderr
    # Planned on the whole tree, whatever part of it is checked out.
    assert git(work, "rev-parse", "fix^{tree}").stdout.strip() == plain_branch_tree


def test_a_file_name_that_is_not_utf8_elsewhere_in_the_tree(tmp_path: Path) -> None:
    work = example_repo(tmp_path)
    odd = os.fsencode(work) + b"/docs/caf\xe9.txt"
    os.makedirs(os.path.dirname(odd), exist_ok=True)
    with open(odd, "wb") as handle:
        handle.write(b"notes\n")
    git(work, "add", "-A")
    git(work, "commit", "-qm", "a Latin-1 name")
    result = run_codemods("run", "--branch", "fix", "--no-verify", str(work))
    assert result.returncode == 0, result.stderr
    listed = subprocess.run(
        ["git", "ls-tree", "-r", "-z", "--name-only", "fix"], cwd=work, capture_output=True, check=True
    ).stdout
    assert b"docs/caf\xe9.txt" in listed.split(b"\0")


def test_a_shared_repository_s_new_trees_are_readable_by_the_group(tmp_path: Path) -> None:
    work = example_repo(tmp_path)
    git(work, "config", "core.sharedRepository", "group")
    before = {p for p in (work / ".git" / "objects").rglob("*") if p.is_file()}
    old = os.umask(0o077)
    try:
        result = run_codemods("run", "--branch", "fix", "--no-verify", str(work))
    finally:
        os.umask(old)
    assert result.returncode == 0, result.stderr
    written = {p for p in (work / ".git" / "objects").rglob("*") if p.is_file()} - before
    assert written
    for path in written:
        assert path.stat().st_mode & 0o040, (path, oct(path.stat().st_mode))
        assert path.parent.stat().st_mode & 0o050 == 0o050, (path.parent, oct(path.parent.stat().st_mode))


@pytest.mark.parametrize("odd_name", [False, True], ids=["utf8-names", "a-latin1-name"])
def test_the_index_reader_agrees_with_git(tmp_path: Path, odd_name: bool) -> None:
    """GitPython's reader reads the temporary index; for a name that is not UTF-8, which it
    cannot decode, git lists the index instead. Either way: what `git ls-files -s` lists."""
    work = example_repo(tmp_path)
    if odd_name:
        with open(os.fsencode(work) + b"/caf\xe9.txt", "wb") as handle:
            handle.write(b"notes\n")
        git(work, "add", "-A")
        git(work, "commit", "-qm", "a Latin-1 name")
    index = tmp_path / "index"
    env = {**os.environ, "GIT_INDEX_FILE": str(index)}
    subprocess.run(["git", *INDEX_CONFIG, "read-tree", "HEAD"], cwd=work, env=env, check=True)
    staged = subprocess.run(["git", "ls-files", "-s", "-z"], cwd=work, env=env, capture_output=True, check=True)
    expected = {}
    for record in filter(None, staged.stdout.split(b"\0")):
        meta, path = record.split(b"\t", 1)
        mode, sha, _stage = meta.split()
        expected[path.decode("utf-8", "surrogateescape")] = (int(mode, 8), bytes.fromhex(sha.decode()))
    assert index_entries(Repo(work), index) == expected
    assert ("caf\udce9.txt" in expected) == odd_name


def test_a_branch_is_what_git_makes_of_the_same_change_on_a_checkout(tmp_path: Path) -> None:
    work = example_repo(tmp_path)
    result = run_codemods("run", "--branch", "fix", "--no-verify", str(work))
    assert result.returncode == 0, result.stderr
    assert _checkout_tree_after_the_change(work) == git(work, "rev-parse", "fix^{tree}").stdout.strip()
    subprocess.run(["git", "fsck", "--strict", "--no-dangling"], cwd=work, check=True, capture_output=True)


def test_a_change_beyond_a_linked_directory_is_refused_with_its_name(tmp_path: Path) -> None:
    """The release's directory is a link to another: git tracks the link, so the moved Job
    cannot be committed where the plan puts it. A clear error, exit 2, no branch."""
    work = example_repo(tmp_path)
    app = work / "kubernetes/apps/openhands/openhands/app"
    git(work, "mv", str(app), str(app.with_name("app2")))
    app.symlink_to("app2", target_is_directory=True)
    git(work, "add", "-A")
    git(work, "commit", "-qm", "a linked app directory")
    result = run_codemods("run", "--branch", "fix", "--no-verify", str(work))
    assert result.returncode == 2, result.stderr
    assert "kubernetes/apps/openhands/openhands/app is a symbolic link" in result.stderr
    assert "internal error" not in result.stderr
    assert git(work, "rev-parse", "--verify", "--quiet", "refs/heads/fix", check=False).stdout == ""

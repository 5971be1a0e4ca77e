"""The trees `run --branch` and `batch` write themselves must be the ones git would write.

`codemods.vcs.git.tree_objects` replaced `update-index` plus `write-tree`. It is checked here
against git itself: the same entries give the same root id as `git write-tree`, and the trees
it reports as new, added to the base's, are all `git ls-tree -r` needs to list every entry.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
from pathlib import Path

import git as gitpython
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from codemods.vcs.git import tree_objects, write_pack
from codemods.vcs.gitindex import INDEX_CONFIG, read_index
from tests.helpers import ROOT, example_repo, git, git_init, run_codemods

MODES = [0o100644, 0o100755, 0o120000, 0o160000]
# Names whose order trips a naive sort: "a.b" < "a" (a directory) < "a0" in git's tree order.
NAMES = ["a", "a.b", "a-b", "a0", "b", "Z", "é", "x y", ".hidden", "a.b.c"]

Entries = dict[str, tuple[int, bytes]]


def _blob_id(n: int) -> bytes:
    return n.to_bytes(20, "big")


paths = st.lists(st.sampled_from(NAMES), min_size=1, max_size=4).map("/".join)


@st.composite
def entry_sets(draw: st.DrawFn) -> Entries:
    chosen = draw(st.lists(paths, min_size=1, max_size=25, unique=True))
    entries: Entries = {}
    for i, path in enumerate(sorted(chosen)):
        # A path cannot be a file and a directory at once: drop any that collides.
        if any(path.startswith(other + "/") or other.startswith(path + "/") for other in entries):
            continue
        entries[path] = (draw(st.sampled_from(MODES)), _blob_id(i + 1))
    return entries


def _git_write_tree(repo: Path, entries: Entries) -> str:
    index = repo / ".git" / "scratch-index"
    index.unlink(missing_ok=True)
    env = {**os.environ, "GIT_INDEX_FILE": str(index)}
    info = "".join(f"{mode:o} {sha.hex()}\t{path}\n" for path, (mode, sha) in entries.items())
    subprocess.run(
        ["git", "update-index", "--add", "--index-info"], cwd=repo, input=info, text=True, env=env, check=True
    )
    return subprocess.run(
        ["git", "write-tree", "--missing-ok"], cwd=repo, env=env, capture_output=True, text=True, check=True
    ).stdout.strip()


def _ls_tree(repo: Path, tree: str) -> Entries:
    listing = subprocess.run(
        ["git", "-c", "core.quotePath=false", "ls-tree", "-r", "-z", tree], cwd=repo, capture_output=True, check=True
    ).stdout
    found: Entries = {}
    for record in filter(None, listing.split(b"\0")):
        meta, path = record.split(b"\t", 1)
        mode, _kind, sha = meta.split(b" ")
        found[path.decode("utf-8")] = (int(mode, 8), bytes.fromhex(sha.decode()))
    return found


@pytest.fixture(scope="module")
def scratch(tmp_path_factory: pytest.TempPathFactory) -> Path:
    repo = tmp_path_factory.mktemp("trees")
    subprocess.run(["git", "init", "-q", str(repo)], check=True)
    return repo


PROPERTY = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
QUICK = settings(PROPERTY, max_examples=30)  # the default run; the slow run tries 300


@QUICK
@given(base=entry_sets(), after=entry_sets(), data=st.data())
def test_the_root_is_git_s_and_the_new_trees_are_all_it_needs(
    scratch: Path, base: Entries, after: Entries, data: st.DataObject
) -> None:
    _check_against_git(scratch, base, after, data)


@pytest.mark.slow
@PROPERTY
@given(base=entry_sets(), after=entry_sets(), data=st.data())
def test_the_root_is_git_s_on_many_more_trees(
    scratch: Path, base: Entries, after: Entries, data: st.DataObject
) -> None:
    _check_against_git(scratch, base, after, data)


def _check_against_git(scratch: Path, base: Entries, after: Entries, data: st.DataObject) -> None:
    # The change: some of `after`'s entries replace or join base's, some of base's go.
    removed = data.draw(st.lists(st.sampled_from(sorted(base)), unique=True)) if base else []
    changed: Entries = {p: v for p, v in base.items() if p not in removed}
    for path, value in after.items():
        if not any(path.startswith(o + "/") or o.startswith(path + "/") for o in changed if o != path):
            changed[path] = value
    touched = {p for p in set(base) | set(changed) if base.get(p) != changed.get(p)}
    if not changed:
        return  # git cannot write an empty index's tree without entries to compare; nothing to check

    base_root = _git_write_tree(scratch, base)  # the base's trees are in the repository, as in a run
    root, new = tree_objects(changed, touched)

    assert root.hex() == _git_write_tree(scratch, changed)
    # Remove the trees git just wrote for `changed`, keeping the base's, then store ours.
    fresh = scratch.parent / (scratch.name + "-only-base")
    shutil.rmtree(fresh, ignore_errors=True)
    subprocess.run(["git", "init", "-q", str(fresh)], check=True)
    _git_write_tree(fresh, base)
    # Stored with the writer build_tree uses: one pack.
    write_pack(Path(gitpython.Repo(fresh).odb.root_path()) / "pack", [(b"tree", data_) for data_ in new])
    assert _ls_tree(fresh, root.hex()) == changed
    assert base_root  # the base was written (git prints its id)


def test_a_directory_left_empty_disappears() -> None:
    entries = {"keep.yaml": (0o100644, _blob_id(1))}
    root, new = tree_objects(entries, ["gone/only.yaml"])
    assert len(new) == 1  # the root only: "gone" has no entries left, so no tree
    assert new[0] == b"100644 keep.yaml\0" + _blob_id(1)
    assert root == hashlib.sha1(b"tree %d\0" % len(new[0]) + new[0]).digest()


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


def test_an_untouched_tree_an_old_git_wrote_is_stored_anew(tmp_path: Path, plain_branch_tree: str) -> None:
    # The base stores kubernetes/flux with a file of mode 100664 (old git). The index reads it
    # as 100644, so that directory's tree in the branch is a new object and must be written.
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
    assert git(work, "rev-parse", "fix^{tree}").stdout.strip() == plain_branch_tree


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


def test_the_index_reader_agrees_with_git(tmp_path: Path) -> None:
    work = example_repo(tmp_path)
    index = tmp_path / "index"
    env = {**os.environ, "GIT_INDEX_FILE": str(index)}
    subprocess.run(["git", *INDEX_CONFIG, "read-tree", "HEAD"], cwd=work, env=env, check=True)
    content = read_index(index)
    staged = git(work, "ls-files", "-s", "-z").stdout  # the user's index holds the same commit
    expected = {}
    for record in filter(None, staged.split("\0")):
        meta, path = record.split("\t", 1)
        mode, sha, _stage = meta.split()
        expected[path] = (int(mode, 8), bytes.fromhex(sha))
    assert content.entries == expected
    trees = {"": git(work, "rev-parse", "HEAD^{tree}").stdout.strip()}
    for line in git(work, "ls-tree", "-r", "-d", "HEAD").stdout.splitlines():
        meta, path = line.split("\t", 1)
        trees[path] = meta.split()[2]
    assert {k: v.hex() for k, v in content.trees.items()} == trees


def test_the_new_trees_are_one_pack_git_verifies(tmp_path: Path) -> None:
    work = example_repo(tmp_path)
    blob = git(work, "rev-parse", f"HEAD:{HELM}").stdout.strip()
    inner = b"100644 helmrelease.yaml\0" + bytes.fromhex(blob)
    outer = b"40000 app\0" + hashlib.sha1(b"tree %d\0%s" % (len(inner), inner)).digest()
    pack_dir = work / ".git" / "objects" / "pack"
    before = set(os.listdir(pack_dir)) if pack_dir.exists() else set()
    write_pack(pack_dir, [(b"tree", inner), (b"tree", outer), (b"tree", inner), (b"blob", b"new\n")])
    (idx,) = [pack_dir / n for n in set(os.listdir(pack_dir)) - before if n.endswith(".idx")]
    assert idx.with_suffix(".pack").is_file() and not [n for n in os.listdir(pack_dir) if n.startswith("tmp_")]
    listing = git(work, "verify-pack", "-v", str(idx)).stdout
    assert sum(" tree " in line or " blob " in line for line in listing.splitlines()) == 3  # the duplicate once
    assert git(work, "ls-tree", "-r", hashlib.sha1(b"tree %d\0%s" % (len(outer), outer)).hexdigest()).stdout == (
        f"100644 blob {blob}\tapp/helmrelease.yaml\n"
    )
    assert git(work, "cat-file", "-p", hashlib.sha1(b"blob 4\0new\n").hexdigest()).stdout == "new\n"
    subprocess.run(["git", "fsck", "--strict", "--no-dangling"], cwd=work, check=True, capture_output=True)
    subprocess.run(["git", "gc", "-q"], cwd=work, check=True, capture_output=True)  # git repacks it like its own


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

"""Thin GitPython helpers. The user's working tree, index and HEAD are never touched.

The base commit is checked out into a temporary directory through a temporary index file
(no `git worktree`, so an interrupted run leaves no metadata behind). The new tree is that
index with the change applied, by git (`update-index`, then `write-tree`), committed with
`commit-tree`, and published with one compare-and-swap `update-ref`: the only change to the
repository a run makes besides new objects. What git knows (its configuration, the
attributes of a file, the objects) is asked of git, never read here from its files: the
index is read with GitPython's reader, and only the temporary one, whose format we choose.
"""

from __future__ import annotations

import atexit
import contextlib
import hashlib
import os
import shutil
import stat
import struct
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import git
from git.exc import GitCommandError, InvalidGitRepositoryError, NoSuchPathError
from git.index import IndexFile

from codemods.changes import ChangeSet
from codemods.errors import InputError
from codemods.subproc import LimitExceeded, Limits, run
from codemods.vcs.bounded import Repo

ZERO = "0" * 40
FALLBACK_IDENTITY = {
    "GIT_AUTHOR_NAME": "codemods",
    "GIT_AUTHOR_EMAIL": "codemods@localhost",
    "GIT_COMMITTER_NAME": "codemods",
    "GIT_COMMITTER_EMAIL": "codemods@localhost",
}


def _fail(repo_path: str | os.PathLike[str], message: str) -> InputError:
    return InputError(os.fspath(repo_path), None, message)


def command_error(repo_path: str | os.PathLike[str], err: GitCommandError) -> InputError:
    stderr = (err.stderr or "").strip().removeprefix("stderr:").strip().strip("'")
    return _fail(repo_path, f"git {_subcommand(err.command)} failed: {stderr or err}")


def _subcommand(words: Sequence[str]) -> str:
    """The git command's name in argv: past "git" and its `-c name=value` options."""
    position = 1
    while position < len(words) and words[position].startswith("-"):
        position += 2 if words[position] == "-c" else 1
    return words[position] if position < len(words) else ""


def _literal_path(path: Path) -> Path:
    """A path GitPython will not rewrite. Its command layer runs expandvars/expanduser on the
    working directory whatever Repo(expand_vars=False) says, so a checkout named "repo $HOME"
    would be looked for elsewhere. Such a path is reached through a link of a plain name."""
    text = str(path.resolve())
    if "$" not in text and "~" not in text:
        # The real path, as git sees it (its cwd is resolved): `includeIf "gitdir:..."` in the
        # configuration is matched against it.
        return Path(text)
    links = Path(tempfile.mkdtemp(prefix="codemods-path-"))
    atexit.register(shutil.rmtree, links, True)
    link = links / "repo"
    link.symlink_to(text, target_is_directory=True)
    return link


def open_repository(path: Path) -> tuple[git.Repo, str]:
    """The repository holding path, and path's posix prefix inside it ("" at the top)."""
    try:
        literal = _literal_path(path)
        repo = Repo(literal, search_parent_directories=True, expand_vars=False)
    except (InvalidGitRepositoryError, NoSuchPathError, OSError):
        raise _fail(str(path), "not inside a git repository") from None
    if repo.bare or repo.working_tree_dir is None:
        raise _fail(str(path), "is a bare repository: --branch needs a checkout")
    with repo.config_reader("repository") as config:
        object_format = str(config.get_value("extensions", "objectformat", default="sha1")).lower()
    if object_format != "sha1":
        # GitPython reads SHA-1 repositories only; without this it reports an unborn branch.
        raise _fail(
            repo.working_tree_dir, f"uses the {object_format} object format: codemods writes SHA-1 repositories only"
        )
    top = Path(repo.working_tree_dir).resolve()
    prefix = literal.resolve().relative_to(top).as_posix()
    return repo, "" if prefix == "." else prefix


@dataclass(frozen=True)
class GitSettings:
    """The configuration git reads for a repository, as git itself lists it
    (`git config -z --list --show-origin --includes`): every file git reads, wherever this git
    keeps them (its system file, the per-user ones, the repository's, `config.worktree`,
    includes), then what the environment gives (`GIT_CONFIG_COUNT/KEY/VALUE`,
    `GIT_CONFIG_PARAMETERS`, shown as "command line:"). Nothing is parsed here but git's
    own listing, so the tool cannot read a configuration git does not."""

    # (origin, key, value) in git's order; a later entry wins. Keys as git prints them:
    # section and name in lower case, a subsection as written. None: a key without "=".
    entries: tuple[tuple[str, str, str | None], ...]

    def get(self, key: str) -> str | None:
        """The value git uses for key (given in lower case), None when it is not set."""
        found = None
        for _origin, name, value in self.entries:
            if name == key:
                found = "true" if value is None else value
        return found


def read_config(repo: git.Repo) -> GitSettings:
    """One `git config --list` in the repository's working tree (so that `config.worktree`
    and `includeIf` are those of the tree git would use there)."""
    listing = run_git(["config", "-z", "--list", "--show-origin", "--includes"], cwd=_git_cwd(repo))
    return GitSettings(_parse_config_listing(listing))


def _parse_config_listing(listing: bytes) -> tuple[tuple[str, str, str | None], ...]:
    """`origin NUL key LF value NUL` per entry; a key given without "=" has no LF nor value."""
    fields = listing.decode("utf-8", "surrogateescape").split("\0")
    entries: list[tuple[str, str, str | None]] = []
    for origin, pair in zip(fields[0:-1:2], fields[1::2], strict=True):
        key, newline, value = pair.partition("\n")
        entries.append((origin, key, value if newline else None))
    return tuple(entries)


def _git_cwd(repo: git.Repo) -> str:
    return os.fspath(repo.working_tree_dir or repo.git_dir)


def run_git(
    args: Sequence[str],
    *,
    cwd: str | os.PathLike[str],
    env: Mapping[str, str] | None = None,
    stdin: bytes | None = None,
) -> bytes:
    """One git process, bounded like every other (`codemods.subproc.run`): its stdout, or a
    GitCommandError with git's message, as GitPython raises them."""
    argv = ["git", *args]
    try:
        done = run(argv, Limits.git(), stdin=stdin, cwd=cwd, env={**os.environ, **(env or {})})
    except LimitExceeded as err:
        raise GitCommandError(argv, -9, str(err)) from None
    if done.returncode != 0:
        raise GitCommandError(argv, done.returncode, done.stderr.decode("utf-8", "replace"))
    return done.stdout


def validate_branch_name(repo: git.Repo, name: str) -> None:
    try:
        repo.git.check_ref_format("--branch", name)
    except GitCommandError as err:
        if "not a valid branch name" not in str(err.stderr):
            raise  # git could not run at all (a configuration it cannot read): its own message
        raise _fail(repo.working_tree_dir or "", f"{name!r} is not a valid branch name") from None


def resolve_base(repo: git.Repo, base: str | None) -> str:
    where = repo.working_tree_dir or ""
    if base is None:
        if not repo.head.is_valid():
            raise _fail(where, "the repository has no commits yet (unborn branch): nothing to base a branch on")
        if repo.head.is_detached:
            raise _fail(where, "HEAD is detached: check out a branch, or say which commit to build on with --base")
        return repo.head.commit.hexsha
    sha = ref_target(repo, base) if base.startswith(("refs/heads/", "refs/remotes/")) else None
    sha = sha or resolve_commit(repo, base)
    if sha is None:
        raise _fail(where, f"--base {base!r} does not name a commit")
    return sha


def resolve_commit(repo: git.Repo, rev: str) -> str | None:
    """A commit's sha, resolved in-process when GitPython can (most revs), else by git."""
    try:
        return repo.commit(rev).hexsha
    except (ValueError, IndexError, KeyError, git.BadName, git.BadObject):
        pass
    try:
        return repo.git.rev_parse("--verify", "--quiet", f"{rev}^{{commit}}")
    except GitCommandError:
        return None


def ref_target(repo: git.Repo, ref: str) -> str | None:
    """The commit a branch or remote-tracking ref (a full name) points at, or None.

    Read from the ref files (loose or packed) in-process, without an object lookup: such a
    ref names a commit, and a lookup would start a `cat-file` process per repository."""
    try:
        return git.SymbolicReference.dereference_recursive(repo, ref)
    except (ValueError, OSError):
        return None


def read_commit(repo: git.Repo, sha: str) -> git.Commit:
    """The commit a branch names, read with one object lookup: `repo.commit(sha)` asks git for
    the object's type first (a `cat-file --batch-check` process of its own)."""
    return git.Commit(repo, bytes.fromhex(sha))


def branch_tip(repo: git.Repo, name: str) -> str | None:
    return ref_target(repo, f"refs/heads/{name}")


def checked_out_in(repo: git.Repo, name: str) -> str | None:
    """The worktree that has the branch checked out, if any."""
    current = None
    for line in repo.git.worktree("list", "--porcelain").splitlines():
        if line.startswith("worktree "):
            current = line[len("worktree ") :]
        elif line == f"branch refs/heads/{name}":
            return current
    return None


def commits_not_in(repo: git.Repo, tip: str, base: str) -> list[git.Commit]:
    shas = repo.git.rev_list(tip, "--not", base).split()
    return [repo.commit(sha) for sha in shas]


# `git -c ...` for every command that writes the temporary index: a plain format (version 2,
# no split index, no sparse directories), whatever the user's configuration says
# (`index.version=4`, `feature.manyFiles`, `core.splitIndex`, `index.sparse`, a sparse
# checkout), so that GitPython's reader reads it, and the planning tree is the whole tree.
INDEX_CONFIG = (
    *("-c", "index.version=2"),
    *("-c", "feature.manyFiles=false"),
    *("-c", "core.splitIndex=false"),
    *("-c", "index.sparse=false"),
    *("-c", "core.sparseCheckout=false"),
    *("-c", "index.skipHash=false"),
)

# GIT_INDEX_VERSION in the environment beats `-c index.version`: it is set for those commands too.
INDEX_ENV = {"GIT_INDEX_VERSION": "2"}

# An index file's stage-0 entries: path -> (mode, binary object id).
IndexEntries = dict[str, tuple[int, bytes]]


def index_entries(repo: git.Repo, index: Path) -> IndexEntries:
    """The entries of an index file, read by GitPython's reader (`git.index.IndexFile`).

    GitPython decodes each path strictly as UTF-8 (and refuses a few names git allows on this
    system, such as `c:x`): an index holding such a name is listed by git itself instead
    (`ls-files -s -z`), its paths decoded with surrogateescape, as os.walk names them."""
    if not index.is_file():
        raise FileNotFoundError(str(index))
    try:
        read = IndexFile(repo, str(index)).entries
    except ValueError:  # UnicodeDecodeError among them
        return _listed_entries(repo, index)
    return {str(path): (entry.mode, entry.binsha) for (path, stage), entry in read.items() if stage == 0}


def _listed_entries(repo: git.Repo, index: Path) -> IndexEntries:
    env = {"GIT_DIR": os.fspath(repo.git_dir), "GIT_INDEX_FILE": os.path.abspath(index)}
    listing = run_git(["ls-files", "-s", "-z"], cwd=repo.git_dir, env=env)
    entries: IndexEntries = {}
    for record in filter(None, listing.split(b"\0")):
        meta, _tab, path = record.partition(b"\t")
        mode, sha, stage = meta.split(b" ")
        if stage == b"0":
            entries[path.decode("utf-8", "surrogateescape")] = (int(mode, 8), bytes.fromhex(sha.decode()))
    return entries


def checkout_tree(repo: git.Repo, commit: str, dest: Path, index: Path) -> None:
    """Write commit's tree to dest as a checkout would (filters, modes), without HEAD or the
    user's index. The temporary index is kept: build_tree starts from it. It is written in a
    plain format and in full, whatever the user's index and sparse-checkout settings."""
    dest.mkdir(parents=True, exist_ok=True)
    env = {"GIT_INDEX_FILE": str(index), "GIT_WORK_TREE": str(dest), **INDEX_ENV}
    repo.git.execute(["git", *INDEX_CONFIG, "read-tree", "-u", "--reset", commit], env=env)


# A planning tree kept between runs (`refresh_tree`): in this directory of a batch clone's git
# directory, which nothing of git's reads.
PLANNING_DIR = "codemods"


def refresh_tree(repo: git.Repo, commit: str, scratch: Path, config: GitSettings | None = None) -> tuple[Path, Path]:
    """checkout_tree for a planning tree kept from one run to the next (a batch clone's): git
    rewrites only the files that differ from the last run's, and nothing is deleted at the end
    of a run. Returns the tree and its index.

    What the last run left that its index does not track (a moved file's new place) is removed
    first. The tree is made afresh when the checkout settings changed (`checkout_settings`),
    when the attributes git gives the files changed (`checkout_attributes`: git does not
    re-filter the files an attribute change affects), when the last refresh was cut short, or
    when git refuses the update."""
    scratch = Path(os.path.abspath(scratch))  # git runs elsewhere: a relative path would move
    dest, index, stamp = scratch / "tree", scratch / "index", scratch / "settings"
    settings = checkout_settings(config or read_config(repo))
    kept_settings, _newline, kept_attributes = (_read_text(stamp) or "").partition("\n")
    previous = _previous_entries(repo, dest, index) if kept_settings == settings else None
    if previous is None:
        shutil.rmtree(scratch, ignore_errors=True)
    stamp.unlink(missing_ok=True)  # until this refresh is whole
    scratch.mkdir(parents=True, exist_ok=True)
    attributes = None
    try:
        checkout_tree(repo, commit, dest, index)
        attributes = checkout_attributes(repo, dest, index)
    except GitCommandError:
        if previous is None:
            raise
    if previous is not None and attributes != kept_attributes:
        # Something on disk was in git's way, or the attributes changed: start over.
        shutil.rmtree(scratch, ignore_errors=True)
        scratch.mkdir(parents=True)
        checkout_tree(repo, commit, dest, index)
        attributes = attributes or checkout_attributes(repo, dest, index)
    stamp.write_text(f"{settings}\n{attributes}", encoding="utf-8")
    return dest, index


# What the last run on a kept planning tree committed (`change_key`, then the commit), in a
# file of the planning directory.
_BUILT = "built"
# In every key: a codemods whose build_tree gives another tree for the same inputs changes it.
_BUILT_FORMAT = b"update-index, write-tree\0"


def change_key(scratch: Path, base: str, prefix: str, changes: ChangeSet) -> str:
    """A digest of everything the tree build_tree makes of a change depends on: the base
    commit, the change (each file's kind, path, destination and new text, under prefix), and
    the checkout settings and attributes the planning tree in scratch was made with (the
    stamp refresh_tree wrote: configuration, filters, eol rules, attributes)."""
    hasher = hashlib.sha256(_BUILT_FORMAT)
    hasher.update((_read_text(Path(scratch) / "settings") or "-").encode())
    hasher.update(f"\0{base}\0{prefix}\0".encode())
    for change in changes:
        hasher.update(repr((change.kind, change.path, change.to, change.new)).encode("utf-8", "surrogateescape"))
    return hasher.hexdigest()


def built_commit(scratch: Path, key: str) -> str | None:
    """The commit the last run made (or found up to date) for the change of this key."""
    remembered, _space, commit = (_read_text(Path(scratch) / _BUILT) or "").partition(" ")
    if remembered != key or not commit.strip():
        return None
    return commit.strip()


def remember_built(scratch: Path, key: str, commit: str) -> None:
    (Path(scratch) / _BUILT).write_text(f"{key} {commit}\n", encoding="utf-8")


def _previous_entries(repo: git.Repo, dest: Path, index: Path) -> IndexEntries | None:
    """What the last run's index tracks, with the tree swept of everything else; None when
    there is no such tree or it cannot be swept (it is then made afresh)."""
    if not dest.is_dir():
        return None
    try:
        previous = index_entries(repo, index)
        _sweep(dest, previous)
    except (OSError, ValueError, AssertionError, struct.error, GitCommandError):
        return None
    return previous


def _read_text(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return None


def checkout_settings(config: GitSettings) -> str:
    """A digest of the configuration and environment that decide how a checkout writes files:
    the `core` eol, symlink and mode settings, every filter driver and the LFS settings, each
    with where git found it (a file, an include, `config.worktree`, the environment's
    `GIT_CONFIG_*` as "command line:"), and the environment that filters read."""
    hasher = hashlib.sha256()
    for origin, key, value in config.entries:
        section, _dot, rest = key.partition(".")
        if section in _CHECKOUT_SECTIONS or (section == "core" and rest in _CHECKOUT_CORE_KEYS):
            hasher.update(repr((origin, key, value)).encode("utf-8", "surrogateescape"))
    for name in sorted(os.environ):
        if name in _CHECKOUT_ENVIRONMENT or name.startswith("GIT_LFS_"):
            hasher.update(repr((name, os.environ[name])).encode("utf-8", "surrogateescape"))
    return hasher.hexdigest()


# Environment variables that change what a checkout writes (with GIT_LFS_*, the LFS filter's).
_CHECKOUT_ENVIRONMENT = {"GIT_ATTR_NOSYSTEM", "GIT_ATTR_SOURCE", "GIT_CONFIG_NOSYSTEM", "GIT_CONFIG_GLOBAL", "HOME"}
_CHECKOUT_SECTIONS = {"filter", "lfs"}
_CHECKOUT_CORE_KEYS = {
    "autocrlf",
    "eol",
    "safecrlf",
    "symlinks",
    "filemode",
    "attributesfile",
    "checkroundtripencoding",
}
# The attributes that change the bytes a checkout writes.
_CHECKOUT_ATTRIBUTES = ("text", "eol", "crlf", "filter", "ident", "working-tree-encoding")


def checkout_attributes(repo: git.Repo, work_tree: Path, index: Path) -> str:
    """A digest of the checkout attributes git gives each file of the index, as `git
    check-attr` computes them: the `.gitattributes` files in the index, `info/attributes`, the
    per-user file (`core.attributesFile`), the system file wherever this git keeps it, and
    the environment that switches them (`GIT_ATTR_NOSYSTEM`)."""
    paths = [path for path, (mode, _sha) in index_entries(repo, index).items() if stat.S_ISREG(mode)]
    if not paths:
        return hashlib.sha256(b"").hexdigest()
    listing = run_git(
        ["check-attr", "--cached", "--stdin", "-z", *_CHECKOUT_ATTRIBUTES],
        cwd=work_tree,
        env={
            "GIT_DIR": os.fspath(repo.git_dir),
            "GIT_WORK_TREE": str(work_tree),
            "GIT_INDEX_FILE": os.path.abspath(index),
        },
        stdin=b"".join(path.encode("utf-8", "surrogateescape") + b"\0" for path in paths),
    )
    return hashlib.sha256(listing).hexdigest()


def _sweep(dest: Path, tracked: Mapping[str, tuple[int, bytes]]) -> None:
    """Remove what the index does not track: files, links, and the directories left empty."""
    directories = {path.rsplit("/", 1)[0] for path in tracked if "/" in path}
    for parent in list(directories):
        while "/" in parent:
            parent = parent.rsplit("/", 1)[0]
            directories.add(parent)
    for where, dirs, files in os.walk(dest, topdown=False):
        relative = os.path.relpath(where, dest).replace(os.sep, "/")
        lead = "" if relative == "." else f"{relative}/"
        for name in files + [d for d in dirs if os.path.islink(os.path.join(where, d))]:
            if lead + name not in tracked:
                os.unlink(os.path.join(where, name))
        if lead and relative not in directories and relative not in tracked:
            with contextlib.suppress(OSError):  # not empty: it still holds something tracked
                os.rmdir(where)


def build_tree(repo: git.Repo, changes: ChangeSet, prefix: str, work_tree: Path, index: Path) -> str:
    """The base's tree (the temporary index) with the applied change set, written by git: one
    `update-index` and one `write-tree`, as `git add -A` and `git write-tree` would on a
    checkout.

    Edited files are added from the work tree as `git add` takes them (their attributes'
    filters, eol rules, a file already committed with CRLF kept so); a moved file is the very
    same blob and mode at its new place (`--cacheinfo`; a move that also edits is then added
    over it); a deleted file, and a moved file's old place, are gone from the work tree and
    leave the index (`--remove`). `write-tree` writes only the trees the index's cache tree
    does not hold: those above a changed path."""
    lead = f"{prefix}/" if prefix else ""
    moves = {lead + c.path: lead + c.to for c in changes.of("move") if c.to}
    rewritten = [lead + c.to for c in changes.of("move") if c.rewritten and c.to]
    edited = [lead + c.path for c in changes.of("edit")] + sorted(rewritten)
    deleted = [lead + c.path for c in changes.of("delete")]
    for path in [*edited, *moves, *moves.values(), *deleted]:
        _refuse_beyond_a_link(work_tree, path)
    base = index_entries(repo, index) if moves else {}
    placed: list[str] = []
    for src, dst in moves.items():
        mode, blob = base[src]
        placed += ["--cacheinfo", f"{mode:o},{blob.hex()},{dst}"]
    # Inside the temporary work tree: relative paths find the right .gitattributes. -z: a
    # name that starts with a quote is a name, not a C-quoted string.
    env = {
        "GIT_DIR": os.fspath(repo.git_dir),
        "GIT_WORK_TREE": str(work_tree),
        "GIT_INDEX_FILE": os.path.abspath(index),
        **INDEX_ENV,
    }
    paths = [*edited, *moves, *deleted]
    run_git(
        [*INDEX_CONFIG, "update-index", "--add", "--remove", *placed, "-z", "--stdin"],
        cwd=work_tree,
        env=env,
        stdin=b"".join(path.encode("utf-8", "surrogateescape") + b"\0" for path in paths),
    )
    return run_git([*INDEX_CONFIG, "write-tree"], cwd=work_tree, env=env).decode().strip()


def _refuse_beyond_a_link(work_tree: Path, path: str) -> None:
    """git tracks a symbolic link to a directory as a link, not the files reached through it:
    a change there cannot be committed where it was planned."""
    parts = path.split("/")
    for depth in range(1, len(parts)):
        directory = "/".join(parts[:depth])
        if os.path.islink(work_tree / directory):
            raise InputError(
                path,
                None,
                f"cannot commit this change: {directory} is a symbolic link, and git tracks the link, "
                "not the files reached through it (point the Flux Kustomization at the real directory, "
                "or write the change with `codemods run`)",
            )


def is_shared(config: GitSettings) -> bool:
    """core.sharedRepository asks for group (or all) permissions on what git writes."""
    shared = (config.get("core.sharedrepository") or "false").lower()
    return shared not in ("false", "umask", "0", "no", "off")


def identity_env(config: GitSettings) -> dict[str, str]:
    """The user's git identity when configured as git reads it (`GIT_AUTHOR_NAME` and the
    like, `author.name`/`committer.name` and `user.name`, likewise for the email, and `EMAIL`);
    a neutral one otherwise (CI, bots), so commit-tree never fails for want of a name."""
    env: dict[str, str] = {}
    for role in ("AUTHOR", "COMMITTER"):
        for part in ("NAME", "EMAIL"):
            key = f"GIT_{role}_{part}"
            configured = config.get(f"{role.lower()}.{part.lower()}") or config.get(f"user.{part.lower()}")
            if part == "EMAIL":
                configured = configured or os.environ.get("EMAIL")
            if not os.environ.get(key) and not configured:
                env[key] = FALLBACK_IDENTITY[key]
    return env


def commit_tree(repo: git.Repo, tree: str, parent: str, message: str, config: GitSettings) -> str:
    # The message on stdin, from an unnamed file: nothing to name, nothing to delete.
    with tempfile.TemporaryFile() as handle:
        handle.write(message.encode("utf-8"))
        handle.seek(0)
        return repo.git.commit_tree(tree, "-p", parent, istream=handle, env=identity_env(config))


def update_branch(repo: git.Repo, name: str, new: str, old: str | None) -> None:
    """Compare-and-swap: fails if someone else moved the branch since we looked."""
    repo.git.update_ref("-m", "codemods: litellm-migration", f"refs/heads/{name}", new, old or ZERO)

"""Thin GitPython helpers. The user's working tree, index and HEAD are never touched.

The base commit is checked out into a temporary directory through a temporary index file
(no `git worktree`, so an interrupted run leaves no metadata behind). The new tree is that
index's entries with the change applied (blobs hashed by git, trees written here), committed
with `commit-tree`, and published with one compare-and-swap `update-ref`: the only change to
the repository a run makes besides new objects.
"""

from __future__ import annotations

import atexit
import contextlib
import hashlib
import io
import os
import shlex
import shutil
import struct
import tempfile
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import git
from git.config import GitConfigParser as Config
from git.exc import GitCommandError, InvalidGitRepositoryError, NoSuchPathError
from gitdb import OStream
from gitdb.pack import PackEntity

from codemods.changes import ChangeSet
from codemods.errors import InputError
from codemods.vcs.bounded import BoundedGit, Repo
from codemods.vcs.gitindex import INDEX_CONFIG, INDEX_ENV, read_index

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
    return _fail(repo_path, f"git {err.command[1] if len(err.command) > 1 else ''} failed: {stderr or err}")


def _literal_path(path: Path) -> Path:
    """A path GitPython will not rewrite. Its command layer runs expandvars/expanduser on the
    working directory whatever Repo(expand_vars=False) says, so a checkout named "repo $HOME"
    would be looked for elsewhere. Such a path is reached through a link of a plain name."""
    text = str(path.resolve())
    if "$" not in text and "~" not in text:
        # The real path, as git sees it (its cwd is resolved): `includeIf "gitdir:..."` in the
        # configuration is matched against it, by git and by read_config alike.
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


class GitConfig:
    """The configuration git itself reads for a repository, read in-process.

    GitPython's own config_reader() always reads /etc/gitconfig and ~/.gitconfig. git honours
    GIT_CONFIG_NOSYSTEM, GIT_CONFIG_SYSTEM and GIT_CONFIG_GLOBAL, reads no global file without
    HOME, and takes GIT_CONFIG_COUNT/KEY/VALUE and GIT_CONFIG_PARAMETERS (`git -c`) over every
    file. A reader that disagreed with git would take an identity git cannot see for
    configured, or miss a filter git applies to a checkout."""

    def __init__(self, repo: git.Repo) -> None:
        files: list[str] = []
        if os.environ.get("GIT_CONFIG_NOSYSTEM", "").lower() not in ("1", "true", "yes", "on"):
            files.append(os.environ.get("GIT_CONFIG_SYSTEM") or "/etc/gitconfig")
        if "GIT_CONFIG_GLOBAL" in os.environ:
            files.append(os.environ["GIT_CONFIG_GLOBAL"])
        else:
            xdg, home = _user_git_dir(), os.environ.get("HOME")
            files += [os.path.join(xdg, "config")] if xdg else []
            files += [os.path.join(home, ".gitconfig")] if home else []
        files.append(os.path.join(repo.common_dir, "config"))
        self.files = Config([path for path in files if path and os.path.isfile(path)], read_only=True, repo=repo)
        self.command_line = _command_line_config()

    def get_value(self, section: str, option: str, default: str = "") -> str:
        key = f"{section}.{option}".lower()
        given = [value for name, value in self.command_line if name.lower() == key]
        if given:
            return given[-1]
        return str(self.files.get_value(section, option, default=default))

    def checkout_items(self) -> list[tuple[str, str, str]]:
        """(section, option, value) of what decides how a checkout writes files: `core` and
        every filter driver (section names are case-insensitive, as in git)."""
        found: list[tuple[str, str, str]] = []
        for section in self.files.sections():
            lowered = section.lower()
            if lowered == "core" or lowered.startswith("filter"):
                found += [(lowered, key.lower(), str(value)) for key, value in self.files.items_all(section)]
        for name, value in self.command_line:
            section = name.split(".", 1)[0].lower()
            if section in ("core", "filter"):
                found.append(("command line", name, value))
        return found


def _user_git_dir() -> str | None:
    """git's per-user directory ($XDG_CONFIG_HOME/git, else $HOME/.config/git); none without HOME."""
    home = os.environ.get("HOME")
    base = os.environ.get("XDG_CONFIG_HOME") or (os.path.join(home, ".config") if home else None)
    return os.path.join(base, "git") if base else None


def _command_line_config() -> list[tuple[str, str]]:
    """GIT_CONFIG_COUNT/KEY/VALUE, then GIT_CONFIG_PARAMETERS (what `git -c` hands down)."""
    entries: list[tuple[str, str]] = []
    try:
        count = int(os.environ.get("GIT_CONFIG_COUNT", "0") or 0)
    except ValueError:
        count = 0
    for i in range(count):
        if f"GIT_CONFIG_KEY_{i}" in os.environ:
            entries.append((os.environ[f"GIT_CONFIG_KEY_{i}"], os.environ.get(f"GIT_CONFIG_VALUE_{i}", "")))
    try:
        words = shlex.split(os.environ.get("GIT_CONFIG_PARAMETERS", ""))
    except ValueError:
        words = []
    for word in words:
        name, equals, value = word.partition("=")
        entries.append((name, value if equals else "true"))
    return entries


def read_config(repo: git.Repo) -> GitConfig:
    return GitConfig(repo)


def validate_branch_name(repo: git.Repo, name: str) -> None:
    try:
        repo.git.check_ref_format("--branch", name)
    except GitCommandError:
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


def refresh_tree(repo: git.Repo, commit: str, scratch: Path, config: GitConfig | None = None) -> tuple[Path, Path]:
    """checkout_tree for a planning tree kept from one run to the next (a batch clone's): git
    rewrites only the files that differ from the last run's, and nothing is deleted at the end
    of a run. Returns the tree and its index.

    What the last run left that its index does not track (a moved file's new place) is removed
    first. The tree is made afresh when the checkout settings changed (filters, eol, attribute
    files), when the base changed a `.gitattributes` (git does not re-filter files an attribute
    change affects), when the last refresh was cut short, or when git refuses the update."""
    scratch = Path(os.path.abspath(scratch))  # git runs elsewhere: a relative path would move
    dest, index, stamp = scratch / "tree", scratch / "index", scratch / "settings"
    settings = _checkout_settings(repo, config or read_config(repo))
    previous = None
    if dest.is_dir() and _read_text(stamp) == settings:
        try:
            previous = read_index(index).entries
        except (OSError, ValueError, IndexError, struct.error, InputError):
            previous = None
    if previous is not None:
        try:
            _sweep(dest, previous)
        except OSError:
            previous = None
    if previous is None:
        shutil.rmtree(scratch, ignore_errors=True)
    stamp.unlink(missing_ok=True)  # until this refresh is whole
    scratch.mkdir(parents=True, exist_ok=True)
    redo = False
    try:
        checkout_tree(repo, commit, dest, index)
    except GitCommandError:
        if previous is None:
            raise
        redo = True  # something on disk is in git's way: start over
    if previous is not None and not redo:
        redo = _attributes(previous) != _attributes(read_index(index).entries)
    if redo:
        shutil.rmtree(scratch, ignore_errors=True)
        scratch.mkdir(parents=True)
        checkout_tree(repo, commit, dest, index)
    stamp.write_text(settings, encoding="utf-8")
    return dest, index


def _read_text(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return None


def _attributes(entries: Mapping[str, tuple[int, bytes]]) -> dict[str, tuple[int, bytes]]:
    return {path: entry for path, entry in entries.items() if path.rsplit("/", 1)[-1] == ".gitattributes"}


def _checkout_settings(repo: git.Repo, reader: GitConfig) -> str:
    """A digest of what decides how a checkout writes files besides the commit: the `core`
    eol and symlink settings, every filter driver (from files or the command line), the
    environment that filters and attributes read, and the attribute files outside the tree."""
    hasher = hashlib.sha256()
    for section, key, value in sorted(reader.checkout_items()):
        if section != "core" or key in _CHECKOUT_CORE_KEYS:
            hasher.update(repr((section, key, value)).encode())
    for name in sorted(os.environ):
        if name in _CHECKOUT_ENVIRONMENT or name.startswith("GIT_LFS_"):
            hasher.update(repr((name, os.environ[name])).encode())
    configured = reader.get_value("core", "attributesfile", default="")
    xdg = _user_git_dir()
    files = [Path(os.path.expanduser(configured))] if configured else []
    files += [Path(xdg) / "attributes"] if xdg and not configured else []
    files += [Path(repo.git_dir) / "info" / "attributes", Path("/etc/gitattributes")]
    for path in files:
        try:
            hasher.update(str(path).encode() + b"\0" + path.read_bytes() + b"\0")
        except OSError:
            hasher.update(str(path).encode() + b"\0-\0")
    return hasher.hexdigest()


# Environment variables that change what a checkout writes (with GIT_LFS_*, the LFS filter's).
_CHECKOUT_ENVIRONMENT = {"GIT_ATTR_NOSYSTEM", "GIT_ATTR_SOURCE", "GIT_CONFIG_NOSYSTEM", "GIT_CONFIG_GLOBAL", "HOME"}
_CHECKOUT_CORE_KEYS = {
    "autocrlf",
    "eol",
    "safecrlf",
    "symlinks",
    "filemode",
    "attributesfile",
    "checkroundtripencoding",
}


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


def build_tree(
    repo: git.Repo, changes: ChangeSet, prefix: str, work_tree: Path, index: Path, config: GitConfig | None = None
) -> str:
    """The base's tree (the temporary index) with the applied change set: edited files added
    from the work tree as `git add` would (their attributes' filters, eol rules, and a file
    already committed with CRLF kept so), moves as the very same blob.

    Only the blobs go through git (`update-index`). Trees are plain data, so they are written
    here, and only the ones that are new: those above a changed path, and any whose id the
    base did not store (a tree an old git wrote, which the index normalises). Across a fleet
    this saves a `write-tree` process per repository."""
    lead = f"{prefix}/" if prefix else ""
    moves = {lead + c.path: lead + c.to for c in changes.of("move") if c.to}
    rewritten = {lead + c.to for c in changes.of("move") if c.rewritten and c.to}
    edited = [lead + c.path for c in changes.of("edit")] + sorted(rewritten)
    deleted = [lead + c.path for c in changes.of("delete")]
    for path in [*edited, *moves, *moves.values(), *deleted]:
        _refuse_beyond_a_link(work_tree, path)
    if edited:
        # Inside the temporary work tree: relative paths find the right .gitattributes. -z: a
        # name that starts with a quote is a name, not a C-quoted string.
        adder = BoundedGit(str(work_tree))
        adder.update_environment(
            GIT_DIR=repo.git_dir, GIT_WORK_TREE=str(work_tree), GIT_INDEX_FILE=str(index), **INDEX_ENV
        )
        with tempfile.TemporaryFile() as paths:
            paths.write(b"".join(path.encode("utf-8", "surrogateescape") + b"\0" for path in edited))
            paths.seek(0)
            adder.execute(["git", *INDEX_CONFIG, "update-index", "--add", "-z", "--stdin"], istream=paths)
    content = read_index(index)
    tree = dict(content.entries)
    for src, dst in moves.items():
        mode, blob = tree.pop(src)
        # A rewritten move's content is what update-index added; its mode is the source's.
        tree[dst] = (mode, tree[dst][1]) if dst in rewritten else (mode, blob)
    for path in deleted:
        tree.pop(path, None)
    root, new_trees = tree_objects(tree, [*edited, *moves, *moves.values(), *deleted], content.trees)
    _store_trees(repo, new_trees, config or read_config(repo))
    return root.hex()


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


def is_shared(config: GitConfig) -> bool:
    """core.sharedRepository asks for group (or all) permissions on what git writes."""
    shared = str(config.get_value("core", "sharedrepository", default="false")).lower()
    return shared not in ("false", "umask", "0", "no", "off")


def _store_trees(repo: git.Repo, trees: list[bytes], config: GitConfig) -> None:
    if is_shared(config):
        # A shared repository's objects get group (or all) permissions; git knows how.
        with tempfile.TemporaryDirectory(prefix="codemods-trees-") as tmp:
            files = []
            for number, data in enumerate(trees):
                (Path(tmp) / str(number)).write_bytes(data)
                files.append(str(Path(tmp) / str(number)))
            with tempfile.TemporaryFile() as paths:
                paths.write(("\n".join(files) + "\n").encode())
                paths.seek(0)
                repo.git.hash_object("-w", "-t", "tree", "--no-filters", "--stdin-paths", istream=paths)
        return
    write_pack(Path(repo.odb.root_path()) / "pack", [(b"tree", data) for data in trees])


def write_pack(pack_dir: Path, objects: list[tuple[bytes, bytes]]) -> None:
    """Store objects (type, content) as one pack and its index, written by gitdb in-process
    and named and placed as git names and places its own: temporary `tmp_pack_*` files (which
    `git gc` clears if a run is killed), renamed pack first, index last, both read-only.

    One pack instead of a loose object each: a fresh clone has none of the fan-out directories
    loose objects go in, so each tree would cost a directory and a file. (GitPython's own
    odb.store would also start a `git hash-object` per object.)"""
    unique: dict[bytes, tuple[bytes, bytes]] = {}
    for kind, data in objects:
        unique.setdefault(hashlib.sha1(b"%s %d\0%s" % (kind, len(data), data)).digest(), (kind, data))
    if not unique:
        return
    streams = [OStream(sha, kind, len(data), io.BytesIO(data)) for sha, (kind, data) in unique.items()]
    pack_dir.mkdir(parents=True, exist_ok=True)
    pack_fd, pack_tmp = tempfile.mkstemp(prefix="tmp_pack_", dir=pack_dir)
    index_fd, index_tmp = tempfile.mkstemp(prefix="tmp_idx_", dir=pack_dir)
    try:
        with os.fdopen(pack_fd, "wb") as pack_file, os.fdopen(index_fd, "wb") as index_file:
            name, _index_sha = PackEntity.write_pack(streams, pack_file.write, index_file.write, len(streams))
        for tmp in (pack_tmp, index_tmp):
            os.chmod(tmp, 0o444)
        os.replace(pack_tmp, pack_dir / f"pack-{name.hex()}.pack")
        os.replace(index_tmp, pack_dir / f"pack-{name.hex()}.idx")
    finally:
        for tmp in (pack_tmp, index_tmp):
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)


def tree_objects(
    entries: Mapping[str, tuple[int, bytes]], touched: Iterable[str], stored: Mapping[str, bytes] | None = None
) -> tuple[bytes, list[bytes]]:
    """The root tree's id for these index entries (path: (mode, binary id)), and the contents
    of the trees that are new: the root, each directory above a touched path, and, when stored
    (directory: the id the repository holds, the index's cache tree) is given, each directory
    whose id is not the stored one. Every other tree is already in the repository.

    Within a tree, entries are in git's order: by name, a directory's name compared as if it
    ended in "/" (so the file `a.b` comes before the directory `a`). A directory left without
    entries disappears, as in git."""
    root: dict[str, Any] = {}
    for path, value in entries.items():
        *dirs, name = path.split("/")
        node = root
        for part in dirs:
            node = node.setdefault(part, {})
        node[name] = value
    dirty = {""}
    for path in touched:
        parts = path.split("/")
        dirty.update("/".join(parts[:i]) for i in range(1, len(parts)))
    new: list[bytes] = []

    def write(node: dict[str, Any], where: str) -> bytes | None:
        items: list[tuple[bytes, bytes]] = []
        for name, value in node.items():
            raw = name.encode("utf-8", "surrogateescape")
            if isinstance(value, dict):
                sha = write(value, f"{where}/{name}" if where else name)
                if sha is not None:
                    items.append((raw + b"/", b"40000 %s\0%s" % (raw, sha)))
            else:
                mode, blob = value
                items.append((raw, b"%o %s\0%s" % (mode, raw, blob)))
        if not items and where:
            return None
        data = b"".join(entry for _key, entry in sorted(items))
        sha = hashlib.sha1(b"tree %d\0%s" % (len(data), data)).digest()
        if where in dirty or (stored is not None and stored.get(where) != sha):
            new.append(data)
        return sha

    sha = write(root, "")
    assert sha is not None  # the root is written even when empty
    return sha, new


def identity_env(repo: git.Repo, config: GitConfig | None = None) -> dict[str, str]:
    """The user's git identity when configured (env or config, read in-process); a neutral
    one otherwise (CI, bots), so commit-tree never fails for want of a name."""
    reader = config or read_config(repo)
    configured = {
        "NAME": reader.get_value("user", "name", default="") or "",
        "EMAIL": reader.get_value("user", "email", default="") or "",
    }
    env: dict[str, str] = {}
    for role in ("AUTHOR", "COMMITTER"):
        for part in ("NAME", "EMAIL"):
            key = f"GIT_{role}_{part}"
            if not os.environ.get(key) and not configured[part]:
                env[key] = FALLBACK_IDENTITY[key]
    return env


def commit_tree(repo: git.Repo, tree: str, parent: str, message: str, config: GitConfig | None = None) -> str:
    # The message on stdin, from an unnamed file: nothing to name, nothing to delete.
    with tempfile.TemporaryFile() as handle:
        handle.write(message.encode("utf-8"))
        handle.seek(0)
        return repo.git.commit_tree(tree, "-p", parent, istream=handle, env=identity_env(repo, config))


def update_branch(repo: git.Repo, name: str, new: str, old: str | None) -> None:
    """Compare-and-swap: fails if someone else moved the branch since we looked."""
    repo.git.update_ref("-m", "codemods: litellm-migration", f"refs/heads/{name}", new, old or ZERO)

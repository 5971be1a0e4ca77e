"""Child processes that cannot outlive the run, nor take the machine down with it.

`codemods batch` runs unattended over repositories other people control: a kustomization can
make kustomize expand a few hundred bytes into gigabytes, and a forge or a git server can hang.
So every external process (kustomize or kubectl, git, anything else) is started here, bounded
three ways:

- **time**: past its limit the child's whole process group is killed;
- **memory**: an address-space cap (`RLIMIT_AS`) that the child and everything it starts
  inherit, and, where this module reads the child's output itself, a watch on its resident
  size, checked as the output is read;
- **output**: what is captured is capped; a child that writes more is killed.

Every child leads a process group of its own (so that one `killpg` reaches what it started),
and on Linux tells a small watchdog process its group before the program starts, which that
watchdog kills when the run ends, even by SIGKILL (the kernel then closes the watchdog's pipe). `shutdown()` kills every live group and
refuses new children; `guard()` calls it when the command ends for any reason (normal exit,
exception, SIGINT, SIGTERM, SIGHUP), from the signal handler itself, so that worker threads
waiting on a child are released at once and start nothing new.

GitPython's commands are bounded the same way by `codemods.vcs.bounded` (kept apart so that
`run`, which never needs git, does not import GitPython).
"""

from __future__ import annotations

import contextlib
import errno
import os
import selectors
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

MIB = 1024 * 1024
_PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096
_WATCH_EVERY = 0.2  # seconds between two looks at a child's resident size


def _env_number(name: str, default: float) -> float:
    """A limit from the environment (for a machine bigger or smaller than the defaults assume)."""
    raw = os.environ.get(name, "").strip()
    try:
        return float(raw) if raw else default
    except ValueError:
        return default


@dataclass(frozen=True)
class Limits:
    """What one child may take: wall-clock seconds, bytes of memory, bytes of captured output."""

    seconds: float
    memory: int  # resident bytes, watched while reading; the address-space cap is `address_space`
    output: int  # stdout and stderr together
    address_space: int  # RLIMIT_AS, inherited by everything the child starts (Go reserves ~1 GiB up front)
    input: int = 0  # what one build may read (checked before it starts); 0: not checked

    @staticmethod
    def build() -> Limits:
        """kustomize: a build of a whole monorepo takes tens of seconds and hundreds of MB; an
        alias bomb or a generator over a huge file takes minutes and gigabytes."""
        memory = int(_env_number("CODEMODS_BUILD_MEMORY_MB", 2048) * MIB)
        return Limits(
            seconds=_env_number("CODEMODS_BUILD_TIMEOUT", 120),
            memory=memory,
            output=int(_env_number("CODEMODS_BUILD_OUTPUT_MB", 256) * MIB),
            address_space=memory + 4096 * MIB,
            input=int(_env_number("CODEMODS_BUILD_INPUT_MB", 64) * MIB),
        )

    @staticmethod
    def git() -> Limits:
        """git: clones, fetches and pushes wait on a network; nothing else takes long."""
        memory = int(_env_number("CODEMODS_GIT_MEMORY_MB", 4096) * MIB)
        return Limits(
            seconds=_env_number("CODEMODS_GIT_TIMEOUT", 600),
            memory=memory,
            output=256 * MIB,
            address_space=memory + 4096 * MIB,
        )


def size(count: int) -> str:
    """Bytes as a person reads them: 256 MiB, 64 KiB."""
    for unit, scale in (("GiB", MIB * 1024), ("MiB", MIB), ("KiB", 1024)):
        if count >= scale:
            return f"{count / scale:.3g} {unit}"
    return f"{count} bytes"


class LimitExceeded(RuntimeError):
    """A child went past one of its limits and was killed with its process group."""

    def __init__(self, argv: Sequence[str], what: str, limit: str) -> None:
        self.argv = tuple(argv)
        self.what = what  # "time", "memory" or "output"
        self.limit = limit
        name = Path(argv[0]).name if argv else "a child process"
        messages = {
            "time": f"{name} did not finish within {limit}",
            "memory": f"{name} used more than {limit} of memory",
            "output": f"{name} wrote more than {limit} of output",
        }
        super().__init__(f"{messages[what]}: killed")


class Cancelled(RuntimeError):
    """The run is ending (a signal, an error elsewhere): no new child is started."""

    def __init__(self) -> None:
        super().__init__("cancelled: the run is ending, no new process is started")


@dataclass(frozen=True)
class Finished:
    returncode: int
    stdout: bytes
    stderr: bytes


# -- the registry of live children -------------------------------------------------------------

_lock = threading.Lock()
_live: dict[int, subprocess.Popen[bytes]] = {}  # pid (= its process group) -> a child started here
_closing = threading.Event()

# The watchdog: a small process of its own that every child, before its program starts (see
# _BOUNDED_SH), tells its process group, start time and deadline. When the run's end closes the pipe, whatever the
# cause (SIGKILL included: the kernel closes it), or when told "kill", it kills every group it
# was told of, so what a child started dies with it; a group past its deadline is killed then
# (the time limit of children whose Popen this module never sees: GitPython's). A group is
# spared only when its id now belongs to another process (the start time differs): the kernel
# never gives a process an id still in use as a group's, so such a group is gone already.
_WATCHDOG = r"""
import os, select, signal, time
def started(pid):
    try:
        with open("/proc/%d/stat" % pid, "rb") as f:
            s = f.read()
        return s[s.rfind(b")") + 2:].split()[19]
    except (OSError, IndexError):
        return None
def kill(pid, when):
    now = started(pid)
    if now is None or now == when:
        try:
            os.killpg(pid, signal.SIGKILL)
        except OSError:
            pass
def gone(pid):
    try:
        os.killpg(pid, 0)
        return False
    except ProcessLookupError:
        return True
    except OSError:
        return False
groups, rest = {}, b""
while True:
    due = [d for _, d in groups.values() if d is not None]
    wait = max(0.0, min(due) - time.monotonic()) if due else None
    if select.select([0], [], [], wait)[0]:
        data = os.read(0, 65536)
        if not data:
            break
        *lines, rest = (rest + data).split(b"\n")
        for words in (line.split() for line in lines):
            if words == [b"kill"]:
                for pid, (when, _) in groups.items():
                    kill(pid, when)
            elif len(words) == 3:
                groups[int(words[0])] = (words[1], None if words[2] == b"-" else float(words[2]))
    now = time.monotonic()
    for pid, (when, deadline) in list(groups.items()):
        if deadline is not None and deadline <= now:
            kill(pid, when)
            del groups[pid]
    if len(groups) > 4096:
        groups = {p: v for p, v in groups.items() if not gone(p)}
for pid, (when, _) in groups.items():
    kill(pid, when)
"""


class _Watchdog:
    def __init__(self) -> None:
        self._proc: subprocess.Popen[bytes] | None = None
        self._reachable = False

    def fd(self) -> int | None:
        """The pipe's write end, the watchdog started on first use; None where it cannot run."""
        if not sys.platform.startswith("linux"):
            return None  # it reads /proc; elsewhere the process groups and time limits remain
        with _lock:
            if self._proc is None:
                self._proc = subprocess.Popen(
                    [sys.executable, "-I", "-S", "-c", _WATCHDOG],
                    stdin=subprocess.PIPE,
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                    start_new_session=True,  # Ctrl-C at a terminal reaches the run, not its watchdog
                )
                assert self._proc.stdin is not None
                self._reachable = _reachable(self._proc.stdin.fileno())
            assert self._proc.stdin is not None
            return self._proc.stdin.fileno() if self._reachable else None

    def kill_all(self) -> None:
        """Every group it knows of is killed now; it keeps watching. Safe from a signal handler."""
        proc = self._proc
        if proc is not None and proc.stdin is not None:
            with contextlib.suppress(OSError, ValueError):
                os.write(proc.stdin.fileno(), b"kill\n")

    def stop(self) -> None:
        """End of the command: it kills what is left and exits; waited for, briefly."""
        with _lock:
            proc, self._proc = self._proc, None
        if proc is None:
            return
        assert proc.stdin is not None
        with contextlib.suppress(OSError):
            proc.stdin.close()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _reachable(fd: int) -> bool:
    """Can a child open the pipe by its /proc entry, as _BOUNDED_SH does? (A /proc mounted
    without it would stop every child from starting: then children are not reported.)"""
    try:
        os.close(os.open(f"/proc/{os.getpid()}/fd/{fd}", os.O_WRONLY | os.O_NONBLOCK))
    except OSError:
        return False
    return True


_watchdog = _Watchdog()


def _register(proc: subprocess.Popen[bytes]) -> None:
    with _lock:
        if _closing.is_set():  # shutdown() ran while this one was starting: it must not survive
            _kill_group(proc.pid)
        _live[proc.pid] = proc


def _unregister(proc: subprocess.Popen[bytes]) -> None:
    with _lock:
        _live.pop(proc.pid, None)


def _kill_group(pgid: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signal.SIGKILL)


def shutdown() -> None:
    """Kill every child's process group and start no new one. Safe from a signal handler."""
    _closing.set()
    for pid in list(_live):
        _kill_group(pid)
    _watchdog.kill_all()


def reopen() -> None:
    """Allow children again (a test, or a library caller, that ran a command after a shutdown)."""
    _closing.clear()


def is_closing() -> bool:
    return _closing.is_set()


def watchdog_fd() -> int | None:
    return _watchdog.fd()


@contextlib.contextmanager
def guard() -> Iterator[None]:
    """One command's lifetime: whatever ends it, no child outlives it.

    SIGTERM and SIGHUP end the command like Ctrl-C does (a KeyboardInterrupt in the main
    thread); all three kill the children first, from the handler, so that threads waiting on
    a child return now and the pool they run in can finish."""
    handlers: dict[signal.Signals, Any] = {}
    if threading.current_thread() is threading.main_thread():
        for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            with contextlib.suppress(ValueError, OSError):
                handlers[signum] = signal.signal(signum, _on_signal)
    reopen()
    try:
        yield
    finally:
        shutdown()
        _watchdog.stop()
        for restored, previous in handlers.items():
            with contextlib.suppress(ValueError, OSError):
                signal.signal(restored, previous)
        reopen()  # the command is over; a library caller in this process may start children again


def _on_signal(signum: int, frame: object) -> None:
    shutdown()
    raise KeyboardInterrupt(signal.Signals(signum).name)


# -- starting a child --------------------------------------------------------------------------


# Every child is started through /bin/sh, which sets the limits, tells the watchdog its group
# and only then execs the program. Python can then start it with vfork: a preexec_fn would make
# it fork the whole interpreter and run Python in the child, 6.3 ms per git here against about
# 1.5 ms (and more the bigger the run's heap). The shell finds the watchdog's pipe through the
# parent's /proc entry instead of inheriting it, so nothing the child starts holds the pipe
# open: when the run dies, the watchdog sees the pipe close. Should the run die before the
# shell has told the watchdog, opening that entry fails and the program is never started.
_BOUNDED_SH = r"""
ulimit -c 0
ulimit -v "$1" 2>/dev/null || [ "$2" = lenient ] || { echo "codemods: cannot cap memory at $1 KiB" >&2; exit 125; }
if [ -n "$3" ]; then
    read -r stat < /proc/$$/stat || exit 125
    tell() { echo "$1 ${22} $deadline"; }
    deadline=$4
    # shellcheck disable=SC2086  # split on purpose: field 22 of /proc/self/stat is the start time
    tell $stat > "/proc/$PPID/fd/$3" || exit 125
fi
shift 4
exec "$@"
"""
_SHELL = "/bin/sh"
_NOT_STARTED = 125  # the shell's own exit status: the limits could not be set, or the run is gone


def bounded_argv(
    argv: Sequence[str], address_space: int, seconds: float | None = None, path: str | None = None
) -> list[str]:
    """argv as started within the limits: through the shell above, with the address-space cap
    (RLIMIT_AS, inherited by whatever the child starts), no core dump, and its process group
    told to the watchdog, killed `seconds` from now (None: only at the run's end).

    The program is looked up on `path` here (default $PATH): FileNotFoundError, as Popen would
    raise it, rather than the shell's exit 127."""
    program = argv[0]
    if os.sep not in program:
        found = shutil.which(program, path=path)
        if found is None:
            raise FileNotFoundError(errno.ENOENT, f"No such file or directory: {program!r}", program)
        program = found
    report = watchdog_fd()
    deadline = "-" if seconds is None else f"{time.monotonic() + seconds:.3f}"
    kib = "unlimited" if address_space <= 0 else str(max(1, address_space // 1024))
    # The cap is required on Linux, where it is what bounds a child; elsewhere a system may refuse it.
    strict = "strict" if sys.platform.startswith("linux") else "lenient"
    told = "" if report is None else str(report)
    return [_SHELL, "-c", _BOUNDED_SH, "codemods", kib, strict, told, deadline, program, *argv[1:]]


def run(
    argv: Sequence[str],
    limits: Limits,
    *,
    stdin: bytes | None = None,
    cwd: str | os.PathLike[str] | None = None,
    env: Mapping[str, str] | None = None,
) -> Finished:
    """Run one child to its end within `limits`; raises LimitExceeded (the group is then killed),
    Cancelled (the run is ending) or OSError (it could not start)."""
    if _closing.is_set():
        raise Cancelled()
    proc = subprocess.Popen(
        bounded_argv(argv, limits.address_space, path=(env if env is not None else os.environ).get("PATH")),
        stdin=subprocess.PIPE if stdin is not None else subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        cwd=cwd,
        env=dict(env) if env is not None else None,
        process_group=0,
    )
    _register(proc)
    try:
        out, err = _communicate(proc, argv, limits, stdin)
        code = proc.wait()
        if _closing.is_set():  # killed by shutdown(): its answer is not one
            raise Cancelled()
        return Finished(code, out, err)
    finally:
        if proc.poll() is None:
            _kill_group(proc.pid)
            proc.wait()
        _unregister(proc)
        for stream in (proc.stdin, proc.stdout, proc.stderr):
            if stream is not None:
                stream.close()


def _communicate(
    proc: subprocess.Popen[bytes], argv: Sequence[str], limits: Limits, stdin: bytes | None
) -> tuple[bytes, bytes]:
    """Read both streams (and write stdin) until the child closes them, within the limits."""
    deadline = time.monotonic() + limits.seconds
    chunks: dict[int, list[bytes]] = {1: [], 2: []}
    total = 0
    pending = memoryview(stdin or b"")
    with selectors.DefaultSelector() as selector:
        assert proc.stdout is not None and proc.stderr is not None
        selector.register(proc.stdout, selectors.EVENT_READ, 1)
        selector.register(proc.stderr, selectors.EVENT_READ, 2)
        if proc.stdin is not None:
            if pending:
                # Non-blocking: a write larger than the pipe's free space would otherwise wait
                # for a child that is itself waiting for its full stdout to be read.
                os.set_blocking(proc.stdin.fileno(), False)
                selector.register(proc.stdin, selectors.EVENT_WRITE, 0)
            else:
                proc.stdin.close()
        next_watch = time.monotonic()
        while selector.get_map():
            now = time.monotonic()
            if now >= deadline:
                _kill_group(proc.pid)
                raise LimitExceeded(argv, "time", f"{limits.seconds:g} s")
            if now >= next_watch:
                next_watch = now + _WATCH_EVERY
                if _resident(proc.pid) > limits.memory:
                    _kill_group(proc.pid)
                    raise LimitExceeded(argv, "memory", size(limits.memory))
            if _closing.is_set():
                _kill_group(proc.pid)
                raise Cancelled()
            for key, _ in selector.select(timeout=min(_WATCH_EVERY, max(deadline - now, 0.0))):
                if key.data == 0:
                    pending = _write_some(proc, selector, pending)
                    continue
                data = os.read(key.fd, 1 << 16)
                if not data:
                    selector.unregister(key.fileobj)
                    continue
                total += len(data)
                if total > limits.output:
                    _kill_group(proc.pid)
                    raise LimitExceeded(argv, "output", size(limits.output))
                chunks[key.data].append(data)
    return b"".join(chunks[1]), b"".join(chunks[2])


def _write_some(proc: subprocess.Popen[bytes], selector: selectors.BaseSelector, pending: memoryview) -> memoryview:
    assert proc.stdin is not None
    try:
        written = os.write(proc.stdin.fileno(), pending[: 1 << 16])
    except BlockingIOError:
        written = 0  # the pipe filled up since select said otherwise: later
    except BrokenPipeError:
        written = len(pending)  # the child stopped reading: what it answers still counts
    pending = pending[written:]
    if not pending:
        selector.unregister(proc.stdin)
        proc.stdin.close()
    return pending


def _resident(pid: int) -> int:
    """Resident bytes of one process (Linux); 0 where /proc does not tell."""
    try:
        return int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * _PAGE
    except (OSError, IndexError, ValueError):
        return 0

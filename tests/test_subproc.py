"""Bounded child processes (issue 21): time, memory and output limits, process groups, and no
child (nor what it started) outliving the run, whatever ends it, SIGKILL included.

Every test here starts real processes. "Dead" means gone or a zombie: this machine's init may
leave orphans unreaped, and a zombie holds no memory and runs nothing."""

from __future__ import annotations

import os
import random
import shutil
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest

from codemods import subproc
from codemods.vcs.bounded import BoundedGit
from tests.helpers import ROOT, example_repo, run_codemods

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")

SMALL = subproc.Limits(seconds=5, memory=512 * subproc.MIB, output=subproc.MIB, address_space=4096 * subproc.MIB)


def alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat[stat.rfind(")") + 2] != "Z"


def wait_dead(pids: list[int], seconds: float = 3.0) -> list[int]:
    """The pids still alive after up to `seconds` (killing is asynchronous: the watchdog)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        left = [p for p in pids if alive(p)]
        if not left:
            return []
        time.sleep(0.05)
    return [p for p in pids if alive(p)]


def read_pids(directory: Path) -> list[int]:
    return [int(p.read_text().strip()) for p in directory.glob("*.pid") if p.read_text().strip()]


# A child that starts a grandchild in its own group (as git starts git-remote-https), records
# both pids, then waits: killing only the child would leave the grandchild running.
FAMILY = 'sleep 60 & echo $! > "$1/grandchild.pid"; echo $$ > "$1/child.pid"; wait'


def test_time_limit_kills_the_whole_group(tmp_path: Path) -> None:
    start = time.monotonic()
    limits = subproc.Limits(seconds=0.5, memory=SMALL.memory, output=SMALL.output, address_space=SMALL.address_space)
    with pytest.raises(subproc.LimitExceeded) as caught:
        subproc.run(["sh", "-c", FAMILY, "sh", str(tmp_path)], limits)
    assert caught.value.what == "time"
    assert "did not finish within 0.5 s" in str(caught.value)
    assert time.monotonic() - start < 3
    assert wait_dead(read_pids(tmp_path)) == []
    assert len(read_pids(tmp_path)) == 2


def test_output_cap_stops_a_child_that_writes_without_end() -> None:
    start = time.monotonic()
    with pytest.raises(subproc.LimitExceeded) as caught:
        subproc.run(["yes", "a line kustomize might print"], SMALL)
    assert caught.value.what == "output"
    assert "wrote more than 1 MiB of output" in str(caught.value)
    assert time.monotonic() - start < 3


def test_resident_memory_is_watched() -> None:
    grow = "b = bytearray(400 * 2**20); b[::4096] = b'x' * len(b[::4096]); import time; time.sleep(30)"
    limits = subproc.Limits(seconds=20, memory=100 * subproc.MIB, output=SMALL.output, address_space=2**33)
    start = time.monotonic()
    with pytest.raises(subproc.LimitExceeded) as caught:
        subproc.run([sys.executable, "-c", grow], limits)
    assert caught.value.what == "memory"
    assert time.monotonic() - start < 10


def test_the_address_space_cap_is_inherited_by_what_the_child_starts() -> None:
    limits = subproc.Limits(seconds=10, memory=2**34, output=SMALL.output, address_space=3 * 2**30)
    done = subproc.run(["sh", "-c", "cat /proc/self/limits"], limits)  # cat is the grandchild
    line = next(ln for ln in done.stdout.decode().splitlines() if ln.startswith("Max address space"))
    assert line.split()[3:5] == [str(3 * 2**30), str(3 * 2**30)]
    big = "bytearray(4 * 2**30)"
    assert subproc.run([sys.executable, "-c", big], limits).returncode != 0  # MemoryError, not 4 GiB


def test_stdin_and_output_round_trip_without_deadlock() -> None:
    data = os.urandom(3 * 2**20)  # larger than a pipe's buffer both ways
    limits = subproc.Limits(seconds=10, memory=SMALL.memory, output=8 * subproc.MIB, address_space=SMALL.address_space)
    done = subproc.run(["cat"], limits, stdin=data)
    assert (done.returncode, done.stdout, done.stderr) == (0, data, b"")


# A child that answers each KiB it reads with ten: its output fills the pipe long before it has
# read its input (as `git check-attr --stdin` does, six records for each path it reads).
AMPLIFIER = (
    "import sys\n"
    "while chunk := sys.stdin.buffer.read1(1024):\n"
    "    sys.stdout.buffer.write(chunk * 10)\n"
    "    sys.stdout.buffer.flush()\n"
)


def test_a_child_that_answers_more_than_it_reads_is_fed_without_deadlock() -> None:
    data = os.urandom(2**20)
    limits = subproc.Limits(seconds=20, memory=SMALL.memory, output=16 * subproc.MIB, address_space=SMALL.address_space)
    done: list[subproc.Finished] = []
    worker = threading.Thread(
        target=lambda: done.append(subproc.run([sys.executable, "-c", AMPLIFIER], limits, stdin=data))
    )
    worker.start()
    worker.join(30)
    if worker.is_alive():  # stuck writing to it: end it, so that the test fails instead of hanging
        subproc.shutdown()
        worker.join(5)
        subproc.reopen()
    assert done and done[0].returncode == 0 and len(done[0].stdout) == 10 * len(data)


def test_each_child_leads_its_own_process_group() -> None:
    done = subproc.run(["sh", "-c", "echo $$ $(ps -o pgid= -p $$)"], SMALL)
    pid, pgid = done.stdout.split()
    assert pid == pgid
    assert int(pgid) != os.getpgid(0)


def test_shutdown_releases_a_waiting_thread_and_refuses_new_children(tmp_path: Path) -> None:
    errors: list[BaseException] = []

    def wait_on_child() -> None:
        try:
            subproc.run(["sh", "-c", FAMILY, "sh", str(tmp_path)], SMALL)
        except BaseException as err:  # noqa: BLE001 (the test inspects it)
            errors.append(err)

    worker = threading.Thread(target=wait_on_child)
    worker.start()
    deadline = time.monotonic() + 5
    while len(read_pids(tmp_path)) < 2 and time.monotonic() < deadline:
        time.sleep(0.02)
    try:
        subproc.shutdown()
        worker.join(3)
        assert not worker.is_alive()
        assert [type(e) for e in errors] == [subproc.Cancelled]
        with pytest.raises(subproc.Cancelled):
            subproc.run(["true"], SMALL)
        assert wait_dead(read_pids(tmp_path)) == []
    finally:
        subproc.reopen()
    assert subproc.run(["true"], SMALL).returncode == 0


def test_git_through_gitpython_is_bounded_too(tmp_path: Path) -> None:
    out = BoundedGit(str(tmp_path)).execute(["sh", "-c", "echo $$ $(ps -o pgid= -p $$); cat /proc/self/limits"])
    first, *rest = str(out).splitlines()
    pid, pgid = first.split()
    assert pid == pgid
    line = next(ln for ln in rest if ln.startswith("Max address space"))
    assert line.split()[3] == str(subproc.Limits.git().address_space)


def test_no_child_holds_the_watchdogs_pipe_open() -> None:
    """The watchdog sees the run's end as its pipe closing: a child (or what it starts) holding
    a write end would keep it open, and every group alive, after a SIGKILL of the run."""
    with subproc.guard():
        report = subproc.watchdog_fd()
        assert report is not None
        pipe = os.fstat(report).st_ino
        done = subproc.run(["sh", "-c", "ls -l /proc/$$/fd"], SMALL)
    assert done.returncode == 0, done.stderr
    assert f"pipe:[{pipe}]" not in done.stdout.decode()


def test_a_child_whose_run_cannot_be_told_to_the_watchdog_never_starts(tmp_path: Path) -> None:
    """The shell that starts a child tells the watchdog first; should that fail (the run died
    before, and its pipe with it), the program is never started."""
    marker = tmp_path / "started"
    argv = subproc.bounded_argv(["sh", "-c", f"touch {marker}"], SMALL.address_space)
    unopened = str(max(int(argv[6] or 0), 2) + 1000)  # no such descriptor in this process
    done = subprocess.run([*argv[:6], unopened, *argv[7:]], capture_output=True, check=False)
    assert done.returncode == 125, done
    assert not marker.exists()


def test_a_failed_git_is_told_as_the_git_command_it_ran(tmp_path: Path) -> None:
    import git

    with pytest.raises(git.GitCommandError) as caught:
        BoundedGit(str(tmp_path)).execute(["git", "no-such-subcommand"])
    assert caught.value.command[:2] == ["git", "no-such-subcommand"]
    assert "ulimit" not in str(caught.value)
    assert "no-such-subcommand" in caught.value.stderr
    with pytest.raises(git.GitCommandNotFound):
        BoundedGit(str(tmp_path)).execute(["no-such-git-binary", "status"])


SCRIPT = """
import sys
from codemods import subproc
from codemods.vcs.bounded import BoundedGit
with subproc.guard():
    if sys.argv[2] == "git":
        BoundedGit(sys.argv[1]).execute(["sh", "-c", {family!r}, "sh", sys.argv[1]])
    else:
        subproc.run(["sh", "-c", {family!r}, "sh", sys.argv[1]], subproc.Limits.build())
"""


@pytest.mark.parametrize("how", ["ours", "git"])
@pytest.mark.parametrize("signum", [signal.SIGKILL, signal.SIGTERM, signal.SIGINT])
def test_no_child_outlives_the_run(tmp_path: Path, how: str, signum: int) -> None:
    """SIGKILL leaves the run no chance to act: the watchdog, told of the child's group before
    its program started, kills the group, grandchild included, when the run's pipe closes."""
    script = tmp_path / "script.py"
    script.write_text(SCRIPT.format(family=FAMILY))
    run = subprocess.Popen(
        [sys.executable, str(script), str(tmp_path), how], env={**os.environ, "PYTHONPATH": str(ROOT)}
    )
    deadline = time.monotonic() + 10
    while len(read_pids(tmp_path)) < 2 and time.monotonic() < deadline:
        time.sleep(0.02)
    family = read_pids(tmp_path)
    assert len(family) == 2 and all(alive(p) for p in family)
    run.send_signal(signum)
    run.wait(10)
    assert wait_dead(family) == [], f"outlived the run: {[p for p in family if alive(p)]}"


def slow_kustomize(directory: Path) -> Path:
    """A kustomize that records its pid and a grandchild's, then builds slowly with kubectl."""
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        pytest.skip("no kubectl on PATH (pip install -e '.[test]')")
    script = directory / "kustomize"
    script.write_text(
        textwrap.dedent(f"""\
            #!/bin/sh
            pids={directory}/pids
            sleep 60 & echo $! > "$pids/$$.grandchild.pid"
            echo $$ > "$pids/$$.pid"
            sleep 0.$(( $$ % 7 ))
            exec {kubectl} kustomize "$2" "$3" "$4"
            """)
    )
    script.chmod(0o755)
    (directory / "pids").mkdir()
    return script


def _trial(repo: Path, kustomize: Path, pids: Path, signum: int, after: float) -> None:
    run = subprocess.Popen(
        [sys.executable, "-m", "codemods", "run", "--check", "--verify", "--kustomize", str(kustomize), str(repo)],
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    time.sleep(after)
    run.send_signal(signum)
    run.wait(20)
    left = wait_dead(read_pids(pids))
    assert left == [], f"{signal.Signals(signum).name} after {after:.2f} s: outlived the run: {left}"


TRIALS = int(os.environ.get("CODEMODS_KILL_TRIALS", "4"))


@pytest.mark.slow  # 6 s; test_no_child_outlives_the_run covers each signal in the default run
def test_killing_a_real_run_at_random_moments_leaves_no_child(tmp_path: Path) -> None:
    """The CLI with its build gate, killed at random moments by each signal that can end it."""
    repo = example_repo(tmp_path / "repo")
    kustomize = slow_kustomize(tmp_path)
    pick = random.Random(int(os.environ.get("CODEMODS_KILL_SEED", "21")))
    signals = [signal.SIGKILL, signal.SIGTERM, signal.SIGINT, signal.SIGHUP]
    for trial in range(TRIALS):
        _trial(repo, kustomize, tmp_path / "pids", signals[trial % len(signals)], pick.uniform(0.3, 2.5))
    assert read_pids(tmp_path / "pids"), "no build started in any trial: the kill came too early to test anything"


@pytest.mark.slow
def test_killing_a_real_run_many_times(tmp_path: Path) -> None:
    repo = example_repo(tmp_path / "repo")
    kustomize = slow_kustomize(tmp_path)
    pick = random.Random(2121)
    for _ in range(24):
        signum = pick.choice([signal.SIGKILL, signal.SIGTERM, signal.SIGINT, signal.SIGHUP])
        _trial(repo, kustomize, tmp_path / "pids", signum, pick.uniform(0.05, 3.0))


def test_a_build_stopped_at_a_limit_refuses_the_change(tmp_path: Path) -> None:
    """A build that went past a limit says nothing of what Flux builds: the gate cannot prove
    the change, so nothing is written and the refusal names the Flux Kustomization."""
    repo = example_repo(tmp_path / "repo")
    before = {p: p.read_bytes() for p in repo.rglob("*") if p.is_file() and ".git" not in p.parts}
    done = run_codemods("run", "--verify", str(repo), env={"CODEMODS_BUILD_OUTPUT_MB": "0.001"})
    assert done.returncode == 2, done.stderr
    assert "refused by the build gate" in done.stderr
    assert "kustomize was stopped" in done.stderr and "wrote more than 1.02 KiB of output" in done.stderr
    assert {p: p.read_bytes() for p in repo.rglob("*") if p.is_file() and ".git" not in p.parts} == before


def test_a_git_past_its_time_limit_is_killed_with_its_group(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import git

    monkeypatch.setenv("CODEMODS_GIT_TIMEOUT", "0.5")
    start = time.monotonic()
    with subproc.guard(), pytest.raises(git.GitCommandError) as caught:
        BoundedGit(str(tmp_path)).execute(["sh", "-c", FAMILY, "sh", str(tmp_path)])
    assert "did not finish within 0.5 s" in str(caught.value)
    assert time.monotonic() - start < 5
    assert wait_dead(read_pids(tmp_path)) == []

"""Fault injection and hostile input, each tried many times; writes docs/reliability.md.

    python bench/reliability.py [--trials 40] [--write docs/reliability.md]

Every figure in docs/reliability.md comes from a run of this script. The tests run the same
scenarios with fewer trials (tests/test_hardening.py).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))
from generate import monorepo

from codemods.exitcodes import ExitCode

# Seconds: a hostile input the tool refuses or skips is said within QUICK_SECONDS on a small
# machine; the deepest nesting tried (50,000 levels) within DEEP_SECONDS.
QUICK_SECONDS = 10
DEEP_SECONDS = 20
ANYWHERE_EVERY = 4  # sigkill-run: one kill in this many lands anywhere in the run, the rest in the write phase
IMMUTABLE_SHARE = 0.3  # read-only: the share of trials with an immutable file; the rest mount the directory read-only

EXAMPLE = ROOT / "examples" / "openhands-cluster-template"
GIT_ENV = {
    "GIT_AUTHOR_NAME": "t",
    "GIT_AUTHOR_EMAIL": "t@example.invalid",
    "GIT_COMMITTER_NAME": "t",
    "GIT_COMMITTER_EMAIL": "t@example.invalid",
}


@dataclass
class Outcome:
    scenario: str
    fault: str
    trials: int = 0
    passed: int = 0
    seen: Counter = field(default_factory=Counter)  # what the fault did, e.g. "killed mid-write"
    failures: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return self.passed == self.trials and not self.failures


# -- helpers ------------------------------------------------------------------------------
def tree(root: Path) -> dict[str, bytes]:
    out = {}
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root)
        if rel.parts[0] != ".git" and path.is_file() and not path.is_symlink():
            out[rel.as_posix()] = path.read_bytes()
    return out


def codemods(
    *args: str, cwd: Path | None = None, env: dict[str, str] | None = None, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "codemods", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        timeout=timeout,
        check=False,
    )


def git(cwd: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["git", *args], cwd=cwd, capture_output=True, text=True, env={**os.environ, **GIT_ENV}, check=check
    )


def many_edits_repo(dest: Path) -> None:
    """60 broken apps: 60 values edits, 60 moves, 120 kustomization edits in one run."""
    monorepo(dest, apps=60, broken=60)


def old_or_new(now: dict[str, bytes], before: dict[str, bytes], after: dict[str, bytes]) -> list[str]:
    """Problems if any file is neither its old nor its new version, whole."""
    problems = []
    for path in sorted(set(now) | set(before) | set(after)):
        if path.endswith(".codemods.tmp"):
            continue
        current = now.get(path)
        if current is None:
            if path in before and path in after:
                problems.append(f"{path}: missing (it is in both versions)")
            continue
        if current not in (before.get(path), after.get(path)):
            problems.append(f"{path}: half-written (neither old nor new)")
    moved = [(s, d) for s in set(before) - set(after) for d in set(after) - set(before) if before[s] == after[d]]
    for src, dst in moved:
        if (src in now) == (dst in now):
            problems.append(f"{src} -> {dst}: {'both' if src in now else 'neither'} present")
    return problems


def kill_at_random(argv: list[str], delay: float, cwd: Path | None = None, trigger: Path | None = None) -> str:
    """SIGKILL after delay seconds; with trigger, delay counts from when that path appears
    (the first temporary file of the write phase), so kills land inside the writes."""
    proc = subprocess.Popen(
        argv, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env={**os.environ, **GIT_ENV}
    )
    if trigger is not None:
        deadline = time.monotonic() + 60
        while not trigger.exists() and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.0002)
    time.sleep(delay)
    if proc.poll() is None:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        return "killed"
    return "finished first"


def duration(argv: list[str], prepare: Callable[[], None], cwd: Path | None = None) -> float:
    prepare()
    start = time.perf_counter()
    subprocess.run(argv, cwd=cwd, capture_output=True, check=False, env={**os.environ, **GIT_ENV})
    return time.perf_counter() - start


# -- scenarios ---------------------------------------------------------------------------
def sigkill_run(trials: int, work: Path, rng: random.Random, window: float = 0.15) -> Outcome:
    """window: how long after the first temporary file appears a kill may come."""
    out = Outcome("SIGKILL during `codemods run`", "SIGKILL at a random moment of a run with 180 edits and 60 moves")
    pristine = work / "pristine"
    many_edits_repo(pristine)
    before = tree(pristine)
    expected = work / "expected"
    shutil.copytree(pristine, expected)
    codemods("run", str(expected))
    after = tree(expected)
    repo = work / "victim"

    def fresh() -> None:
        shutil.rmtree(repo, ignore_errors=True)
        shutil.copytree(pristine, repo)

    argv = [sys.executable, "-m", "codemods", "run", "-q", str(repo)]
    span = duration(argv, fresh)
    first_edit = min(p for p in before if p in after and before[p] != after[p])
    trigger = (repo / first_edit).with_name(f".{Path(first_edit).name}.codemods.tmp")
    for trial in range(trials):
        fresh()
        if trial % ANYWHERE_EVERY == ANYWHERE_EVERY - 1:  # a quarter of the kills anywhere in the run
            what = kill_at_random(argv, rng.uniform(0, span), cwd=work)
        else:  # the rest inside the write phase (about 0.1 s for this repository)
            what = kill_at_random(argv, rng.uniform(0, window), cwd=work, trigger=trigger)
        now = tree(repo)
        state = "untouched" if now == before else "complete" if now == after else "mixed old and new files"
        out.seen[f"{what}: {state}"] += 1
        problems = old_or_new(now, before, after)
        rerun = codemods("run", "-q", str(repo))
        final = tree(repo)
        if rerun.returncode != 0:
            problems.append(f"rerun exit {rerun.returncode}: {rerun.stderr.strip()[:200]}")
        if final != after:
            problems.append("rerun did not finish the job")
        if any(p.endswith(".codemods.tmp") for p in final):
            problems.append("temporary files left after the rerun")
        out.trials += 1
        out.passed += not problems
        out.failures += problems[:3]
    return out


def _branch_repo(path: Path) -> None:
    shutil.copytree(EXAMPLE, path)
    git(path, "init", "-q", "-b", "main")
    git(path, "add", "-A")
    git(path, "commit", "-qm", "init")


def sigkill_branch(trials: int, work: Path, rng: random.Random) -> Outcome:
    out = Outcome(
        "SIGKILL during `run --branch`",
        "SIGKILL at a random moment; then check locks, worktrees, the branch, and rerun",
    )
    expected = work / "expected"
    _branch_repo(expected)
    codemods("run", "--branch", "fix", str(expected))
    want_tree = git(expected, "rev-parse", "fix^{tree}").stdout
    repo = work / "victim"

    def fresh() -> None:
        shutil.rmtree(repo, ignore_errors=True)
        _branch_repo(repo)

    argv = [sys.executable, "-m", "codemods", "run", "-q", "--branch", "fix", str(repo)]
    span = duration(argv, fresh)
    for _ in range(trials):
        fresh()
        status_before = git(repo, "status", "--porcelain").stdout
        what = kill_at_random(argv, rng.uniform(0.3 * span, 1.1 * span))  # the git work is at the end
        time.sleep(0.05)  # a git child of the killed process finishes on its own
        problems = []
        locks = [p for p in (repo / ".git").rglob("*.lock")]
        if locks:
            problems.append(f"lock files left: {locks}")
        if len(git(repo, "worktree", "list", "--porcelain").stdout.strip().split("\n\n")) != 1:
            problems.append("stray worktree")
        tip = git(repo, "rev-parse", "--verify", "-q", "fix", check=False).stdout.strip()
        state = (
            "no branch yet"
            if not tip
            else "branch complete"
            if git(repo, "rev-parse", "fix^{tree}").stdout == want_tree
            else "branch differs"
        )
        if state == "branch differs":
            problems.append("half branch: tree differs")
        if git(repo, "status", "--porcelain").stdout != status_before:
            problems.append("checkout changed")
        out.seen[f"{what}: {state}"] += 1
        rerun = codemods("run", "--branch", "fix", str(repo))
        if rerun.returncode != 0 or git(repo, "rev-parse", "fix^{tree}").stdout != want_tree:
            problems.append(f"rerun failed: {rerun.stderr.strip()[:200]}")
        out.trials += 1
        out.passed += not problems
        out.failures += problems[:3]
    return out


def sigkill_batch(trials: int, work: Path, rng: random.Random) -> Outcome:
    out = Outcome(
        "SIGKILL during `codemods batch --push`", "SIGKILL at a random moment of a 3-repository batch; then rerun"
    )
    seed = work / "seed"
    _branch_repo(seed)
    expected = work / "expected"
    shutil.copytree(EXAMPLE, expected)
    codemods("run", str(expected))
    git(seed, "worktree", "add", "-q", "--detach", str(work / "wt"), "main")
    shutil.rmtree(work / "wt")
    git(seed, "worktree", "prune")
    remotes = [work / "remotes" / f"r{i}.git" for i in range(3)]
    workdir = work / "workdir"

    def fresh() -> None:
        shutil.rmtree(work / "remotes", ignore_errors=True)
        shutil.rmtree(workdir, ignore_errors=True)
        for remote in remotes:
            git(work, "clone", "-q", "--bare", str(seed), str(remote))

    urls = [f"file://{r}" for r in remotes]
    argv = [sys.executable, "-m", "codemods", "batch", *urls, "--workdir", str(workdir), "--push"]
    span = duration(argv, fresh)
    for _ in range(trials):
        fresh()
        what = kill_at_random(argv, rng.uniform(0.3 * span, 1.1 * span))  # the git work is at the end
        time.sleep(0.05)
        rerun = codemods("batch", *urls, "--workdir", str(workdir), "--push", "--report", str(work / "r.json"))
        problems = []
        statuses = (
            [r["status"] for r in json.loads((work / "r.json").read_text())["repos"]] if rerun.returncode == 0 else []
        )
        if rerun.returncode != 0:
            problems.append(f"rerun exit {rerun.returncode}: {rerun.stderr.strip()[-300:]}")
        for remote in remotes:
            check = work / "check"
            shutil.rmtree(check, ignore_errors=True)
            got = git(
                work, "clone", "-q", "--branch", "codemods/litellm-migration", str(remote), str(check), check=False
            )
            if got.returncode != 0 or tree(check) != tree(expected):
                problems.append(f"{remote.name}: pushed branch missing or wrong")
        out.seen[f"{what}; rerun: {', '.join(sorted(set(statuses)))}"] += 1
        out.trials += 1
        out.passed += not problems
        out.failures += problems[:3]
    return out


def _in_namespace(script: str) -> subprocess.CompletedProcess[str]:
    """Run a shell script in a private mount namespace: its mounts vanish with it."""
    return subprocess.run(["unshare", "-m", "sh", "-ec", script], capture_output=True, text=True, check=False)


def disk_full(trials: int, work: Path, rng: random.Random) -> Outcome:
    out = Outcome("Disk full", "a tmpfs with 0-64 KiB free under the repository (real ENOSPC)")
    pristine = work / "pristine"
    many_edits_repo(pristine)
    before = tree(pristine)
    expected = work / "expected"
    shutil.copytree(pristine, expected)
    codemods("run", str(expected))
    after = tree(expected)
    size_kib = sum(len(b) for b in before.values()) // 1024 * 3 + 2048
    for _ in range(trials):
        mnt = work / "mnt"
        shutil.rmtree(mnt, ignore_errors=True)
        mnt.mkdir()
        free_kib = rng.choice([0, 4, 8, 16, 32, 64, 4096])
        result_dir = work / "result"
        shutil.rmtree(result_dir, ignore_errors=True)
        script = f"""
mount -t tmpfs -o size={size_kib}k tmpfs {mnt}
cp -a {pristine} {mnt}/repo
avail=$(df -k --output=avail {mnt} | tail -1)
fill=$((avail - {free_kib}))
if [ $fill -gt 0 ]; then dd if=/dev/zero of={mnt}/filler bs=1k count=$fill 2>/dev/null || true; fi
set +e
{sys.executable} -m codemods run -q {mnt}/repo > {work}/out.txt 2> {work}/err.txt
echo $? > {work}/rc.txt
cp -a {mnt}/repo {result_dir}
"""
        done = _in_namespace(script)
        problems = []
        if done.returncode != 0:
            problems.append(f"namespace setup failed: {done.stderr.strip()[:200]}")
            out.trials += 1
            out.failures += problems
            continue
        rc = int((work / "rc.txt").read_text())
        err = (work / "err.txt").read_text()
        now = tree(result_dir)
        if rc == 0:
            state = "enough space: applied"
            if now != after:
                problems.append("exit 0 but the result is not the full change")
        else:
            state = "exit 2, nothing changed" if now == before else "partial state"
            if rc != ExitCode.FAILURE or "No space left" not in err:
                problems.append(f"exit {rc}, message: {err.strip()[:200]}")
            if now != before:
                problems.append("files changed although the run failed")
        if any(p.endswith(".codemods.tmp") for p in now):
            problems.append("temporary files left")
        out.seen[state] += 1
        out.trials += 1
        out.passed += not problems
        out.failures += problems[:3]
    return out


def read_only(trials: int, work: Path, rng: random.Random) -> Outcome:
    out = Outcome(
        "Read-only files",
        "a read-only bind mount over one directory the run must write (real EROFS), or an immutable file (chattr +i)",
    )
    pristine = work / "pristine"
    shutil.copytree(EXAMPLE, pristine)
    before = tree(pristine)
    expected = work / "expected"
    shutil.copytree(pristine, expected)
    codemods("run", str(expected))
    changed = sorted(p for p in before if tree(expected).get(p) != before[p])  # edited, or moved away
    targets = sorted({str(Path(p).parent) for p in changed})
    for _ in range(trials):
        repo = work / "repo"
        shutil.rmtree(repo, ignore_errors=True)
        shutil.copytree(pristine, repo)
        target = rng.choice(targets)
        immutable = rng.random() < IMMUTABLE_SHARE
        if immutable:
            victim = repo / rng.choice([p for p in changed if p.startswith(target + "/")])
            subprocess.run(["chattr", "+i", str(victim)], check=True)
            try:
                result = codemods("run", "-q", str(repo))
            finally:
                subprocess.run(["chattr", "-i", str(victim)], check=True)
            now = tree(repo)
            rc, err, kind = result.returncode, result.stderr, "immutable file"
        else:
            script = f"""
mount --bind {repo / target} {repo / target}
mount -o remount,bind,ro {repo / target}
set +e
{sys.executable} -m codemods run -q {repo} 2> {work}/err.txt
echo $? > {work}/rc.txt
"""
            done = _in_namespace(script)
            if done.returncode != 0:
                out.trials += 1
                out.failures.append(f"namespace setup failed: {done.stderr.strip()[:200]}")
                continue
            rc, err, kind = int((work / "rc.txt").read_text()), (work / "err.txt").read_text(), "read-only mount"
            now = tree(repo)
        problems = []
        if rc != ExitCode.FAILURE or "not writable" not in err and "Read-only" not in err:
            problems.append(f"{kind}: exit {rc}: {err.strip()[:200]}")
        if now != before:
            problems.append(f"{kind}: files changed although the run failed")
        out.seen[f"{kind}: exit {rc}, {'nothing changed' if now == before else 'CHANGED'}"] += 1
        out.trials += 1
        out.passed += not problems
        out.failures += problems[:3]
    return out


def hostile_inputs(trials: int, work: Path, rng: random.Random) -> list[Outcome]:
    """Each hostile shape tried `trials` times with random sizes and places."""
    outcomes = []

    def scenario(name: str, fault: str, body: Callable[[Path, random.Random], tuple[str, list[str]]]) -> None:
        out = Outcome(name, fault)
        for i in range(trials):
            case = work / f"{name.split()[0].lower()}-{i}"
            shutil.rmtree(case, ignore_errors=True)
            case.mkdir(parents=True)
            start = time.perf_counter()
            seen, problems = body(case, rng)
            out.seconds = max(out.seconds, time.perf_counter() - start)
            out.seen[seen] += 1
            out.trials += 1
            out.passed += not problems
            out.failures += problems[:3]
        outcomes.append(out)

    scenario(
        "Symlinks out of the repository",
        "file and directory links to a HelmRelease outside, and `resources: ../../..` entries",
        _symlinks,
    )
    scenario("Huge files", "a 5-60 MiB HelmRelease that mentions litellm-helm", _huge)
    scenario("Deep nesting", "a HelmRelease nested 1,000-50,000 levels deep", _deep)
    scenario("YAML bombs", "billion-laughs aliases (10-30 levels of 10) in HelmRelease values", _bomb)
    scenario("Non-UTF-8 and BOMs", "Latin-1 and UTF-16 HelmReleases, and a UTF-8 BOM", _encodings)
    scenario("Shell metacharacters", "repository paths and branch names with $(...), `...`, ; | & and quotes", _shell)
    scenario("Token in a remote URL", "https://user:TOKEN@... given to batch; unreachable host", _token)
    return outcomes


OUTSIDE_RELEASE = "apiVersion: helm.toolkit.fluxcd.io/v2\nkind: HelmRelease\nmetadata:\n  name: x\nspec:\n  values:\n    litellm-helm:\n      migrationJob:\n        enabled: true\n"


def _symlinks(case: Path, rng: random.Random) -> tuple[str, list[str]]:
    outside = case / "outside"
    outside.mkdir()
    (outside / "helmrelease.yaml").write_text(OUTSIDE_RELEASE)
    repo = case / "repo"
    shutil.copytree(EXAMPLE, repo)
    app = repo / "kubernetes/apps/openhands/openhands/app"
    (app / "linked-release.yaml").symlink_to(outside / "helmrelease.yaml")
    (repo / "kubernetes/apps/linked-dir").symlink_to(outside, target_is_directory=True)
    kustomization = app / "kustomization.yaml"
    depth = "../" * rng.randint(3, 9)
    kustomization.write_text(kustomization.read_text() + f"  - {depth}outside/helmrelease.yaml\n  - {depth}etc\n")
    before_outside = tree(outside)
    result = codemods("run", str(repo))
    doctor = codemods("doctor", str(repo))
    problems = []
    if tree(outside) != before_outside:
        problems.append("a file outside the repository changed")
    if "symbolic link to outside the repository: not followed" not in result.stderr:
        problems.append("no warning about the link")
    if result.returncode != 0 or doctor.returncode not in (0, 1):
        problems.append(f"exit {result.returncode}/{doctor.returncode}: {result.stderr[-200:]}")
    return "links not followed, outside untouched, warned", problems


def _huge(case: Path, rng: random.Random) -> tuple[str, list[str]]:
    repo = case / "repo"
    repo.mkdir()
    mib = rng.randint(5, 60)
    filler = "    # " + "x" * 90 + "\n"
    (repo / "helmrelease.yaml").write_text(OUTSIDE_RELEASE + filler * (mib * 1024 * 1024 // len(filler)))
    start = time.perf_counter()
    result = codemods("run", "--check", str(repo))
    elapsed = time.perf_counter() - start
    problems = []
    if "too large for a manifest" not in result.stderr:
        problems.append("no warning for the huge file")
    if elapsed > QUICK_SECONDS:
        problems.append(f"took {elapsed:.1f} s")
    return f"skipped with a warning ({mib} MiB)", problems


def _deep(case: Path, rng: random.Random) -> tuple[str, list[str]]:
    repo = case / "repo"
    repo.mkdir()
    depth = rng.choice([1000, 5000, 20000, 50000])
    nested = "[" * depth + "]" * depth
    (repo / "helmrelease.yaml").write_text(OUTSIDE_RELEASE + f"    deep: {nested}\n")
    start = time.perf_counter()
    result = codemods("run", str(repo), timeout=60)
    elapsed = time.perf_counter() - start
    problems = []
    if result.returncode != ExitCode.FAILURE or "helmrelease.yaml" not in result.stderr:
        problems.append(f"exit {result.returncode}: {result.stderr[-200:]}")
    if elapsed > DEEP_SECONDS:
        problems.append(f"took {elapsed:.1f} s")
    return "refused: exit 2 naming the file", problems


def _bomb(case: Path, rng: random.Random) -> tuple[str, list[str]]:
    repo = case / "repo"
    repo.mkdir()
    levels = rng.randint(10, 30)
    lines = ["    l0: &l0 [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
    lines += [f"    l{i}: &l{i} [" + ", ".join([f"*l{i - 1}"] * 10) + "]" for i in range(1, levels)]
    text = OUTSIDE_RELEASE + "\n".join(lines) + "\n    fullnameOverride: x\n"
    (repo / "helmrelease.yaml").write_text(text)
    start = time.perf_counter()
    result = codemods("run", str(repo), timeout=60)
    doctor = codemods("doctor", str(repo), timeout=60)
    elapsed = time.perf_counter() - start
    problems = []
    # Refused at an alias of the bomb (issue 21): kustomize, or a walk over the values, would expand it.
    named = re.compile(r"helmrelease\.yaml:(\d+): YAML alias bomb")
    first_alias = OUTSIDE_RELEASE.count("\n") + 2  # the line of l1, the first that holds aliases
    for command, done in (("run", result), ("doctor", doctor)):
        match = named.search(done.stderr)
        at_alias = match is not None and first_alias <= int(match.group(1)) < first_alias + levels - 1
        if done.returncode != ExitCode.FAILURE or not at_alias:
            problems.append(f"{command} exit {done.returncode}: {done.stderr[-200:]}")
    if (repo / "helmrelease.yaml").read_text() != text:
        problems.append("the file changed although the run was refused")
    if elapsed > QUICK_SECONDS:
        problems.append(f"took {elapsed:.1f} s")
    return "refused at an alias: exit 2 naming file and line, nothing written", problems


def _encodings(case: Path, rng: random.Random) -> tuple[str, list[str]]:
    repo = case / "repo"
    repo.mkdir()
    latin = OUTSIDE_RELEASE.replace("name: x", "name: café").encode("latin-1")
    utf16 = OUTSIDE_RELEASE.encode("utf-16")
    bom = "\ufeff".encode() + OUTSIDE_RELEASE.encode()
    (repo / "latin1.yaml").write_bytes(latin)
    (repo / "utf16.yaml").write_bytes(utf16)
    (repo / "bom.yaml").write_bytes(bom)
    result = codemods("run", str(repo))
    problems = []
    if (repo / "latin1.yaml").read_bytes() != latin or (repo / "utf16.yaml").read_bytes() != utf16:
        problems.append("a non-UTF-8 file changed")
    if (repo / "bom.yaml").read_bytes() != bom.replace(b"enabled: true", b"enabled: false"):
        problems.append("the BOM file was not fixed byte-exactly")
    if "latin1.yaml:4: not valid UTF-8" not in result.stderr:
        problems.append(f"no warning naming the Latin-1 file: {result.stderr[-300:]}")
    return "non-UTF-8 preserved with a warning; BOM kept", problems


def _shell(case: Path, rng: random.Random) -> tuple[str, list[str]]:
    nasty = rng.choice(
        [
            "$(touch PWNED)",
            "`touch PWNED`",
            "a;touch PWNED",
            "a|touch PWNED",
            "a&&touch PWNED",
            'it\'s "quoted"',
            "$HOME\\x",
        ]
    )
    repo = case / f"repo {nasty}"
    _branch_repo(repo)
    branch = rng.choice(["fix-$(touch PWNED)", "fix-`touch PWNED`", "fix;touch-PWNED"])
    run = codemods("run", "--branch", branch, str(repo), cwd=case)
    bare = case / f"remote {nasty}.git"
    git(case, "clone", "-q", "--bare", str(repo), str(bare))
    batch = codemods("batch", str(bare), "--workdir", str(case / "work"), "--push", "--branch", "codemods/x", cwd=case)
    problems = []
    if list(case.rglob("PWNED")) or Path("PWNED").exists():
        problems.append("a shell ran")
    valid = git(case, "check-ref-format", "--branch", branch, check=False).returncode == 0
    if valid and run.returncode != 0:
        problems.append(f"valid branch name refused: {run.stderr[-200:]}")
    if not valid and run.returncode != ExitCode.FAILURE:
        problems.append("invalid branch name not refused with exit 2")
    if batch.returncode != 0:
        problems.append(f"batch on a path with metacharacters failed: {batch.stderr[-200:]}")
    return "no shell: names passed as arguments", problems


def _token(case: Path, rng: random.Random) -> tuple[str, list[str]]:
    token = "ghp_" + "".join(rng.choice("abcdef0123456789") for _ in range(36))
    url = f"https://x-access-token:{token}@127.0.0.1:9/acme/repo-{rng.randint(1, 999)}.git"
    report = case / "report.json"
    result = codemods(
        "batch", url, "--workdir", str(case / "work"), "--push", "--report", str(report), env={"GITHUB_TOKEN": token}
    )
    texts = [result.stdout, result.stderr, report.read_text() if report.exists() else ""]
    texts += [p.read_text(errors="replace") for p in (case / "work").rglob("*") if p.is_file()]
    problems = [] if all(token not in t for t in texts) else ["the token appeared"]
    if result.returncode != 1:
        problems.append(f"exit {result.returncode}")
    return "redacted in output, report and workdir", problems


def _probe(argv: list[str]) -> bool:
    try:
        return subprocess.run(argv, capture_output=True, check=False).returncode == 0
    except OSError:
        return False


def unavailable(name: str) -> str | None:
    """Why this machine cannot run a scenario (it needs root for mounts or chattr), else None."""
    if name not in ("disk-full", "read-only"):
        return None
    if os.geteuid() != 0:
        return f"{name} needs root: it mounts a tmpfs or a read-only bind mount in a private namespace"
    if shutil.which("unshare") is None:
        return f"{name} needs unshare (util-linux) for a private mount namespace"
    if not _probe(["unshare", "-m", "sh", "-c", "mount -t tmpfs tmpfs /mnt"]):
        return f"{name} needs mount namespaces (unshare -m), which this machine or container refuses"
    if name == "read-only":
        if shutil.which("chattr") is None:
            return "read-only needs chattr (e2fsprogs) for immutable files"
        with tempfile.NamedTemporaryFile(dir=tempfile.gettempdir()) as probe:
            if not _probe(["chattr", "+i", probe.name]):
                return f"read-only needs a filesystem that supports chattr +i ({tempfile.gettempdir()} does not)"
            _probe(["chattr", "-i", probe.name])
    return None


SCENARIOS: dict[str, Callable[[int, Path, random.Random], Outcome | list[Outcome]]] = {
    "sigkill-run": sigkill_run,
    "sigkill-branch": sigkill_branch,
    "sigkill-batch": sigkill_batch,
    "disk-full": disk_full,
    "read-only": read_only,
    "hostile": hostile_inputs,
}


def run(names: list[str], trials: int, seed: int) -> list[Outcome]:
    rng = random.Random(seed)
    outcomes: list[Outcome] = []
    for name in names:
        with tempfile.TemporaryDirectory(prefix=f"codemods-{name}-") as tmp:
            start = time.perf_counter()
            result = SCENARIOS[name](trials, Path(tmp), rng)
            for outcome in result if isinstance(result, list) else [result]:
                outcome.seconds = outcome.seconds or (time.perf_counter() - start) / max(outcome.trials, 1)
                outcomes.append(outcome)
    return outcomes


def markdown(outcomes: list[Outcome], trials: int, seed: int) -> str:
    lines = [
        "# Reliability",
        "",
        "What `codemods` does under faults and hostile input. Every figure below comes from",
        f"`python bench/reliability.py --trials {trials} --seed {seed} --write docs/reliability.md`;",
        "`tests/test_hardening.py` runs the same scenarios with fewer trials in CI.",
        "",
        "| scenario | fault or input | trials | passed | what happened (trials) | slowest trial |",
        "| --- | --- | --- | --- | --- | --- |",
    ]

    def cell(text: str) -> str:
        return text.replace("|", "\\|")

    for o in outcomes:
        seen = "; ".join(f"{what} ({n})" for what, n in sorted(o.seen.items()))
        lines.append(
            f"| {cell(o.scenario)} | {cell(o.fault)} | {o.trials} | {o.passed} | {cell(seen)} | {o.seconds:.2f} s |"
        )
    failures = [f"- {o.scenario}: {f}" for o in outcomes for f in o.failures]
    lines += ["", "## Failures", "", *(failures or ["None."]), ""]
    lines += [
        "## What is checked",
        "",
        "- **SIGKILL during `run`**: every file is its old or its new version, whole; a move is at",
        "  exactly one of its two paths; a rerun finishes the job and leaves no temporary file.",
        "- **SIGKILL during `run --branch`**: no lock file, no stray worktree, the branch is absent or",
        "  complete, the checkout unchanged; a rerun makes the expected branch.",
        "- **SIGKILL during `batch --push`**: a rerun pushes the expected branch to every remote.",
        "- **Disk full / read-only**: exit 2 with the system's reason, and not one byte changed.",
        "- **Hostile input**: nothing outside the repository is read or written, nothing is expanded",
        "  (an alias bomb or nesting too deep is refused at its line, exit 2, nothing written),",
        "  nothing is evaluated by a shell, no token is shown; time stays bounded.",
        "",
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--trials", type=int, default=40)
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--only", nargs="*", default=list(SCENARIOS), choices=list(SCENARIOS))
    parser.add_argument("--write", type=Path, help="write the Markdown report here")
    args = parser.parse_args()
    outcomes = run(args.only, args.trials, args.seed)
    text = markdown(outcomes, args.trials, args.seed)
    if args.write:
        args.write.write_text(text)
    print(text)
    raise SystemExit(0 if all(o.ok for o in outcomes) else 1)


if __name__ == "__main__":
    main()

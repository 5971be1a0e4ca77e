"""Benchmark: `codemods run --check` on a 3,000-app monorepo against the read-and-regex floor.

Runs each command as its own process (as a user would), in interleaved rounds (one run of each
per round, so that a burst of load on a shared machine hits all alike), and reports the best
wall time, the ratio to the floor measured in the same rounds, the peak RSS and the machine's
load. The monorepo has one Flux Kustomization that builds all of it (bench/generate.py), so the
build gate's cost on one fix is what decomposed builds make of a whole-repository build. Also
times a naive full ruamel parse of every file, the approach the pre-filter avoids. Usage:

    python bench/bench_check.py [--apps 3000] [--repeat 3] [--naive]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from generate import monorepo

HERE = Path(__file__).resolve().parent

NAIVE = """
import os, sys
from ruamel.yaml import YAML
y = YAML(typ="rt")
for dirpath, dirnames, filenames in os.walk(sys.argv[1]):
    for name in filenames:
        if name.endswith((".yaml", ".yml")):
            with open(os.path.join(dirpath, name)) as handle:
                list(y.compose_all(handle.read()))
"""


def timed(argv: list[str], expect: set[int]) -> tuple[float, int]:
    """(wall seconds, peak RSS in MiB) of one child process."""
    start = time.perf_counter()
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _pid, status, usage = os.wait4(proc.pid, 0)
    elapsed = time.perf_counter() - start
    code = os.waitstatus_to_exitcode(status)
    if code not in expect:
        raise SystemExit(f"{argv} exited {code}")
    return elapsed, usage.ru_maxrss // 1024


def semantic(argv: list[str]) -> dict:
    """The build gate's part of one --json report."""
    out = subprocess.run(argv, capture_output=True, text=True, check=False).stdout
    return json.loads(out)["semantic"]


def interleaved(contenders: dict[str, tuple[list[str], set[int]]], repeat: int) -> dict[str, tuple[float, int]]:
    """Best wall time and peak RSS of each contender over repeat rounds, one run of each per
    round: on a shared, noisy machine a burst of load then hits every contender alike."""
    runs: dict[str, list[tuple[float, int]]] = {name: [] for name in contenders}
    for _round in range(repeat):
        for name, (argv, expect) in contenders.items():
            runs[name].append(timed(argv, expect))
    return {name: (min(r[0] for r in found), max(r[1] for r in found)) for name, found in runs.items()}


def load() -> str:
    """The machine's load averages (1, 5, 15 minutes), as uptime shows them."""
    one, five, fifteen = os.getloadavg()
    return f"{one:.2f}, {five:.2f}, {fifteen:.2f} on {os.cpu_count()} cores"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--apps", type=int, default=3000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--naive", action="store_true", help="also time a full ruamel parse of every file (slow)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        clean, broken = Path(tmp) / "clean", Path(tmp) / "broken"
        files = monorepo(clean, args.apps)
        monorepo(broken, args.apps, broken=1)
        # The same fix, but the release also takes valuesFrom a ConfigMap declared nowhere: the
        # values model then looks for it across the whole repository (only files naming it).
        elsewhere = Path(tmp) / "elsewhere"
        monorepo(elsewhere, args.apps, broken=1)
        for release in elsewhere.rglob("helmrelease.yaml"):
            text = release.read_text()
            if "litellm-helm" in text:
                release.write_text(
                    text.replace(
                        "spec:\n", "spec:\n  valuesFrom:\n    - kind: ConfigMap\n      name: nowhere-values\n", 1
                    )
                )
        codemods = [sys.executable, "-m", "codemods", "run"]
        fix = [*codemods, "--dry-run", "-q", str(broken)]
        load_before = load()
        best = interleaved(
            {
                "floor": ([sys.executable, str(HERE / "floor.py"), str(clean)], {0}),
                "check_clean": ([*codemods, "--check", "-q", str(clean)], {0}),
                "check_broken": ([*codemods, "--check", "-q", str(broken)], {1}),
                "check_elsewhere": ([*codemods, "--check", "-q", str(elsewhere)], {1}),
                "doctor": ([sys.executable, "-m", "codemods", "doctor", str(broken)], {0, 1}),
                "noop_unverified": ([*codemods, "--check", "-q", "--no-verify", str(clean)], {0}),
                "unverified": ([*fix, "--no-verify"], {0}),
                "verified": ([*fix, "--verify"], {0}),
            },
            args.repeat,
        )
        load_after = load()
        noop_builds = semantic([*codemods, "--check", "--json", str(clean)])["builds"]
        gate = semantic([*codemods, "--dry-run", "--verify", "--json", str(broken)])
        floor = best["floor"][0]

        def line(label: str, name: str, goal: str) -> str:
            wall, peak = best[name]
            return f"{label:<38} {wall:7.3f} s  peak {peak:4d} MiB  ratio {wall / floor:6.2f}x{goal}"

        print(f"monorepo: {args.apps} apps, {files} YAML files, one Flux Kustomization building all of kubernetes/apps")
        print(f"best of {args.repeat} interleaved rounds; load average {load_before} before, {load_after} after")
        print(f"{'floor (read + regex every file)':<38} {floor:7.3f} s  peak {best['floor'][1]:4d} MiB")
        print(line("run --check, nothing to fix", "check_clean", " (goal <= 1.5x)"))
        print(line("run --check --no-verify, nothing", "noop_unverified", f" ({noop_builds} builds by default)"))
        print(line("run --dry-run --no-verify, one fix", "unverified", " (goal <= 3x)"))
        print(line("run --dry-run --verify, one fix", "verified", " (goal <= 10x)"))
        print(line("run --check, one fix (the gate runs)", "check_broken", " (goal <= 10x)"))
        print(line("  ...and a valuesFrom found nowhere", "check_elsewhere", " (context)"))
        print(line("doctor, whole repo", "doctor", " (context)"))
        decomposed = "; ".join(
            f"{d['kustomization']}: " + (d["whole"] or f"{len(d['built'])} parts built, {d['untouched']} not")
            for d in gate.get("decomposed", [])
        )
        print(
            f"the gate on one fix: {gate['builds']} builds, {gate['build_seconds']:.3f} s of build time in total, "
            f"{gate['status']}; {decomposed or 'nothing decomposed'}"
        )
        if args.naive:
            naive = interleaved({"naive": ([sys.executable, "-c", NAIVE, str(clean)], {0})}, 1)["naive"]
            print(
                f"{'naive full ruamel parse':<38} {naive[0]:7.3f} s  peak {naive[1]:4d} MiB  ratio {naive[0] / floor:6.1f}x"
            )


if __name__ == "__main__":
    main()

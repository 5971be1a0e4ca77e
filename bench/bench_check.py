"""Benchmark: `codemods run --check` on a 3,000-app monorepo against the read-and-regex floor.

Runs each command as its own process (as a user would), several times, and reports the best
wall time, the ratio to the floor and the peak RSS. Also times a naive full ruamel parse of
every file, the approach the pre-filter avoids. Usage:

    python bench/bench_check.py [--apps 3000] [--repeat 5] [--naive]
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


def best(argv: list[str], repeat: int, expect: set[int]) -> tuple[float, int]:
    runs = [timed(argv, expect) for _ in range(repeat)]
    return min(r[0] for r in runs), max(r[1] for r in runs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--apps", type=int, default=3000)
    parser.add_argument("--repeat", type=int, default=5)
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
        floor = best([sys.executable, str(HERE / "floor.py"), str(clean)], args.repeat, {0})
        check_clean = best([sys.executable, "-m", "codemods", "run", "--check", "-q", str(clean)], args.repeat, {0})
        check_broken = best([sys.executable, "-m", "codemods", "run", "--check", "-q", str(broken)], args.repeat, {1})
        check_elsewhere = best(
            [sys.executable, "-m", "codemods", "run", "--check", "-q", str(elsewhere)], args.repeat, {1}
        )
        doctor = best([sys.executable, "-m", "codemods", "doctor", str(broken)], args.repeat, {0, 1})
        # The build gate (issue 12): a no-op builds nothing; a fix costs its builds and no more.
        noop_unverified = best(
            [sys.executable, "-m", "codemods", "run", "--check", "-q", "--no-verify", str(clean)], args.repeat, {0}
        )
        noop_builds = semantic([sys.executable, "-m", "codemods", "run", "--check", "--json", str(clean)])["builds"]
        fix = [sys.executable, "-m", "codemods", "run", "--dry-run", "-q", str(broken)]
        verified = best([*fix, "--verify"], args.repeat, {0})
        unverified = best([*fix, "--no-verify"], args.repeat, {0})
        gate = semantic([*fix, "--verify", "--json"])
        print(f"monorepo: {args.apps} apps, {files} YAML files")
        print(f"floor (read + regex every file):   {floor[0]:.3f} s  peak {floor[1]} MiB")
        print(
            f"codemods run --check, nothing to fix: {check_clean[0]:.3f} s  peak {check_clean[1]} MiB  ratio {check_clean[0] / floor[0]:.2f}x (goal <= 1.5x)"
        )
        print(
            f"codemods run --check, one app to fix: {check_broken[0]:.3f} s  peak {check_broken[1]} MiB  ratio {check_broken[0] / floor[0]:.2f}x (goal <= 3x)"
        )
        print(
            f"  ...and a valuesFrom found nowhere:  {check_elsewhere[0]:.3f} s  peak {check_elsewhere[1]} MiB  ratio {check_elsewhere[0] / floor[0]:.2f}x (context; the one-fix goal is 3x)"
        )
        print(
            f"codemods doctor, whole repo:          {doctor[0]:.3f} s  peak {doctor[1]} MiB  ratio {doctor[0] / floor[0]:.2f}x"
        )
        print(
            f"build gate, no-op --check:           {noop_builds} builds; --no-verify {noop_unverified[0]:.3f} s "
            f"(ratio {noop_unverified[0] / floor[0]:.2f}x) vs default {check_clean[0]:.3f} s"
        )
        print(
            f"one fix, --dry-run --no-verify:       {unverified[0]:.3f} s  peak {unverified[1]} MiB  "
            f"ratio {unverified[0] / floor[0]:.2f}x (goal <= 3x)\n"
            f"one fix, --dry-run --verify:          {verified[0]:.3f} s  peak {verified[1]} MiB  "
            f"(+{verified[0] - unverified[0]:.3f} s; {gate['builds']} builds, {gate['build_seconds']:.3f} s of build time "
            f"in total, {gate['status']})"
        )
        if args.naive:
            naive = best([sys.executable, "-c", NAIVE, str(clean)], 1, {0})
            print(
                f"naive full ruamel parse:          {naive[0]:.3f} s  peak {naive[1]} MiB  ratio {naive[0] / floor[0]:.1f}x"
            )


if __name__ == "__main__":
    main()

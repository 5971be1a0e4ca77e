"""A long mixed run: 50 repositories on three forges, failures injected on the forges and on
git pushes. One rerun must reach exactly the state a clean run reaches."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from tests.batch_fixtures import (
    BRANCH,
    Hosting,
    Run,
    bare_dir,
    cli,  # noqa: F401 - fixture
    hosting,  # noqa: F401 - fixture
    seed,  # noqa: F401 - fixture
)
from tests.forge_server import FakeForge
from tests.helpers import git

Cli = Callable[..., Run]
KINDS = ("github", "gitlab", "gitea")


def fleet(hosting: Hosting) -> tuple[list[FakeForge], list[str]]:
    forges = [hosting.forge(kind) for kind in KINDS]
    urls = []
    for i in range(50):
        forge = forges[i % 3]
        group = "group/sub" if forge.kind == "gitlab" and i % 2 else "acme"
        urls.append(hosting.host(forge, f"{group}/app{i:02d}"))
    return forges, urls


def state(forges: list[FakeForge]) -> dict[str, object]:
    """What a reviewer sees: each branch's tree and base, each pull request's state and text."""
    seen: dict[str, object] = {}
    for forge in forges:
        for repo in forge.repos:
            project = repo["project"]
            git_dir = str(bare_dir(forge, project))
            tree = git(Path("/"), "--git-dir", git_dir, "rev-parse", f"{BRANCH}^{{tree}}", f"{BRANCH}^", "main")
            pulls = [
                (
                    p["state"],
                    p.get("base", {}).get("ref") or p.get("target_branch"),
                    p["title"],
                    p.get("body") or p.get("description"),
                )
                for p in forge.pulls.get(project, [])
            ]
            seen[f"{forge.kind}:{project}"] = (tree.stdout.split(), pulls)
    return seen


@pytest.mark.slow
def test_a_long_mixed_run_converges_to_a_clean_runs_state(cli: Cli, hosting: Hosting, tmp_path: Path) -> None:
    forges, urls = fleet(hosting)
    github, gitlab, gitea = forges
    github.failures[r"^POST .*/pulls$"] = (401, 3)  # the PR call fails after the push
    gitlab.failures[r"^GET .*/merge_requests$"] = (502, 2)  # transient: retried, recovers
    gitlab.failures[r"^POST .*/merge_requests$"] = (500, 5)  # a whole retry budget: fails
    gitea.failures[r"^POST .*/git-receive-pack$"] = (500, 2)  # the push itself fails
    gitea.failures[r"^POST .*/pulls$"] = (403, 2)
    hosts = [a for f in forges for a in ("--forge-host", f"{f.url.removeprefix('http://')}={f.kind}")]
    args = ("batch", "--workdir", str(tmp_path / "work"), *urls, "--open-pr", "--jobs", "4", *hosts)

    first = cli(*args)
    assert first.code == 1
    failed = [r for r in first.repos if r["status"] == "failed"]
    assert 5 <= len(failed) <= 10, [r["error"] for r in failed]
    rerun = cli(*args)
    assert rerun.code == 0, [r["error"] for r in rerun.repos if r["error"]]
    assert sorted(set(rerun.statuses)) == ["changed", "up-to-date"]

    clean_hosting = Hosting(tmp_path / "clean", hosting.seed)
    try:
        clean_forges, clean_urls = fleet(clean_hosting)
        clean_hosts = [a for f in clean_forges for a in ("--forge-host", f"{f.url.removeprefix('http://')}={f.kind}")]
        clean = cli(
            "batch", "--workdir", str(tmp_path / "clean-work"), *clean_urls, "--open-pr", "--jobs", "4", *clean_hosts
        )
        assert clean.code == 0 and set(clean.statuses) == {"changed"}
        assert state(forges) == state(clean_forges), "the same end state as a clean run"
        assert all(len(f.pulls[p["project"]]) == 1 for f in forges for p in f.repos), "one pull request each"
        third = cli(*args)
        assert set(third.statuses) == {"up-to-date"}, "and the next run changes nothing"
    finally:
        clean_hosting.close()

"""Discovery, and `batch status|merge|close`, against the GitHub, GitLab and Gitea stand-ins."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from tests.batch_fixtures import (
    BRANCH,
    Hosting,
    Run,
    cli,  # noqa: F401 - fixture
    hosting,  # noqa: F401 - fixture
    ref,
    seed,  # noqa: F401 - fixture
)
from tests.forge_server import FakeForge

Cli = Callable[..., Run]


def hosts(*forges: FakeForge) -> list[str]:
    return [arg for f in forges for arg in ("--forge-host", f"{f.url.removeprefix('http://')}={f.kind}")]


def rollout(hosting: Hosting, cli: Cli, tmp_path: Path) -> tuple[list[FakeForge], list[str]]:
    """One repository per forge with the rollout's pull request open (GitLab in a subgroup)."""
    forges = [hosting.forge("github"), hosting.forge("gitlab"), hosting.forge("gitea")]
    urls = [
        hosting.host(forges[0], "acme/app"),
        hosting.host(forges[1], "group/sub/app"),
        hosting.host(forges[2], "homelab/app"),
    ]
    run = cli("batch", "--workdir", str(tmp_path / "work"), *urls, "--open-pr", "--jobs", "2", *hosts(*forges))
    assert run.code == 0 and run.statuses == ["changed"] * 3, run.err
    return forges, urls


def test_status_reads_state_checks_mergeability_and_review(cli: Cli, hosting: Hosting, tmp_path: Path) -> None:
    (github, gitlab, gitea), urls = rollout(hosting, cli, tmp_path)
    github.pulls["acme/app"][0].update(checks="success", review="APPROVED")
    gitlab.pulls["group/sub/app"][0].update(checks="failure", mergeable=False)
    gitea.pulls["homelab/app"][0].update(checks="pending", title="WIP: " + gitea.pulls["homelab/app"][0]["title"])
    seen = [len(f.requests) for f in (github, gitlab, gitea)]

    status = cli("batch", "status", *urls, *hosts(github, gitlab, gitea), "--json")
    assert status.code == 1, "a pull request fails its checks"
    rows = {r["name"]: r for r in status.report["repos"]}
    assert (rows["acme/app"]["state"], rows["acme/app"]["checks"], rows["acme/app"]["review"]) == (
        "open",
        "success",
        "approved",
    )
    assert rows["acme/app"]["mergeable"] == "yes"
    assert (rows["sub/app"]["state"], rows["sub/app"]["checks"], rows["sub/app"]["mergeable"]) == (
        "open",
        "failure",
        "no",
    )
    assert (rows["homelab/app"]["state"], rows["homelab/app"]["checks"]) == ("draft", "pending")
    assert [r["api_calls"] for r in status.report["repos"]] == [1, 1, 2]
    assert status.out.startswith("{") and '"api_calls_per_repo": 2' in status.out
    assert "calls" in status.err and "http" not in status.err
    new = [r for f, n in zip((github, gitlab, gitea), seen, strict=True) for r in f.requests[n:]]
    assert new and all(r.method == "GET" or r.path == "/api/graphql" for r in new), "status only reads"

    gitlab.pulls["group/sub/app"][0]["checks"] = "success"
    assert cli("batch", "status", *urls, *hosts(github, gitlab, gitea)).code == 0


def test_status_over_100_repositories_makes_at_most_2_calls_each(cli: Cli, hosting: Hosting) -> None:
    forges = [hosting.forge("github"), hosting.forge("gitlab"), hosting.forge("gitea")]
    urls = []
    for i in range(100):
        forge = forges[i % 3]
        project = f"acme/app{i:03d}"
        forge.repos.append({"project": project})
        if forge.kind == "gitlab":
            forge.pulls[project] = [
                {
                    "iid": 1,
                    "web_url": f"https://gitlab.example/{project}/-/merge_requests/1",
                    "state": "opened",
                    "draft": False,
                    "checks": "success",
                    "approved": True,
                    "mergeable": True,
                    "source_branch": BRANCH,
                    "target_branch": "main",
                    "title": "t",
                }
            ]
        else:
            pr = forge._github_pr(project, {"title": "t", "body": "b", "head": BRANCH, "base": "main"})
            forge.pulls[project] = [{**pr, "checks": "success", "review": "APPROVED"}]
        urls.append(forge.clone_url(project))
    status = cli("batch", "status", *urls, *hosts(*forges), "--jobs", "4")
    assert status.code == 0, status.err
    calls = sum(len(f.requests) for f in forges)
    assert calls <= 200 and status.report["api_calls"] == calls
    assert status.report["api_calls_per_repo"] <= 2
    assert status.report["counts"] == {"open": 100}


def test_merge_takes_only_approved_green_pull_requests(cli: Cli, hosting: Hosting, tmp_path: Path) -> None:
    (github, gitlab, gitea), urls = rollout(hosting, cli, tmp_path)
    github.pulls["acme/app"][0].update(checks="success", review="APPROVED")
    gitlab.pulls["group/sub/app"][0].update(checks="success")  # not approved
    gitea.pulls["homelab/app"][0].update(checks="success", review="APPROVED")
    main_before = ref(gitlab, "group/sub/app", "main")

    merged = cli("batch", "merge", *urls, *hosts(github, gitlab, gitea), "--method", "squash")
    assert merged.code == 0, merged.err
    actions = [r["action"] for r in merged.report["repos"]]
    assert actions == ["merged (squash)", "skipped: review: none", "merged (squash)"]
    assert github.pulls["acme/app"][0]["merge_method"] == "squash" and gitea.pulls["homelab/app"][0]["merged"]
    assert ref(github, "acme/app", "main") == ref(github, "acme/app", BRANCH), "the change landed on main"
    assert ref(gitlab, "group/sub/app", "main") == main_before, "the unapproved one did not"

    # The rollout converges: merged repositories need nothing more.
    rerun = cli("batch", "--workdir", str(tmp_path / "work"), *urls, "--open-pr", *hosts(github, gitlab, gitea))
    assert rerun.statuses == ["unchanged", "up-to-date", "unchanged"]
    status = cli("batch", "status", *urls, *hosts(github, gitlab, gitea))
    assert [r["state"] for r in status.report["repos"]] == ["merged", "open", "merged"]


def test_close_closes_only_the_bots_pull_requests(cli: Cli, hosting: Hosting, tmp_path: Path) -> None:
    (github, gitlab, gitea), urls = rollout(hosting, cli, tmp_path)
    gitea.pulls["homelab/app"][0]["body"] = "I took this over."  # a person's now: no marker
    closed = cli("batch", "close", *urls, *hosts(github, gitlab, gitea), "--delete-branch")
    assert closed.code == 0, closed.err
    actions = [r["action"] for r in closed.report["repos"]]
    assert actions == ["closed with a comment, branch deleted"] * 2 + ["left open: not made by codemods"]
    assert github.pulls["acme/app"][0]["state"] == "closed" and gitlab.pulls["group/sub/app"][0]["state"] == "closed"
    assert gitea.pulls["homelab/app"][0]["state"] == "open"
    assert github.comments and gitlab.comments and not gitea.comments
    assert ref(github, "acme/app", BRANCH) is None and ref(gitlab, "group/sub/app", BRANCH) is None
    # Closed by the bot's own close command: the next rollout leaves it closed, as it leaves a
    # person's, but says who closed it (the marker records it), and that is no failure.
    rerun = cli("batch", "--workdir", str(tmp_path / "work"), *urls[:2], "--open-pr", *hosts(github, gitlab))
    assert rerun.code == 0, rerun.err
    assert rerun.statuses == ["closed-by-codemods", "closed-by-codemods"]
    assert all("closed by codemods (batch close): #1" in r["note"] for r in rerun.repos)
    assert rerun.report["counts"]["closed-by-codemods"] == 2
    assert "closed=codemods -->" in github.pulls["acme/app"][0]["body"]
    assert "closed=codemods -->" in gitlab.pulls["group/sub/app"][0]["description"]
    assert "--reopen" in github.comments[0][2], "the closing comment says how to ask again"
    # --reopen keeps its meaning: a new pull request for the change codemods withdrew.
    again = cli("batch", "--workdir", str(tmp_path / "work"), *urls[:1], "--open-pr", "--reopen", *hosts(github))
    assert again.statuses == ["changed"] and len(github.pulls["acme/app"]) == 2


def test_discovery_lists_filters_and_says_why(cli: Cli, hosting: Hosting, tmp_path: Path) -> None:
    github, gitlab, gitea = hosting.forge("github"), hosting.forge("gitlab"), hosting.forge("gitea")
    plain = tmp_path / "plain"
    plain.mkdir()
    (plain / "README.md").write_text("nothing about the chart here\n")
    hosting.host(github, "acme/app", topics=["gitops"])
    hosting.host(github, "acme/old", archived=True, topics=["gitops"])
    hosting.host(github, "acme/fork", fork=True, topics=["gitops"])
    hosting.host(github, "acme/docs", source=plain, topics=["gitops"])
    hosting.host(github, "acme/untagged")
    hosting.host(github, "other/app")
    hosting.host(gitlab, "platform/team/cluster", id=11)
    hosting.host(gitlab, "platform/web", source=plain, id=12)
    hosting.host(gitea, "homelab/cluster")
    run = cli(
        "batch",
        "--workdir",
        str(tmp_path / "work"),
        "--dry-run",
        "--github-org",
        f"{github.url}/acme",
        "--gitlab-group",
        f"{gitlab.url}/platform",
        "--topic",
        "gitops",
        "--code-search",
        "litellm-helm",
        *hosts(github, gitlab),
    )
    assert run.code == 0, run.err
    found = {d["project"]: d for d in run.report["discovered"]}
    assert set(found) == {
        "acme/app",
        "acme/old",
        "acme/fork",
        "acme/docs",
        "acme/untagged",
        "platform/team/cluster",
        "platform/web",
    }
    assert found["acme/app"]["included"] and "code search matched 'litellm-helm'" in found["acme/app"]["reason"]
    assert found["acme/old"]["reason"].startswith("archived")
    assert found["acme/fork"]["reason"].startswith("a fork")
    assert found["acme/docs"]["reason"] == "code search found no 'litellm-helm'"
    assert found["acme/untagged"]["reason"] == "no topic gitops"
    assert found["platform/web"]["reason"] == "no topic gitops"
    assert [r["name"] for r in run.repos] == ["acme/app"], "only what was included is cloned"
    assert run.repos[0]["discovery"]["source"] == "github-org acme"
    assert run.statuses == ["changed"]

    subgroups = cli(
        "batch",
        "--workdir",
        str(tmp_path / "work"),
        "--dry-run",
        "--gitlab-group",
        f"{gitlab.url}/platform",
        "--code-search",
        "litellm-helm",
        "--include-archived",
        "--include-forks",
        *hosts(gitlab),
    )
    assert [r["name"] for r in subgroups.repos] == ["team/cluster"], "subgroups included, search filters"
    assert subgroups.report["discovered"][0]["reason"].startswith("in gitlab-group platform")

    user = cli(
        "batch",
        "--workdir",
        str(tmp_path / "work"),
        "--dry-run",
        "--github-user",
        f"{github.url}/other",
        *hosts(github),
    )
    assert [d["project"] for d in user.report["discovered"]] == ["other/app"] and user.statuses == ["changed"]

    gitea_run = cli(
        "batch", "--workdir", str(tmp_path / "work"), "--dry-run", "--gitea-org", f"{gitea.url}/homelab", *hosts(gitea)
    )
    assert gitea_run.statuses == ["changed"]
    no_search = cli(
        "batch", "--workdir", str(tmp_path / "work"), "--gitea-org", f"{gitea.url}/homelab", "--code-search", "x"
    )
    assert no_search.code == 2 and "no code search" in no_search.err

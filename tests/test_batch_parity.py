"""Issue 22 §3: what multi-gitter users expect of `batch`, and better.

The real CLI in-process against forge stand-ins on 127.0.0.1 (real HTTP) that host real bare
git repositories over git's smart HTTP: forks, assignees and team reviewers, --base-branch,
discovery and the up-front checks on status|merge|close, --log-format json, full-width tables
and --format, closed-by-codemods, the pull request body's promise, and git tokens only on the
hosts the user named.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.batch_fixtures import (
    BRANCH,
    TOKENS,
    Hosting,
    Run,
    bare_dir,
    cli,  # noqa: F401 - fixture
    commit_to,
    hosting,  # noqa: F401 - fixture
    ref,
    seed,  # noqa: F401 - fixture
    touch_cluster,
)
from tests.forge_server import FakeForge
from tests.helpers import SNAPSHOTS, git

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "openhands-cluster-template"

Cli = Callable[..., Run]


def batch(cli: Cli, tmp_path: Path, *args: str, **kwargs: object) -> Run:
    return cli("batch", "--workdir", str(tmp_path / "work"), *args, **kwargs)


def host_flag(forge: FakeForge) -> tuple[str, str]:
    return ("--forge-host", f"{forge.url.removeprefix('http://')}={forge.kind}")


def events(stderr: str) -> list[dict]:
    """Every line of stderr, each a JSON object (json.loads fails on anything else)."""
    return [json.loads(line) for line in stderr.splitlines() if line.strip()]


# -- --fork ----------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["github", "gitea"])
def test_fork_opens_the_pull_request_from_a_fork_when_the_token_cannot_push(
    cli: Cli, hosting: Hosting, tmp_path: Path, kind: str
) -> None:
    forge = hosting.forge(kind)
    url = hosting.host(forge, "acme/app")
    forge.read_only.add("acme/app")  # the token reads acme/app but may not push to it

    refused = batch(cli, tmp_path, url, "--open-pr", *host_flag(forge))
    assert refused.statuses == ["failed"] and "403" in refused.repos[0]["error"], refused.repos

    run = batch(cli, tmp_path, url, "--open-pr", "--fork", *host_flag(forge))
    assert run.code == 0, run.err
    assert run.statuses == ["changed"]
    assert "forked acme/app to codemods-bot/app" in run.repos[0]["note"]
    assert len(forge.calls("POST", r"/repos/acme/app/forks$")) == 1, "the fork made through the API"
    assert forge.calls("GET", r"/user$"), "the fork's owner: the token's user"
    assert ref(forge, "codemods-bot/app", BRANCH) is not None, "the branch is on the fork"
    assert ref(forge, "acme/app", BRANCH) is None, "and not on the repository the token cannot push to"
    (pr,) = forge.pulls["acme/app"]
    assert pr["head"]["label"] == f"codemods-bot:{BRANCH}" and pr["base"]["ref"] == "main", "cross-repository"

    rerun = batch(cli, tmp_path, url, "--open-pr", "--fork", *host_flag(forge))
    assert rerun.code == 0 and rerun.statuses == ["up-to-date"], rerun.repos
    assert len(forge.calls("POST", r"/forks$")) == 1, "an existing fork is used, not made again"
    assert len(forge.pulls["acme/app"]) == 1

    status = cli("batch", "status", url, "--fork", *host_flag(forge))
    assert status.code == 0, status.err
    assert status.report["repos"][0]["state"] == "open" and status.report["repos"][0]["number"] == 1


def test_fork_owner_and_a_dry_run_that_makes_no_fork(cli: Cli, hosting: Hosting, tmp_path: Path) -> None:
    github = hosting.forge("github")
    url = hosting.host(github, "acme/app")
    dry = batch(cli, tmp_path, url, "--open-pr", "--dry-run", "--fork-owner", "acme-bots", *host_flag(github))
    assert dry.code == 0, dry.err
    assert dry.statuses == ["changed"] and "would fork acme/app to acme-bots" in dry.repos[0]["note"]
    assert not github.calls("POST"), "a dry run makes no fork"

    run = batch(cli, tmp_path, url, "--open-pr", "--fork-owner", "acme-bots", *host_flag(github))
    assert run.code == 0, run.err
    (fork,) = github.calls("POST", r"/forks$")
    assert fork.body == {"organization": "acme-bots"}, "multi-gitter's --fork-owner: the fork goes there"
    assert ref(github, "acme-bots/app", BRANCH) is not None
    assert github.pulls["acme/app"][0]["head"]["label"] == f"acme-bots:{BRANCH}"
    # A repository of that name that is not a fork of acme/app is never pushed to.
    hosting.host(github, "someone/app")
    other = batch(cli, tmp_path, url, "--open-pr", "--fork-owner", "someone", *host_flag(github))
    assert (
        other.statuses == ["failed"] and "someone/app exists and is not a fork of acme/app" in other.repos[0]["error"]
    )


def test_fork_on_gitlab_is_a_usage_error_that_says_why(cli: Cli, hosting: Hosting, tmp_path: Path) -> None:
    gitlab = hosting.forge("gitlab")
    url = hosting.host(gitlab, "group/app")
    run = batch(cli, tmp_path, url, "--open-pr", "--fork", *host_flag(gitlab))
    assert run.code == 2 and "--fork: not supported on GitLab yet" in run.err
    assert not (tmp_path / "work").exists(), "refused before any clone"


# -- --assignee, --team-reviewer, --base-branch ------------------------------------------------


def test_assignees_team_reviewers_and_a_base_branch(cli: Cli, hosting: Hosting, tmp_path: Path) -> None:
    github, gitea, gitlab = hosting.forge("github"), hosting.forge("gitea"), hosting.forge("gitlab")
    urls = [hosting.host(github, "acme/app"), hosting.host(gitea, "homelab/app"), hosting.host(gitlab, "group/app")]
    releases = {}
    for forge, project in ((github, "acme/app"), (gitea, "homelab/app"), (gitlab, "group/app")):
        # release/1 stays where main was; main moves on with a person's commit.
        git(Path("/"), "--git-dir", str(bare_dir(forge, project)), "branch", "release/1", "main")
        releases[project] = ref(forge, project, "release/1")
        commit_to(forge, project, "main", touch_cluster, "main moves on")
    flags = [*host_flag(github), *host_flag(gitea), "--reviewer", "bob", "--assignee", "alice"]
    run = batch(
        cli, tmp_path, *urls[:2], "--open-pr", "--base-branch", "release/1", "--team-reviewer", "acme/sre", *flags
    )
    assert run.code == 0, run.err
    gh, gt = github.pulls["acme/app"][0], gitea.pulls["homelab/app"][0]
    assert gh["assignees"] == ["alice"] and gh["requested_teams"] == ["sre"] and gh["requested_reviewers"] == ["bob"]
    assert gt["assignees"] == ["alice"] and gt["requested_teams"] == ["sre"]
    for forge, project, pr in ((github, "acme/app", gh), (gitea, "homelab/app", gt)):
        assert pr["base"]["ref"] == "release/1", "the pull request targets --base-branch"
        parent = git(Path("/"), "--git-dir", str(bare_dir(forge, project)), "rev-parse", f"{BRANCH}^").stdout.strip()
        assert parent == releases[project], "planned and committed on --base-branch, not on main"

    lab = batch(
        cli, tmp_path, urls[2], "--open-pr", "--base-branch", "release/1", "--assignee", "alice", *host_flag(gitlab)
    )
    assert lab.code == 0, lab.err
    (mr,) = gitlab.pulls["group/app"]
    assert mr["assignee_ids"] == [7] and mr["target_branch"] == "release/1"
    teams = batch(cli, tmp_path, urls[2], "--open-pr", "--team-reviewer", "sre", *host_flag(gitlab))
    assert teams.code == 2 and "GitLab has no team reviewers" in teams.err

    missing = batch(cli, tmp_path, urls[0], "--open-pr", "--base-branch", "release/9", *host_flag(github))
    assert missing.statuses == ["failed"] and "the repository has no branch 'release/9'" in missing.repos[0]["error"]


# -- discovery and the up-front checks on status|merge|close ------------------------------------


def test_status_merge_close_take_discovery_and_check_urls_and_tokens_first(
    cli: Cli, hosting: Hosting, tmp_path: Path
) -> None:
    github = hosting.forge("github")
    hosting.host(github, "acme/app", topics=["gitops"])
    hosting.host(github, "acme/lib", topics=["gitops"])
    hosting.host(github, "acme/old", archived=True, topics=["gitops"])
    find = ("--github-org", "acme", "--api-url", github.url, "--topic", "gitops")
    assert batch(cli, tmp_path, *find, "--open-pr").statuses == ["changed", "changed"]
    github.pulls["acme/app"][0].update(checks="success", review="APPROVED")

    status = cli("batch", "status", *find, "--max-wait", "30")
    assert status.code == 0, status.err
    assert [r["name"] for r in status.report["repos"]] == ["acme/app", "acme/lib"], "archived: left out"
    merged = cli("batch", "merge", *find)
    assert merged.report["repos"][0]["action"] == "merged (merge)", merged.report["repos"]
    closed = cli("batch", "close", *find, "--include-archived")
    assert [r["name"] for r in closed.report["repos"]] == ["acme/app", "acme/lib", "acme/old"]

    plain = cli("batch", "status", "--github-org", "acme", "--api-url", "http://ghe.invalid/api/v3")
    assert plain.code == 2 and "ghe.invalid is reached over plain http and is not a loopback host" in plain.err
    seen = len(github.requests)
    wrong = cli("batch", "status", "--github-org", "acme", "--api-url", github.url, tokens={"github": "ghp_wrong"})
    assert wrong.code == 2 and "GitHub token rejected: bad credentials" in wrong.err
    assert [r.path for r in github.requests[seen:]] == ["/user"], "one question, before anything else"


# -- --log-format json ------------------------------------------------------------------------


def test_log_format_json_is_one_object_per_event_on_stderr(cli: Cli, hosting: Hosting, tmp_path: Path) -> None:
    github = hosting.forge("github")
    good = hosting.host(github, "acme/app")
    bad = hosting.host(github, "acme/bad", source=SNAPSHOTS / "bad-yaml" / "before")
    github.rate_limit_at = (r"^GET /api/v3/user$", 0.5)  # a wait, reported as an event
    run = batch(cli, tmp_path, good, bad, "--open-pr", "--log-format", "json", *host_flag(github))
    log = events(run.err)  # every line parses: nothing else is on stderr
    kinds = [e["event"] for e in log]
    assert kinds.count("repo-started") == 2 and kinds.count("repo-finished") == 2 and kinds[-1] == "summary"
    assert "wait" in kinds and all({"time", "event", "level"} <= set(e) for e in log)
    finished = {e["name"]: e for e in log if e["event"] == "repo-finished"}
    assert finished["acme/app"]["status"] == "changed" and finished["acme/app"]["level"] == "info"
    assert finished["acme/app"]["pr_url"] == "https://github.example/acme/app/pull/1"
    assert finished["acme/bad"]["status"] == "failed" and finished["acme/bad"]["level"] == "error"
    assert finished["acme/bad"]["error"].startswith("kubernetes/apps/ai/openhands/app/helmrelease.yaml")
    statuses = {e["name"]: e["status"] for e in log if e["event"] == "repo-finished"}
    assert statuses == {r["name"]: r["status"] for r in run.repos}, "the events agree with the report"
    assert log[-1]["counts"] == run.report["counts"]
    assert TOKENS["github"] not in run.err

    status = cli("batch", "status", good, "--log-format", "json", *host_flag(github))
    (done,) = [e for e in events(status.err) if e["event"] == "repo-finished"]
    assert done["status"] == "open" and done["pr_url"].endswith("/pull/1")


# -- full width off a terminal, and --format ------------------------------------------------------


def test_tables_are_not_cut_off_a_terminal_and_format_picks_the_output(
    cli: Cli, hosting: Hosting, tmp_path: Path
) -> None:
    github = hosting.forge("github")
    long = "acme-platform-engineering/flux-cluster-with-a-long-name"
    url = hosting.host(github, long)
    run = batch(cli, tmp_path, url, "--open-pr", *host_flag(github), columns=None)
    assert run.code == 0, run.err
    assert long in run.err and "…" not in run.err, run.err
    status = cli("batch", "status", url, *host_flag(github), columns=None)
    table = status.err[status.err.index("codemods batch status") :]
    assert long in table and "…" not in table, table

    plain = cli("batch", "status", url, *host_flag(github), "--format", "plain")
    header, row = plain.out.splitlines()
    assert header.split("\t") == ["repo", "PR", "state", "checks", "merge", "review", "calls", "note"]
    assert row.split("\t")[:3] == [long, "https://github.example/" + long + "/pull/1", "open"]
    markdown = cli("batch", "status", url, *host_flag(github), "--format", "markdown")
    assert "| repo | PR | state |" in markdown.out and f"| {long} | [#1](https://github.example/{long}/pull/1) |" in (
        markdown.out
    )
    as_json = cli("batch", "status", url, *host_flag(github), "--format", "json")
    assert json.loads(as_json.out)["repos"][0]["name"] == long
    rerun = batch(cli, tmp_path, url, "--open-pr", *host_flag(github), "--format", "plain")
    assert rerun.out.splitlines()[1].split("\t")[:2] == [long, "up-to-date"]


# -- what the pull request body promises ------------------------------------------------------------


def test_the_pull_request_body_says_what_a_close_and_a_moved_base_do(
    cli: Cli, hosting: Hosting, tmp_path: Path
) -> None:
    github = hosting.forge("github")
    url = hosting.host(github, "acme/app")
    assert batch(cli, tmp_path, url, "--open-pr", *host_flag(github)).code == 0
    body = github.pulls["acme/app"][0]["body"]
    assert "asks again in a new pull request" not in body
    assert "report this repository as `closed-by-human`" in body
    assert "The base branch moving on does\nnot change that" in body
    # What it says is what happens: closed by a person, then the base moves: closed-by-human.
    github.pulls["acme/app"][0]["state"] = "closed"
    commit_to(github, "acme/app", "main", touch_cluster, "the base moves on")
    rerun = batch(cli, tmp_path, url, "--open-pr", *host_flag(github))
    assert rerun.code == 0 and rerun.statuses == ["closed-by-human"] and len(github.pulls["acme/app"]) == 1


# -- git gets a token only on the hosts the user named ------------------------------------------


def test_git_gets_the_token_only_on_a_host_the_user_named(cli: Cli, hosting: Hosting, tmp_path: Path) -> None:
    named, other = hosting.forge("github"), hosting.forge("github")
    urls = [hosting.host(named, "acme/app"), hosting.host(other, "acme/app")]
    where = named.url.removeprefix("http://")
    dry = batch(cli, tmp_path, *urls, "--dry-run", "--forge-host", f"{where}=github")
    assert f"tokens go to: GITHUB_TOKEN to {where} (git)" in dry.err, dry.err
    assert other.url.removeprefix("http://") not in dry.err.split("tokens go to:")[1].splitlines()[0]

    run = batch(cli, tmp_path, *urls, "--push", "--forge-host", f"{where}=github")
    assert run.code == 0 and run.statuses == ["changed", "changed"], run.err
    basic = "Basic " + base64.b64encode(f"x-access-token:{TOKENS['github']}".encode()).decode()
    assert named.git_requests and all(r.headers.get("authorization") == basic for r in named.git_requests)
    assert other.git_requests, "the other host was cloned and pushed to"
    assert not any("authorization" in r.headers for r in other.git_requests), "and never got the token"


# -- run --dry-run --check ------------------------------------------------------------------------


def test_run_dry_run_with_check_prints_the_diff_and_exits_1(cli: Cli, tmp_path: Path) -> None:
    import shutil

    work = tmp_path / "repo"
    shutil.copytree(EXAMPLE, work)
    both = cli("run", str(work), "--dry-run", "--check", "--no-verify", report=False)
    assert both.code == 1 and both.out.startswith("diff --git"), "ruff's and black's --check --diff"
    assert not any(p.suffix == ".orig" for p in work.rglob("*"))
    assert cli("run", str(work), "--check", "--no-verify", report=False).out == "", "without --dry-run: no diff"
    helped = cli("run", "--help", report=False)
    assert "With --dry-run: print the diff too" in " ".join(helped.out.split())

"""Issue 21, the forge's half: idempotent requests, tokens only where the user pointed, one
rate limit for the whole batch, the token checked once up front.

The real CLI in-process against forge stand-ins on 127.0.0.1 that host real git repositories,
and that lose answers, rate-limit and reject tokens on purpose. Where a test must show that
nothing left this machine, socket.getaddrinfo (the standard library's, through which every
connection of the in-process client goes) answers only for loopback and records every name.
"""

from __future__ import annotations

import math
import re
import socket
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from codemods.batch.repos import parse_spec
from tests.batch_fixtures import (
    TOKENS,
    Hosting,
    Run,
    cli,  # noqa: F401 - fixture
    hosting,  # noqa: F401 - fixture
    seed,  # noqa: F401 - fixture
)
from tests.forge_server import FakeForge

Cli = Callable[..., Run]
LOOPBACK = {"127.0.0.1", "localhost", "::1"}


def batch(cli: Cli, tmp_path: Path, *args: str, **kwargs: object) -> Run:
    return cli("batch", "--workdir", str(tmp_path / "work"), *args, **kwargs)


def host_flag(forge: FakeForge) -> tuple[str, str]:
    return ("--forge-host", f"{forge.url.removeprefix('http://')}={forge.kind}")


def cloned(tmp_path: Path, url: str) -> bool:
    return (tmp_path / "work" / parse_spec(url).slug()).exists()


@pytest.fixture
def names_asked(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every host name the in-process client looks up; any but loopback fails at once."""
    asked: list[str] = []
    real = socket.getaddrinfo

    def loopback_only(host: object, *args: object, **kwargs: object) -> object:
        asked.append(str(host))
        if str(host) not in LOOPBACK:
            raise socket.gaierror(socket.EAI_NONAME, "the tests reach loopback only")
        return real(host, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(socket, "getaddrinfo", loopback_only)
    return asked


# -- 2. a create is sent once; a lost answer is looked up -------------------------------------


def test_lost_create_answers_converge_with_exactly_one_pull_request_each(
    cli: Cli, hosting: Hosting, tmp_path: Path
) -> None:
    github, gitlab, gitea = hosting.forge("github"), hosting.forge("gitlab"), hosting.forge("gitea")
    urls = [
        hosting.host(github, "acme/app"),
        hosting.host(gitlab, "platform/team/gitops"),
        hosting.host(gitea, "homelab/cluster"),
    ]
    # Each forge does the create, then its answer is lost: a closed connection, or a 5xx.
    github.after_commit[r"^POST .*/pulls$"] = ("drop", 1)
    gitlab.after_commit[r"^POST .*/merge_requests$"] = ("502", 1)
    gitea.after_commit[r"^POST .*/pulls$"] = ("drop", 1)
    flags = [*host_flag(github), *host_flag(gitlab), *host_flag(gitea), "--jobs", "3"]
    flags += ["--label", "codemods", "--reviewer", "alice"]

    run = batch(cli, tmp_path, *urls, "--open-pr", *flags)
    assert run.code == 0, run.err
    assert run.statuses == ["changed"] * 3
    for entry in run.repos:
        assert "lost its answer to opening the pull request: found #1 by its branch" in entry["note"]
    assert [r["pr_url"] for r in run.repos] == [
        "https://github.example/acme/app/pull/1",
        "https://gitlab.example/platform/team/gitops/-/merge_requests/1",
        "https://gitea.example/homelab/cluster/pull/1",
    ]
    assert len(github.calls("POST", r"/pulls$")) == 1, "never sent twice"
    assert len(gitlab.calls("POST", r"/merge_requests$")) == 1
    assert len(gitea.calls("POST", r"/pulls$")) == 1
    # The run carried on from what the forge held: the labels and reviewers that follow the create.
    assert github.pulls["acme/app"][0]["labels"] == ["codemods"]
    assert github.pulls["acme/app"][0]["requested_reviewers"] == ["alice"]
    assert gitea.pulls["homelab/cluster"][0]["requested_reviewers"] == ["alice"]

    rerun = batch(cli, tmp_path, *urls, "--open-pr", *flags)
    assert rerun.code == 0 and rerun.statuses == ["up-to-date"] * 3
    assert [len(f.pulls[p]) for f, p in ((github, "acme/app"), (gitlab, "platform/team/gitops"))] == [1, 1]
    assert len(gitea.pulls["homelab/cluster"]) == 1, "exactly one pull request per repository"


def test_a_create_the_forge_never_did_is_sent_once_more(cli: Cli, hosting: Hosting, tmp_path: Path) -> None:
    github = hosting.forge("github")
    url = hosting.host(github, "acme/app")
    # A 502 that did nothing (a proxy's): the forge holds no pull request, so it is opened again.
    github.failures[r"^POST .*/pulls$"] = (502, 1)
    run = batch(cli, tmp_path, url, "--open-pr", *host_flag(github))
    assert run.code == 0, run.err
    assert "held none: opened it again" in run.repos[0]["note"]
    assert [r.status for r in github.calls("POST", r"/pulls$")] == [502, 201]
    assert len(github.pulls["acme/app"]) == 1


# -- 3. tokens only where the user pointed ------------------------------------------------------


def test_api_url_applies_to_discovery_by_name_and_the_token_goes_nowhere_else(
    cli: Cli, hosting: Hosting, tmp_path: Path, names_asked: list[str]
) -> None:
    enterprise = hosting.forge("github")  # the GitHub Enterprise the user named
    hosting.host(enterprise, "acme/app")
    hosting.host(enterprise, "acme/lib")
    other = hosting.forge("gitlab")  # another host of the fleet, with its own token
    elsewhere = hosting.host(other, "platform/gitops")
    run = batch(
        cli,
        tmp_path,
        elsewhere,
        "--github-org",
        "acme",
        "--api-url",
        enterprise.url,
        "--open-pr",
        "--jobs",
        "2",
        *host_flag(enterprise),
        *host_flag(other),
    )
    assert run.code == 0, run.err
    assert sorted(r["name"] for r in run.repos) == ["acme/app", "acme/lib", "platform/gitops"]
    assert enterprise.calls("GET", r"^/orgs/acme/repos$"), "listed on the host the user named"
    assert set(names_asked) <= LOOPBACK, f"asked for {sorted(set(names_asked) - LOOPBACK)}"
    assert enterprise.requests and all(
        r.headers["authorization"] == f"Bearer {TOKENS['github']}" for r in enterprise.requests
    )
    assert other.requests and all(r.headers["private-token"] == TOKENS["gitlab"] for r in other.requests)
    assert not any("authorization" in r.headers for r in other.requests), "the GitHub token stays with GitHub"
    assert not any("private-token" in r.headers for r in enterprise.requests)


@pytest.mark.parametrize(
    "where",
    [
        ("--api-url", "http://ghe.example/api/v3"),
        ("--api-url", "http://10.20.30.40:8080/api/v3"),
        ("--github-org", "http://ghe.example/acme"),
        ("--forge-host", "git.invalid=gitea"),
    ],
    ids=["api-url", "api-url-ip", "discovery-url", "repository-host"],
)
def test_plain_http_to_a_host_that_is_not_loopback_is_refused_before_connecting(
    cli: Cli, tmp_path: Path, names_asked: list[str], where: tuple[str, str]
) -> None:
    # Reserved names (RFC 2606) that never resolve, should anything try.
    repo = "http://git.invalid/acme/app.git" if where[0] == "--forge-host" else "https://code.invalid/acme/app.git"
    run = batch(cli, tmp_path, repo, "--open-pr", *where)
    assert run.code == 2, run.err
    host = re.search(r"//([^/:]+)", where[1] if "://" in where[1] else repo).group(1)  # type: ignore[union-attr]
    assert f"{host} is reached over plain http and is not a loopback host" in run.err
    assert "--insecure-http" in run.err
    assert names_asked == [], "refused before any lookup or connection"
    assert not (tmp_path / "work").exists(), "nothing cloned"


def test_dry_run_names_the_hosts_each_token_goes_to(cli: Cli, hosting: Hosting, tmp_path: Path) -> None:
    github = hosting.forge("github")
    url = hosting.host(github, "acme/app")
    host = github.url.removeprefix("http://")
    run = batch(cli, tmp_path, url, "--dry-run", "--open-pr", *host_flag(github))
    assert run.code == 0, run.err
    assert f"tokens go to: GITHUB_TOKEN to {host} (API {github.url}/api/v3)" in run.err
    https_repo = "https://127.0.0.1:9/acme/app.git"  # nothing listens: the clone fails, the line is printed first
    named = batch(cli, tmp_path, https_repo, "--dry-run", "--forge-host", "127.0.0.1:9=github")
    assert "tokens go to: GITHUB_TOKEN to 127.0.0.1:9 (git)" in named.err, named.err
    # A host that is GitHub only because nothing names it (the --forge default) gets no token.
    plain = batch(cli, tmp_path, https_repo, "--dry-run")
    assert "tokens go to: nowhere: no token is sent" in plain.err, plain.err
    none = batch(cli, tmp_path, url, "--dry-run")
    assert "tokens go to: nowhere: no token is sent" in none.err, "plain http git gets no token"


# -- 6. the token is checked once, before any clone --------------------------------------------


def test_a_rejected_token_is_one_error_up_front_and_nothing_is_cloned(
    cli: Cli, hosting: Hosting, tmp_path: Path
) -> None:
    github = hosting.forge("github")
    urls = [hosting.host(github, f"acme/app{i}") for i in range(3)]
    listing = tmp_path / "repos.txt"
    listing.write_text("".join(f"{u}\n" for u in urls))
    run = batch(
        cli, tmp_path, "--repos-file", str(listing), "--open-pr", *host_flag(github), tokens={"github": "ghp_wrong"}
    )
    assert run.code == 2
    assert run.err.count("GitHub token rejected: bad credentials") == 1, run.err
    assert "ghp_wrong" not in run.err
    assert [(r.method, r.path) for r in github.requests] == [("GET", "/api/v3/user")], "one question, once"
    assert not any(cloned(tmp_path, u) for u in urls), "nothing cloned"

    by_name = batch(cli, tmp_path, "--github-org", "acme", "--api-url", github.url, tokens={"github": "ghp_wrong"})
    assert by_name.code == 2 and "GitHub token rejected: bad credentials" in by_name.err


# -- 6. one rate limit for the whole batch, bounded by --max-wait ------------------------------


def test_a_rate_limit_is_waited_out_once_for_every_worker(cli: Cli, hosting: Hosting, tmp_path: Path) -> None:
    github = hosting.forge("github")
    urls = [hosting.host(github, f"acme/app{i}") for i in range(3)]
    github.rate_limit_at = (r"^GET /api/v3/user$", 0.5)  # the quota is spent when the run starts
    run = batch(cli, tmp_path, *urls, "--open-pr", "--jobs", "3", *host_flag(github))
    reset = math.ceil(github.rate_limited_until)
    assert run.code == 0, run.err
    assert run.statuses == ["changed"] * 3
    clock = time.strftime("%H:%M:%S", time.localtime(reset))
    assert run.err.count("waiting until") == 1 and f"waiting until {clock} (GitHub rate limit)" in run.err
    refused = [r for r in github.requests if r.status == 403]
    assert len(refused) == 1, "three workers, one refusal: the others waited behind the gate"
    assert all(r.at >= reset for r in github.requests if r.status != 403), "nothing sent before the reset"
    assert all(len(github.pulls[f"acme/app{i}"]) == 1 for i in range(3))


def test_a_rate_limit_past_max_wait_stops_and_reports_the_rest_not_started(
    cli: Cli, hosting: Hosting, tmp_path: Path
) -> None:
    github = hosting.forge("github")
    urls = [hosting.host(github, f"acme/app{i}") for i in range(3)]
    github.rate_limit_after = (r"^POST .*/pulls$", 600)  # the first pull request spends the quota
    started = time.monotonic()
    run = batch(cli, tmp_path, *urls, "--open-pr", "--max-wait", "30", *host_flag(github))
    assert time.monotonic() - started < 30, "stopped, not waited"
    assert run.code == 1, run.err
    assert run.statuses == ["changed", "not-started", "not-started"]
    for entry in run.repos[1:]:
        assert "GitHub rate limit until" in entry["note"] and "past --max-wait 30s" in entry["note"]
        assert entry["error"] is None and entry["pr_url"] is None
    assert run.report["counts"]["not-started"] == 2
    assert "waiting until" not in run.err and "2 not-started" in run.err
    assert not cloned(tmp_path, urls[2]), "the repository after the stop was not even cloned"
    assert len(github.pulls["acme/app0"]) == 1 and not github.pulls.get("acme/app2")

    github.rate_limited_until = 0  # the reset came: the rerun finishes the rollout
    rerun = batch(cli, tmp_path, *urls, "--open-pr", *host_flag(github))
    assert rerun.code == 0 and rerun.statuses == ["up-to-date", "changed", "changed"]

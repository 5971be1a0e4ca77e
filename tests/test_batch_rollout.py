"""Issue 13's eight observations, each as its exact setup, then the rerun converging.

Real git repositories served over HTTP by the forge stand-ins, the real CLI in-process.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pytest

from codemods.cli import main
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
from tests.helpers import SNAPSHOTS, git

Cli = Callable[..., Run]


def fix_by_hand(clone: Path) -> None:
    """A person repairs the repository their own way (here: `codemods run` on a checkout)."""
    assert main(["run", str(clone)]) == 0


def batch(cli: Cli, tmp_path: Path, *args: str, **kwargs: object) -> Run:
    return cli("batch", "--workdir", str(tmp_path / "work"), *args, **kwargs)


def host_flag(forge) -> tuple[str, str]:
    return ("--forge-host", f"{forge.url.removeprefix('http://')}={forge.kind}")


def test_1_a_pushed_branch_without_a_pull_request_gets_one(cli: Cli, hosting: Hosting, tmp_path: Path) -> None:
    github = hosting.forge("github")
    url = hosting.host(github, "acme/app")
    # The setup of the issue: the branch is pushed, then opening the PR is refused (401).
    github.failures[r"^POST .*/pulls$"] = (401, 1)
    first = batch(cli, tmp_path, url, "--open-pr", *host_flag(github))
    assert first.code == 1 and first.statuses == ["failed"] and "HTTP 401" in first.repos[0]["error"]
    pushed = ref(github, "acme/app", BRANCH)
    assert pushed is not None and not github.pulls.get("acme/app")

    rerun = batch(cli, tmp_path, url, "--open-pr", *host_flag(github))
    assert rerun.code == 0, rerun.err
    (entry,) = rerun.repos
    assert entry["status"] == "up-to-date" and entry["pr_url"] == "https://github.example/acme/app/pull/1"
    assert "opened one" in entry["note"]
    assert ref(github, "acme/app", BRANCH) == pushed, "nothing pushed"
    again = batch(cli, tmp_path, url, "--open-pr", *host_flag(github))
    assert again.repos[0]["pr_url"] == entry["pr_url"] and len(github.pulls["acme/app"]) == 1, "converged"


def test_2_a_pull_request_a_person_closed_stays_closed(cli: Cli, hosting: Hosting, tmp_path: Path) -> None:
    github = hosting.forge("github")
    url = hosting.host(github, "acme/app")
    args = (url, "--open-pr", *host_flag(github))
    assert batch(cli, tmp_path, *args).code == 0
    github.pulls["acme/app"][0]["state"] = "closed"  # a person closes it, unmerged
    commit_to(github, "acme/app", "main", touch_cluster, "the base moves on")
    tip = ref(github, "acme/app", BRANCH)

    rerun = batch(cli, tmp_path, *args)
    assert rerun.code == 0, rerun.err
    assert rerun.statuses == ["closed-by-human"]
    assert rerun.repos[0]["pr_url"] == "https://github.example/acme/app/pull/1"
    assert len(github.pulls["acme/app"]) == 1 and ref(github, "acme/app", BRANCH) == tip, "nothing opened or pushed"
    assert rerun.report["counts"]["closed-by-human"] == 1

    # A different change (a different tree) may open a new pull request, and says so.
    other = batch(cli, tmp_path, *args, "--only", "disable-migration-job")
    assert other.code == 0 and other.statuses == ["updated"]
    assert "a new change since #1 was closed" in other.repos[0]["note"]
    assert [p["state"] for p in github.pulls["acme/app"]] == ["closed", "open"]

    # --reopen overrides the person's decision for the same change.
    github.pulls["acme/app"][1]["state"] = "closed"
    again = batch(cli, tmp_path, *args, "--only", "disable-migration-job")
    assert again.statuses == ["closed-by-human"]
    reopened = batch(cli, tmp_path, *args, "--only", "disable-migration-job", "--reopen")
    assert reopened.code == 0 and reopened.repos[0]["pr_url"].endswith("/pull/3")
    assert "--reopen" in reopened.repos[0]["note"]


def test_3_a_changed_default_branch_retargets_the_pull_request(cli: Cli, hosting: Hosting, tmp_path: Path) -> None:
    github = hosting.forge("github")
    url = hosting.host(github, "acme/app")
    args = (url, "--open-pr", *host_flag(github))
    assert batch(cli, tmp_path, *args).code == 0
    develop = commit_to(github, "acme/app", "develop", touch_cluster, "develop moves ahead")
    git(Path("/"), "--git-dir", str(bare_dir(github, "acme/app")), "symbolic-ref", "HEAD", "refs/heads/develop")

    rerun = batch(cli, tmp_path, *args)
    assert rerun.code == 0, rerun.err
    (entry,) = rerun.repos
    assert entry["status"] == "updated" and entry["note"] == "retargeted from main to develop"
    pr = github.pulls["acme/app"][0]
    assert pr["base"]["ref"] == "develop" and len(github.pulls["acme/app"]) == 1
    assert ref(github, "acme/app", f"{BRANCH}^") == develop, "rebuilt on the new default branch"
    assert batch(cli, tmp_path, *args).statuses == ["up-to-date"]
    assert len(github.calls("PATCH")) == 1, "converged: nothing more to change"


def test_4_5_mixed_fleet_with_gitlab_subgroups_and_gitea(cli: Cli, hosting: Hosting, tmp_path: Path) -> None:
    github, gitlab, gitea = hosting.forge("github"), hosting.forge("gitlab"), hosting.forge("gitea")
    urls = [
        hosting.host(github, "acme/app"),
        hosting.host(gitlab, "platform/team/gitops"),
        hosting.host(gitea, "homelab/cluster"),
    ]
    flags = [*host_flag(github), *host_flag(gitlab), *host_flag(gitea), "--jobs", "2"]
    run = batch(cli, tmp_path, *urls, "--open-pr", "--label", "codemods", *flags)
    assert run.code == 0, run.err
    assert run.statuses == ["changed", "changed", "changed"]
    assert [r["forge"] for r in run.repos] == ["github", "gitlab", "gitea"]
    assert run.repos[1]["pr_url"] == "https://gitlab.example/platform/team/gitops/-/merge_requests/1"
    assert gitlab.calls("POST", r"^/api/v4/projects/platform%2Fteam%2Fgitops/merge_requests$"), "full path, encoded"
    assert gitea.pulls["homelab/cluster"][0]["labels"] == ["codemods"], "Gitea labels are set by id"
    for forge in (github, gitlab, gitea):  # each forge saw its own token, and only that
        assert forge.requests and all(forge.authorized(r.headers) for r in forge.requests)
    for forge, project in ((github, "acme/app"), (gitlab, "platform/team/gitops"), (gitea, "homelab/cluster")):
        assert ref(forge, project, BRANCH) is not None
    rerun = batch(cli, tmp_path, *urls, "--open-pr", "--label", "codemods", *flags)
    assert rerun.statuses == ["up-to-date"] * 3 and [r["pr_url"] for r in rerun.repos] == [
        r["pr_url"] for r in run.repos
    ]
    only_github = batch(cli, tmp_path, *urls, "--open-pr", *flags, tokens={"github": TOKENS["github"]})
    assert only_github.code == 2 and "GITEA_TOKEN and GITLAB_TOKEN" in only_github.err


def test_6_dry_run_predicts_what_the_real_run_reaches(cli: Cli, hosting: Hosting, tmp_path: Path) -> None:
    github = hosting.forge("github")
    fresh, current, foreign, closed = (
        hosting.host(github, f"acme/{name}") for name in ("fresh", "current", "foreign", "closed")
    )
    flags = ("--open-pr", *host_flag(github))
    assert batch(cli, tmp_path, current, foreign, closed, *flags, "--jobs", "2").code == 0
    commit_to(github, "acme/foreign", BRANCH, touch_cluster, "a person's commit on the bot's branch")
    github.pulls["acme/closed"][0]["state"] = "closed"
    commit_to(github, "acme/closed", "main", touch_cluster, "the base moves on")
    refs_before = {p: ref(github, p, BRANCH) for p in ("acme/fresh", "acme/current", "acme/foreign", "acme/closed")}
    writes_before = [r for r in github.requests if r.method != "GET" and "graphql" not in r.path]

    predicted = batch(cli, tmp_path, fresh, current, foreign, closed, *flags, "--dry-run", "--jobs", "2")
    assert predicted.statuses == ["changed", "up-to-date", "blocked-by-human", "closed-by-human"]
    assert predicted.repos[2]["error"] is None and "a person pushed" in predicted.repos[2]["note"]
    assert {p: ref(github, p, BRANCH) for p in refs_before} == refs_before, "dry-run pushed nothing"
    assert [r for r in github.requests if r.method != "GET"] == writes_before, "and wrote nothing on the forge"

    real = batch(cli, tmp_path, fresh, current, foreign, closed, *flags, "--jobs", "2")
    assert real.statuses == predicted.statuses


def test_7_stale_pull_requests_are_closed_with_a_comment(cli: Cli, hosting: Hosting, tmp_path: Path) -> None:
    github = hosting.forge("github")
    urls = [hosting.host(github, "acme/app"), hosting.host(github, "acme/kept")]
    flags = (*urls, "--open-pr", "--jobs", "2", *host_flag(github))
    assert batch(cli, tmp_path, *flags).code == 0
    commit_to(github, "acme/kept", BRANCH, touch_cluster, "a person builds on the bot's branch")
    for project in ("acme/app", "acme/kept"):
        commit_to(github, project, "main", fix_by_hand, "fixed by hand")
    assert batch(cli, tmp_path, *flags).statuses == ["unchanged"] * 2, "without --close-stale: left as it was"
    assert github.pulls["acme/app"][0]["state"] == "open"

    predicted = batch(cli, tmp_path, *flags, "--close-stale", "--dry-run")
    assert predicted.statuses == ["closed-stale", "unchanged"] and github.pulls["acme/app"][0]["state"] == "open"
    run = batch(cli, tmp_path, *flags, "--close-stale")
    assert run.code == 0 and run.statuses == ["closed-stale", "unchanged"]
    assert github.pulls["acme/app"][0]["state"] == "closed"
    assert [c[:2] for c in github.comments] == [("acme/app", 1)]
    assert "no longer needs this change" in github.comments[0][2]
    assert ref(github, "acme/app", BRANCH) is None, "its branch is deleted"
    # A branch that holds a person's commits is theirs too: neither closed nor deleted.
    assert "did not make: left open" in run.repos[1]["note"]
    assert github.pulls["acme/kept"][0]["state"] == "open" and ref(github, "acme/kept", BRANCH) is not None
    assert batch(cli, tmp_path, *flags, "--close-stale").statuses == ["unchanged"] * 2, "converged"


def test_8_the_table_fits_80_columns_and_errors_name_the_repository(cli: Cli, hosting: Hosting, tmp_path: Path) -> None:
    github = hosting.forge("github")
    good = hosting.host(github, "acme-platform-engineering/flux-cluster-with-a-long-name")
    bad = hosting.host(github, "acme/bad", source=SNAPSHOTS / "bad-yaml" / "before")
    taken = hosting.host(github, "acme/taken")
    commit_to(github, "acme/taken", BRANCH, touch_cluster, "a person's branch of the same name")
    run = batch(cli, tmp_path, good, bad, taken, "--open-pr", "--jobs", "2", *host_flag(github))
    assert run.code == 1
    table = run.err[run.err.index("codemods batch") :]
    assert all(len(line) <= 80 for line in table.splitlines()), table
    assert "http" not in table, "URLs are in the JSON only"
    assert "#1" in table and "…" in table, "short names, PR numbers"
    assert run.repos[0]["pr_url"].startswith("https://github.example/")
    error = run.repos[1]["error"]
    assert error.startswith("kubernetes/apps/ai/openhands/app/helmrelease.yaml:11:10")
    assert str(tmp_path) not in error and "/tmp" not in error, "the repository's path, not the clone's"
    # A person's branch of the same name is theirs: left alone, not a failure, and the note says so.
    taken_entry = run.repos[2]
    assert taken_entry["status"] == "blocked-by-human" and taken_entry["error"] is None
    note = taken_entry["note"]
    assert note.startswith("codemods/litellm-migration holds "), note
    assert "which codemods did not make" in note and str(tmp_path) not in note


def test_8_counts_agree_and_a_persons_edits_are_kept(cli: Cli, hosting: Hosting, tmp_path: Path) -> None:
    github = hosting.forge("github")
    url = hosting.host(github, "acme/app")
    flags = (url, "--open-pr", "--label", "codemods", "--reviewer", "alice", *host_flag(github))
    first = batch(cli, tmp_path, *flags)
    assert first.code == 0
    (entry,) = first.repos
    pr = github.pulls["acme/app"][0]
    # A move is one file: the title, the summary and the report count alike.
    count = int(re.search(r"\((\d+) files?\)", pr["title"]).group(1))  # type: ignore[union-attr]
    assert count == len(entry["files"]) == len(set(entry["files"]))
    # A template and its render share one row of the table; every file is named in it once.
    rows = [line for line in pr["body"].splitlines() if line.startswith("| `")]
    named = [path for row in rows for path in re.findall(r"`([^`]+)`", row.split(" | ")[0])]
    assert set(entry["files"]) <= set(named) and len(rows) <= count, "the summary's table names every file"
    assert entry["moves"]
    for src, dst in entry["moves"].items():
        assert dst in entry["files"] and src not in entry["files"]
    subject = git(Path("/"), "--git-dir", str(bare_dir(github, "acme/app")), "log", "-1", "--format=%s", BRANCH)
    assert f"({count} files)" in subject.stdout

    # A person edits the title, the body, the labels and the reviewers; the base moves on.
    pr["title"] = "Platform: fix the litellm migrations (PLAT-1234)"
    pr["body"] = "Tracked in PLAT-1234.\n\n" + pr["body"]
    pr["labels"] = ["platform"]
    pr["requested_reviewers"] = ["bob"]
    edited = dict(pr)
    commit_to(github, "acme/app", "main", touch_cluster, "the base moves on")
    rerun = batch(cli, tmp_path, *flags)
    assert rerun.code == 0 and rerun.statuses == ["updated"], rerun.err
    assert pr["title"] == edited["title"] and pr["body"].startswith("Tracked in PLAT-1234.")
    assert pr["labels"] == ["platform"] and pr["requested_reviewers"] == ["bob"]
    assert batch(cli, tmp_path, *flags).statuses == ["up-to-date"]


def test_8_pull_request_title_and_body_templates(cli: Cli, hosting: Hosting, tmp_path: Path) -> None:
    github, gitlab = hosting.forge("github"), hosting.forge("gitlab")
    urls = [hosting.host(github, "acme/app"), hosting.host(gitlab, "group/sub/app")]
    title = tmp_path / "title.j2"
    title.write_text("chore(flux): {{ recipe }} on {{ files | length }} files\n")
    body = tmp_path / "body.j2"
    body.write_text("{% for f in files %}* {{ f.path }}\n{% endfor %}\n{{ explanation }}\n")
    flags = ("--open-pr", "--draft", *host_flag(github), *host_flag(gitlab))
    run = batch(cli, tmp_path, *urls, *flags, "--pr-title-template", str(title), "--pr-body-template", str(body))
    assert run.code == 0, run.err
    pr, mr = github.pulls["acme/app"][0], gitlab.pulls["group/sub/app"][0]
    count = len(run.repos[0]["files"])
    assert pr["title"] == f"chore(flux): litellm-migration on {count} files"
    assert mr["title"] == f"Draft: chore(flux): litellm-migration on {count} files"
    assert pr["body"].startswith("* kubernetes/") and mr["description"].startswith("* kubernetes/")
    assert batch(cli, tmp_path, *urls, *flags, "--pr-title-template", str(title)).statuses == ["up-to-date"] * 2
    broken = tmp_path / "broken.j2"
    broken.write_text("{{ nope }}")
    failed = batch(cli, tmp_path, urls[0], *flags, "--pr-title-template", str(broken))
    assert failed.code == 1 and "broken.j2: bad message template: 'nope' is undefined" in failed.repos[0]["error"]


@pytest.mark.parametrize("kind", ["github", "gitlab", "gitea"])
def test_tokens_stay_out_of_every_output(cli: Cli, hosting: Hosting, tmp_path: Path, kind: str) -> None:
    forge = hosting.forge(kind)
    url = hosting.host(forge, "acme/app")
    first = batch(cli, tmp_path, url, "--open-pr", *host_flag(forge), tokens={kind: "WRONG" + TOKENS[kind]})
    second = batch(cli, tmp_path, url, "--open-pr", "--close-stale", *host_flag(forge))
    status = cli("batch", "status", url, *host_flag(forge), "--json")
    closed = cli("batch", "close", url, *host_flag(forge), "--json", tokens={kind: "WRONG" + TOKENS[kind]})
    # The token is checked up front, as the rollout checks it: one error, exit 2, nothing closed.
    assert closed.code == 2 and "token rejected: bad credentials" in closed.err, closed.err
    outputs = [first.out, first.err, second.out, second.err, status.out, status.err, closed.out, closed.err]
    outputs += [str(first.report), str(second.report), str(closed.report)]
    # Every file the batch keeps: git's config and FETCH_HEAD, the planning trees, the caches.
    outputs += [p.read_text(errors="replace") for p in (tmp_path / "work").rglob("*") if p.is_file()]
    for text in outputs:
        for token in TOKENS.values():
            assert token not in text

"""Issue 21, observations 4, 5 and 7: a person's commits are never deleted or overwritten.

`close --delete-branch` keeps a branch that holds a person's commit, and deletes the others
with a lease on the commit it checked; `merge` merges only the head it checked; a person's push
to the bot's branch is `blocked-by-human` (exit 0), run after run, until someone acts. Real git
repositories served over HTTP by the forge stand-in, the real CLI in-process; the stand-in's
`on_request` actions make a person push at the worst moment.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from codemods.cli import main as codemods_main
from tests.batch_fixtures import (
    BRANCH,
    Hosting,
    Run,
    cli,  # noqa: F401 - fixture
    commit_to,
    hosting,  # noqa: F401 - fixture
    ref,
    seed,  # noqa: F401 - fixture
    touch_cluster,
)
from tests.forge_server import FakeForge

Cli = Callable[..., Run]


def hosts(*forges: FakeForge) -> list[str]:
    return [arg for f in forges for arg in ("--forge-host", f"{f.url.removeprefix('http://')}={f.kind}")]


def batch(cli: Cli, tmp_path: Path, *args: str) -> Run:
    return cli("batch", "--workdir", str(tmp_path / "work"), *args)


def persons_push(forge: FakeForge, project: str, into: list[str]) -> Callable[[], None]:
    """An on_request action: a person pushes a commit to the rollout's branch (its sha into `into`)."""
    return lambda: into.append(commit_to(forge, project, BRANCH, touch_cluster, "a person's fix on the bot's branch"))


def receive_pack(project: str) -> str:
    """The start of a push to project (git asks for the refs it will update)."""
    return rf"^GET /{project}\.git/info/refs\?service=git-receive-pack$"


def test_close_delete_branch_never_deletes_a_persons_commit(cli: Cli, hosting: Hosting, tmp_path: Path) -> None:
    github = hosting.forge("github")
    urls = [hosting.host(github, f"acme/{name}") for name in ("app", "kept", "raced")]
    assert batch(cli, tmp_path, *urls, "--open-pr", "--jobs", "2", *hosts(github)).code == 0
    bots = {project: ref(github, project, BRANCH) for project in ("acme/app", "acme/kept", "acme/raced")}
    persons = commit_to(github, "acme/kept", BRANCH, touch_cluster, "a person builds on the bot's branch")
    # acme/raced: a person pushes after close checked the branch and before it deletes it.
    pushed: list[str] = []
    github.on_request[receive_pack("acme/raced")] = persons_push(github, "acme/raced", pushed)

    closed = cli("batch", "close", *urls, *hosts(github), "--delete-branch")
    assert closed.code == 0, closed.err
    assert all(p[0]["state"] == "closed" for p in github.pulls.values()), "every bot pull request is closed"
    # Only the branch that holds nothing but codemods' commits is gone, on the remote itself.
    assert ref(github, "acme/app", BRANCH) is None
    assert ref(github, "acme/kept", BRANCH) == persons, "the person's commit is still there"
    assert len(pushed) == 1 and ref(github, "acme/raced", BRANCH) == pushed[0], "the lease kept the new commit"
    # And the report says what was checked, what was done, and why.
    rows = {r["name"]: r for r in closed.report["repos"]}
    assert rows["acme/app"]["action"] == "closed with a comment, branch deleted"
    assert rows["acme/app"]["branch_deleted"] is True and rows["acme/app"]["head_sha"] == bots["acme/app"]
    kept = rows["acme/kept"]
    assert kept["branch_deleted"] is False and kept["head_sha"] == persons
    assert kept["action"] == (
        f"closed with a comment, branch kept: it holds {persons[:12]} "
        '("a person builds on the bot\'s branch"), which codemods did not make'
    )
    raced, checked = pushed[0], str(bots["acme/raced"])
    assert rows["acme/raced"]["branch_deleted"] is False and rows["acme/raced"]["head_sha"] == checked
    assert rows["acme/raced"]["action"] == (
        f"closed with a comment, branch kept: it moved to {raced[:12]} after codemods checked {checked[:12]}"
    )
    assert not github.calls("DELETE"), "branches are deleted by a push with a lease, never by the API"


def open_and_approve(hosting: Hosting, cli: Cli, tmp_path: Path) -> tuple[list[FakeForge], list[str], list[str]]:
    """One repository per forge, its pull request open, green and approved."""
    forges = [hosting.forge("github"), hosting.forge("gitlab"), hosting.forge("gitea")]
    projects = ["acme/app", "group/sub/app", "homelab/app"]
    urls = [hosting.host(forge, project) for forge, project in zip(forges, projects, strict=True)]
    assert batch(cli, tmp_path, *urls, "--open-pr", "--jobs", "2", *hosts(*forges)).code == 0
    github, gitlab, gitea = forges
    github.pulls["acme/app"][0].update(checks="success", review="APPROVED")
    gitlab.pulls["group/sub/app"][0].update(checks="success", approved=True)
    gitea.pulls["homelab/app"][0].update(checks="success", review="APPROVED")
    return forges, projects, urls


def test_merge_sends_the_head_it_checked_and_a_moved_head_is_skipped(
    cli: Cli, hosting: Hosting, tmp_path: Path
) -> None:
    forges, projects, urls = open_and_approve(hosting, cli, tmp_path)
    checked = [ref(forge, project, BRANCH) for forge, project in zip(forges, projects, strict=True)]
    mains = [ref(forge, project, "main") for forge, project in zip(forges, projects, strict=True)]
    seen = [len(forge.requests) for forge in forges]
    # A person pushes to each branch after merge read the status and before the forge merges.
    pushes: list[list[str]] = [[], [], []]  # one list per forge: the repositories merge in parallel
    for forge, project, into in zip(forges, projects, pushes, strict=True):
        forge.on_request[r"^(PUT|POST) .*/(pulls|merge_requests)/1/merge$"] = persons_push(forge, project, into)

    merged = cli("batch", "merge", *urls, *hosts(*forges))
    assert merged.code == 0, "a moved head is a skip, not a failure"
    for forge, project, sha, main, entry, (now,) in zip(
        forges, projects, checked, mains, merged.report["repos"], pushes, strict=True
    ):
        (request,) = forge.calls("PUT" if forge.kind != "gitea" else "POST", r"/1/merge$")
        assert request.body[("head_commit_id" if forge.kind == "gitea" else "sha")] == sha, "the head it checked"
        assert ref(forge, project, "main") == main, f"{forge.kind}: nothing merged"
        assert entry["state"] == "open" and entry["error"] is None and entry["head_sha"] == now
        assert entry["action"] == (
            f"skipped: the head moved from {str(sha)[:12]} to {now[:12]} after the check; "
            "the forge refused to merge it: review the new commit, then run merge again"
        )
    # Every call is counted: the status, the refused merge and the read that explains it, per
    # repository; and in all, the token check made once per forge before any of them.
    new = [forge.requests[n:] for forge, n in zip(forges, seen, strict=True)]
    calls = [len([r for r in requests if not r.path.endswith("/user")]) for requests in new]
    assert [len([r for r in requests if r.path.endswith("/user")]) for requests in new] == [1, 1, 1]
    assert [r["api_calls"] for r in merged.report["repos"]] == calls
    assert merged.report["api_calls"] == sum(calls) + 3 and merged.report["api_calls_per_repo"] == max(calls)
    assert merged.report["check_api_calls"] == 3

    # Reviewed again, the new head merges: the one the forge reported and merge checked.
    again = cli("batch", "merge", *urls, *hosts(*forges))
    assert again.code == 0, again.err
    assert [r["action"] for r in again.report["repos"]] == ["merged (merge)"] * 3
    for forge, project, (now,) in zip(forges, projects, pushes, strict=True):
        assert ref(forge, project, "main") == now
    assert [r["api_calls"] for r in again.report["repos"]] == [2, 2, 4], "status (Gitea: 3 with review), merge"


def test_merge_refused_for_another_reason_is_still_an_error(cli: Cli, hosting: Hosting, tmp_path: Path) -> None:
    github = hosting.forge("github")
    url = hosting.host(github, "acme/app")
    assert batch(cli, tmp_path, url, "--open-pr", *hosts(github)).code == 0
    github.pulls["acme/app"][0].update(checks="success", review="APPROVED")
    github.failures[r"^PUT .*/pulls/1/merge$"] = (405, 1)  # the head did not move: a real refusal
    refused = cli("batch", "merge", url, *hosts(github))
    assert refused.code == 1
    (entry,) = refused.report["repos"]
    assert "HTTP 405" in entry["error"] and entry["action"] is None and entry["state"] == "open"
    assert entry["api_calls"] == 3, "the status, the merge and the read that found the head unmoved"


def test_a_persons_push_to_the_bot_branch_is_blocked_by_human_on_every_rerun(
    cli: Cli, hosting: Hosting, tmp_path: Path
) -> None:
    github = hosting.forge("github")
    url = hosting.host(github, "acme/app")
    args = (url, "--open-pr", *hosts(github))
    assert batch(cli, tmp_path, *args).code == 0
    persons = commit_to(github, "acme/app", BRANCH, touch_cluster, "a person's fix on the bot's branch")
    writes = len([r for r in github.requests if r.method != "GET" and "graphql" not in r.path])

    for _weekly in range(2):
        run = batch(cli, tmp_path, *args)
        assert run.code == 0, run.err
        (entry,) = run.repos
        assert entry["status"] == "blocked-by-human" and entry["error"] is None and entry["commit"] is None
        assert entry["pr_url"] == "https://github.example/acme/app/pull/1"
        assert entry["note"] == (
            f"a person pushed {persons[:12]} (\"a person's fix on the bot's branch\") to {BRANCH}; "
            "codemods will not overwrite it: merge or close #1, or delete the branch, and the next run will take over"
        )
        assert run.report["counts"]["blocked-by-human"] == 1 and run.report["counts"]["failed"] == 0
        assert "blocked-by-human" in run.err and "1 blocked-by-human" in run.err
        assert ref(github, "acme/app", BRANCH) == persons, "their commit is the branch's tip still"
    assert len([r for r in github.requests if r.method != "GET" and "graphql" not in r.path]) == writes
    assert len(github.pulls["acme/app"]) == 1

    # The person merges the pull request, their commit included: the next run takes over.
    github.pulls["acme/app"][0].update(checks="success", review="APPROVED")
    assert cli("batch", "merge", url, *hosts(github)).code == 0
    assert ref(github, "acme/app", "main") == persons
    after = batch(cli, tmp_path, *args)
    assert after.code == 0 and after.statuses == ["unchanged"], after.err


def test_a_push_between_the_check_and_the_push_is_never_overwritten(cli: Cli, hosting: Hosting, tmp_path: Path) -> None:
    github = hosting.forge("github")
    url = hosting.host(github, "acme/app")
    args = (url, "--open-pr", *hosts(github))
    assert batch(cli, tmp_path, *args).code == 0
    commit_to(github, "acme/app", "main", touch_cluster, "the base moves on: the branch is rebuilt")
    pushed: list[str] = []
    github.on_request[receive_pack("acme/app")] = persons_push(github, "acme/app", pushed)

    raced = batch(cli, tmp_path, *args)
    assert raced.code == 0, raced.err
    (persons,) = pushed
    assert ref(github, "acme/app", BRANCH) == persons, "the lease refused to overwrite it"
    (entry,) = raced.repos
    assert entry["status"] == "blocked-by-human" and entry["commit"] is None
    assert entry["note"] == (
        f"{BRANCH} moved to {persons[:12]} while codemods ran; nothing was overwritten, and the next run looks again"
    )
    rerun = batch(cli, tmp_path, *args)
    assert rerun.code == 0 and rerun.statuses == ["blocked-by-human"], rerun.err
    assert "a person pushed" in rerun.repos[0]["note"] and ref(github, "acme/app", BRANCH) == persons


def test_close_stale_keeps_a_branch_pushed_to_after_the_check(cli: Cli, hosting: Hosting, tmp_path: Path) -> None:
    github = hosting.forge("github")
    url = hosting.host(github, "acme/app")
    args = (url, "--open-pr", *hosts(github))
    assert batch(cli, tmp_path, *args).code == 0
    commit_to(
        github, "acme/app", "main", lambda clone: codemods_main(["run", "--no-verify", str(clone)]), "fixed by hand"
    )
    pushed: list[str] = []
    github.on_request[receive_pack("acme/app")] = persons_push(github, "acme/app", pushed)

    stale = batch(cli, tmp_path, *args, "--close-stale")
    assert stale.code == 0, stale.err
    assert len(pushed) == 1 and ref(github, "acme/app", BRANCH) == pushed[0], "the lease kept the person's commit"
    assert stale.statuses == ["closed-stale"] and github.pulls["acme/app"][0]["state"] == "closed"
    assert stale.repos[0]["note"] == f"{BRANCH} moved to {pushed[0][:12]} after codemods checked it: branch kept"
    rerun = batch(cli, tmp_path, *args, "--close-stale")
    assert rerun.code == 0 and rerun.statuses == ["unchanged"], rerun.err
    assert ref(github, "acme/app", BRANCH) == pushed[0]

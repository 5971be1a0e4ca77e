"""`codemods batch` against real bare remotes on disk and a real HTTP forge on 127.0.0.1."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from codemods.batch.repos import in_shard, parse_shard, read_repos_file
from codemods.secrets import redact, split_credentials
from tests.forge_server import FakeForge, serve
from tests.helpers import ROOT, SNAPSHOTS, git, git_init, run_codemods

EXAMPLE = ROOT / "examples" / "openhands-cluster-template"
BRANCH = "codemods/litellm-migration"
TOKEN = "ghp_TESTTOKEN0123456789abcdefSECRET"


def make_remote(tmp_path: Path, name: str, source: Path, default: str = "main") -> str:
    """A bare remote acme/<name>.git whose default branch holds a copy of source."""
    work = tmp_path / "src" / name
    shutil.copytree(source, work)
    git_init(work)
    if default != "main":
        git(work, "branch", "-m", default)
    bare = tmp_path / "remotes" / "acme" / f"{name}.git"
    git(tmp_path, "clone", "-q", "--bare", str(work), str(bare))
    return f"file://{bare}"


def fixed_copy(tmp_path: Path) -> Path:
    fixed = tmp_path / "fixed-src"
    shutil.copytree(EXAMPLE, fixed)
    assert run_codemods("run", str(fixed)).returncode == 0
    return fixed


def advance_default_branch(tmp_path: Path, url: str, branch: str = "main") -> str:
    clone = tmp_path / "advance"
    shutil.rmtree(clone, ignore_errors=True)
    git(tmp_path, "clone", "-q", url, str(clone))
    (clone / "cluster.toml").write_text((clone / "cluster.toml").read_text() + "moved = true\n")
    git(clone, "commit", "-qam", "the default branch moves on")
    git(clone, "push", "-q", "origin", branch)
    return git(clone, "rev-parse", "HEAD").stdout.strip()


def remote_ref(url: str, ref: str) -> str | None:
    out = git(Path("/"), "ls-remote", url, ref).stdout.split()
    return out[0] if out else None


def batch(tmp_path: Path, *args: str, token: str | None = TOKEN):
    env = {"GITHUB_TOKEN": token or "", "GITLAB_TOKEN": token or ""}
    return run_codemods("batch", "--workdir", str(tmp_path / "work"), *args, env=env)


@pytest.fixture
def github() -> Iterator[FakeForge]:
    forge = FakeForge(TOKEN)
    server = serve(forge, "github")
    yield forge
    server.shutdown()


@pytest.fixture
def gitlab() -> Iterator[FakeForge]:
    forge = FakeForge(TOKEN)
    server = serve(forge, "gitlab")
    yield forge
    server.shutdown()


def test_many_repos_with_mixed_outcomes(tmp_path: Path) -> None:
    broken = [make_remote(tmp_path, f"app{i}", EXAMPLE) for i in range(3)]
    trunk = make_remote(tmp_path, "trunk", EXAMPLE, default="trunk")
    fixed = make_remote(tmp_path, "fixed", fixed_copy(tmp_path))
    bad = make_remote(tmp_path, "bad", SNAPSHOTS / "bad-yaml" / "before")
    missing = f"file://{tmp_path}/remotes/acme/missing.git"
    report_path = tmp_path / "report.json"
    repos = [*broken, trunk, fixed, bad, missing]
    result = batch(tmp_path, *repos, "--push", "--report", str(report_path), "--jobs", "2")
    assert result.returncode == 1, result.stderr
    report = json.loads(report_path.read_text())
    by_repo = {r["repo"]: r for r in report["repos"]}
    assert [r["repo"] for r in report["repos"]] == repos, "input order, repo as given"
    for url in [*broken, trunk]:
        entry = by_repo[url]
        assert entry["status"] == "changed" and entry["branch"] == BRANCH and entry["error"] is None
        assert remote_ref(url, f"refs/heads/{BRANCH}") == entry["commit"]
        assert "kubernetes/apps/openhands/openhands/app/migration-job.yaml" in entry["files"]
    assert (
        git(Path("/"), "--git-dir", trunk[len("file://") :], "rev-parse", f"{BRANCH}^").stdout
        == git(Path("/"), "--git-dir", trunk[len("file://") :], "rev-parse", "trunk").stdout
    ), "planned on the remote's default branch, whatever its name"
    assert by_repo[fixed]["status"] == "unchanged" and remote_ref(fixed, f"refs/heads/{BRANCH}") is None
    assert by_repo[bad]["status"] == "failed"
    assert "kubernetes/apps/ai/openhands/app/helmrelease.yaml:11:10" in by_repo[bad]["error"]
    assert by_repo[missing]["status"] == "failed" and "git clone" in by_repo[missing]["error"]
    assert report["counts"] == {"changed": 4, "updated": 0, "up-to-date": 0, "unchanged": 1, "failed": 2}
    assert "4 changed, 1 unchanged, 2 failed" in result.stderr


def test_rerun_opens_no_duplicate_pull_request_and_is_up_to_date(tmp_path: Path, github: FakeForge) -> None:
    urls = [make_remote(tmp_path, name, EXAMPLE) for name in ("one", "two")]
    args = ("--open-pr", "--api-url", github.url, "--label", "codemods", "--reviewer", "alice", "--draft")
    first = batch(tmp_path, *urls, *args, "--report", str(tmp_path / "r1.json"))
    assert first.returncode == 0, first.stderr
    r1 = json.loads((tmp_path / "r1.json").read_text())["repos"]
    assert [r["status"] for r in r1] == ["changed", "changed"]
    assert [r["pr_url"] for r in r1] == [
        "https://github.example/acme/one/pull/1",
        "https://github.example/acme/two/pull/1",
    ]
    pr = github.pulls["acme/one"][0]
    assert pr["draft"] is True and pr["labels"] == ["codemods"] and pr["requested_reviewers"] == ["alice"]
    assert pr["head"]["ref"] == BRANCH and pr["base"]["ref"] == "main"
    assert len(pr["title"]) <= 72
    for path in r1[0]["files"]:
        assert f"`{path}`" in pr["body"], "the PR body names every changed file"
    # The first call (the token's check, GET /user) met the secondary rate limit, and was retried.
    assert [(r.method, r.path, r.status) for r in github.requests[:2]] == [("GET", "/user", 403), ("GET", "/user", 200)]
    tips = [remote_ref(u, f"refs/heads/{BRANCH}") for u in urls]

    second = batch(tmp_path, *urls, *args, "--report", str(tmp_path / "r2.json"))
    assert second.returncode == 0, second.stderr
    r2 = json.loads((tmp_path / "r2.json").read_text())["repos"]
    assert [r["status"] for r in r2] == ["up-to-date", "up-to-date"]
    assert [r["pr_url"] for r in r2] == [r["pr_url"] for r in r1]
    assert len(github.calls("POST", "/pulls$")) == 2, "no new pull request"
    assert not github.calls("PATCH"), "nothing new to say"
    assert [remote_ref(u, f"refs/heads/{BRANCH}") for u in urls] == tips, "nothing pushed"


def test_default_branch_moves_then_updated_with_the_same_pull_request(tmp_path: Path, github: FakeForge) -> None:
    url = make_remote(tmp_path, "app", EXAMPLE)
    args = ("--open-pr", "--api-url", github.url, "--report", str(tmp_path / "r.json"))
    assert batch(tmp_path, url, *args).returncode == 0
    new_main = advance_default_branch(tmp_path, url)
    result = batch(tmp_path, url, *args)
    assert result.returncode == 0, result.stderr
    entry = json.loads((tmp_path / "r.json").read_text())["repos"][0]
    assert entry["status"] == "updated" and entry["pr_url"] == "https://github.example/acme/app/pull/1"
    assert len(github.pulls["acme/app"]) == 1 and len(github.calls("PATCH", "/pulls/1$")) == 1
    bare = url[len("file://") :]
    assert git(Path("/"), "--git-dir", bare, "rev-parse", f"{BRANCH}^").stdout.strip() == new_main
    assert git(Path("/"), "--git-dir", bare, "rev-list", "--count", f"main..{BRANCH}").stdout.strip() == "1"


def test_gitlab_merge_requests(tmp_path: Path, gitlab: FakeForge) -> None:
    url = make_remote(tmp_path, "app", EXAMPLE)
    args = (
        "--open-pr",
        "--forge",
        "gitlab",
        "--api-url",
        gitlab.url,
        "--draft",
        "--label",
        "a",
        "--label",
        "b",
        "--reviewer",
        "bob",
    )
    assert batch(tmp_path, url, *args).returncode == 0
    (mr,) = gitlab.pulls["acme/app"]
    assert mr["title"].startswith("Draft: ") and mr["labels"] == "a,b" and mr["reviewer_ids"] == [8]
    assert mr["source_branch"] == BRANCH and mr["target_branch"] == "main"
    assert all(r.headers.get("private-token") == TOKEN for r in gitlab.requests)
    assert batch(tmp_path, url, *args).returncode == 0
    advance_default_branch(tmp_path, url)
    assert batch(tmp_path, url, *args).returncode == 0
    assert len(gitlab.pulls["acme/app"]) == 1 and len(gitlab.calls("PUT")) == 1


def test_token_appears_in_no_output(tmp_path: Path, github: FakeForge) -> None:
    url = make_remote(tmp_path, "app", EXAMPLE)
    unreachable = f"https://x-access-token:{TOKEN}@127.0.0.1:9/acme/private.git"
    report_path = tmp_path / "report.json"
    result = batch(tmp_path, url, unreachable, "--open-pr", "--api-url", github.url, "--report", str(report_path))
    assert result.returncode == 1
    outputs = [result.stdout, result.stderr, report_path.read_text()]
    # Every file the batch keeps: git's config and FETCH_HEAD, the planning trees, the caches.
    outputs += [p.read_text(errors="replace") for p in (tmp_path / "work").rglob("*") if p.is_file()]
    for text in outputs:
        assert TOKEN not in text
    report = json.loads(report_path.read_text())
    assert report["repos"][1]["repo"] == "https://***@127.0.0.1:9/acme/private.git"
    assert report["repos"][1]["status"] == "failed"


def test_api_error_fails_that_repo_only(tmp_path: Path, github: FakeForge) -> None:
    urls = [make_remote(tmp_path, name, EXAMPLE) for name in ("one", "two")]
    result = batch(
        tmp_path, *urls, "--open-pr", "--api-url", github.url + "/wrong", "--report", str(tmp_path / "r.json")
    )
    assert result.returncode == 1
    entries = json.loads((tmp_path / "r.json").read_text())["repos"]
    assert [e["status"] for e in entries] == ["failed", "failed"]
    assert all("HTTP 404" in e["error"] and TOKEN not in e["error"] for e in entries)


def test_foreign_commit_on_the_remote_branch_is_left_alone(tmp_path: Path) -> None:
    url = make_remote(tmp_path, "app", EXAMPLE)
    other = make_remote(tmp_path, "other", EXAMPLE)
    human = tmp_path / "human"
    git(tmp_path, "clone", "-q", url, str(human))
    git(human, "checkout", "-q", "-b", BRANCH)
    (human / "cluster.toml").write_text("mine = true\n")
    git(human, "commit", "-qam", "a human's work on that branch")
    git(human, "push", "-q", "origin", BRANCH)
    before = remote_ref(url, f"refs/heads/{BRANCH}")
    result = batch(tmp_path, url, other, "--push", "--report", str(tmp_path / "r.json"))
    assert result.returncode == 0, "a person's branch is theirs, not a failure (issue 21)"
    entries = json.loads((tmp_path / "r.json").read_text())["repos"]
    assert entries[0]["status"] == "blocked-by-human" and entries[0]["error"] is None
    assert entries[0]["note"] == (
        f'{BRANCH} holds {before[:12]} ("a human\'s work on that branch"), which codemods did not make; it is '
        "left alone: delete or rename the branch, or pick another --branch, and the next run will take over"
    )
    assert entries[1]["status"] == "changed"
    assert remote_ref(url, f"refs/heads/{BRANCH}") == before


def test_dry_run_prints_labelled_diffs_and_pushes_nothing(tmp_path: Path) -> None:
    urls = [make_remote(tmp_path, name, EXAMPLE) for name in ("one", "two")]
    result = batch(tmp_path, *urls, "--dry-run", "--push")
    assert result.returncode == 0
    for url in urls:
        assert f"# codemods: {url}\ndiff --git a/" in result.stdout
        assert remote_ref(url, f"refs/heads/{BRANCH}") is None
    assert "rename from kubernetes/apps/openhands/migration-job.yaml" in result.stdout


def test_parallel_results_equal_serial_results(tmp_path: Path) -> None:
    urls = [make_remote(tmp_path, f"app{i}", EXAMPLE) for i in range(4)]
    serial = batch(tmp_path / "a", *urls, "--dry-run", "--jobs", "1")
    parallel = batch(tmp_path / "b", *urls, "--dry-run", "--jobs", "2")
    assert serial.stdout == parallel.stdout and serial.stdout.count("# codemods:") == 4


def test_shard_partitions_exactly() -> None:
    repos = [f"https://github.com/acme/repo-{i}" for i in range(1000)]
    for total in (1, 2, 7):
        shards = [[r for r in repos if in_shard(r, index, total)] for index in range(1, total + 1)]
        assert sorted(r for shard in shards for r in shard) == sorted(repos), "every repo in exactly one shard"
        assert all(shards), "no empty shard for 1000 repos"
        reordered = list(reversed(repos))[:500]
        assert [r for r in reordered if in_shard(r, 1, total)] == [r for r in reordered if r in shards[0]], "stable"


def test_shard_flag_selects_the_slice(tmp_path: Path) -> None:
    urls = [make_remote(tmp_path, f"app{i}", EXAMPLE) for i in range(5)]
    seen = []
    for index in (1, 2):
        out = batch(tmp_path / str(index), *urls, "--dry-run", "--shard", f"{index}/2").stdout
        seen += [u for u in urls if f"# codemods: {u}\n" in out]
    assert sorted(seen) == sorted(urls)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((), "no repositories"),
        (("x", "--shard", "0/2"), "--shard"),
        (("x", "--shard", "3/2"), "--shard"),
        (("x", "--only", "nope"), "unknown codemod"),
        (("x", "--jobs", "0"), "--jobs"),
    ],
)
def test_bad_arguments_are_exit_2(tmp_path: Path, args: tuple[str, ...], message: str) -> None:
    result = batch(tmp_path, *args)
    assert result.returncode == 2 and message in result.stderr


def test_open_pr_without_token_is_exit_2(tmp_path: Path) -> None:
    result = batch(tmp_path, "file:///nowhere.git", "--open-pr", token=None)
    assert result.returncode == 2 and "GITHUB_TOKEN" in result.stderr


def test_repos_file(tmp_path: Path) -> None:
    listing = tmp_path / "repos.txt"
    listing.write_text("# fleet\n\nhttps://github.com/a/b.git\n  git@github.com:c/d.git   # legacy\nfile:///x/y.git\n")
    assert read_repos_file(listing) == ["https://github.com/a/b.git", "git@github.com:c/d.git", "file:///x/y.git"]


def test_credentials_are_split_and_redacted() -> None:
    assert split_credentials(f"https://x-access-token:{TOKEN}@github.com/a/b.git") == (
        "https://github.com/a/b.git",
        TOKEN,
    )
    assert split_credentials("git@github.com:a/b.git") == ("git@github.com:a/b.git", None)
    assert redact(f"fatal: https://user:{TOKEN}@h/x and {TOKEN}", (TOKEN,)) == "fatal: https://***@h/x and ***"
    assert parse_shard("2/5") == (2, 5)


@pytest.mark.parametrize("name", ['it\'s "quoted"', "$HOME and \\backslash", "a;b|c&&d `e` $(f)"])
def test_repository_paths_with_quotes_dollars_and_backslashes_push_on_the_first_run(tmp_path: Path, name: str) -> None:
    # GitPython's clone_from would rewrite such a URL (expanding $VARS, turning \\ into /).
    url = make_remote(tmp_path, f"app {name}", EXAMPLE)[len("file://") :]
    result = batch(tmp_path, url, "--push", "--report", str(tmp_path / "r.json"))
    assert result.returncode == 0, result.stderr
    entry = json.loads((tmp_path / "r.json").read_text())["repos"][0]
    assert entry["status"] == "changed", entry["error"]
    assert remote_ref(url, f"refs/heads/{BRANCH}") == entry["commit"]


def test_a_repository_that_looks_like_an_option_is_refused(tmp_path: Path) -> None:
    result = batch(tmp_path, "--", "--upload-pack=touch PWNED")
    assert result.returncode == 2 and "may not start with '-'" in result.stderr
    assert not list(tmp_path.rglob("PWNED")) and not Path("PWNED").exists()


def test_the_forge_token_authenticates_https_git_through_the_environment() -> None:
    import base64

    from codemods.vcs.remote import git_env, token_userinfo

    assert token_userinfo("https://github.com/a/b.git", TOKEN, None) == f"x-access-token:{TOKEN}"
    assert token_userinfo("https://gitlab.example.com/a/b.git", None, TOKEN) == f"oauth2:{TOKEN}"
    assert token_userinfo("git@github.com:a/b.git", TOKEN, None) is None, "ssh uses its own keys"
    assert token_userinfo("file:///x/y.git", TOKEN, None) is None
    env = git_env("https://github.com/a/b.git", token_userinfo("https://github.com/a/b.git", TOKEN, None))
    assert env["GIT_CONFIG_KEY_0"] == "http.https://github.com/.extraHeader"
    assert (
        env["GIT_CONFIG_VALUE_0"]
        == "Authorization: Basic " + base64.b64encode(f"x-access-token:{TOKEN}".encode()).decode()
    )


def _git_commands(trace: Path) -> list[str]:
    """The git subcommands a run started, from git's own trace (GIT_TRACE2_EVENT)."""
    commands = []
    for line in trace.read_text().splitlines():
        event = json.loads(line)
        if event.get("event") == "start" and len(event.get("argv", [])) > 1:
            commands.append(event["argv"][1])
    return commands


def test_a_rerun_where_nothing_moved_asks_the_remote_once_and_fetches_nothing(tmp_path: Path) -> None:
    url = make_remote(tmp_path, "app", EXAMPLE)
    assert batch(tmp_path, "--push", "--no-verify", url).returncode == 0
    trace = tmp_path / "trace.json"
    again = run_codemods(
        "batch", "--workdir", str(tmp_path / "work"), "--push", "--no-verify", "--report", str(tmp_path / "r.json"), url,
        env={"GIT_TRACE2_EVENT": str(trace)},
    )  # fmt: skip
    assert again.returncode == 0, again.stderr
    assert json.loads((tmp_path / "r.json").read_text())["repos"][0]["status"] == "up-to-date"
    commands = _git_commands(trace)
    assert commands.count("ls-remote") == 1
    assert "fetch" not in commands and "remote" not in commands, commands  # no set-url, no set-head --auto

    # The remote moves: a new commit on main, and main is no longer the default branch.
    advance_default_branch(tmp_path, url)
    bare = Path(url.removeprefix("file://"))
    git(bare, "branch", "develop", "main")
    git(bare, "symbolic-ref", "HEAD", "refs/heads/develop")
    trace.unlink()
    moved = run_codemods(
        "batch", "--workdir", str(tmp_path / "work"), "--push", "--no-verify", "--report", str(tmp_path / "r.json"), url,
        env={"GIT_TRACE2_EVENT": str(trace)},
    )  # fmt: skip
    assert moved.returncode == 0, moved.stderr
    commands = _git_commands(trace)
    assert "fetch" in commands, commands
    assert json.loads((tmp_path / "r.json").read_text())["repos"][0]["status"] == "updated"
    clone = tmp_path / "work" / next(p.name for p in (tmp_path / "work").iterdir() if (p / ".git").is_dir())
    assert git(clone, "symbolic-ref", "refs/remotes/origin/HEAD").stdout.strip() == "refs/remotes/origin/develop"
    assert git(clone, "rev-parse", f"refs/heads/{BRANCH}^").stdout.strip() == remote_ref(url, "refs/heads/develop")
    # The branch pushed is the one the clone holds, and both are on the new default branch.
    assert git(clone, "rev-parse", f"refs/heads/{BRANCH}").stdout.strip() == remote_ref(url, f"refs/heads/{BRANCH}")


def test_a_clone_takes_no_hook_from_the_user_s_template_directory(tmp_path: Path) -> None:
    """A bot's clone is made without templates: a pre-push hook in init.templateDir (here one
    that refuses every push) is not copied into it, and no sample hook is written either."""
    url = make_remote(tmp_path, "hooked", EXAMPLE)
    template = tmp_path / "template"
    (template / "hooks").mkdir(parents=True)
    hook = template / "hooks" / "pre-push"
    hook.write_text("#!/bin/sh\necho refused by a template hook >&2\nexit 1\n")
    hook.chmod(0o755)
    config = tmp_path / "gitconfig"
    config.write_text(f"[init]\n\ttemplateDir = {template}\n[user]\n\tname = bot\n\temail = bot@example.invalid\n")
    result = run_codemods(
        "batch", "--workdir", str(tmp_path / "work"), "--push", "--no-verify", url,
        env={"GIT_CONFIG_GLOBAL": str(config)},
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert remote_ref(url, f"refs/heads/{BRANCH}") is not None
    assert not list((tmp_path / "work").glob("*/.git/hooks"))


def test_the_identity_is_read_from_the_configuration_git_reads(tmp_path: Path) -> None:
    """GIT_CONFIG_GLOBAL replaces ~/.gitconfig for git: an identity only ~/.gitconfig holds is
    not configured, so the commit gets the neutral one instead of failing."""
    url = make_remote(tmp_path, "ci", EXAMPLE)
    home = tmp_path / "home"
    home.mkdir()
    (home / ".gitconfig").write_text("[user]\n\tname = Not Seen\n\temail = not-seen@example.invalid\n")
    config = tmp_path / "ci-gitconfig"
    config.write_text("[core]\n\tautocrlf = false\n")
    result = run_codemods(
        "batch", "--workdir", str(tmp_path / "work"), "--push", "--no-verify", url,
        env={"GIT_CONFIG_GLOBAL": str(config), "HOME": str(home)},
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert pushed_author(url) == "codemods <codemods@localhost>"


def test_a_repository_listed_twice_takes_turns_in_its_clone(tmp_path: Path) -> None:
    """Both entries share one clone and its planning tree: never two workers in it at once."""
    url = make_remote(tmp_path, "twice", EXAMPLE)
    repos = tmp_path / "repos.txt"
    repos.write_text(f"{url}\n{url}\n{url}\n")
    args = ("batch", "--workdir", str(tmp_path / "work"), "--repos-file", str(repos), "--jobs", "3", "--push",
            "--no-verify", "--report", str(tmp_path / "r.json"))  # fmt: skip
    assert run_codemods(*args).returncode == 0
    first = remote_ref(url, f"refs/heads/{BRANCH}")
    alone = tmp_path / "alone"
    assert run_codemods("run", "--branch", "fix", "--no-verify", str(_fresh_clone(url, alone))).returncode == 0
    assert (
        git(Path(url.removeprefix("file://")), "rev-parse", f"{first}^{{tree}}").stdout
        == git(alone, "rev-parse", "fix^{tree}").stdout
    )
    for _ in range(2):
        result = run_codemods(*args)
        statuses = [r["status"] for r in json.loads((tmp_path / "r.json").read_text())["repos"]]
        assert result.returncode == 0 and statuses == ["up-to-date"] * 3, (statuses, result.stderr)
        assert remote_ref(url, f"refs/heads/{BRANCH}") == first


def pushed_author(url: str) -> str:
    """`name <email>` of the commit at the tip of the branch pushed to url."""
    bare = Path(url.removeprefix("file://"))
    return git(bare, "log", "-1", "--format=%an <%ae>", f"refs/heads/{BRANCH}").stdout.strip()


def _fresh_clone(url: str, where: Path) -> Path:
    git(where.parent, "clone", "-q", url, str(where))
    return where


def test_errors_name_the_repository_with_a_relative_workdir(tmp_path: Path) -> None:
    url = make_remote(tmp_path, "looped", EXAMPLE)
    work = _fresh_clone(url, tmp_path / "person")
    # Planning it fails: an alias bomb in a release the fix must read (a loop of links, which
    # this test used before, is now reported and skipped: issue 21).
    bomb = ["    l0: &l0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
    bomb += [f"    l{i}: &l{i} [" + ", ".join([f"*l{i - 1}"] * 9) + "]" for i in range(1, 11)]
    (work / "kubernetes" / "apps" / "loop").mkdir()
    (work / "kubernetes" / "apps" / "loop" / "helmrelease.yaml").write_text(
        "apiVersion: helm.toolkit.fluxcd.io/v2\nkind: HelmRelease\nmetadata:\n  name: loop\nspec:\n"
        "  values:\n    litellm-helm:\n" + "\n".join(bomb) + "\n"
    )
    git(work, "add", "-A")
    git(work, "commit", "-qm", "an alias bomb")
    git(work, "push", "-q", "origin", "HEAD:main")
    result = run_codemods("batch", "--workdir", "wd", "--no-verify", "--report", "r.json", url, cwd=tmp_path)
    (entry,) = json.loads((tmp_path / "r.json").read_text())["repos"]
    assert entry["status"] == "failed" and "kubernetes/apps/loop" in entry["error"], entry
    assert ".git/codemods" not in entry["error"] and str(tmp_path) not in entry["error"], entry
    assert result.returncode == 1


def test_the_identity_is_read_from_the_environment_git_reads_too(tmp_path: Path) -> None:
    url = make_remote(tmp_path, "ci-env", EXAMPLE)
    config = tmp_path / "empty-gitconfig"
    config.write_text("")
    env = {"GIT_CONFIG_GLOBAL": str(config), "GIT_CONFIG_COUNT": "2", "GIT_CONFIG_KEY_0": "user.name",
           "GIT_CONFIG_VALUE_0": "CI Bot", "GIT_CONFIG_KEY_1": "user.email", "GIT_CONFIG_VALUE_1": "ci@example.invalid"}  # fmt: skip
    result = run_codemods("batch", "--workdir", str(tmp_path / "work"), "--push", "--no-verify", url, env=env)
    assert result.returncode == 0, result.stderr
    assert pushed_author(url) == "CI Bot <ci@example.invalid>"


def test_a_shared_clone_s_branch_ref_gets_group_permissions(tmp_path: Path) -> None:
    url = make_remote(tmp_path, "shared", EXAMPLE)
    args = ("batch", "--workdir", str(tmp_path / "work"), "--no-verify")
    assert run_codemods(*args, "--dry-run", url).returncode == 0
    (clone,) = [p for p in (tmp_path / "work").iterdir() if (p / ".git").is_dir()]
    git(clone, "config", "core.sharedRepository", "group")
    assert run_codemods(*args, "--push", url).returncode == 0
    ref = clone / ".git" / "refs" / "heads" / BRANCH
    assert ref.stat().st_mode & 0o020 and ref.parent.stat().st_mode & 0o020  # group-writable, as git makes them

"""Shared setup of the rollout tests: forge stand-ins that host real git repositories over
HTTP, and the real CLI run in-process (one interpreter start saved per run)."""

from __future__ import annotations

import itertools
import json
import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from codemods.cli import main
from tests.forge_server import FakeForge, serve
from tests.helpers import ROOT, git, git_init

EXAMPLE = ROOT / "examples" / "openhands-cluster-template"
BRANCH = "codemods/litellm-migration"
TOKENS = {
    "github": "ghp_GITHUBTOKEN0123456789abcdefSECRET",
    "gitlab": "glpat-GITLABTOKEN0123456789SECRET",
    "gitea": "gta_GITEATOKEN0123456789abcdefSECRET",
}
TOKEN_ENV = {"github": "GITHUB_TOKEN", "gitlab": "GITLAB_TOKEN", "gitea": "GITEA_TOKEN"}


@dataclass
class Run:
    code: int
    out: str
    err: str
    report: dict = field(default_factory=dict)

    @property
    def repos(self) -> list[dict]:
        return self.report.get("repos", [])

    @property
    def statuses(self) -> list[str]:
        return [r["status"] for r in self.repos]


@pytest.fixture(scope="module")
def seed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A bare repository holding the example, cloned (cheaply) for every hosted repository."""
    root = tmp_path_factory.mktemp("seed")
    work = root / "work"
    shutil.copytree(EXAMPLE, work)
    git_init(work)
    bare = root / "seed.git"
    git(root, "clone", "-q", "--bare", str(work), str(bare))
    return bare


class Hosting:
    """Forge stand-ins, one per kind and host, each serving its repositories over git's HTTP."""

    def __init__(self, root: Path, seed: Path) -> None:
        self.root = root
        self.seed = seed
        self.servers: list = []

    def forge(self, kind: str, token: str | None = None) -> FakeForge:
        git_root = self.root / f"{kind}-{len(self.servers)}"
        git_root.mkdir(parents=True)
        forge = FakeForge(token or TOKENS[kind], rate_limit_first=False, git_root=git_root)
        self.servers.append(serve(forge, kind))
        return forge

    def host(self, forge: FakeForge, project: str, source: Path | None = None, **repo: object) -> str:
        """A repository on forge at project (group/sub/name); its http clone URL."""
        assert forge.git_root is not None
        bare = forge.git_root / f"{project}.git"
        if source is None:
            git(self.root, "clone", "-q", "--bare", str(self.seed), str(bare))
        else:
            work = self.root / "src" / project
            shutil.copytree(source, work)
            git_init(work)
            git(self.root, "clone", "-q", "--bare", str(work), str(bare))
        forge.repos.append({"project": project, **repo})
        return forge.clone_url(project)

    def close(self) -> None:
        for server in self.servers:
            server.shutdown()


@pytest.fixture
def hosting(tmp_path: Path, seed: Path) -> Iterator[Hosting]:
    hosting = Hosting(tmp_path / "hosted", seed)
    yield hosting
    hosting.close()


@pytest.fixture
def cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> Callable[..., Run]:
    """`codemods ARGS...` in-process, with every forge's token in the environment, and the
    --report it wrote (when the command takes one)."""
    counter = itertools.count()

    def run(*args: str, tokens: dict[str, str] | None = None, report: bool = True, columns: str | None = "80") -> Run:
        for kind, env in TOKEN_ENV.items():
            monkeypatch.setenv(env, (tokens or TOKENS).get(kind, ""))
        if columns is None:  # as in a CI log: no terminal, and nobody set a width
            monkeypatch.delenv("COLUMNS", raising=False)
        else:
            monkeypatch.setenv("COLUMNS", columns)
        path = tmp_path / f"report-{next(counter)}.json"
        capsys.readouterr()
        code = main([*args, *(("--report", str(path)) if report else ())])
        captured = capsys.readouterr()
        return Run(code, captured.out, captured.err, json.loads(path.read_text()) if path.exists() else {})

    return run


def bare_dir(forge: FakeForge, project: str) -> Path:
    assert forge.git_root is not None
    return forge.git_root / f"{project}.git"


def ref(forge: FakeForge, project: str, name: str) -> str | None:
    out = git(
        Path("/"), "--git-dir", str(bare_dir(forge, project)), "rev-parse", "--verify", "--quiet", name, check=False
    )
    return out.stdout.strip() or None


def commit_to(forge: FakeForge, project: str, branch: str, change: Callable[[Path], None], message: str) -> str:
    """A person's commit on branch of a hosted repository (created from the default branch)."""
    clone = forge.git_root.parent / "people" / project.replace("/", "_")  # type: ignore[union-attr]
    shutil.rmtree(clone, ignore_errors=True)
    git(Path("/"), "clone", "-q", str(bare_dir(forge, project)), str(clone))
    if git(clone, "rev-parse", "--verify", "--quiet", f"origin/{branch}", check=False).returncode == 0:
        git(clone, "checkout", "-q", branch)
    else:
        git(clone, "checkout", "-q", "-b", branch)
    change(clone)
    git(clone, "add", "-A")
    git(clone, "commit", "-qm", message)
    git(clone, "push", "-q", "origin", f"HEAD:refs/heads/{branch}")
    return git(clone, "rev-parse", "HEAD").stdout.strip()


def touch_cluster(clone: Path) -> None:
    (clone / "cluster.toml").write_text((clone / "cluster.toml").read_text() + "moved = true\n")

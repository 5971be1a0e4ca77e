"""The repository list: arguments and --repos-file, sharding, and per-repo working names."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

from codemods.secrets import redact, split_credentials


@dataclass(frozen=True)
class RepoSpec:
    given: str  # exactly as on input (reports redact it)
    url: str  # what git clones, without credentials
    userinfo: str | None  # credentials that were in the URL, if any

    @property
    def shown(self) -> str:
        return redact(self.given, (self.userinfo or "",))

    def slug(self) -> str:
        tail = "-".join(p for p in re.split(r"[/:]", self.url.rstrip("/"))[-2:] if p)
        tail = re.sub(r"[^A-Za-z0-9._-]+", "-", tail.removesuffix(".git")).strip("-.") or "repo"
        return f"{tail}-{hashlib.sha256(self.url.encode()).hexdigest()[:8]}"


def parse_spec(given: str) -> RepoSpec:
    if given.strip().startswith("-"):
        raise ValueError(f"{given!r}: a repository may not start with '-'")
    url, userinfo = split_credentials(given.strip())
    if "://" not in url and not re.match(r"^[\w.-]+@[\w.-]+:", url):
        url = str(Path(url).expanduser().resolve())  # a local path
    return RepoSpec(given.strip(), url, userinfo)


def read_repos_file(path: Path) -> list[str]:
    repos = []
    for raw in path.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if line and not line.startswith("#"):
            repos.append(re.split(r"\s+#", line, maxsplit=1)[0])  # " # note" ends the entry
    return repos


def parse_shard(text: str) -> tuple[int, int]:
    match = re.fullmatch(r"(\d+)/(\d+)", text.strip())
    if not match:
        raise ValueError(f"--shard takes I/N with 1 <= I <= N, not {text!r}")
    index, total = int(match.group(1)), int(match.group(2))
    if not 1 <= index <= total:
        raise ValueError(f"--shard takes I/N with 1 <= I <= N, not {text!r}")
    return index, total


def in_shard(repo: str, index: int, total: int) -> bool:
    """Stable: a repo's shard depends on its name only, never on list order or length."""
    digest = int.from_bytes(hashlib.sha256(repo.encode()).digest()[:8], "big")
    return digest % total == index - 1

"""`codemods run --branch`: plan on the base commit's tree, commit once, publish the branch."""

from __future__ import annotations

import contextlib
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from git import Repo
from git.exc import GitCommandError

from codemods.diagnostics import Diagnostic
from codemods.errors import InputError
from codemods.mods import Codemod
from codemods.plan import Plan
from codemods.recipes import Recipe
from codemods.runner import plan_repository, touched_findings
from codemods.vcs import git as g
from codemods.vcs.message import commit_message, has_trailer, summary_markdown
from codemods.vcs.message import context as message_context
from codemods.verify.model import Semantic

# The same names as `codemods batch` statuses.
BranchStatus = Literal["changed", "updated", "up-to-date", "unchanged"]


@dataclass
class BranchResult:
    status: BranchStatus
    branch: str
    base: str
    plan: Plan
    prefix: str
    commit: str | None = None
    message: str | None = None
    summary: str | None = None
    findings: list[Diagnostic] = field(default_factory=list)  # the doctor's, on the touched files
    semantic: Semantic | None = None  # build gate (issue 12): what Flux will apply differently

    def info(self) -> dict[str, object]:
        return {"name": self.branch, "status": self.status, "commit": self.commit, "base": self.base}


def describe(info: dict[str, object]) -> str:
    """One line for people: what happened to the branch."""
    name, status = info["name"], info["status"]
    short, base = str(info.get("commit") or "")[:12], str(info["base"])[:12]
    return {
        "changed": f"created branch {name} at {short} on {base}",
        "updated": f"rebuilt branch {name} at {short} on {base}",
        "up-to-date": f"branch {name} is up to date ({short} on {base})",
        "unchanged": f"nothing to change on {base}: no branch created",
    }[str(status)]


def deliver(
    path: Path,
    branch: str,
    base: str | None,
    mods: Sequence[Codemod],
    message_template: Path | None = None,
    write: bool = True,
    check_name: bool = True,
    recipe: Recipe | None = None,
    findings: bool = True,
    gate: Callable[[Plan], Semantic] | None = None,
    scratch: Path | None = None,
    move_branch: bool = True,
    config: g.GitSettings | None = None,
) -> BranchResult:
    """Plan on base's tree, commit the change once and move branch to it (compare-and-swap).

    The base is checked out into a temporary directory, or, with scratch, into a planning tree
    kept there between runs (a batch clone's: only what moved since the last run is written,
    and nothing is deleted at the end). move_branch=False makes the commit and leaves the
    branch where it is, for a caller that publishes the commit itself (a batch push). config:
    the repository's git configuration, when the caller read it already (a run writes none);
    else it is asked of git when needed (a kept planning tree, a commit)."""
    repo, prefix = g.open_repository(path)
    where = repo.working_tree_dir or str(path)
    try:
        if check_name:
            g.validate_branch_name(repo, branch)
        base_sha = g.resolve_base(repo, base)
        with contextlib.ExitStack() as stack:
            if scratch is None:
                tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="codemods-")))
                checkout, index = tmp / "tree", tmp / "index"
                g.checkout_tree(repo, base_sha, checkout, index)
            else:
                config = config or g.read_config(repo)
                checkout, index = g.refresh_tree(repo, base_sha, scratch, config)
            plan = plan_repository(checkout / prefix if prefix else checkout, mods)
            result = BranchResult("unchanged", branch, base_sha, plan, prefix)
            if plan.is_empty:
                return result
            # build gate (issue 12): judged on the base's tree, before any commit; raises Refused
            result.semantic = gate(plan) if gate is not None else None
            lead = f"{prefix}/" if prefix else ""
            values = message_context(plan, lead, recipe, result.semantic)  # one context for both texts
            result.message = commit_message(plan, lead, message_template, recipe, result.semantic, values)
            result.summary = summary_markdown(plan, lead, recipe, result.semantic, values)
            if not write:
                result.status = "changed"
                result.findings = touched_findings(plan, written=False) if findings else []
                return result
            changes = plan.changeset()  # one frozen change: the same for the disk and the tree
            tip = g.branch_tip(repo, branch)
            # A kept planning tree remembers what its last run committed: the very same change
            # on the same base and settings, still at the branch's tip, is up to date as is.
            key = g.change_key(scratch, base_sha, prefix, changes) if scratch is not None and not findings else None
            if key is not None and scratch is not None and tip is not None and g.built_commit(scratch, key) == tip:
                result.status, result.commit = "up-to-date", tip
                return result
            changes.apply(durable=False)  # into the temporary checkout only
            result.findings = touched_findings(plan, written=True) if findings else []
            tree = g.build_tree(repo, changes, prefix, checkout, index)
            result.status, result.commit = _commit(repo, result, tree, tip, config, move_branch)
            if key is not None and scratch is not None:
                g.remember_built(scratch, key, result.commit)
            return result
    except GitCommandError as err:
        raise g.command_error(where, err) from None


def _commit(
    repo: Repo, result: BranchResult, tree: str, tip: str | None, config: g.GitSettings | None, move_branch: bool
) -> tuple[BranchStatus, str]:
    """The branch's new commit of tree on the base (moved to it unless the caller publishes
    it), or its tip when that already is this tree on this base."""
    if tip is not None:
        current = g.read_commit(repo, tip)
        if [p.hexsha for p in current.parents] == [result.base] and current.tree.hexsha == tree:
            return "up-to-date", tip
        _check_safe_to_rewrite(repo, result.branch, tip, result.base)
    assert result.message is not None
    commit = g.commit_tree(repo, tree, result.base, result.message, config or g.read_config(repo))
    if move_branch:
        g.update_branch(repo, result.branch, commit, tip)
    return ("updated" if tip is not None else "changed"), commit


def _check_safe_to_rewrite(repo, branch: str, tip: str, base: str) -> None:
    where = repo.working_tree_dir or ""
    worktree = g.checked_out_in(repo, branch)
    if worktree is not None:
        raise InputError(
            where, None, f"branch {branch} is checked out in {worktree}; codemods will not move it under you"
        )
    for commit in g.commits_not_in(repo, tip, base):
        if not has_trailer(commit.message):
            subject = commit.message.splitlines()[0] if commit.message else ""
            raise InputError(
                where,
                None,
                f"branch {branch} holds commit {commit.hexsha[:12]} ({subject!r}) that codemods did not make; "
                "refusing to rewrite it (delete or rename the branch, or pick another --branch)",
            )

"""`codemods run --branch`: plan on the base commit's tree, commit once, publish the branch."""

from __future__ import annotations

import contextlib
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
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
from codemods.vcs.message import commit_message, summary_markdown
from codemods.vcs.message import context as message_context
from codemods.vcs.remote import describe_commit, first_foreign
from codemods.verify.model import Semantic

# The same names as `codemods batch` statuses. blocked-by-human only with keep_foreign.
BranchStatus = Literal["changed", "updated", "up-to-date", "unchanged", "blocked-by-human"]


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
    foreign: str | None = None  # blocked-by-human: the person's commit on the branch, described

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
        "blocked-by-human": f"branch {name} holds a commit codemods did not make: left alone",
    }[str(status)]


@dataclass(frozen=True)
class Delivery:
    """What deliver() makes of a repository, and how.

    message_template: the commit message's Jinja template (None: the packaged one). write=False
    plans, judges and describes the commit without making it. check_name: validate branch
    (a batch does it once). findings: run the doctor on the touched files. gate: the build
    gate, judged on the base's tree before any commit. scratch: a planning tree kept there
    between runs (a batch clone's: only what moved since the last run is written, and nothing
    is deleted at the end). move_branch=False makes the commit and leaves the branch where it
    is, for a caller that publishes the commit itself (a batch push). keep_foreign: a branch
    holding a person's commit is reported as blocked-by-human instead of refused. config: the
    repository's git configuration, when the caller read it already (a run writes none)."""

    branch: str
    base: str | None
    mods: Sequence[Codemod]
    message_template: Path | None = None
    recipe: Recipe | None = None
    gate: Callable[[Plan], Semantic] | None = None
    write: bool = True
    check_name: bool = True
    findings: bool = True
    scratch: Path | None = None
    move_branch: bool = True
    keep_foreign: bool = False
    config: g.GitSettings | None = None


def deliver(path: Path, how: Delivery) -> BranchResult:
    """Plan on base's tree, commit the change once and move branch to it (compare-and-swap).

    The base is checked out into a temporary directory, or into how.scratch's kept planning
    tree. A branch holding a commit codemods did not make is never rewritten: refused
    (InputError), or, with how.keep_foreign, reported as blocked-by-human with that commit in
    foreign."""
    repo, prefix = g.open_repository(path)
    where = repo.working_tree_dir or str(path)
    try:
        if how.check_name:
            g.validate_branch_name(repo, how.branch)
        base_sha = g.resolve_base(repo, how.base)
        with contextlib.ExitStack() as stack:
            config = how.config
            if how.scratch is None:
                tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="codemods-")))
                checkout, index = tmp / "tree", tmp / "index"
                g.checkout_tree(repo, base_sha, checkout, index)
            else:
                config = config or g.read_config(repo)
                checkout, index = g.refresh_tree(repo, base_sha, how.scratch, config)
            planned = checkout / prefix if prefix else checkout
            result = BranchResult("unchanged", how.branch, base_sha, plan_repository(planned, how.mods), prefix)
            if result.plan.is_empty:
                return result
            _judge_and_describe(result, planned, how)
            if not how.write:
                result.status = "changed"
                result.findings = touched_findings(result.plan, written=False) if how.findings else []
                return result
            _build_and_commit(repo, result, checkout, index, replace(how, config=config))
            return result
    except GitCommandError as err:
        raise g.command_error(where, err) from None


def _judge_and_describe(result: BranchResult, planned: Path, how: Delivery) -> None:
    """The build gate's verdict (issue 12; raises Refused) on the first candidate plan the builds
    prove, and the commit message and summary of that plan, from one context."""
    if how.gate is not None:
        from codemods.verify.run import prove  # the first candidate plan the builds prove

        mods = how.mods
        result.plan, result.semantic = prove(
            lambda carry: plan_repository(planned, mods, carry), how.gate, first=result.plan
        )
    lead = f"{result.prefix}/" if result.prefix else ""
    values = message_context(result.plan, lead, how.recipe, result.semantic)
    result.message = commit_message(result.plan, lead, how.message_template, how.recipe, result.semantic, values)
    result.summary = summary_markdown(result.plan, lead, how.recipe, result.semantic, values)


def _build_and_commit(repo: Repo, result: BranchResult, checkout: Path, index: Path, how: Delivery) -> None:
    """The change applied to the checkout, its tree written by git and committed on the base
    (or found up to date)."""
    changes = result.plan.changeset()  # one frozen change: the same for the disk and the tree
    tip = g.branch_tip(repo, how.branch)
    # A kept planning tree remembers what its last run committed: the very same change on the
    # same base and settings, still at the branch's tip, is up to date as is.
    scratch = how.scratch
    memo = (
        (scratch, g.change_key(scratch, result.base, result.prefix, changes)) if scratch and not how.findings else None
    )
    if memo is not None and tip is not None and g.built_commit(*memo) == tip:
        result.status, result.commit = "up-to-date", tip
        return
    changes.apply(durable=False)  # into the temporary checkout only
    result.findings = touched_findings(result.plan, written=True) if how.findings else []
    tree = g.build_tree(repo, changes, result.prefix, checkout, index)
    _commit(repo, result, tree, tip, how.config, move_branch=how.move_branch, keep_foreign=how.keep_foreign)
    if memo is not None and result.commit is not None:
        g.remember_built(*memo, result.commit)


def _commit(
    repo: Repo,
    result: BranchResult,
    tree: str,
    tip: str | None,
    config: g.GitSettings | None,
    *,
    move_branch: bool,
    keep_foreign: bool,
) -> None:
    """The branch's new commit of tree on the base in result (the branch moved to it unless the
    caller publishes it); or its tip, when that already is this tree on this base; or, with
    keep_foreign, blocked-by-human when the tip holds a person's commit."""
    if tip is not None:
        current = g.read_commit(repo, tip)
        if [p.hexsha for p in current.parents] == [result.base] and current.tree.hexsha == tree:
            result.status, result.commit = "up-to-date", tip
            return
        foreign = _check_safe_to_rewrite(repo, result.branch, tip, result.base, refuse=not keep_foreign)
        if foreign is not None:
            result.status, result.foreign = "blocked-by-human", foreign
            return
    assert result.message is not None
    result.commit = g.commit_tree(repo, tree, result.base, result.message, config or g.read_config(repo))
    if move_branch:
        g.update_branch(repo, result.branch, result.commit, tip)
    result.status = "updated" if tip is not None else "changed"


def _check_safe_to_rewrite(repo, branch: str, tip: str, base: str, refuse: bool = True) -> str | None:
    """None when codemods may rewrite the branch; else the person's commit on it, described
    (or, with refuse, an InputError naming it)."""
    where = repo.working_tree_dir or ""
    worktree = g.checked_out_in(repo, branch)
    if worktree is not None:
        raise InputError(
            where, None, f"branch {branch} is checked out in {worktree}; codemods will not move it under you"
        )
    commit = first_foreign(repo, tip, base)
    if commit is None:
        return None
    if not refuse:
        return describe_commit(commit)
    raise InputError(
        where,
        None,
        f"branch {branch} holds commit {describe_commit(commit)} that codemods did not make; "
        "refusing to rewrite it (delete or rename the branch, or pick another --branch)",
    )

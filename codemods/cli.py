"""Command line: `codemods run` and `codemods list`."""

from __future__ import annotations

import importlib
import io
import json
import os
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import click

from codemods import __version__, subproc
from codemods.cli_options import RECIPE_HELP, complete_codemods, complete_recipes, verify_options
from codemods.diagnostics import Diagnostic
from codemods.doctor import diagnose  # `doctor --help` lists the rules: the doctor loads with the CLI anyway
from codemods.doctor import output as doctor_output
from codemods.doctor.rules import RULES
from codemods.errors import InputError
from codemods.exitcodes import ExitCode, for_error
from codemods.intents import Adjustment
from codemods.mods import Codemod, every, is_opt_in
from codemods.plan import Plan
from codemods.recipes import Recipe, builtin
from codemods.recipes import load as load_recipe
from codemods.report import report, summary_lines
from codemods.runner import UnknownCodemod, plan_repository, select, touched_findings

# Imported where used, never here (start-up time, not import cycles): GitPython through
# codemods.vcs (about 0.3 s), the build gate (codemods.verify.run) and its preview (about
# 0.1 s with PyYAML). `run` without --branch, or with --no-verify, pays for none of them;
# rich and the forges are for `batch` only (LazyGroup).
if TYPE_CHECKING:
    from codemods.vcs.dirty import Uncommitted
    from codemods.verify.model import Semantic


class LazyGroup(click.Group):
    """Subcommands imported on use: `run` must not pay for rich, GitPython or the forges."""

    lazy: ClassVar[dict[str, str]] = {"batch": "codemods.batch.command:batch_command"}

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted([*super().list_commands(ctx), *self.lazy])

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name in self.lazy:
            module, attr = self.lazy[name].split(":")
            return getattr(importlib.import_module(module), attr)
        return super().get_command(ctx, name)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="codemods")
def cli() -> None:
    """Repair the litellm migration Job failure in Flux GitOps repositories, byte-exactly.

    \b
    Exit codes:
      0  success (with --check: nothing to change)
      1  with --check (and --check --dry-run, which prints the diff too): changes are needed
      2  bad input or failure; nothing was written
    """


@cli.command("run")
@click.argument("path", default=".", type=click.Path(file_okay=False, path_type=Path))
@click.option("--dry-run", is_flag=True, help="Write nothing; print a git-format diff of the changes on stdout.")
@click.option(
    "--check",
    is_flag=True,
    help="Write nothing; exit 1 when changes are needed, 0 when none are. With --dry-run: print the diff too, "
    "and exit 1 when there is one (as ruff's and black's --check --diff).",
)
@click.option(
    "--json",
    "as_json",
    is_flag=True,
    help="Print a machine-readable report on stdout (with --dry-run, the diff is in it).",
)
@click.option("--recipe", metavar="NAME|FILE", shell_complete=complete_recipes, help=RECIPE_HELP)
@click.option(
    "--only",
    multiple=True,
    metavar="NAME",
    shell_complete=complete_codemods,
    help="Run only this codemod (repeatable).",
)
@click.option(
    "--skip",
    multiple=True,
    metavar="NAME",
    shell_complete=complete_codemods,
    help="Do not run this codemod (repeatable).",
)
@click.option(
    "--include",
    multiple=True,
    metavar="NAME",
    shell_complete=complete_codemods,
    help="Also run this opt-in codemod (repeatable), e.g. annotate-job-force.",
)
@click.option(
    "--branch",
    metavar="NAME",
    help="Commit the change as one commit on branch NAME instead of editing PATH; the checkout is left alone.",
)
@click.option("--base", metavar="REV", help="With --branch: the commit to build on (default: HEAD).")
@click.option(
    "--summary-file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="With --branch: write the change summary as Markdown (a pull-request body).",
)
@click.option(
    "--message-template",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="With --branch: a Jinja2 template for the commit message.",
)
@click.option(
    "--allow-dirty",
    is_flag=True,
    help="Edit, move or delete files that have uncommitted changes (or are untracked) too; "
    "without it, such a run refuses (exit 2) and names them.",
)
@click.option("-q", "--quiet", is_flag=True, help="Print no summary on stderr.")
@verify_options
def run_command(**flags: Any) -> int:
    """Apply the codemods to the repository at PATH (default: the current directory).

    Every change is planned first and written only when the whole plan succeeded, each file
    atomically. Run it twice: the second run changes nothing.

    A file the change would edit, move or delete must have no uncommitted changes (in the work
    tree or the index, or untracked); else nothing is written (exit 2) unless --allow-dirty.
    Outside a git repository there is nothing to compare with, and no such check.

    With --branch, the change is planned on the committed tree of --base and committed on
    branch NAME (created, rebuilt, or left alone when already up to date); a warning names the
    uncommitted files that this plan therefore did not see.
    """
    return _run(RunFlags(**flags))


@dataclass(frozen=True)
class RunFlags:
    """`codemods run`'s arguments as click parsed them, one field per option. Click passes each
    as a keyword, so an option without a field (or a field without an option) is a TypeError on
    the command's first use, not a silent default."""

    path: Path
    dry_run: bool
    check: bool
    as_json: bool
    recipe: str | None
    only: tuple[str, ...]
    skip: tuple[str, ...]
    include: tuple[str, ...]
    branch: str | None
    base: str | None
    summary_file: Path | None
    message_template: Path | None
    allow_dirty: bool
    quiet: bool
    verify: bool | None
    kustomize: str | None
    jinja_vars: Path | None

    @property
    def writes(self) -> bool:
        return not (self.dry_run or self.check)


@dataclass
class Outcome:
    """What a run did: its plan, whether it was written, the doctor's findings on the touched
    files, the build gate's verdict (None with --no-verify), and with --branch the branch and the
    uncommitted files the plan did not see."""

    plan: Plan
    applied: bool
    findings: list[Diagnostic]
    semantic: Semantic | None = None
    branch_info: dict[str, object] | None = None
    left_out: LeftOut | None = None


def _run(flags: RunFlags) -> int:
    path = flags.path
    try:
        chosen_recipe = load_recipe(flags.recipe)
    except InputError as err:
        return _fail(path, err, flags.as_json)
    try:
        mods = select(flags.only, flags.skip, flags.include, chosen_recipe)
    except UnknownCodemod as err:
        raise click.BadParameter(str(err), param_hint="--only/--skip/--include") from None
    if flags.branch is None and (flags.base or flags.summary_file or flags.message_template):
        raise click.UsageError("--base, --summary-file and --message-template go with --branch")
    if not path.is_dir():
        raise click.BadParameter(f"{path} is not a directory", param_hint="PATH")
    try:
        outcome = _change(flags, mods, chosen_recipe)
    except InputError as err:
        return _fail(path, err, flags.as_json)
    except OSError as err:
        failure = InputError(str(err.filename or path), None, f"cannot write: {err.strerror or err}")
        return _fail(path, failure, flags.as_json)
    except Exception as exc:  # a bug must still exit 2, and nothing is half-written
        if os.environ.get("CODEMODS_DEBUG"):
            raise
        message = f"internal error: {type(exc).__name__}: {exc} (set CODEMODS_DEBUG=1 for a traceback)"
        return _fail(path, InputError(str(path), None, message), flags.as_json)
    _output(flags, outcome)
    if flags.check and (not outcome.plan.is_empty or outcome.plan.unresolved):
        return ExitCode.CHANGES_NEEDED
    return ExitCode.OK


def _change(flags: RunFlags, mods: Sequence[Codemod], recipe: Recipe) -> Outcome:
    """Plan, judge (the build gate, issue 12) and write: in place, or as a commit on --branch."""
    from codemods.verify.run import make_gate  # start-up: see the note at the imports

    gate = make_gate(flags.verify, flags.kustomize, flags.jinja_vars)
    if flags.branch is not None:
        return _on_branch(flags, flags.branch, mods, recipe, gate)
    plan, semantic, applied, findings = _in_place(flags.path, mods, gate, flags.writes, flags.allow_dirty)
    return Outcome(plan, applied, findings, semantic)


def _on_branch(
    flags: RunFlags, branch: str, mods: Sequence[Codemod], recipe: Recipe, gate: Callable[[Plan], Semantic] | None
) -> Outcome:
    """The change as one commit on branch; the checkout is left alone."""
    from codemods.vcs.branch import Delivery, deliver  # git is only loaded when asked for

    write = flags.writes
    how = Delivery(branch, flags.base, mods, flags.message_template, recipe=recipe, gate=gate, write=write)
    result = deliver(flags.path, how)
    applied = write and result.status in ("changed", "updated")
    info = result.info()
    outcome = Outcome(result.plan, applied, result.findings, result.semantic, info, _left_out(flags.path, result.plan))
    if flags.summary_file is not None and result.summary is not None:
        flags.summary_file.write_text(result.summary, encoding="utf-8")
    return outcome


def _in_place(
    path: Path, mods: Sequence[Codemod], gate: Callable[[Plan], Semantic] | None, write: bool, allow_dirty: bool
) -> tuple[Plan, Semantic | None, bool, list[Diagnostic]]:
    """Plan PATH, refuse to overwrite uncommitted work, judge with the gate, write. Returns the
    plan, the gate's verdict, whether files were written, and the doctor's findings."""

    def plan_for(carry: tuple[Adjustment, ...]) -> Plan:
        plan = plan_repository(path, mods, carry)
        if write and not allow_dirty and not plan.is_empty:
            from codemods.vcs.dirty import refuse_dirty  # before the gate's builds: a refusal is cheap

            refuse_dirty(path, plan.changed_files())
        return plan

    semantic: Semantic | None = None
    if gate is None:
        plan = plan_for(())
    else:  # the first candidate plan the builds prove; raises Refused before any write
        from codemods.verify.run import prove

        plan, semantic = prove(plan_for, gate)
    applied = write and not plan.is_empty
    if applied:
        plan.apply()
    return plan, semantic, applied, touched_findings(plan, written=applied)


@dataclass(frozen=True)
class LeftOut:
    """With --branch: the uncommitted files a plan on the committed tree did not see, or why
    git could not say."""

    files: list[Uncommitted]
    problem: str | None = None

    def lines(self, base: str) -> list[str]:
        if self.problem is not None:
            return [f"warning: {self.problem}: the plan may have left some out"]
        if not self.files:
            return []
        listed = ", ".join(str(f) for f in self.files)
        head = f"warning: planned on the committed tree of {base[:12]}, without the uncommitted changes"
        return [f"{head} to {listed}; commit them and run again to include them"]


def _left_out(path: Path, plan: Plan) -> LeftOut:
    from codemods.vcs.dirty import GitStatusError, left_out

    try:
        return LeftOut(left_out(path, plan.changed_files()))
    except GitStatusError as err:
        return LeftOut([], err.diagnostic.message)


def _output(flags: RunFlags, outcome: Outcome) -> None:
    plan, branch_info, left_out = outcome.plan, outcome.branch_info, outcome.left_out
    diff = plan.diff() if flags.dry_run else None
    if flags.as_json:
        data = report(str(flags.path), plan, outcome.applied, None, diff, outcome.findings, outcome.semantic)
        if branch_info is not None:
            data["branch"] = branch_info
        if left_out is not None and left_out.files:
            data["uncommitted"] = [f.as_json() for f in left_out.files]
        click.echo(json.dumps(data, indent=2))
    elif diff:
        sys.stdout.write(diff)
    if flags.quiet:
        return
    wrote = outcome.applied or (branch_info is not None and branch_info["status"] != "unchanged" and not flags.dry_run)
    for line in summary_lines(plan, applied=wrote, findings=outcome.findings, semantic=outcome.semantic):
        click.echo(line, err=True)
    if left_out is not None and branch_info is not None:
        for line in left_out.lines(str(branch_info["base"])):
            click.echo(line, err=True)
    if branch_info is not None and not flags.dry_run:
        from codemods.vcs.branch import describe

        click.echo(describe(branch_info), err=True)


def _fail(path: Path, err: InputError, as_json: bool) -> int:
    from codemods.vcs.dirty import DirtyCheckout
    from codemods.verify import preview
    from codemods.verify.run import Refused

    semantic = err.semantic if isinstance(err, Refused) else None  # build gate (issue 12)
    if as_json:
        data = report(str(path), None, False, err, None, semantic=semantic)
        if isinstance(err, DirtyCheckout):
            data["uncommitted"] = [f.as_json() for f in err.files]
        click.echo(json.dumps(data, indent=2))
    if isinstance(err, Refused):
        for warning in err.warnings:
            click.echo(f"warning: {warning}", err=True)
        for line in preview.text_lines(err.semantic):
            click.echo(line, err=True)
    click.echo(f"error: {err}", err=True)
    click.echo("nothing was written", err=True)
    return for_error(err)


@cli.command("recipes")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON list instead of a table.")
def recipes_command(as_json: bool) -> int:
    """List the built-in recipes (`--recipe NAME`); a recipe file works the same way."""
    recipes = builtin()
    if as_json:
        listing = [
            {"name": r.name, "description": r.description, "branch": r.branch, "codemods": [s.codemod for s in r.steps]}
            for r in recipes.values()
        ]
        click.echo(json.dumps(listing, indent=2))
        return ExitCode.OK
    width = max(len(name) for name in recipes)
    for recipe in recipes.values():
        click.echo(f"{recipe.name:<{width}}  {recipe.description}")
    return ExitCode.OK


@cli.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON list instead of a table.")
def list_command(as_json: bool) -> int:
    """List the codemods, in the order they run."""
    mods = every()
    if as_json:
        listing = [{"name": m.name, "description": m.description, "opt_in": is_opt_in(m)} for m in mods]
        click.echo(json.dumps(listing, indent=2))
    else:
        width = max(len(m.name) for m in mods)
        for mod in mods:
            click.echo(f"{mod.name:<{width}}  {mod.description}")
    return ExitCode.OK


def doctor_help() -> str:
    """`codemods doctor --help`, its rule list made from the rule registry (it cannot drift)."""
    width = max(len(rule.id) for rule in RULES.values())
    rules = "\n".join(f"  {rule.id:<{width}}  {rule.severity:<7}  {rule.title}" for rule in RULES.values())
    return (
        "Report the incident's failure patterns in the repository at PATH; change nothing.\n\n"
        f"\b\nRules (default severity):\n{rules}\n\n"
        "\b\nExit codes: 0 no error-severity finding, 1 at least one error, 2 bad input\n"
        "(with --format json or sarif, bad input is also written as an error result)."
    )


@cli.command("doctor", help=doctor_help())
@click.argument("path", default=".", type=click.Path(file_okay=False, path_type=Path))
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["text", "json", "sarif"]),
    default="text",
    show_default=True,
    help="Output format.",
)
def doctor_command(path: Path, fmt: str) -> int:
    if not path.is_dir():
        raise click.BadParameter(f"{path} is not a directory", param_hint="PATH")
    try:
        findings, problems = diagnose(path)
    except InputError as err:
        # A SARIF upload or a script must not get an empty file: the document holds the error.
        if fmt == "json":
            sys.stdout.write(doctor_output.json_error(err.diagnostic))
        elif fmt == "sarif":
            sys.stdout.write(doctor_output.sarif([], error=err.diagnostic))
        click.echo(f"error: {err}", err=True)
        return for_error(err)
    if fmt == "json":
        sys.stdout.write(doctor_output.as_json(findings, problems))
    elif fmt == "sarif":
        sys.stdout.write(doctor_output.sarif(findings))
    else:
        sys.stdout.write(doctor_output.text(findings, problems))
    return ExitCode.CHANGES_NEEDED if any(f.severity == "error" for f in findings) else ExitCode.OK


def main(argv: Sequence[str] | None = None) -> int:
    # A file name that is not UTF-8 reaches the output with surrogate escapes: print its own
    # bytes (as git and ls do) instead of failing on it, whatever the locale's default.
    if isinstance(sys.stdout, io.TextIOWrapper) and sys.stdout.errors == "strict":
        sys.stdout.reconfigure(errors="surrogateescape")
    try:
        # Whatever ends the command (an error, Ctrl-C, SIGTERM, SIGHUP), no child outlives it.
        with subproc.guard():
            result = cli.main(
                args=list(argv) if argv is not None else None, prog_name="codemods", standalone_mode=False
            )
    except click.exceptions.Exit as exc:
        return exc.exit_code
    except click.ClickException as exc:
        exc.show()
        return for_error(exc)
    except click.Abort as exc:
        click.echo("aborted", err=True)
        return for_error(exc)
    except Exception as exc:  # a bug: still a clear message and exit 2, never a bare traceback
        if os.environ.get("CODEMODS_DEBUG"):
            raise
        click.echo(
            f"error: internal error: {type(exc).__name__}: {exc} (set CODEMODS_DEBUG=1 for a traceback)", err=True
        )
        return for_error(exc)
    return result if isinstance(result, int) else ExitCode.OK

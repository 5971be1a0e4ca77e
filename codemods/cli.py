"""Command line: `codemods run` and `codemods list`."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path

import click

from codemods import __version__
from codemods.errors import InputError
from codemods.mods import ALL
from codemods.report import report, summary_lines
from codemods.runner import UnknownCodemod, plan_repository, select

EXIT_OK = 0
EXIT_CHANGES_NEEDED = 1
EXIT_FAILURE = 2


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="codemods")
def cli() -> None:
    """Repair the litellm migration Job failure in Flux GitOps repositories, byte-exactly.

    \b
    Exit codes:
      0  success (with --check: nothing to change)
      1  with --check: changes are needed
      2  bad input or failure; nothing was written
    """


@cli.command("run")
@click.argument("path", default=".", type=click.Path(file_okay=False, path_type=Path))
@click.option("--dry-run", is_flag=True, help="Write nothing; print a git-format diff of the changes on stdout.")
@click.option("--check", is_flag=True, help="Write nothing; exit 1 when changes are needed, 0 when none are.")
@click.option(
    "--json",
    "as_json",
    is_flag=True,
    help="Print a machine-readable report on stdout (with --dry-run, the diff is in it).",
)
@click.option("--only", multiple=True, metavar="NAME", help="Run only this codemod (repeatable).")
@click.option("--skip", multiple=True, metavar="NAME", help="Do not run this codemod (repeatable).")
@click.option("-q", "--quiet", is_flag=True, help="Print no summary on stderr.")
def run_command(
    path: Path, dry_run: bool, check: bool, as_json: bool, only: tuple[str, ...], skip: tuple[str, ...], quiet: bool
) -> int:
    """Apply the codemods to the repository at PATH (default: the current directory).

    Every change is planned first and written only when the whole plan succeeded, each file
    atomically. Run it twice: the second run changes nothing.
    """
    try:
        mods = select(only, skip)
    except UnknownCodemod as err:
        raise click.BadParameter(str(err), param_hint="--only/--skip") from None
    if not path.is_dir():
        raise click.BadParameter(f"{path} is not a directory", param_hint="PATH")
    write = not (dry_run or check)
    try:
        plan = plan_repository(path, mods)
        if write and not plan.is_empty:
            plan.apply()
    except InputError as err:
        return _fail(path, err, as_json)
    except Exception as exc:
        if os.environ.get("CODEMODS_DEBUG"):
            raise
        return _fail(
            path,
            InputError(
                str(path), None, f"internal error: {type(exc).__name__}: {exc} (set CODEMODS_DEBUG=1 for a traceback)"
            ),
            as_json,
        )
    diff = plan.diff() if dry_run else None
    if as_json:
        click.echo(json.dumps(report(str(path), plan, write and not plan.is_empty, None, diff), indent=2))
    elif diff:
        sys.stdout.write(diff)
    if not quiet:
        for line in summary_lines(plan, applied=write):
            click.echo(line, err=True)
    if check and not plan.is_empty:
        return EXIT_CHANGES_NEEDED
    return EXIT_OK


def _fail(path: Path, err: InputError, as_json: bool) -> int:
    if as_json:
        click.echo(json.dumps(report(str(path), None, False, err, None), indent=2))
    click.echo(f"error: {err}", err=True)
    click.echo("nothing was written", err=True)
    return EXIT_FAILURE


@cli.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON list instead of a table.")
def list_command(as_json: bool) -> int:
    """List the codemods, in the order they run."""
    if as_json:
        click.echo(json.dumps([{"name": m.name, "description": m.description} for m in ALL], indent=2))
    else:
        width = max(len(m.name) for m in ALL)
        for mod in ALL:
            click.echo(f"{mod.name:<{width}}  {mod.description}")
    return EXIT_OK


def main(argv: Sequence[str] | None = None) -> int:
    try:
        result = cli.main(args=list(argv) if argv is not None else None, prog_name="codemods", standalone_mode=False)
    except click.exceptions.Exit as exc:
        return exc.exit_code
    except click.ClickException as exc:
        exc.show()
        return EXIT_FAILURE
    except click.Abort:
        click.echo("aborted", err=True)
        return EXIT_FAILURE
    return result if isinstance(result, int) else EXIT_OK

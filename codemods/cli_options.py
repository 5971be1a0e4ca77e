"""Click options and completions that `run` (codemods.cli) and `batch` (codemods.batch.command)
share. Their own module, so `batch` never imports the command line that loads it."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import click
from click.shell_completion import CompletionItem

from codemods.mods import names
from codemods.recipes import builtin

RECIPE_HELP = "A recipe file, or a built-in recipe's name (see `codemods recipes`); default: litellm-migration."


def complete_codemods(ctx: click.Context, param: click.Parameter, incomplete: str) -> list[str]:
    return [n for n in names() if n.startswith(incomplete)]


def complete_recipes(ctx: click.Context, param: click.Parameter, incomplete: str) -> list[CompletionItem]:
    items = [CompletionItem(n) for n in builtin() if n.startswith(incomplete)]
    return items or [CompletionItem(incomplete, type="file")]


def verify_options(command: Callable[..., int]) -> Callable[..., int]:
    """The build gate's flags (issue 12), shared by `run` and `batch`."""
    command = click.option(
        "--jinja-vars",
        type=click.Path(exists=True, dir_okay=False, path_type=Path),
        help="Variables (TOML, JSON or YAML) to render in-place .j2 templates with, for the build only.",
    )(command)
    command = click.option(
        "--kustomize", metavar="PATH", help="The kustomize (or kubectl) to build with; default: found on PATH."
    )(command)
    return click.option(
        "--verify/--no-verify",
        default=None,
        help="Build every affected Flux Kustomization before and after, and refuse a change that breaks one "
        "[default: on when a kustomize is found; --verify makes a missing one an error].",
    )(command)

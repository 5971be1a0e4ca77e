"""Where templates live and where they render to.

Three layouts are supported, and may mix in one repo:
- makejinja (cluster-template): `makejinja.toml` names input directories that render into an
  output directory, with the delimiters and suffix it declares;
- in-place Jinja: `x.yaml.j2` renders to `x.yaml` beside it, with standard delimiters;
- plain: rendered YAML only.

A *logical* path is where a file ends up after rendering; Flux and kustomize only ever see
logical paths. A *physical* path is a file in the checkout (template or rendered copy).
"""

from __future__ import annotations

import fnmatch
import posixpath
import tomllib
from dataclasses import dataclass
from pathlib import Path

from codemods.errors import InputError
from codemods.yamltext.jinja import STANDARD, Delimiters

IN_PLACE_SUFFIX = ".j2"


@dataclass(frozen=True)
class TemplateRoot:
    template_dir: str  # repo-relative, posix, no trailing slash
    output_dir: str  # repo-relative; "" is the repo root
    suffix: str
    delimiters: Delimiters
    exclude: tuple[str, ...] = ()
    order: int = 0  # position in makejinja's inputs: with force = true the first input's file wins


@dataclass(frozen=True)
class Copy:
    """One physical file of a logical unit."""

    path: str
    is_template: bool
    delimiters: Delimiters | None  # None: not Jinja (rendered, or copied verbatim)


def normalize(path: str) -> str:
    """Repo-relative posix path: no ./ prefix, no trailing slash, "" for the root."""
    norm = posixpath.normpath(path.strip().replace("\\", "/"))
    if norm in (".", "/"):
        return ""
    return norm.lstrip("/") if not norm.startswith("..") else norm


def relative_path(path: str, start: str) -> str:
    """posixpath.relpath for two repository-relative paths, without its os.getcwd calls."""
    to, base = (path.split("/") if path else []), (start.split("/") if start else [])
    common = 0
    while common < min(len(to), len(base)) and to[common] == base[common]:
        common += 1
    return "/".join([".."] * (len(base) - common) + to[common:]) or "."


def is_within(path: str, directory: str) -> bool:
    return directory == "" or path == directory or path.startswith(directory + "/")


@dataclass(frozen=True)
class Layout:
    roots: tuple[TemplateRoot, ...] = ()

    def classify(self, path: str) -> tuple[str, Copy] | None:
        """(logical path, copy) for a physical path, or None for a file the renderer skips."""
        for root in self.roots:
            if not is_within(path, root.template_dir):
                continue
            rel = path[len(root.template_dir) + 1 :]
            if any(fnmatch.fnmatch(posixpath.basename(rel), pat) or fnmatch.fnmatch(rel, pat) for pat in root.exclude):
                return None
            if root.suffix and rel.endswith(root.suffix):
                logical = posixpath.join(root.output_dir, rel[: -len(root.suffix)])
                return logical, Copy(path, True, root.delimiters)
            return posixpath.join(root.output_dir, rel), Copy(path, True, None)
        if path.endswith(IN_PLACE_SUFFIX):
            return path[: -len(IN_PLACE_SUFFIX)], Copy(path, True, STANDARD)
        return path, Copy(path, False, None)

    def precedence(self, path: str) -> int:
        """Which of two templates of one output makejinja renders: the lower number wins.

        makejinja 2.8 walks its inputs in order and, with `force = true`, renders the first
        input's file and skips the same output from a later input (checked with a real render:
        cluster-template's template/overrides before template/config)."""
        root = self.template_root_of(path)
        return root.order if root is not None else -1

    def template_root_of(self, path: str) -> TemplateRoot | None:
        for root in self.roots:
            if is_within(path, root.template_dir):
                return root
        return None

    def template_dir_for(self, template_path: str, logical_dir: str) -> str | None:
        """The directory a template must move to so that it renders into logical_dir."""
        root = self.template_root_of(template_path)
        if root is None:  # in-place template: renders beside itself
            return logical_dir
        if not is_within(logical_dir, root.output_dir):
            return None
        rel = logical_dir[len(root.output_dir) :].lstrip("/")
        return posixpath.join(root.template_dir, rel) if rel else root.template_dir

    def is_rendered_area(self, logical_dir: str) -> bool:
        """True when makejinja renders into this directory, so stale renders can exist there."""
        return any(is_within(logical_dir, root.output_dir) for root in self.roots)


def load_layout(root: Path) -> Layout:
    config_path = root / "makejinja.toml"
    if not config_path.is_file():
        return Layout()
    try:
        config = tomllib.loads(config_path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as err:
        raise InputError("makejinja.toml", None, f"cannot parse makejinja.toml: {err}") from None
    section = config.get("makejinja", {})
    delimiter = section.get("delimiter", {})
    delims = Delimiters(
        delimiter.get("block_start", STANDARD.block_start),
        delimiter.get("block_end", STANDARD.block_end),
        delimiter.get("variable_start", STANDARD.variable_start),
        delimiter.get("variable_end", STANDARD.variable_end),
        delimiter.get("comment_start", STANDARD.comment_start),
        delimiter.get("comment_end", STANDARD.comment_end),
    )
    output = normalize(section.get("output", "."))
    # makejinja's own default suffix is ".jinja"; cluster-template sets ".j2".
    suffix = section.get("jinja_suffix", ".jinja")
    exclude = tuple(section.get("exclude_patterns", ()))
    roots = []
    # makejinja lets later inputs win; matching the most specific template dir first is what
    # matters here, so longer paths go first.
    for order, raw in enumerate(section.get("inputs", ())):
        template_dir = normalize(raw)
        if template_dir and (root / template_dir).is_dir():
            roots.append(TemplateRoot(template_dir, output, suffix, delims, exclude, order))
    roots.sort(key=lambda r: -len(r.template_dir))
    return Layout(tuple(roots))

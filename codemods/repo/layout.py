"""Where templates live and where they render to.

Three layouts are supported, and may mix in one repo. Each is one implementation of the
`TemplateLayout` protocol below, and `Layout` consults them in order, the first that owns a
path answering for it:
- `MakejinjaInput` (cluster-template): each input directory of `makejinja.toml` renders into
  the output directory, with the delimiters and suffix it declares;
- `InPlaceJinja`: `x.yaml.j2` renders to `x.yaml` beside it, with standard delimiters;
- `Rendered`: plain YAML, rendered already (or never a template), read as it is.

A *logical* path is where a file ends up after rendering; Flux and kustomize only ever see
logical paths. A *physical* path is a file in the checkout (template or rendered copy).

The codemods, the doctor and the build gate talk only to the protocol (through `Layout`):
none of them knows how a layout maps its paths.
"""

from __future__ import annotations

import fnmatch
import posixpath
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar, Literal, NamedTuple, Protocol

from codemods.errors import InputError
from codemods.flux.fields import normalize
from codemods.yamltext.jinja import STANDARD, Delimiters

IN_PLACE_SUFFIX = ".j2"

LayoutKind = Literal["makejinja", "in-place", "rendered"]


class Copy(NamedTuple):
    """One physical file of a logical unit. (A NamedTuple: the scan makes one per file.)"""

    path: str
    is_template: bool
    delimiters: Delimiters | None  # None: not Jinja (rendered, or copied verbatim)


def relative_path(path: str, start: str) -> str:
    """posixpath.relpath for two repository-relative paths, without its os.getcwd calls."""
    to, base = (path.split("/") if path else []), (start.split("/") if start else [])
    common = 0
    while common < min(len(to), len(base)) and to[common] == base[common]:
        common += 1
    return "/".join([".."] * (len(base) - common) + to[common:]) or "."


def is_within(path: str, directory: str) -> bool:
    return directory in ("", path) or path.startswith(directory + "/")


class TemplateLayout(Protocol):
    """One way a repository's files become the files Flux reads (duck-typed: no base class).

    A layout *owns* the physical paths it maps; `Layout` asks its layouts in order and the
    first owner answers. Paths are repository-relative and posix."""

    @property
    def kind(self) -> LayoutKind:
        """Which layout it is: makejinja, in-place or rendered."""
        ...

    def owns(self, path: str) -> bool:
        """Is this physical path this layout's to map?"""
        ...

    def classify(self, path: str) -> tuple[str, Copy] | None:
        """(logical path, copy) of a path it owns, or None for a file its renderer skips."""
        ...

    def precedence(self, path: str) -> int:
        """Of two templates of one output, the lower number renders; -1 when it does not rank."""
        ...

    def template_dir_for(self, template_path: str, logical_dir: str) -> str | None:
        """The directory a template it owns must move to so that it renders into logical_dir,
        or None when it cannot render there."""
        ...

    def is_rendered_area(self, logical_dir: str) -> bool:
        """Does it render into logical_dir, and never delete an output whose template went away?"""
        ...

    def template_dirs(self) -> tuple[str, ...]:
        """Directories that hold nothing but its templates (their git history says what it rendered)."""
        ...

    def template_dir_rendering(self, logical: str) -> str | None:
        """Where a template that renders to logical would live, if it renders into that
        directory and never deletes old outputs; else None."""
        ...


@dataclass(frozen=True)
class MakejinjaInput:
    """One input directory of makejinja.toml: templates under it render into output_dir."""

    template_dir: str  # repo-relative, posix, no trailing slash
    output_dir: str  # repo-relative; "" is the repo root
    suffix: str
    delimiters: Delimiters
    exclude: tuple[str, ...] = ()
    order: int = 0  # position in makejinja's inputs: with force = true the first input's file wins
    kind: ClassVar[LayoutKind] = "makejinja"

    def owns(self, path: str) -> bool:
        return is_within(path, self.template_dir)

    def classify(self, path: str) -> tuple[str, Copy] | None:
        rel = path[len(self.template_dir) + 1 :]
        if any(fnmatch.fnmatch(posixpath.basename(rel), pat) or fnmatch.fnmatch(rel, pat) for pat in self.exclude):
            return None
        if self.suffix and rel.endswith(self.suffix):
            logical = posixpath.join(self.output_dir, rel[: -len(self.suffix)])
            return logical, Copy(path, True, self.delimiters)
        return posixpath.join(self.output_dir, rel), Copy(path, True, None)

    def precedence(self, path: str) -> int:
        """makejinja 2.8 walks its inputs in order and, with `force = true`, renders the first
        input's file and skips the same output from a later input (checked with a real render:
        cluster-template's template/overrides before template/config)."""
        return self.order

    def template_dir_for(self, template_path: str, logical_dir: str) -> str | None:
        if not is_within(logical_dir, self.output_dir):
            return None
        rel = logical_dir[len(self.output_dir) :].lstrip("/")
        return posixpath.join(self.template_dir, rel) if rel else self.template_dir

    def is_rendered_area(self, logical_dir: str) -> bool:
        return is_within(logical_dir, self.output_dir)

    def template_dirs(self) -> tuple[str, ...]:
        return (self.template_dir,)

    def template_dir_rendering(self, logical: str) -> str | None:
        if not is_within(logical, self.output_dir) or is_within(logical, self.template_dir):
            return None
        rel_dir = posixpath.dirname(logical[len(self.output_dir) :].lstrip("/"))
        return posixpath.join(self.template_dir, rel_dir) if rel_dir else self.template_dir


@dataclass(frozen=True)
class InPlaceJinja:
    """`x.yaml.j2` renders to `x.yaml` beside it, with standard delimiters."""

    kind: ClassVar[LayoutKind] = "in-place"

    def owns(self, path: str) -> bool:
        return path.endswith(IN_PLACE_SUFFIX)

    def classify(self, path: str) -> tuple[str, Copy] | None:
        return path[: -len(IN_PLACE_SUFFIX)], Copy(path, True, STANDARD)

    def precedence(self, path: str) -> int:
        return -1

    def template_dir_for(self, template_path: str, logical_dir: str) -> str | None:
        return logical_dir  # it renders beside itself

    def is_rendered_area(self, logical_dir: str) -> bool:
        return False  # a render without its template is indistinguishable from a plain file

    def template_dirs(self) -> tuple[str, ...]:
        return ()

    def template_dir_rendering(self, logical: str) -> str | None:
        return None


@dataclass(frozen=True)
class Rendered:
    """Plain YAML: every path is its own logical path, and nothing renders it."""

    kind: ClassVar[LayoutKind] = "rendered"

    def owns(self, path: str) -> bool:
        return True

    def classify(self, path: str) -> tuple[str, Copy] | None:
        return path, Copy(path, False, None)

    def precedence(self, path: str) -> int:
        return -1

    def template_dir_for(self, template_path: str, logical_dir: str) -> str | None:
        return logical_dir

    def is_rendered_area(self, logical_dir: str) -> bool:
        return False

    def template_dirs(self) -> tuple[str, ...]:
        return ()

    def template_dir_rendering(self, logical: str) -> str | None:
        return None


IN_PLACE = InPlaceJinja()
RENDERED = Rendered()


@dataclass(frozen=True)
class Layout:
    """The layouts of one repository, consulted in order: makejinja inputs (the most specific
    template directory first), then in-place `.j2`, then rendered files, which own the rest."""

    layouts: tuple[TemplateLayout, ...] = (IN_PLACE, RENDERED)

    def layout_of(self, path: str) -> TemplateLayout:
        """The layout that owns a physical path."""
        for layout in self.layouts:
            if layout.owns(path):
                return layout
        return RENDERED

    def classify(self, path: str) -> tuple[str, Copy] | None:
        """(logical path, copy) for a physical path, or None for a file the renderer skips."""
        return self.layout_of(path).classify(path)

    def precedence(self, path: str) -> int:
        """Which of two templates of one output renders: the lower number wins."""
        return self.layout_of(path).precedence(path)

    def template_dir_for(self, template_path: str, logical_dir: str) -> str | None:
        """The directory a template must move to so that it renders into logical_dir."""
        return self.layout_of(template_path).template_dir_for(template_path, logical_dir)

    def is_rendered_area(self, logical_dir: str) -> bool:
        """True when a renderer writes into this directory, so stale renders can exist there."""
        return any(layout.is_rendered_area(logical_dir) for layout in self.layouts)

    def template_dirs(self) -> tuple[str, ...]:
        """Every directory that holds nothing but templates; empty when no layout has one."""
        return tuple(d for layout in self.layouts for d in layout.template_dirs())

    def template_dirs_rendering(self, logical: str) -> tuple[str, ...]:
        """Where a template rendering to logical would live, one place per layout that could
        render it and never deletes old outputs, in the order the layouts are consulted."""
        found = (layout.template_dir_rendering(logical) for layout in self.layouts)
        return tuple(d for d in found if d is not None)


def load_layout(root: Path) -> Layout:
    config_path = root / "makejinja.toml"
    if not config_path.is_file():
        return Layout()
    import tomllib  # only a makejinja repository pays for it

    try:
        config = tomllib.loads(config_path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as err:
        raise InputError("makejinja.toml", None, f"cannot parse makejinja.toml: {err}") from None
    except RecursionError:  # tomllib recurses per level: `a = [[[[...` thousands deep
        raise InputError("makejinja.toml", None, "cannot parse makejinja.toml: nested too deeply") from None
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
    inputs = []
    # makejinja lets later inputs win; matching the most specific template dir first is what
    # matters here, so longer paths go first.
    for order, raw in enumerate(section.get("inputs", ())):
        template_dir = normalize(raw)
        if template_dir and (root / template_dir).is_dir():
            inputs.append(MakejinjaInput(template_dir, output, suffix, delims, exclude, order))
    inputs.sort(key=lambda r: -len(r.template_dir))
    return Layout((*inputs, IN_PLACE, RENDERED))

"""Codemod: turn off a chart's TTL Job that is not a Helm hook, in Flux HelmRelease values.

By default: `litellm-helm.migrationJob.enabled: false`. The litellm-helm sub-chart's migration
Job has a TTL and is not a Helm hook; once the TTL controller deletes it, every Helm upgrade
and rollback fails with `jobs.batch "...-migrations" not found`. With the Job disabled, the
litellm proxy migrates its schema at start-up. Recipes point it at other charts' keys.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace

from codemods import params
from codemods.charts import POLICIES, Fix, Policy, Refusal
from codemods.errors import InputError
from codemods.flux.selector import Selected
from codemods.flux.values import split_target_path, typed_strval
from codemods.intents import EffectiveValue, ValuesInRelease
from codemods.mods.base import Context
from codemods.params import param
from codemods.repo.databases import applied_with
from codemods.repo.index import Unit
from codemods.repo.layout import Copy
from codemods.repo.needles import Needles
from codemods.repo.selectors import ReleaseSelector
from codemods.repo.values import Embedded, Located, ValuesSource, locate, selected, value_at
from codemods.repo.workloads import is_selected
from codemods.yamltext.anchors import expand_alias, expand_anchor
from codemods.yamltext.jinja import Delimiters
from codemods.yamltext.locate import (
    MappingNode,
    Node,
    ScalarNode,
    SequenceNode,
    compose,
    entries,
    first,
    scalar_value,
)
from codemods.yamltext.mapping import add_first_child, child_step, is_alias_of, is_empty
from codemods.yamltext.splice import Splice, apply_splices, insert_lines_before

NAME = "disable-migration-job"
WHY = "its TTL Job is not a Helm hook, so Helm fails with 'jobs.batch not found' once the Job is gone"
Scalar = bool | int | str
_TRUE = {"true", "True", "TRUE"}
_FALSE = {"false", "False", "FALSE"}
_PLAIN = re.compile(r"^[A-Za-z_][\w./-]*$")


def render_scalar(value: Scalar) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if _PLAIN.match(value) and value not in _TRUE | _FALSE | {"null", "Null", "NULL", "~"}:
        return value
    return json.dumps(value)


def _holds(node: ScalarNode, value: Scalar) -> bool:
    """Does the scalar already mean value, to Helm? A quoted "false" is a truthy string."""
    if isinstance(value, bool):
        return node.style is None and node.value in (_TRUE if value else _FALSE)
    if isinstance(value, int):
        return node.style is None and node.value == str(value)
    return node.value == value


@dataclass
class _Result:
    splices: list[Splice] = field(default_factory=list)
    notes: list[tuple[int, str]] = field(default_factory=list)  # (line, what was done)
    skipped: list[tuple[int, str]] = field(default_factory=list)
    # (line, earlier line, key): a key the path walks twice. Jinja if/else branches make such
    # pairs on purpose; in plain YAML it is an error kustomize stops on.
    duplicates: list[tuple[int, int, str]] = field(default_factory=list)
    replaced: list[tuple[int, str, str]] = field(default_factory=list)  # (offset, dotted path, old text)


def _file_line(block: Embedded, text: str, line: int) -> int:
    """A line of an embedded block's text, as a line of the file that holds the block."""
    return text.count("\n", 0, block.starts[min(max(line, 1), len(block.starts)) - 1]) + 1


def _duplicate_message(key: str, earlier: int) -> str:
    return f"duplicate key {key!r} (also at line {earlier}): YAML allows a key once, and kustomize refuses the file"


def _note_duplicates(found: list[tuple[ScalarNode, Node]], key: str, out: _Result) -> None:
    for later, _value in found[1:]:
        out.duplicates.append((later.start_mark.line + 1, found[0][0].start_mark.line + 1, key))


def _nested_lines(path: tuple[str, ...], items: list[str], step: int) -> list[str]:
    lines = [" " * (step * depth) + f"{segment}:" for depth, segment in enumerate(path)]
    return lines + [" " * (step * len(path)) + item for item in items]


def _nested_flow(path: tuple[str, ...], items: list[str]) -> str:
    inner = ", ".join(items)
    for segment in reversed(path):
        inner = f"{segment}: {{{inner}}}"
    return inner


def _scalar_splice(text: str, key: Node, value: Node, new: str) -> Splice:
    """Replace a scalar's text with new; an empty value (`key:`) gets ` new` after its colon."""
    if value.start_mark.index == value.end_mark.index:
        colon = text.index(":", key.end_mark.index)
        return Splice(colon + 1, colon + 1, " " + new)
    return Splice(value.start_mark.index, value.end_mark.index, new)


def _assign(
    text: str, key: Node, mapping: Node, dotted: str, assignments: Mapping[str, Scalar], step: int, out: _Result
) -> None:
    """Set every assignment in the mapping under key: replace wrong values, add missing keys."""
    where = key.start_mark.line + 1
    if not (is_empty(mapping) or isinstance(mapping, MappingNode)):
        out.skipped.append((where, f"{dotted} is not a mapping; left as it is"))
        return
    missing = [k for k in assignments if not (isinstance(mapping, MappingNode) and entries(mapping, k))]
    if missing:
        items = [f"{k}: {render_scalar(assignments[k])}" for k in missing]
        out.splices.append(add_first_child(text, key, mapping, items, ", ".join(items), step))
        why = f"{dotted} was empty" if is_empty(mapping) else "not set, so the chart's default applied"
        out.notes.extend((where, f"added {dotted}.{item} ({why})") for item in items)
    for name, value in assignments.items():
        _note_duplicates(entries(mapping, name), name, out)
        for k, v in entries(mapping, name) if isinstance(mapping, MappingNode) else []:
            line = k.start_mark.line + 1
            if not isinstance(v, ScalarNode) or is_alias_of(k, v):
                out.skipped.append((line, f"{dotted}.{name} is not a plain value; left as it is"))
                continue
            if _holds(v, value):
                continue
            new = render_scalar(value)
            was = text[v.start_mark.index : v.end_mark.index] or "empty"
            out.splices.append(_scalar_splice(text, k, v, new))
            out.notes.append((line, f"set {dotted}.{name}: {new} (was {was})"))
            out.replaced.append((v.start_mark.index, f"{dotted}.{name}", was))


def _shared_anchor(text: str, node: Node, dotted: str) -> str | None:
    """Why node must not be edited: it is anchored and an alias elsewhere reuses it, so the
    edit would change the data at another path too (issue 11 §5)."""
    anchor = getattr(node, "anchor", None)
    if not anchor:
        return None
    uses = [m.start() for m in re.finditer(rf"\*{re.escape(anchor)}(?![\w-])", text)]
    if not uses:
        return None
    lines = ", ".join(str(text.count("\n", 0, at) + 1) for at in uses)
    return (
        f"{dotted} is the anchor &{anchor}, which the alias *{anchor} reuses at line {lines}: "
        f"changing it would change that path too; left as it is, split the anchor by hand"
    )


def _split_shared_anchors(ctx: Context, source: ValuesSource, copy: Copy, relative: tuple[str, ...]) -> None:
    """A YAML anchor on the path to change that another path shares: expand it first
    (codemods.yamltext.anchors), so the edit reaches this path alone and the anchor's other
    users keep their value. Plain YAML only: a template's Jinja may build the text around it."""
    if copy.delimiters is not None or source.in_block:
        return
    for _ in range(8):  # one anchor at a time: a nested one is found on the next pass
        text = ctx.plan.text(copy.path)
        expanded = _expanded_once(text, copy.path, source, relative)
        if expanded is None:
            return
        new_text, why = expanded
        ctx.plan.edit(NAME, copy.path, new_text, why)


def _expanded_once(text: str, path: str, source: ValuesSource, relative: tuple[str, ...]) -> tuple[str, str] | None:
    for place in locate(source, text, path, None):
        key, node = place.key, place.root
        for step in (None, *relative):
            if step is not None:
                pairs = entries(node, step) if isinstance(node, MappingNode) else []
                if len(pairs) != 1:
                    break
                key, node = pairs[0]
            if key is None or node is None or not getattr(node, "anchor", None):
                continue
            line = key.start_mark.line + 1
            if is_alias_of(key, node):
                new_text = expand_alias(text, path, key, node)
                why = f"line {line}: expanded the alias *{node.anchor} into a copy, so that only this path changes"
            elif _shared_anchor(text, node, key.value) is not None:
                new_text = expand_anchor(text, path, source.document, node)
                why = (
                    f"line {line}: replaced each alias *{node.anchor} by a copy and dropped the anchor "
                    f"&{node.anchor}, so that changing this path leaves the other paths as they were"
                )
            else:
                continue
            return (new_text, why) if new_text is not None else None
    return None


# skip(key, block): leave this block alone (e.g. a Jinja branch that disables the sub-chart).
BranchFilter = Callable[[str, Node], bool]


@dataclass
class _Setter:
    """Sets assignments at a path below a key of one text, creating what is missing; what it
    does (splices, notes, skips) goes to out. skip leaves some blocks alone (a Jinja branch)."""

    text: str
    assignments: Mapping[str, Scalar]
    out: _Result
    skip: BranchFilter | None = None

    def ensure(self, key: Node, node: Node, path: tuple[str, ...], dotted: str, step: int) -> None:
        """Walk path below key, creating what is missing, then assign."""
        text, out = self.text, self.out
        line = key.start_mark.line + 1
        if is_alias_of(key, node):
            out.skipped.append((line, f"{dotted} comes from a YAML alias; edit its anchor by hand"))
            return
        shared = _shared_anchor(text, node, dotted)
        if shared is not None:
            out.skipped.append((line, shared))
            return
        if not path:
            _assign(text, key, node, dotted, self.assignments, child_step(key, node, step), out)
            return
        if not (is_empty(node) or isinstance(node, MappingNode)):
            out.skipped.append((line, f"{dotted} is not a mapping; left as it is"))
            return
        children = entries(node, path[0]) if isinstance(node, MappingNode) else []
        _note_duplicates(children, path[0], out)
        if not children:
            self._create(key, node, path, dotted, step)
            return
        for child_key, child in children:
            if self.skip is None or not self.skip(path[0], child):
                self.ensure(child_key, child, path[1:], f"{dotted}.{path[0]}", child_step(key, node, step))

    def _create(self, key: Node, node: Node, path: tuple[str, ...], dotted: str, step: int) -> None:
        """The rest of path is missing below key: add it, with the assignments, as key's first child."""
        inner = child_step(key, node, step)
        items = [f"{k}: {render_scalar(v)}" for k, v in self.assignments.items()]
        lines = _nested_lines(path, items, inner)
        self.out.splices.append(add_first_child(self.text, key, node, lines, _nested_flow(path, items), step))
        full = ".".join((dotted, *path))
        why = "" if is_empty(node) else " (not set, so the chart's default applied)"
        line = key.start_mark.line + 1
        self.out.notes.extend((line, f"added {full}.{item}{why}") for item in items)


def disable_in_text(
    text: str,
    path: str,
    delims: Delimiters | None,
    values_path: tuple[str, ...] = ("litellm-helm", "migrationJob"),
    assignments: Mapping[str, Scalar] | None = None,
    chart: str | None = None,
) -> _Result:
    """Splices that make values_path hold assignments in every selected HelmRelease.

    Without chart, a release is selected by values_path[0] being in its values (a sub-chart
    key such as litellm-helm), and nothing is created above it. With chart, every release of
    that chart is selected and the whole path is created when absent.
    """
    assignments = assignments if assignments is not None else {"enabled": False}
    selector = ReleaseSelector(values_path[0], chart)
    out = _Result()
    setter = _Setter(text, assignments, out)
    for doc in compose(text, path, delims):
        if not is_selected(doc, selector):
            continue
        for spec_key, spec in entries(doc, "spec"):
            values_entries = entries(spec, "values")
            if chart is not None and not values_entries:
                setter.ensure(spec_key, spec, ("values", *values_path), "spec", 2)
                continue
            for values_key, values in values_entries:
                step = child_step(values_key, values, 2)
                if chart is not None:
                    setter.ensure(values_key, values, values_path, "values", step)
                    continue
                for key, block in entries(values, values_path[0]):
                    setter.ensure(key, block, values_path[1:], values_path[0], step)
    if delims is None and out.duplicates:
        line, earlier, twice = out.duplicates[0]
        raise InputError(path, line, _duplicate_message(twice, earlier))
    return out


def _root_insert(text: str, root: Node, parent: tuple[str, ...], assignments: dict[str, Scalar], out: _Result) -> None:
    """Add parent.key: value as the first entries of a document's root mapping (a values file)."""
    if not isinstance(root, MappingNode) or root.flow_style or not root.value:
        out.skipped.append((root.start_mark.line + 1, "the values file is not a block mapping; left as it is"))
        return
    first_key = root.value[0][0]
    indent = " " * first_key.start_mark.column
    step = next((child_step(k, v, 2) for k, v in root.value if isinstance(v, MappingNode) and not v.flow_style), 2)
    items = [f"{k}: {render_scalar(v)}" for k, v in assignments.items()]
    lines = _nested_lines(parent, items, step)
    out.splices.append(insert_lines_before(text, first_key.start_mark.index, [indent + line for line in lines]))
    out.notes.extend((first_key.start_mark.line + 1, f"added {'.'.join((*parent, item))}") for item in items)


def _value(source: ValuesSource, node: Node) -> Scalar | None:
    if source.strval:
        return typed_strval(node.value) if isinstance(node, ScalarNode) else None
    return _plain(node)


def _plain(node: Node) -> Scalar | None:
    """A scalar as Helm reads it: plain true/false are booleans, anything quoted a string."""
    if not isinstance(node, ScalarNode):
        return None
    if node.style is None and node.value in _TRUE | _FALSE:
        return node.value in _TRUE
    if node.style is None and re.fullmatch(r"-?\d+", node.value):
        return int(node.value)
    return node.value


@dataclass(frozen=True)
class Needed:
    """A release whose values need a fix: where the value is set today (None: the chart default)."""

    unit: Unit
    document: int
    name: str
    chart: str | None
    fix: Fix
    source: ValuesSource
    set_at: tuple[str, int] | None  # (file, line) of the winning value
    explicit: bool = True  # set_at holds the value itself; False: an operation there drops it


@dataclass(frozen=True)
class _Release:
    unit: Unit
    document: int
    name: str
    namespace: str | None
    chart: str | None
    sources: tuple[ValuesSource, ...]
    target_paths: tuple[tuple[str, ...], ...] = ()  # every valuesFrom targetPath, found or not
    chart_version: str | None = None  # a version or a range; None when nothing pins it
    line: int | None = None  # where a warning about the release points: its chart version, else its name
    selected: Selected | None = None  # as a kustomize target selects it (name, namespace, labels)


@dataclass(frozen=True)
class Params:
    """Parameters of disable-migration-job (a recipe's `with:`)."""

    policy: str | None = param(
        params.policy,
        "chart knowledge that decides the change, or refuses it (codemods/charts/): litellm, grafana-oncall, "
        "haproxy-kubernetes-ingress",
    )
    values_path: tuple[str, ...] | None = param(params.values_path, "values key path, dotted or a list")
    set: dict | None = param(params.assignments, "keys to set under values_path: true/false, numbers, strings")
    chart: str | None = param(params.string, "act on every release of this chart, creating the path")


class DisableMigrationJob:
    """Set a chart's values so that its TTL Job stops breaking Helm upgrades under Flux.

    With a policy (the default, `litellm`), chart knowledge decides the change per release, or
    refuses it where every known fix would trade one outage for another (a warning naming the
    release, no edit, `--check` fails): see codemods/charts/. With values_path and set (recipes
    for other charts), every selected release gets exactly those values. Either way the value
    is changed where it comes from: the source that wins among valuesFrom, spec.values and
    overlay patches."""

    name = NAME
    Params = Params
    description = (
        "Fix the migration Job in the effective values of every litellm HelmRelease (OpenHands sub-chart or "
        "litellm-helm itself), wherever the value comes from; recipes: any chart and key."
    )

    def __init__(
        self,
        values_path: tuple[str, ...] | None = None,
        set: Mapping[str, Scalar] | None = None,
        chart: str | None = None,
        policy: str | None = None,
    ) -> None:
        explicit = values_path is not None or set is not None or chart is not None
        self.policy: Policy | None = POLICIES[policy or "litellm"] if policy or not explicit else None
        self.values_path = tuple(values_path) if values_path is not None else ("litellm-helm", "migrationJob")
        self.assignments = dict(set) if set is not None else {"enabled": False}
        self.chart = chart
        key = self.values_path[0]
        self.selector = ReleaseSelector(key, chart)
        self.needles = self.policy.needles if self.policy else tuple(n.encode() for n in (key, chart) if n)

    @property
    def needs(self) -> Needles:
        if self.policy is None:
            return Needles(values=self.needles, jobs=())
        jobs = (self.policy.job,) if self.policy.job is not None else ()
        return Needles(values=self.needles, jobs=jobs, charts=self.policy.chart_needles)

    def plan(self, ctx: Context) -> None:
        for release, outcome in self._outcomes(ctx):
            if isinstance(outcome, Refusal):
                self._refuse(ctx, release, outcome)
                continue
            # Keys set under one mapping from one source are written together, in the given order.
            groups: dict[tuple[int, tuple[str, ...]], list[Fix]] = {}
            for fix in outcome:
                source = self._winner(ctx, release, fix.path)
                if source.kind == "valuesFrom" and ValuesInRelease(release.unit.logical, release.name) in ctx.carry:
                    # A candidate after the gate refused the edit there: spec.values wins over it.
                    source = next(s for s in release.sources if s.kind == "spec.values")
                groups.setdefault((release.sources.index(source), fix.path[:-1]), []).append(fix)
            for (position, _parent), fixes in groups.items():
                self._apply(ctx, release, release.sources[position], fixes)
            for fixes in groups.values():
                for fix in fixes:
                    if fix.pre_install_hook and self._was_set(ctx, release, fix):
                        self._warn_hook_waits(ctx, release)

    @staticmethod
    def _was_set(ctx: Context, release: _Release, fix: Fix) -> bool:
        dotted = ".".join(fix.path)
        return any(
            isinstance(intent, EffectiveValue)
            and (intent.release, intent.namespace, intent.path, intent.value)
            == (release.name, release.namespace, dotted, fix.value)
            for intent in ctx.plan.intents
        )

    @staticmethod
    def _warn_hook_waits(ctx: Context, release: _Release) -> None:
        """A new pre-install hook that needs a database the same Flux Kustomization creates: on a
        fresh install Helm runs it, and waits for it, while that database is still coming up."""
        timeout = _install_timeout(ctx, release)
        waits = f"its install timeout of {timeout}" if timeout else "Helm's default 5-minute timeout"
        for ks, database in applied_with(ctx.graph, release.unit.logical):
            ctx.plan.warn(
                release.unit.primary.path,
                None,
                f"HelmRelease {release.name} now runs its migration Job as a pre-install hook, and Flux Kustomization "
                f"{ks.display()} ({ks.file}), which applies it, also creates {database.what} ({database.file}:"
                f"{database.line}): on a fresh install Helm runs the hook before the release's own resources and "
                f"waits for it while that database is still being created; past {waits} the install fails. Move the "
                f"database into a Flux Kustomization of its own that {ks.name} dependsOn (with wait: true)",
                NAME,
            )

    def needed(self, ctx: Context) -> list[Needed]:
        """What plan() would change, as facts for the doctor: the same model, the same decision."""
        found: list[Needed] = []
        for release, outcome in self._outcomes(ctx):
            for fix in [] if isinstance(outcome, Refusal) else outcome:
                source, hit = self._set_at(ctx, release, fix.path)
                explicit = hit is not None
                if hit is None and source.kind == "json6902" and source.line is not None:
                    hit = (source.path, source.line)  # an operation that replaces or removes the key
                if hit is None and fix.path[-3:] == ("hooks", "helm", "enabled"):
                    # The hook is set nowhere: what makes the finding is the value that enables
                    # the Job, reported where it is set (an overlay's patch, say).
                    hit = self._set_at(ctx, release, (*fix.path[:-3], "enabled"))[1]
                need = Needed(release.unit, release.document, release.name, release.chart, fix, source, hit, explicit)
                if need not in found:
                    found.append(need)
        return found

    def _set_at(
        self, ctx: Context, release: _Release, path: tuple[str, ...]
    ) -> tuple[ValuesSource, tuple[str, int] | None]:
        """The source whose value at path wins, and the (file, line) of its key (None: no
        source sets it)."""
        source = self._winner(ctx, release, path)
        for located, hits in self._hits(ctx, source, path):
            for key, _value in hits:
                offset = located.block.outer(key.start_mark.index) if located.block else key.start_mark.index
                text = ctx.readable_text(source.path) or ""
                return source, (source.path, text.count("\n", 0, offset) + 1)
        return source, None

    def schema_never_migrated(self, ctx: Context) -> list[tuple[str, str, int]]:
        """(release, file, line) where envVars.DISABLE_SCHEMA_UPDATE is "true" and the migration
        Job is disabled: nothing would ever migrate the schema (upstream docs: set it only when
        the Job owns migrations)."""
        found: list[tuple[str, str, int]] = []
        if self.policy is None:
            return found
        for release in self._releases(ctx):
            prefix = self._prefix(ctx, release)
            if prefix is None:
                continue
            lookup = self._lookup(ctx, release)
            flag = (*prefix, "envVars", "DISABLE_SCHEMA_UPDATE")
            if str(lookup(flag)).lower() != "true" or lookup((*prefix, "migrationJob", "enabled")) is not False:
                continue
            source = self._winner(ctx, release, flag)
            for located, hits in self._hits(ctx, source, flag):
                for key, _value in hits[:1]:
                    offset = located.block.outer(key.start_mark.index) if located.block else key.start_mark.index
                    text = ctx.readable_text(source.path) or ""
                    found.append((release.name, source.path, text.count("\n", 0, offset) + 1))
        return found

    def _prefix(self, ctx: Context, release: _Release) -> tuple[str, ...] | None:
        """() for the policy's chart itself, the sub-chart's key inside another chart, else None."""
        assert self.policy is not None
        if release.chart in self.policy.charts:
            return ()
        held = next(((key,) for key in self.policy.subchart_keys if self._holds(ctx, release, (key,))), None)
        # A parent chart's release that never mentions the sub-chart still deploys it, with its Job.
        return held or self.policy.implied_subchart(release.chart, release.chart_version)

    # -- which releases, which change ---------------------------------------------------------
    def _releases(self, ctx: Context) -> list[_Release]:
        found = []
        for unit, index, doc in ctx.helm_release_documents():
            meta = first(doc, "metadata")
            values_from = first(first(doc, "spec"), "valuesFrom")
            targets = tuple(
                split_target_path(scalar_value(first(item, "targetPath")) or "")
                for item in (values_from.value if isinstance(values_from, SequenceNode) else [])
            )
            line = _release_line(doc)
            # One per distinct Flux build: overlays may patch the release differently.
            for sources in ctx.values.variants(unit, index, doc):
                found.append(
                    _Release(
                        unit,
                        index,
                        scalar_value(first(meta, "name")) or "",
                        scalar_value(first(meta, "namespace")),
                        ctx.chart_of(unit, doc),
                        tuple(sources),
                        tuple(t for t in targets if t),
                        ctx.chart_version_of(unit, doc),
                        line,
                        selected(doc),
                    )
                )
        return found

    def _lookup(self, ctx: Context, release: _Release):
        def lookup(path: tuple[str, ...]) -> Scalar | None:
            for source in reversed(release.sources):
                for _located, hits in self._hits(ctx, source, path):
                    if hits:
                        return _value(source, hits[0][1])
                if self._shadows(source, path):
                    return None  # replaced or removed wholesale: what is below no longer counts
            return None

        return lookup

    def _outcomes(self, ctx: Context) -> list[tuple[_Release, list[Fix] | Refusal]]:
        """Every release variant with its changes, all judged before any edit (an edit made for
        one Flux build must not change what another is judged on), and made to agree."""
        releases = self._releases(ctx)
        return list(zip(releases, _agree(releases, [self._outcome(ctx, r) for r in releases]), strict=True))

    def _outcome(self, ctx: Context, release: _Release) -> list[Fix] | Refusal:
        """The changes the release needs, or the policy's refusal to change it."""
        if self.policy is None:
            if self.chart is not None:
                if release.chart != self.chart:
                    return []
            elif not self._holds(ctx, release, (self.values_path[0],)):
                return []
            return [Fix((*self.values_path, k), v, WHY) for k, v in self.assignments.items()]
        decision = self._decision(ctx, release)
        if decision is None:
            return []
        return decision if isinstance(decision, Refusal) else [decision]

    def _decision(self, ctx: Context, release: _Release) -> Fix | Refusal | None:
        """The policy's word on one release, judged on its effective values."""
        assert self.policy is not None
        prefix = self._prefix(ctx, release)
        if prefix is None:
            return None
        replaced = (
            ctx.values.replaced(release.unit, release.selected, (*prefix, "migrationJob")) if release.selected else None
        )
        if replaced is not None:
            file, line, field_path = replaced
            return Refusal(
                f"kustomize `replacements` in {file} (line {line}) write {field_path} during the build, which "
                "codemods does not model: what Flux applies there is not known here; set the value at the "
                "replacement's source by hand"
            )
        job = self.policy.job
        has_job = job is not None and any(p.release.unit is release.unit for p in ctx.placements(matcher=job))
        return self.policy.fix(prefix, self._lookup(ctx, release), has_job, release.chart, release.chart_version)

    @staticmethod
    def _refuse(ctx: Context, release: _Release, refusal: Refusal) -> None:
        """Say why the release is left as it is; `--check` keeps failing, as it is not fixed."""
        ctx.plan.unresolved_warning(
            release.unit.primary.path,
            release.line,
            f"HelmRelease {release.name}: left as it is: {refusal.why}",
            NAME,
        )

    def _holds(self, ctx: Context, release: _Release, path: tuple[str, ...]) -> bool:
        if any(target[: len(path)] == path for target in release.target_paths):
            return True  # a targetPath places a value below it, whether or not its source is found
        if any(
            s.op in ("add", "replace") and s.target_path[: len(path)] == path
            for s in release.sources
            if s.kind == "json6902"
        ):
            return True
        return any(hits for source in release.sources for _l, hits in self._hits(ctx, source, path))

    @staticmethod
    def _shadows(source: ValuesSource, path: tuple[str, ...]) -> bool:
        return source.shadows and path[: len(source.target_path)] == source.target_path

    @staticmethod
    def _relative(source: ValuesSource, path: tuple[str, ...]) -> tuple[str, ...] | None:
        """The path inside this source (None when its targetPath puts it elsewhere)."""
        if path[: len(source.target_path)] != source.target_path:
            return None
        return path[len(source.target_path) :]

    def _hits(self, ctx: Context, source: ValuesSource, path: tuple[str, ...]):
        relative = self._relative(source, path)
        if relative is None or not (relative or source.target_path):
            return []
        copy = source.unit.primary
        text = ctx.readable_text(copy.path, NAME)
        if text is None:
            return []
        found = []
        for located in locate(source, text, copy.path, copy.delimiters):
            if relative:
                found.append((located, value_at(located.root, relative)))
            elif isinstance(located.root, ScalarNode) and located.key is not None:
                # The value placed at the path itself: a targetPath string, an operation's value.
                found.append((located, [(located.key, located.root)]))
        return found

    # -- the edit -------------------------------------------------------------------------------
    def _winner(self, ctx: Context, release: _Release, path: tuple[str, ...]) -> ValuesSource:
        """The source that sets path and wins; else the one to add it to (the highest-priority
        source holding the deepest part of it; spec.values when none holds any)."""
        for source in reversed(release.sources):
            if any(hits for _l, hits in self._hits(ctx, source, path)):
                return source
            if self._shadows(source, path):
                return source  # the key goes into the operation's value (or is reported)
        best, depth = None, 0
        for source in reversed(release.sources):
            for size in range(len(path) - 1, depth, -1):
                if any(hits for _l, hits in self._hits(ctx, source, path[:size])):
                    best, depth = source, size
                    break
        return best or next(s for s in release.sources if s.kind == "spec.values")

    def _apply(self, ctx: Context, release: _Release, source: ValuesSource, fixes: list[Fix]) -> None:
        """Set fixes (keys under one mapping, from one source) in every copy of the source's file."""
        if not source.editable:
            _refuse_uneditable(ctx, release, source, fixes[0])
            return
        target = _Target.of(source, tuple(fixes), self._branch_filter(fixes[0]))
        for copy in source.unit.copies:
            _split_shared_anchors(ctx, source, copy, target.relative)
        for copy in source.unit.copies:
            # Every copy renders these values, so each must be edited, even one the pre-filter
            # passed over: one that is not UTF-8 stops the run here (exit 2), as a YAML error
            # in it would, rather than half a fix.
            text = ctx.plan.text(copy.path)
            out = _copy_edit(text, copy, release, target)
            _refuse_duplicates(copy, out)
            _warn_left_and_templated(ctx, copy, text, out)
            if out.splices:
                _write(ctx, release, target, copy, text, out)

    def _branch_filter(self, fix: Fix) -> BranchFilter | None:
        """With a policy: the Jinja branches of the sub-chart's key that it says to leave alone."""
        if self.policy is None:
            return None
        policy = self.policy
        prefix = fix.path[:1] if fix.path[0] in policy.subchart_keys else ()

        def skip(key: str, block: Node) -> bool:
            enabled = first(block, "enabled")
            return key in prefix and policy.skip_branch(prefix, _plain(enabled) if enabled is not None else None)

        return skip


@dataclass(frozen=True)
class _Target:
    """What one edit sets: the fixes' keys, under their parent path inside one values source."""

    source: ValuesSource
    fixes: tuple[Fix, ...]
    relative: tuple[str, ...]  # the first fix's path inside the source (its targetPath taken off)
    skip: BranchFilter | None

    @classmethod
    def of(cls, source: ValuesSource, fixes: tuple[Fix, ...], skip: BranchFilter | None) -> _Target:
        placed = DisableMigrationJob._relative(source, fixes[0].path)
        return cls(source, fixes, placed if placed is not None else fixes[0].path, skip)

    @property
    def fix(self) -> Fix:
        """The first fix: it names the path, and the why of the edit."""
        return self.fixes[0]

    @property
    def assignments(self) -> dict[str, Scalar]:
        """Every fix's last key, with its value."""
        return {f.path[-1]: f.value for f in self.fixes}


def _add_values(
    text: str, copy: Copy, release: _Release, parent: tuple[str, ...], assignments: dict[str, Scalar], out: _Result
) -> None:
    """No spec.values at all: create it, with the path, under spec."""
    docs = compose(text, copy.path, copy.delimiters)
    if release.document >= len(docs):
        return
    setter = _Setter(text, assignments, out)
    for spec_key, spec in entries(docs[release.document], "spec"):
        setter.ensure(spec_key, spec, ("values", *parent), "spec", 2)


def _refuse_uneditable(ctx: Context, release: _Release, source: ValuesSource, fix: Fix) -> None:
    """The value comes from a source that cannot be edited here: say so; `--check` keeps failing."""
    ctx.plan.unresolved_warning(
        source.unit.primary.path,
        source.line,
        f"HelmRelease {release.name}: {'.'.join(fix.path)} comes from {source.label}, which is "
        f"{source.why_not} and cannot be edited here; set it to {render_scalar(fix.value)} by hand",
        NAME,
    )


def _copy_edit(text: str, copy: Copy, release: _Release, target: _Target) -> _Result:
    """Every splice that sets target in one copy of the source's file, with notes and skips."""
    out = _Result()
    located = locate(target.source, text, copy.path, copy.delimiters)
    if not located and target.source.kind == "spec.values":
        _add_values(text, copy, release, target.relative[:-1], target.assignments, out)
    for place in located:
        inner = _Result()
        _place_edit(place, target, inner)
        _take_in(out, inner, place.block, text)
    return out


def _place_edit(place: Located, target: _Target, out: _Result) -> None:
    """Set target where the source placed its values in the text (a document, a block, a value)."""
    relative = target.relative
    if not relative:  # the source's value is the fix's value itself: a targetPath string, an operation's
        if isinstance(place.root, ScalarNode) and place.key is not None:
            _set_placed(place.text, place.key, place.root, target.source, target.fix, out)
        return
    if place.root is None:
        return
    setter = _Setter(place.text, target.assignments, out, target.skip)
    if place.key is not None:  # a mapping under a key: spec.values, a patch's values, an operation's value
        # Named by its path in the effective values: an operation at /spec/values/litellm-helm
        # places its value at litellm-helm.
        dotted = ".".join(("values", *target.source.target_path))
        setter.ensure(place.key, place.root, relative[:-1], dotted, child_step(place.key, place.root, 2))
        return
    # A document of values (a values file, a ConfigMap's values.yaml): no key above it.
    hits = value_at(place.root, relative)
    for key, value in hits:
        _assign_one(place.text, key, value, ".".join(relative), target.assignments[relative[-1]], out)
    if hits:
        return
    top = entries(place.root, relative[0])
    for key, node in top:
        setter.ensure(key, node, relative[1:-1], relative[0], 2)
    if not top:
        _root_insert(place.text, place.root, relative[:-1], target.assignments, out)


def _take_in(out: _Result, inner: _Result, block: Embedded | None, text: str) -> None:
    """Add what was done in one place to the copy's result. Lines and offsets inside an embedded
    block (a ConfigMap's values.yaml: |, an inline patch) count from the block's start: say them
    as the file's."""
    if block is None:
        out.notes.extend(inner.notes)
        out.skipped.extend(inner.skipped)
        out.duplicates.extend(inner.duplicates)  # an embedded patch's lines count from its own start
    else:
        out.notes.extend((_file_line(block, text, line), what) for line, what in inner.notes)
        out.skipped.extend((_file_line(block, text, line), why) for line, why in inner.skipped)
    out.replaced.extend((block.outer(i) if block else i, d, w) for i, d, w in inner.replaced)
    out.splices.extend(block.splice(sp) if block else sp for sp in inner.splices)


def _refuse_duplicates(copy: Copy, out: _Result) -> None:
    """A key the path walks twice in plain YAML: kustomize would stop on the file (exit 2 here)."""
    if copy.delimiters is None and out.duplicates:
        line, earlier, twice = out.duplicates[0]
        raise InputError(copy.path, line, _duplicate_message(twice, earlier))


def _warn_left_and_templated(ctx: Context, copy: Copy, text: str, out: _Result) -> None:
    """Warn of what was left as it is, and of template expressions the edit made literal."""
    for line, message in out.skipped:
        ctx.plan.warn(copy.path, line, message, NAME)
    for offset, dotted, was in out.replaced:
        if copy.delimiters is not None and copy.delimiters.variable_start in was:
            line = text.count("\n", 0, offset) + 1
            # Right for what Flux applies, but whoever sets that variable should know.
            ctx.plan.warn(
                copy.path,
                line,
                f"{dotted} was the template expression {was}: it is now a literal, so that variable no longer sets it",
                NAME,
            )


def _write(ctx: Context, release: _Release, target: _Target, copy: Copy, text: str, out: _Result) -> None:
    """Plan the copy's new text, and the effective values Flux must then build (the gate checks)."""
    try:
        new_text = apply_splices(text, out.splices)
    except ValueError as err:
        raise InputError(copy.path, None, f"conflicting edits: {err}") from None
    for each in target.fixes:
        ctx.plan.expect(
            EffectiveValue(
                release.name,
                ".".join(each.path),
                each.value,
                release.namespace,
                copy.path,
                release.unit.logical,
                target.source.kind,
            )
        )
    where = "" if target.source.kind == "spec.values" else f" (in {target.source.label})"
    notes = "; ".join(f"line {line}: {what}" for line, what in out.notes)
    ctx.plan.edit(NAME, copy.path, new_text, notes + f"{where}: {target.fix.why}")


def _describe(fix: Fix) -> str:
    return f"{'.'.join(fix.path)}: {render_scalar(fix.value)}"


def _agree(releases: list[_Release], outcomes: list[list[Fix] | Refusal]) -> list[list[Fix] | Refusal]:
    """One HelmRelease built by several Flux Kustomizations (overlays) is one variant per build,
    but an edit lands in the file that sets the value, often a base they share: an edit made for
    one build applies to all. Where the builds need different changes, the policy's universal
    one (safe for every configuration) is made for all of them; without one, none is made."""
    groups: dict[tuple[str, int], list[int]] = {}
    for position, release in enumerate(releases):
        groups.setdefault((release.unit.logical, release.document), []).append(position)
    agreed = list(outcomes)
    for positions in groups.values():
        changing: dict[int, list[Fix]] = {}
        for p in positions:
            outcome = outcomes[p]
            if not isinstance(outcome, Refusal) and outcome:
                changing[p] = outcome
        if len({tuple((f.path, f.value) for f in fixes) for fixes in changing.values()}) <= 1:
            continue  # the same changes in every build that needs one
        every = [f for fixes in changing.values() for f in fixes]
        universal = {(f.path, f.value): f for f in every if f.universal}
        wanted = sorted({_describe(f) for f in every})
        for p in changing:
            if len(universal) == 1:
                fix = next(iter(universal.values()))
                why = (
                    f"{fix.why} (in every Flux build of the release: they need different changes, {'; '.join(wanted)})"
                )
                agreed[p] = [replace(fix, why=why)]
            else:
                agreed[p] = Refusal(
                    f"its Flux builds need different changes ({'; '.join(wanted)}), and an edit in a file they "
                    "share would apply to all of them; set each where only its build reads it"
                )
    return agreed


def _release_line(doc: Node) -> int | None:
    """The line a warning about a release names: its chart version (what a refusal is about most
    often), else its name, else the document's start."""
    spec = first(doc, "spec")
    for node in (
        first(first(first(spec, "chart"), "spec"), "version"),
        first(first(doc, "metadata"), "name"),
        doc,
    ):
        if node is not None:
            return node.start_mark.line + 1
    return None


def _set_placed(text: str, key: ScalarNode, node: ScalarNode, source: ValuesSource, fix: Fix, out: _Result) -> None:
    """Set the one value a targetPath string or a JSON6902 operation places at the fix's path. A
    ConfigMap's data string keeps its quotes (it must stay a string; helm-controller types it)."""
    if _value(source, node) == fix.value and type(_value(source, node)) is type(fix.value):
        return
    new = render_scalar(fix.value)
    raw = text[node.start_mark.index : node.end_mark.index]
    line = key.start_mark.line + 1
    if source.strval:
        if node.style not in (None, '"', "'") or "\n" in raw:
            out.skipped.append((line, f"{'.'.join(fix.path)} is a multi-line string; left as it is"))
            return
        quote = raw[0] if node.style else ""
        new = f"{quote}{new}{quote}"
    elif node.style is not None and node.style not in ('"', "'"):
        out.skipped.append((line, f"{'.'.join(fix.path)} is a block string; left as it is"))
        return
    out.splices.append(_scalar_splice(text, key, node, new))
    out.notes.append((line, f"set {'.'.join(fix.path)}: {new} (was {raw or 'empty'})"))
    out.replaced.append((node.start_mark.index, ".".join(fix.path), raw))


def _assign_one(text: str, key: ScalarNode, value: Node, dotted: str, wanted: Scalar, out: _Result) -> None:
    """Replace one scalar at a document's root level path (no mapping above it to walk)."""
    if not isinstance(value, ScalarNode) or _holds(value, wanted):
        return
    new = render_scalar(wanted)
    was = text[value.start_mark.index : value.end_mark.index] or "empty"
    out.splices.append(_scalar_splice(text, key, value, new))
    out.notes.append((key.start_mark.line + 1, f"set {dotted}: {new} (was {was})"))
    out.replaced.append((value.start_mark.index, dotted, was))


def _install_timeout(ctx: Context, release: _Release) -> str | None:
    """The HelmRelease's own install timeout (spec.install.timeout, else spec.timeout), if set."""
    copy = release.unit.primary
    try:
        docs = compose(ctx.plan.text(copy.path), copy.path, copy.delimiters)
    except InputError:
        return None
    doc = docs[release.document] if release.document < len(docs) else None
    spec = first(doc, "spec")
    return scalar_value(first(first(spec, "install"), "timeout")) or scalar_value(first(spec, "timeout"))

"""Flux's post-build substitution of `${VAR}`, as kustomize-controller runs it (fluxcd/pkg/envsubst,
a fork of drone/envsubst), for every place the model substitutes: a Flux Kustomization's spec as
its parent's build leaves it (spec.path, targetNamespace, ...) and the objects a build makes.

The grammar is Flux's, including its quirks:
- `$${VAR}` is the literal `${VAR}`: outside an expression `$$` is one `$` and starts nothing;
- `${VAR}`, `${#VAR}` (length), `${VAR^}`, `${VAR^^}`, `${VAR,}`, `${VAR,,}` (case),
  `${VAR:offset}`, `${VAR:offset:length}`, `${VAR#glob}`, `${VAR##glob}`, `${VAR%glob}`,
  `${VAR%%glob}`, `${VAR/pattern/string}` (and `//`, `/#`, `/%`);
- `${VAR=default}`, `${VAR:=default}`, `${VAR:-default}` (and `:?`, `:+`) all give the default when
  the value is empty or unset (Flux's toDefault); a default may hold further `${...}`;
- `${VAR-default}`, `${}`, `${VAR` and `${VAR/x}` are syntax errors: Flux's build fails.
Offsets, lengths and globs count characters where Flux counts bytes: the same for ASCII.
Variable names must match VARIABLE_NAME, or the build fails (kustomize-controller's varsubRegex).

A variable is known, unset, or unknown. Flux substitutes an unset one (no default) with the empty
string; the model only knows that when every source of variables is in the repository. A
`substituteFrom` object that lives in the cluster makes every variable not defined inline
unknown: an expression with a default then takes its default (what it is whenever those objects
leave the variable unset), any other is left as written.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import cached_property, lru_cache

# kustomize-controller refuses any other variable name (varsubRegex).
VARIABLE_NAME = re.compile(r"[_a-zA-Z][_a-zA-Z0-9]*\Z")
_FLUX_NAME_RULE = "^[_[:alpha:]][_[:alpha:][:digit:]]*$"  # as Flux's error message spells it
_LONGEST_CASE_OP = 2  # ${v^}, ${v^^}, ${v,}, ${v,,}
_DEFAULT_OPS = frozenset({"=", ":=", ":-", ":?", ":+", "-", "+"})
_GO_INT = re.compile(r"[+-]?[0-9]+\Z")


class SubstitutionError(ValueError):
    """Flux cannot parse an expression: its build fails ("variable substitution failed")."""


@dataclass(frozen=True)
class Variables:
    """The variables of one Flux Kustomization's post-build substitution."""

    values: Mapping[str, str] = field(default_factory=dict)
    # Every substituteFrom source was found in the repository: a name not in values is unset
    # (empty). False: it may be defined in the cluster, so its value is unknown.
    complete: bool = True

    @cached_property
    def invalid_name(self) -> str | None:
        """A variable name kustomize-controller refuses (its build then fails), or None."""
        return next((n for n in self.values if not VARIABLE_NAME.match(n)), None)

    @property
    def enabled(self) -> bool:
        """Flux substitutes only when there is at least one variable (or a source of some)."""
        return bool(self.values) or not self.complete

    def lookup(self, name: str) -> str | None:
        """The value Flux uses for name ("" when unset), or None when it cannot be known here."""
        if name in self.values:
            return self.values[name]
        return "" if self.complete else None


def substitute(text: str, variables: Variables | Mapping[str, str]) -> str:
    """text after Flux's substitution; an expression whose value is unknown stays as written.
    Raises SubstitutionError where Flux's build fails."""
    if not isinstance(variables, Variables):
        variables = Variables(dict(variables))
    if not variables.enabled:
        return text
    if variables.invalid_name is not None:  # Flux checks the names first, whatever the text
        raise SubstitutionError(f"'{variables.invalid_name}' var name is invalid, must match '{_FLUX_NAME_RULE}'")
    if "${" not in text and "$$" not in text:
        return text
    out: list[str] = []
    for node in parse(text):
        if isinstance(node, str):
            out.append(node)
            continue
        try:
            out.append(_evaluate(node, variables.lookup))
        except _Unknown:
            out.append(node.source)
    return "".join(out)


def pattern(text: str, wildcard: str = "[^/]+") -> re.Pattern[str] | None:
    """A regex that matches what text can become, every expression a wildcard; None when text
    has no expression (or none Flux could parse)."""
    try:
        nodes = parse(text)
    except SubstitutionError:
        return None
    if all(isinstance(n, str) for n in nodes):
        return None
    return re.compile("".join(re.escape(n) if isinstance(n, str) else wildcard for n in nodes) + r"\Z", re.DOTALL)


def names(text: str) -> set[str]:
    """Every variable an expression of text reads (defaults included)."""
    try:
        nodes = parse(text)
    except SubstitutionError:
        return set()
    found: set[str] = set()
    pending = [n for n in nodes if isinstance(n, Expression)]
    while pending:
        expression = pending.pop()
        found.add(expression.param)
        pending.extend(a for a in expression.args if isinstance(a, Expression))
    return found


# -- the parser ------------------------------------------------------------------------------
@dataclass(frozen=True)
class Expression:
    """One `${...}`: op "" is the plain value; args are text or nested expressions."""

    op: str
    param: str
    args: tuple[str | Expression, ...]
    source: str  # as written, `${` to `}`


Node = str | Expression


@lru_cache(maxsize=1024)
def parse(text: str) -> tuple[Node, ...]:
    """text as literal runs and expressions (Flux's parse tree)."""
    return tuple(_Parser(text).nodes())


def _is_ident(char: str) -> bool:
    # Go's unicode.IsLetter || unicode.IsDigit || '_'
    return char.isalpha() or char.isdecimal() or char == "_"


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.at = 0

    def peek(self, ahead: int = 0) -> str:
        index = self.at + ahead
        return self.text[index] if index < len(self.text) else ""

    def nodes(self) -> list[Node]:
        found: list[Node] = []
        while self.at < len(self.text):
            if self.text.startswith("${", self.at):
                start = self.at
                self.at += 2
                found.append(self.expression(start))
            else:
                found.append(self.literal())
        return found

    def literal(self) -> str:
        """Text up to the next `${`; `$$` is one `$` and the character after it is plain text."""
        out: list[str] = []
        text = self.text
        while self.at < len(text):
            dollar = text.find("$", self.at)
            if dollar < 0:
                out.append(text[self.at :])
                self.at = len(text)
                break
            out.append(text[self.at : dollar])
            self.at = dollar
            if text.startswith("${", dollar):
                break
            if text.startswith("$$", dollar):
                out.append("$")
                self.at = dollar + 2
            else:
                out.append("$")
                self.at = dollar + 1
        return "".join(out)

    def expression(self, start: int) -> Expression:
        if self.peek() == "#":
            self.at += 1
            name = self.identifier()
            if not name:
                raise SubstitutionError("bad substitution")
            return self.closed(Expression("#", name, (), ""), start)
        name = self.identifier()
        if not name:
            raise SubstitutionError("unable to parse variable name")
        char = self.peek()
        if char == ":":
            return self.default(name, start) if self.peek(1) in ("=", "-", "?", "+") else self.substring(name, start)
        if char == "=":
            return self.default(name, start)
        if char in (",", "^"):
            op = self.run(lambda c, i: c in ",^" and i < _LONGEST_CASE_OP)
            return self.closed(Expression(op, name, (), ""), start)
        if char == "/":
            return self.replace(name, start)
        if char in ("#", "%"):
            op = char * (2 if self.peek(1) == char else 1)
            self.at += len(op)
            argument = self.parameter(lambda c: c != "}")
            return self.closed(Expression(op, name, (argument,), ""), start)
        if char == "}":
            self.at += 1
            return Expression("", name, (), self.text[start : self.at])
        raise SubstitutionError("missing closing brace")

    def identifier(self) -> str:
        return self.run(lambda c, _i: _is_ident(c))

    def run(self, accept: Callable[[str, int], bool]) -> str:
        begin = self.at
        while self.at < len(self.text) and accept(self.text[self.at], self.at - begin):
            self.at += 1
        return self.text[begin : self.at]

    def closed(self, expression: Expression, start: int) -> Expression:
        if self.peek() != "}":
            raise SubstitutionError("bad substitution")
        self.at += 1
        return Expression(expression.op, expression.param, expression.args, self.text[start : self.at])

    def default(self, name: str, start: int) -> Expression:
        op = "=" if self.peek() == "=" else self.text[self.at : self.at + 2]
        self.at += len(op)
        args: list[Node] = []
        while self.peek() != "}":
            args.append(self.parameter(lambda c: c != "}"))
        self.at += 1
        return Expression(op, name, tuple(args), self.text[start : self.at])

    def substring(self, name: str, start: int) -> Expression:
        self.at += 1  # ":"
        args = [self.parameter(lambda c: c not in ":}")]
        if self.peek() == "}":
            self.at += 1
            return Expression(":", name, tuple(args), self.text[start : self.at])
        if self.peek() != ":":
            raise SubstitutionError("bad substitution")
        self.run(lambda c, _i: c == ":")
        args.append(self.parameter(lambda c: c != "}"))
        return self.closed(Expression(":", name, tuple(args), ""), start)

    def replace(self, name: str, start: int) -> Expression:
        op = self.run(lambda c, i: (i == 0 and c == "/") or (i == 1 and c in "/#%"))
        args: list[Node] = []
        if self.peek() == "/":
            args.append("")
        else:
            args.append(self.parameter(lambda c: c != "/", escapes=True))
        if self.peek() != "/":
            raise SubstitutionError("bad substitution")
        self.run(lambda c, _i: c == "/")
        if self.peek() == "}":
            self.at += 1
            return Expression(op, name, tuple(args), self.text[start : self.at])
        args.append(self.parameter(lambda c: c != "}", escapes=True))
        return self.closed(Expression(op, name, tuple(args), ""), start)

    def parameter(self, accept: Callable[[str], bool], escapes: bool = False) -> Node:
        """One argument: a nested expression, or text up to a rejected character or `${`.
        With escapes (replace patterns), `$$`, `\\/` and `\\\\` take the second character."""
        if self.at >= len(self.text):
            raise SubstitutionError("unable to parse substitution within function")
        if self.text.startswith("${", self.at):
            start = self.at
            self.at += 2
            return self.expression(start)
        out: list[str] = []
        while self.at < len(self.text) and not self.text.startswith("${", self.at):
            char = self.text[self.at]
            following = self.peek(1)
            if escapes and ((char == "$" and following == "$") or (char == "\\" and following in ("/", "\\"))):
                out.append(following)
                self.at += 2
                continue
            if not accept(char):
                break
            out.append(char)
            self.at += 1
        if not out:
            raise SubstitutionError("unable to parse substitution within function")
        return "".join(out)


# -- evaluation ------------------------------------------------------------------------------
class _Unknown(Exception):
    """A value the expression needs is not known in the repository."""


def _evaluate(node: Node, lookup: Callable[[str], str | None]) -> str:
    if isinstance(node, str):
        return node
    value = lookup(node.param)
    if value is None and node.op in _DEFAULT_OPS:
        value = ""  # what it is whenever the cluster's objects leave it unset
    if value is None:
        raise _Unknown(node.param)
    args = [_evaluate(a, lookup) for a in node.args] if node.op not in _DEFAULT_OPS or not value else []
    return _FUNCTIONS.get(node.op, _default)(value, args)


def _default(value: str, args: list[str]) -> str:
    return value if value or not args else "".join(args)


def _length(value: str, args: list[str]) -> str:
    return str(len(value.encode("utf-8"))) if not args else _trim(value, args[0], shortest=True)


def _substring(value: str, args: list[str]) -> str:
    if not args or not _GO_INT.match(args[0]):
        return value
    position = int(args[0])
    if position < 0:
        position = max(len(value) + position, 0)
    if len(args) == 1:
        return value[position:]
    if not _GO_INT.match(args[1]):
        return value
    length = int(args[1])
    if length < 0:
        end = len(value) + length
        return "" if end < position else value[position:end]
    return value[position : position + length]


def _replace_prefix(value: str, args: list[str]) -> str:
    match args:
        case [old, new]:
            return new + value[len(old) :] if value.startswith(old) else value
    return value


def _replace_suffix(value: str, args: list[str]) -> str:
    match args:
        case [old, new]:
            return value[: len(value) - len(old)] + new if value.endswith(old) else value
    return value


def _replace(value: str, args: list[str], count: int) -> str:
    if not args:
        return value
    return value.replace(args[0], args[1] if len(args) > 1 else "", count)


def _trim(value: str, glob: str, shortest: bool, suffix: bool = False) -> str:
    if suffix:
        return _trim(value[::-1], glob[::-1], shortest)[::-1]
    compiled = _glob(glob)
    if compiled is None:
        return value  # a malformed pattern trims nothing
    # Prefixes from the longest down to one character, as Flux tries them.
    matching = [n for n in range(len(value), 0, -1) if compiled.match(value[:n])]
    if not matching:
        return value
    return value[(matching[-1] if shortest else matching[0]) :]


@lru_cache(maxsize=256)
def _glob(glob: str) -> re.Pattern[str] | None:
    """Flux's glob (fluxcd/pkg/envsubst/path, Go's path.Match with one change: `*` and `?` match
    `/` too) as a regex: classes `[...]`/`[^...]`, `\\` escapes."""
    out: list[str] = []
    at = 0
    while at < len(glob):
        char = glob[at]
        if char == "*":
            out.append(".*")
        elif char == "?":
            out.append(".")
        elif char == "\\":
            at += 1
            if at >= len(glob):
                return None
            out.append(re.escape(glob[at]))
        elif char == "[":
            parsed = _glob_class(glob, at + 1)
            if parsed is None:
                return None
            regex, at = parsed
            out.append(regex)
        else:
            out.append(re.escape(char))
        at += 1
    return re.compile("".join(out) + r"\Z", re.DOTALL)


def _glob_class(glob: str, at: int) -> tuple[str, int] | None:
    """A `[...]` class from just after `[`: (regex, index of its `]`), or None when malformed."""
    negated = at < len(glob) and glob[at] == "^"
    at += negated
    ranges: list[str] = []
    while True:
        if at >= len(glob):
            return None
        if glob[at] == "]" and ranges:
            return ("[^" if negated else "[") + "".join(ranges) + "]", at
        low, at = _class_char(glob, at)
        if low is None:
            return None
        high = low
        if at < len(glob) and glob[at] == "-":
            upper, at = _class_char(glob, at + 1)
            if upper is None:
                return None
            high = upper
        ranges.append(re.escape(low) if low == high else f"{re.escape(low)}-{re.escape(high)}")


def _class_char(glob: str, at: int) -> tuple[str | None, int]:
    if at >= len(glob) or glob[at] in "-]":
        return None, at
    if glob[at] == "\\":
        at += 1
        if at >= len(glob):
            return None, at
    return glob[at], at + 1


_FUNCTIONS: dict[str, Callable[[str, list[str]], str]] = {
    "": _default,
    "#": _length,
    "##": lambda v, a: _trim(v, a[0], shortest=False) if a else v,
    "%": lambda v, a: _trim(v, a[0], shortest=True, suffix=True) if a else v,
    "%%": lambda v, a: _trim(v, a[0], shortest=False, suffix=True) if a else v,
    ",": lambda v, _a: v[:1].lower() + v[1:],
    ",,": lambda v, _a: v.lower(),
    "^": lambda v, _a: v[:1].upper() + v[1:],
    "^^": lambda v, _a: v.upper(),
    ":": _substring,
    "/": lambda v, a: _replace(v, a, 1),
    "//": lambda v, a: _replace(v, a, -1),
    "/#": _replace_prefix,
    "/%": _replace_suffix,
}

"""The guard expression language: tokenizer + Pratt parser into ``codegen.core.ast.GuardExpr``.

Guards are data, never ``eval``'ed. Grammar, loosest binding first::

    or  <  and  <  not  <  comparison (== != < <= > >=, non-associative)
        <  + -  <  * // %  <  unary -  <  atom (int, true/false, 'str' / "str", name, (e))
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Final, Literal, cast

from codegen.core.ast import GBinary, GLit, GName, GuardExpr, GUnary
from codegen.core.diagnostics import BAD_GUARD, Diagnostic
from codegen.core.span import Span, TextError

SpanOf = Callable[[int, int], Span]

TokKind = Literal["int", "str", "name", "op", "end"]


@dataclass(frozen=True, slots=True)
class Token:
    kind: TokKind
    text: str
    start: int
    end: int


_TOKEN: Final = re.compile(
    r"""(?P<ws>\s+)
      | (?P<int>[0-9]+(?![A-Za-z_]))
      | (?P<name>[A-Za-z_][A-Za-z0-9_]*)
      | (?P<str>'[^'\\]*'|"[^"\\]*")
      | (?P<op>==|!=|<=|>=|//|[<>+\-*%()])""",
    re.VERBOSE,
)

BinOp = Literal["and", "or", "==", "!=", "<", "<=", ">", ">=", "+", "-", "*", "//", "%"]
# Binding powers of infix operators.
_INFIX: Final[dict[str, int]] = {
    "or": 10,
    "and": 20,
    "==": 40, "!=": 40, "<": 40, "<=": 40, ">": 40, ">=": 40,
    "+": 50, "-": 50,
    "*": 60, "//": 60, "%": 60,
}
_NOT_BP: Final = 30
_NEG_BP: Final = 70
_COMPARISON_BP: Final = 40


def tokenize(text: str) -> list[Token]:
    out: list[Token] = []
    pos = 0
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if m is None:
            ch = text[pos]
            if ch in "'\"":
                raise TextError(pos, len(text), "unterminated string", "strings are 'quoted' without escapes")
            if ch == "=":
                raise TextError(pos, pos + 1, "unexpected '='", "compare with '=='")
            if ch == "/":
                raise TextError(pos, pos + 1, "unexpected '/'", "guards use integer division '//'")
            if ch in "&|!":
                raise TextError(pos, pos + 1, f"unexpected {ch!r}", "write 'and', 'or', 'not'")
            raise TextError(pos, pos + 1, f"unexpected character {ch!r}")
        kind = m.lastgroup
        if kind != "ws":
            tk = cast(TokKind, kind)
            if kind == "name" and m.group() in ("and", "or", "not"):
                tk = "op"
            out.append(Token(tk, m.group(), pos, m.end()))
        pos = m.end()
    out.append(Token("end", "", len(text), len(text)))
    return out


def parse_guard(text: str, span_of: SpanOf) -> GuardExpr | Diagnostic:
    """Parse ``text``; a Diagnostic (M108) pointing inside the string when malformed."""
    try:
        toks = tokenize(text)
        if toks[0].kind == "end":
            raise TextError(0, 0, "the guard is empty")
        parser = _Parser(toks, span_of)
        expr = parser.expr(0)
        tok = parser.peek()
        if tok.kind != "end":
            raise TextError(tok.start, tok.end, f"unexpected {tok.text!r}", "expected an operator or the end of the guard")
        return expr
    except TextError as f:
        return Diagnostic(BAD_GUARD, span_of(f.start, max(f.end, f.start + 1)), f"bad guard: {f.message}", f.hint)


class _Parser:
    def __init__(self, toks: list[Token], span_of: SpanOf) -> None:
        self.toks = toks
        self.i = 0
        self.span_of = span_of
        # Offsets of each node, kept aside so spans of compound nodes can be computed.
        self.extent: dict[int, tuple[int, int]] = {}

    def peek(self) -> Token:
        return self.toks[self.i]

    def next(self) -> Token:
        tok = self.toks[self.i]
        if tok.kind != "end":
            self.i += 1
        return tok

    def node_extent(self, e: GuardExpr) -> tuple[int, int]:
        return self.extent[id(e)]

    def mark(self, e: GuardExpr, start: int, end: int) -> GuardExpr:
        self.extent[id(e)] = (start, end)
        return e

    def expr(self, min_bp: int) -> GuardExpr:
        left = self.prefix()
        while True:
            tok = self.peek()
            bp = _INFIX.get(tok.text) if tok.kind == "op" else None
            if bp is None or bp <= min_bp:
                if tok.kind in ("name", "int", "str") or tok.text == "(":
                    raise TextError(tok.start, tok.end, f"unexpected {tok.text!r}", "expected an operator between operands")
                return left
            self.next()
            right = self.expr(bp)
            if bp == _COMPARISON_BP:
                nxt = self.peek()
                if nxt.kind == "op" and _INFIX.get(nxt.text) == _COMPARISON_BP:
                    raise TextError(nxt.start, nxt.end, "comparisons cannot be chained", "join them with 'and'")
            start = self.node_extent(left)[0]
            end = self.node_extent(right)[1]
            left = self.mark(GBinary(cast(BinOp, tok.text), left, right, self.span_of(start, end)), start, end)

    def prefix(self) -> GuardExpr:
        tok = self.next()
        if tok.kind == "int":
            if len(tok.text) > 18:
                raise TextError(tok.start, tok.end, "integer literal too large")
            return self.mark(GLit(int(tok.text), self.span_of(tok.start, tok.end)), tok.start, tok.end)
        if tok.kind == "str":
            return self.mark(GLit(tok.text[1:-1], self.span_of(tok.start, tok.end)), tok.start, tok.end)
        if tok.kind == "name":
            span = self.span_of(tok.start, tok.end)
            if tok.text in ("true", "false"):
                return self.mark(GLit(tok.text == "true", span), tok.start, tok.end)
            if tok.text in ("True", "False"):
                raise TextError(tok.start, tok.end, f"unknown literal {tok.text!r}", f"write {tok.text.lower()!r}")
            return self.mark(GName(tok.text, span), tok.start, tok.end)
        if tok.text == "not" or tok.text == "-":
            operand = self.expr(_NOT_BP if tok.text == "not" else _NEG_BP)
            end = self.node_extent(operand)[1]
            op: Literal["not", "-"] = "not" if tok.text == "not" else "-"
            return self.mark(GUnary(op, operand, self.span_of(tok.start, end)), tok.start, end)
        if tok.text == "(":
            inner = self.expr(0)
            close = self.next()
            if close.text != ")":
                what = repr(close.text) if close.kind != "end" else "the end"
                raise TextError(close.start, close.end, f"expected ')', found {what}", "")
            return self.mark(inner, tok.start, close.end)
        what = repr(tok.text) if tok.kind != "end" else "the end of the guard"
        raise TextError(tok.start, tok.end, f"expected a value, found {what}")


# ---------------------------------------------------------------- coverage

Value = int | bool | str
Assignment = dict[str, Value]

# Beyond this many assignments to try, coverage is left undecided (an unguarded branch is
# then required): guards name a handful of variables, so real specs stay far below it.
MAX_ASSIGNMENTS: Final = 100_000


def evaluate(e: GuardExpr, env: Assignment) -> Value:
    """The value of ``e`` under ``env`` (the guard language's own semantics, no eval)."""
    match e:
        case GLit(value=v):
            return v
        case GName(name=n):
            return env[n]
        case GUnary(op="not", operand=o):
            return not evaluate(o, env)
        case GUnary(operand=o):
            v = evaluate(o, env)
            assert isinstance(v, int)
            return -v
        case GBinary(op="and", left=a, right=b):
            return bool(evaluate(a, env)) and bool(evaluate(b, env))
        case GBinary(op="or", left=a, right=b):
            return bool(evaluate(a, env)) or bool(evaluate(b, env))
        case GBinary(op=op, left=a, right=b):
            x, y = evaluate(a, env), evaluate(b, env)
            if op == "==":
                return x == y
            if op == "!=":
                return x != y
            assert isinstance(x, int) and isinstance(y, int)
            match op:
                case "<":
                    return x < y
                case "<=":
                    return x <= y
                case ">":
                    return x > y
                case ">=":
                    return x >= y
                case "+":
                    return x + y
                case "-":
                    return x - y
                case "*":
                    return x * y
                case "//":
                    return x // y
                case _:
                    return x % y
    raise AssertionError(e)


def _int_const(e: GuardExpr) -> int | None:
    match e:
        case GLit(value=v) if isinstance(v, int) and not isinstance(v, bool):
            return v
        case GUnary(op="-", operand=GLit(value=v)) if isinstance(v, int) and not isinstance(v, bool):
            return -v
    return None


def _fragment(e: GuardExpr, types: dict[str, str], ints: set[int], strs: dict[str, set[str]]) -> bool:
    """Is ``e`` in the decidable fragment: and/or/not over bool names and literals, and
    comparisons between int names and int literals, or str names and str literals? Collects
    the constants each kind of variable is compared with."""
    match e:
        case GLit(value=v):
            return isinstance(v, bool)
        case GName(name=n):
            return types.get(n) == "bool"
        case GUnary(op="not", operand=o):
            return _fragment(o, types, ints, strs)
        case GBinary(op="and" | "or", left=a, right=b):
            return _fragment(a, types, ints, strs) and _fragment(b, types, ints, strs)
        case GBinary(op="==" | "!=" | "<" | "<=" | ">" | ">=", left=a, right=b):
            sides = (a, b)
            kinds = []
            for side in sides:
                c = _int_const(side)
                if c is not None:
                    ints.add(c)
                    kinds.append("int")
                elif isinstance(side, GName) and types.get(side.name) in ("int", "bool", "str"):
                    kinds.append(types[side.name])
                elif isinstance(side, GLit) and isinstance(side.value, str):
                    kinds.append("str")
                elif isinstance(side, GLit) and isinstance(side.value, bool):
                    kinds.append("bool")
                else:
                    return False
            if kinds[0] != kinds[1]:
                return False
            if kinds[0] == "str":
                names = [s.name for s in sides if isinstance(s, GName)]
                lits = [s.value for s in sides if isinstance(s, GLit) and isinstance(s.value, str)]
                for n in names:
                    strs.setdefault(n, set()).update(lits)
            return kinds[0] == "int" or e.op in ("==", "!=")
    return False


def _int_points(consts: set[int], nvars: int) -> list[int]:
    """Enough integers to realise every order of ``nvars`` variables among ``consts``: the
    constants, and up to ``nvars`` points in each gap between them and beyond them."""
    cs = sorted(consts) or [0]
    points = set(cs)
    points.update(cs[0] - k for k in range(1, nvars + 1))
    points.update(cs[-1] + k for k in range(1, nvars + 1))
    for lo, hi in itertools.pairwise(cs):
        points.update(range(lo + 1, min(hi, lo + 1 + nvars)))
    return sorted(points)


@dataclass(frozen=True, slots=True)
class Coverage:
    """What the guards of one choice allow: ``decided`` False when outside the fragment or
    too many assignments; ``gap`` an assignment where no guard holds; ``dead`` the indices
    of guards that hold under no assignment."""

    decided: bool
    gap: Assignment | None = None
    dead: tuple[int, ...] = ()


def coverage(guards: list[GuardExpr], types: dict[str, str], params: frozenset[str]) -> Coverage:
    """Decide by enumeration over finitely many representative values: in the fragment a
    guard's truth depends only on how each variable orders against the constants and the
    other variables (ints) or which constant it equals (strs), and the points enumerated
    realise every such pattern. Parameters are integers >= 0."""
    ints: set[int] = set()
    strs: dict[str, set[str]] = {}
    if not all(_fragment(g, types, ints, strs) for g in guards):
        return Coverage(False)
    names = sorted({n for g in guards for n in _names(g)})
    if params & set(names):
        ints.add(0)
    int_names = [n for n in names if types.get(n) == "int"]
    pts = _int_points(ints, len(int_names))
    domains: list[list[Value]] = []
    for n in names:
        t = types.get(n)
        if t == "bool":
            domains.append([False, True])
        elif t == "str":
            # One value equal to no constant: a string no spec compares with.
            domains.append([*sorted(strs.get(n, set())), "\x00other"])
        else:
            domains.append([v for v in pts if n not in params or v >= 0])
    total = 1
    for d in domains:
        total *= len(d)
    if total > MAX_ASSIGNMENTS:
        return Coverage(False)
    gap: Assignment | None = None
    alive = [False] * len(guards)
    for combo in itertools.product(*domains):
        env = dict(zip(names, combo, strict=True))
        held = False
        for i, g in enumerate(guards):
            if evaluate(g, env):
                held = alive[i] = True
        if not held and gap is None:
            gap = env
    return Coverage(True, gap, tuple(i for i, a in enumerate(alive) if not a))


def _names(e: GuardExpr) -> Iterator[str]:
    match e:
        case GName(name=n):
            yield n
        case GUnary(operand=o):
            yield from _names(o)
        case GBinary(left=a, right=b):
            yield from _names(a)
            yield from _names(b)
        case _:
            pass


def show_value(v: Value) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, str):
        return "a string none of them names" if v == "\x00other" else repr(v)
    return str(v)

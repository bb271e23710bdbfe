"""The guard expression language: tokenizer + Pratt parser into ``codegen.ast.GuardExpr``.

Guards are data, never ``eval``'ed. Grammar, loosest binding first::

    or  <  and  <  not  <  comparison (== != < <= > >=, non-associative)
        <  + -  <  * // %  <  unary -  <  atom (int, true/false, 'str' / "str", name, (e))
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final, Literal, cast

from codegen.ast import GBinary, GLit, GName, GuardExpr, GUnary
from codegen.diagnostics import Diagnostic
from codegen.span import Span

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


class _Fail(Exception):
    def __init__(self, start: int, end: int, message: str, hint: str = "") -> None:
        self.start, self.end, self.message, self.hint = start, end, message, hint


def tokenize(text: str) -> list[Token]:
    out: list[Token] = []
    pos = 0
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if m is None:
            ch = text[pos]
            if ch in "'\"":
                raise _Fail(pos, len(text), "unterminated string", "strings are 'quoted' without escapes")
            if ch == "=":
                raise _Fail(pos, pos + 1, "unexpected '='", "compare with '=='")
            if ch == "/":
                raise _Fail(pos, pos + 1, "unexpected '/'", "guards use integer division '//'")
            if ch in "&|!":
                raise _Fail(pos, pos + 1, f"unexpected {ch!r}", "write 'and', 'or', 'not'")
            raise _Fail(pos, pos + 1, f"unexpected character {ch!r}")
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
            raise _Fail(0, 0, "the guard is empty")
        parser = _Parser(toks, span_of)
        expr = parser.expr(0)
        tok = parser.peek()
        if tok.kind != "end":
            raise _Fail(tok.start, tok.end, f"unexpected {tok.text!r}", "expected an operator or the end of the guard")
        return expr
    except _Fail as f:
        return Diagnostic("M108", span_of(f.start, max(f.end, f.start + 1)), f"bad guard: {f.message}", f.hint)


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
                    raise _Fail(tok.start, tok.end, f"unexpected {tok.text!r}", "expected an operator between operands")
                return left
            self.next()
            right = self.expr(bp)
            if bp == _COMPARISON_BP:
                nxt = self.peek()
                if nxt.kind == "op" and _INFIX.get(nxt.text) == _COMPARISON_BP:
                    raise _Fail(nxt.start, nxt.end, "comparisons cannot be chained", "join them with 'and'")
            start = self.node_extent(left)[0]
            end = self.node_extent(right)[1]
            left = self.mark(GBinary(cast(BinOp, tok.text), left, right, self.span_of(start, end)), start, end)

    def prefix(self) -> GuardExpr:
        tok = self.next()
        if tok.kind == "int":
            if len(tok.text) > 18:
                raise _Fail(tok.start, tok.end, "integer literal too large")
            return self.mark(GLit(int(tok.text), self.span_of(tok.start, tok.end)), tok.start, tok.end)
        if tok.kind == "str":
            return self.mark(GLit(tok.text[1:-1], self.span_of(tok.start, tok.end)), tok.start, tok.end)
        if tok.kind == "name":
            span = self.span_of(tok.start, tok.end)
            if tok.text in ("true", "false"):
                return self.mark(GLit(tok.text == "true", span), tok.start, tok.end)
            if tok.text in ("True", "False"):
                raise _Fail(tok.start, tok.end, f"unknown literal {tok.text!r}", f"write {tok.text.lower()!r}")
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
                raise _Fail(close.start, close.end, f"expected ')', found {what}", "")
            return self.mark(inner, tok.start, close.end)
        what = repr(tok.text) if tok.kind != "end" else "the end of the guard"
        raise _Fail(tok.start, tok.end, f"expected a value, found {what}")

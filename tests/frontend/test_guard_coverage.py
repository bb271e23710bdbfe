"""Guard coverage (codegen.frontend.guards.coverage) against brute force over a range wider than the
representative points can reach (literals in -4..4, at most three int variables)."""

from __future__ import annotations

import itertools
from typing import Literal, cast

from hypothesis import given, settings
from hypothesis import strategies as st

from codegen.core.ast import GBinary, GLit, GName, GuardExpr, GUnary
from codegen.core.span import Span
from codegen.frontend.guards import coverage, evaluate

S = Span("g", 1, 1)
TYPES = {"x": "int", "y": "int", "b": "bool", "n": "int"}
CmpOp = Literal["==", "!=", "<", "<=", ">", ">="]


@st.composite
def guards(draw: st.DrawFn, depth: int = 0) -> GuardExpr:
    kind = draw(st.sampled_from(["cmp", "cmp", "bool", "not", "and", "or"] if depth < 3 else ["cmp", "bool"]))
    if kind == "bool":
        return GName("b", S)
    if kind == "cmp":
        op = cast(CmpOp, draw(st.sampled_from(["==", "!=", "<", "<=", ">", ">="])))
        left: GuardExpr = GName(draw(st.sampled_from(["x", "y", "n"])), S)
        right: GuardExpr = (
            GName(draw(st.sampled_from(["x", "y", "n"])), S)
            if draw(st.booleans())
            else GLit(draw(st.integers(-4, 4)), S)
        )
        return GBinary(op, left, right, S)
    if kind == "not":
        return GUnary("not", draw(guards(depth + 1)), S)
    op2 = cast(Literal["and", "or"], kind)
    return GBinary(op2, draw(guards(depth + 1)), draw(guards(depth + 1)), S)


def _brute(gs: list[GuardExpr]) -> tuple[bool, list[bool]]:
    gap = False
    alive = [False] * len(gs)
    for x, y, n, b in itertools.product(range(-8, 9), range(-8, 9), range(0, 9), (False, True)):
        env: dict[str, int | bool | str] = {"x": x, "y": y, "n": n, "b": b}
        held = False
        for i, g in enumerate(gs):
            if evaluate(g, env):
                held = alive[i] = True
        gap = gap or not held
    return gap, alive


@settings(max_examples=40, deadline=None)
@given(st.lists(guards(), min_size=1, max_size=3))
def test_coverage_agrees_with_brute_force(gs: list[GuardExpr]) -> None:
    cov = coverage(gs, TYPES, frozenset({"n"}))
    assert cov.decided
    gap, alive = _brute(gs)
    assert (cov.gap is not None) == gap
    assert list(cov.dead) == [i for i, a in enumerate(alive) if not a]


def test_arithmetic_is_undecided() -> None:
    g = GBinary("==", GBinary("%", GName("x", S), GLit(2, S), S), GLit(0, S), S)
    assert not coverage([g], TYPES, frozenset()).decided

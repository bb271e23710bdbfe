"""The parser: node tree -> AST, with exact spans and all errors collected."""

from __future__ import annotations

import pytest

from codegen.core.ast import (
    Broadcast,
    Call,
    Choice,
    FixedBytesType,
    GBinary,
    GLit,
    GName,
    GUnary,
    IndexAll,
    IndexConst,
    IndexParam,
    IndexRange,
    IndexVar,
    Interaction,
    ListType,
    Loop,
    OptionalType,
    Parallel,
    PrimType,
    Protocol,
    Rec,
    RecordRef,
)
from codegen.core.diagnostics import Diagnostic
from codegen.core.names import method_suffix, snake_case
from codegen.core.span import Span
from codegen.core.typeexpr import parse_type
from codegen.frontend.guards import parse_guard
from codegen.frontend.load import load
from codegen.frontend.parse import parse

HEAD = "protocol: P\nparams: [t]\nroles: [A, B, 'S[*]', 'W[3]']\nmessages:\n  M: {}\n  N: {}\n"


def parse_text(text: str) -> tuple[Protocol | None, list[Diagnostic]]:
    root, diags = load(text, "f.yaml")
    assert root is not None, diags
    protocol, more = parse(root, "f.yaml")
    return protocol, diags + more


def body(interactions: str) -> Protocol:
    protocol, diags = parse_text(HEAD + "interactions:\n" + interactions)
    assert diags == [], diags
    assert protocol is not None
    return protocol


def span_of(start: int, end: int) -> Span:
    return Span("g", 1, start + 1, 1, end + 1)


def test_interaction_spans_point_at_tokens() -> None:
    p = body("  - A -> B: M\n")
    (s,) = p.body
    assert isinstance(s, Interaction)
    assert (s.sender.span.col, s.receiver.span.col, s.message_span.col) == (5, 10, 13)


def test_family_indices() -> None:
    p = body("  - A -> S[*]: M\n  - W[2] -> A: M\n  - A -> S[t]: M\n  - S[i] -> S[j]: M\n  - S[0..t] -> A: N\n")
    idx = [s.receiver.index if isinstance(s, Interaction) and s.receiver.index else s.sender.index for s in p.body if isinstance(s, Interaction)]
    assert isinstance(idx[0], IndexAll)
    assert idx[1] == IndexConst(2, idx[1].span) if isinstance(idx[1], IndexConst) else False
    assert isinstance(idx[2], IndexParam)
    assert isinstance(idx[3], IndexVar)
    assert isinstance(idx[4], IndexRange) and (idx[4].lo, idx[4].hi) == (0, "t")


def test_broadcast_both_spellings() -> None:
    p = body("  - A -> *: M\n  - B ->> *: N\n")
    assert all(isinstance(s, Broadcast) for s in p.body)


def test_compound_statements_and_sequencing() -> None:
    p = body(
        "  - choice at A:\n      x: [A -> B: M]\n      y: {when: 't > 1', do: [A -> B: N]}\n"
        "  - A -> B: M\n  - rec R:\n      - A -> B: M\n      - continue R\n  - B -> A: N\n"
        "  - loop: {count: t, do: [A -> B: M]}\n  - loop: {decides: A, do: [A -> B: M]}\n"
        "  - parallel:\n      - [A -> B: M]\n      - [B -> A: N]\n  - call Sub(A, B)\n  - A -> B: N\n"
        .replace("call Sub(A, B)", "A -> B: M")
    )
    kinds = [type(s) for s in p.body]
    assert kinds == [Choice, Interaction, Rec, Interaction, Loop, Loop, Parallel, Interaction, Interaction]
    choice = p.body[0]
    assert isinstance(choice, Choice) and choice.branches[1].guard is not None
    assert isinstance(p.body[4], Loop) and p.body[4].count == "t"


def test_call_and_subprotocols() -> None:
    protocol, diags = parse_text(HEAD + "interactions:\n  - call Sub(A, W[1])\nsubprotocols:\n  Sub:\n    roles: [X, Y]\n    interactions: [X -> Y: M]\n")
    assert diags == []
    assert protocol is not None
    call = protocol.body[0]
    assert isinstance(call, Call) and [a.name for a in call.args] == ["A", "W"]
    assert protocol.subprotocols[0].roles[1].name == "Y"


def test_annotations_default_flow_cost() -> None:
    p = body("  - A -> B: {message: M, guard_capability: c}\n  - A -> B: {message: N, timeout: 3}\n  - A -> B: {message: M, flow_cost: 7, x-k: [1]}\n")
    a0, a1, a2 = (s.annotations for s in p.body if isinstance(s, Interaction))
    assert a0.flow_cost == 100
    assert a1.flow_cost is None and a1.timeout == 3.0
    assert a2.flow_cost == 7 and a2.extensions == (("x-k", "[1]"),)


def test_all_errors_are_collected() -> None:
    _, diags = parse_text("protocol: P\nroles: [A, 'B[']\nmessages: {M: {a: 'list['}}\nbogus: 1\ninteractions:\n  - A => B: M\n")
    assert sorted(d.code for d in diags) == ["M103", "M106", "M107", "M109"]


def test_type_expressions() -> None:
    assert isinstance(parse_type("int", span_of), PrimType)
    assert isinstance(parse_type("bytes32", span_of), FixedBytesType)
    t = parse_type("list[optional[Point]]", span_of)
    assert isinstance(t, ListType) and isinstance(t.item, OptionalType) and isinstance(t.item.item, RecordRef)
    for bad in ("list", "list[int", "bytes0", "dict[int]", "int x", ""):
        assert isinstance(parse_type(bad, span_of), Diagnostic), bad


@pytest.mark.parametrize(
    ("text", "col"),
    [("a = 1", 3), ("a <", 4), ("(a", 3), ("a b", 3), ("1 < 2 < 3", 7), ("'x", 1), ("a && b", 3), ("True", 1)],
)
def test_guard_errors_point_inside_the_string(text: str, col: int) -> None:
    result = parse_guard(text, span_of)
    assert isinstance(result, Diagnostic) and result.code == "M108"
    assert result.span.col == col


def test_guard_precedence() -> None:
    e = parse_guard("not a or b and -x + 1 * 2 > 3", span_of)
    assert isinstance(e, GBinary) and e.op == "or"
    assert isinstance(e.left, GUnary) and e.left.op == "not"
    right = e.right
    assert isinstance(right, GBinary) and right.op == "and"
    cmp = right.right
    assert isinstance(cmp, GBinary) and cmp.op == ">"
    add = cmp.left
    assert isinstance(add, GBinary) and add.op == "+" and isinstance(add.right, GBinary)
    assert isinstance(parse_guard("true", span_of), GLit)
    assert isinstance(parse_guard("x", span_of), GName)


def test_names_mapping() -> None:
    assert snake_case("FooBar") == "foo_bar"
    assert snake_case("Foo_Bar") == "foo_bar"
    assert snake_case("HTTPRequest") == "http_request"
    assert method_suffix("Accept") == method_suffix("accept")


def test_map_types_parse_and_print_back() -> None:
    from codegen.core.ast import FixedBytesType, ListType, MapType
    from codegen.core.typeexpr import parse_type, type_text

    t = parse_type("map[bytes32, map[int, list[str]]]", lambda a, b: Span("t.yaml", 1, a + 1, 1, b + 1))
    assert isinstance(t, MapType) and isinstance(t.key, FixedBytesType)
    assert isinstance(t.value, MapType) and isinstance(t.value.value, ListType)
    assert type_text(t) == "map[bytes32, map[int, list[str]]]"

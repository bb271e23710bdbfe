"""Properties of projection over random well-formed protocols (AST values).

Protocols have 3-6 single roles, nested choices whose chooser first tells every other role
(one fresh message per branch and role), recs continued from choice branches, counted
loops, and parallel blocks over disjoint channels. Every message name is unique, so each
interaction can be traced into the local types.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from codegen.core.ast import (
    Annotations,
    Branch,
    Broadcast,
    Call,
    Choice,
    Continue,
    IndexAll,
    IndexConst,
    IndexRange,
    IndexVar,
    Interaction,
    Loop,
    Message,
    Parallel,
    Protocol,
    Rec,
    RoleDecl,
    RoleRef,
    Stmt,
    SubProtocol,
)
from codegen.core.diagnostics import Diagnostic
from codegen.core.local import (
    LDecideLoop,
    LLoop,
    LOffer,
    LParallel,
    LRec,
    LRecv,
    LSelect,
    LSend,
    LStmt,
    PeerOne,
)
from codegen.core.span import Span
from codegen.projection.project import project_all

S = Span("gen.yaml", 1, 1)


def _ia(a: str, b: str, m: str) -> Interaction:
    return Interaction(RoleRef(a, S), RoleRef(b, S), m, S, S, Annotations())


@st.composite
def protocols(draw: st.DrawFn) -> Protocol:
    n = draw(st.integers(3, 6))
    roles = [f"R{i}" for i in range(n)]
    fresh = itertools.count()

    def msg() -> str:
        return f"M{next(fresh)}"

    def pair() -> tuple[str, str]:
        a = draw(st.sampled_from(roles))
        b = draw(st.sampled_from([r for r in roles if r != a]))
        return a, b

    def block(depth: int, recs: tuple[str, ...]) -> list[Stmt]:
        out: list[Stmt] = []
        kinds = ["ia", "ia", "choice", "rec", "loop", "par"] if depth < 3 else ["ia"]
        for _ in range(draw(st.integers(1, 3))):
            kind = draw(st.sampled_from(kinds))
            if kind == "ia":
                out.append(_ia(*pair(), msg()))
            elif kind == "choice":
                at = draw(st.sampled_from(roles))
                branches = []
                for i in range(draw(st.integers(2, 3))):
                    body: list[Stmt] = [_ia(at, r, msg()) for r in roles if r != at]
                    if draw(st.booleans()):
                        body += block(depth + 1, recs)
                    go_back: bool = draw(st.booleans())
                    if recs and go_back:
                        body.append(Continue(draw(st.sampled_from(recs)), S))
                    branches.append(Branch(f"b{i}", tuple(body), S))
                out.append(Choice(RoleRef(at, S), tuple(branches), S))
            elif kind == "rec":
                name = f"X{next(fresh)}"
                out.append(Rec(name, tuple(block(depth + 1, (*recs, name))), S))
            elif kind == "loop":
                # A continue may not leave a loop body: the body starts a new rec scope.
                out.append(Loop(tuple(block(depth + 1, ())), S, count=draw(st.integers(0, 3))))
            else:
                channels = [(a, b) for a in roles for b in roles if a != b]
                picked = draw(st.lists(st.sampled_from(channels), min_size=2, max_size=4, unique=True))
                split = draw(st.integers(1, len(picked) - 1))
                halves = (picked[:split], picked[split:])
                out.append(Parallel(tuple(tuple(_ia(a, b, msg()) for a, b in h) for h in halves), S))
        return out

    body = tuple(block(0, ()))
    names = sorted(_messages(body))
    return Protocol(
        "Gen",
        "gen.yaml",
        S,
        tuple(RoleDecl(r, "single", S) for r in roles),
        tuple(Message(m, (), S) for m in names),
        body,
    )


def _interactions(stmts: tuple[Stmt, ...]) -> Iterator[Interaction]:
    for s in stmts:
        match s:
            case Interaction():
                yield s
            case Choice(branches=bs):
                for b in bs:
                    yield from _interactions(b.body)
            case Rec(body=body) | Loop(body=body):
                yield from _interactions(body)
            case Parallel(branches=pbs):
                for pb in pbs:
                    yield from _interactions(pb)


def _messages(stmts: tuple[Stmt, ...]) -> set[str]:
    return {i.message for i in _interactions(stmts)}


def _local_steps(body: tuple[LStmt, ...]) -> Iterator[LSend | LRecv]:
    for s in body:
        match s:
            case LSend() | LRecv():
                yield s
            case LSelect(branches=bs, others=others):
                for b in bs:
                    yield from _local_steps(b.body)
                yield from _local_steps(others)
            case LOffer(branches=obs):
                for ob in obs:
                    yield from _local_steps(ob.body)
            case LRec(body=body) | LLoop(body=body) | LDecideLoop(body=body):
                yield from _local_steps(body)
            case LParallel(branches=pbs):
                for pb in pbs:
                    yield from _local_steps(pb)


SETTINGS = settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@SETTINGS
@given(protocols())
def test_projection_never_fails_on_well_formed_protocols(p: Protocol) -> None:
    locals_, diags = project_all(p)
    assert diags == []
    assert list(locals_) == [r.name for r in p.roles]


@SETTINGS
@given(protocols())
def test_every_interaction_is_seen_by_exactly_its_two_roles(p: Protocol) -> None:
    locals_, _ = project_all(p)
    expected_sends: dict[str, set[tuple[str, str]]] = {r.name: set() for r in p.roles}
    expected_recvs: dict[str, set[tuple[str, str]]] = {r.name: set() for r in p.roles}
    sends: dict[str, set[tuple[str, str]]] = {r.name: set() for r in p.roles}
    for i in _interactions(p.body):
        expected_sends[i.sender.name].add((i.receiver.name, i.message))
        expected_recvs[i.receiver.name].add((i.sender.name, i.message))
    for role, lt in locals_.items():
        recvs: set[tuple[str, str]] = set()
        for step in _local_steps(lt.body):
            if isinstance(step, LSend):
                assert isinstance(step.to, PeerOne)
                sends[role].add((step.to.role, step.message))
            else:
                assert isinstance(step.frm, PeerOne)
                recvs.add((step.frm.role, step.message))
        assert sends[role] == expected_sends[role], role
        assert recvs == expected_recvs[role], role


@SETTINGS
@given(protocols())
def test_projection_is_deterministic(p: Protocol) -> None:
    assert project_all(p) == project_all(p)


# ---------------------------------------------------------------- odd input never crashes

_NAMES = ("A", "B", "F", "Ghost")
_refs = st.builds(
    RoleRef,
    st.sampled_from(_NAMES),
    st.just(S),
    st.one_of(
        st.none(),
        st.builds(IndexAll, st.just(S)),
        st.builds(IndexConst, st.integers(0, 3), st.just(S)),
        st.builds(IndexVar, st.sampled_from(("i", "j")), st.just(S)),
        st.builds(IndexRange, st.integers(0, 2), st.sampled_from((1, 3, "t")), st.just(S)),
    ),
)


def _odd_stmts(depth: int) -> st.SearchStrategy[tuple[Stmt, ...]]:
    leaf: st.SearchStrategy[Stmt] = st.one_of(
        st.builds(Interaction, _refs, _refs, st.sampled_from(("M", "N")), st.just(S), st.just(S)),
        st.builds(Broadcast, _refs, st.just("M"), st.just(S), st.just(S)),
        st.builds(Continue, st.sampled_from(("X", "Y")), st.just(S)),
        st.builds(Call, st.sampled_from(("Sub", "Nope")), st.lists(_refs, max_size=3).map(tuple), st.just(S)),
    )
    if depth == 0:
        return st.lists(leaf, max_size=3).map(tuple)
    inner = _odd_stmts(depth - 1)
    compound: st.SearchStrategy[Stmt] = st.one_of(
        st.builds(
            Choice,
            _refs,
            st.lists(st.builds(Branch, st.sampled_from(("a", "b", "c")), inner, st.just(S)), max_size=3).map(tuple),
            st.just(S),
        ),
        st.builds(Rec, st.sampled_from(("X", "Y")), inner, st.just(S)),
        st.builds(Loop, inner, st.just(S), st.one_of(st.none(), st.just(2)), st.one_of(st.none(), _refs)),
        st.builds(Parallel, st.lists(inner, max_size=3).map(tuple), st.just(S)),
    )
    return st.lists(st.one_of(leaf, compound), max_size=4).map(tuple)


@st.composite
def odd_protocols(draw: st.DrawFn) -> Protocol:
    roles = (RoleDecl("A", "single", S), RoleDecl("B", "single", S), RoleDecl("F", "fixed", S, 3))
    sub_roles = (RoleDecl("X", "single", S), RoleDecl("Y", "single", S))
    sub = SubProtocol("Sub", sub_roles, draw(_odd_stmts(1)), S)
    return Protocol("Odd", "odd.yaml", S, roles, (), draw(_odd_stmts(2)), subprotocols=(sub,))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(odd_protocols())
def test_projection_never_crashes_on_odd_input(p: Protocol) -> None:
    locals_, diags = project_all(p)
    assert all(isinstance(d, Diagnostic) for d in diags)
    assert set(locals_) <= {"A", "B", "F"}

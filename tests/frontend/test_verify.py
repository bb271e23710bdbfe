"""``minuet verify``: the explorer of projected state machines (codegen.analysis.verify).

Hand-built local types exercise each finding (they cannot come from an accepted spec);
bundled specs must verify; specs ``check`` rejects for a merge reason show a counterexample;
random well-formed protocols that project without error verify (projection is sound).
"""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from codegen.analysis.verify import Bounds, mermaid, parse_range, verify_file, verify_locals
from codegen.cli import main
from codegen.core.ast import (
    Annotations,
    Branch,
    Choice,
    Continue,
    Interaction,
    Loop,
    Message,
    Parallel,
    Protocol,
    Rec,
    RoleDecl,
    RoleRef,
    Stmt,
)
from codegen.core.local import (
    LBranch,
    LChoose,
    LContinue,
    LocalType,
    LOffer,
    LOfferBranch,
    LRec,
    LRecv,
    LSelect,
    LSend,
    LStmt,
    PeerFamily,
    PeerOne,
)
from codegen.core.span import Span
from codegen.frontend.validate import validate
from codegen.pipeline import compile_text
from codegen.projection.project import project_all
from tests.frontend.test_project_props import protocols

ROOT = Path(__file__).resolve().parents[2]
BUNDLED = sorted((ROOT / "protocols").rglob("*.yaml"))
S = Span("t.yaml", 1, 1)


def _proto(*roles: RoleDecl) -> Protocol:
    return Protocol("T", "t.yaml", S, roles, (), ())


def _single(name: str) -> RoleDecl:
    return RoleDecl(name, "single", S)


def _lt(role: str, *body: LStmt) -> LocalType:
    return LocalType("T", role, False, body)


def _send(to: str, m: str, line: int = 1) -> LSend:
    return LSend(PeerOne(to), m, Span("t.yaml", line, 1))


def _recv(frm: str, m: str, line: int = 1) -> LRecv:
    return LRecv(PeerOne(frm), m, Span("t.yaml", line, 1))


DEFAULT = Bounds()


def _run(locals_: dict[str, LocalType], bounds: Bounds = DEFAULT) -> tuple[str, str, list[str]]:
    roles = tuple(_single(r) for r in locals_)
    report = verify_locals(_proto(*roles), locals_, bounds)
    last = report.instances[-1]
    f = last.finding
    trace = [f"{s.who} {s.text}" for s in f.trace] if f is not None else []
    return report.outcome, (f.kind if f is not None else last.reason), trace


# ---------------------------------------------------------------- each finding


def test_a_matching_exchange_verifies() -> None:
    assert _run({"A": _lt("A", _send("B", "M")), "B": _lt("B", _recv("A", "M"))})[0] == "verified"


def test_deadlock_with_shortest_trace() -> None:
    # Both wait for the other: nothing can move from the start.
    outcome, kind, trace = _run({"A": _lt("A", _recv("B", "X"), _send("B", "M")), "B": _lt("B", _recv("A", "M"))})
    assert (outcome, kind, trace) == ("violation", "deadlock", [])


def test_unspecified_reception() -> None:
    outcome, kind, trace = _run({"A": _lt("A", _send("B", "N")), "B": _lt("B", _recv("A", "M"))})
    assert (outcome, kind, trace) == ("violation", "unspecified-reception", ["A sends N to B"])


def test_orphan_message() -> None:
    outcome, kind, trace = _run({"A": _lt("A", _send("B", "M"), _send("B", "N")), "B": _lt("B", _recv("A", "M"))})
    assert (outcome, kind) == ("violation", "orphan")
    assert trace == ["A sends M to B", "A sends N to B", "B receives M from A"] or trace == [
        "A sends M to B",
        "B receives M from A",
        "A sends N to B",
    ]


def test_role_that_cannot_reach_end() -> None:
    # A may pick 'stop' (and both end) or 'loop' forever, after which End is out of reach.
    loop = LRec("X", (_send("B", "Ping"), LContinue("X", S)), S)
    a = _lt(
        "A",
        LSelect(
            (
                LBranch("stop", (_send("B", "Stop"),), S),
                LBranch("loop", (_send("B", "Go"), loop), S),
            ),
            S,
        ),
    )
    b_loop = LRec("Y", (_recv("A", "Ping"), LContinue("Y", S)), S)
    offer = LOffer(
        PeerOne("A"),
        (LOfferBranch("Stop", ("stop",), (_recv("A", "Stop"),)), LOfferBranch("Go", ("loop",), (_recv("A", "Go"), b_loop))),
        S,
    )
    outcome, kind, trace = _run({"A": a, "B": _lt("B", offer)})
    assert (outcome, kind) == ("violation", "cannot-reach-end")
    assert trace[0] == "A chooses branch 'loop'"


def test_a_protocol_that_loops_by_design_verifies() -> None:
    ring_a = _lt("A", LRec("X", (_send("B", "T"), _recv("B", "T"), LContinue("X", S)), S))
    ring_b = _lt("B", LRec("Y", (_recv("A", "T"), _send("A", "T"), LContinue("Y", S)), S))
    report = verify_locals(_proto(_single("A"), _single("B")), {"A": ring_a, "B": ring_b})
    assert report.outcome == "verified"
    assert report.instances[0].reason == "the session never ends (every path loops)"


def test_time_bound_is_inconclusive() -> None:
    outcome, reason, _ = _run({"A": _lt("A", _send("B", "M")), "B": _lt("B", _recv("A", "M"))}, Bounds(max_seconds=0.0))
    assert (outcome, reason) == ("inconclusive", "time bound 0 s reached")


GOOD = sorted((ROOT / "tests" / "specs" / "good").glob("*.yaml"))


@pytest.mark.parametrize("path", GOOD, ids=[p.stem for p in GOOD])
def test_every_good_spec_verifies(path: Path) -> None:
    report, diags = verify_file(str(path), Bounds(sizes=(1, 2), params=(1, 2)))
    assert diags == []
    assert report is not None
    assert report.outcome == "verified", [i.finding for i in report.instances]


def test_bound_hit_is_reported_as_inconclusive() -> None:
    # A sends twice before B's one receive finishes B: at k=1 A's second send never finds
    # room only because B must first receive from C, and C waits for A's last message.
    a = _lt("A", _send("B", "M"), _send("B", "M"), _send("C", "Go"))
    b = _lt("B", _recv("C", "Go"), _recv("A", "M"), _recv("A", "M"))
    c = _lt("C", _recv("A", "Go"), _send("B", "Go"))
    outcome, reason, _ = _run({"A": a, "B": b, "C": c}, Bounds(channel=1))
    assert outcome == "inconclusive"
    assert "channel bound 1" in reason
    assert _run({"A": a, "B": b, "C": c}, Bounds(channel=2))[0] == "verified"


def test_state_bound_is_inconclusive() -> None:
    loop_a = LRec("X", (_send("B", "M"), LContinue("X", S)), S)
    loop_b = LRec("Y", (_recv("A", "M"), LContinue("Y", S)), S)
    a = _lt("A", LSelect((LBranch("go", (_send("B", "Go"), loop_a), S), LBranch("no", (_send("B", "No"),), S)), S))
    b = _lt(
        "B",
        LOffer(PeerOne("A"), (LOfferBranch("Go", ("go",), (_recv("A", "Go"), loop_b)), LOfferBranch("No", ("no",), (_recv("A", "No"),))), S),
    )
    outcome, reason, _ = _run({"A": a, "B": b}, Bounds(max_states=3))
    assert outcome == "inconclusive"
    assert "state bound 3" in reason


def test_family_members_are_instantiated() -> None:
    # Hub sends to every worker, each answers: fine at every size.
    hub = LocalType("T", "Hub", False, (LSend(PeerFamily("W"), "Job", S), LRecv(PeerFamily("W"), "Done", S)))
    w = LocalType("T", "W", True, (_recv("Hub", "Job"), _send("Hub", "Done")))
    p = _proto(_single("Hub"), RoleDecl("W", "dynamic", S))
    report = verify_locals(p, {"Hub": hub, "W": w}, Bounds(sizes=(1, 2, 3, 4)))
    assert report.outcome == "verified"
    assert [i.name for i in report.instances] == ["W=1", "W=2", "W=3", "W=4"]
    # A worker that answers twice leaves an orphan, found at the smallest size.
    w2 = LocalType("T", "W", True, (_recv("Hub", "Job"), _send("Hub", "Done"), _send("Hub", "Done")))
    bad = verify_locals(p, {"Hub": hub, "W": w2})
    assert bad.outcome == "violation"
    assert bad.instances[-1].name == "W=1"


def test_sets_chosen_at_run_time_are_explored_on_every_subset() -> None:
    path = "protocols/examples/signing_set.yaml"
    report, diags = verify_file(str(ROOT / path), Bounds(sizes=(1, 2, 3), params=(1, 2, 3)))
    assert diags == [] and report is not None and report.outcome == "verified"
    names = [i.name for i in report.instances]
    assert "N=3, t=2, Participant=3, Coordinator=Participant[1], Signers=Participant[0, 2]" in names
    # Per N: N coordinators times C(N, t) sets, for t = 1..3 (no set when t > N).
    assert len(names) == sum(n * math.comb(n, t) for n in (1, 2, 3) for t in (1, 2, 3))
    # The "in the set" side is explored: a signer that sends its share twice is caught.
    compiled = compile_text((ROOT / path).read_text(encoding="utf-8"), path, lambda p: (ROOT / p).read_text(encoding="utf-8"))
    assert compiled.protocol is not None
    lt = compiled.locals["Participant"]
    outer = lt.body[-1]
    assert isinstance(outer, LChoose) and isinstance(outer.other[0], LChoose)
    inner = outer.other[0]
    twice = dataclasses.replace(inner, it=inner.it[:2] + inner.it[1:])
    body = (*lt.body[:-1], dataclasses.replace(outer, other=(twice,)))
    bad = verify_locals(compiled.protocol, {"Participant": dataclasses.replace(lt, body=body)}, Bounds(sizes=(2,), params=(2,)))
    assert bad.outcome == "violation"


def test_roles_chosen_at_run_time_are_explored_on_every_member() -> None:
    report, diags = verify_file(str(ROOT / "protocols" / "seed" / "coordinator_lottery.yaml"))
    assert diags == [] and report is not None and report.outcome == "verified"
    names = [i.name for i in report.instances]
    assert "N=3, Participant=3, Coordinator=Participant[2]" in names
    assert len(names) == 1 + 2 + 3  # N = 1..3, once per member the choice can fall on
    # The split is explored: members that are not chosen sending twice leave an orphan.
    compiled = compile_text((ROOT / "protocols/seed/coordinator_lottery.yaml").read_text(encoding="utf-8"),
                            "protocols/seed/coordinator_lottery.yaml",
                            lambda p: (ROOT / p).read_text(encoding="utf-8"))
    assert compiled.protocol is not None
    lt = compiled.locals["Participant"]
    choose = lt.body[-1]
    assert isinstance(choose, LChoose)
    twice = dataclasses.replace(choose, other=choose.other + choose.other)
    bad = verify_locals(compiled.protocol, {"Participant": dataclasses.replace(lt, body=(*lt.body[:-1], twice))})
    assert bad.outcome == "violation"
    assert bad.instances[-1].name == "N=2, Participant=2, Coordinator=Participant[0]"


def test_mermaid_counterexample() -> None:
    report = verify_locals(
        _proto(_single("A"), _single("B")),
        {"A": _lt("A", _send("B", "N")), "B": _lt("B", _recv("A", "M"))},
    )
    f = report.instances[-1].finding
    assert f is not None
    text = mermaid(f.trace, ["A", "B"], f)
    assert text.splitlines()[:4] == ["sequenceDiagram", "    participant A as A", "    participant B as B", "    A-)B: N"]


def test_parse_range() -> None:
    assert parse_range("1..4") == (1, 2, 3, 4)
    assert parse_range("2") == (2,)
    for bad in ("0..2", "3..1", "x"):
        with pytest.raises(ValueError):
            parse_range(bad)


# ---------------------------------------------------------------- specs


@pytest.mark.parametrize("path", BUNDLED, ids=[p.stem for p in BUNDLED])
def test_every_bundled_spec_verifies(path: Path) -> None:
    report, diags = verify_file(str(path))
    assert diags == []
    assert report is not None
    assert report.outcome == "verified", [i.finding for i in report.instances]


@pytest.mark.parametrize("path", BUNDLED, ids=[p.stem for p in BUNDLED])
def test_reduction_agrees_with_full_exploration(path: Path) -> None:
    full, _ = verify_file(str(path), Bounds(sizes=(1, 2), params=(1, 2), reduce=False))
    reduced, _ = verify_file(str(path), Bounds(sizes=(1, 2), params=(1, 2)))
    assert full is not None and reduced is not None
    assert full.outcome == reduced.outcome == "verified"
    assert reduced.states <= full.states


MERGE_BAD = sorted((ROOT / "tests" / "specs" / "bad").glob("merge_*.yaml"))


@pytest.mark.parametrize("path", MERGE_BAD, ids=[p.stem for p in MERGE_BAD])
def test_merge_rejections_have_a_counterexample(path: Path) -> None:
    """What ``check`` rejects as unmergeable does go wrong when run as projected."""
    report, _ = verify_file(str(path))
    assert report is not None
    assert report.outcome == "violation"
    f = report.instances[-1].finding
    assert f is not None and f.trace


def test_cli_verify(capsys: pytest.CaptureFixture[str]) -> None:
    good = str(ROOT / "protocols" / "two_buyer.yaml")
    assert main(["verify", good]) == 0
    assert "verified" in capsys.readouterr().out
    bad = str(MERGE_BAD[0])
    assert main(["verify", "--mermaid", bad]) == 1
    err = capsys.readouterr().err
    assert "shortest trace:" in err and "sequenceDiagram" in err
    assert main(["verify", "--sizes", "0..2", good]) == 2
    assert main(["verify", "--bound", "0", good]) == 2


# ---------------------------------------------------------------- soundness of projection


def _has_exit(stmts: tuple[Stmt, ...]) -> bool:
    """Every rec in ``stmts`` can be left (otherwise the session never ends by design)."""

    def falls_through(body: tuple[Stmt, ...]) -> bool:
        for s in body:
            match s:
                case Continue():
                    return False
                case Choice(branches=bs) if not any(falls_through(b.body) for b in bs):
                    return False
                case Rec(body=b) | Loop(body=b) if not falls_through(b):
                    return False
                case Parallel(branches=pbs) if not all(falls_through(pb) for pb in pbs):
                    return False
        return True

    def ok(body: tuple[Stmt, ...]) -> bool:
        for s in body:
            match s:
                case Rec(body=b):
                    if not falls_through(b) or not ok(b):
                        return False
                case Choice(branches=bs):
                    if not all(ok(br.body) for br in bs):
                        return False
                case Loop(body=b):
                    if not ok(b):
                        return False
                case Parallel(branches=pbs):
                    if not all(ok(pb) for pb in pbs):
                        return False
        return True

    return ok(stmts)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(protocols())
def test_accepted_protocols_verify(p: Protocol) -> None:
    assume(_has_exit(p.body))
    # What check accepts: validation passes (an unused role, M202, is the generator's doing
    # and changes no behaviour) and projection reports nothing.
    assert [d for d in validate(p) if d.severity == "error" and d.code != "M202"] == []
    locals_, diags = project_all(p)
    assert diags == []
    # A small state bound keeps the test fast: a large random protocol is then inconclusive,
    # never a violation.
    report = verify_locals(p, locals_, Bounds(max_states=5_000))
    assert report.outcome != "violation", [i.finding for i in report.instances]


# ---------------------------------------------------------------- merging through loops


@st.composite
def loop_protocols(draw: st.DrawFn) -> Protocol:
    """A rec whose body ends with a choice, then more steps: branches tell only some roles,
    go round again or leave, and messages come from a small pool, so that merges through
    the recursion and into what follows the rec are exercised (and often refused)."""
    roles = ["A", "B", "C"]
    pool = ["P", "Q", "R"]

    def ia() -> Interaction:
        a = draw(st.sampled_from(roles))
        b = draw(st.sampled_from([r for r in roles if r != a]))
        return _ia(a, b, draw(st.sampled_from(pool)))

    def steps(lo: int, hi: int) -> list[Stmt]:
        return [ia() for _ in range(draw(st.integers(lo, hi)))]

    branches = []
    for i in range(draw(st.integers(2, 3))):
        body: list[Stmt] = [_ia("A", draw(st.sampled_from(["B", "C"])), f"L{i}"), *steps(0, 2)]
        if draw(st.booleans()):
            body.append(Continue("X", S))
        branches.append(Branch(f"b{i}", tuple(body), S))
    rec = Rec("X", (*steps(0, 2), Choice(RoleRef("A", S), tuple(branches), S)), S)
    body_all: tuple[Stmt, ...] = (rec, *steps(0, 2))
    names = sorted({i.message for i in _interactions_of(body_all)})
    return Protocol("Gen", "gen.yaml", S, tuple(RoleDecl(r, "single", S) for r in roles),
                    tuple(Message(m, (), S) for m in names), body_all)


def _ia(a: str, b: str, m: str) -> Interaction:
    return Interaction(RoleRef(a, S), RoleRef(b, S), m, S, S, Annotations())


def _interactions_of(stmts: tuple[Stmt, ...]) -> list[Interaction]:
    out: list[Interaction] = []
    for s in stmts:
        match s:
            case Interaction():
                out.append(s)
            case Choice(branches=bs):
                for b in bs:
                    out.extend(_interactions_of(b.body))
            case Rec(body=body):
                out.extend(_interactions_of(body))
            case _:
                pass
    return out


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
@given(loop_protocols())
def test_what_check_accepts_through_loops_verifies(p: Protocol) -> None:
    errors = [d for d in validate(p) if d.severity == "error" and d.code != "M202"]
    assume(not errors)
    locals_, diags = project_all(p)
    assume(not [d for d in diags if d.severity == "error"])
    report = verify_locals(p, locals_, Bounds(max_states=50_000))
    assert report.outcome != "violation", [i.finding for i in report.instances]


def test_failure_branches_are_skipped_with_a_note() -> None:
    report, diags = verify_file(str(ROOT / "protocols" / "examples" / "heartbeat.yaml"))
    assert report is not None and not diags
    assert report.outcome == "verified"
    assert report.instances[0].reason == (
        "failure branches (on_failure) not explored: only runs where no role fails are checked"
    )
    plain, _ = verify_file(str(ROOT / "protocols" / "two_buyer.yaml"))
    assert plain is not None and plain.instances[0].reason == ""

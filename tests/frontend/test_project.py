"""Projection rules, one test (or a few) per rule, mostly from YAML through the pipeline.

Local types are compared through ``render_local`` (readable and structural), and directly
where a field matters (peers, member selections, spans, annotations).
"""

from __future__ import annotations

import re
import textwrap

import pytest

from codegen.backend.views import render_local
from codegen.core.ast import (
    Annotations,
    Call,
    Interaction,
    Message,
    Protocol,
    RoleDecl,
    RoleRef,
    Stmt,
    SubProtocol,
)
from codegen.core.diagnostics import Diagnostic, DiagnosticError
from codegen.core.local import (
    LContinue,
    LDecideLoop,
    LLoop,
    LocalType,
    LOffer,
    LParallel,
    LRec,
    LRecv,
    LSelect,
    LSend,
    OnlyIndex,
    OnlyRange,
    PeerFamily,
    PeerMember,
    PeerOne,
)
from codegen.core.span import Span
from codegen.pipeline import compile_text
from codegen.projection.project import project, project_all

S = Span("t.yaml", 1, 1)
_MSG = re.compile(r"(?:->\s*[^:\n]+:|message:)\s*(\w+)")


def spec(roles: str, body: str, extra: str = "") -> str:
    """A spec with every message the body sends declared (empty payloads)."""
    body = textwrap.dedent(body).strip("\n")
    msgs = dict.fromkeys(_MSG.findall(body + "\n" + extra))
    messages = ", ".join(f"{m}: {{}}" for m in msgs)
    indented = textwrap.indent(body, "  ")
    return f"protocol: P\nroles: {roles}\n{extra}messages: {{{messages}}}\ninteractions:\n{indented}\n"


def compile_ok(roles: str, body: str, extra: str = "") -> dict[str, LocalType]:
    c = compile_text(spec(roles, body, extra), "t.yaml")
    assert c.ok, "\n".join(d.headline() for d in c.diagnostics)
    return c.locals


def project_any(roles: str, body: str, extra: str = "") -> tuple[dict[str, LocalType], list[Diagnostic]]:
    """Projection of whatever the parser produced, validation errors or not."""
    c = compile_text(spec(roles, body, extra), "t.yaml")
    assert c.protocol is not None, "\n".join(d.headline() for d in c.diagnostics)
    return project_all(c.protocol)


def merge_errors(roles: str, body: str) -> list[Diagnostic]:
    c = compile_text(spec(roles, body), "t.yaml")
    assert c.protocol is not None
    return [d for d in c.diagnostics if d.code == "M303"]


def show(lt: LocalType) -> str:
    """The local type's statements, without the header and the final ``end``."""
    lines = render_local(lt).splitlines()[1:-1]
    return "\n".join(line[2:] for line in lines)


def lines(text: str) -> str:
    return textwrap.dedent(text).strip("\n")


# ---------------------------------------------------------------- interactions


def test_interaction_projects_to_send_and_receive_only() -> None:
    ls = compile_ok("[A, B, C]", "- A -> B: M\n- B -> C: N")
    a, b, c = ls["A"].body, ls["B"].body, ls["C"].body
    assert len(a) == 1 and isinstance(a[0], LSend) and a[0].to == PeerOne("B") and a[0].message == "M"
    assert [type(s) for s in b] == [LRecv, LSend]
    assert isinstance(b[0], LRecv) and b[0].frm == PeerOne("A")
    assert len(c) == 1 and isinstance(c[0], LRecv) and c[0].frm == PeerOne("B")


def test_span_and_annotations_are_carried() -> None:
    ls = compile_ok("[A, B]", "- A -> B: {message: M, flow_cost: 7, guard_capability: cap}")
    send, recv = ls["A"].body[0], ls["B"].body[0]
    assert isinstance(send, LSend) and isinstance(recv, LRecv)
    assert send.annotations == recv.annotations
    assert send.annotations.flow_cost == 7 and send.annotations.guard_capability == "cap"
    assert send.span == recv.span and send.span.line == 5


def test_roles_in_declaration_order_and_family_flag() -> None:
    ls = compile_ok('[Z, "W[3]", A]', "- Z -> W[*]: M\n- W[*] -> A: N")
    assert list(ls) == ["Z", "W", "A"]
    assert ls["W"].family and not ls["Z"].family
    assert ls["W"].protocol == "P" and ls["W"].role == "W"


# ---------------------------------------------------------------- families


@pytest.mark.parametrize(
    ("step", "c_stmt", "s_stmt"),
    [
        ("C -> Signer[*]: M", LSend(PeerFamily("Signer"), "M", S), LRecv(PeerOne("C"), "M", S)),
        ("C -> Signer[1]: M", LSend(PeerMember("Signer", 1), "M", S), LRecv(PeerOne("C"), "M", S, only=OnlyIndex(1))),
        ("C -> Signer[t]: M", LSend(PeerMember("Signer", "t"), "M", S), LRecv(PeerOne("C"), "M", S, only=OnlyIndex("t"))),
        (
            "C -> Signer[0..t]: M",
            LSend(PeerFamily("Signer", 0, "t"), "M", S),
            LRecv(PeerOne("C"), "M", S, only=OnlyRange(0, "t")),
        ),
        (
            "Signer[0..t] -> C: M",
            LRecv(PeerFamily("Signer", 0, "t"), "M", S),
            LSend(PeerOne("C"), "M", S, only=OnlyRange(0, "t")),
        ),
        ("Signer[*] -> C: M", LRecv(PeerFamily("Signer"), "M", S), LSend(PeerOne("C"), "M", S)),
        ("Signer[2] -> C: M", LRecv(PeerMember("Signer", 2), "M", S), LSend(PeerOne("C"), "M", S, only=OnlyIndex(2))),
    ],
)
def test_family_steps(step: str, c_stmt: LSend | LRecv, s_stmt: LSend | LRecv) -> None:
    ls = compile_ok('[C, "Signer[N]"]', f"- {step}", "params: [t, N]\n")
    (c,) = ls["C"].body
    (sg,) = ls["Signer"].body
    # Spans are real; compare everything else.
    assert type(c) is type(c_stmt) and type(sg) is type(s_stmt)
    assert (c.message, c.only) == (c_stmt.message, c_stmt.only)
    assert (sg.message, sg.only) == (s_stmt.message, s_stmt.only)
    assert (c.to if isinstance(c, LSend) else c.frm) == (c_stmt.to if isinstance(c_stmt, LSend) else c_stmt.frm)
    assert (sg.to if isinstance(sg, LSend) else sg.frm) == (s_stmt.to if isinstance(s_stmt, LSend) else s_stmt.frm)


def test_all_to_all_sends_then_receives_excluding_self() -> None:
    ls = compile_ok('["Signer[3]", Agg]', "- Signer[i] -> Signer[j]: M\n- Signer[*] -> Agg: N")
    send, recv, out = ls["Signer"].body
    assert isinstance(send, LSend) and send.to == PeerFamily("Signer", exclude_self=True)
    assert isinstance(recv, LRecv) and recv.frm == PeerFamily("Signer", exclude_self=True)
    assert isinstance(out, LSend) and out.to == PeerOne("Agg")
    (collect,) = ls["Agg"].body
    assert isinstance(collect, LRecv) and collect.frm == PeerFamily("Signer")


def test_family_to_family() -> None:
    # Validation rejects many-to-many (M406); projection still has a meaning for it.
    ls, diags = project_any('["S[2]", "W[3]"]', "- S[*] -> W[*]: M")
    assert diags == []
    (s,) = ls["S"].body
    (w,) = ls["W"].body
    assert isinstance(s, LSend) and s.to == PeerFamily("W")
    assert isinstance(w, LRecv) and w.frm == PeerFamily("S")


def test_member_to_member_of_one_family() -> None:
    ls = compile_ok('["N[3]"]', "- N[0] -> N[1]: M")
    assert ls["N"].body[0] == LSend(PeerMember("N", 1), "M", ls["N"].body[0].span, only=OnlyIndex(0))
    assert ls["N"].body[1] == LRecv(PeerMember("N", 0), "M", ls["N"].body[1].span, only=OnlyIndex(1))


# ---------------------------------------------------------------- broadcast


def test_broadcast_in_declaration_order() -> None:
    ls = compile_ok('[B, A, "W[2]", C]', "- A -> *: M")
    assert show(ls["A"]) == lines(
        """
        send M to B
        send M to W[*]
        send M to C
        """
    )
    for r in ("B", "W", "C"):
        assert show(ls[r]) == "receive M from A"


def test_broadcast_from_a_member_reaches_its_own_family() -> None:
    ls = compile_ok('["Node[3]", Observer]', "- Node[0] -> *: M")
    assert show(ls["Node"]) == lines(
        """
        send M to the other Node members (member 0 only)
        receive M from Node[0] (members but 0)
        send M to Observer (member 0 only)
        """
    )
    recv = ls["Node"].body[1]
    assert isinstance(recv, LRecv) and recv.only == OnlyIndex(0, exclude=True)
    assert show(ls["Observer"]) == "receive M from Node[0]"


# ---------------------------------------------------------------- choices and merging


def test_chooser_selects_with_guards() -> None:
    ls = compile_ok(
        "[A, B]",
        """
        - choice at A:
            cheap:
              when: "price <= 100"
              do: [A -> B: Buy]
            dear: [A -> B: Quit]
        """,
        "vars: {price: int}\n",
    )
    (sel,) = ls["A"].body
    assert isinstance(sel, LSelect)
    assert [b.label for b in sel.branches] == ["cheap", "dear"]
    assert sel.branches[0].guard is not None and sel.branches[0].guard.source == "price <= 100"
    assert sel.branches[1].guard is None
    (off,) = ls["B"].body
    assert isinstance(off, LOffer) and off.frm == PeerOne("A")
    assert [(b.message, b.labels) for b in off.branches] == [("Buy", ("cheap",)), ("Quit", ("dear",))]
    assert all(isinstance(b.body[0], LRecv) for b in off.branches)


def test_plain_merge_when_branches_look_the_same() -> None:
    ls = compile_ok(
        "[A, B, C]",
        """
        - choice at A:
            yes: [A -> B: Yes, B -> C: Note]
            no: [A -> B: No, B -> C: Note]
        """,
    )
    assert show(ls["C"]) == "receive Note from B"


def test_full_merge_by_label_from_one_sender() -> None:
    ls = compile_ok(
        "[A, B, C]",
        """
        - choice at A:
            left: [A -> B: Left, B -> C: GoLeft]
            right: [A -> B: Right, B -> C: GoRight]
        """,
    )
    assert show(ls["C"]) == lines(
        """
        offer from B {
          GoLeft [left]:
            receive GoLeft from B
          GoRight [right]:
            receive GoRight from B
        }
        """
    )


def test_full_merge_of_same_label_recurses() -> None:
    ls = compile_ok(
        "[A, B, C]",
        """
        - choice at A:
            one: [A -> B: One, B -> C: Note, B -> C: X]
            two: [A -> B: Two, B -> C: Note, B -> C: Y]
            three: [A -> B: Three, B -> C: Other]
        """,
    )
    assert show(ls["C"]) == lines(
        """
        offer from B {
          Note [one, two]:
            receive Note from B
            offer from B {
              X [one]:
                receive X from B
              Y [two]:
                receive Y from B
            }
          Other [three]:
            receive Other from B
        }
        """
    )


def test_merge_third_role_not_told() -> None:
    (d,) = merge_errors(
        "[A, B, C]",
        """
        - choice at A:
            left: [A -> B: Left, B -> C: Work]
            right: [A -> B: Right]
        """,
    )
    assert d.span.line == 5
    assert "C cannot tell which branch of the choice at A ('left', 'right')" in d.message
    assert "not told the branch" in d.message and "'right'" in d.message
    assert "add `A -> C: <Msg>` at the start of each branch" in d.hint


def test_merge_different_senders() -> None:
    (d,) = merge_errors(
        "[A, B, C]",
        """
        - choice at A:
            left: [A -> B: Left, B -> C: Note]
            right: [A -> B: Right, A -> C: Note2]
        """,
    )
    assert "told by different senders B and A" in d.message
    assert "A -> C" in d.hint


def test_merge_sends_must_be_identical() -> None:
    (d,) = merge_errors(
        "[A, B, C]",
        """
        - choice at A:
            left: [A -> B: Left, C -> B: X]
            right: [A -> B: Right, C -> B: Y]
        """,
    )
    assert d.message.startswith("C cannot tell")
    assert "send X to B" in d.message and "send Y to B" in d.message


def test_merge_same_label_different_continuations() -> None:
    (d,) = merge_errors(
        "[A, B, C]",
        """
        - choice at A:
            left: [A -> B: Left, B -> C: Note, C -> B: X]
            right: [A -> B: Right, B -> C: Note, C -> B: Y]
        """,
    )
    assert "after the common step 'receive Note from B'" in d.message


def test_merge_errors_name_each_role() -> None:
    ds = merge_errors(
        "[A, B, C, D]",
        """
        - choice at A:
            left: [A -> B: Left, B -> C: Work, B -> D: Work]
            right: [A -> B: Right]
        """,
    )
    assert sorted(d.message.split()[0] for d in ds) == ["C", "D"]


def test_nested_choices() -> None:
    ls = compile_ok(
        "[A, B, C]",
        """
        - choice at A:
            go:
              - choice at A:
                  left: [A -> B: Go, A -> B: Left, B -> C: Left]
                  right: [A -> B: Right, B -> C: Right]
            stop: [A -> B: Stop, B -> C: Stop]
        """,
    )
    assert show(ls["C"]) == lines(
        """
        offer from B {
          Left [go]:
            receive Left from B
          Right [go]:
            receive Right from B
          Stop [stop]:
            receive Stop from B
        }
        """
    )
    # B is told by A's first message in every branch of both choices.
    (off,) = ls["B"].body
    assert isinstance(off, LOffer) and [b.message for b in off.branches] == ["Go", "Right", "Stop"]


def test_choice_followed_by_more_is_sequenced_after_the_merge() -> None:
    ls = compile_ok(
        "[A, B, C]",
        """
        - choice at A:
            one: [A -> B: M1]
            two: [A -> B: M2]
        - A -> C: Tail
        """,
    )
    assert show(ls["C"]) == "receive Tail from A"
    assert [type(s) for s in ls["B"].body] == [LOffer]
    assert [type(s) for s in ls["A"].body] == [LSelect, LSend]


def test_choice_at_a_member() -> None:
    ls = compile_ok(
        '[Client, "Replica[3]"]',
        """
        - choice at Replica[0]:
            commit:
              - Replica[0] -> Client: Commit
            abort:
              - Replica[0] -> Client: Abort
        """,
    )
    (sel,) = ls["Replica"].body
    assert isinstance(sel, LSelect) and sel.only == OnlyIndex(0) and sel.others == ()
    (off,) = ls["Client"].body
    assert isinstance(off, LOffer) and off.frm == PeerMember("Replica", 0)


def test_choice_at_a_member_others_merge_their_view() -> None:
    ls = compile_ok(
        '[Client, "Replica[3]"]',
        """
        - choice at Replica[0]:
            commit:
              - Replica[0] -> Client: Commit
              - Client -> Replica[*]: Committed
            abort:
              - Replica[0] -> Client: Abort
              - Client -> Replica[*]: Aborted
        """,
    )
    (sel,) = ls["Replica"].body
    assert isinstance(sel, LSelect) and sel.only == OnlyIndex(0)
    (others,) = sel.others
    assert isinstance(others, LOffer) and others.frm == PeerOne("Client")
    assert [(b.message, b.labels) for b in others.branches] == [("Committed", ("commit",)), ("Aborted", ("abort",))]


def test_offer_told_to_one_member_only() -> None:
    ls = compile_ok(
        '[A, "F[2]"]',
        """
        - choice at A:
            x:
              - A -> F[0]: X
            y:
              - A -> F[0]: Y
        """,
    )
    (off,) = ls["F"].body
    assert isinstance(off, LOffer) and off.only == OnlyIndex(0) and off.frm == PeerOne("A")


def test_member_told_but_others_act_is_m303() -> None:
    (d,) = merge_errors(
        '[A, "F[2]"]',
        """
        - choice at A:
            x:
              - A -> F[0]: X
              - A -> F[*]: Z
            y:
              - A -> F[0]: Y
        """,
    )
    assert "not every member is told the branch" in d.message and "member 0 only" in d.message
    assert "A -> F[*]" in d.hint


def test_branch_starting_with_a_rec_is_unfolded_for_the_merge() -> None:
    ls = compile_ok(
        "[A, B]",
        """
        - choice at A:
            ticking:
              - rec T:
                  - choice at A:
                      tick: [A -> B: Tick, continue T]
                      stop: [A -> B: Stop]
            skip: [A -> B: Skip]
        """,
    )
    (off,) = ls["B"].body
    assert isinstance(off, LOffer)
    assert [(b.message, b.labels) for b in off.branches] == [
        ("Tick", ("ticking",)),
        ("Stop", ("ticking",)),
        ("Skip", ("skip",)),
    ]
    tick = off.branches[0].body
    assert isinstance(tick[0], LRecv) and isinstance(tick[1], LRec) and tick[1].name == "T"


# ---------------------------------------------------------------- recursion


def test_rec_and_continue() -> None:
    ls = compile_ok(
        "[A, B, C]",
        """
        - rec X:
            - choice at A:
                more: [A -> B: More, continue X]
                done: [A -> B: Done]
        - A -> C: Bye
        """,
    )
    assert show(ls["B"]) == lines(
        """
        rec X {
          offer from A {
            More [more]:
              receive More from A
              continue X
            Done [done]:
              receive Done from A
          }
        }
        """
    )
    # C takes no part in the rec: it gets nothing of it.
    assert show(ls["C"]) == "receive Bye from A"


def test_merge_through_rec_ok() -> None:
    ls = compile_ok(
        "[A, B, C]",
        """
        - rec X:
            - choice at A:
                more: [A -> B: More, B -> C: Work, continue X]
                done: [A -> B: Done, B -> C: Finish]
        """,
    )
    assert show(ls["C"]) == lines(
        """
        rec X {
          offer from B {
            Work [more]:
              receive Work from B
              continue X
            Finish [done]:
              receive Finish from B
          }
        }
        """
    )


def test_merge_through_rec_bad() -> None:
    (d,) = merge_errors(
        "[A, B, C]",
        """
        - rec X:
            - choice at A:
                more: [A -> B: More, B -> C: Work, continue X]
                done: [A -> B: Done, B -> C: Work]
        """,
    )
    assert "after the common step 'receive Work from B'" in d.message
    # Going round again is named by what it means: the next Work, not just "go back to X".
    assert "go round X again and receive Work from B" in d.message


def test_merge_unfolds_the_loop_to_its_next_message() -> None:
    # B learns the branch from its next message: Ping (another round) or Stop.
    ls = compile_ok(
        "[A, B]",
        """
        - rec Loop:
            - A -> B: Ping
            - choice at A:
                again: [continue Loop]
                stop: [A -> B: Stop]
        """,
    )
    assert show(ls["B"]) == lines(
        """
        receive Ping from A
        rec Loop_again {
          offer from A {
            Ping [again]:
              receive Ping from A
              continue Loop_again
            Stop [stop]:
              receive Stop from A
          }
        }
        """
    )


def test_merge_sees_the_statements_after_the_rec() -> None:
    # C is told by B: Fwd (another round) or, after the loop, Stop.
    ls = compile_ok(
        "[A, B, C]",
        """
        - rec X:
            - choice at A:
                more: [A -> B: More, B -> C: Fwd, continue X]
                done: [A -> B: Done]
        - B -> C: Stop
        """,
    )
    assert show(ls["C"]) == lines(
        """
        rec X {
          offer from B {
            Fwd [more]:
              receive Fwd from B
              continue X
            Stop [done]:
              receive Stop from B
          }
        }
        """
    )
    # B still sends Stop after the loop, once.
    assert show(ls["B"]).splitlines()[-1] == "send Stop to C"


def test_merge_conflict_through_the_loop_names_the_messages() -> None:
    (d,) = merge_errors(
        "[A, B]",
        """
        - rec Loop:
            - A -> B: Ping
            - choice at A:
                again: [continue Loop]
                stop: [A -> B: Ping, A -> B: Stop]
        """,
    )
    assert "go round Loop again and receive Ping from A" in d.message
    assert "receive Stop from A" in d.message


def test_loop_left_without_being_told() -> None:
    (d,) = merge_errors(
        "[A, B, C]",
        """
        - rec X:
            - choice at A:
                more: [A -> B: More, B -> C: Work, continue X]
                done: [A -> B: Done]
        """,
    )
    assert "C cannot tell" in d.message and "in branch 'done' its part ends" in d.message


def test_role_in_rec_must_be_told_whether_it_loops() -> None:
    # C acts in every iteration, but the choice to go on is never told to it.
    (d,) = merge_errors(
        "[A, B, C]",
        """
        - rec X:
            - B -> C: Work
            - choice at A:
                more: [A -> B: More, continue X]
                done: [A -> B: Done]
        """,
    )
    assert d.message.startswith("C cannot tell")


def test_waiting_role_of_a_loop_is_starvation() -> None:
    # The bank only waits while queries loop without it: under an unfair scheduler it may
    # wait for ever, so validation rejects it (M317). Projection alone still skips the
    # iterations for it (the bank learns the outcome by label).
    body = """
        - rec Shop:
            - choice at Customer:
                query: [Customer -> Agency: Query, Agency -> Customer: Offer, continue Shop]
                accept: [Customer -> Agency: Accept, Customer -> Bank: Pay]
                reject: [Customer -> Agency: Reject, Customer -> Bank: Cancel]
        """
    c = compile_text(spec("[Customer, Agency, Bank]", body), "t.yaml")
    assert [d.code for d in c.errors] == ["M317"]
    assert "Bank takes part in rec Shop" in c.errors[0].message
    ls, diags = project_any("[Customer, Agency, Bank]", body)
    assert diags == []
    assert show(ls["Bank"]) == lines(
        """
        offer from Customer {
          Pay [accept]:
            receive Pay from Customer
          Cancel [reject]:
            receive Cancel from Customer
        }
        """
    )


def test_nested_rec_continuing_the_outer_one() -> None:
    ls = compile_ok(
        "[A, B]",
        """
        - rec Outer:
            - A -> B: Start
            - rec Inner:
                - choice at A:
                    again: [A -> B: Again, continue Inner]
                    restart: [A -> B: Restart, continue Outer]
                    stop: [A -> B: Stop]
        """,
    )
    (outer,) = ls["B"].body
    assert isinstance(outer, LRec) and outer.name == "Outer"
    inner = outer.body[1]
    assert isinstance(inner, LRec) and inner.name == "Inner"
    (off,) = inner.body
    assert isinstance(off, LOffer)
    assert [b.body[-1] for b in off.branches][:2] == [
        LContinue("Inner", off.branches[0].body[-1].span),
        LContinue("Outer", off.branches[1].body[-1].span),
    ]


# ---------------------------------------------------------------- loops


def test_counted_loop_only_for_roles_in_its_body() -> None:
    ls = compile_ok("[A, B, C]", "- loop: {count: 3, do: [A -> B: M]}\n- A -> C: N")
    (loop,) = ls["B"].body[:1]
    assert isinstance(loop, LLoop) and loop.count == 3
    assert show(ls["C"]) == "receive N from A"


def test_counted_loop_with_parameter() -> None:
    ls = compile_ok("[A, B]", "- loop: {count: n, do: [A -> B: M]}", "params: [n]\n")
    (loop,) = ls["A"].body
    assert isinstance(loop, LLoop) and loop.count == "n"


def test_decided_loop() -> None:
    ls = compile_ok(
        '[A, B, C, D, "W[2]"]',
        """
        - loop:
            decides: A
            do:
              - A -> B: Ping
              - B -> C: Pong
              - C -> W[*]: Fan
        - A -> D: Done
        """,
    )
    (dl,) = ls["A"].body[:1]
    assert isinstance(dl, LDecideLoop) and dl.decider is None
    assert dl.inform == (PeerOne("B"), PeerOne("C"), PeerFamily("W"))
    for r in ("B", "C", "W"):
        (told,) = ls[r].body
        assert isinstance(told, LDecideLoop) and told.decider == PeerOne("A") and told.inform == ()
    assert show(ls["D"]) == "receive Done from A"


def test_decided_loop_by_a_member() -> None:
    ls = compile_ok(
        '[Store, "Peer[2]"]',
        """
        - loop:
            decides: Peer[1]
            do:
              - Peer[1] -> Store: Sync
              - Store -> Peer[*]: Ack
        """,
    )
    decide, told = ls["Peer"].body
    assert isinstance(decide, LDecideLoop) and decide.decider is None and decide.only == OnlyIndex(1)
    assert decide.inform == (PeerOne("Store"), PeerFamily("Peer", exclude_self=True))
    assert isinstance(told, LDecideLoop) and told.decider == PeerMember("Peer", 1)
    assert told.only == OnlyIndex(1, exclude=True)
    assert show(LocalType("P", "Peer", True, told.body)) == "receive Ack from Store"
    (store,) = ls["Store"].body
    assert isinstance(store, LDecideLoop) and store.decider == PeerMember("Peer", 1)


def test_decider_taking_no_part_is_m307() -> None:
    _, diags = project_any("[A, B, Boss]", "- Boss -> A: Go\n- loop: {decides: Boss, do: [A -> B: Hi]}")
    assert [d.code for d in diags] == ["M307"]
    assert "Boss decides the loop but takes no part in its body" in diags[0].message


# ---------------------------------------------------------------- parallel


def test_parallel_branches_and_inlining() -> None:
    ls = compile_ok(
        "[Client, Cache, Db]",
        """
        - parallel:
            - [Client -> Cache: Get, Cache -> Client: Hit]
            - [Client -> Db: Get, Db -> Client: Row]
        - Client -> Cache: Done
        """,
    )
    par, done = ls["Client"].body
    assert isinstance(par, LParallel) and len(par.branches) == 2
    assert isinstance(done, LSend)
    # Cache takes part in one branch only: it is inlined.
    assert show(ls["Cache"]) == lines(
        """
        receive Get from Client
        send Hit to Client
        receive Done from Client
        """
    )


# ---------------------------------------------------------------- calls


def test_call_is_inlined_with_roles_substituted() -> None:
    ls = compile_ok(
        "[A, B, C]",
        """
        - call Outer(A, B)
        - B -> C: Done
        """,
        textwrap.dedent(
            """\
            subprotocols:
              Outer:
                roles: [P, Q]
                interactions:
                  - P -> Q: Hi
                  - call Inner(Q, P)
              Inner:
                roles: [X, Y]
                interactions: [X -> Y: Ack]
            """
        ),
    )
    assert show(ls["A"]) == "send Hi to B\nreceive Ack from B"
    assert show(ls["B"]) == "receive Hi from A\nsend Ack to A\nsend Done to C"


def test_call_with_family_member() -> None:
    ls = compile_ok(
        '[Coordinator, "Signer[3]"]',
        "- call Echo(Coordinator, Signer[2])",
        "subprotocols:\n  Echo:\n    roles: [Asker, Answerer]\n    interactions: [Asker -> Answerer: Ping, Answerer -> Asker: Pong]\n",
    )
    assert show(ls["Coordinator"]) == "send Ping to Signer[2]\nreceive Pong from Signer[2]"
    assert show(ls["Signer"]) == "receive Ping from Coordinator (member 2 only)\nsend Pong to Coordinator (member 2 only)"


def _proto(body: tuple[Stmt, ...], subs: tuple[SubProtocol, ...]) -> Protocol:
    roles = tuple(RoleDecl(n, "single", S) for n in ("A", "B", "C"))
    msgs = (Message("M", (), S), Message("N", (), S))
    return Protocol("P", "t.yaml", S, roles, msgs, body, subprotocols=subs)


def _ia(a: str, b: str, m: str = "M") -> Interaction:
    return Interaction(RoleRef(a, S), RoleRef(b, S), m, S, S, Annotations())


def _call(target: str, *roles: str) -> Call:
    return Call(target, tuple(RoleRef(r, S) for r in roles), S)


def _sub(name: str, *stmts: Stmt) -> SubProtocol:
    return SubProtocol(name, (RoleDecl("X", "single", S), RoleDecl("Y", "single", S)), stmts, S)


def test_recursive_call_with_same_roles_becomes_rec() -> None:
    p = _proto((_call("Loop", "A", "B"),), (_sub("Loop", _ia("X", "Y"), _call("Loop", "X", "Y")),))
    ls, diags = project_all(p)
    assert diags == []
    (rec,) = ls["A"].body
    assert isinstance(rec, LRec) and rec.name == "Loop"
    assert [type(s) for s in rec.body] == [LSend, LContinue]
    assert isinstance(rec.body[1], LContinue) and rec.body[1].name == "Loop"
    assert ls["C"].body == ()


def test_recursive_call_with_other_roles_is_m600() -> None:
    p = _proto((_call("Swap", "A", "B"),), (_sub("Swap", _ia("X", "Y"), _call("Swap", "Y", "X")),))
    _, diags = project_all(p)
    assert [d.code for d in diags] == ["M600"]
    assert "Swap calls itself with roles (B, A) while it runs with (A, B)" in diags[0].message


def test_recursive_call_not_in_tail_position_is_m600() -> None:
    p = _proto((_call("R", "A", "B"),), (_sub("R", _ia("X", "Y"), _call("R", "X", "Y"), _ia("Y", "X", "N")),))
    _, diags = project_all(p)
    assert [d.code for d in diags] == ["M600"]
    assert "tail position" in diags[0].message


def test_undefined_call_is_a_diagnostic_not_a_crash() -> None:
    _, diags = project_all(_proto((_call("Nope", "A", "B"),), ()))
    assert [d.code for d in diags] == ["M500"]


# ---------------------------------------------------------------- sequencing and API


def test_statements_after_compound_statements_are_sequenced() -> None:
    ls = compile_ok(
        "[A, B, C]",
        """
        - choice at A:
            one: [A -> B: M1]
            two: [A -> B: M2]
        - A -> C: Tail
        - loop: {count: 2, do: [B -> C: M3]}
        - C -> A: Tail
        - parallel:
            - [A -> B: M4]
            - [C -> B: M4]
        - B -> A: Tail
        - rec R:
            - choice at A:
                again: [A -> B: M1, continue R]
                done: [A -> B: M2]
        - B -> C: Tail
        """,
    )
    assert [type(s).__name__ for s in ls["B"].body] == [
        "LOffer",
        "LLoop",
        "LParallel",
        "LSend",
        "LRec",
        "LSend",
    ]
    assert [type(s).__name__ for s in ls["C"].body] == ["LRecv", "LLoop", "LSend", "LSend", "LRecv"]


def test_project_one_role_and_errors() -> None:
    c = compile_text(spec("[A, B]", "- A -> B: M"), "t.yaml")
    assert c.protocol is not None
    assert project(c.protocol, "B") == c.locals["B"]
    with pytest.raises(DiagnosticError):
        project(c.protocol, "Nobody")
    bad = compile_text(
        spec("[A, B, C]", "- choice at A:\n    l: [A -> B: L, B -> C: W]\n    r: [A -> B: R]"), "t.yaml"
    )
    assert bad.protocol is not None
    with pytest.raises(DiagnosticError) as info:
        project(bad.protocol, "A")
    assert [d.code for d in info.value.diagnostics] == ["M303"]


def test_projection_is_deterministic() -> None:
    text = spec("[A, B, C]", "- choice at A:\n    l: [A -> B: L, B -> C: X]\n    r: [A -> B: R, B -> C: Y]")
    c = compile_text(text, "t.yaml")
    assert c.protocol is not None
    assert project_all(c.protocol) == project_all(c.protocol)
    assert [render_local(lt) for lt in c.locals.values()] == [
        render_local(lt) for lt in compile_text(text, "t.yaml").locals.values()
    ]


def test_unknown_role_is_a_diagnostic_not_a_crash() -> None:
    _, diags = project_all(_proto((_ia("A", "Ghost"),), ()))
    assert [d.code for d in diags] == ["M200"]

"""``codegen.core.text``: the one notation for role references, peers, participation conditions and
local statements, shared by diagnostics, generated docstrings and ``minuet project``."""

from __future__ import annotations

from codegen.core.ast import IndexAll, IndexConst, IndexParam, IndexRange, RoleDecl, RoleRef
from codegen.core.local import (
    FAILED,
    LContinue,
    LOffer,
    LOfferBranch,
    LRec,
    LRecv,
    LSend,
    OnlyIndex,
    OnlyRange,
    PeerFamily,
    PeerMember,
    PeerOne,
)
from codegen.core.span import Span
from codegen.core.text import decl_text, describe, peer_text, ref_text, seq_text, stmt_text

S = Span("t.yaml", 1, 1)


def test_role_refs_print_as_written() -> None:
    assert ref_text(RoleRef("Seller", S)) == "Seller"
    assert ref_text(RoleRef("Signer", S, IndexAll(S))) == "Signer[*]"
    assert ref_text(RoleRef("Signer", S, IndexConst(2, S))) == "Signer[2]"
    assert ref_text(RoleRef("Signer", S, IndexParam("k", S))) == "Signer[k]"
    assert ref_text(RoleRef("Signer", S, IndexRange(0, "t", S))) == "Signer[0..t]"
    assert decl_text(RoleDecl("Signer", "param", S, "n")) == "Signer[n]"


def test_peers_use_the_spec_notation_and_name_all_to_all_peers() -> None:
    assert peer_text(PeerOne("Buyer")) == "Buyer"
    assert peer_text(PeerMember("Signer", 2)) == "Signer[2]"
    assert peer_text(PeerFamily("Signer")) == "Signer[*]"
    assert peer_text(PeerFamily("Signer", 0, "t")) == "Signer[0..t]"
    assert peer_text(PeerFamily("Signer", None, "t")) == "Signer[..t]"
    assert peer_text(PeerFamily("Signer", exclude_self=True)) == "the other Signer members"


def test_a_participation_condition_reads_the_same_on_every_statement() -> None:
    send = LSend(PeerOne("Coordinator"), "Pong", S, only=OnlyIndex(2))
    assert stmt_text(send) == "send Pong to Coordinator (member 2 only)"
    assert describe(send) == stmt_text(send)
    recv = LRecv(PeerOne("Leader"), "Note", S, only=OnlyIndex(0, exclude=True))
    assert stmt_text(recv) == "receive Note from Leader (members but 0)"
    part = LSend(PeerOne("C"), "Share", S, only=OnlyRange(0, "t"))
    assert stmt_text(part) == "send Share to C (members 0..t)"
    assert stmt_text(LRecv(PeerOne("Seller"), FAILED, S)) == "Seller has failed (crashed or missed the deadline)"


def test_blocks_print_their_head_and_a_sequence_is_cut_after_the_limit() -> None:
    offer = LOffer(PeerOne("Buyer"), (LOfferBranch("Accept", ("a",), ()), LOfferBranch("Reject", ("r",), ())), S)
    assert stmt_text(offer) == "offer from Buyer {Accept, Reject}"
    assert describe(offer) == "receive one of Accept, Reject from Buyer"
    assert stmt_text(LRec("again", (LContinue("again", S),), S)) == "rec again {...}"
    sends = tuple(LSend(PeerOne("B"), f"M{i}", S) for i in range(6))
    assert seq_text(sends[:2], "end") == "send M0 to B; send M1 to B; end"
    assert seq_text(sends, "end", 1).endswith("send M4 to B; ...")

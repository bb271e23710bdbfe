"""The one textual form of each structure a user reads: role references (global specs),
peers and participation conditions, local statements. Diagnostics, generated docstrings,
DOT/Mermaid views and ``minuet project`` all print through here, so a user sees one notation:
``send Pong to Coordinator (member 2 only)`` in an error, a docstring and a view alike."""

from __future__ import annotations

from codegen.core.ast import (
    EPOCH_STEP,
    Bound,
    Chosen,
    IndexAll,
    IndexConst,
    IndexParam,
    IndexRange,
    IndexRing,
    IndexVar,
    RoleDecl,
    RoleRef,
)
from codegen.core.local import (
    FAILED,
    LChoose,
    LContinue,
    LDecideLoop,
    LLocal,
    LLoop,
    LOffer,
    LParallel,
    LPeer,
    LRec,
    LRecv,
    LSelect,
    LSend,
    LStmt,
    MemberSel,
    OnlyIndex,
    OnlyRange,
    OnlySet,
    PeerFamily,
    PeerMember,
    PeerOne,
    PeerRing,
)

__all__ = [
    "decl_text",
    "describe",
    "head_text",
    "members_text",
    "only_text",
    "peer_text",
    "ref_text",
    "seq_text",
    "stmt_text",
]

# Statements shown in a state's docstring; keeps generated output linear in the spec's size.
SEQ_LIMIT = 4


def ref_text(ref: RoleRef) -> str:
    """A role reference as written: ``Seller``, ``Signer[*]``, ``Signer[i]``, ``Signer[0..t]``."""
    match ref.index:
        case None:
            return ref.name
        case IndexAll(within=w):
            return f"{w or ref.name}[*]"  # a chosen set as written
        case IndexConst(value=v):
            return f"{ref.name}[{v}]"
        case IndexParam(name=n) if isinstance(n, Chosen):
            return n  # the role chosen at run time, as written
        case IndexRing(var=v, offset=k, size=size):
            return f"{ref.name}[{v}{'+' if k >= 0 else '-'}{abs(k)} mod {size}]"
        case IndexVar(name=n, within=str(w)):
            return f"{w}[{n}]"
        case IndexParam(name=n) | IndexVar(name=n):
            return f"{ref.name}[{n}]"
        case IndexRange(lo=lo, hi=hi):
            return f"{ref.name}[{lo}..{hi}]"


def decl_text(decl: RoleDecl) -> str:
    """A role as declared: ``Seller``, ``Signer[*]``, ``Signer[n]``."""
    if decl.kind == "single":
        return decl.name
    return f"{decl.name}[{'*' if decl.size is None else decl.size}]"


def _bound(b: Bound | None) -> str:
    return "" if b is None else str(b)


def peer_text(p: LPeer) -> str:
    """A peer seen from a role, in the spec's notation: ``Buyer``, ``Signer[2]``,
    ``Signer[*]``, ``Signer[0..t]``; all-to-all peers read ``the other Signer members``."""
    match p:
        case PeerOne(role=role):
            return role
        case PeerMember(role=role, index=index) if isinstance(index, Chosen):
            return index
        case PeerMember(role=role, index=index):
            return f"{role}[{index}]"
        case PeerRing(role=role, offset=k):
            return f"the {'next' if k == 1 else 'previous' if k == -1 else f'{k:+d}th'} {role} member on the ring"
        case PeerFamily(within=str(w)):
            return f"the other {w} members" if p.exclude_self else f"{w}[*]"
        case _:
            whole = p.lo is None and p.hi is None
            if p.exclude_self:
                return f"the other {p.role} members" if whole else f"the other {p.role}[{_bound(p.lo)}..{_bound(p.hi)}]"
            return f"{p.role}[*]" if whole else f"{p.role}[{_bound(p.lo)}..{_bound(p.hi)}]"


def members_text(o: MemberSel) -> str:
    """Which members of a family take a step: ``member 2 only``, ``members but 2``, ``members 0..t``."""
    match o:
        case OnlyIndex(index=i, exclude=True):
            return f"members but {i}"
        case OnlyIndex(index=i):
            return f"member {i} only"
        case OnlyRange(lo=lo, hi=hi):
            return f"members {lo}..{hi}"
        case OnlySet(name=n, exclude=x, but=b):
            return f"members {'not ' if x else ''}in {n}" + (f" but {b}" if b else "")


def only_text(o: MemberSel | None) -> str:
    """The participation condition as a suffix (`` (member 2 only)``), empty for every member."""
    return "" if o is None else f" ({members_text(o)})"


def head_text(s: LStmt) -> str:
    """A statement's line without its body: the whole of a simple statement, the head of a block."""
    match s:
        case LSend():
            return f"send {s.message} to {peer_text(s.to)}{only_text(s.only)}"
        case LRecv() if s.message == FAILED:
            who = f"one of {peer_text(s.frm)}" if isinstance(s.frm, PeerFamily) else peer_text(s.frm)
            return f"{who} has failed (crashed or missed the deadline)"
        case LRecv(announce=str(r)):
            return f"learn {r} from the claims of {peer_text(s.frm)}{only_text(s.only)}"
        case LRecv():
            return f"receive {s.message} from {peer_text(s.frm)}{only_text(s.only)}"
        case LLocal() if s.step == EPOCH_STEP:
            return f"bump the session epoch{only_text(s.only)}"
        case LLocal():
            return f"run local step {s.step}{only_text(s.only)}"
        case LSelect():
            return f"select{only_text(s.only)}"
        case LOffer():
            return f"offer from {peer_text(s.frm)}{only_text(s.only)}"
        case LRec():
            return f"rec {s.name}"
        case LContinue():
            return f"continue {s.name}"
        case LLoop():
            return f"loop {s.count} times"
        case LDecideLoop():
            if s.decider is None:
                told = ", ".join(peer_text(p) for p in s.inform) or "nobody"
                return f"loop decided here, telling {told}{only_text(s.only)}"
            return f"loop decided by {peer_text(s.decider)}{only_text(s.only)}"
        case LParallel():
            return "parallel"
        case LChoose():
            what = s.role if s.size is None else f"{s.size} members as {s.role}"
            told = f", tell {', '.join(s.announce)}" if s.announce else ""
            return f"run local step {s.step} to choose {what} among {s.family}, agree on it{told}"


def stmt_text(s: LStmt) -> str:
    """A statement on one line: its head, with a block's branches named and its body elided."""
    match s:
        case LSelect():
            labels = ", ".join(b.label + (f" when {b.guard.source}" if b.guard else "") for b in s.branches)
            return f"{head_text(s)} {{{labels}}}"
        case LOffer():
            return f"{head_text(s)} {{{', '.join(b.message for b in s.branches)}}}"
        case LRec() | LLoop() | LDecideLoop():
            return f"{head_text(s)} {{...}}"
        case LParallel():
            return f"parallel ({len(s.branches)} branches)"
        case LChoose():
            return f"{head_text(s)} {{I am {'in ' if s.size is not None else ''}{s.role}, I am not}}"
        case _:
            return head_text(s)


def seq_text(stmts: tuple[LStmt, ...], then: str, start: int = 0) -> str:
    """``stmts[start:]`` on one line, at most ``SEQ_LIMIT`` statements, then ``then`` (how the
    sequence ends) when they all fit; the tail is indexed, not copied."""
    parts = [stmt_text(s) for s in stmts[start : start + SEQ_LIMIT]]
    if len(stmts) - start > SEQ_LIMIT:
        parts.append("...")
    elif then:
        parts.append(then)
    return "; ".join(parts)


def describe(s: LStmt) -> str:
    """What a statement makes a role do, as a verb phrase for diagnostics (``send Quote to Buyer1``)."""
    match s:
        case LSend() | LRecv() | LLocal():
            return head_text(s)
        case LSelect():
            return "make a choice"
        case LOffer(frm=frm, branches=bs):
            return f"receive one of {', '.join(b.message for b in bs)} from {peer_text(frm)}"
        case LRec(name=name, body=body):
            return describe(body[0]) if body else f"enter rec {name}"
        case LContinue(name=name):
            return f"go back to {name}"
        case LLoop(count=count):
            return f"run a loop {count} times"
        case LDecideLoop():
            return "take part in a decided loop"
        case LChoose():
            return f"choose {s.role} among the {s.family} members"
        case _:
            return "run parallel branches"

"""Local session types: one role's view of a protocol, produced by ``codegen.projection.project``.

A local type is a sequence of local statements; the end of a top-level sequence is End.
Sub-protocol calls are already inlined; broadcasts and family forms are resolved into
peers seen from this role. ``codegen.projection.fsm`` turns a local type into a state machine.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Final

from codegen.core.ast import Annotations, Bound, Guard
from codegen.core.span import Span

# ---------------------------------------------------------------- peers


@dataclass(frozen=True, slots=True)
class PeerOne:
    """A single (non-family) role."""

    role: str


@dataclass(frozen=True, slots=True)
class PeerMember:
    """One member of a family, by literal index or parameter name."""

    role: str
    index: Bound


@dataclass(frozen=True, slots=True)
class PeerFamily:
    """Several members of a family: all (``lo``/``hi`` None), a half-open range, and/or
    every member but this role itself (``exclude_self``, for all-to-all exchanges)."""

    role: str
    lo: Bound | None = None
    hi: Bound | None = None
    exclude_self: bool = False
    within: str | None = None  # only the members of the set chosen at run time so named


@dataclass(frozen=True, slots=True)
class PeerRing:
    """The member ``offset`` places after this member on the ring of ``role``'s members
    (``-1``: the one before), ``(me + offset) mod size``; seen from a member of ``role``."""

    role: str
    offset: int


LPeer = PeerOne | PeerMember | PeerFamily | PeerRing


# Which members of this role's family take part in a step (None on a step: all do).
@dataclass(frozen=True, slots=True)
class OnlyIndex:
    """Member ``index`` only; with ``exclude``, every member but ``index`` (the others of a
    family hearing a broadcast from one of its members)."""

    index: Bound
    exclude: bool = False


@dataclass(frozen=True, slots=True)
class OnlyRange:
    lo: Bound
    hi: Bound


@dataclass(frozen=True, slots=True)
class OnlySet:
    """The members in the set chosen at run time as ``name`` (with ``exclude``, those not in
    it); with ``but``, not the member chosen as that single role either."""

    name: str
    exclude: bool = False
    but: str | None = None


MemberSel = OnlyIndex | OnlyRange | OnlySet


# ---------------------------------------------------------------- statements

# The message of an announcement receive (``LRecv.announce``) is this and the role's name:
# not a declared message's name (those start with a letter), so it never meets one.
ANNOUNCE: Final = "__announce__"


@dataclass(frozen=True, slots=True)
class LSend:
    """Send ``message`` to ``to`` (to each member in turn when ``to`` is a PeerFamily)."""

    to: LPeer
    message: str
    span: Span
    annotations: Annotations = field(default_factory=Annotations)
    only: MemberSel | None = None


@dataclass(frozen=True, slots=True)
class LRecv:
    """Receive ``message`` from ``frm`` (a collection, one per member, for a PeerFamily).

    With ``announce``: learn the choice of that role (a set of ``announce_size`` members
    when set) from the claims of every member of the family ``frm``."""

    frm: LPeer
    message: str
    span: Span
    annotations: Annotations = field(default_factory=Annotations)
    only: MemberSel | None = None
    announce: str | None = None
    announce_size: Bound | None = None


@dataclass(frozen=True, slots=True)
class LBranch:
    label: str
    body: tuple[LStmt, ...]
    span: Span
    guard: Guard | None = None


@dataclass(frozen=True, slots=True)
class LSelect:
    """Internal choice: this role picks a branch; each branch body starts with its send.

    When the chooser is one member of a family (``choice at Replica[0]``), ``only`` names
    that member and ``others`` is what the other members of the family do instead (their
    merged view of the branches)."""

    branches: tuple[LBranch, ...]
    span: Span
    only: MemberSel | None = None
    others: tuple[LStmt, ...] = ()


# The "message" of the branch an offer takes when its sender has failed (crash-stop
# failure branch): not an identifier, so no declared message can be called so.
FAILED: Final = "(failure)"


@dataclass(frozen=True, slots=True)
class LOfferBranch:
    """One way an offer can go: told by receiving ``message``; ``labels`` are the global
    branch labels merged into it. ``body`` starts with that LRecv. A failure branch has
    ``message`` FAILED: taken when the sender crashed or missed its deadline."""

    message: str
    labels: tuple[str, ...]
    body: tuple[LStmt, ...]


@dataclass(frozen=True, slots=True)
class LOffer:
    """External choice: which branch is known from the label of the next message from ``frm``."""

    frm: LPeer
    branches: tuple[LOfferBranch, ...]
    span: Span
    # Family roles: only these members are told; the others do ``others`` instead (nothing
    # but for a failure branch received by one member: the others' merged view of it).
    only: MemberSel | None = None
    others: tuple[LStmt, ...] = ()


@dataclass(frozen=True, slots=True)
class LLocal:
    """Run the local step ``step`` (declared under ``steps:``); ``only`` as for sends."""

    step: str
    span: Span
    only: MemberSel | None = None


@dataclass(frozen=True, slots=True)
class LRec:
    name: str
    body: tuple[LStmt, ...]
    span: Span


@dataclass(frozen=True, slots=True)
class LContinue:
    name: str
    span: Span


@dataclass(frozen=True, slots=True)
class LLoop:
    """A counted loop: the body runs exactly ``count`` times, no message decides it."""

    count: Bound
    body: tuple[LStmt, ...]
    span: Span


@dataclass(frozen=True, slots=True)
class LDecideLoop:
    """A decided loop. For the decider (``decider`` is None) each iteration starts with a
    continue/exit choice that the runtime sends as a control message to ``inform``; every
    other participant is told by ``decider`` and gets an offer."""

    decider: LPeer | None
    inform: tuple[LPeer, ...]
    body: tuple[LStmt, ...]
    span: Span
    # Family roles: only these members run the loop (as decider); the others skip it.
    only: MemberSel | None = None


@dataclass(frozen=True, slots=True)
class LParallel:
    """Independent branches this role takes part in concurrently, then joins."""

    branches: tuple[tuple[LStmt, ...], ...]
    span: Span


@dataclass(frozen=True, slots=True)
class LChoose:
    """A member of ``family`` runs the local step ``step`` (its output is the index of the
    member that plays ``role``), tells every other member the index it computed and checks
    theirs against it (the agreement exchange), then goes on as that member (``it``) or as
    one of the others (``other``): ``role`` is ``Chosen(role)`` in their peers and members."""

    role: str
    family: str
    step: str
    span: Span
    it: tuple[LStmt, ...]
    other: tuple[LStmt, ...]
    size: Bound | None = None  # a chosen set of this many members: ``it`` is "I am in it"
    announce: tuple[str, ...] = ()  # single roles outside the family told the choice


LStmt = LSend | LRecv | LLocal | LSelect | LOffer | LRec | LContinue | LLoop | LDecideLoop | LParallel | LChoose


@dataclass(frozen=True, slots=True)
class LocalType:
    """The projection of ``protocol`` onto ``role`` (for a family: onto any one member)."""

    protocol: str
    role: str
    family: bool
    body: tuple[LStmt, ...]

"""Local types -> state machines: one node per protocol state of a role.

``build(local)`` walks the local type once in continuation-passing style (each statement is
built knowing the target it continues to), so ``rec``/``continue`` become back edges, counted
loops get an iteration counter, and parallel blocks become fork/join nodes. States are then
numbered in depth-first order from the start, so S0 is always the entry state and numbering
is deterministic. Everything is linear in the size of the local type.

Counted loops need a run-time counter that cannot be forged, so every state object carries a
stack of loop counters; an edge says how to move it (``push`` entering a loop, ``incr`` at
the end of an iteration, ``pop`` leaving it).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from codegen.core.ast import Annotations, Bound, Guard
from codegen.core.local import (
    FAILED,
    LBranch,
    LChoose,
    LContinue,
    LDecideLoop,
    LLocal,
    LLoop,
    LocalType,
    LOffer,
    LParallel,
    LPeer,
    LRec,
    LRecv,
    LSelect,
    LSend,
    LStmt,
    MemberSel,
    PeerFamily,
    PeerOne,
)
from codegen.core.span import Span
from codegen.core.text import seq_text

LoopOp = Literal["push", "incr", "pop"]
# Placeholder default for peer fields (every node sets its real peer).
_NO_PEER: LPeer = PeerOne("")


class FsmError(Exception):
    """The local type has a shape the generator cannot turn into states (reported as M600)."""

    def __init__(self, message: str, span: Span) -> None:
        super().__init__(message)
        self.span = span


@dataclass(eq=False)
class Target:
    """An edge: go to ``node`` after applying ``ops`` to the loop-counter stack."""

    node: Node
    ops: tuple[LoopOp, ...] = ()


@dataclass(eq=False)
class Node:
    """Base of all states; ``sid`` is assigned by numbering (``-1`` until then)."""

    span: Span
    text: str  # readable local type from this state on (bounded length)
    sid: int = -1
    depth: int = 0  # counted loops enclosing this state (length of its counter stack)
    # A step only some family members take (``only``): the others go to ``skip``. The
    # renderer splits such a state into ``participation() -> <S>_Takes | <S>_Skips``.
    skip: Target | None = None
    only: MemberSel | None = None


@dataclass(eq=False)
class SendNode(Node):
    to: LPeer = _NO_PEER
    message: str = ""
    annotations: Annotations = field(default_factory=Annotations)
    next: Target | None = None


@dataclass(eq=False)
class RecvNode(Node):
    frm: LPeer = _NO_PEER
    message: str = ""
    annotations: Annotations = field(default_factory=Annotations)
    next: Target | None = None
    announce: str | None = None  # learn the choice of this role from the family's claims
    announce_size: Bound | None = None  # ... a set of this many members


@dataclass(eq=False)
class LocalNode(Node):
    """Run the local step ``step`` (no communication), then go to ``next``."""

    step: str = ""
    next: Target | None = None


@dataclass(eq=False)
class ChooseNode(Node):
    """Run the local step ``step`` to choose the member of ``family`` that plays ``role``,
    agree on it with the other members, then go on as it (``it``) or as another (``other``)."""

    role: str = ""
    family: str = ""
    step: str = ""
    it: Target | None = None
    other: Target | None = None
    size: Bound | None = None  # a set of this many members: ``it`` is "I am in it"
    announce: tuple[str, ...] = ()  # single roles outside the family told the choice


@dataclass(eq=False)
class SelectBranch:
    label: str
    guard: Guard | None
    span: Span
    next: Target


@dataclass(eq=False)
class SelectNode(Node):
    branches: list[SelectBranch] = field(default_factory=list)


@dataclass(eq=False)
class OfferBranch:
    message: str
    labels: tuple[str, ...]
    annotations: Annotations
    next: Target


@dataclass(eq=False)
class OfferNode(Node):
    frm: LPeer = _NO_PEER
    branches: list[OfferBranch] = field(default_factory=list)


@dataclass(eq=False)
class LoopNode(Node):
    """Head of a counted loop: ``next()`` yields the body or, after ``count`` runs, the exit."""

    count: Bound = 0
    body: Target | None = None
    exit: Target | None = None


@dataclass(eq=False)
class DecideNode(Node):
    """Head of a decided loop, for the decider: continue/exit, told to ``inform``."""

    inform: tuple[LPeer, ...] = ()
    body: Target | None = None
    exit: Target | None = None


@dataclass(eq=False)
class DecidedNode(Node):
    """Head of a decided loop, for a role told by ``frm`` whether it goes on."""

    frm: LPeer = _NO_PEER
    body: Target | None = None
    exit: Target | None = None


@dataclass(eq=False)
class ForkNode(Node):
    branches: list[Target] = field(default_factory=list)
    ends: list[BranchEndNode] = field(default_factory=list)
    join: Target | None = None


@dataclass(eq=False)
class BranchEndNode(Node):
    """The last state of one parallel branch; only ``join`` consumes it."""

    fork: ForkNode | None = None
    index: int = 0


@dataclass(eq=False)
class EndNode(Node):
    pass


@dataclass(eq=False)
class _Alias(Node):
    """Placeholder for a ``rec`` head while its body is built; resolved before numbering."""

    target: Target | None = None


@dataclass
class StateMachine:
    protocol: str
    role: str
    family: bool
    states: list[Node]  # states[i].sid == i; states[0] is the entry state
    end: EndNode
    entry_ops: tuple[LoopOp, ...] = ()  # a protocol opening with a counted loop pushes its counter

    @property
    def start(self) -> Node:
        return self.states[0]


def class_name(role: str, n: Node) -> str:
    """The generated class of a state: ``Role_S3``, and ``Role_End`` at the end. Views use it
    too, so a drawn state is named as in the code."""
    return f"{role}_End" if isinstance(n, EndNode) else f"{role}_S{n.sid}"


# ---------------------------------------------------------------- building


class _Builder:
    def __init__(self) -> None:
        self.nodes: list[Node] = []

    def add(self, n: Node) -> Node:
        self.nodes.append(n)
        return n

    def seq(
        self, stmts: tuple[LStmt, ...], k: Target, env: dict[str, Target], depth: int, then: str
    ) -> Target:
        # Built back to front so each statement knows its continuation; iterative over the
        # sequence so long protocols do not recurse deeply.
        for i in range(len(stmts) - 1, -1, -1):
            # Nested bodies continue with what follows the compound statement.
            after = seq_text(stmts, then, i + 1)
            k = self.stmt(stmts[i], seq_text(stmts, then, i), k, env, depth, after)
        return k

    def stmt(
        self,
        s: LStmt,
        text: str,
        k: Target,
        env: dict[str, Target],
        depth: int,
        then: str,
    ) -> Target:
        match s:
            case LSend():
                n: Node = SendNode(s.span, text, depth=depth, to=s.to, message=s.message,
                                   annotations=s.annotations, next=k, only=s.only)
                if s.only is not None:
                    n.skip = k
                return Target(self.add(n))
            case LRecv():
                n = RecvNode(s.span, text, depth=depth, frm=s.frm, message=s.message,
                             annotations=s.annotations, next=k, only=s.only, announce=s.announce,
                             announce_size=s.announce_size)
                if s.only is not None:
                    n.skip = k
                return Target(self.add(n))
            case LLocal():
                n = LocalNode(s.span, text, depth=depth, step=s.step, next=k, only=s.only)
                if s.only is not None:
                    n.skip = k
                return Target(self.add(n))
            case LSelect():
                sel = SelectNode(s.span, text, depth=depth, only=s.only)
                for b in s.branches:
                    sel.branches.append(self.branch(b, k, env, depth, then))
                if s.only is not None:
                    sel.skip = self.seq(s.others, k, env, depth, then)
                return Target(self.add(sel))
            case LOffer():
                if isinstance(s.frm, PeerFamily) and [b.message == FAILED for b in s.branches] != [False, True]:
                    # A collection can only be offered with its failure (a failure branch).
                    raise FsmError("an offer told by a whole family cannot be generated", s.span)
                off = OfferNode(s.span, text, depth=depth, frm=s.frm, only=s.only)
                for ob in s.branches:
                    first = ob.body[0] if ob.body else None
                    if not isinstance(first, LRecv):
                        raise FsmError(f"offer branch {ob.message} does not start with its receive", s.span)
                    nxt = self.seq(ob.body[1:], k, env, depth, then)
                    off.branches.append(OfferBranch(ob.message, ob.labels, first.annotations, nxt))
                if s.only is not None:
                    off.skip = self.seq(s.others, k, env, depth, then)
                return Target(self.add(off))
            case LRec():
                alias = _Alias(s.span, text, depth=depth)
                inner = dict(env)
                inner[s.name] = Target(alias)
                alias.target = self.seq(s.body, k, inner, depth, then)
                return Target(alias)
            case LContinue():
                if s.name not in env:
                    raise FsmError(f"continue {s.name} has no enclosing rec", s.span)
                return env[s.name]
            case LLoop():
                head = LoopNode(s.span, text, depth=depth + 1, count=s.count)
                # A continue cannot leave a loop body (M315), so the body sees no rec names.
                head.body = self.seq(s.body, Target(head, ("incr",)), {}, depth + 1, "next iteration")
                head.exit = Target(k.node, ("pop", *k.ops))
                self.add(head)
                return Target(head, ("push",))
            case LDecideLoop():
                dn: DecideNode | DecidedNode
                if s.decider is None:
                    dn = DecideNode(s.span, text, depth=depth, inform=s.inform, only=s.only)
                else:
                    if isinstance(s.decider, PeerFamily):
                        raise FsmError("a decided loop decided by a whole family cannot be generated", s.span)
                    dn = DecidedNode(s.span, text, depth=depth, frm=s.decider, only=s.only)
                dn.body = self.seq(s.body, Target(dn), {}, depth, "next iteration")
                dn.exit = k
                if s.only is not None:
                    dn.skip = k
                return Target(self.add(dn))
            case LChoose():
                ch = ChooseNode(
                    s.span, text, depth=depth, role=s.role, family=s.family, step=s.step, size=s.size, announce=s.announce
                )
                ch.it = self.seq(s.it, k, env, depth, then)
                ch.other = self.seq(s.other, k, env, depth, then)
                return Target(self.add(ch))
            case LParallel():
                fork = ForkNode(s.span, text, depth=depth, join=k)
                for i, br in enumerate(s.branches):
                    end = BranchEndNode(s.span, f"end of parallel branch {i}; join", depth=depth,
                                        fork=fork, index=i)
                    self.add(end)
                    fork.ends.append(end)
                    fork.branches.append(self.seq(br, Target(end), {}, depth, "join"))
                return Target(self.add(fork))

    def branch(
        self, b: LBranch, k: Target, env: dict[str, Target], depth: int, then: str
    ) -> SelectBranch:
        return SelectBranch(b.label, b.guard, b.span, self.seq(b.body, k, env, depth, then))


def _resolve(t: Target) -> Target:
    """Follow rec aliases; a cycle of aliases is a rec that never acts (M304 upstream)."""
    ops = list(t.ops)
    node = t.node
    seen = 0
    while isinstance(node, _Alias):
        seen += 1
        if node.target is None or seen > 10_000:
            raise FsmError("a recursion reaches itself without any interaction", node.span)
        ops.extend(node.target.ops)
        node = node.target.node
    return Target(node, tuple(ops))


def _edges(n: Node) -> list[Target]:
    out: list[Target] = []
    match n:
        case SendNode() | RecvNode() | LocalNode():
            assert n.next is not None
            out.append(n.next)
        case SelectNode():
            out.extend(b.next for b in n.branches)
        case OfferNode():
            out.extend(b.next for b in n.branches)
        case LoopNode() | DecideNode() | DecidedNode():
            assert n.body is not None and n.exit is not None
            out.extend((n.body, n.exit))
        case ChooseNode():
            assert n.it is not None and n.other is not None
            out.extend((n.it, n.other))
        case ForkNode():
            out.extend(n.branches)
            out.extend(Target(e) for e in n.ends)
            assert n.join is not None
            out.append(n.join)
        case _:
            pass
    if n.skip is not None:
        out.append(n.skip)
    return out


def _relink(n: Node) -> None:
    """Replace every edge of ``n`` by its alias-free form."""
    match n:
        case SendNode() | RecvNode() | LocalNode():
            assert n.next is not None
            n.next = _resolve(n.next)
        case SelectNode():
            for b in n.branches:
                b.next = _resolve(b.next)
        case OfferNode():
            for ob in n.branches:
                ob.next = _resolve(ob.next)
        case LoopNode() | DecideNode() | DecidedNode():
            assert n.body is not None and n.exit is not None
            n.body = _resolve(n.body)
            n.exit = _resolve(n.exit)
        case ChooseNode():
            assert n.it is not None and n.other is not None
            n.it = _resolve(n.it)
            n.other = _resolve(n.other)
        case ForkNode():
            n.branches = [_resolve(b) for b in n.branches]
            assert n.join is not None
            n.join = _resolve(n.join)
        case _:
            pass
    if n.skip is not None:
        n.skip = _resolve(n.skip)


def build(local: LocalType) -> StateMachine:
    """The state machine of one role; raises ``FsmError`` for shapes it cannot generate."""
    b = _Builder()
    end = EndNode(Span("", 0, 0), "end")
    b.add(end)
    start = _resolve(b.seq(local.body, Target(end), {}, 0, "end"))
    for n in b.nodes:
        if not isinstance(n, _Alias):
            _relink(n)
    # Depth-first numbering from the start, following edges in method order.
    order: list[Node] = []
    stack = [start.node]
    seen: set[int] = set()
    while stack:
        n = stack.pop()
        if id(n) in seen:
            continue
        seen.add(id(n))
        if n is not end:  # End is numbered last, so S-numbers have no gaps
            n.sid = len(order)
            order.append(n)
        for t in reversed(_edges(n)):
            if id(t.node) not in seen:
                stack.append(t.node)
    # Non-terminating protocols (a rec with no exit) still get their End class.
    end.sid = len(order)
    order.append(end)
    return StateMachine(local.protocol, local.role, local.family, order, end, start.ops)

"""``minuet verify``: explicit-state exploration of the projected state machines.

A second opinion that shares nothing with the merge: every role's local type is turned into
its state machine (``codegen.projection.fsm``, the very machine the generated classes implement), each
family is instantiated at small sizes and each parameter over a small range, and the
members run together over asynchronous FIFO channels, one per ordered pair of processes,
holding at most ``bound`` messages. A breadth-first search of the composed system finds

* unspecified receptions: a process waits for some messages and the channel holds another;
* orphan messages: a process has reached End with a message still queued for it;
* deadlocks: nobody can move and some process has not reached End;
* roles that cannot reach End: a reachable state from which no path ends the session;

each with its shortest counterexample in the explored graph. When nothing can move only
because a channel is full, or the state or time bound is hit, the outcome is
"inconclusive at bound", never a verdict.

Reduction (on by default): at each state only the moves of one process are explored, the
one with the fewest enabled moves. A process's moves are independent of every other
process's (it alone reads its incoming channels and alone writes its outgoing ones, so no
other move enables a different move of it or disables one of its moves), so that set is
persistent and every deadlock or terminal state stays reachable; a state whose reduced
successors include an already seen state is expanded fully, so no move is ignored round a
cycle. Local deterministic steps (counted loop heads, steps a family member skips) are taken
eagerly, as part of the move that leads to them.

The core is pure: ``verify_locals`` takes local types and returns a ``VerifyReport``; the
CLI only formats it.
"""

from __future__ import annotations

import itertools
import time
from collections import deque
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Literal

from codegen.core.ast import Bound, Protocol
from codegen.core.diagnostics import UNREADABLE_FILE, Diagnostic
from codegen.core.local import (
    FAILED,
    LChoose,
    LDecideLoop,
    LLoop,
    LocalType,
    LOffer,
    LParallel,
    LPeer,
    LRec,
    LSelect,
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
from codegen.core.span import Span
from codegen.frontend.imports import resolve_imports
from codegen.frontend.load import load
from codegen.frontend.parse import parse
from codegen.frontend.validate import validate
from codegen.projection.fsm import (
    BranchEndNode,
    ChooseNode,
    DecidedNode,
    DecideNode,
    EndNode,
    ForkNode,
    FsmError,
    LocalNode,
    LoopNode,
    LoopOp,
    Node,
    OfferNode,
    RecvNode,
    SelectNode,
    SendNode,
    StateMachine,
    Target,
    build,
)
from codegen.projection.project import project_all

FindingKind = Literal["deadlock", "orphan", "unspecified-reception", "cannot-reach-end", "bad-machine"]
Outcome = Literal["verified", "violation", "inconclusive"]

_CONTINUE = "(continue)"
_EXIT = "(exit)"


@dataclass(frozen=True, slots=True)
class Bounds:
    """How far to look. ``sizes``: members of each ``[*]`` family; ``params``: values of
    each parameter (family sizes given by a parameter follow it)."""

    channel: int = 2
    sizes: tuple[int, ...] = (1, 2, 3)
    params: tuple[int, ...] = (1, 2, 3)
    max_states: int = 200_000
    max_seconds: float = 20.0
    max_instances: int = 64
    reduce: bool = True

    def __post_init__(self) -> None:
        if self.channel < 1:
            raise ValueError(f"a channel must hold at least one message, got {self.channel}")
        if self.max_states < 1 or self.max_seconds < 0 or self.max_instances < 1:
            raise ValueError("the state, time and instance bounds must be positive")
        if not self.sizes or not self.params or min(self.sizes + self.params) < 1:
            raise ValueError("family sizes and parameter values start at 1")


@dataclass(frozen=True, slots=True)
class Step:
    """One move of a counterexample."""

    who: str
    kind: Literal["send", "recv", "choose"]
    text: str  # "sends Ping to B"
    span: Span
    peer: str = ""
    message: str = ""


@dataclass(frozen=True, slots=True)
class Finding:
    kind: FindingKind
    message: str
    trace: tuple[Step, ...]
    span: Span | None = None  # where the stuck or faulty process stands


@dataclass(frozen=True, slots=True)
class InstanceReport:
    """One instantiation (family sizes, parameter values) and what its exploration found."""

    name: str  # "Signer=2, t=1"
    outcome: Outcome
    states: int
    transitions: int
    seconds: float
    finding: Finding | None = None
    reason: str = ""  # why inconclusive, or a note on a verified instance
    processes: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class VerifyReport:
    protocol: str
    instances: tuple[InstanceReport, ...]
    skipped: tuple[str, ...] = ()  # instantiations where an index falls outside its family

    @property
    def outcome(self) -> Outcome:
        if any(i.outcome == "violation" for i in self.instances):
            return "violation"
        if not self.instances or any(i.outcome == "inconclusive" for i in self.instances):
            return "inconclusive"
        return "verified"

    @property
    def states(self) -> int:
        return sum(i.states for i in self.instances)

    @property
    def seconds(self) -> float:
        return sum(i.seconds for i in self.instances)


# ---------------------------------------------------------------- instantiation


class _NotApplicable(Exception):
    """This instantiation names a member its family does not have."""


@dataclass(frozen=True, slots=True)
class _Proc:
    role: str
    index: int | None
    machine: StateMachine

    @property
    def name(self) -> str:
        return self.role if self.index is None else f"{self.role}[{self.index}]"


@dataclass
class _Instance:
    name: str
    params: dict[str, int]
    sizes: dict[str, int]  # family -> members
    procs: list[_Proc]
    pid: dict[tuple[str, int | None], int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.pid = {(p.role, p.index): i for i, p in enumerate(self.procs)}

    def bound(self, b: Bound) -> int:
        if isinstance(b, int):
            return b
        if b not in self.params:
            raise _NotApplicable(f"unknown parameter {b}")
        return self.params[b]

    def member(self, role: str, index: int) -> int:
        if index < 0 or index >= self.sizes.get(role, 0):
            raise _NotApplicable(f"{role}[{index}] does not exist with {self.sizes.get(role, 0)} members")
        return self.pid[(role, index)]

    def peers(self, me: _Proc, p: LPeer) -> tuple[int, ...]:
        """The processes a peer reference names, seen from ``me``, in index order."""
        match p:
            case PeerOne(role=role):
                return (self.pid[(role, None)],)
            case PeerMember(role=role, index=index):
                return (self.member(role, self.bound(index)),)
            case PeerRing(role=role, offset=k):
                size = self.sizes.get(role, 0)
                if me.index is None or size < 2:
                    raise _NotApplicable(f"a ring of {size} {role} members")
                return (self.member(role, (me.index + k) % size),)
            case PeerFamily(role=role, lo=lo, hi=hi, exclude_self=excl, within=within):
                first = 0 if lo is None else self.bound(lo)
                last = self.sizes.get(role, 0) if hi is None else self.bound(hi)
                mask = -1 if within is None else self.params[within]  # a chosen set: its bitmask
                out = []
                for i in range(first, last):
                    if (excl and me.role == role and me.index == i) or not (mask >> i) & 1:
                        continue
                    out.append(self.member(role, i))
                return tuple(out)

    def selected(self, me: _Proc, only: MemberSel) -> bool:
        if me.index is None:
            return False
        match only:
            case OnlyIndex(index=index, exclude=excl):
                return (me.index == self.bound(index)) != excl
            case OnlyRange(lo=lo, hi=hi):
                return self.bound(lo) <= me.index < self.bound(hi)
            case OnlySet(name=name, exclude=excl, but=but):
                inside = bool((self.params[name] >> me.index) & 1) != excl
                return inside and (but is None or me.index != self.params[but])


def instances(
    roles: Sequence[tuple[str, str, int | str | None]],
    params: Sequence[str],
    bounds: Bounds,
) -> Iterator[tuple[str, dict[str, int], dict[str, int]]]:
    """(name, parameter values, family sizes) for each instantiation, smallest first.

    ``roles``: (name, kind, size) as declared (kind single/fixed/param/dynamic)."""
    dynamic = [name for name, kind, _ in roles if kind == "dynamic"]
    combos = itertools.product(*([bounds.params] * len(params)), *([bounds.sizes] * len(dynamic)))
    for combo in sorted(combos, key=lambda c: (sum(c), c)):
        values = dict(zip(params, combo[: len(params)], strict=True))
        chosen = dict(zip(dynamic, combo[len(params) :], strict=True))
        sizes: dict[str, int] = {}
        for name, kind, size in roles:
            if kind == "fixed" and isinstance(size, int):
                sizes[name] = size
            elif kind == "param" and isinstance(size, str):
                sizes[name] = values.get(size, 1)
            elif kind == "dynamic":
                sizes[name] = chosen[name]
        parts = [f"{n}={v}" for n, v in values.items()] + [f"{f}={n}" for f, n in sizes.items()]
        yield ", ".join(parts) or "single instance", values, sizes


# ---------------------------------------------------------------- exploration

# A thread: (state id, loop counters, aux). ``aux`` is the progress through the members of
# a multi-peer send/receive (an int), the children of a fork (a tuple of threads), or for a
# decider the choice made and how many peers were told (encoded as an int, see _decide_aux).
Thread = tuple[int, tuple[int, ...], object]
State = tuple[tuple[Thread, ...], tuple[tuple[str, ...], ...]]

_DIVERGES = -1  # a thread that skips round a loop forever without acting


@dataclass(frozen=True, slots=True)
class _Move:
    proc: int
    thread: Thread
    send: tuple[int, str] | None  # (to, label)
    recv: int | None  # from
    step: Step


class _Explorer:
    def __init__(self, inst: _Instance, bounds: Bounds) -> None:
        self.inst = inst
        self.bounds = bounds
        self.n = len(inst.procs)
        # Every process's machine indexed by state id; End is recognised by class.
        self.nodes = [p.machine.states for p in inst.procs]
        self.blocked_by_bound = False

    # -- threads

    def _ops(self, loops: tuple[int, ...], ops: tuple[LoopOp, ...]) -> tuple[int, ...]:
        for op in ops:
            if op == "push":
                loops = (*loops, 0)
            elif op == "incr":
                loops = (*loops[:-1], loops[-1] + 1)
            else:
                loops = loops[:-1]
        return loops

    def goto(self, p: int, t: Target, loops: tuple[int, ...]) -> Thread:
        return self.settle(p, (t.node.sid, self._ops(loops, t.ops), 0))

    def settle(self, p: int, th: Thread) -> Thread:
        """Take the deterministic local steps from ``th`` (a fork becomes its children)."""
        me = self.inst.procs[p]
        seen: set[tuple[int, tuple[int, ...]]] = set()
        while True:
            sid, loops, aux = th
            node = self.nodes[p][sid]
            key = (sid, loops)
            if key in seen:
                return (sid, loops, _DIVERGES)
            seen.add(key)
            nxt: Target | None = None
            if node.only is not None and node.skip is not None and not self.inst.selected(me, node.only):
                nxt = node.skip
            elif isinstance(node, LoopNode):
                assert node.body is not None and node.exit is not None
                nxt = node.body if loops[-1] < self.inst.bound(node.count) else node.exit
            elif isinstance(node, LocalNode):
                nxt = node.next  # a local step communicates nothing: it is settled at once
            elif isinstance(node, ChooseNode):
                # The instantiation fixes the index chosen (every member computes the same one,
                # and the agreement exchange always matches between members that follow the
                # protocol, so it is not explored).
                if node.size is not None:  # a chosen set, bound as the bitmask of its members
                    nxt = node.it if me.index is not None and (self.inst.params[node.role] >> me.index) & 1 else node.other
                else:
                    nxt = node.it if me.index == self.inst.params[node.role] else node.other
            elif isinstance(node, RecvNode) and node.announce is not None:
                # Learning an announced choice: the members' claims always agree when they
                # follow the protocol (as the agreement exchange), so it is not explored.
                nxt = node.next
            elif isinstance(node, SendNode) and not self.inst.peers(me, node.to):
                nxt = node.next
            elif isinstance(node, RecvNode) and not self.inst.peers(me, node.frm):
                nxt = node.next
            elif isinstance(node, OfferNode) and isinstance(node.frm, PeerFamily) and not self.inst.peers(me, node.frm):
                nxt = node.branches[0].next  # an empty collection that may fail: nobody to fail
            elif isinstance(node, DecideNode) and aux == 0:
                return th
            elif isinstance(node, ForkNode):
                if not isinstance(aux, tuple):
                    aux = tuple(self.goto(p, b, loops) for b in node.branches)
                if all(isinstance(self.nodes[p][c[0]], BranchEndNode) for c in aux):
                    assert node.join is not None
                    nxt = node.join
                else:
                    return (sid, loops, aux)
            if nxt is None:
                return th
            th = (nxt.node.sid, self._ops(loops, nxt.ops), 0)

    def at_end(self, p: int, th: Thread) -> bool:
        return isinstance(self.nodes[p][th[0]], EndNode)

    # -- moves

    def moves(self, state: State) -> tuple[list[_Move], Finding | None]:
        threads, chans = state
        out: list[_Move] = []
        for p in range(self.n):
            for m in self._thread_moves(p, threads[p], chans):
                if isinstance(m, Finding):
                    return out, m
                out.append(m)
        return out, None

    def _thread_moves(self, p: int, th: Thread, chans: tuple[tuple[str, ...], ...]) -> Iterator[_Move | Finding]:
        sid, loops, aux = th
        node = self.nodes[p][sid]
        me = self.inst.procs[p]
        if isinstance(node, ForkNode) and isinstance(aux, tuple):
            for i, child in enumerate(aux):
                for m in self._thread_moves(p, child, chans):
                    if isinstance(m, Finding):
                        yield m
                        continue
                    kids = (*aux[:i], m.thread, *aux[i + 1 :])
                    yield _Move(p, self.settle(p, (sid, loops, kids)), m.send, m.recv, m.step)
            return
        if aux == _DIVERGES:
            return
        n = self.n
        match node:
            case SendNode():
                assert node.next is not None
                to = self.inst.peers(me, node.to)
                i = aux if isinstance(aux, int) else 0
                q = to[i]
                if len(chans[p * n + q]) >= self.bounds.channel:
                    self.blocked_by_bound = True
                    return
                rest = self.goto(p, node.next, loops) if i + 1 == len(to) else (sid, loops, i + 1)
                name = self.inst.procs[q].name
                step = Step(me.name, "send", f"sends {node.message} to {name}", node.span, name, node.message)
                yield _Move(p, rest, (q, node.message), None, step)
            case RecvNode():
                assert node.next is not None
                yield from self._receive(p, me, node, node.message, node.next, aux, chans, sid, loops)
            case OfferNode() if isinstance(node.frm, PeerFamily):
                # A collection with a failure branch: with nobody failing, a collection.
                ok = node.branches[0]
                yield from self._receive(p, me, node, ok.message, ok.next, aux, chans, sid, loops)
            case OfferNode():
                (q,) = self.inst.peers(me, node.frm)[:1] or (p,)
                chan = chans[q * n + p]
                if not chan:
                    return
                for b in node.branches:
                    if b.message == chan[0]:
                        yield _Move(p, self.goto(p, b.next, loops), None, q, self._recv_step(p, q, b.message, node.span))
                        return
                yield self._unspecified(p, q, chan[0], [b.message for b in node.branches], node)
            case SelectNode():
                for sb in node.branches:
                    step = Step(me.name, "choose", f"chooses branch '{sb.label}'", sb.span)
                    yield _Move(p, self.goto(p, sb.next, loops), None, None, step)
            case DecideNode():
                yield from self._decide(p, th, node, chans)
            case DecidedNode():
                assert node.body is not None and node.exit is not None
                (q,) = self.inst.peers(me, node.frm)
                chan = chans[q * n + p]
                if not chan:
                    return
                if chan[0] not in (_CONTINUE, _EXIT):
                    yield self._unspecified(p, q, chan[0], [_CONTINUE, _EXIT], node)
                    return
                nxt = node.body if chan[0] == _CONTINUE else node.exit
                yield _Move(p, self.goto(p, nxt, loops), None, q, self._recv_step(p, q, chan[0], node.span))

    def _decide(self, p: int, th: Thread, node: DecideNode, chans: tuple[tuple[str, ...], ...]) -> Iterator[_Move]:
        """aux 0: not decided yet; 1 + 2*i + e: decided (e=1: exit), i peers told."""
        sid, loops, aux = th
        me = self.inst.procs[p]
        assert node.body is not None and node.exit is not None and isinstance(aux, int)
        told = [q for peer in node.inform for q in self.inst.peers(me, peer) if q != p]
        if aux == 0:
            for e, word in ((0, "go on"), (1, "leave")):
                step = Step(me.name, "choose", f"decides to {word} the loop", node.span)
                nxt = (sid, loops, 1 + e) if told else self.goto(p, node.exit if e else node.body, loops)
                yield _Move(p, nxt, None, None, step)
            return
        e, i = (aux - 1) % 2, (aux - 1) // 2
        q = told[i]
        if len(chans[p * self.n + q]) >= self.bounds.channel:
            self.blocked_by_bound = True
            return
        label = _EXIT if e else _CONTINUE
        if i + 1 == len(told):
            rest = self.goto(p, node.exit if e else node.body, loops)
        else:
            rest = (sid, loops, aux + 2)
        name = self.inst.procs[q].name
        yield _Move(p, rest, (q, label), None, Step(me.name, "send", f"sends {label} to {name}", node.span, name, label))

    def _receive(
        self, p: int, me: _Proc, node: RecvNode | OfferNode, message: str, nxt: Target,
        aux: object, chans: tuple[tuple[str, ...], ...], sid: int, loops: tuple[int, ...],
    ) -> Iterator[_Move | Finding]:
        """One receive of ``message`` from the next member ``node.frm`` names (``aux`` counts
        the members taken so far), going to ``nxt`` after the last."""
        frm = self.inst.peers(me, node.frm)
        i = aux if isinstance(aux, int) else 0
        q = frm[i]
        chan = chans[q * self.n + p]
        if not chan:
            return
        if chan[0] != message:
            yield self._unspecified(p, q, chan[0], [message], node)
            return
        rest = self.goto(p, nxt, loops) if i + 1 == len(frm) else (sid, loops, i + 1)
        yield _Move(p, rest, None, q, self._recv_step(p, q, message, node.span))

    def _recv_step(self, p: int, q: int, message: str, span: Span) -> Step:
        name = self.inst.procs[q].name
        return Step(self.inst.procs[p].name, "recv", f"receives {message} from {name}", span, name, message)

    def _unspecified(self, p: int, q: int, got: str, want: list[str], node: Node) -> Finding:
        who, frm = self.inst.procs[p].name, self.inst.procs[q].name
        return Finding(
            "unspecified-reception",
            f"{who} waits for {' or '.join(want)} from {frm} but the next message from {frm} is {got}",
            (),
            node.span,
        )

    # -- waiting

    def waits(self, p: int, th: Thread) -> Iterator[tuple[str, Span]]:
        """What a process not at End is stuck on, readably."""
        sid, _, aux = th
        node = self.nodes[p][sid]
        me = self.inst.procs[p]
        if isinstance(node, ForkNode) and isinstance(aux, tuple):
            for c in aux:
                yield from self.waits(p, c)
            return
        if aux == _DIVERGES:
            yield f"{me.name} loops forever without acting", node.span
            return
        i = aux if isinstance(aux, int) else 0
        match node:
            case RecvNode():
                q = self.inst.procs[self.inst.peers(me, node.frm)[i]].name
                yield f"{me.name} waits for {node.message} from {q}", node.span
            case OfferNode():
                q = self.inst.procs[self.inst.peers(me, node.frm)[i if isinstance(node.frm, PeerFamily) else 0]].name
                yield f"{me.name} waits for {' or '.join(b.message for b in node.branches)} from {q}", node.span
            case DecidedNode():
                q = self.inst.procs[self.inst.peers(me, node.frm)[0]].name
                yield f"{me.name} waits to be told by {q} whether the loop goes on", node.span
            case SendNode():
                yield f"{me.name} cannot send {node.message} (channel full)", node.span
            case BranchEndNode():
                return
            case _:
                yield f"{me.name} is stuck", node.span

    # -- search

    def run(self) -> InstanceReport:
        started = time.monotonic()
        deadline = started + self.bounds.max_seconds
        init_threads = tuple(self.goto(p, Target(m.machine.start, m.machine.entry_ops), ()) for p, m in enumerate(self.inst.procs))
        init: State = (init_threads, ((),) * (self.n * self.n))
        index: dict[State, int] = {init: 0}
        states: list[State] = [init]
        parent: list[tuple[int, Step | None]] = [(-1, None)]
        succs: list[list[int]] = []
        queue: deque[int] = deque([0])
        finals: list[int] = []
        transitions = 0
        inconclusive = ""
        truncated = False  # a bound stopped the search: the graph is partial

        def report(kind: FindingKind, message: str, at: int, span: Span | None) -> InstanceReport:
            trace = self._trace(parent, at)
            return InstanceReport(
                self.inst.name, "violation", len(states), transitions, time.monotonic() - started,
                Finding(kind, message, trace, span), "", tuple(p.name for p in self.inst.procs),
            )

        while queue:
            sid = queue.popleft()
            state = states[sid]
            threads = state[0]
            if len(states) > self.bounds.max_states:
                inconclusive = f"state bound {self.bounds.max_states} reached"
                truncated = True
                break
            if sid & 255 == 0 and time.monotonic() > deadline:
                inconclusive = f"time bound {self.bounds.max_seconds:g} s reached"
                truncated = True
                break
            orphan = self._orphan(state)
            if orphan is not None:
                return report("orphan", orphan[0], sid, orphan[1])
            self.blocked_by_bound = False
            moves, bad = self.moves(state)
            if bad is not None:
                return report(bad.kind, bad.message, sid, bad.span)
            if not moves:
                succs.append([])
                if all(self.at_end(p, th) for p, th in enumerate(threads)):
                    finals.append(sid)
                    continue
                if self.blocked_by_bound:
                    finals.append(sid)  # not known to be stuck: no "cannot reach End" from it
                    inconclusive = f"channel bound {self.bounds.channel} reached (a send waits for room)"
                    continue
                stuck = [w for p, th in enumerate(threads) if not self.at_end(p, th) for w in self.waits(p, th)]
                text = "; ".join(w for w, _ in stuck) or "no process can move"
                return report("deadlock", text, sid, stuck[0][1] if stuck else None)
            chosen = self._ample(moves) if self.bounds.reduce else moves
            targets = [self._apply(state, m) for m in chosen]
            if len(chosen) < len(moves) and any(t in index for t in targets):
                chosen, targets = moves, [self._apply(state, m) for m in moves]
            out = []
            for m, t in zip(chosen, targets, strict=True):
                transitions += 1
                j = index.get(t)
                if j is None:
                    j = len(states)
                    index[t] = j
                    states.append(t)
                    parent.append((sid, m.step))
                    queue.append(j)
                out.append(j)
            succs.append(out)
        elapsed = time.monotonic() - started
        if truncated:
            return InstanceReport(self.inst.name, "inconclusive", len(states), transitions, elapsed, None, inconclusive)
        # Every state explored: which of them can still end the session? (BFS order, so the
        # first state that cannot has the shortest trace.)
        if not finals and not inconclusive:
            # No path ends at all: the spec loops for ever by design (a ring, a server
            # loop). No deadlock or orphan was found, which is all there is to check.
            note = "the session never ends (every path loops)"
            return InstanceReport(self.inst.name, "verified", len(states), transitions, elapsed, None, note)
        can_end = self._coreachable(succs, finals, len(states))
        for i, ok in enumerate(can_end):
            if not ok:
                threads = states[i][0]
                roles = [self.inst.procs[p].name for p, th in enumerate(threads) if not self.at_end(p, th)]
                return report(
                    "cannot-reach-end",
                    f"from this state {', '.join(roles)} can never reach End",
                    i,
                    None,
                )
        if inconclusive:
            return InstanceReport(self.inst.name, "inconclusive", len(states), transitions, elapsed, None, inconclusive)
        return InstanceReport(self.inst.name, "verified", len(states), transitions, elapsed, None, self._failure_note())

    def _failure_note(self) -> str:
        """Failure branches (crash-stop) are not explored: a run where a role crashes would
        need the crash modelled; only runs where no role fails are checked, and we say so."""
        for nodes in self.nodes:
            for node in nodes:
                if isinstance(node, OfferNode) and any(b.message == FAILED for b in node.branches):
                    return "failure branches (on_failure) not explored: only runs where no role fails are checked"
        return ""

    def _orphan(self, state: State) -> tuple[str, Span] | None:
        threads, chans = state
        for p, th in enumerate(threads):
            if not self.at_end(p, th):
                continue
            for q in range(self.n):
                chan = chans[q * self.n + p]
                if chan:
                    who, frm = self.inst.procs[p].name, self.inst.procs[q].name
                    span = self.inst.procs[p].machine.end.span
                    return f"{who} has reached End with {chan[0]} from {frm} never received", span
        return None

    def _ample(self, moves: list[_Move]) -> list[_Move]:
        """The moves of the process with the fewest (see the module docstring)."""
        by: dict[int, list[_Move]] = {}
        for m in moves:
            by.setdefault(m.proc, []).append(m)
        return min(by.values(), key=len)

    def _apply(self, state: State, m: _Move) -> State:
        threads, chans = state
        new_threads = (*threads[: m.proc], m.thread, *threads[m.proc + 1 :])
        if m.send is None and m.recv is None:
            return new_threads, chans
        cl = list(chans)
        if m.send is not None:
            q, label = m.send
            c = m.proc * self.n + q
            cl[c] = (*cl[c], label)
        if m.recv is not None:
            c = m.recv * self.n + m.proc
            cl[c] = cl[c][1:]
        return new_threads, tuple(cl)

    @staticmethod
    def _coreachable(succs: list[list[int]], finals: list[int], n: int) -> list[bool]:
        preds: list[list[int]] = [[] for _ in range(n)]
        for i, out in enumerate(succs):
            for j in out:
                preds[j].append(i)
        ok = [False] * n
        stack = list(finals)
        for f in finals:
            ok[f] = True
        while stack:
            j = stack.pop()
            for i in preds[j]:
                if not ok[i]:
                    ok[i] = True
                    stack.append(i)
        return ok

    @staticmethod
    def _trace(parent: list[tuple[int, Step | None]], at: int) -> tuple[Step, ...]:
        steps: list[Step] = []
        while at > 0:
            at, step = parent[at]
            if step is not None:
                steps.append(step)
        return tuple(reversed(steps))


# ---------------------------------------------------------------- entry points


def verify_locals(protocol: Protocol, locals_: Mapping[str, LocalType], bounds: Bounds = Bounds()) -> VerifyReport:
    """Explore every instantiation of ``protocol`` within ``bounds``; stops at the first
    instantiation with a violation (the smallest, as they are tried smallest first)."""
    machines: dict[str, StateMachine] = {}
    for name, lt in locals_.items():
        try:
            machines[name] = build(lt)
        except FsmError as exc:
            finding = Finding("bad-machine", f"{name}: {exc}", (), exc.span)
            return VerifyReport(protocol.name, (InstanceReport("any", "violation", 0, 0, 0.0, finding),))
    decls = [(r.name, r.kind, r.size) for r in protocol.roles if r.name in machines]
    reports: list[InstanceReport] = []
    skipped: list[str] = []
    for name, values, sizes in _with_choices(locals_, instances(decls, [p.name for p in protocol.params], bounds)):
        if len(reports) >= bounds.max_instances:
            break
        procs: list[_Proc] = []
        for role, kind, _ in decls:
            if kind == "single":
                procs.append(_Proc(role, None, machines[role]))
            else:
                procs.extend(_Proc(role, i, machines[role]) for i in range(sizes[role]))
        inst = _Instance(name, values, sizes, procs)
        try:
            rep = _Explorer(inst, bounds).run()
        except _NotApplicable:
            skipped.append(name)
            continue
        reports.append(rep)
        if rep.outcome == "violation":
            break
    return VerifyReport(protocol.name, tuple(reports), tuple(skipped))


def _chooses(body: Sequence[LStmt]) -> Iterator[LChoose]:
    for s in body:
        match s:
            case LChoose():
                yield s
                yield from _chooses(s.it)
                yield from _chooses(s.other)
            case LRec(body=b) | LLoop(body=b) | LDecideLoop(body=b):
                yield from _chooses(b)
            case LSelect():
                yield from _chooses(s.others)
                for br in s.branches:
                    yield from _chooses(br.body)
            case LOffer(branches=obs):
                for ob in obs:
                    yield from _chooses(ob.body)
            case LParallel(branches=pbs):
                for pb in pbs:
                    yield from _chooses(pb)


def _with_choices(
    locals_: Mapping[str, LocalType], insts: Iterator[tuple[str, dict[str, int], dict[str, int]]]
) -> Iterator[tuple[str, dict[str, int], dict[str, int]]]:
    """Each instantiation once per member each role chosen at run time may fall on (the
    chosen index is bound like a parameter, under the role's name)."""
    # One index per chosen role for the whole run: a role chosen again in a loop keeps it.
    # A chosen set is bound as the bitmask of its members, one per subset of its size.
    chooses = list(dict.fromkeys((s.role, s.family, s.size) for lt in locals_.values() for s in _chooses(lt.body)))
    for name, values, sizes in insts:
        ranges = [_picks(sizes.get(family, 0), size, values) for _, family, size in chooses]
        for picks in itertools.product(*ranges):
            extra = dict(zip((role for role, _, _ in chooses), picks, strict=True))
            label = ", ".join([name, *(_pick_text(r, f, z, i) for (r, f, z), i in zip(chooses, picks, strict=True))])
            yield label if chooses else name, {**values, **extra}, sizes


def _picks(n: int, size: Bound | None, values: Mapping[str, int]) -> list[int]:
    """What a choice among ``n`` members may fall on: an index, or for a set of ``size`` the
    bitmask of each subset of that size."""
    if size is None:
        return list(range(n))
    k = size if isinstance(size, int) else values.get(size, 0)
    return [sum(1 << i for i in c) for c in itertools.combinations(range(n), k)]


def _pick_text(role: str, family: str, size: Bound | None, pick: int) -> str:
    if size is None:
        return f"{role}={family}[{pick}]"
    return f"{role}={family}{[i for i in range(pick.bit_length()) if (pick >> i) & 1]}"


def verify_text(
    text: str, filename: str, bounds: Bounds = Bounds()
) -> tuple[VerifyReport | None, list[Diagnostic]]:
    """Compile and verify. Errors of projection (M303 and friends) do not stop the
    exploration: the machines are explored as projected, to show what goes wrong. Returns
    (report, diagnostics that stopped it); the report is None when the spec does not even
    load, parse and validate."""
    root, diags = load(text, filename)
    if root is None:
        return None, diags
    protocol, pdiags = parse(root, filename)
    diags.extend(pdiags)
    if protocol is None:
        return None, diags
    if protocol.imports:
        protocol, import_diags, _ = resolve_imports(protocol, lambda p: project_all(p)[1])
        diags.extend(import_diags)
    diags.extend(validate(protocol))
    blocking = [d for d in diags if d.severity == "error"]
    if blocking:
        return None, blocking
    if protocol.library:
        return _verify_library(protocol, bounds)
    locals_, pdiags = project_all(protocol)
    if not locals_:
        return None, [d for d in pdiags if d.severity == "error"]
    return verify_locals(protocol, locals_, bounds), []


def _verify_library(protocol: Protocol, bounds: Bounds) -> tuple[VerifyReport | None, list[Diagnostic]]:
    """A library has no roles of its own: each of its sub-protocols is explored alone, its
    instances named after it."""
    instances: list[InstanceReport] = []
    skipped: list[str] = []
    for s in protocol.subprotocols:
        if s.origin is not None:
            continue
        alone = replace(protocol, name=s.name, span=s.span, roles=s.roles, body=s.body, library=False)
        locals_, pdiags = project_all(alone)
        if not locals_:
            return None, [d for d in pdiags if d.severity == "error"]
        r = verify_locals(alone, locals_, bounds)
        instances += [replace(i, name=f"{s.name}: {i.name}") for i in r.instances]
        skipped += [f"{s.name}: {k}" for k in r.skipped]
    return VerifyReport(protocol.name, tuple(instances), tuple(skipped)), []


def verify_file(path: str, bounds: Bounds = Bounds()) -> tuple[VerifyReport | None, list[Diagnostic]]:
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except (OSError, UnicodeDecodeError) as exc:
        return None, [Diagnostic(UNREADABLE_FILE, Span(path, 0, 0), f"cannot read the spec: {exc}")]
    return verify_text(text, path, bounds)


def parse_range(text: str) -> tuple[int, ...]:
    """``"1..4"`` (inclusive) or ``"2"`` as the values to try; ValueError when malformed."""
    lo, sep, hi = text.partition("..")
    try:
        first, last = int(lo), int(hi) if sep else int(lo)
    except ValueError:
        raise ValueError(f"expected lo..hi or a number, got {text!r}") from None
    if first < 1 or last < first:
        raise ValueError(f"expected 1 <= lo <= hi, got {text!r}")
    return tuple(range(first, last + 1))


# ---------------------------------------------------------------- rendering


def render_trace(trace: Sequence[Step]) -> str:
    lines = []
    for i, s in enumerate(trace, 1):
        lines.append(f"  {i:>3}. {s.who} {s.text}  ({s.span})")
    return "\n".join(lines) if lines else "  (in the initial state)"


def mermaid(trace: Sequence[Step], participants: Sequence[str], finding: Finding | None = None) -> str:
    """The counterexample as a Mermaid sequence diagram: sends are asynchronous arrows,
    receives and choices notes over their process."""
    out = ["sequenceDiagram"]
    out.extend(f"    participant {_mid(p)} as {p}" for p in participants)
    for s in trace:
        if s.kind == "send":
            out.append(f"    {_mid(s.who)}-){_mid(s.peer)}: {s.message}")
        elif s.kind == "recv":
            out.append(f"    Note over {_mid(s.who)}: receives {s.message} from {s.peer}")
        else:
            out.append(f"    Note over {_mid(s.who)}: {s.text}")
    if finding is not None and participants:
        over = _mid(participants[0]) if len(participants) == 1 else f"{_mid(participants[0])},{_mid(participants[-1])}"
        out.append(f"    Note over {over}: {finding.kind}: {finding.message.replace(';', ',')}")
    return "\n".join(out)


def _mid(name: str) -> str:
    return name.replace("[", "_").replace("]", "")


def participants(trace: Sequence[Step], processes: Sequence[str] = ()) -> list[str]:
    seen: dict[str, None] = dict.fromkeys(processes)
    for s in trace:
        seen.setdefault(s.who)
        if s.peer:
            seen.setdefault(s.peer)
    return list(seen)


def render_report(report: VerifyReport, path: str, with_mermaid: bool = False) -> str:
    lines: list[str] = []
    n = len(report.instances)
    if report.outcome == "verified":
        notes = sorted({i.reason for i in report.instances if i.reason})
        lines.append(
            f"verified: {path} ({n} instance{'s' if n != 1 else ''}, {report.states} states, {report.seconds:.2f} s)"
            + "".join(f"; {note}" for note in notes)
        )
        return "\n".join(lines)
    for inst in report.instances:
        if inst.outcome == "inconclusive":
            lines.append(f"inconclusive at bound: {path} [{inst.name}]: {inst.reason} after {inst.states} states")
        if inst.finding is not None:
            f = inst.finding
            where = f"{f.span}: " if f.span is not None and f.span.line else ""
            lines.append(f"{where}error: {f.kind}: {path} [{inst.name}]: {f.message}")
            lines.append("  shortest trace:")
            lines.append(render_trace(f.trace))
            if with_mermaid:
                lines.append(mermaid(f.trace, participants(f.trace, inst.processes), f))
    if not report.instances:
        lines.append(f"inconclusive at bound: {path}: no instantiation within the bounds")
    return "\n".join(lines)

"""Roles chosen at run time (``choose R from F[*] by Step(Msg)``): the projection rules.

After the choice, references to ``R`` are ``F[Chosen(R)]`` (the parser reads them so), so the
members of ``F`` project the rest of the block like any member-indexed step, with
``OnlyIndex(Chosen(R))`` on what the chosen member does and ``OnlyIndex(Chosen(R),
exclude=True)`` on what the others do. ``split`` resolves those conditions twice: once as the
chosen member (``LChoose.it``) and once as any other (``LChoose.other``), so each member's
state splits once, at the choice, instead of at every step the chosen member takes.

Knowledge of the choice (M408): every member computes the index from the messages the spec
names, so each of those must have reached every member of ``F`` before the choice, on every
path (``known``); and a role outside ``F`` never learns the index, so it may not meet ``R``
(``outsiders``). A choice may stand in any block but a parallel branch (validation, M407).

A set chosen at run time (``choose Signers[t] from F[*] ...``) is ``F[IndexAll(within=
"Signers")]``: its steps are marked ``OnlySet("Signers")`` (members in it), with ``exclude``
(members not in it) or ``but=R`` (members in it but the one chosen as ``R``), and ``split``
resolves them the same way, once in the set and once outside it. A role outside ``F`` told
the choice (``announce to``) learns it at the choice and may meet the chosen ones after.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from typing import Final

from codegen.core.ast import (
    Broadcast,
    Choice,
    Choose,
    Chosen,
    IndexAll,
    IndexVar,
    Interaction,
    Loop,
    Parallel,
    Rec,
    Stmt,
)
from codegen.core.diagnostics import CHOICE_NOT_KNOWN, Diagnostic
from codegen.core.local import (
    LBranch,
    LChoose,
    LDecideLoop,
    LLocal,
    LLoop,
    LOffer,
    LOfferBranch,
    LParallel,
    LPeer,
    LRec,
    LRecv,
    LSelect,
    LSend,
    LStmt,
    MemberSel,
    OnlyIndex,
    OnlySet,
    PeerFamily,
    PeerMember,
)

__all__ = ["known", "outsiders", "split"]


def _mine(only: MemberSel | None, role: str) -> bool | None:
    """Whether ``only`` is about ``role``'s member: True for it alone, False for all but it."""
    if isinstance(only, OnlyIndex) and isinstance(only.index, Chosen) and only.index == role:
        return not only.exclude
    return None


# What ``_resolve`` says of a step's condition: not about this choice, or not on this side.
_KEEP: Final = object()
_DROP: Final = object()


def _resolve(only: MemberSel | None, role: str, it: bool) -> MemberSel | object | None:
    """A condition about a chosen set (``OnlySet``) resolved on one side of a choice of
    ``role``: ``_DROP`` (this side does not take the step), the condition left (None: all
    take it) or ``_KEEP`` (the condition is not about ``role``)."""
    if not isinstance(only, OnlySet):
        return _KEEP
    if only.name == role:  # the set itself: in it (it) or not
        if only.exclude == it:
            return _DROP
        return None if only.but is None else OnlyIndex(Chosen(only.but), exclude=True)
    if only.but == role:  # "in the set but not the member chosen as role"
        return _DROP if it else OnlySet(only.name, only.exclude)
    return _KEEP


def split(body: tuple[LStmt, ...], role: str, it: bool) -> tuple[LStmt, ...]:
    """``body`` as the member chosen as ``role`` (``it``) or as any other member runs it
    (for a chosen set: as a member of it or not)."""
    out: list[LStmt] = []
    for s in body:
        match s:
            case LSend(only=o) | LRecv(only=o) | LLocal(only=o) | LOffer(only=o) | LDecideLoop(only=o) if (
                r := _resolve(o, role, it)
            ) is not _KEEP:
                if r is _DROP:
                    continue
                assert r is None or isinstance(r, OnlyIndex | OnlySet)
                s = dataclasses.replace(s, only=r)
            case LSelect(only=o, others=others) if (m := _mine(o, role)) is not None:
                # A choice at the chosen member (m is True: exclusions never mark a select).
                if m == it:
                    out.append(LSelect(_branches(s.branches, role, it), s.span))
                else:
                    out.extend(split(others, role, it))
                continue
            case LSend(only=o) | LRecv(only=o) | LLocal(only=o) | LOffer(only=o) | LDecideLoop(only=o) if (
                m := _mine(o, role)
            ) is not None:
                if m != it:
                    if isinstance(s, LOffer):
                        # A failure branch on a receive from the chosen member: it does ``others``.
                        out.extend(split(s.others, role, it))
                    continue
                s = dataclasses.replace(s, only=None, others=()) if isinstance(s, LOffer) else dataclasses.replace(s, only=None)
        out.append(_inner(s, role, it))
    return tuple(out)


def _branches(bs: tuple[LBranch, ...], role: str, it: bool) -> tuple[LBranch, ...]:
    return tuple(LBranch(b.label, split(b.body, role, it), b.span, b.guard) for b in bs)


def _inner(s: LStmt, role: str, it: bool) -> LStmt:
    """``s`` with its nested bodies split."""
    match s:
        case LRec(body=b) | LLoop(body=b) | LDecideLoop(body=b):
            return dataclasses.replace(s, body=split(b, role, it))
        case LOffer(branches=obs):
            return dataclasses.replace(
                s, branches=tuple(LOfferBranch(ob.message, ob.labels, split(ob.body, role, it)) for ob in obs)
            )
        case LSelect():
            return dataclasses.replace(s, branches=_branches(s.branches, role, it), others=split(s.others, role, it))
        case LParallel(branches=pbs):
            return dataclasses.replace(s, branches=tuple(split(b, role, it) for b in pbs))
        case LChoose():
            return dataclasses.replace(s, it=split(s.it, role, it), other=split(s.other, role, it))
    return s


def _received_by_all(s: Stmt, family: str) -> Iterator[str]:
    """Messages ``s`` certainly delivers to every member of ``family`` (or has every member
    send to all the others, which leaves each holding every member's value)."""
    match s:
        case Interaction(sender=a, receiver=b):
            if b.name == family and isinstance(b.index, IndexAll) and a.name != family:
                yield s.message
            elif (
                a.name == b.name == family and isinstance(a.index, IndexVar) and isinstance(b.index, IndexVar)
                and a.index.within is None  # all-to-all within a chosen set reaches its members only
            ):
                yield s.message
        case Broadcast(sender=a) if a.name != family or a.index is not None:
            yield s.message
        case Parallel(branches=pbs):
            for pb in pbs:
                for x in pb:
                    yield from _received_by_all(x, family)


def known(body: tuple[Stmt, ...]) -> list[Diagnostic]:
    """M408 for each message a choice is computed from that does not certainly reach every
    member of its family before it: only the statements before it in its own block and in
    the blocks around it count (and parallel branches among them), not those of a choice,
    loop or rec that may not run, nor of an earlier round of a loop."""
    out: list[Diagnostic] = []
    _known(body, [], out)
    return out


def _known(body: tuple[Stmt, ...], seen: list[Stmt], out: list[Diagnostic]) -> None:
    """``seen``: the statements before ``body``; one list shared down the tree, grown by this
    block's statements and cut back on leaving it (a copy per block was quadratic)."""
    mark = len(seen)
    for s in body:
        match s:
            case Choose():
                got = {m for x in seen for m in _received_by_all(x, s.family.name)}
                for name, span in s.knowing:
                    if name not in got:
                        out.append(Diagnostic(
                            CHOICE_NOT_KNOWN,
                            span,
                            f"not every {s.family.name} member has received {name} when {s.role} is chosen, "
                            f"so the members could compute different {'sets' if s.size is not None else 'indices'}",
                            f"before the choice, send {name} to every member ({s.family.name}[*]) or all-to-all "
                            f"({s.family.name}[i] -> {s.family.name}[j]), outside any choice or loop",
                        ))
            case Choice(branches=bs):
                for br in bs:
                    _known(br.body, seen, out)
            case Rec(body=b) | Loop(body=b):
                _known(b, seen, out)
            case Parallel(branches=pbs):
                for pb in pbs:
                    _known(pb, seen, out)
        seen.append(s)
    del seen[mark:]


def _chosen_peer(p: LPeer) -> str | None:
    if isinstance(p, PeerFamily) and p.within is not None:
        return p.within
    return p.index if isinstance(p, PeerMember) and isinstance(p.index, Chosen) else None


def outsiders(
    role: str, family: str | None, body: tuple[LStmt, ...], out: list[Diagnostic], told: frozenset[str] = frozenset()
) -> bool:
    """M408 where ``role`` (not a member of the chosen roles' family ``family``) first meets a
    chosen member it was not told (``announce to``, in ``told`` once received on this path):
    it never learns which member that is. True once reported."""
    for s in body:
        peer: LPeer | None = None
        match s:
            case LSend(to=p):
                peer = p
            case LRecv(announce=str(name)):
                told = told | {name}
            case LRecv(frm=p) | LOffer(frm=p):
                peer = p
            case LDecideLoop(decider=p):
                peer = p
        name = _chosen_peer(peer) if peer is not None else None
        if name is not None and name not in told:
            out.append(Diagnostic(
                CHOICE_NOT_KNOWN,
                s.span,
                f"{role} does not know which {family or 'family'} "
                f"{'members were' if isinstance(peer, PeerFamily) else 'member was'} chosen as {name}",
                f"tell {role} the choice ('choose {name} ... announce to {role}'), "
                f"or let a {family or 'family'} member relay what {role} needs",
            ))
            return True
        nested: tuple[tuple[LStmt, ...], ...] = ()
        match s:
            case LRec(body=b) | LLoop(body=b) | LDecideLoop(body=b):
                nested = (b,)
            case LOffer(branches=obs):
                nested = tuple(ob.body for ob in obs)
            case LSelect(branches=bs):
                nested = tuple(b.body for b in bs)
            case LParallel(branches=pbs):
                nested = pbs
        if any(outsiders(role, family, b, out, told) for b in nested):
            return True
    return False

"""Merging one role's projections of the branches of a choice it does not make.

Plain merge: every branch looks the same to the role (ignoring spans). Full merge: the role
learns the branch from the label of its first receive, which must come from one sender;
receives of the same label from that sender merge recursively, sends must be identical and
End merges only with End.

Structural comparison goes through ``Shapes``: every local statement and sequence is
interned to an int once (memoised by object identity), so comparing two branch bodies is a
comparison of ints and the whole projection stays linear in the size of the protocol.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Literal

from codegen.core.local import (
    LBranch,
    LChoose,
    LContinue,
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
)
from codegen.core.span import Span
from codegen.core.text import describe, members_text, peer_text

LSeq = tuple[LStmt, ...]

# Unfolding a rec to find the first receive nests copies; valid specs need a handful.
_MAX_DEPTH = 200


MergeKind = Literal["untold", "senders"]


class MergeError(Exception):
    """Why a role cannot merge its branches; ``kind`` picks the fix hint: ``untold``, the role
    is not told which branch was taken; ``senders``, it is told by different senders."""

    def __init__(self, reason: str, kind: MergeKind = "untold") -> None:
        super().__init__(reason)
        self.reason = reason
        self.kind = kind


# ---------------------------------------------------------------- shapes


class Shapes:
    """Hash-consing of local statements, ignoring spans: equal shape id <=> same structure."""

    def __init__(self) -> None:
        self._ids: dict[object, int] = {}
        self._memo: dict[int, tuple[object, int]] = {}

    def _intern(self, key: object) -> int:
        found = self._ids.get(key)
        if found is None:
            found = len(self._ids)
            self._ids[key] = found
        return found

    def seq(self, body: Sequence[LStmt]) -> int:
        hit = self._memo.get(id(body))
        if hit is not None and hit[0] is body:
            return hit[1]
        sid = self._intern(("seq", *(self.stmt(s) for s in body)))
        self._memo[id(body)] = (body, sid)
        return sid

    def stmt(self, s: LStmt) -> int:
        hit = self._memo.get(id(s))
        if hit is not None and hit[0] is s:
            return hit[1]
        key: object
        match s:
            case LSend():
                key = ("send", s.to, s.message, s.annotations, s.only)
            case LRecv():
                key = ("recv", s.frm, s.message, s.annotations, s.only)
            case LSelect():
                key = (
                    "select",
                    tuple((b.label, b.guard.source if b.guard else None, self.seq(b.body)) for b in s.branches),
                    s.only,
                    self.seq(s.others),
                )
            case LOffer():
                key = (
                    "offer",
                    s.frm,
                    tuple((b.message, b.labels, self.seq(b.body)) for b in s.branches),
                    s.only,
                    self.seq(s.others),
                )
            case LRec():
                key = ("rec", s.name, self.seq(s.body))
            case LContinue():
                key = ("continue", s.name)
            case LLoop():
                key = ("loop", s.count, self.seq(s.body))
            case LDecideLoop():
                key = ("decide", s.decider, s.inform, self.seq(s.body))
            case LParallel():
                key = ("par", tuple(self.seq(b) for b in s.branches))
            case LLocal():
                key = ("local", s.step, s.only)
            case LChoose():
                key = ("choose", s.role, s.family, s.step, s.size, s.announce, self.seq(s.it), self.seq(s.other))
        sid = self._intern(key)
        self._memo[id(s)] = (s, sid)
        return sid


# ---------------------------------------------------------------- free continues


class FreeNames:
    """Recursion variables free in local statements (memoised by identity)."""

    def __init__(self) -> None:
        self._memo: dict[int, tuple[object, frozenset[str]]] = {}

    def seq(self, body: Sequence[LStmt]) -> frozenset[str]:
        out: frozenset[str] = frozenset()
        for s in body:
            if isinstance(s, LSend | LRecv | LLocal):  # most steps: nothing free, not worth a memo entry
                continue
            f = self.stmt(s)
            if f:
                out = out | f
        return out

    def stmt(self, s: LStmt) -> frozenset[str]:
        hit = self._memo.get(id(s))
        if hit is not None and hit[0] is s:
            return hit[1]
        out: frozenset[str]
        match s:
            case LSend() | LRecv() | LLocal():
                out = frozenset()
            case LContinue(name=name):
                out = frozenset((name,))
            case LRec(name=name, body=body):
                out = self.seq(body) - {name}
            case LSelect(branches=bs, others=others):
                out = self.seq(others).union(*(self.seq(b.body) for b in bs))
            case LOffer(branches=obs, others=others):
                out = self.seq(others).union(*(self.seq(b.body) for b in obs))
            case LLoop(body=body) | LDecideLoop(body=body):
                out = self.seq(body)
            case LParallel(branches=pbs):
                out = frozenset().union(*(self.seq(b) for b in pbs))
            case LChoose():
                out = self.seq(s.it) | self.seq(s.other)
        self._memo[id(s)] = (s, out)
        return out


def subst_continue(body: LSeq, name: str, repl: LStmt) -> LSeq:
    """``body`` with every free ``continue name`` replaced by ``repl`` (unfolding a rec)."""
    return tuple(_subst(s, name, repl) for s in body)


def splice_continue(body: LSeq, name: str, repl: LSeq) -> LSeq:
    """``body`` with every free ``continue name`` replaced by the steps ``repl`` (a continue
    ends its sequence, M310, so the steps go in its place at the end)."""
    if not body:
        return body
    *init, last = body
    head = tuple(_splice(s, name, repl) for s in init)
    if isinstance(last, LContinue) and last.name == name:
        return head + repl
    return (*head, _splice(last, name, repl))


def _splice(s: LStmt, name: str, repl: LSeq) -> LStmt:
    match s:
        case LRec(name=n) if n == name:
            return s  # shadowed
        case LRec(body=body) | LLoop(body=body) | LDecideLoop(body=body):
            return dataclasses.replace(s, body=splice_continue(body, name, repl))
        case LSelect(branches=bs, others=others):
            return dataclasses.replace(
                s,
                branches=tuple(dataclasses.replace(b, body=splice_continue(b.body, name, repl)) for b in bs),
                others=splice_continue(others, name, repl),
            )
        case LOffer(branches=obs, others=others):
            return dataclasses.replace(
                s,
                branches=tuple(dataclasses.replace(b, body=splice_continue(b.body, name, repl)) for b in obs),
                others=splice_continue(others, name, repl),
            )
        case LParallel(branches=pbs):
            return dataclasses.replace(s, branches=tuple(splice_continue(b, name, repl) for b in pbs))
    return s


def _subst(s: LStmt, name: str, repl: LStmt) -> LStmt:
    match s:
        case LContinue(name=n) if n == name:
            return repl
        case LRec(name=n) if n == name:
            return s  # shadowed
        case LRec(body=body) | LLoop(body=body) | LDecideLoop(body=body):
            return dataclasses.replace(s, body=subst_continue(body, name, repl))
        case LSelect(branches=bs, others=others):
            return dataclasses.replace(
                s,
                branches=tuple(dataclasses.replace(b, body=subst_continue(b.body, name, repl)) for b in bs),
                others=subst_continue(others, name, repl),
            )
        case LOffer(branches=obs, others=others):
            return dataclasses.replace(
                s,
                branches=tuple(dataclasses.replace(b, body=subst_continue(b.body, name, repl)) for b in obs),
                others=subst_continue(others, name, repl),
            )
        case LParallel(branches=pbs):
            return dataclasses.replace(s, branches=tuple(subst_continue(b, name, repl) for b in pbs))
    return s


# ---------------------------------------------------------------- merge


def merge_branches(
    seqs: Sequence[LSeq], labels: Sequence[str], shapes: Shapes, span: Span, idle_rec: str | None = None
) -> LSeq:
    """Merge one role's projections ``seqs`` of the branches ``labels``; raise MergeError.

    ``idle_rec``: the choice is the role's first step in ``rec idle_rec``, so a branch in
    which the role only does ``continue idle_rec`` comes back to this very merge: it adds
    nothing and is left out (the role simply keeps waiting; coinductive full merge)."""
    if not seqs:
        return ()
    if idle_rec is None:
        return _merge(list(seqs), list(labels), shapes, span, "", 0)
    pairs = list(zip(seqs, labels, strict=True))
    busy = [(s, lab) for s, lab in pairs if not (len(s) == 1 and isinstance(s[0], LContinue) and s[0].name == idle_rec)]
    if busy:
        pairs = busy
    return _merge([s for s, _ in pairs], [lab for _, lab in pairs], shapes, span, "", 0)


def _quote(labels: Sequence[str]) -> str:
    return ", ".join(f"'{lab}'" for lab in labels)


def _told_at_once(seqs: list[LSeq], labels: list[str], span: Span) -> LSeq | None:
    """The common case of a full merge, decided without comparing anything: every branch
    starts with a receive for all members, from one sender, each with its own message.
    Returns what ``_merge`` would build for it, or None when the case does not apply."""
    frm: LPeer | None = None
    messages: list[str] = []
    for s in seqs:
        head = s[0] if s else None
        if not isinstance(head, LRecv) or head.only is not None or head.message in messages:
            return None
        if frm is None:
            frm = head.frm
        elif head.frm is not frm and head.frm != frm:
            return None
        messages.append(head.message)
    if frm is None or len(seqs) == 1:
        return seqs[0] if seqs else None
    branches = tuple(LOfferBranch(m, (lab,), s) for m, lab, s in zip(messages, labels, seqs, strict=True))
    return (LOffer(frm, branches, span, None),)


def _merge(seqs: list[LSeq], labels: list[str], shapes: Shapes, span: Span, ctx: str, depth: int) -> LSeq:
    if depth > _MAX_DEPTH:
        raise MergeError(f"{ctx}its branches nest too deeply to compare")
    told = _told_at_once(seqs, labels, span)
    if told is not None:
        return told
    k = 0
    heads = {s[0].message for s in seqs if s and isinstance(s[0], LRecv)}
    if len(heads) < len(seqs):
        # Unless every branch starts with its own receive (the common case, decided at
        # once), compare: identical branches are shared, then identical leading steps.
        first = shapes.seq(seqs[0])
        if all(shapes.seq(s) == first for s in seqs[1:]):
            return seqs[0]
        n = min(len(s) for s in seqs)
        while k < n:
            h = shapes.stmt(seqs[0][k])
            if any(shapes.stmt(s[k]) != h for s in seqs[1:]):
                break
            k += 1
    prefix = seqs[0][:k]
    if k:
        ctx = f"{ctx}after the common step '{describe(prefix[-1])}', "
    ended = [i for i, s in enumerate(seqs) if len(s) == k]
    if ended:
        i = ended[0]
        j = next(j for j, s in enumerate(seqs) if len(s) > k)
        raise MergeError(
            f"{ctx}it is not told the branch: in branch '{labels[i]}' its part ends "
            f"but in branch '{labels[j]}' it must {describe(seqs[j][k])}"
        )
    forms = [_offer_form(s, k, depth) for s in seqs]
    for i, f in enumerate(forms):
        if f is None:
            j = next((j for j in range(len(seqs)) if j != i), i)
            hi, hj = seqs[i][k], seqs[j][k]
            if isinstance(hi, LSend | LSelect) and isinstance(hj, LSend | LSelect):
                raise MergeError(
                    f"{ctx}it acts differently without being told the branch: in branch '{labels[i]}' "
                    f"it must {describe(hi)}, in branch '{labels[j]}' {describe(hj)}",
                )
            raise MergeError(
                f"{ctx}it is not told the branch: in branch '{labels[i]}' it must first {describe(hi)}, "
                f"in branch '{labels[j]}' {describe(hj)}"
            )
    senders = [f[0] for f in forms if f is not None]
    for i, frm in enumerate(senders):
        if frm != senders[0]:
            raise MergeError(
                f"{ctx}it is told by different senders {peer_text(senders[0])} and {peer_text(frm)} "
                f"(branches '{labels[0]}' and '{labels[i]}')",
                "senders",
            )
    frm = senders[0]
    # A receive reserved to some members tells only them: fine if the others have nothing
    # left to do in any branch (they skip the whole offer: LOffer.only).
    onlys = {body[0].only for f in forms if f is not None for _, body in f[1] if isinstance(body[0], LRecv)}
    only: MemberSel | None = None
    if onlys != {None}:
        o = next(iter(onlys))
        if len(onlys) != 1 or o is None or any(filter_members(s[k:], o) for s in seqs):
            raise MergeError(
                f"{ctx}not every member is told the branch: the first message from {peer_text(frm)} "
                f"reaches {members_text(o) if len(onlys) == 1 and o is not None else 'different members'}"
            )
        only = o
    groups: dict[str, list[tuple[int, LSeq]]] = {}
    for i, f in enumerate(forms):
        assert f is not None
        for msg, body in f[1]:
            groups.setdefault(msg, []).append((i, body))
    branches: list[LOfferBranch] = []
    for msg, entries in groups.items():
        bodies = [b for _, b in entries]
        blabels = [labels[i] for i, _ in entries]
        head = bodies[0][0]
        if len(bodies) == 1:
            merged = bodies[0]
        else:
            hs = shapes.stmt(head)
            if any(shapes.stmt(b[0]) != hs for b in bodies[1:]):
                raise MergeError(
                    f"{ctx}it receives {msg} from {peer_text(frm)} with different annotations "
                    f"in branches {_quote(blabels)}"
                )
            tails = [b[1:] for b in bodies]
            sub = f"{ctx}after receiving {msg} from {peer_text(frm)} in branches {_quote(blabels)}, "
            merged = (head, *_merge(tails, blabels, shapes, span, sub, depth + 1))
        branches.append(LOfferBranch(msg, tuple(dict.fromkeys(blabels)), merged))
    if len(branches) == 1:
        return prefix + branches[0].body
    return (*prefix, LOffer(frm, tuple(branches), span, only))


def _offer_form(seq: LSeq, k: int, depth: int) -> tuple[LPeer, list[tuple[str, LSeq]]] | None:
    """The sequence from ``k`` as (sender, [(label, body starting with that receive)]), or
    None when it does not start with a receive. A leading rec is unfolded once."""
    s = seq[k]
    match s:
        case LRecv(frm=frm, message=m):
            return frm, [(m, seq[k:])]
        case LOffer(others=others) if others:
            return None  # told to one member, the others doing something else: kept whole
        case LOffer(frm=frm, branches=bs):
            rest = seq[k + 1 :]
            return frm, [(b.message, b.body + rest) for b in bs]
        case LRec(name=name, body=body) if depth < _MAX_DEPTH and body:
            unfolded = subst_continue(body, name, s) + seq[k + 1 :]
            return _offer_form(unfolded, 0, depth + 1)
    return None


def filter_members(body: LSeq, only: MemberSel) -> LSeq:
    """What the members outside ``only`` do: steps reserved to ``only`` are dropped."""
    out: list[LStmt] = []
    for s in body:
        match s:
            case LSend(only=o) | LRecv(only=o) | LLocal(only=o) if o == only:
                continue
            case LSelect(only=o, others=others) if o == only:
                out.extend(others)
                continue
            case LRec(body=b) | LLoop(body=b) | LDecideLoop(body=b):
                s = dataclasses.replace(s, body=filter_members(b, only))
            case LOffer(only=o, others=others) if o == only:
                out.extend(others)
                continue
            case LOffer(branches=obs, others=others):
                s = dataclasses.replace(
                    s,
                    branches=tuple(dataclasses.replace(ob, body=filter_members(ob.body, only)) for ob in obs),
                    others=filter_members(others, only),
                )
            case LSelect(branches=sbs, others=others):
                s = dataclasses.replace(
                    s,
                    branches=tuple(LBranch(b.label, filter_members(b.body, only), b.span, b.guard) for b in sbs),
                    others=filter_members(others, only),
                )
            case LParallel(branches=pbs):
                s = dataclasses.replace(s, branches=tuple(filter_members(b, only) for b in pbs))
        out.append(s)
    return tuple(out)

"""Projection: the global protocol seen from each role, as a local session type.

``project_all`` makes one pass over the global AST and builds the local statements of every
role at once (an interaction appends to its sender's and its receiver's sequences), so the
cost is linear in the size of the protocol, not in roles x size. Sequences are iterated
(long protocols do not deepen the Python stack); recursion follows nesting only. Compound
statements are projected only for the roles taking part in them; a ``continue X`` counts
as taking part for every role of ``rec X`` (a role that loops must be told whether it does).

Conventions the later stages rely on, beyond ``codegen.core.local``'s docstrings:

* broadcast from member ``F[k]``: the other members of ``F`` receive with
  ``only=OnlyIndex(k, exclude=True)``;
* a decided loop decided by member ``F[k]``: in ``F``'s local type an ``LDecideLoop`` with
  ``decider=None, only=OnlyIndex(k)``, followed (when the other members act in the body) by
  one with ``decider=PeerMember(F, k), only=OnlyIndex(k, exclude=True)``;
* a choice at member ``F[k]``: ``LSelect.only`` is ``OnlyIndex(k)`` and ``LSelect.others``
  is what the other members do.
"""

from __future__ import annotations

import dataclasses
import gc
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from codegen.core.ast import (
    Branch,
    Broadcast,
    Call,
    Choice,
    Choose,
    Chosen,
    Continue,
    IndexAll,
    IndexConst,
    IndexParam,
    IndexRange,
    IndexRing,
    IndexVar,
    Interaction,
    LocalStep,
    Loop,
    Parallel,
    Protocol,
    Rec,
    RoleDecl,
    RoleRef,
    Stmt,
    SubProtocol,
)
from codegen.core.diagnostics import (
    BAD_CHOSEN_ROLE,
    BAD_FAILURE_BRANCH,
    CALL_ROLE_MAPPING,
    FAILURE_NOT_INFORMED,
    LOOP_NOT_INFORMED,
    NOT_GENERABLE,
    UNDEFINED_ROLE,
    UNDEFINED_SUBPROTOCOL,
    UNMERGEABLE_BRANCHES,
    Diagnostic,
    DiagnosticError,
)
from codegen.core.local import (
    ANNOUNCE,
    FAILED,
    LBranch,
    LChoose,
    LContinue,
    LDecideLoop,
    LLocal,
    LLoop,
    LocalType,
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
    OnlyRange,
    OnlySet,
    PeerFamily,
    PeerMember,
    PeerOne,
    PeerRing,
)
from codegen.core.span import Span
from codegen.core.text import describe, ref_text
from codegen.frontend.compose import InstantiationError, bind_call, instantiate
from codegen.frontend.validate import starvation, walk
from codegen.projection.chosen import known, outsiders, split
from codegen.projection.merge import (
    FreeNames,
    LSeq,
    MergeError,
    Shapes,
    filter_members,
    merge_branches,
    splice_continue,
)

__all__ = ["project", "project_all"]

Out = dict[str, list[LStmt]]
Env = Mapping[str, frozenset[str]]  # rec name -> roles taking part in it
_EMPTY: frozenset[str] = frozenset()


def project_all(protocol: Protocol) -> tuple[dict[str, LocalType], list[Diagnostic]]:
    """One local type per declared role (a family: per member kind), in declaration order.
    A library has no roles: each of its own sub-protocols is projected on its own instead,
    for the diagnostics, and no local type is returned."""
    if protocol.library:
        diags: list[Diagnostic] = []
        for s in protocol.subprotocols:
            if s.origin is None:
                alone = dataclasses.replace(protocol, name=s.name, span=s.span, roles=s.roles, body=s.body, library=False)
                diags.extend(project_all(alone)[1])
        return {}, diags
    diags = []
    # The pass allocates many small acyclic objects: the cyclic GC would rescan the whole
    # heap (the AST included) again and again, tripling the time of large specs for nothing.
    gc_was_enabled = gc.isenabled()
    gc.disable()
    try:
        body = _Expander(protocol, diags).expand()
        if body is not protocol.body:
            # Recursive calls became recs: check them for starvation as validate does the
            # recs written out (those are unchanged, so nothing is reported twice).
            explicit = {id(s) for s in walk(protocol.body) if isinstance(s, Rec)}
            everyone = frozenset(r.name for r in protocol.roles)
            for s in walk(body):
                if isinstance(s, Rec) and id(s) not in explicit:
                    diags.extend(starvation(s, everyone))
        families = {s.family.name for s in walk(body) if isinstance(s, Choose)}
        if families:  # without a chosen role there is nothing to know (and a walk less)
            diags.extend(known(body))
        out = _Projector(protocol, diags).seq(body, {})
    except RecursionError:
        # Only absurdly deep nesting gets here; say so instead of crashing.
        diags.append(
            Diagnostic(NOT_GENERABLE, protocol.span, "the protocol nests too deeply to project", "flatten nested blocks")
        )
        return {}, diags
    finally:
        if gc_was_enabled:
            gc.enable()
    if families:
        for r, stmts in out.items():
            if r not in families:
                outsiders(r, next(iter(families)) if len(families) == 1 else None, tuple(stmts), diags)
    locals_: dict[str, LocalType] = {}
    for decl in protocol.roles:
        if decl.name not in locals_:
            body_r = tuple(out.get(decl.name, ()))
            locals_[decl.name] = LocalType(protocol.name, decl.name, decl.kind != "single", body_r)
    return locals_, diags


def project(protocol: Protocol, role: str) -> LocalType:
    """The local type of ``role``; raises DiagnosticError on any projection error."""
    locals_, diags = project_all(protocol)
    errors = [d for d in diags if d.severity == "error"]
    if errors:
        raise DiagnosticError(errors)
    lt = locals_.get(role)
    if lt is None:
        raise DiagnosticError([Diagnostic(UNDEFINED_ROLE, protocol.span, f"no role {role!r} in {protocol.name}")])
    return lt


# ---------------------------------------------------------------- peers


def _is_family(ref: RoleRef, decl: RoleDecl | None) -> bool:
    return ref.index is not None or (decl is not None and decl.kind != "single")


def _peer(ref: RoleRef, decl: RoleDecl | None) -> LPeer:
    """How a role reference looks as a peer from the other side of a step."""
    match ref.index:
        case IndexAll(within=w):
            return PeerFamily(ref.name, within=w)
        case IndexConst(value=v):
            return PeerMember(ref.name, v)
        case IndexParam(name=n):
            return PeerMember(ref.name, n)
        case IndexRange(lo=lo, hi=hi):
            return PeerFamily(ref.name, lo, hi)
        case IndexVar(within=w):
            return PeerFamily(ref.name, exclude_self=True, within=w)
    return PeerFamily(ref.name) if _is_family(ref, decl) else PeerOne(ref.name)


def _only(ref: RoleRef) -> MemberSel | None:
    """Which members of the referenced family take the step themselves (None: all)."""
    match ref.index:
        case IndexConst(value=v):
            return OnlyIndex(v)
        case IndexParam(name=n):
            return OnlyIndex(n)
        case IndexRange(lo=lo, hi=hi):
            return OnlyRange(lo, hi)
        case IndexAll(within=str(w)) | IndexVar(within=str(w)):
            return OnlySet(w)
    return None


def _rest_of(only: MemberSel, decl: RoleDecl) -> OnlyRange | None:
    """The range that is every member but ``only``, when it is one: ``F[1..N]`` beside
    ``F[0]`` in a family of ``N``."""
    if isinstance(only, OnlyIndex) and only.index == 0 and not only.exclude and decl.size is not None:
        return OnlyRange(1, decl.size)
    return None


def _widen(body: tuple[LStmt, ...], rest: OnlyRange) -> tuple[LStmt, ...]:
    """``body`` seen by the members other than one, where ``rest`` is all of them: a step
    reserved to ``rest`` is every such member's step (so a merge sees them all told)."""
    return tuple(_widen_one(s, rest) for s in body)


def _widen_one(s: LStmt, rest: OnlyRange) -> LStmt:
    changes: dict[str, object] = {}
    for f in dataclasses.fields(s):
        v = getattr(s, f.name)
        if f.name == "only" and v == rest:
            changes["only"] = None
        elif isinstance(v, tuple) and v and isinstance(v[0], LBranch | LOfferBranch):
            changes[f.name] = tuple(dataclasses.replace(b, body=_widen(b.body, rest)) for b in v)
        elif isinstance(v, tuple) and f.name in ("body", "others"):
            changes[f.name] = _widen(v, rest)
        elif f.name == "branches" and isinstance(s, LParallel):
            changes[f.name] = tuple(_widen(b, rest) for b in v)
    return dataclasses.replace(s, **changes) if changes else s  # type: ignore[arg-type]


def _chosen_of(ref: RoleRef) -> Chosen | None:
    """The chosen role ``ref`` names (``F[Chosen(R)]``), if it is one."""
    idx = ref.index
    return idx.name if isinstance(idx, IndexParam) and isinstance(idx.name, Chosen) else None


def _whole(decl: RoleDecl) -> LPeer:
    return PeerOne(decl.name) if decl.kind == "single" else PeerFamily(decl.name)


# ---------------------------------------------------------------- calls


@dataclass
class _Frame:
    key: tuple[str, tuple[tuple[str, str], ...]]
    target: str
    name: str
    args: str
    used: bool = False


@dataclass
class _Expander:
    """Inlines sub-protocol calls before projection; a recursive call with the same roles
    becomes rec/continue (only in tail position: anything else is not a regular protocol)."""

    protocol: Protocol
    diags: list[Diagnostic]
    subs: dict[str, SubProtocol] = field(init=False)
    rec_names: set[str] = field(init=False)
    decls: dict[str, RoleDecl] = field(init=False)
    params: frozenset[str] = field(init=False)

    def __post_init__(self) -> None:
        self.decls = {}
        for r in self.protocol.roles:
            self.decls.setdefault(r.name, r)
        self.params = frozenset(p.name for p in self.protocol.params)
        self.subs = {}
        for sub in self.protocol.subprotocols:
            self.subs.setdefault(sub.name, sub)
        self.rec_names = set()

    def expand(self) -> tuple[Stmt, ...]:
        if not self.protocol.subprotocols:
            return self.protocol.body  # nothing can be called: skip the walk
        for scope in (self.protocol.body, *(s.body for s in self.protocol.subprotocols)):
            self._collect_recs(scope)
        return self.seq(self.protocol.body, (), _EMPTY)

    def _collect_recs(self, stmts: Iterable[Stmt]) -> None:
        for s in stmts:
            match s:
                case Rec(name=name, body=body):
                    self.rec_names.add(name)
                    self._collect_recs(body)
                case Choice(branches=bs):
                    for b in bs:
                        self._collect_recs(b.body)
                case Loop(body=body):
                    self._collect_recs(body)
                case Parallel(branches=pbs):
                    for pb in pbs:
                        self._collect_recs(pb)

    def seq(self, stmts: tuple[Stmt, ...], stack: tuple[_Frame, ...], tails: frozenset[str]) -> tuple[Stmt, ...]:
        """``tails``: call frames for which the end of ``stmts`` is the end of the frame."""
        out: list[Stmt] = []
        changed = False
        last = len(stmts) - 1
        for i, s in enumerate(stmts):
            new = self.stmt(s, stack, tails if i == last else _EMPTY)
            if len(new) != 1 or new[0] is not s:
                changed = True
            out.extend(new)
        return tuple(out) if changed else stmts

    def stmt(self, s: Stmt, stack: tuple[_Frame, ...], tails: frozenset[str]) -> tuple[Stmt, ...]:
        match s:
            case Call():
                return self.call(s, stack, tails)
            case Choice(branches=bs):
                nbs = tuple(Branch(b.label, self.seq(b.body, stack, tails), b.span, b.guard) for b in bs)
                if all(nb.body is b.body for nb, b in zip(nbs, bs, strict=True)):
                    return (s,)
                return (Choice(s.at, nbs, s.span, s.failure),)
            case Rec(name=name, body=body):
                nb = self.seq(body, stack, tails)
                return (s,) if nb is body else (Rec(name, nb, s.span),)
            case Loop(body=body):
                nb = self.seq(body, stack, _EMPTY)
                return (s,) if nb is body else (Loop(nb, s.span, s.count, s.decides),)
            case Parallel(branches=pbs):
                npbs = tuple(self.seq(pb, stack, _EMPTY) for pb in pbs)
                if all(a is b for a, b in zip(npbs, pbs, strict=True)):
                    return (s,)
                return (Parallel(npbs, s.span),)
        return (s,)

    def call(self, c: Call, stack: tuple[_Frame, ...], tails: frozenset[str]) -> tuple[Stmt, ...]:
        sub = self.subs.get(c.target)
        if sub is None:
            self.diags.append(Diagnostic(UNDEFINED_SUBPROTOCOL, c.span, f"no sub-protocol named {c.target}"))
            return ()
        binding, problems = bind_call(c, sub, self.decls, self.params)
        if binding is None:
            self.diags.extend(problems)
            return ()
        key = (c.target, binding.key())
        args = ", ".join(ref_text(a) for a in c.args)
        for frame in stack:
            if frame.key == key:
                if frame.name not in tails:
                    self.diags.append(
                        Diagnostic(
                            NOT_GENERABLE,
                            c.span,
                            f"the recursive call to {c.target} is followed by more steps; "
                            "only a call in tail position can become a loop",
                            f"make `call {c.target}(...)` the last step of {c.target}, or use rec/continue",
                        )
                    )
                    return ()
                frame.used = True
                return (Continue(frame.name, c.span),)
            if frame.target == c.target:
                self.diags.append(
                    Diagnostic(
                        NOT_GENERABLE,
                        c.span,
                        f"{c.target} calls itself with roles ({args}) while it runs with ({frame.args}); "
                        "a recursive call must pass the same roles to become a loop",
                        "pass the same roles in the same order, or write the loop with rec/continue",
                    )
                )
                return ()
        try:
            body = instantiate(sub, binding)
        except InstantiationError as e:
            self.diags.append(Diagnostic(CALL_ROLE_MAPPING, c.span, f"in {c.target}: {e.message}", e.hint))
            self.diags.append(Diagnostic(CALL_ROLE_MAPPING, e.span, e.message, e.hint))
            return ()
        name = self._fresh(c.target)
        frame = _Frame(key, c.target, name, args)
        expanded = self.seq(body, (*stack, frame), tails | {name})
        if frame.used:
            return (Rec(name, expanded, c.span),)
        self.rec_names.discard(name)
        return expanded

    def _fresh(self, base: str) -> str:
        name, n = base, 2
        while name in self.rec_names:
            name, n = f"{base}{n}", n + 1
        self.rec_names.add(name)
        return name


# ---------------------------------------------------------------- projection


@dataclass
class _RecCtx:
    """A rec body being projected: its name, what follows the rec in the enclosing sequence
    (and the environment there), and the roles whose part of that a merge absorbed."""

    name: str
    block: tuple[Stmt, ...]
    start: int  # the rec is ``block[start - 1]``: sliced only when needed (a slice per rec was quadratic)
    env: Env
    absorbed: set[str] = field(default_factory=set)

    @property
    def after(self) -> tuple[Stmt, ...]:
        return self.block[self.start :]


class _Projector:
    def __init__(self, protocol: Protocol, diags: list[Diagnostic]) -> None:
        self.protocol = protocol
        self.diags = diags
        self.decls: dict[str, RoleDecl] = {}
        for r in protocol.roles:
            self.decls.setdefault(r.name, r)
        self.order = tuple(self.decls)
        self._rank = {name: i for i, name in enumerate(self.order)}
        # A role named without an index, as a peer: PeerOne, or the whole family.
        self._plain: dict[str, LPeer] = {n: _whole(d) for n, d in self.decls.items()}
        self.all_roles = frozenset(self.order)
        self.shapes = Shapes()
        self.free = FreeNames()
        # id(stmt) -> (stmt, roles, free recs); the stmt is kept so its id is not reused.
        self._parts: dict[int, tuple[Stmt, frozenset[str], frozenset[str]]] = {}

    # -- who takes part

    def parts(self, s: Stmt) -> tuple[frozenset[str], frozenset[str]]:
        """(roles acting in ``s``, rec names continued in ``s`` but bound outside it)."""
        hit = self._parts.get(id(s))
        if hit is not None and hit[0] is s:
            return hit[1], hit[2]
        roles: frozenset[str]
        free: frozenset[str] = _EMPTY
        match s:
            case Interaction(sender=a, receiver=b):
                roles = frozenset((a.name, b.name))
            case Broadcast():
                roles = self.all_roles
            case Continue(name=name):
                roles, free = _EMPTY, frozenset((name,))
            case LocalStep(role=r):
                roles = frozenset((r.name,))
            case Choose(family=r):
                roles = frozenset((r.name, *(x.name for x in s.announce)))
            case Choice(at=at, branches=bs):
                roles, free = self.parts_seq(b.body for b in bs)
                roles = roles | {at.name}
            case Rec(name=name, body=body):
                roles, free = self.parts_seq((body,))
                free = free - {name}
            case Loop(body=body):
                roles, free = self.parts_seq((body,))
            case Parallel(branches=pbs):
                roles, free = self.parts_seq(pbs)
            case _:
                roles = _EMPTY
        self._parts[id(s)] = (s, roles, free)
        return roles, free

    def parts_seq(self, bodies: Iterable[tuple[Stmt, ...]]) -> tuple[frozenset[str], frozenset[str]]:
        roles: set[str] = set()
        free: set[str] = set()
        for body in bodies:
            for s in body:
                if isinstance(s, Interaction):  # leaves are not memoised: most steps are these
                    roles.add(s.sender.name)
                    roles.add(s.receiver.name)
                    continue
                r, f = self.parts(s)
                roles |= r
                free |= f
        return frozenset(roles), frozenset(free)

    def in_order(self, roles: frozenset[str]) -> list[str]:
        """The declared roles among ``roles``, in declaration order. A compound statement
        usually involves a few of many roles: sorting those beats scanning every role."""
        rank = self._rank
        return sorted((r for r in roles if r in rank), key=rank.__getitem__)

    def eff(self, s: Stmt, env: Env) -> frozenset[str]:
        """Roles that must see ``s``: those acting in it and those of the recs it continues."""
        roles, free = self.parts(s)
        for name in free:
            roles = roles | env.get(name, _EMPTY)
        return roles

    # -- statements

    def seq(self, stmts: tuple[Stmt, ...], env: Env, head_of: str | None = None, ctx: _RecCtx | None = None) -> Out:
        """``head_of``: ``stmts`` is the body of that rec (see ``merge_branches``'s idle_rec);
        ``ctx`` then says what a choice ending that body may unfold (see ``_RecCtx``)."""
        out: Out = {}
        muted: dict[str, int] = {}  # roles whose part of the rest a rec absorbed: its length then
        last = len(stmts) - 1
        for i, s in enumerate(stmts):
            if isinstance(s, Interaction):  # the common case, kept inline
                self.interaction(s, out)
            elif isinstance(s, Choice):
                self.choice(s, env, out, head_of, ctx if i == last else None)
            elif isinstance(s, Rec):
                for r in self.rec(s, env, out, stmts, i + 1):
                    muted.setdefault(r, len(out.get(r, ())))
            elif isinstance(s, Choose):
                self.choose(s, stmts[i + 1 :], env, out)
                break  # the rest of the block is projected inside the choice
            else:
                self.stmt(s, env, out)
        for r, n in muted.items():
            del out[r][n:]
        return out

    def stmt(self, s: Stmt, env: Env, out: Out) -> None:
        match s:
            case Interaction():
                self.interaction(s, out)
            case Broadcast():
                self.broadcast(s, out)
            case Choice():
                self.choice(s, env, out, None, None)
            case Rec():
                self.rec(s, env, out, (), 0)
            case Continue(name=name):
                for r in env.get(name, _EMPTY):
                    out.setdefault(r, []).append(LContinue(name, s.span))
            case Loop():
                self.loop(s, env, out)
            case Parallel():
                self.parallel(s, env, out)
            case LocalStep(role=r):
                if self._known(r) is not None:
                    out.setdefault(r.name, []).append(LLocal(s.step, s.span, _only(r)))
            case Call():
                # _Expander inlined every call it could; this one names nothing.
                self.diags.append(Diagnostic(UNDEFINED_SUBPROTOCOL, s.span, f"no sub-protocol named {s.target}"))

    def choose(self, s: Choose, rest: tuple[Stmt, ...], env: Env, out: Out) -> None:
        """The members of the family split into the chosen one and the others for the rest
        of the block; every other role goes on as it would (it never meets the chosen one,
        which ``outsiders`` checks once projection is done)."""
        family = s.family.name
        if self._known(s.family) is None:
            return
        rout = self.seq(rest, env)
        told = tuple(r.name for r in s.announce)
        for r in told:  # each member tells it the choice right after the agreement
            out.setdefault(r, []).append(LRecv(
                PeerFamily(family), f"{ANNOUNCE}{s.role}", s.span, announce=s.role, announce_size=s.size
            ))
        for r, stmts in rout.items():
            if r != family:
                out.setdefault(r, []).extend(stmts)
        mine = tuple(rout.get(family, ()))
        if s.size is not None or told:
            out.setdefault(family, []).append(LChoose(
                s.role, family, s.step, s.span, split(mine, s.role, True), split(mine, s.role, False), s.size, told
            ))
            return
        out.setdefault(family, []).append(
            LChoose(s.role, family, s.step, s.span, split(mine, s.role, True), split(mine, s.role, False))
        )

    def _known(self, ref: RoleRef) -> RoleDecl | None:
        decl = self.decls.get(ref.name)
        if decl is None:
            self.diags.append(Diagnostic(UNDEFINED_ROLE, ref.span, f"role {ref.name} is not declared"))
        return decl

    def interaction(self, s: Interaction, out: Out) -> None:
        a, b = s.sender, s.receiver
        if a.index is None and b.index is None:
            # The hot path: two roles named without index share their peer objects.
            pa, pb = self._plain.get(a.name), self._plain.get(b.name)
            if pa is not None and pb is not None:
                out.setdefault(a.name, []).append(LSend(pb, s.message, s.span, s.annotations))
                out.setdefault(b.name, []).append(LRecv(pa, s.message, s.span, s.annotations))
                return
        da, db = self._known(a), self._known(b)
        if da is None or db is None:
            return
        if a.name == b.name and self.within(s, out):
            return
        send = LSend(_peer(b, db), s.message, s.span, s.annotations, _only(a))
        recv = LRecv(_peer(a, da), s.message, s.span, s.annotations, _only(b))
        out.setdefault(a.name, []).append(send)
        out.setdefault(b.name, []).append(recv)

    def within(self, s: Interaction, out: Out) -> bool:
        """Steps inside one family that need their own projection: a ring step (each member
        sends to its successor, then receives from its predecessor), and a step between the
        whole family and the member chosen at run time (the others send it, or it sends
        them). False when ``s`` is neither."""
        a, b = s.sender, s.receiver
        ia, ib = a.index, b.index
        if isinstance(ib, IndexRing) or isinstance(ia, IndexRing):
            k = ib.offset if isinstance(ib, IndexRing) else -ia.offset if isinstance(ia, IndexRing) else 0
            mine = out.setdefault(a.name, [])
            mine.append(LSend(PeerRing(a.name, k), s.message, s.span, s.annotations))
            mine.append(LRecv(PeerRing(a.name, -k), s.message, s.span, s.annotations))
            return True
        if (isinstance(ia, IndexAll) and ia.within) or (isinstance(ib, IndexAll) and ib.within):
            return self.within_set(s, out)
        if isinstance(ia, IndexAll) and isinstance(ib, IndexParam) and isinstance(ib.name, Chosen):
            to_chosen, chosen = True, ib.name  # F[*] -> Coordinator
        elif isinstance(ib, IndexAll) and isinstance(ia, IndexParam) and isinstance(ia.name, Chosen):
            to_chosen, chosen = False, ia.name  # Coordinator -> F[*]
        elif any(isinstance(x, IndexParam) and isinstance(x.name, Chosen) for x in (ia, ib)):
            # Validation rejects this as written; a call can still pair the chosen member
            # with another member of its family, seen only once the call is inlined.
            self.diags.append(Diagnostic(
                BAD_CHOSEN_ROLE, s.span,
                f"{ref_text(a)} -> {ref_text(b)}: the member chosen may be that very member, which would send to itself",
                f"between a chosen role and its family write {a.name}[*] -> R or R -> {a.name}[*]",
            ))
            return True
        else:
            return False
        c = PeerMember(a.name, chosen)
        others = PeerFamily(a.name, exclude_self=True)
        mine = out.setdefault(a.name, [])
        if to_chosen:
            mine.append(LSend(c, s.message, s.span, s.annotations, OnlyIndex(chosen, exclude=True)))
            mine.append(LRecv(others, s.message, s.span, s.annotations, OnlyIndex(chosen)))
        else:
            mine.append(LSend(others, s.message, s.span, s.annotations, OnlyIndex(chosen)))
            mine.append(LRecv(c, s.message, s.span, s.annotations, OnlyIndex(chosen, exclude=True)))
        return True

    def within_set(self, s: Interaction, out: Out) -> bool:
        """A step between a set chosen at run time and its own family: ``S[*] -> F[*]`` (each
        member of the set sends to every other member), ``F[*] -> S[*]`` (every member sends
        to each other member of the set), ``S[*] -> R`` / ``R -> S[*]`` with ``R`` a member
        chosen as a single role (a member of the set that is ``R`` itself sends nothing)."""
        a, b = s.sender, s.receiver
        ia, ib = a.index, b.index
        msg, sp, ann = s.message, s.span, s.annotations
        mine = out.setdefault(a.name, [])
        if isinstance(ia, IndexAll) and isinstance(ib, IndexAll) and (ia.within is None) != (ib.within is None):
            if ia.within is not None:  # S[*] -> F[*]
                mine.append(LSend(PeerFamily(a.name, exclude_self=True), msg, sp, ann, OnlySet(ia.within)))
                mine.append(LRecv(PeerFamily(a.name, exclude_self=True, within=ia.within), msg, sp, ann))
            elif ib.within is not None:  # F[*] -> S[*]
                mine.append(LSend(PeerFamily(a.name, exclude_self=True, within=ib.within), msg, sp, ann))
                mine.append(LRecv(PeerFamily(a.name, exclude_self=True), msg, sp, ann, OnlySet(ib.within)))
            return True
        if isinstance(ia, IndexAll) and ia.within and isinstance(ib, IndexParam) and isinstance(ib.name, Chosen):
            r = ib.name  # S[*] -> Coordinator
            mine.append(LSend(PeerMember(a.name, r), msg, sp, ann, OnlySet(ia.within, but=r)))
            mine.append(LRecv(PeerFamily(a.name, exclude_self=True, within=ia.within), msg, sp, ann, OnlyIndex(r)))
            return True
        if isinstance(ib, IndexAll) and ib.within and isinstance(ia, IndexParam) and isinstance(ia.name, Chosen):
            r = ia.name  # Coordinator -> S[*]
            mine.append(LSend(PeerFamily(a.name, exclude_self=True, within=ib.within), msg, sp, ann, OnlyIndex(r)))
            mine.append(LRecv(PeerMember(a.name, r), msg, sp, ann, OnlySet(ib.within, but=r)))
            return True
        # Validation rejects the other forms as written; a call may still produce one.
        self.diags.append(Diagnostic(
            BAD_CHOSEN_ROLE, s.span,
            f"{ref_text(a)} -> {ref_text(b)}: a chosen set meets its own family only as S[*] -> F[*], F[*] -> S[*], "
            "S[*] -> R or R -> S[*] (R a chosen role)",
        ))
        return True

    def broadcast(self, s: Broadcast, out: Out) -> None:
        a = s.sender
        da = self._known(a)
        if da is None:
            return
        only = _only(a)
        frm = _peer(a, da)
        mine = out.setdefault(a.name, [])
        for q in self.order:
            dq = self.decls[q]
            if q == a.name:
                if not isinstance(only, OnlyIndex):
                    continue
                # A member broadcasts to the other members of its own family too.
                mine.append(LSend(PeerFamily(q, exclude_self=True), s.message, s.span, s.annotations, only))
                mine.append(LRecv(frm, s.message, s.span, s.annotations, OnlyIndex(only.index, exclude=True)))
                continue
            mine.append(LSend(_whole(dq), s.message, s.span, s.annotations, only))
            out.setdefault(q, []).append(LRecv(frm, s.message, s.span, s.annotations))

    def choice(self, s: Choice, env: Env, out: Out, head_of: str | None, ctx: _RecCtx | None) -> None:
        if s.failure is not None:
            self.failure_branch(s, s.failure, env, out, head_of, ctx)
            return
        eff = self.eff(s, env)
        bouts = [self.seq(b.body, env) for b in s.branches]
        labels = [b.label for b in s.branches]
        for r in self.in_order(eff):
            projs = [tuple(bo.get(r, ())) for bo in bouts]
            if r != s.at.name:
                idle = head_of if head_of is not None and not out.get(r) else None
                if ctx is not None:
                    merged = self.merge_in_rec(projs, labels, s, r, tuple(out.get(r, ())), ctx, idle)
                else:
                    merged = self.merge(projs, labels, s, r, r, idle)
                out.setdefault(r, []).extend(merged)
                continue
            lbs = tuple(LBranch(b.label, p, b.span, b.guard) for b, p in zip(s.branches, projs, strict=True))
            only = _only(s.at)
            if only is None:
                out.setdefault(r, []).append(LSelect(lbs, s.span))
                continue
            if isinstance(only, OnlyIndex) and isinstance(only.index, Chosen):
                # A choice at a chosen member: the others are exactly "members but it".
                views = [split(p, only.index, False) for p in projs]
            else:
                views = [filter_members(p, only) for p in projs]
            others = self.merge(views, labels, s, r, f"the other {r} members")
            out.setdefault(r, []).append(LSelect(lbs, s.span, only, others))

    def failure_branch(
        self, s: Choice, failed: RoleRef, env: Env, out: Out, head_of: str | None, ctx: _RecCtx | None
    ) -> None:
        """Crash-stop (Barwell et al., CONCUR 2022): the failed role goes on with the ``ok``
        branch (if it runs at all); the receiver offers the message or the failure; every
        other role must be able to tell the two apart from what it receives (M322). When the
        failed role is a family member (or any member of a family it collects from), its
        family has sent by then and learns of the failure afterwards, like any other role;
        when the receiver is a member, the other members of its family learn it too."""
        if _chosen_of(failed) is not None and s.at.name == failed.name and isinstance(s.at.index, IndexAll):
            self.chosen_failure(s, failed, env, out, head_of, ctx)
            return
        if (s.at.index is not None and failed.name == s.at.name) or isinstance(s.at.index, IndexAll | IndexRange):
            # Validation sees sub-protocols with their formal (single) roles; a call can
            # still pass family references, found only once the call is inlined.
            self.diags.append(Diagnostic(
                BAD_FAILURE_BRANCH,
                s.span,
                f"a failure branch has one receiver outside the family of the role that may fail, "
                f"but {ref_text(s.at)} receives from {ref_text(failed)} here",
                "pass a single role or one member of another family as the receiver",
            ))
            return
        eff = self.eff(s, env)
        ok, fail = s.branches
        bouts = [self.seq(ok.body, env), self.seq(fail.body, env)]
        labels = [ok.label, fail.label]
        for r in self.in_order(eff):
            projs = [tuple(bo.get(r, ())) for bo in bouts]
            if r == failed.name:
                if failed.index is None:
                    out.setdefault(r, []).extend(projs[0])
                    continue
                # The family sent its part of the interaction in both branches; the rest
                # of the block and the failure branch are merged (the dead member's view
                # does not matter, the survivors' must tell the two apart).
                first, projs = projs[0][:1], [projs[0][1:], projs[1]]
                out.setdefault(r, []).extend(first)
            if r == s.at.name:
                self.failure_offer(s, projs, out)
                continue
            self.merge_survivor(s, failed, r, projs, labels, out, head_of, ctx)

    def chosen_failure(
        self, s: Choice, failed: RoleRef, env: Env, out: Out, head_of: str | None, ctx: _RecCtx | None
    ) -> None:
        """``R -> F[*]`` with a failure branch, ``R`` chosen from ``F``: the chosen member sends
        and goes on with the ``ok`` branch; every other member offers the message or the
        failure itself (each receives from ``R``, so each survivor learns of the failure
        first-hand). As one step of ``F``: an offer reserved to the others, whose ``others``
        is what the chosen member does; ``split`` resolves it at the choice."""
        chosen = _chosen_of(failed)
        assert chosen is not None
        eff = self.eff(s, env)
        ok, fail = s.branches
        bouts = [self.seq(ok.body, env), self.seq(fail.body, env)]
        labels = [ok.label, fail.label]
        for r in self.in_order(eff):
            projs = [tuple(bo.get(r, ())) for bo in bouts]
            if r == failed.name:
                send, recv, *more = projs[0] if len(projs[0]) >= 2 else (None, None)
                if not isinstance(send, LSend) or not isinstance(recv, LRecv):
                    return  # reported by validation
                rest = tuple(more)
                gone = LRecv(recv.frm, FAILED, s.span, recv.annotations)
                branches = (
                    LOfferBranch(recv.message, (ok.label,), (dataclasses.replace(recv, only=None), *rest)),
                    LOfferBranch(FAILED, (fail.label,), (gone, *projs[1])),
                )
                others = (send, *rest)
                out.setdefault(r, []).append(LOffer(recv.frm, branches, s.span, OnlyIndex(chosen, exclude=True), others))
                continue
            self.merge_survivor(s, failed, r, projs, labels, out, head_of, ctx)

    def merge_survivor(
        self, s: Choice, failed: RoleRef, r: str, projs: list[tuple[LStmt, ...]], labels: list[str],
        out: Out, head_of: str | None, ctx: _RecCtx | None,
    ) -> None:
        """A role that neither fails nor receives from the failed one: its branches merge,
        and a merge error is reported as a failure-knowledge error."""
        before = len(self.diags)
        idle = head_of if head_of is not None and not out.get(r) else None
        if ctx is not None:
            merged = self.merge_in_rec(projs, labels, s, r, tuple(out.get(r, ())), ctx, idle)
        else:
            merged = self.merge(projs, labels, s, r, r, idle)
        self.as_failure_diags(before, s, failed, r)
        out.setdefault(r, []).extend(merged)

    def failure_offer(self, s: Choice, projs: list[tuple[LStmt, ...]], out: Out) -> None:
        """The receiver's offer over the message and the failure; for a member receiver, the
        other members of its family merge the two branches (M322 if they cannot)."""
        r = s.at.name
        ok, fail = s.branches
        first = projs[0][0] if projs[0] else None
        if not isinstance(first, LRecv):
            return  # reported by validation (M320)
        gone = LRecv(first.frm, FAILED, s.span, first.annotations, first.only)
        branches = (
            LOfferBranch(first.message, (ok.label,), projs[0]),
            LOfferBranch(FAILED, (fail.label,), (gone, *projs[1])),
        )
        only = _only(s.at)
        if only is None:
            out.setdefault(r, []).append(LOffer(first.frm, branches, s.span))
            return
        before = len(self.diags)
        rest = _rest_of(only, self.decls[r])
        views = [filter_members(p, only) if rest is None else _widen(filter_members(p, only), rest) for p in projs]
        others = self.merge(views, [ok.label, fail.label], s, r, f"the other {r} members")
        assert s.failure is not None
        self.as_failure_diags(before, s, s.failure, f"the other {r} members")
        out.setdefault(r, []).append(LOffer(first.frm, branches, s.span, only, others))

    def as_failure_diags(self, before: int, s: Choice, failed: RoleRef, who: str) -> None:
        """Merge errors since ``before`` say that ``who`` cannot tell a failure (M322)."""
        ok = s.branches[0]
        what = f"one of {ref_text(failed)}" if isinstance(failed.index, IndexAll | IndexRange) else ref_text(failed)
        for i in range(before, len(self.diags)):
            d = self.diags[i]
            if d.code == UNMERGEABLE_BRANCHES:
                reason = d.message.split(" was taken: ", 1)[-1]
                self.diags[i] = Diagnostic(
                    FAILURE_NOT_INFORMED,
                    d.span,
                    f"{who} cannot tell whether {what} failed before {ref_text(s.at)} "
                    f"received {ok.body[0].message if isinstance(ok.body[0], Interaction) else ''}: {reason}",
                    f"let {ref_text(s.at)} tell {who} in both cases: a message to {who} at the start of the "
                    "rest of the block and another at the start of on_failure",
                )

    def merge(
        self,
        projs: list[tuple[LStmt, ...]],
        labels: list[str],
        s: Choice,
        role: str,
        who: str,
        idle: str | None = None,
    ) -> tuple[LStmt, ...]:
        """Merge ``role``'s branch projections; on failure report M303 and keep the first."""
        try:
            return merge_branches(projs, labels, self.shapes, s.span, idle)
        except MergeError as e:
            self.report_merge(e, labels, s, role, who)
            return projs[0]

    def report_merge(self, e: MergeError, labels: list[str], s: Choice, role: str, who: str) -> None:
        at = ref_text(s.at)
        target = role if self.decls[role].kind == "single" else f"{role}[*]"
        if e.kind == "senders":
            hint = f"let one role tell {who} the branch: add `{at} -> {target}: <Msg>` at the start of each branch"
        else:
            hint = f"add `{at} -> {target}: <Msg>` at the start of each branch, with a different message in each"
        branches = ", ".join(repr(lab) for lab in labels)
        self.diags.append(
            Diagnostic(
                UNMERGEABLE_BRANCHES,
                s.span,
                f"{who} cannot tell which branch of the choice at {at} ({branches}) was taken: {e.reason}",
                hint,
            )
        )

    def merge_in_rec(
        self,
        projs: list[LSeq],
        labels: list[str],
        s: Choice,
        role: str,
        prefix: LSeq,
        ctx: _RecCtx,
        idle: str | None,
    ) -> LSeq:
        """Merge ``role``'s branches of the choice that ends the body of ``rec ctx.name``,
        seeing through the recursion: a ``continue`` stands for the loop's next round
        (``prefix``, what the role does in the body before the choice, then this very choice
        again, which becomes a rec of its own), and a branch that leaves the loop goes on
        with what follows the rec. Tried only when the plain merge fails, so whatever that
        accepted is projected as before."""
        try:
            return merge_branches(projs, labels, self.shapes, s.span, idle)
        except MergeError as e:
            error = e
        again = f"{ctx.name}_again"
        unfolded = projs
        if prefix and any(ctx.name in self.free.seq(p) for p in projs):
            unfolded = [splice_continue(p, ctx.name, (*prefix, LContinue(again, s.span))) for p in projs]
            try:
                return self._closed(merge_branches(unfolded, labels, self.shapes, s.span), again, s.span)
            except MergeError as e:
                error = e  # seen through the loop, it names the real messages
        tail = self.after(role, ctx)
        if tail:
            leaving = [p if p and isinstance(p[-1], LContinue) else (*p, *tail) for p in unfolded]
            try:
                merged = merge_branches(leaving, labels, self.shapes, s.span)
            except MergeError:
                pass
            else:
                ctx.absorbed.add(role)
                return self._closed(merged, again, s.span)
        self.report_merge(self._through_loop(error, ctx.name, prefix, unfolded), labels, s, role, role)
        return projs[0]

    @staticmethod
    def _through_loop(e: MergeError, name: str, prefix: LSeq, projs: list[LSeq]) -> MergeError:
        """Say what going back to the loop means: the role's first steps of the next round
        (from the top of the body, or, for the unfolded choice, from the choice again)."""
        top = [prefix[0]] if prefix else [p[0] for p in projs if p and not isinstance(p[0], LContinue)]
        heads = [p[0] for p in projs if p and not isinstance(p[0], LContinue)]
        reason = e.reason
        for label, firsts in ((f"{name}_again", heads), (name, top)):
            text = " or ".join(dict.fromkeys(describe(f) for f in firsts))
            if text:
                reason = re.sub(rf"go back to {re.escape(label)}(?!\w)", f"go round {name} again and {text}", reason)
        return MergeError(reason, e.kind)

    def _closed(self, merged: LSeq, again: str, span: Span) -> LSeq:
        """The merge of an unfolded loop round refers back to itself: make it a rec."""
        return (LRec(again, merged, span),) if again in self.free.seq(merged) else merged

    def after(self, role: str, ctx: _RecCtx) -> LSeq:
        """``role``'s part of what follows the rec (projected aside: its own diagnostics are
        reported where it is projected for real)."""
        if ctx.start >= len(ctx.block):
            return ()
        saved, self.diags = self.diags, []
        try:
            tail_out = self.seq(ctx.after, ctx.env)
            failed = any(d.severity == "error" for d in self.diags)
        finally:
            self.diags = saved
        return () if failed else tuple(tail_out.get(role, ()))

    def rec(self, s: Rec, env: Env, out: Out, block: tuple[Stmt, ...], start: int) -> set[str]:
        """Project ``s``; returns the roles whose part of what follows it (``block[start:]``)
        the rec has absorbed (it sits in the branches leaving the loop) and must not be
        added again."""
        eff = self.eff(s, env)
        inner = {**env, s.name: eff}
        ctx = _RecCtx(s.name, block, start, env)
        bout = self.seq(s.body, inner, s.name, ctx)
        for r in self.in_order(eff):
            body = tuple(bout.get(r, ()))
            if not body or (len(body) == 1 and isinstance(body[0], LContinue) and body[0].name == s.name):
                continue  # nothing to do here, or an idle loop: the role is not involved
            if s.name in self.free.seq(body):
                out.setdefault(r, []).append(LRec(s.name, body, s.span))
            else:
                out.setdefault(r, []).extend(body)  # never loops for this role
        return ctx.absorbed

    def loop(self, s: Loop, env: Env, out: Out) -> None:
        eff = self.eff(s, env)
        bout = self.seq(s.body, env)
        d = s.decides
        if d is None:
            count = s.count if s.count is not None else 0
            for r in self.in_order(eff):
                body = tuple(bout.get(r, ()))
                if body:
                    out.setdefault(r, []).append(LLoop(count, body, s.span))
            return
        acting = self.parts_seq((s.body,))[0]
        dd = self.decls.get(d.name)
        if dd is None or d.name not in acting:
            self.diags.append(
                Diagnostic(
                    LOOP_NOT_INFORMED,
                    d.span,
                    f"{ref_text(d)} decides the loop but takes no part in its body",
                    "the decider must send or receive in the loop body",
                )
            )
            return
        inform: list[LPeer] = [_whole(self.decls[q]) for q in self.order if q in acting and q != d.name]
        me = _peer(d, dd)
        for r in self.in_order(eff):
            body = tuple(bout.get(r, ()))
            if r != d.name:
                out.setdefault(r, []).append(LDecideLoop(me, (), body, s.span))
                continue
            only = _only(d)
            if not isinstance(only, OnlyIndex):
                out.setdefault(r, []).append(LDecideLoop(None, tuple(inform), body, s.span))
                continue
            # Decided by one member: it decides; the other members that act in the body are
            # told by it (a second loop, which the decider skips).
            others = filter_members(body, only)
            if others:
                inform.append(PeerFamily(d.name, exclude_self=True))
            out.setdefault(r, []).append(LDecideLoop(None, tuple(inform), body, s.span, only))
            if others:
                rest = OnlyIndex(only.index, exclude=True)
                out[r].append(LDecideLoop(me, (), others, s.span, rest))

    def parallel(self, s: Parallel, env: Env, out: Out) -> None:
        eff = self.eff(s, env)
        bouts = [self.seq(b, env) for b in s.branches]
        for r in self.in_order(eff):
            branches = [tuple(bo[r]) for bo in bouts if bo.get(r)]
            if len(branches) == 1:
                out.setdefault(r, []).extend(branches[0])
            elif branches:
                out.setdefault(r, []).append(LParallel(tuple(branches), s.span))

"""Calls with families, ranges and parameters: binding a call to its callee, and the
callee's body instantiated with the caller's roles and parameters.

Pure functions over the AST. ``bind_call`` checks a call against the callee's formal roles
and parameters (used by ``codegen.frontend.validate``); ``instantiate`` substitutes the binding into
the callee's body (used by projection, which inlines calls).

A family formal (``Member[*]`` in the callee) takes a whole family (``Peer[*]``, or ``Peer``)
or a range (``Peer[lo..hi]``); inside the callee, ``Member[k]`` is then ``Peer[lo+k]``,
``Member[a..b]`` is ``Peer[lo+a..lo+b]`` and ``Member[*]`` is the range itself. A size
parameter of the callee (``Member[n]``) is bound to the size of the family passed, unless
the call binds it by name (``n=t``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from codegen.core.ast import (
    Bound,
    Branch,
    Broadcast,
    Call,
    Choice,
    Choose,
    Chosen,
    GBinary,
    GLit,
    GName,
    Guard,
    GuardExpr,
    GUnary,
    Index,
    IndexAll,
    IndexConst,
    IndexParam,
    IndexRange,
    IndexVar,
    Interaction,
    LocalStep,
    Loop,
    Parallel,
    ParamArg,
    Rec,
    RoleDecl,
    RoleRef,
    Stmt,
    SubProtocol,
)
from codegen.core.diagnostics import CALL_ARITY, CALL_ROLE_MAPPING, UNDEFINED_PARAM, Diagnostic
from codegen.core.span import Span
from codegen.core.text import decl_text, ref_text

__all__ = ["Binding", "bind_call", "guard_names", "instantiate", "map_ref"]


@dataclass(frozen=True)
class Binding:
    """Formal role -> actual reference (a family formal: ``F[*]`` or ``F[lo..hi]``), and
    callee parameter -> the caller's literal or parameter."""

    roles: Mapping[str, RoleRef]
    families: frozenset[str]  # the formal roles that are families
    params: Mapping[str, Bound]

    def key(self) -> tuple[tuple[str, str], ...]:
        """What identifies this instantiation (a recursive call with the same key loops)."""
        roles = tuple((f, ref_text(a)) for f, a in self.roles.items())
        return roles + tuple((p, str(v)) for p, v in sorted(self.params.items()))


def _family_size(actual: RoleRef, decl: RoleDecl) -> Bound | None:
    """How many members ``actual`` (a whole family or a range) denotes, when known."""
    idx = actual.index
    if idx is None or isinstance(idx, IndexAll):
        if decl.kind in ("fixed", "param") and decl.size is not None:
            return decl.size
        return None
    if isinstance(idx, IndexRange):
        if idx.lo == 0:
            return idx.hi
        if isinstance(idx.lo, int) and isinstance(idx.hi, int):
            return idx.hi - idx.lo
    return None


def bind_call(
    call: Call,
    sub: SubProtocol,
    decl_of: Mapping[str, RoleDecl],
    caller_params: frozenset[str],
) -> tuple[Binding | None, list[Diagnostic]]:
    """Match ``call`` against ``sub``; the binding is None when the call is unusable."""
    diags: list[Diagnostic] = []
    if len(call.args) != len(sub.roles):
        formals = ", ".join(decl_text(r) for r in sub.roles)
        n = len(sub.roles)
        diags.append(
            Diagnostic(
                CALL_ARITY,
                call.span,
                f"{call.target} takes {n} role{'s' if n != 1 else ''} ({formals}), {len(call.args)} given",
            )
        )
        return None, diags
    callee_params = {p.name for p in sub.params}
    params: dict[str, Bound] = {}
    for pa in call.params:
        if pa.name not in callee_params:
            if sub.params:
                have = ", ".join(p.name for p in sub.params)
                hint = f"{call.target} has the parameters {have}"
            else:
                hint = f"{call.target} has no parameters of its own: it uses the protocol's"
            diags.append(Diagnostic(CALL_ARITY, pa.span, f"{call.target} has no parameter {pa.name!r}", hint))
        elif pa.name in params:
            diags.append(Diagnostic(CALL_ARITY, pa.span, f"parameter {pa.name!r} is bound twice"))
        else:
            if isinstance(pa.value, str) and pa.value not in caller_params:
                diags.append(
                    Diagnostic(
                        UNDEFINED_PARAM,
                        pa.span,
                        f"undefined parameter {pa.value!r} passed as {pa.name}",
                        "pass a literal or one of this protocol's params",
                    )
                )
            params[pa.name] = pa.value
    roles: dict[str, RoleRef] = {}
    families: set[str] = set()
    settled: set[str] = set()  # size parameters already reported as unbindable
    for n, (formal, actual) in enumerate(zip(sub.roles, call.args, strict=True)):
        decl = decl_of.get(actual.name)
        for earlier in call.args[:n]:
            if _same_actor(actual, earlier):
                diags.append(
                    Diagnostic(
                        CALL_ROLE_MAPPING,
                        actual.span,
                        f"{ref_text(actual)} is passed twice to {call.target}",
                        "each formal role needs a distinct participant",
                    )
                )
                break
        if decl is None:
            continue  # undefined role: M200 elsewhere
        if formal.kind == "single":
            if decl.kind != "single" and (actual.index is None or isinstance(actual.index, IndexAll | IndexRange | IndexVar)):
                diags.append(
                    Diagnostic(
                        CALL_ROLE_MAPPING,
                        actual.span,
                        f"{ref_text(actual)} is a family, but {call.target} expects a single role for {formal.name}",
                        f"pass one member, e.g. {actual.name}[0], or declare {formal.name}[*] in {call.target}",
                    )
                )
                continue
            roles[formal.name] = actual
            continue
        families.add(formal.name)
        if isinstance(formal.size, str):
            settled.add(formal.size)
        if decl.kind == "single" or isinstance(actual.index, IndexConst | IndexParam | IndexVar):
            diags.append(
                Diagnostic(
                    CALL_ROLE_MAPPING,
                    actual.span,
                    f"{call.target} expects a family for {decl_text(formal)}, not the single participant {ref_text(actual)}",
                    f"pass a whole family (F[*]) or a range (F[0..t]); or declare {formal.name} as a single role in {call.target}",
                )
            )
            continue
        actual = RoleRef(actual.name, actual.span, actual.index or IndexAll(actual.span))
        roles[formal.name] = actual
        size = _family_size(actual, decl)
        if formal.kind == "dynamic":
            continue
        if formal.kind == "param" and isinstance(formal.size, str) and formal.size in callee_params:
            if formal.size in params:
                continue  # bound explicitly: the caller vouches for it
            if size is None:
                diags.append(
                    Diagnostic(
                        CALL_ROLE_MAPPING,
                        actual.span,
                        f"the size of {ref_text(actual)} is not known here, so {call.target}'s {formal.size} cannot be bound to it",
                        f"pass it by name: {formal.size}=...",
                    )
                )
                continue
            params[formal.size] = size
            continue
        if size != formal.size:
            diags.append(
                Diagnostic(
                    CALL_ROLE_MAPPING,
                    actual.span,
                    f"{decl_text(formal)} has {formal.size} members, but {ref_text(actual)} has "
                    + ("an unknown number" if size is None else str(size)),
                    f"declare {formal.name}[*] in {call.target} to take a family of any size",
                )
            )
    for p in sub.params:
        if p.name not in params and not (p.name in settled and diags):
            diags.append(
                Diagnostic(
                    CALL_ARITY,
                    call.span,
                    f"{call.target} needs its parameter {p.name!r}",
                    f"bind it in the call: call {call.target}(..., {p.name}=...)",
                )
            )
    if any(d.severity == "error" for d in diags):
        return None, diags
    return Binding(roles, frozenset(families), params), diags


def _same_actor(a: RoleRef, b: RoleRef) -> bool:
    if a.name != b.name:
        return False
    ia, ib = a.index, b.index
    if (isinstance(ia, IndexParam) and isinstance(ia.name, Chosen)) or (isinstance(ib, IndexParam) and isinstance(ib.name, Chosen)):
        # A role chosen at run time may be passed beside its family: steps between the two
        # are "every other member" (projection), like F[*] -> R written out.
        return isinstance(ia, IndexParam) and isinstance(ib, IndexParam) and ia.name == ib.name
    if ia is None or ib is None or isinstance(ia, IndexAll) or isinstance(ib, IndexAll):
        return True  # the same role, or a family and one of its parts
    if isinstance(ia, IndexConst) and isinstance(ib, IndexConst):
        return ia.value == ib.value
    if isinstance(ia, IndexParam) and isinstance(ib, IndexParam):
        return ia.name == ib.name
    return False


# ---------------------------------------------------------------- instantiation


class InstantiationError(Exception):
    """A reference of the callee has no counterpart in the caller's family form."""

    def __init__(self, span: Span, message: str, hint: str = "") -> None:
        super().__init__(message)
        self.span, self.message, self.hint = span, message, hint


def _bound(b: Bound, params: Mapping[str, Bound]) -> Bound:
    return params.get(b, b) if isinstance(b, str) else b


def _offset(lo: Bound, x: Bound, span: Span) -> Bound:
    if lo == 0:
        return x
    if x == 0:
        return lo
    if isinstance(lo, int) and isinstance(x, int):
        return lo + x
    raise InstantiationError(
        span,
        f"member {x} of a range starting at {lo} is not expressible",
        "pass a range starting at 0 or at a literal, or index the callee by literals",
    )


def _subst_index(idx: Index, params: Mapping[str, Bound]) -> Index:
    match idx:
        case IndexParam(name=n):
            v = params.get(n, n)
            return IndexConst(v, idx.span) if isinstance(v, int) else IndexParam(v, idx.span)
        case IndexRange(lo=lo, hi=hi):
            return IndexRange(_bound(lo, params), _bound(hi, params), idx.span)
    return idx


def map_ref(ref: RoleRef, b: Binding) -> RoleRef:
    """``ref`` of the callee as a reference of the caller (raises InstantiationError)."""
    actual = b.roles.get(ref.name)
    if actual is None:
        return ref
    if ref.name not in b.families:
        return RoleRef(actual.name, ref.span, actual.index)
    idx = IndexAll(ref.span) if ref.index is None else _subst_index(ref.index, b.params)
    outer = actual.index
    if isinstance(outer, IndexAll) and outer.within is not None:
        # A set chosen at run time passed for a family: the callee may use it whole or
        # all-to-all only (its members' positions in the set are not indices of the family).
        if isinstance(idx, IndexVar):  # all-to-all in the callee: among the set's members
            return RoleRef(actual.name, ref.span, IndexVar(idx.name, idx.span, within=outer.within))
        if not isinstance(idx, IndexAll):
            raise InstantiationError(
                idx.span,
                f"{ref_text(ref)} names members of {ref.name} by index, but the set {outer.within} is passed for it",
                f"a chosen set is used whole or all-to-all in the callee: {ref.name}[*] or {ref.name}[i] -> {ref.name}[j]",
            )
        return RoleRef(actual.name, ref.span, outer)
    if not isinstance(outer, IndexRange):
        return RoleRef(actual.name, ref.span, idx)
    if isinstance(idx, IndexParam) and isinstance(idx.name, Chosen):
        raise InstantiationError(
            idx.span,
            f"{idx.name} is chosen among all of {ref.name}, but a range ({ref_text(actual)}) is passed for it",
            f"pass the whole family, {actual.name}[*]",
        )
    lo = outer.lo
    match idx:
        case IndexAll():
            return RoleRef(actual.name, ref.span, outer)
        case IndexConst(value=v):
            off = _offset(lo, v, idx.span)
            new: Index = IndexConst(off, idx.span) if isinstance(off, int) else IndexParam(off, idx.span)
            return RoleRef(actual.name, ref.span, new)
        case IndexParam(name=n):
            off = _offset(lo, n, idx.span)
            new = IndexConst(off, idx.span) if isinstance(off, int) else IndexParam(off, idx.span)
            return RoleRef(actual.name, ref.span, new)
        case IndexRange(lo=a, hi=z):
            return RoleRef(actual.name, ref.span, IndexRange(_offset(lo, a, idx.span), _offset(lo, z, idx.span), idx.span))
    raise InstantiationError(
        idx.span,
        f"all-to-all over {ref.name} is not supported when a range ({ref_text(actual)}) is passed for it",
        f"pass the whole family, {actual.name}[*]",
    )


def _subst_guard(e: GuardExpr, params: Mapping[str, Bound]) -> GuardExpr:
    match e:
        case GName(name=n) if n in params:
            v = params[n]
            return GLit(v, e.span) if isinstance(v, int) else GName(v, e.span)
        case GUnary():
            return GUnary(e.op, _subst_guard(e.operand, params), e.span)
        case GBinary():
            return GBinary(e.op, _subst_guard(e.left, params), _subst_guard(e.right, params), e.span)
    return e


def guard_names(e: GuardExpr, out: list[str]) -> list[str]:
    match e:
        case GName(name=n) if n not in out:
            out.append(n)
        case GUnary():
            guard_names(e.operand, out)
        case GBinary():
            guard_names(e.left, out)
            guard_names(e.right, out)
    return out


def _subst_guard_whole(g: Guard, params: Mapping[str, Bound]) -> Guard:
    bound = [f"{n}={params[n]}" for n in guard_names(g.expr, []) if n in params and params[n] != n]
    # The text keeps the callee's names, followed by what they are bound to in this call.
    source = f"{g.source} ({', '.join(bound)})" if bound else g.source
    return Guard(source, _subst_guard(g.expr, params), g.span)


def instantiate(sub: SubProtocol, b: Binding) -> tuple[Stmt, ...]:
    """The body of ``sub`` with its formal roles and parameters replaced (raises
    InstantiationError for a reference with no counterpart in the caller)."""
    formals = tuple(r.name for r in sub.roles)
    return _seq(sub.body, b, formals)


def _seq(stmts: tuple[Stmt, ...], b: Binding, formals: tuple[str, ...]) -> tuple[Stmt, ...]:
    out: list[Stmt] = []
    params = b.params
    for s in stmts:
        match s:
            case Interaction():
                out.append(Interaction(map_ref(s.sender, b), map_ref(s.receiver, b), s.message, s.span, s.message_span, s.annotations))
            case Broadcast():
                # Inside a sub-protocol "every other role" means its own formal roles.
                snd = map_ref(s.sender, b)
                for q in formals:
                    if q != s.sender.name:
                        rcv = map_ref(RoleRef(q, s.span), b)
                        out.append(Interaction(snd, rcv, s.message, s.span, s.message_span, s.annotations))
            case Choice():
                bs = tuple(
                    Branch(
                        br.label,
                        _seq(br.body, b, formals),
                        br.span,
                        None if br.guard is None else _subst_guard_whole(br.guard, params),
                    )
                    for br in s.branches
                )
                out.append(Choice(map_ref(s.at, b), bs, s.span, None if s.failure is None else map_ref(s.failure, b)))
            case Rec():
                out.append(Rec(s.name, _seq(s.body, b, formals), s.span))
            case Loop():
                decides = None if s.decides is None else map_ref(s.decides, b)
                count = None if s.count is None else _bound(s.count, params)
                out.append(Loop(_seq(s.body, b, formals), s.span, count, decides))
            case Parallel():
                out.append(Parallel(tuple(_seq(br, b, formals) for br in s.branches), s.span))
            case LocalStep():
                out.append(LocalStep(map_ref(s.role, b), s.step, s.span, s.step_span))
            case Choose():
                family = map_ref(s.family, b)
                if isinstance(family.index, IndexRange):
                    raise InstantiationError(
                        s.family.span,
                        f"{s.role} is chosen among all of {s.family.name}, but a range ({ref_text(family)}) is passed for it",
                        f"pass the whole family, {family.name}[*]",
                    )
                if isinstance(family.index, IndexAll) and family.index.within is not None:
                    raise InstantiationError(
                        s.family.span,
                        f"{s.role} is chosen among all of {s.family.name}, but the set {family.index.within} is passed for it",
                        f"pass the whole family, {family.name}[*]",
                    )
                size = _bound(s.size, params) if s.size is not None else None
                told = tuple(map_ref(r, b) for r in s.announce)
                out.append(Choose(s.role, family, s.step, s.knowing, s.span, s.step_span, size, told))
            case Call():
                args = tuple(map_ref(a, b) for a in s.args)
                pas = tuple(ParamArg(pa.name, _bound(pa.value, params), pa.span) for pa in s.params)
                out.append(Call(s.target, args, s.span, pas))
            case _:
                out.append(s)
    return tuple(out)

"""Well-formedness checks over the global AST, one named function per rule.

Every ``check_*`` is a pure function ``Protocol -> Iterable[Diagnostic]`` listed in
``CHECKS``; ``validate`` runs them all. Merge checks (M303) belong to projection.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Iterator
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Final, TypeVar

from codegen.core.ast import (
    EPOCH_STEP,
    Branch,
    Broadcast,
    Call,
    Choice,
    Choose,
    Chosen,
    Continue,
    FixedBytesType,
    GBinary,
    GLit,
    GName,
    GuardExpr,
    GUnary,
    IndexAll,
    IndexConst,
    IndexParam,
    IndexRange,
    IndexRing,
    IndexVar,
    Interaction,
    ListType,
    LocalStep,
    Loop,
    MapType,
    OptionalType,
    Parallel,
    PrimType,
    Protocol,
    Rec,
    RecordRef,
    RoleDecl,
    RoleRef,
    StepDecl,
    Stmt,
    SubProtocol,
    TypeExpr,
)
from codegen.core.diagnostics import (
    AMBIGUOUS_CHOICE,
    BAD_CHOSEN_ROLE,
    BAD_EPOCH_BUMP,
    BAD_FAILURE_BRANCH,
    BAD_INDEX_VAR,
    BAD_LOOP,
    BAD_RING_INDEX,
    BAD_UNION,
    CHOOSER_NOT_FIRST,
    CONTINUE_ACROSS_LOOP,
    CONTINUE_ACROSS_PARALLEL,
    DEAD_GUARD,
    DUPLICATE_FIELD,
    DUPLICATE_LABEL,
    DUPLICATE_MESSAGE,
    DUPLICATE_PARAM,
    DUPLICATE_REC,
    DUPLICATE_ROLE,
    DUPLICATE_SUBPROTOCOL,
    EMPTY_BODY,
    EMPTY_RANGE,
    FAILED_ROLE_ACTS,
    GUARD_TYPE,
    GUARDS_NOT_EXHAUSTIVE,
    INDEX_ON_SINGLE_ROLE,
    INDEX_OUT_OF_BOUNDS,
    LOOP_NOT_INFORMED,
    LOOP_STARVATION,
    MISSING_INDEX,
    NAME_COLLISION,
    PARALLEL_RACE,
    RECURSIVE_RECORD,
    REVERSED_RANGE,
    SELF_SEND,
    SINGLE_BRANCH_CHOICE,
    UNBOUND_CONTINUE,
    UNDEFINED_GUARD_NAME,
    UNDEFINED_MESSAGE,
    UNDEFINED_PARAM,
    UNDEFINED_ROLE,
    UNDEFINED_STEP,
    UNDEFINED_SUBPROTOCOL,
    UNDEFINED_TYPE,
    UNGUARDED_CALL_CYCLE,
    UNGUARDED_RECURSION,
    UNREACHABLE,
    UNSUPPORTED_FAMILY_FORM,
    UNUSED_MESSAGE,
    UNUSED_ROLE,
    UNUSED_STEP,
    Diagnostic,
    did_you_mean,
    sort_diagnostics,
)
from codegen.core.names import method_suffix, snake_case
from codegen.core.span import Span
from codegen.core.text import ref_text
from codegen.core.typeexpr import PRIMS, type_text
from codegen.frontend.compose import InstantiationError, bind_call, map_ref
from codegen.frontend.guards import coverage, show_value

Check = Callable[[Protocol], Iterable[Diagnostic]]

# ---------------------------------------------------------------- traversal helpers


@dataclass(frozen=True)
class Scope:
    """A body and the roles it may name: the protocol itself or one sub-protocol."""

    name: str
    roles: tuple[RoleDecl, ...]
    body: tuple[Stmt, ...]
    span: Span
    is_sub: bool

    def role(self, name: str) -> RoleDecl | None:
        return self.by_name.get(name)

    @functools.cached_property
    def by_name(self) -> dict[str, RoleDecl]:
        # First declaration wins, as the linear search did; duplicates are reported elsewhere.
        out: dict[str, RoleDecl] = {}
        for r in self.roles:
            out.setdefault(r.name, r)
        return out


def scopes(p: Protocol) -> list[Scope]:
    out = [] if p.library else [Scope(p.name, p.roles, p.body, p.span, False)]
    # Imported sub-protocols were checked in their own file, against their own parameters.
    out.extend(Scope(s.name, s.roles, s.body, s.span, True) for s in p.subprotocols if s.origin is None)
    return out


_T = TypeVar("_T")

# While validate() runs, walks of the same body are shared: a dozen checks walk every body.
# Keyed by id(); the memo keeps the body alive, so an id cannot be reused while cached.
_WALK_MEMO: ContextVar[dict[int, tuple[object, list[Stmt]]] | None] = ContextVar(
    "_WALK_MEMO", default=None
)


def walk(stmts: Iterable[Stmt]) -> list[Stmt]:
    """Every statement, nested ones included, in source order (do not mutate the result)."""
    memo = _WALK_MEMO.get()
    if memo is not None:
        hit = memo.get(id(stmts))
        if hit is not None and hit[0] is stmts:
            return hit[1]
    out = _walk(stmts)
    if memo is not None:
        memo[id(stmts)] = (stmts, out)
    return out


# Most statements are interactions, and most checks look only at the others, or only at the
# role references: each list is built once per body while validate() runs, like the walks.
_COMPOUND_MEMO: ContextVar[dict[int, tuple[object, list[Stmt]]] | None] = ContextVar(
    "_COMPOUND_MEMO", default=None
)
_REFS_MEMO: ContextVar[dict[int, tuple[object, list[tuple[Stmt, RoleRef]]]] | None] = ContextVar(
    "_REFS_MEMO", default=None
)


def _memo(memo: dict[int, tuple[object, list[_T]]] | None, key: object, build: Callable[[], list[_T]]) -> list[_T]:
    if memo is None:
        return build()
    hit = memo.get(id(key))
    if hit is not None and hit[0] is key:
        return hit[1]
    out = build()
    memo[id(key)] = (key, out)
    return out


def walk_compound(stmts: Iterable[Stmt]) -> list[Stmt]:
    """``walk(stmts)`` without the interactions, in the same order (do not mutate the result)."""
    return _memo(_COMPOUND_MEMO.get(), stmts, lambda: [s for s in walk(stmts) if not isinstance(s, Interaction)])


def walk_refs(stmts: Iterable[Stmt]) -> list[tuple[Stmt, RoleRef]]:
    """Every role reference of ``walk(stmts)`` with its statement, in order (do not mutate)."""
    return _memo(_REFS_MEMO.get(), stmts, lambda: [(s, ref) for s in walk(stmts) for ref in refs(s)])


def _walk(stmts: Iterable[Stmt]) -> list[Stmt]:
    # Iterative with an explicit stack: nested generators cost a resumption per level.
    out: list[Stmt] = []
    stack: list[Iterator[Stmt]] = [iter(stmts)]
    while stack:
        for s in stack[-1]:
            out.append(s)
            if isinstance(s, Choice):
                stack.extend(iter(b.body) for b in reversed(s.branches))
            elif isinstance(s, Rec | Loop):
                stack.append(iter(s.body))
            elif isinstance(s, Parallel):
                stack.extend(iter(br) for br in reversed(s.branches))
            else:
                continue
            break
        else:
            stack.pop()
    return out


def refs(s: Stmt) -> tuple[RoleRef, ...]:
    """The role references a statement itself names (not those of nested statements)."""
    # A tuple, not a generator: several checks ask this of every statement of the spec.
    if isinstance(s, Interaction):
        return (s.sender, s.receiver)
    if isinstance(s, Broadcast):
        return (s.sender,)
    if isinstance(s, Choice):
        return (s.at,)
    if isinstance(s, Loop):
        return () if s.decides is None else (s.decides,)
    if isinstance(s, Call):
        return s.args
    if isinstance(s, LocalStep):
        return (s.role,)
    if isinstance(s, Choose):
        return (s.family, *s.announce)
    return ()


def _subs(p: Protocol) -> dict[str, SubProtocol]:
    out: dict[str, SubProtocol] = {}
    for s in p.subprotocols:
        out.setdefault(s.name, s)
    return out


def _is_multi(ref: RoleRef) -> bool:
    return isinstance(ref.index, IndexAll | IndexRange)


def same_actor(a: RoleRef, b: RoleRef) -> bool:
    """Whether two references certainly denote the same single participant."""
    if a.name != b.name:
        return False
    ia, ib = a.index, b.index
    if ia is None or ib is None:
        return ia is None and ib is None
    if isinstance(ia, IndexConst) and isinstance(ib, IndexConst):
        return ia.value == ib.value
    if isinstance(ia, IndexParam) and isinstance(ib, IndexParam):
        return ia.name == ib.name
    return False


# ---------------------------------------------------------------- declarations


def check_duplicate_roles(p: Protocol) -> Iterable[Diagnostic]:
    for sc in scopes(p):
        seen: dict[str, RoleDecl] = {}
        for r in sc.roles:
            if r.name in seen:
                yield Diagnostic(
                    DUPLICATE_ROLE,
                    r.span,
                    f"role {r.name} is declared twice",
                    f"first declared on line {seen[r.name].span.line}",
                )
            else:
                seen[r.name] = r


def check_duplicate_messages(p: Protocol) -> Iterable[Diagnostic]:
    seen: dict[str, Span] = {}
    for kind, name, span in [("record", r.name, r.span) for r in p.records] + [
        ("message", m.name, m.span) for m in p.messages
    ]:
        if name in seen:
            yield Diagnostic(
                DUPLICATE_MESSAGE,
                span,
                f"{kind} {name} is declared twice",
                f"messages and records share one namespace; first declared on line {seen[name].line}",
            )
        else:
            seen[name] = span


def check_duplicate_params(p: Protocol) -> Iterable[Diagnostic]:
    seen: dict[str, Span] = {}
    for name, span in [(x.name, x.span) for x in p.params] + [
        (v.name, v.span) for v in p.guard_vars
    ]:
        if name in seen:
            yield Diagnostic(
                DUPLICATE_PARAM,
                span,
                f"{name!r} is declared twice",
                f"parameters and guard variables share one namespace; first declared on line {seen[name].line}",
            )
        else:
            seen[name] = span


def check_duplicate_fields(p: Protocol) -> Iterable[Diagnostic]:
    for owner, fields in [(m.name, m.fields) for m in p.messages] + [
        (r.name, r.fields) for r in p.records
    ]:
        seen: set[str] = set()
        for f in fields:
            if f.name in seen:
                yield Diagnostic(DUPLICATE_FIELD, f.span, f"{owner} has two fields named {f.name}")
            seen.add(f.name)


def check_name_collisions(p: Protocol) -> Iterable[Diagnostic]:
    """Distinct spec names that the generator would map to one identifier (see codegen.core.names)."""

    def collide(
        items: Iterable[tuple[str, Span]],
        what: str,
        mapping: Callable[[str], str],
        keys: dict[str, str] | None = None,
    ) -> Iterator[Diagnostic]:
        seen: dict[str, tuple[str, Span]] = {}
        keys = {} if keys is None else keys  # mapping() by name, shared by calls that pass it
        for name, span in items:
            key = keys.get(name)
            if key is None:
                key = keys[name] = mapping(name)
            if key in seen and seen[key][0] != name:
                first, first_span = seen[key]
                yield Diagnostic(
                    NAME_COLLISION,
                    span,
                    f"{what} {name} and {first} both become {key!r} in generated code",
                    f"{first} is declared on line {first_span.line}; rename one of them",
                )
            seen.setdefault(key, (name, span))

    yield from collide(((m.name, m.span) for m in p.messages), "messages", method_suffix)
    for sc in scopes(p):
        yield from collide(((r.name, r.span) for r in sc.roles), "roles", snake_case)
    label_keys: dict[str, str] = {}  # the same labels recur in thousands of choices
    for sc in scopes(p):
        for s in walk_compound(sc.body):
            if isinstance(s, Choice):
                keys = set()
                for br in s.branches:
                    key = label_keys.get(br.label)
                    keys.add(key if key is not None else label_keys.setdefault(br.label, method_suffix(br.label)))
                if len(keys) < len(s.branches):  # two labels share an identifier: say which
                    yield from collide(
                        ((b.label, b.span) for b in s.branches), "labels", method_suffix, label_keys
                    )


def _type_refs(t: TypeExpr) -> Iterator[RecordRef]:
    match t:
        case RecordRef():
            yield t
        case ListType() | OptionalType():
            yield from _type_refs(t.item)
        case MapType():
            yield from _type_refs(t.value)
        case PrimType() | FixedBytesType():
            pass


def check_undefined_types(p: Protocol) -> Iterable[Diagnostic]:
    records = {r.name for r in p.records}
    types = [f.type for m in p.messages for f in m.fields] + [
        f.type for r in p.records for f in r.fields
    ]
    types += [v.type for v in p.guard_vars]
    messages = {m.name for m in p.messages}
    types += [ref for r in p.records for ref in r.variants if ref.name not in messages]  # else M216
    types += [t for st in p.steps for t in (st.input, st.output) if t is not None]
    for t in types:
        for ref in _type_refs(t):
            if ref.name not in records:
                hint = (
                    did_you_mean(ref.name, [*records, *PRIMS])
                    or "declare it under types:, or use int, str, bytes, bool, float, bytesN, list[T], optional[T]"
                )
                yield Diagnostic(UNDEFINED_TYPE, ref.span, f"undefined type {ref.name!r}", hint)


def check_recursive_records(p: Protocol) -> Iterable[Diagnostic]:
    """A record reaching itself through plain fields (list/optional are indirections)."""
    direct: dict[str, list[str]] = {}
    for r in p.records:
        direct[r.name] = [f.type.name for f in r.fields if isinstance(f.type, RecordRef)]
    for r in p.records:
        stack = list(direct.get(r.name, []))
        seen: set[str] = set()
        while stack:
            name = stack.pop()
            if name == r.name:
                yield Diagnostic(
                    RECURSIVE_RECORD,
                    r.span,
                    f"record {r.name} contains itself",
                    "break the cycle with optional[...] or list[...]",
                )
                break
            if name not in seen:
                seen.add(name)
                stack.extend(direct.get(name, []))


def check_unions(p: Protocol) -> Iterable[Diagnostic]:
    by_name = {r.name: r for r in p.records}
    messages = {m.name for m in p.messages}
    for r in p.records:
        if not r.variants:
            continue
        if len(r.variants) == 1:
            yield Diagnostic(BAD_UNION, r.span, f"union {r.name} has one variant", "a union lists two or more records; use the record itself")
        seen: set[str] = set()
        for v in r.variants:
            target = by_name.get(v.name)
            if v.name in seen:
                yield Diagnostic(BAD_UNION, v.span, f"{v.name} is listed twice in union {r.name}")
            elif v.name in messages:
                yield Diagnostic(BAD_UNION, v.span, f"{v.name} is a message; a union lists records", f"declare {v.name}'s fields under types")
            elif target is not None and target.variants:
                yield Diagnostic(BAD_UNION, v.span, f"{v.name} is a union itself; list its records in {r.name} directly")
            seen.add(v.name)


# ---------------------------------------------------------------- roles and messages


def check_undefined_roles(p: Protocol) -> Iterable[Diagnostic]:
    for sc in scopes(p):
        names = [r.name for r in sc.roles]
        declared = sc.by_name
        for _, ref in walk_refs(sc.body):
            if ref.name not in declared:
                where = f" of sub-protocol {sc.name}" if sc.is_sub else ""
                yield Diagnostic(
                    UNDEFINED_ROLE,
                    ref.span,
                    f"undefined role {ref.name}",
                    did_you_mean(ref.name, names) or f"declare it under roles{where}",
                )


def _used_roles(sc: Scope) -> set[str]:
    if any(isinstance(s, Broadcast) for s in walk_compound(sc.body)):
        return {r.name for r in sc.roles}
    return {r.name for _, r in walk_refs(sc.body)}


def check_unused_roles(p: Protocol) -> Iterable[Diagnostic]:
    for sc in scopes(p):
        used = _used_roles(sc)
        for r in sc.roles:
            if r.name not in used:
                yield Diagnostic(
                    UNUSED_ROLE,
                    r.span,
                    f"role {r.name} takes part in no interaction",
                    "remove it from roles, or give it something to do",
                )


def check_undefined_messages(p: Protocol) -> Iterable[Diagnostic]:
    names = [m.name for m in p.messages]
    declared = set(names)
    records = {r.name for r in p.records}
    for sc in scopes(p):
        for s in walk(sc.body):
            if isinstance(s, Interaction | Broadcast) and s.message not in declared:
                hint = did_you_mean(s.message, names) or "declare it under messages"
                if s.message in records:
                    hint = f"{s.message} is a record type; declare a message that carries it"
                yield Diagnostic(UNDEFINED_MESSAGE, s.message_span, f"undefined message {s.message}", hint)


def check_unused_messages(p: Protocol) -> Iterable[Diagnostic]:
    sent = {
        s.message
        for sc in scopes(p)
        for s in walk(sc.body)
        if isinstance(s, Interaction | Broadcast)
    }
    for m in p.messages:
        if m.name not in sent and m.span.file == p.file:  # imported ones are used where declared
            yield Diagnostic(
                UNUSED_MESSAGE,
                m.span,
                f"message {m.name} is never sent",
                "remove it, or send it in an interaction",
            )


# ---------------------------------------------------------------- parameters


def check_params(p: Protocol) -> Iterable[Diagnostic]:
    params = {x.name for x in p.params}
    hint_list = ", ".join(sorted(params)) or "none"

    def undefined(name: str, span: Span, what: str, hint: str = "") -> Diagnostic:
        hint = (
            hint or did_you_mean(name, params) or f"declare it under params (declared: {hint_list})"
        )
        return Diagnostic(UNDEFINED_PARAM, span, f"undefined parameter {name!r} {what}", hint)

    for r in p.roles:
        if r.kind == "param" and isinstance(r.size, str) and r.size not in params:
            yield undefined(r.size, r.span, f"as the size of {r.name}")
    for sc in scopes(p):
        for s in walk_compound(sc.body):
            if isinstance(s, Loop) and isinstance(s.count, str) and s.count not in params:
                yield undefined(s.count, s.span, "as a loop count")
        for s, ref in walk_refs(sc.body):
            idx = ref.index
            if idx is None:
                continue
            if isinstance(idx, IndexRange):
                for b in (idx.lo, idx.hi):
                    if isinstance(b, str) and b not in params:
                        yield undefined(b, idx.span, "in a range")
            elif isinstance(idx, IndexVar) and not _index_var_pair(s):
                yield undefined(
                    idx.name,
                    idx.span,
                    f"as an index of {ref.name}",
                    did_you_mean(idx.name, params)
                    or "declare it under params; index variables appear only in the all-to-all form F[i] -> F[j]",
                )


def _index_var_pair(s: Stmt) -> bool:
    """``F[i] -> F[j]``, or a ring step ``F[i] -> F[i+1 mod N]`` (either way round)."""
    if not isinstance(s, Interaction):
        return False
    a, b = s.sender.index, s.receiver.index
    return (isinstance(a, IndexVar) and isinstance(b, IndexVar | IndexRing)) or (
        isinstance(a, IndexRing) and isinstance(b, IndexVar)
    )


def _ring(s: Interaction) -> IndexRing | None:
    for idx in (s.sender.index, s.receiver.index):
        if isinstance(idx, IndexRing):
            return idx
    return None


def _chosen(ref: RoleRef) -> Chosen | None:
    """The role chosen at run time that ``ref`` stands for, if any."""
    idx = ref.index
    return idx.name if isinstance(idx, IndexParam) and isinstance(idx.name, Chosen) else None


# ---------------------------------------------------------------- families


def _size(decl: RoleDecl) -> int | None:
    return decl.size if decl.kind == "fixed" and isinstance(decl.size, int) else None


def _check_index(ref: RoleRef, decl: RoleDecl, allow_missing: bool) -> Iterator[Diagnostic]:
    idx = ref.index
    if decl.kind == "single":
        if idx is not None:
            yield Diagnostic(
                INDEX_ON_SINGLE_ROLE,
                idx.span,
                f"{ref.name} is a single role and takes no index",
                f"write {ref.name}",
            )
        return
    if idx is None:
        if not allow_missing:
            yield Diagnostic(
                MISSING_INDEX,
                ref.span,
                f"{ref.name} is a family: say which members",
                f"write {ref.name}[*] for all, {ref.name}[0] for one, or {ref.name}[0..t] for a range",
            )
        return
    size = _size(decl)
    if isinstance(idx, IndexConst) and size is not None and idx.value >= size:
        yield Diagnostic(
            INDEX_OUT_OF_BOUNDS,
            idx.span,
            f"index {idx.value} is outside {ref.name}, which has members 0..{size - 1}",
        )
    if isinstance(idx, IndexRange):
        lo, hi = idx.lo, idx.hi
        if isinstance(lo, int) and isinstance(hi, int) and lo > hi:
            yield Diagnostic(
                REVERSED_RANGE,
                idx.span,
                f"range {lo}..{hi} is reversed",
                f"ranges are lo..hi with lo <= hi (half-open): write {hi}..{lo}",
            )
        elif lo == hi:
            yield Diagnostic(
                EMPTY_RANGE,
                idx.span,
                f"range {lo}..{hi} selects no member",
                "ranges are half-open: lo..hi selects lo <= i < hi",
            )
        elif size is not None:
            for b in (lo, hi):
                if isinstance(b, int) and (b > size or (b is lo and b >= size)):
                    yield Diagnostic(
                        INDEX_OUT_OF_BOUNDS,
                        idx.span,
                        f"range {lo}..{hi} is outside {ref.name}, which has {size} members",
                    )
                    break


def check_family_indices(p: Protocol) -> Iterable[Diagnostic]:
    for sc in scopes(p):
        declared = sc.by_name
        for s, ref in walk_refs(sc.body):
            decl = declared.get(ref.name)
            if decl is not None and (ref.index is not None or decl.kind != "single"):
                # Call arguments get their own, more specific error (M502).
                yield from _check_index(ref, decl, allow_missing=isinstance(s, Call))


def _apart(a: RoleRef, b: RoleRef) -> bool:
    """Whether a literal member and a range of its family are certainly disjoint
    (``F[0] -> F[1..N]``: one member telling the others, so it never sends to itself)."""
    for one, many in ((a, b), (b, a)):
        if isinstance(one.index, IndexConst) and isinstance(many.index, IndexRange):
            k, lo, hi = one.index.value, many.index.lo, many.index.hi
            return (isinstance(lo, int) and lo > k) or (isinstance(hi, int) and hi <= k)
    return False


def check_family_forms(p: Protocol) -> Iterable[Diagnostic]:
    """Index variables (M405) and combinations of family references projection cannot handle (M406)."""
    for sc in scopes(p):
        for s in walk(sc.body):
            if isinstance(s, Interaction):
                snd, rcv = s.sender, s.receiver
                if snd.index is None and rcv.index is None:
                    continue  # between single roles: nothing to check here
                if (ring := _ring(s)) is not None:
                    yield from _check_ring(sc, s, ring)
                elif _index_var_pair(s):
                    assert isinstance(snd.index, IndexVar) and isinstance(rcv.index, IndexVar)
                    if snd.index.within != rcv.index.within:
                        name = snd.index.within or rcv.index.within
                        yield Diagnostic(
                            BAD_CHOSEN_ROLE, s.span, f"{ref_text(snd)} -> {ref_text(rcv)}: all-to-all relates members of the set {name} only",
                            f"write {name}[i] -> {name}[j], or {name}[*] -> {snd.name}[*] to reach every member",
                        )
                    elif snd.name != rcv.name:
                        yield Diagnostic(
                            UNSUPPORTED_FAMILY_FORM,
                            s.span,
                            f"{ref_text(snd)} -> {ref_text(rcv)}: index variables relate members of one family",
                            f"all-to-all is {snd.name}[i] -> {snd.name}[j]; between families use {ref_text(snd).split('[')[0]}[*] -> {rcv.name}[...] steps",
                        )
                    elif snd.index.name == rcv.index.name:
                        yield Diagnostic(
                            BAD_INDEX_VAR,
                            rcv.index.span,
                            f"{ref_text(snd)} -> {ref_text(rcv)} uses one variable on both sides",
                            f"use two distinct variables: {snd.name}[i] -> {snd.name}[j]",
                        )
                elif _within(snd) or _within(rcv):
                    if (d := _set_step(s)) is not None:
                        yield d
                elif _is_multi(snd) and _is_multi(rcv):
                    yield Diagnostic(
                        UNSUPPORTED_FAMILY_FORM,
                        s.span,
                        f"{ref_text(snd)} -> {ref_text(rcv)}: many-to-many steps are not supported",
                        "split it: collect at one role, then send to the family",
                    )
                elif snd.name == rcv.name and (
                    (isinstance(snd.index, IndexAll) and _chosen(rcv)) or (isinstance(rcv.index, IndexAll) and _chosen(snd))
                ):
                    continue  # F[*] -> Coordinator: every other member (projection excludes it)
                elif snd.name == rcv.name and (_chosen(snd) or _chosen(rcv)):
                    who = _chosen(snd) or _chosen(rcv)
                    yield Diagnostic(
                        BAD_CHOSEN_ROLE,
                        s.span,
                        f"{ref_text(snd)} -> {ref_text(rcv)}: {who} may be that very member, which would send to itself",
                        f"between {who} and its family write {snd.name}[*] -> {who} or {who} -> {snd.name}[*] (every other member)",
                    )
                elif snd.name == rcv.name and (_is_multi(snd) or _is_multi(rcv)) and not _apart(snd, rcv):
                    yield Diagnostic(
                        UNSUPPORTED_FAMILY_FORM,
                        s.span,
                        f"{ref_text(snd)} -> {ref_text(rcv)}: a family step that may include a member sending to itself",
                        f"for all-to-all write {snd.name}[i] -> {snd.name}[j]",
                    )
            elif isinstance(s, Broadcast) and (
                _is_multi(s.sender) or isinstance(s.sender.index, IndexVar)
            ):
                yield Diagnostic(
                    UNSUPPORTED_FAMILY_FORM, s.sender.span, f"a broadcast is sent by one role, not {ref_text(s.sender)}"
                )
            elif isinstance(s, Choice) and s.failure is None and (_is_multi(s.at) or isinstance(s.at.index, IndexVar)):
                yield Diagnostic(
                    UNSUPPORTED_FAMILY_FORM,
                    s.at.span,
                    f"a choice is made by one role, not {ref_text(s.at)}",
                    f"choose at one member, e.g. {s.at.name}[0]",
                )


def _check_ring(sc: Scope, s: Interaction, ring: IndexRing) -> Iterator[Diagnostic]:
    """``F[i] -> F[i+1 mod N]``: one family, its index variable, its size."""
    snd, rcv = s.sender, s.receiver
    other = rcv if ring is snd.index else snd
    if snd.name != rcv.name:
        yield Diagnostic(
            BAD_RING_INDEX, ring.span, f"{ref_text(snd)} -> {ref_text(rcv)}: a ring goes round one family",
            f"write {other.name}[i] -> {other.name}[i+1 mod N]",
        )
        return
    if not isinstance(other.index, IndexVar):
        yield Diagnostic(
            BAD_RING_INDEX, ring.span, f"{ref_text(snd)} -> {ref_text(rcv)}: a ring index stands opposite an index variable",
            f"write {snd.name}[i] -> {snd.name}[i+1 mod N]",
        )
        return
    if ring.var != other.index.name:
        yield Diagnostic(
            BAD_RING_INDEX, ring.span, f"the ring index names {ring.var!r}, not the index variable {other.index.name!r} of the other side",
            f"write {snd.name}[{other.index.name}{'+' if ring.offset > 0 else '-'}{abs(ring.offset)} mod ...]",
        )
    if ring.offset == 0:
        yield Diagnostic(BAD_RING_INDEX, ring.span, "a ring offset of 0 makes every member send to itself", "write i+1 or i-1")
    decl = sc.role(snd.name)
    if decl is None or decl.kind == "single":
        return  # undefined roles and indices on single roles are reported elsewhere
    size = "*" if decl.kind == "dynamic" else decl.size
    if ring.size != size:
        yield Diagnostic(
            BAD_RING_INDEX,
            ring.span,
            f"the ring index is taken mod {ring.size}, but {snd.name} has {'any number of' if size == '*' else size} members",
            f"write mod {size}: the ring goes round the whole family {decl.name}[{size}]",
        )


def check_ring_places(p: Protocol) -> Iterable[Diagnostic]:
    """A ring index names a member relative to the other side of a step: only there."""
    for sc in scopes(p):
        for s in walk_compound(sc.body):
            if isinstance(s, Interaction):
                continue
            for ref in refs(s):
                if isinstance(ref.index, IndexRing):
                    yield Diagnostic(
                        BAD_RING_INDEX, ref.index.span, f"{ref_text(ref)}: a ring index appears only in a step between members",
                        f"write {ref.name}[i] -> {ref.name}[i+1 mod ...]",
                    )


def check_self_send(p: Protocol) -> Iterable[Diagnostic]:
    for sc in scopes(p):
        for s in walk(sc.body):
            if isinstance(s, Interaction) and same_actor(s.sender, s.receiver):
                yield Diagnostic(
                    SELF_SEND,
                    s.receiver.span,
                    f"{ref_text(s.sender)} sends {s.message} to itself",
                    "a message goes from one role to another",
                )


# ---------------------------------------------------------------- choices


def _first_actors(
    stmts: tuple[Stmt, ...], p: Protocol, recs: dict[str, tuple[Stmt, ...]], seen: frozenset[str]
) -> list[tuple[RoleRef | None, Span]]:
    """Who acts first in ``stmts`` on every path (None: nobody, e.g. an empty body)."""
    if not stmts:
        return []
    s = stmts[0]
    match s:
        case Interaction() | Broadcast():
            return [(s.sender, s.sender.span)]
        case LocalStep():
            return [(s.role, s.role.span)]
        case Choose():
            return [(s.family, s.span)]
        case Choice():
            return [(s.at, s.at.span)]
        case Rec():
            return _first_actors(s.body, p, {**recs, s.name: s.body}, seen)
        case Loop():
            if s.decides is not None:
                return [(s.decides, s.decides.span)]
            return _first_actors(s.body, p, recs, seen)
        case Parallel():
            return [a for br in s.branches for a in _first_actors(br, p, recs, seen)]
        case Continue():
            key = "rec " + s.name
            if s.name not in recs or key in seen:
                return [(None, s.span)]
            return _first_actors(recs[s.name], p, recs, seen | {key})
        case Call():
            sub = _subs(p).get(s.target)
            key = "call " + s.target
            if sub is None or key in seen or len(sub.roles) != len(s.args):
                return []
            binding, _ = bind_call(s, sub, {r.name: r for r in p.roles}, frozenset(x.name for x in p.params))
            out: list[tuple[RoleRef | None, Span]] = []
            for ref, _ in _first_actors(sub.body, p, {}, seen | {key}):
                if ref is not None and binding is not None:
                    try:
                        ref = map_ref(ref, binding)
                    except InstantiationError:
                        pass  # reported when the call is inlined
                out.append((ref, s.span))
            return out


def check_choices(p: Protocol) -> Iterable[Diagnostic]:
    for sc in scopes(p):
        yield from _check_choices(sc.body, p, {})


def _check_choices(
    stmts: tuple[Stmt, ...], p: Protocol, recs: dict[str, tuple[Stmt, ...]]
) -> Iterator[Diagnostic]:
    for s in stmts:
        match s:
            case Choice():
                yield from _check_one_choice(s, p, recs)
                for b in s.branches:
                    yield from _check_choices(b.body, p, recs)
            case Rec():
                yield from _check_choices(s.body, p, {**recs, s.name: s.body})
            case Loop():
                yield from _check_choices(s.body, p, recs)
            case Parallel():
                for br in s.branches:
                    yield from _check_choices(br, p, recs)
            case _:
                pass


def _check_one_choice(
    c: Choice, p: Protocol, recs: dict[str, tuple[Stmt, ...]]
) -> Iterator[Diagnostic]:
    if c.failure is not None:
        yield from _check_failure_branch(c, c.failure)
        return
    if len(c.branches) < 2:
        # One branch is legal (Scribble, nuScr): it chooses nothing, so only a warning.
        yield Diagnostic(
            SINGLE_BRANCH_CHOICE,
            c.span,
            f"choice at {ref_text(c.at)} has {len(c.branches)} branch{'es' if len(c.branches) != 1 else ''}",
            "a choice needs at least two branches to choose anything; without a choice, write the statements directly",
            "warning" if c.branches else "error",
        )
    yield from _check_ambiguous(c)
    labels: dict[str, Branch] = {}
    for b in c.branches:
        if b.label in labels:
            yield Diagnostic(
                DUPLICATE_LABEL, b.span, f"choice at {ref_text(c.at)} has two branches labelled {b.label}"
            )
        labels.setdefault(b.label, b)
        for actor, span in _first_actors(b.body, p, recs, frozenset()):
            if actor is None:
                yield Diagnostic(
                    CHOOSER_NOT_FIRST,
                    span,
                    f"branch {b.label!r} starts without an action of the chooser {ref_text(c.at)}",
                    "start every branch with a message sent by the chooser, so the others learn the branch",
                )
            elif not same_actor(actor, c.at):
                yield Diagnostic(
                    CHOOSER_NOT_FIRST,
                    span,
                    f"branch {b.label!r} starts with an action of {ref_text(actor)}, not of the chooser {ref_text(c.at)}",
                    "start every branch with a message sent by the chooser, so the others learn the branch",
                )


def _chosen_to_family(at: RoleRef, failed: RoleRef) -> bool:
    """``R -> F[*]`` where ``R`` is the member chosen from ``F``: every other member receives
    from it, so each survivor learns of its failure first-hand (no relay needed)."""
    return isinstance(at.index, IndexAll) and at.name == failed.name and _chosen(failed) is not None


def _check_failure_branch(c: Choice, failed: RoleRef) -> Iterator[Diagnostic]:
    """A failure branch (crash-stop) is taken by one receiver when its sender is gone: a
    single role, a family member, or any member of a family or range it collects from. In
    the branch the failed role is dead, so it must not act there (not even be broadcast to);
    when it is a family member, a send to its whole family still reaches the survivors (the
    runtime skips members taken for crashed). The one multi-receiver case is the member
    chosen at run time sending to its own family."""
    if _chosen_to_family(c.at, failed):
        pass  # each other member receives from the chosen one and finds out first-hand
    elif _is_multi(c.at):
        yield Diagnostic(
            BAD_FAILURE_BRANCH,
            c.at.span,
            f"a failure branch has one receiver, not {ref_text(c.at)}",
            "let one role (a monitor, or one member) receive from the role that may fail, "
            "and tell the family in both cases",
        )
        return
    elif c.at.index is not None and c.at.name == failed.name:
        yield Diagnostic(
            BAD_FAILURE_BRANCH,
            c.at.span,
            f"the receiver {ref_text(c.at)} and the role that may fail ({ref_text(failed)}) are of one family",
            "let a role outside the family receive from the member that may fail",
        )
        return
    member = failed.index is not None
    fail_body = c.branches[-1].body
    for s in walk(fail_body):
        if isinstance(s, Broadcast):
            yield Diagnostic(
                FAILED_ROLE_ACTS,
                s.span,
                f"a broadcast in the failure branch of {ref_text(failed)} would also go to {ref_text(failed)}, which has failed",
                "send to the surviving roles one by one" + (f", or to {failed.name}[*]" if member else ""),
            )
            continue
        for ref in refs(s):
            if ref.name != failed.name:
                continue
            if member and _is_multi(ref) and (
                (isinstance(s, Interaction) and ref is s.receiver) or isinstance(s, LocalStep)
            ):
                continue  # the family's survivors: the failed member is skipped at run time
            if same_actor(ref, failed) or ref.index is None or _is_multi(ref) or _is_multi(failed):
                yield Diagnostic(
                    FAILED_ROLE_ACTS,
                    ref.span,
                    f"{ref_text(ref)} takes part in the failure branch of {ref_text(failed)}, which runs when "
                    f"{'a member of ' if _is_multi(failed) else ''}{ref_text(failed)} has failed",
                    "in a failure branch only the surviving roles act"
                    + (f"; a send to {failed.name}[*] and a local step of {failed.name}[*] reach the survivors" if member else ""),
                )


def _opening(body: tuple[Stmt, ...]) -> tuple[str, str] | None:
    """The first message of a branch as (receiver, message), when it starts with one."""
    if not body:
        return None
    s = body[0]
    match s:
        case Interaction():
            return ref_text(s.receiver), s.message
        case Broadcast():
            return "*", s.message
    return None


def _check_ambiguous(c: Choice) -> Iterator[Diagnostic]:
    """Two branches opening with the same message: its receiver cannot tell them apart by
    it, and which one the chooser means is a guess (nuScr rejects these too)."""
    first: dict[tuple[str, str], Branch] = {}
    for b in c.branches:
        key = _opening(b.body)
        if key is None:
            continue
        other = first.get(key)
        if other is None:
            first[key] = b
            continue
        to, msg = key
        yield Diagnostic(
            AMBIGUOUS_CHOICE,
            b.span,
            f"branches {other.label!r} and {b.label!r} of the choice at {ref_text(c.at)} both open with "
            f"{ref_text(c.at)} -> {to}: {msg}, so {to} cannot tell them apart by it",
            f"move the common step before the choice, or open each branch with its own message (first on line {other.span.line})",
        )


# ---------------------------------------------------------------- recursion and bodies


def check_recursion(p: Protocol) -> Iterable[Diagnostic]:
    out: list[Diagnostic] = []
    subs = _subs(p)
    for sc in scopes(p):
        _rec_walk(sc.body, (), frozenset(), subs, out)
    return out


Frame = tuple[str, str]  # ("rec", name) | ("parallel", "") | ("loop", "")


def _rec_names(frames: tuple[Frame, ...]) -> frozenset[str]:
    return frozenset(n for k, n in frames if k == "rec")


def _rec_walk(
    stmts: tuple[Stmt, ...],
    frames: tuple[Frame, ...],
    guarded: frozenset[str],
    subs: dict[str, SubProtocol],
    out: list[Diagnostic],
) -> frozenset[str]:
    """Walk a sequence; returns the recs guarded (an interaction seen since entry) after it."""
    enclosing = _rec_names(frames)  # once per body: every interaction in it needs it
    after: Continue | None = None
    flagged = False
    for s in stmts:
        if after is not None and not flagged:
            out.append(
                Diagnostic(
                    UNREACHABLE,
                    s.span,
                    f"this statement follows 'continue {after.name}' and can never run",
                    "move it before the continue, or remove it",
                )
            )
            flagged = True
        match s:
            case Interaction() | Broadcast():
                guarded = enclosing
            case Continue():
                _check_continue(s, frames, guarded, out)
                after = s
            case Rec():
                if s.name in enclosing:
                    out.append(
                        Diagnostic(
                            DUPLICATE_REC,
                            s.span,
                            f"rec {s.name} shadows an enclosing rec of the same name",
                            "give the inner rec another name",
                        )
                    )
                inner = _rec_walk(s.body, (*frames, ("rec", s.name)), guarded, subs, out)
                guarded = inner - {s.name}
            case Choice():
                results = [_rec_walk(b.body, frames, guarded, subs, out) for b in s.branches]
                if results:
                    guarded = frozenset.intersection(*results)
            case Loop():
                inner = _rec_walk(s.body, (*frames, ("loop", "")), guarded, subs, out)
                if s.decides is not None:
                    guarded = enclosing  # the decider's control message is an interaction
                elif isinstance(s.count, int) and s.count > 0:
                    guarded = guarded | inner
            case Parallel():
                results = [
                    _rec_walk(br, (*frames, ("parallel", "")), guarded, subs, out)
                    for br in s.branches
                ]
                guarded = guarded.union(*results)
            case Call():
                sub = subs.get(s.target)
                if sub is not None and any(
                    isinstance(x, Interaction | Broadcast) for x in walk(sub.body)
                ):
                    guarded = enclosing
    return guarded


def _check_continue(
    s: Continue, frames: tuple[Frame, ...], guarded: frozenset[str], out: list[Diagnostic]
) -> None:
    barrier = ""
    for kind, name in reversed(frames):
        if kind == "rec" and name == s.name:
            if barrier == "parallel":
                out.append(
                    Diagnostic(
                        CONTINUE_ACROSS_PARALLEL,
                        s.span,
                        f"continue {s.name} jumps out of a parallel branch",
                        "branches of parallel must each end; put the rec inside the branch or around the parallel",
                    )
                )
            elif barrier == "loop":
                out.append(
                    Diagnostic(
                        CONTINUE_ACROSS_LOOP,
                        s.span,
                        f"continue {s.name} jumps out of a loop body",
                        "a loop body runs to its end each iteration; use a rec inside the loop, or a choice in a rec instead of the loop",
                    )
                )
            elif s.name not in guarded:
                out.append(
                    Diagnostic(
                        UNGUARDED_RECURSION,
                        s.span,
                        f"continue {s.name} is reached without any interaction since rec {s.name}",
                        "put at least one interaction before the continue",
                    )
                )
            return
        if kind in ("parallel", "loop") and not barrier:
            barrier = kind
    names = _rec_names(frames)
    out.append(
        Diagnostic(
            UNBOUND_CONTINUE,
            s.span,
            f"continue {s.name} is not inside a rec {s.name}",
            did_you_mean(s.name, names) or "continue may only name an enclosing rec",
        )
    )


def check_empty_bodies(p: Protocol) -> Iterable[Diagnostic]:
    for sc in scopes(p):
        if not sc.body:
            what = f"sub-protocol {sc.name}" if sc.is_sub else f"protocol {sc.name}"
            yield Diagnostic(EMPTY_BODY, sc.span, f"{what} has no interactions")
        for s in walk_compound(sc.body):
            match s:
                case Choice():
                    for b in s.branches:
                        if not b.body and s.failure is None:  # an empty failure branch just ends the block
                            yield Diagnostic(
                                EMPTY_BODY,
                                b.span,
                                f"branch {b.label!r} is empty",
                                "every branch starts with a message from the chooser",
                            )
                case Rec() if not s.body:
                    yield Diagnostic(EMPTY_BODY, s.span, f"rec {s.name} is empty")
                case Loop() if not s.body:
                    yield Diagnostic(EMPTY_BODY, s.span, "the loop body is empty")
                case Parallel():
                    if not s.branches:
                        yield Diagnostic(EMPTY_BODY, s.span, "parallel has no branches")
                    for n, br in enumerate(s.branches, start=1):
                        if not br:
                            yield Diagnostic(EMPTY_BODY, s.span, f"branch {n} of parallel is empty")
                case _:
                    pass


# ---------------------------------------------------------------- loops


def _participants(stmts: Iterable[Stmt], roles: tuple[RoleDecl, ...]) -> set[str]:
    out: set[str] = set()
    for s in walk(stmts):
        if isinstance(s, Broadcast):
            out.update(r.name for r in roles)
        out.update(r.name for r in refs(s))
    return out


def check_loops(p: Protocol) -> Iterable[Diagnostic]:
    for sc in scopes(p):
        for s in walk_compound(sc.body):
            if not isinstance(s, Loop):
                continue
            if s.count is None and s.decides is None:
                yield Diagnostic(
                    BAD_LOOP,
                    s.span,
                    "the loop has neither count nor decides",
                    "add count: N (runs N times) or decides: Role (that role chooses each time)",
                )
                continue
            if s.count is not None and s.decides is not None:
                yield Diagnostic(
                    BAD_LOOP,
                    s.span,
                    "the loop has both count and decides",
                    "keep one: count runs a fixed number of times, decides lets a role choose",
                )
                continue
            d = s.decides
            if d is None:
                continue
            decl = sc.role(d.name)
            if decl is None:
                continue
            if decl.kind != "single" and (
                d.index is None or _is_multi(d) or isinstance(d.index, IndexVar)
            ):
                yield Diagnostic(
                    LOOP_NOT_INFORMED,
                    d.span,
                    f"a loop is decided by one role, not {ref_text(d)}",
                    f"name one member, e.g. {d.name}[0]",
                )
            elif s.body and d.name not in _participants(s.body, sc.roles):
                yield Diagnostic(
                    LOOP_NOT_INFORMED,
                    d.span,
                    f"{ref_text(d)} decides the loop but takes no part in its body",
                    "the decider must send or receive in the loop body",
                )


# ---------------------------------------------------------------- guards

_NUM = frozenset({"int", "float"})


def _guard_type(e: GuardExpr, env: dict[str, str], out: list[Diagnostic]) -> str | None:
    """The type of ``e`` (int, float, bool, str, or another payload type name); None if unknown."""
    match e:
        case GLit():
            return (
                "bool"
                if isinstance(e.value, bool)
                else "int"
                if isinstance(e.value, int)
                else "str"
            )
        case GName():
            if e.name not in env:
                out.append(
                    Diagnostic(
                        UNDEFINED_GUARD_NAME,
                        e.span,
                        f"guard reads {e.name!r}, which is neither a parameter nor a guard variable",
                        did_you_mean(e.name, env) or "declare it under params or vars",
                    )
                )
                return None
            return env[e.name]
        case GUnary():
            t = _guard_type(e.operand, env, out)
            want = "bool" if e.op == "not" else "a number"
            ok = t == "bool" if e.op == "not" else t in _NUM
            if t is not None and not ok:
                out.append(Diagnostic(GUARD_TYPE, e.operand.span, f"'{e.op}' needs {want}, found {t}"))
                return None
            return t
        case GBinary():
            lt = _guard_type(e.left, env, out)
            rt = _guard_type(e.right, env, out)
            if lt is None or rt is None:
                return None
            if e.op in ("and", "or"):
                for side, t in ((e.left, lt), (e.right, rt)):
                    if t != "bool":
                        out.append(
                            Diagnostic(
                                GUARD_TYPE,
                                side.span,
                                f"'{e.op}' needs booleans, found {t}",
                                "compare it, e.g. x > 0",
                            )
                        )
                        return None
                return "bool"
            if e.op in ("==", "!="):
                if lt != rt and not (lt in _NUM and rt in _NUM):
                    out.append(Diagnostic(GUARD_TYPE, e.span, f"'{e.op}' compares {lt} with {rt}"))
                    return None
                return "bool"
            for side, t in ((e.left, lt), (e.right, rt)):
                if t not in _NUM:
                    out.append(Diagnostic(GUARD_TYPE, side.span, f"'{e.op}' needs numbers, found {t}"))
                    return None
            if e.op in ("<", "<=", ">", ">="):
                return "bool"
            return "int" if lt == rt == "int" else "float"


def check_guards(p: Protocol) -> Iterable[Diagnostic]:
    env = {x.name: "int" for x in p.params}
    env.update({v.name: type_text(v.type) for v in p.guard_vars})
    out: list[Diagnostic] = []
    for sc in scopes(p):
        for s in walk_compound(sc.body):
            if isinstance(s, Choice):
                for b in s.branches:
                    if b.guard is None:
                        continue
                    before = len(out)
                    t = _guard_type(b.guard.expr, env, out)
                    if t is not None and t != "bool" and len(out) == before:
                        out.append(
                            Diagnostic(
                                GUARD_TYPE,
                                b.guard.expr.span,
                                f"a guard must be a condition (bool), found {t}",
                                "compare it, e.g. x > 0",
                            )
                        )
    return out


def check_guard_coverage(p: Protocol) -> Iterable[Diagnostic]:
    """When every branch is guarded, some guard must hold whatever the values (else the
    chooser can be left with no branch allowed); a guard that never holds is a dead branch."""
    types = {x.name: "int" for x in p.params}
    types.update({v.name: type_text(v.type) for v in p.guard_vars})
    params = frozenset(x.name for x in p.params)
    out: list[Diagnostic] = []
    for sc in scopes(p):
        for s in walk_compound(sc.body):
            if not isinstance(s, Choice):
                continue
            guarded = [b for b in s.branches if b.guard is not None]
            scratch: list[Diagnostic] = []
            typed = [_guard_type(b.guard.expr, types, scratch) for b in guarded if b.guard is not None]
            if not guarded or scratch or any(t != "bool" for t in typed):
                continue  # nothing to decide, or M212/M213 already reported
            exprs = [b.guard.expr for b in guarded if b.guard is not None]
            cov = coverage(exprs, types, params)
            every = len(guarded) == len(s.branches)
            if every and not cov.decided:
                out.append(
                    Diagnostic(
                        GUARDS_NOT_EXHAUSTIVE,
                        s.span,
                        f"cannot prove that the guards of the choice at {ref_text(s.at)} cover every value: "
                        "they use arithmetic or too many variables",
                        "add a branch without a guard (taken when no other applies)",
                    )
                )
            elif every and cov.gap is not None:
                values = ", ".join(f"{n} = {show_value(v)}" for n, v in cov.gap.items())
                out.append(
                    Diagnostic(
                        GUARDS_NOT_EXHAUSTIVE,
                        s.span,
                        f"no branch of the choice at {ref_text(s.at)} is allowed when {values}",
                        "widen a guard so that together they cover every value, or add a branch without a guard",
                    )
                )
            for i in cov.dead:
                b = guarded[i]
                assert b.guard is not None
                out.append(
                    Diagnostic(
                        DEAD_GUARD,
                        b.guard.span,
                        f"the guard of branch {b.label!r} can never hold, so the branch is dead",
                        "fix the guard or remove the branch",
                        "warning",
                    )
                )
    return out


# ---------------------------------------------------------------- starvation

# (roles that acted so far, branch labels taken); only the minimal acted sets matter.
_Path = tuple[frozenset[str], tuple[str, ...]]
_MAX_PATHS = 64  # minimal sets kept per program point; beyond it the check gives up quietly


def _acting(stmts: Iterable[Stmt], everyone: frozenset[str]) -> frozenset[str]:
    out: set[str] = set()
    for s in walk(stmts):
        match s:
            case Interaction(sender=a, receiver=b):
                out.update((a.name, b.name))
            case Broadcast():
                out.update(everyone)
            case Loop(decides=d) if d is not None:
                out.add(d.name)
            case Call(args=args):
                out.update(a.name for a in args)
    return frozenset(out)


def _minimal(paths: list[_Path]) -> list[_Path]:
    if len(paths) < 2:  # the common case, one path: nothing to compare (the list is not mutated)
        return paths
    out: list[_Path] = []
    for acted, trail in sorted(paths, key=lambda pt: (len(pt[0]), len(pt[1]))):
        if not any(o <= acted for o, _ in out):
            out.append((acted, trail))
    return out[:_MAX_PATHS]


class _Starve:
    """Paths through one rec body to its ``continue``s, tracking who has acted."""

    def __init__(self, rec: Rec, everyone: frozenset[str], out: list[Diagnostic]) -> None:
        self.rec = rec
        self.roles = _acting(rec.body, everyone)
        self.everyone = everyone
        self.out = out
        self.reported: set[str] = set()

    def run(self) -> None:
        self.seq(self.rec.body, [(frozenset(), ())])

    def seq(self, stmts: tuple[Stmt, ...], paths: list[_Path]) -> list[_Path]:
        for s in stmts:
            if not paths:
                break
            paths = _minimal(self.stmt(s, paths))
        return paths

    def stmt(self, s: Stmt, paths: list[_Path]) -> list[_Path]:
        roles = self.roles
        match s:
            case Interaction(sender=snd, receiver=rcv):  # as _acting((s,), ...), without a walk
                step = roles.intersection((snd.name, rcv.name))
                return [(a | step, t) for a, t in paths]
            case Broadcast() | Call():
                step = _acting((s,), self.everyone) & roles
                return [(a | step, t) for a, t in paths]
            case LocalStep():
                return paths  # a local step tells nobody anything
            case Choose(family=f):  # the members exchange their claims: each is told (and those announced to)
                return [(a | ({f.name, *(r.name for r in s.announce)} & roles), t) for a, t in paths]
            case Continue(name=name):
                if name == self.rec.name:
                    self.idle(s, paths)
                return []  # goes round (this rec or an enclosing one): no fall-through
            case Choice(branches=bs):
                out: list[_Path] = []
                for b in bs:
                    out.extend(self.seq(b.body, [(a, (*t, b.label)) for a, t in paths]))
                return out
            case Rec(body=body):
                return self.seq(body, paths)
            case Loop(body=body, decides=d, count=count):
                if d is not None:  # everyone acting in it is told each round, exit included
                    told = (_acting(body, self.everyone) | {d.name}) & roles
                    return [(a | told, t) for a, t in paths]
                if isinstance(count, int) and count > 0:
                    return self.seq(body, paths)
                return paths
            case Parallel(branches=pbs):
                for pb in pbs:
                    paths = _minimal(self.seq(pb, paths))
                return paths

    def idle(self, s: Continue, paths: list[_Path]) -> None:
        for acted, trail in paths:
            for role in sorted(self.roles - acted):
                if role in self.reported:
                    continue
                self.reported.add(role)
                where = (
                    "through branch" + ("es " if len(trail) > 1 else " ") + ", ".join(repr(t) for t in trail)
                    if trail
                    else "straight"
                )
                self.out.append(
                    Diagnostic(
                        LOOP_STARVATION,
                        s.span,
                        f"{role} takes part in rec {self.rec.name} but, on the path {where} to this continue, "
                        f"it is not told that the loop goes round again: it may wait for ever",
                        f"tell {role} on that path (a message to or from it before `continue {self.rec.name}`)",
                    )
                )


def starvation(rec: Rec, everyone: frozenset[str]) -> list[Diagnostic]:
    """M317 for one rec; projection also runs it on the recs recursive calls become."""
    out: list[Diagnostic] = []
    _Starve(rec, everyone, out).run()
    return out


def check_starvation(p: Protocol) -> Iterable[Diagnostic]:
    out: list[Diagnostic] = []
    for sc in scopes(p):
        everyone = frozenset(r.name for r in sc.roles)
        for s in walk_compound(sc.body):
            if isinstance(s, Rec):
                out.extend(starvation(s, everyone))
    return out


# ---------------------------------------------------------------- parallel


def _channels(
    stmts: Iterable[Stmt], p: Protocol, roles: tuple[RoleDecl, ...], depth: int = 0
) -> Iterator[tuple[str, str, Span]]:
    """(sender, receiver, span) of every message in ``stmts``, family members folded together."""
    subs = _subs(p)
    for s in walk(stmts):
        match s:
            case Interaction():
                yield s.sender.name, s.receiver.name, s.span
            case Broadcast():
                for r in roles:
                    if r.name != s.sender.name or r.kind != "single":
                        yield s.sender.name, r.name, s.span
            case Loop() if s.decides is not None:
                for name in sorted(_participants(s.body, roles) - {s.decides.name}):
                    yield s.decides.name, name, s.span
            case Call():
                sub = subs.get(s.target)
                if sub is not None and depth < 8 and len(sub.roles) == len(s.args):
                    mapping = {f.name: a.name for f, a in zip(sub.roles, s.args, strict=True)}
                    for a, b, _ in _channels(sub.body, p, sub.roles, depth + 1):
                        yield mapping.get(a, a), mapping.get(b, b), s.span
            case _:
                pass


def check_parallel_races(p: Protocol) -> Iterable[Diagnostic]:
    for sc in scopes(p):
        for s in walk_compound(sc.body):
            if not isinstance(s, Parallel):
                continue
            earlier: dict[tuple[str, str], Span] = {}
            for br in s.branches:
                mine: dict[tuple[str, str], Span] = {}
                for a, b, span in _channels(br, p, sc.roles):
                    mine.setdefault((a, b), span)
                for pair, span in mine.items():
                    if pair in earlier:
                        yield Diagnostic(
                            PARALLEL_RACE,
                            span,
                            f"parallel branches both send {pair[0]} -> {pair[1]}; the order on that channel is undefined",
                            f"an earlier branch uses it on line {earlier[pair].line}; sequence them or use distinct roles",
                        )
                for pair, span in mine.items():
                    earlier.setdefault(pair, span)


# ---------------------------------------------------------------- sub-protocols


def check_calls(p: Protocol) -> Iterable[Diagnostic]:
    subs = _subs(p)
    params = frozenset(x.name for x in p.params)
    for sc in scopes(p):
        for s in walk_compound(sc.body):
            if not isinstance(s, Call):
                continue
            sub = subs.get(s.target)
            if sub is None:
                yield Diagnostic(
                    UNDEFINED_SUBPROTOCOL,
                    s.span,
                    f"undefined sub-protocol {s.target}",
                    did_you_mean(s.target, subs) or "define it under subprotocols",
                )
                continue
            _, problems = bind_call(s, sub, sc.by_name, params)
            yield from problems


def _leading_calls(stmts: tuple[Stmt, ...]) -> Iterator[Call]:
    """Calls that may run before any interaction of ``stmts``."""
    for s in stmts:
        match s:
            case Call():
                yield s
                return
            case Choice():
                for b in s.branches:
                    yield from _leading_calls(b.body)
                return
            case Rec():
                yield from _leading_calls(s.body)
                return
            case Loop() if s.decides is None:
                yield from _leading_calls(s.body)
                return
            case Parallel():
                for br in s.branches:
                    yield from _leading_calls(br)
                return
            case _:
                return


def check_call_cycles(p: Protocol) -> Iterable[Diagnostic]:
    subs = _subs(p)
    edges = {name: list(_leading_calls(sub.body)) for name, sub in subs.items()}
    reported: set[frozenset[str]] = set()
    for start in subs:
        # Depth-first search for a path of leading calls from ``start`` back to itself.
        stack: list[tuple[str, list[str]]] = [(start, [start])]
        visited: set[str] = set()
        while stack:
            node, path = stack.pop()
            for call in edges.get(node, []):
                if call.target == start:
                    if frozenset(path) not in reported:  # one report per cycle, at its first sub
                        reported.add(frozenset(path))
                        cycle = " -> ".join([*path, start])
                        yield Diagnostic(
                            UNGUARDED_CALL_CYCLE,
                            call.span,
                            f"sub-protocol calls loop without any interaction: {cycle}",
                            "let each sub-protocol exchange a message before it calls again",
                        )
                elif call.target in subs and call.target not in visited:
                    visited.add(call.target)
                    stack.append((call.target, [*path, call.target]))


def check_duplicate_subprotocols(p: Protocol) -> Iterable[Diagnostic]:
    seen: dict[str, Span] = {p.name: p.span}
    for s in p.subprotocols:
        if s.name in seen:
            what = "the protocol itself" if seen[s.name] == p.span else "another sub-protocol"
            yield Diagnostic(DUPLICATE_SUBPROTOCOL, s.span, f"sub-protocol {s.name} has the same name as {what}")
        else:
            seen[s.name] = s.span


# ---------------------------------------------------------------- local steps


def check_undefined_steps(p: Protocol) -> Iterable[Diagnostic]:
    declared = [st.name for st in p.steps]
    seen: dict[str, str] = {}
    for st in p.steps:
        key = method_suffix(st.name)
        if key in seen:
            yield Diagnostic(
                NAME_COLLISION,
                st.span,
                f"local steps {seen[key]} and {st.name} would both generate do_{key}()",
                "rename one of them",
            )
        seen.setdefault(key, st.name)
    for sc in scopes(p):
        for s in walk_compound(sc.body):
            if isinstance(s, LocalStep | Choose) and s.step not in declared and s.step != EPOCH_STEP:
                hint = did_you_mean(s.step, declared) or "declare it under steps: Name: {input: T, output: U}"
                yield Diagnostic(UNDEFINED_STEP, s.step_span, f"undefined local step {s.step}", hint)


def check_epoch_bumps(p: Protocol) -> Iterable[Diagnostic]:
    """An epoch bump moves every surviving role to the next epoch at once: it names single
    roles and whole families (a family's members talk in one epoch), and leaves out only
    the single roles that failed in an enclosing failure branch. So any two roles that are
    still there are in the same epoch wherever they talk (a frame of another epoch is a
    violation at run time)."""
    for sc in scopes(p):
        names = tuple(dict.fromkeys(r.name for r in sc.roles))
        yield from _bumps_in(sc.body, names, frozenset())


def _bumps_in(stmts: tuple[Stmt, ...], names: tuple[str, ...], failed: frozenset[str]) -> Iterator[Diagnostic]:
    bumps: dict[Span, list[LocalStep]] = {}
    for s in stmts:
        match s:
            case LocalStep(step=step) if step == EPOCH_STEP:
                bumps.setdefault(s.span, []).append(s)  # one bump statement: one step per role
            case Choice(branches=bs, failure=f):
                for i, b in enumerate(bs):
                    gone = f is not None and f.index is None and i == len(bs) - 1
                    yield from _bumps_in(b.body, names, failed | {f.name} if gone and f is not None else failed)
            case Rec(body=body) | Loop(body=body):
                yield from _bumps_in(body, names, failed)
            case Parallel(branches=pbs):
                for br in pbs:
                    yield from _bumps_in(br, names, failed)
    for span, steps in bumps.items():
        for st in steps:
            if st.role.index is not None and not isinstance(st.role.index, IndexAll):
                yield Diagnostic(
                    BAD_EPOCH_BUMP,
                    st.role.span,
                    f"an epoch bump is taken by whole roles, not by {ref_text(st.role)}",
                    f"bump all of {st.role.name}[*]: the members of a family talk in one epoch",
                )
        named = {st.role.name for st in steps}
        missing = [n for n in names if n not in named and n not in failed]
        if missing and named <= set(names):  # else a misspelt role (M200) says it already
            yield Diagnostic(
                BAD_EPOCH_BUMP,
                span,
                f"the epoch bump leaves out {', '.join(missing)}: every role still in the session "
                "moves to the next epoch together",
                "add " + ", ".join(missing) + " to 'at' (a family as F[*]); only a role that failed "
                "(in an enclosing failure branch) stays behind",
            )


def check_unused_steps(p: Protocol) -> Iterable[Diagnostic]:
    run = {s.step for sc in scopes(p) for s in walk_compound(sc.body) if isinstance(s, LocalStep | Choose)}
    for st in p.steps:
        if st.name not in run and st.span.file == p.file:
            yield Diagnostic(UNUSED_STEP, st.span, f"local step {st.name} is never run", "remove it, or run it: 'R: Step'")


# ---------------------------------------------------------------- roles chosen at run time


def check_chosen_roles(p: Protocol) -> Iterable[Diagnostic]:
    """``choose R from F[*] by Step(Msg)``: where it may stand and what it names (M407).
    Whether every member knows ``Msg`` is checked by projection, on the inlined body (M408)."""
    # Anywhere but a parallel branch (whose concurrent steps could not tell which of two
    # choices of the role they follow).
    bodies = [sc.body for sc in scopes(p)]
    inside_parallel = {
        id(x) for body in bodies for s in walk_compound(body) if isinstance(s, Parallel) for x in walk([y for b in s.branches for y in b])
    }
    taken = {r.name for r in p.roles} | {x.name for x in p.params} | {v.name for v in p.guard_vars}
    steps = {st.name: st for st in p.steps}
    messages = {m.name for m in p.messages}
    for sc in scopes(p):
        for s in walk_compound(sc.body):
            if not isinstance(s, Choose):
                continue
            if id(s) in inside_parallel:
                yield Diagnostic(
                    BAD_CHOSEN_ROLE, s.span, f"{s.role} is chosen inside a parallel branch",
                    "choose the role before the parallel block",
                )
            if s.role in taken:
                yield Diagnostic(
                    BAD_CHOSEN_ROLE, s.span, f"{s.role} is already the name of a role, parameter or variable",
                    "give the chosen role a name of its own",
                )
            decl = sc.role(s.family.name)
            if isinstance(s.family.index, IndexAll) and s.family.index.within is not None:
                yield Diagnostic(
                    BAD_CHOSEN_ROLE, s.family.span, f"{s.role} is chosen among the set {s.family.index.within}, not among all of a family",
                    f"choose among {s.family.name}[*] (the step may pick among the members of {s.family.index.within})",
                )
            elif decl is not None and (decl.kind == "single" or not isinstance(s.family.index, IndexAll)):
                yield Diagnostic(
                    BAD_CHOSEN_ROLE, s.family.span, f"{s.role} must be chosen among all the members of a family, not {ref_text(s.family)}",
                    f"write from {s.family.name}[*]" if decl.kind != "single" else "declare a family, e.g. Participant[*]",
                )
            for told in s.announce:
                d = sc.role(told.name)
                if d is not None and (d.kind != "single" or told.name == s.family.name or told.index is not None):
                    yield Diagnostic(
                        BAD_CHOSEN_ROLE, told.span, f"the choice of {s.role} is announced to {ref_text(told)}, not to a single role outside {s.family.name}",
                        f"announce to single roles that are not {s.family.name} members (the members agree among themselves)",
                    )
            st = steps.get(s.step)
            if s.size is not None:
                yield from _check_chosen_set(s, st, {x.name for x in p.params})
            elif st is not None and not (isinstance(st.output, PrimType) and st.output.name == "int"):
                yield Diagnostic(
                    BAD_CHOSEN_ROLE, s.step_span, f"local step {s.step} must output an int (the index of the member chosen as {s.role})",
                    f"declare it as {s.step}: {{input: ..., output: int}}",
                )
            for name, span in s.knowing:
                if name not in messages:
                    yield Diagnostic(
                        UNDEFINED_MESSAGE, span, f"undefined message {name}",
                        did_you_mean(name, messages) or "name the messages every member received that the choice is computed from",
                    )


def _check_chosen_set(s: Choose, st: StepDecl | None, params: set[str]) -> Iterator[Diagnostic]:
    """``choose Signers[t] from F[*] by Step(Msg)``: a size that is a parameter or a positive
    number, a step whose output is ``list[int]`` (M407)."""
    if (isinstance(s.size, int) and s.size < 1) or (isinstance(s.size, str) and s.size not in params):
        yield Diagnostic(
            BAD_CHOSEN_ROLE, s.span, f"the set {s.role} must have a positive number or a declared parameter as its size, not {s.size}",
            f"write {s.role}[t] with t under params:, or {s.role}[2]",
        )
    out = st.output if st is not None else None
    if st is not None and not (isinstance(out, ListType) and isinstance(out.item, PrimType) and out.item.name == "int"):
        yield Diagnostic(
            BAD_CHOSEN_ROLE, s.step_span, f"local step {s.step} must output list[int] (the indices of the members chosen as {s.role})",
            f"declare it as {s.step}: {{input: ..., output: \"list[int]\"}}",
        )


def _within(ref: RoleRef) -> str | None:
    """The set chosen at run time that ``ref`` (``Signers[*]``) stands for, if any."""
    return ref.index.within if isinstance(ref.index, IndexAll) else None


def _set_step(s: Interaction) -> Diagnostic | None:
    """A step naming a chosen set within its own family: only ``S[*] -> F[*]``,
    ``F[*] -> S[*]``, ``S[*] -> R`` and ``R -> S[*]`` (``R`` a chosen member) can be
    projected; anything else is M407. None when ``s`` names no set or is fine."""
    snd, rcv = s.sender, s.receiver
    ws, wr = _within(snd), _within(rcv)
    if (ws is None and wr is None) or snd.name != rcv.name:
        return None
    if (ws is None) != (wr is None) and (
        (isinstance(snd.index, IndexAll) and isinstance(rcv.index, IndexAll)) or _chosen(snd) or _chosen(rcv)
    ):
        return None
    name = ws or wr
    return Diagnostic(
        BAD_CHOSEN_ROLE, s.span, f"{ref_text(snd)} -> {ref_text(rcv)}: the set {name} meets its own family only through the whole family or a chosen role",
        f"write {name}[*] -> {snd.name}[*], {snd.name}[*] -> {name}[*], {name}[*] -> R, R -> {name}[*] (R a role chosen from {snd.name}) "
        f"or {name}[i] -> {name}[j]",
    )


# ---------------------------------------------------------------- driver

CHECKS: Final[tuple[Check, ...]] = (
    check_duplicate_roles,
    check_duplicate_messages,
    check_duplicate_params,
    check_duplicate_fields,
    check_name_collisions,
    check_undefined_types,
    check_recursive_records,
    check_unions,
    check_undefined_roles,
    check_unused_roles,
    check_undefined_messages,
    check_unused_messages,
    check_params,
    check_family_indices,
    check_family_forms,
    check_epoch_bumps,
    check_ring_places,
    check_self_send,
    check_choices,
    check_recursion,
    check_starvation,
    check_empty_bodies,
    check_loops,
    check_guards,
    check_guard_coverage,
    check_parallel_races,
    check_calls,
    check_call_cycles,
    check_duplicate_subprotocols,
    check_undefined_steps,
    check_unused_steps,
    check_chosen_roles,
)

# Checks whose findings are mostly echoes of a syntax error elsewhere (a skipped statement
# makes its roles and messages look unused, its body empty, its branch start elsewhere).
PARTIAL_SKIP: Final[frozenset[Check]] = frozenset(
    {check_unused_roles, check_unused_messages, check_unused_steps, check_empty_bodies, check_choices}
)


def validate(protocol: Protocol, *, partial: bool = False) -> list[Diagnostic]:
    """Run every check; ``partial`` when parsing already failed somewhere in the file."""
    skip: set[Check] = set(PARTIAL_SKIP) if partial else set()
    if partial and not protocol.roles:
        skip.add(check_undefined_roles)  # the roles list itself was unreadable
    if partial and not protocol.messages:
        skip.add(check_undefined_messages)
    out: list[Diagnostic] = []
    token = _WALK_MEMO.set({})
    ctoken = _COMPOUND_MEMO.set({})
    rtoken = _REFS_MEMO.set({})
    try:
        for check in CHECKS:
            if check not in skip:
                out.extend(check(protocol))
    finally:
        _REFS_MEMO.reset(rtoken)
        _COMPOUND_MEMO.reset(ctoken)
        _WALK_MEMO.reset(token)
    return list(sort_diagnostics(out))

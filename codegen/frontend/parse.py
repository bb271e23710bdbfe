"""Node tree (``codegen.frontend.load``) -> ``codegen.core.ast.Protocol`` plus every diagnostic found.

The parser never stops at the first problem: a malformed part is reported and skipped,
and the rest of the spec is still read, so one run lists all errors of a file. Spans
point at the exact token (a role name inside ``A -> B``, a bad key, a guard operator).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Final

import yaml

from codegen.core.ast import (
    EPOCH_STEP,
    Annotations,
    Bound,
    Branch,
    Broadcast,
    Call,
    Choice,
    Choose,
    Chosen,
    Continue,
    Field,
    Guard,
    GuardVar,
    Import,
    Index,
    IndexAll,
    IndexConst,
    IndexParam,
    IndexRange,
    IndexRing,
    IndexVar,
    Interaction,
    LocalStep,
    Loop,
    Message,
    Parallel,
    Param,
    ParamArg,
    Protocol,
    Rec,
    Record,
    RecordRef,
    RoleDecl,
    RoleRef,
    StepDecl,
    Stmt,
    SubProtocol,
    TypeExpr,
)
from codegen.core.diagnostics import (
    BAD_ANNOTATION,
    BAD_FAILURE_BRANCH,
    BAD_IDENTIFIER,
    BAD_INTERACTION,
    BAD_ROLE_DECL,
    BAD_UNION,
    MISSING_KEY,
    UNKNOWN_KEY,
    WRONG_TYPE,
    Code,
    Diagnostic,
    did_you_mean,
)
from codegen.core.names import RESERVED_CLASS_NAMES, RESERVED_FIELD_NAMES, identifier_problem
from codegen.core.span import Span, TextError
from codegen.core.typeexpr import parse_type
from codegen.frontend.guards import parse_guard
from codegen.frontend.load import Mapping, Node, Scalar, Sequence, describe, empty_mapping

TOP_KEYS: Final = (
    "protocol", "namespace", "doc", "params", "vars", "roles", "types", "messages",
    "timeout", "interactions", "subprotocols", "imports", "steps",
)
STEP_KEYS: Final = ("input", "output", "doc")
TOP_REQUIRED: Final = ("protocol", "roles", "messages", "interactions")
# A library (sub-protocols only, no interactions) has no roles of its own either.
LIBRARY_KEYS: Final = tuple(k for k in TOP_KEYS if k not in ("roles", "interactions"))
LIBRARY_REQUIRED: Final = ("protocol", "subprotocols")
SUB_KEYS: Final = ("roles", "interactions", "doc")
ANNOTATION_KEYS: Final = (
    "message", "guard_capability", "flow_cost", "journal_facts", "journal_merge", "timeout",
)
INTERACTION_KEYS: Final = (*ANNOTATION_KEYS, "on_failure")
FAILED_LABEL: Final = "failed"
OK_LABEL: Final = "ok"
LOOP_KEYS: Final = ("count", "decides", "do")
BRANCH_KEYS: Final = ("when", "do")
STATEMENT_WORDS: Final = ("choice at", "rec", "loop", "parallel", "continue", "call", "choose", "bump_epoch")
EPOCH_KEYS: Final = ("at",)
DEFAULT_FLOW_COST: Final = 100

NO_ANNOTATIONS: Final = Annotations()  # shared: most interactions have none

_IDENT: Final = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_INT: Final = re.compile(r"[0-9]+")
_NORWAY: Final = frozenset({"yes", "no", "on", "off", "y", "n", "true", "false"})


@dataclass(slots=True)
class _Ctx:
    """What the parser accumulates while reading one file."""

    file: str
    diags: list[Diagnostic] = field(default_factory=list)
    params: frozenset[str] = frozenset()
    # Roles chosen at run time in scope (the rest of the block of their ``choose``): name ->
    # the family they are chosen from; a reference to one is read as that member.
    chosen: dict[str, str] = field(default_factory=dict)
    # identifier_problem by name: a spec repeats the same few role and message names
    # thousands of times.
    name_problems: dict[str, str | None] = field(default_factory=dict)

    def error(self, code: Code, span: Span, message: str, hint: str = "") -> None:
        self.diags.append(Diagnostic(code, span, message, hint))


# ---------------------------------------------------------------- generic shape checks


def _is_ext(key: str) -> bool:
    return key.startswith("x-")


def _keys(
    ctx: _Ctx, m: Mapping, allowed: tuple[str, ...], required: tuple[str, ...], what: str, hint: str = ""
) -> dict[str, tuple[Scalar, Node]]:
    """The known keys of ``m``; unknown keys (M103) and missing required keys (M105) reported."""
    out: dict[str, tuple[Scalar, Node]] = {}
    for k, v in m.items:
        if k.text in allowed:
            out[k.text] = (k, v)
        elif not _is_ext(k.text):
            suggestion = did_you_mean(k.text, allowed)
            ctx.error(
                UNKNOWN_KEY,
                k.sub_span(0, len(k.text)),
                f"unknown key {k.text!r} in {what}",
                suggestion or hint or f"allowed keys: {', '.join(allowed)} (or x-... for extensions)",
            )
    for r in required:
        if r not in out:
            ctx.error(MISSING_KEY, _head(m.span), f"{what} is missing the key {r!r}", hint)
    return out


def _head(span: Span) -> Span:
    """The first character of a node: where 'missing key' errors point."""
    return Span(span.file, span.line, span.col, span.line, span.col + 1)


def _wrong(ctx: _Ctx, node: Node, expected: str, hint: str = "") -> None:
    if isinstance(node, Scalar) and node.kind == "bool" and node.plain and node.text.lower() in _NORWAY:
        hint = hint or f"YAML reads a bare {node.text} as a boolean; quote it: \"{node.text}\""
    ctx.error(WRONG_TYPE, node.span, f"expected {expected}, found {describe(node)}", hint)


def _str(ctx: _Ctx, node: Node, expected: str = "a string") -> Scalar | None:
    if isinstance(node, Scalar) and node.kind == "str":
        return node
    _wrong(ctx, node, expected)
    return None


def _name_str(ctx: _Ctx, node: Node, expected: str) -> Scalar | None:
    """Like ``_str`` where only a name can be meant: a bare ``Yes``/``No`` that YAML 1.1
    reads as a boolean is taken as the name it spells (a name is never a boolean)."""
    if isinstance(node, Scalar) and node.kind == "str":
        return node
    if isinstance(node, Scalar) and node.kind == "bool" and node.plain and identifier_problem(node.text) is None:
        return node
    _wrong(ctx, node, expected)
    return None


def _map(ctx: _Ctx, node: Node, expected: str, *, null_ok: bool = False) -> Mapping | None:
    if isinstance(node, Mapping):
        return node
    if null_ok and isinstance(node, Scalar) and node.kind == "null":
        return empty_mapping(node.span)
    _wrong(ctx, node, expected)
    return None


def _seq(ctx: _Ctx, node: Node, expected: str) -> Sequence | None:
    if isinstance(node, Sequence):
        return node
    _wrong(ctx, node, expected)
    return None


def _whole(sc: Scalar) -> Span:
    if sc.contiguous:  # the common case, without the general mapping's checks
        return Span(sc.file, sc.line, sc.col, sc.line, sc.col + max(len(sc.text), 1))
    return sc.sub_span(0, len(sc.text))


def _name(ctx: _Ctx, sc: Scalar, what: str, *, reserved: frozenset[str] = frozenset()) -> str | None:
    """A spec identifier; M110 when it is not one."""
    text = sc.text.strip()
    try:
        problem = ctx.name_problems[text]
    except KeyError:
        problem = ctx.name_problems[text] = identifier_problem(text)
    if problem is None and text in reserved:
        problem = f"{text!r} is reserved: generated code defines it"
    if problem is not None:
        lead = len(sc.text) - len(sc.text.lstrip())
        span = sc.sub_span(lead, lead + len(text))
        ctx.error(BAD_IDENTIFIER, span, f"bad {what} name: {problem}", f"a {what} name is a Python identifier")
        return None
    return text


def _to_plain(node: Node) -> object:
    if isinstance(node, Scalar):
        return node.value
    if isinstance(node, Sequence):
        return [_to_plain(n) for n in node.items]
    return {k.text: _to_plain(v) for k, v in node.items}


# ---------------------------------------------------------------- in-scalar cursor


class _Cur:
    """A cursor over one scalar's text, for the tiny grammars inside strings."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0

    def ws(self) -> bool:
        start = self.pos
        while self.pos < len(self.text) and self.text[self.pos] in " \t":
            self.pos += 1
        return self.pos > start

    def at_end(self) -> bool:
        self.ws()
        return self.pos >= len(self.text)

    def eat(self, s: str) -> bool:
        self.ws()
        if self.text.startswith(s, self.pos):
            self.pos += len(s)
            return True
        return False

    def match(self, rx: re.Pattern[str]) -> tuple[str, int, int] | None:
        self.ws()
        m = rx.match(self.text, self.pos)
        if m is None:
            return None
        self.pos = m.end()
        return m.group(), m.start(), m.end()

    def found(self) -> str:
        self.ws()
        if self.pos >= len(self.text):
            return "the end"
        m = _IDENT.match(self.text, self.pos)
        return repr(m.group() if m else self.text[self.pos])

    def fail(self, message: str, hint: str = "") -> TextError:
        self.ws()
        end = self.pos + 1
        m = _IDENT.match(self.text, self.pos)
        if m:
            end = m.end()
        return TextError(self.pos, end, message, hint)


def _bound(cur: _Cur) -> tuple[Bound, int, int]:
    if (m := cur.match(_INT)) is not None:
        return int(m[0]) if len(m[0]) < 10 else 10**9, m[1], m[2]
    if (m := cur.match(_IDENT)) is not None:
        return m[0], m[1], m[2]
    raise cur.fail(f"expected a number or a parameter, found {cur.found()}")


def _role_ref(cur: _Cur, sc: Scalar, params: frozenset[str], chosen: dict[str, str] | None = None) -> RoleRef:
    """``Name``, ``Name[*]``, ``Name[2]``, ``Name[t]``, ``Name[i]``, ``Name[lo..hi]``,
    ``Name[i+1 mod N]``; a role chosen at run time (in ``chosen``) is that family's member."""
    name = cur.match(_IDENT)
    if name is None:
        raise cur.fail(f"expected a role name, found {cur.found()}")
    span = sc.sub_span(name[1], name[2])
    family = chosen.get(name[0]) if chosen else None
    if isinstance(family, ChosenSet):
        # A set is used whole (S[*]) or all-to-all among its members (S[i] -> S[j]).
        var = cur.match(_IDENT) if cur.eat("[") else None
        fam = str(family)  # the family's plain name, not the marker
        if var is None and cur.eat("*") and cur.eat("]"):
            return RoleRef(fam, span, IndexAll(span, within=name[0]))
        if var is not None and var[0] not in params and cur.eat("]"):
            return RoleRef(fam, span, IndexVar(var[0], sc.sub_span(var[1], var[2]), within=name[0]))
        raise cur.fail(
            f"{name[0]} is the set of members chosen at run time: it is used whole or all-to-all",
            f"write {name[0]}[*], or {name[0]}[i] -> {name[0]}[j]",
        )
    if family is not None:
        if cur.eat("["):
            raise cur.fail(f"{name[0]} is the one member chosen at run time: it takes no index", f"write {name[0]}")
        return RoleRef(family, span, IndexParam(Chosen(name[0]), span))
    if not cur.eat("["):
        return RoleRef(name[0], span)
    cur.ws()
    start = cur.pos
    index: Index
    if cur.eat("*"):
        index = IndexAll(sc.sub_span(start, cur.pos))
    else:
        lo, lo_start, _ = _bound(cur)
        if cur.eat(".."):
            hi, _, hi_end = _bound(cur)
            index = IndexRange(lo, hi, sc.sub_span(lo_start, hi_end))
        elif isinstance(lo, int):
            index = IndexConst(lo, sc.sub_span(start, cur.pos))
        elif lo in params:
            index = IndexParam(lo, sc.sub_span(start, cur.pos))
        elif (sign := "+" if cur.eat("+") else "-" if cur.eat("-") else None) is not None:
            index = _ring(cur, sc, lo, sign, start)
        else:
            index = IndexVar(lo, sc.sub_span(start, cur.pos))
    if not cur.eat("]"):
        raise cur.fail(f"expected ']' to close the index, found {cur.found()}", "indices are *, a number, a parameter, a variable or lo..hi")
    return RoleRef(name[0], span, index)


_RING_HINT: Final = "a ring index is i+1 mod N or i-1 mod N: the index variable, an offset and the family's size"


def _ring(cur: _Cur, sc: Scalar, var: str, sign: str, start: int) -> IndexRing:
    """The rest of ``i+1 mod N`` after ``i+`` (or ``i-``)."""
    step = cur.match(_INT)
    if step is None:
        raise cur.fail(f"expected the offset after '{sign}', found {cur.found()}", _RING_HINT)
    if not cur.eat("mod") or not cur.ws():
        raise cur.fail(f"expected 'mod' and the family's size after {var}{sign}{step[0]}, found {cur.found()}", _RING_HINT)
    size: Bound
    if cur.eat("*"):
        size = "*"
    else:
        size = _bound(cur)[0]
    offset = min(int(step[0]), 10**9)
    return IndexRing(var, offset if sign == "+" else -offset, size, sc.sub_span(start, cur.pos))


def _named(ctx: _Ctx, name: str, span: Span) -> RoleRef:
    """A role named without an index (the fast paths): a chosen role is its family's member
    (a chosen set named bare is left as written: it is not a declared role, M200)."""
    family = ctx.chosen.get(name) if ctx.chosen else None
    if family is None or isinstance(family, ChosenSet):
        return RoleRef(name, span)
    return RoleRef(family, span, IndexParam(Chosen(name), span))


def _in_scalar(ctx: _Ctx, sc: Scalar, code: Code, f: TextError) -> None:
    ctx.error(code, sc.sub_span(f.start, max(f.end, f.start + 1)), f.message, f.hint)


# ---------------------------------------------------------------- declarations


def _role_decl(ctx: _Ctx, node: Node) -> RoleDecl | None:
    sc = _name_str(ctx, node, "a role declaration such as Seller, Worker[3], Follower[N] or Signer[*]")
    if sc is None:
        return None
    cur = _Cur(sc.text)
    hint = "a role is Name, Name[3] (fixed family), Name[N] (parameter size) or Name[*] (any size)"
    try:
        name = cur.match(_IDENT)
        if name is None:
            raise cur.fail(f"expected a role name, found {cur.found()}", hint)
        span = sc.sub_span(name[1], name[2])
        decl = RoleDecl(name[0], "single", span)
        if cur.eat("["):
            if cur.eat("*"):
                decl = RoleDecl(name[0], "dynamic", span)
            elif (n := cur.match(_INT)) is not None:
                size = int(n[0]) if len(n[0]) < 10 else 10**9
                if size < 1:
                    raise TextError(n[1], n[2], "a fixed family has at least one member", hint)
                decl = RoleDecl(name[0], "fixed", span, size)
            elif (p := cur.match(_IDENT)) is not None:
                decl = RoleDecl(name[0], "param", span, p[0])
            else:
                raise cur.fail(f"expected a family size, found {cur.found()}", hint)
            if not cur.eat("]"):
                raise cur.fail(f"expected ']', found {cur.found()}", hint)
        if not cur.at_end():
            raise cur.fail(f"unexpected {cur.found()} after the role", hint)
    except TextError as f:
        _in_scalar(ctx, sc, BAD_ROLE_DECL, f)
        return None
    problem = identifier_problem(decl.name)
    if problem is None and decl.name in RESERVED_CLASS_NAMES:
        problem = f"{decl.name!r} is reserved: generated code defines it"
    if problem is not None:
        ctx.error(BAD_IDENTIFIER, decl.span, f"bad role name: {problem}", "a role name is a Python identifier")
        return None
    return decl


def _type(ctx: _Ctx, node: Node) -> TypeExpr | None:
    if not isinstance(node, Scalar) or node.kind != "str":
        _wrong(ctx, node, "a type such as int, str, bytes32, list[T], optional[T] or a record name")
        return None
    result = parse_type(node.text, node.sub_span)
    if isinstance(result, Diagnostic):
        ctx.diags.append(result)
        return None
    return result


def _fields(ctx: _Ctx, node: Node, what: str) -> tuple[Field, ...]:
    m = _map(ctx, node, f"the fields of {what} as a mapping name: type (or {{}})", null_ok=True)
    if m is None:
        return ()
    out: list[Field] = []
    for k, v in m.items:
        name = _name(ctx, k, "field", reserved=RESERVED_FIELD_NAMES)
        t = _type(ctx, v)
        if name is not None and t is not None:
            out.append(Field(name, t, _whole(k)))
    return tuple(out)


def _named_decls(ctx: _Ctx, node: Node, what: str) -> list[tuple[str, Span, Node]]:
    m = _map(ctx, node, f"a mapping of {what}s", null_ok=True)
    if m is None:
        return []
    out: list[tuple[str, Span, Node]] = []
    for k, v in m.items:
        # A bad name is reported but kept, so its uses do not also read as undefined.
        name = _name(ctx, k, what, reserved=RESERVED_CLASS_NAMES) or k.text
        out.append((name, _whole(k), v))
    return out


def _params(ctx: _Ctx, node: Node) -> tuple[Param, ...]:
    seq = _seq(ctx, node, "a list of parameter names")
    if seq is None:
        return ()
    out: list[Param] = []
    for item in seq.items:
        sc = _name_str(ctx, item, "a parameter name")
        if sc is not None and (name := _name(ctx, sc, "parameter")) is not None:
            out.append(Param(name, _whole(sc)))
    return tuple(out)


def _vars(ctx: _Ctx, node: Node) -> tuple[GuardVar, ...]:
    m = _map(ctx, node, "a mapping of guard variables name: type")
    if m is None:
        return ()
    out: list[GuardVar] = []
    for k, v in m.items:
        name = _name(ctx, k, "guard variable")
        t = _type(ctx, v)
        if name is not None and t is not None:
            out.append(GuardVar(name, t, _whole(k)))
    return tuple(out)


def _timeout(ctx: _Ctx, node: Node) -> float | None:
    if not isinstance(node, Scalar) or node.kind not in ("int", "float"):
        _wrong(ctx, node, "a timeout in seconds (a positive number)")
        return None
    assert isinstance(node.value, int | float)
    value = float(node.value)
    if not (value > 0 and math.isfinite(value)):
        ctx.error(BAD_ANNOTATION, node.span, f"timeout must be a positive number of seconds, not {node.text}")
        return None
    return value


# ---------------------------------------------------------------- statements


def _stmts(ctx: _Ctx, node: Node, what: str) -> tuple[Stmt, ...]:
    seq = _seq(ctx, node, f"a list of statements ({what})")
    if seq is None:
        return ()
    return _stmts_of(ctx, seq.items)


def _stmts_of(ctx: _Ctx, items: tuple[Node, ...]) -> tuple[Stmt, ...]:
    # A role chosen here is in scope for the rest of this block only.
    scope = dict(ctx.chosen)
    try:
        return _stmts_in(ctx, items)
    finally:
        ctx.chosen = scope


def _stmts_in(ctx: _Ctx, items: tuple[Node, ...]) -> tuple[Stmt, ...]:
    out: list[Stmt] = []
    for i, item in enumerate(items):
        stmt = _stmt(ctx, item)
        if isinstance(stmt, tuple):  # an epoch bump: a step of each role it names
            out.extend(stmt)
            continue
        if isinstance(stmt, Choose):
            ctx.chosen[stmt.role] = stmt.family.name if stmt.size is None else ChosenSet(stmt.family.name)
        if isinstance(stmt, _Failable):
            rest = _stmts_in(ctx, items[i + 1 :])
            inter = stmt.interaction
            ok = Branch(OK_LABEL, (inter, *rest), inter.span)
            failed = Branch(FAILED_LABEL, stmt.body, stmt.key_span)
            out.append(Choice(inter.receiver, (ok, failed), inter.span, failure=inter.sender))
            break
        if stmt is not None:
            out.append(stmt)
    return tuple(out)


@dataclass(frozen=True, slots=True)
class _Failable:
    """An interaction with an ``on_failure`` list, before it takes in the rest of its block."""

    interaction: Interaction
    body: tuple[Stmt, ...]
    key_span: Span


_STMT_HINT: Final = (
    "a statement is 'A -> B: Msg', 'choice at R', 'rec X', 'continue X', 'loop', 'parallel', "
    "'call Sub(A, B)', 'R: Step' (a local step) or 'choose R from F[*] by Step(Msg)'"
)


def _stmt(ctx: _Ctx, node: Node) -> Stmt | _Failable | tuple[LocalStep, ...] | None:
    if isinstance(node, Sequence):
        _wrong(ctx, node, "a statement", "nested lists appear only as the branches of parallel")
        return None
    if isinstance(node, Scalar):
        if node.kind != "str":
            _wrong(ctx, node, "a statement", _STMT_HINT)
            return None
        word = node.text.split(" ", 1)[0]
        if word == "continue":
            return _continue(ctx, node)
        if word == "call":
            return _call(ctx, node)
        if word == "choose":
            return _choose(ctx, node)
        if "->" in node.text:
            ctx.error(BAD_INTERACTION, _whole(node), "an interaction needs ': Msg' after the receiver", "write '- A -> B: Msg'")
            return None
        if word in ("choice", "rec", "loop", "parallel"):
            ctx.error(BAD_INTERACTION, _whole(node), f"'{word}' needs a body after a ':'", _STMT_HINT)
            return None
        if word == "bump_epoch":
            ctx.error(BAD_INTERACTION, _whole(node), "'bump_epoch' needs the roles that bump", "write '- bump_epoch: {at: [A, \"F[*]\"]}'")
            return None
        ctx.error(BAD_INTERACTION, _whole(node), f"unknown statement {node.text!r}", did_you_mean(word, STATEMENT_WORDS) or _STMT_HINT)
        return None
    if not node.items:
        _wrong(ctx, node, "a statement", _STMT_HINT)
        return None
    for extra, _ in node.items[1:]:
        ctx.error(
            BAD_INTERACTION,
            _whole(extra),
            "a list item holds exactly one statement",
            "start each statement with its own '- '; annotations go in a mapping: A -> B: {message: M, ...}",
        )
    key, value = node.items[0]
    word = key.text.split(" ", 1)[0]
    try:
        if word == "choice":
            return _choice(ctx, key, value)
        if word == "rec":
            return _rec(ctx, key, value)
        if key.text == "loop":
            return _loop(ctx, key, value)
        if key.text == "parallel":
            return _parallel(ctx, key, value)
        if key.text == "bump_epoch":
            return _bump_epoch(ctx, key, value)
        if "->" in key.text:
            return _interaction(ctx, key, value)
        if (
            word not in ("continue", "call")
            and isinstance(value, Scalar)
            and value.kind == "str"
            and _LOCAL_ROLE.match(key.text)
        ):
            return _local_step(ctx, key, value)
    except TextError as f:
        _in_scalar(ctx, key, BAD_INTERACTION, f)
        return None
    if word in ("continue", "call", "loop", "parallel"):
        ctx.error(BAD_INTERACTION, _whole(key), f"'{key.text}' is not followed by a ':' and a value here", _STMT_HINT)
        return None
    ctx.error(BAD_INTERACTION, _whole(key), f"unknown statement {key.text!r}", did_you_mean(word, STATEMENT_WORDS) or _STMT_HINT)
    return None


def _line_span(key: Scalar, value: Node) -> Span:
    """From the key to the end of the value when it ends on the key's line, else the key."""
    end = value if value.end_line == key.line else key
    return Span(key.file, key.line, key.col, end.end_line, end.end_col)


def _message_name(ctx: _Ctx, node: Node) -> tuple[str, Span] | None:
    sc = _name_str(ctx, node, "a message name")
    if sc is None:
        return None
    name = _name(ctx, sc, "message")
    return None if name is None else (name, _whole(sc))


# The common case, `A -> B` between single roles, in one regex match; anything else (families,
# broadcast, errors) goes through the cursor, which produces the located diagnostics.
_SIMPLE_ARROW = re.compile(r"[ \t]*([A-Za-z_][A-Za-z0-9_]*)[ \t]*->[ \t]*([A-Za-z_][A-Za-z0-9_]*)[ \t]*\Z")


def _interaction(ctx: _Ctx, key: Scalar, value: Node) -> Stmt | _Failable | None:
    receiver: RoleRef | None = None
    simple = _SIMPLE_ARROW.match(key.text)
    if simple is not None and key.contiguous:
        # Both names are non-empty and inside the key: their spans follow from the columns.
        file, line, col = key.file, key.line, key.col
        sender = _named(ctx, simple[1], Span(file, line, col + simple.start(1), line, col + simple.end(1)))
        receiver = _named(ctx, simple[2], Span(file, line, col + simple.start(2), line, col + simple.end(2)))
    elif simple is not None:
        sender = _named(ctx, simple[1], key.sub_span(simple.start(1), simple.end(1)))
        receiver = _named(ctx, simple[2], key.sub_span(simple.start(2), simple.end(2)))
    else:
        cur = _Cur(key.text)
        sender = _role_ref(cur, key, ctx.params, ctx.chosen)
        if not cur.eat("->"):
            raise cur.fail(f"expected '->' after the sender, found {cur.found()}", "an interaction is 'A -> B: Msg'")
        broadcast_arrow = cur.eat(">")  # '->>' is an accepted spelling of a broadcast
        if cur.eat("*"):
            pass
        elif broadcast_arrow:
            raise cur.fail("'->>' broadcasts to every role: write 'A ->> *'")
        else:
            receiver = _role_ref(cur, key, ctx.params, ctx.chosen)
        if not cur.at_end():
            raise cur.fail(f"unexpected {cur.found()} after the receiver", "an interaction is 'A -> B: Msg'")
    span = _line_span(key, value)
    annotations = NO_ANNOTATIONS
    msg: tuple[str, Span] | None
    on_failure: tuple[Scalar, Node] | None = None
    if isinstance(value, Mapping):
        keys = _keys(
            ctx, value, INTERACTION_KEYS, ("message",), "an interaction",
            "annotations are " + ", ".join(ANNOTATION_KEYS) + "; on_failure is a failure branch",
        )
        msg = _message_name(ctx, keys["message"][1]) if "message" in keys else None
        annotations = _annotations(ctx, value, keys)
        on_failure = keys.get("on_failure")
    else:
        msg = _message_name(ctx, value)
    if msg is None:
        return None
    if receiver is None:
        if on_failure is not None:
            ctx.error(
                BAD_FAILURE_BRANCH, _whole(on_failure[0]), "a broadcast cannot have a failure branch",
                "put on_failure on an interaction from the role that may fail to one receiver",
            )
        return Broadcast(sender, msg[0], span, msg[1], annotations)
    inter = Interaction(sender, receiver, msg[0], span, msg[1], annotations)
    if on_failure is None:
        return inter
    body = _stmts(ctx, on_failure[1], "a failure branch")
    return _Failable(inter, body, _whole(on_failure[0]))


def _annotations(ctx: _Ctx, m: Mapping, keys: dict[str, tuple[Scalar, Node]]) -> Annotations:
    def text(key: str) -> str | None:
        if key not in keys:
            return None
        sc = _str(ctx, keys[key][1], f"a string for {key}")
        return sc.text if sc is not None else None

    capability = text("guard_capability")
    merge = text("journal_merge")
    flow_cost: int | None = None
    if "flow_cost" in keys:
        node = keys["flow_cost"][1]
        if isinstance(node, Scalar) and node.kind == "int" and isinstance(node.value, int):
            if node.value < 0:
                ctx.error(BAD_ANNOTATION, node.span, f"flow_cost must not be negative, not {node.text}")
            else:
                flow_cost = node.value
        else:
            _wrong(ctx, node, "a non-negative integer for flow_cost")
    facts: list[str] = []
    if "journal_facts" in keys:
        seq = _seq(ctx, keys["journal_facts"][1], "a list of strings for journal_facts")
        for item in seq.items if seq is not None else ():
            sc = _str(ctx, item, "a string in journal_facts")
            if sc is not None:
                facts.append(sc.text)
    timeout = _timeout(ctx, keys["timeout"][1]) if "timeout" in keys else None
    ext = tuple((k.text, _yaml_text(v)) for k, v in m.items if _is_ext(k.text))
    result = Annotations(capability, flow_cost, tuple(facts), merge, timeout, ext)
    if result.any and result.flow_cost is None:
        result = Annotations(capability, DEFAULT_FLOW_COST, tuple(facts), merge, timeout, ext)
    return result


def _yaml_text(node: Node) -> str:
    if isinstance(node, Scalar):
        return node.text
    dumped: str = yaml.safe_dump(_to_plain(node), default_flow_style=True, sort_keys=False)
    return dumped.strip()


# The common spellings of 'choice at R', 'rec X' and 'continue X', in one regex match each;
# anything else goes through the cursor, which locates the errors.
_SIMPLE_CHOICE: Final = re.compile(r"choice[ \t]+at[ \t]+([A-Za-z_][A-Za-z0-9_]*)[ \t]*\Z")
_SIMPLE_REC: Final = re.compile(r"rec[ \t]+([A-Za-z_][A-Za-z0-9_]*)[ \t]*\Z")
_SIMPLE_CONTINUE: Final = re.compile(r"continue[ \t]+([A-Za-z_][A-Za-z0-9_]*)[ \t]*\Z")


def _keyword_name(sc: Scalar, rx: re.Pattern[str]) -> tuple[str, int, int] | None:
    """The name after a keyword, with its offsets, when ``sc`` is spelled simply."""
    m = rx.match(sc.text)
    return None if m is None else (m[1], m.start(1), m.end(1))


def _chooser(ctx: _Ctx, key: Scalar) -> RoleRef:
    if (simple := _keyword_name(key, _SIMPLE_CHOICE)) is not None:
        return _named(ctx, simple[0], key.sub_span(simple[1], simple[2]))
    cur = _Cur(key.text)
    cur.eat("choice")
    if not cur.ws() or not cur.eat("at"):
        raise cur.fail(f"expected 'at' after 'choice', found {cur.found()}", "a choice is 'choice at Role:'")
    if not cur.ws():
        raise cur.fail("expected a role after 'choice at'", "a choice is 'choice at Role:'")
    at = _role_ref(cur, key, ctx.params, ctx.chosen)
    if not cur.at_end():
        raise cur.fail(f"unexpected {cur.found()} after the chooser")
    return at


def _choice(ctx: _Ctx, key: Scalar, value: Node) -> Choice | None:
    at = _chooser(ctx, key)
    m = _map(ctx, value, "a mapping of branches label: [statements]")
    if m is None:
        return None
    branches: list[Branch] = []
    for label_sc, body_node in m.items:
        label = _name(ctx, label_sc, "branch label")
        guard: Guard | None = None
        body: tuple[Stmt, ...] = ()
        if isinstance(body_node, Mapping):
            keys = _keys(
                ctx, body_node, BRANCH_KEYS, ("do",), f"branch {label_sc.text!r}",
                "a branch is a list of statements, or a mapping with 'when' (a guard) and 'do'",
            )
            if "when" in keys:
                guard = _guard(ctx, keys["when"][1])
            if "do" in keys:
                body = _stmts(ctx, keys["do"][1], "a branch body")
        elif isinstance(body_node, Sequence):
            body = _stmts(ctx, body_node, "a branch body")
        else:
            _wrong(ctx, body_node, "a list of statements for the branch", "a branch is a list of statements, or {when: guard, do: [...]}")
        if label is not None:
            branches.append(Branch(label, body, _whole(label_sc), guard))
    return Choice(at, tuple(branches), _whole(key))


def _guard(ctx: _Ctx, node: Node) -> Guard | None:
    bad_bool = isinstance(node, Scalar) and node.kind == "bool" and node.text not in ("true", "false")
    if not isinstance(node, Scalar) or node.kind == "null" or bad_bool:
        _wrong(ctx, node, "a guard expression string")
        return None
    result = parse_guard(node.text, node.sub_span)
    if isinstance(result, Diagnostic):
        ctx.diags.append(result)
        return None
    return Guard(node.text, result, _whole(node))


def _rec_name(key: Scalar) -> tuple[str, int, int]:
    if (simple := _keyword_name(key, _SIMPLE_REC)) is not None:
        return simple
    cur = _Cur(key.text)
    cur.eat("rec")
    if not cur.ws():
        raise cur.fail("expected a name after 'rec'", "a recursion is 'rec X:' and its body")
    name = cur.match(_IDENT)
    if name is None:
        raise cur.fail(f"expected a name after 'rec', found {cur.found()}")
    if not cur.at_end():
        raise cur.fail(f"unexpected {cur.found()} after the rec name")
    return name


def _rec(ctx: _Ctx, key: Scalar, value: Node) -> Rec | None:
    name = _rec_name(key)
    problem = identifier_problem(name[0])
    if problem is not None:
        raise TextError(name[1], name[2], f"bad rec name: {problem}")
    body = _stmts(ctx, value, f"the body of rec {name[0]}")
    return Rec(name[0], body, key.sub_span(name[1], name[2]))


def _loop(ctx: _Ctx, key: Scalar, value: Node) -> Loop | None:
    m = _map(ctx, value, "a loop mapping with count or decides, and do")
    if m is None:
        return None
    keys = _keys(ctx, m, LOOP_KEYS, ("do",), "a loop", "a loop has 'do' and one of 'count' or 'decides'")
    count: Bound | None = None
    decides: RoleRef | None = None
    if "count" in keys:
        node = keys["count"][1]
        if isinstance(node, Scalar) and node.kind == "int" and isinstance(node.value, int) and node.value >= 0:
            count = node.value
        elif isinstance(node, Scalar) and node.kind == "str" and (name := _name(ctx, node, "parameter")) is not None:
            count = name
        elif not (isinstance(node, Scalar) and node.kind == "str"):
            _wrong(ctx, node, "a non-negative integer or a parameter name for count")
    if "decides" in keys:
        sc = _str(ctx, keys["decides"][1], "the role that decides the loop")
        if sc is not None:
            cur = _Cur(sc.text)
            try:
                decides = _role_ref(cur, sc, ctx.params, ctx.chosen)
                if not cur.at_end():
                    raise cur.fail(f"unexpected {cur.found()} after the role")
            except TextError as f:
                _in_scalar(ctx, sc, BAD_INTERACTION, f)
    body = _stmts(ctx, keys["do"][1], "a loop body") if "do" in keys else ()
    return Loop(body, _whole(key), count, decides)


def _parallel(ctx: _Ctx, key: Scalar, value: Node) -> Parallel | None:
    seq = _seq(ctx, value, "a list of branches, each a list of statements")
    if seq is None:
        return None
    branches: list[tuple[Stmt, ...]] = []
    for item in seq.items:
        if isinstance(item, Sequence):
            branches.append(_stmts(ctx, item, "a parallel branch"))
        else:
            _wrong(ctx, item, "a parallel branch (a list of statements)", "write each branch as a nested list: '- - A -> B: M'")
    return Parallel(tuple(branches), _whole(key))


def _continue(ctx: _Ctx, sc: Scalar) -> Continue | None:
    if (simple := _keyword_name(sc, _SIMPLE_CONTINUE)) is not None:
        return Continue(simple[0], sc.sub_span(simple[1], simple[2]))
    cur = _Cur(sc.text)
    cur.eat("continue")
    try:
        if not cur.ws():
            raise cur.fail("expected the name of a rec after 'continue'")
        name = cur.match(_IDENT)
        if name is None:
            raise cur.fail(f"expected the name of a rec, found {cur.found()}")
        if not cur.at_end():
            raise cur.fail(f"unexpected {cur.found()} after continue")
    except TextError as f:
        _in_scalar(ctx, sc, BAD_INTERACTION, f)
        return None
    return Continue(name[0], sc.sub_span(name[1], name[2]))


# `Role: Step`, `F[*]: Step`, `F[2]: Step`, `F[0..t]: Step`: a role reference alone as the key.
_LOCAL_ROLE: Final = re.compile(r"[ \t]*[A-Za-z_][A-Za-z0-9_]*[ \t]*(\[[^\]]*\])?[ \t]*\Z")


def _local_step(ctx: _Ctx, key: Scalar, value: Node) -> LocalStep | None:
    cur = _Cur(key.text)
    role = _role_ref(cur, key, ctx.params, ctx.chosen)
    if not cur.at_end():
        raise cur.fail(f"unexpected {cur.found()} after the role of a local step", "a local step is 'R: Step'")
    sc = _name_str(ctx, value, "the name of a local step declared under steps")
    if sc is None:
        return None
    name = _name(ctx, sc, "local step")
    if name is None:
        return None
    return LocalStep(role, name, _line_span(key, value), _whole(sc))


def _bump_epoch(ctx: _Ctx, key: Scalar, value: Node) -> tuple[LocalStep, ...]:
    """``bump_epoch: {at: [A, F[*]]}``: each role named moves the session to its next epoch
    here (a local step named EPOCH_STEP)."""
    hint = "an epoch bump is 'bump_epoch: {at: [A, F[*]]}'"
    if not isinstance(value, Mapping):
        _wrong(ctx, value, "a mapping with 'at' (the roles that bump)", hint)
        return ()
    keys = _keys(ctx, value, EPOCH_KEYS, EPOCH_KEYS, "an epoch bump", hint)
    if "at" not in keys:
        return ()
    seq = _seq(ctx, keys["at"][1], "a list of roles (at)")
    if seq is None:
        return ()
    if not seq.items:
        ctx.error(WRONG_TYPE, seq.span, "an epoch bump names no role", hint)
        return ()
    out: list[LocalStep] = []
    span = _line_span(key, value)
    for item in seq.items:
        sc = _name_str(ctx, item, "a role")
        if sc is None:
            continue
        cur = _Cur(sc.text)
        try:
            role = _role_ref(cur, sc, ctx.params)
            if not cur.at_end():
                raise cur.fail(f"unexpected {cur.found()} after the role", hint)
        except TextError as f:
            _in_scalar(ctx, sc, BAD_INTERACTION, f)
            continue
        out.append(LocalStep(role, EPOCH_STEP, span, _whole(sc)))
    return tuple(out)


def _steps(ctx: _Ctx, node: Node) -> tuple[StepDecl, ...]:
    out: list[StepDecl] = []
    for name, span, body in _named_decls(ctx, node, "local step"):
        m = _map(ctx, body, f"local step {name} as a mapping with input and/or output types", null_ok=True)
        if m is None:
            continue
        keys = _keys(ctx, m, STEP_KEYS, (), f"local step {name}", "a local step has an input type, an output type and a doc, each optional")
        types: dict[str, TypeExpr | None] = {"input": None, "output": None}
        for k in ("input", "output"):
            if k in keys:
                types[k] = _type(ctx, keys[k][1])
        doc = ""
        if "doc" in keys and (sc := _str(ctx, keys["doc"][1])) is not None:
            doc = sc.text
        out.append(StepDecl(name, types["input"], types["output"], span, doc))
    return tuple(out)


_CHOOSE_HINT: Final = (
    "a role chosen at run time is 'choose Coordinator from Participant[*] by Step(Msg, ...)': "
    "every member runs Step on the Msg values it received"
)


_CHOOSE_SET_HINT: Final = (
    "a set chosen at run time is 'choose Signers[t] from Participant[*] by Step(Msg, ...)': Step outputs t member indices"
)


_ANNOUNCE_HINT: Final = "the choice is told to roles outside the family with '... by Step(Msg) announce to Auditor, Bank'"


class ChosenSet(str):
    """The family a set chosen at run time is chosen from (in ``_Ctx.chosen``): a reference
    ``Signers[*]`` is read as that family's members in the set."""

    __slots__ = ()


def _choose(ctx: _Ctx, sc: Scalar) -> Choose | None:
    cur = _Cur(sc.text)
    cur.eat("choose")
    hint = _CHOOSE_HINT
    try:
        if not cur.ws():
            raise cur.fail("expected the chosen role's name after 'choose'", hint)
        role = cur.match(_IDENT)
        if role is None:
            raise cur.fail(f"expected the chosen role's name, found {cur.found()}", hint)
        size: Bound | None = None
        if cur.eat("["):  # a set of members: choose Signers[t] from ...
            cur.ws()
            size = _bound(cur)[0]
            cur.ws()
            if not cur.eat("]"):
                raise cur.fail(f"expected ']' after the size of the set {role[0]}, found {cur.found()}", _CHOOSE_SET_HINT)
            cur.ws()
        if not (cur.eat("from") and cur.ws()):
            raise cur.fail(f"expected 'from' and the family, found {cur.found()}", hint)
        # Only a chosen set is resolved here (to say it cannot be chosen among, M407).
        sets: dict[str, str] = {k: v for k, v in ctx.chosen.items() if isinstance(v, ChosenSet)}
        family = _role_ref(cur, sc, ctx.params, sets)
        if not (cur.eat("by") and cur.ws()):
            raise cur.fail(f"expected 'by' and the local step that computes the index, found {cur.found()}", hint)
        step = cur.match(_IDENT)
        if step is None:
            raise cur.fail(f"expected the name of a local step, found {cur.found()}", hint)
        if not cur.eat("("):
            raise cur.fail(f"expected '(' and the messages the step computes from, found {cur.found()}", hint)
        knowing: list[tuple[str, Span]] = []
        while True:
            msg = cur.match(_IDENT)
            if msg is None:
                raise cur.fail(f"expected a message name, found {cur.found()}", hint)
            knowing.append((msg[0], sc.sub_span(msg[1], msg[2])))
            if cur.eat(")"):
                break
            if not cur.eat(","):
                raise cur.fail(f"expected ',' or ')', found {cur.found()}", hint)
        announce: list[RoleRef] = []
        if cur.eat("announce"):  # roles outside the family told the choice
            if not (cur.ws() and cur.eat("to") and cur.ws()):
                raise cur.fail(f"expected 'to' and the roles told, found {cur.found()}", _ANNOUNCE_HINT)
            while True:
                announce.append(_role_ref(cur, sc, ctx.params))
                if not cur.eat(","):
                    break
        if not cur.at_end():
            raise cur.fail(f"unexpected {cur.found()} after the choice of {role[0]}", hint)
    except TextError as f:
        _in_scalar(ctx, sc, BAD_INTERACTION, f)
        return None
    problem = identifier_problem(role[0])
    if problem is not None or role[0] in RESERVED_CLASS_NAMES:
        ctx.error(BAD_IDENTIFIER, sc.sub_span(role[1], role[2]), f"bad role name: {problem or repr(role[0]) + ' is reserved'}")
        return None
    return Choose(
        role[0], family, step[0], tuple(knowing), sc.sub_span(role[1], role[2]), sc.sub_span(step[1], step[2]), size,
        tuple(announce),
    )


_KWARG: Final = re.compile(r"([A-Za-z_][A-Za-z0-9_]*)[ \t]*=")


def _call(ctx: _Ctx, sc: Scalar) -> Call | None:
    cur = _Cur(sc.text)
    cur.eat("call")
    hint = "a call is 'call Sub(A, F[*], k=t)': roles in order, then parameters by name"
    try:
        if not cur.ws():
            raise cur.fail("expected a sub-protocol name after 'call'", hint)
        name = cur.match(_IDENT)
        if name is None:
            raise cur.fail(f"expected a sub-protocol name, found {cur.found()}", hint)
        if not cur.eat("("):
            raise cur.fail(f"expected '(' after the sub-protocol name, found {cur.found()}", hint)
        args: list[RoleRef] = []
        params: list[ParamArg] = []
        if not cur.eat(")"):
            while True:
                cur.ws()
                kw = _KWARG.match(cur.text, cur.pos)
                if kw is not None:
                    cur.pos = kw.end()
                    cur.ws()
                    value, _, end = _bound(cur)
                    params.append(ParamArg(kw[1], value, sc.sub_span(kw.start(1), end)))
                elif params:
                    raise cur.fail("roles come before the parameters (k=...)", hint)
                else:
                    args.append(_role_ref(cur, sc, ctx.params, ctx.chosen))
                if cur.eat(")"):
                    break
                if not cur.eat(","):
                    raise cur.fail(f"expected ',' or ')', found {cur.found()}", hint)
        if not cur.at_end():
            raise cur.fail(f"unexpected {cur.found()} after the call", hint)
    except TextError as f:
        _in_scalar(ctx, sc, BAD_INTERACTION, f)
        return None
    return Call(name[0], tuple(args), sc.sub_span(name[1], name[2]), tuple(params))


# ---------------------------------------------------------------- protocol


def _subprotocols(ctx: _Ctx, node: Node) -> tuple[SubProtocol, ...]:
    out: list[SubProtocol] = []
    for name, span, body in _named_decls(ctx, node, "sub-protocol"):
        m = _map(ctx, body, f"sub-protocol {name} as a mapping with roles and interactions")
        if m is None:
            continue
        keys = _keys(ctx, m, SUB_KEYS, ("roles", "interactions"), f"sub-protocol {name}")
        roles: list[RoleDecl] = []
        if "roles" in keys and (seq := _seq(ctx, keys["roles"][1], "a list of roles")) is not None:
            for item in seq.items:
                decl = _role_decl(ctx, item)
                if decl is not None:
                    roles.append(decl)
        doc = ""
        if "doc" in keys and (sc := _str(ctx, keys["doc"][1])) is not None:
            doc = sc.text
        body_stmts = _stmts(ctx, keys["interactions"][1], "interactions") if "interactions" in keys else ()
        out.append(SubProtocol(name, tuple(roles), body_stmts, span, doc))
    return tuple(out)


def _record(ctx: _Ctx, name: str, span: Span, node: Node) -> Record:
    """``Name: {field: type}``, or a tagged union ``Name: [RecordA, RecordB]``."""
    if not isinstance(node, Sequence):
        return Record(name, _fields(ctx, node, f"record {name}"), span)
    variants: list[RecordRef] = []
    if not node.items:
        ctx.error(BAD_UNION, _head(node.span), f"union {name} lists no records", "write Name: [RecordA, RecordB]")
    for item in node.items:
        sc = _name_str(ctx, item, "the name of a record (a variant of the union)")
        if sc is not None and (v := _name(ctx, sc, "record")) is not None:
            variants.append(RecordRef(v, _whole(sc)))
    return Record(name, (), span, variants=tuple(variants))


def _imports(ctx: _Ctx, node: Node) -> tuple[Import, ...]:
    seq = _seq(ctx, node, "a list of spec files to import (paths relative to this file)")
    out: list[Import] = []
    for item in seq.items if seq is not None else ():
        sc = _str(ctx, item, "the path of a spec file, relative to this file")
        if sc is None:
            continue
        if not sc.text.endswith((".yaml", ".yml")) or sc.text.startswith("/"):
            ctx.error(
                WRONG_TYPE,
                _whole(sc),
                f"an import is a relative path to a .yaml spec, not {sc.text!r}",
                "e.g. ../patterns/commit_reveal.yaml",
            )
            continue
        out.append(Import(sc.text, _whole(sc)))
    return tuple(out)


def parse(root: Node, file: str) -> tuple[Protocol | None, list[Diagnostic]]:
    """Read a loaded spec into a Protocol; the Protocol is None only when the root is unusable."""
    ctx = _Ctx(file)
    if not isinstance(root, Mapping):
        _wrong(ctx, root, "a mapping with protocol, roles, messages and interactions")
        return None, ctx.diags
    present = {k.text for k, _ in root.items}
    library = "subprotocols" in present and "interactions" not in present
    if library:
        keys = _keys(
            ctx, root, LIBRARY_KEYS, LIBRARY_REQUIRED, "a library spec (sub-protocols only, no interactions)",
            "a library declares no roles of its own (each sub-protocol declares its roles); "
            "to make it a protocol, add interactions",
        )
    else:
        keys = _keys(
            ctx, root, TOP_KEYS, TOP_REQUIRED, "the spec",
            "a spec has protocol, roles, messages and interactions; optional: namespace, doc, params, vars, types, "
            "timeout, subprotocols (a spec of subprotocols alone, without roles and interactions, is a library)",
        )

    name = "Unnamed"
    name_span = _head(root.span)
    if "protocol" in keys and (sc := _str(ctx, keys["protocol"][1], "the protocol name")) is not None:
        name_span = _whole(sc)
        name = _name(ctx, sc, "protocol", reserved=RESERVED_CLASS_NAMES) or name
    namespace: str | None = None
    if "namespace" in keys and (sc := _str(ctx, keys["namespace"][1], "a dotted module path")) is not None:
        parts = sc.text.split(".")
        offset = 0
        ok = True
        for part in parts:
            problem = identifier_problem(part)
            if problem is not None or part != part.lower():
                ok = False
                ctx.error(
                    BAD_IDENTIFIER,
                    sc.sub_span(offset, offset + max(len(part), 1)),
                    f"bad namespace part: {problem or repr(part) + ' is not lower case'}",
                    "a namespace is a dotted path of lower-case identifiers, e.g. examples.two_buyer",
                )
            offset += len(part) + 1
        namespace = sc.text if ok else None
    doc = ""
    if "doc" in keys and (sc := _str(ctx, keys["doc"][1])) is not None:
        doc = sc.text
    params = _params(ctx, keys["params"][1]) if "params" in keys else ()
    ctx.params = frozenset(p.name for p in params)
    guard_vars = _vars(ctx, keys["vars"][1]) if "vars" in keys else ()
    roles: list[RoleDecl] = []
    if "roles" in keys and (seq := _seq(ctx, keys["roles"][1], "a list of roles")) is not None:
        for item in seq.items:
            if (decl := _role_decl(ctx, item)) is not None:
                roles.append(decl)
    records = tuple(
        _record(ctx, n, s, v) for n, s, v in (_named_decls(ctx, keys["types"][1], "record") if "types" in keys else [])
    )
    messages = tuple(
        Message(n, _fields(ctx, v, f"message {n}"), s)
        for n, s, v in (_named_decls(ctx, keys["messages"][1], "message") if "messages" in keys else [])
    )
    timeout = _timeout(ctx, keys["timeout"][1]) if "timeout" in keys else None
    body = _stmts(ctx, keys["interactions"][1], "interactions") if "interactions" in keys else ()
    subs = _subprotocols(ctx, keys["subprotocols"][1]) if "subprotocols" in keys else ()
    imports = _imports(ctx, keys["imports"][1]) if "imports" in keys else ()
    steps = _steps(ctx, keys["steps"][1]) if "steps" in keys else ()
    protocol = Protocol(
        name=name,
        file=file,
        span=name_span,
        roles=tuple(roles),
        messages=messages,
        body=body,
        namespace=namespace,
        doc=doc,
        params=params,
        records=records,
        guard_vars=guard_vars,
        subprotocols=subs,
        default_timeout=timeout,
        imports=imports,
        steps=steps,
        library=library,
    )
    return protocol, ctx.diags

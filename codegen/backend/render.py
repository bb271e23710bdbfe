"""State machines -> Python module text.

This module is the one home of the generated code's shape: it decides *what* each generated
method does (peer expressions, loop-counter moves, compiled guards, codec helpers) and
prints it, method bodies in the role renderer and the module frame (imports, messages,
codecs, steps, roles) in the functions at the end, which yield the text piece by piece.
Output is a pure function of the protocol: no timestamps, no absolute paths, stable
ordering everywhere, so ``generate --check`` can diff it byte for byte.
"""

from __future__ import annotations

import builtins
import codecs
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from functools import cache

from codegen.backend.headers import module_header
from codegen.core.ast import (
    EPOCH_STEP,
    Annotations,
    Bound,
    Chosen,
    FixedBytesType,
    GBinary,
    GLit,
    GName,
    GuardExpr,
    GUnary,
    ListType,
    MapType,
    OptionalType,
    PrimType,
    Protocol,
    RecordRef,
    TypeExpr,
)
from codegen.core.diagnostics import (
    GENERATED_NAME_COLLISION,
    NOT_GENERABLE,
    Diagnostic,
    DiagnosticError,
)
from codegen.core.local import (
    FAILED,
    LocalType,
    LPeer,
    MemberSel,
    OnlyIndex,
    OnlyRange,
    OnlySet,
    PeerFamily,
    PeerMember,
    PeerOne,
    PeerRing,
)
from codegen.core.names import default_namespace, role_module
from codegen.core.names import method_suffix as _method_suffix
from codegen.core.span import Span
from codegen.core.text import members_text, peer_text
from codegen.core.typeexpr import type_text
from codegen.projection import fsm

CONTROL_CONTINUE = "__continue__"
CONTROL_EXIT = "__exit__"
# The label of the agreement exchange of a role chosen at run time (see ``genlib.agree``).
CONTROL_CLAIM = "__claim__"
# Identifiers every generated module defines itself besides spec-derived names.
MODULE_NAMES = frozenset({"PROTOCOL"})
# Module-level names a spec class must not take: builtins the generated code calls or
# annotates with, and the parameter/field names of generated methods and branch classes.
_SHADOWS = frozenset(dir(builtins)) | {"msg", "msgs", "state", "self"}


class RenderError(DiagnosticError):
    """Generation found problems the earlier stages cannot see (M601 name collisions): a
    ``DiagnosticError`` like every stage's, so callers report it the same way."""


# ---------------------------------------------------------------- view models


@dataclass
class Method:
    sig: str  # "async def send_title(self, msg: Title) -> Buyer1_S1"
    doc: str
    body: list[str]
    decorator: str = ""


@dataclass
class Variant:
    name: str
    doc: str
    fields: list[tuple[str, str]]


@dataclass
class StateClass:
    name: str
    doc: str
    methods: list[Method]
    variants: list[Variant] = field(default_factory=list)


class TextSpool:
    """Text written piece by piece and held zlib-compressed, read back as often as needed.

    The frame before the roles (imports, steps) depends on every role's code, so the roles
    are rendered before anything is printed; their text waits here at about an eighth of its
    size (the module of bench.compiler's 100k interactions: 135 MB of text, 16 MB held;
    issue 15). Level 1: the fastest, and text this repetitive still shrinks eightfold."""

    BATCH = 1 << 16  # characters collected before compressing: one call per state costs more

    def __init__(self) -> None:
        self._z: zlib._Compress | None = zlib.compressobj(1)
        self._parts: list[bytes] = []
        self._batch: list[str] = []
        self._size = 0

    def write(self, text: str) -> None:
        assert self._z is not None, "write after close"
        self._batch.append(text)
        self._size += len(text)
        if self._size >= self.BATCH:
            self._compress()

    def _compress(self) -> None:
        assert self._z is not None
        if out := self._z.compress("".join(self._batch).encode("utf-8")):
            self._parts.append(out)
        self._batch, self._size = [], 0

    def close(self) -> None:
        if self._z is not None:
            self._compress()
            self._parts.append(self._z.flush())
            self._z = None

    PIECE = 1 << 18  # bytes of text per piece read back

    def chunks(self) -> Iterator[str]:
        """The text written, in pieces of at most ``PIECE`` bytes."""
        self.close()
        unzip = zlib.decompressobj()
        text = codecs.getincrementaldecoder("utf-8")()
        for part in self._parts:
            data = part
            while data:
                if piece := text.decode(unzip.decompress(data, self.PIECE)):
                    yield piece
                data = unzip.unconsumed_tail
        if piece := text.decode(unzip.flush(), final=True):
            yield piece


@dataclass
class RoleModel:
    name: str
    entry: str  # start_<role>
    start: str
    entry_loops: str
    # Each state class is turned into text (``state_text``) as soon as it is built, and its
    # names checked (``ModuleRenderer.claim``), keeping only the code markers below.
    body: TextSpool
    code_markers: frozenset[str]  # which of CODE_MARKERS the methods' code contains


# Runtime names a module imports only when some method's code uses them.
CODE_MARKERS = ("_GuardFailed(", "_Callable[", "_Writer(", "_Peer(")


def state_text(s: StateClass) -> str:
    """One state class and its branch classes, as the module shows them.

    One blank line between a role's classes (not PEP 8's two): the states are a long
    flat list."""
    out: list[str] = []
    for v in s.variants:
        out.append(f'\n@_final\n@_dc.dataclass(frozen=True, slots=True, kw_only=True)\nclass {v.name}:\n    """{v.doc}"""\n\n')
        out += [f"    {f}: {t}\n" for f, t in v.fields]
    out.append(f'\n@_final\nclass {s.name}(_rt.State):\n    """{s.doc}"""\n')
    for i, m in enumerate(s.methods):
        if i:
            out.append("\n")
        if m.decorator:
            out.append(f"    {m.decorator}\n")
        out.append(f'    {m.sig}:\n        """{m.doc}"""\n')
        out += [f"    {line}\n" for line in m.body]
    return "".join(out)


@dataclass
class MessageModel:
    name: str
    doc: str
    fields: list[tuple[str, str]]
    is_message: bool
    write: list[str]
    read: str
    union: list[str] = field(default_factory=list)  # a tagged union: its records, tag = index


# ---------------------------------------------------------------- helpers


@cache
def method_suffix(name: str) -> str:
    """``names.method_suffix``, memoised: big protocols repeat a few names many times."""
    return _method_suffix(name)


def doc_text(text: str) -> str:
    """Safe inside a triple-quoted docstring."""
    return text.replace("\\", "\\\\").replace('"', '\\"').strip()


def py_type(t: TypeExpr, shadowed: frozenset[str] = frozenset()) -> str:
    """The Python annotation of a payload type; builtins named in ``shadowed`` (field names
    of the same class, which shadow them in the class body) are spelled ``_builtins.x``."""

    def b(name: str) -> str:
        return f"_builtins.{name}" if name in shadowed else name

    match t:
        case PrimType():
            return b(t.name)
        case FixedBytesType():
            return fixed_class(t.size)
        case ListType():
            return f"{b('list')}[{py_type(t.item, shadowed)}]"
        case OptionalType():
            return f"{py_type(t.item, shadowed)} | None"
        case MapType():
            return f"{b('dict')}[{py_type(t.key, shadowed)}, {py_type(t.value, shadowed)}]"
        case RecordRef():
            return t.name


# Sizes runtime.codec defines a class for (its FIXED_BYTES; a test keeps the two equal). The
# compiler does not import the runtime.
FIXED_BYTES: frozenset[int] = frozenset({16, 32, 64})


def fixed_class(size: int) -> str:
    """``bytesN`` fields are ``BytesN`` (``runtime.codec.FixedBytes``): size-checked."""
    return f"Bytes{size}"


def fixed_sizes(t: TypeExpr, out: set[int]) -> set[int]:
    match t:
        case FixedBytesType():
            out.add(t.size)
        case ListType() | OptionalType():
            fixed_sizes(t.item, out)
        case MapType():
            fixed_sizes(t.key, out)
            fixed_sizes(t.value, out)
        case _:
            pass
    return out


_BUILTIN_TYPES = frozenset({"int", "str", "bytes", "bool", "float", "list", "dict"})
_PRIM_W = {"int": "sint", "str": "text", "bytes": "blob", "bool": "boolean", "float": "double"}


class _Codecs:
    """Writer/reader helpers for compound field types, numbered by first use."""

    def __init__(self, unions: frozenset[str] = frozenset()) -> None:
        self.helpers: dict[str, tuple[str, str, str]] = {}  # key -> (w name, r name, type)
        self.lines: list[str] = []
        self.unions = unions  # record names that are tagged unions

    def writer(self, t: TypeExpr) -> str:
        """An expression of type ``Callable[[Writer, T], None]``."""
        match t:
            case PrimType():
                return f"_Writer.{_PRIM_W[t.name]}"
            case RecordRef():
                return f"_w_{t.name}"
            case _:
                return self._helper(t)[0]

    def reader(self, t: TypeExpr) -> str:
        """An expression of type ``Callable[[Reader], T]``."""
        match t:
            case PrimType():
                return f"_Reader.{_PRIM_W[t.name]}"
            case RecordRef():
                return f"_r_{t.name}"
            case _:
                return self._helper(t)[1]

    def _helper(self, t: TypeExpr) -> tuple[str, str]:
        k = type_text(t)
        hit = self.helpers.get(k)
        if hit is not None:
            return hit[0], hit[1]
        n = len(self.helpers) + 1
        w, r, ty = f"_wt{n}", f"_rt{n}", py_type(t)
        self.helpers[k] = (w, r, ty)
        match t:
            case FixedBytesType():
                wb, rb = f"w.fixed(v, {t.size})", f"r.fixed_bytes({fixed_class(t.size)})"
            case ListType():
                wb, rb = f"w.seq(v, {self.writer(t.item)})", f"r.seq({self.reader(t.item)})"
            case OptionalType() if isinstance(t.item, RecordRef) and t.item.name in self.unions:
                # Spelled out: mypy solves opt's T from ``A | B | None`` as object, not A | B.
                # Same bytes as Writer.opt: a presence byte, then the value.
                wb = f"if v is None:\n        w.boolean(False)\n    else:\n        w.boolean(True)\n        {self.writer(t.item)}(w, v)"
                rb = f"r.opt({self.reader(t.item)})"
            case OptionalType():
                wb, rb = f"w.opt(v, {self.writer(t.item)})", f"r.opt({self.reader(t.item)})"
            case MapType():
                wb = f"w.mapping(v, {self.writer(t.key)}, {self.writer(t.value)})"
                rb = f"r.mapping({self.reader(t.key)}, {self.reader(t.value)})"
            case _:
                raise AssertionError(k)
        self.lines += [
            "",
            "",
            f"def {w}(w: _Writer, v: {ty}) -> None:",
            f'    """Write {k}."""',
            f"    {wb}",
            "",
            "",
            f"def {r}(r: _Reader) -> {ty}:",
            f'    """Read {k}."""',
            f"    return {rb}",
        ]
        return w, r

    def write_stmt(self, t: TypeExpr, value: str) -> str:
        if isinstance(t, PrimType):
            return f"w.{_PRIM_W[t.name]}({value})"
        return f"{self.writer(t)}(w, {value})"

    def read_expr(self, t: TypeExpr) -> str:
        if isinstance(t, PrimType):
            return f"r.{_PRIM_W[t.name]}()"
        return f"{self.reader(t)}(r)"


def bound(b: Bound, ep: str = "_ep") -> str:
    if isinstance(b, Chosen):  # the index the members agreed on when they chose the role
        return f"{ep}.chosen[{str(b)!r}]"
    return str(b) if isinstance(b, int) else f"{ep}.param({b!r})"


def member_pred(only: MemberSel, ep: str) -> str:
    me = f"{ep}.me.index"
    match only:
        case OnlyIndex():
            return f"{me} {'!=' if only.exclude else '=='} {bound(only.index, ep)}"
        case OnlyRange():
            return f"_rt.in_range({me}, {bound(only.lo, ep)}, {bound(only.hi, ep)})"
        case OnlySet():
            pred = f"{me} {'not in' if only.exclude else 'in'} {ep}.chosen_sets[{only.name!r}]"
            return pred if only.but is None else f"{pred} and {me} != {ep}.chosen[{only.but!r}]"


def guard_py(e: GuardExpr, params: set[str]) -> str:
    """The guard tree as fully parenthesised Python; params read from the endpoint."""
    match e:
        case GLit():
            return repr(e.value)
        case GName():
            return f"_ep.param({e.name!r})" if e.name in params else e.name
        case GUnary():
            inner = guard_py(e.operand, params)
            return f"(not {inner})" if e.op == "not" else f"(-{inner})"
        case GBinary():
            return f"({guard_py(e.left, params)} {e.op} {guard_py(e.right, params)})"


def guard_names(e: GuardExpr, out: set[str]) -> set[str]:
    match e:
        case GName():
            out.add(e.name)
        case GUnary():
            guard_names(e.operand, out)
        case GBinary():
            guard_names(e.left, out)
            guard_names(e.right, out)
        case GLit():
            pass
    return out


# ---------------------------------------------------------------- per role


class _RoleRenderer:
    def __init__(self, r: ModuleRenderer, sm: fsm.StateMachine) -> None:
        self.r = r
        self.sm = sm
        self.role = sm.role

    def cls(self, n: fsm.Node) -> str:
        return fsm.class_name(self.role, n)

    def loops(self, ops: Iterable[fsm.LoopOp], base: str = "self._loops") -> str:
        expr = base
        for op in ops:
            expr = f"_rt.{op}({expr})"
        return expr

    def make(self, t: fsm.Target) -> str:
        """Constructor expression of the target state (from inside a method with ``_ep``)."""
        return f"{self.cls(t.node)}(_ep, _PRIVATE, {self.loops(t.ops)})"

    def goto(self, t: fsm.Target, ind: str = "    ") -> list[str]:
        """Lines that finish a method by moving to ``t`` (closing the session at End)."""
        out = []
        if isinstance(t.node, fsm.EndNode):
            out.append(f"{ind}await _ep.close()")
        out.append(f"{ind}return {self.make(t)}")
        return out

    def peer(self, p: LPeer) -> str:
        match p:
            case PeerOne():
                return self.r.peer_const(p.role)
            case PeerMember():
                return f"_Peer({p.role!r}, {bound(p.index)})"
            case PeerRing():
                return f"_Peer({p.role!r}, _rt.ring(_ep, {p.role!r}, {p.offset}))"
            case PeerFamily():
                raise AssertionError("families are iterated, not single peers")

    def members(self, p: PeerFamily) -> str:
        lo = "None" if p.lo is None else bound(p.lo)
        hi = "None" if p.hi is None else bound(p.hi)
        if p.within is not None:
            return f"_rt.members(_ep, {p.role!r}, None, None, {p.exclude_self}, {p.within!r})"
        return f"_rt.members(_ep, {p.role!r}, {lo}, {hi}, {p.exclude_self})"

    def member_peers(self, p: PeerFamily) -> str:
        """``members`` with each member's shared Peer: family loops build none per message."""
        return self.members(p).replace("_rt.members(", "_rt.member_peers(", 1)

    def step(self, n: fsm.Node, message: str, ann: Annotations, suffix: str = "") -> str:
        name = f"_STEP_{self.role}_{n.sid}{suffix}"
        timeout = ann.timeout if ann.timeout is not None else self.r.protocol.default_timeout
        args = [
            f"protocol={self.r.protocol.name!r}",
            f"role={self.role!r}",
            f"state={self.cls(n)!r}",
            f"message={message!r}",
            f"spec={self.r.loc(n.span)!r}",
        ]
        if ann.guard_capability is not None:
            args.append(f"capability={ann.guard_capability!r}")
        if ann.flow_cost is not None:
            args.append(f"flow_cost={ann.flow_cost!r}")
        if ann.journal_facts:
            args.append(f"journal_facts={tuple(ann.journal_facts)!r}")
        if ann.journal_merge is not None:
            args.append(f"journal_merge={ann.journal_merge!r}")
        if timeout is not None:
            args.append(f"timeout={float(timeout)!r}")
        self.r.steps.write(f"{name}: _Final = _Step({', '.join(args)})\n")
        return name

    def take(self, n: fsm.Node, method: str) -> list[str]:
        lines = [f'    _ep = self._take("{method}")']
        if n.only is not None and n.skip is None:
            # Split states (see ``participation``) check membership once, when they split.
            lines += [
                f"    if not ({member_pred(n.only, '_ep')}):",
                f"        raise _rt.violation(_ep, {self._not_part(method)!r})",
            ]
        return lines

    @staticmethod
    def plain(n: fsm.SendNode | fsm.RecvNode) -> bool:
        """A step every member takes with one fixed peer, into a state in the same loop that
        is not End: what ``genlib.State._send``/``_recv`` do, so the method is one call."""
        assert n.next is not None
        peer = n.to if isinstance(n, fsm.SendNode) else n.frm
        return (isinstance(peer, PeerOne) and n.only is None and not n.next.ops
                and not isinstance(n.next.node, fsm.EndNode))

    def _not_part(self, method: str) -> str:
        return f"{self.role} member does not take part here, so {method}() is not allowed"

    def participation(self, n: fsm.Node, sc: StateClass, part: StateClass) -> None:
        """A step only some members take: the state only has ``participation()``, whose
        variants hold the state with the step's methods (``Takes``) or the state after the
        step (``Skips``), so a member cannot call the method it may not call."""
        assert n.only is not None and n.skip is not None
        what = members_text(n.only)
        takes, skips = f"{sc.name}_Takes", f"{sc.name}_Skips"
        sc.variants += [
            Variant(takes, f"{sc.name}.participation(): this member takes part in the step ({what}).",
                    [("state", part.name)]),
            Variant(skips, f"{sc.name}.participation(): this member does not take part ({what}); "
                    "``state`` is the one after the step.", [("state", self.cls(n.skip.node))]),
        ]
        body = [
            '    _ep = self._take("participation")',
            f"    if {member_pred(n.only, '_ep')}:",
            f"        return {takes}(state={part.name}(_ep, _PRIVATE, self._loops))",
        ]
        if isinstance(n.skip.node, fsm.EndNode):
            body.append("    await _ep.close()")
        body.append(f"    return {skips}(state={self.make(n.skip)})")
        sc.methods.append(Method(
            f"async def participation(self) -> {takes} | {skips}",
            f"Whether this member takes part in this step ({what}): match on the result.", body))

    def state(self, n: fsm.Node) -> StateClass:
        name = self.cls(n)
        loc = self.r.loc(n.span) if n.span.line else self.r.spec_path
        doc = f"{self.role} state {name.split('_')[-1]}: {doc_text(n.text)} (Spec: {loc})"
        sc = StateClass(name, doc, [])
        # The step's methods go on the ``Takes`` state when only some members take part.
        split = n.only is not None and n.skip is not None
        tgt = StateClass(f"{name}_Part", f"{doc}\n\n    Reached through ``{name}_Takes``: this member takes part.", []) if split else sc
        match n:
            case fsm.SendNode():
                self.send(n, tgt)
            case fsm.RecvNode():
                self.recv(n, tgt)
            case fsm.LocalNode():
                self.local(n, tgt)
            case fsm.ChooseNode():
                self.choose(n, tgt)
            case fsm.SelectNode():
                self.select(n, tgt)
            case fsm.OfferNode():
                self.offer(n, tgt)
            case fsm.LoopNode():
                self.loop(n, tgt)
            case fsm.DecideNode():
                self.decide(n, tgt)
            case fsm.DecidedNode():
                self.decided(n, tgt)
            case fsm.ForkNode():
                self.fork(n, tgt)
            case fsm.BranchEndNode():
                sc.doc = f"{self.role}: end of parallel branch {n.index}; hand it to join() (Spec: {loc})."
            case fsm.EndNode():
                sc.doc = f"{self.role} has finished the protocol; the session is closed (Spec: {self.r.spec_path})."
            case _:
                raise AssertionError(type(n).__name__)
        if split:
            self.participation(n, sc, tgt)
            self.extra.insert(0, tgt)
        return sc

    def send(self, n: fsm.SendNode, sc: StateClass) -> None:
        assert n.next is not None
        msg, sfx = n.message, method_suffix(n.message)
        nxt = self.cls(n.next.node)
        step = self.step(n, msg, n.annotations)
        if isinstance(n.to, PeerFamily):
            who = peer_text(n.to)
            sc.methods.append(Method(
                f"async def send_{sfx}(self, msg: {msg}) -> {nxt}",
                f"Send the same {msg} to each of {who}.",
                [*self.take(n, f"send_{sfx}"),
                 f"    for _i, _p in {self.member_peers(n.to)}:",
                 f"        await _ep.send(_p, {msg!r}, msg, _enc_{msg}, {step})",
                 *self.goto(n.next)]))
            sc.methods.append(Method(
                f"async def send_{sfx}_each(self, make: _Callable[[int], {msg}]) -> {nxt}",
                f"Send ``make(i)`` to member i, for each of {who}: called for exactly those members, "
                "all before the first send.",
                [*self.take(n, f"send_{sfx}_each"),
                 f"    _out = [(_p, make(_i)) for _i, _p in {self.member_peers(n.to)}]",
                 "    for _p, _m in _out:",
                 f"        await _ep.send(_p, {msg!r}, _m, _enc_{msg}, {step})",
                 *self.goto(n.next)]))
        elif self.plain(n):
            sc.methods.append(Method(
                f"async def send_{sfx}(self, msg: {msg}) -> {nxt}",
                f"Send {msg} to {peer_text(n.to)}.",
                [f'    return await self._send("send_{sfx}", {self.peer(n.to)}, msg, _enc_{msg}, {step}, {nxt})']))
        else:
            sc.methods.append(Method(
                f"async def send_{sfx}(self, msg: {msg}) -> {nxt}",
                f"Send {msg} to {peer_text(n.to)}.",
                [*self.take(n, f"send_{sfx}"),
                 f"    await _ep.send({self.peer(n.to)}, {msg!r}, msg, _enc_{msg}, {step})",
                 *self.goto(n.next)]))

    def local(self, n: fsm.LocalNode, sc: StateClass) -> None:
        """``do_<step>(fn[, arg])``: the role runs its computation through this method, so
        the protocol says where it happens; input and output are checked against their
        declared types (as their codec would) before the next state is handed out."""
        assert n.next is not None
        if n.step == EPOCH_STEP:
            self.epoch_bump(n, sc)
            return
        decl = self.r.step_decls[n.step]
        sfx = method_suffix(n.step)
        method = f"do_{sfx}"
        nxt = self.cls(n.next.node)
        i_t = None if decl.input is None else py_type(decl.input)
        o_t = None if decl.output is None else py_type(decl.output)
        sig = f"async def {method}(self, fn: _Callable[[{i_t or ''}], {o_t or 'None'}]"
        sig += f", arg: {i_t}) -> " if i_t else ") -> "
        sig += f"tuple[{o_t}, {nxt}]" if o_t else nxt
        body = self.take(n, method)
        for what, t, value in (("input", decl.input, "arg"), ("output", decl.output, "_out")):
            if t is None:
                continue
            if what == "output":
                body.append(f"    _out = fn({'arg' if i_t else ''})")
            body += [
                "    try:",
                f"        {self.r.codecs.writer(t)}(_Writer(), {value})",
                "    except (ValueError, TypeError, AttributeError, OverflowError) as _e:",
                f"        raise _rt.violation(_ep, {f'local step {n.step}: its {what} is not a {type_text(t)}: '!r} + str(_e)) from None",
            ]
        if decl.output is None:
            body.append(f"    fn({'arg' if i_t else ''})")
        if isinstance(n.next.node, fsm.EndNode):
            body.append("    await _ep.close()")
        body.append(f"    return (_out, {self.make(n.next)})" if o_t else f"    return {self.make(n.next)}")
        what = f"{type_text(decl.input) if decl.input else 'no input'} -> {type_text(decl.output) if decl.output else 'no output'}"
        doc = f"Run the local step {n.step} ({what}) here: ``fn({'arg' if i_t else ''})``, no communication."
        if decl.doc:
            doc += f" {doc_text(decl.doc)}"
        sc.methods.append(Method(sig, doc, body))

    def epoch_bump(self, n: fsm.LocalNode, sc: StateClass) -> None:
        """``bump_epoch()``: the role moves the session to its next epoch here; the runtime
        tags every later frame with it and rejects a peer's frame of an older one."""
        assert n.next is not None
        nxt = self.cls(n.next.node)
        step = self.step(n, "bump_epoch", Annotations())
        body = [*self.take(n, "bump_epoch"), f"    _epoch = await _ep.bump_epoch({step})"]
        if isinstance(n.next.node, fsm.EndNode):
            body.append("    await _ep.close()")
        body.append(f"    return _epoch, {self.make(n.next)}")
        sc.methods.append(Method(
            f"async def bump_epoch(self) -> tuple[int, {nxt}]",
            "Move the session to its next epoch here (returned): every later frame carries it, "
            "and a peer's frame of an older epoch is a RemoteViolation naming that peer.",
            body))

    def choose(self, n: fsm.ChooseNode, sc: StateClass) -> None:
        """``do_<step>(fn[, arg])`` of a role (or a set, ``n.size``) chosen at run time: the
        step's output is the index of the member chosen (the set's indices); the members
        agree on it (``genlib.agree``/``agree_set``: each tells every other its claim, a
        different claim is a RemoteViolation naming the claimant), and the result says
        whether this member is it / in it (``<S>_<Role>``) or not (``<S>_Not<Role>``), so
        the role program must handle both."""
        assert n.it is not None and n.other is not None
        decl = self.r.step_decls[n.step]
        state = self.cls(n)
        method = f"do_{method_suffix(n.step)}"
        i_t = None if decl.input is None else py_type(decl.input)
        it, other = f"{state}_{n.role}", f"{state}_Not{n.role}"
        call = f"fn({'arg' if i_t else ''})"
        # One member or a set: the two differ only in these words and in the agreement call.
        if n.size is None:
            field, field_t, out_t = "index", "int", "int"
            it_doc = f"this member was chosen as {n.role} (``index`` is its own)."
            other_doc = f"{n.family}[index] was chosen as {n.role}, not this member."
            agree = f"_rt.agree(_ep, {n.family!r}, {n.role!r}, {call}, "
            mine = "_c == _ep.me.index"
            what = f"the index of the {n.family} member chosen as {n.role}), agree on it"
            go_on = f"go on as {n.role} or not"
        else:
            field, field_t, out_t = "members", "tuple[int, ...]", "list[int]"
            it_doc = f"this member is in {n.role} (``members``: the set's indices, ascending)."
            other_doc = f"this member is not in {n.role} (``members``: the set's indices, ascending)."
            agree = f"_rt.agree_set(_ep, {n.family!r}, {n.role!r}, {bound(n.size)}, {call}, "
            mine = "_ep.me.index in _c"
            what = f"the indices of the {n.size} {n.family} members chosen as {n.role}), agree on them"
            go_on = f"go on in {n.role} or not"
        sc.variants += [
            Variant(it, f"{state}.{method}(): {it_doc}", [(field, field_t), ("state", self.cls(n.it.node))]),
            Variant(other, f"{state}.{method}(): {other_doc}", [(field, field_t), ("state", self.cls(n.other.node))]),
        ]
        step = self.step(n, CONTROL_CLAIM, Annotations())
        body = self.take(n, method)
        if decl.input is not None:
            body += [
                "    try:",
                f"        {self.r.codecs.writer(decl.input)}(_Writer(), arg)",
                "    except (ValueError, TypeError, AttributeError, OverflowError) as _e:",
                f"        raise _rt.violation(_ep, {f'local step {n.step}: its input is not a {type_text(decl.input)}: '!r} + str(_e)) from None",
            ]
        body += [f"    _c = await {agree}{step})", *self.announce(n, step), f"    if {mine}:"]
        for name, t, ind in ((it, n.it, "        "), (other, n.other, "    ")):
            if isinstance(t.node, fsm.EndNode):
                body.append(f"{ind}await _ep.close()")
            body.append(f"{ind}return {name}({field}=_c, state={self.make(t)})")
        sig = f"async def {method}(self, fn: _Callable[[{i_t or ''}], {out_t}]"
        sig += f", arg: {i_t}) -> " if i_t else ") -> "
        doc = f"Run the local step {n.step} (``{call}``: {what} with every other {n.family} member, and {go_on}."
        if decl.doc:
            doc += f" {doc_text(decl.doc)}"
        sc.methods.append(Method(sig + f"{it} | {other}", doc, body))

    def announce(self, n: fsm.ChooseNode, step: str) -> list[str]:
        """Lines that tell the roles of ``announce to`` the agreed choice ``_c``."""
        return [f"    await _rt.announce(_ep, {self.r.peer_const(r)}, _c, {step})" for r in n.announce]

    def learn(self, n: fsm.RecvNode, sc: StateClass) -> None:
        """``learn_<role>()`` of a role told a choice (``announce to``): one claim from every
        member of the family, checked to agree (``genlib.learn``); afterwards this role may
        meet the chosen member (or set)."""
        assert n.next is not None and n.announce is not None and isinstance(n.frm, PeerFamily)
        nxt = self.cls(n.next.node)
        step = self.step(n, CONTROL_CLAIM, n.annotations)
        method = f"learn_{method_suffix(n.announce)}"
        if n.announce_size is None:
            call, ty, what = f"_rt.learn_index(_ep, {n.frm.role!r}, {n.announce!r}, {step})", "int", "index of the member"
        else:
            call = f"_rt.learn_set(_ep, {n.frm.role!r}, {n.announce!r}, {bound(n.announce_size)}, {step})"
            ty, what = "tuple[int, ...]", "indices (ascending) of the members"
        sc.methods.append(Method(
            f"async def {method}(self) -> tuple[{ty}, {nxt}]",
            f"Learn which {n.frm.role} members were chosen as {n.announce}: the {what} every {n.frm.role} member "
            "claims (a member claiming otherwise is a RemoteViolation naming it).",
            [*self.take(n, method),
             f"    _v = await {call}",
             *(["    await _ep.close()"] if isinstance(n.next.node, fsm.EndNode) else []),
             f"    return _v, {self.make(n.next)}"]))

    def recv(self, n: fsm.RecvNode, sc: StateClass) -> None:
        assert n.next is not None
        if n.announce is not None:
            self.learn(n, sc)
            return
        msg, sfx = n.message, method_suffix(n.message)
        nxt = self.cls(n.next.node)
        step = self.step(n, msg, n.annotations)
        state = self.cls(n)
        if isinstance(n.frm, PeerFamily):
            sc.methods.append(Method(
                f"async def recv_{sfx}(self) -> tuple[dict[int, {msg}], {nxt}]",
                f"Receive one {msg} from each of {peer_text(n.frm)}, keyed by sender index.",
                [*self.take(n, f"recv_{sfx}"),
                 f"    _out: dict[int, {msg}] = {{}}",
                 f"    _dec = {{{msg!r}: _dec_{msg}}}",
                 f"    for _i, _peer in {self.member_peers(n.frm)}:",
                 f"        _lbl, _v = await _ep.recv(_peer, _dec, {step})",
                 f"        if not isinstance(_v, {msg}):",
                 f"            raise _rt.unexpected(_ep, _peer, {state!r}, {msg!r}, _lbl)",
                 "        _out[_i] = _v",
                 "    _nxt = " + self.make(n.next),
                 *(["    await _ep.close()"] if isinstance(n.next.node, fsm.EndNode) else []),
                 "    return _out, _nxt"]))
        elif self.plain(n):
            sc.methods.append(Method(
                f"async def recv_{sfx}(self) -> tuple[{msg}, {nxt}]",
                f"Receive {msg} from {peer_text(n.frm)}.",
                [f'    return await self._recv("recv_{sfx}", {self.peer(n.frm)}, _dec_{msg}, {msg}, {step}, {nxt})']))
        else:
            sc.methods.append(Method(
                f"async def recv_{sfx}(self) -> tuple[{msg}, {nxt}]",
                f"Receive {msg} from {peer_text(n.frm)}.",
                [*self.take(n, f"recv_{sfx}"),
                 f"    _peer = {self.peer(n.frm)}",
                 f"    _lbl, _v = await _ep.recv(_peer, {{{msg!r}: _dec_{msg}}}, {step})",
                 f"    if not isinstance(_v, {msg}):",
                 f"        raise _rt.unexpected(_ep, _peer, {state!r}, {msg!r}, _lbl)",
                 *(["    await _ep.close()"] if isinstance(n.next.node, fsm.EndNode) else []),
                 f"    return _v, {self.make(n.next)}"]))

    def select(self, n: fsm.SelectNode, sc: StateClass) -> None:
        vars_ = self.r.guard_vars
        params = self.r.params
        for b in n.branches:
            sfx = method_suffix(b.label)
            args = ""
            body = self.take(n, f"select_{sfx}")
            if b.guard is not None:
                used = guard_names(b.guard.expr, set())
                kw = [v for v in vars_ if v in used and v not in params]
                if kw:
                    args = ", *, " + ", ".join(f"{v}: {vars_[v]}" for v in kw)
                body += [
                    f"    if not {guard_py(b.guard.expr, params)}:",
                    f"        _err = _GuardFailed({b.label!r}, {b.guard.source!r}, {self.r.loc(b.guard.span)!r})",
                    "        _ep.local_violation(_err)",
                    "        raise _err",
                ]
            body += self.goto(b.next)
            gdoc = f" Guard: ``{doc_text(b.guard.source)}`` (checked here)." if b.guard else ""
            sc.methods.append(Method(
                f"async def select_{sfx}(self{args}) -> {self.cls(b.next.node)}",
                f"Choose branch {b.label}.{gdoc}", body))

    def offer(self, n: fsm.OfferNode, sc: StateClass) -> None:
        if isinstance(n.frm, PeerFamily):
            self.failable_collection(n, n.frm, sc)
            return
        state = self.cls(n)
        anns = {b.annotations for b in n.branches}
        ann = anns.pop() if len(anns) == 1 else Annotations()
        labels = [b.message for b in n.branches if b.message != FAILED]
        failed = [b for b in n.branches if b.message == FAILED]
        step = self.step(n, "|".join(labels), ann)
        vnames = []
        recv = ("await _ep.recv(_peer, {" + ", ".join(f"{m!r}: _dec_{m}" for m in labels)
                + f"}}, {step}{', failable=True' if failed else ''})")
        body = [*self.take(n, "offer"), f"    _peer = {self.peer(n.frm)}"]
        if failed:
            # Crash-stop failure branch: the sender crashed or missed the deadline.
            fb = failed[0]
            vname = f"{state}_Failed"
            vnames.append(vname)
            sc.variants.append(Variant(
                vname, f"{state}.offer(): {peer_text(n.frm)} failed (crashed or missed its deadline); "
                f"branch {', '.join(fb.labels)}.",
                [("peer", "str"), ("reason", "str"), ("state", self.cls(fb.next.node))]))
            body += ["    try:", f"        _lbl, _v = {recv}", "    except _rt.PeerGone as _gone:"]
            if isinstance(fb.next.node, fsm.EndNode):
                body.append("        await _ep.close()")
            body.append(f"        return {vname}(peer=_gone.peer, reason=_gone.reason, state={self.make(fb.next)})")
        else:
            body.append(f"    _lbl, _v = {recv}")
        for b in n.branches:
            if b.message == FAILED:
                continue
            vname = f"{state}_{b.message}"
            vnames.append(vname)
            nxt = self.cls(b.next.node)
            sc.variants.append(Variant(
                vname, f"{state}.offer() got {b.message} (branch {', '.join(b.labels)}).",
                [("msg", b.message), ("state", nxt)]))
            body.append(f"    if isinstance(_v, {b.message}):")
            if isinstance(b.next.node, fsm.EndNode):
                body.append("        await _ep.close()")
            body.append(f"        return {vname}(msg=_v, state={self.make(b.next)})")
        body.append(f"    raise _rt.unexpected(_ep, _peer, {state!r}, {'|'.join(labels)!r}, _lbl)")
        vnames.sort(key=lambda v: v == f"{state}_Failed")  # the failure last, as in the spec
        sc.methods.append(Method(
            f"async def offer(self) -> {' | '.join(vnames)}",
            f"Wait for {' or '.join(labels)} from {peer_text(n.frm)}, or learn that it failed: match on the result."
            if failed else f"Wait for {peer_text(n.frm)} to choose: match on the result.", body))

    def failable_collection(self, n: fsm.OfferNode, frm: PeerFamily, sc: StateClass) -> None:
        """A collection with a failure branch: one message from each member, or the first
        member that failed. It still waits for every other member, so that what the
        survivors sent is consumed and each member that failed is known to the runtime
        (taken for crashed: later sends to it are skipped)."""
        ok, fb = n.branches  # fsm only lets a family offer be (message, failure)
        msg, state = ok.message, self.cls(n)
        step = self.step(n, msg, ok.annotations)
        vok, vfail = f"{state}_{msg}", f"{state}_Failed"
        sc.variants.append(Variant(
            vok, f"{state}.offer() got {msg} from each of {peer_text(frm)}, keyed by sender index "
            f"(branch {', '.join(ok.labels)}).", [("msg", f"dict[int, {msg}]"), ("state", self.cls(ok.next.node))]))
        sc.variants.append(Variant(
            vfail, f"{state}.offer(): a member of {peer_text(frm)} failed (crashed or missed its deadline), "
            f"``peer`` names the first; branch {', '.join(fb.labels)}.",
            [("peer", "str"), ("reason", "str"), ("state", self.cls(fb.next.node))]))
        body = [*self.take(n, "offer"),
                f"    _out: dict[int, {msg}] = {{}}",
                "    _gone: _rt.PeerGone | None = None",
                f"    for _i in {self.members(frm)}:",
                f"        _peer = _Peer({frm.role!r}, _i)",
                "        try:",
                f"            _lbl, _v = await _ep.recv(_peer, {{{msg!r}: _dec_{msg}}}, {step}, failable=True)",
                "        except _rt.PeerGone as _e:",
                "            _gone = _gone or _e",
                "            continue",
                f"        if not isinstance(_v, {msg}):",
                f"            raise _rt.unexpected(_ep, _peer, {state!r}, {msg!r}, _lbl)",
                "        _out[_i] = _v",
                "    if _gone is not None:",
                *(["        await _ep.close()"] if isinstance(fb.next.node, fsm.EndNode) else []),
                f"        return {vfail}(peer=_gone.peer, reason=_gone.reason, state={self.make(fb.next)})",
                *(["    await _ep.close()"] if isinstance(ok.next.node, fsm.EndNode) else []),
                f"    return {vok}(msg=_out, state={self.make(ok.next)})"]
        sc.methods.append(Method(
            f"async def offer(self) -> {vok} | {vfail}",
            f"Receive one {msg} from each of {peer_text(frm)}, or learn that one of them failed: match on the result.",
            body))

    def loop(self, n: fsm.LoopNode, sc: StateClass) -> None:
        assert n.body is not None and n.exit is not None
        state = self.cls(n)
        it, done = f"{state}_Iter", f"{state}_Done"
        sc.variants += [
            Variant(it, f"{state}.next(): one more iteration to run.", [("state", self.cls(n.body.node))]),
            Variant(done, f"{state}.next(): every iteration ran (count: {n.count}).", [("state", self.cls(n.exit.node))]),
        ]
        body = [
            '    _ep = self._take("next")',
            f"    if self._loops[-1] < {bound(n.count)}:",
            f"        return {it}(state={self.make(n.body)})",
        ]
        if isinstance(n.exit.node, fsm.EndNode):
            body.append("    await _ep.close()")
        body.append(f"    return {done}(state={self.make(n.exit)})")
        sc.methods.append(Method(f"async def next(self) -> {it} | {done}",
                                 f"Run the next iteration (count: {n.count}), or leave the loop after the last.", body))
        sc.methods.append(Method("def iteration(self) -> int", "Iterations completed so far.",
                                 ["    return self._loops[-1]"], decorator="@property"))

    def decide(self, n: fsm.DecideNode, sc: StateClass) -> None:
        assert n.body is not None and n.exit is not None
        for label, ctl, tgt in (("continue", CONTROL_CONTINUE, n.body), ("exit", CONTROL_EXIT, n.exit)):
            step = self.step(n, ctl, Annotations(), f"_{label}")
            body = self.take(n, f"select_{label}")
            for p in n.inform:
                if isinstance(p, PeerFamily):
                    body += [f"    for _i, _p in {self.member_peers(p)}:",
                             f"        await _ep.send(_p, {ctl!r}, None, _rt.enc_ctl, {step})"]
                else:
                    body.append(f"    await _ep.send({self.peer(p)}, {ctl!r}, None, _rt.enc_ctl, {step})")
            body += self.goto(tgt)
            told = ", ".join(peer_text(p) for p in n.inform) or "nobody"
            what = "Run one more iteration" if label == "continue" else "Leave the loop"
            sc.methods.append(Method(f"async def select_{label}(self) -> {self.cls(tgt.node)}",
                                     f"{what} (tells {told}).", body))

    def decided(self, n: fsm.DecidedNode, sc: StateClass) -> None:
        assert n.body is not None and n.exit is not None
        state = self.cls(n)
        c, e = f"{state}_Continue", f"{state}_Exit"
        sc.variants += [
            Variant(c, f"{state}.offer(): the decider goes on.", [("state", self.cls(n.body.node))]),
            Variant(e, f"{state}.offer(): the decider left the loop.", [("state", self.cls(n.exit.node))]),
        ]
        step = self.step(n, f"{CONTROL_CONTINUE}|{CONTROL_EXIT}", Annotations())
        body = [*self.take(n, "offer"), f"    _peer = {self.peer(n.frm)}",
                f"    _lbl, _v = await _ep.recv(_peer, {{{CONTROL_CONTINUE!r}: _rt.dec_ctl, {CONTROL_EXIT!r}: _rt.dec_ctl}}, {step})",
                f"    if _lbl == {CONTROL_CONTINUE!r}:",
                f"        return {c}(state={self.make(n.body)})",
                f"    if _lbl == {CONTROL_EXIT!r}:",
                *(["        await _ep.close()"] if isinstance(n.exit.node, fsm.EndNode) else []),
                f"        return {e}(state={self.make(n.exit)})",
                f"    raise _rt.unexpected(_ep, _peer, {state!r}, 'continue|exit', _lbl)"]
        sc.methods.append(Method(f"async def offer(self) -> {c} | {e}",
                                 f"Learn from {peer_text(n.frm)} whether the loop goes on.", body))

    def fork(self, n: fsm.ForkNode, sc: StateClass) -> None:
        assert n.join is not None
        state = self.cls(n)
        join = f"{state}_Join"
        starts = [self.cls(t.node) for t in n.branches]
        body = ['    _ep = self._take("fork")',
                "    return (",
                f"        {join}(_ep, _PRIVATE, self._loops),",
                *[f"        {self.make(t)}," for t in n.branches],
                "    )"]
        sc.methods.append(Method(
            f"async def fork(self) -> tuple[{join}, {', '.join(starts)}]",
            "Start the parallel branches: run each to its end state (e.g. in a trio nursery), "
            "then hand the join token and every end state to ``join``.", body))
        ends = [self.cls(e) for e in n.ends]
        params = ", ".join(f"b{i}: {e}" for i, e in enumerate(ends))
        jbody = ['    _ep = self._take("join")']
        jbody += [f'    b{i}._take("join")' for i in range(len(ends))]
        jbody += self.goto(n.join)
        self.extra.append(StateClass(
            join, f"{self.role}: join token of the parallel block at {state} (Spec: {self.r.loc(n.span)}).",
            [Method(f"async def join(self, {params}) -> {self.cls(n.join.node)}",
                    "Join the finished branches and continue after the parallel block.", jbody)]))

    def render(self) -> RoleModel:
        self.extra: list[StateClass] = []
        entry = f"start_{role_module(self.role)}"
        self.r.claim(entry, f"entry point of role {self.role}")
        is_state, is_branch = f"state class of role {self.role}", f"branch class of role {self.role}"
        body = TextSpool()
        markers: set[str] = set()
        for n in self.sm.states:
            built = [self.state(n), *self.extra]
            self.extra = []
            for sc in built:
                self.r.claim(sc.name, is_state)
                for v in sc.variants:
                    self.r.claim(v.name, is_branch)
                body.write(state_text(sc))
                code = [line for m in sc.methods for line in (m.sig, *m.body)]
                markers.update(k for k in CODE_MARKERS if any(k in line for line in code))
        body.close()
        start = self.cls(self.sm.start)
        return RoleModel(self.role, entry, start, self.loops(self.sm.entry_ops, "()"), body, frozenset(markers))


# ---------------------------------------------------------------- module


class ModuleRenderer:
    def __init__(self, protocol: Protocol, locals_: dict[str, LocalType], spec_path: str) -> None:
        self.protocol = protocol
        self.locals = locals_
        self.spec_path = spec_path
        self.params = {p.name for p in protocol.params}
        self.guard_vars = {v.name: py_type(v.type) for v in protocol.guard_vars}
        self.step_decls = {st.name: st for st in protocol.steps}
        self.steps = TextSpool()  # one line per step: ``_STEP_x: _Final = _Step(...)``
        self.peers: dict[str, str] = {}
        self.codecs = _Codecs(frozenset(r.name for r in protocol.records if r.variants))
        # Every module-level name the module defines, and what defines it (M601 collisions).
        self.seen: dict[str, str] = {}
        self.collided: list[Diagnostic] = []

    def loc(self, span: Span) -> str:
        # A step inlined from an imported spec points into that file.
        path = self.spec_path if span.file == self.protocol.file else span.file
        return f"{path}:{span.line}:{span.col}"

    def peer_const(self, role: str) -> str:
        name = f"_PEER_{role}"
        self.peers[role] = name
        return name

    def message_models(self) -> list[MessageModel]:
        out = []
        for r in self.protocol.records:
            if r.variants:
                names = [v.name for v in r.variants]
                doc = doc_text(r.doc) or f"Tagged union {r.name} of protocol {self.protocol.name}: one of {', '.join(names)}."
                out.append(MessageModel(r.name, doc, [], False, [], "", names))
        items = [(r.name, r.doc, r.fields, False) for r in self.protocol.records if not r.variants]
        items += [(m.name, m.doc, m.fields, True) for m in self.protocol.messages]
        for name, doc, fields, is_msg in items:
            shadowed = frozenset(f.name for f in fields) & _BUILTIN_TYPES
            write = [self.codecs.write_stmt(f.type, f"v.{f.name}") for f in fields]
            read = ", ".join(f"{f.name}={self.codecs.read_expr(f.type)}" for f in fields)
            kind = "Message" if is_msg else "Record"
            out.append(MessageModel(
                name, doc_text(doc) or f"{kind} {name} of protocol {self.protocol.name}.",
                [(f.name, py_type(f.type, shadowed)) for f in fields], is_msg, write, f"{name}({read})"))
        return out

    def render(self) -> ModuleModel:
        """Render every role and check the module's names; raises ``RenderError``. The
        result prints the module (``module_text``) as often as needed."""
        errors: list[Diagnostic] = []
        sizes: set[int] = set()
        for fs in [*(r.fields for r in self.protocol.records), *(m.fields for m in self.protocol.messages)]:
            for f in fs:
                fixed_sizes(f.type, sizes)
        # Claimed in the order the module defines them, so a collision names the first owner.
        for n in MODULE_NAMES:
            self.claim(n, "the generator")
        for n in sorted(sizes):
            self.claim(fixed_class(n), f"the bytes{n} type")
        records = [r for r in self.protocol.records if r.variants] + [r for r in self.protocol.records if not r.variants]
        for r in records:
            self.claim(r.name, f"record {r.name}")
        for m in self.protocol.messages:
            self.claim(m.name, f"message {m.name}")
        roles: list[RoleModel] = []
        for decl in self.protocol.roles:
            lt = self.locals.get(decl.name)
            if lt is None:
                continue
            try:
                sm = fsm.build(lt)
                roles.append(_RoleRenderer(self, sm).render())
            except fsm.FsmError as e:
                errors.append(Diagnostic(NOT_GENERABLE, e.span, f"role {decl.name}: {e}"))
        self.steps.close()
        messages = self.message_models()
        errors += self.collided
        for v in self.guard_vars:
            if v == "self":
                errors.append(Diagnostic(GENERATED_NAME_COLLISION, self.protocol.span,
                                         "guard variable 'self' would shadow the method's self", "rename it"))
        if errors:
            raise RenderError(errors)
        role_infos = []
        for d in self.protocol.roles:
            size = "None" if d.size is None else repr(d.size)
            if d.kind == "dynamic":
                size = "'*'"
            role_infos.append(f"_RoleInfo({d.name!r}, family={d.kind != 'single'}, size={size})")
        markers = frozenset().union(*(r.code_markers for r in roles))
        uses_guard, uses_callable, uses_writer_code, uses_peer_code = (m in markers for m in CODE_MARKERS)
        module = ModuleModel(
            header=module_header(self.spec_path, self.protocol.name),
            name=self.protocol.name,
            doc=doc_text(self.protocol.doc),
            spec=self.spec_path,
            params=tuple(p.name for p in self.protocol.params),
            role_infos=role_infos,
            uses_builtins=any("_builtins." in t for m in messages for _, t in m.fields),
            uses_callable=uses_callable,
            uses_guard=uses_guard,
            # Family loops use genlib's shared member Peers: a module may build none itself.
            uses_peer=uses_peer_code or bool(self.peers),
            # Messages without fields encode to b"" without a Writer.
            uses_writer=bool(self.codecs.lines) or uses_writer_code or any(m.write or not m.is_message for m in messages),
            # Common sizes come from runtime.codec (one class across protocols); others are local.
            fixed_imported=[fixed_class(n) for n in sorted(sizes) if n in FIXED_BYTES],
            fixed_local=[(fixed_class(n), n) for n in sorted(sizes) if n not in FIXED_BYTES],
            messages=messages,
            helpers=self.codecs.lines,
            peers=sorted(self.peers.items()),
            steps=self.steps,
            roles=roles,
        )
        return module

    def claim(self, name: str, what: str) -> None:
        """``name`` is defined by ``what``: an M601 diagnostic when it shadows a name the
        generated code uses, or something else already defines it."""
        if name in _SHADOWS:
            self.collided.append(Diagnostic(GENERATED_NAME_COLLISION, self.protocol.span,
                                            f"{what} would shadow the Python name {name!r} the generated code uses",
                                            "rename it (e.g. capitalised)"))
        elif name in self.seen:
            self.collided.append(Diagnostic(GENERATED_NAME_COLLISION, self.protocol.span,
                                            f"generated name {name} is used by both {self.seen[name]} and {what}",
                                            "rename the message, record or role"))
        else:
            self.seen[name] = what


# ---------------------------------------------------------------- module frame
# The generated module's shape, part by part, as plain functions yielding text: one place to
# change the generated API (the method bodies above, the frame here), and output that can be
# written to the file as it is produced instead of being assembled in memory first.


@dataclass
class ModuleModel:
    """Everything the frame prints, computed (and checked) by ``ModuleRenderer.render``."""

    header: str  # module_header(): two comment lines, no final newline
    name: str
    doc: str
    spec: str
    params: tuple[str, ...]
    role_infos: list[str]
    uses_builtins: bool
    uses_callable: bool
    uses_guard: bool
    uses_peer: bool
    uses_writer: bool
    fixed_imported: list[str]  # BytesN classes runtime.codec defines
    fixed_local: list[tuple[str, int]]  # (class, size) the module defines itself
    messages: list[MessageModel]
    helpers: list[str]  # compound-type codec helpers (``_Codecs.lines``)
    peers: list[tuple[str, str]]  # (role, constant)
    steps: TextSpool
    roles: list[RoleModel]


def module_text(m: ModuleModel) -> Iterator[str]:
    """The module, in pieces whose concatenation is the file."""
    yield from header_text(m)
    yield from message_text(m)
    yield from codec_text(m)
    yield from step_text(m)
    for r in m.roles:
        yield from role_text(r)


def header_text(m: ModuleModel) -> Iterator[str]:
    """Header comment, module docstring, imports (only those the module uses) and PROTOCOL."""
    yield f"{m.header}\n"
    yield f'"""{m.name}: typed session API generated by Minuet.\n'
    if m.doc:
        yield f"\n{m.doc}\n"
    yield (
        "\n"
        "Per role: ``start_<role>(ep)`` returns the first state; every state is a single-use object\n"
        "whose methods return the next state. See docs/codegen.md.\n"
        '"""\n'
        "\n"
        "from __future__ import annotations\n"
        "\n"
    )
    if m.uses_builtins:
        yield "import builtins as _builtins\n"
    yield "import dataclasses as _dc\n"
    if m.uses_callable:
        yield "from collections.abc import Callable as _Callable\n"
    yield (
        "from typing import Final as _Final\n"
        "from typing import final as _final\n"
        "\n"
        "from runtime import genlib as _rt\n"
        "from runtime.genlib import PRIVATE as _PRIVATE\n"
    )
    for c in m.fixed_imported:
        yield f"from runtime.genlib import {c} as {c}\n"
    yield "from runtime.genlib import Endpoint as _Endpoint\n"
    if m.fixed_local:
        yield "from runtime.genlib import FixedBytes as _FixedBytes\n"
    if m.uses_guard:
        yield "from runtime.genlib import GuardFailed as _GuardFailed\n"
    if m.uses_peer:
        yield "from runtime.genlib import Peer as _Peer\n"
    yield (
        "from runtime.genlib import ProtocolInfo as _ProtocolInfo\n"
        "from runtime.genlib import Reader as _Reader\n"
        "from runtime.genlib import RoleInfo as _RoleInfo\n"
        "from runtime.genlib import Step as _Step\n"
    )
    if m.uses_writer:
        yield "from runtime.genlib import Writer as _Writer\n"
    yield f"\nPROTOCOL: _Final = _ProtocolInfo(\n    name={m.name!r},\n    roles=(\n"
    for info in m.role_infos:
        yield f"        {info},\n"
    yield f"    ),\n    params={m.params!r},\n    spec={m.spec!r},\n)\n\n"
    for c, n in m.fixed_local:
        yield (
            f"\n@_final\nclass {c}(_FixedBytes):\n"
            f'    """Exactly {n} bytes (``bytes{n}`` fields); the constructor checks the size."""\n'
            f"\n    __slots__ = ()\n    SIZE = {n}\n\n"
        )
    if m.fixed_local:
        yield "\n"


_DATACLASS = "@_final\n@_dc.dataclass(frozen=True, slots=True, kw_only=True)\n"


def message_text(m: ModuleModel) -> Iterator[str]:
    """Messages and records as frozen dataclasses, then tagged unions as type aliases."""
    yield "# ---------------------------------------------------------------- messages and records\n"
    for msg in m.messages:
        if not msg.union:
            yield f'\n\n{_DATACLASS}class {msg.name}:\n    """{msg.doc}"""\n'
            if msg.fields:
                yield "\n"
            for f, t in msg.fields:
                yield f"    {f}: {t}\n"
    for msg in m.messages:
        if msg.union:
            yield f'\n{msg.name} = {" | ".join(msg.union)}\n"""{msg.doc}"""\n'


def codec_text(m: ModuleModel) -> Iterator[str]:
    """Per message ``_enc_X``/``_dec_X`` (fields written and read inline: one call less per
    field, per message); per record ``_w_X``/``_r_X``; a union writes its variant's index as
    the tag. Then the helpers for compound field types."""
    yield "\n# ---------------------------------------------------------------- codecs (runtime.codec)\n"
    for msg in m.messages:
        name = msg.name
        if msg.union:
            yield f"\n\ndef _w_{name}(w: _Writer, v: {name}) -> None:\n"
            last = len(msg.union) - 1
            for i, variant in enumerate(msg.union):
                test = "else" if i == last else f"if isinstance(v, {variant})" if i == 0 else f"elif isinstance(v, {variant})"
                yield f"    {test}:\n        w.uvarint({i})\n        _w_{variant}(w, v)\n"
            yield f"\n\ndef _r_{name}(r: _Reader) -> {name}:\n    tag = r.tag({len(msg.union)})\n"
            for i, variant in enumerate(msg.union):
                yield f"    return _r_{variant}(r)\n" if i == last else f"    if tag == {i}:\n        return _r_{variant}(r)\n"
        elif msg.is_message:
            yield f"\n\ndef _enc_{name}(v: {name}) -> bytes:\n"
            if msg.write:
                yield "    w = _Writer()\n"
                for line in msg.write:
                    yield f"    {line}\n"
                yield "    return w.getvalue()\n"
            else:
                yield '    return b""  # no fields\n'
            yield (
                f"\n\ndef _dec_{name}(data: bytes) -> {name}:\n"
                f"    r = _Reader(data)\n    msg = {msg.read}\n    r.finish()\n    return msg\n"
            )
        else:
            yield f"\n\ndef _w_{name}(w: _Writer, v: {name}) -> None:\n"
            for line in msg.write:
                yield f"    {line}\n"
            if not msg.write:
                yield "    del w, v  # no fields\n"
            yield f"\n\ndef _r_{name}(r: _Reader) -> {name}:\n    return {msg.read}\n"
    for line in m.helpers:
        yield f"{line}\n"


def step_text(m: ModuleModel) -> Iterator[str]:
    """The peer constants and one ``_Step`` per step: what tracing, deadlines and
    middleware read about it."""
    yield "\n\n# ---------------------------------------------------------------- steps (annotations)\n\n"
    for role, const in m.peers:
        yield f"{const}: _Final = _Peer({role!r})\n"
    yield from m.steps.chunks()


def role_text(r: RoleModel) -> Iterator[str]:
    """A role's entry point, then its state classes."""
    yield (
        f"\n# ---------------------------------------------------------------- role {r.name}\n\n\n"
        f"def {r.entry}(ep: _Endpoint) -> {r.start}:\n"
        f'    """The first state of role {r.name} in a session opened on ``ep``."""\n'
        f"    return {r.start}(ep, _PRIVATE, {r.entry_loops})\n"
    )
    yield from r.body.chunks()


def namespace_of(protocol: Protocol) -> str:
    return protocol.namespace or default_namespace(protocol.name)


def render_model(protocol: Protocol, locals_: dict[str, LocalType], spec_path: str) -> ModuleModel:
    """The generated module for one compiled spec, checked and ready to print with
    ``module_text`` (piece by piece); raises ``RenderError`` with diagnostics."""
    return ModuleRenderer(protocol, locals_, spec_path).render()


def render_module(protocol: Protocol, locals_: dict[str, LocalType], spec_path: str) -> str:
    """The generated module's text for one compiled spec; raises ``RenderError``."""
    return "".join(module_text(render_model(protocol, locals_, spec_path)))

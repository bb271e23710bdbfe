"""The global protocol AST: what a spec says, with a span on every node.

Produced by ``codegen.frontend.parse`` (from the YAML node tree), checked by ``codegen.frontend.validate``,
consumed by ``codegen.projection.project``. Everything is immutable; sequences are tuples.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Final, Literal

from codegen.core.span import Span

# ---------------------------------------------------------------- payload types

PrimName = Literal["int", "str", "bytes", "bool", "float"]


@dataclass(frozen=True, slots=True)
class PrimType:
    name: PrimName
    span: Span


@dataclass(frozen=True, slots=True)
class FixedBytesType:
    """``bytes32`` and friends: exactly ``size`` bytes (points, scalars, hashes)."""

    size: int
    span: Span


@dataclass(frozen=True, slots=True)
class ListType:
    item: TypeExpr
    span: Span


@dataclass(frozen=True, slots=True)
class OptionalType:
    item: TypeExpr
    span: Span


@dataclass(frozen=True, slots=True)
class MapType:
    """``map[K, V]``: keys are int, str, bool, bytes or bytesN (encoded in canonical order)."""

    key: TypeExpr
    value: TypeExpr
    span: Span


@dataclass(frozen=True, slots=True)
class RecordRef:
    """A record type declared under ``types:``."""

    name: str
    span: Span


TypeExpr = PrimType | FixedBytesType | ListType | OptionalType | MapType | RecordRef


@dataclass(frozen=True, slots=True)
class Field:
    name: str
    type: TypeExpr
    span: Span


@dataclass(frozen=True, slots=True)
class Record:
    """A record (``fields``), or a tagged union of records (``variants``, written
    ``Shape: [Circle, Square]``; then ``fields`` is empty)."""

    name: str
    fields: tuple[Field, ...]
    span: Span
    doc: str = ""
    variants: tuple[RecordRef, ...] = ()


@dataclass(frozen=True, slots=True)
class Message:
    name: str
    fields: tuple[Field, ...]
    span: Span
    doc: str = ""


# ---------------------------------------------------------------- roles

RoleKind = Literal["single", "fixed", "param", "dynamic"]


@dataclass(frozen=True, slots=True)
class RoleDecl:
    """``Seller`` (single), ``Worker[3]`` (fixed), ``Follower[N]`` (param), ``Signer[*]`` (dynamic)."""

    name: str
    kind: RoleKind
    span: Span
    size: int | str | None = None  # int for fixed, parameter name for param


@dataclass(frozen=True, slots=True)
class Param:
    """A symbolic parameter (``t``, ``N``) bound when a session is opened."""

    name: str
    span: Span
    doc: str = ""


@dataclass(frozen=True, slots=True)
class GuardVar:
    """A typed variable a guard may read; the chooser passes it when selecting."""

    name: str
    type: TypeExpr
    span: Span


# Family indices as written in interactions.
@dataclass(frozen=True, slots=True)
class IndexAll:
    """``Signer[*]``: every member; with ``within``, every member of the set chosen at run
    time under that name (``choose Signers[t] from Signer[*] ...``, then ``Signers[*]``)."""

    span: Span
    within: str | None = None


@dataclass(frozen=True, slots=True)
class IndexConst:
    """``Worker[2]``."""

    value: int
    span: Span


@dataclass(frozen=True, slots=True)
class IndexParam:
    """``Worker[t]``: a parameter used as an index."""

    name: str
    span: Span


@dataclass(frozen=True, slots=True)
class IndexVar:
    """``Signer[i]`` / ``Signer[j]``: a bound index variable (all-to-all); with ``within``,
    over the members of the set chosen at run time under that name (``Signers[i]``)."""

    name: str
    span: Span
    within: str | None = None


Bound = int | str  # a literal or a parameter name


@dataclass(frozen=True, slots=True)
class IndexRange:
    """``Signer[lo..hi]``: members ``lo <= i < hi`` (half-open, so ``0..t`` is t members)."""

    lo: Bound
    hi: Bound
    span: Span


@dataclass(frozen=True, slots=True)
class IndexRing:
    """``Peer[i+1 mod N]`` (``offset`` 1) / ``Peer[i-1 mod N]`` (-1), opposite ``Peer[i]``:
    each member's successor or predecessor on the ring of the family's members. ``size`` is
    how the spec wrote the family's size (its parameter, or its literal size)."""

    var: str
    offset: int
    size: Bound
    span: Span


Index = IndexAll | IndexConst | IndexParam | IndexVar | IndexRange | IndexRing


class Chosen(str):
    """The index of the member chosen at run time to play a role (``choose Coordinator from
    Participant[*] by Draw(Reveal)``), where an index bound is expected: ``Coordinator``
    stands for ``Participant[Coordinator]``. A ``str`` like a parameter name (so the family
    machinery carries it unchanged); stages that must resolve it (rendering, verification)
    tell it apart by its class. Its name is a role name, never a declared parameter."""

    __slots__ = ()


@dataclass(frozen=True, slots=True)
class RoleRef:
    """A role as it appears in an interaction; ``index`` only for families."""

    name: str
    span: Span
    index: Index | None = None


# ---------------------------------------------------------------- annotations and guards


@dataclass(frozen=True, slots=True)
class Annotations:
    guard_capability: str | None = None
    flow_cost: int | None = None  # already defaulted to 100 by the parser when annotated
    journal_facts: tuple[str, ...] = ()
    journal_merge: str | None = None
    timeout: float | None = None
    extensions: tuple[tuple[str, str], ...] = ()  # ``x-`` keys, values as YAML text

    @property
    def any(self) -> bool:
        return bool(
            self.guard_capability
            or self.flow_cost is not None
            or self.journal_facts
            or self.journal_merge
        )


# Guard expressions: a small restricted language, parsed into this tree, never eval'ed.
@dataclass(frozen=True, slots=True)
class GLit:
    value: int | bool | str
    span: Span


@dataclass(frozen=True, slots=True)
class GName:
    name: str
    span: Span


@dataclass(frozen=True, slots=True)
class GUnary:
    op: Literal["not", "-"]
    operand: GuardExpr
    span: Span


@dataclass(frozen=True, slots=True)
class GBinary:
    op: Literal["and", "or", "==", "!=", "<", "<=", ">", ">=", "+", "-", "*", "//", "%"]
    left: GuardExpr
    right: GuardExpr
    span: Span


GuardExpr = GLit | GName | GUnary | GBinary


@dataclass(frozen=True, slots=True)
class Guard:
    source: str  # the text as written, for error messages
    expr: GuardExpr
    span: Span


# ---------------------------------------------------------------- interactions


@dataclass(frozen=True, slots=True)
class Interaction:
    """``A -> B: Msg``; ``B`` may be a family reference (all, index, range, index var)."""

    sender: RoleRef
    receiver: RoleRef
    message: str
    span: Span
    message_span: Span
    annotations: Annotations = field(default_factory=Annotations)


@dataclass(frozen=True, slots=True)
class Broadcast:
    """``A ->> *: Msg`` / ``A -> *: Msg``: to every other role (each family member included)."""

    sender: RoleRef
    message: str
    span: Span
    message_span: Span
    annotations: Annotations = field(default_factory=Annotations)


@dataclass(frozen=True, slots=True)
class Branch:
    label: str
    body: tuple[Stmt, ...]
    span: Span
    guard: Guard | None = None


@dataclass(frozen=True, slots=True)
class Choice:
    """A choice made by ``at``. With ``failure`` set it is a failure branch (crash-stop),
    written as an ``on_failure`` list under ``failure -> at: M``: branch ``ok`` starts with
    that interaction and holds the rest of its block; branch ``failed`` is what runs instead
    when ``failure`` crashed or missed its deadline. Nobody sends anything to take it: ``at``
    finds out by the failed receive, and the others learn it from the failed branch."""

    at: RoleRef
    branches: tuple[Branch, ...]
    span: Span
    failure: RoleRef | None = None


@dataclass(frozen=True, slots=True)
class Rec:
    name: str
    body: tuple[Stmt, ...]
    span: Span


@dataclass(frozen=True, slots=True)
class Continue:
    name: str
    span: Span


@dataclass(frozen=True, slots=True)
class Loop:
    """Counted (``count``) or decided (``decides``): exactly one of them is set."""

    body: tuple[Stmt, ...]
    span: Span
    count: Bound | None = None
    decides: RoleRef | None = None


@dataclass(frozen=True, slots=True)
class Parallel:
    branches: tuple[tuple[Stmt, ...], ...]
    span: Span


@dataclass(frozen=True, slots=True)
class ParamArg:
    """``k=t`` in a call: the callee's parameter ``k`` bound to a literal or a caller parameter."""

    name: str
    value: Bound
    span: Span


@dataclass(frozen=True, slots=True)
class Call:
    """``call Sub(A, F[*], G[0..t], k=t)``: roles (single roles, members, whole families or
    ranges) in the order of the callee's roles, then its parameters by name."""

    target: str
    args: tuple[RoleRef, ...]
    span: Span
    params: tuple[ParamArg, ...] = ()


@dataclass(frozen=True, slots=True)
class LocalStep:
    """``Peer[*]: Aggregate``: the role (or the members named) runs the local step
    ``Aggregate`` here, with no communication."""

    role: RoleRef
    step: str
    span: Span
    step_span: Span


# The step of an epoch bump (``- bump_epoch: {at: [R, F[*]]}``): one LocalStep per role
# named, with this name, which no declared step can have (it is not an identifier).
EPOCH_STEP: Final = "(bump_epoch)"


@dataclass(frozen=True, slots=True)
class Choose:
    """``choose Coordinator from Participant[*] by DrawWinner(Reveal)``: every member of the
    family runs the local step ``step`` (output: an int, the chosen member's index) on what
    it received as ``knowing``; the members check they agree, and the member chosen plays
    ``role`` for the rest of the block (references to ``role`` there are parsed as
    ``Participant[IndexParam(Chosen("Coordinator"))]``)."""

    role: str
    family: RoleRef
    step: str
    knowing: tuple[tuple[str, Span], ...]
    span: Span  # the role's name
    step_span: Span
    # ``choose Signers[t] from ...``: a set of ``size`` members (the step outputs their
    # indices); references to ``Signers[*]`` are ``Participant[IndexAll(within="Signers")]``.
    size: Bound | None = None
    # ``... announce to Auditor``: roles outside the family that every member tells the
    # choice (each checks the members' claims agree), so they may meet the chosen role.
    announce: tuple[RoleRef, ...] = ()


Stmt = Interaction | Broadcast | Choice | Rec | Continue | Loop | Parallel | Call | LocalStep | Choose


# ---------------------------------------------------------------- protocols


@dataclass(frozen=True, slots=True)
class SubProtocol:
    """A sub-protocol: formal roles (single roles or families of the caller are passed in),
    own body. ``origin`` is the file it was imported from (None: declared in this spec);
    an imported one has its own ``params``, bound by the call."""

    name: str
    roles: tuple[RoleDecl, ...]
    body: tuple[Stmt, ...]
    span: Span
    doc: str = ""
    params: tuple[Param, ...] = ()
    origin: str | None = None


@dataclass(frozen=True, slots=True)
class StepDecl:
    """A local step under ``steps:``: a computation a role runs at a point of the protocol,
    typed ``input -> output`` (either may be absent)."""

    name: str
    input: TypeExpr | None
    output: TypeExpr | None
    span: Span
    doc: str = ""


@dataclass(frozen=True, slots=True)
class Import:
    """``imports: [../patterns/commit_reveal.yaml]``: a spec file whose protocol (and the
    sub-protocols it declares or imports) becomes callable here. ``path`` as written."""

    path: str
    span: Span


@dataclass(frozen=True, slots=True)
class Protocol:
    name: str
    file: str
    span: Span
    roles: tuple[RoleDecl, ...]
    messages: tuple[Message, ...]
    body: tuple[Stmt, ...]
    namespace: str | None = None
    doc: str = ""
    params: tuple[Param, ...] = ()
    records: tuple[Record, ...] = ()
    guard_vars: tuple[GuardVar, ...] = ()
    subprotocols: tuple[SubProtocol, ...] = ()
    default_timeout: float | None = None
    imports: tuple[Import, ...] = ()
    steps: tuple[StepDecl, ...] = ()
    # A library: a spec of sub-protocols only (no roles, no interactions), imported by others.
    library: bool = False

    def role(self, name: str) -> RoleDecl | None:
        for r in self.roles:
            if r.name == name:
                return r
        return None

    def message(self, name: str) -> Message | None:
        for m in self.messages:
            if m.name == name:
                return m
        return None

"""The contract of generated code: everything a generated module uses from the runtime.

Generated modules import this module and nothing else from ``runtime`` (checked by
``tests/test_layering.py``), so ``__all__`` below is the whole surface the compiler may
rely on. It re-exports the session types (``contract``), the codec, the errors generated
code raises and the linearity token, and defines the support code every generated module
shares (sans-IO): kept here rather than repeated in each module, one definition to test,
and generated modules stay about the protocol. Generated code imports names under ``_``
aliases.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any, Final, TypeVar

from runtime.codec import Bytes16, Bytes32, Bytes64, FixedBytes, Reader, Writer
from runtime.contract import Endpoint, Peer, ProtocolInfo, RoleInfo, Step
from runtime.errors import DecodeError, GuardFailed, LocalViolation, PeerGone, RemoteViolation
from runtime.linear import PRIVATE, LinearState, forged

M = TypeVar("M")
S = TypeVar("S", bound="State")

__all__ = [
    "PRIVATE",
    "Bytes16",
    "Bytes32",
    "Bytes64",
    "Endpoint",
    "FixedBytes",
    "GuardFailed",
    "Peer",
    "PeerGone",
    "ProtocolInfo",
    "Reader",
    "RoleInfo",
    "State",
    "Step",
    "Writer",
    "agree",
    "dec_ctl",
    "enc_ctl",
    "in_range",
    "incr",
    "member_peers",
    "members",
    "pop",
    "push",
    "ring",
    "unexpected",
    "violation",
]


def enc_ctl(payload: None) -> bytes:
    """Loop control messages (continue/exit) carry no payload."""
    return b""


def dec_ctl(data: bytes) -> None:
    if data:  # what Reader(data).finish() would say, without building a Reader per message
        raise DecodeError(f"{len(data)} trailing bytes after message")


# Counted loops: a state carries the iteration counters of its enclosing loops, innermost last.
def push(loops: tuple[int, ...]) -> tuple[int, ...]:
    return (*loops, 0)


def incr(loops: tuple[int, ...]) -> tuple[int, ...]:
    return (*loops[:-1], loops[-1] + 1)


def pop(loops: tuple[int, ...]) -> tuple[int, ...]:
    return loops[:-1]


def in_range(index: int | None, lo: int, hi: int) -> bool:
    return index is not None and lo <= index < hi


def members(
    ep: Endpoint, family: str, lo: int | None, hi: int | None, others: bool, within: str | None = None
) -> list[int]:
    """Member indices ``lo <= i < hi`` of ``family``, without ourselves when ``others``; with
    ``within``, only those of the set chosen at run time under that name."""
    me = ep.me
    skip = me.index if others and me.role == family else None
    gone = ep.crashed
    if within is not None:
        chosen = ep.chosen_sets[within]
        if gone:  # crash-stop: members a failure branch took for crashed take no part any more
            return [i for i in chosen if i != skip and f"{family}[{i}]" not in gone]
        return [i for i in chosen if i != skip]
    first = 0 if lo is None else lo
    last = ep.family_size(family) if hi is None else hi
    if gone:
        return [i for i in range(first, last) if i != skip and f"{family}[{i}]" not in gone]
    return [i for i in range(first, last) if i != skip]


# One Peer object per family member, shared by every session (a Peer is immutable): a
# family loop then builds no Peer per message, and what keeps the peer of a message (the
# journal keeps that of every journaled one) keeps no fresh object alive either.
_PEERS: dict[tuple[str, int], Peer] = {}
_MAX_PEERS: Final = 1 << 16  # past this (families of that size), members get fresh Peers


def member_peers(
    ep: Endpoint, family: str, lo: int | None, hi: int | None, others: bool, within: str | None = None
) -> list[tuple[int, Peer]]:
    """``members``, each with its ``Peer``."""
    out = []
    for i in members(ep, family, lo, hi, others, within):
        p = _PEERS.get((family, i))
        if p is None:
            p = Peer(family, i)
            if len(_PEERS) < _MAX_PEERS:
                _PEERS[(family, i)] = p
        out.append((i, p))
    return out


def ring(ep: Endpoint, family: str, offset: int) -> int:
    """The member ``offset`` places after us on the ring of ``family``'s members."""
    size = ep.family_size(family)
    if size < 2:
        raise violation(ep, f"a ring step needs at least 2 {family} members, this session has {size}")
    me = ep.me.index
    assert me is not None  # only members of the family run a ring step
    return (me + offset) % size


# The label of the agreement exchange (codegen.backend.render.CONTROL_CLAIM): not an
# identifier, so no message of a spec can carry it.
CLAIM = "__claim__"


def _enc_claim(index: int) -> bytes:
    w = Writer()
    w.uvarint(index)
    return w.getvalue()


def _dec_claim(data: bytes) -> int:
    r = Reader(data)
    index = r.uvarint()
    r.finish()
    return index


async def agree(ep: Endpoint, family: str, role: str, index: object, step: Step) -> int:
    """The agreement on a role chosen at run time: ``index`` is what our local step computed.

    Every member sends its claim to every other member before it reads any, then reads one
    claim from each, in index order: every honest member sees every member's claim, so one
    that claims another winner is a RemoteViolation naming it at each of them (a member
    that lies to some and not to others is seen by those it lied to). One uvarint frame per
    ordered pair of members, in one round."""
    size = ep.family_size(family)
    if not isinstance(index, int) or isinstance(index, bool) or not 0 <= index < size:
        raise violation(
            ep, f"{step.state}: the local step chose {index!r} as {role}, not the index of one of the {size} {family} members"
        )
    if f"{family}[{index}]" in ep.crashed:
        raise violation(
            ep, f"{step.state}: the local step chose {family}[{index}] as {role}, which has failed; choose among the survivors"
        )
    others = members(ep, family, None, None, True)
    for i in others:
        await ep.send(Peer(family, i), CLAIM, index, _enc_claim, step)
    decoders = {CLAIM: _dec_claim}
    for i in others:
        peer = Peer(family, i)
        _, got = await ep.recv(peer, decoders, step)
        if got != index:
            err = RemoteViolation(
                str(peer), step.state, f"{role} = {family}[{index}] (the index every member computes)", f"a claim of {family}[{got}]"
            )
            ep.local_violation(err)
            raise err
    ep.chosen[role] = index
    return index


def _enc_set(members: tuple[int, ...]) -> bytes:
    w = Writer()
    w.uvarint(len(members))
    for i in members:
        w.uvarint(i)
    return w.getvalue()


def _dec_set(data: bytes) -> tuple[int, ...]:
    r = Reader(data)
    n = r.uvarint()
    if n > len(data):  # each index takes a byte at least: a longer count is a lie
        raise ValueError(f"a set claim of {n} members in {len(data)} bytes")
    out = tuple(r.uvarint() for _ in range(n))
    r.finish()
    return out


async def agree_set(ep: Endpoint, family: str, name: str, size: int, value: object, step: Step) -> tuple[int, ...]:
    """The agreement on a set of members chosen at run time (``choose Signers[t] from ...``):
    ``value`` is what our local step computed. It must be ``size`` distinct indices of
    members (else a LocalViolation here: our own step is wrong); the set (ascending) is then
    claimed and compared like ``agree``'s index: a member claiming another set is a
    RemoteViolation naming it."""
    total = ep.family_size(family)
    got_ints = (
        [i for i in value if isinstance(i, int) and not isinstance(i, bool) and 0 <= i < total]
        if isinstance(value, list | tuple)
        else []
    )
    if not isinstance(value, list | tuple) or len(got_ints) != len(value) or len(set(got_ints)) != size or len(value) != size:
        raise violation(
            ep, f"{step.state}: the local step chose {value!r} as {name}, not {size} distinct indices of the {total} {family} members"
        )
    mine = tuple(sorted(got_ints))
    others = members(ep, family, None, None, True)
    for i in others:
        await ep.send(Peer(family, i), CLAIM, mine, _enc_set, step)
    decoders = {CLAIM: _dec_set}
    for i in others:
        peer = Peer(family, i)
        _, got = await ep.recv(peer, decoders, step)
        if got != mine:
            err = RemoteViolation(
                str(peer), step.state, f"{name} = {family}{list(mine)} (the set every member computes)", f"a claim of {family}{list(got) if isinstance(got, tuple) else got}"
            )
            ep.local_violation(err)
            raise err
    ep.chosen_sets[name] = mine
    return mine


async def announce(ep: Endpoint, to: Peer, value: int | tuple[int, ...], step: Step) -> None:
    """Tell a role outside the family the agreed choice (``choose ... announce to R``): the
    same claim frame as in the agreement, sent by every member."""
    if isinstance(value, int):
        await ep.send(to, CLAIM, value, _enc_claim, step)
    else:
        await ep.send(to, CLAIM, value, _enc_set, step)


async def learn_index(ep: Endpoint, family: str, role: str, step: Step) -> int:
    """``learn`` of one member chosen."""
    value = await learn(ep, family, role, None, step)
    assert isinstance(value, int)  # a claim decoded by _dec_claim
    return value


async def learn_set(ep: Endpoint, family: str, role: str, size: int, step: Step) -> tuple[int, ...]:
    """``learn`` of a set chosen."""
    value = await learn(ep, family, role, size, step)
    assert isinstance(value, tuple)  # a claim decoded by _dec_set
    return value


async def learn(ep: Endpoint, family: str, role: str, size: int | None, step: Step) -> int | tuple[int, ...]:
    """The receiving end of ``announce``: one claim from every member of ``family``. The
    choice is what most members claim (the members agreed among themselves, so honest ones
    claim the same); a member whose claim differs, or a choice that names no member (or not
    ``size`` distinct ones), is a RemoteViolation naming the (first such) member."""
    decoders: dict[str, Callable[[bytes], object]] = {CLAIM: _dec_claim if size is None else _dec_set}
    claims: list[tuple[int, int | tuple[int, ...]]] = []
    for i in members(ep, family, None, None, False):
        _, got = await ep.recv(Peer(family, i), decoders, step)
        assert isinstance(got, int | tuple)  # what the decoders return
        claims.append((i, got))
    if not claims:
        raise violation(ep, f"{step.state}: no {family} member to learn {role} from")
    votes: dict[int | tuple[int, ...], int] = {}
    for _, c in claims:
        votes[c] = votes.get(c, 0) + 1
    value = max(votes, key=lambda c: votes[c])  # the first most claimed, in member order
    total = ep.family_size(family)
    idx = (value,) if isinstance(value, int) else value
    bad = any(not 0 <= i < total for i in idx) or (size is not None and (len(set(idx)) != size or len(idx) != size))
    for i, c in claims:
        if c != value or bad:
            want = f"{role} = {family}[{value}]" if isinstance(value, int) else f"{role} = {family}{list(value)}"
            err = RemoteViolation(
                str(Peer(family, i)), step.state,
                f"{want} (what the members claim)" if not bad else f"a {role} among the {total} {family} members",
                f"a claim of {family}[{c}]" if isinstance(c, int) else f"a claim of {family}{list(c)}",
            )
            ep.local_violation(err)
            raise err
    if isinstance(value, int):
        ep.chosen[role] = value
    else:
        ep.chosen_sets[role] = value
    return value


def violation(ep: Endpoint, message: str) -> LocalViolation:
    """Mark the session failed by our own side and return the error to raise."""
    err = LocalViolation(message)
    ep.local_violation(err)
    return err


def unexpected(ep: Endpoint, peer: Peer, state: str, expected: str, got: str) -> LocalViolation:
    """A received message matched none of a state's branches.

    The endpoint already rejects labels the state did not ask for (a RemoteViolation), so
    reaching this means the generated dispatch and decoders disagree: our own defect. It
    fails the session like any other violation."""
    return violation(
        ep, f"{state}: message {got!r} from {peer} decoded but matched none of {expected}"
    )


class _Slotted(type):
    """Gives every generated state class an empty ``__slots__`` unless it spells its own.

    One state object is built per message, so states carry no ``__dict__``; this keeps the
    line out of each of the (many) generated classes."""

    def __new__(mcs, name: str, bases: tuple[type, ...], ns: dict[str, Any]) -> _Slotted:
        ns.setdefault("__slots__", ())
        return super().__new__(mcs, name, bases, ns)


class State(LinearState, metaclass=_Slotted):
    """Base of generated states: carries the counters of enclosing counted loops."""

    __slots__ = ("_loops",)

    def __init__(self, ep: Endpoint, token: object, loops: tuple[int, ...] = ()) -> None:
        # LinearState.__init__ inlined: one state is built per message.
        if token is not PRIVATE:
            raise forged(self)
        self._ep = ep
        self._used_at = None
        self._loops = loops

    # The plain one-peer send and receive, which most states are: one shared body instead of
    # the same four lines in every generated method. The label is the step's message. Both
    # run once per message, so they inline what ``_take`` and the next state's constructor
    # do (two Python calls less); ``_take`` still reports a second use.
    async def _send(
        self, method: str, to: Peer, msg: M, encode: Callable[[M], bytes], step: Step, nxt: type[S]
    ) -> S:
        if self._used_at is not None:
            self._take(method, 3)  # raises LinearityError
        frame = sys._getframe(2)  # the user's frame: 0 is here, 1 the generated method
        self._used_at = (frame.f_code, frame.f_lasti, method)
        ep = self._ep
        await ep.send(to, step.message, msg, encode, step)
        s = _new(nxt)  # nxt(ep, PRIVATE, self._loops), without the constructor call
        s._ep = ep
        s._used_at = None
        s._loops = self._loops
        return s

    async def _recv(
        self,
        method: str,
        frm: Peer,
        decode: Callable[[bytes], M],
        cls: type[M],
        step: Step,
        nxt: type[S],
    ) -> tuple[M, S]:
        if self._used_at is not None:
            self._take(method, 3)  # raises LinearityError
        frame = sys._getframe(2)
        self._used_at = (frame.f_code, frame.f_lasti, method)
        ep = self._ep
        label, v = await ep.recv(frm, {step.message: decode}, step)
        if not isinstance(v, cls):
            raise unexpected(ep, frm, type(self).__name__, step.message, label)
        s = _new(nxt)
        s._ep = ep
        s._used_at = None
        s._loops = self._loops
        return v, s


# Builds the next state without its constructor: the token check there guards against
# states built by user code, and these are built by genlib itself.
_new = object.__new__

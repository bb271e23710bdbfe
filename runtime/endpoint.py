"""``SessionEndpoint``: the ``Endpoint`` generated code talks to, shared by all transports.

A transport gives the endpoint one ``Link`` (how to send to a peer) and one ``Inbox`` (what
that peer sent us) per other member. The endpoint enforces annotations through the
extension registry, encodes, numbers and hands frames to links, and interprets received
frames with ``session_core.accept``. After any violation, lost peer or crash it aborts all
links (so every peer waiting on us learns at once) and refuses further use.
"""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Mapping, Sequence
from collections.abc import Set as AbstractSet
from typing import Final, TypeVar, final

import trio
from trio.lowlevel import checkpoint, checkpoint_if_cancelled

from runtime.contract import Peer, Step
from runtime.errors import (
    ConfigError,
    Flooding,
    InjectedCrash,
    LocalViolation,
    MinuetError,
    NotAMember,
    PeerGone,
    RemoteViolation,
    SessionClosed,
)
from runtime.extensions import Hook, HookScope, Registry
from runtime.faults import FaultTarget
from runtime.framing import DATA, INTERRUPTED, Item
from runtime.inbox import Inbox
from runtime.middleware import Event, Middleware, overrides
from runtime.session_core import PeerChannel, SessionInfo, accept

M = TypeVar("M")

# Sends, and receives that find their frame already queued, check for cancellation but do
# not yield to the scheduler, except one operation in every YIELD_EVERY; a receive that has to
# wait always yields. A schedule point per message costs a whole scheduler round (a third of
# an in-memory ping-pong); the bound still keeps a busy role from starving other tasks.
YIELD_EVERY: Final = 16
# Separates a label from the epoch it was sent in ("Commit@2"); never part of a label.
_TAG: Final = "@"

# Caches keyed by step identity stop growing here (steps built per call would grow them).
_MAX_PLANS: Final = 4096

Post = Callable[[int, str, object], None]


class _Slow(Exception):
    """Internal: leave the receive fast path."""


class Link(ABC):
    """Our sending side towards one peer."""

    __slots__ = ("peer_name",)

    def __init__(self, peer_name: str) -> None:
        self.peer_name = peer_name

    @abstractmethod
    async def send(self, kind: int, label: str, data: object, ev: Event | None) -> None:
        """Number and deliver one frame; ``ev`` is set when wire middleware must see it."""

    def nowait_sender(self) -> Post | None:
        """A synchronous ``(kind, label, data)`` delivery, if this link has one.

        Used instead of ``send`` for frames no wire middleware sees; it must number frames
        like ``send`` and raise ``trio.ClosedResourceError`` once the link is closed."""
        return None

    @abstractmethod
    async def close(self) -> None:
        """Say goodbye (CLOSE frame); never raises for a peer that is already gone."""

    @abstractmethod
    def abort_nowait(self, reason: str) -> None:
        """Best-effort ABORT frame with ``reason``, then stop using the link."""


@final
class _Slot:
    """Our side of the channel with one peer, set up once when the session opens."""

    __slots__ = ("channel", "inbox", "link", "post")

    def __init__(self, peer: Peer, inbox: Inbox, link: Link) -> None:
        self.channel = PeerChannel(peer)
        self.inbox = inbox
        self.link = link
        # A synchronous delivery, used for frames no hook or middleware sees.
        self.post = link.nowait_sender()


@final
class _Plan:
    """What one step needs, worked out on its first use, and the peer it was last used with.

    Generated code passes module-constant steps (and, outside families, peers), so a plan
    is found by identity and the per-message path skips hook selection and middleware
    checks. A family step goes to a fresh ``Peer`` object per member: the plan then only
    re-points ``peer`` and ``slot`` (a lookup by role and index, no ``Peer`` hash), and the
    caller reads ``slot`` before its first await, so another task re-pointing the plan
    meanwhile changes nothing for it."""

    __slots__ = (
        "before", "direct", "peer", "plain", "received", "sent", "slot", "step", "timed", "timeout",
    )

    def __init__(
        self, step: Step, peer: Peer, slot: _Slot, hooks: tuple[Hook, ...], direct: bool,
        timed: bool, timeout: float,
    ) -> None:
        self.step = step
        self.peer = peer
        self.slot = slot
        # The hooks that apply to the step, by the methods they override: a hook's no-op
        # is not called once per message.
        self.before = tuple(h for h in hooks if type(h).before_send is not Hook.before_send)
        self.sent = tuple(h for h in hooks if type(h).after_send is not Hook.after_send)
        self.received = tuple(h for h in hooks if type(h).after_recv is not Hook.after_recv)
        # No middleware is installed: a send can be posted without awaiting the link.
        self.direct = direct
        # Nor does a hook see a receive: it returns as soon as it is decoded.
        self.plain = direct and not self.received
        self.timed = timed  # event middleware is installed: receives are timed for it
        self.timeout = timeout


class SessionEndpoint:
    """One member's live session."""

    __slots__ = (
        "_by_key",
        "_closed",
        "_crashed",
        "_epoch",
        "_error",
        "_hooks",
        "_inboxes",
        "_links",
        "_mw_before",
        "_mw_event",
        "_mw_wire",
        "_on_done",
        "_passthrough",
        "_plans",
        "_slots",
        "_tag",
        "_unyielded",
        "chosen",
        "chosen_sets",
        "info",
        "me",
        "me_name",
    )

    def __init__(
        self,
        info: SessionInfo,
        me: Peer,
        links: Mapping[Peer, Link],
        inboxes: Mapping[Peer, Inbox],
        *,
        registry: Registry | None = None,
        middleware: Sequence[Middleware] = (),
        passthrough: bool = False,
        on_done: Callable[[SessionEndpoint], None] | None = None,
    ) -> None:
        # Members are found by (role, index) here and on every message of a family step:
        # tuples of a str and an int hash and compare in C, a Peer's dataclass hash and
        # equality are Python calls (a session of N members sets up N(N-1) channels).
        mine = (me.role, me.index)
        keys = [(p.role, p.index) for p in info.members]
        if mine not in keys:
            raise ConfigError(f"{me} is not a member of this {info.protocol.name} session")
        self.info = info
        self.me = me
        self.me_name = str(me)
        self._links = dict(links)
        self._inboxes = dict(inboxes)
        link_of = {(p.role, p.index): v for p, v in links.items()}
        inbox_of = {(p.role, p.index): v for p, v in inboxes.items()}
        self._by_key = {
            k: _Slot(p, inbox_of[k], link_of[k])
            for p, k in zip(info.members, keys, strict=True) if k != mine
        }
        self._slots = tuple(self._by_key.values())
        # By id(step): the plan for the step, and the peer it was last used with. Only while
        # the session is open: emptied when it closes or fails, so a plan found means "open".
        self._plans: dict[int, _Plan] = {}
        scope = HookScope(info.protocol.name, info.session_id, info.epoch, me)
        self._hooks = registry.bind(scope) if registry is not None else ()
        mws = tuple(middleware)
        self._mw_before = tuple(m for m in mws if overrides(m, "before_send"))
        self._mw_wire = tuple(m for m in mws if overrides(m, "on_wire"))
        self._mw_event = tuple(m for m in mws if overrides(m, "on_event"))
        self._passthrough = passthrough
        self._on_done = on_done
        self._error: BaseException | None = None
        self._closed = False
        self._crashed: set[str] = set()  # peers a failure branch took for crashed
        # The epoch after bumps of the spec, and the label suffix that carries it ("@2") on
        # every frame sent since the first bump (the opening epoch is bound by the link).
        self._epoch = info.epoch
        self._tag = ""
        self._unyielded = 0  # operations since the last schedule point (see YIELD_EVERY)
        self.chosen: dict[str, int] = {}  # roles chosen at run time (genlib.agree)
        self.chosen_sets: dict[str, tuple[int, ...]] = {}  # sets chosen at run time (genlib.agree_set)
        # One bound method for every inbox, not a closure per peer: a session of N members
        # would make N(N-1) of them, each a handful of objects for the cyclic collector.
        flooded = self._flooded
        for inbox in self._inboxes.values():
            inbox.on_overflow = flooded

    # ------------------------------------------------------------------ Endpoint surface

    def param(self, name: str) -> int:
        try:
            return self.info.params[name]
        except KeyError:
            raise ConfigError(f"parameter {name!r} is not set for this session") from None

    @property
    def crashed(self) -> AbstractSet[str]:
        return self._crashed

    def family_size(self, family: str) -> int:
        try:
            return self.info.families[family]
        except KeyError:
            raise ConfigError(f"{family!r} is not a role family of {self.info.protocol.name}") from None

    async def send(
        self, to: Peer, label: str, payload: M, encode: Callable[[M], bytes], step: Step
    ) -> None:
        plan = self._plans.get(id(step))
        if plan is None or plan.step is not step:
            if self.done:
                await checkpoint_if_cancelled()
                raise self._refusal()
            plan = self._plan(to, step)
        slot = plan.slot
        if plan.peer is not to:  # the next member of a family step: re-point the plan
            try:
                slot = self._by_key[(to.role, to.index)]
            except (KeyError, AttributeError):
                raise self._not_a_member(to) from None
            plan.peer = to
            plan.slot = slot
        if self._crashed and slot.channel.name in self._crashed:
            # Crash-stop: a message to a peer a failure branch took for crashed is lost (the
            # failure branch of a family member may still send to its whole family).
            await checkpoint_if_cancelled()
            return
        n = self._unyielded
        if n < YIELD_EVERY:
            self._unyielded = n + 1
            await checkpoint_if_cancelled()
        else:
            self._unyielded = 0
            await checkpoint()
            if self.done:  # failed or closed by another of our tasks meanwhile
                raise self._refusal()
        try:
            for h in plan.before:
                h.before_send(step, to, label)
            data: object = payload if self._passthrough else encode(payload)
        except LocalViolation as e:
            raise self._violation(e) from None
        except Exception as e:  # an unencodable payload is our side's fault
            raise self._violation(LocalViolation(f"cannot encode {label} at {step.spec}: {e}")) from e
        wire_label = label + self._tag if self._tag else label
        if plan.direct:
            post = slot.post
            if post is not None:
                try:
                    post(DATA, wire_label, data)
                except trio.ClosedResourceError as e:
                    raise self._lost(slot, step, label, e) from None
                for h in plan.sent:
                    h.after_send(step, to, label)
                return
        ev: Event | None = None
        t0 = 0.0  # read only when ev is set
        if self._mw_before or self._mw_wire or self._mw_event:
            ev = self._event(slot.channel.name, "send", label, data, step)
            try:
                for m in self._mw_before:
                    m.before_send(ev)
            except InjectedCrash as e:
                self._crash(e)
                raise
            t0 = time.perf_counter()
        try:
            await slot.link.send(DATA, wire_label, data, ev if self._mw_wire else None)
        except InjectedCrash as e:
            self._crash(e)
            raise
        except (trio.BrokenResourceError, trio.ClosedResourceError, OSError) as e:
            raise self._lost(slot, step, label, e) from None
        for h in plan.sent:
            h.after_send(step, to, label)
        if ev is not None:
            ev.duration = time.perf_counter() - t0
            for m in self._mw_event:
                m.on_event(ev)

    async def recv(
        self,
        frm: Peer,
        decoders: Mapping[str, Callable[[bytes], object]],
        step: Step,
        *,
        failable: bool = False,
    ) -> tuple[str, object]:
        plan = self._plans.get(id(step))
        if plan is None or plan.step is not step:
            if self.done:
                await checkpoint_if_cancelled()
                raise self._refusal()
            plan = self._plan(frm, step)
        slot = plan.slot
        if plan.peer is not frm:  # as in send
            try:
                slot = self._by_key[(frm.role, frm.index)]
            except (KeyError, AttributeError):
                raise self._not_a_member(frm) from None
            plan.peer = frm
            plan.slot = slot
        t0 = time.perf_counter() if plan.timed else 0.0
        inbox = slot.inbox
        n = self._unyielded
        if inbox.items and n < YIELD_EVERY:
            self._unyielded = n + 1
            await checkpoint_if_cancelled()  # cancelled: raises before anything is consumed
            item = inbox.take()
        else:
            self._unyielded = 0
            item = await inbox.get(plan.timeout)
        # Fast path for the common case; anything unusual goes through accept(), which
        # re-checks everything and raises the documented error.
        kind, seq, label, data, crc = item
        ch = slot.channel
        decode = decoders.get(label)
        msg: object = data
        try:
            if kind != DATA or seq != ch.recv_seq or decode is None or self._tag:
                raise _Slow
            if not self._passthrough:
                # A checksum is only set on frames wire middleware handled; accept() checks it.
                if type(data) is not bytes or crc >= 0:
                    raise _Slow
                msg = decode(data)
            ch.recv_seq = seq + 1
        except Exception:
            label, msg = self._accept(ch, plan.timeout, item, decoders, step, failable)
        if plan.plain:
            return label, msg
        if not self._mw_event:  # hooks only
            for h in plan.received:
                h.after_recv(step, frm, label)
            return label, msg
        return self._received(plan.received, frm, ch, label, msg, data, step, t0)

    def _accept(
        self,
        ch: PeerChannel,
        timeout: float,
        item: Item,
        decoders: Mapping[str, Callable[[bytes], object]],
        step: Step,
        failable: bool = False,
    ) -> tuple[str, object]:
        """The full checks of ``session_core.accept``; a failure fails the session, except
        a peer's crash or deadline where the protocol has a failure branch for it."""
        try:
            if item[0] == DATA and (self._tag or _TAG in item[2]):
                item = self._of_epoch(ch, item, step)
            return accept(ch, item, decoders, step, self._passthrough, timeout)
        except MinuetError as e:
            if item[0] == INTERRUPTED:
                raise self._refusal() from None
            if failable and isinstance(e, PeerGone):
                self._crashed.add(ch.name)
                raise
            if self._mw_event:
                ev = self._event(ch.name, "error", item[2], None, step)
                ev.error = str(e)
                for m in self._mw_event:
                    m.on_event(ev)
            raise self._violation(e) from None

    def _of_epoch(self, ch: PeerChannel, item: Item, step: Step) -> Item:
        """The data frame without its epoch tag, if it is of this member's epoch."""
        kind, seq, label, data, crc = item
        base, sep, tag = label.rpartition(_TAG)
        if not sep:
            base, got = label, self.info.epoch
        elif tag.isdigit() and len(tag) < 20:
            got = int(tag)
        else:
            raise RemoteViolation(ch.name, step.state, "a frame tagged with an epoch", repr(label))
        if got != self._epoch:
            which = "an older" if got < self._epoch else "a later"
            raise RemoteViolation(
                ch.name, step.state, f"a frame of epoch {self._epoch}",
                f"{base} of {which} epoch {got}",
            )
        return Item(kind, seq, base, data, crc)

    async def bump_epoch(self, step: Step) -> int:
        if self.done:
            await checkpoint_if_cancelled()
            raise self._refusal()
        await checkpoint_if_cancelled()
        self._epoch += 1
        self._tag = f"{_TAG}{self._epoch}"
        if self._mw_event:
            ev = self._event("", "epoch", f"epoch {self._epoch}", None, step)
            for m in self._mw_event:
                m.on_event(ev)
        return self._epoch

    @property
    def epoch(self) -> int:
        """This member's epoch: the session's opening one, plus the bumps it took."""
        return self._epoch

    def _received(
        self, hooks: tuple[Hook, ...], frm: Peer, ch: PeerChannel, label: str, msg: object,
        data: object, step: Step, t0: float,
    ) -> tuple[str, object]:
        for h in hooks:
            h.after_recv(step, frm, label)
        if self._mw_event:
            ev = self._event(ch.name, "recv", label, data, step)
            ev.duration = time.perf_counter() - t0
            for m in self._mw_event:
                m.on_event(ev)
        return label, msg

    def local_violation(self, error: Exception) -> None:
        self._violation(error)

    async def close(self) -> None:
        if self._closed:
            return
        if self._error is not None:
            raise self._refusal()
        stray = self._stray_frame()
        if stray is not None:
            raise self._violation(stray)
        self._closed = True
        self._plans.clear()
        self._flush_hooks()
        for link in self._links.values():
            await link.close()
        if self._on_done is not None:
            self._on_done(self)

    # ------------------------------------------------------------------ lifecycle

    @property
    def closed(self) -> bool:
        return self._closed

    @property
    def error(self) -> BaseException | None:
        """Why the session failed, or None."""
        return self._error

    @property
    def done(self) -> bool:
        return self._closed or self._error is not None

    def abort(self, reason: str) -> None:
        """Fail the session (if still open) and tell every peer why."""
        if not self.done:
            self._violation(SessionClosed(f"{self.me_name} aborted: {reason}"))

    def _stray_frame(self) -> RemoteViolation | None:
        """A data frame still queued when we reach End: the protocol sends us nothing more,
        so it is a duplicate or a stray frame, and its sender broke the protocol. (One that
        arrives after we closed cannot be seen.)"""
        for slot in self._slots:
            name = slot.channel.name
            if name in self._crashed:
                continue  # a peer taken for crashed (its deadline passed) may still be talking
            for kind, _seq, label, _data, _crc in slot.inbox.items:
                if kind == DATA:
                    return RemoteViolation(
                        name, "End", "nothing more (the protocol has ended here)",
                        f"a {label!r} frame",
                    )
        return None

    def _violation(self, error: BaseException) -> BaseException:
        """Mark the session failed with ``error`` (first one wins), abort links; return it."""
        if self._error is None and not self._closed:
            self._error = error
            self._plans.clear()
            reason = f"{self.me_name}: {type(error).__name__}: {error}"
            for link in self._links.values():
                link.abort_nowait(reason)
            self._wake_receivers(reason)
            self._flush_hooks()
            if self._on_done is not None:
                self._on_done(self)
        return error

    def _flooded(self, inbox: Inbox, queued: int) -> None:
        """``inbox`` overflowed: fail the session naming the peer that filled it."""
        peer = next(
            (str(p) for p, mine in self._inboxes.items() if mine is inbox), "(an unknown peer)"
        )
        self._violation(Flooding(
            peer, "(any)", f"at most {inbox.limit} bytes queued with {self.me_name}",
            f"{queued} bytes sent ahead of what was received (flooding)",
        ))

    def _crash(self, error: BaseException) -> None:
        if self._error is None and not self._closed:
            self._error = error
            self._plans.clear()
            for link in self._links.values():
                if isinstance(link, FaultTarget):  # an injected crash: links that can, vanish
                    link.crash()
            self._wake_receivers(str(error))
            self._flush_hooks()
            if self._on_done is not None:
                self._on_done(self)

    def _flush_hooks(self) -> None:
        """The session ended: hooks write out what they buffered off the send path."""
        for h in self._hooks:
            h.flush()
        # A flood now changes nothing (the first failure wins, a closed session sees no
        # more frames), and each guard refers back to us: dropping them lets reference
        # counting free an ended session at once instead of the cyclic collector.
        for inbox in self._inboxes.values():
            inbox.on_overflow = None

    def _wake_receivers(self, reason: str) -> None:
        for inbox in self._inboxes.values():
            inbox.interrupt(reason)

    def _refusal(self) -> SessionClosed | RemoteViolation:
        if isinstance(self._error, RemoteViolation):
            # A peer's violation noticed while our role was not waiting (a flood, a bad
            # frame) is raised at the role's next call, naming the peer, not hidden behind
            # SessionClosed.
            return self._error
        if self._error is not None:
            return SessionClosed(
                f"session {self.info.session_id} of {self.me_name} failed earlier "
                f"({type(self._error).__name__}: {self._error}); it cannot be used any more"
            )
        return SessionClosed(f"session {self.info.session_id} of {self.me_name} is closed")

    # ------------------------------------------------------------------ helpers

    def _plan(self, peer: Peer, step: Step) -> _Plan:
        """The plan of a step not seen yet (or since its plan was dropped)."""
        slot = self._slot_of(peer)
        hooks = tuple(h for h in self._hooks if h.applies(step))
        direct = not (self._mw_before or self._mw_wire or self._mw_event)
        timeout = step.timeout if step.timeout is not None else self.info.timeout
        plan = _Plan(step, peer, slot, hooks, direct, bool(self._mw_event), timeout)
        if len(self._plans) < _MAX_PLANS or id(step) in self._plans:
            self._plans[id(step)] = plan
        return plan

    def _slot_of(self, peer: Peer) -> _Slot:
        try:
            slot = self._by_key.get((peer.role, peer.index))
        except AttributeError:  # not a Peer at all
            slot = None
        if slot is None:
            raise self._not_a_member(peer)
        return slot

    def _not_a_member(self, peer: object) -> BaseException:
        return self._violation(NotAMember(str(peer), self.me_name, self._member_list()))

    def _lost(self, slot: _Slot, step: Step, label: str, e: Exception) -> BaseException:
        return self._violation(
            PeerGone(slot.channel.name, step.state, f"connection lost while sending {label}: {e!r}")
        )

    def _event(self, peer: str, direction: str, label: str, data: object, step: Step) -> Event:
        info = self.info
        return Event(
            time.time(), info.session_id, self._epoch, self.me_name, peer, direction, label,
            len(data) if isinstance(data, bytes) else 0, step.state, step.message, step.spec,
        )

    def _member_list(self) -> str:
        return ", ".join(str(p) for p in self.info.members)

    def peers(self) -> Iterable[Peer]:
        return [slot.channel.peer for slot in self._slots]

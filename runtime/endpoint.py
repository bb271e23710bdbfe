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
class _Plan:
    """What one step towards one peer needs, worked out on first use.

    Generated code passes module-constant steps (and, outside families, peers), so a plan
    is found by identity and the per-message path skips peer lookup, hook selection and
    middleware checks. A family step towards a fresh ``Peer`` object builds a new plan from
    the per-step hook cache."""

    __slots__ = ("channel", "hooks", "inbox", "link", "peer", "plain", "post", "step", "timeout")

    def __init__(
        self, step: Step, peer: Peer, slot: tuple[PeerChannel, Inbox, Link],
        hooks: tuple[Hook, ...], plain: bool, timeout: float,
    ) -> None:
        self.step = step
        self.peer = peer
        self.channel, self.inbox, self.link = slot
        self.hooks = hooks
        # No hook applies and no middleware is installed: no hook or event code runs.
        self.plain = plain
        # Set when a plain send can be delivered without awaiting the link.
        self.post = self.link.nowait_sender() if plain else None
        self.timeout = timeout


class SessionEndpoint:
    """One member's live session."""

    __slots__ = (
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
        "_step_hooks",
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
        if me not in info.members:
            raise ConfigError(f"{me} is not a member of this {info.protocol.name} session")
        self.info = info
        self.me = me
        self.me_name = str(me)
        self._links = dict(links)
        self._inboxes = dict(inboxes)
        self._slots: dict[Peer, tuple[PeerChannel, Inbox, Link]] = {
            p: (PeerChannel(p), inboxes[p], links[p]) for p in info.members if p != me
        }
        # By id(step): the plan for the peer the step was last used with. Only while the
        # session is open: emptied when it closes or fails, so a plan found means "open".
        self._plans: dict[int, _Plan] = {}
        self._step_hooks: dict[int, tuple[Step, tuple[Hook, ...]]] = {}
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
        for peer, inbox in self._inboxes.items():
            inbox.on_overflow = self._flood_guard(peer, inbox)

    # ------------------------------------------------------------------ Endpoint surface

    def param(self, name: str) -> int:
        try:
            return self.info.params[name]
        except KeyError:
            raise ConfigError(f"parameter {name!r} is not set for this session") from None

    def family_size(self, family: str) -> int:
        try:
            return self.info.families[family]
        except KeyError:
            raise ConfigError(f"{family!r} is not a role family of {self.info.protocol.name}") from None

    async def send(
        self, to: Peer, label: str, payload: M, encode: Callable[[M], bytes], step: Step
    ) -> None:
        plan = self._plans.get(id(step))
        if plan is None or plan.step is not step or plan.peer is not to:
            if self.done:
                await checkpoint_if_cancelled()
                raise self._refusal()
            plan = self._plan(to, step)
        if self._crashed and plan.channel.name in self._crashed:
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
            for h in plan.hooks:
                h.before_send(step, to, label)
            data: object = payload if self._passthrough else encode(payload)
        except LocalViolation as e:
            raise self._violation(e) from None
        except Exception as e:  # an unencodable payload is our side's fault
            raise self._violation(LocalViolation(f"cannot encode {label} at {step.spec}: {e}")) from e
        post = plan.post
        wire_label = label + self._tag if self._tag else label
        if post is not None:
            try:
                post(DATA, wire_label, data)
            except trio.ClosedResourceError as e:
                raise self._lost(plan, step, label, e) from None
            return
        ev: Event | None = None
        t0 = 0.0  # read only when ev is set
        if self._mw_before or self._mw_wire or self._mw_event:
            ev = self._event(plan.channel.name, "send", label, data, step)
            try:
                for m in self._mw_before:
                    m.before_send(ev)
            except InjectedCrash as e:
                self._crash(e)
                raise
            t0 = time.perf_counter()
        try:
            await plan.link.send(DATA, wire_label, data, ev if self._mw_wire else None)
        except InjectedCrash as e:
            self._crash(e)
            raise
        except (trio.BrokenResourceError, trio.ClosedResourceError, OSError) as e:
            raise self._lost(plan, step, label, e) from None
        for h in plan.hooks:
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
        if plan is None or plan.step is not step or plan.peer is not frm:
            if self.done:
                await checkpoint_if_cancelled()
                raise self._refusal()
            plan = self._plan(frm, step)
        t0 = 0.0 if plan.plain else time.perf_counter()
        inbox = plan.inbox
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
        ch = plan.channel
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
            label, msg = self._accept(plan, item, decoders, step, failable)
        if plan.plain:
            return label, msg
        return self._received(plan, label, msg, data, step, t0)

    def _accept(
        self,
        plan: _Plan,
        item: Item,
        decoders: Mapping[str, Callable[[bytes], object]],
        step: Step,
        failable: bool = False,
    ) -> tuple[str, object]:
        """The full checks of ``session_core.accept``; a failure fails the session, except
        a peer's crash or deadline where the protocol has a failure branch for it."""
        try:
            if item[0] == DATA and (self._tag or _TAG in item[2]):
                item = self._of_epoch(plan, item, step)
            return accept(plan.channel, item, decoders, step, self._passthrough, plan.timeout)
        except MinuetError as e:
            if item[0] == INTERRUPTED:
                raise self._refusal() from None
            if failable and isinstance(e, PeerGone):
                self._crashed.add(plan.channel.name)
                raise
            if self._mw_event:
                ev = self._event(plan.channel.name, "error", item[2], None, step)
                ev.error = str(e)
                for m in self._mw_event:
                    m.on_event(ev)
            raise self._violation(e) from None

    def _of_epoch(self, plan: _Plan, item: Item, step: Step) -> Item:
        """The data frame without its epoch tag, if it is of this member's epoch."""
        kind, seq, label, data, crc = item
        base, sep, tag = label.rpartition(_TAG)
        if not sep:
            base, got = label, self.info.epoch
        elif tag.isdigit() and len(tag) < 20:
            got = int(tag)
        else:
            raise RemoteViolation(plan.channel.name, step.state, "a frame tagged with an epoch", repr(label))
        if got != self._epoch:
            which = "an older" if got < self._epoch else "a later"
            raise RemoteViolation(
                plan.channel.name, step.state, f"a frame of epoch {self._epoch}",
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
        self, plan: _Plan, label: str, msg: object, data: object, step: Step, t0: float
    ) -> tuple[str, object]:
        for h in plan.hooks:
            h.after_recv(step, plan.peer, label)
        if self._mw_event:
            ev = self._event(plan.channel.name, "recv", label, data, step)
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
        for channel, inbox, _link in self._slots.values():
            if channel.name in self._crashed:
                continue  # a peer taken for crashed (its deadline passed) may still be talking
            for kind, _seq, label, _data, _crc in inbox.items:
                if kind == DATA:
                    return RemoteViolation(
                        channel.name, "End", "nothing more (the protocol has ended here)",
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

    def _flood_guard(self, peer: Peer, inbox: Inbox) -> Callable[[int], None]:
        def flooded(queued: int) -> None:
            self._violation(Flooding(
                str(peer), "(any)", f"at most {inbox.limit} bytes queued with {self.me_name}",
                f"{queued} bytes sent ahead of what was received (flooding)",
            ))

        return flooded

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
        slot = self._slots.get(peer)
        if slot is None:
            raise self._violation(NotAMember(str(peer), self.me_name, self._member_list()))
        hooks = self._hooks_for(step)
        plain = not (hooks or self._mw_before or self._mw_wire or self._mw_event)
        timeout = step.timeout if step.timeout is not None else self.info.timeout
        plan = _Plan(step, peer, slot, hooks, plain, timeout)
        if len(self._plans) < _MAX_PLANS or id(step) in self._plans:
            self._plans[id(step)] = plan
        return plan

    def _hooks_for(self, step: Step) -> tuple[Hook, ...]:
        """The hooks that apply to ``step``, asked once per step."""
        entry = self._step_hooks.get(id(step))
        if entry is None or entry[0] is not step:
            entry = (step, tuple(h for h in self._hooks if h.applies(step)))
            if len(self._step_hooks) < _MAX_PLANS:
                self._step_hooks[id(step)] = entry
        return entry[1]

    def _lost(self, plan: _Plan, step: Step, label: str, e: Exception) -> BaseException:
        return self._violation(
            PeerGone(plan.channel.name, step.state, f"connection lost while sending {label}: {e!r}")
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
        return self._slots.keys()

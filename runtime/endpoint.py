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
from typing import Final, TypeVar
from zlib import crc32

import trio
from trio.lowlevel import checkpoint_if_cancelled

from runtime.contract import Peer, Step
from runtime.errors import (
    ConfigError,
    InjectedCrash,
    LocalViolation,
    MinuetError,
    NotAMember,
    PeerGone,
    SessionClosed,
)
from runtime.extensions import Hook, HookScope, Registry
from runtime.framing import DATA, INTERRUPTED
from runtime.inbox import Inbox
from runtime.middleware import Event, Middleware, overrides
from runtime.session_core import PeerChannel, SessionInfo, accept

M = TypeVar("M")


class _Slow(Exception):
    """Internal: leave the receive fast path."""

_NO_HOOKS: Final[tuple[Hook, ...]] = ()


class Link(ABC):
    """Our sending side towards one peer."""

    __slots__ = ("peer_name",)

    def __init__(self, peer_name: str) -> None:
        self.peer_name = peer_name

    @abstractmethod
    async def send(self, kind: int, label: str, data: object, ev: Event | None) -> None:
        """Number and deliver one frame; ``ev`` is set when wire middleware must see it."""

    @abstractmethod
    async def close(self) -> None:
        """Say goodbye (CLOSE frame); never raises for a peer that is already gone."""

    @abstractmethod
    def abort_nowait(self, reason: str) -> None:
        """Best-effort ABORT frame with ``reason``, then stop using the link."""

    @abstractmethod
    def crash(self) -> None:
        """Stop without a goodbye, as if our process died."""

    @abstractmethod
    def damage(self, wire: object, position: int) -> object:
        """A copy of ``wire`` with one bit flipped (fault injection)."""


class SessionEndpoint:
    """One member's live session."""

    __slots__ = (
        "_closed",
        "_error",
        "_hook_plans",
        "_hooks",
        "_inboxes",
        "_links",
        "_mw_before",
        "_mw_event",
        "_mw_wire",
        "_on_done",
        "_passthrough",
        "_slot_cache",
        "_slots",
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
        # Generated code passes module-constant Peers, so an identity cache skips hashing.
        self._slot_cache: dict[int, tuple[Peer, tuple[PeerChannel, Inbox, Link]]] = {}
        scope = HookScope(info.protocol.name, info.session_id, info.epoch, me)
        self._hooks = registry.bind(scope) if registry is not None else ()
        self._hook_plans: dict[int, tuple[Step, tuple[Hook, ...]]] = {}
        mws = tuple(middleware)
        self._mw_before = tuple(m for m in mws if overrides(m, "before_send"))
        self._mw_wire = tuple(m for m in mws if overrides(m, "on_wire"))
        self._mw_event = tuple(m for m in mws if overrides(m, "on_event"))
        self._passthrough = passthrough
        self._on_done = on_done
        self._error: BaseException | None = None
        self._closed = False

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
        await checkpoint_if_cancelled()
        if self._error is not None or self._closed:
            raise self._refusal()
        cached = self._slot_cache.get(id(to))
        slot = cached[1] if cached is not None and cached[0] is to else self._slot(to)
        hooks = self._plan(step) if self._hooks else _NO_HOOKS
        try:
            for h in hooks:
                h.before_send(step, to, label)
            data: object = payload if self._passthrough else encode(payload)
        except LocalViolation as e:
            raise self._violation(e) from None
        except Exception as e:  # an unencodable payload is our side's fault
            raise self._violation(LocalViolation(f"cannot encode {label} at {step.spec}: {e}")) from e
        ev: Event | None = None
        if self._mw_before or self._mw_wire or self._mw_event:
            ev = self._event(slot[0].name, "send", label, data, step)
            try:
                for m in self._mw_before:
                    m.before_send(ev)
            except InjectedCrash as e:
                self._crash(e)
                raise
            t0 = time.perf_counter()
        try:
            await slot[2].send(DATA, label, data, ev if self._mw_wire else None)
        except InjectedCrash as e:
            self._crash(e)
            raise
        except (trio.BrokenResourceError, trio.ClosedResourceError, OSError) as e:
            raise self._violation(
                PeerGone(slot[0].name, step.state, f"connection lost while sending {label}: {e!r}")
            ) from None
        for h in hooks:
            h.after_send(step, to, label)
        if ev is not None:
            ev.duration = time.perf_counter() - t0
            for m in self._mw_event:
                m.on_event(ev)

    async def recv(
        self, frm: Peer, decoders: Mapping[str, Callable[[bytes], object]], step: Step
    ) -> tuple[str, object]:
        if self._error is not None or self._closed:
            await checkpoint_if_cancelled()
            raise self._refusal()
        cached = self._slot_cache.get(id(frm))
        slot = cached[1] if cached is not None and cached[0] is frm else self._slot(frm)
        timeout = step.timeout if step.timeout is not None else self.info.timeout
        t0 = time.perf_counter() if self._mw_event else 0.0
        ch = slot[0]
        item = await slot[1].get(timeout)
        # Fast path for the common case; anything unusual goes through accept(), which
        # re-checks everything and raises the documented error.
        kind, seq, label, data, crc = item
        decode = decoders.get(label)
        msg: object = data
        try:
            if kind != DATA or seq != ch.recv_seq or decode is None:
                raise _Slow
            if not self._passthrough:
                if type(data) is not bytes or (crc >= 0 and crc32(data) != crc):
                    raise _Slow
                msg = decode(data)
            ch.recv_seq = seq + 1
        except Exception:
            msg = None
        else:
            return self._received(frm, ch, label, msg, data, step, t0)
        try:
            label, msg = accept(ch, item, decoders, step, self._passthrough, timeout)
        except MinuetError as e:
            if item[0] == INTERRUPTED:
                raise self._refusal() from None
            if self._mw_event:
                ev = self._event(slot[0].name, "error", item[2], None, step)
                ev.error = str(e)
                for m in self._mw_event:
                    m.on_event(ev)
            raise self._violation(e) from None
        return self._received(frm, ch, label, msg, data, step, t0)

    def _received(
        self, frm: Peer, ch: PeerChannel, label: str, msg: object, data: object, step: Step, t0: float
    ) -> tuple[str, object]:
        if self._hooks:
            for h in self._plan(step):
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
        self._closed = True
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

    def _violation(self, error: BaseException) -> BaseException:
        """Mark the session failed with ``error`` (first one wins), abort links; return it."""
        if self._error is None and not self._closed:
            self._error = error
            reason = f"{self.me_name}: {type(error).__name__}: {error}"
            for link in self._links.values():
                link.abort_nowait(reason)
            self._wake_receivers(reason)
            if self._on_done is not None:
                self._on_done(self)
        return error

    def _crash(self, error: BaseException) -> None:
        if self._error is None and not self._closed:
            self._error = error
            for link in self._links.values():
                link.crash()
            self._wake_receivers(str(error))
            if self._on_done is not None:
                self._on_done(self)

    def _wake_receivers(self, reason: str) -> None:
        for inbox in self._inboxes.values():
            inbox.interrupt(reason)

    def _refusal(self) -> SessionClosed:
        if self._error is not None:
            return SessionClosed(
                f"session {self.info.session_id} of {self.me_name} failed earlier "
                f"({type(self._error).__name__}: {self._error}); it cannot be used any more"
            )
        return SessionClosed(f"session {self.info.session_id} of {self.me_name} is closed")

    # ------------------------------------------------------------------ helpers

    def _slot(self, peer: Peer) -> tuple[PeerChannel, Inbox, Link]:
        slot = self._slots.get(peer)
        if slot is None:
            raise self._violation(NotAMember(str(peer), self.me_name, self._member_list()))
        if len(self._slot_cache) < 4 * len(self._slots) + 16:  # fresh Peer objects: don't grow
            self._slot_cache[id(peer)] = (peer, slot)
        return slot

    def _plan(self, step: Step) -> tuple[Hook, ...]:
        # Steps are module constants, so id() is stable; keep the step to detect reuse.
        entry = self._hook_plans.get(id(step))
        if entry is None or entry[0] is not step:
            entry = (step, tuple(h for h in self._hooks if h.applies(step)))
            self._hook_plans[id(step)] = entry
        return entry[1]

    def _event(self, peer: str, direction: str, label: str, data: object, step: Step) -> Event:
        info = self.info
        return Event(
            time.time(), info.session_id, info.epoch, self.me_name, peer, direction, label,
            len(data) if isinstance(data, bytes) else 0, step.state, step.message, step.spec,
        )

    def _member_list(self) -> str:
        return ", ".join(str(p) for p in self.info.members)

    def peers(self) -> Iterable[Peer]:
        return self._slots.keys()

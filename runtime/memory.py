"""In-memory transport: every member of a session in one trio nursery.

    async with memory_session(PROTOCOL, params={"t": 2}, families={"Signer": 5}) as net:
        results = await net.run({"Buyer1": buyer1, "Buyer2": buyer2, "Seller": seller})

By default every payload is encoded and decoded exactly as on TCP (and frames that wire
middleware handles carry a CRC-32, so injected corruption is caught as the TCP AEAD would
catch it);
``passthrough=True`` hands the (frozen) payload objects over as they are, for speed.

A frame that wire middleware sees is a ``MemoryFrame`` bound to its session, epoch, sender
and receiver, as the TCP links bind sealed frames: one replayed into another session, an
older epoch or another link is rejected (``RemoteViolation`` at the receiver), not accepted
by sequence number alone.
"""

from __future__ import annotations

import zlib
from collections.abc import AsyncIterator, Awaitable, Callable, Collection, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any, final

import trio

from runtime.contract import Peer, ProtocolInfo
from runtime.endpoint import Link, Post, SessionEndpoint
from runtime.errors import ConfigError, LocalViolation
from runtime.extensions import Journal, Registry, standard_registry
from runtime.faults import FaultTarget
from runtime.framing import ABORT, CLOSE, GONE, VIOLATION, Item
from runtime.inbox import DEFAULT_INBOX_LIMIT, Deadlines, Inbox
from runtime.middleware import Event, Middleware, chain_wire
from runtime.session_core import DEFAULT_TIMEOUT, SessionInfo, parse_peer


@dataclass(frozen=True, slots=True)
class MemoryFrame:
    """One frame in the hands of wire middleware, bound to the link it was sent on."""

    binding: tuple[str, int, str, str]  # session id, epoch, sender, receiver
    item: Item


@final
class MemoryLink(Link, FaultTarget):
    __slots__ = ("_binding", "_checksum", "_inbox", "_open", "_sender", "_seq", "_wire")

    def __init__(
        self, sender: str, peer_name: str, inbox: Inbox, checksum: bool, wire: tuple[Middleware, ...],
        session: str = "", epoch: int = 0,
    ) -> None:
        super().__init__(peer_name)
        self._sender = sender
        self._binding = (session, epoch, sender, peer_name)
        self._inbox = inbox
        self._checksum = checksum
        self._wire = wire
        self._seq = 0
        self._open = True

    def nowait_sender(self) -> Post:
        return self._post

    def _post(self, kind: int, label: str, data: object) -> None:
        if not self._open:
            raise trio.ClosedResourceError(f"link to {self.peer_name} is closed")
        seq = self._seq
        self._seq = seq + 1
        # tuple.__new__ builds the same Item without the Python-level NamedTuple __new__
        # (one call less per message).
        self._inbox.put(tuple.__new__(Item, (kind, seq, label, data, -1)))

    async def send(self, kind: int, label: str, data: object, ev: Event | None) -> None:
        if ev is None:
            self._post(kind, label, data)
            return
        if not self._open:
            raise trio.ClosedResourceError(f"link to {self.peer_name} is closed")
        seq = self._seq
        self._seq = seq + 1
        # Only wire middleware can damage a frame in memory, so only frames it handles
        # carry a checksum.
        crc = zlib.crc32(data) if self._checksum and isinstance(data, bytes) else -1
        frame = MemoryFrame(self._binding, Item(kind, seq, label, data, crc))
        await chain_wire(self._wire, self, ev, self._deliver)(frame)

    async def _deliver(self, wire: object) -> None:
        if not self._open:
            return
        if isinstance(wire, MemoryFrame) and wire.binding == self._binding:
            self._inbox.put(wire.item)
            return
        if isinstance(wire, MemoryFrame):
            session, epoch, sender, receiver = wire.binding
            got = f"a frame of session {session!r} epoch {epoch} from {sender} to {receiver}"
        else:
            got = f"a {type(wire).__name__} instead of a frame"
        self._inbox.put(Item(VIOLATION, -1, f"a rejected frame ({got})", None, -1))

    async def close(self) -> None:
        if self._open:
            self._open = False
            self._inbox.put(Item(CLOSE, self._seq, "", None, -1))

    def abort_nowait(self, reason: str) -> None:
        if self._open:
            self._open = False
            self._inbox.put(Item(ABORT, self._seq, reason, None, -1))

    def crash(self) -> None:
        if self._open:
            self._open = False
            self._inbox.put(Item(GONE, -1, f"connection lost: {self._sender} vanished without closing the session", None, -1))

    def damage(self, wire: object, position: int) -> object:
        assert isinstance(wire, MemoryFrame)
        kind, seq, label, data, crc = wire.item
        if not isinstance(data, bytes):
            raise ConfigError("the corrupt fault needs an encoding session (passthrough=False)")
        if not data:
            return MemoryFrame(wire.binding, Item(kind, seq, label, b"\x01", crc))
        i = position % len(data)
        damaged = data[:i] + bytes([data[i] ^ 0x01]) + data[i + 1 :]
        return MemoryFrame(wire.binding, Item(kind, seq, label, damaged, crc))


@dataclass(slots=True)
class RoleResult:
    """What one role function returned or raised."""

    peer: str
    value: Any = None
    error: BaseException | None = None

    @property
    def ok(self) -> bool:
        return self.error is None

    def unwrap(self) -> Any:
        if self.error is not None:
            raise self.error
        return self.value


RoleFn = Callable[[SessionEndpoint], Awaitable[Any]]


@final
class MemoryNetwork:
    """All members of one in-memory session."""

    def __init__(
        self,
        info: SessionInfo,
        deadlines: Deadlines,
        *,
        passthrough: bool,
        middleware: Sequence[Middleware],
        registry: Registry | None,
        inbox_limit: int = DEFAULT_INBOX_LIMIT,
    ) -> None:
        self.info = info
        self.registry = registry
        self._passthrough = passthrough
        self._middleware = tuple(middleware)
        self._wire = tuple(m for m in self._middleware if type(m).on_wire is not Middleware.on_wire)
        # Members by position and name: setting up a session hashes ints and strs, not
        # Peers (a dataclass hash is a Python call; a session's set-up made 72 of them).
        self._names = tuple(str(p) for p in info.members)
        self._index = {name: i for i, name in enumerate(self._names)}
        n = len(self._names)
        # (sender, receiver) positions -> the receiver's inbox for that sender.
        self._inboxes = {
            (a, b): Inbox(deadlines, inbox_limit) for a in range(n) for b in range(n) if a != b
        }
        self._endpoints: dict[Peer, SessionEndpoint] = {}

    @property
    def journal(self) -> Journal | None:
        return self.registry.journal if self.registry is not None else None

    def endpoint(self, peer: Peer | str) -> SessionEndpoint:
        """The endpoint of ``peer`` (a Peer or a name like ``"Signer[2]"``); one per member."""
        members, names, inboxes = self.info.members, self._names, self._inboxes
        i = self._index.get(peer if isinstance(peer, str) else str(peer))
        # Not found: not a member, or a name spelt otherwise ("Signer[02]"). A Peer must
        # also be the member itself (Peer("Signer[2]") only prints like Peer("Signer", 2)).
        if i is None or not (isinstance(peer, str) or members[i] == peer):
            p = parse_peer(peer) if isinstance(peer, str) else peer
            i = self._index.get(str(p))
            if i is None or members[i] != p:
                raise ConfigError(f"{p} is not a member of this {self.info.protocol.name} session")
        p = members[i]
        if p in self._endpoints:
            raise ConfigError(f"the endpoint of {p} was already taken")
        me, checksum, info = names[i], not self._passthrough, self.info
        links: dict[Peer, Link] = {}
        mine: dict[Peer, Inbox] = {}
        for j, q in enumerate(members):
            if j != i:
                links[q] = MemoryLink(
                    me, names[j], inboxes[(i, j)], checksum, self._wire, info.session_id, info.epoch
                )
                mine[q] = inboxes[(j, i)]
        ep = SessionEndpoint(
            info, p, links, mine,
            registry=self.registry, middleware=self._middleware, passthrough=self._passthrough,
        )
        self._endpoints[p] = ep
        return ep

    async def run(
        self, roles: Mapping[Peer, RoleFn] | Mapping[str, RoleFn] | Mapping[Peer | str, RoleFn]
    ) -> dict[str, RoleResult]:
        """Run role functions concurrently, each with its endpoint; collect every outcome.

        A role function that raises, or returns without reaching End (``close``), aborts
        its session so peers waiting on it get ``PeerGone`` at once. One that returns early
        from an open session gets a ``LocalViolation`` as its result: our side stopped
        short of the protocol (mypy --strict catches this statically where the role
        function returns its End state).
        """
        results: dict[str, RoleResult] = {}
        eps = [(self.endpoint(p), fn) for p, fn in roles.items()]

        async def one(ep: SessionEndpoint, fn: RoleFn) -> None:
            res = results[ep.me_name] = RoleResult(ep.me_name)
            try:
                res.value = await fn(ep)
                if not ep.done:
                    res.error = LocalViolation(
                        f"{ep.me_name}: the role function returned without reaching the end "
                        "of the protocol"
                    )
            except Exception as e:
                res.error = e
                ep.abort(f"role function raised {type(e).__name__}: {e}")
            finally:
                ep.abort("role function returned without reaching the end of the protocol")

        async with trio.open_nursery() as nursery:
            for ep, fn in eps:
                nursery.start_soon(one, ep, fn)
        return results

    def shutdown(self) -> None:
        for ep in self._endpoints.values():
            ep.abort("the session was shut down")


@asynccontextmanager
async def memory_session(
    protocol: ProtocolInfo,
    params: Mapping[str, int] | None = None,
    families: Mapping[str, int] | None = None,
    *,
    timeout: float = DEFAULT_TIMEOUT,
    passthrough: bool = False,
    middleware: Sequence[Middleware] = (),
    registry: Registry | None = None,
    capabilities: Mapping[str, Collection[str]] | None = None,
    budget: int | None = None,
    journal: Journal | None = None,
    session_id: str | None = None,
    epoch: int = 0,
    inbox_limit: int = DEFAULT_INBOX_LIMIT,
) -> AsyncIterator[MemoryNetwork]:
    """Open an in-memory session; on exit every endpoint still open is aborted.

    ``registry`` replaces the standard one built from ``capabilities``, ``budget`` and
    ``journal`` (see ``runtime.extensions.standard_registry``). ``inbox_limit`` bounds what
    one member may have queued with another (``runtime.inbox``).
    """
    if inbox_limit < 1:
        raise ConfigError("inbox_limit must be positive")
    info = SessionInfo.build(protocol, params, families, session_id, epoch, timeout)
    if registry is None:
        registry = standard_registry(capabilities, budget, journal)
    deadlines = Deadlines(timeout)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(deadlines.run)
        net = MemoryNetwork(
            info, deadlines, passthrough=passthrough, middleware=middleware, registry=registry,
            inbox_limit=inbox_limit,
        )
        try:
            yield net
        finally:
            net.shutdown()
            nursery.cancel_scope.cancel()

"""TCP transport: one process per member, a full mesh of secure links (trio edge).

Framing, handshake and sealing are sans-IO (``runtime.framing``, ``runtime.securelink``);
this module only moves bytes. Member i dials every member j < i (with retries, exponential
backoff and jitter) and accepts links from members j > i. Handshakes run on trio streams;
an established link's socket is then driven directly (``Connection``), so a frame costs one
system call and no scheduler round when the socket is ready. One reader task per link
opens frames and files them into that peer's inbox, so a receive from one peer never waits
behind another.
"""

from __future__ import annotations

import os
import random
import socket
import time
from abc import abstractmethod
from collections.abc import AsyncIterator, Collection, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Final, Protocol, final

import trio
from trio.lowlevel import checkpoint, notify_closing, wait_readable, wait_writable

from runtime.config import NetConfig
from runtime.contract import Peer, ProtocolInfo
from runtime.endpoint import YIELD_EVERY, Link, SessionEndpoint
from runtime.errors import (
    ConfigError,
    FrameError,
    LinkAuthError,
    LinkError,
    LinkVersionError,
    MinuetError,
    PeerGone,
)
from runtime.extensions import Journal, Registry, standard_registry
from runtime.faults import FaultTarget
from runtime.framing import (
    ABORT,
    CLOSE,
    DATA,
    GONE,
    LEN_SIZE,
    VIOLATION,
    FrameBuffer,
    Item,
    decode_body,
    encode_body,
    length_prefix,
)
from runtime.identity import Identity, read_key_file
from runtime.inbox import Deadlines, Inbox
from runtime.middleware import Event, Middleware, chain_wire, overrides
from runtime.securelink import (
    FrameOpener,
    FrameSealer,
    Initiator,
    LinkKeys,
    Responder,
    check_hello,
    parse_hello,
    reject_message,
)
from runtime.session_core import SessionInfo, parse_peer

HANDSHAKE_MAX: Final = 4096

# Timing of the TCP edge, in seconds. The configurable ones (connect_timeout,
# handshake_timeout, linger) are in NetConfig; these are fixed policy.
ABORT_SEND_TIMEOUT: Final = 2.0  # telling a peer why we abort must not hold up our exit
DIAL_BACKOFF_BASE: Final = 0.05  # first retry of a refused dial, doubled per attempt ...
DIAL_BACKOFF_CAP: Final = 1.0  # ... up to this, with full jitter
ACCEPT_ERROR_PAUSE: Final = 0.05  # after accept() fails (e.g. out of descriptors)
UNFINISHED_LINGER_CAP: Final = 1.0  # linger after leaving unfinished: peers only see the abort


class ByteSource(Protocol):
    """What frames are read from: a trio stream (handshake) or a ``Connection`` (after)."""

    async def receive_some(self, max_bytes: int | None = None) -> bytes | bytearray: ...


async def read_frame(stream: ByteSource, buf: FrameBuffer) -> bytes | None:
    """The next length-prefixed frame, or None at a clean EOF between frames."""
    while True:
        frame = buf.next_frame()
        if frame is not None:
            return frame
        chunk = await stream.receive_some(65536)
        if not chunk:
            if buf.pending:
                raise FrameError("connection closed in the middle of a frame")
            return None
        buf.feed(bytes(chunk))


@final
class Connection:
    """An established link's socket, taken out of its trio ``SocketStream`` after the handshake.

    trio's stream operations end with a schedule point even when the socket was ready, a
    whole scheduler round per frame; here a ready socket is written or read at once, and
    trio's low-level waits are used only when it is not. A reader that finds data ready
    YIELD_EVERY times in a row yields anyway, so a flooding peer cannot starve other tasks.
    """

    __slots__ = ("_ready_reads", "sock")

    def __init__(self, stream: trio.SocketStream) -> None:
        # detach() hands the descriptor over; the stream object is inert afterwards.
        self.sock = socket.socket(fileno=stream.socket.detach())
        self.sock.setblocking(False)
        self._ready_reads = 0

    def send_now(self, data: bytes | memoryview) -> int:
        """Write what the kernel takes without waiting; bytes written."""
        try:
            return self.sock.send(data)
        except BlockingIOError:
            return 0

    async def send_rest(self, data: bytes, sent: int) -> None:
        """Finish writing ``data`` after ``sent`` bytes went out (the send buffer was full)."""
        view = memoryview(data)
        while sent < len(data):
            await wait_writable(self.sock)
            sent += self.send_now(view[sent:])

    async def send_all(self, data: bytes) -> None:
        sent = self.send_now(data)
        if sent < len(data):
            await self.send_rest(data, sent)

    async def receive_some(self, max_bytes: int | None = None) -> bytes:
        """The next bytes from the peer (b"" at EOF)."""
        while True:
            try:
                data = self.sock.recv(max_bytes or 65536)
            except BlockingIOError:
                self._ready_reads = 0
                await wait_readable(self.sock)
                continue
            self._ready_reads += 1
            if self._ready_reads >= YIELD_EVERY:
                self._ready_reads = 0
                await checkpoint()
            return data

    def close(self) -> None:
        """Close now; a task waiting on the socket gets ``trio.ClosedResourceError``."""
        if self.sock.fileno() >= 0:
            notify_closing(self.sock)
            self.sock.close()


class SealedLink(Link, FaultTarget):
    """A link that seals each frame (``securelink.FrameSealer``) and writes it, length
    prefixed, to one byte stream: the TCP mesh's sockets and libp2p's streams alike. A
    transport says how bytes are written (``_send_all``) and how the stream is dropped
    (``_hang_up``); the frame order, goodbye, abort and fault duties are the same."""

    __slots__ = ("_lock", "_nursery", "_open", "_sealer", "_wire")
    transport: str  # named in errors

    def __init__(
        self, peer_name: str, sealer: FrameSealer, nursery: trio.Nursery, wire: tuple[Middleware, ...],
    ) -> None:
        super().__init__(peer_name)
        self._nursery = nursery
        self._sealer = sealer
        self._wire = wire
        # Held while a frame is being written (or wire middleware handles it): seq order
        # must equal wire order when parallel branches send to one peer.
        self._lock = trio.Lock()
        self._open = True

    @abstractmethod
    async def _send_all(self, wire: bytes) -> None:
        """Write all of ``wire``."""

    @abstractmethod
    def _hang_up(self) -> None:
        """Drop the stream at once, without a goodbye."""

    async def _frame(self, kind: int, label: str, data: bytes, ev: Event | None) -> None:
        body = encode_body(kind, label, data)
        async with self._lock:
            wire = length_prefix(self._sealer.seal(body))
            if ev is None:
                await self._send_all(wire)
            else:
                await chain_wire(self._wire, self, ev, self._write)(wire)

    async def _write(self, wire: object) -> None:
        assert isinstance(wire, bytes)
        await self._send_all(wire)

    async def send(self, kind: int, label: str, data: object, ev: Event | None) -> None:
        if not self._open:
            raise trio.ClosedResourceError(f"link to {self.peer_name} is closed")
        if not isinstance(data, bytes):
            raise TypeError(f"{self.transport} links carry encoded payloads only")
        await self._frame(kind, label, data, ev)

    async def close(self) -> None:
        if self._open:
            self._open = False
            try:
                await self._frame(CLOSE, "", b"", None)
            except (trio.BrokenResourceError, trio.ClosedResourceError, OSError):
                pass  # the peer is gone already; nothing to say goodbye to

    def abort_nowait(self, reason: str) -> None:
        if self._open:
            self._open = False
            self._nursery.start_soon(self._abort, reason[:1000])

    async def _abort(self, reason: str) -> None:
        try:
            with trio.move_on_after(ABORT_SEND_TIMEOUT):
                await self._frame(ABORT, reason, b"", None)
        except (trio.BrokenResourceError, trio.ClosedResourceError, OSError):
            pass

    def crash(self) -> None:
        if self._open:
            self._open = False
            self._hang_up()

    def damage(self, wire: object, position: int) -> object:
        assert isinstance(wire, bytes)
        i = LEN_SIZE + position % (len(wire) - LEN_SIZE)
        return wire[:i] + bytes([wire[i] ^ 0x01]) + wire[i + 1 :]


@final
class TcpLink(SealedLink):
    __slots__ = ("_conn",)
    transport = "TCP"

    def __init__(
        self, peer_name: str, conn: Connection, sealer: FrameSealer, nursery: trio.Nursery,
        wire: tuple[Middleware, ...],
    ) -> None:
        super().__init__(peer_name, sealer, nursery, wire)
        self._conn = conn

    async def _send_all(self, wire: bytes) -> None:
        await self._conn.send_all(wire)

    def _hang_up(self) -> None:
        self._conn.close()

    async def _frame(self, kind: int, label: str, data: bytes, ev: Event | None) -> None:
        lock = self._lock
        if ev is None and not lock.locked():
            # The usual case: sealed and written without an await in between, so no other
            # frame can come between; the lock is taken only if the kernel's buffer is full.
            wire = length_prefix(self._sealer.seal(encode_body(kind, label, data)))
            sent = self._conn.send_now(wire)
            if sent == len(wire):
                return
            lock.acquire_nowait()
            try:
                await self._conn.send_rest(wire, sent)
            finally:
                lock.release()
            return
        await super()._frame(kind, label, data, ev)

    def drop(self) -> None:
        self._open = False
        self._conn.close()


async def _reader(
    peer: str, conn: Connection, buf: FrameBuffer, opener: FrameOpener, inbox: Inbox,
    done: trio.Event,
) -> None:
    """File every frame from ``peer`` into its inbox; report EOF and bad frames there."""
    try:
        while not inbox.overflowed:  # a flooder's overflow failed the session: stop reading
            frame = await read_frame(conn, buf)
            if frame is None:
                inbox.put(Item(GONE, -1, f"connection lost: {peer} closed the connection", None, -1))
                return
            kind, label, data = decode_body(opener.open(frame))
            inbox.put(Item(kind, opener.seq - 1, label, data, -1))
            if kind != DATA:
                return  # CLOSE/ABORT end the link
    except (LinkError, FrameError) as e:
        inbox.put(Item(VIOLATION, -1, f"a rejected frame ({e})", None, -1))
    except (trio.BrokenResourceError, trio.ClosedResourceError, OSError) as e:
        inbox.put(Item(GONE, -1, f"connection lost: {e!r}", None, -1))
    finally:
        done.set()


def _backoff(attempt: int, base: float = DIAL_BACKOFF_BASE, cap: float = DIAL_BACKOFF_CAP) -> float:
    """Exponential backoff with full jitter."""
    return random.uniform(0, min(cap, base * 2**attempt))


def bind_listener(host: str = "127.0.0.1", port: int = 0, *, who: str = "listener") -> socket.socket:
    """A listening TCP socket on ``host:port`` (port 0: any free port); ``ConfigError``
    naming ``who`` and the address if it cannot be bound.

    Bind before publishing the address and hand the socket to ``tcp_session(listener=...)``:
    a port number that was only found free can be taken by someone else before it is used.
    """
    try:
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
    except OSError as e:
        raise ConfigError(f"{who}: cannot listen on {host}:{port}: {e.strerror or e}") from None
    try:
        if os.name == "posix":  # restart on a port whose old connections are in TIME_WAIT
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(128)
    except OSError as e:
        sock.close()
        raise ConfigError(f"{who}: cannot listen on {host}:{port}: {e.strerror or e}") from None
    return sock


HandshakeStream = trio.abc.Stream


class _Mesh:
    """Connection set-up for one member (``runtime.p2p`` subclasses it for libp2p streams).

    Nothing a peer sends before it has proved its identity can fail the session: every
    failed handshake only closes that connection and leaves an ``error`` event (label
    ``handshake``) for the session's middleware. Half-open handshakes are capped in number
    (``max_handshakes``) and duration (``handshake_timeout``); the responder's key agreement
    runs only after the hello's cheap checks (``securelink.check_hello``).
    """

    def __init__(
        self, protocol: ProtocolInfo, info: SessionInfo, cfg: NetConfig, me: Peer, key: Identity,
        middleware: Sequence[Middleware] = (),
    ) -> None:
        self.protocol, self.info, self.cfg, self.me, self.key = protocol, info, cfg, me, key
        self.me_name = str(me)
        self.index = info.members.index(me)
        self.links: dict[Peer, tuple[HandshakeStream, FrameBuffer, LinkKeys]] = {}
        self.all_linked = trio.Event()
        self.expected = len(info.members) - 1
        self.half_open = 0
        self.failures: dict[str, str] = {}  # last failed dial per peer, for the PeerGone
        # The last typed refusal per peer (wrong key, other link version): the PeerGone's cause.
        self.refusals: dict[str, LinkError] = {}
        self._observers = tuple(m for m in middleware if overrides(m, "on_event"))

    def public(self, name: str) -> bytes:
        m = self.cfg.members.get(name)
        link = m.link_public if m is not None else None
        if link is None:
            raise ConfigError(f"network config has no public key for {name}")
        return link

    def _add(self, peer: Peer, stream: HandshakeStream, buf: FrameBuffer, keys: LinkKeys) -> bool:
        if peer in self.links:  # two handshakes of one member raced; the first one won
            return False
        self.links[peer] = (stream, buf, keys)
        if len(self.links) == self.expected:
            self.all_linked.set()
        return True

    def rejected(self, peer: str, reason: str) -> None:
        """Record a failed handshake as an ``error`` event for the middleware."""
        if not self._observers:
            return
        info = self.info
        ev = Event(
            time.time(), info.session_id, info.epoch, self.me_name, peer, "error", "handshake",
            0, "connect", "", "", error=reason[:1000],
        )
        for m in self._observers:
            m.on_event(ev)

    async def dial(self, peer: Peer, deadline: float) -> None:
        """Link to ``peer``, retrying refused or failed handshakes until ``deadline`` (a
        dial can reach a stranger on that port, or a member not listening yet)."""
        name = str(peer)
        m = self.cfg.members[name]
        attempt = 0
        while peer not in self.links:
            remaining = deadline - trio.current_time()
            if remaining <= 0:
                return
            try:
                with trio.fail_after(min(remaining, self.cfg.handshake_timeout)):
                    await self._dial_once(peer, m.host, m.port)
                return
            except trio.TooSlowError:
                self.failures[name] = f"handshake with {m.host}:{m.port} timed out"
            except (LinkError, FrameError, trio.BrokenResourceError, trio.ClosedResourceError, OSError) as e:
                self.failures[name] = f"{m.host}:{m.port}: {e}"
                if isinstance(e, LinkVersionError | LinkAuthError):
                    self.refusals[name] = e
            self.rejected(name, self.failures[name])
            await trio.sleep(min(_backoff(attempt), max(0.0, deadline - trio.current_time())))
            attempt += 1

    async def open_stream(self, peer: Peer, host: str, port: int) -> HandshakeStream:
        """A fresh byte stream to ``peer`` for one handshake (another transport's mesh,
        ``runtime.p2p``, opens a libp2p stream here)."""
        return await trio.open_tcp_stream(host, port)

    async def _dial_once(self, peer: Peer, host: str, port: int) -> None:
        name = str(peer)
        stream = await self.open_stream(peer, host, port)
        linked = False
        try:
            buf = FrameBuffer(HANDSHAKE_MAX)
            hs = Initiator(
                self.protocol.name, self.info.session_id, self.info.epoch, self.me_name,
                self.key, name, self.public(name),
            )
            await stream.send_all(length_prefix(hs.hello()))
            msg2 = await read_frame(stream, buf)
            if msg2 is None:
                raise LinkError(f"{name} refused the link (closed during the handshake)")
            msg3, keys = hs.finish(msg2)
            await stream.send_all(length_prefix(msg3))
            buf.max_size = self.cfg.max_frame
            linked = self._add(peer, stream, buf, keys)
        finally:
            if not linked:
                await trio.aclose_forcefully(stream)

    async def accept(self, stream: HandshakeStream) -> None:
        """Run the responder side; anyone who is not a later member of the session (or
        cannot prove it) is dropped without a word."""
        if self.half_open >= self.cfg.max_handshakes:
            await trio.aclose_forcefully(stream)
            self.rejected("?", f"more than {self.cfg.max_handshakes} handshakes at once")
            return
        self.half_open += 1
        claimed = "?"
        linked = False
        try:
            buf = FrameBuffer(HANDSHAKE_MAX)
            with trio.fail_after(self.cfg.handshake_timeout):
                msg1 = await read_frame(stream, buf)
                if msg1 is None:
                    raise LinkError("closed before the handshake")
                try:
                    hello = parse_hello(msg1)
                except LinkVersionError:
                    # Say which version we speak (cheap, no key agreement), then hang up.
                    await stream.send_all(length_prefix(reject_message()))
                    raise
                claimed = hello.initiator
                check_hello(hello, self.info.session_id, self.info.epoch, self.me_name)
                peer = parse_peer(hello.initiator)
                if peer not in self.info.members or self.info.members.index(peer) <= self.index:
                    raise LinkError(f"{hello.initiator!r} is not a member that dials {self.me_name}")
                if peer in self.links:
                    raise LinkError(f"{peer} is already linked")
                hs = Responder(
                    self.protocol.name, self.info.session_id, self.info.epoch, self.me_name,
                    self.key, hello, self.public(str(peer)),
                )
                await stream.send_all(length_prefix(hs.reply()))
                msg3 = await read_frame(stream, buf)
                if msg3 is None:
                    raise LinkError(f"{peer} closed during the handshake")
                keys = hs.finish(msg3)
            buf.max_size = self.cfg.max_frame
            linked = self._add(peer, stream, buf, keys)
            if not linked:
                raise LinkError(f"{peer} is already linked")
        except trio.TooSlowError:
            self.rejected(claimed, f"no handshake within {self.cfg.handshake_timeout:g}s")
        except (MinuetError, trio.BrokenResourceError, trio.ClosedResourceError, OSError) as e:
            self.rejected(claimed, f"{type(e).__name__}: {e}")
        finally:
            self.half_open -= 1
            if not linked:
                await trio.aclose_forcefully(stream)


async def _accept_loop(
    listener: trio.SocketListener, handlers: trio.Nursery, mesh: _Mesh
) -> None:
    while True:
        try:
            stream = await listener.accept()
        except OSError:
            await trio.sleep(ACCEPT_ERROR_PAUSE)  # back off, keep serving
            continue
        handlers.start_soon(mesh.accept, stream)


def _listeners(
    cfg: NetConfig, me: str, host: str, port: int, listener: socket.socket | None
) -> list[trio.SocketListener]:
    if listener is None:
        listener = bind_listener(host, port, who=me)
    else:
        bound = listener.getsockname()[1]
        if bound != port:
            listener.close()
            raise ConfigError(f"{me}: the listener given is bound to port {bound}, the config says {port}")
    return [trio.SocketListener(trio.socket.from_stdlib_socket(listener))]


@dataclass(frozen=True, slots=True)
class TcpPlan:
    """A checked TCP session set-up: who we are, the session, our key and our address."""

    protocol: ProtocolInfo
    cfg: NetConfig
    info: SessionInfo
    me: Peer
    key: Identity
    host: str
    port: int


def plan_tcp_session(
    protocol: ProtocolInfo, cfg: NetConfig, me: Peer | str, key: Identity | None = None
) -> TcpPlan:
    """Check that ``cfg`` can run ``protocol`` as ``me`` and resolve our key (read from the
    key file the config names unless given): ``ConfigError`` otherwise. No sockets, no trio."""
    me = parse_peer(me) if isinstance(me, str) else me
    if cfg.protocol is not None and cfg.protocol != protocol.name:
        raise ConfigError(f"config is for protocol {cfg.protocol}, not {protocol.name}")
    info = SessionInfo.build(protocol, cfg.params, cfg.families, cfg.session, cfg.epoch, cfg.timeout)
    missing = [str(p) for p in info.members if str(p) not in cfg.members]
    if missing:
        raise ConfigError(f"network config lacks members {missing}")
    mine = cfg.members[str(me)] if str(me) in cfg.members else None
    if mine is None:
        raise ConfigError(f"{me} is not a member in the network config")
    if key is None:
        if mine.key is None:
            raise ConfigError(f"network config gives no key file for {me}")
        key = read_key_file(mine.key)
    if mine.public is not None and key.public != mine.public:
        raise ConfigError(f"the key file of {me} does not match its public key in the config")
    for p in info.members:
        m = cfg.members[str(p)]
        if p != me and m.link_public is None:  # every peer's key is known before anyone dials
            raise ConfigError(f"network config has no public key for {p}")
    return TcpPlan(protocol, cfg, info, me, key, mine.host, mine.port)


@asynccontextmanager
async def tcp_session(
    protocol: ProtocolInfo,
    cfg: NetConfig,
    me: Peer | str,
    *,
    key: Identity | None = None,
    middleware: Sequence[Middleware] = (),
    registry: Registry | None = None,
    capabilities: Mapping[str, Collection[str]] | None = None,
    journal: Journal | None = None,
    listener: socket.socket | None = None,
) -> AsyncIterator[SessionEndpoint]:
    """Join the session described by ``cfg`` as member ``me``; yields its endpoint once
    every link is up (or raises ``PeerGone`` after ``cfg.connect_timeout``).

    ``listener`` is our listening socket, already bound to our configured address
    (``bind_listener``); without it the address is bound here, and a failure is a
    ``ConfigError`` naming us and the address.

    On exit the endpoint is aborted unless it finished, then we wait (at most
    ``cfg.linger`` seconds) for every peer to finish before closing the sockets, so no
    peer loses frames still in flight.
    """
    try:
        plan = plan_tcp_session(protocol, cfg, me, key)
        listeners = _listeners(cfg, str(plan.me), plan.host, plan.port, listener)
    except BaseException:
        if listener is not None:
            listener.close()
        raise
    if registry is None:
        caps = capabilities or {n: m.capabilities for n, m in cfg.members.items()}
        jour = journal or (Journal(cfg.journal) if cfg.journal is not None else None)
        registry = standard_registry(caps, cfg.budget, jour)
    async with _connected(plan, listeners, middleware, registry) as ep:
        yield ep


@asynccontextmanager
async def _connected(
    plan: TcpPlan, listeners: list[trio.SocketListener], middleware: Sequence[Middleware],
    registry: Registry,
) -> AsyncIterator[SessionEndpoint]:
    """The connections' lifetime: link to every peer, run the session, linger, close."""
    cfg, info, me = plan.cfg, plan.info, plan.me
    mesh = _Mesh(plan.protocol, info, cfg, me, plan.key, middleware)
    deadlines = Deadlines(cfg.timeout)
    wire = tuple(m for m in middleware if overrides(m, "on_wire"))
    async with trio.open_nursery() as nursery:
        nursery.start_soon(deadlines.run)
        serving = trio.CancelScope()

        async def serve() -> None:
            # Not trio.serve_listeners: it closes each stream when its handler returns.
            with serving:
                async with trio.open_nursery() as handlers:
                    for lst in listeners:
                        handlers.start_soon(_accept_loop, lst, handlers, mesh)

        nursery.start_soon(serve)
        deadline = trio.current_time() + cfg.connect_timeout
        for peer in info.members[: mesh.index]:
            nursery.start_soon(mesh.dial, peer, deadline)
        if mesh.expected:
            with trio.move_on_at(deadline):
                await mesh.all_linked.wait()
        if len(mesh.links) < mesh.expected:
            absent = [str(p) for p in info.members if p != me and p not in mesh.links]
            serving.cancel()
            for stream, _, _ in mesh.links.values():
                await trio.aclose_forcefully(stream)
            for lst in listeners:
                await lst.aclose()
            nursery.cancel_scope.cancel()
            why = "; ".join(f"{p}: {mesh.failures[p]}" for p in absent if p in mesh.failures)
            cause = next((mesh.refusals[p] for p in absent if p in mesh.refusals), None)
            raise PeerGone(
                ", ".join(absent), "connect",
                f"no link within {cfg.connect_timeout:g}s" + (f" (last attempt {why})" if why else ""),
            ) from cause
        serving.cancel()  # the mesh is complete: nobody else may join
        for lst in listeners:
            await lst.aclose()
        links: dict[Peer, TcpLink] = {}
        inboxes: dict[Peer, Inbox] = {}
        finished: list[trio.Event] = []
        for peer, (stream, buf, keys) in mesh.links.items():
            assert isinstance(stream, trio.SocketStream)  # only tests hand over other streams
            conn = Connection(stream)
            links[peer] = TcpLink(str(peer), conn, keys.sealer, nursery, wire)
            inboxes[peer] = Inbox(deadlines, cfg.inbox_limit)
            done = trio.Event()
            finished.append(done)
            nursery.start_soon(_reader, str(peer), conn, buf, keys.opener, inboxes[peer], done)
        ep = SessionEndpoint(
            info, me, dict(links), inboxes, registry=registry, middleware=middleware,
        )
        try:
            yield ep
        finally:
            ep.abort("left the session without finishing the protocol")
            linger = cfg.linger if ep.closed else min(cfg.linger, UNFINISHED_LINGER_CAP)
            with trio.move_on_after(linger) as cs:
                cs.shield = True
                for ev in finished:
                    await ev.wait()
            for link in links.values():
                link.drop()
            nursery.cancel_scope.cancel()




__all__ = ["TcpLink", "TcpPlan", "bind_listener", "plan_tcp_session", "read_frame", "tcp_session"]

"""libp2p transport (the optional ``minuet[p2p]`` extra; trio edge, the only module that
imports libp2p).

Each member process runs one libp2p host (py-libp2p) whose identity is the member's Ed25519
key, so its peer ID is the one its config entry implies (``runtime.p2p_ids``). A session opens
ONE libp2p stream per peer pair, and Minuet's own link runs inside it unchanged: the
Noise_KK handshake of ``runtime.securelink`` with its session binding, then sealed frames.
libp2p only carries bytes, so Minuet's guarantees never rest on libp2p's settings; those are
pinned anyway:

* security is Noise only (``sec_opt``): the library default also offers TLS, secio and
  *plaintext*, and a plaintext dialler got an insecure session from a default host;
* a stream's libp2p peer must be the claimed member's identity (checked at link time);
* one connection per peer (``max_connections_per_peer=1``): with libp2p's default of 3, a
  dial waits out its whole 250 ms happy-eyeballs head start even after its only address
  succeeded; with 1 the first connection ends the wait (no libp2p internals patched);
* libp2p's own dial retries and its 60 s "recently failed" block are turned off for our
  dials, which retry on the mesh's backoff (``runtime.tcp``) until ``connect_timeout``.

Several sessions can share one host (``open_p2p_host``): an incoming stream is routed by the
session id, epoch and member its hello names, so sessions between two members use streams of
one libp2p connection. With ``mdns=True`` peers are found by mDNS on the LAN instead of the
config's addresses (which remain our listening address). ``P2pNode`` runs ``minuet node``'s
links the same way (``--transport p2p``).
"""

from __future__ import annotations

import ipaddress
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Collection, Mapping, Sequence
from contextlib import asynccontextmanager
from typing import Final, final

import multiaddr
import trio
from libp2p import new_host
from libp2p.abc import IHost, INetStream
from libp2p.crypto.ed25519 import create_new_key_pair as ed25519_key_pair
from libp2p.crypto.x25519 import create_new_key_pair as x25519_key_pair
from libp2p.custom_types import TProtocol
from libp2p.exceptions import BaseLibp2pError, MultiError
from libp2p.network.config import ConnectionConfig, RetryConfig
from libp2p.network.stream.exceptions import StreamEOF
from libp2p.network.swarm import Swarm
from libp2p.peer.id import ID
from libp2p.security.noise.exceptions import PeerIDMismatchesPubkey
from libp2p.security.noise.transport import PROTOCOL_ID as NOISE_PROTOCOL_ID
from libp2p.security.noise.transport import Transport as NoiseTransport

from runtime.config import NetConfig
from runtime.contract import Peer, ProtocolInfo
from runtime.endpoint import SessionEndpoint
from runtime.errors import (
    ConfigError,
    FrameError,
    LinkAuthError,
    LinkError,
    LinkVersionError,
    PeerGone,
)
from runtime.extensions import Journal, Registry, standard_registry
from runtime.framing import (
    DATA,
    GONE,
    LEN_SIZE,
    VIOLATION,
    FrameBuffer,
    Item,
    decode_body,
    length_prefix,
)
from runtime.identity import Identity
from runtime.inbox import Deadlines, Inbox
from runtime.middleware import Middleware, overrides
from runtime.node import Node
from runtime.p2p_ids import peer_id
from runtime.securelink import FrameOpener, FrameSealer, LinkKeys, parse_hello, reject_message
from runtime.session_core import SessionInfo
from runtime.tcp import (
    HANDSHAKE_MAX,
    UNFINISHED_LINGER_CAP,
    HandshakeStream,
    SealedLink,
    _Mesh,
    plan_tcp_session,
    read_frame,
)

# Minuet link protocol version 2 inside the stream (runtime.securelink.VERSION).
PROTOCOL_ID: Final = TProtocol("/minuet/link/2")
NODE_PROTOCOL_ID: Final = TProtocol("/minuet/node/2")  # minuet node links (runtime.node)
ADDR_TTL: Final = 24 * 3600  # config addresses stay in the peerstore for the session
CLOSE_TIMEOUT: Final = 1.0  # resetting a stream must not hold up our exit
# Streams whose hello has not arrived yet, per host, and how long one may take: a stranger
# opening streams cannot pin the host (each session's mesh then applies its own limits).
MAX_PENDING_STREAMS: Final = 64
HELLO_TIMEOUT: Final = 5.0

_log = logging.getLogger(__name__)


def _multiaddr(host: str, port: int) -> multiaddr.Multiaddr:
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        return multiaddr.Multiaddr(f"/dns/{host}/tcp/{port}")
    return multiaddr.Multiaddr(f"/ip{ip.version}/{host}/tcp/{port}")


@final
class _StreamBytes(trio.abc.Stream):
    """A libp2p stream as a trio byte stream (what the mesh's handshake code reads and
    writes); ``unread`` gives back bytes the host's router read to find the session."""

    def __init__(self, stream: INetStream, remote: str) -> None:
        self._stream = stream
        self.remote = remote  # the libp2p peer ID (base58) at the other end
        self._unread = b""

    def unread(self, data: bytes) -> None:
        self._unread = data + self._unread

    async def send_all(self, data: bytes | bytearray | memoryview) -> None:
        try:
            await self._stream.write(bytes(data))
        except BaseLibp2pError as e:
            raise trio.BrokenResourceError(f"libp2p stream: {e or type(e).__name__}") from None

    async def wait_send_all_might_not_block(self) -> None:
        await trio.lowlevel.checkpoint()

    async def receive_some(self, max_bytes: int | None = None) -> bytes:
        if self._unread:
            n = max_bytes or len(self._unread)
            data, self._unread = self._unread[:n], self._unread[n:]
            return data
        try:
            return await self._stream.read(max_bytes or 65536)
        except StreamEOF:
            return b""
        except BaseLibp2pError as e:
            raise trio.BrokenResourceError(f"libp2p stream: {e or type(e).__name__}") from None

    async def aclose(self) -> None:
        # Shielded: trio.aclose_forcefully calls this in a cancelled scope, and a yamux
        # reset must still reach the peer.
        with trio.CancelScope(shield=True), trio.move_on_after(CLOSE_TIMEOUT):
            try:
                await self._stream.reset()
            except BaseLibp2pError:
                pass  # already closed or reset by the peer


async def _read_exactly(stream: _StreamBytes, n: int) -> bytes:
    out = b""
    while len(out) < n:
        chunk = await stream.receive_some(n - len(out))
        if not chunk:
            raise LinkError("closed before the handshake")
        out += chunk
    return out


def _mismatched_identity(e: BaseException) -> bool:
    """Whether a failed libp2p dial met a peer whose key is not the peer ID we dialled."""
    seen: set[int] = set()
    todo: list[BaseException] = [e]
    while todo:
        x = todo.pop()
        if id(x) in seen:
            continue
        seen.add(id(x))
        if isinstance(x, PeerIDMismatchesPubkey):
            return True
        if isinstance(x, MultiError):
            todo.extend(a for a in x.args if isinstance(a, BaseException))
            todo.extend(a for arg in x.args if isinstance(arg, list) for a in arg
                        if isinstance(a, BaseException))
        todo.extend(c for c in (x.__cause__, x.__context__) if c is not None)
    return False


@final
class P2pHost:
    """A running libp2p host for one member identity; sessions register here to receive
    the streams their peers open."""

    def __init__(self, host: IHost, key: Identity, mdns: bool) -> None:
        self.host = host
        self.key = key
        self.mdns = mdns
        self.peer_id = peer_id(key.public)
        self.routes: dict[tuple[str, int, str], _P2pMesh] = {}
        self._pending = 0
        network = host.get_network()
        # Our meshes retry dials on their own backoff: one libp2p attempt per dial.
        if isinstance(network, Swarm):
            network.retry_config = RetryConfig(max_retries=0)
        self._network = network

    @property
    def addrs(self) -> list[str]:
        """Our listening multiaddrs, each ending in /p2p/<peer id>."""
        return [str(a) for a in self.host.get_addrs()]

    @property
    def port(self) -> int:
        """The TCP port we listen on (useful after listening on port 0)."""
        for a in self.host.get_transport_addrs():
            port = a.value_for_protocol("tcp")
            if port:
                return int(port)
        raise ConfigError("the libp2p host listens on no TCP address")

    def unblock(self, pid: ID) -> None:
        if isinstance(self._network, Swarm):
            self._network.unblock_peer(pid)

    async def _handle(self, stream: INetStream) -> None:
        """Route a new stream to its session's mesh by the hello it starts with."""
        remote = str(stream.muxed_conn.peer_id)
        sb = _StreamBytes(stream, remote)
        if self._pending >= MAX_PENDING_STREAMS:
            await sb.aclose()
            return
        self._pending += 1
        mesh: _P2pMesh | None = None
        head = msg1 = b""
        try:
            with trio.fail_after(HELLO_TIMEOUT):
                head = await _read_exactly(sb, LEN_SIZE)
                size = int.from_bytes(head, "big")
                if size > HANDSHAKE_MAX:
                    raise LinkError(f"a hello of {size} bytes")
                msg1 = await _read_exactly(sb, size)
            try:
                hello = parse_hello(msg1)
            except LinkVersionError:
                await sb.send_all(length_prefix(reject_message()))
                raise
            mesh = self.routes.get((hello.session, hello.epoch, hello.responder))
        except (LinkError, FrameError, trio.TooSlowError, trio.BrokenResourceError) as e:
            _log.debug("libp2p stream from %s dropped before routing: %s", remote, e)
        finally:
            self._pending -= 1
        if mesh is None:
            await sb.aclose()  # no such session here (yet): the dialler retries
            return
        sb.unread(head + msg1)
        await mesh.accept(sb)


@asynccontextmanager
async def open_p2p_host(
    key: Identity, host: str = "127.0.0.1", port: int = 0, *, mdns: bool = False
) -> AsyncIterator[P2pHost]:
    """Run a libp2p host for ``key`` listening on ``host:port`` (Noise only, yamux)."""
    pair = ed25519_key_pair(key.seed)
    # libp2p's Noise signs its own X25519 static with the identity key; Minuet's link inside
    # the stream uses the member's derived link key, so this one can be fresh per host.
    noise = NoiseTransport(pair, noise_privkey=x25519_key_pair().private_key)
    listen = [_multiaddr(host, port)]
    lp = new_host(
        key_pair=pair,
        sec_opt={NOISE_PROTOCOL_ID: noise},
        muxer_preference="YAMUX",
        listen_addrs=listen,
        enable_mDNS=mdns,
        connection_config=ConnectionConfig(max_connections_per_peer=1),
    )
    p2p = P2pHost(lp, key, mdns)
    lp.set_stream_handler(PROTOCOL_ID, p2p._handle)
    try:
        async with lp.run(listen_addrs=listen):
            yield p2p
    except OSError as e:
        raise ConfigError(f"cannot listen on {host}:{port} with libp2p: {e.strerror or e}") from None


async def _open_stream(
    p2p: P2pHost, name: str, public: bytes, host: str, port: int, protocol: TProtocol
) -> _StreamBytes:
    """A new ``protocol`` stream to the peer holding ``public`` (``name`` in errors)."""
    pid = ID.from_base58(peer_id(public))
    if not p2p.mdns:
        p2p.host.get_peerstore().add_addrs(pid, [_multiaddr(host, port)], ADDR_TTL)
    p2p.unblock(pid)
    try:
        stream = await p2p.host.new_stream(pid, [protocol])
    except BaseLibp2pError as e:
        if _mismatched_identity(e):
            raise LinkAuthError(
                name, f"the libp2p peer at {host}:{port} does not hold {name}'s key"
            ) from None
        raise LinkError(f"libp2p could not reach {name} ({pid}): {e}") from None
    return _StreamBytes(stream, str(pid))


@final
class _P2pMesh(_Mesh):
    """``runtime.tcp``'s mesh (hello checks, handshake caps, retries, typed refusals) with
    libp2p streams instead of TCP connections, and the libp2p peer checked against the
    member's identity."""

    p2p: P2pHost

    async def open_stream(self, peer: Peer, host: str, port: int) -> HandshakeStream:
        name = str(peer)
        public = self.cfg.members[name].public
        if public is None:
            raise ConfigError(f"network config has no public key for {name}")
        return await _open_stream(self.p2p, name, public, host, port, PROTOCOL_ID)

    def _add(self, peer: Peer, stream: HandshakeStream, buf: FrameBuffer, keys: LinkKeys) -> bool:
        public = self.cfg.members[str(peer)].public
        assert isinstance(stream, _StreamBytes) and public is not None
        if stream.remote != peer_id(public):
            raise LinkAuthError(str(peer), f"its libp2p peer {stream.remote} is not its identity")
        return super()._add(peer, stream, buf, keys)


@final
class P2pLink(SealedLink):
    __slots__ = ("_stream",)
    transport = "libp2p"

    def __init__(
        self, peer_name: str, stream: _StreamBytes, sealer: FrameSealer, nursery: trio.Nursery,
        wire: tuple[Middleware, ...],
    ) -> None:
        super().__init__(peer_name, sealer, nursery, wire)
        self._stream = stream

    async def _send_all(self, wire: bytes) -> None:
        # libp2p writes await, so every frame takes the base class's lock.
        await self._stream.send_all(wire)

    def _hang_up(self) -> None:
        self._nursery.start_soon(self._stream.aclose)


@final
class P2pNode(Node):
    """``minuet node --transport p2p``: the node's links to its peer nodes are libp2p
    streams (protocol ``/minuet/node/2``, one per pair of nodes) of a Noise-only libp2p host
    with the node's identity, and the node's own Noise_KK link runs inside each, exactly as
    over TCP; all of the node's sessions share it."""

    _p2p: P2pHost | None = None

    def listener(self) -> Callable[[trio.Nursery], Awaitable[None]]:
        async def accept(nursery: trio.Nursery) -> None:
            await nursery.start(self._run_host)

        return accept

    async def _run_host(self, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        async with open_p2p_host(self.key, self.cfg.host, self.cfg.port) as host:
            host.host.set_stream_handler(NODE_PROTOCOL_ID, self._handle)
            self._p2p = host
            task_status.started()
            await trio.sleep_forever()

    async def _handle(self, stream: INetStream) -> None:
        await self._accept(_StreamBytes(stream, str(stream.muxed_conn.peer_id)))

    async def open_link(self, peer: str) -> trio.abc.Stream:
        assert self._p2p is not None  # dials start after the host is up
        entry = self.cfg.peers[peer]
        return await _open_stream(self._p2p, peer, entry.public, entry.host, entry.port, NODE_PROTOCOL_ID)


async def _reader(
    peer: str, stream: _StreamBytes, buf: FrameBuffer, opener: FrameOpener, inbox: Inbox,
    done: trio.Event,
) -> None:
    """File every frame from ``peer`` into its inbox; report EOF and bad frames there."""
    try:
        while not inbox.overflowed:
            frame = await read_frame(stream, buf)
            if frame is None:
                inbox.put(Item(GONE, -1, f"connection lost: {peer} closed the stream", None, -1))
                return
            kind, label, data = decode_body(opener.open(frame))
            inbox.put(Item(kind, opener.seq - 1, label, data, -1))
            if kind != DATA:
                return
    except (LinkError, FrameError) as e:
        inbox.put(Item(VIOLATION, -1, f"a rejected frame ({e})", None, -1))
    except (trio.BrokenResourceError, trio.ClosedResourceError) as e:
        inbox.put(Item(GONE, -1, f"connection lost: {e}", None, -1))
    finally:
        done.set()


@asynccontextmanager
async def p2p_session(
    protocol: ProtocolInfo,
    cfg: NetConfig,
    me: Peer | str,
    *,
    key: Identity | None = None,
    host: P2pHost | None = None,
    mdns: bool = False,
    middleware: Sequence[Middleware] = (),
    registry: Registry | None = None,
    capabilities: Mapping[str, Collection[str]] | None = None,
    journal: Journal | None = None,
) -> AsyncIterator[SessionEndpoint]:
    """Join the session described by ``cfg`` as member ``me`` over libp2p, as
    ``tcp_session`` does over TCP (same config, links, errors and clean close).

    Without ``host`` a libp2p host is run for this session on our configured address
    (``mdns``: find peers by mDNS); with one, the session uses that host and its
    connections, and ``mdns`` is the host's.
    """
    plan = plan_tcp_session(protocol, cfg, me, key if key is not None else
                            (host.key if host is not None else None))
    if host is not None and host.key.public != plan.key.public:
        raise ConfigError(f"the libp2p host runs another identity than {plan.me}'s")
    if registry is None:
        caps = capabilities or {n: m.capabilities for n, m in cfg.members.items()}
        jour = journal or (Journal(cfg.journal) if cfg.journal is not None else None)
        registry = standard_registry(caps, cfg.budget, jour)
    if host is None:
        async with open_p2p_host(plan.key, plan.host, plan.port, mdns=mdns) as own:
            async with _connected(plan.protocol, cfg, plan.info, plan.me, plan.key, own,
                                  middleware, registry) as ep:
                yield ep
    else:
        async with _connected(plan.protocol, cfg, plan.info, plan.me, plan.key, host,
                              middleware, registry) as ep:
            yield ep


@asynccontextmanager
async def _connected(
    protocol: ProtocolInfo, cfg: NetConfig, info: SessionInfo, me: Peer, key: Identity,
    host: P2pHost, middleware: Sequence[Middleware], registry: Registry,
) -> AsyncIterator[SessionEndpoint]:
    mesh = _P2pMesh(protocol, info, cfg, me, key, middleware)
    mesh.p2p = host
    route = (info.session_id, info.epoch, str(me))
    if route in host.routes:
        raise ConfigError(f"{me} already runs session {info.session_id} epoch {info.epoch} on this host")
    deadlines = Deadlines(cfg.timeout)
    wire = tuple(m for m in middleware if overrides(m, "on_wire"))
    async with trio.open_nursery() as nursery:
        nursery.start_soon(deadlines.run)
        host.routes[route] = mesh
        try:
            deadline = trio.current_time() + cfg.connect_timeout
            for peer in info.members[: mesh.index]:
                nursery.start_soon(mesh.dial, peer, deadline)
            if mesh.expected:
                with trio.move_on_at(deadline):
                    await mesh.all_linked.wait()
        finally:
            del host.routes[route]  # the mesh is complete (or given up): nobody else may join
        if len(mesh.links) < mesh.expected:
            absent = [str(p) for p in info.members if p != me and p not in mesh.links]
            for stream, _, _ in mesh.links.values():
                await trio.aclose_forcefully(stream)
            nursery.cancel_scope.cancel()
            why = "; ".join(f"{p}: {mesh.failures[p]}" for p in absent if p in mesh.failures)
            cause = next((mesh.refusals[p] for p in absent if p in mesh.refusals), None)
            raise PeerGone(
                ", ".join(absent), "connect",
                f"no link within {cfg.connect_timeout:g}s" + (f" (last attempt {why})" if why else ""),
            ) from cause
        links: dict[Peer, P2pLink] = {}
        inboxes: dict[Peer, Inbox] = {}
        finished: list[trio.Event] = []
        streams: list[_StreamBytes] = []
        for peer, (stream, buf, keys) in mesh.links.items():
            assert isinstance(stream, _StreamBytes)
            streams.append(stream)
            links[peer] = P2pLink(str(peer), stream, keys.sealer, nursery, wire)
            inboxes[peer] = Inbox(deadlines, cfg.inbox_limit)
            done = trio.Event()
            finished.append(done)
            nursery.start_soon(_reader, str(peer), stream, buf, keys.opener, inboxes[peer], done)
        ep = SessionEndpoint(info, me, dict(links), inboxes, registry=registry, middleware=middleware)
        try:
            yield ep
        finally:
            ep.abort("left the session without finishing the protocol")
            linger = cfg.linger if ep.closed else min(cfg.linger, UNFINISHED_LINGER_CAP)
            with trio.move_on_after(linger) as cs:
                cs.shield = True
                for ev in finished:
                    await ev.wait()
            for stream in streams:
                await stream.aclose()
            nursery.cancel_scope.cancel()


__all__ = ["NODE_PROTOCOL_ID", "PROTOCOL_ID", "P2pHost", "P2pLink", "P2pNode", "open_p2p_host", "p2p_session"]

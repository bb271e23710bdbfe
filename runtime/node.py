"""``minuet node``: one long-running process per member hosting many sessions at once.

    minuet node run --config node.json          serve until shut down (SIGINT/SIGTERM or control)
    minuet node start --config node.json --protocol P --session S [--epoch N]
                      --roles '{"Coordinator": "alice", "Signer[0]": "bob"}'
                      [--families '{"Signer": 2}'] [--params '{}'] [--args '{...}']
    minuet node status|shutdown --config node.json

Each pair of nodes shares ONE Noise_KK link (``runtime.securelink``; prologue protocol
``minuet-node``, both node names), and every session's frames travel on it tagged with the
session id, epoch and both roles (``runtime.node_wire``). A session is started by one node
(locally, through the control socket), which sends OPEN to the other nodes of its role map;
a node runs its role only if the protocol is in its allow-list (``protocols``), the opener is
in the role map and the node's session cap is not reached. Memory is bounded per session and
peer (each session's inbox per peer, ``session_inbox_limit``) and per peer (frames for a
session not open yet, ``peer_pending_limit``). A failing session is aborted on its own: its
peers get its ABORT, the link and the other sessions go on. Every session writes its own
trace (``trace_dir``/<session>.<epoch>.<node>.jsonl) and metrics, and its result to
``state_dir``/results/. Shutdown stops taking sessions, lets the running ones finish (at most
``grace`` seconds), then aborts the rest and closes the links.

Config (JSON)::

    {"name": "alice", "host": "127.0.0.1", "port": 7101, "key": "keys/alice.key",
     "control": "alice.sock", "state_dir": "alice", "trace_dir": "traces",
     "max_sessions": 16, "session_inbox_limit": 1048576, "peer_pending_limit": 1048576,
     "timeout": 30, "grace": 10,
     "peers": {"bob": {"host": "127.0.0.1", "port": 7102, "ed25519": "<base64>"}},
     "protocols": {"FrostSign": {"module": "generated.threshold.frost_sign",
                                  "roles": {"Coordinator": "examples.frost_node:coordinator",
                                            "Signer": "examples.frost_node:signer"},
                                  "capabilities": {"Coordinator": ["frost_coordinate"]}}}}
"""

from __future__ import annotations

import argparse
import importlib
import json
import signal
import sys
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final, final

import trio

from runtime.config import _get
from runtime.contract import Peer, ProtocolInfo
from runtime.endpoint import Link, SessionEndpoint
from runtime.errors import ConfigError, FrameError, LinkError, MinuetError
from runtime.extensions import standard_registry
from runtime.faults import FaultTarget
from runtime.framing import (
    ABORT,
    CLOSE,
    GONE,
    VIOLATION,
    FrameBuffer,
    Item,
    decode_body,
    encode_body,
    length_prefix,
)
from runtime.identity import Identity, decode_public, link_public_from_ed25519, read_key_file
from runtime.inbox import Deadlines, Inbox
from runtime.metrics import MetricsMiddleware
from runtime.middleware import Event
from runtime.node_wire import Open, SessionFrame, decode, encode_open, encode_session
from runtime.securelink import (
    FrameOpener,
    FrameSealer,
    Initiator,
    Responder,
    check_hello,
    parse_hello,
)
from runtime.session_core import SessionInfo, parse_peer
from runtime.tcp import HANDSHAKE_MAX, bind_listener, read_frame
from runtime.trace import TraceMiddleware

LINK_PROTOCOL: Final = "minuet-node"
LINK_SESSION: Final = "node-link"
CONTROL_MAX: Final = 1 << 16


# ---------------------------------------------------------------------------- config


@dataclass(frozen=True, slots=True)
class ProtocolEntry:
    module: str
    roles: dict[str, str]  # role (family name for families) -> "module:function"
    capabilities: dict[str, tuple[str, ...]] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class PeerEntry:
    host: str
    port: int
    public: bytes


@dataclass(frozen=True, slots=True)
class NodeConfig:
    name: str
    host: str
    port: int
    key: Path
    control: Path
    state_dir: Path
    trace_dir: Path
    peers: dict[str, PeerEntry]
    protocols: dict[str, ProtocolEntry]
    max_sessions: int = 16
    session_inbox_limit: int = 1 << 20
    peer_pending_limit: int = 1 << 20
    timeout: float = 30.0
    connect_timeout: float = 10.0
    grace: float = 10.0
    max_frame: int = 1 << 20
    max_handshakes: int = 32
    handshake_timeout: float = 5.0


def load_node_config(path: str | Path) -> NodeConfig:
    p = Path(path)
    try:
        obj = json.loads(p.read_text(encoding="utf-8"))
    except OSError as e:
        raise ConfigError(f"{p}: cannot read node config: {e.strerror}") from None
    except ValueError as e:
        raise ConfigError(f"{p}: not valid JSON: {e}") from None
    return parse_node_config(obj, p.parent, str(p))


def parse_node_config(obj: Any, base: Path, where: str) -> NodeConfig:
    if not isinstance(obj, dict):
        raise ConfigError(f"{where}: top level must be an object")
    name = _get(obj, "name", str, where)
    port = _get(obj, "port", int, where)
    key = _get(obj, "key", str, where)
    if not name or port is None or key is None:
        raise ConfigError(f"{where}: needs 'name', 'port' and 'key'")
    peers: dict[str, PeerEntry] = {}
    for pname, m in (_get(obj, "peers", dict, where, {}) or {}).items():
        w = f"{where}: peer {pname}"
        if not isinstance(m, dict):
            raise ConfigError(f"{w}: must be an object")
        pport, pub = _get(m, "port", int, w), _get(m, "ed25519", str, w)
        if pport is None or pub is None:
            raise ConfigError(f"{w}: needs 'port' and 'ed25519'")
        peers[pname] = PeerEntry(_get(m, "host", str, w, "127.0.0.1"), pport, decode_public(pub, w))
    if name in peers:
        raise ConfigError(f"{where}: the node {name!r} lists itself as a peer")
    protocols: dict[str, ProtocolEntry] = {}
    for proto, e in (_get(obj, "protocols", dict, where, {}) or {}).items():
        w = f"{where}: protocol {proto}"
        if not isinstance(e, dict):
            raise ConfigError(f"{w}: must be an object")
        module, roles = _get(e, "module", str, w), _get(e, "roles", dict, w)
        caps = _get(e, "capabilities", dict, w, {})
        if module is None or not roles or not all(isinstance(v, str) for v in roles.values()):
            raise ConfigError(f"{w}: needs 'module' and 'roles' (role -> module:function)")
        if not all(isinstance(v, list) and all(isinstance(c, str) for c in v) for v in caps.values()):
            raise ConfigError(f"{w}: capabilities map roles to lists of strings")
        protocols[proto] = ProtocolEntry(module, dict(roles), {r: tuple(v) for r, v in caps.items()})
    limits = {k: _get(obj, k, int, where) for k in (
        "max_sessions", "session_inbox_limit", "peer_pending_limit", "max_handshakes")}
    for k, v in limits.items():
        if v is not None and v < 1:
            raise ConfigError(f"{where}: {k!r} must be positive")
    return NodeConfig(
        name=name, host=_get(obj, "host", str, where, "127.0.0.1"), port=port, key=base / key,
        control=base / _get(obj, "control", str, where, f"{name}.sock"),
        state_dir=base / _get(obj, "state_dir", str, where, name),
        trace_dir=base / _get(obj, "trace_dir", str, where, "traces"),
        peers=peers, protocols=protocols,
        **{k: v for k, v in limits.items() if v is not None},
        timeout=float(_get(obj, "timeout", (int, float), where, 30.0)),
        connect_timeout=float(_get(obj, "connect_timeout", (int, float), where, 10.0)),
        grace=float(_get(obj, "grace", (int, float), where, 10.0)),
        handshake_timeout=float(_get(obj, "handshake_timeout", (int, float), where, 5.0)),
    )


# ---------------------------------------------------------------------------- sessions


@dataclass(frozen=True, slots=True)
class SessionContext:
    """What a role program gets besides its endpoint."""

    node: str
    role: str
    session: str
    epoch: int
    args: dict[str, Any]
    state_dir: Path


RoleProgram = Callable[[SessionEndpoint, SessionContext], Awaitable[object]]


@final
class _PeerLink:
    """The one authenticated link to a peer node, shared by every session."""

    def __init__(self, name: str, stream: trio.abc.Stream, buf: FrameBuffer, sealer: FrameSealer,
                 opener: FrameOpener) -> None:
        self.name, self.stream, self.buf = name, stream, buf
        self.sealer, self.opener = sealer, opener
        self.lock = trio.Lock()
        self.alive = True
        self.pending: list[SessionFrame] = []  # frames of sessions not open here yet
        self.pending_bytes = 0

    async def send(self, payload: bytes) -> None:
        async with self.lock:  # seal order must be wire order
            await self.stream.send_all(length_prefix(self.sealer.seal(payload)))


@final
class _SessionLink(Link, FaultTarget):
    """A session's view of a peer: its frames, tagged, on the shared node link."""

    __slots__ = ("_node", "_open", "_tag")

    def __init__(self, node: Node, peer_role: str, peer_node: str, tag: tuple[str, int, str]) -> None:
        super().__init__(peer_role)
        self._node, self._tag = node, (peer_node, *tag)
        self._open = True

    async def _send(self, kind: int, label: str, data: bytes) -> None:
        peer_node, session, epoch, me = self._tag
        await self._node.send_to(peer_node, encode_session(
            SessionFrame(session, epoch, me, self.peer_name, encode_body(kind, label, data))
        ))

    async def send(self, kind: int, label: str, data: object, ev: Event | None) -> None:
        if not self._open:
            raise trio.ClosedResourceError(f"link to {self.peer_name} is closed")
        if not isinstance(data, bytes):
            raise TypeError("node links carry encoded payloads only")
        await self._send(kind, label, data)

    async def close(self) -> None:
        if self._open:
            self._open = False
            try:
                await self._send(CLOSE, "", b"")
            except (trio.BrokenResourceError, trio.ClosedResourceError, OSError, LinkError):
                pass

    def abort_nowait(self, reason: str) -> None:
        if self._open:
            self._open = False
            self._node.spawn(self._abort(reason[:1000]))

    async def _abort(self, reason: str) -> None:
        try:
            await self._send(ABORT, reason, b"")
        except (trio.BrokenResourceError, trio.ClosedResourceError, OSError, LinkError):
            pass

    def crash(self) -> None:
        self._open = False

    def damage(self, wire: object, position: int) -> object:
        assert isinstance(wire, bytes)
        i = position % len(wire)
        return wire[:i] + bytes([wire[i] ^ 1]) + wire[i + 1 :]


@dataclass
class _Session:
    open: Open
    role: str
    inboxes: dict[str, Inbox]  # by peer role
    roles_of_node: dict[str, set[str]]  # peer node -> its roles here
    received: dict[str, int] = field(default_factory=dict)  # frames so far, by peer role
    done: trio.Event = field(default_factory=trio.Event)
    result: dict[str, Any] = field(default_factory=dict)


# ---------------------------------------------------------------------------- the node


class Node:
    """A node on the TCP transport (``runtime.p2p.P2pNode`` runs it over libp2p)."""

    def __init__(self, cfg: NodeConfig, key: Identity | None = None) -> None:
        self.cfg = cfg
        self.key = key or read_key_file(cfg.key)
        self.links: dict[str, _PeerLink] = {}
        self.linked: dict[str, trio.Event] = {p: trio.Event() for p in cfg.peers}
        self.sessions: dict[tuple[str, int], _Session] = {}
        self.finished: dict[str, dict[str, Any]] = {}
        self.closing = False
        self.events: list[str] = []  # refusals and dropped frames, for status and tests
        self._nursery: trio.Nursery | None = None
        self._sessions_nursery: trio.Nursery | None = None
        self.deadlines = Deadlines(cfg.timeout)
        self.shutdown_requested = trio.Event()
        self.stopped = trio.Event()
        self.half_open = 0

    # ---- plumbing

    def spawn(self, coro: Awaitable[None]) -> None:
        assert self._nursery is not None

        async def run() -> None:
            await coro

        self._nursery.start_soon(run)

    def note(self, text: str) -> None:
        self.events.append(text[:500])
        del self.events[:-200]  # bounded

    async def send_to(self, peer: str, payload: bytes) -> None:
        link = self.links.get(peer)
        if link is None or not link.alive:
            raise trio.ClosedResourceError(f"no link to node {peer}")
        await link.send(payload)

    # ---- links

    def _link_public(self, peer: str) -> bytes:
        return link_public_from_ed25519(self.cfg.peers[peer].public)

    async def open_link(self, peer: str) -> trio.abc.Stream:
        """A fresh byte stream to ``peer`` for the link handshake."""
        entry = self.cfg.peers[peer]
        return await trio.open_tcp_stream(entry.host, entry.port)

    def listener(self) -> Callable[[trio.Nursery], Awaitable[None]]:
        """Bind our address (a ``ConfigError`` naming it if that fails) and return what
        starts accepting links from peers (``_accept``) in a nursery."""
        listener = trio.SocketListener(trio.socket.from_stdlib_socket(
            bind_listener(self.cfg.host, self.cfg.port, who=self.cfg.name)))

        async def accept(nursery: trio.Nursery) -> None:
            nursery.start_soon(_serve_each, listener, self._accept)

        return accept

    async def _dial(self, peer: str) -> None:
        attempt = 0
        while not self.closing:
            try:
                stream = await self.open_link(peer)
            except (OSError, LinkError) as e:
                if isinstance(e, LinkError):  # reached something that is not that node
                    self.note(f"link to {peer}: {type(e).__name__}: {e}")
                await trio.sleep(min(1.0, 0.05 * 2**attempt))
                attempt += 1
                continue
            try:
                with trio.fail_after(self.cfg.connect_timeout):
                    hs = Initiator(LINK_PROTOCOL, LINK_SESSION, 0, self.cfg.name, self.key, peer,
                                   self._link_public(peer))
                    buf = FrameBuffer(HANDSHAKE_MAX)
                    await stream.send_all(length_prefix(hs.hello()))
                    msg2 = await read_frame(stream, buf)
                    if msg2 is None:
                        raise LinkError(f"node {peer} closed during the handshake")
                    msg3, keys = hs.finish(msg2)
                    await stream.send_all(length_prefix(msg3))
            except (LinkError, FrameError, trio.TooSlowError, trio.BrokenResourceError, OSError) as e:
                self.note(f"link to {peer}: {type(e).__name__}: {e}")
                await trio.aclose_forcefully(stream)
                await trio.sleep(min(1.0, 0.05 * 2**attempt))
                attempt += 1
                continue
            buf.max_size = self.cfg.max_frame
            await self._serve_link(_PeerLink(peer, stream, buf, keys.sealer, keys.opener))
            attempt = 0

    async def _accept(self, stream: trio.abc.Stream) -> None:
        """The responder side; as in ``tcp_session``, unauthenticated input at worst closes
        this connection (and is noted): cheap checks before key agreement, half-open
        handshakes capped in number and time."""
        if self.half_open >= self.cfg.max_handshakes:
            self.note(f"refused a connection: more than {self.cfg.max_handshakes} handshakes at once")
            await trio.aclose_forcefully(stream)
            return
        self.half_open += 1
        claimed = "?"
        try:
            with trio.fail_after(self.cfg.handshake_timeout):
                buf = FrameBuffer(HANDSHAKE_MAX)
                msg1 = await read_frame(stream, buf)
                if msg1 is None:
                    raise LinkError("closed before the handshake")
                hello = parse_hello(msg1)
                claimed = hello.initiator
                check_hello(hello, LINK_SESSION, 0, self.cfg.name)
                if hello.initiator not in self.cfg.peers or hello.initiator <= self.cfg.name:
                    raise LinkError(f"{hello.initiator!r} is not a node that dials {self.cfg.name}")
                if hello.initiator in self.links:
                    raise LinkError(f"{hello.initiator} is already linked")
                hs = Responder(LINK_PROTOCOL, LINK_SESSION, 0, self.cfg.name, self.key, hello,
                               self._link_public(hello.initiator))
                await stream.send_all(length_prefix(hs.reply()))
                msg3 = await read_frame(stream, buf)
                if msg3 is None:
                    raise LinkError(f"{hello.initiator} closed during the handshake")
                keys = hs.finish(msg3)
        except trio.TooSlowError:
            self.note(f"refused {claimed}: no handshake within {self.cfg.handshake_timeout:g}s")
            await trio.aclose_forcefully(stream)
            return
        except (MinuetError, trio.BrokenResourceError, OSError) as e:
            self.note(f"refused {claimed}: {type(e).__name__}: {e}")
            await trio.aclose_forcefully(stream)
            return
        finally:
            self.half_open -= 1
        buf.max_size = self.cfg.max_frame
        await self._serve_link(_PeerLink(hello.initiator, stream, buf, keys.sealer, keys.opener))

    async def _serve_link(self, link: _PeerLink) -> None:
        """Read the link until it ends; every frame goes to its session."""
        self.links[link.name] = link
        self.linked[link.name].set()
        try:
            while True:
                frame = await read_frame(link.stream, link.buf)
                if frame is None:
                    break
                self._dispatch(link, decode(link.opener.open(frame)))
        except (LinkError, FrameError, MinuetError) as e:
            self.note(f"link to {link.name} ended: {type(e).__name__}: {e}")
        except (trio.BrokenResourceError, trio.ClosedResourceError, OSError) as e:
            self.note(f"link to {link.name} lost: {e!r}")
        finally:
            link.alive = False
            self.links.pop(link.name, None)
            self.linked[link.name] = trio.Event()
            await trio.aclose_forcefully(link.stream)
            for s in self.sessions.values():  # sessions with roles there lose them
                for role in s.roles_of_node.get(link.name, ()):
                    s.inboxes[role].put(Item(GONE, -1, f"connection lost: node {link.name}", None, -1))

    def _dispatch(self, link: _PeerLink, msg: Open | SessionFrame) -> None:
        if isinstance(msg, Open):
            self._on_open(link.name, msg)
            return
        s = self.sessions.get((msg.session, msg.epoch))
        if s is None:
            if (msg.session, msg.epoch) in self._finished_keys:
                return  # a late frame (a CLOSE or ABORT) of a session that ended here
            cost = len(msg.body) + 64
            if link.pending_bytes + cost > self.cfg.peer_pending_limit:
                self.note(f"node {link.name}: dropped a frame of unknown session {msg.session!r}")
                return
            link.pending.append(msg)
            link.pending_bytes += cost
            return
        self._deliver(link.name, s, msg)

    def _deliver(self, peer_node: str, s: _Session, msg: SessionFrame) -> None:
        if msg.sender not in s.roles_of_node.get(peer_node, ()) or msg.receiver != s.role:
            # Named and dropped: the session it aimed at is not disturbed.
            self.note(f"node {peer_node}: dropped a frame from {msg.sender} to {msg.receiver} in "
                      f"session {msg.session!r}: roles it does not play there")
            return
        seq = s.received.get(msg.sender, 0)
        s.received[msg.sender] = seq + 1
        try:
            kind, label, data = decode_body(msg.body)
        except FrameError as e:
            s.inboxes[msg.sender].put(Item(VIOLATION, -1, f"a malformed frame ({e})", None, -1))
            return
        s.inboxes[msg.sender].put(Item(kind, seq, label, data, -1))

    @property
    def _finished_keys(self) -> set[tuple[str, int]]:
        return {(r["session"], r["epoch"]) for r in self.finished.values()}

    # ---- sessions

    def _on_open(self, opener: str, o: Open) -> None:
        why = self._refuse(o, opener)
        if why is not None:
            self.note(f"refused session {o.session!r} from {opener}: {why}")
            return
        self._start(o)

    def _refuse(self, o: Open, opener: str | None) -> str | None:
        if self.closing:
            return "the node is shutting down"
        if o.protocol not in self.cfg.protocols:
            return f"protocol {o.protocol} is not allowed on this node"
        if opener is not None and opener not in o.roles.values():
            return f"{opener} plays no role in it"
        mine = [r for r, n in o.roles.items() if n == self.cfg.name]
        if len(mine) != 1:
            return f"this node must play exactly one role, not {len(mine)}"
        if (o.session, o.epoch) in self.sessions or (o.session, o.epoch) in self._finished_keys:
            return "a session with that id and epoch exists already"
        if len(self.sessions) >= self.cfg.max_sessions:
            return f"at most {self.cfg.max_sessions} sessions at once"
        unknown = [n for n in o.roles.values() if n != self.cfg.name and n not in self.cfg.peers]
        if unknown:
            return f"unknown nodes {unknown}"
        return None

    def _start(self, o: Open) -> _Session:
        role = next(r for r, n in o.roles.items() if n == self.cfg.name)
        s = _Session(o, role, {}, {})
        for r, n in o.roles.items():
            if r != role:
                s.inboxes[r] = Inbox(self.deadlines, self.cfg.session_inbox_limit)
                s.roles_of_node.setdefault(n, set()).add(r)
        self.sessions[(o.session, o.epoch)] = s
        for n in s.roles_of_node:  # frames that came before the OPEN
            link = self.links.get(n)
            if link is not None:
                keep = [m for m in link.pending if (m.session, m.epoch) != (o.session, o.epoch)]
                for m in link.pending:
                    if (m.session, m.epoch) == (o.session, o.epoch):
                        self._deliver(n, s, m)
                link.pending_bytes = sum(len(m.body) + 64 for m in keep)
                link.pending = keep
        assert self._sessions_nursery is not None
        self._sessions_nursery.start_soon(self._run_session, s)
        return s

    async def _run_session(self, s: _Session) -> None:
        o = s.open
        key = f"{o.session}.{o.epoch}"
        trace = TraceMiddleware(self.cfg.trace_dir / f"{key}.{self.cfg.name}.jsonl")
        metrics = MetricsMiddleware()
        s.result = {"session": o.session, "epoch": o.epoch, "protocol": o.protocol, "role": s.role}
        try:
            entry = self.cfg.protocols[o.protocol]
            protocol = _protocol(entry.module, o.protocol)
            info = SessionInfo.build(protocol, o.params, o.families, o.session, o.epoch, self.cfg.timeout)
            me = parse_peer(s.role)
            program = _program(entry, me)
            for r in s.inboxes:
                if parse_peer(r) not in info.members:
                    raise ConfigError(f"{r} is not a member of {o.protocol}")
            if len(s.inboxes) + 1 != len(info.members):
                raise ConfigError(f"the role map has {len(s.inboxes) + 1} roles, {o.protocol} needs {len(info.members)}")
            links: dict[Peer, Link] = {}
            inboxes: dict[Peer, Inbox] = {}
            for r, inbox in s.inboxes.items():
                node = o.roles[r]
                links[parse_peer(r)] = _SessionLink(self, r, node, (o.session, o.epoch, s.role))
                inboxes[parse_peer(r)] = inbox
            caps = {r: set(c) for r, c in entry.capabilities.items()}
            ep = SessionEndpoint(info, me, links, inboxes, registry=standard_registry(caps),
                                 middleware=[trace, metrics])
            ctx = SessionContext(self.cfg.name, s.role, o.session, o.epoch, dict(o.args), self.cfg.state_dir)
            try:
                value = await program(ep, ctx)
            except Exception as e:  # the peers learn why (the first abort reason wins)
                ep.abort(f"{type(e).__name__}: {e}")
                raise
            finally:
                ep.abort("the role program ended without finishing the protocol")
            s.result.update(ok=True, value=_jsonable(value))
        except (MinuetError, ValueError, TypeError, KeyError, ImportError, OSError) as e:
            s.result.update(ok=False, error=f"{type(e).__name__}: {e}")
        finally:
            trace.close()
            s.result["metrics"] = metrics.snapshot()
            self.sessions.pop((o.session, o.epoch), None)
            self.finished[key] = s.result
            while len(self.finished) > 1000:  # bounded: the oldest results go
                del self.finished[next(iter(self.finished))]
            results = self.cfg.state_dir / "results"
            results.mkdir(parents=True, exist_ok=True)
            (results / f"{key}.json").write_text(json.dumps(s.result, indent=1), encoding="utf-8")
            s.done.set()

    async def start_session(self, o: Open) -> dict[str, Any]:
        """Start a session here and at every other node of its role map; its result here."""
        why = self._refuse(o, None)
        if why is not None:
            return {"ok": False, "error": f"refused: {why}"}
        others = sorted({n for n in o.roles.values() if n != self.cfg.name})
        with trio.move_on_after(self.cfg.connect_timeout):
            for n in others:
                await self.linked[n].wait()
        missing = [n for n in others if n not in self.links]
        if missing:
            return {"ok": False, "error": f"no link to nodes {missing}"}
        s = self._start(o)
        payload = encode_open(o)
        for n in others:
            try:
                await self.send_to(n, payload)
            except (trio.BrokenResourceError, trio.ClosedResourceError, OSError):
                pass  # that role's inbox gets GONE; the session fails on its own
        await s.done.wait()
        return s.result

    # ---- control

    async def _control(self, stream: trio.SocketStream) -> None:
        async with stream:
            buf = b""
            while b"\n" not in buf:
                chunk = await stream.receive_some(4096)
                if not chunk:
                    return
                buf += chunk
                if len(buf) > CONTROL_MAX:
                    return
            try:
                req = json.loads(buf.split(b"\n", 1)[0])
                reply = await self._request(req)
            except (ValueError, ConfigError) as e:
                reply = {"ok": False, "error": f"bad request: {e}"}
            await stream.send_all(json.dumps(reply).encode() + b"\n")

    async def _request(self, req: Any) -> dict[str, Any]:
        if not isinstance(req, dict):
            raise ValueError("a request is a JSON object")
        op = req.get("op")
        if op == "start":
            return await self.start_session(Open.from_json(req))
        if op == "status":
            return {"ok": True, "node": self.cfg.name, "links": sorted(self.links),
                    "running": sorted(f"{s}.{e}" for s, e in self.sessions),
                    "finished": self.finished, "events": self.events}
        if op == "shutdown":
            self.shutdown_requested.set()
            return {"ok": True}
        raise ValueError(f"unknown op {op!r}")

    # ---- lifetime

    async def serve(self, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        self.cfg.state_dir.mkdir(parents=True, exist_ok=True)
        self.cfg.trace_dir.mkdir(parents=True, exist_ok=True)
        accept = self.listener()
        self.cfg.control.unlink(missing_ok=True)
        control = _unix_listener(self.cfg.control)
        async with trio.open_nursery() as nursery:
            self._nursery = nursery
            nursery.start_soon(self.deadlines.run)
            await accept(nursery)
            nursery.start_soon(_serve_each, control, self._control)
            for peer in self.cfg.peers:
                if peer < self.cfg.name:
                    nursery.start_soon(self._dial, peer)
            async with trio.open_nursery() as sessions:
                self._sessions_nursery = sessions
                task_status.started()
                await self.shutdown_requested.wait()
                # Graceful: no new sessions; running ones get ``grace`` seconds.
                self.closing = True
                with trio.move_on_after(self.cfg.grace):
                    while self.sessions:
                        await next(iter(self.sessions.values())).done.wait()
                sessions.cancel_scope.cancel()
            for link in list(self.links.values()):
                await trio.aclose_forcefully(link.stream)
            nursery.cancel_scope.cancel()
        self.cfg.control.unlink(missing_ok=True)
        self.stopped.set()


def _unix_listener(path: Path) -> trio.SocketListener:
    import socket as pysocket

    sock = pysocket.socket(pysocket.AF_UNIX, pysocket.SOCK_STREAM)
    tmp = path.with_name(path.name + ".new")
    tmp.unlink(missing_ok=True)
    sock.bind(str(tmp))
    tmp.chmod(0o600)  # the control socket starts sessions: owner only
    sock.listen(16)
    tmp.rename(path)  # appears only once it accepts connections
    return trio.SocketListener(trio.socket.from_stdlib_socket(sock))


async def _serve_each(listener: trio.SocketListener, handler: Callable[[trio.SocketStream], Awaitable[None]]) -> None:
    async with trio.open_nursery() as handlers:
        while True:
            try:
                stream = await listener.accept()
            except OSError:
                await trio.sleep(0.05)
                continue
            handlers.start_soon(handler, stream)


def _protocol(module: str, name: str) -> ProtocolInfo:
    proto = getattr(importlib.import_module(module), "PROTOCOL", None)
    if not isinstance(proto, ProtocolInfo) or proto.name != name:
        raise ConfigError(f"{module} does not define PROTOCOL {name}")
    return proto


def _program(entry: ProtocolEntry, me: Peer) -> RoleProgram:
    spec = entry.roles.get(me.role)
    if spec is None:
        raise ConfigError(f"this node has no program for role {me.role}")
    mod, _, attr = spec.partition(":")
    fn = getattr(importlib.import_module(mod), attr, None)
    if not callable(fn):
        raise ConfigError(f"{spec}: no such function")
    return fn  # type: ignore[no-any-return]


def _jsonable(value: object) -> object:
    if isinstance(value, bytes):
        return value.hex()
    try:
        json.dumps(value)
    except (TypeError, ValueError):
        return repr(value)
    return value


# ---------------------------------------------------------------------------- CLI


async def request(control: Path, req: dict[str, Any]) -> dict[str, Any]:
    stream = await trio.open_unix_socket(str(control))
    async with stream:
        await stream.send_all(json.dumps(req).encode() + b"\n")
        buf = b""
        while not buf.endswith(b"\n"):
            chunk = await stream.receive_some(65536)
            if not chunk:
                break
            buf += chunk
    reply = json.loads(buf)
    if not isinstance(reply, dict):
        raise ValueError("the node's reply is not an object")
    return reply


async def _run(cfg: NodeConfig, transport: str) -> None:
    if transport == "p2p":
        try:  # only here: the base runtime never imports libp2p
            from runtime.p2p import P2pNode
        except ImportError as e:
            raise ConfigError(f"--transport p2p needs the p2p extra (pip install 'minuet[p2p]'): {e}") from None
        node: Node = P2pNode(cfg)
    else:
        node = Node(cfg)
    async with trio.open_nursery() as nursery:
        await nursery.start(node.serve)
        print(json.dumps({"node": cfg.name, "listening": f"{cfg.host}:{cfg.port}"}), flush=True)

        async def signals() -> None:
            with trio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as sigs:
                async for _ in sigs:
                    node.shutdown_requested.set()
                    return

        nursery.start_soon(signals)
        await node.stopped.wait()
        nursery.cancel_scope.cancel()
    print(json.dumps({"node": cfg.name, "stopped": True, "sessions": len(node.finished)}), flush=True)


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(prog="minuet node", description="a node hosting many sessions")
    ap.add_argument("cmd", choices=("run", "start", "status", "shutdown"))
    ap.add_argument("--config", required=True)
    ap.add_argument("--protocol")
    ap.add_argument("--session")
    ap.add_argument("--epoch", type=int, default=0)
    ap.add_argument("--roles", default="{}", help="JSON: role -> node")
    ap.add_argument("--params", default="{}")
    ap.add_argument("--families", default="{}")
    ap.add_argument("--args", default="{}", help="JSON object passed to every role program")
    ap.add_argument("--transport", choices=("tcp", "p2p"), default="tcp", help="run: links over libp2p")
    a = ap.parse_args(argv)
    try:
        cfg = load_node_config(a.config)
        if a.cmd == "run":
            trio.run(_run, cfg, a.transport)
            return 0
        req: dict[str, Any] = {"op": a.cmd}
        if a.cmd == "start":
            req.update(protocol=a.protocol, session=a.session, epoch=a.epoch, roles=json.loads(a.roles),
                       params=json.loads(a.params), families=json.loads(a.families), args=json.loads(a.args))
        reply = trio.run(request, cfg.control, req)
        print(json.dumps(reply))
        return 0 if reply.get("ok") else 1
    except (ConfigError, ValueError, OSError) as e:
        print(f"minuet node: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

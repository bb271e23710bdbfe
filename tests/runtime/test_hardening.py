"""Hardening of link set-up and queues: nothing an unauthenticated peer sends can fail a
session (it only closes that connection and leaves a trace event), listeners are bound
before their port is published, refused dials are retried, half-open handshakes are capped
in number and time, and a member flooding a peer that is not reading is named."""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Any

import pytest
import trio
import trio.testing
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from runtime.codec import Writer
from runtime.config import NetConfig, load_config, parse_config
from runtime.contract import Peer
from runtime.endpoint import SessionEndpoint
from runtime.errors import ConfigError, RemoteViolation
from runtime.framing import length_prefix
from runtime.identity import Identity
from runtime.keytool import bound_local_network
from runtime.memory import memory_session
from runtime.middleware import Event, Forward, Middleware, WireLink
from runtime.securelink import VERSION, Initiator, is_low_order
from runtime.session_core import SessionInfo, parse_peer
from runtime.tcp import _Mesh, bind_listener, tcp_session
from runtime.trace import TraceMiddleware
from tests.runtime.harness import Runner
from tests.runtime.roles import ping_pong as pp
from tests.runtime.roles import two_buyer as tb

KEYS = {name: Identity.generate() for name in ("Buyer1", "Buyer2", "Seller")}
WANT = {"Buyer1": 100, "Buyer2": "2024-06-01", "Seller": "sold TAPL"}
MAINS = {"Buyer1": tb.buyer1_main, "Buyer2": tb.buyer2_main, "Seller": tb.seller_main}


def test_member_index_must_be_ascii_digits() -> None:
    for bad in ["Seller[²]", "Seller[١]", "Seller[]", "Seller[-1]", "Seller[1 ]"]:
        with pytest.raises(ConfigError, match="index must be a number"):
            parse_peer(bad)
    assert parse_peer("Seller[12]") == Peer("Seller", 12)


def _cfg(**extra: Any) -> NetConfig:
    return parse_config({
        "session": "s", **extra,
        "members": {n: {"port": 1000 + i, "ed25519": k.public_b64} for i, (n, k) in enumerate(KEYS.items())},
    })


def _hello(initiator: str, responder: str, session: str, epoch: int, eph: bytes) -> bytes:
    w = Writer()
    w.uvarint(VERSION)
    for text in (initiator, responder, session):
        w.text(text)
    w.uvarint(epoch)
    w.fixed(eph, 32)  # Noise message 1: the ephemeral key, then the empty payload's tag
    w.fixed(bytes(16), 16)
    return w.getvalue()


_NAMES = st.sampled_from(["Buyer1", "Buyer2", "Seller", "Seller[²]", "Seller[0]", "Buyer2[1]", "",
                          "Mallory", "Seller[99999999999999999999]", "Seller[", "]"]) | st.text(max_size=12)
_EPH = st.binary(min_size=32, max_size=32) | st.sampled_from([bytes(32), b"\x01" + bytes(31), b"\xff" * 32])
_HELLOS = st.builds(_hello, _NAMES, _NAMES, st.sampled_from(["s", "t", ""]), st.integers(0, 2**70), _EPH)
_CHUNKS = st.one_of(
    _HELLOS.map(length_prefix),
    _HELLOS.map(lambda h: length_prefix(h)[: len(h) // 2]),  # truncated
    st.binary(max_size=80),  # random bytes
    st.integers(0, 2**32 - 1).map(lambda n: n.to_bytes(4, "big")),  # a bare length, maybe oversize
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(_CHUNKS, min_size=0, max_size=3))
async def test_accept_path_survives_any_unauthenticated_input(chunks: list[bytes]) -> None:
    """The responder's whole accept path on hostile input: it returns (closing the
    connection) and never raises; nobody gets linked; the rejection is a trace event."""
    trace = TraceMiddleware(keep=True)
    cfg = _cfg(handshake_timeout=0.2)
    info = SessionInfo.build(tb.PROTOCOL, session_id="s")
    mesh = _Mesh(tb.PROTOCOL, info, cfg, Peer("Buyer1"), KEYS["Buyer1"], [trace])
    client, server = trio.testing.memory_stream_pair()
    for c in chunks:
        await client.send_all(c)
    await client.send_eof()
    with trio.fail_after(5):
        await mesh.accept(server)
    assert mesh.links == {}
    assert mesh.half_open == 0
    assert [e["label"] for e in trace.events] == ["handshake"]
    assert trace.events[0]["direction"] == "error" and trace.events[0]["error"]


async def test_cheap_hello_checks_come_before_key_agreement() -> None:
    # A hello for another responder, session or epoch, or with a small-order ephemeral key,
    # is refused before any Diffie-Hellman: no reply is ever written.
    cfg = _cfg()
    info = SessionInfo.build(tb.PROTOCOL, session_id="s")
    eph = Identity.generate().link_public
    for hello, why in [
        (_hello("Seller", "Buyer2", "s", 0, eph), "addressed to 'Buyer2'"),
        (_hello("Seller", "Buyer1", "t", 0, eph), "session 't'"),
        (_hello("Seller", "Buyer1", "s", 1, eph), "epoch 1"),
        (_hello("Seller", "Buyer1", "s", 0, bytes(32)), "small order"),
        (_hello("Seller[²]", "Buyer1", "s", 0, eph), "index must be a number"),
    ]:
        trace = TraceMiddleware(keep=True)
        mesh = _Mesh(tb.PROTOCOL, info, cfg, Peer("Buyer1"), KEYS["Buyer1"], [trace])
        client, server = trio.testing.memory_stream_pair()
        await client.send_all(length_prefix(hello))
        with trio.fail_after(5):
            await mesh.accept(server)
        assert await client.receive_some() == b""  # closed without a reply
        assert why in trace.events[0]["error"]
    assert is_low_order((2**255 - 19 + 1).to_bytes(32, "little"))


async def test_unicode_hello_does_not_fail_the_session(tmp_path: Path) -> None:
    """The defect: a hello naming ``Seller[²]`` crashed the responder's whole session."""
    path, sockets = bound_local_network(tmp_path, list(MAINS), session="uni", timeout=10)
    cfg = load_config(path)
    trace = TraceMiddleware(keep=True)
    results: dict[str, object] = {}

    async def attacker() -> None:
        m = cfg.members["Buyer1"]
        stream = await trio.open_tcp_stream(m.host, m.port)
        await stream.send_all(length_prefix(_hello("Seller[²]", "Buyer1", "uni", 0, Identity.generate().link_public)))
        assert await stream.receive_some() == b""
        await stream.aclose()

    async def role(name: str, delay: float) -> None:
        await trio.sleep(delay)
        mw = [trace] if name == "Buyer1" else []
        async with tcp_session(tb.PROTOCOL, cfg, name, listener=sockets[name], middleware=mw) as ep:
            results[name] = await MAINS[name](ep)

    with trio.fail_after(20):
        async with trio.open_nursery() as n:
            n.start_soon(role, "Buyer1", 0)
            n.start_soon(attacker)
            n.start_soon(role, "Buyer2", 0.2)
            n.start_soon(role, "Seller", 0.2)
    assert results == WANT
    assert any("Seller[²]" in e["peer"] and e["label"] == "handshake" for e in trace.events)


async def test_bind_failure_is_a_config_error_naming_member_and_address(tmp_path: Path) -> None:
    path, sockets = bound_local_network(tmp_path, list(MAINS), session="busy")
    cfg = load_config(path)
    port = cfg.members["Seller"].port
    try:  # Seller's port is held by someone else: binding it again fails
        with pytest.raises(ConfigError, match=rf"Seller: cannot listen on 127\.0\.0\.1:{port}"):
            async with tcp_session(tb.PROTOCOL, cfg, "Seller"):
                pass
        with pytest.raises(ConfigError, match="bound to port"):
            async with tcp_session(tb.PROTOCOL, cfg, "Buyer1", listener=sockets.pop("Buyer2")):
                pass
    finally:
        for s in sockets.values():
            s.close()
    with pytest.raises(ConfigError, match=r"Mallory: cannot listen on 256\.1\.1\.1:1"):
        bind_listener("256.1.1.1", 1, who="Mallory")


async def test_dial_reaching_a_stranger_is_retried(tmp_path: Path) -> None:
    """Buyer1's port is first answered by a stranger who hangs up on every hello (as a
    member that got the same port did); the dials are retried and the session links up."""
    path, sockets = bound_local_network(tmp_path, list(MAINS), session="retry", timeout=10)
    cfg = load_config(path)
    stranger = trio.SocketListener(trio.socket.from_stdlib_socket(sockets.pop("Buyer1")))
    trace = TraceMiddleware(keep=True)
    results: dict[str, object] = {}

    async def hang_up(until: trio.Event) -> None:
        with trio.move_on_after(0.6):
            while True:
                (await stranger.accept()).socket.close()
        await stranger.aclose()
        until.set()

    async def role(name: str, after: trio.Event | None) -> None:
        if after is not None:
            await after.wait()
        mw = [trace] if name == "Buyer2" else []
        async with tcp_session(
            tb.PROTOCOL, cfg, name, listener=sockets.get(name), middleware=mw
        ) as ep:
            results[name] = await MAINS[name](ep)

    with trio.fail_after(20):
        async with trio.open_nursery() as n:
            gone = trio.Event()
            n.start_soon(hang_up, gone)
            n.start_soon(role, "Buyer1", gone)  # binds the port the stranger let go
            n.start_soon(role, "Buyer2", None)
            n.start_soon(role, "Seller", None)
    assert results == WANT
    assert any(e["peer"] == "Buyer1" and e["label"] == "handshake" for e in trace.events)


async def test_half_open_handshakes_are_capped_in_number_and_time(tmp_path: Path) -> None:
    path, sockets = bound_local_network(
        tmp_path, list(MAINS), session="slow", timeout=10, connect_timeout=15,
        handshake_timeout=0.5, max_handshakes=2,
    )
    cfg = load_config(path)
    trace = TraceMiddleware(keep=True)
    results: dict[str, object] = {}
    idle: list[trio.SocketStream] = []

    async def slowloris() -> None:
        m = cfg.members["Buyer1"]
        for _ in range(6):  # connect and say nothing
            idle.append(await trio.open_tcp_stream(m.host, m.port))

    async def role(name: str, delay: float) -> None:
        await trio.sleep(delay)
        mw = [trace] if name == "Buyer1" else []
        async with tcp_session(tb.PROTOCOL, cfg, name, listener=sockets[name], middleware=mw) as ep:
            results[name] = await MAINS[name](ep)

    with trio.fail_after(30):
        async with trio.open_nursery() as n:
            n.start_soon(role, "Buyer1", 0)
            n.start_soon(slowloris)
            n.start_soon(role, "Buyer2", 0.2)
            n.start_soon(role, "Seller", 0.2)
    for s in idle:
        await s.aclose()
    assert results == WANT
    errors = [e["error"] for e in trace.events if e["label"] == "handshake"]
    assert any("handshakes at once" in e for e in errors)
    assert any("no handshake within 0.5s" in e for e in errors)


def _flooder(frames: int, size: int) -> Any:
    async def flood(ep: SessionEndpoint) -> str:
        # Buyer2 waits for Seller's quote and reads nothing from Buyer1 meanwhile.
        for _ in range(frames):
            await ep.send(Peer("Buyer2"), "Title", b"x" * size, bytes, tb.STEP_SELLER_OFFER)
        return "flooded"

    return flood


async def test_flooding_member_is_named_and_memory_bounded(run_roles: Runner) -> None:
    with trio.fail_after(30):
        res = await run_roles(tb.PROTOCOL, {
            "Buyer1": _flooder(200, 64 << 10), "Buyer2": tb.buyer2_main, "Seller": tb.seller_main,
        }, timeout=3, inbox_limit=1 << 20)
    err = res["Buyer2"].error
    assert isinstance(err, RemoteViolation), err
    assert err.peer == "Buyer1" and "flooding" in err.got
    assert "at most 1048576 bytes" in err.expected


async def test_inbox_limit_config_is_checked() -> None:
    with pytest.raises(ConfigError, match="inbox_limit"):
        _cfg(inbox_limit=1000)
    with pytest.raises(ConfigError, match="max_handshakes"):
        _cfg(max_handshakes=0)
    with pytest.raises(ConfigError, match="handshake_timeout"):
        _cfg(handshake_timeout=0)
    assert _cfg().inbox_limit == 4 << 20


def test_bound_local_network_ports_are_distinct_and_held(tmp_path: Path) -> None:
    path, sockets = bound_local_network(tmp_path, [f"M[{i}]" for i in range(20)])
    try:
        ports = [m.port for m in load_config(path).members.values()]
        assert len(set(ports)) == 20
        for p in ports:  # held: nobody else can bind them
            with socket.socket() as s, pytest.raises(OSError):
                s.bind(("127.0.0.1", p))
    finally:
        for s in sockets.values():
            s.close()


def test_initiator_still_speaks_the_format_the_fuzzer_builds() -> None:
    eph_hello = Initiator("P", "s", 0, "Seller", KEYS["Seller"], "Buyer1", KEYS["Buyer1"].link_public).hello()
    assert eph_hello[:-48] == _hello("Seller", "Buyer1", "s", 0, bytes(32))[:-48]
    assert len(eph_hello) == len(_hello("Seller", "Buyer1", "s", 0, bytes(32)))


class _Recorder(Middleware):
    """Keeps every frame it sees; with ``replay``, sends those instead of the new ones."""

    def __init__(self, replay: list[object] | None = None) -> None:
        self.frames: list[object] = []
        self.replay = replay

    async def on_wire(self, link: WireLink, ev: Event, wire: object, forward: Forward) -> None:
        self.frames.append(wire)
        if self.replay is not None and len(self.frames) <= len(self.replay):
            wire = self.replay[len(self.frames) - 1]
        await forward(wire)


@pytest.mark.parametrize("session_id, epoch", [("other", 0), ("first", 1)])
async def test_memory_frame_from_an_earlier_session_or_epoch_is_rejected(session_id: str, epoch: int) -> None:
    first = _Recorder()
    with trio.fail_after(10):
        async with memory_session(pp.PROTOCOL, middleware=[first], session_id="first", timeout=2) as net:
            res = await net.run({"Client": pp.client, "Server": pp.server})
        assert res["Server"].unwrap() == 10
        replayer = _Recorder(replay=first.frames)
        async with memory_session(
            pp.PROTOCOL, middleware=[replayer], session_id=session_id, epoch=epoch, timeout=2
        ) as net:
            res = await net.run({"Client": pp.client, "Server": pp.server})
    err = res["Server"].error
    assert isinstance(err, RemoteViolation) and err.peer == "Client"
    assert "a frame of session 'first' epoch 0 from Client to Server" in err.got

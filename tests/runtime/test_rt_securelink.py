"""Secure links: handshake, and rejection of replayed, reordered, cross-session and forged
frames; impostors and non-members cannot join a session."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
import trio
from rt_roles import two_buyer as tb

from runtime.config import load_config
from runtime.errors import ConfigError, LinkError
from runtime.framing import length_prefix
from runtime.identity import Identity, read_key_file, write_key_file
from runtime.keys import bound_local_network
from runtime.securelink import (
    FrameOpener,
    FrameSealer,
    Initiator,
    Responder,
    parse_hello,
)
from runtime.tcp import tcp_session

A, B = Identity.generate(), Identity.generate()


def pair(session: str = "s1", epoch: int = 0) -> tuple[FrameSealer, FrameOpener]:
    i = Initiator("P", session, epoch, "A", A, "B", B.link_public)
    r = Responder("P", session, epoch, "B", B, i.hello(), parse_hello(i.hello()), A.link_public)
    msg3, ki = i.finish(r.reply())
    r.finish(msg3)
    kr = r.finish(msg3)
    return ki.sealer, kr.opener


def test_round_trip() -> None:
    s, o = pair()
    assert [o.open(s.seal(b"m%d" % i)) for i in range(3)] == [b"m0", b"m1", b"m2"]


def test_replayed_frame_rejected() -> None:
    s, o = pair()
    f = s.seal(b"pay me")
    o.open(f)
    with pytest.raises(LinkError, match="replayed"):
        o.open(f)


def test_reordered_frames_rejected() -> None:
    s, o = pair()
    f0, f1 = s.seal(b"a"), s.seal(b"b")
    with pytest.raises(LinkError, match="out-of-order"):
        o.open(f1)
    assert o.open(f0) == b"a"


def test_forged_frame_rejected() -> None:
    s, o = pair()
    f = bytearray(s.seal(b"amount=10"))
    f[-20] ^= 1
    with pytest.raises(LinkError, match="authentication"):
        o.open(bytes(f))


def test_cross_session_frame_rejected() -> None:
    # Even with the same key (which the handshake never yields), the associated data binds
    # session, epoch, sender and receiver.
    key = os.urandom(32)
    for other in [("session-2", 0, "A", "B"), ("session-1", 1, "A", "B"),
                  ("session-1", 0, "C", "B"), ("session-1", 0, "A", "C")]:
        frame = FrameSealer(key, "session-1", 0, "A", "B").seal(b"x")
        with pytest.raises(LinkError, match="authentication"):
            FrameOpener(key, *other).open(frame)


def test_impostor_cannot_complete_handshake() -> None:
    mallory = Identity.generate()
    i = Initiator("P", "s", 0, "A", mallory, "B", B.link_public)  # claims to be A
    r = Responder("P", "s", 0, "B", B, i.hello(), parse_hello(i.hello()), A.link_public)
    with pytest.raises(LinkError):
        msg3, _ = i.finish(r.reply())
        r.finish(msg3)


def test_handshake_for_other_session_rejected() -> None:
    i = Initiator("P", "other", 0, "A", A, "B", B.link_public)
    with pytest.raises(LinkError, match="session"):
        Responder("P", "s", 0, "B", B, i.hello(), parse_hello(i.hello()), A.link_public)


def test_key_file_is_private(tmp_path: Path) -> None:
    path = tmp_path / "k.key"
    key = write_key_file(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert read_key_file(path).public == key.public
    with pytest.raises(FileExistsError):
        write_key_file(path)
    path.chmod(0o644)
    with pytest.raises(ConfigError, match="0600"):
        read_key_file(path)


async def test_non_member_cannot_send_into_session(tmp_path: Path) -> None:
    path, sockets = bound_local_network(tmp_path, ["Buyer1", "Buyer2", "Seller"], timeout=5, connect_timeout=10)
    cfg = load_config(path)
    intruders: list[str] = []

    async def intruder(claim: str) -> None:
        # Dials Buyer1 (who accepts links from later members) with its own key.
        m = cfg.members["Buyer1"]
        stream = await trio.open_tcp_stream(m.host, m.port)  # bound already: the kernel queues it
        hs = Initiator("TwoBuyer", cfg.session, 0, claim, Identity.generate(), "Buyer1", m.link_public or b"")
        await stream.send_all(length_prefix(hs.hello()))
        data = await stream.receive_some(4096)
        try:
            if not data:
                raise LinkError("refused")
            hs.finish(data[4:])
        except LinkError as e:
            intruders.append(f"{claim}: {e}")
        await stream.aclose()

    results: dict[str, object] = {}

    async def role(name: str, fn: object, delay: float) -> None:
        await trio.sleep(delay)
        async with tcp_session(tb.PROTOCOL, cfg, name, listener=sockets[name]) as ep:
            results[name] = await fn(ep)  # type: ignore[operator]

    with trio.fail_after(20):
        async with trio.open_nursery() as n:
            n.start_soon(role, "Buyer1", tb.buyer1_main, 0)
            n.start_soon(intruder, "Mallory")  # not a member at all
            n.start_soon(intruder, "Seller")  # a member's name, but not its key
            n.start_soon(role, "Buyer2", tb.buyer2_main, 0.3)
            n.start_soon(role, "Seller", tb.seller_main, 0.3)
    assert len(intruders) == 2
    assert results == {"Buyer1": 100, "Buyer2": "2024-06-01", "Seller": "sold TAPL"}

"""Secure links: handshake, and rejection of replayed, reordered, cross-session and forged
frames; impostors and non-members cannot join a session."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
import trio

from runtime.codec import Writer
from runtime.config import load_config
from runtime.errors import ConfigError, LinkAuthError, LinkError, LinkVersionError, PeerGone
from runtime.framing import length_prefix
from runtime.identity import Identity, read_key_file, write_key_file
from runtime.keytool import bound_local_network
from runtime.noise import MAX_MESSAGE, MAX_PAYLOAD
from runtime.securelink import (
    REJECT,
    VERSION,
    FrameOpener,
    FrameSealer,
    Hello,
    Initiator,
    LinkKeys,
    Responder,
    parse_hello,
    reject_message,
)
from runtime.tcp import tcp_session
from runtime.trace import TraceMiddleware
from tests.runtime.roles import ping_pong as pp
from tests.runtime.roles import two_buyer as tb

A, B = Identity.generate(), Identity.generate()


def handshake(
    i_view: tuple[str, str, int, str, str] = ("P", "s1", 0, "A", "B"),
    r_view: tuple[str, str, int, str, str] = ("P", "s1", 0, "A", "B"),
    i_key: Identity = A,
) -> tuple[LinkKeys, LinkKeys]:
    """A full handshake; each view is (protocol, session, epoch, initiator, responder)."""
    proto, session, epoch, me, peer = i_view
    i = Initiator(proto, session, epoch, me, i_key, peer, B.link_public)
    hello = parse_hello(i.hello())
    proto, session, epoch, _, me = r_view
    r = Responder(proto, session, epoch, me, B, hello, A.link_public)
    msg3, ki = i.finish(r.reply())
    return ki, r.finish(msg3)


def pair() -> tuple[FrameSealer, FrameOpener]:
    ki, kr = handshake()
    return ki.sealer, kr.opener


def test_round_trip_both_ways() -> None:
    ki, kr = handshake()
    assert [kr.opener.open(ki.sealer.seal(b"m%d" % i)) for i in range(3)] == [b"m0", b"m1", b"m2"]
    assert ki.opener.open(kr.sealer.seal(b"back")) == b"back"


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
    assert o.open(f0) == b"a"  # the rejected frame left the link's state as it was
    assert o.open(f1) == b"b"


def test_forged_frame_rejected() -> None:
    s, o = pair()
    f = bytearray(s.seal(b"amount=10"))
    f[-20] ^= 1
    with pytest.raises(LinkError, match="authentication"):
        o.open(bytes(f))


def test_frames_over_the_noise_limit_are_chunked() -> None:
    s, o = pair()
    for size in (MAX_PAYLOAD - 1, MAX_PAYLOAD, MAX_PAYLOAD + 1, 2 * MAX_PAYLOAD, 1 << 20):
        body = os.urandom(size)
        frame = s.seal(body)
        chunks = max(1, -(-size // MAX_PAYLOAD))
        assert len(frame) == size + 16 * chunks
        assert o.open(frame) == body


def test_chunked_frame_cannot_be_cut_or_joined() -> None:
    s, o = pair()
    big = s.seal(b"x" * (MAX_PAYLOAD + 10))
    with pytest.raises(LinkError, match="authentication"):
        o.open(big[:MAX_MESSAGE])  # only the first message: it says more follows
    s2, o2 = pair()
    full = s2.seal(b"y" * MAX_PAYLOAD)  # one full message that ends its frame
    tail = s2.seal(b"z")
    with pytest.raises(LinkError, match="authentication"):
        o2.open(full + tail)  # two frames joined: the first claims to end its frame
    assert o2.open(full) == b"y" * MAX_PAYLOAD and o2.open(tail) == b"z"


@pytest.mark.parametrize("i_view, r_view", [
    (("P", "s1", 0, "A", "B"), ("Q", "s1", 0, "A", "B")),  # another protocol
    (("P", "s1", 0, "A", "B"), ("P", "s1", 0, "C", "B")),  # hello claims C, A's key signed it
])
def test_prologue_binds_protocol_and_names(
    i_view: tuple[str, str, int, str, str], r_view: tuple[str, str, int, str, str]
) -> None:
    proto, session, epoch, me, peer = i_view
    i = Initiator(proto, session, epoch, me, A, peer, B.link_public)
    hello = parse_hello(i.hello())
    hello = Hello(r_view[3], hello.responder, hello.session, hello.epoch, hello.noise)
    with pytest.raises(LinkAuthError, match=f"{r_view[3]} failed to prove its identity"):
        Responder(r_view[0], r_view[1], r_view[2], "B", B, hello, A.link_public)


def test_tampered_header_fails_authentication() -> None:
    i = Initiator("P", "s1", 0, "A", A, "B", B.link_public)
    hello = parse_hello(i.hello())
    for forged in (Hello("A", "B", "s1", 1, hello.noise), Hello("A", "B", "s2", 0, hello.noise)):
        with pytest.raises(LinkAuthError):
            Responder("P", forged.session, forged.epoch, "B", B, forged, A.link_public)


def test_impostor_cannot_complete_handshake() -> None:
    mallory = Identity.generate()
    with pytest.raises(LinkAuthError, match="A failed to prove"):
        handshake(i_key=mallory)  # claims to be A
    # and a responder without B's key cannot answer A
    i = Initiator("P", "s", 0, "A", A, "B", B.link_public)
    with pytest.raises(LinkAuthError):
        Responder("P", "s", 0, "B", mallory, parse_hello(i.hello()), A.link_public)


def test_handshake_for_other_session_rejected() -> None:
    i = Initiator("P", "other", 0, "A", A, "B", B.link_public)
    with pytest.raises(LinkError, match="session"):
        Responder("P", "s", 0, "B", B, parse_hello(i.hello()), A.link_public)


def _v1_hello() -> bytes:
    # A link-version-1 hello as the old code wrote it: version | I | R | session | epoch | e_I
    w = Writer()
    w.uvarint(1)
    for text in ("A", "B", "s"):
        w.text(text)
    w.uvarint(0)
    w.fixed(os.urandom(32), 32)
    return w.getvalue()


def test_old_version_hello_is_a_typed_error() -> None:
    with pytest.raises(LinkVersionError, match="'A' speaks link protocol version 1, this node speaks 2") as e:
        parse_hello(_v1_hello())
    assert (e.value.theirs, e.value.ours) == (1, VERSION)


def test_version_reject_reply_is_a_typed_error() -> None:
    i = Initiator("P", "s", 0, "A", A, "B", B.link_public)
    w = Writer()
    w.uvarint(3)
    with pytest.raises(LinkVersionError, match="B speaks link protocol version 3") as e:
        i.finish(REJECT + w.getvalue())
    assert e.value.peer == "B"
    assert reject_message().startswith(REJECT)


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


async def test_non_member_wrong_key_and_old_version_peers_are_refused(tmp_path: Path) -> None:
    path, sockets = bound_local_network(tmp_path, ["Buyer1", "Buyer2", "Seller"], timeout=5, connect_timeout=10)
    cfg = load_config(path)
    intruders: list[str] = []
    trace = TraceMiddleware(keep=True)

    async def intruder(claim: str, old_version: bool = False) -> None:
        # Dials Buyer1 (who accepts links from later members) with its own key.
        m = cfg.members["Buyer1"]
        stream = await trio.open_tcp_stream(m.host, m.port)  # bound already: the kernel queues it
        hs = Initiator("TwoBuyer", cfg.session, 0, claim, Identity.generate(), "Buyer1", m.link_public or b"")
        await stream.send_all(length_prefix(_v1_hello() if old_version else hs.hello()))
        data = await stream.receive_some(4096)
        try:
            if not data:
                raise LinkError("refused")
            hs.finish(data[4:])
        except LinkError as e:
            intruders.append(f"{claim}: {type(e).__name__}: {e}")
        await stream.aclose()

    results: dict[str, object] = {}

    async def role(name: str, fn: object, delay: float) -> None:
        await trio.sleep(delay)
        mw = [trace] if name == "Buyer1" else []
        async with tcp_session(tb.PROTOCOL, cfg, name, listener=sockets[name], middleware=mw) as ep:
            results[name] = await fn(ep)  # type: ignore[operator]

    with trio.fail_after(20):
        async with trio.open_nursery() as n:
            n.start_soon(role, "Buyer1", tb.buyer1_main, 0)
            n.start_soon(intruder, "Mallory")  # not a member at all
            n.start_soon(intruder, "Seller")  # a member's name, but not its key
            n.start_soon(intruder, "Seller", True)  # speaks link version 1
            n.start_soon(role, "Buyer2", tb.buyer2_main, 0.3)
            n.start_soon(role, "Seller", tb.seller_main, 0.3)
    assert results == {"Buyer1": 100, "Buyer2": "2024-06-01", "Seller": "sold TAPL"}
    assert sorted(intruders) == [
        "Mallory: LinkError: refused",
        "Seller: LinkError: refused",
        # the old-version dialler is told which version Buyer1 speaks
        "Seller: LinkVersionError: Buyer1 speaks link protocol version 2, this node speaks 2: "
        "both ends need the same Minuet link version",
    ]
    errors = sorted(e["error"] for e in trace.events if e["label"] == "handshake")
    assert len(errors) == 3
    assert errors[0].startswith("LinkAuthError: Seller failed to prove its identity")
    assert errors[1].startswith("LinkError: 'Mallory' is not a member")
    assert errors[2].startswith("LinkVersionError: 'A' speaks link protocol version 1")


async def test_dialler_refused_for_its_version_gets_a_typed_cause(tmp_path: Path) -> None:
    """A member whose peer answers with another link version gives up with ``PeerGone``
    caused by ``LinkVersionError`` (a future version's REJECT reply)."""
    path, sockets = bound_local_network(tmp_path, ["Client", "Server"], timeout=5, connect_timeout=1.5)
    cfg = load_config(path)
    future = trio.SocketListener(trio.socket.from_stdlib_socket(sockets.pop("Client")))
    w = Writer()
    w.uvarint(VERSION + 1)

    async def future_peer() -> None:
        while True:
            stream = await future.accept()
            await stream.receive_some(4096)
            await stream.send_all(length_prefix(REJECT + w.getvalue()))
            await stream.aclose()

    with trio.fail_after(10):
        async with trio.open_nursery() as n:
            n.start_soon(future_peer)
            with pytest.RaisesGroup(
                pytest.RaisesExc(PeerGone, match="link protocol version 3"), flatten_subgroups=True
            ) as e:
                async with tcp_session(pp.PROTOCOL, cfg, "Server", listener=sockets.pop("Server")):
                    pass
            n.cancel_scope.cancel()
    await future.aclose()
    (gone,) = e.value.exceptions
    cause = gone.__cause__
    assert isinstance(cause, LinkVersionError) and (cause.peer, cause.theirs) == ("Client", 3)

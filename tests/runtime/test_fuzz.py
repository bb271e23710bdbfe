"""Hostile bytes against every decoder: typed errors only, never a crash."""

from __future__ import annotations

from collections.abc import Callable

from hypothesis import given, settings
from hypothesis import strategies as st

from runtime.codec import Reader
from runtime.contract import Peer
from runtime.errors import DecodeError, FrameError, LinkError, MinuetError
from runtime.framing import WIRE_KINDS, FrameBuffer, Item, decode_body, encode_body
from runtime.noise import CipherState
from runtime.securelink import FrameOpener, FrameSealer, parse_hello
from runtime.session_core import PeerChannel, accept
from tests.runtime.roles import ping_pong as pp
from tests.runtime.roles import two_buyer as tb

DECODERS = [tb._dec_Title, tb._dec_Quote, tb._dec_Address, tb._dec_Quit, pp._dec_Ping, pp._dec_ctl]
FUZZ = settings(max_examples=300, deadline=None)


@FUZZ
@given(st.binary(max_size=64))
def test_reader_primitives(data: bytes) -> None:
    reads: list[Callable[[Reader], object]] = [
        Reader.uvarint, Reader.sint, Reader.boolean, Reader.double, Reader.text, Reader.blob,
        lambda r: r.fixed(7), lambda r: r.seq(Reader.text), lambda r: r.opt(Reader.sint),
    ]
    for read in reads:
        r = Reader(data)
        try:
            read(r)
            r.finish()
        except DecodeError:
            pass


@FUZZ
@given(st.binary(max_size=64))
def test_generated_style_decoders(data: bytes) -> None:
    for dec in DECODERS:
        try:
            dec(data)
        except DecodeError:
            pass


@FUZZ
@given(st.lists(st.binary(max_size=40), max_size=6), st.integers(1, 64))
def test_frame_buffer(chunks: list[bytes], max_size: int) -> None:
    buf = FrameBuffer(max_size)
    try:
        for c in chunks:
            buf.feed(c)
            while (f := buf.next_frame()) is not None:
                assert len(f) <= max_size
                try:
                    decode_body(f)
                except FrameError:
                    pass
    except FrameError:
        pass


@FUZZ
@given(st.binary(max_size=80))
def test_frame_body(data: bytes) -> None:
    try:
        kind, label, payload = decode_body(data)
    except FrameError:
        return
    # Varints may be non-minimal on the wire, so the bytes need not round-trip; what was
    # decoded must, and the payload is the frame's tail.
    assert decode_body(encode_body(kind, label, payload)) == (kind, label, payload)
    assert data.endswith(payload) and kind in WIRE_KINDS


@FUZZ
@given(st.binary(max_size=120), st.integers(0, 3))
def test_secure_open(data: bytes, prefix_frames: int) -> None:
    key = b"k" * 32
    sealer = FrameSealer(CipherState(key))
    opener = FrameOpener(CipherState(key))
    for _ in range(prefix_frames):
        opener.open(sealer.seal(b"ok"))
    try:
        opener.open(data)
    except LinkError:
        pass
    assert opener.open(sealer.seal(b"still fine")) == b"still fine"  # state untouched


@FUZZ
@given(st.binary(max_size=120))
def test_handshake_parse(data: bytes) -> None:
    try:
        parse_hello(data)
    except LinkError:
        pass


@FUZZ
@given(st.sampled_from(["Title", "Quote", "Address", "Quit", "Ping", "x", ""]), st.binary(max_size=40),
       st.integers(-2, 3), st.integers(0, 20))
def test_accept_any_frame(label: str, data: bytes, seq: int, kind: int) -> None:
    ch = PeerChannel(Peer("Seller"))
    decoders = {"Address": tb._dec_Address, "Quit": tb._dec_Quit}
    try:
        accept(ch, Item(kind, seq, label, data, -1), decoders, tb.STEP_SELLER_OFFER, False, 1.0)
    except MinuetError:
        pass

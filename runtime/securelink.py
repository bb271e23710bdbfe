"""Authenticated, encrypted links between two session members (sans-IO, no trio).

Each member has a static X25519 key, derived from its Ed25519 identity (``runtime.identity``);
``peer_public`` arguments are X25519 link public keys.
Two members open a link with a three-message handshake in the manner of Noise KK
(both static keys known in advance, fresh ephemerals on both sides):

    msg1  I -> R : version | I | R | session id | epoch | e_I
    msg2  R -> I : e_R | AEAD_{k_r2i}(confirm, ad = th | "R")
    msg3  I -> R : AEAD_{k_i2r}(confirm, ad = th | "I")

    th            = SHA-256(prologue | msg1 | e_R)       (transcript hash)
    k_i2r | k_r2i = HKDF-SHA256(DH(e_I,e_R) | DH(e_I,s_R) | DH(s_I,e_R) | DH(s_I,s_R), salt=th)

Only the holder of s_R can produce msg2's tag and only the holder of s_I msg3's, so each side
knows it talks to the declared member; the ephemerals give fresh keys per link (forward
secrecy, no cross-link replay). Data frames are ``seq (8 bytes) | ChaCha20-Poly1305`` with
nonce ``0^4 | seq`` and associated data binding session id, epoch, sender, receiver and
seq; the receiver accepts exactly the next seq, so replayed, reordered, dropped-then-later,
cross-session and forged frames are all rejected with ``LinkError``.
"""

from __future__ import annotations

import hashlib
import struct
from dataclasses import dataclass
from typing import Final

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from runtime.codec import Reader, Writer
from runtime.errors import DecodeError, LinkError
from runtime.identity import Identity

VERSION: Final = 1
_SEQ: Final = struct.Struct(">Q")
_CONFIRM_NONCE: Final = b"\xff" * 12  # never a data nonce (those start with four zero bytes)
_TAG: Final = 16
_RAW = serialization.Encoding.Raw
_RAW_PUB = serialization.PublicFormat.Raw


# ---------------------------------------------------------------------------- data frames


def _ad_prefix(session: str, epoch: int, sender: str, receiver: str) -> bytes:
    w = Writer()
    w.text("minuet-frame")
    w.text(session)
    w.uvarint(epoch)
    w.text(sender)
    w.text(receiver)
    return w.getvalue()


class FrameSealer:
    """One direction of a link, sending side: seals frame bodies in sequence."""

    __slots__ = ("_aead", "_prefix", "seq")

    def __init__(self, key: bytes, session: str, epoch: int, sender: str, receiver: str) -> None:
        self._aead = ChaCha20Poly1305(key)
        self._prefix = _ad_prefix(session, epoch, sender, receiver)
        self.seq = 0

    def seal(self, body: bytes) -> bytes:
        seq = _SEQ.pack(self.seq)
        self.seq += 1
        return seq + self._aead.encrypt(b"\0\0\0\0" + seq, body, self._prefix + seq)


class FrameOpener:
    """One direction of a link, receiving side: accepts exactly the next sealed frame."""

    __slots__ = ("_aead", "_prefix", "seq")

    def __init__(self, key: bytes, session: str, epoch: int, sender: str, receiver: str) -> None:
        self._aead = ChaCha20Poly1305(key)
        self._prefix = _ad_prefix(session, epoch, sender, receiver)
        self.seq = 0

    def open(self, frame: bytes) -> bytes:
        if len(frame) < _SEQ.size + _TAG:
            raise LinkError(f"sealed frame too short ({len(frame)} bytes)")
        seq_bytes = frame[: _SEQ.size]
        (seq,) = _SEQ.unpack(seq_bytes)
        if seq != self.seq:
            what = "replayed" if seq < self.seq else "out-of-order (frames missing)"
            raise LinkError(f"{what} frame: sequence {seq}, expected {self.seq}")
        try:
            body = self._aead.decrypt(b"\0\0\0\0" + seq_bytes, frame[_SEQ.size :], self._prefix + seq_bytes)
        except InvalidTag:
            raise LinkError(
                f"frame {seq} failed authentication (forged, corrupted or from another session)"
            ) from None
        self.seq += 1
        return body


# ---------------------------------------------------------------------------- handshake


@dataclass(frozen=True, slots=True)
class LinkKeys:
    sealer: FrameSealer
    opener: FrameOpener


def _prologue(protocol: str, session: str, epoch: int) -> bytes:
    w = Writer()
    w.text("minuet-link")
    w.uvarint(VERSION)
    w.text(protocol)
    w.text(session)
    w.uvarint(epoch)
    return w.getvalue()


def _derive(dhs: bytes, th: bytes) -> tuple[bytes, bytes]:
    okm = HKDF(algorithm=hashes.SHA256(), length=64, salt=th, info=b"minuet link keys").derive(dhs)
    return okm[:32], okm[32:]


def _pub(raw: bytes) -> X25519PublicKey:
    try:
        return X25519PublicKey.from_public_bytes(raw)
    except ValueError as e:
        raise LinkError(f"invalid public key: {e}") from None


def _dh(priv: X25519PrivateKey, pub: X25519PublicKey) -> bytes:
    try:
        return priv.exchange(pub)
    except ValueError as e:  # low-order point: all-zero shared secret
        raise LinkError(f"key agreement failed: {e}") from None


class Initiator:
    """The dialling side's handshake: ``hello()``, then ``finish(msg2) -> (msg3, keys)``."""

    def __init__(
        self, protocol: str, session: str, epoch: int, me: str, static: Identity,
        peer: str, peer_public: bytes,
    ) -> None:
        self._session, self._epoch, self._me, self._peer = session, epoch, me, peer
        self._static = static
        self._peer_static = _pub(peer_public)
        self._eph = X25519PrivateKey.generate()
        self._prologue = _prologue(protocol, session, epoch)
        w = Writer()
        w.uvarint(VERSION)
        w.text(me)
        w.text(peer)
        w.text(session)
        w.uvarint(epoch)
        w.fixed(self._eph.public_key().public_bytes(_RAW, _RAW_PUB), 32)
        self._msg1 = w.getvalue()

    def hello(self) -> bytes:
        return self._msg1

    def finish(self, msg2: bytes) -> tuple[bytes, LinkKeys]:
        if len(msg2) != 32 + _TAG:
            raise LinkError(f"handshake reply from {self._peer} has {len(msg2)} bytes, expected {32 + _TAG}")
        e_r_raw = msg2[:32]
        e_r = _pub(e_r_raw)
        dhs = (
            _dh(self._eph, e_r)
            + _dh(self._eph, self._peer_static)
            + _dh(self._static.link_key, e_r)
            + _dh(self._static.link_key, self._peer_static)
        )
        th = hashlib.sha256(self._prologue + self._msg1 + e_r_raw).digest()
        k_i2r, k_r2i = _derive(dhs, th)
        try:
            ChaCha20Poly1305(k_r2i).decrypt(_CONFIRM_NONCE, msg2[32:], th + b"R")
        except InvalidTag:
            raise LinkError(f"{self._peer} failed to prove its identity (wrong static key)") from None
        msg3 = ChaCha20Poly1305(k_i2r).encrypt(_CONFIRM_NONCE, b"", th + b"I")
        keys = LinkKeys(
            FrameSealer(k_i2r, self._session, self._epoch, self._me, self._peer),
            FrameOpener(k_r2i, self._session, self._epoch, self._peer, self._me),
        )
        return msg3, keys


@dataclass(frozen=True, slots=True)
class Hello:
    initiator: str
    responder: str
    session: str
    epoch: int
    ephemeral: bytes


def parse_hello(msg1: bytes) -> Hello:
    r = Reader(msg1)
    try:
        version = r.uvarint()
        if version != VERSION:
            raise LinkError(f"unsupported link version {version}")
        hello = Hello(r.text(), r.text(), r.text(), r.uvarint(), r.fixed(32))
        r.finish()
    except DecodeError as e:
        raise LinkError(f"malformed handshake: {e}") from None
    return hello


# X25519 u-coordinates of small order (RFC 7748 section 6.1 says to reject them), taken
# mod p with the top bit ignored as X25519 does: an ephemeral key among them is refused before
# any Diffie-Hellman is computed.
_P: Final = 2**255 - 19
_LOW_ORDER: Final = frozenset({
    0, 1, _P - 1,
    325606250916557431795983626356110631294008115727848805560023387167927233504,
    39382357235489614581723060781553021112529911719440698176882885853963445705823,
})


def is_low_order(raw: bytes) -> bool:
    """Whether a 32-byte X25519 public key has small order (DH with it gives no secret)."""
    return (int.from_bytes(raw, "little") & ((1 << 255) - 1)) % _P in _LOW_ORDER


def check_hello(hello: Hello, session: str, epoch: int, me: str) -> None:
    """The responder's cheap checks of a parsed hello, done before any key agreement so a
    stranger's hello costs no public-key operation; ``LinkError`` names what is wrong."""
    if hello.responder != me:
        raise LinkError(f"handshake addressed to {hello.responder!r}, this is {me!r}")
    if hello.session != session or hello.epoch != epoch:
        raise LinkError(
            f"{hello.initiator!r} is in session {hello.session!r} epoch {hello.epoch}, "
            f"this is session {session!r} epoch {epoch}"
        )
    if is_low_order(hello.ephemeral):
        raise LinkError(f"{hello.initiator!r} sent an ephemeral key of small order")


class Responder:
    """The accepting side's handshake for one parsed ``Hello`` from a known member."""

    def __init__(
        self, protocol: str, session: str, epoch: int, me: str, static: Identity,
        msg1: bytes, hello: Hello, peer_public: bytes,
    ) -> None:
        check_hello(hello, session, epoch, me)
        self._session, self._epoch, self._me, self._peer = session, epoch, me, hello.initiator
        eph = X25519PrivateKey.generate()
        e_r_raw = eph.public_key().public_bytes(_RAW, _RAW_PUB)
        e_i = _pub(hello.ephemeral)
        s_i = _pub(peer_public)
        link = static.link_key
        dhs = _dh(eph, e_i) + _dh(link, e_i) + _dh(eph, s_i) + _dh(link, s_i)
        self._th = hashlib.sha256(_prologue(protocol, session, epoch) + msg1 + e_r_raw).digest()
        self._k_i2r, self._k_r2i = _derive(dhs, self._th)
        self._msg2 = e_r_raw + ChaCha20Poly1305(self._k_r2i).encrypt(_CONFIRM_NONCE, b"", self._th + b"R")

    def reply(self) -> bytes:
        return self._msg2

    def finish(self, msg3: bytes) -> LinkKeys:
        try:
            ChaCha20Poly1305(self._k_i2r).decrypt(_CONFIRM_NONCE, msg3, self._th + b"I")
        except InvalidTag:
            raise LinkError(f"{self._peer} failed to prove its identity (wrong static key)") from None
        return LinkKeys(
            FrameSealer(self._k_r2i, self._session, self._epoch, self._me, self._peer),
            FrameOpener(self._k_i2r, self._session, self._epoch, self._peer, self._me),
        )

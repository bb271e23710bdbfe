"""Authenticated, encrypted links between two session members (sans-IO, no trio).

Each member has a static X25519 key; the network config lists every member's public key.
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

import base64
import hashlib
import json
import os
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from runtime.codec import Reader, Writer
from runtime.crypto.secret import Secret
from runtime.errors import ConfigError, DecodeError, LinkError

VERSION: Final = 1
KEY_FILE_KIND: Final = "minuet-x25519-v1"
_SEQ: Final = struct.Struct(">Q")
_CONFIRM_NONCE: Final = b"\xff" * 12  # never a data nonce (those start with four zero bytes)
_TAG: Final = 16
_RAW = serialization.Encoding.Raw
_RAW_PUB = serialization.PublicFormat.Raw
_RAW_PRIV = serialization.PrivateFormat.Raw


# ---------------------------------------------------------------------------- keys


@dataclass(frozen=True, slots=True)
class StaticKey(Secret):
    """A member's static X25519 key pair (never copied or pickled: ``Secret``)."""

    private: X25519PrivateKey

    @classmethod
    def generate(cls) -> StaticKey:
        return cls(X25519PrivateKey.generate())

    @property
    def public(self) -> bytes:
        return self.private.public_key().public_bytes(_RAW, _RAW_PUB)

    @property
    def public_b64(self) -> str:
        return base64.b64encode(self.public).decode("ascii")

    def to_json(self) -> str:
        raw = self.private.private_bytes(_RAW, _RAW_PRIV, serialization.NoEncryption())
        return json.dumps(
            {
                "kind": KEY_FILE_KIND,
                "private": base64.b64encode(raw).decode("ascii"),
                "public": self.public_b64,
            },
            indent=2,
        )

    @classmethod
    def from_json(cls, text: str, where: str = "key file") -> StaticKey:
        try:
            obj = json.loads(text)
            if not isinstance(obj, dict) or obj.get("kind") != KEY_FILE_KIND:
                raise ValueError(f"not a {KEY_FILE_KIND} key file")
            raw = base64.b64decode(obj["private"], validate=True)
            key = cls(X25519PrivateKey.from_private_bytes(raw))
        except (ValueError, KeyError, TypeError) as e:
            raise ConfigError(f"{where}: invalid key file: {e}") from None
        if "public" in obj and obj["public"] != key.public_b64:
            raise ConfigError(f"{where}: public key does not match the private key")
        return key


def write_key_file(path: str | Path, key: StaticKey | None = None, *, overwrite: bool = False) -> StaticKey:
    """Write a new (or the given) static key to ``path`` with mode 0600."""
    key = key or StaticKey.generate()
    flags = os.O_WRONLY | os.O_CREAT | (os.O_TRUNC if overwrite else os.O_EXCL)
    fd = os.open(path, flags, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(key.to_json() + "\n")
    os.chmod(path, 0o600)  # O_CREAT's mode does not apply to an existing file
    return key


def read_key_file(path: str | Path) -> StaticKey:
    p = Path(path)
    try:
        mode = p.stat().st_mode & 0o077
        text = p.read_text(encoding="utf-8")
    except OSError as e:
        raise ConfigError(f"{path}: cannot read key file: {e.strerror}") from None
    if mode and os.name == "posix":
        raise ConfigError(f"{path}: key file is readable by others (mode must be 0600)")
    return StaticKey.from_json(text, str(path))


def decode_public(text: str, where: str) -> bytes:
    try:
        raw = base64.b64decode(text, validate=True)
    except ValueError:
        raise ConfigError(f"{where}: public key is not base64") from None
    if len(raw) != 32:
        raise ConfigError(f"{where}: public key must be 32 bytes, got {len(raw)}")
    return raw


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
        self, protocol: str, session: str, epoch: int, me: str, static: StaticKey,
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
            + _dh(self._static.private, e_r)
            + _dh(self._static.private, self._peer_static)
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
        self, protocol: str, session: str, epoch: int, me: str, static: StaticKey,
        msg1: bytes, hello: Hello, peer_public: bytes,
    ) -> None:
        check_hello(hello, session, epoch, me)
        self._session, self._epoch, self._me, self._peer = session, epoch, me, hello.initiator
        eph = X25519PrivateKey.generate()
        e_r_raw = eph.public_key().public_bytes(_RAW, _RAW_PUB)
        e_i = _pub(hello.ephemeral)
        s_i = _pub(peer_public)
        dhs = _dh(eph, e_i) + _dh(static.private, e_i) + _dh(eph, s_i) + _dh(static.private, s_i)
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

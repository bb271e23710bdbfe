"""Noise_KK_25519_ChaChaPoly_SHA256, sans-IO, on ``cryptography`` (Noise spec rev. 34).

https://noiseprotocol.org/noise.html (revision 34, 2018-07-11). Only what the KK pattern
needs is here, written to follow the spec's objects and names (sections 5.1-5.3) so it can be
read against it:

    KK:
      -> s
      <- s
      ...
      -> e, es, ss
      <- e, ee, se

``CipherState`` (5.1), ``SymmetricState`` (5.2) and ``KKHandshake`` (5.3 with the KK pattern
fixed) hold no I/O; ``runtime.securelink`` builds Minuet's link on them. Checked against the
published cacophony and snow test vectors (``tests/runtime/vectors/noise_kk.json``).
"""

from __future__ import annotations

import hashlib
import hmac
import struct
from typing import Final, final

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305

PROTOCOL_NAME: Final = b"Noise_KK_25519_ChaChaPoly_SHA256"
DHLEN: Final = 32
HASHLEN: Final = 32
TAGLEN: Final = 16
MAX_MESSAGE: Final = 65535  # spec 3: every Noise message, handshake or transport
MAX_PAYLOAD: Final = MAX_MESSAGE - TAGLEN
_NONCE: Final = struct.Struct("<4xQ")  # ChaChaPoly: 32 zero bits, then the 64-bit nonce (12.3)
_MAX_NONCE: Final = 2**64 - 1  # reserved (5.1): a cipher that reaches it is worn out


class NoiseError(Exception):
    """A Noise message failed: bad length, bad key, failed authentication, worn-out nonce."""


def public_bytes(key: X25519PrivateKey) -> bytes:
    return key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def _dh(priv: X25519PrivateKey, pub: bytes) -> bytes:
    try:
        return priv.exchange(X25519PublicKey.from_public_bytes(pub))
    except ValueError as e:  # a low-order point gives the all-zero output, which is refused
        raise NoiseError(f"key agreement failed: {e}") from None


def _hkdf2(ck: bytes, ikm: bytes) -> tuple[bytes, bytes]:
    """HKDF(chaining_key, ikm, 2) of spec 4.3 (HMAC-SHA256)."""
    temp = hmac.digest(ck, ikm, "sha256")
    out1 = hmac.digest(temp, b"\x01", "sha256")
    return out1, hmac.digest(temp, out1 + b"\x02", "sha256")


@final
class CipherState:
    """Spec 5.1: a key and an implicit 64-bit nonce; each message uses the next nonce, so a
    replayed, reordered or dropped message fails authentication on the receiving side."""

    __slots__ = ("_aead", "n")

    def __init__(self, key: bytes | None = None) -> None:
        self._aead = ChaCha20Poly1305(key) if key is not None else None
        self.n = 0

    def has_key(self) -> bool:
        return self._aead is not None

    def encrypt_with_ad(self, ad: bytes, plaintext: bytes | memoryview) -> bytes:
        if self._aead is None:
            return bytes(plaintext)
        if self.n >= _MAX_NONCE:
            raise NoiseError("cipher nonce exhausted")
        out = self._aead.encrypt(_NONCE.pack(self.n), plaintext, ad)
        self.n += 1
        return out

    def decrypt_with_ad(self, ad: bytes, ciphertext: bytes | memoryview) -> bytes:
        if self._aead is None:
            return bytes(ciphertext)
        if self.n >= _MAX_NONCE:
            raise NoiseError("cipher nonce exhausted")
        try:
            out = self._aead.decrypt(_NONCE.pack(self.n), ciphertext, ad)
        except InvalidTag:
            raise NoiseError("message failed authentication") from None
        self.n += 1  # only after success (5.1): a forged message does not advance the nonce
        return out


    def authentic_at(self, n: int, ad: bytes, ciphertext: bytes) -> bool:
        """Whether ``ciphertext`` is authentic under nonce ``n``; the state is unchanged
        (a diagnosis after a failure: was the message replayed, or were some missed?)."""
        if self._aead is None or not 0 <= n < _MAX_NONCE:
            return False
        try:
            self._aead.decrypt(_NONCE.pack(n), ciphertext, ad)
        except InvalidTag:
            return False
        return True


@final
class SymmetricState:
    """Spec 5.2: chaining key ``ck``, handshake hash ``h`` and the current cipher."""

    __slots__ = ("cipher", "ck", "h")

    def __init__(self, protocol_name: bytes) -> None:
        if len(protocol_name) <= HASHLEN:
            self.h = protocol_name.ljust(HASHLEN, b"\0")
        else:
            self.h = hashlib.sha256(protocol_name).digest()
        self.ck = self.h
        self.cipher = CipherState()

    def mix_key(self, ikm: bytes) -> None:
        self.ck, temp_k = _hkdf2(self.ck, ikm)
        self.cipher = CipherState(temp_k)

    def mix_hash(self, data: bytes) -> None:
        self.h = hashlib.sha256(self.h + data).digest()

    def encrypt_and_hash(self, plaintext: bytes) -> bytes:
        ct = self.cipher.encrypt_with_ad(self.h, plaintext)
        self.mix_hash(ct)
        return ct

    def decrypt_and_hash(self, ciphertext: bytes) -> bytes:
        pt = self.cipher.decrypt_with_ad(self.h, ciphertext)
        self.mix_hash(ciphertext)
        return pt

    def split(self) -> tuple[CipherState, CipherState]:
        k1, k2 = _hkdf2(self.ck, b"")
        return CipherState(k1), CipherState(k2)


@final
class KKHandshake:
    """Spec 5.3 for the KK pattern: both static keys are known in advance.

    The initiator calls ``write_message`` then ``read_message``; the responder the reverse.
    After the second message ``finished`` is true and ``split()`` gives
    ``(send, receive)`` ciphers for this side. ``e`` fixes the ephemeral key (test vectors
    only; otherwise a fresh one is generated).
    """

    __slots__ = ("_e", "_initiator", "_rs", "_s", "_ss", "_step", "re")

    def __init__(
        self, initiator: bool, prologue: bytes, s: X25519PrivateKey, rs: bytes,
        e: X25519PrivateKey | None = None,
    ) -> None:
        if len(rs) != DHLEN:
            raise NoiseError(f"remote static key must be {DHLEN} bytes")
        self._initiator = initiator
        self._s, self._rs = s, rs
        self._e = e or X25519PrivateKey.generate()
        self.re = b""
        self._step = 0
        self._ss = SymmetricState(PROTOCOL_NAME)
        self._ss.mix_hash(prologue)
        # Pre-messages "-> s" then "<- s": initiator's static first (5.3 Initialize).
        mine = public_bytes(s)
        self._ss.mix_hash(mine if initiator else rs)
        self._ss.mix_hash(rs if initiator else mine)

    @property
    def finished(self) -> bool:
        return self._step == 2

    @property
    def handshake_hash(self) -> bytes:
        return self._ss.h

    def _my_turn(self) -> bool:
        return (self._step == 0) == self._initiator

    def write_message(self, payload: bytes = b"") -> bytes:
        if self.finished or not self._my_turn():
            raise NoiseError("not this side's turn to write a handshake message")
        ss = self._ss
        e_pub = public_bytes(self._e)
        ss.mix_hash(e_pub)  # token e (no PSK: no MixKey)
        if self._step == 0:  # -> e, es, ss
            ss.mix_key(_dh(self._e, self._rs))
            ss.mix_key(_dh(self._s, self._rs))
        else:  # <- e, ee, se (responder: se = DH(e, rs))
            ss.mix_key(_dh(self._e, self.re))
            ss.mix_key(_dh(self._e, self._rs))
        out = e_pub + ss.encrypt_and_hash(payload)
        if len(out) > MAX_MESSAGE:
            raise NoiseError(f"handshake message of {len(out)} bytes exceeds {MAX_MESSAGE}")
        self._step += 1
        return out

    def read_message(self, message: bytes) -> bytes:
        if self.finished or self._my_turn():
            raise NoiseError("not this side's turn to read a handshake message")
        if not DHLEN + TAGLEN <= len(message) <= MAX_MESSAGE:
            raise NoiseError(f"handshake message has {len(message)} bytes")
        ss = self._ss
        self.re = message[:DHLEN]
        ss.mix_hash(self.re)
        if self._step == 0:  # responder reads -> e, es, ss (es = DH(s, re))
            ss.mix_key(_dh(self._s, self.re))
            ss.mix_key(_dh(self._s, self._rs))
        else:  # initiator reads <- e, ee, se (se = DH(s, re))
            ss.mix_key(_dh(self._e, self.re))
            ss.mix_key(_dh(self._s, self.re))
        payload = ss.decrypt_and_hash(message[DHLEN:])
        self._step += 1
        return payload

    def split(self) -> tuple[CipherState, CipherState]:
        """``(send, receive)`` for this side; the first cipher of Split is initiator -> responder."""
        if not self.finished:
            raise NoiseError("handshake not finished")
        c1, c2 = self._ss.split()
        return (c1, c2) if self._initiator else (c2, c1)


__all__ = [
    "MAX_MESSAGE",
    "MAX_PAYLOAD",
    "PROTOCOL_NAME",
    "CipherState",
    "KKHandshake",
    "NoiseError",
    "SymmetricState",
    "public_bytes",
]

"""Authenticated public-key encryption to a participant (HPKE auth-mode-like).

Wire format: ``ephemeral_pk (32) || ChaCha20Poly1305 ciphertext+tag``. Key schedule::

    dh_e = X25519(eph_sk, recipient_pk)       # fresh per message
    dh_s = X25519(sender_sk, recipient_pk)    # static-static: authenticates the sender
    key || nonce = HKDF-SHA256(salt="minuet-seal-v1", ikm=dh_e || dh_s,
                               info=lp(context) || eph_pk || sender_pk || recipient_pk, L=44)
    ct = ChaCha20Poly1305(key).encrypt(nonce, plaintext, aad)

Any change to the ciphertext, aad, context or either public key makes :func:`open_sealed` raise
:class:`SealError`. Like HPKE's auth mode it is not forward secret against compromise of
the recipient's static key, and a recipient could forge messages "from" a sender to itself (no
non-repudiation). Used to move secret shares (:func:`seal_share` / :func:`open_share`).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from .errors import InvalidEncoding, InvalidShare, SealError
from .hazmat.group import scalar_from_bytes, scalar_to_bytes
from .rand import RandomSource, default_random
from .secret import Secret

__all__ = ["SealKeyPair", "open_sealed", "open_share", "seal", "seal_share"]

_SALT = b"minuet-seal-v1"
_KEY_SIZE = 32


@dataclass(frozen=True, slots=True)
class SealKeyPair(Secret):
    """A participant's static X25519 key pair."""

    private_key: X25519PrivateKey = field(repr=False, compare=False)
    public_key: bytes

    @classmethod
    def generate(cls, rng: RandomSource | None = None) -> SealKeyPair:
        return cls.from_private_bytes((rng or default_random()).random_bytes(32))

    @classmethod
    def from_private_bytes(cls, data: bytes) -> SealKeyPair:
        sk = X25519PrivateKey.from_private_bytes(data)
        return cls(sk, sk.public_key().public_bytes_raw())


def _load_public(data: bytes) -> X25519PublicKey:
    if len(data) != _KEY_SIZE:
        raise InvalidEncoding("X25519 public key must be 32 bytes")
    return X25519PublicKey.from_public_bytes(data)


def _exchange(sk: X25519PrivateKey, pk: X25519PublicKey) -> bytes:
    try:
        return sk.exchange(pk)
    except ValueError as exc:  # low-order public key: all-zero shared secret
        raise InvalidEncoding("low-order X25519 public key") from exc


def _key_schedule(
    dh_e: bytes, dh_s: bytes, context: bytes, eph: bytes, sender: bytes, recipient: bytes
) -> tuple[bytes, bytes]:
    info = struct.pack("<Q", len(context)) + context + eph + sender + recipient
    okm = HKDF(algorithm=hashes.SHA256(), length=44, salt=_SALT, info=info).derive(dh_e + dh_s)
    return okm[:32], okm[32:]


def seal(
    sender: SealKeyPair,
    recipient_public_key: bytes,
    plaintext: bytes,
    *,
    aad: bytes = b"",
    context: bytes = b"",
    rng: RandomSource | None = None,
) -> bytes:
    """Encrypt ``plaintext`` to ``recipient_public_key``; a key that is not a usable X25519
    key (wrong length, small order) raises :class:`SealError`."""
    eph = X25519PrivateKey.from_private_bytes((rng or default_random()).random_bytes(32))
    eph_pk = eph.public_key().public_bytes_raw()
    try:
        recipient = _load_public(recipient_public_key)
        key, nonce = _key_schedule(
            _exchange(eph, recipient),
            _exchange(sender.private_key, recipient),
            context,
            eph_pk,
            sender.public_key,
            recipient_public_key,
        )
    except InvalidEncoding as exc:
        raise SealError(f"cannot seal to this recipient key: {exc}") from None
    return eph_pk + ChaCha20Poly1305(key).encrypt(nonce, plaintext, aad)


def open_sealed(
    recipient: SealKeyPair,
    sender_public_key: bytes,
    sealed: bytes,
    *,
    aad: bytes = b"",
    context: bytes = b"",
) -> bytes:
    """Decrypt and authenticate; raises :class:`SealError` on any mismatch."""
    if len(sealed) < _KEY_SIZE + 16:
        raise SealError("sealed message too short")
    eph_pk = sealed[:_KEY_SIZE]
    try:
        sender = _load_public(sender_public_key)
        key, nonce = _key_schedule(
            _exchange(recipient.private_key, _load_public(eph_pk)),
            _exchange(recipient.private_key, sender),
            context,
            eph_pk,
            sender_public_key,
            recipient.public_key,
        )
        return ChaCha20Poly1305(key).decrypt(nonce, sealed[_KEY_SIZE:], aad)
    except (InvalidTag, InvalidEncoding) as exc:
        raise SealError("sealed message failed authentication") from exc


def seal_share(
    sender: SealKeyPair,
    recipient_public_key: bytes,
    share: int,
    *,
    aad: bytes = b"",
    context: bytes = b"",
    rng: RandomSource | None = None,
) -> bytes:
    """Seal a secret scalar share (32-byte SerializeScalar)."""
    return seal(
        sender, recipient_public_key, scalar_to_bytes(share), aad=aad, context=context, rng=rng
    )


def open_share(
    recipient: SealKeyPair,
    sender_public_key: bytes,
    sealed: bytes,
    *,
    aad: bytes = b"",
    context: bytes = b"",
    sender_id: int | None = None,
) -> int:
    """Open a sealed share; a non-canonical scalar raises ``InvalidShare`` naming
    ``sender_id``."""
    data = open_sealed(recipient, sender_public_key, sealed, aad=aad, context=context)
    try:
        return scalar_from_bytes(data)
    except InvalidEncoding as exc:
        culprits = [] if sender_id is None else [sender_id]
        raise InvalidShare(culprits, f"sealed share is not a canonical scalar: {exc}") from None

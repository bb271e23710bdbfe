"""The FROST(Ed25519, SHA-512) ciphersuite of RFC 9591 section 6.1, plus our extra hashes.

Every hash-to-scalar reduces all 64 SHA-512 bytes, little-endian, mod L. H2 has no context
string on purpose: it is the plain Ed25519 challenge, so aggregate signatures verify as
ordinary RFC 8032 signatures.
"""

from __future__ import annotations

import hashlib
from typing import Final

from ..errors import InvalidParameters, InvalidScalar
from .group import SCALAR_BYTES, L, scalar_from_wide

__all__ = [
    "CONTEXT",
    "H1",
    "H2",
    "H3",
    "H4",
    "H5",
    "HDKD",
    "HDKG",
    "identifier_from_bytes",
    "identifier_to_bytes",
]

CONTEXT: Final = b"FROST-ED25519-SHA512-v1"
_RHO: Final = CONTEXT + b"rho"
_NONCE: Final = CONTEXT + b"nonce"
_MSG: Final = CONTEXT + b"msg"
_COM: Final = CONTEXT + b"com"
_DKG: Final = CONTEXT + b"dkg"
_DKD: Final = CONTEXT + b"dkd"


def H1(m: bytes) -> int:
    """Binding factor hash."""
    return scalar_from_wide(hashlib.sha512(_RHO + m).digest())


def H2(m: bytes) -> int:
    """Challenge hash: no context string (plain Ed25519)."""
    return scalar_from_wide(hashlib.sha512(m).digest())


def H3(m: bytes) -> int:
    """Nonce derivation hash."""
    return scalar_from_wide(hashlib.sha512(_NONCE + m).digest())


def H4(m: bytes) -> bytes:
    """Message hash (64 bytes, not reduced)."""
    return hashlib.sha512(_MSG + m).digest()


def H5(m: bytes) -> bytes:
    """Commitment-list hash (64 bytes, not reduced)."""
    return hashlib.sha512(_COM + m).digest()


def HDKG(m: bytes) -> int:
    """DKG proof-of-knowledge challenge, as in ZcashFoundation/frost."""
    return scalar_from_wide(hashlib.sha512(_DKG + m).digest())


def HDKD(m: bytes) -> int:
    """Key-derivation tweak hash (Minuet's extension, see docs/crypto.md)."""
    return scalar_from_wide(hashlib.sha512(_DKD + m).digest())


def identifier_to_bytes(identifier: int) -> bytes:
    """Identifiers are non-zero scalars, serialized as 32-byte little-endian scalars."""
    if not 0 < identifier < L:
        raise InvalidParameters(f"identifier must be in [1, L), got {identifier}")
    return identifier.to_bytes(SCALAR_BYTES, "little")


def identifier_from_bytes(data: bytes) -> int:
    if len(data) != SCALAR_BYTES:
        raise InvalidScalar(f"identifier must be {SCALAR_BYTES} bytes, got {len(data)}")
    i = int.from_bytes(data, "little")
    if not 0 < i < L:
        raise InvalidScalar("identifier must be a non-zero scalar below L")
    return i

"""Crypto effects for Minuet protocols (see docs/crypto.md).

Safe layer: :mod:`.frost` (RFC 9591 FROST(Ed25519, SHA-512) signing), :mod:`.dkg` (Pedersen /
FROST DKG), :mod:`.dkd` (threshold key derivation), :mod:`.reshare` (resharing and refresh),
:mod:`.commit` (commit-reveal and lottery), :mod:`.seal` (authenticated encryption to a
participant), :mod:`.errors`, :mod:`.rand`. Low-level layer: :mod:`.hazmat`.
"""

from runtime.crypto.errors import (
    CryptoError,
    CulpritError,
    DecryptionError,
    InvalidEncoding,
    InvalidParameters,
    InvalidProof,
    InvalidReveal,
    InvalidShare,
    InvalidSignature,
    MissingReveal,
    MissingShare,
    NonceReuse,
    RevealError,
)
from runtime.crypto.rand import OsRandom, RandomSource, SeededRandom

__all__ = [
    "CryptoError",
    "CulpritError",
    "DecryptionError",
    "InvalidEncoding",
    "InvalidParameters",
    "InvalidProof",
    "InvalidReveal",
    "InvalidShare",
    "InvalidSignature",
    "MissingReveal",
    "MissingShare",
    "NonceReuse",
    "OsRandom",
    "RandomSource",
    "RevealError",
    "SeededRandom",
]

"""Crypto effects for Minuet protocols (see docs/crypto.md).

Safe layer: ``frost`` (RFC 9591 FROST(Ed25519, SHA-512) signing), ``dkg`` (Pedersen / FROST
DKG), ``dkd`` (threshold key derivation), ``reshare`` (resharing and refresh), ``commit``
(commit-reveal and lottery), ``seal`` (authenticated encryption to a participant), ``repair``
(share repair), ``keys``, ``errors``, ``rand``. Low-level layer: ``hazmat`` (scalars, points,
hashes, polynomials).
"""

from runtime.crypto.errors import (
    CommitmentMismatch,
    CryptoError,
    IdentifiedFault,
    InvalidCommitment,
    InvalidEncoding,
    InvalidParameters,
    InvalidPoint,
    InvalidProof,
    InvalidReveal,
    InvalidScalar,
    InvalidShare,
    InvalidSignature,
    InvalidSignatureShare,
    MissingReveal,
    MissingShare,
    NonceReuse,
    RevealError,
    SealError,
)
from runtime.crypto.keys import KeyPackage, PublicKeyPackage, trusted_dealer_keygen
from runtime.crypto.rand import DeterministicRandom, OsRandom, RandomSource, default_random

__all__ = [
    "CommitmentMismatch",
    "CryptoError",
    "DeterministicRandom",
    "IdentifiedFault",
    "InvalidCommitment",
    "InvalidEncoding",
    "InvalidParameters",
    "InvalidPoint",
    "InvalidProof",
    "InvalidReveal",
    "InvalidScalar",
    "InvalidShare",
    "InvalidSignature",
    "InvalidSignatureShare",
    "KeyPackage",
    "MissingReveal",
    "MissingShare",
    "NonceReuse",
    "OsRandom",
    "PublicKeyPackage",
    "RandomSource",
    "RevealError",
    "SealError",
    "default_random",
    "trusted_dealer_keygen",
]

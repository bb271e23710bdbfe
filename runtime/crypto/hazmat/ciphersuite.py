"""HAZMAT: the FROST(Ed25519, SHA-512) ciphersuite of RFC 9591 (section 6.1) plus the ZF DKG
challenge hash. Pure functions on ints and encodings; no validation of peers' values."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

from runtime.crypto.hazmat.ed25519 import L, hash_to_scalar, scalar_to_bytes

CONTEXT_STRING = b"FROST-ED25519-SHA512-v1"


def h1(m: bytes) -> int:
    """H1 (binding factor): SHA-512(ctx || "rho" || m) mod L."""
    return hash_to_scalar(CONTEXT_STRING, b"rho", m)


def h2(m: bytes) -> int:
    """H2 (challenge): SHA-512(m) mod L, no context: the plain Ed25519 challenge."""
    return hash_to_scalar(m)


def h3(m: bytes) -> int:
    """H3 (nonce): SHA-512(ctx || "nonce" || m) mod L."""
    return hash_to_scalar(CONTEXT_STRING, b"nonce", m)


def h4(m: bytes) -> bytes:
    """H4 (message): SHA-512(ctx || "msg" || m), 64 bytes."""
    return hashlib.sha512(CONTEXT_STRING + b"msg" + m).digest()


def h5(m: bytes) -> bytes:
    """H5 (commitment list): SHA-512(ctx || "com" || m), 64 bytes."""
    return hashlib.sha512(CONTEXT_STRING + b"com" + m).digest()


def hdkg(m: bytes) -> int:
    """HDKG (ZcashFoundation/frost DKG proof-of-knowledge challenge)."""
    return hash_to_scalar(CONTEXT_STRING, b"dkg", m)


def nonce_generate(random_bytes: bytes, secret: int) -> int:
    """RFC 9591 nonce_generate with its 32 random bytes given explicitly."""
    if len(random_bytes) != 32:
        raise ValueError("nonce randomness must be 32 bytes")
    return h3(random_bytes + scalar_to_bytes(secret))


def encode_group_commitment_list(commitments: Sequence[tuple[int, bytes, bytes]]) -> bytes:
    """(identifier, hiding D, binding E) sorted by identifier → concatenation."""
    return b"".join(scalar_to_bytes(i) + d + e for i, d, e in commitments)


def binding_factor_prefix(
    group_public_key: bytes, commitments: Sequence[tuple[int, bytes, bytes]], message: bytes
) -> bytes:
    """rho_input_prefix = SerializeElement(PK) || H4(msg) || H5(encoded commitment list)."""
    return group_public_key + h4(message) + h5(encode_group_commitment_list(commitments))


def binding_factor_input(prefix: bytes, identifier: int) -> bytes:
    return prefix + scalar_to_bytes(identifier)


def compute_challenge(group_commitment: bytes, group_public_key: bytes, message: bytes) -> int:
    return h2(group_commitment + group_public_key + message)


def signature_share(
    hiding_nonce: int,
    binding_nonce: int,
    binding_factor: int,
    lagrange: int,
    signing_share: int,
    challenge: int,
) -> int:
    """z_i = d_i + e_i·rho_i + lambda_i·s_i·c mod L."""
    return (
        hiding_nonce + binding_nonce * binding_factor + lagrange * signing_share * challenge
    ) % L

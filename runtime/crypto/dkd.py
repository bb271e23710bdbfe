"""Threshold key derivation: per-context child keys of a FROST group.

For a context string ``ctx`` the tweak is a public scalar::

    tweak = SHA-512("FROST-ED25519-SHA512-v1" || "dkd" || PK || u64le(len(ctx)) || ctx) mod L

and every share moves by it: s_i' = s_i + tweak, Y_i' = Y_i + tweak·G, PK' = PK + tweak·G.
Because Lagrange coefficients over any signing set sum to 1, any ``t`` holders of derived shares
sign under PK' with ordinary FROST; fewer than ``t`` learn nothing about s' = s + tweak.

Limits: the tweak is public, so derived keys are *linkable* to the group key by anyone who knows
PK and ctx, and a derived secret reveals the master secret (s = s' - tweak). It gives key
separation per context, not unlinkability or hierarchical isolation (see docs/crypto.md).
"""

from __future__ import annotations

import struct

from runtime.crypto.frost import KeyPackage, PublicKeyPackage
from runtime.crypto.hazmat import ciphersuite as cs
from runtime.crypto.hazmat.ed25519 import L, add, base_mult, hash_to_scalar

__all__ = ["derive_key_package", "derive_public_key_package", "derive_tweak"]


def derive_tweak(group_public_key: bytes, context: bytes) -> int:
    """The public additive tweak for ``context`` under ``group_public_key``."""
    if len(group_public_key) != 32:
        raise ValueError("group public key must be 32 bytes")
    return hash_to_scalar(
        cs.CONTEXT_STRING, b"dkd", group_public_key, struct.pack("<Q", len(context)), context
    )


def derive_key_package(key_package: KeyPackage, context: bytes) -> KeyPackage:
    """This participant's share of the derived key for ``context``."""
    tweak = derive_tweak(key_package.group_public_key, context)
    tweak_point = base_mult(tweak)
    return KeyPackage(
        key_package.identifier,
        (key_package.signing_share + tweak) % L,
        add(key_package.verifying_share, tweak_point),
        add(key_package.group_public_key, tweak_point),
        key_package.min_signers,
    )


def derive_public_key_package(
    public_key_package: PublicKeyPackage, context: bytes
) -> PublicKeyPackage:
    """The derived group key and verifying shares for ``context``."""
    tweak_point = base_mult(derive_tweak(public_key_package.group_public_key, context))
    return PublicKeyPackage(
        add(public_key_package.group_public_key, tweak_point),
        tuple((i, add(y, tweak_point)) for i, y in public_key_package.verifying_shares),
        public_key_package.min_signers,
    )

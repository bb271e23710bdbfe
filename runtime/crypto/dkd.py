"""Threshold key derivation (DKD): per-context child keys of a FROST group.

For a context string ``ctx`` the tweak is a public scalar::

    tweak = SHA-512("FROST-ED25519-SHA512-v1" || "dkd" || PK || u64le(len(ctx)) || ctx) mod L

and every share moves by it: s_i' = s_i + tweak, Y_i' = Y_i + tweak·G, PK' = PK + tweak·G.
Lagrange coefficients over any signing set sum to 1, so any ``t`` holders of derived shares
sign under PK' with ordinary FROST, and fewer than ``t`` learn nothing about s' = s + tweak.

Limits: the tweak is public, so anyone who knows PK and ctx can link PK' to PK, and a derived
secret reveals the master secret (s = s' - tweak). This is key separation per context, not
unlinkability or hierarchical isolation (docs/crypto.md).
"""

from __future__ import annotations

from .hazmat.group import L, Point, add, base_mul
from .hazmat.suite import HDKD
from .keys import KeyPackage, PublicKeyPackage

__all__ = [
    "derivation_tweak",
    "derive_key_package",
    "derive_public_key_package",
    "derive_verifying_key",
]


def derivation_tweak(verifying_key: Point, context: bytes) -> int:
    """The public additive tweak for ``context`` under the group key."""
    # PK is fixed-length and ctx is length-prefixed: the input is unambiguous.
    return HDKD(verifying_key.to_bytes() + len(context).to_bytes(8, "little") + context)


def derive_verifying_key(verifying_key: Point, context: bytes) -> Point:
    return add(verifying_key, base_mul(derivation_tweak(verifying_key, context)))


def derive_key_package(key_package: KeyPackage, context: bytes) -> KeyPackage:
    """This participant's share of the key derived for ``context``."""
    tweak = derivation_tweak(key_package.verifying_key, context)
    t_point = base_mul(tweak)
    return KeyPackage(
        key_package.identifier,
        (key_package.signing_share + tweak) % L,
        add(key_package.verifying_share, t_point),
        add(key_package.verifying_key, t_point),
        key_package.min_signers,
    )


def derive_public_key_package(
    public_key_package: PublicKeyPackage, context: bytes
) -> PublicKeyPackage:
    """The derived group key and verifying shares for ``context``."""
    t_point = base_mul(derivation_tweak(public_key_package.verifying_key, context))
    return PublicKeyPackage(
        {i: add(y, t_point) for i, y in public_key_package.verifying_shares.items()},
        add(public_key_package.verifying_key, t_point),
        public_key_package.min_signers,
    )

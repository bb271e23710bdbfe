"""Threshold key derivation (DKD): per-context child keys of a FROST group.

The tweak for a context is the output of a threshold PRF keyed by the group secret ``s``
(a DDH-based PRF in the manner of Naor, Pinkas and Reingold), so only ``t`` holders together
can compute it::

    H      = hash_to_group(PK, ctx)                       (Elligator 2, cofactor cleared)
    σ_i    = s_i·H, with a DLEQ proof that log_G Y_i = log_H σ_i     (each participant)
    σ      = Σ λ_i·σ_i = s·H                              (any t valid evaluations)
    tweak  = SHA-512("FROST-ED25519-SHA512-v1" || "dkd" || PK || σ || u64le(len ctx) || ctx)

and every share moves by it: s_i' = s_i + tweak, Y_i' = Y_i + tweak·G, PK' = PK + tweak·G.
Lagrange coefficients over any signing set sum to 1, so any ``t`` holders of derived shares
sign under PK' with ordinary FROST.

What this gives (tests in ``tests/crypto/test_keys.py``):

* any t participants derive the same tweak, hence the same key, for a context; fewer than t
  cannot compute it (σ is a threshold evaluation) and ``combine`` refuses to try;
* a bad evaluation is caught by its DLEQ proof and names its sender (``InvalidProof``);
* to anyone without t shares, tweaks of different contexts are independent pseudorandom
  scalars: PK' cannot be linked to PK, and a leaked derived secret s' reveals neither s nor
  any other context's key (the offset s' - s is the secret tweak).

Participants learn the tweak, so the t holders can of course move between a context key and
the master key: this is isolation from outsiders, not between insiders (docs/crypto.md).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass, field

from .errors import CryptoError, InvalidEncoding, InvalidParameters, InvalidPoint, InvalidProof
from .hazmat.group import (
    POINT_BYTES,
    SCALAR_BYTES,
    L,
    Point,
    add,
    base_mul,
    hash_to_group,
    mul,
    point_from_bytes,
    scalar_from_bytes,
    scalar_from_wide,
    scalar_to_bytes,
    sub,
    sum_points,
)
from .hazmat.poly import lagrange_at_zero
from .hazmat.suite import CONTEXT, HDKD, identifier_from_bytes, identifier_to_bytes
from .keys import KeyPackage, PublicKeyPackage
from .rand import RandomSource, default_random

__all__ = [
    "DerivationShare",
    "DerivationTweak",
    "combine",
    "context_point",
    "derive_key_package",
    "derive_public_key_package",
    "evaluate",
    "verify_derivation_share",
]

_H2C = CONTEXT + b"dkd-h2c"
_DLEQ = CONTEXT + b"dkd-dleq"
_NONCE = CONTEXT + b"dkd-nonce"
SHARE_BYTES = SCALAR_BYTES + POINT_BYTES + 2 * SCALAR_BYTES


def _framed(verifying_key: Point, context: bytes) -> bytes:
    # PK is fixed-length and ctx is length-prefixed: every hash input below is unambiguous.
    return verifying_key.to_bytes() + len(context).to_bytes(8, "little") + context


def context_point(verifying_key: Point, context: bytes) -> Point:
    """H = hash_to_group(PK, ctx): the PRF input point for ``context`` (public)."""
    return hash_to_group(hashlib.sha512(_H2C + _framed(verifying_key, context)).digest()[:32])


@dataclass(frozen=True, slots=True)
class DerivationShare:
    """Participant ``identifier``'s PRF evaluation σ_i = s_i·H and its DLEQ proof (c, z)."""

    identifier: int
    evaluation: Point
    challenge: int
    response: int

    def to_bytes(self) -> bytes:
        """id || σ_i || c || z: 128 bytes."""
        return (
            identifier_to_bytes(self.identifier)
            + self.evaluation.to_bytes()
            + scalar_to_bytes(self.challenge)
            + scalar_to_bytes(self.response)
        )

    @classmethod
    def from_bytes(cls, data: bytes) -> DerivationShare:
        """Parse and validate the encoding (σ_i a subgroup point, c and z reduced scalars);
        the proof itself is checked by ``verify_derivation_share`` / ``combine``."""
        if len(data) != SHARE_BYTES:
            raise InvalidEncoding(f"derivation share must be {SHARE_BYTES} bytes")
        identifier = identifier_from_bytes(data[:32])
        try:
            evaluation = point_from_bytes(data[32:64])
        except InvalidPoint:
            raise InvalidProof([identifier], "derivation share: invalid evaluation") from None
        try:
            challenge, response = scalar_from_bytes(data[64:96]), scalar_from_bytes(data[96:128])
        except InvalidEncoding as exc:
            raise InvalidProof([identifier], f"derivation share: malformed proof: {exc}") from None
        return cls(identifier, evaluation, challenge, response)


def _dleq_challenge(
    identifier: int, framed: bytes, y_i: Point, h: Point, sigma_i: Point, a: Point, b: Point
) -> int:
    return scalar_from_wide(
        hashlib.sha512(
            _DLEQ
            + framed
            + identifier_to_bytes(identifier)
            + b"".join(p.to_bytes() for p in (y_i, h, sigma_i, a, b))
        ).digest()
    )


def evaluate(
    key_package: KeyPackage, context: bytes, rng: RandomSource | None = None
) -> DerivationShare:
    """This participant's evaluation for ``context``, proven with a Chaum-Pedersen DLEQ."""
    rng = rng or default_random()
    vk = key_package.verifying_key
    framed = _framed(vk, context)
    h = context_point(vk, context)
    s_i = key_package.signing_share
    sigma_i = mul(s_i, h)
    # The nonce mixes the secret in (as FROST's nonce_generate does) so a weak RNG alone does
    # not repeat it; a repeated k with two challenges would reveal s_i.
    k = scalar_from_wide(
        hashlib.sha512(_NONCE + rng.random_bytes(32) + scalar_to_bytes(s_i) + framed).digest()
    )
    if k == 0:  # pragma: no cover - probability 2**-252
        raise CryptoError("zero DLEQ nonce; retry")
    c = _dleq_challenge(
        key_package.identifier,
        framed,
        key_package.verifying_share,
        h,
        sigma_i,
        base_mul(k),
        mul(k, h),
    )
    return DerivationShare(key_package.identifier, sigma_i, c, (k + c * s_i) % L)


def verify_derivation_share(
    share: DerivationShare, public_key_package: PublicKeyPackage, context: bytes
) -> None:
    """Check σ_i against the sender's verifying share Y_i; raises ``InvalidProof``."""
    vk = public_key_package.verifying_key
    _check(share, public_key_package, context_point(vk, context), _framed(vk, context))


def _check(share: DerivationShare, public: PublicKeyPackage, h: Point, framed: bytes) -> None:
    y_i = public.verifying_shares.get(share.identifier)
    if y_i is None:
        raise InvalidProof([share.identifier], "derivation share from outside the group")
    # A = z·G - c·Y_i and B = z·H - c·σ_i are the prover's commitments iff the proof is honest.
    a = sub(base_mul(share.response), mul(share.challenge, y_i))
    b = sub(mul(share.response, h), mul(share.challenge, share.evaluation))
    if (
        a.is_identity
        or b.is_identity
        or share.challenge
        != _dleq_challenge(share.identifier, framed, y_i, h, share.evaluation, a, b)
    ):
        raise InvalidProof([share.identifier], "derivation share: DLEQ proof does not verify")


@dataclass(frozen=True, slots=True)
class DerivationTweak:
    """The secret tweak of one context: keep it among the group (outsiders must not learn
    it, or they can link PK' to PK and move from a leaked derived secret to the master)."""

    context: bytes
    verifying_key: Point
    tweak: int = field(repr=False)


def combine(
    public_key_package: PublicKeyPackage,
    context: bytes,
    shares: Iterable[DerivationShare],
) -> DerivationTweak:
    """Verify at least t evaluations, interpolate σ = s·H and hash it into the tweak.

    Every share is checked: all senders of bad proofs are named at once (``InvalidProof``).
    Any t valid evaluations give the same σ, so every honest participant gets the same key.
    """
    by_id: dict[int, DerivationShare] = {}
    for s in shares:
        if s.identifier in by_id:
            raise InvalidParameters(f"two derivation shares from {s.identifier}")
        by_id[s.identifier] = s
    t = public_key_package.min_signers
    if len(by_id) < t:
        raise InvalidParameters(f"{len(by_id)} derivation shares, need at least {t}")
    vk = public_key_package.verifying_key
    framed = _framed(vk, context)
    h = context_point(vk, context)
    culprits: list[int] = []
    for i, share in by_id.items():
        try:
            _check(share, public_key_package, h, framed)
        except InvalidProof:
            culprits.append(i)
    if culprits:
        raise InvalidProof(culprits, "derivation share does not verify")
    ids = sorted(by_id)
    sigma = sum_points([mul(lagrange_at_zero(ids, i), by_id[i].evaluation) for i in ids])
    tweak = HDKD(vk.to_bytes() + sigma.to_bytes() + len(context).to_bytes(8, "little") + context)
    return DerivationTweak(bytes(context), vk, tweak)


def _check_group(tweak: DerivationTweak, verifying_key: Point) -> None:
    if tweak.verifying_key != verifying_key:
        raise InvalidParameters("the derivation tweak was computed for another group key")


def derive_key_package(key_package: KeyPackage, tweak: DerivationTweak) -> KeyPackage:
    """This participant's share of the key derived for ``tweak.context``."""
    _check_group(tweak, key_package.verifying_key)
    t_point = base_mul(tweak.tweak)
    return KeyPackage(
        key_package.identifier,
        (key_package.signing_share + tweak.tweak) % L,
        add(key_package.verifying_share, t_point),
        add(key_package.verifying_key, t_point),
        key_package.min_signers,
    )


def derive_public_key_package(
    public_key_package: PublicKeyPackage, tweak: DerivationTweak
) -> PublicKeyPackage:
    """The derived group key and verifying shares for ``tweak.context``."""
    _check_group(tweak, public_key_package.verifying_key)
    t_point = base_mul(tweak.tweak)
    return PublicKeyPackage(
        {i: add(y, t_point) for i, y in public_key_package.verifying_shares.items()},
        add(public_key_package.verifying_key, t_point),
        public_key_package.min_signers,
    )

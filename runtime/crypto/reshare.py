"""Resharing and refresh: move a FROST key from (t, n) holders to (t', n') holders, or refresh
every share, keeping the group public key.

Each old holder ``i`` in a signing set S (|S| >= t) deals its Lagrange-weighted share
w_i = lambda_i^S · s_i with a fresh random polynomial g_i of degree t'-1 (g_i(0) = w_i),
broadcasting VSS commitments C_ik = g_ik·G and sending g_i(j) privately (seal it) to every new
holder j. A new holder checks, for every dealer i::

    C_i0 == lambda_i^S · Y_i        (the dealer reshared its real share; Y_i from the old group)
    g_i(j)·G == sum_k j^k · C_ik    (its share matches the commitment)

naming culprits in :class:`InvalidShare`, then sums: s'_j = sum_i g_i(j). The new group
commitment is the coefficient-wise sum of the C_i, whose constant term is sum_i lambda_i Y_i =
PK. Old and new shares lie on unrelated polynomials, so they do not combine.

Refresh is resharing to the same identifiers and threshold.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from runtime.crypto.dkg import _sum_commitments, public_key_package_from_commitment
from runtime.crypto.errors import (
    InvalidEncoding,
    InvalidParameters,
    InvalidShare,
    MissingShare,
)
from runtime.crypto.frost import (
    KeyPackage,
    PublicKeyPackage,
    _check_threshold,
    _random_scalar,
    check_identifier,
)
from runtime.crypto.hazmat.ed25519 import (
    L,
    base_mult,
    check_scalar,
    decode_point,
    lagrange_coefficient,
    mult,
    poly_commit_eval,
    poly_eval,
)
from runtime.crypto.rand import DEFAULT_RANDOM, RandomSource

__all__ = ["ResharePackage", "deal", "receive"]


@dataclass(frozen=True, slots=True)
class ResharePackage:
    """Broadcast by an old holder: VSS commitment to its resharing polynomial."""

    commitment: tuple[bytes, ...]


def _check_sets(
    old: PublicKeyPackage,
    old_signers: Sequence[int],
    new_identifiers: Sequence[int],
    new_min_signers: int,
) -> tuple[list[int], list[int]]:
    s = sorted(old_signers)
    if len(set(s)) != len(s):
        raise InvalidParameters("duplicate old signers")
    if len(s) < old.min_signers:
        raise InvalidParameters(f"{len(s)} old signers, old threshold is {old.min_signers}")
    known = set(old.identifiers)
    for i in s:
        if i not in known:
            raise InvalidParameters(f"old signer {i} is not in the old group")
    new = sorted(check_identifier(j) for j in new_identifiers)
    if len(set(new)) != len(new):
        raise InvalidParameters("duplicate new identifiers")
    _check_threshold(new_min_signers, len(new))
    return s, new


def deal(
    key_package: KeyPackage,
    old_public_key_package: PublicKeyPackage,
    old_signers: Sequence[int],
    new_identifiers: Sequence[int],
    new_min_signers: int,
    rng: RandomSource = DEFAULT_RANDOM,
) -> tuple[ResharePackage, dict[int, int]]:
    """Old holder: returns (broadcast package, {new id: secret share to seal and send})."""
    s, new = _check_sets(old_public_key_package, old_signers, new_identifiers, new_min_signers)
    if key_package.identifier not in s:
        raise InvalidParameters("this holder is not among the old signers")
    if key_package.group_public_key != old_public_key_package.group_public_key:
        raise InvalidParameters("key package belongs to another group")
    w = lagrange_coefficient(key_package.identifier, s) * key_package.signing_share % L
    poly = [w] + [_random_scalar(rng) for _ in range(new_min_signers - 1)]
    commitment = tuple(base_mult(c) for c in poly)
    return ResharePackage(commitment), {j: poly_eval(poly, j) for j in new}


def receive(
    new_identifier: int,
    old_public_key_package: PublicKeyPackage,
    old_signers: Sequence[int],
    new_identifiers: Sequence[int],
    new_min_signers: int,
    packages: Mapping[int, ResharePackage],
    shares: Mapping[int, int],
) -> tuple[KeyPackage, PublicKeyPackage]:
    """New holder: verify every dealer's package and share; return the new key packages."""
    s, new = _check_sets(old_public_key_package, old_signers, new_identifiers, new_min_signers)
    if new_identifier not in new:
        raise InvalidParameters("this holder is not among the new identifiers")
    extra = [i for i in set(packages) | set(shares) if i not in s]
    if extra:
        raise InvalidShare(extra, "reshare data from a non-dealer")
    missing = [i for i in s if i not in packages or i not in shares]
    if missing:
        raise MissingShare(missing)
    commitments: list[tuple[bytes, ...]] = []
    bad_encoding: list[int] = []
    bad: list[int] = []
    total = 0
    for i in s:
        pkg = packages[i]
        try:
            if len(pkg.commitment) != new_min_signers:
                raise InvalidEncoding((i,), "commitment has the wrong length")
            commitment = tuple(decode_point(c, i) for c in pkg.commitment)
            share = check_scalar(shares[i], i)
        except InvalidEncoding:
            bad_encoding.append(i)
            continue
        expected_c0 = mult(lagrange_coefficient(i, s), old_public_key_package.verifying_share(i))
        if commitment[0] != expected_c0 or base_mult(share) != poly_commit_eval(
            commitment, new_identifier, i
        ):
            bad.append(i)
            continue
        commitments.append(commitment)
        total += share
    if bad_encoding:
        raise InvalidEncoding(bad_encoding, "malformed reshare package or share")
    if bad:
        raise InvalidShare(bad, "reshared share or commitment does not verify")
    group_commitment = _sum_commitments(commitments)
    if group_commitment[0] != old_public_key_package.group_public_key:  # pragma: no cover
        raise InvalidShare((), "reshared commitments do not add up to the group key")
    pkp = public_key_package_from_commitment(group_commitment, new, new_min_signers)
    signing_share = total % L
    kp = KeyPackage(
        new_identifier,
        signing_share,
        pkp.verifying_share(new_identifier),
        pkp.group_public_key,
        new_min_signers,
    )
    return kp, pkp

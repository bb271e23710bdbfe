"""Pedersen / FROST distributed key generation, as in ZcashFoundation/frost (``keys::dkg``).

Three local steps per participant ``i`` among ``n``, threshold ``t``::

    secret1, pkg1 = round1(i, t, n, rng)            # broadcast pkg1 to everyone
    secret2, outgoing = round2(secret1, received1)   # send outgoing[j] to j only (seal it!)
    key_package, public_key_package = finish(secret2, received1, received2)

``received1`` / ``received2`` map every *other* participant's identifier to its package.
Proofs of knowledge are checked in :func:`round2` (:class:`InvalidProof` names the culprits);
received shares are checked against the senders' VSS commitments in :func:`finish`
(:class:`InvalidShare` names the culprits). Malformed points raise :class:`InvalidEncoding`
with the sender as culprit.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from runtime.crypto.errors import (
    InvalidEncoding,
    InvalidParameters,
    InvalidProof,
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
from runtime.crypto.hazmat import ciphersuite as cs
from runtime.crypto.hazmat.ed25519 import (
    L,
    add,
    base_mult,
    check_scalar,
    decode_point,
    mult,
    poly_commit_eval,
    poly_eval,
    scalar_from_bytes,
    scalar_to_bytes,
    sub,
)
from runtime.crypto.rand import DEFAULT_RANDOM, RandomSource

__all__ = [
    "Round1Package",
    "Round1Secret",
    "Round2Package",
    "Round2Secret",
    "finish",
    "pok_challenge",
    "round1",
    "round1_from_coefficients",
    "round2",
    "verify_proof_of_knowledge",
]


@dataclass(frozen=True, slots=True)
class Round1Package:
    """Broadcast: VSS commitment (C_0..C_{t-1}) and proof of knowledge R || mu of a_0."""

    commitment: tuple[bytes, ...]
    proof_of_knowledge: bytes


@dataclass(frozen=True, slots=True)
class Round1Secret:
    identifier: int
    coefficients: tuple[int, ...] = field(repr=False)
    commitment: tuple[bytes, ...]
    min_signers: int
    max_signers: int


@dataclass(frozen=True, slots=True)
class Round2Package:
    """Private (seal it): the sender's polynomial evaluated at the recipient, f_i(j)."""

    signing_share: int = field(repr=False)


@dataclass(frozen=True, slots=True)
class Round2Secret:
    identifier: int
    own_share: int = field(repr=False)
    """f_i(i)."""
    commitments: tuple[tuple[int, tuple[bytes, ...]], ...]
    """Validated VSS commitments of every participant, ours included, sorted by id."""
    min_signers: int
    max_signers: int


def pok_challenge(identifier: int, c0: bytes, r: bytes) -> int:
    """HDKG(SerializeScalar(i) || C_i0 || R)."""
    return cs.hdkg(scalar_to_bytes(identifier) + c0 + r)


def round1_from_coefficients(
    identifier: int, coefficients: Sequence[int], pok_nonce: int, max_signers: int
) -> tuple[Round1Secret, Round1Package]:
    """HAZMAT-level round one with explicit coefficients a_0..a_{t-1} and PoK nonce k."""
    check_identifier(identifier)
    _check_threshold(len(coefficients), max_signers)
    coeffs = tuple(c % L for c in coefficients)
    if coeffs[0] == 0 or pok_nonce % L == 0:
        raise InvalidParameters("secret coefficient and proof nonce must be non-zero")
    commitment = tuple(base_mult(c) for c in coeffs)
    r = base_mult(pok_nonce)
    mu = (pok_nonce + coeffs[0] * pok_challenge(identifier, commitment[0], r)) % L
    secret = Round1Secret(identifier, coeffs, commitment, len(coeffs), max_signers)
    return secret, Round1Package(commitment, r + scalar_to_bytes(mu))


def round1(
    identifier: int, min_signers: int, max_signers: int, rng: RandomSource = DEFAULT_RANDOM
) -> tuple[Round1Secret, Round1Package]:
    _check_threshold(min_signers, max_signers)
    coeffs = [_random_scalar(rng) for _ in range(min_signers)]
    return round1_from_coefficients(identifier, coeffs, _random_scalar(rng), max_signers)


def verify_proof_of_knowledge(
    identifier: int, package: Round1Package, min_signers: int
) -> tuple[bytes, ...]:
    """Validate a received round-one package; return its validated commitment.

    Raises :class:`InvalidEncoding` or :class:`InvalidProof` naming ``identifier``."""
    if len(package.commitment) != min_signers:
        raise InvalidEncoding((identifier,), "VSS commitment has the wrong length")
    commitment = tuple(decode_point(c, identifier) for c in package.commitment)
    pok = package.proof_of_knowledge
    if len(pok) != 64:
        raise InvalidEncoding((identifier,), "proof of knowledge must be 64 bytes")
    r = decode_point(pok[:32], identifier)
    mu = scalar_from_bytes(pok[32:], identifier)
    c = pok_challenge(identifier, commitment[0], r)
    # R == mu·G - c·C_0
    if sub(base_mult(mu), mult(c, commitment[0], identifier)) != r:
        raise InvalidProof((identifier,), "proof of knowledge does not verify")
    return commitment


def _check_peers(me: int, max_signers: int, received: Mapping[int, object], what: str) -> list[int]:
    peers = sorted(received)
    for j in peers:
        check_identifier(j)
    if me in received:
        raise InvalidParameters(f"{what} must not include our own package")
    if len(peers) != max_signers - 1:
        raise InvalidParameters(
            f"{what}: expected {max_signers - 1} packages from peers, got {len(peers)}"
        )
    return peers


def round2(
    secret: Round1Secret, received: Mapping[int, Round1Package]
) -> tuple[Round2Secret, dict[int, Round2Package]]:
    """Verify every peer's proof of knowledge and commitment; produce f_i(j) for each peer j."""
    peers = _check_peers(secret.identifier, secret.max_signers, received, "round1 packages")
    bad: list[int] = []
    commitments: dict[int, tuple[bytes, ...]] = {secret.identifier: secret.commitment}
    encoding_culprits: list[int] = []
    for j in peers:
        try:
            commitments[j] = verify_proof_of_knowledge(j, received[j], secret.min_signers)
        except InvalidProof:
            bad.append(j)
        except InvalidEncoding:
            encoding_culprits.append(j)
    if encoding_culprits:
        raise InvalidEncoding(encoding_culprits, "malformed round-one package")
    if bad:
        raise InvalidProof(bad, "proof of knowledge does not verify")
    outgoing = {j: Round2Package(poly_eval(secret.coefficients, j)) for j in peers}
    own = poly_eval(secret.coefficients, secret.identifier)
    r2 = Round2Secret(
        secret.identifier,
        own,
        tuple(sorted(commitments.items())),
        secret.min_signers,
        secret.max_signers,
    )
    return r2, outgoing


def finish(
    secret: Round2Secret,
    received1: Mapping[int, Round1Package],
    received2: Mapping[int, Round2Package],
) -> tuple[KeyPackage, PublicKeyPackage]:
    """Verify every received share f_j(i) against C_j; output the key packages.

    ``received1`` must be the same round-one packages given to :func:`round2` (their
    commitments are compared with the ones validated there)."""
    me = secret.identifier
    commitments = dict(secret.commitments)
    peers = sorted(j for j in commitments if j != me)
    for j in peers:
        if j not in received1 or received1[j].commitment != commitments[j]:
            raise InvalidParameters(f"round-one package of {j} differs from round two's")
    missing = [j for j in peers if j not in received2]
    if missing:
        raise MissingShare(missing)
    extra = [j for j in received2 if j not in commitments or j == me]
    if extra:
        raise InvalidShare(extra, "share from a non-participant")
    bad: list[int] = []
    total = secret.own_share
    for j in peers:
        f_ji = received2[j].signing_share
        try:
            check_scalar(f_ji, j)
        except InvalidEncoding:
            bad.append(j)
            continue
        if base_mult(f_ji) != poly_commit_eval(commitments[j], me, j):
            bad.append(j)
        total += f_ji
    if bad:
        raise InvalidShare(bad, "share does not match the sender's VSS commitment")
    signing_share = total % L
    group_commitment = _sum_commitments([c for _, c in secret.commitments])
    pkp = public_key_package_from_commitment(
        group_commitment, sorted(commitments), secret.min_signers
    )
    kp = KeyPackage(
        me, signing_share, pkp.verifying_share(me), group_commitment[0], secret.min_signers
    )
    if base_mult(signing_share) != kp.verifying_share:  # pragma: no cover - consistency
        raise InvalidShare((), "own signing share inconsistent with commitments")
    return kp, pkp


def _sum_commitments(commitments: Sequence[Sequence[bytes]]) -> tuple[bytes, ...]:
    t = len(commitments[0])
    out = []
    for k in range(t):
        acc = commitments[0][k]
        for c in commitments[1:]:
            acc = add(acc, c[k])
        out.append(acc)
    return tuple(out)


def public_key_package_from_commitment(
    commitment: Sequence[bytes], identifiers: Sequence[int], min_signers: int
) -> PublicKeyPackage:
    """Y_j = sum_k j^k·C_k for every participant; group key C_0."""
    shares = tuple((j, poly_commit_eval(commitment, j)) for j in sorted(identifiers))
    return PublicKeyPackage(commitment[0], shares, min_signers)

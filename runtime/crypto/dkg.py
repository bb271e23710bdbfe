"""Pedersen / FROST distributed key generation, as in ZcashFoundation/frost (``keys::dkg``).

Three local steps per participant ``i`` among ``n`` with threshold ``t``::

    secret1, pkg1 = part1(i, t, n, rng)                 # broadcast pkg1 to everyone
    secret2, outgoing = part2(secret1, received1)        # send outgoing[j] to j only (seal it)
    key_package, public_key_package = part3(secret2, received1, received2)

``received1`` / ``received2`` map every *other* participant's identifier to its package.
``part2`` checks every proof of knowledge (``InvalidProof`` / ``InvalidCommitment`` name the
culprits), ``part3`` checks every received share against its sender's VSS commitment
(``InvalidShare`` names the culprits). No trusted dealer ever sees the group secret.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from .errors import (
    InvalidCommitment,
    InvalidEncoding,
    InvalidParameters,
    InvalidProof,
    InvalidShare,
    MissingShare,
)
from .hazmat.group import (
    POINT_BYTES,
    SCALAR_BYTES,
    L,
    Point,
    add,
    base_mul,
    mul,
    point_from_bytes,
    random_nonzero_scalar,
    scalar_from_bytes,
    scalar_to_bytes,
)
from .hazmat.poly import poly_eval, random_polynomial, vss_commit, vss_eval
from .hazmat.suite import HDKG, identifier_to_bytes
from .keys import KeyPackage, PublicKeyPackage, check_threshold, verify_vss_share
from .rand import RandomSource, default_random
from .secret import Secret

__all__ = [
    "Round1Package",
    "Round1Secret",
    "Round2Package",
    "Round2Secret",
    "part1",
    "part1_from_coefficients",
    "part2",
    "part3",
    "pok_challenge",
    "public_key_package_from_commitment",
    "sum_commitments",
    "verify_proof_of_knowledge",
]


@dataclass(frozen=True, slots=True)
class Round1Package:
    """Broadcast: VSS commitment (C_0..C_{t-1}) and proof of knowledge (R, μ) of a_0."""

    commitment: tuple[Point, ...]
    pok_r: Point
    pok_mu: int

    @property
    def proof_of_knowledge(self) -> bytes:
        """R || μ, 64 bytes (the ZF vector field)."""
        return self.pok_r.to_bytes() + scalar_to_bytes(self.pok_mu)

    def to_bytes(self) -> bytes:
        return (
            len(self.commitment).to_bytes(2, "big")
            + b"".join(c.to_bytes() for c in self.commitment)
            + self.proof_of_knowledge
        )

    @classmethod
    def from_bytes(cls, data: bytes, sender: int) -> Round1Package:
        """Parse and validate every point and scalar; failures name ``sender``."""
        try:
            if len(data) < 2:
                raise InvalidEncoding("round-one package too short")
            t = int.from_bytes(data[:2], "big")
            if len(data) != 2 + t * POINT_BYTES + POINT_BYTES + SCALAR_BYTES or t < 1:
                raise InvalidEncoding("round-one package has the wrong length")
            commitment = tuple(
                point_from_bytes(data[2 + k * 32 : 2 + (k + 1) * 32]) for k in range(t)
            )
            pok = data[2 + t * 32 :]
            return cls(commitment, point_from_bytes(pok[:32]), scalar_from_bytes(pok[32:]))
        except InvalidEncoding as exc:
            raise InvalidCommitment([sender], f"malformed round-one package: {exc}") from None


@dataclass(frozen=True, slots=True)
class Round1Secret(Secret):
    identifier: int
    coefficients: tuple[int, ...] = field(repr=False)
    commitment: tuple[Point, ...]
    min_signers: int
    max_signers: int


@dataclass(frozen=True, slots=True)
class Round2Package(Secret):
    """Private (seal it): the sender's polynomial evaluated at the recipient, f_i(j)."""

    signing_share: int = field(repr=False)

    def to_bytes(self) -> bytes:
        return scalar_to_bytes(self.signing_share)

    @classmethod
    def from_bytes(cls, data: bytes, sender: int) -> Round2Package:
        try:
            return cls(scalar_from_bytes(data))
        except InvalidEncoding as exc:
            raise InvalidShare([sender], f"malformed share: {exc}") from None


@dataclass(frozen=True, slots=True)
class Round2Secret(Secret):
    identifier: int
    own_share: int = field(repr=False)  # f_i(i)
    commitments: Mapping[int, tuple[Point, ...]]  # validated, ours included
    min_signers: int
    max_signers: int


def pok_challenge(identifier: int, c0: Point, r: Point) -> int:
    """HDKG(SerializeScalar(i) || C_i0 || R)."""
    return HDKG(identifier_to_bytes(identifier) + c0.to_bytes() + r.to_bytes())


def part1_from_coefficients(
    identifier: int,
    coefficients: Sequence[int],
    max_signers: int,
    rng: RandomSource | None = None,
    *,
    pok_nonce: int | None = None,
) -> tuple[Round1Secret, Round1Package]:
    """Round one with given coefficients a_0..a_{t-1} (test vectors); the PoK nonce is random
    unless given."""
    identifier_to_bytes(identifier)
    check_threshold(len(coefficients), max_signers)
    coeffs = tuple(c % L for c in coefficients)
    if any(c == 0 for c in coeffs):
        raise InvalidParameters("coefficients must be non-zero (receivers reject the identity)")
    k = pok_nonce if pok_nonce is not None else random_nonzero_scalar(rng or default_random())
    commitment = vss_commit(coeffs)
    r = base_mul(k)
    mu = (k + coeffs[0] * pok_challenge(identifier, commitment[0], r)) % L
    secret = Round1Secret(identifier, coeffs, commitment, len(coeffs), max_signers)
    return secret, Round1Package(commitment, r, mu)


def part1(
    identifier: int, min_signers: int, max_signers: int, rng: RandomSource | None = None
) -> tuple[Round1Secret, Round1Package]:
    rng = rng or default_random()
    check_threshold(min_signers, max_signers)
    coefficients = random_polynomial(random_nonzero_scalar(rng), min_signers - 1, rng)
    return part1_from_coefficients(identifier, coefficients, max_signers, rng)


def verify_proof_of_knowledge(identifier: int, package: Round1Package, min_signers: int) -> None:
    """Raise ``InvalidCommitment`` (wrong length) or ``InvalidProof`` naming ``identifier``."""
    if len(package.commitment) != min_signers:
        raise InvalidCommitment([identifier], "VSS commitment has the wrong length")
    c = pok_challenge(identifier, package.commitment[0], package.pok_r)
    # μ·G == R + c·C_0; both sides from validated points.
    if base_mul(package.pok_mu) != add(package.pok_r, mul(c, package.commitment[0])):
        raise InvalidProof([identifier], "proof of knowledge does not verify")


def _check_peers(me: int, max_signers: int, received: Mapping[int, object]) -> list[int]:
    if me in received:
        raise InvalidParameters("received packages must not include our own")
    for j in received:
        identifier_to_bytes(j)
    peers = sorted(received)
    if len(peers) != max_signers - 1:
        raise InvalidParameters(f"expected {max_signers - 1} peer packages, got {len(peers)}")
    return peers


def part2(
    secret: Round1Secret, received: Mapping[int, Round1Package]
) -> tuple[Round2Secret, dict[int, Round2Package]]:
    """Verify every peer's commitment and PoK; produce f_i(j) for every peer j."""
    peers = _check_peers(secret.identifier, secret.max_signers, received)
    bad_commitment: list[int] = []
    bad_proof: list[int] = []
    for j in peers:
        try:
            verify_proof_of_knowledge(j, received[j], secret.min_signers)
        except InvalidProof:
            bad_proof.append(j)
        except InvalidCommitment:
            bad_commitment.append(j)
    if bad_commitment:
        raise InvalidCommitment(bad_commitment + bad_proof, "malformed round-one packages")
    if bad_proof:
        raise InvalidProof(bad_proof, "proof of knowledge does not verify")
    commitments = {j: received[j].commitment for j in peers}
    commitments[secret.identifier] = secret.commitment
    outgoing = {j: Round2Package(poly_eval(secret.coefficients, j)) for j in peers}
    own = poly_eval(secret.coefficients, secret.identifier)
    return (
        Round2Secret(
            secret.identifier,
            own,
            dict(sorted(commitments.items())),
            secret.min_signers,
            secret.max_signers,
        ),
        outgoing,
    )


def part3(
    secret: Round2Secret,
    received1: Mapping[int, Round1Package],
    received2: Mapping[int, Round2Package],
) -> tuple[KeyPackage, PublicKeyPackage]:
    """Verify every received share f_j(i)·G == Σ_k i^k·C_jk; output the key packages.

    ``received1`` must be the round-one packages given to ``part2``."""
    me = secret.identifier
    peers = [j for j in secret.commitments if j != me]
    for j in peers:
        if j not in received1 or received1[j].commitment != secret.commitments[j]:
            raise InvalidParameters(f"round-one package of {j} differs from the one in part2")
    missing = [j for j in peers if j not in received2]
    if missing:
        raise MissingShare(missing, "no round-two share received")
    extra = [j for j in received2 if j not in secret.commitments or j == me]
    if extra:
        raise InvalidShare(extra, "share from a non-participant")
    bad: list[int] = []
    total = secret.own_share
    for j in peers:
        f_ji = received2[j].signing_share
        if not verify_vss_share(secret.commitments[j], me, f_ji):
            bad.append(j)
        total += f_ji
    if bad:
        raise InvalidShare(bad, "share does not match the sender's VSS commitment")
    group_commitment = sum_commitments(list(secret.commitments.values()))
    pkp = public_key_package_from_commitment(
        group_commitment, list(secret.commitments), secret.min_signers
    )
    signing_share = total % L
    kp = KeyPackage(
        me, signing_share, pkp.verifying_shares[me], pkp.verifying_key, secret.min_signers
    )
    if base_mul(signing_share) != kp.verifying_share:  # pragma: no cover - shares verified
        raise InvalidShare([], "own signing share inconsistent with the commitments")
    return kp, pkp


def sum_commitments(commitments: Sequence[Sequence[Point]]) -> tuple[Point, ...]:
    """Coefficient-wise sum of VSS commitments: the commitment to the sum polynomial."""
    t = len(commitments[0])
    out = []
    for k in range(t):
        acc = commitments[0][k]
        for c in commitments[1:]:
            acc = add(acc, c[k])
        out.append(acc)
    return tuple(out)


def public_key_package_from_commitment(
    commitment: Sequence[Point], identifiers: Sequence[int], min_signers: int
) -> PublicKeyPackage:
    """Y_j = Σ_k j^k·C_k for every participant; the group key is C_0."""
    shares = {j: vss_eval(commitment, j) for j in sorted(identifiers)}
    return PublicKeyPackage(shares, commitment[0], min_signers)

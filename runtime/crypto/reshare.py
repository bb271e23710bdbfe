"""Resharing and refresh: move a FROST key from (t, n) holders to (t', n') holders, or refresh
every share, keeping the group public key.

Each old holder ``i`` of a dealer set S (|S| >= t) deals its Lagrange-weighted share
w_i = λ_i^S·s_i with a fresh random polynomial g_i of degree t'-1 (g_i(0) = w_i), broadcasts
the VSS commitment C_ik = g_ik·G and sends g_i(j) privately (seal it) to every new holder j.
A new holder checks, for every dealer i::

    C_i0 == λ_i^S·Y_i              (the dealer reshared its real share; Y_i from the old group)
    g_i(j)·G == Σ_k j^k·C_ik       (its share matches the commitment)

naming culprits in ``InvalidShare`` / ``InvalidCommitment``, then sums s'_j = Σ_i g_i(j). The
new group commitment is the coefficient-wise sum of the C_i; its constant term is
Σ_i λ_i·Y_i = PK. Old and new shares lie on unrelated polynomials, so they do not combine.

Refresh is resharing to the same identifiers and threshold.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from .dkg import public_key_package_from_commitment, sum_commitments
from .errors import (
    InvalidCommitment,
    InvalidEncoding,
    InvalidParameters,
    InvalidShare,
    MissingShare,
)
from .hazmat.group import POINT_BYTES, L, Point, mul, point_from_bytes
from .hazmat.poly import (
    check_identifiers,
    lagrange_at_zero,
    poly_eval,
    random_polynomial,
    vss_commit,
)
from .keys import KeyPackage, PublicKeyPackage, check_threshold, verify_vss_share
from .rand import RandomSource, default_random

__all__ = ["ResharePackage", "deal", "receive", "refresh", "reshares_real_share"]


def reshares_real_share(
    package: ResharePackage, dealers: Sequence[int], dealer: int, old_public: PublicKeyPackage
) -> bool:
    """C_0 == λ_i^S·Y_i: the dealer reshares exactly its weighted old share, else the group
    key would move. ``dealer`` must be one of ``dealers`` and of ``old_public``."""
    weighted = mul(lagrange_at_zero(dealers, dealer), old_public.verifying_shares[dealer])
    return package.commitment[0] == weighted


@dataclass(frozen=True, slots=True)
class ResharePackage:
    """Broadcast by an old holder: the VSS commitment to its resharing polynomial."""

    commitment: tuple[Point, ...]

    def to_bytes(self) -> bytes:
        return b"".join(c.to_bytes() for c in self.commitment)

    @classmethod
    def from_bytes(cls, data: bytes, sender: int) -> ResharePackage:
        try:
            if not data or len(data) % POINT_BYTES:
                raise InvalidEncoding("reshare commitment has the wrong length")
            return cls(tuple(point_from_bytes(data[k : k + 32]) for k in range(0, len(data), 32)))
        except InvalidEncoding as exc:
            raise InvalidCommitment([sender], f"malformed reshare package: {exc}") from None


def _check_sets(
    old: PublicKeyPackage,
    dealers: Sequence[int],
    new_identifiers: Sequence[int],
    new_min_signers: int,
) -> tuple[list[int], list[int]]:
    s = sorted(dealers)
    check_identifiers(s)
    if len(s) < old.min_signers:
        raise InvalidParameters(f"{len(s)} dealers, the old threshold is {old.min_signers}")
    unknown = [i for i in s if i not in old.verifying_shares]
    if unknown:
        raise InvalidParameters(f"dealers {unknown} are not in the old group")
    new = sorted(new_identifiers)
    check_identifiers(new)
    check_threshold(new_min_signers, len(new))
    return s, new


def deal(
    key_package: KeyPackage,
    old_public_key_package: PublicKeyPackage,
    dealers: Sequence[int],
    new_identifiers: Sequence[int],
    new_min_signers: int,
    rng: RandomSource | None = None,
) -> tuple[ResharePackage, dict[int, int]]:
    """Old holder: (broadcast package, {new identifier: secret share to seal and send})."""
    rng = rng or default_random()
    s, new = _check_sets(old_public_key_package, dealers, new_identifiers, new_min_signers)
    if key_package.identifier not in s:
        raise InvalidParameters("this holder is not among the dealers")
    if key_package.verifying_key != old_public_key_package.verifying_key:
        raise InvalidParameters("key package belongs to another group")
    w = lagrange_at_zero(s, key_package.identifier) * key_package.signing_share % L
    poly = random_polynomial(w, new_min_signers - 1, rng)
    return ResharePackage(vss_commit(poly)), {j: poly_eval(poly, j) for j in new}


def receive(
    new_identifier: int,
    old_public_key_package: PublicKeyPackage,
    dealers: Sequence[int],
    new_identifiers: Sequence[int],
    new_min_signers: int,
    packages: Mapping[int, ResharePackage],
    shares: Mapping[int, int],
) -> tuple[KeyPackage, PublicKeyPackage]:
    """New holder: verify every dealer's package and share; return the new key packages."""
    s, new = _check_sets(old_public_key_package, dealers, new_identifiers, new_min_signers)
    if new_identifier not in new:
        raise InvalidParameters("this holder is not among the new identifiers")
    extra = sorted(i for i in set(packages) | set(shares) if i not in s)
    if extra:
        raise InvalidShare(extra, "reshare data from a non-dealer")
    missing = [i for i in s if i not in packages or i not in shares]
    if missing:
        raise MissingShare(missing, "no reshare package or share received")
    bad_commitment = [i for i in s if len(packages[i].commitment) != new_min_signers]
    if bad_commitment:
        raise InvalidCommitment(bad_commitment, "reshare commitment has the wrong length")
    bad: list[int] = []
    total = 0
    for i in s:
        commitment = packages[i].commitment
        share = shares[i]
        if not (
            reshares_real_share(packages[i], s, i, old_public_key_package)
            and verify_vss_share(commitment, new_identifier, share)
        ):
            bad.append(i)
        total += share
    if bad:
        raise InvalidShare(bad, "reshared share or commitment does not verify")
    group_commitment = sum_commitments([packages[i].commitment for i in s])
    if group_commitment[0] != old_public_key_package.verifying_key:  # pragma: no cover
        raise InvalidShare([], "reshared commitments do not add up to the group key")
    pkp = public_key_package_from_commitment(group_commitment, new, new_min_signers)
    signing_share = total % L
    kp = KeyPackage(
        new_identifier,
        signing_share,
        pkp.verifying_shares[new_identifier],
        pkp.verifying_key,
        new_min_signers,
    )
    return kp, pkp


def refresh(
    key_packages: Mapping[int, KeyPackage],
    public_key_package: PublicKeyPackage,
    rng: RandomSource | None = None,
) -> tuple[dict[int, KeyPackage], PublicKeyPackage]:
    """All-in-one-process refresh (same identifiers and threshold), for tests and tooling:
    every holder in ``key_packages`` deals, every identifier of the group receives."""
    dealers = sorted(key_packages)
    ids = list(public_key_package.verifying_shares)
    t = public_key_package.min_signers
    dealt = {i: deal(key_packages[i], public_key_package, dealers, ids, t, rng) for i in dealers}
    packages = {i: d[0] for i, d in dealt.items()}
    out: dict[int, KeyPackage] = {}
    pkp: PublicKeyPackage | None = None
    for j in ids:
        out[j], pkp = receive(
            j, public_key_package, dealers, ids, t, packages, {i: d[1][j] for i, d in dealt.items()}
        )
    assert pkp is not None
    return out, pkp

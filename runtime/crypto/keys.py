"""Key material shared by FROST signing, the DKG, derivation and resharing."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType

from .errors import InvalidParameters
from .hazmat.group import L, Point, base_mul, random_nonzero_scalar
from .hazmat.poly import check_identifiers, poly_eval, random_polynomial, vss_commit
from .rand import RandomSource, default_random

__all__ = ["KeyPackage", "PublicKeyPackage", "check_threshold", "trusted_dealer_keygen"]


def check_threshold(min_signers: int, max_signers: int) -> None:
    if not 2 <= min_signers <= max_signers:
        raise InvalidParameters(
            f"need 2 <= min_signers <= max_signers, got {min_signers} of {max_signers}"
        )


@dataclass(frozen=True, slots=True)
class KeyPackage:
    """One participant's long-lived signing key material.

    ``signing_share`` is secret and kept out of ``repr``.
    """

    identifier: int
    signing_share: int = field(repr=False)
    verifying_share: Point
    verifying_key: Point
    min_signers: int

    def __post_init__(self) -> None:
        if not 0 < self.signing_share < L:
            raise InvalidParameters("signing share must be a non-zero scalar below L")


@dataclass(frozen=True, slots=True)
class PublicKeyPackage:
    """Everything public about a sharing: the group key and every participant's verifying
    share (Y_i = s_i·G), needed to verify signature shares and to identify culprits."""

    verifying_shares: Mapping[int, Point]
    verifying_key: Point
    min_signers: int

    def __post_init__(self) -> None:
        # Freeze the mapping too: a shared package must not change under other holders.
        object.__setattr__(
            self, "verifying_shares", MappingProxyType(dict(sorted(self.verifying_shares.items())))
        )

    def __hash__(self) -> int:
        return hash((tuple(self.verifying_shares.items()), self.verifying_key, self.min_signers))

    @property
    def identifiers(self) -> tuple[int, ...]:
        return tuple(self.verifying_shares)


def trusted_dealer_keygen(
    min_signers: int,
    max_signers: int,
    rng: RandomSource | None = None,
    *,
    secret: int | None = None,
    identifiers: Sequence[int] | None = None,
) -> tuple[dict[int, KeyPackage], PublicKeyPackage, tuple[Point, ...]]:
    """RFC 9591 Appendix C: split a (random or given) group secret with Shamir and commit to
    the polynomial (Feldman VSS). For tests and bootstrapping: the dealer sees the secret.

    Returns the key packages by identifier, the public package and the VSS commitment.
    """
    rng = rng or default_random()
    check_threshold(min_signers, max_signers)
    ids = list(identifiers) if identifiers is not None else list(range(1, max_signers + 1))
    if len(ids) != max_signers:
        raise InvalidParameters("need exactly max_signers identifiers")
    check_identifiers(ids)
    if secret is None:
        secret = random_nonzero_scalar(rng)
    if not 0 < secret < L:
        raise InvalidParameters("group secret must be a non-zero scalar below L")
    coefficients = random_polynomial(secret, min_signers - 1, rng)
    commitment = vss_commit(coefficients)
    verifying_key = commitment[0]
    shares = {i: poly_eval(coefficients, i) for i in ids}
    verifying_shares = {i: base_mul(s) for i, s in shares.items()}
    packages = {
        i: KeyPackage(i, shares[i], verifying_shares[i], verifying_key, min_signers) for i in ids
    }
    return packages, PublicKeyPackage(verifying_shares, verifying_key, min_signers), commitment

"""Key material shared by FROST signing, the DKG, derivation and resharing."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Final

from .errors import InvalidEncoding, InvalidParameters
from .hazmat.group import (
    POINT_BYTES,
    SCALAR_BYTES,
    L,
    Point,
    base_mul,
    point_from_bytes,
    random_nonzero_scalar,
    scalar_from_bytes,
    scalar_to_bytes,
)
from .hazmat.poly import check_identifiers, poly_eval, random_polynomial, vss_commit, vss_eval
from .hazmat.suite import identifier_from_bytes, identifier_to_bytes
from .rand import RandomSource, default_random
from .secret import Secret

__all__ = [
    "KeyPackage",
    "PublicKeyPackage",
    "check_threshold",
    "trusted_dealer_keygen",
    "verify_vss_share",
]

# Field sizes of the two packages' encodings (identifiers are 32-byte scalars).
_ID: Final = SCALAR_BYTES
_COUNT: Final = 2  # u16 threshold and u16 participant count
_KEY_PACKAGE_BYTES: Final = _ID + SCALAR_BYTES + POINT_BYTES + POINT_BYTES + _COUNT
_PUBLIC_HEADER_BYTES: Final = _COUNT + _COUNT + POINT_BYTES
_PUBLIC_ENTRY_BYTES: Final = _ID + POINT_BYTES


def check_threshold(min_signers: int, max_signers: int) -> None:
    if not 2 <= min_signers <= max_signers:
        raise InvalidParameters(
            f"need 2 <= min_signers <= max_signers, got {min_signers} of {max_signers}"
        )


@dataclass(frozen=True, slots=True)
class KeyPackage(Secret):
    """One participant's long-lived signing key material.

    ``signing_share`` is secret: kept out of ``repr``, never copied or pickled (``Secret``).
    """

    identifier: int
    signing_share: int = field(repr=False)
    verifying_share: Point
    verifying_key: Point
    min_signers: int

    def __post_init__(self) -> None:
        if not 0 < self.identifier < L:
            raise InvalidParameters(f"identifier must be a non-zero scalar below L, got {self.identifier}")
        if not 0 < self.signing_share < L:
            raise InvalidParameters("signing share must be a non-zero scalar below L")
        if self.min_signers < 2:
            raise InvalidParameters(f"threshold must be at least 2, got {self.min_signers}")

    def to_bytes(self) -> bytes:
        """Secret: store it encrypted (e.g. ``seal``). id || s_i || Y_i || PK || u16 t."""
        return (
            identifier_to_bytes(self.identifier)
            + scalar_to_bytes(self.signing_share)
            + self.verifying_share.to_bytes()
            + self.verifying_key.to_bytes()
            + self.min_signers.to_bytes(_COUNT, "big")
        )

    @classmethod
    def from_bytes(cls, data: bytes) -> KeyPackage:
        if len(data) != _KEY_PACKAGE_BYTES:
            raise InvalidEncoding(f"key package must be {_KEY_PACKAGE_BYTES} bytes")
        fields = _split(data, (_ID, SCALAR_BYTES, POINT_BYTES, POINT_BYTES, _COUNT))
        raw_id, raw_share, raw_verifying_share, raw_verifying_key, raw_min_signers = fields
        share = scalar_from_bytes(raw_share, allow_zero=False)
        verifying_share = point_from_bytes(raw_verifying_share)
        if base_mul(share) != verifying_share:
            raise InvalidEncoding("key package: signing share does not match verifying share")
        min_signers = int.from_bytes(raw_min_signers, "big")
        if min_signers < 2:
            raise InvalidEncoding("key package: threshold below 2")
        return cls(
            identifier_from_bytes(raw_id),
            share,
            verifying_share,
            point_from_bytes(raw_verifying_key),
            min_signers,
        )


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

    def to_bytes(self) -> bytes:
        """u16 t || u16 n || PK || n × (id || Y_id), sorted by identifier."""
        return (
            self.min_signers.to_bytes(_COUNT, "big")
            + len(self.verifying_shares).to_bytes(_COUNT, "big")
            + self.verifying_key.to_bytes()
            + b"".join(
                identifier_to_bytes(i) + y.to_bytes() for i, y in self.verifying_shares.items()
            )
        )

    @classmethod
    def from_bytes(cls, data: bytes) -> PublicKeyPackage:
        if len(data) < _PUBLIC_HEADER_BYTES:
            raise InvalidEncoding("public key package too short")
        raw_t, raw_n, raw_key = _split(data[:_PUBLIC_HEADER_BYTES], (_COUNT, _COUNT, POINT_BYTES))
        t = int.from_bytes(raw_t, "big")
        n = int.from_bytes(raw_n, "big")
        if len(data) != _PUBLIC_HEADER_BYTES + _PUBLIC_ENTRY_BYTES * n or not 2 <= t <= n:
            raise InvalidEncoding("public key package has the wrong length or threshold")
        shares: dict[int, Point] = {}
        previous = 0
        for k in range(n):
            start = _PUBLIC_HEADER_BYTES + _PUBLIC_ENTRY_BYTES * k
            raw_i, raw_y = _split(data[start : start + _PUBLIC_ENTRY_BYTES], (_ID, POINT_BYTES))
            i = identifier_from_bytes(raw_i)
            if i <= previous:
                raise InvalidEncoding("verifying shares not sorted by identifier or duplicated")
            previous = i
            shares[i] = point_from_bytes(raw_y)
        return cls(shares, point_from_bytes(raw_key), t)


def _split(data: bytes, sizes: Sequence[int]) -> list[bytes]:
    """Cut ``data`` (whose length the caller checked) into consecutive fields of ``sizes``."""
    fields, at = [], 0
    for size in sizes:
        fields.append(data[at : at + size])
        at += size
    return fields


def verify_vss_share(commitment: Sequence[Point], identifier: int, share: int) -> bool:
    """Feldman VSS: is ``share`` the dealer's polynomial at ``identifier``, as committed
    (s·G == Σ C_k·identifier^k)? A scalar outside [0, L) never verifies."""
    return 0 <= share < L and base_mul(share) == vss_eval(commitment, identifier)


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

"""HAZMAT: the Ed25519 prime-order group over libsodium (via ``nacl.bindings``).

* Scalars are Python ints in ``[0, L)``; :func:`scalar_from_bytes` rejects non-canonical input.
* Points are canonical 32-byte encodings. :func:`decode_point` is the single entry point for a
  received point: canonical, on the curve, in the prime-order subgroup, not of small order (so
  never the identity).
* Only the ``*_noclamp`` multiplications are used; every scalar is reduced mod L first (noclamp
  clears bit 255, clamping would change the scalar).
* libsodium reports zero scalars, identity results and invalid points all as one
  ``RuntimeError``: each wrapper maps it to :class:`InvalidEncoding` here.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence

from nacl import bindings as _nb

from runtime.crypto.errors import InvalidEncoding

L = 2**252 + 27742317777372353535851937790883648493
"""Order of the prime-order subgroup."""

SCALAR_SIZE = 32
POINT_SIZE = 32
IDENTITY = b"\x01" + bytes(31)
"""Encoding of the neutral element (never accepted from a peer)."""


def _culprits(culprit: int | None) -> tuple[int, ...]:
    return () if culprit is None else (culprit,)


# ---------------------------------------------------------------- scalars


def scalar_to_bytes(s: int) -> bytes:
    """SerializeScalar: 32 bytes little-endian of ``s mod L``."""
    return (s % L).to_bytes(SCALAR_SIZE, "little")


def scalar_from_bytes(data: bytes, culprit: int | None = None) -> int:
    """DeserializeScalar: exactly 32 bytes, little-endian, value < L."""
    if len(data) != SCALAR_SIZE:
        raise InvalidEncoding(_culprits(culprit), f"scalar must be 32 bytes, got {len(data)}")
    v = int.from_bytes(data, "little")
    if v >= L:
        raise InvalidEncoding(_culprits(culprit), "non-canonical scalar (>= L)")
    return v


def check_scalar(s: int, culprit: int | None = None) -> int:
    """Range-check an already decoded scalar."""
    if not 0 <= s < L:
        raise InvalidEncoding(_culprits(culprit), "scalar out of range [0, L)")
    return s


def hash_to_scalar(*parts: bytes) -> int:
    """SHA-512 over the concatenation, all 64 bytes read little-endian, reduced mod L."""
    h = hashlib.sha512()
    for p in parts:
        h.update(p)
    return int.from_bytes(h.digest(), "little") % L


def inverse(s: int) -> int:
    s %= L
    if s == 0:
        raise ZeroDivisionError("zero has no inverse mod L")
    return pow(s, -1, L)


def poly_eval(coefficients: Sequence[int], x: int) -> int:
    """f(x) = sum_k coefficients[k] * x^k mod L (Horner)."""
    acc = 0
    for c in reversed(coefficients):
        acc = (acc * x + c) % L
    return acc


def lagrange_coefficient(x_i: int, xs: Iterable[int]) -> int:
    """Lagrange coefficient at 0 for ``x_i`` over the set ``xs`` (which contains ``x_i``)."""
    num = 1
    den = 1
    seen = False
    for x_j in xs:
        if x_j == x_i:
            seen = True
            continue
        num = num * x_j % L
        den = den * (x_j - x_i) % L
    if not seen:
        raise ValueError("x_i is not in the interpolation set")
    if den == 0:
        raise ValueError("duplicate interpolation points")
    return num * pow(den, -1, L) % L


# ---------------------------------------------------------------- points


def is_valid_point(p: bytes) -> bool:
    """libsodium ``crypto_core_ed25519_is_valid_point``: canonical, on curve, prime-order
    subgroup, not of small order (the identity is of small order)."""
    return len(p) == POINT_SIZE and bool(_nb.crypto_core_ed25519_is_valid_point(p))


def decode_point(data: bytes, culprit: int | None = None) -> bytes:
    """DeserializeElement for received points: validates and returns the encoding."""
    if len(data) != POINT_SIZE:
        raise InvalidEncoding(_culprits(culprit), f"point must be 32 bytes, got {len(data)}")
    if data == IDENTITY:
        raise InvalidEncoding(_culprits(culprit), "identity element")
    if not _nb.crypto_core_ed25519_is_valid_point(data):
        raise InvalidEncoding(
            _culprits(culprit), "invalid point (non-canonical, off-curve, small order or torsion)"
        )
    return bytes(data)


def base_mult(s: int) -> bytes:
    """s·G. Returns the identity encoding for s ≡ 0."""
    s %= L
    if s == 0:
        return IDENTITY
    return bytes(_nb.crypto_scalarmult_ed25519_base_noclamp(s.to_bytes(SCALAR_SIZE, "little")))


def mult(s: int, p: bytes, culprit: int | None = None) -> bytes:
    """s·P. libsodium validates ``P`` exactly like :func:`decode_point` (canonical, on curve,
    prime-order subgroup, not small order) before multiplying, so a received point used here is
    validated by this call; failure raises :class:`InvalidEncoding` naming ``culprit``."""
    if len(p) != POINT_SIZE:
        raise InvalidEncoding(_culprits(culprit), f"point must be 32 bytes, got {len(p)}")
    s %= L
    if s != 0:
        try:
            return bytes(
                _nb.crypto_scalarmult_ed25519_noclamp(s.to_bytes(SCALAR_SIZE, "little"), p)
            )
        except RuntimeError:
            pass  # invalid point (a valid point times non-zero s < L is never the identity)
    decode_point(p, culprit)
    return IDENTITY


def add(p: bytes, q: bytes) -> bytes:
    """P + Q on already validated points (libsodium only checks the curve equation here)."""
    try:
        return bytes(_nb.crypto_core_ed25519_add(p, q))
    except (RuntimeError, TypeError) as exc:
        raise InvalidEncoding((), "point addition on an invalid point") from exc


def sub(p: bytes, q: bytes) -> bytes:
    """P - Q on already validated points."""
    try:
        return bytes(_nb.crypto_core_ed25519_sub(p, q))
    except (RuntimeError, TypeError) as exc:
        raise InvalidEncoding((), "point subtraction on an invalid point") from exc


def sum_points(points: Iterable[bytes]) -> bytes:
    acc: bytes | None = None
    for p in points:
        acc = p if acc is None else add(acc, p)
    return IDENTITY if acc is None else acc


def poly_commit_eval(commitment: Sequence[bytes], x: int, culprit: int | None = None) -> bytes:
    """sum_k x^k · C_k for a VSS commitment (Horner over points)."""
    acc = commitment[-1]
    for c in reversed(commitment[:-1]):
        acc = add(mult(x, acc, culprit), c)
    return acc


BASEPOINT = base_mult(1)

"""Polynomials over Z_L, Lagrange interpolation at zero, and Feldman VSS commitments."""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache

from ..errors import InvalidParameters
from ..rand import RandomSource
from .group import IDENTITY, L, Point, add, base_mul, mul, random_nonzero_scalar

__all__ = [
    "check_identifiers",
    "lagrange_at_zero",
    "poly_eval",
    "random_polynomial",
    "vss_commit",
    "vss_eval",
]


def check_identifiers(ids: Sequence[int]) -> None:
    if any(not 0 < i < L for i in ids):
        raise InvalidParameters("identifiers must be non-zero scalars below L")
    if len(set(ids)) != len(ids):
        raise InvalidParameters("identifiers must be distinct")


def random_polynomial(constant: int, degree: int, rng: RandomSource) -> list[int]:
    """[constant, a_1, ..., a_degree] with uniform non-zero a_k (a zero coefficient would
    commit to the identity, which receivers reject)."""
    return [constant % L] + [random_nonzero_scalar(rng) for _ in range(degree)]


def poly_eval(coefficients: Sequence[int], x: int) -> int:
    """Horner evaluation mod L."""
    acc = 0
    for a in reversed(coefficients):
        acc = (acc * x + a) % L
    return acc


def vss_commit(coefficients: Sequence[int]) -> tuple[Point, ...]:
    return tuple(base_mul(a) for a in coefficients)


def vss_eval(commitments: Sequence[Point], x: int) -> Point:
    """Σ_k C_k·x^k by Horner: one multiplication per degree."""
    acc = IDENTITY
    for i, c in enumerate(reversed(commitments)):
        acc = c if i == 0 else add(mul(x, acc), c)
    return acc


@lru_cache(maxsize=4096)
def _lagrange(ids: tuple[int, ...], i: int) -> int:
    # Checked here, inside the cache: a repeated signing set pays for the check once.
    check_identifiers(ids)
    num = 1
    den = 1
    for j in ids:
        if j != i:
            num = num * j % L
            den = den * (j - i) % L
    return num * pow(den, -1, L) % L


def lagrange_at_zero(ids: Sequence[int], i: int) -> int:
    """derive_interpolating_value(ids, i): λ_i for interpolating at 0 over the set ``ids``.

    Cached: the coefficient is a pure function of public identifiers, and signing sets repeat.
    """
    key = tuple(sorted(ids))
    if i not in key:
        raise InvalidParameters(f"identifier {i} is not in the interpolation set")
    return _lagrange(key, i)

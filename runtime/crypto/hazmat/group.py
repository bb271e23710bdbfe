"""Scalars mod L and points of the Ed25519 prime-order subgroup, over libsodium.

Scalars are plain Python ints in ``[0, L)`` (fast enough, and exact). Points are ``Point``
objects that can only be obtained by validation (``point_from_bytes``) or as results of group
operations on points that were themselves validated, so holding a ``Point`` means "canonical,
on the curve, in the prime-order subgroup" (sums may be the identity; ``Point.to_bytes``
refuses to serialize it, as the RFC's SerializeElement does).

libsodium signals a zero scalar, an identity result and an invalid point with the same
``RuntimeError``; every call below maps it at the call site (see the comments there).
"""

from __future__ import annotations

from typing import Final, NoReturn

import nacl.bindings as _nb

from ..errors import CryptoError, InvalidPoint, InvalidScalar
from ..rand import RandomSource

__all__ = [
    "BASE",
    "IDENTITY",
    "POINT_BYTES",
    "SCALAR_BYTES",
    "L",
    "Point",
    "add",
    "base_mul",
    "is_valid_point_encoding",
    "mul",
    "mul_received",
    "point_from_bytes",
    "random_nonzero_scalar",
    "scalar_from_bytes",
    "scalar_from_wide",
    "scalar_inverse",
    "scalar_to_bytes",
    "sub",
    "sum_points",
]

L: Final = 2**252 + 27742317777372353535851937790883648493
SCALAR_BYTES: Final = 32
POINT_BYTES: Final = 32
_IDENTITY_ENC: Final = b"\x01" + bytes(31)


# --- typed wrappers over nacl.bindings (pynacl ships no stubs) -------------------------------


def _sodium_base_noclamp(n: bytes) -> bytes:
    out: bytes = _nb.crypto_scalarmult_ed25519_base_noclamp(n)
    return out


def _sodium_mul_noclamp(n: bytes, p: bytes) -> bytes:
    out: bytes = _nb.crypto_scalarmult_ed25519_noclamp(n, p)
    return out


def _sodium_add(p: bytes, q: bytes) -> bytes:
    out: bytes = _nb.crypto_core_ed25519_add(p, q)
    return out


def _sodium_sub(p: bytes, q: bytes) -> bytes:
    out: bytes = _nb.crypto_core_ed25519_sub(p, q)
    return out


def _sodium_is_valid_point(p: bytes) -> bool:
    return bool(_nb.crypto_core_ed25519_is_valid_point(p))


def _internal(op: str) -> NoReturn:
    # Reached only if a value we validated earlier fails in libsodium: a bug, not a peer fault.
    raise CryptoError(f"internal error: libsodium rejected trusted operands in {op}")


# --- scalars ---------------------------------------------------------------------------------


def scalar_from_bytes(data: bytes, *, allow_zero: bool = True) -> int:
    """DeserializeScalar: 32 bytes little-endian, rejected unless < L (and non-zero if asked)."""
    if len(data) != SCALAR_BYTES:
        raise InvalidScalar(f"scalar must be {SCALAR_BYTES} bytes, got {len(data)}")
    s = int.from_bytes(data, "little")
    if s >= L:
        raise InvalidScalar("scalar is not reduced modulo L")
    if s == 0 and not allow_zero:
        raise InvalidScalar("scalar must not be zero")
    return s


def scalar_to_bytes(s: int) -> bytes:
    """SerializeScalar: 32 bytes little-endian of ``s mod L``."""
    return (s % L).to_bytes(SCALAR_BYTES, "little")


def scalar_from_wide(data: bytes) -> int:
    """Reduce a wide (e.g. 64-byte SHA-512) little-endian string mod L: all bytes count."""
    return int.from_bytes(data, "little") % L


def scalar_inverse(s: int) -> int:
    if s % L == 0:
        raise InvalidScalar("zero has no inverse")
    return pow(s, -1, L)


def random_nonzero_scalar(rng: RandomSource) -> int:
    """A uniform non-zero scalar: 64 random bytes reduced mod L (bias < 2**-259)."""
    while True:
        s = scalar_from_wide(rng.random_bytes(64))
        if s:
            return s


# --- points ----------------------------------------------------------------------------------


class Point:
    """A validated element of the prime-order subgroup (possibly the identity, see module doc).

    Not constructible directly: use ``point_from_bytes`` for received bytes.
    """

    __slots__ = ("_enc",)
    _enc: bytes

    def __new__(cls, *args: object, **kwargs: object) -> Point:
        raise TypeError("use point_from_bytes() to obtain a Point from bytes")

    @classmethod
    def _trusted(cls, enc: bytes) -> Point:
        # Only for libsodium outputs and already-validated encodings.
        p = object.__new__(cls)
        object.__setattr__(p, "_enc", enc)
        return p

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError("Point is immutable")

    @property
    def is_identity(self) -> bool:
        return self._enc == _IDENTITY_ENC

    def to_bytes(self) -> bytes:
        """SerializeElement: the canonical encoding; the identity is refused (RFC 9591 4.1)."""
        if self._enc == _IDENTITY_ENC:
            raise InvalidPoint("the identity element cannot be serialized")
        return self._enc

    def __eq__(self, other: object) -> bool:
        # Encodings are canonical, so byte equality is point equality.
        return isinstance(other, Point) and self._enc == other._enc

    def __hash__(self) -> int:
        return hash(self._enc)

    def __repr__(self) -> str:
        return f"Point({self._enc.hex()})"

    def __add__(self, other: Point) -> Point:
        return add(self, other)

    def __sub__(self, other: Point) -> Point:
        return sub(self, other)


IDENTITY: Final = Point._trusted(_IDENTITY_ENC)
BASE: Final = Point._trusted(bytes.fromhex("58" + "66" * 31))


def is_valid_point_encoding(data: bytes) -> bool:
    """libsodium's full check: 32 bytes, canonical, on the curve, in the prime-order subgroup,
    not of small order (hence not the identity)."""
    return len(data) == POINT_BYTES and _sodium_is_valid_point(data)


def point_from_bytes(data: bytes) -> Point:
    """DeserializeElement with full validation; the identity is rejected."""
    if not is_valid_point_encoding(data):
        raise InvalidPoint("not a canonical non-identity point of the prime-order subgroup")
    return Point._trusted(bytes(data))


def base_mul(s: int) -> Point:
    """s·G for a scalar ``s`` (reduced here: noclamp would silently drop bit 255)."""
    s %= L
    if s == 0:
        # libsodium refuses a zero scalar; mathematically the answer is the identity.
        return IDENTITY
    try:
        return Point._trusted(_sodium_base_noclamp(s.to_bytes(SCALAR_BYTES, "little")))
    except RuntimeError:
        _internal("base_mul")


def mul(s: int, p: Point) -> Point:
    """s·P for a validated point (libsodium re-validates P; identity handled here)."""
    s %= L
    if s == 0 or p._enc == _IDENTITY_ENC:
        return IDENTITY
    try:
        return Point._trusted(_sodium_mul_noclamp(s.to_bytes(SCALAR_BYTES, "little"), p._enc))
    except RuntimeError:
        # P is in the prime-order subgroup and s != 0 mod L, so s·P cannot be the identity.
        _internal("mul")


def mul_received(s: int, data: bytes) -> Point:
    """s·P for a *received* encoding P, validating P in the same libsodium call.

    crypto_scalarmult_ed25519_noclamp runs the checks of crypto_core_ed25519_is_valid_point
    (canonical, on curve, prime-order subgroup, not small order) before multiplying, so doing
    both separately would pay for the subgroup check twice.
    """
    s %= L
    if len(data) != POINT_BYTES:
        raise InvalidPoint(f"point must be {POINT_BYTES} bytes, got {len(data)}")
    if s == 0:
        point_from_bytes(data)
        return IDENTITY
    try:
        return Point._trusted(_sodium_mul_noclamp(s.to_bytes(SCALAR_BYTES, "little"), data))
    except RuntimeError:
        # s != 0 mod L, so the only way to fail is an invalid or small-order input point.
        raise InvalidPoint(
            "not a canonical non-identity point of the prime-order subgroup"
        ) from None


def add(p: Point, q: Point) -> Point:
    """P + Q. crypto_core_ed25519_add validates nothing beyond "on the curve", which is why
    it only ever sees ``Point`` objects (validated or derived from validated ones)."""
    try:
        return Point._trusted(_sodium_add(p._enc, q._enc))
    except RuntimeError:
        _internal("add")


def sub(p: Point, q: Point) -> Point:
    try:
        return Point._trusted(_sodium_sub(p._enc, q._enc))
    except RuntimeError:
        _internal("sub")


def sum_points(points: list[Point]) -> Point:
    acc = IDENTITY
    for i, p in enumerate(points):
        acc = p if i == 0 else add(acc, p)
    return acc

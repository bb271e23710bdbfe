"""Scalars mod L and points of the Ed25519 prime-order subgroup, over libsodium.

Scalars are plain Python ints in ``[0, L)`` (fast enough, and exact). Points are ``Point``
objects that can only be obtained by validation (``point_from_bytes``) or as results of group
operations on points that were themselves validated, so holding a ``Point`` means "canonical,
on the curve, in the prime-order subgroup" (sums may be the identity; ``Point.to_bytes``
refuses to serialize it, as the RFC's SerializeElement does).

libsodium signals a zero scalar, an identity result and an invalid point with the same
non-zero return code; every call below maps it at the call site (see the comments there).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Final, NoReturn

import nacl.bindings  # noqa: F401  (imported first: it runs sodium_init())
from nacl._sodium import ffi as _ffi
from nacl._sodium import lib as _lib

from ..errors import CryptoError, InvalidParameters, InvalidPoint, InvalidScalar
from ..rand import RandomSource

__all__ = [
    "BASE",
    "IDENTITY",
    "POINT_BYTES",
    "SCALAR_BYTES",
    "InvalidPointAt",
    "L",
    "Point",
    "add",
    "base_mul",
    "hash_to_group",
    "is_valid_point_bytes",
    "is_valid_point_encoding",
    "mul",
    "mul_received",
    "point_from_bytes",
    "random_nonzero_scalar",
    "scalar_from_bytes",
    "scalar_from_wide",
    "scalar_inverse",
    "scalar_to_bytes",
    "sodium_verify",
    "sub",
    "sum_points",
    "sum_with_products",
]

L: Final = 2**252 + 27742317777372353535851937790883648493
SCALAR_BYTES: Final = 32
POINT_BYTES: Final = 32
_IDENTITY_ENC: Final = b"\x01" + bytes(31)


# --- typed wrappers over libsodium ----------------------------------------------------------
#
# We call libsodium through pynacl's own cffi handle (``nacl._sodium``, what every
# ``nacl.bindings`` function calls) rather than through the ``nacl.bindings`` wrappers: those
# re-check types and lengths with a chain of ``ensure`` calls on every operation, about 1-2 us
# of a 13 us addition. The callers below guarantee the preconditions instead: every operand is
# exactly 32 bytes (``Point`` encodings and ``scalar.to_bytes(32)`` by construction; received
# encodings are length-checked first), which matters because the C functions read 32 bytes
# from the pointer whatever the Python object's length. Results are copied out of a fresh
# buffer per call, so this stays thread-safe, with ``_copy_out`` (one memcpy):
# ``bytes(out)`` iterates the cdata array element by element, about 3x slower.

_OUT = "unsigned char[32]"


def _copy_out(buffer: Any) -> bytes:
    out: bytes = _ffi.buffer(buffer)[:]
    return out


def _sodium_base_noclamp(n: bytes) -> bytes | None:
    """n·G, or None where libsodium refuses (zero scalar mod L)."""
    out = _ffi.new(_OUT)
    if _lib.crypto_scalarmult_ed25519_base_noclamp(out, n) != 0:
        return None
    return _copy_out(out)


def _sodium_mul_noclamp(n: bytes, p: bytes) -> bytes | None:
    """n·P after libsodium's full validation of P, or None where it refuses (P invalid or of
    small order, or the result is the identity)."""
    out = _ffi.new(_OUT)
    if _lib.crypto_scalarmult_ed25519_noclamp(out, n, p) != 0:
        return None
    return _copy_out(out)


def _sodium_add(p: bytes, q: bytes) -> bytes | None:
    out = _ffi.new(_OUT)
    if _lib.crypto_core_ed25519_add(out, p, q) != 0:
        return None
    return _copy_out(out)


def _sodium_sub(p: bytes, q: bytes) -> bytes | None:
    out = _ffi.new(_OUT)
    if _lib.crypto_core_ed25519_sub(out, p, q) != 0:
        return None
    return _copy_out(out)


def _sodium_is_valid_point(p: bytes) -> bool:
    return bool(_lib.crypto_core_ed25519_is_valid_point(p) == 1)


def sodium_verify(signature: bytes, message: bytes, public_key: bytes) -> bool:
    """Ed25519 verification by libsodium (crypto_sign_open: strict about R, A and s)."""
    if len(signature) != 64 or len(public_key) != POINT_BYTES:
        return False
    signed = bytes(signature) + message
    out = _ffi.new("unsigned char[]", len(signed))
    out_len = _ffi.new("unsigned long long *")
    return bool(_lib.crypto_sign_open(out, out_len, signed, len(signed), bytes(public_key)) == 0)


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
    # bytes() first: cffi passes only real ``bytes`` by pointer, and the length check must
    # see what libsodium will read.
    data = bytes(data)
    return len(data) == POINT_BYTES and _sodium_is_valid_point(data)


def is_valid_point_bytes(data: bytes) -> bool:
    """``is_valid_point_encoding`` for a caller that guarantees ``data`` is a ``bytes`` of
    exactly 32 bytes (a slice of a length-checked message): the hot path of parsing."""
    return bool(_lib.crypto_core_ed25519_is_valid_point(data) == 1)


def point_from_bytes(data: bytes) -> Point:
    """DeserializeElement with full validation; the identity is rejected."""
    if not is_valid_point_encoding(data):
        raise InvalidPoint("not a canonical non-identity point of the prime-order subgroup")
    return Point._trusted(bytes(data))


def hash_to_group(uniform: bytes) -> Point:
    """A point of the prime-order subgroup from 32 uniform bytes (libsodium's
    crypto_core_ed25519_from_uniform: Elligator 2, then the cofactor cleared), with nobody
    knowing its discrete logarithm. A non-uniform encoding in RFC 9380's terms: callers pass
    the first 32 bytes of a domain-separated hash."""
    if len(uniform) != 32:
        raise InvalidParameters("hash_to_group takes 32 uniform bytes")
    out = _ffi.new(_OUT)
    if _lib.crypto_core_ed25519_from_uniform(out, bytes(uniform)) != 0:  # pragma: no cover
        _internal("hash_to_group")
    # Validated once more: an identity or small-order result (probability ~2**-252) must not
    # become a Point.
    return point_from_bytes(_copy_out(out))


def base_mul(s: int) -> Point:
    """s·G for a scalar ``s`` (reduced here: noclamp would silently drop bit 255)."""
    s %= L
    if s == 0:
        # libsodium refuses a zero scalar; mathematically the answer is the identity.
        return IDENTITY
    out = _sodium_base_noclamp(s.to_bytes(SCALAR_BYTES, "little"))
    if out is None:
        _internal("base_mul")
    return Point._trusted(out)


def mul(s: int, p: Point) -> Point:
    """s·P for a validated point (libsodium re-validates P; identity handled here)."""
    s %= L
    if s == 0 or p._enc == _IDENTITY_ENC:
        return IDENTITY
    out = _sodium_mul_noclamp(s.to_bytes(SCALAR_BYTES, "little"), p._enc)
    if out is None:
        # P is in the prime-order subgroup and s != 0 mod L, so s·P cannot be the identity.
        _internal("mul")
    return Point._trusted(out)


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
    out = _sodium_mul_noclamp(s.to_bytes(SCALAR_BYTES, "little"), bytes(data))
    if out is None:
        # s != 0 mod L, so the only way to fail is an invalid or small-order input point.
        raise InvalidPoint("not a canonical non-identity point of the prime-order subgroup")
    return Point._trusted(out)


def add(p: Point, q: Point) -> Point:
    """P + Q. crypto_core_ed25519_add validates nothing beyond "on the curve", which is why
    it only ever sees ``Point`` objects (validated or derived from validated ones)."""
    out = _sodium_add(p._enc, q._enc)
    if out is None:
        _internal("add")
    return Point._trusted(out)


def sub(p: Point, q: Point) -> Point:
    out = _sodium_sub(p._enc, q._enc)
    if out is None:
        _internal("sub")
    return Point._trusted(out)


def sum_points(points: Sequence[Point]) -> Point:
    """Σ points, the running sum kept in libsodium buffers: one C call per addition and no
    intermediate ``bytes`` or ``Point`` objects (sums of t..2t points are the hot path of
    FROST's group commitment)."""
    if not points:
        return IDENTITY
    acc = points[0]._enc
    if len(points) == 1:
        return points[0]
    # Two buffers used in turn, so an output never aliases the input it is computed from.
    buffers = (_ffi.new(_OUT), _ffi.new(_OUT))
    add_c = _lib.crypto_core_ed25519_add
    for k in range(1, len(points)):
        out = buffers[k & 1]
        if add_c(out, acc, points[k]._enc) != 0:
            _internal("sum_points")
        acc = out
    return Point._trusted(acc if isinstance(acc, bytes) else _copy_out(acc))


class InvalidPointAt(InvalidPoint):
    """``sum_with_products``: the received encoding at ``index`` of the products is invalid."""

    def __init__(self, index: int) -> None:
        super().__init__("not a canonical non-identity point of the prime-order subgroup")
        self.index = index


def sum_with_products(points: Sequence[Point], products: Sequence[tuple[int, bytes]]) -> Point:
    """Σ points + Σ s_k·P_k, where every P_k is a *received* encoding validated by its
    multiplication (as ``mul_received``); raises ``InvalidPointAt(k)`` for the first bad P_k.

    FROST's group commitment Σ_j (D_j + ρ_j·E_j) in one loop over the C calls: no ``Point``
    or ``bytes`` objects for the intermediate products and sums (they were most of the
    Python work around its libsodium calls)."""
    new = _ffi.new
    mul_c = _lib.crypto_scalarmult_ed25519_noclamp
    add_c = _lib.crypto_core_ed25519_add
    acc: Any = None  # bytes or a cdata buffer; a fresh buffer per result, so no output aliases an input
    for k, (s, p) in enumerate(products):
        s %= L
        if len(p) != POINT_BYTES:
            raise InvalidPointAt(k)
        if s == 0:
            # libsodium refuses a zero scalar; the product is the identity, P_k still checked.
            if not _sodium_is_valid_point(bytes(p)):
                raise InvalidPointAt(k)
            continue
        term = new(_OUT)
        # s != 0 mod L, so the only way to fail is an invalid or small-order P_k.
        if mul_c(term, s.to_bytes(SCALAR_BYTES, "little"), bytes(p)) != 0:
            raise InvalidPointAt(k)
        if acc is None:
            acc = term
        else:
            out = new(_OUT)
            if add_c(out, acc, term) != 0:
                _internal("sum_with_products")
            acc = out
    for q in points:
        if acc is None:
            acc = q._enc
            continue
        out = new(_OUT)
        if add_c(out, acc, q._enc) != 0:
            _internal("sum_with_products")
        acc = out
    if acc is None:
        return IDENTITY
    return Point._trusted(acc if isinstance(acc, bytes) else _copy_out(acc))

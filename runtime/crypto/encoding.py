"""Wire encodings and sizes for protocol code: the public face of the hazmat encoders.

Role programs put scalars, points and identifiers into messages; they import them from here,
never from ``hazmat`` (as pyca/cryptography keeps recipes over its hazmat layer). Decoders
validate: ``scalar_from_bytes`` rejects unreduced scalars, ``point_from_bytes`` anything that
is not a canonical element of the prime-order subgroup, both with ``InvalidEncoding`` errors.
"""

from __future__ import annotations

from typing import Final

from .hazmat.group import (
    POINT_BYTES,
    SCALAR_BYTES,
    L,
    Point,
    point_from_bytes,
    scalar_from_bytes,
    scalar_to_bytes,
)
from .hazmat.suite import identifier_from_bytes, identifier_to_bytes

__all__ = [
    "GROUP_ORDER",
    "IDENTIFIER_BYTES",
    "POINT_BYTES",
    "SCALAR_BYTES",
    "Point",
    "identifier_from_bytes",
    "identifier_to_bytes",
    "point_from_bytes",
    "scalar_from_bytes",
    "scalar_to_bytes",
]

GROUP_ORDER: Final = L  # scalars live in [0, GROUP_ORDER)
IDENTIFIER_BYTES: Final = SCALAR_BYTES  # identifiers are non-zero scalars

"""Commit-reveal and an unbiased coordinator lottery.

A commitment is SHA-512 over unambiguous, length-prefixed fields::

    lp("minuet-commit-v1") || lp(domain) || lp(session_id) || u64(epoch) || u64(participant)
        || lp(value) || lp(nonce)          with lp(x) = u64le(len(x)) || x

so a commitment made for one domain / session / epoch / participant never opens in another.
:func:`verify_reveals` names non-revealers (:class:`MissingReveal`) and bad openings
(:class:`InvalidReveal`). :func:`lottery` hashes every reveal, sorted by participant, with the
epoch and draws an index in ``[0, n)`` by rejection sampling (exactly uniform); re-running with
``epoch + 1`` after a failed coordinator gives a fresh, independent draw.
"""

from __future__ import annotations

import hashlib
import struct
from collections.abc import Mapping
from dataclasses import dataclass, field

from .errors import InvalidParameters, InvalidReveal, MissingReveal
from .rand import RandomSource, default_random

__all__ = ["NONCE_SIZE", "Opening", "commit", "commitment_digest", "lottery", "verify_reveals"]

NONCE_SIZE = 32
_U64_MAX = 2**64 - 1


def _lp(data: bytes) -> bytes:
    return struct.pack("<Q", len(data)) + data


def _u64(v: int, what: str) -> bytes:
    if not 0 <= v <= _U64_MAX:
        raise InvalidParameters(f"{what} must fit in 64 bits")
    return struct.pack("<Q", v)


@dataclass(frozen=True, slots=True)
class Opening:
    """What a participant reveals: the committed value and its nonce."""

    value: bytes
    nonce: bytes = field(repr=False)


def commitment_digest(
    domain: bytes, session_id: bytes, epoch: int, participant: int, value: bytes, nonce: bytes
) -> bytes:
    h = hashlib.sha512()
    for part in (
        _lp(b"minuet-commit-v1"),
        _lp(domain),
        _lp(session_id),
        _u64(epoch, "epoch"),
        _u64(participant, "participant"),
        _lp(value),
        _lp(nonce),
    ):
        h.update(part)
    return h.digest()


def commit(
    domain: bytes,
    session_id: bytes,
    epoch: int,
    participant: int,
    value: bytes,
    rng: RandomSource | None = None,
) -> tuple[bytes, Opening]:
    """Commit to ``value``: returns (64-byte commitment to broadcast, opening to keep)."""
    nonce = (rng or default_random()).random_bytes(NONCE_SIZE)
    return commitment_digest(domain, session_id, epoch, participant, value, nonce), Opening(
        value, nonce
    )


def verify_reveals(
    domain: bytes,
    session_id: bytes,
    epoch: int,
    commitments: Mapping[int, bytes],
    reveals: Mapping[int, Opening],
) -> dict[int, bytes]:
    """Check every reveal against its commitment; return {participant: value}.

    Raises :class:`MissingReveal` if any committed participant did not reveal (its
    ``mismatched`` also lists bad openings), else :class:`InvalidReveal` if any opening is wrong
    or comes from a participant without a commitment."""
    missing = [p for p in commitments if p not in reveals]
    mismatched = [p for p in reveals if p not in commitments]
    values: dict[int, bytes] = {}
    for p, opening in reveals.items():
        if p not in commitments:
            continue
        digest = commitment_digest(domain, session_id, epoch, p, opening.value, opening.nonce)
        if len(opening.nonce) != NONCE_SIZE or digest != commitments[p]:
            mismatched.append(p)
        else:
            values[p] = opening.value
    if missing:
        raise MissingReveal(missing, mismatched)
    if mismatched:
        raise InvalidReveal((), mismatched)
    return dict(sorted(values.items()))


def lottery(
    domain: bytes, session_id: bytes, epoch: int, values: Mapping[int, bytes], n: int
) -> int:
    """Uniform index in ``[0, n)`` from all revealed values (sorted by participant) and epoch."""
    if not 1 <= n <= _U64_MAX:
        raise InvalidParameters("n must be in [1, 2^64)")
    if not values:
        raise InvalidParameters("the lottery needs at least one reveal")
    seed = hashlib.sha512()
    for part in (
        _lp(b"minuet-lottery-v1"),
        _lp(domain),
        _lp(session_id),
        _u64(epoch, "epoch"),
        _u64(n, "n"),
        _u64(len(values), "count"),
    ):
        seed.update(part)
    for p in sorted(values):
        seed.update(_u64(p, "participant") + _lp(values[p]))
    base = seed.digest()
    bound = 2**512 - (2**512 % n)  # largest multiple of n that fits: rejection sampling
    counter = 0
    while True:
        x = int.from_bytes(hashlib.sha512(base + _u64(counter, "counter")).digest(), "little")
        if x < bound:
            return x % n
        counter += 1  # pragma: no cover - probability < 2^-448

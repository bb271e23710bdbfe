"""Injectable randomness.

Every function that needs randomness takes a ``RandomSource`` (default: the OS CSPRNG).
``DeterministicRandom`` makes runs reproducible for tests and benchmarks only.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Protocol, runtime_checkable

__all__ = ["DeterministicRandom", "OsRandom", "RandomSource", "default_random", "seeded_for_tests"]


@runtime_checkable
class RandomSource(Protocol):
    """Anything that hands out uniformly random bytes."""

    def random_bytes(self, n: int) -> bytes: ...


class OsRandom:
    """The operating system CSPRNG (``os.urandom``)."""

    __slots__ = ()

    def random_bytes(self, n: int) -> bytes:
        return os.urandom(n)

    def __repr__(self) -> str:
        return "OsRandom()"


class DeterministicRandom:
    """A reproducible stream of SHAKE-256(tag || H(seed) || counter) blocks.

    Tests only: whoever knows the seed knows every secret drawn from it.
    """

    __slots__ = ("_buffer", "_counter", "_seed")

    def __init__(self, seed: bytes | int | str) -> None:
        if isinstance(seed, int):
            seed = seed.to_bytes((seed.bit_length() + 8) // 8, "little", signed=True)
        elif isinstance(seed, str):
            seed = seed.encode()
        self._seed = hashlib.sha512(b"minuet-deterministic-random-v1" + seed).digest()
        self._counter = 0
        self._buffer = b""

    def random_bytes(self, n: int) -> bytes:
        if n < 0:
            raise ValueError("n must be non-negative")
        while len(self._buffer) < n:
            block = hashlib.shake_256(self._seed + self._counter.to_bytes(8, "little"))
            self._buffer += block.digest(136)
            self._counter += 1
        out, self._buffer = self._buffer[:n], self._buffer[n:]
        return out

    def __repr__(self) -> str:
        # The seed is the secret of every key drawn from this source.
        return "DeterministicRandom(<seed hidden>)"


_OS = OsRandom()

# Set only by ``seeded_for_tests`` (the simulator): a context variable, so trio tasks of one
# simulated run see it and nothing outside that run does.
_TEST_OVERRIDE: ContextVar[DeterministicRandom | None] = ContextVar("minuet_test_random", default=None)


def default_random() -> RandomSource:
    """The process-wide OS randomness source (a seeded one inside ``seeded_for_tests``)."""
    override = _TEST_OVERRIDE.get()
    return _OS if override is None else override


@contextmanager
def seeded_for_tests(source: DeterministicRandom) -> Iterator[DeterministicRandom]:
    """TEST MODE: within this context ``default_random()`` is ``source``, so every secret a
    role program draws is known to whoever knows the seed. Only a ``DeterministicRandom`` is
    accepted, so the override is always visibly a test source."""
    if not isinstance(source, DeterministicRandom):
        raise TypeError("seeded_for_tests takes a DeterministicRandom")
    token = _TEST_OVERRIDE.set(source)
    try:
        yield source
    finally:
        _TEST_OVERRIDE.reset(token)

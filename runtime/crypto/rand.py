"""Injectable randomness.

Every function that needs randomness takes a :class:`RandomSource`; the default is the OS CSPRNG.
:class:`SeededRandom` is deterministic and exists for tests and reproducible benchmarks only.
"""

from __future__ import annotations

import hashlib
import os
from typing import Protocol, runtime_checkable


@runtime_checkable
class RandomSource(Protocol):
    """A source of uniformly random bytes."""

    def random_bytes(self, n: int) -> bytes:
        """Return ``n`` uniformly random bytes."""
        ...


class OsRandom:
    """The operating system CSPRNG (``os.urandom``)."""

    __slots__ = ()

    def random_bytes(self, n: int) -> bytes:
        return os.urandom(n)

    def __repr__(self) -> str:
        return "OsRandom()"


class SeededRandom:
    """Deterministic stream: SHA-512(tag || seed || counter) blocks. NOT for production keys."""

    __slots__ = ("_buffer", "_counter", "_seed")

    def __init__(self, seed: bytes | int | str) -> None:
        if isinstance(seed, int):
            seed = seed.to_bytes((seed.bit_length() + 8) // 8, "little", signed=True)
        elif isinstance(seed, str):
            seed = seed.encode()
        self._seed = hashlib.sha512(b"minuet-seeded-random-v1" + seed).digest()
        self._counter = 0
        self._buffer = b""

    def random_bytes(self, n: int) -> bytes:
        if n < 0:
            raise ValueError("n must be non-negative")
        while len(self._buffer) < n:
            block = hashlib.sha512(self._seed + self._counter.to_bytes(8, "little")).digest()
            self._counter += 1
            self._buffer += block
        out, self._buffer = self._buffer[:n], self._buffer[n:]
        return out

    def __repr__(self) -> str:
        return "SeededRandom(<seed>)"


DEFAULT_RANDOM: RandomSource = OsRandom()

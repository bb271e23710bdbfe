"""Shared helpers of the crypto tests (vector location, scripted randomness, one-shot signing)."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest

from runtime.crypto import frost
from runtime.crypto.hazmat.group import scalar_from_bytes
from runtime.crypto.keys import KeyPackage, PublicKeyPackage
from runtime.crypto.rand import RandomSource


def vectors_dir() -> Path:
    env = os.environ.get("MINUET_FROST_VECTORS")
    if env:
        return Path(env)
    # <project root>/../shared/vectors/frost; never copied into the repository.
    return Path(__file__).resolve().parents[2].parent / "shared" / "vectors" / "frost"


def vector_path(name: str) -> Path:
    """The vector file, or a skip naming it; under ``MINUET_REQUIRE_VECTORS=1`` (set by CI) a
    missing file fails instead, so CI cannot pass without the known-answer tests."""
    path = vectors_dir() / name
    if not path.is_file():
        reason = f"FROST vector file not found: {path} (set MINUET_FROST_VECTORS)"
        if os.environ.get("MINUET_REQUIRE_VECTORS") == "1":
            pytest.fail(reason)
        pytest.skip(reason)
    return path


def load_vector(name: str) -> Any:
    return json.loads(vector_path(name).read_text())


def sc(hexstr: str) -> int:
    return scalar_from_bytes(bytes.fromhex(hexstr))


class ScriptedRandom:
    """Hands out the given byte strings in order (vectors with fixed nonce randomness)."""

    def __init__(self, chunks: Sequence[bytes]) -> None:
        self.chunks = list(chunks)

    def random_bytes(self, n: int) -> bytes:
        chunk = self.chunks.pop(0)
        assert len(chunk) == n
        return chunk


def sign_with(
    key_packages: Mapping[int, KeyPackage],
    public: PublicKeyPackage,
    signers: Sequence[int],
    message: bytes,
    rng: RandomSource,
) -> bytes:
    """Full two-round FROST signing by ``signers``, every party in this process."""
    round1 = {i: frost.commit(key_packages[i], rng) for i in signers}
    package = frost.SigningPackage([c for _, c in round1.values()], message)
    shares = [frost.sign(package, round1[i][0], key_packages[i]) for i in signers]
    return frost.aggregate(package, shares, public)

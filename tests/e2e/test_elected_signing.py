"""Flagship check: no fixed coordinator. The lottery elects one, it coordinates FROST, and a
failed coordinator is replaced by bumping the epoch and electing again among the survivors."""

from __future__ import annotations

import pytest
import trio
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from examples import elected_signing
from runtime.crypto.keys import trusted_dealer_keygen
from runtime.crypto.rand import DeterministicRandom
from runtime.faults import Fault


def verify(public_key: bytes, message: bytes, signature: bytes) -> None:
    Ed25519PublicKey.from_public_bytes(public_key).verify(signature, message)


async def test_elected_coordinator_signs_in_one_epoch() -> None:
    rng = DeterministicRandom(b"elect-ok")
    keys, public, _ = trusted_dealer_keygen(3, 5, rng)
    with trio.fail_after(60):
        outcome = await elected_signing.sign_with_election(keys, public, b"m", b"s1", rng)
    assert len(outcome.epochs) == 1
    e = outcome.epochs[0]
    assert e.coordinator in e.live and e.signers == [1, 2, 3] and e.failed == []
    verify(public.verifying_key.to_bytes(), b"m", outcome.signature)


async def test_failed_coordinator_is_replaced_under_the_next_epoch() -> None:
    rng = DeterministicRandom(b"elect-crash")
    keys, public, _ = trusted_dealer_keygen(3, 5, rng)
    with trio.fail_after(60):
        outcome = await elected_signing.sign_with_election(
            keys, public, b"m", b"s2", rng, crash_coordinator_in=frozenset({0})
        )
    first, second = outcome.epochs
    assert first.failed == [first.coordinator]
    # The failed peer is gone from the live set, the signing set and the next draw.
    assert second.number == 1 and first.coordinator not in second.live
    assert second.coordinator in second.live and first.coordinator not in second.signers
    assert second.failed == []
    verify(public.verifying_key.to_bytes(), b"m", outcome.signature)


async def test_too_few_survivors_stop_with_a_reason() -> None:
    rng = DeterministicRandom(b"elect-dead")
    keys, public, _ = trusted_dealer_keygen(3, 4, rng)
    with trio.fail_after(60), pytest.raises(
        elected_signing.SigningFailed, match="epoch 2: 2 live peers, need 3"
    ):
        await elected_signing.sign_with_election(
            keys, public, b"m", b"s3", rng, crash_coordinator_in=frozenset({0, 1})
        )


async def test_failed_signer_is_dropped_under_the_next_epoch() -> None:
    rng = DeterministicRandom(b"elect-signer")
    keys, public, _ = trusted_dealer_keygen(3, 5, rng)
    # Member 1 of the first signing set (identifier 2) dies at its first send (its commitment).
    crash = Fault("crash", role="Signer[1]", after=0)
    with trio.fail_after(60):
        outcome = await elected_signing.sign_with_election(
            keys, public, b"m", b"s4", rng, faults={0: [crash]}
        )
    first, second = outcome.epochs
    assert first.signers == [1, 2, 3] and first.failed == [2]
    assert second.live == [1, 3, 4, 5] and second.signers == [1, 3, 4] and second.failed == []
    verify(public.verifying_key.to_bytes(), b"m", outcome.signature)

"""Flagship check: no fixed coordinator, as role programs of one typed spec
(protocols/threshold/elected_signing.yaml). The lottery elects a coordinator, it coordinates
FROST, and when it crashes the others take the spec's failure branch, bump the epoch and
elect again among the survivors, which sign."""

from __future__ import annotations

import pytest
import trio
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from examples import elected_signing
from runtime.crypto.keys import trusted_dealer_keygen
from runtime.crypto.rand import DeterministicRandom
from tests.runtime.harness import Runner


def verify(public_key: bytes, message: bytes, signature: bytes) -> None:
    Ed25519PublicKey.from_public_bytes(public_key).verify(signature, message)


async def test_elected_coordinator_signs_in_one_epoch() -> None:
    rng = DeterministicRandom(b"elect-ok")
    keys, public, _ = trusted_dealer_keygen(3, 5, rng)
    with trio.fail_after(60):
        outcome = await elected_signing.sign_with_election(keys, public, b"m", b"s1", rng)
    (e,) = outcome.epochs
    assert e.number == 0 and e.live == [1, 2, 3, 4, 5] and e.failed == []
    assert e.coordinator in e.live and e.signers == [p for p in e.live if p != e.coordinator]
    verify(public.verifying_key.to_bytes(), b"m", outcome.signature)


async def test_failed_coordinator_is_replaced_under_the_next_epoch(run_roles: Runner) -> None:
    """Coordinator crash -> failure branch at every other peer -> epoch bump -> a draw among
    the survivors (the crashed peer is skipped by every family step) -> a valid signature;
    in memory and over TCP."""
    rng = DeterministicRandom(b"elect-crash")
    keys, public, _ = trusted_dealer_keygen(3, 5, rng)
    with trio.fail_after(60):
        results = await elected_signing.run_election(
            keys, public, b"m", b"s2", rng, crash_coordinator_in=frozenset({0}), runner=run_roles
        )
    crashed = [name for name, r in results.items() if isinstance(r.error, elected_signing.Crash)]
    assert len(crashed) == 1
    outcomes = [r.unwrap() for name, r in results.items() if name not in crashed]
    assert len(outcomes) == 4 and all(o == outcomes[0] for o in outcomes)
    first, second = outcomes[0].epochs
    assert f"Peer[{first.coordinator - 1}]" == crashed[0] and first.failed == [first.coordinator]
    assert second.number == 1 and second.live == [p for p in first.live if p != first.coordinator]
    assert second.coordinator in second.live and second.failed == []
    verify(public.verifying_key.to_bytes(), b"m", outcomes[0].signature)


async def test_too_few_survivors_stop_with_a_reason() -> None:
    rng = DeterministicRandom(b"elect-dead")
    keys, public, _ = trusted_dealer_keygen(3, 4, rng)
    with trio.fail_after(60), pytest.raises(
        elected_signing.SigningFailed, match="epoch 1: 3 live peers, need 4"
    ):
        await elected_signing.sign_with_election(
            keys, public, b"m", b"s3", rng, crash_coordinator_in=frozenset({0})
        )

"""Flagship check: guardian recovery through the generated Recover roles, on both transports:
the restored share equals the lost one and signs; a wrong sigma is caught."""

from __future__ import annotations

import trio
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from examples import frost_signing, guardian_recovery
from generated.threshold import recover as gr
from runtime.crypto.hazmat.group import L
from runtime.crypto.keys import KeyPackage, trusted_dealer_keygen
from runtime.crypto.rand import DeterministicRandom
from tests.runtime.harness import Runner

KEYS, PUBLIC, _ = trusted_dealer_keygen(3, 5, DeterministicRandom(b"recover-e2e"))


async def recover(
    run_roles: Runner, lost: int, guardians: list[int],
    tamper: dict[int, guardian_recovery.SigmaFilter] | None = None,
) -> dict[str, object]:
    survivors = {i: kp for i, kp in KEYS.items() if i != lost}
    programs = guardian_recovery.programs(
        survivors, PUBLIC, lost, guardians, b"test", DeterministicRandom(b"g"), tamper
    )
    with trio.fail_after(60):
        results = await run_roles(
            gr.PROTOCOL, programs, families={"Guardian": len(guardians)}, timeout=10.0
        )
    return {name: r.unwrap() for name, r in results.items()}


async def test_lost_share_is_restored_and_signs(run_roles: Runner) -> None:
    results = await recover(run_roles, 2, [1, 3, 5])
    restored = results["Recovering"]
    assert isinstance(restored, KeyPackage)
    assert restored == KEYS[2]  # the very share that was lost
    assert all(results[f"Guardian[{i}]"] is True for i in range(3))
    with trio.fail_after(30):
        signature = await frost_signing.signature_of(
            {1: KEYS[1], 2: restored, 4: KEYS[4]}, PUBLIC, b"m", signers=[1, 2, 4]
        )
    Ed25519PublicKey.from_public_bytes(PUBLIC.verifying_key.to_bytes()).verify(signature, b"m")


async def test_more_guardians_than_t(run_roles: Runner) -> None:
    results = await recover(run_roles, 5, [1, 2, 3, 4])
    assert results["Recovering"] == KEYS[5]


async def test_wrong_sigma_fails_the_recovery_for_everyone(run_roles: Runner) -> None:
    results = await recover(run_roles, 2, [1, 3, 5], tamper={1: lambda s: (s + 1) % L})
    failed = results["Recovering"]
    assert isinstance(failed, guardian_recovery.RecoveryFailed)
    assert "repaired share does not match the verifying share" in failed.reason
    # Every guardian was told (the Failed branch), none believes it succeeded.
    assert all(results[f"Guardian[{i}]"] is False for i in range(3))

"""Flagship check: resharing and refresh through the generated Reshare roles, on both
transports, keeping the group key; the new shares sign and the old ones do not combine with
them."""

from __future__ import annotations

import pytest
import trio
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from examples import frost_signing, reshare_ceremony
from examples.reshare_ceremony import ReshareFailed, ResharePlan, Result
from generated.threshold import reshare as gr
from runtime.crypto.hazmat.group import L, base_mul
from runtime.crypto.hazmat.poly import lagrange_at_zero
from runtime.crypto.keys import trusted_dealer_keygen
from runtime.crypto.rand import DeterministicRandom
from tests.runtime.harness import Runner, run_justify

OLD_KEYS, OLD_PUBLIC, _ = trusted_dealer_keygen(2, 3, DeterministicRandom(b"reshare-e2e"))


async def run(
    run_roles: Runner, plan: ResharePlan, seed: bytes = b"r",
    behaviour: dict[int, reshare_ceremony.Misbehaviour] | None = None, disputed: bool = False,
) -> dict[str, Result]:
    """The Reshare session, then Justify if it was disputed (as ``disputed`` expects)."""
    n = len(plan.members)
    programs = reshare_ceremony.programs(plan, b"test", DeterministicRandom(seed), behaviour)
    with trio.fail_after(60):
        results = await run_roles(gr.PROTOCOL, programs, families={"Member": n}, timeout=10.0)
    first = {name: r.unwrap() for name, r in results.items()}
    done = reshare_ceremony.settled(first)
    assert (done is None) == disputed, first
    if done is not None:
        return done
    states = [o for o in first.values() if isinstance(o, reshare_ceremony.Disputed)]
    return await run_justify(run_roles, reshare_ceremony.justify_programs(states))


async def test_move_to_new_holders_then_refresh(run_roles: Runner) -> None:
    plan = reshare_ceremony.plan_move(OLD_KEYS, OLD_PUBLIC, [1, 3], [1, 2, 3, 4, 5], 3)
    results = await run(run_roles, plan)
    assert [results[f"Member[{i}]"] for i in range(2)] == [None, None]  # dealers only
    new_keys, new_public = reshare_ceremony.new_key_material(results)
    assert sorted(new_keys) == [1, 2, 3, 4, 5] and new_public.min_signers == 3
    assert new_public.verifying_key == OLD_PUBLIC.verifying_key
    # Old shares lie on another polynomial: an old and two new shares do not interpolate.
    mixed = (
        lagrange_at_zero((1, 2, 3), 1) * OLD_KEYS[1].signing_share
        + sum(lagrange_at_zero((1, 2, 3), i) * new_keys[i].signing_share for i in (2, 3))
    ) % L
    assert base_mul(mixed) != new_public.verifying_key
    refreshed, refreshed_public = reshare_ceremony.new_key_material(
        await run(run_roles, reshare_ceremony.plan_refresh(new_keys, new_public), seed=b"f")
    )
    assert refreshed_public.verifying_key == OLD_PUBLIC.verifying_key
    assert all(refreshed[i].signing_share != new_keys[i].signing_share for i in refreshed)
    with trio.fail_after(30):
        signature = await frost_signing.signature_of(
            refreshed, refreshed_public, b"m", signers=[2, 4, 5]
        )
    Ed25519PublicKey.from_public_bytes(OLD_PUBLIC.verifying_key.to_bytes()).verify(signature, b"m")


def wrong_for(victim: int) -> reshare_ceremony.ShareFilter:
    def wrong(j: int, share: int) -> int:
        return (share + 1) % L if j == victim else share

    return wrong


MOVE = reshare_ceremony.plan_move(OLD_KEYS, OLD_PUBLIC, [1, 2], [1, 2, 3, 4, 5], 3)


@pytest.mark.parametrize("victim", [3, 6])
async def test_dealer_that_cannot_justify_is_named(run_roles: Runner, victim: int) -> None:
    # Dealer member 1 (old holder 2) seals a share its commitment does not match to a new
    # holder, and reveals the same wrong share when accused.
    liar = reshare_ceremony.Misbehaviour(deal=wrong_for(victim), reveal=wrong_for(victim))
    results = await run(run_roles, MOVE, behaviour={1: liar}, disputed=True)
    assert set(results.values()) == {
        ReshareFailed((1,), "dealers whose disputed shares do not verify")
    }


async def test_dealer_that_justifies_is_cleared(run_roles: Runner) -> None:
    # Dealer member 0 seals a wrong share to member 4 but reveals the right one.
    fixed = reshare_ceremony.Misbehaviour(deal=wrong_for(4))
    new_keys, new_public = reshare_ceremony.new_key_material(
        await run(run_roles, MOVE, behaviour={0: fixed}, disputed=True)
    )
    assert sorted(new_keys) == [1, 2, 3, 4, 5]
    assert new_public.verifying_key == OLD_PUBLIC.verifying_key


async def test_false_complaint_aborts_nothing(run_roles: Runner) -> None:
    # New holder member 5 accuses honest dealer member 1.
    liar = reshare_ceremony.Misbehaviour(complain_about=frozenset({1}))
    new_keys, new_public = reshare_ceremony.new_key_material(
        await run(run_roles, MOVE, behaviour={5: liar}, disputed=True)
    )
    signature = await frost_signing.signature_of(new_keys, new_public, b"m", signers=[3, 4, 5])
    Ed25519PublicKey.from_public_bytes(OLD_PUBLIC.verifying_key.to_bytes()).verify(signature, b"m")


async def test_false_complaint_by_a_dealer_aborts_nothing(run_roles: Runner) -> None:
    # Dealer member 0 receives no share; its accusation of dealer member 1 is judged on
    # member 1's commitment, which is sound.
    liar = reshare_ceremony.Misbehaviour(complain_about=frozenset({1}))
    new_keys, _ = reshare_ceremony.new_key_material(
        await run(run_roles, MOVE, behaviour={0: liar}, disputed=True)
    )
    assert sorted(new_keys) == [1, 2, 3, 4, 5]

"""Flagship check: threshold key derivation through the generated Dkd roles, on both
transports, then a FROST signature under the derived key through the generated FrostSign
roles."""

from __future__ import annotations

import pytest
import trio
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from examples import frost_signing, key_derivation
from generated.threshold import dkd as gd
from runtime.crypto import dkd
from runtime.crypto.errors import InvalidParameters
from runtime.crypto.hazmat.group import L
from runtime.crypto.keys import KeyPackage, PublicKeyPackage, trusted_dealer_keygen
from runtime.crypto.rand import DeterministicRandom
from tests.runtime.harness import Runner

Outcome = tuple[KeyPackage, PublicKeyPackage] | key_derivation.DkdFailed
KEYS, PUBLIC, _ = trusted_dealer_keygen(3, 5, DeterministicRandom(b"dkd-e2e"))


async def derive(
    run_roles: Runner, holders: list[int], context: bytes, seed: bytes = b"r",
    tamper: dict[int, key_derivation.EvaluationFilter] | None = None,
) -> dict[str, Outcome]:
    programs = key_derivation.programs(
        KEYS, PUBLIC, holders, context, DeterministicRandom(seed), tamper
    )
    with trio.fail_after(60):
        results = await run_roles(
            gd.PROTOCOL, programs, families={"Holder": len(holders)}, timeout=10.0
        )
    return {name: r.unwrap() for name, r in results.items()}


def derived(outcomes: dict[str, Outcome]) -> tuple[dict[int, KeyPackage], PublicKeyPackage]:
    pairs = [o for o in outcomes.values() if isinstance(o, tuple)]
    assert len(pairs) == len(outcomes), outcomes
    publics = {pub for _kp, pub in pairs}
    assert len(publics) == 1
    return {kp.identifier: kp for kp, _pub in pairs}, publics.pop()


async def test_any_t_holders_derive_one_key_that_signs(run_roles: Runner) -> None:
    keys_a, public_a = derived(await derive(run_roles, [1, 2, 3], b"wallet/1"))
    _, public_b = derived(await derive(run_roles, [2, 4, 5], b"wallet/1", seed=b"other"))
    _, public_all = derived(await derive(run_roles, [1, 2, 3, 4, 5], b"wallet/1"))
    assert public_a == public_b == public_all
    assert public_a.verifying_key != PUBLIC.verifying_key
    _, public_other = derived(await derive(run_roles, [1, 2, 3], b"wallet/2"))
    assert public_other.verifying_key not in (public_a.verifying_key, PUBLIC.verifying_key)
    message = b"derived"
    with trio.fail_after(30):
        signature = await frost_signing.signature_of(keys_a, public_a, message)
    Ed25519PublicKey.from_public_bytes(public_a.verifying_key.to_bytes()).verify(signature, message)


async def test_forged_evaluation_is_named_by_every_member(run_roles: Runner) -> None:
    def forge(share: dkd.DerivationShare) -> dkd.DerivationShare:
        return dkd.DerivationShare(
            share.identifier, share.evaluation, share.challenge, (share.response + 1) % L
        )

    outcomes = await derive(run_roles, [1, 3, 4, 5], b"wallet/1", tamper={2: forge})
    # Member 2 (identifier 4) sent a proof that does not verify: every member, the forger
    # too, learns it from the Confirms and nobody keeps a derived key.
    assert set(outcomes.values()) == {key_derivation.DkdFailed((2,), "complaints about evaluations")}


async def test_fewer_than_t_holders_are_refused(run_roles: Runner) -> None:
    with trio.fail_after(60):
        results = await run_roles(
            gd.PROTOCOL,
            key_derivation.programs(KEYS, PUBLIC, [1, 2], b"w", DeterministicRandom(b"x")),
            families={"Holder": 2}, timeout=5.0,
        )
    for r in results.values():
        with pytest.raises(InvalidParameters, match="2 holders cannot derive a 3-of-n key"):
            r.unwrap()

"""Flagship check: a dealerless key from the generated Dkg roles, on both transports, then
FROST signatures under it through the generated FrostSign roles."""

from __future__ import annotations

import pytest
import trio
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from rt_harness import Runner

from examples import dkg_ceremony, frost_signing
from generated.threshold import dkg as gd
from runtime.crypto.hazmat.group import L, base_mul
from runtime.crypto.hazmat.poly import lagrange_at_zero
from runtime.crypto.keys import KeyPackage, PublicKeyPackage
from runtime.crypto.rand import DeterministicRandom

Outcome = tuple[KeyPackage, PublicKeyPackage] | dkg_ceremony.DkgFailed


async def ceremony(
    run_roles: Runner, t: int, n: int, seed: bytes,
    tamper: dict[int, dkg_ceremony.ShareFilter] | None = None,
) -> dict[str, Outcome]:
    programs = dkg_ceremony.programs(t, n, b"test-ceremony", DeterministicRandom(seed), tamper)
    with trio.fail_after(60):
        results = await run_roles(
            gd.PROTOCOL, programs, params={"t": t}, families={"Participant": n}, timeout=10.0
        )
    return {name: r.unwrap() for name, r in results.items()}


def succeeded(outcomes: dict[str, Outcome]) -> tuple[dict[int, KeyPackage], PublicKeyPackage]:
    assert all(isinstance(o, tuple) for o in outcomes.values()), outcomes
    pairs = [o for o in outcomes.values() if isinstance(o, tuple)]
    publics = {pub for _kp, pub in pairs}
    assert len(publics) == 1  # every member computed the same public key package
    return {kp.identifier: kp for kp, _pub in pairs}, publics.pop()


async def test_dkg_3_of_5_key_signs(run_roles: Runner) -> None:
    keys, public = succeeded(await ceremony(run_roles, 3, 5, b"dkg-e2e"))
    assert sorted(keys) == [1, 2, 3, 4, 5]
    for kp in keys.values():
        assert base_mul(kp.signing_share) == public.verifying_shares[kp.identifier]
        assert kp.verifying_key == public.verifying_key and kp.min_signers == 3
    # Any three shares interpolate to the group secret; two do not.
    for subset in ((1, 2, 3), (2, 4, 5)):
        s = sum(lagrange_at_zero(subset, i) * keys[i].signing_share for i in subset) % L
        assert base_mul(s) == public.verifying_key
    two = sum(lagrange_at_zero((1, 2), i) * keys[i].signing_share for i in (1, 2)) % L
    assert base_mul(two) != public.verifying_key
    message = b"dealerless"
    with trio.fail_after(30):
        signature = await frost_signing.signature_of(keys, public, message, DeterministicRandom(b"s"))
    Ed25519PublicKey.from_public_bytes(public.verifying_key.to_bytes()).verify(signature, message)


async def test_fresh_ceremonies_give_fresh_keys(run_roles: Runner) -> None:
    _, first = succeeded(await ceremony(run_roles, 2, 3, b"one"))
    _, second = succeeded(await ceremony(run_roles, 2, 3, b"two"))
    assert first.verifying_key != second.verifying_key


@pytest.mark.parametrize(("liar", "victim"), [(0, 2), (3, 1)])
async def test_bad_share_is_named_by_every_member(
    run_roles: Runner, liar: int, victim: int
) -> None:
    def wrong(j: int, share: int) -> int:
        return (share + 1) % L if j == victim else share

    outcomes = await ceremony(run_roles, 3, 4, b"dkg-bad", tamper={liar: wrong})
    # The victim's check of f_liar(victim) against the liar's VSS commitment fails; its
    # complaint reaches everyone in Confirm, so every member (the liar too) ends with the
    # same verdict and nobody keeps a key.
    verdicts = set(outcomes.values())
    assert verdicts == {dkg_ceremony.DkgFailed((liar,), "complaints about Round1 packages or shares")}

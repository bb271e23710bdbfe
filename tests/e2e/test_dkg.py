"""Flagship check: a dealerless key from the generated Dkg roles (and Justify when shares
are disputed), on both transports, then FROST signatures under it through FrostSign."""

from __future__ import annotations

import trio
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from examples import dkg_ceremony, frost_signing
from examples.dkg_ceremony import DkgFailed, Misbehaviour, Outcome
from generated.threshold import dkg as gd
from runtime.crypto.hazmat.group import L, base_mul
from runtime.crypto.hazmat.poly import lagrange_at_zero
from runtime.crypto.keys import KeyPackage, PublicKeyPackage
from runtime.crypto.rand import DeterministicRandom
from tests.runtime.harness import Runner, run_justify


async def ceremony(
    run_roles: Runner, t: int, n: int, seed: bytes,
    behaviour: dict[int, Misbehaviour] | None = None, disputed: bool = False,
) -> dict[str, Outcome]:
    """Run the Dkg session, then Justify if it was disputed (``disputed`` says whether
    the test expects that)."""
    programs = dkg_ceremony.programs(t, n, b"test-ceremony", DeterministicRandom(seed), behaviour)
    with trio.fail_after(60):
        first = await run_roles(
            gd.PROTOCOL, programs, params={"t": t}, families={"Participant": n}, timeout=10.0
        )
    outcomes = {name: r.unwrap() for name, r in first.items()}
    done = dkg_ceremony.settled(outcomes)
    assert (done is None) == disputed, outcomes
    if done is not None:
        return done
    states = [o for o in outcomes.values() if isinstance(o, dkg_ceremony.Disputed)]
    return dkg_ceremony.as_participants(
        await run_justify(run_roles, dkg_ceremony.justify_programs(states))
    )


def succeeded(outcomes: dict[str, Outcome]) -> tuple[dict[int, KeyPackage], PublicKeyPackage]:
    assert all(isinstance(o, tuple) for o in outcomes.values()), outcomes
    pairs = [o for o in outcomes.values() if isinstance(o, tuple)]
    publics = {pub for _kp, pub in pairs}
    assert len(publics) == 1  # every member computed the same public key package
    keys = {kp.identifier: kp for kp, _pub in pairs}
    for kp in keys.values():
        assert base_mul(kp.signing_share) == pairs[0][1].verifying_shares[kp.identifier]
    return keys, publics.pop()


async def signs(keys: dict[int, KeyPackage], public: PublicKeyPackage) -> None:
    message = b"dealerless"
    with trio.fail_after(30):
        signature = await frost_signing.signature_of(keys, public, message, DeterministicRandom(b"s"))
    Ed25519PublicKey.from_public_bytes(public.verifying_key.to_bytes()).verify(signature, message)


async def test_dkg_3_of_5_key_signs(run_roles: Runner) -> None:
    keys, public = succeeded(await ceremony(run_roles, 3, 5, b"dkg-e2e"))
    assert sorted(keys) == [1, 2, 3, 4, 5]
    assert all(kp.verifying_key == public.verifying_key and kp.min_signers == 3 for kp in keys.values())
    # Any three shares interpolate to the group secret; two do not.
    for subset in ((1, 2, 3), (2, 4, 5)):
        s = sum(lagrange_at_zero(subset, i) * keys[i].signing_share for i in subset) % L
        assert base_mul(s) == public.verifying_key
    two = sum(lagrange_at_zero((1, 2), i) * keys[i].signing_share for i in (1, 2)) % L
    assert base_mul(two) != public.verifying_key
    await signs(keys, public)


async def test_fresh_ceremonies_give_fresh_keys(run_roles: Runner) -> None:
    _, first = succeeded(await ceremony(run_roles, 2, 3, b"one"))
    _, second = succeeded(await ceremony(run_roles, 2, 3, b"two"))
    assert first.verifying_key != second.verifying_key


def wrong_for(victim: int) -> dkg_ceremony.ShareFilter:
    def wrong(j: int, share: int) -> int:
        return (share + 1) % L if j == victim else share

    return wrong


async def test_dealer_that_cannot_justify_is_named_by_every_member(run_roles: Runner) -> None:
    # Member 0 seals a wrong share to member 2 and reveals the same wrong share when accused.
    liar = Misbehaviour(deal=wrong_for(2), reveal=wrong_for(2))
    outcomes = await ceremony(run_roles, 3, 4, b"dkg-bad", {0: liar}, disputed=True)
    assert set(outcomes.values()) == {DkgFailed((0,), "dealers whose disputed shares do not verify")}


async def test_dealer_that_justifies_is_cleared_and_the_key_stands(run_roles: Runner) -> None:
    # Member 3 seals a wrong share to member 1 but reveals the right one: member 1 adopts it.
    keys, public = succeeded(
        await ceremony(run_roles, 3, 4, b"dkg-fixed", {3: Misbehaviour(deal=wrong_for(1))}, disputed=True)
    )
    assert sorted(keys) == [1, 2, 3, 4]
    await signs(keys, public)


async def test_false_complaint_aborts_nothing(run_roles: Runner) -> None:
    # Member 2 accuses honest member 0; member 0's revealed share verifies, so nobody is named.
    keys, public = succeeded(
        await ceremony(
            run_roles, 2, 3, b"dkg-false", {2: Misbehaviour(complain_about=frozenset({0}))},
            disputed=True,
        )
    )
    await signs(keys, public)


async def test_round1_complaint_fails_naming_the_accused(run_roles: Runner) -> None:
    # A Round1 complaint cannot be settled without a broadcast channel: the member deals
    # nothing, and everyone ends with the same verdict naming whom it accused.
    outcomes = await ceremony(
        run_roles, 2, 3, b"dkg-r1", {1: Misbehaviour(complain_about_round1=frozenset({2}))}
    )
    assert set(outcomes.values()) == {DkgFailed((2,), "complaints about Round1 packages")}

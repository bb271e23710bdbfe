"""FROST round trips, tamper detection and hypothesis properties (no vector files needed)."""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from runtime.crypto import frost
from runtime.crypto.errors import (
    CommitmentMismatch,
    InvalidEncoding,
    InvalidParameters,
    InvalidSignature,
    InvalidSignatureShare,
    NonceReuse,
)
from runtime.crypto.hazmat.group import L, base_mul
from runtime.crypto.hazmat.poly import lagrange_at_zero, vss_eval
from runtime.crypto.keys import KeyPackage, PublicKeyPackage, trusted_dealer_keygen
from runtime.crypto.rand import DeterministicRandom, OsRandom
from tests.crypto.support import sign_with

SETTINGS = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@st.composite
def threshold_setup(draw: st.DrawFn) -> tuple[int, int, list[int], int]:
    n = draw(st.integers(2, 7))
    t = draw(st.integers(2, n))
    k = draw(st.integers(t, n))
    signers = sorted(draw(st.permutations(range(1, n + 1)))[:k])
    seed = draw(st.integers(0, 2**32))
    return t, n, signers, seed


@SETTINGS
@given(threshold_setup(), st.binary(max_size=64))
def test_random_threshold_and_subset_sign_and_verify(
    setup: tuple[int, int, list[int], int], message: bytes
) -> None:
    t, n, signers, seed = setup
    rng = DeterministicRandom(seed)
    kps, public, vss = trusted_dealer_keygen(t, n, rng)
    assert vss[0] == public.verifying_key
    sig = sign_with(kps, public, signers, message, rng)
    frost.verify(public.verifying_key, message, sig)
    Ed25519PublicKey.from_public_bytes(public.verifying_key.to_bytes()).verify(sig, message)
    with pytest.raises(InvalidSignature):
        frost.verify(public.verifying_key, message + b"x", sig)


@SETTINGS
@given(threshold_setup(), st.data())
def test_any_tampered_share_is_identified(
    setup: tuple[int, int, list[int], int], data: st.DataObject
) -> None:
    t, n, signers, seed = setup
    rng = DeterministicRandom(seed)
    kps, public, _ = trusted_dealer_keygen(t, n, rng)
    round1 = {i: frost.commit(kps[i], rng) for i in signers}
    package = frost.SigningPackage([c for _, c in round1.values()], b"tamper")
    shares = {i: frost.sign(package, round1[i][0], kps[i]) for i in signers}
    bad = sorted(data.draw(st.sets(st.sampled_from(signers), min_size=1)))
    deltas = [data.draw(st.integers(1, L - 1)) for _ in bad]
    # Changes that cancel out (1 and L - 1) leave the aggregate a valid signature, and RFC
    # 9591 checks the shares only when it is not: nothing to identify then.
    assume(sum(deltas) % L != 0)
    for i, delta in zip(bad, deltas, strict=True):
        shares[i] = frost.SignatureShare(i, (shares[i].share + delta) % L)
    with pytest.raises(InvalidSignatureShare) as e:
        frost.aggregate(package, shares.values(), public)
    assert e.value.culprits == tuple(bad)
    for i in signers:
        if i in bad:
            with pytest.raises(InvalidSignatureShare):
                frost.verify_signature_share(shares[i], package, public)
        else:
            frost.verify_signature_share(shares[i], package, public)


def test_round_trip_over_the_wire() -> None:
    rng = DeterministicRandom("wire")
    kps, public, _ = trusted_dealer_keygen(3, 5, rng)
    signers = [1, 3, 4]
    round1 = {i: frost.commit(kps[i], rng) for i in signers}
    coordinator = frost.SigningPackage(
        [frost.SigningCommitments.from_bytes(round1[i][1].to_bytes()) for i in signers], b"msg"
    )
    wire = coordinator.to_bytes()
    shares = []
    for i in signers:
        mine = frost.SigningPackage.from_bytes(wire, own=round1[i][1])
        assert mine == coordinator
        share = frost.sign(mine, round1[i][0], kps[i])
        shares.append(frost.SignatureShare.from_bytes(share.to_bytes()))
    sig = frost.aggregate(frost.SigningPackage.from_bytes(wire), shares, public)
    frost.verify(public.verifying_key, b"msg", sig)


def test_nonces_are_single_use() -> None:
    rng = DeterministicRandom("nonce")
    kps, _, _ = trusted_dealer_keygen(2, 3, rng)
    n1, c1 = frost.commit(kps[1], rng)
    _, c2 = frost.commit(kps[2], rng)
    package = frost.SigningPackage([c1, c2], b"a")
    frost.sign(package, n1, kps[1])
    assert n1.used
    with pytest.raises(NonceReuse):
        frost.sign(frost.SigningPackage([c1, c2], b"b"), n1, kps[1])
    assert "secret" in repr(n1) and str(n1._hiding) not in repr(n1)


def test_sign_refuses_package_without_our_commitments() -> None:
    rng = DeterministicRandom("mismatch")
    kps, _, _ = trusted_dealer_keygen(2, 3, rng)
    n1, _ = frost.commit(kps[1], rng)
    _, other = frost.commit(kps[1], rng)
    _, c2 = frost.commit(kps[2], rng)
    with pytest.raises(CommitmentMismatch):
        frost.sign(frost.SigningPackage([other, c2], b"m"), n1, kps[1])
    assert not n1.used


def test_too_few_signers_and_missing_or_extra_shares() -> None:
    rng = DeterministicRandom("few")
    kps, public, _ = trusted_dealer_keygen(3, 4, rng)
    round1 = {i: frost.commit(kps[i], rng) for i in (1, 2)}
    package = frost.SigningPackage([c for _, c in round1.values()], b"m")
    with pytest.raises(InvalidParameters):
        frost.sign(package, round1[1][0], kps[1])
    round1 = {i: frost.commit(kps[i], rng) for i in (1, 2, 3)}
    package = frost.SigningPackage([c for _, c in round1.values()], b"m")
    shares = [frost.sign(package, round1[i][0], kps[i]) for i in (1, 2, 3)]
    with pytest.raises(InvalidSignatureShare) as e:
        frost.aggregate(package, shares[:2], public)
    assert e.value.culprits == (3,)
    with pytest.raises(InvalidSignatureShare) as e2:
        frost.aggregate(package, [*shares, frost.SignatureShare(4, 1)], public)
    assert e2.value.culprits == (4,)


def test_fewer_than_t_shares_cannot_sign() -> None:
    # t-1 holders interpolating over themselves do not get the group secret.
    rng = DeterministicRandom("t-1")
    kps, public, _ = trusted_dealer_keygen(3, 5, rng)
    guess = sum(lagrange_at_zero((1, 2), i) * kps[i].signing_share for i in (1, 2)) % L
    assert base_mul(guess) != public.verifying_key


def test_secrets_not_in_repr() -> None:
    rng = DeterministicRandom("repr")
    kps, _, _ = trusted_dealer_keygen(2, 3, rng)
    assert str(kps[1].signing_share) not in repr(kps[1])
    assert "seed" not in repr(rng) or "hidden" in repr(rng)
    assert repr(OsRandom()) == "OsRandom()"


def test_os_random_default_path() -> None:
    kps, public, _ = trusted_dealer_keygen(2, 2)
    sig = sign_with(kps, public, [1, 2], b"os", OsRandom())
    frost.verify(public.verifying_key, b"os", sig)


def test_key_packages_serialize_and_validate() -> None:
    rng = DeterministicRandom("serialize")
    kps, public, vss = trusted_dealer_keygen(3, 5, rng, identifiers=[3, 9, 129, 256, 1000])
    # The dealer's VSS commitment vouches for every share.
    for i, kp in kps.items():
        assert vss_eval(vss, i) == public.verifying_shares[i]
        assert KeyPackage.from_bytes(kp.to_bytes()) == kp
    assert PublicKeyPackage.from_bytes(public.to_bytes()) == public
    raw = bytearray(kps[3].to_bytes())
    raw[40] ^= 1  # the share no longer matches Y_i
    with pytest.raises(InvalidEncoding):
        KeyPackage.from_bytes(bytes(raw))
    raw = bytearray(public.to_bytes())
    start = 4 + 32 + 64 + 32  # the second verifying share
    raw[start : start + 32] = b"\x01" + bytes(31)  # the identity
    with pytest.raises(InvalidEncoding):
        PublicKeyPackage.from_bytes(bytes(raw))


def test_nonce_generation_mixes_in_the_secret() -> None:
    # A stuck RNG must not give two participants (or two keys) the same nonce.
    stuck = bytes(32)
    rng = DeterministicRandom(0)
    assert frost.nonce_generate(1, rng, randomness=stuck) != frost.nonce_generate(
        2, rng, randomness=stuck
    )
    a, b = DeterministicRandom(7), DeterministicRandom(7)
    assert a.random_bytes(100) == b.random_bytes(60) + b.random_bytes(40)

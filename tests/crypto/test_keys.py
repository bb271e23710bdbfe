"""DKG, threshold key derivation, resharing/refresh and share repair (no vector files needed)."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from runtime.crypto import dkd, dkg, frost, repair, reshare
from runtime.crypto.errors import (
    InvalidCommitment,
    InvalidEncoding,
    InvalidParameters,
    InvalidProof,
    InvalidShare,
    InvalidSignature,
    InvalidSignatureShare,
    MissingShare,
)
from runtime.crypto.hazmat.group import L, base_mul, mul, sum_points
from runtime.crypto.hazmat.poly import lagrange_at_zero
from runtime.crypto.keys import (
    KeyPackage,
    PublicKeyPackage,
    trusted_dealer_keygen,
    verify_vss_share,
)
from runtime.crypto.rand import DeterministicRandom, RandomSource
from tests.crypto.support import sign_with

SETTINGS = settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def run_dkg(t: int, n: int, rng: RandomSource) -> tuple[dict[int, KeyPackage], PublicKeyPackage]:
    ids = range(1, n + 1)
    r1 = {i: dkg.part1(i, t, n, rng) for i in ids}
    wire1 = {i: r1[i][1].to_bytes() for i in ids}
    received1 = {
        i: {j: dkg.Round1Package.from_bytes(wire1[j], j) for j in ids if j != i} for i in ids
    }
    r2 = {i: dkg.part2(r1[i][0], received1[i]) for i in ids}
    out = {
        i: dkg.part3(
            r2[i][0],
            received1[i],
            {j: dkg.Round2Package.from_bytes(r2[j][1][i].to_bytes(), j) for j in ids if j != i},
        )
        for i in ids
    }
    publics = {o[1] for o in out.values()}
    assert len(publics) == 1  # everybody agrees on the group key and all verifying shares
    return {i: o[0] for i, o in out.items()}, out[1][1]


@st.composite
def setup(draw: st.DrawFn) -> tuple[int, int, list[int], int]:
    n = draw(st.integers(2, 6))
    t = draw(st.integers(2, n))
    signers = sorted(draw(st.permutations(range(1, n + 1)))[:t])
    return t, n, signers, draw(st.integers(0, 2**32))


@SETTINGS
@given(setup())
def test_dkg_then_sign(s: tuple[int, int, list[int], int]) -> None:
    t, n, signers, seed = s
    rng = DeterministicRandom(seed)
    kps, public = run_dkg(t, n, rng)
    for i, kp in kps.items():
        assert base_mul(kp.signing_share) == public.verifying_shares[i] == kp.verifying_share
    secret = sum(lagrange_at_zero(signers, i) * kps[i].signing_share for i in signers) % L
    assert base_mul(secret) == public.verifying_key
    sig = sign_with(kps, public, signers, b"dkg", rng)
    frost.verify(public.verifying_key, b"dkg", sig)


def test_dkg_bad_proof_and_bad_share_identify_culprits() -> None:
    rng = DeterministicRandom("dkg-bad")
    t, n = 2, 4
    ids = range(1, n + 1)
    r1 = {i: dkg.part1(i, t, n, rng) for i in ids}
    # 3 sends a proof made for another identifier (replayed from 2).
    forged = dkg.Round1Package(r1[3][1].commitment, r1[2][1].pok_r, r1[2][1].pok_mu)
    received = {j: r1[j][1] for j in ids if j != 1}
    received[3] = forged
    with pytest.raises(InvalidProof) as e:
        dkg.part2(r1[1][0], received)
    assert e.value.culprits == (3,)
    # 4 sends a commitment of the wrong length.
    short = dkg.Round1Package(r1[4][1].commitment[:1], r1[4][1].pok_r, r1[4][1].pok_mu)
    with pytest.raises(InvalidCommitment) as e2:
        dkg.part2(r1[1][0], {2: r1[2][1], 3: r1[3][1], 4: short})
    assert e2.value.culprits == (4,)

    received1 = {j: r1[j][1] for j in ids if j != 1}
    secret2, _ = dkg.part2(r1[1][0], received1)
    shares = {j: dkg.part2(r1[j][0], {k: r1[k][1] for k in ids if k != j})[1][1] for j in (2, 3, 4)}
    tampered = dict(shares)
    tampered[2] = dkg.Round2Package((shares[2].signing_share + 1) % L)
    tampered[4] = dkg.Round2Package((shares[4].signing_share * 2) % L)
    with pytest.raises(InvalidShare) as e3:
        dkg.part3(secret2, received1, tampered)
    assert e3.value.culprits == (2, 4)
    with pytest.raises(MissingShare) as e4:
        dkg.part3(secret2, received1, {2: shares[2], 3: shares[3]})
    assert e4.value.culprits == (4,)
    with pytest.raises(InvalidShare):
        dkg.Round2Package.from_bytes(L.to_bytes(32, "little"), 2)
    with pytest.raises(InvalidCommitment):
        dkg.Round1Package.from_bytes(r1[2][1].to_bytes()[:-1], 2)
    assert str(shares[2].signing_share) not in repr(shares[2])


# --- DKD -------------------------------------------------------------------------------------


def derive_tweak(
    kps: dict[int, KeyPackage],
    public: PublicKeyPackage,
    holders: list[int],
    context: bytes,
    rng: RandomSource,
) -> dkd.DerivationTweak:
    """The holders evaluate, their shares cross the wire as bytes, and ``combine`` runs."""
    wire = [dkd.evaluate(kps[i], context, rng).to_bytes() for i in holders]
    return dkd.combine(public, context, [dkd.DerivationShare.from_bytes(b) for b in wire])


@SETTINGS
@given(setup(), st.binary(max_size=32), st.binary(max_size=32))
def test_dkd_derived_keys_sign_and_are_context_separated(
    s: tuple[int, int, list[int], int], ctx_a: bytes, ctx_b: bytes
) -> None:
    t, n, signers, seed = s
    rng = DeterministicRandom(seed)
    kps, public = trusted_dealer_keygen(t, n, rng)[:2]
    tweak_a = derive_tweak(kps, public, signers, ctx_a, rng)
    derived_a = {i: dkd.derive_key_package(kp, tweak_a) for i, kp in kps.items()}
    public_a = dkd.derive_public_key_package(public, tweak_a)
    assert all(derived_a[i].verifying_key == public_a.verifying_key for i in kps)
    assert all(
        base_mul(derived_a[i].signing_share) == public_a.verifying_shares[i] for i in kps
    )
    assert public_a.verifying_key != public.verifying_key
    sig = sign_with(derived_a, public_a, signers, b"derived", rng)
    frost.verify(public_a.verifying_key, b"derived", sig)
    with pytest.raises(InvalidSignature):
        frost.verify(public.verifying_key, b"derived", sig)
    if ctx_a != ctx_b:
        public_b = dkd.derive_public_key_package(public, derive_tweak(kps, public, signers, ctx_b, rng))
        assert public_b.verifying_key != public_a.verifying_key
        with pytest.raises(InvalidSignature):
            frost.verify(public_b.verifying_key, b"derived", sig)


def test_dkd_any_t_holders_derive_the_same_key() -> None:
    rng = DeterministicRandom("dkd-sets")
    kps, public, _ = trusted_dealer_keygen(3, 5, rng)
    tweaks = {
        tuple(h): derive_tweak(kps, public, h, b"wallet/7", rng)
        for h in ([1, 2, 3], [2, 4, 5], [1, 3, 5], [1, 2, 3, 4, 5])
    }
    assert len({tw.tweak for tw in tweaks.values()}) == 1
    # Deterministic: the same context derives the same key in a later session.
    assert derive_tweak(kps, public, [3, 4, 5], b"wallet/7", rng) == tweaks[(1, 2, 3)]
    assert derive_tweak(kps, public, [1, 2, 3], b"wallet/8", rng).tweak != tweaks[(1, 2, 3)].tweak


def test_dkd_fewer_than_t_cannot() -> None:
    rng = DeterministicRandom("dkd")
    kps, public, _ = trusted_dealer_keygen(3, 5, rng)
    shares = [dkd.evaluate(kps[i], b"a", rng) for i in (1, 2)]
    with pytest.raises(InvalidParameters, match="2 derivation shares, need at least 3"):
        dkd.combine(public, b"a", shares)
    with pytest.raises(InvalidParameters, match="two derivation shares from 1"):
        dkd.combine(public, b"a", [*shares, shares[0]])
    # What two holders can compute from their evaluations is not σ = s·H: interpolating as if
    # t were 2 misses the true PRF value that three evaluations give.
    third = dkd.evaluate(kps[3], b"a", rng)
    sigma = sum_points(
        [mul(lagrange_at_zero((1, 2, 3), sh.identifier), sh.evaluation) for sh in [*shares, third]]
    )
    two = sum_points([mul(lagrange_at_zero((1, 2), sh.identifier), sh.evaluation) for sh in shares])
    assert sigma == mul(public_secret(kps), dkd.context_point(public.verifying_key, b"a"))
    assert two != sigma


def public_secret(kps: dict[int, KeyPackage]) -> int:
    """The dealer's group secret, interpolated from every share (test oracle only)."""
    ids = sorted(kps)
    return sum(lagrange_at_zero(ids, i) * kps[i].signing_share for i in ids) % L


def test_dkd_shares_do_not_cross_contexts() -> None:
    rng = DeterministicRandom("dkd-cross")
    kps, public, _ = trusted_dealer_keygen(3, 5, rng)
    ta = derive_tweak(kps, public, [1, 2, 3], b"a", rng)
    tb = derive_tweak(kps, public, [1, 2, 3], b"b", rng)
    da = {i: dkd.derive_key_package(kp, ta) for i, kp in kps.items()}
    pa = dkd.derive_public_key_package(public, ta)
    db = {i: dkd.derive_key_package(kp, tb) for i, kp in kps.items()}
    mixed = {1: da[1], 2: da[2], 3: db[3]}
    with pytest.raises(InvalidSignatureShare) as e:
        sign_with(mixed, pa, [1, 2, 3], b"m", rng)
    assert e.value.culprits == (3,)
    # An evaluation for one context is no evaluation for another.
    wrong = dkd.evaluate(kps[3], b"b", rng)
    with pytest.raises(InvalidProof) as e2:
        dkd.combine(public, b"a", [dkd.evaluate(kps[i], b"a", rng) for i in (1, 2)] + [wrong])
    assert e2.value.culprits == (3,)


def test_dkd_bad_evaluations_name_their_senders() -> None:
    rng = DeterministicRandom("dkd-bad")
    kps, public, _ = trusted_dealer_keygen(2, 4, rng)
    good = {i: dkd.evaluate(kps[i], b"ctx", rng) for i in (1, 2, 3, 4)}
    # 2 claims another point as σ_2; 3 keeps σ_3 but forges the response; 4 proves with a
    # valid proof for the wrong share (someone else's key package).
    forged_eval = dkd.DerivationShare(
        2, good[2].evaluation + good[1].evaluation, good[2].challenge, good[2].response
    )
    forged_resp = dkd.DerivationShare(3, good[3].evaluation, good[3].challenge, good[3].response + 1)
    stolen = dkd.evaluate(kps[1], b"ctx", rng)
    impostor = dkd.DerivationShare(4, stolen.evaluation, stolen.challenge, stolen.response)
    with pytest.raises(InvalidProof) as e:
        dkd.combine(public, b"ctx", [good[1], forged_eval, forged_resp, impostor])
    assert e.value.culprits == (2, 3, 4)
    with pytest.raises(InvalidProof) as e1:
        dkd.verify_derivation_share(forged_resp, public, b"ctx")
    assert e1.value.culprits == (3,)
    dkd.verify_derivation_share(good[3], public, b"ctx")
    # Encodings: σ_i off the subgroup, unreduced scalars, wrong length.
    raw = good[1].to_bytes()
    with pytest.raises(InvalidProof):
        dkd.DerivationShare.from_bytes(raw[:32] + bytes(32) + raw[64:])
    for bad in (raw[:64] + L.to_bytes(32, "little") + raw[96:], raw[:96] + L.to_bytes(32, "little")):
        with pytest.raises(InvalidProof) as e2:  # c or z >= L: the sender is named
            dkd.DerivationShare.from_bytes(bad)
        assert e2.value.culprits == (1,)
    with pytest.raises(InvalidEncoding):
        dkd.DerivationShare.from_bytes(raw[:-1])
    assert dkd.DerivationShare.from_bytes(raw) == good[1]


def test_dkd_tweak_is_bound_to_its_group_and_hidden() -> None:
    rng = DeterministicRandom("dkd-group")
    kps, public, _ = trusted_dealer_keygen(2, 3, rng)
    other_kps, other_public, _ = trusted_dealer_keygen(2, 3, rng)
    tweak = derive_tweak(kps, public, [1, 2], b"c", rng)
    with pytest.raises(InvalidParameters, match="another group key"):
        dkd.derive_key_package(other_kps[1], tweak)
    with pytest.raises(InvalidParameters, match="another group key"):
        dkd.derive_public_key_package(other_public, tweak)
    assert str(tweak.tweak) not in repr(tweak)
    # Shares from another group do not verify against this one.
    foreign = [dkd.evaluate(other_kps[i], b"c", rng) for i in (1, 2)]
    with pytest.raises(InvalidProof) as e:
        dkd.combine(public, b"c", foreign)
    assert e.value.culprits == (1, 2)


# --- resharing and refresh ----------------------------------------------------------------------


@st.composite
def reshare_setup(draw: st.DrawFn) -> tuple[int, int, list[int], int, int, list[int], int]:
    n = draw(st.integers(2, 5))
    t = draw(st.integers(2, n))
    dealers = sorted(draw(st.permutations(range(1, n + 1)))[: draw(st.integers(t, n))])
    n2 = draw(st.integers(2, 6))
    t2 = draw(st.integers(2, n2))
    new_ids = sorted(draw(st.sets(st.integers(1, 300), min_size=n2, max_size=n2)))
    return t, n, dealers, t2, n2, new_ids, draw(st.integers(0, 2**32))


def do_reshare(
    kps: dict[int, KeyPackage],
    public: PublicKeyPackage,
    dealers: list[int],
    new_ids: list[int],
    t2: int,
    rng: RandomSource,
) -> tuple[dict[int, KeyPackage], PublicKeyPackage]:
    dealt = {i: reshare.deal(kps[i], public, dealers, new_ids, t2, rng) for i in dealers}
    wire = {i: d[0].to_bytes() for i, d in dealt.items()}
    out = {}
    for j in new_ids:
        packages = {i: reshare.ResharePackage.from_bytes(wire[i], i) for i in dealers}
        out[j] = reshare.receive(
            j, public, dealers, new_ids, t2, packages, {i: dealt[i][1][j] for i in dealers}
        )
    assert len({o[1] for o in out.values()}) == 1
    return {j: o[0] for j, o in out.items()}, out[new_ids[0]][1]


@SETTINGS
@given(reshare_setup())
def test_reshare_keeps_group_key_and_new_set_signs(
    s: tuple[int, int, list[int], int, int, list[int], int],
) -> None:
    t, n, dealers, t2, _, new_ids, seed = s
    rng = DeterministicRandom(seed)
    kps, public, _ = trusted_dealer_keygen(t, n, rng)
    new_kps, new_public = do_reshare(kps, public, dealers, new_ids, t2, rng)
    assert new_public.verifying_key == public.verifying_key
    assert new_public.min_signers == t2
    signers = new_ids[-t2:]
    sig = sign_with(new_kps, new_public, signers, b"after reshare", rng)
    frost.verify(public.verifying_key, b"after reshare", sig)


def test_refresh_old_and_new_shares_do_not_combine() -> None:
    rng = DeterministicRandom("refresh")
    kps, public, _ = trusted_dealer_keygen(2, 3, rng)
    new_kps, new_public = reshare.refresh({i: kps[i] for i in (1, 3)}, public, rng)
    assert new_public.verifying_key == public.verifying_key
    assert all(new_kps[i].signing_share != kps[i].signing_share for i in (1, 2, 3))
    frost.verify(public.verifying_key, b"x", sign_with(new_kps, new_public, [2, 3], b"x", rng))
    frost.verify(public.verifying_key, b"x", sign_with(kps, public, [1, 2], b"x", rng))
    # An old share with a new one: caught as a bad share under either public package...
    mixed = {1: kps[1], 2: new_kps[2]}
    with pytest.raises(InvalidSignatureShare) as e:
        sign_with(mixed, new_public, [1, 2], b"x", rng)
    assert e.value.culprits == (1,)
    with pytest.raises(InvalidSignatureShare):
        sign_with(mixed, public, [1, 2], b"x", rng)
    # ...and the raw interpolation of mixed shares is not the group secret.
    mix = (
        lagrange_at_zero((1, 2), 1) * kps[1].signing_share
        + lagrange_at_zero((1, 2), 2) * new_kps[2].signing_share
    ) % L
    assert base_mul(mix) != public.verifying_key


def test_reshare_culprits() -> None:
    rng = DeterministicRandom("reshare-bad")
    kps, public, _ = trusted_dealer_keygen(2, 3, rng)
    dealers, new_ids = [1, 2, 3], [1, 2, 3, 4]
    dealt = {i: reshare.deal(kps[i], public, dealers, new_ids, 3, rng) for i in dealers}
    packages = {i: d[0] for i, d in dealt.items()}
    shares = {i: d[1][4] for i, d in dealt.items()}
    bad_shares = dict(shares)
    bad_shares[2] = (shares[2] + 1) % L
    with pytest.raises(InvalidShare) as e:
        reshare.receive(4, public, dealers, new_ids, 3, packages, bad_shares)
    assert e.value.culprits == (2,)
    # Dealer 3 reshares a different secret (consistent with its own commitment): the
    # C_i0 == λ_i·Y_i check catches it, the group key cannot move.
    rogue = reshare.deal(
        KeyPackage(3, 12345, base_mul(12345), public.verifying_key, 2),
        public,
        dealers,
        new_ids,
        3,
        rng,
    )
    with pytest.raises(InvalidShare) as e2:
        reshare.receive(
            4, public, dealers, new_ids, 3, {**packages, 3: rogue[0]}, {**shares, 3: rogue[1][4]}
        )
    assert e2.value.culprits == (3,)
    with pytest.raises(MissingShare):
        reshare.receive(4, public, dealers, new_ids, 3, {1: packages[1]}, shares)
    with pytest.raises(InvalidParameters):
        reshare.deal(kps[1], public, [1], new_ids, 3, rng)  # fewer dealers than t


# --- repair ----------------------------------------------------------------------------------


def test_repair_restores_a_lost_share() -> None:
    rng = DeterministicRandom("repair")
    kps, public, _ = trusted_dealer_keygen(3, 5, rng)
    helpers = [1, 2, 4]
    step1 = {i: repair.repair_step_1(helpers, kps[i], 5, rng) for i in helpers}
    sigmas = {j: repair.repair_step_2(step1[i][j] for i in helpers) for j in helpers}
    kp5 = repair.repaired_key_package(5, sigmas, public)
    assert kp5.signing_share == kps[5].signing_share
    sigmas[2] = (sigmas[2] + 1) % L
    with pytest.raises(InvalidShare):
        repair.repaired_key_package(5, sigmas, public)


def test_verify_vss_share_accepts_only_the_committed_evaluation() -> None:
    packages, _public, commitment = trusted_dealer_keygen(2, 3, DeterministicRandom(b"vss-share"))
    share = packages[2].signing_share
    assert verify_vss_share(commitment, 2, share)
    assert not verify_vss_share(commitment, 3, share)
    assert not verify_vss_share(commitment, 2, (share + 1) % L)
    assert not verify_vss_share(commitment, 2, share + L)  # same point, but not a reduced scalar

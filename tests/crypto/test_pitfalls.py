"""One test per pitfall listed in the vectors README (and a few more of the same kind)."""

from __future__ import annotations

import hashlib

import nacl.bindings as nb
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from runtime.crypto import frost
from runtime.crypto.errors import (
    CryptoError,
    InvalidCommitment,
    InvalidEncoding,
    InvalidPoint,
    InvalidScalar,
    InvalidSignatureShare,
)
from runtime.crypto.hazmat import group
from runtime.crypto.hazmat.group import (
    BASE,
    IDENTITY,
    L,
    Point,
    base_mul,
    mul,
    mul_received,
    point_from_bytes,
    scalar_from_bytes,
    scalar_from_wide,
    scalar_to_bytes,
)
from runtime.crypto.hazmat.poly import lagrange_at_zero, poly_eval
from runtime.crypto.hazmat.suite import H2, H3
from runtime.crypto.keys import trusted_dealer_keygen
from runtime.crypto.rand import DeterministicRandom
from tests.crypto.support import sign_with

# An order-8 point (libsodium's small-order blacklist) and the encodings of small-order points.
ORDER8 = bytes.fromhex("c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a")
ORDER2 = bytes.fromhex("ec" + "ff" * 30 + "7f")
IDENTITY_ENC = b"\x01" + bytes(31)
NONCANONICAL_IDENTITY = bytes.fromhex("ee" + "ff" * 30 + "7f")  # y = p + 1
OFF_CURVE = (2).to_bytes(32, "little")  # y = 2 has no x on the curve


def torsioned(s: int) -> bytes:
    """s·G plus an order-8 point: on the curve, canonical, but outside the subgroup."""
    return bytes(nb.crypto_core_ed25519_add(base_mul(s).to_bytes(), ORDER8))


def test_noclamp_not_clamp() -> None:
    s = 7
    clamped = nb.crypto_scalarmult_ed25519_base(scalar_to_bytes(s))
    assert clamped != base_mul(s).to_bytes()  # clamping silently changes the scalar
    assert base_mul(s) == mul(s, BASE)
    assert base_mul(3) + base_mul(4) == base_mul(7)


def test_scalars_reduced_before_noclamp() -> None:
    # noclamp clears bit 255; reducing first keeps s and s + L equal.
    big = L + 12345
    assert base_mul(big) == base_mul(12345)
    assert mul(big, BASE) == base_mul(12345)
    top = 2**255 + 5
    assert base_mul(top) == base_mul(top % L)


def test_hash_to_scalar_uses_all_64_bytes() -> None:
    m = b"pitfall"
    digest = hashlib.sha512(b"FROST-ED25519-SHA512-v1nonce" + m).digest()
    assert H3(m) == int.from_bytes(digest, "little") % L
    assert H3(m) != int.from_bytes(digest[:32], "little") % L
    wide = bytes(32) + b"\x01" + bytes(31)
    assert scalar_from_wide(wide) == 2**256 % L


def test_scalar_at_or_above_L_rejected() -> None:
    for bad in (L, L + 1, 2**256 - 1):
        with pytest.raises(InvalidScalar):
            scalar_from_bytes(bad.to_bytes(32, "little"))
    assert scalar_from_bytes((L - 1).to_bytes(32, "little")) == L - 1
    with pytest.raises(InvalidScalar):
        scalar_from_bytes(bytes(31))
    with pytest.raises(InvalidScalar):
        scalar_from_bytes(bytes(32), allow_zero=False)
    with pytest.raises(InvalidSignatureShare) as e:  # z >= L: the sender is named
        frost.SignatureShare.from_bytes(scalar_to_bytes(7) + L.to_bytes(32, "little"))
    assert e.value.culprits == (7,)


@pytest.mark.parametrize(
    "encoding",
    [IDENTITY_ENC, ORDER2, ORDER8, NONCANONICAL_IDENTITY, OFF_CURVE, torsioned(5), bytes(31)],
    ids=["identity", "order2", "order8", "noncanonical", "off-curve", "torsion", "short"],
)
def test_invalid_points_rejected(encoding: bytes) -> None:
    with pytest.raises(InvalidPoint):
        point_from_bytes(encoding)
    # The fused validating multiplication rejects exactly the same encodings.
    with pytest.raises(InvalidPoint):
        mul_received(3, encoding)
    with pytest.raises(InvalidPoint):
        mul_received(0, encoding)


def test_identity_cannot_be_serialized() -> None:
    assert IDENTITY.is_identity
    assert base_mul(0) == IDENTITY
    assert base_mul(5) - base_mul(5) == IDENTITY
    with pytest.raises(InvalidPoint):
        IDENTITY.to_bytes()


def test_add_of_invalid_points_is_never_trusted() -> None:
    # libsodium's add accepts a torsioned point and happily returns another one...
    p = torsioned(9)
    out = nb.crypto_core_ed25519_add(p, base_mul(1).to_bytes())
    assert not nb.crypto_core_ed25519_is_valid_point(out)
    # ...so our Point type cannot be built from unvalidated bytes at all,
    with pytest.raises(TypeError):
        Point(p)
    with pytest.raises(InvalidPoint):
        point_from_bytes(p)
    # and a received commitment carrying such a point is refused, naming its sender.
    good = base_mul(11).to_bytes()
    raw = scalar_to_bytes(4) + p + good
    with pytest.raises(InvalidCommitment) as e:
        frost.SigningCommitments.from_bytes(raw)
    assert e.value.culprits == (4,)


def test_invalid_binding_commitment_names_sender() -> None:
    rng = DeterministicRandom("binding")
    kps, public, _ = trusted_dealer_keygen(2, 3, rng)
    n1, c1 = frost.commit(kps[1], rng)
    _, c2 = frost.commit(kps[2], rng)
    bad = frost.SigningCommitments(2, c2.hiding, torsioned(3))
    package = frost.SigningPackage([c1, bad], b"m")
    with pytest.raises(InvalidCommitment) as e:
        frost.sign(package, n1, kps[1])
    assert e.value.culprits == (2,)
    with pytest.raises(InvalidCommitment) as e2:
        frost.aggregate(package, [frost.SignatureShare(1, 5), frost.SignatureShare(2, 5)], public)
    assert e2.value.culprits == (2,)
    with pytest.raises(InvalidPoint):
        bad.binding_point  # noqa: B018


def test_libsodium_runtime_error_is_mapped() -> None:
    # Raw libsodium: zero scalars, identity results and invalid points are one RuntimeError.
    with pytest.raises(RuntimeError):
        nb.crypto_scalarmult_ed25519_base_noclamp(bytes(32))
    with pytest.raises(RuntimeError):
        nb.crypto_scalarmult_ed25519_noclamp(scalar_to_bytes(3), ORDER8)
    with pytest.raises(RuntimeError):
        nb.crypto_scalarmult_ed25519_noclamp(scalar_to_bytes(3), IDENTITY_ENC)
    # Ours: the mathematically right answer where there is one, a typed error otherwise.
    assert base_mul(0) == IDENTITY
    assert mul(0, BASE) == IDENTITY
    assert mul(5, IDENTITY) == IDENTITY
    with pytest.raises(InvalidPoint):
        mul_received(3, ORDER8)
    assert issubclass(InvalidPoint, CryptoError)
    assert not issubclass(InvalidPoint, RuntimeError)
    with pytest.raises(CryptoError):
        group.add(BASE, group.Point._trusted(OFF_CURVE))


def test_h2_has_no_context_and_verifies_with_cryptography() -> None:
    rng = DeterministicRandom("h2")
    kps, public, _ = trusted_dealer_keygen(2, 3, rng)
    msg = b"plain ed25519"
    sig = sign_with(kps, public, [1, 2], msg, rng)
    r, z = sig[:32], int.from_bytes(sig[32:], "little")
    vk = public.verifying_key.to_bytes()
    # RFC 8032 challenge: SHA-512(R || A || M) with no domain separation.
    c = int.from_bytes(hashlib.sha512(r + vk + msg).digest(), "little") % L
    assert c == H2(r + vk + msg)
    assert base_mul(z) == point_from_bytes(r) + mul(c, public.verifying_key)
    Ed25519PublicKey.from_public_bytes(vk).verify(sig, msg)  # raises if invalid
    nb.crypto_sign_open(sig + msg, vk)


def test_commitment_list_is_sorted() -> None:
    rng = DeterministicRandom("sorted")
    kps, public, _ = trusted_dealer_keygen(3, 5, rng)
    round1 = {i: frost.commit(kps[i], rng) for i in (5, 2, 4)}
    package = frost.SigningPackage([round1[i][1] for i in (5, 2, 4)], b"m")
    assert package.identifiers == (2, 4, 5)
    shares = [frost.sign(package, round1[i][0], kps[i]) for i in (4, 5, 2)]
    frost.verify(public.verifying_key, b"m", frost.aggregate(package, shares, public))
    # A received list out of order is refused rather than silently re-sorted.
    raw = package.to_bytes()
    entries = [raw[2 + k * 96 : 2 + (k + 1) * 96] for k in range(3)]
    swapped = raw[:2] + entries[1] + entries[0] + entries[2] + raw[2 + 3 * 96 :]
    with pytest.raises(InvalidEncoding):
        frost.SigningPackage.from_bytes(swapped)
    duplicated = raw[:2] + entries[0] + entries[0] + entries[2] + raw[2 + 3 * 96 :]
    with pytest.raises(InvalidEncoding):
        frost.SigningPackage.from_bytes(duplicated)


def test_lagrange_over_the_signing_set() -> None:
    coefficients = [1234567, 89, 10]
    shares = {i: poly_eval(coefficients, i) for i in range(1, 6)}
    for subset in ((1, 2, 3), (2, 4, 5), (1, 3, 5)):
        lams = {i: lagrange_at_zero(subset, i) for i in subset}
        assert sum(lams.values()) % L == 1
        assert sum(lams[i] * shares[i] for i in subset) % L == coefficients[0]
    # Coefficients over the wrong set (all participants) give the wrong secret.
    wrong = sum(lagrange_at_zero(range(1, 6), i) * shares[i] for i in (1, 2, 3)) % L
    assert wrong != coefficients[0]
    with pytest.raises(CryptoError):
        lagrange_at_zero((1, 2), 3)

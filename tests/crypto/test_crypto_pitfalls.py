"""One test per pitfall listed in the vectors README (run everywhere, no vector files needed)."""

from __future__ import annotations

import hashlib

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from nacl import bindings as nb

from runtime.crypto import frost
from runtime.crypto.errors import CryptoError, InvalidEncoding
from runtime.crypto.hazmat import ciphersuite as cs
from runtime.crypto.hazmat.ed25519 import (
    BASEPOINT,
    IDENTITY,
    L,
    add,
    base_mult,
    decode_point,
    hash_to_scalar,
    is_valid_point,
    lagrange_coefficient,
    mult,
    scalar_from_bytes,
    scalar_to_bytes,
)
from runtime.crypto.rand import SeededRandom

# small-order points (libsodium's blocklist): identity, order 2, order 4, order 8
ORDER_2 = bytes.fromhex("ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f")
ORDER_8 = bytes.fromhex("c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a")
NON_CANONICAL_Y = bytes.fromhex(
    "edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f"
)  # y = p


def _off_curve_point() -> bytes:
    for k in range(2, 1000):
        cand = k.to_bytes(32, "little")
        try:
            nb.crypto_core_ed25519_add(cand, cand)
        except RuntimeError:
            return cand
    raise AssertionError("no off-curve encoding found")


def _torsioned_point() -> bytes:
    """A point on the curve but outside the prime-order subgroup: P + T8."""
    return bytes(nb.crypto_core_ed25519_add(base_mult(12345), ORDER_8))


def test_noclamp_multiplication_keeps_the_scalar() -> None:
    s = (2**254 + 12345) % L  # a scalar whose clamping would change it
    s_bytes = scalar_to_bytes(s)
    clamped = nb.crypto_scalarmult_ed25519_base(s_bytes)
    assert base_mult(s) != clamped
    # base_mult(s) + base_mult(1) == base_mult(s + 1): linear, i.e. not clamped
    assert add(base_mult(s), BASEPOINT) == base_mult(s + 1)
    # reduce mod L first: noclamp clears bit 255, so an unreduced scalar would be wrong
    big = L * 7 + 5
    assert base_mult(big) == base_mult(5)
    assert mult(big, BASEPOINT) == base_mult(5)


def test_hash_to_scalar_uses_all_64_bytes_little_endian() -> None:
    digest = hashlib.sha512(b"abc").digest()
    assert hash_to_scalar(b"abc") == int.from_bytes(digest, "little") % L
    assert hash_to_scalar(b"abc") != int.from_bytes(digest[:32], "little") % L
    assert hash_to_scalar(b"abc") != int.from_bytes(digest, "big") % L


def test_identifiers_are_32_byte_little_endian_scalars() -> None:
    assert scalar_to_bytes(1) == b"\x01" + bytes(31)
    assert scalar_to_bytes(256) == b"\x00\x01" + bytes(30)
    assert len(scalar_to_bytes(257)) == 32
    comm = frost.SigningCommitments(300, BASEPOINT, BASEPOINT)
    assert comm.to_bytes()[:32] == (300).to_bytes(32, "little")


def test_scalars_at_or_above_L_are_rejected() -> None:
    for v in (L, L + 1, 2**256 - 1):
        with pytest.raises(InvalidEncoding):
            scalar_from_bytes(v.to_bytes(32, "little"))
    assert scalar_from_bytes((L - 1).to_bytes(32, "little")) == L - 1
    with pytest.raises(InvalidEncoding):
        scalar_from_bytes(bytes(31))
    with pytest.raises(InvalidEncoding):
        frost.SignatureShare.from_bytes(scalar_to_bytes(1) + L.to_bytes(32, "little"))


@pytest.mark.parametrize(
    "point",
    [IDENTITY, ORDER_2, ORDER_8, NON_CANONICAL_Y, b"\x00" * 32, b"\x01" * 31],
    ids=["identity", "order2", "order8", "non-canonical", "zero-bytes", "short"],
)
def test_invalid_points_are_rejected(point: bytes) -> None:
    assert not is_valid_point(point)
    with pytest.raises(InvalidEncoding):
        decode_point(point, 7)
    with pytest.raises(InvalidEncoding) as info:
        mult(3, point, 7)
    assert info.value.culprits == (7,)


def test_off_curve_and_torsion_points_rejected() -> None:
    for point in (_off_curve_point(), _torsioned_point()):
        assert not is_valid_point(point)
        with pytest.raises(InvalidEncoding):
            decode_point(point)


def test_libsodium_add_validates_nothing_so_we_validate_received_points() -> None:
    torsioned = _torsioned_point()
    # crypto_core_ed25519_add happily adds a point outside the prime-order subgroup
    assert len(nb.crypto_core_ed25519_add(torsioned, BASEPOINT)) == 32
    # ... but a commitment carrying it is rejected, naming the sender
    package = frost.SigningPackage(
        (
            frost.SigningCommitments(1, base_mult(3), base_mult(4)),
            frost.SigningCommitments(2, torsioned, base_mult(5)),
        ),
        b"msg",
    )
    with pytest.raises(InvalidEncoding) as info:
        frost.prepare(package, base_mult(9))
    assert info.value.culprits == (2,)
    package = frost.SigningPackage(
        (
            frost.SigningCommitments(1, base_mult(3), IDENTITY),
            frost.SigningCommitments(2, base_mult(6), base_mult(5)),
        ),
        b"msg",
    )
    with pytest.raises(InvalidEncoding) as info:
        frost.prepare(package, base_mult(9))
    assert info.value.culprits == (1,)


def test_h2_has_no_context_and_signature_is_plain_ed25519() -> None:
    m = b"R||PK||msg"
    assert cs.h2(m) == int.from_bytes(hashlib.sha512(m).digest(), "little") % L
    assert cs.h1(m) != cs.h2(m)
    dealt = frost.trusted_dealer_keygen(2, 3, SeededRandom(1))
    kps = dealt.key_packages[:2]
    r1 = [frost.commit(kp, SeededRandom(2 + k)) for k, kp in enumerate(kps)]
    package = frost.SigningPackage(tuple(c for _, c in r1), b"hello")
    shares = [
        frost.sign(frost.prepare(package, kp.group_public_key, own=n), n, kp)
        for kp, (n, _) in zip(kps, r1, strict=True)
    ]
    sig = frost.aggregate(
        frost.prepare(package, dealt.public_key_package.group_public_key),
        shares,
        dealt.public_key_package,
    )
    Ed25519PublicKey.from_public_bytes(dealt.public_key_package.group_public_key).verify(
        sig, b"hello"
    )


def test_commitment_list_sorted_by_identifier() -> None:
    c = [frost.SigningCommitments(i, base_mult(i + 10), base_mult(i + 20)) for i in (5, 1, 3)]
    a = frost.SigningPackage(tuple(c), b"m")
    b = frost.SigningPackage(tuple(reversed(c)), b"m")
    assert a.identifiers == (1, 3, 5)
    pk = base_mult(99)
    sa, sb = frost.prepare(a, pk), frost.prepare(b, pk)
    assert sa.binding_factors == sb.binding_factors
    assert sa.group_commitment == sb.group_commitment
    encoded = cs.encode_group_commitment_list([(x.identifier, x.hiding, x.binding) for x in a.commitments])
    assert encoded[:32] == scalar_to_bytes(1)
    with pytest.raises(CryptoError):
        frost.SigningPackage((c[0], c[0]), b"m")


def test_lagrange_coefficients_are_over_the_signing_set() -> None:
    dealt = frost.trusted_dealer_keygen(3, 5, SeededRandom(3), secret=424242)
    shares = {kp.identifier: kp.signing_share for kp in dealt.key_packages}
    for subset in ((1, 2, 3), (2, 4, 5), (1, 3, 5), (1, 2, 3, 4, 5)):
        assert sum(lagrange_coefficient(i, subset) * shares[i] for i in subset) % L == 424242
        assert sum(lagrange_coefficient(i, subset) for i in subset) % L == 1
    # coefficients over the full set are not the ones for a subset
    assert lagrange_coefficient(1, (1, 2, 3)) != lagrange_coefficient(1, (1, 2, 3, 4, 5))


def test_libsodium_runtime_error_never_leaks() -> None:
    # zero scalar, identity result and invalid point are one RuntimeError inside libsodium
    with pytest.raises(RuntimeError):
        nb.crypto_scalarmult_ed25519_base_noclamp(bytes(32))
    with pytest.raises(RuntimeError):
        nb.crypto_scalarmult_ed25519_noclamp(scalar_to_bytes(1), ORDER_8)
    assert base_mult(0) == IDENTITY
    assert base_mult(L) == IDENTITY
    assert mult(0, BASEPOINT) == IDENTITY
    for bad in (ORDER_8, IDENTITY, NON_CANONICAL_Y):
        for scalar in (0, 5):
            with pytest.raises(InvalidEncoding):  # not RuntimeError
                mult(scalar, bad)
    with pytest.raises(InvalidEncoding):
        add(_off_curve_point(), BASEPOINT)

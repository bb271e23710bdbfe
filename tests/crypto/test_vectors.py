"""Known-answer tests: RFC 9591 Appendix E.1 and the ZcashFoundation/frost Ed25519 vectors.

The vectors are read in place from ``<project>/../shared/vectors/frost`` (override with
``MINUET_FROST_VECTORS``) and skipped, naming the path, when absent (CI sets
``MINUET_REQUIRE_VECTORS=1``: there a missing file fails).
"""

from __future__ import annotations

from typing import Any

import pytest

from runtime.crypto import dkg, frost
from runtime.crypto.errors import InvalidCommitment, InvalidPoint, InvalidProof, InvalidShare
from runtime.crypto.hazmat.group import (
    BASE,
    base_mul,
    point_from_bytes,
    scalar_from_bytes,
    scalar_to_bytes,
)
from runtime.crypto.hazmat.poly import poly_eval
from runtime.crypto.hazmat.suite import H1, identifier_from_bytes, identifier_to_bytes
from runtime.crypto.keys import KeyPackage, PublicKeyPackage
from runtime.crypto.repair import repair_step_2, repair_step_3
from tests.crypto.support import ScriptedRandom, load_vector, sc, vector_path

RFC = "cfrg_rfc9591_frost-ed25519-sha512.json"


def run_signing_vector(data: dict[str, Any]) -> None:
    """Check every intermediate value of an RFC-format signing vector."""
    inp = data["inputs"]
    secret = sc(inp["group_secret_key"])
    pk_hex = inp.get("group_public_key") or inp["verifying_key_key"]
    coefficients = [secret] + [sc(c) for c in inp["share_polynomial_coefficients"]]
    min_signers = int(data["config"]["MIN_PARTICIPANTS"])
    assert len(coefficients) == min_signers
    vk = base_mul(secret)
    assert vk.to_bytes().hex() == pk_hex

    # Dealer: shares are f(i) of the given polynomial.
    shares: dict[int, int] = {}
    for p in inp["participant_shares"]:
        i = p["identifier"]
        shares[i] = poly_eval(coefficients, i)
        assert scalar_to_bytes(shares[i]).hex() == p["participant_share"]
    signers = inp["participant_list"]
    kps = {i: KeyPackage(i, shares[i], base_mul(shares[i]), vk, min_signers) for i in signers}
    public = PublicKeyPackage({i: kps[i].verifying_share for i in signers}, vk, min_signers)
    message = bytes.fromhex(inp["message"])

    # Round one: nonces from the given randomness, then the commitments.
    r1 = {o["identifier"]: o for o in data["round_one_outputs"]["outputs"]}
    nonces: dict[int, frost.SigningNonces] = {}
    wire: dict[int, bytes] = {}
    for i in signers:
        o = r1[i]
        hr = bytes.fromhex(o["hiding_nonce_randomness"])
        br = bytes.fromhex(o["binding_nonce_randomness"])
        rng = ScriptedRandom([])
        hiding = frost.nonce_generate(shares[i], rng, randomness=hr)
        binding = frost.nonce_generate(shares[i], rng, randomness=br)
        assert scalar_to_bytes(hiding).hex() == o["hiding_nonce"]
        assert scalar_to_bytes(binding).hex() == o["binding_nonce"]
        n, c = frost.commit(kps[i], ScriptedRandom([hr, br]))
        assert c.hiding.to_bytes().hex() == o["hiding_nonce_commitment"]
        assert c.binding.hex() == o["binding_nonce_commitment"]
        nonces[i] = n
        wire[i] = c.to_bytes()

    # The coordinator parses (validates) the received commitments and builds the package.
    package = frost.SigningPackage(
        [frost.SigningCommitments.from_bytes(wire[i]) for i in signers], message
    )
    package_bytes = package.to_bytes()

    # Round two: each signer parses the package itself and computes everything on its own.
    r2 = {o["identifier"]: o for o in data["round_two_outputs"]["outputs"]}
    sig_shares = []
    for i in signers:
        mine = frost.SigningPackage.from_bytes(package_bytes, own=nonces[i].commitments)
        rho = frost.binding_factors(vk, mine)
        for j in signers:
            rho_input = frost.binding_factor_input(vk, mine, j)
            assert rho_input.hex() == r1[j]["binding_factor_input"]
            assert H1(rho_input) == rho[j]
            assert scalar_to_bytes(rho[j]).hex() == r1[j]["binding_factor"]
        share = frost.sign(mine, nonces[i], kps[i])
        assert scalar_to_bytes(share.share).hex() == r2[i]["sig_share"]
        sig_shares.append(frost.SignatureShare.from_bytes(share.to_bytes()))

    coordinator = frost.SigningPackage.from_bytes(package_bytes)
    for share in sig_shares:
        frost.verify_signature_share(share, coordinator, public)
    signature = frost.aggregate(coordinator, sig_shares, public)
    assert signature.hex() == data["final_output"]["sig"]
    # The group commitment is the signature's R; every party computes the same one.
    assert frost.group_commitment(vk, coordinator).to_bytes() == signature[:32]
    frost.verify(vk, message, signature)


def test_rfc9591_e1_every_intermediate_value() -> None:
    run_signing_vector(load_vector(RFC))


def test_rfc9591_json_matches_draft_text() -> None:
    data = load_vector(RFC)
    text = vector_path("draft-irtf-cfrg-frost-15_appendixF1_ed25519.txt").read_text()
    # Hex values wrap over several lines in the text: compare with whitespace removed.
    compact = "".join(text.split())
    inp = data["inputs"]
    assert "sig:" + data["final_output"]["sig"] in compact
    assert data["final_output"]["sig"].startswith("36282629")
    assert "group_public_key:" + inp["group_public_key"] in compact
    assert "group_secret_key:" + inp["group_secret_key"] in compact
    for p in inp["participant_shares"]:
        assert f"P{p['identifier']}participant_share:{p['participant_share']}" in compact
    for o in data["round_one_outputs"]["outputs"]:
        for key in ("hiding_nonce", "binding_nonce", "binding_factor_input", "binding_factor"):
            assert f"P{o['identifier']}{key}:{o[key]}" in compact
    for o in data["round_two_outputs"]["outputs"]:
        assert f"P{o['identifier']}sig_share:{o['sig_share']}" in compact


def test_zf_signing_vector_different_randomness() -> None:
    data = load_vector("zf_frost-ed25519_vectors.json")
    assert data["final_output"]["sig"] != load_vector(RFC)["final_output"]["sig"]
    run_signing_vector(data)


def test_zf_big_identifier_vector() -> None:
    data = load_vector("zf_frost-ed25519_vectors-big-identifier.json")
    assert data["inputs"]["participant_list"] == [129, 256, 257]
    run_signing_vector(data)


def test_identifiers_are_32_byte_little_endian_scalars() -> None:
    data = load_vector("zf_frost-ed25519_vectors-big-identifier.json")
    for o in data["round_one_outputs"]["outputs"]:
        # The binding factor input ends with SerializeScalar(identifier).
        tail = bytes.fromhex(o["binding_factor_input"])[-32:]
        assert tail == identifier_to_bytes(o["identifier"])
        assert identifier_from_bytes(tail) == o["identifier"]
    assert identifier_to_bytes(256) == b"\x00\x01" + bytes(30)  # not a u16 / big-endian form


# --- DKG -------------------------------------------------------------------------------------


def _dkg_inputs() -> tuple[dict[str, Any], int, int]:
    data = load_vector("zf_frost-ed25519_vectors_dkg.json")
    cfg = data["config"]
    return data["inputs"], int(cfg["MIN_PARTICIPANTS"]), int(cfg["MAX_PARTICIPANTS"])


def _round1_package(p: dict[str, Any], ident: int) -> dkg.Round1Package:
    commitment = b"".join(bytes.fromhex(c) for c in p["vss_commitments"])
    raw = len(p["vss_commitments"]).to_bytes(2, "big") + commitment
    return dkg.Round1Package.from_bytes(raw + bytes.fromhex(p["proof_of_knowledge"]), ident)


def test_zf_dkg_vector_proofs_commitments_and_outputs() -> None:
    inputs, t, n = _dkg_inputs()
    ids = list(range(1, n + 1))
    parts = {i: inputs[str(i)] for i in ids}
    packages = {i: _round1_package(parts[i], i) for i in ids}
    coefficients = {i: [sc(parts[i]["signing_key"]), sc(parts[i]["coefficient"])] for i in ids}
    for i in ids:
        dkg.verify_proof_of_knowledge(i, packages[i], t)
        # The commitments are a_ik·G of the given coefficients.
        assert [c.to_bytes().hex() for c in packages[i].commitment] == parts[i]["vss_commitments"]
        assert packages[i].commitment == tuple(base_mul(a) for a in coefficients[i])
        # signing_shares[j] in participant i is what i received from j: f_j(i).
        for j in ids:
            if j != i:
                assert (
                    scalar_to_bytes(poly_eval(coefficients[j], i)).hex()
                    == (parts[i]["signing_shares"][str(j)])
                )
    # Run the DKG with the vector's coefficients (our own PoK nonces) and the vector's
    # round-one packages of the others: every output must match.
    for i in ids:
        secret1, _ = dkg.part1_from_coefficients(i, coefficients[i], n)
        received1 = {j: packages[j] for j in ids if j != i}
        secret2, outgoing = dkg.part2(secret1, received1)
        for j, pkg in outgoing.items():
            assert scalar_to_bytes(pkg.signing_share).hex() == parts[j]["signing_shares"][str(i)]
        received2 = {
            j: dkg.Round2Package.from_bytes(bytes.fromhex(parts[i]["signing_shares"][str(j)]), j)
            for j in ids
            if j != i
        }
        kp, pkp = dkg.part3(secret2, received1, received2)
        assert scalar_to_bytes(kp.signing_share).hex() == parts[i]["signing_share"]
        assert kp.verifying_share.to_bytes().hex() == parts[i]["verifying_share"]
        assert kp.verifying_key.to_bytes().hex() == inputs["verifying_key"]
        for j in ids:
            assert pkp.verifying_shares[j].to_bytes().hex() == parts[j]["verifying_share"]


def test_zf_dkg_vector_tampered_proof_and_share_identify_sender() -> None:
    inputs, t, n = _dkg_inputs()
    p2 = dict(inputs["2"])
    pok = bytearray(bytes.fromhex(p2["proof_of_knowledge"]))
    pok[40] ^= 1  # inside μ
    p2["proof_of_knowledge"] = pok.hex()
    with pytest.raises(InvalidProof) as e:
        dkg.verify_proof_of_knowledge(2, _round1_package(p2, 2), t)
    assert e.value.culprits == (2,)
    # A proof bound to another identifier does not verify either.
    with pytest.raises(InvalidProof):
        dkg.verify_proof_of_knowledge(3, _round1_package(inputs["2"], 2), t)

    ids = list(range(1, n + 1))
    packages = {i: _round1_package(inputs[str(i)], i) for i in ids}
    coeffs = [sc(inputs["1"]["signing_key"]), sc(inputs["1"]["coefficient"])]
    secret1, _ = dkg.part1_from_coefficients(1, coeffs, n)
    secret2, _ = dkg.part2(secret1, {j: packages[j] for j in (2, 3)})
    good = {j: dkg.Round2Package(sc(inputs["1"]["signing_shares"][str(j)])) for j in (2, 3)}
    bad = dict(good)
    bad[3] = dkg.Round2Package((good[3].signing_share + 1) % (2**252))
    with pytest.raises(InvalidShare) as e2:
        dkg.part3(secret2, {j: packages[j] for j in (2, 3)}, bad)
    assert e2.value.culprits == (3,)


def test_zf_dkg_vector_invalid_commitment_point_names_sender() -> None:
    inputs, _, _ = _dkg_inputs()
    p = dict(inputs["3"])
    invalid = load_vector("zf_frost-ed25519_elements.json")["elements"]["invalid_element"]
    p["vss_commitments"] = [invalid, p["vss_commitments"][1]]
    with pytest.raises(InvalidCommitment) as e:
        _round1_package(p, 3)
    assert e.value.culprits == (3,)


# --- repair, elements, samples -----------------------------------------------------------------


def test_zf_repair_share_scalar_sums() -> None:
    data = load_vector("zf_frost-ed25519_repair-share.json")
    gen = data["scalar_generation"]
    deltas = [sc(gen[f"random_scalar_{k}"]) for k in (1, 2, 3)]
    assert scalar_to_bytes(repair_step_2(deltas)).hex() == gen["random_scalar_sum"]
    sig = data["sigma_generation"]
    sigmas = [sc(sig[f"sigma_{k}"]) for k in (1, 2, 3, 4)]
    assert scalar_to_bytes(repair_step_3(sigmas)).hex() == sig["sigma_sum"]


def test_zf_invalid_element_rejected() -> None:
    data = load_vector("zf_frost-ed25519_elements.json")
    with pytest.raises(InvalidPoint):
        point_from_bytes(bytes.fromhex(data["elements"]["invalid_element"]))


def test_zf_serialization_samples() -> None:
    data = load_vector("zf_frost-ed25519_samples.json")
    assert identifier_to_bytes(42).hex() == data["identifier"]
    assert identifier_from_bytes(bytes.fromhex(data["identifier"])) == 42
    assert BASE.to_bytes().hex() == data["element1"]
    assert base_mul(1).to_bytes().hex() == data["element1"]
    assert point_from_bytes(bytes.fromhex(data["element1"])) == BASE
    e2 = point_from_bytes(bytes.fromhex(data["element2"]))
    assert e2.to_bytes().hex() == data["element2"]
    s = scalar_from_bytes(bytes.fromhex(data["scalar1"]))
    assert scalar_to_bytes(s).hex() == data["scalar1"]
    assert data["proof_of_knowledge"] == data["element1"] + data["scalar1"]

"""Known-answer tests: RFC 9591 E.1 and the ZcashFoundation/frost Ed25519 vectors.

The vectors are read in place from ``../shared/vectors/frost`` (relative to the project root;
override with ``MINUET_FROST_VECTORS``); they are never copied into the repository. Tests skip
with a clear reason when the directory is absent.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from runtime.crypto import dkg, frost
from runtime.crypto.errors import InvalidEncoding
from runtime.crypto.hazmat import ciphersuite as cs
from runtime.crypto.hazmat.ed25519 import (
    BASEPOINT,
    L,
    base_mult,
    decode_point,
    poly_eval,
    scalar_from_bytes,
    scalar_to_bytes,
)


def _vectors_dir() -> Path:
    env = os.environ.get("MINUET_FROST_VECTORS")
    if env:
        return Path(env)
    return Path(__file__).resolve().parents[2].parent / "shared" / "vectors" / "frost"


VECTORS = _vectors_dir()


def load(name: str) -> Any:
    path = VECTORS / name
    if not path.is_file():
        pytest.skip(f"FROST vector file {path} not present (set MINUET_FROST_VECTORS)")
    return json.loads(path.read_text())


def sc(hexstr: str) -> int:
    return scalar_from_bytes(bytes.fromhex(hexstr))


class ScriptedRandom:
    """Returns the given byte strings in order (for vectors with fixed nonce randomness)."""

    def __init__(self, chunks: list[bytes]) -> None:
        self.chunks = list(chunks)

    def random_bytes(self, n: int) -> bytes:
        chunk = self.chunks.pop(0)
        assert len(chunk) == n
        return chunk


def run_signing_vector(data: dict[str, Any]) -> None:
    """Check every intermediate value of an RFC-format signing vector."""
    inp = data["inputs"]
    secret = sc(inp["group_secret_key"])
    group_pk_hex = inp.get("group_public_key") or inp["verifying_key_key"]
    coefficients = [sc(c) for c in inp["share_polynomial_coefficients"]]
    max_signers = int(data["config"]["MAX_PARTICIPANTS"])
    min_signers = int(data["config"]["MIN_PARTICIPANTS"])
    ids = list(range(1, max_signers + 1))
    shares, vss = frost.split_secret(secret, coefficients, ids)
    # dealer output
    assert base_mult(secret).hex() == group_pk_hex
    assert vss[0].hex() == group_pk_hex
    assert len(vss) == min_signers
    for p in inp["participant_shares"]:
        assert scalar_to_bytes(shares[p["identifier"]]).hex() == p["participant_share"]
    signers = inp["participant_list"]
    kps = {i: frost.key_package_from_dealer(i, shares[i], vss) for i in signers}
    for i in signers:
        assert kps[i].min_signers == min_signers
        assert kps[i].group_public_key.hex() == group_pk_hex
    pkp = frost.PublicKeyPackage(
        vss[0], tuple((i, base_mult(shares[i])) for i in ids), min_signers
    )
    message = bytes.fromhex(inp["message"])

    # round one: nonces from the given randomness, commitments
    nonces: dict[int, frost.SigningNonces] = {}
    commitments: list[frost.SigningCommitments] = []
    r1 = {o["identifier"]: o for o in data["round_one_outputs"]["outputs"]}
    for i in signers:
        o = r1[i]
        hr = bytes.fromhex(o["hiding_nonce_randomness"])
        br = bytes.fromhex(o["binding_nonce_randomness"])
        assert scalar_to_bytes(cs.nonce_generate(hr, shares[i])).hex() == o["hiding_nonce"]
        assert scalar_to_bytes(cs.nonce_generate(br, shares[i])).hex() == o["binding_nonce"]
        n, c = frost.commit(kps[i], ScriptedRandom([hr, br]))
        assert c.hiding.hex() == o["hiding_nonce_commitment"]
        assert c.binding.hex() == o["binding_nonce_commitment"]
        nonces[i] = n
        commitments.append(c)
    package = frost.SigningPackage(tuple(commitments), message)

    # round two: binding factors, shares
    r2 = {o["identifier"]: o for o in data["round_two_outputs"]["outputs"]}
    sig_shares = []
    group_commitments = set()
    for i in signers:
        session = frost.prepare(package, vss[0], own=nonces[i])
        group_commitments.add(session.group_commitment)
        for j in signers:
            k = session.index(j)
            bf_input = session.binding_factor_prefix() + scalar_to_bytes(j)
            assert bf_input.hex() == r1[j]["binding_factor_input"]
            assert cs.h1(bf_input) == session.binding_factors[k]
            assert scalar_to_bytes(session.binding_factors[k]).hex() == r1[j]["binding_factor"]
        share = frost.sign(session, nonces[i], kps[i])
        assert scalar_to_bytes(share.share).hex() == r2[i]["sig_share"]
        sig_shares.append(share)
    assert len(group_commitments) == 1  # every signer computed the same R on its own

    coordinator = frost.prepare(package, vss[0])
    for share in sig_shares:
        assert frost.verify_signature_share(
            coordinator, share, pkp.verifying_share(share.identifier)
        )
    signature = frost.aggregate(coordinator, sig_shares, pkp)
    assert signature.hex() == data["final_output"]["sig"]
    frost.verify_signature(vss[0], message, signature)


def test_rfc9591_e1_every_intermediate_value() -> None:
    run_signing_vector(load("cfrg_rfc9591_frost-ed25519-sha512.json"))


def test_rfc9591_signature_printed_in_draft_text() -> None:
    data = load("cfrg_rfc9591_frost-ed25519-sha512.json")
    path = VECTORS / "draft-irtf-cfrg-frost-15_appendixF1_ed25519.txt"
    if not path.is_file():
        pytest.skip(f"{path} not present")
    text = path.read_text()
    # hex values are wrapped over several lines in the text: compare with whitespace removed
    compact = "".join(text.split())
    assert "sig:" + data["final_output"]["sig"] in compact
    assert "group_public_key:" + data["inputs"]["group_public_key"] in compact
    for o in data["round_two_outputs"]["outputs"]:
        assert f"P{o['identifier']}sig_share:{o['sig_share']}" in compact


def test_zf_signing_vector_different_nonce_randomness() -> None:
    data = load("zf_frost-ed25519_vectors.json")
    rfc = load("cfrg_rfc9591_frost-ed25519-sha512.json")
    assert data["final_output"]["sig"] != rfc["final_output"]["sig"]
    run_signing_vector(data)


def test_zf_big_identifiers() -> None:
    data = load("zf_frost-ed25519_vectors-big-identifier.json")
    assert data["inputs"]["participant_list"] == [129, 256, 257]
    run_signing_vector(data)
    # identifiers are 32-byte little-endian scalars, not u16
    assert scalar_to_bytes(257) == b"\x01\x01" + bytes(30)


def test_zf_dkg_vector() -> None:
    data = load("zf_frost-ed25519_vectors_dkg.json")
    inputs = data["inputs"]
    min_signers = int(data["config"]["MIN_PARTICIPANTS"])
    ids = [1, 2, 3]
    packages: dict[int, dkg.Round1Package] = {}
    polys: dict[int, list[int]] = {}
    for i in ids:
        p = inputs[str(i)]
        assert p["identifier"] == i
        polys[i] = [sc(p["signing_key"]), sc(p["coefficient"])]
        pkg = dkg.Round1Package(
            tuple(bytes.fromhex(c) for c in p["vss_commitments"]),
            bytes.fromhex(p["proof_of_knowledge"]),
        )
        assert [base_mult(a).hex() for a in polys[i]] == p["vss_commitments"]
        # proof of knowledge: R || mu with challenge HDKG(SerializeScalar(i) || C_i0 || R)
        assert dkg.verify_proof_of_knowledge(i, pkg, min_signers) == pkg.commitment
        r = pkg.proof_of_knowledge[:32]
        mu = scalar_from_bytes(pkg.proof_of_knowledge[32:])
        c = cs.hdkg(scalar_to_bytes(i) + pkg.commitment[0] + r)
        assert dkg.pok_challenge(i, pkg.commitment[0], r) == c
        # the proof's nonce k = mu - c·a_0 reproduces R
        assert base_mult((mu - c * polys[i][0]) % L) == r
        packages[i] = pkg
    # round two shares f_j(i), then finish with the library's verification
    for i in ids:
        p = inputs[str(i)]
        for j_str, share_hex in p["signing_shares"].items():
            assert scalar_to_bytes(poly_eval(polys[int(j_str)], i)).hex() == share_hex
        own = poly_eval(polys[i], i)
        secret2 = dkg.Round2Secret(
            i,
            own,
            tuple(sorted((j, packages[j].commitment) for j in ids)),
            min_signers,
            len(ids),
        )
        received1 = {j: packages[j] for j in ids if j != i}
        received2 = {
            int(j): dkg.Round2Package(sc(v)) for j, v in p["signing_shares"].items()
        }
        kp, pkp = dkg.finish(secret2, received1, received2)
        assert scalar_to_bytes(kp.signing_share).hex() == p["signing_share"]
        assert kp.verifying_share.hex() == p["verifying_share"]
        assert kp.group_public_key.hex() == inputs["verifying_key"]
        assert pkp.group_public_key.hex() == inputs["verifying_key"]
        for j in ids:
            assert pkp.verifying_share(j).hex() == inputs[str(j)]["verifying_share"]
    # `secret` fields are ignored on purpose (the README: they match nothing derivable)


def test_zf_repair_share_scalar_sums() -> None:
    data = load("zf_frost-ed25519_repair-share.json")
    gen = data["scalar_generation"]
    total = sum(sc(gen[f"random_scalar_{k}"]) for k in (1, 2, 3)) % L
    assert scalar_to_bytes(total).hex() == gen["random_scalar_sum"]
    sig = data["sigma_generation"]
    total = sum(sc(sig[f"sigma_{k}"]) for k in (1, 2, 3, 4)) % L
    assert scalar_to_bytes(total).hex() == sig["sigma_sum"]


def test_zf_invalid_element_rejected() -> None:
    data = load("zf_frost-ed25519_elements.json")
    bad = bytes.fromhex(data["elements"]["invalid_element"])
    with pytest.raises(InvalidEncoding):
        decode_point(bad)
    with pytest.raises(InvalidEncoding) as info:
        frost.prepare(
            frost.SigningPackage(
                (
                    frost.SigningCommitments(1, bad, BASEPOINT),
                    frost.SigningCommitments(2, BASEPOINT, BASEPOINT),
                ),
                b"m",
            ),
            BASEPOINT,
        )
    assert info.value.culprits == (1,)


def test_zf_samples_serialization() -> None:
    data = load("zf_frost-ed25519_samples.json")
    assert scalar_to_bytes(42).hex() == data["identifier"]
    assert scalar_from_bytes(bytes.fromhex(data["identifier"])) == 42
    e1 = bytes.fromhex(data["element1"])
    assert e1 == BASEPOINT
    assert decode_point(e1) == e1
    e2 = bytes.fromhex(data["element2"])
    assert decode_point(e2) == e2
    s1 = sc(data["scalar1"])
    assert scalar_to_bytes(s1).hex() == data["scalar1"]
    pok = bytes.fromhex(data["proof_of_knowledge"])
    assert pok == e1 + scalar_to_bytes(s1)
    share = frost.SignatureShare(42, s1)
    assert frost.SignatureShare.from_bytes(share.to_bytes()) == share
    comm = frost.SigningCommitments(42, e1, e2)
    assert frost.SigningCommitments.from_bytes(comm.to_bytes()) == comm

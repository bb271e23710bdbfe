"""Secrets cannot be duplicated or written out, nonces are dropped after use, key packages
refuse impossible identifiers, sealing to a small-order key is a SealError, and the FROST
coordinator takes its signing set in any order."""

from __future__ import annotations

import copy
import pickle
from typing import Any

import pytest
import trio

from examples import frost_signing, guardian_recovery, lottery_election
from generated.threshold import frost_sign as fs
from generated.threshold import lottery as g_lt
from generated.threshold import recover as g_rec
from runtime.contract import Endpoint
from runtime.crypto import dkg, frost
from runtime.crypto.errors import (
    IdentifiedFault,
    InvalidParameters,
    InvalidShare,
    NonceReuse,
    SealError,
)
from runtime.crypto.hazmat.group import L
from runtime.crypto.keys import KeyPackage, trusted_dealer_keygen
from runtime.crypto.rand import DeterministicRandom
from runtime.crypto.seal import SealKeyPair, seal
from runtime.identity import Identity
from runtime.memory import memory_session

RNG = DeterministicRandom("hardening")
KEYS, PUBLIC, _ = trusted_dealer_keygen(2, 3, RNG)


def _secrets() -> list[Any]:
    nonces, _ = frost.commit(KEYS[1], RNG)
    r1_secret, _pkg = dkg.part1(1, 2, 3, RNG)
    return [nonces, KEYS[1], r1_secret, SealKeyPair.generate(RNG), Identity.generate()]


@pytest.mark.parametrize("index", range(5))
def test_secrets_refuse_copy_deepcopy_and_pickle(index: int) -> None:
    secret = _secrets()[index]
    with pytest.raises(TypeError, match="cannot be copied"):
        copy.copy(secret)
    with pytest.raises(TypeError, match="cannot be copied"):
        copy.deepcopy(secret)
    with pytest.raises(TypeError, match="cannot be copied"):
        copy.deepcopy({"nested": [secret]})
    for protocol in range(pickle.HIGHEST_PROTOCOL + 1):
        with pytest.raises(TypeError, match="cannot be pickled"):
            pickle.dumps(secret, protocol=protocol)


def test_nonces_are_dropped_after_use() -> None:
    n1, c1 = frost.commit(KEYS[1], RNG)
    _, c2 = frost.commit(KEYS[2], RNG)
    package = frost.SigningPackage([c1, c2], b"m")
    frost.sign(package, n1, KEYS[1])
    assert n1.used and (n1._hiding, n1._binding) == (0, 0)
    with pytest.raises(NonceReuse):
        frost.sign(package, n1, KEYS[1])


@pytest.mark.parametrize("identifier", [0, -1, L, L + 5])
def test_key_package_refuses_impossible_identifiers(identifier: int) -> None:
    k = KEYS[1]
    with pytest.raises(InvalidParameters, match="identifier"):
        KeyPackage(identifier, k.signing_share, k.verifying_share, k.verifying_key, 2)


def test_key_package_refuses_threshold_below_two() -> None:
    k = KEYS[1]
    with pytest.raises(InvalidParameters, match="threshold"):
        KeyPackage(1, k.signing_share, k.verifying_share, k.verifying_key, 1)


@pytest.mark.parametrize("key", [bytes(32), b"\x01" + bytes(31), (2**255 - 20).to_bytes(32, "little"), bytes(31)])
def test_seal_to_a_small_order_or_malformed_key_is_a_seal_error(key: bytes) -> None:
    with pytest.raises(SealError, match="cannot seal"):
        seal(SealKeyPair.generate(RNG), key, b"secret share")


async def test_coordinator_sorts_an_unsorted_signing_set() -> None:
    keys, public, _ = trusted_dealer_keygen(3, 5, RNG)
    with trio.fail_after(20):
        results = await frost_signing.sign_with_keys(keys, public, b"msg", RNG, signers=[4, 1, 3])
    signature = results["Coordinator"]
    assert isinstance(signature, bytes)
    frost.verify(public.verifying_key, b"msg", signature)


async def _bad_commitment_signer(ep: Endpoint) -> list[int]:
    _, s1 = await fs.start_signer(ep).recv_sign_request()
    s2 = await s1.send_commitment(fs.Commitment(hiding=fs.Bytes32(bytes(32)), binding=fs.Bytes32(bytes(32))))
    _, s3 = await s2.recv_signing_package()
    s4 = await s3.send_signature_share(fs.SignatureShare(share=fs.Bytes32(bytes(32))))
    match await s4.offer():
        case fs.Signer_S4_Abort(msg=abort):
            return abort.culprits
        case _:
            raise AssertionError("the coordinator did not abort")


async def test_malformed_commitment_names_its_sender_everywhere() -> None:
    keys, public, _ = trusted_dealer_keygen(2, 3, RNG)
    ids = [1, 2, 3]
    with trio.fail_after(20):
        async with memory_session(
            fs.PROTOCOL, families={"Signer": 3}, capabilities={"Coordinator": {"frost_coordinate"}},
        ) as net:
            res = await net.run({
                "Coordinator": lambda ep: frost_signing.coordinator(ep, public, b"m", 0, ids),
                "Signer[0]": lambda ep: frost_signing.signer(ep, keys[1], RNG),
                "Signer[1]": _bad_commitment_signer,
                "Signer[2]": lambda ep: frost_signing.signer(ep, keys[3], RNG),
            })
    assert {name: r.unwrap() for name, r in res.items()} == {
        "Coordinator": [2], "Signer[0]": [2], "Signer[1]": [2], "Signer[2]": [2],
    }


@pytest.mark.parametrize("bad_share", [L.to_bytes(32, "little"), b"\xff" * 32])
async def test_share_at_or_above_L_names_its_sender(bad_share: bytes) -> None:
    keys, public, _ = trusted_dealer_keygen(2, 3, RNG)
    with trio.fail_after(20):
        results = await frost_signing.sign_with_keys(
            keys, public, b"m", RNG, tamper={1: lambda _share: bad_share}, signers=[1, 2, 3],
        )
    assert results == {"Coordinator": [2], "Signer[0]": [2], "Signer[1]": [2], "Signer[2]": [2]}


async def test_bad_delta_names_its_guardian() -> None:
    keys, public, _ = trusted_dealer_keygen(2, 3, RNG)
    programs = guardian_recovery.programs(keys, public, 3, [1, 2], b"ceremony", RNG)

    async def bad_guardian(ep: Endpoint) -> None:
        _, s1 = await g_rec.start_guardian(ep).recv_request()
        s2 = await s1.send_delta_each(lambda j: g_rec.Delta(sealed=bytes(60)))
        await s2.recv_delta()

    programs["Guardian[1]"] = bad_guardian
    with trio.fail_after(20):
        async with memory_session(g_rec.PROTOCOL, families={"Guardian": 2}) as net:
            res = await net.run(programs)
    err = res["Guardian[0]"].error
    assert isinstance(err, InvalidShare) and err.culprits == (2,)


async def test_stale_epoch_in_the_lottery_names_the_peers() -> None:
    async def stale(ep: Endpoint) -> int:
        return await lottery_election.elect(ep, b"s", 1, RNG)  # answers for epoch 1

    with trio.fail_after(20):
        async with memory_session(g_lt.PROTOCOL, families={"Peer": 3}) as net:
            res = await net.run({
                "Peer[0]": lambda ep: lottery_election.elect(ep, b"s", 0, RNG),
                "Peer[1]": lambda ep: lottery_election.elect(ep, b"s", 0, RNG),
                "Peer[2]": stale,
            })
    err = res["Peer[0]"].error
    assert isinstance(err, IdentifiedFault) and err.culprits == (2,)

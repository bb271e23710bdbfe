"""Distributed key generation with no dealer, end to end: the generated Dkg roles
(protocols/threshold/dkg.yaml) carrying the Pedersen/FROST DKG of runtime.crypto.dkg, with
round-two shares sealed to their recipients (runtime.crypto.seal).

Member ``i`` of the Participant family has FROST identifier ``i + 1`` and a static X25519
sealing key whose public half every member knows (the ``directory``). Each member:

1. broadcasts its VSS commitment and proof of knowledge (Round1);
2. checks every peer's Round1 and seals f_i(j) to each peer j (Round2); a member that found
   bad Round1 packages deals nothing (empty Round2) and complains instead;
3. opens and checks every share it received, then broadcasts Confirm: the group key it
   computed, and the members whose packages or shares failed (complaints).

A member succeeds only if nobody complained and every Confirm carries its group key;
otherwise every honest member ends with the same verdict naming the culprits. The resulting
key packages sign with the generated FrostSign roles (``examples.frost_signing``).

``python -m examples.dkg_ceremony`` runs a 3-of-5 ceremony in memory and signs with the key.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import trio

from examples import frost_signing
from generated.threshold import dkg as gd
from runtime.contract import Endpoint
from runtime.crypto import dkg, seal
from runtime.crypto.errors import IdentifiedFault, SealError
from runtime.crypto.hazmat.group import POINT_BYTES
from runtime.crypto.hazmat.suite import identifier_to_bytes
from runtime.crypto.keys import KeyPackage, PublicKeyPackage
from runtime.crypto.rand import RandomSource, default_random
from runtime.memory import RoleFn, memory_session

SEAL_CONTEXT = b"minuet/dkg/round2"
NO_KEY = bytes(POINT_BYTES)  # the Confirm of a member that has no group key to confirm

# A participant program may deal a wrong share f_i(j) to member j (tests): (j, share) -> share.
ShareFilter = Callable[[int, int], int]


@dataclass(frozen=True, slots=True)
class DkgFailed:
    """The ceremony failed. ``culprits`` are the member indices someone complained about."""

    culprits: tuple[int, ...]
    reason: str


def identifier(member: int) -> int:
    return member + 1


def member_of(ident: int) -> int:
    return ident - 1


def _aad(ceremony: bytes, sender: int, recipient: int) -> bytes:
    # A sealed share is bound to this ceremony and to its direction: it cannot be replayed
    # into another ceremony or reflected back to its sender.
    return ceremony + identifier_to_bytes(identifier(sender)) + identifier_to_bytes(identifier(recipient))


def _round1_bytes(msg: gd.Round1) -> bytes:
    # The wire form runtime.crypto.dkg parses and validates (every point checked).
    return len(msg.commitments).to_bytes(2, "big") + b"".join(msg.commitments) + msg.proof


async def participant(
    ep: Endpoint,
    ceremony: bytes,
    keys: seal.SealKeyPair,
    directory: Mapping[int, bytes],
    rng: RandomSource | None = None,
    tamper: ShareFilter | None = None,
) -> tuple[KeyPackage, PublicKeyPackage] | DkgFailed:
    """Take part in one ceremony; returns this member's key material or the common verdict."""
    rng = rng or default_random()
    me = ep.me.index
    assert me is not None
    n = ep.family_size("Participant")
    t = ep.param("t")
    secret1, package1 = dkg.part1(identifier(me), t, n, rng)
    s1 = await gd.start_participant(ep).send_round1(
        gd.Round1(
            commitments=[c.to_bytes() for c in package1.commitment],
            proof=package1.proof_of_knowledge,
        )
    )
    round1, s2 = await s1.recv_round1()
    complaints: set[int] = set()
    received1: dict[int, dkg.Round1Package] = {}
    for j, msg in round1.items():
        try:
            received1[identifier(j)] = dkg.Round1Package.from_bytes(_round1_bytes(msg), identifier(j))
        except IdentifiedFault:
            complaints.add(j)

    outgoing: dict[int, gd.Round2] = {j: gd.Round2(sealed_share=b"") for j in round1}
    secret2: dkg.Round2Secret | None = None
    if not complaints:
        try:
            secret2, shares = dkg.part2(secret1, received1)
        except IdentifiedFault as e:
            complaints.update(member_of(c) for c in e.culprits)
        else:
            for j in round1:
                share = shares[identifier(j)].signing_share
                sealed = seal.seal_share(
                    keys, directory[j], tamper(j, share) if tamper else share,
                    aad=_aad(ceremony, me, j), context=SEAL_CONTEXT, rng=rng,
                )
                outgoing[j] = gd.Round2(sealed_share=sealed)
    s3 = await s2.send_round2_each(outgoing)
    round2, s4 = await s3.recv_round2()

    result: tuple[KeyPackage, PublicKeyPackage] | None = None
    if secret2 is not None:
        received2: dict[int, dkg.Round2Package] = {}
        for j, sealed_msg in round2.items():
            try:
                opened = seal.open_share(
                    keys, directory[j], sealed_msg.sealed_share,
                    aad=_aad(ceremony, j, me), context=SEAL_CONTEXT, sender_id=identifier(j),
                )
            except (SealError, IdentifiedFault):
                complaints.add(j)
            else:
                received2[identifier(j)] = dkg.Round2Package(opened)
        if not complaints:
            try:
                result = dkg.part3(secret2, received1, received2)
            except IdentifiedFault as e:
                complaints.update(member_of(c) for c in e.culprits)

    group_key = result[1].verifying_key.to_bytes() if result is not None else NO_KEY
    s5 = await s4.send_confirm(gd.Confirm(group_key=group_key, complaints=sorted(complaints)))
    confirms, _end = await s5.recv_confirm()
    return _verdict(me, group_key, complaints, confirms, result)


def _verdict(
    me: int,
    group_key: bytes,
    complaints: set[int],
    confirms: Mapping[int, gd.Confirm],
    result: tuple[KeyPackage, PublicKeyPackage] | None,
) -> tuple[KeyPackage, PublicKeyPackage] | DkgFailed:
    """Success needs no complaint anywhere and one group key in every Confirm. Every member
    decides from its own view plus the Confirms, so members that received the same Confirms
    reach the same verdict."""
    culprits = set(complaints).union(*(c.complaints for c in confirms.values()))
    if culprits:
        return DkgFailed(tuple(sorted(culprits)), "complaints about Round1 packages or shares")
    keys = {group_key} | {c.group_key for c in confirms.values()}
    if result is None or keys != {group_key}:
        # Nobody complained, yet the keys differ: some member sent different Round1 packages
        # to different members. Without a broadcast channel that cannot be pinned on anyone.
        return DkgFailed((), "members computed different group keys (an equivocating Round1)")
    return result


def _participant_program(
    ceremony: bytes,
    keys: seal.SealKeyPair,
    directory: Mapping[int, bytes],
    rng: RandomSource,
    tamper: ShareFilter | None,
) -> RoleFn:
    async def run(ep: Endpoint) -> tuple[KeyPackage, PublicKeyPackage] | DkgFailed:
        return await participant(ep, ceremony, keys, directory, rng, tamper)

    return run


def sealing_keys(n: int, rng: RandomSource) -> tuple[dict[int, seal.SealKeyPair], dict[int, bytes]]:
    """Each member's static sealing key pair, and the public directory of them."""
    pairs = {i: seal.SealKeyPair.generate(rng) for i in range(n)}
    return pairs, {i: kp.public_key for i, kp in pairs.items()}


def programs(
    t: int, n: int, ceremony: bytes, rng: RandomSource,
    tamper: Mapping[int, ShareFilter] | None = None,
) -> dict[str, RoleFn]:
    """Role programs for one ceremony of n members (keyed ``Participant[i]``)."""
    pairs, directory = sealing_keys(n, rng)
    tamper = tamper or {}
    return {
        f"Participant[{i}]": _participant_program(
            ceremony, pairs[i], directory, rng, tamper.get(i)
        )
        for i in range(n)
    }


async def dkg_in_memory(
    t: int, n: int, ceremony: bytes = b"minuet/dkg/demo", rng: RandomSource | None = None,
    tamper: Mapping[int, ShareFilter] | None = None,
) -> dict[str, tuple[KeyPackage, PublicKeyPackage] | DkgFailed]:
    rng = rng or default_random()
    async with memory_session(gd.PROTOCOL, params={"t": t}, families={"Participant": n}) as net:
        results = await net.run(programs(t, n, ceremony, rng, tamper))
    return {name: r.unwrap() for name, r in results.items()}


async def main() -> int:
    t, n = 3, 5
    results = await dkg_in_memory(t, n)
    outcomes = list(results.values())
    if not all(isinstance(o, tuple) for o in outcomes):
        print(f"DKG failed: {outcomes}", file=sys.stderr)
        return 1
    keys = {kp.identifier: kp for kp, _pub in (o for o in outcomes if isinstance(o, tuple))}
    public = next(pub for _kp, pub in (o for o in outcomes if isinstance(o, tuple)))
    print(f"{t}-of-{n} DKG: group key {public.verifying_key.to_bytes().hex()}")
    message = b"minuet: signed with a dealerless key"
    signature = await frost_signing.signature_of(keys, public, message)
    print(f"FROST signature by identifiers 1..{t} under it: {signature.hex()}")
    return 0


if __name__ == "__main__":
    sys.exit(trio.run(main))

"""Distributed key generation with no dealer, end to end: the generated Dkg roles
(protocols/threshold/dkg.yaml) carrying the Pedersen/FROST DKG of runtime.crypto.dkg, with
round-two shares sealed to their recipients (runtime.crypto.seal), and the Justify roles
(protocols/threshold/justify.yaml) to settle complaints about shares.

Member ``i`` of the Participant family has FROST identifier ``i + 1`` and a static X25519
sealing key whose public half every member knows (the ``directory``). Each member:

1. broadcasts its VSS commitment and proof of knowledge (Round1);
2. checks every peer's Round1 and seals f_i(j) to each peer j (Round2); a member that found
   bad Round1 packages deals nothing (an empty Round2) and complains instead;
3. opens and checks every share it received, then broadcasts Confirm: the group key it
   computed, and the members whose packages or shares failed (complaints).

Then, from the same Confirms, every member reaches one verdict:

* nobody complained and every Confirm carries one group key: done;
* somebody refused to deal (Round1 complaints): the ceremony fails naming the accused, since
  a Round1 complaint cannot be settled without a broadcast channel;
* only complaints about shares: ``Disputed``. The members then run Justify: each dealer
  reveals, in the clear, the shares it dealt to its complainers; a valid revealed share
  clears the dealer (the complainer adopts it, so a false complaint aborts nothing), and a
  missing or invalid one names the dealer. This is the complaint round of Pedersen/GJKR:
  the disputed shares become public, which t-1 or fewer such shares do not endanger.

The resulting key packages sign with the generated FrostSign roles (``examples.frost_signing``).

``python -m examples.dkg_ceremony`` runs a 3-of-5 ceremony in memory and signs with the key.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Final

import trio

from examples import frost_signing, justification
from generated.threshold import dkg as gd
from generated.threshold import justify as gj
from runtime.contract import Endpoint
from runtime.crypto import dkg, seal
from runtime.crypto.encoding import POINT_BYTES, identifier_to_bytes
from runtime.crypto.errors import IdentifiedFault, SealError
from runtime.crypto.keys import KeyPackage, PublicKeyPackage, verify_vss_share
from runtime.crypto.rand import RandomSource, default_random
from runtime.memory import RoleFn, memory_session

SEAL_CONTEXT = b"minuet/dkg/round2"
NO_KEY = bytes(POINT_BYTES)  # the Confirm of a member that has no group key to confirm

ShareFilter = justification.ShareFilter


@dataclass(frozen=True, slots=True)
class Misbehaviour(justification.Misbehaviour):
    """A ceremony member's lies (``justification.Misbehaviour``), plus members whose Round1
    packages it accuses falsely."""

    complain_about_round1: frozenset[int] = frozenset()


HONEST: Final = Misbehaviour()


@dataclass(frozen=True, slots=True)
class DkgFailed:
    """The ceremony failed. ``culprits`` are member indices (who complained about them, or
    whose revealed shares did not verify)."""

    culprits: tuple[int, ...]
    reason: str


@dataclass(frozen=True, slots=True)
class Disputed:
    """Complaints about shares only: what this member takes into the Justify session."""

    me: int
    complaints: frozenset[tuple[int, int]]  # (complainer, dealer), from every Confirm
    dealt: Mapping[int, int]  # member -> the share f_me(member) this member dealt
    secret: dkg.Round2Secret
    received1: Mapping[int, dkg.Round1Package]
    received2: Mapping[int, dkg.Round2Package]  # the shares that opened and verified
    result: tuple[KeyPackage, PublicKeyPackage] | None  # if this member's own shares were fine
    confirmed_keys: frozenset[bytes]  # group keys in the Confirms of members with a key
    behaviour: Misbehaviour = HONEST


Outcome = tuple[KeyPackage, PublicKeyPackage] | DkgFailed


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
    behaviour: Misbehaviour = HONEST,
) -> Outcome | Disputed:
    """Take part in the Dkg session; returns this member's key material, the common verdict,
    or ``Disputed`` (run ``justify`` in a Justify session next)."""
    rng = rng or default_random()
    me = ep.me.index
    assert me is not None
    n = ep.family_size("Participant")
    t = ep.param("t")
    secret1, package1 = dkg.part1(identifier(me), t, n, rng)
    s1 = await gd.start_participant(ep).send_round1(
        gd.Round1(
            commitments=[gd.Bytes32(c.to_bytes()) for c in package1.commitment],
            proof=gd.Bytes64(package1.proof_of_knowledge),
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
    complaints |= behaviour.complain_about_round1

    secret2: dkg.Round2Secret | None = None
    dealt: dict[int, int] = {}
    if not complaints:
        try:
            secret2, shares = dkg.part2(secret1, received1)
        except IdentifiedFault as e:
            complaints.update(member_of(c) for c in e.culprits)
        else:
            dealt = {j: shares[identifier(j)].signing_share for j in round1}

    def round2_for(j: int) -> gd.Round2:  # called for exactly the other participants
        if j not in dealt:  # no deal (an empty Round2) means "I complain about Round1"
            return gd.Round2(sealed_share=b"")
        sealed = seal.seal_share(
            keys, directory[j], behaviour.dealt(j, dealt[j]),
            aad=_aad(ceremony, me, j), context=SEAL_CONTEXT, rng=rng,
        )
        return gd.Round2(sealed_share=sealed)

    s3 = await s2.send_round2_each(round2_for)
    round2, s4 = await s3.recv_round2()
    refused = {j for j, m in round2.items() if not m.sealed_share} | ({me} if secret2 is None else set())

    result: tuple[KeyPackage, PublicKeyPackage] | None = None
    received2: dict[int, dkg.Round2Package] = {}
    if not refused and secret2 is not None:
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
        try:
            result = dkg.part3(secret2, received1, received2)
        except IdentifiedFault as e:
            complaints.update(member_of(c) for c in e.culprits)
        complaints |= behaviour.complain_about
        if complaints:
            result = None

    group_key = result[1].verifying_key.to_bytes() if result is not None else NO_KEY
    s5 = await s4.send_confirm(gd.Confirm(group_key=gd.Bytes32(group_key), complaints=sorted(complaints)))
    confirms, _end = await s5.recv_confirm()
    everyone = {me: (group_key, sorted(complaints))} | {
        j: (c.group_key, c.complaints) for j, c in confirms.items()
    }
    all_complaints = frozenset((j, d) for j, (_key, cs) in everyone.items() for d in cs)
    keys_confirmed = frozenset(key for key, _cs in everyone.values() if key != NO_KEY)
    if refused:
        # Round1 complaints cannot be settled: name whom the refusers complained about.
        culprits = {d for j, d in all_complaints if j in refused}
        return DkgFailed(tuple(sorted(culprits)), "complaints about Round1 packages")
    if all_complaints:
        assert secret2 is not None
        # Only share complaints: every member (the same Confirms) goes to the dispute.
        return Disputed(
            me, all_complaints, dealt, secret2, received1, received2, result, keys_confirmed,
            behaviour,
        )
    if result is None or keys_confirmed != {group_key}:
        # Nobody complained, yet the keys differ: some member sent different Round1 packages
        # to different members. Without a broadcast channel that cannot be pinned on anyone.
        return DkgFailed((), "members computed different group keys (an equivocating Round1)")
    return result


async def justify(ep: Endpoint, disputed: Disputed) -> Outcome:
    """The Justify session: reveal what we dealt to our complainers, check every revealed
    share, and finish with the adopted shares or name the dealers that could not clear."""
    d = disputed
    revealed = await justification.exchange(ep, d.complaints, d.behaviour.revealed(d.dealt))

    def check(complainer: int, dealer: int, share: int) -> bool:
        commitment = d.secret.commitments[identifier(dealer)]  # every dealer's, ours too
        return verify_vss_share(commitment, identifier(complainer), share)

    verdict = justification.judge(d.complaints, revealed, check)
    if verdict.culprits:
        return DkgFailed(tuple(sorted(verdict.culprits)), "dealers whose disputed shares do not verify")
    cleared = verdict.cleared
    result = d.result
    if result is None:
        # We complained: adopt the revealed shares (every dealer we accused was cleared).
        received2 = dict(d.received2)
        for (complainer, dealer), share in cleared.items():
            if complainer == d.me:
                received2[identifier(dealer)] = dkg.Round2Package(share)
        try:
            result = dkg.part3(d.secret, d.received1, received2)
        except IdentifiedFault as e:
            return DkgFailed(tuple(sorted(member_of(c) for c in e.culprits)), "shares still do not verify")
    key = result[1].verifying_key.to_bytes()
    if not d.confirmed_keys <= {key}:
        return DkgFailed((), "members computed different group keys (an equivocating Round1)")
    return result


def _participant_program(
    ceremony: bytes,
    keys: seal.SealKeyPair,
    directory: Mapping[int, bytes],
    rng: RandomSource,
    behaviour: Misbehaviour,
) -> RoleFn:
    async def run(ep: Endpoint) -> Outcome | Disputed:
        return await participant(ep, ceremony, keys, directory, rng, behaviour)

    return run


def sealing_keys(n: int, rng: RandomSource) -> tuple[dict[int, seal.SealKeyPair], dict[int, bytes]]:
    """Each member's static sealing key pair, and the public directory of them."""
    pairs = {i: seal.SealKeyPair.generate(rng) for i in range(n)}
    return pairs, {i: kp.public_key for i, kp in pairs.items()}


def programs(
    t: int, n: int, ceremony: bytes, rng: RandomSource,
    behaviour: Mapping[int, Misbehaviour] | None = None,
) -> dict[str, RoleFn]:
    """Dkg role programs for one ceremony of n members (keyed ``Participant[i]``)."""
    pairs, directory = sealing_keys(n, rng)
    behaviour = behaviour or {}
    return {
        f"Participant[{i}]": _participant_program(
            ceremony, pairs[i], directory, rng, behaviour.get(i, HONEST)
        )
        for i in range(n)
    }


def justify_programs(disputed: Iterable[Disputed]) -> dict[str, RoleFn]:
    """Justify role programs for the members of a disputed ceremony (``Member[i]``)."""
    return justification.programs(disputed, justify)


def as_participants(results: Mapping[str, Outcome]) -> dict[str, Outcome]:
    """Justify outcomes under the members' Dkg names (``Participant[i]``)."""
    return {name.replace("Member[", "Participant[", 1): o for name, o in results.items()}


def settled(outcomes: Mapping[str, Outcome | Disputed]) -> dict[str, Outcome] | None:
    """The outcomes if the Dkg session settled the ceremony, None if it needs Justify.

    Members that saw the same Confirms are all disputed or none is; a member disputed alone
    saw other Confirms than the rest, and fails (the others' verdicts stand)."""
    disputed = [o for o in outcomes.values() if isinstance(o, Disputed)]
    if disputed and len(disputed) == len(outcomes):
        return None
    split = DkgFailed((), "members saw different Confirms (an equivocating member)")
    return {name: split if isinstance(o, Disputed) else o for name, o in outcomes.items()}


async def dkg_in_memory(
    t: int, n: int, ceremony: bytes = b"minuet/dkg/demo", rng: RandomSource | None = None,
    behaviour: Mapping[int, Misbehaviour] | None = None,
) -> dict[str, Outcome]:
    """A whole ceremony in memory: the Dkg session, then Justify if it was disputed."""
    rng = rng or default_random()
    async with memory_session(gd.PROTOCOL, params={"t": t}, families={"Participant": n}) as net:
        first = {name: r.unwrap() for name, r in (await net.run(programs(t, n, ceremony, rng, behaviour))).items()}
    done = settled(first)
    if done is not None:
        return done
    disputed = [o for o in first.values() if isinstance(o, Disputed)]
    async with memory_session(gj.PROTOCOL, families={"Member": n}) as net:
        results = await net.run(justify_programs(disputed))
    return as_participants({name: r.unwrap() for name, r in results.items()})


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

"""Resharing and refresh, end to end: the generated Reshare roles (protocols/threshold/reshare.yaml)
carrying runtime.crypto.reshare, with every share sealed to its new holder.

The Member family is everyone involved. ``plan.members[i]`` says what member ``i`` is: a
dealer (an old holder, with its old key package) and/or a new holder (with its new
identifier). Each member:

1. if it deals, draws its resharing polynomial and sends every other member the VSS commitment
   and, to each new holder, that holder's share sealed to it (others send an empty Deal);
2. if it is a new holder, checks every dealer's commitment (C_i0 must be λ_i·Y_i, so nobody can
   move the group key) and share, and sums its new share;
3. broadcasts Confirm: the group key, a digest of the new public key package, and complaints.

Everyone succeeds if nobody complained and every new holder confirmed the same package.
Complaints are settled in a Justify session (``examples.justification``): each accused dealer
reveals the shares it dealt to its complainers; a dealer whose commitment is sound and whose
revealed shares verify is cleared (the complainers adopt them), any other is named.
Refresh is the plan in which the old holders deal to themselves.

``python -m examples.reshare_ceremony`` moves a 2-of-3 key to 3-of-5 holders and signs with it.
"""

from __future__ import annotations

import hashlib
import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Final

import trio

from examples import dkg_ceremony, frost_signing, justification
from generated.threshold import justify as gj
from generated.threshold import reshare as gr
from runtime.contract import Endpoint
from runtime.crypto import reshare, seal
from runtime.crypto.encoding import POINT_BYTES, identifier_to_bytes
from runtime.crypto.errors import IdentifiedFault, SealError
from runtime.crypto.keys import (
    KeyPackage,
    PublicKeyPackage,
    trusted_dealer_keygen,
    verify_vss_share,
)
from runtime.crypto.rand import RandomSource, default_random
from runtime.memory import RoleFn, memory_session

SEAL_CONTEXT = b"minuet/reshare"
NO_KEY = bytes(POINT_BYTES)
NO_DIGEST = bytes(64)

Misbehaviour = justification.Misbehaviour
ShareFilter = justification.ShareFilter
HONEST: Final = justification.HONEST


@dataclass(frozen=True, slots=True)
class MemberPlan:
    """One member's part: ``key`` if it deals (an old holder), ``new_id`` if it receives."""

    key: KeyPackage | None = None
    new_id: int | None = None


@dataclass(frozen=True, slots=True)
class ResharePlan:
    old_public: PublicKeyPackage
    members: tuple[MemberPlan, ...]
    new_min_signers: int

    @property
    def dealers(self) -> list[int]:
        return sorted(m.key.identifier for m in self.members if m.key is not None)

    @property
    def new_ids(self) -> list[int]:
        return sorted(m.new_id for m in self.members if m.new_id is not None)


@dataclass(frozen=True, slots=True)
class ReshareFailed:
    """``culprits`` are the member indices someone complained about."""

    culprits: tuple[int, ...]
    reason: str


# What a member ends with: its new key material, None if it only dealt, or the verdict.
Result = tuple[KeyPackage, PublicKeyPackage] | None | ReshareFailed


@dataclass(frozen=True, slots=True)
class Disputed:
    """Complaints to settle: what this member takes into the Justify session."""

    me: int
    plan: ResharePlan
    complaints: frozenset[tuple[int, int]]  # (complainer, dealer) member indices
    dealt: Mapping[int, int]  # member -> the share this member (a dealer) dealt it
    packages: Mapping[int, reshare.ResharePackage]  # by old identifier, every dealer's
    shares: Mapping[int, int]  # by old identifier, what we received and opened
    result: tuple[KeyPackage, PublicKeyPackage] | None
    views: frozenset[tuple[bytes, bytes]]  # (group key, shares digest) new holders confirmed
    behaviour: Misbehaviour = HONEST


def shares_digest(public: PublicKeyPackage) -> bytes:
    """Binds every new verifying share, so Confirms show that all new holders agree."""
    h = hashlib.sha512(b"minuet/reshare/shares" + public.verifying_key.to_bytes())
    for i, y in sorted(public.verifying_shares.items()):
        h.update(identifier_to_bytes(i) + y.to_bytes())
    h.update(public.min_signers.to_bytes(2, "big"))
    return h.digest()


def _aad(ceremony: bytes, sender: int, recipient: int) -> bytes:
    return ceremony + sender.to_bytes(4, "big") + recipient.to_bytes(4, "big")


async def member(
    ep: Endpoint,
    plan: ResharePlan,
    ceremony: bytes,
    keys: seal.SealKeyPair,
    directory: Mapping[int, bytes],
    rng: RandomSource | None = None,
    behaviour: Misbehaviour = HONEST,
) -> Result | Disputed:
    rng = rng or default_random()
    me = ep.me.index
    assert me is not None
    mine = plan.members[me]
    dealt: dict[int, int] = {}  # by member
    commitment: list[gr.Bytes32] = []
    packages: dict[int, reshare.ResharePackage] = {}  # by old identifier, every dealer's
    if mine.key is not None:
        own_package, by_new_id = reshare.deal(
            mine.key, plan.old_public, plan.dealers, plan.new_ids, plan.new_min_signers, rng
        )
        packages[mine.key.identifier] = own_package
        dealt = {
            j: by_new_id[m.new_id] for j, m in enumerate(plan.members) if m.new_id is not None
        }
        commitment = [gr.Bytes32(c.to_bytes()) for c in own_package.commitment]

    def deal_for(j: int) -> gr.Deal:  # called for exactly the other members
        sealed = b""
        if j in dealt:
            share = behaviour.dealt(j, dealt[j])
            sealed = seal.seal_share(
                keys, directory[j], share, aad=_aad(ceremony, me, j), context=SEAL_CONTEXT, rng=rng
            )
        return gr.Deal(commitment=commitment, sealed_share=sealed)

    s1 = await gr.start_member(ep).send_deal_each(deal_for)
    received, s2 = await s1.recv_deal()

    complaints: set[int] = set()
    shares: dict[int, int] = {}  # by old identifier
    if mine.key is not None and mine.new_id is not None:
        shares[mine.key.identifier] = dealt[me]
    for j, deal in received.items():
        dealer = plan.members[j].key
        if dealer is None:
            continue
        try:
            # Every member parses every commitment: all of them judge disputes.
            packages[dealer.identifier] = reshare.ResharePackage.from_bytes(
                b"".join(deal.commitment), dealer.identifier
            )
            if mine.new_id is not None:
                shares[dealer.identifier] = seal.open_share(
                    keys, directory[j], deal.sealed_share, aad=_aad(ceremony, j, me),
                    context=SEAL_CONTEXT, sender_id=dealer.identifier,
                )
        except (IdentifiedFault, SealError):
            complaints.add(j)
    result: tuple[KeyPackage, PublicKeyPackage] | None = None
    if mine.new_id is not None and not complaints:
        try:
            result = _receive(plan, mine.new_id, packages, shares)
        except IdentifiedFault as e:
            complaints.update(_member_of_dealer(plan, c) for c in e.culprits)
    complaints |= behaviour.complain_about
    if complaints:
        result = None
    confirm = gr.Confirm(
        group_key=gr.Bytes32(result[1].verifying_key.to_bytes() if result else NO_KEY),
        shares_digest=gr.Bytes64(shares_digest(result[1]) if result else NO_DIGEST),
        complaints=sorted(complaints),
    )
    s3 = await s2.send_confirm(confirm)
    confirms, _end = await s3.recv_confirm()
    everyone = {me: confirm, **confirms}
    all_complaints = frozenset((j, d) for j, c in everyone.items() for d in c.complaints)
    views = frozenset(
        (c.group_key, c.shares_digest)
        for j, c in everyone.items()
        if plan.members[j].new_id is not None and c.group_key != NO_KEY
    )
    if all_complaints:
        return Disputed(
            me, plan, all_complaints, dealt, packages, shares, result, views, behaviour
        )
    return _agreed(plan, views, result)


def _receive(
    plan: ResharePlan, new_id: int, packages: Mapping[int, reshare.ResharePackage],
    shares: Mapping[int, int],
) -> tuple[KeyPackage, PublicKeyPackage]:
    return reshare.receive(
        new_id, plan.old_public, plan.dealers, plan.new_ids, plan.new_min_signers,
        packages, shares,
    )


def _agreed(
    plan: ResharePlan, views: frozenset[tuple[bytes, bytes]],
    result: tuple[KeyPackage, PublicKeyPackage] | None,
) -> Result:
    """Every new holder must have confirmed one package, with the old group key."""
    expected = plan.old_public.verifying_key.to_bytes()
    mine = {(result[1].verifying_key.to_bytes(), shares_digest(result[1]))} if result else set()
    if len(views | mine) != 1 or next(iter(views | mine))[0] != expected:
        return ReshareFailed((), "new holders confirmed different public key packages")
    return result


async def justify(ep: Endpoint, disputed: Disputed) -> Result:
    """The Justify session: reveal what we dealt to our complainers and judge every
    complaint; a cleared dealer's revealed share replaces what its complainer had."""
    d = disputed
    plan = d.plan
    revealed = await justification.exchange(ep, d.complaints, d.behaviour.revealed(d.dealt))

    def sound(dealer: int) -> reshare.ResharePackage | None:
        """The dealer's commitment if it reshares the dealer's real share (C_0 = λ_i·Y_i)."""
        key = plan.members[dealer].key
        package = d.packages.get(key.identifier) if key is not None else None
        if key is None or package is None or len(package.commitment) != plan.new_min_signers:
            return None
        real = reshare.reshares_real_share(package, plan.dealers, key.identifier, plan.old_public)
        return package if real else None

    def check(complainer: int, dealer: int, share: int) -> bool:
        package, new_id = sound(dealer), plan.members[complainer].new_id
        return package is not None and new_id is not None and (
            verify_vss_share(package.commitment, new_id, share)
        )

    # A member that receives no share can only have complained about a commitment, which
    # every member holds: judged on the commitment alone. Other complaints need a share.
    holders = {(j, dl) for j, dl in d.complaints if plan.members[j].new_id is not None}
    verdict = justification.judge(holders, revealed, check)
    culprits = set(verdict.culprits) | {dl for _j, dl in d.complaints - holders if sound(dl) is None}
    if culprits:
        return ReshareFailed(tuple(sorted(culprits)), "dealers whose disputed shares do not verify")
    result = d.result
    new_id = plan.members[d.me].new_id
    if result is None and new_id is not None:
        shares = dict(d.shares)
        for (complainer, dealer), share in verdict.cleared.items():
            key = plan.members[dealer].key
            if complainer == d.me and key is not None:
                shares[key.identifier] = share
        try:
            result = _receive(plan, new_id, d.packages, shares)
        except IdentifiedFault as e:
            return ReshareFailed(
                tuple(sorted(_member_of_dealer(plan, c) for c in e.culprits)),
                "shares still do not verify",
            )
    return _agreed(plan, d.views, result)


def _member_of_dealer(plan: ResharePlan, identifier: int) -> int:
    return next(i for i, m in enumerate(plan.members) if m.key and m.key.identifier == identifier)


def programs(
    plan: ResharePlan, ceremony: bytes, rng: RandomSource,
    behaviour: Mapping[int, Misbehaviour] | None = None,
) -> dict[str, RoleFn]:
    pairs, directory = dkg_ceremony.sealing_keys(len(plan.members), rng)
    behaviour = behaviour or {}

    def program(i: int) -> RoleFn:
        async def run(ep: Endpoint) -> Result | Disputed:
            return await member(
                ep, plan, ceremony, pairs[i], directory, rng, behaviour.get(i, HONEST)
            )

        return run

    return {f"Member[{i}]": program(i) for i in range(len(plan.members))}


def justify_programs(disputed: Iterable[Disputed]) -> dict[str, RoleFn]:
    """Justify role programs for the members of a disputed ceremony (``Member[i]``)."""
    return justification.programs(disputed, justify)


def settled(outcomes: Mapping[str, Result | Disputed]) -> dict[str, Result] | None:
    """The outcomes if the Reshare session settled the ceremony, None if it needs Justify
    (a member disputed alone saw other Confirms than the rest, and fails)."""
    disputed = [o for o in outcomes.values() if isinstance(o, Disputed)]
    if disputed and len(disputed) == len(outcomes):
        return None
    split = ReshareFailed((), "members saw different Confirms (an equivocating member)")
    return {name: split if isinstance(o, Disputed) else o for name, o in outcomes.items()}


def plan_move(
    old_keys: Mapping[int, KeyPackage], old_public: PublicKeyPackage,
    dealers: Sequence[int], new_ids: Sequence[int], new_t: int,
) -> ResharePlan:
    """Dealers and new holders as separate members (a handover to a new set of holders)."""
    members = [MemberPlan(key=old_keys[i]) for i in dealers] + [MemberPlan(new_id=j) for j in new_ids]
    return ResharePlan(old_public, tuple(members), new_t)


def plan_refresh(old_keys: Mapping[int, KeyPackage], old_public: PublicKeyPackage) -> ResharePlan:
    """Every old holder deals to every identifier, itself included (same t and ids)."""
    members = [MemberPlan(key=old_keys[i], new_id=i) for i in sorted(old_keys)]
    return ResharePlan(old_public, tuple(members), old_public.min_signers)


async def reshare_in_memory(
    plan: ResharePlan, ceremony: bytes = b"minuet/reshare/demo",
    rng: RandomSource | None = None, behaviour: Mapping[int, Misbehaviour] | None = None,
) -> dict[str, Result]:
    """A whole resharing in memory: the Reshare session, then Justify if it was disputed."""
    rng = rng or default_random()
    n = len(plan.members)
    async with memory_session(gr.PROTOCOL, families={"Member": n}) as net:
        results = await net.run(programs(plan, ceremony, rng, behaviour))
    first = {name: r.unwrap() for name, r in results.items()}
    done = settled(first)
    if done is not None:
        return done
    async with memory_session(gj.PROTOCOL, families={"Member": n}) as net:
        results = await net.run(justify_programs(o for o in first.values() if isinstance(o, Disputed)))
    return {name: r.unwrap() for name, r in results.items()}


def new_key_material(results: Mapping[str, Result]) -> tuple[dict[int, KeyPackage], PublicKeyPackage]:
    """The new holders' key packages and their common public key package (success only)."""
    pairs = [r for r in results.values() if isinstance(r, tuple)]
    failed = [r for r in results.values() if isinstance(r, ReshareFailed)]
    if failed or not pairs:
        raise RuntimeError(f"resharing failed: {failed}")
    return {kp.identifier: kp for kp, _pub in pairs}, pairs[0][1]


async def main() -> int:
    old_keys, old_public, _ = trusted_dealer_keygen(2, 3, default_random())
    plan = plan_move(old_keys, old_public, dealers=[1, 3], new_ids=[1, 2, 3, 4, 5], new_t=3)
    new_keys, new_public = new_key_material(await reshare_in_memory(plan))
    assert new_public.verifying_key == old_public.verifying_key
    print(
        f"resharing: 2-of-3 -> 3-of-5, group key {new_public.verifying_key.to_bytes().hex()} "
        "unchanged"
    )
    refreshed, _ = new_key_material(await reshare_in_memory(plan_refresh(new_keys, new_public)))
    message = b"minuet: signed after resharing and refresh"
    signature = await frost_signing.signature_of(refreshed, new_public, message)
    print(f"refresh of the 3-of-5 shares, then a FROST signature: {signature.hex()}")
    return 0


if __name__ == "__main__":
    sys.exit(trio.run(main))

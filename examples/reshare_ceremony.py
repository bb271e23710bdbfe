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

Everyone succeeds only if nobody complained and every new holder confirmed the same package.
Refresh is the plan in which the old holders deal to themselves.

``python -m examples.reshare_ceremony`` moves a 2-of-3 key to 3-of-5 holders and signs with it.
"""

from __future__ import annotations

import hashlib
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import trio

from examples import dkg_ceremony, frost_signing
from generated.threshold import reshare as gr
from runtime.contract import Endpoint
from runtime.crypto import reshare, seal
from runtime.crypto.errors import IdentifiedFault, SealError
from runtime.crypto.hazmat.group import POINT_BYTES
from runtime.crypto.hazmat.suite import identifier_to_bytes
from runtime.crypto.keys import KeyPackage, PublicKeyPackage, trusted_dealer_keygen
from runtime.crypto.rand import RandomSource, default_random
from runtime.memory import RoleFn, memory_session

SEAL_CONTEXT = b"minuet/reshare"
NO_KEY = bytes(POINT_BYTES)
NO_DIGEST = bytes(64)

# A dealer may deal a wrong share to one new identifier (tests): (new id, share) -> share.
ShareFilter = Callable[[int, int], int]


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
    tamper: ShareFilter | None = None,
) -> Result:
    rng = rng or default_random()
    me = ep.me.index
    assert me is not None
    mine = plan.members[me]
    others = [j for j in range(len(plan.members)) if j != me]
    dealt: dict[int, int] = {}
    commitment: list[bytes] = []
    own_package: reshare.ResharePackage | None = None
    if mine.key is not None:
        own_package, dealt = reshare.deal(
            mine.key, plan.old_public, plan.dealers, plan.new_ids, plan.new_min_signers, rng
        )
        commitment = [c.to_bytes() for c in own_package.commitment]
    outgoing: dict[int, gr.Deal] = {}
    for j in others:
        sealed = b""
        new_j = plan.members[j].new_id
        if mine.key is not None and new_j is not None:
            share = tamper(new_j, dealt[new_j]) if tamper else dealt[new_j]
            sealed = seal.seal_share(
                keys, directory[j], share, aad=_aad(ceremony, me, j), context=SEAL_CONTEXT, rng=rng
            )
        outgoing[j] = gr.Deal(commitment=commitment, sealed_share=sealed)
    s1 = await gr.start_member(ep).send_deal_each(outgoing)
    received, s2 = await s1.recv_deal()

    complaints: set[int] = set()
    result: tuple[KeyPackage, PublicKeyPackage] | None = None
    if mine.new_id is not None:
        packages: dict[int, reshare.ResharePackage] = {}
        shares: dict[int, int] = {}
        if mine.key is not None and own_package is not None:
            packages[mine.key.identifier] = own_package
            shares[mine.key.identifier] = dealt[mine.new_id]
        dealer_of = {j: plan.members[j].key for j in others}
        for j, deal in received.items():
            dealer = dealer_of[j]
            if dealer is None:
                continue
            try:
                packages[dealer.identifier] = reshare.ResharePackage.from_bytes(
                    b"".join(deal.commitment), dealer.identifier
                )
                shares[dealer.identifier] = seal.open_share(
                    keys, directory[j], deal.sealed_share, aad=_aad(ceremony, j, me),
                    context=SEAL_CONTEXT, sender_id=dealer.identifier,
                )
            except (IdentifiedFault, SealError):
                complaints.add(j)
        if not complaints:
            try:
                result = reshare.receive(
                    mine.new_id, plan.old_public, plan.dealers, plan.new_ids,
                    plan.new_min_signers, packages, shares,
                )
            except IdentifiedFault as e:
                complaints.update(_member_of_dealer(plan, c) for c in e.culprits)
    confirm = gr.Confirm(
        group_key=result[1].verifying_key.to_bytes() if result else NO_KEY,
        shares_digest=shares_digest(result[1]) if result else NO_DIGEST,
        complaints=sorted(complaints),
    )
    s3 = await s2.send_confirm(confirm)
    confirms, _end = await s3.recv_confirm()
    return _verdict(plan, me, confirm, confirms, result)


def _member_of_dealer(plan: ResharePlan, identifier: int) -> int:
    return next(i for i, m in enumerate(plan.members) if m.key and m.key.identifier == identifier)


def _verdict(
    plan: ResharePlan,
    me: int,
    mine: gr.Confirm,
    confirms: Mapping[int, gr.Confirm],
    result: tuple[KeyPackage, PublicKeyPackage] | None,
) -> Result:
    everyone = {me: mine, **confirms}
    culprits = set().union(*(c.complaints for c in everyone.values()))
    if culprits:
        return ReshareFailed(tuple(sorted(culprits)), "complaints about deals")
    # Every new holder must have confirmed one package, with the old group key.
    views = {
        (c.group_key, c.shares_digest)
        for j, c in everyone.items()
        if plan.members[j].new_id is not None
    }
    expected = plan.old_public.verifying_key.to_bytes()
    if len(views) != 1 or next(iter(views))[0] != expected:
        return ReshareFailed((), "new holders confirmed different public key packages")
    return result


def programs(
    plan: ResharePlan, ceremony: bytes, rng: RandomSource,
    tamper: Mapping[int, ShareFilter] | None = None,
) -> dict[str, RoleFn]:
    pairs, directory = dkg_ceremony.sealing_keys(len(plan.members), rng)
    tamper = tamper or {}

    def program(i: int) -> RoleFn:
        async def run(ep: Endpoint) -> Result:
            return await member(ep, plan, ceremony, pairs[i], directory, rng, tamper.get(i))

        return run

    return {f"Member[{i}]": program(i) for i in range(len(plan.members))}


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
    rng: RandomSource | None = None, tamper: Mapping[int, ShareFilter] | None = None,
) -> dict[str, Result]:
    rng = rng or default_random()
    async with memory_session(gr.PROTOCOL, families={"Member": len(plan.members)}) as net:
        results = await net.run(programs(plan, ceremony, rng, tamper))
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

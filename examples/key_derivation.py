"""Threshold key derivation, end to end: the generated Dkd roles (protocols/threshold/dkd.yaml)
carrying runtime.crypto.dkd's threshold-PRF evaluations.

The Holder family is the derivation set: member ``i`` holds the key package with identifier
``holders[i]`` (any t or more of the group's n identifiers). Each member sends every other its
evaluation for the context, with a DLEQ proof; each checks them all, combines them into the
context's secret tweak and derives its key package; then all confirm the derived group key.
A member whose evaluation does not verify is named by every honest member.

``python -m examples.key_derivation`` deals a 3-of-5 key, derives the key of one context with
two different derivation sets (the same key both times) and signs under it with FrostSign.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import trio

from examples import frost_signing
from generated.threshold import dkd as gd
from runtime.contract import Endpoint
from runtime.crypto import dkd
from runtime.crypto.encoding import POINT_BYTES, identifier_to_bytes, scalar_to_bytes
from runtime.crypto.errors import IdentifiedFault, InvalidParameters
from runtime.crypto.keys import KeyPackage, PublicKeyPackage, trusted_dealer_keygen
from runtime.crypto.rand import RandomSource, default_random
from runtime.memory import RoleFn, memory_session

NO_KEY = bytes(POINT_BYTES)

# A member may send a forged evaluation (tests): DerivationShare -> DerivationShare.
EvaluationFilter = Callable[[dkd.DerivationShare], dkd.DerivationShare]


@dataclass(frozen=True, slots=True)
class DkdFailed:
    """The derivation failed; ``culprits`` are member indices someone complained about."""

    culprits: tuple[int, ...]
    reason: str


async def holder(
    ep: Endpoint,
    key: KeyPackage,
    public: PublicKeyPackage,
    holders: Sequence[int],
    context: bytes,
    rng: RandomSource | None = None,
    tamper: EvaluationFilter | None = None,
) -> tuple[KeyPackage, PublicKeyPackage] | DkdFailed:
    """Derive this member's key package for ``context``, or the common verdict."""
    me = ep.me.index
    assert me is not None and holders[me] == key.identifier
    if len(holders) < public.min_signers:
        # Refused before anything is sent: fewer than t evaluations cannot give the tweak.
        raise InvalidParameters(
            f"{len(holders)} holders cannot derive a {public.min_signers}-of-n key"
        )
    mine = dkd.evaluate(key, context, rng or default_random())
    sent = tamper(mine) if tamper else mine
    s1 = await gd.start_holder(ep).send_evaluation(
        gd.Evaluation(
            context=context,
            evaluation=gd.Bytes32(sent.evaluation.to_bytes()),
            challenge=gd.Bytes32(scalar_to_bytes(sent.challenge)),
            response=gd.Bytes32(scalar_to_bytes(sent.response)),
        )
    )
    received, s2 = await s1.recv_evaluation()
    complaints: set[int] = set()
    shares = [mine]
    for j, ev in received.items():
        try:
            if ev.context != context:
                raise InvalidParameters(f"evaluation for another context from member {j}")
            # The sender's identifier comes from the session's directory, not from the message:
            # the link authenticated the member, the directory says whose key share it holds.
            shares.append(
                dkd.DerivationShare.from_bytes(
                    identifier_to_bytes(holders[j]) + ev.evaluation + ev.challenge + ev.response
                )
            )
        except (IdentifiedFault, InvalidParameters):
            complaints.add(j)
    derived: tuple[KeyPackage, PublicKeyPackage] | None = None
    if not complaints:
        try:
            tweak = dkd.combine(public, context, shares)
        except IdentifiedFault as e:
            complaints.update(holders.index(c) for c in e.culprits)
        else:
            derived = (
                dkd.derive_key_package(key, tweak),
                dkd.derive_public_key_package(public, tweak),
            )
    derived_key = derived[1].verifying_key.to_bytes() if derived is not None else NO_KEY
    s3 = await s2.send_confirm(gd.Confirm(derived_key=gd.Bytes32(derived_key), complaints=sorted(complaints)))
    confirms, _end = await s3.recv_confirm()
    culprits = complaints.union(*(c.complaints for c in confirms.values()))
    if culprits:
        return DkdFailed(tuple(sorted(culprits)), "complaints about evaluations")
    if derived is None or {c.derived_key for c in confirms.values()} != {derived_key}:
        return DkdFailed((), "members derived different keys")
    return derived


def programs(
    keys: Mapping[int, KeyPackage],
    public: PublicKeyPackage,
    holders: Sequence[int],
    context: bytes,
    rng: RandomSource,
    tamper: Mapping[int, EvaluationFilter] | None = None,
) -> dict[str, RoleFn]:
    """Role programs for one derivation by the identifiers ``holders`` (keyed ``Holder[i]``)."""
    tamper = tamper or {}

    def program(i: int) -> RoleFn:
        async def run(ep: Endpoint) -> tuple[KeyPackage, PublicKeyPackage] | DkdFailed:
            return await holder(
                ep, keys[holders[i]], public, holders, context, rng, tamper.get(i)
            )

        return run

    return {f"Holder[{i}]": program(i) for i in range(len(holders))}


async def derive_in_memory(
    keys: Mapping[int, KeyPackage],
    public: PublicKeyPackage,
    holders: Sequence[int],
    context: bytes,
    rng: RandomSource | None = None,
    tamper: Mapping[int, EvaluationFilter] | None = None,
) -> dict[str, tuple[KeyPackage, PublicKeyPackage] | DkdFailed]:
    rng = rng or default_random()
    async with memory_session(gd.PROTOCOL, families={"Holder": len(holders)}) as net:
        results = await net.run(programs(keys, public, holders, context, rng, tamper))
    return {name: r.unwrap() for name, r in results.items()}


async def main() -> int:
    keys, public, _ = trusted_dealer_keygen(3, 5, default_random())
    context = b"minuet/demo/wallet-7"
    first = await derive_in_memory(keys, public, [1, 2, 3], context)
    second = await derive_in_memory(keys, public, [3, 4, 5], context)
    outcomes = [*first.values(), *second.values()]
    pairs = [o for o in outcomes if isinstance(o, tuple)]
    if len(pairs) != len(outcomes) or len({pub.verifying_key for _kp, pub in pairs}) != 1:
        print(f"derivation failed: {outcomes}", file=sys.stderr)
        return 1
    derived_public = pairs[0][1]
    print(
        f"derived key for {context.decode()!r}: {derived_public.verifying_key.to_bytes().hex()} "
        "(the same from holders {1,2,3} and {3,4,5})"
    )
    derived_keys = {kp.identifier: kp for kp, _pub in (o for o in first.values() if isinstance(o, tuple))}
    message = b"minuet: signed under a derived key"
    signature = await frost_signing.signature_of(derived_keys, derived_public, message)
    print(f"FROST signature under the derived key: {signature.hex()}")
    return 0


if __name__ == "__main__":
    sys.exit(trio.run(main))

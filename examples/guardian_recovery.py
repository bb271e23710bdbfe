"""Guardian recovery of a lost share, end to end: the generated Recover roles
(protocols/threshold/recover.yaml) carrying runtime.crypto.repair (the repairable threshold
scheme), every value sealed to its recipient.

The participant that lost its share (``Recovering``) still has its identifier, the group's
public key package and its sealing key. At least t guardians help:

1. the participant asks every guardian to restore identifier r (Request);
2. guardian i splits λ_i(r)·s_i into random deltas, one sealed to each other guardian (Delta),
   keeping its own;
3. guardian j sums the deltas it holds into σ_j and seals it to the participant (Sigma);
4. the participant adds the σ_j, checks the sum against its published verifying share and
   selects ``restored`` or ``failed``; every guardian learns which.

No guardian learns more than its own data; a wrong sum is caught by the verifying-share check
(the guardians as a group are the suspects: single deltas cannot be checked).

``python -m examples.guardian_recovery`` deals 3-of-5, loses holder 2's share, restores it from
guardians 1, 3 and 5, and signs with the restored share.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import assert_never

import trio

from examples import dkg_ceremony, frost_signing
from generated.threshold import recover as gr
from runtime.contract import Endpoint
from runtime.crypto import repair, seal
from runtime.crypto.errors import IdentifiedFault, InvalidShare, SealError
from runtime.crypto.keys import KeyPackage, PublicKeyPackage, trusted_dealer_keygen
from runtime.crypto.rand import RandomSource, default_random
from runtime.memory import RoleFn, memory_session

SEAL_CONTEXT = b"minuet/recover"

# A guardian may send a wrong sigma (tests): sigma -> sigma.
SigmaFilter = Callable[[int], int]


@dataclass(frozen=True, slots=True)
class RecoveryFailed:
    reason: str


def _aad(request: gr.Request, ceremony: bytes, kind: bytes, sender: int, recipient: int) -> bytes:
    # Bound to the request (identifier and epoch): values from another recovery, or another
    # epoch of this one, do not open. -1 stands for the recovering participant, which is no
    # member of the Guardian family.
    return b"".join((
        ceremony, kind, request.identifier.to_bytes(8, "big"), request.epoch.to_bytes(8, "big"),
        sender.to_bytes(4, "big", signed=True), recipient.to_bytes(4, "big", signed=True),
    ))


async def recovering(
    ep: Endpoint,
    identifier: int,
    public: PublicKeyPackage,
    ceremony: bytes,
    keys: seal.SealKeyPair,
    directory: Mapping[int, bytes],
    epoch: int = 0,
) -> KeyPackage | RecoveryFailed:
    """Ask the guardians for identifier ``identifier``'s share; returns it checked, or why not."""
    request = gr.Request(identifier=identifier, epoch=epoch)
    s1 = await gr.start_recovering(ep).send_request(request)
    sigmas, s2 = await s1.recv_sigma()
    reason = ""
    opened: dict[int, int] = {}
    for j, sigma in sigmas.items():
        try:
            opened[j] = seal.open_share(
                keys, directory[j], sigma.sealed,
                aad=_aad(request, ceremony, b"sigma", j, -1), context=SEAL_CONTEXT,
            )
        except (SealError, IdentifiedFault):
            reason = f"the sigma of guardian {j} does not open"
    if not reason:
        try:
            restored = repair.repaired_key_package(identifier, opened, public)
        except IdentifiedFault as e:
            reason = str(e)
        else:
            await (await s2.select_restored()).send_restored(gr.Restored())
            return restored
    await (await s2.select_failed()).send_failed(gr.Failed(reason=reason))
    return RecoveryFailed(reason)


async def guardian(
    ep: Endpoint,
    key: KeyPackage,
    guardians: Sequence[int],
    ceremony: bytes,
    keys: seal.SealKeyPair,
    directory: Mapping[int, bytes],
    recovering_key: bytes,
    rng: RandomSource | None = None,
    tamper: SigmaFilter | None = None,
) -> bool:
    """Help restore a share (``guardians[i]`` is the identifier of member i); returns whether
    the participant reported success."""
    rng = rng or default_random()
    me = ep.me.index
    assert me is not None and guardians[me] == key.identifier
    request, s1 = await gr.start_guardian(ep).recv_request()
    deltas = repair.repair_step_1(list(guardians), key, request.identifier, rng)

    def delta_for(j: int) -> gr.Delta:  # called for exactly the other guardians
        return gr.Delta(
            sealed=seal.seal_share(
                keys, directory[j], deltas[guardians[j]],
                aad=_aad(request, ceremony, b"delta", me, j), context=SEAL_CONTEXT, rng=rng,
            )
        )

    s2 = await s1.send_delta_each(delta_for)
    received, s3 = await s2.recv_delta()
    held = [deltas[key.identifier]]
    for j, d in received.items():
        try:
            held.append(seal.open_share(
                keys, directory[j], d.sealed, aad=_aad(request, ceremony, b"delta", j, me),
                context=SEAL_CONTEXT, sender_id=guardians[j],
            ))
        except SealError:  # the sealed delta itself is bad: its sender is the culprit
            raise InvalidShare([guardians[j]], f"the delta of guardian {j} does not open") from None
    sigma = repair.repair_step_2(held)
    s4 = await s3.send_sigma(
        gr.Sigma(
            sealed=seal.seal_share(
                keys, recovering_key, tamper(sigma) if tamper else sigma,
                aad=_aad(request, ceremony, b"sigma", me, -1), context=SEAL_CONTEXT, rng=rng,
            )
        )
    )
    match await s4.offer():
        case gr.Guardian_S4_Restored():
            return True
        case gr.Guardian_S4_Failed():
            return False
        case other:
            assert_never(other)


def programs(
    keys: Mapping[int, KeyPackage],
    public: PublicKeyPackage,
    lost: int,
    guardians: Sequence[int],
    ceremony: bytes,
    rng: RandomSource,
    tamper: Mapping[int, SigmaFilter] | None = None,
) -> dict[str, RoleFn]:
    """Role programs: ``Recovering`` for identifier ``lost``, ``Guardian[i]`` for guardians[i]."""
    pairs, directory = dkg_ceremony.sealing_keys(len(guardians) + 1, rng)
    participant = pairs[len(guardians)]  # the last sealing key is the recovering participant's
    tamper = tamper or {}

    def guardian_program(i: int) -> RoleFn:
        async def run(ep: Endpoint) -> bool:
            return await guardian(
                ep, keys[guardians[i]], guardians, ceremony, pairs[i], directory,
                participant.public_key, rng, tamper.get(i),
            )

        return run

    async def recovering_program(ep: Endpoint) -> KeyPackage | RecoveryFailed:
        return await recovering(ep, lost, public, ceremony, participant, directory)

    roles: dict[str, RoleFn] = {"Recovering": recovering_program}
    roles.update({f"Guardian[{i}]": guardian_program(i) for i in range(len(guardians))})
    return roles


async def recover_in_memory(
    keys: Mapping[int, KeyPackage],
    public: PublicKeyPackage,
    lost: int,
    guardians: Sequence[int],
    ceremony: bytes = b"minuet/recover/demo",
    rng: RandomSource | None = None,
    tamper: Mapping[int, SigmaFilter] | None = None,
) -> dict[str, KeyPackage | RecoveryFailed | bool]:
    rng = rng or default_random()
    async with memory_session(gr.PROTOCOL, families={"Guardian": len(guardians)}) as net:
        results = await net.run(programs(keys, public, lost, guardians, ceremony, rng, tamper))
    return {name: r.unwrap() for name, r in results.items()}


async def main() -> int:
    keys, public, _ = trusted_dealer_keygen(3, 5, default_random())
    lost = 2
    survivors = {i: kp for i, kp in keys.items() if i != lost}
    results = await recover_in_memory(survivors, public, lost, guardians=[1, 3, 5])
    restored = results["Recovering"]
    if not isinstance(restored, KeyPackage):
        print(f"recovery failed: {restored}", file=sys.stderr)
        return 1
    print(f"holder {lost}'s share restored by guardians 1, 3, 5 (checked against its verifying share)")
    signers = {1: keys[1], 2: restored, 3: keys[3]}
    signature = await frost_signing.signature_of(signers, public, b"minuet: signed after recovery")
    print(f"FROST signature with the restored share: {signature.hex()}")
    return 0


if __name__ == "__main__":
    sys.exit(trio.run(main))

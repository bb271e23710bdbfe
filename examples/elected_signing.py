"""Threshold signing with no fixed coordinator, end to end: the peers elect a coordinator with
the generated Lottery roles (``examples.lottery_election``), the winner coordinates the
generated FrostSign roles (``examples.frost_signing``), and when the coordinator fails the
survivors bump the session epoch and elect again (a fresh, independent draw).

Each peer is one key holder (its FROST identifier). In an epoch:

1. every live peer takes part in the lottery for (session, epoch) and gets the same winner;
2. the winner coordinates; the signing set is the first t live peers by identifier (the
   coordinator may be one of them: a peer plays both roles);
3. if the coordinator dies, every signer waiting on it gets ``PeerGone``; the peers drop it
   from the live set and go to epoch + 1. A failed signing set member is dropped the same way.

``python -m examples.elected_signing`` signs 3-of-5 with the first elected coordinator made to
crash, so the signature comes from the second epoch.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import trio

from examples import frost_signing, lottery_election
from runtime.crypto import frost
from runtime.crypto.keys import KeyPackage, PublicKeyPackage, trusted_dealer_keygen
from runtime.crypto.rand import RandomSource, default_random
from runtime.errors import PeerGone
from runtime.faults import Fault, FaultInjector
from runtime.memory import RoleResult
from runtime.middleware import Middleware


@dataclass
class Epoch:
    """What happened in one epoch: who was live, who was elected, and how it ended."""

    number: int
    live: list[int]
    coordinator: int
    signers: list[int]
    failed: list[int] = field(default_factory=list)


@dataclass
class Outcome:
    signature: bytes
    epochs: list[Epoch]


class SigningFailed(Exception):
    """No epoch produced a signature (too few live peers, or the epoch limit was reached)."""


async def elect(live: Sequence[int], session: bytes, epoch: int, rng: RandomSource) -> int:
    """Run the lottery among the live peers; returns the winner's identifier."""
    winners = await lottery_election.elect_in_memory(len(live), session, epoch, rng)
    choices = set(winners.values())
    if len(choices) != 1 or not isinstance(winner := choices.pop(), int):
        raise SigningFailed(f"the lottery of epoch {epoch} did not agree: {winners}")
    return live[winner]


async def sign_with_election(
    keys: Mapping[int, KeyPackage],
    public: PublicKeyPackage,
    message: bytes,
    session: bytes,
    rng: RandomSource | None = None,
    crash_coordinator_in: frozenset[int] = frozenset(),
    faults: Mapping[int, Sequence[Fault]] | None = None,
    max_epochs: int = 8,
) -> Outcome:
    """Elect, sign, and on a failure re-elect among the survivors under the next epoch.

    ``crash_coordinator_in``: epochs whose elected coordinator is made to crash (it dies
    right after sending the sign requests, before the signing package). ``faults``: any
    other injected faults per epoch (e.g. a signer crashing).
    """
    rng = rng or default_random()
    t = public.min_signers
    live = sorted(keys)
    epochs: list[Epoch] = []
    for number in range(max_epochs):
        if len(live) < t:
            raise SigningFailed(f"epoch {number}: {len(live)} live peers, need {t}")
        coordinator = await elect(live, session, number, rng)
        signers = live[:t]
        record = Epoch(number, list(live), coordinator, signers)
        epochs.append(record)
        injected = list((faults or {}).get(number, ()))
        if number in crash_coordinator_in:
            # The coordinator's first t sends are the sign requests; it dies at the next.
            injected.append(Fault("crash", role="Coordinator", after=t))
        middleware: list[Middleware] = [FaultInjector(injected)] if injected else []
        results = await frost_signing.run_signing(
            keys, public, message, rng, signers=signers, epoch=number, middleware=middleware
        )
        failed = _failed_peers(results, coordinator, signers)
        if not failed:
            signature = results["Coordinator"].value
            assert isinstance(signature, bytes)
            frost.verify(public.verifying_key, message, signature)
            return Outcome(signature, epochs)
        # Survivors learnt the failure as PeerGone; the failed peers leave the live set and
        # the epoch is bumped, so the next lottery is a fresh draw among the others.
        record.failed = failed
        live = [p for p in live if p not in failed]
    raise SigningFailed(f"no signature within {max_epochs} epochs")


def _failed_peers(
    results: Mapping[str, RoleResult], coordinator: int, signers: Sequence[int]
) -> list[int]:
    """The peers whose own role failed: a PeerGone is a symptom of another peer's failure."""

    def identifier(role: str) -> int:
        if role == "Coordinator":
            return coordinator
        return signers[int(role[role.index("[") + 1 : -1])]  # "Signer[i]"

    own = {identifier(n) for n, r in results.items() if r.error and not isinstance(r.error, PeerGone)}
    if own or all(r.ok for r in results.values()):
        return sorted(own)
    # Only PeerGone everywhere (e.g. a deadline): blame the peers the errors name.
    return sorted(
        identifier(r.error.peer)
        for r in results.values()
        if isinstance(r.error, PeerGone) and r.error.peer in results
    )


async def main() -> int:
    keys, public, _ = trusted_dealer_keygen(3, 5, default_random())
    message = b"minuet: signed by an elected coordinator"
    outcome = await sign_with_election(
        keys, public, message, b"demo-session", crash_coordinator_in=frozenset({0})
    )
    for e in outcome.epochs:
        what = f"coordinator {e.coordinator} failed" if e.failed else "signed"
        print(f"epoch {e.number}: live {e.live}, elected {e.coordinator}, signers {e.signers}: {what}")
    print(f"signature: {outcome.signature.hex()}")
    return 0


if __name__ == "__main__":
    sys.exit(trio.run(main))

"""Threshold signing with no fixed coordinator, as role programs of one typed spec
(protocols/threshold/elected_signing.yaml): every peer runs ``peer`` on the generated
ElectedSigning API, with real FROST(Ed25519, SHA-512) rounds from runtime.crypto.

In each epoch every surviving peer commits to and reveals a random value (the commits bind
the session and the epoch), the local step DrawWinner picks the coordinator from the reveals
and the generated code checks that every peer picked the same one. The others send it their
FROST commitments; when its signing package does not come (it crashed, or missed the
deadline), the spec's failure branch hands each of them a ``Peer_S10_Failed``: they bump the
session epoch and elect again. The failed coordinator takes no part any more: the generated
family steps skip a member taken for crashed, so the next draw is among the survivors.

Peer ``i`` holds the key package with identifier ``i + 1``; the signing set of an epoch is
every surviving peer but the coordinator (at least t of them).

``python -m examples.elected_signing`` signs 3-of-5 with the first elected coordinator made
to crash, so the signature comes from the second epoch.
"""

from __future__ import annotations

import sys
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import assert_never

import trio

from generated.threshold import elected_signing as es
from runtime.contract import Endpoint
from runtime.crypto import commit as cr
from runtime.crypto import frost
from runtime.crypto.errors import IdentifiedFault
from runtime.crypto.keys import KeyPackage, PublicKeyPackage, trusted_dealer_keygen
from runtime.crypto.rand import RandomSource, default_random
from runtime.errors import RemoteViolation
from runtime.memory import RoleFn, RoleResult, memory_session

DOMAIN = b"minuet/coordinator-election"

# Runs a session's role programs and returns what each did (tests pass a TCP runner).
Runner = Callable[..., Awaitable[dict[str, RoleResult]]]


@dataclass
class Epoch:
    """One epoch as a surviving peer saw it (identifiers, not member indices)."""

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
    """Too few surviving peers to sign."""


class Crash(Exception):
    """A coordinator's simulated crash (its role program stops: its links close)."""


def _ident(index: int) -> int:
    return index + 1


async def peer(
    ep: Endpoint, key: KeyPackage, public: PublicKeyPackage, message: bytes, session: bytes,
    rng: RandomSource | None = None, crash_in: frozenset[int] = frozenset(),
) -> Outcome:
    """One peer's whole run: elect, sign, and re-elect after a failed coordinator.

    ``crash_in``: epochs in which this peer, if elected, crashes after collecting the
    commitments (before the signing package)."""
    rng = rng or default_random()
    me = ep.me.index
    assert me is not None
    epoch = 0
    epochs: list[Epoch] = []
    s0 = es.start_peer(ep)
    while True:
        digest, opening = cr.commit(DOMAIN, session, epoch, me, rng.random_bytes(32), rng)
        s1 = await s0.send_commit(es.Commit(epoch=epoch, digest=es.Bytes64(digest)))
        commits, s2 = await s1.recv_commit()
        s3 = await s2.send_reveal(
            es.Reveal(epoch=epoch, value=es.Bytes32(opening.value), nonce=es.Bytes32(opening.nonce))
        )
        reveals, s4 = await s3.recv_reveal()
        stale = sorted(
            {p for p, c in commits.items() if c.epoch != epoch} | {p for p, r in reveals.items() if r.epoch != epoch}
        )
        if stale:
            raise IdentifiedFault(stale, f"answered for another epoch than {epoch}")
        # The survivors' reveals (a failed peer is skipped by the family steps) and ours.
        values = cr.verify_reveals(
            DOMAIN, session, epoch,
            {**{p: c.digest for p, c in commits.items()}, me: digest},
            {**{p: cr.Opening(r.value, r.nonce) for p, r in reveals.items()}, me: opening},
        )
        live = sorted(values)

        def draw(vals: Mapping[int, bytes], number: int = epoch, live: list[int] = live) -> int:
            return live[cr.lottery(DOMAIN, session, number, vals, len(live))]

        match await s4.do_draw_winner(draw, {p: es.Bytes32(v) for p, v in values.items()}):
            case es.Peer_S4_Coordinator(index=c, state=s5):
                signers = [p for p in live if p != c]
                epochs.append(Epoch(epoch, [_ident(p) for p in live], _ident(c), [_ident(p) for p in signers]))
                if len(signers) < public.min_signers:
                    raise SigningFailed(f"epoch {epoch}: {len(live)} live peers, need {public.min_signers + 1}")
                signature = await _coordinate(s5, public, message, epoch in crash_in)
                return Outcome(signature, epochs)
            case es.Peer_S4_NotCoordinator(index=c, state=s9):
                signers = [p for p in live if p != c]
                record = Epoch(epoch, [_ident(p) for p in live], _ident(c), [_ident(p) for p in signers])
                epochs.append(record)
                if len(signers) < public.min_signers:
                    raise SigningFailed(f"epoch {epoch}: {len(live)} live peers, need {public.min_signers + 1}")
                nonces, mine = frost.commit(key, rng)
                s10 = await s9.send_commitment(
                    es.Commitment(hiding=es.Bytes32(mine.hiding.to_bytes()), binding=es.Bytes32(mine.binding))
                )
                match await s10.offer():
                    case es.Peer_S10_SigningPackage(msg=package, state=s11):
                        signature = await _sign(s11, key, message, package, nonces, mine)
                        return Outcome(signature, epochs)
                    case es.Peer_S10_Failed(state=s13):
                        # Crash-stop: the coordinator is gone for the rest of the session.
                        record.failed = [_ident(c)]
                        epoch, s0 = await s13.bump_epoch()
                    case unhandled:
                        assert_never(unhandled)
            case other:
                assert_never(other)


async def _coordinate(s5: es.Peer_S5, public: PublicKeyPackage, message: bytes, crash: bool) -> bytes:
    commitments, s6 = await s5.recv_commitment()
    if crash:
        raise Crash("the coordinator crashes before its signing package")
    # The RFC's commitment list is sorted by identifier.
    entries = sorted(
        (es.CommitmentEntry(identifier=_ident(i), hiding=c.hiding, binding=c.binding) for i, c in commitments.items()),
        key=lambda e: e.identifier,
    )
    s7 = await s6.send_signing_package(es.SigningPackage(message=message, commitments=entries))
    shares, s8 = await s7.recv_signature_share()
    package = frost.SigningPackage.from_bytes(_package_bytes(entries, message))
    signature = frost.aggregate(
        package,
        [frost.SignatureShare.from_bytes(_ident(i).to_bytes(32, "little") + sh.share) for i, sh in sorted(shares.items())],
        public,
    )
    await s8.send_signature(es.Signature(signature=es.Bytes64(signature)))
    return signature


async def _sign(
    s11: es.Peer_S11, key: KeyPackage, message: bytes, received: es.SigningPackage,
    nonces: frost.SigningNonces, mine: frost.SigningCommitments,
) -> bytes:
    if received.message != message:
        raise RemoteViolation("Coordinator", "signing package", "the message every peer signs", "another message")
    package = frost.SigningPackage.from_bytes(_package_bytes(received.commitments, received.message), own=mine)
    share = frost.sign(package, nonces, key).to_bytes()[32:]
    s12 = await s11.send_signature_share(es.SignatureShare(share=es.Bytes32(share)))
    result, _end = await s12.recv_signature()
    frost.verify(key.verifying_key, message, result.signature)
    return result.signature


def _package_bytes(entries: list[es.CommitmentEntry], message: bytes) -> bytes:
    # The wire form runtime.crypto.frost parses and validates (every point checked).
    body = b"".join(e.identifier.to_bytes(32, "little") + e.hiding + e.binding for e in entries)
    return len(entries).to_bytes(2, "big") + body + message


def _program(
    key: KeyPackage, public: PublicKeyPackage, message: bytes, session: bytes, rng: RandomSource,
    crash_in: frozenset[int],
) -> RoleFn:
    async def run(ep: Endpoint) -> Outcome:
        return await peer(ep, key, public, message, session, rng, crash_in)

    return run


async def run_election(
    keys: Mapping[int, KeyPackage], public: PublicKeyPackage, message: bytes, session: bytes,
    rng: RandomSource | None = None, crash_coordinator_in: frozenset[int] = frozenset(),
    runner: Runner | None = None,
) -> dict[str, RoleResult]:
    """One ElectedSigning session among the holders of ``keys`` (identifiers 1..n), in memory
    unless ``runner`` runs it (e.g. over TCP); what every peer returned or raised."""
    rng = rng or default_random()
    n = len(keys)
    roles = {
        f"Peer[{i}]": _program(keys[_ident(i)], public, message, session, rng, crash_coordinator_in) for i in range(n)
    }
    if runner is not None:
        return await runner(es.PROTOCOL, roles, families={"Peer": n}, params={"N": n})
    async with memory_session(es.PROTOCOL, families={"Peer": n}, params={"N": n}) as net:
        return await net.run(roles)


async def sign_with_election(
    keys: Mapping[int, KeyPackage], public: PublicKeyPackage, message: bytes, session: bytes,
    rng: RandomSource | None = None, crash_coordinator_in: frozenset[int] = frozenset(),
) -> Outcome:
    """Elect, sign, and on a failed coordinator re-elect among the survivors under the next
    epoch. ``crash_coordinator_in``: epochs whose elected coordinator crashes. Raises what a
    surviving peer raised; every survivor must have seen the same epochs and signature."""
    results = await run_election(keys, public, message, session, rng, crash_coordinator_in)
    outcomes = []
    for r in results.values():
        if isinstance(r.error, Crash):
            continue
        outcomes.append(r.unwrap())
    first = outcomes[0]
    assert isinstance(first, Outcome)
    if any(o != first for o in outcomes):
        raise SigningFailed(f"the survivors disagree: {outcomes}")
    frost.verify(public.verifying_key, message, first.signature)
    return first


async def main() -> int:
    keys, public, _ = trusted_dealer_keygen(3, 5, default_random())
    message = b"minuet: signed by an elected coordinator"
    outcome = await sign_with_election(keys, public, message, b"demo-session", crash_coordinator_in=frozenset({0}))
    for e in outcome.epochs:
        what = f"coordinator {e.coordinator} failed" if e.failed else "signed"
        print(f"epoch {e.number}: live {e.live}, elected {e.coordinator}, signers {e.signers}: {what}")
    print(f"signature: {outcome.signature.hex()}")
    return 0


if __name__ == "__main__":
    sys.exit(trio.run(main))

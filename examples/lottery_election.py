"""Coordinator election with no fixed leader: the generated Lottery roles
(protocols/threshold/lottery.yaml) carrying a real commit-reveal from runtime.crypto.commit.

Every peer commits to a fresh random value bound to (domain, session, epoch, peer), then
reveals it; each peer checks every opening and derives the same uniform winner index. When
an elected coordinator fails, the peers bump the epoch and elect again: a fresh draw.

``python -m examples.lottery_election`` elects among five peers for epochs 0 and 1.
"""

from __future__ import annotations

import sys

import trio

from generated.threshold import lottery as lt
from runtime.contract import Endpoint
from runtime.crypto import commit as cr
from runtime.crypto.errors import IdentifiedFault
from runtime.crypto.rand import RandomSource, default_random
from runtime.memory import RoleFn, memory_session

DOMAIN = b"minuet/coordinator-election"


async def elect(
    ep: Endpoint, session_id: bytes, epoch: int, rng: RandomSource | None = None,
    lie: bool = False,
) -> int:
    """One election round; returns the winner's member index. Raises ``MissingReveal`` /
    ``InvalidReveal`` naming peers whose openings do not match their commitments."""
    me = ep.me.index
    assert me is not None
    n = ep.family_size("Peer")
    digest, opening = cr.commit(
        DOMAIN, session_id, epoch, me, (rng or default_random()).random_bytes(32), rng
    )
    s1 = await lt.start_peer(ep).send_commit(lt.Commit(epoch=epoch, digest=lt.Bytes64(digest)))
    commits, s2 = await s1.recv_commit()
    value = bytes(32) if lie else opening.value  # a liar reveals something else
    s3 = await s2.send_reveal(lt.Reveal(epoch=epoch, value=lt.Bytes32(value), nonce=lt.Bytes32(opening.nonce)))
    reveals, _end = await s3.recv_reveal()
    stale = sorted(
        {p for p, c in commits.items() if c.epoch != epoch}
        | {p for p, r in reveals.items() if r.epoch != epoch}
    )
    if stale:
        raise IdentifiedFault(stale, f"answered for another epoch than {epoch}")
    values = cr.verify_reveals(
        DOMAIN, session_id, epoch,
        {**{p: c.digest for p, c in commits.items()}, me: digest},
        {**{p: cr.Opening(r.value, r.nonce) for p, r in reveals.items()}, me: opening},
    )
    return cr.lottery(DOMAIN, session_id, epoch, values, n)


def _peer(session_id: bytes, epoch: int, rng: RandomSource | None, lie: bool) -> RoleFn:
    async def run(ep: Endpoint) -> int:
        return await elect(ep, session_id, epoch, rng, lie)

    return run


async def elect_in_memory(
    n: int, session_id: bytes, epoch: int, rng: RandomSource | None = None,
    liars: frozenset[int] = frozenset(),
) -> dict[str, int | BaseException]:
    """Run one election among ``n`` peers; each peer's winner, or the error it raised."""
    async with memory_session(lt.PROTOCOL, families={"Peer": n}) as net:
        results = await net.run(
            {f"Peer[{i}]": _peer(session_id, epoch, rng, i in liars) for i in range(n)}
        )
    return {
        name: r.value if r.error is None else r.error for name, r in sorted(results.items())
    }


async def main() -> int:
    for epoch in (0, 1):
        winners = await elect_in_memory(5, b"demo-session", epoch)
        print(f"epoch {epoch}: every peer elects coordinator Peer[{winners['Peer[0]']}]: "
              f"{sorted(set(winners.values()), key=str)}")
    return 0


if __name__ == "__main__":
    sys.exit(trio.run(main))

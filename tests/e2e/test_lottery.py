"""Flagship check: coordinator election through the generated Lottery roles, real commit-reveal."""

from __future__ import annotations

import trio

from examples import lottery_election
from runtime.crypto.errors import InvalidReveal
from runtime.crypto.rand import DeterministicRandom


async def test_every_peer_elects_the_same_coordinator_and_epochs_redraw() -> None:
    winners_by_epoch = []
    with trio.fail_after(30):
        for epoch in range(6):
            results = await lottery_election.elect_in_memory(
                5, b"session-1", epoch, DeterministicRandom(b"lottery")
            )
            assert len(set(results.values())) == 1, results
            (winner,) = set(results.values())
            assert isinstance(winner, int) and 0 <= winner < 5
            winners_by_epoch.append(winner)
    # The same peers' values are drawn again each epoch, yet the epoch feeds the commitment
    # and the draw: six epochs electing one and the same peer has chance 5**-5.
    assert len(set(winners_by_epoch)) > 1, winners_by_epoch


async def test_a_peer_that_reveals_another_value_is_named_by_every_honest_peer() -> None:
    with trio.fail_after(30):
        results = await lottery_election.elect_in_memory(
            4, b"session-2", 0, DeterministicRandom(b"liar"), liars=frozenset({2})
        )
    for name in ("Peer[0]", "Peer[1]", "Peer[3]"):
        error = results[name]
        assert isinstance(error, InvalidReveal), (name, error)
        assert error.mismatched == (2,)

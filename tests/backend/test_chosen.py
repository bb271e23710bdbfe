"""Roles chosen at run time and ring steps, run in memory through their generated API.

The seed's DecentralizedCoordinatorLottery (``protocols/seed/coordinator_lottery.yaml``):
commit-reveal, every member computes the winner from the reveals (``do_draw_winner``), the
members agree on it, and the one chosen collects ``CoordinatorSelected`` from the others. A
member that claims another winner is a RemoteViolation naming it at every honest member.
The token ring (``protocols/examples/token_ring.yaml``): each member passes to its successor.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, assert_never

import pytest
import trio

from generated.examples import token_ring as tr
from generated.seed import coordinator_lottery as cl
from runtime.contract import Endpoint
from runtime.errors import RemoteViolation
from runtime.memory import memory_session
from tests.runtime.harness import Runner, run_memory

RoleFn = Callable[[Any], Awaitable[Any]]
EPOCH = 7


def _digest(value: bytes, nonce: bytes) -> cl.Bytes64:
    return cl.Bytes64(hashlib.sha512(b"minuet-lottery" + value + nonce).digest())


def draw_winner(n: int) -> Callable[[dict[int, cl.Bytes32]], int]:
    """The seed's ``combined_randomness % N``: the hash of every value in index order."""

    def draw(values: dict[int, cl.Bytes32]) -> int:
        h = hashlib.sha256(b"".join(values[i] for i in sorted(values))).digest()
        return int.from_bytes(h, "big") % n

    return draw


def participant(n: int, lie: bool = False) -> RoleFn:
    async def run(ep: Endpoint) -> tuple[str, int, int]:
        me = ep.me.index
        assert me is not None
        value, nonce = cl.Bytes32(secrets.token_bytes(32)), cl.Bytes32(secrets.token_bytes(32))
        s1 = await cl.start_participant(ep).send_commit(cl.Commit(epoch=EPOCH, digest=_digest(value, nonce)))
        commits, s2 = await s1.recv_commit()
        s3 = await s2.send_reveal(cl.Reveal(epoch=EPOCH, value=value, nonce=nonce))
        reveals, s4 = await s3.recv_reveal()
        for i, r in reveals.items():
            if _digest(r.value, r.nonce) != commits[i].digest:
                raise AssertionError(f"Participant[{i}] revealed a value it did not commit to")
        values = {i: r.value for i, r in reveals.items()} | {me: value}
        draw = draw_winner(n)
        honest = draw(values)
        chosen = await s4.do_draw_winner((lambda v: (draw(v) + 1) % n) if lie else draw, values)
        match chosen:
            case cl.Participant_S4_Coordinator(index=index, state=coordinating):
                selected, _ = await coordinating.recv_coordinator_selected()
                assert sorted(selected) == [i for i in range(n) if i != me]
                return "coordinator", index, honest
            case cl.Participant_S4_NotCoordinator(index=index, state=other):
                await other.send_coordinator_selected(cl.CoordinatorSelected(epoch=EPOCH))
                return "participant", index, honest
            case _:
                assert_never(chosen)

    return run


async def _lottery(n: int, liar: int | None = None, run_roles: Runner = run_memory) -> dict[str, Any]:
    roles = {f"Participant[{i}]": participant(n, lie=i == liar) for i in range(n)}
    with trio.fail_after(20):
        return dict(await run_roles(cl.PROTOCOL, roles, params={"N": n}))


@pytest.mark.parametrize("n", [2, 5])
async def test_the_lottery_chooses_one_coordinator_every_member_agrees_on(n: int) -> None:
    await _check_agreed(n, await _lottery(n))


async def test_the_lottery_over_memory_and_tcp(run_roles: Runner) -> None:
    await _check_agreed(3, await _lottery(3, run_roles=run_roles))


async def _check_agreed(n: int, results: dict[str, Any]) -> None:
    assert all(r.error is None for r in results.values()), results
    values: Mapping[str, tuple[str, int, int]] = {m: r.value for m, r in results.items()}
    winners = {index for _, index, _ in values.values()}
    assert len(winners) == 1
    (winner,) = winners
    assert {index for _, _, index in values.values()} == {winner}  # as each member computed it
    assert [m for m, (kind, _, _) in values.items() if kind == "coordinator"] == [f"Participant[{winner}]"]


async def test_a_member_claiming_another_winner_is_named_by_every_honest_member(run_roles: Runner) -> None:
    n, liar = 4, 2
    results = await _lottery(n, liar, run_roles)
    for m, r in results.items():
        if m == f"Participant[{liar}]":
            assert r.error is not None  # it fails too: it sees everyone disagree with it
            continue
        assert isinstance(r.error, RemoteViolation), (m, r.error)
        assert r.error.peer == f"Participant[{liar}]", (m, r.error)
        assert "claim" in str(r.error)


async def test_a_chosen_index_outside_the_family_is_a_local_violation() -> None:
    from runtime.errors import LocalViolation

    async def member(ep: Endpoint) -> None:
        s = cl.start_participant(ep)
        s1 = await s.send_commit(cl.Commit(epoch=0, digest=cl.Bytes64.zero()))
        _, s2 = await s1.recv_commit()
        s3 = await s2.send_reveal(cl.Reveal(epoch=0, value=cl.Bytes32.zero(), nonce=cl.Bytes32.zero()))
        _, s4 = await s3.recv_reveal()
        await s4.do_draw_winner(lambda _: 9, {})

    with trio.fail_after(10):
        async with memory_session(cl.PROTOCOL, params={"N": 2}) as net:
            results = await net.run({"Participant[0]": member, "Participant[1]": member})
    for r in results.values():
        assert isinstance(r.error, LocalViolation) and "not the index of one of the 2 Participant members" in str(r.error)


@pytest.mark.parametrize("n", [2, 6])
async def test_tokens_go_round_the_ring_back_to_their_origin(n: int) -> None:
    await _ring(n, run_memory)


async def test_the_ring_over_memory_and_tcp(run_roles: Runner) -> None:
    await _ring(3, run_roles)


async def _ring(n: int, run_roles: Runner) -> None:
    def peer(ep: Endpoint) -> Awaitable[tuple[int, int, list[int]]]:
        async def run() -> tuple[int, int, list[int]]:
            me = ep.me.index
            assert me is not None
            token = tr.Token(origin=me, hops=0)
            seen: list[int] = []
            s = tr.start_peer(ep)
            while True:
                match await s.next():
                    case tr.Peer_S0_Iter(state=body):
                        s1 = await body.send_token(tr.Token(origin=token.origin, hops=token.hops + 1))
                        token, s = await s1.recv_token()
                        seen.append(token.origin)
                    case tr.Peer_S0_Done():
                        return token.origin, token.hops, seen
                    case other:
                        assert_never(other)

        return run()

    with trio.fail_after(20):
        results = await run_roles(tr.PROTOCOL, {f"Peer[{i}]": peer for i in range(n)}, params={"N": n})
    for i in range(n):
        r = results[f"Peer[{i}]"]
        assert r.error is None, r.error
        origin, hops, seen = r.value
        assert (origin, hops) == (i, n)
        # Each round brings the token of the member one further back on the ring.
        assert seen == [(i - k) % n for k in range(1, n + 1)]

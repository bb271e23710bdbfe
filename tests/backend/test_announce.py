"""A choice announced to a role outside the family (``choose ... announce to Aggregator``),
run in memory and over TCP through its generated API.

``protocols/examples/announced_choice.yaml``: the participants choose a coordinator and a
signing set, tell the aggregator both; it learns them (``learn_coordinator``,
``learn_signers``), asks the coordinator and collects the signers' shares. A member that
tells the aggregator another choice than the family agreed on is a RemoteViolation naming
it at the aggregator.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, assert_never

import pytest
import trio

from generated.examples import announced_choice as ac
from runtime.contract import Endpoint, Peer, Step
from runtime.errors import RemoteViolation
from runtime.genlib import CLAIM
from tests.runtime.harness import Runner, run_memory

RoleFn = Callable[[Any], Awaitable[Any]]


def coordinator_of(values: dict[int, int]) -> int:
    return sum(values.values()) % len(values)


def signers_of(t: int) -> Callable[[dict[int, int]], list[int]]:
    return lambda values: sorted(values, key=lambda i: ((values[i] * 31 + i) % 17, i))[:t]


class _LiesToOutsiders:
    """An endpoint that sends every claim meant for a single role (the announcement) with
    ``lie`` instead: the member is honest with its family and lies to the outsider."""

    def __init__(self, ep: Endpoint, lie: Callable[[object], object]) -> None:
        self._ep, self._lie = ep, lie

    def __getattr__(self, name: str) -> Any:
        return getattr(self._ep, name)

    async def send(self, to: Peer, label: str, payload: Any, encode: Callable[[Any], bytes], step: Step) -> None:
        if label == CLAIM and to.index is None:
            payload = self._lie(payload)
        await self._ep.send(to, label, payload, encode, step)


def participant(t: int, lie: Callable[[object], object] | None = None) -> RoleFn:
    async def run(real: Endpoint) -> str:
        ep: Any = real if lie is None else _LiesToOutsiders(real, lie)
        me = real.me.index
        assert me is not None
        value = 5 * me + 2
        s1 = await ac.start_participant(ep).send_commitment(ac.Commitment(value=value))
        got, s2 = await s1.recv_commitment()
        values = {i: c.value for i, c in got.items()} | {me: value}
        match await s2.do_pick_coordinator(coordinator_of, values):
            case ac.Participant_S2_Coordinator(state=coordinating):
                match await coordinating.do_pick_signers(signers_of(t), values):
                    case ac.Participant_S3_Signers(state=a):
                        _, b = await a.recv_ask()
                        c = await b.send_result(ac.Result(value=len(values)))
                        await c.send_share(ac.Share(value=me))
                        return "coordinator signer"
                    case ac.Participant_S3_NotSigners(state=a2):
                        _, b2 = await a2.recv_ask()
                        await b2.send_result(ac.Result(value=len(values)))
                        return "coordinator"
                    case unreachable_c:
                        assert_never(unreachable_c)
            case ac.Participant_S2_NotCoordinator(state=other):
                match await other.do_pick_signers(signers_of(t), values):
                    case ac.Participant_S9_Signers(state=a3):
                        await a3.send_share(ac.Share(value=me))
                        return "signer"
                    case ac.Participant_S9_NotSigners():
                        return "bystander"
                    case unreachable_o:
                        assert_never(unreachable_o)
            case unreachable:
                assert_never(unreachable)

    return run


async def aggregator(ep: Endpoint) -> tuple[int, tuple[int, ...], int, list[int]]:
    coordinator, s1 = await ac.start_aggregator(ep).learn_coordinator()
    signers, s2 = await s1.learn_signers()
    s3 = await s2.send_ask(ac.Ask())
    result, s4 = await s3.recv_result()
    shares, _ = await s4.recv_share()
    assert sorted(shares) == list(signers)
    return coordinator, signers, result.value, sorted(s.value for s in shares.values())


async def _session(n: int, t: int, run_roles: Runner, liar: tuple[int, Callable[[object], object]] | None = None) -> dict[str, Any]:
    roles: dict[str, RoleFn] = {"Aggregator": aggregator}
    for i in range(n):
        roles[f"Participant[{i}]"] = participant(t, liar[1] if liar and liar[0] == i else None)
    with trio.fail_after(20):
        return dict(await run_roles(ac.PROTOCOL, roles, params={"t": t}, families={"Participant": n}))


@pytest.mark.parametrize(("n", "t"), [(2, 1), (4, 3)])
async def test_the_aggregator_learns_the_choice_and_meets_the_chosen(n: int, t: int) -> None:
    _check(n, t, await _session(n, t, run_memory))


async def test_the_announcement_over_memory_and_tcp(run_roles: Runner) -> None:
    _check(3, 2, await _session(3, 2, run_roles))


def _check(n: int, t: int, results: dict[str, Any]) -> None:
    assert all(r.error is None for r in results.values()), results
    coordinator, signers, result, shares = results["Aggregator"].value
    values = {i: 5 * i + 2 for i in range(n)}
    assert coordinator == coordinator_of(values) and result == n
    assert signers == tuple(sorted(signers_of(t)(values))) and shares == list(signers)
    assert "coordinator" in results[f"Participant[{coordinator}]"].value


@pytest.mark.parametrize("what", ["index", "set"])
async def test_a_member_lying_to_the_outsider_is_named_by_it(what: str, run_roles: Runner) -> None:
    n, t, liar = 3, 2, 2

    def lie(claim: object) -> object:
        if what == "index" and isinstance(claim, int):
            return (claim + 1) % n
        if what == "set" and isinstance(claim, tuple):
            return tuple(i for i in range(n) if i not in claim)[:1] + claim[1:]
        return claim

    results = await _session(n, t, run_roles, (liar, lie))
    err = results["Aggregator"].error
    assert isinstance(err, RemoteViolation), results
    assert err.peer == f"Participant[{liar}]" and "a claim of Participant" in str(err)

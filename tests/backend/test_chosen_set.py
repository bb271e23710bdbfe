"""A set of members chosen at run time (``choose Signers[t] from Participant[*] by
PickSigners(Commitment)``), run in memory and over TCP through its generated API.

``protocols/examples/signing_set.yaml``: the members exchange commitments, choose a
coordinator and a signing set of t members from them, the coordinator asks the signers for
shares, the signers tell every other member they signed. A member that claims another set
is a RemoteViolation naming it; a step that outputs a wrong set is a LocalViolation.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, assert_never

import pytest
import trio

from generated.examples import signing_set as ss
from runtime.contract import Endpoint
from runtime.errors import LocalViolation, RemoteViolation
from tests.runtime.harness import Runner, run_memory

RoleFn = Callable[[Any], Awaitable[Any]]


def coordinator_of(n: int) -> Callable[[dict[int, int]], int]:
    return lambda values: sum(values.values()) % n


def signers_of(t: int) -> Callable[[dict[int, int]], list[int]]:
    """The t members whose commitment mixed with their index ranks lowest."""
    return lambda values: sorted(values, key=lambda i: ((values[i] * 7919 + i) % 101, i))[:t]


def participant(n: int, t: int, pick: Callable[[dict[int, int]], list[int]] | None = None) -> RoleFn:
    async def run(ep: Endpoint) -> tuple[bool, tuple[int, ...], str]:
        me = ep.me.index
        assert me is not None
        value = 11 * me + 3
        s1 = await ss.start_participant(ep).send_commitment(ss.Commitment(value=value))
        got, s2 = await s1.recv_commitment()
        values = {i: c.value for i, c in got.items()} | {me: value}
        choose = pick or signers_of(t)
        match await s2.do_pick_coordinator(coordinator_of(n), values):
            case ss.Participant_S2_Coordinator(state=coordinating):
                match await coordinating.do_pick_signers(choose, values):
                    case ss.Participant_S3_Signers(members=members, state=a):
                        b = await a.send_request(ss.Request(msg=b"m"))
                        shares, c = await b.recv_share()
                        assert sorted(shares) == [i for i in members if i != me]
                        d = await c.send_signed(ss.Signed())
                        signed, e = await d.recv_signed()
                        assert sorted(signed) == [i for i in members if i != me]
                        f = await e.send_ready(ss.Ready())
                        ready, g = await f.recv_ready()
                        assert len(ready) == n - 1
                        await g.do_verify(lambda v: v > 0, len(shares) + 1)
                        return True, members, "coordinator signer"
                    case ss.Participant_S3_NotSigners(members=members, state=a2):
                        b2 = await a2.send_request(ss.Request(msg=b"m"))
                        shares, c2 = await b2.recv_share()
                        assert sorted(shares) == list(members)
                        _, d2 = await c2.recv_signed()
                        await d2.send_ready(ss.Ready())
                        return True, members, "coordinator"
                    case unreachable_c:
                        assert_never(unreachable_c)
            case ss.Participant_S2_NotCoordinator(index=coordinator, state=other):
                match await other.do_pick_signers(choose, values):
                    case ss.Participant_S15_Signers(members=members, state=a3):
                        req, b3 = await a3.recv_request()
                        assert req.msg == b"m"
                        c3 = await b3.send_share(ss.Share(value=me))
                        d3 = await c3.send_signed(ss.Signed())
                        _, e3 = await d3.recv_signed()
                        f3 = await e3.send_ready(ss.Ready())
                        _, g3 = await f3.recv_ready()
                        await g3.do_verify(lambda v: v >= 0, coordinator)
                        return False, members, "signer"
                    case ss.Participant_S15_NotSigners(members=members, state=a4):
                        _, b4 = await a4.recv_signed()
                        await b4.send_ready(ss.Ready())
                        return False, members, "bystander"
                    case unreachable_o:
                        assert_never(unreachable_o)
            case unreachable:
                assert_never(unreachable)

    return run


async def _session(n: int, t: int, run_roles: Runner, programs: dict[int, RoleFn] | None = None) -> dict[str, Any]:
    roles = {f"Participant[{i}]": (programs or {}).get(i) or participant(n, t) for i in range(n)}
    with trio.fail_after(20):
        return dict(await run_roles(ss.PROTOCOL, roles, params={"N": n, "t": t}))


@pytest.mark.parametrize(("n", "t"), [(3, 1), (5, 3), (4, 4)])
async def test_every_member_agrees_on_the_set_and_its_side(n: int, t: int) -> None:
    _check(n, t, await _session(n, t, run_memory))


async def test_the_signing_set_over_memory_and_tcp(run_roles: Runner) -> None:
    _check(4, 2, await _session(4, 2, run_roles))


def _check(n: int, t: int, results: dict[str, Any]) -> None:
    assert all(r.error is None for r in results.values()), results
    values = {int(m.split("[")[1].rstrip("]")): r.value for m, r in results.items()}
    sets = {members for _, members, _ in values.values()}
    assert len(sets) == 1
    (members,) = sets
    assert len(members) == t and list(members) == sorted(members)
    assert members == tuple(sorted(signers_of(t)({i: 11 * i + 3 for i in range(n)})))
    assert sum(coord for coord, _, _ in values.values()) == 1
    for i, (coord, _, kind) in values.items():
        assert ("signer" in kind) == (i in members) and ("coordinator" in kind) == coord, (i, kind)


async def test_a_member_claiming_another_set_is_named_by_every_honest_member(run_roles: Runner) -> None:
    n, t, liar = 4, 2, 1

    def lie(values: dict[int, int]) -> list[int]:
        honest = signers_of(t)(values)
        return [*honest[:-1], next(i for i in range(n) if i not in honest)]

    results = await _session(n, t, run_roles, {liar: participant(n, t, lie)})
    for m, r in results.items():
        if m == f"Participant[{liar}]":
            assert r.error is not None
            continue
        assert isinstance(r.error, RemoteViolation), (m, r.error)
        assert r.error.peer == f"Participant[{liar}]", (m, r.error)
        assert "a claim of Participant[" in str(r.error)


@pytest.mark.parametrize(
    ("bad", "why"),
    [([0, 0], "duplicates"), ([0, 7], "out of range"), ([0], "too few"), ([0, 1, 2], "too many")],
)
async def test_a_wrong_set_is_a_local_violation_at_the_member_that_computed_it(bad: list[int], why: str) -> None:
    n, t, wrong = 3, 2, 2
    results = await _session(n, t, run_memory, {wrong: participant(n, t, lambda _: bad)})
    err = results[f"Participant[{wrong}]"].error
    assert isinstance(err, LocalViolation), (why, err)
    assert f"not {t} distinct indices of the {n} Participant members" in str(err)



def test_a_set_claim_round_trips_and_a_malformed_one_does_not_decode() -> None:
    """What a member claims is a uvarint count and the indices; a frame that lies about its
    count or carries trailing bytes fails to decode (the endpoint then names its sender)."""
    from runtime.errors import DecodeError
    from runtime.genlib import _dec_set, _enc_set

    assert _dec_set(_enc_set((0, 3, 300))) == (0, 3, 300)
    for bad in (b"\x05\x01", b"\xff\xff\xff\xff\x0f", _enc_set((1, 2)) + b"\x00"):
        with pytest.raises((DecodeError, ValueError)):
            _dec_set(bad)

"""Role families on both transports: the generated Gather roles (protocols/examples/gather.yaml)
with a runtime-sized ``Worker[*]`` family, a ``Worker[0..t]`` collection and all-to-all gossip.

Over TCP every member is its own endpoint with its own link keys and address, as separate
processes would be; the memory transport runs the same role programs.
"""

from __future__ import annotations

from typing import assert_never

import pytest
import trio

from generated.examples import gather as g
from runtime.contract import Endpoint
from runtime.errors import PeerGone
from tests.runtime.harness import RoleFn, Runner

WORKERS = 4
T = 2


async def coord(ep: Endpoint) -> int:
    s = g.start_coord(ep)
    s1 = await s.send_job_each(lambda i: g.Job(data=bytes(range(i + 1))))
    parts, s2 = await s1.recv_part()
    assert sorted(parts) == list(range(T))  # exactly Worker[0..t], keyed by member index
    total = sum(p.value for p in parts.values())
    await s2.send_result(g.Result(total=total))
    return total


async def worker(ep: Endpoint) -> tuple[int, dict[int, int], int]:
    s = g.start_worker(ep)
    job, s1 = await s.recv_job()
    match await s1.participation():
        case g.Worker_S1_Takes(state=taking):
            s2 = await taking.send_part(g.Part(value=len(job.data)))
        case g.Worker_S1_Skips(state=s2):
            pass
        case other:
            assert_never(other)
    me = ep.me.index
    assert me is not None
    s3 = await s2.send_gossip(g.Gossip(seen=10 * me))
    gossip, s4 = await s3.recv_gossip()
    result, _end = await s4.recv_result()
    return len(job.data), {i: m.seen for i, m in gossip.items()}, result.total


def roles() -> dict[str, RoleFn]:
    out: dict[str, RoleFn] = {"Coord": coord}
    out.update({f"Worker[{i}]": worker for i in range(WORKERS)})
    return out


async def test_family_collection_and_all_to_all(run_roles: Runner) -> None:
    with trio.fail_after(60):
        results = await run_roles(
            g.PROTOCOL, roles(), params={"t": T}, families={"Worker": WORKERS}
        )
    values = {name: r.unwrap() for name, r in results.items()}
    # Members 0 and 1 sent len(job) = 1 and 2; members 2 and 3 skipped the collection.
    assert values["Coord"] == 3
    for i in range(WORKERS):
        job_len, gossip, total = values[f"Worker[{i}]"]
        assert job_len == i + 1  # send_job_each delivered each member its own message
        assert gossip == {j: 10 * j for j in range(WORKERS) if j != i}
        assert total == 3


@pytest.mark.parametrize("missing", [0, 3])
async def test_missing_member_is_reported(run_roles: Runner, missing: int) -> None:
    async def silent(ep: Endpoint) -> None:
        raise RuntimeError("member crashed before the protocol started")

    table = roles()
    table[f"Worker[{missing}]"] = silent
    with trio.fail_after(60):
        results = await run_roles(
            g.PROTOCOL, table, params={"t": T}, families={"Worker": WORKERS}, timeout=2.0
        )
    gone = f"Worker[{missing}]"
    assert isinstance(results[gone].error, RuntimeError)
    # Every member waits for the crashed one's gossip: each gets PeerGone naming it, within the
    # deadline, instead of hanging.
    for i in range(WORKERS):
        if i != missing:
            err = results[f"Worker[{i}]"].error
            assert isinstance(err, PeerGone) and gone in str(err)
    # The coordinator only receives from Worker[0..t]. If the crashed member was one of those,
    # it must fail with PeerGone; otherwise it finishes, unless its last send already found the
    # link closed (a send to a gone peer raises PeerGone only once the loss is known).
    coord = results["Coord"]
    if missing < T or coord.error is not None:
        assert isinstance(coord.error, PeerGone) and gone in str(coord.error)
    else:
        assert coord.value == 3

"""The generator's own ping-pong module over both transports (when generated/ exists)."""

from __future__ import annotations

import pytest
import trio

from runtime.endpoint import SessionEndpoint
from tests.runtime.harness import Runner

gen = pytest.importorskip("generated.examples.ping_pong")


async def client(ep: SessionEndpoint) -> int:
    s = gen.start_client(ep)
    total = 0
    for i in range(50):
        s1 = await s.select_continue()
        s2 = await s1.send_ping(gen.Ping(seq=i))
        pong, s = await s2.recv_pong()
        total += pong.seq
    await s.select_exit()
    return total


async def server(ep: SessionEndpoint) -> int:
    s = gen.start_server(ep)
    n = 0
    while True:
        branch = await s.offer()
        if isinstance(branch, gen.Server_S0_Exit):
            return n
        ping, s2 = await branch.state.recv_ping()
        s = await s2.send_pong(gen.Pong(seq=ping.seq))
        n += 1


async def test_generated_ping_pong(run_roles: Runner) -> None:
    with trio.fail_after(20):
        res = await run_roles(gen.PROTOCOL, {"Client": client, "Server": server})
    assert res["Client"].unwrap() == sum(range(50))
    assert res["Server"].unwrap() == 50

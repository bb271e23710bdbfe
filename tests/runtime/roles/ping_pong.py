"""Role programs over the generated PingPong module (protocols/ping_pong.yaml), shared by the
runtime tests and ``minuet run`` examples; plus the module internals the fuzz and extension
tests poke at directly."""

from __future__ import annotations

from typing import Final

from generated.examples import ping_pong as _g
from generated.examples.ping_pong import PROTOCOL, Ping, Pong, start_client, start_server
from runtime.contract import Endpoint, Step
from runtime.genlib import dec_ctl as _dec_ctl

__all__ = ["PROTOCOL", "STEP_PING", "Ping", "Pong", "_dec_Ping", "_dec_ctl", "client", "server",
           "start_client", "start_server"]

STEP_PING: Final[Step] = _g._STEP_Client_1  # the client's send of Ping
_dec_Ping = _g._dec_Ping


async def client(ep: Endpoint, rounds: int = 10) -> int:
    s = start_client(ep)
    total = 0
    for i in range(rounds):
        s1 = await s.select_continue()
        s2 = await s1.send_ping(Ping(seq=i))
        pong, s = await s2.recv_pong()
        total += pong.seq
    await s.select_exit()
    return total


async def server(ep: Endpoint) -> int:
    s = start_server(ep)
    n = 0
    while True:
        branch = await s.offer()
        if isinstance(branch, _g.Server_S0_Exit):
            return n
        ping, s2 = await branch.state.recv_ping()
        s = await s2.send_pong(Pong(seq=ping.seq))
        n += 1


async def lazy(ep: Endpoint) -> str:
    """Returns without taking a single step (tests of a role that stops short)."""
    return "did nothing"

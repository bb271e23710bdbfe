"""libp2p transport against the TCP mesh: ``python -m bench.p2p`` (needs ``minuet[p2p]``).

Ping-pong round trips (``generated.examples.ping_pong``, three messages a round, as in
``bench.runtime``) over ``p2p_session`` against ``tcp_session`` in the same run, and the set-up
time of a session (entering the context manager until the endpoint is ready: for p2p that
includes starting both libp2p hosts and the libp2p dial, for TCP the listeners and the
dial). Medians of interleaved repetitions (``bench.harness``), each in a fresh ``trio.run``.
"""

from __future__ import annotations

import json
import logging
import tempfile
import time
from pathlib import Path
from typing import Any

import trio

from bench import harness
from bench.runtime import ours_tcp, pp_client, pp_server
from generated.examples import ping_pong as pp
from runtime.config import NetConfig, load_config
from runtime.keytool import bound_local_network, local_network
from runtime.p2p import p2p_session
from runtime.tcp import tcp_session

ROUNDS = 300
REPEATS = harness.MIN_REPS


def _net(tmp: Path, bound: bool = False) -> tuple[NetConfig, dict[str, Any]]:
    d = tmp / f"n{time.monotonic_ns()}"
    if bound:
        path, sockets = bound_local_network(d, ["Client", "Server"], timeout=60, linger=2)
        return load_config(path), dict(sockets)
    return load_config(local_network(d, ["Client", "Server"], timeout=60, linger=2)), {}


async def ours_p2p(n: int, tmp: Path) -> float:
    cfg, _ = _net(tmp)
    rates: dict[str, float] = {}

    async def role(name: str) -> None:
        async with p2p_session(pp.PROTOCOL, cfg, name) as ep:
            t = time.perf_counter()
            if name == "Client":
                await pp_client(ep, n)
            else:
                assert await pp_server(ep) == n
            rates[name] = n / (time.perf_counter() - t)

    async with trio.open_nursery() as nursery:
        nursery.start_soon(role, "Client")
        nursery.start_soon(role, "Server")
    return rates["Client"]


async def setup_time(tmp: Path, transport: str) -> float:
    """Seconds until both members hold a ready endpoint (then they run one round)."""
    cfg, sockets = _net(tmp, bound=transport == "tcp")
    ready: list[float] = []
    t = time.perf_counter()

    async def role(name: str) -> None:
        session: Any = (tcp_session(pp.PROTOCOL, cfg, name, listener=sockets[name])
                        if transport == "tcp" else p2p_session(pp.PROTOCOL, cfg, name))
        async with session as ep:
            ready.append(time.perf_counter() - t)
            if name == "Client":
                await pp_client(ep, 1)
            else:
                await pp_server(ep)

    async with trio.open_nursery() as nursery:
        nursery.start_soon(role, "Client")
        nursery.start_soon(role, "Server")
    return max(ready)


def main() -> dict[str, Any]:
    logging.getLogger("libp2p").setLevel(logging.CRITICAL)
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        runs = harness.interleave(
            {"tcp": lambda: trio.run(ours_tcp, ROUNDS, tmp),
             "p2p": lambda: trio.run(ours_p2p, ROUNDS, tmp)},
            REPEATS, unit="round trips/s",
        )
        setup = harness.interleave(
            {"tcp": lambda: trio.run(setup_time, tmp, "tcp"),
             "p2p": lambda: trio.run(setup_time, tmp, "p2p")},
            REPEATS,
        )
    rate_ratio = harness.ratio(runs["p2p"], runs["tcp"])
    setup_ms = {k: s.scaled(1e3, "ms") for k, s in setup.items()}
    print(f"p2p ping-pong     TCP mesh, secure   : {runs['tcp'].show('.0f')}")
    print(f"p2p ping-pong     libp2p (yamux+Noise), Minuet link inside: {runs['p2p'].show('.0f')}")
    print(f"  ratio to the TCP mesh {rate_ratio.show('.2f')}")
    print(f"p2p session set-up TCP mesh          : {setup_ms['tcp'].show('.1f')}")
    print(f"p2p session set-up libp2p (2 hosts)  : {setup_ms['p2p'].show('.1f')}")
    return {
        "bench": "p2p",
        "machine": harness.machine(),
        "rounds": ROUNDS,
        "messages_per_round": 3,
        "rates": harness.to_json(runs, 1),
        "p2p_vs_tcp_ratio": rate_ratio.to_json(3),
        "setup_ms": harness.to_json(setup_ms, 2),
    }


if __name__ == "__main__":
    print(json.dumps(main()))

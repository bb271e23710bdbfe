"""Multiparty benchmarks: ``python -m bench.multiparty [--scale]`` (part of ``make bench``).

What the threshold protocols do is not ping-pong: every lottery and DKG step is all-to-all
over a ``Peer[*]`` family, with journal facts. Measured in memory, in the same run and
interleaved (``bench.harness``), against ping-pong through generated code:

* lottery (commit, then reveal, every peer to every other: 2N(N-1) messages) with
  N = 3, 10, 30: CPU time per message of whole sessions (open, run, close). The role code
  (two SHA-256 commitments per peer, N reveals checked) is included, so this is an upper
  bound of the runtime's own cost; ratio to ping-pong's time per message;
* DKG 3-of-5 through ``examples.dkg_ceremony`` (sealed shares): per message, the session
  time minus the same DKG's crypto run over bytes without any runtime (the sealing of the
  shares stays in, so again an upper bound);
* the same all-to-all without the lottery's role code (``bare_N``: fixed messages through
  the generated states, nothing committed or checked): the runtime and generated code alone;
* a three-peer session's fixed cost: open, run three role functions that close at once,
  close (no message), beside trio alone doing the same nurseries and tasks (its floor);
* ``--scale``: lottery N = 100 and DKG n = 20 (every member a task), time per session and
  the growth against N = 30 / n = 5 beside the growth of the message count.

Message counts come from one untimed run with a counting middleware. Prints human-readable
lines, then a JSON line with every repetition.
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable
from functools import partial
from typing import Any

import trio

from bench import harness
from bench.runtime import ours_memory
from examples import dkg_ceremony, lottery_election
from generated.threshold import dkg as gdkg
from generated.threshold import lottery as glt
from runtime.contract import Endpoint
from runtime.crypto import dkg
from runtime.crypto.rand import DeterministicRandom
from runtime.memory import RoleFn, memory_session
from runtime.middleware import Event, Middleware

# The process's CPU time, not the wall clock: everything measured here runs in this one
# process (both ends of every session), so this is the work done, and the time the OS
# gives other processes on a shared machine does not count as ours.
clock = time.process_time

LOTTERY_SIZES = (3, 10, 30)
# Sessions per measurement: each measurement lasts roughly as long as the others.
LOTTERY_SESSIONS = {3: 30, 10: 4, 30: 1, 100: 1}
DKG_SESSIONS = 3
PP_ROUNDS = 1000
EMPTY_SESSIONS = 200


class _Count(Middleware):
    def __init__(self) -> None:
        self.sent = 0

    def on_event(self, ev: Event) -> None:
        if ev.direction == "send":
            self.sent += 1


def _lottery_roles(n: int) -> dict[str, RoleFn]:
    async def peer(ep: Endpoint) -> int:
        return await lottery_election.elect(ep, b"bench-lottery", 0)

    return {f"Peer[{i}]": peer for i in range(n)}


_BARE_COMMIT = glt.Commit(epoch=0, digest=glt.Bytes64(bytes(64)))
_BARE_REVEAL = glt.Reveal(epoch=0, value=glt.Bytes32(bytes(32)), nonce=glt.Bytes32(bytes(32)))


def _bare_roles(n: int) -> dict[str, RoleFn]:
    """The lottery's messages through the same generated states, without its role code
    (no commitments made or checked): what the runtime and generated code alone cost."""

    async def peer(ep: Endpoint) -> None:
        s1 = await glt.start_peer(ep).send_commit(_BARE_COMMIT)
        _commits, s2 = await s1.recv_commit()
        s3 = await s2.send_reveal(_BARE_REVEAL)
        await s3.recv_reveal()

    return {f"Peer[{i}]": peer for i in range(n)}


def _dkg_roles(t: int, n: int) -> dict[str, RoleFn]:
    return dkg_ceremony.programs(t, n, b"minuet/dkg/bench", DeterministicRandom(f"bench-{t}-{n}"))


async def _sessions(
    count: int, open_: Callable[[list[Any]], Any], roles: Callable[[], dict[str, RoleFn]]
) -> None:
    for _ in range(count):
        async with open_([]) as net:
            results = await net.run(roles())
        bad = [f"{k}: {r.error!r}" for k, r in results.items() if r.error is not None]
        assert not bad, bad[:3]


def _lottery_session(n: int) -> Callable[[list[Any]], Any]:
    return lambda mw: memory_session(glt.PROTOCOL, families={"Peer": n}, timeout=120, middleware=mw)


def _dkg_session(t: int, n: int) -> Callable[[list[Any]], Any]:
    return lambda mw: memory_session(
        gdkg.PROTOCOL, params={"t": t}, families={"Participant": n}, timeout=120, middleware=mw
    )


def per_session(count: int, open_: Callable[[list[Any]], Any], roles: Callable[[], dict[str, RoleFn]]) -> float:
    """Seconds per session, ``count`` sessions one after another in one trio run."""
    t0 = clock()
    trio.run(_sessions, count, open_, roles)
    return (clock() - t0) / count


def messages(open_: Callable[[list[Any]], Any], roles: Callable[[], dict[str, RoleFn]]) -> int:
    counter = _Count()

    async def once() -> None:
        async with open_([counter]) as net:
            await net.run(roles())

    trio.run(once)
    return counter.sent


def lottery_session(n: int) -> None:
    """One lottery session of ``n`` members (``harness.peak_memory`` calls it in a child)."""
    per_session(1, _lottery_session(n), partial(_lottery_roles, n))


def dkg_session(t: int, n: int) -> None:
    """One DKG t-of-n session, as ``lottery_session``."""
    per_session(1, _dkg_session(t, n), partial(_dkg_roles, t, n))


def dkg_crypto(t: int, n: int) -> float:
    """Seconds for the DKG's own crypto, every party, over bytes, no runtime."""
    rng = DeterministicRandom("bench-dkg-crypto")
    t0 = clock()
    ids = range(1, n + 1)
    r1 = {i: dkg.part1(i, t, n, rng) for i in ids}
    wire1 = {i: r1[i][1].to_bytes() for i in ids}
    received1 = {i: {j: dkg.Round1Package.from_bytes(wire1[j], j) for j in ids if j != i} for i in ids}
    r2 = {i: dkg.part2(r1[i][0], received1[i]) for i in ids}
    for i in ids:
        dkg.part3(r2[i][0], received1[i], {j: r2[j][1][i] for j in ids if j != i})
    return clock() - t0


def empty_session() -> float:
    """Seconds for one three-peer session that exchanges nothing: open, run, close."""

    async def nothing(ep: Endpoint) -> None:
        await ep.close()

    async def many() -> None:
        for _ in range(EMPTY_SESSIONS):
            async with memory_session(glt.PROTOCOL, families={"Peer": 3}) as net:
                await net.run({f"Peer[{i}]": nothing for i in range(3)})

    t0 = clock()
    trio.run(many)
    return (clock() - t0) / EMPTY_SESSIONS


def trio_floor() -> float:
    """Seconds for what trio alone does in an empty session: the session's nursery with
    the deadline watchdog's task, the run's nursery with three tasks that return at once."""

    async def nothing() -> None:
        return None

    async def many() -> None:
        for _ in range(EMPTY_SESSIONS):
            async with trio.open_nursery() as outer:
                outer.start_soon(trio.sleep_forever)
                async with trio.open_nursery() as inner:
                    for _ in range(3):
                        inner.start_soon(nothing)
                outer.cancel_scope.cancel()

    t0 = clock()
    trio.run(many)
    return (clock() - t0) / EMPTY_SESSIONS


def pingpong_message() -> float:
    """Seconds per message of in-memory ping-pong through generated code (3 a round)."""
    return 1 / (trio.run(ours_memory, PP_ROUNDS, False) * 3)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    ap = argparse.ArgumentParser(prog="python -m bench.multiparty")
    ap.add_argument("--scale", action="store_true", help="also lottery N = 100 and DKG n = 20")
    ap.add_argument("--reps", type=int, default=harness.MIN_REPS)
    args = ap.parse_args(argv)
    lsizes = (*LOTTERY_SIZES, 100) if args.scale else LOTTERY_SIZES
    dkg_sizes = ((3, 5), (11, 20)) if args.scale else ((3, 5),)
    counts: dict[str, int] = {}
    fns: dict[str, Callable[[], float]] = {
        "pingpong": pingpong_message, "empty3": empty_session, "trio_floor": trio_floor,
    }
    for n in lsizes:
        open_, roles = _lottery_session(n), partial(_lottery_roles, n)
        counts[f"lottery_{n}"] = messages(open_, roles)
        fns[f"lottery_{n}"] = partial(per_session, LOTTERY_SESSIONS[n], open_, roles)
        fns[f"bare_{n}"] = partial(per_session, LOTTERY_SESSIONS[n], open_, partial(_bare_roles, n))
    for t, n in dkg_sizes:
        open_, roles = _dkg_session(t, n), partial(_dkg_roles, t, n)
        counts[f"dkg_{n}"] = messages(open_, roles)
        fns[f"dkg_{n}"] = partial(per_session, DKG_SESSIONS if n < 10 else 1, open_, roles)
        fns[f"dkg_{n}_crypto"] = partial(dkg_crypto, t, n)
    runs = harness.interleave(fns, args.reps)
    pp = runs["pingpong"].scaled(1e6, "us")
    print(f"machine: {harness.machine()}")
    print(f"ping-pong in memory (generated code, encoded): {pp.show('.1f')} per message")
    out: dict[str, Any] = {"bench": "multiparty", "machine": harness.machine(), "messages": counts,
                           "runs": harness.to_json(runs), "per_message_us": {}, "ratio_to_pingpong": {}}
    for key, count in ((k, counts[f"lottery_{n}"]) for n in lsizes for k in (f"lottery_{n}", f"bare_{n}")):
        per_msg = runs[key].scaled(1e6 / count, "us")
        ratio = harness.ratio(per_msg, pp)
        out["per_message_us"][key] = per_msg.to_json(2)
        out["ratio_to_pingpong"][key] = ratio.to_json(3)
        print(f"{key:<11} {count:>6} messages: session {runs[key].scaled(1e3, 'ms').show('.2f')}\n"
              f"            per message {per_msg.show('.1f')}; ratio to ping-pong {ratio.show('.2f')} "
              "(goal <= 1.3x)")
    for _t, n in dkg_sizes:
        key = f"dkg_{n}"
        runtime_only = harness.Series(tuple(
            (s - c) * 1e6 / counts[key]
            for s, c in zip(runs[key].samples, runs[f"{key}_crypto"].samples, strict=True)
        ), "us")
        ratio = harness.ratio(runtime_only, pp)
        out["per_message_us"][key] = runtime_only.to_json(2)
        out["ratio_to_pingpong"][key] = ratio.to_json(3)
        print(f"{key:<11} {counts[key]:>6} messages: session {runs[key].scaled(1e3, 'ms').show('.1f')}, "
              f"of which DKG crypto {runs[key + '_crypto'].scaled(1e3, 'ms').show('.1f')}\n"
              f"            the rest per message {runtime_only.show('.1f')}; ratio to ping-pong "
              f"{ratio.show('.2f')}")
    empty = runs["empty3"].scaled(1e3, "ms")
    print(f"three-peer session, no message (open, run, close): {empty.show('.3f')} (goal <= 0.3 ms)")
    out["empty_three_peer_session_ms"] = empty.to_json(4)
    floor = runs["trio_floor"].scaled(1e3, "ms")
    print(f"  trio alone, same nurseries and tasks: {floor.show('.3f')}; "
          f"session / trio {harness.ratio(empty, floor).show('.2f')}")
    out["trio_floor_ms"] = floor.to_json(4)
    out["peak_memory"] = {}
    for n in lsizes:
        peak = harness.peak_memory("bench.multiparty:lottery_session", n)
        print(f"lottery_{n:<4} one session in a fresh process: {peak.show()}")
        out["peak_memory"][f"lottery_{n}"] = peak.to_json()
    for t, n in dkg_sizes:
        peak = harness.peak_memory("bench.multiparty:dkg_session", t, n)
        print(f"dkg_{n:<8} one session in a fresh process: {peak.show()}")
        out["peak_memory"][f"dkg_{n}"] = peak.to_json()
    if args.scale:
        for small, big in (("lottery_30", "lottery_100"), ("dkg_5", "dkg_20")):
            g = harness.ratio(runs[big], runs[small])
            m = counts[big] / counts[small]
            print(f"growth {small} -> {big}: messages x{m:.1f}, time per session {g.show('.1f')}")
            out[f"growth_{small}_{big}"] = {"messages": round(m, 2), "time": g.to_json(2)}
    return out


if __name__ == "__main__":
    print(json.dumps(main()))

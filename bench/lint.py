"""Lint benchmark: ``minuet lint`` (codegen.analysis.lint.lint_source) on synthetic user programs that
drive 500 and 5,000 states.

Run ``python -m bench.lint`` (``--reps 7``). A program is made of role functions of 50 states
each, in the styles role code uses: one name rebound through every step, receives into
tuples, ``match`` over ``offer()`` with ``assert_never``, counted loops, ``isinstance``
dispatch, helpers annotated to return states, closures in a nursery. Timings are the median
of interleaved repetitions (``bench.harness``), with min and max; the baseline in the same run is ``ast.parse`` of the same source
(the lint parses too), so ``lint / parse`` is comparable across machines. Prints one line per
size, the growth per 10x, and a final JSON line. Goal: linear, i.e. ~10x per 10x states.
"""

from __future__ import annotations

import argparse
import ast
import json
import sys
import time
from collections.abc import Callable
from functools import partial

from bench import harness
from codegen.analysis.lint import lint_source
from codegen.core.gc import gc_paused

STATES_PER_FUNCTION = 50

HEADER = """\
from typing import assert_never

import trio

from generated.examples.ping_pong import (
    Client_S0, Client_S1, Client_S2, Ping, Server_S0, Server_S0_Continue, Server_S0_Exit,
)

"""


def _function(k: int) -> str:
    """One role function and its helper; together they use STATES_PER_FUNCTION states."""
    lines = [
        f"async def enter_{k}(s: Client_S0) -> Client_S1:",
        "    return await s.select_continue()",
        "",
        "",
        f"async def role_{k}(s: Client_S0, srv: Server_S0, n: int) -> None:",
    ]
    used = 0
    step = 0
    while used < STATES_PER_FUNCTION - 8:
        match step % 4:
            case 0:  # straight line, one name rebound
                lines += [
                    "    s1 = await s.select_continue()",
                    f"    s2 = await s1.send_ping(Ping(seq={step}))",
                    "    _pong, s = await s2.recv_pong()",
                ]
                used += 3
            case 1:  # helper returning a state, then a loop that rebinds
                lines += [
                    f"    t = await enter_{k}(s)",
                    f"    t2 = await t.send_ping(Ping(seq={step}))",
                    "    _pong, s = await t2.recv_pong()",
                    "    for i in range(n):",
                    "        s = await s.select_continue()",
                    "        s = await s.send_ping(Ping(seq=i))",
                    "        _pong, s = await s.recv_pong()",
                ]
                used += 6
            case 2:  # match over offer() with assert_never
                lines += [
                    "    match await srv.offer():",
                    "        case Server_S0_Continue(state=body):",
                    "            ping, b2 = await body.recv_ping()",
                    "            srv = await b2.send_pong(ping)",
                    "        case Server_S0_Exit(state=end):",
                    "            print(end)",
                    "            return",
                    "        case other:",
                    "            assert_never(other)",
                ]
                used += 4
            case 3:  # isinstance dispatch, and a closure run in a nursery
                lines += [
                    "    r = await srv.offer()",
                    "    if isinstance(r, Server_S0_Continue):",
                    "        ping, b3 = await r.state.recv_ping()",
                    "        srv = await b3.send_pong(ping)",
                    "    elif isinstance(r, Server_S0_Exit):",
                    "        return",
                    "    else:",
                    "        assert_never(r)",
                    "    c1 = await s.select_continue()",
                    "",
                    "    async def ping_once() -> Client_S2:",
                    f"        return await c1.send_ping(Ping(seq={step}))",
                    "",
                    "    async with trio.open_nursery() as nursery:",
                    "        nursery.start_soon(trio.sleep, 0)",
                    "    _pong, s = await (await ping_once()).recv_pong()",
                ]
                used += 5
        step += 1
    lines += ["    await s.select_exit()", "    await srv.offer()", "", ""]
    return "\n".join(lines)


def program(states: int) -> str:
    functions = max(1, states // STATES_PER_FUNCTION)
    return HEADER + "".join(_function(k) for k in range(functions))


def _time(fn: Callable[..., object], *args: object) -> float:
    start = time.perf_counter()
    fn(*args)
    return time.perf_counter() - start


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="500,5000", help="states per program")
    ap.add_argument("--reps", type=int, default=harness.MIN_REPS)
    args = ap.parse_args(argv)
    sizes = [int(s) for s in args.sizes.split(",")]
    sources = {n: program(n) for n in sizes}
    for n, src in sources.items():  # the programs are correct role code: no finding
        found = lint_source(src, f"bench_{n}.py")
        if found:
            print(found[0].headline(), file=sys.stderr)
            return 1
    def parse_once(src: str) -> float:
        with gc_paused():  # as lint_source parses
            return _time(ast.parse, src)

    fns: dict[str, Callable[[], float]] = {}
    for n in sizes:  # interleaved: machine noise hits every size alike
        fns[f"parse_{n}"] = partial(parse_once, sources[n])
        fns[f"lint_{n}"] = partial(_time, lint_source, sources[n], "bench.py")
    runs = harness.interleave(fns, args.reps)
    result: dict[str, object] = {"reps": args.reps, "machine": harness.machine(),
                                 "runs": harness.to_json(runs)}
    prev: tuple[int, float] | None = None
    for n in sizes:
        lint, over = runs[f"lint_{n}"], harness.ratio(runs[f"lint_{n}"], runs[f"parse_{n}"])
        t_lint = lint.median
        growth = ""
        if prev is not None:
            factor = (t_lint / prev[1]) / (n / prev[0]) * 10
            growth = f"  growth per 10x states: {factor:.1f}x"
            result[f"growth_per_10x_{n}"] = round(factor, 2)
        print(
            f"lint {n:>6} states ({len(sources[n].splitlines())} lines): "
            f"{lint.scaled(1e3, 'ms').show('.1f')}  ({t_lint / n * 1e6:.1f} us/state, "
            f"{over.median:.1f}x ast.parse){growth}"
        )
        result[f"lint_ms_{n}"] = round(t_lint * 1e3, 2)
        result[f"lint_over_parse_{n}"] = over.to_json(2)
        prev = (n, t_lint)
    print(json.dumps(result, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Runtime benchmarks: ``python -m bench.runtime``.

Ping-pong round trips through the generated state classes of ``protocols/ping_pong.yaml``
(``generated.examples.ping_pong``) against raw trio doing the same exchange in the same run. One round trip of the PingPong protocol is
three messages (the decided loop's continue control, Ping, Pong); the raw baselines send
the same three messages, so ratios compare equal work. Medians of interleaved repetitions
(``bench.harness``) of the process's CPU time, each in a fresh ``trio.run``; then the peak
memory of one encoded ping-pong session in a fresh process (``harness.peak_memory``).
"""

from __future__ import annotations

import json
import tempfile
import time
from pathlib import Path
from typing import Any

import trio

from bench import harness
from generated.examples import ping_pong as pp
from runtime.codec import Reader, Writer
from runtime.config import load_config
from runtime.contract import Endpoint
from runtime.framing import FrameBuffer, decode_body, encode_body, length_prefix
from runtime.keytool import bound_local_network
from runtime.memory import memory_session
from runtime.tcp import read_frame, tcp_session

# The process's CPU time, not the wall clock: everything measured here runs in this one
# process (both ends of every session), so this is the work done, and the time the OS
# gives other processes on a shared machine does not count as ours.
clock = time.process_time

MEM_ROUNDS = 3_000
TCP_ROUNDS = 1_000
REPEATS = harness.MIN_REPS


async def raw_memory(n: int) -> float:
    c2s_send, c2s_recv = trio.open_memory_channel[Any](float("inf"))
    s2c_send, s2c_recv = trio.open_memory_channel[Any](float("inf"))

    async def client() -> None:
        for i in range(n):
            await c2s_send.send("__continue__")
            await c2s_send.send(i)
            await s2c_recv.receive()
        await c2s_send.send("__exit__")

    async def server() -> None:
        while await c2s_recv.receive() == "__continue__":
            await s2c_send.send(await c2s_recv.receive())

    t = clock()
    async with trio.open_nursery() as nursery:
        nursery.start_soon(client)
        nursery.start_soon(server)
    return n / (clock() - t)


async def pp_client(ep: Endpoint, n: int) -> pp.Client_End:
    s = pp.start_client(ep)
    for i in range(n):
        s1 = await s.select_continue()
        s2 = await s1.send_ping(pp.Ping(seq=i))
        _pong, s = await s2.recv_pong()
    return await s.select_exit()


async def pp_server(ep: Endpoint) -> int:
    s = pp.start_server(ep)
    rounds = 0
    while True:
        branch = await s.offer()
        if isinstance(branch, pp.Server_S0_Exit):
            return rounds
        ping, s2 = await branch.state.recv_ping()
        s = await s2.send_pong(pp.Pong(seq=ping.seq))
        rounds += 1


async def ours_memory(n: int, passthrough: bool) -> float:
    async with memory_session(pp.PROTOCOL, passthrough=passthrough) as net:
        t = clock()
        res = await net.run({"Client": lambda ep: pp_client(ep, n), "Server": pp_server})
        dt = clock() - t
    assert res["Server"].unwrap() == n
    return n / dt


def ping_pong_session(rounds: int, passthrough: bool) -> None:
    """One in-memory ping-pong session (``harness.peak_memory`` calls it in a child)."""
    trio.run(ours_memory, rounds, passthrough)


def _int(v: int) -> bytes:
    w = Writer()
    w.sint(v)
    return w.getvalue()


async def raw_tcp(n: int) -> float:
    """Trio TCP streams, the same length-prefixed frame bodies, no crypto, no runtime."""
    listeners = await trio.open_tcp_listeners(0, host="127.0.0.1")
    port = listeners[0].socket.getsockname()[1]
    accepted: list[trio.SocketStream] = []
    got = trio.Event()

    async def accept() -> None:
        accepted.append(await listeners[0].accept())
        got.set()

    async with trio.open_nursery() as nursery:
        nursery.start_soon(accept)
        cs = await trio.open_tcp_stream("127.0.0.1", port)
        await got.wait()
    ss = accepted[0]

    async def client() -> None:
        buf = FrameBuffer()
        for i in range(n):
            await cs.send_all(length_prefix(encode_body(0, "__continue__", b"")))
            await cs.send_all(length_prefix(encode_body(0, "Ping", _int(i))))
            frame = await read_frame(cs, buf)
            assert frame is not None
            _, _, data = decode_body(frame)
            r = Reader(data)
            r.sint()
            r.finish()
        await cs.send_all(length_prefix(encode_body(0, "__exit__", b"")))

    async def server() -> None:
        buf = FrameBuffer()
        while True:
            frame = await read_frame(ss, buf)
            assert frame is not None
            if decode_body(frame)[1] != "__continue__":
                return
            frame = await read_frame(ss, buf)
            assert frame is not None
            r = Reader(decode_body(frame)[2])
            v = r.sint()
            r.finish()
            await ss.send_all(length_prefix(encode_body(0, "Pong", _int(v))))

    t = clock()
    async with trio.open_nursery() as nursery:
        nursery.start_soon(client)
        nursery.start_soon(server)
    dt = clock() - t
    for s in (cs, ss, *listeners):
        await s.aclose()
    return n / dt


async def ours_tcp(n: int, tmp: Path) -> float:
    path, sockets = bound_local_network(tmp / f"n{time.monotonic_ns()}", ["Client", "Server"], timeout=30)
    cfg = load_config(path)
    rates: dict[str, float] = {}

    async def role(name: str) -> None:
        async with tcp_session(pp.PROTOCOL, cfg, name, listener=sockets[name]) as ep:
            t = clock()
            if name == "Client":
                await pp_client(ep, n)
            else:
                assert await pp_server(ep) == n
            rates[name] = n / (clock() - t)

    async with trio.open_nursery() as nursery:
        nursery.start_soon(role, "Client")
        nursery.start_soon(role, "Server")
    return rates["Client"]


LINK_SIZES = (64, 1024, 16 << 10, 1 << 20)
HANDSHAKES = 50


def link_figures() -> dict[str, Any]:
    """Sans-IO link costs: seal+open MB/s per frame size against bare ChaCha20-Poly1305
    encrypt+decrypt of the same bytes (the cipher the link uses; interleaved repetitions),
    and HANDSHAKES full Noise_KK handshakes (both sides, in memory)."""
    import os

    from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305

    from runtime.identity import Identity
    from runtime.securelink import Initiator, Responder, parse_hello

    a, b = Identity.generate(), Identity.generate()

    def handshake() -> tuple[Any, Any]:
        i = Initiator("P", "s", 0, "A", a, "B", b.link_public)
        r = Responder("P", "s", 0, "B", b, parse_hello(i.hello()), a.link_public)
        msg3, ki = i.finish(r.reply())
        return ki, r.finish(msg3)

    ki, kr = handshake()
    hs = harness.interleave({"handshake": harness.timed(handshake)}, HANDSHAKES)["handshake"]
    out: dict[str, Any] = {"link_handshake_ms": hs.scaled(1e3, "ms").to_json(3)}
    aead = ChaCha20Poly1305(os.urandom(32))
    nonce = bytes(12)
    for size in LINK_SIZES:
        body = os.urandom(size)
        count = max(4, (2 << 20) // size)

        def link_rate(body: bytes = body, count: int = count) -> float:
            t = clock()
            for _ in range(count):
                kr.opener.open(ki.sealer.seal(body))
            return count * len(body) / (clock() - t) / 1e6

        def bare_rate(body: bytes = body, count: int = count) -> float:
            t = clock()
            for _ in range(count):
                aead.decrypt(nonce, aead.encrypt(nonce, body, b""), b"")
            return count * len(body) / (clock() - t) / 1e6

        runs = harness.interleave({"link": link_rate, "bare": bare_rate}, REPEATS, unit="MB/s")
        out[f"link_seal_open_MBps_{size}"] = runs["link"].to_json(1)
        out[f"link_vs_bare_aead_{size}"] = harness.ratio(runs["link"], runs["bare"]).to_json(3)
    return out


def main() -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as d:
        runs = harness.interleave(
            {
                "raw_mem": lambda: trio.run(raw_memory, MEM_ROUNDS),
                "mem": lambda: trio.run(ours_memory, MEM_ROUNDS, False),
                "mem_pass": lambda: trio.run(ours_memory, MEM_ROUNDS, True),
                "raw_tcp": lambda: trio.run(raw_tcp, TCP_ROUNDS),
                "tcp": lambda: trio.run(ours_tcp, TCP_ROUNDS, Path(d)),
            },
            REPEATS,
            unit="round trips/s",
        )
    ratios = {
        "memory_ratio": harness.ratio(runs["mem"], runs["raw_mem"]),
        "memory_passthrough_ratio": harness.ratio(runs["mem_pass"], runs["raw_mem"]),
        "tcp_ratio": harness.ratio(runs["tcp"], runs["raw_tcp"]),
    }
    print(f"memory ping-pong  raw trio channels : {runs['raw_mem'].show('.0f')}")
    print(f"memory ping-pong  runtime (encoded)  : {runs['mem'].show('.0f')}")
    print(f"  ratio to raw trio {ratios['memory_ratio'].show('.2f')} (goal >= 0.9x)")
    print(f"memory ping-pong  runtime (passthru) : {runs['mem_pass'].show('.0f')}")
    print(f"  ratio to raw trio {ratios['memory_passthrough_ratio'].show('.2f')} (goal >= 1.0x)")
    print(f"tcp ping-pong     raw trio streams   : {runs['raw_tcp'].show('.0f')}")
    print(f"tcp ping-pong     runtime, secure    : {runs['tcp'].show('.0f')}")
    print(f"  ratio to raw trio {ratios['tcp_ratio'].show('.2f')} (goal >= 0.5x)")
    peak = harness.peak_memory("bench.runtime:ping_pong_session", MEM_ROUNDS, False)
    print(f"memory ping-pong  {MEM_ROUNDS} round trips, encoded: {peak.show()}")
    link = link_figures()
    hs = link["link_handshake_ms"]
    print(f"link handshake    Noise_KK, both sides: {hs['median']:.2f} ms "
          f"(min {hs['min']:.2f}, max {hs['max']:.2f}, {HANDSHAKES} reps)")
    for size in LINK_SIZES:
        r = link[f"link_vs_bare_aead_{size}"]
        print(f"link seal+open    {size:8d}-byte frames: {link[f'link_seal_open_MBps_{size}']['median']:8.1f} MB/s"
              f"  ratio {r['median']:.2f}x (min {r['min']:.2f}, max {r['max']:.2f}) bare ChaCha20-Poly1305")
    return {
        **link,
        "bench": "runtime",
        "machine": harness.machine(),
        "memory_rounds": MEM_ROUNDS,
        "tcp_rounds": TCP_ROUNDS,
        "messages_per_round": 3,
        "rates": harness.to_json(runs, 1),
        "ratios": harness.to_json(ratios, 3),
        "peak_memory": {"memory_ping_pong": peak.to_json()},
    }


if __name__ == "__main__":
    print(json.dumps(main()))

"""``runtime.tcp.Connection`` and ``TcpLink`` on a real loopback socket: frames that do not
fit the kernel's send buffer, concurrent senders keeping seq order, a busy reader that
still yields, and closing while a task waits."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
import trio
import trio.testing

from runtime.endpoint import YIELD_EVERY
from runtime.framing import DATA, FrameBuffer, decode_body
from runtime.noise import CipherState
from runtime.securelink import FrameOpener, FrameSealer
from runtime.tcp import Connection, TcpLink, plan_tcp_session, read_frame

KEY = bytes(range(32))


@asynccontextmanager
async def connected() -> AsyncIterator[tuple[Connection, Connection]]:
    listener = (await trio.open_tcp_listeners(0, host="127.0.0.1"))[0]
    port = listener.socket.getsockname()[1]
    client = await trio.open_tcp_stream("127.0.0.1", port)
    server = await listener.accept()
    await listener.aclose()
    a, b = Connection(client), Connection(server)
    try:
        yield a, b
    finally:
        a.close()
        b.close()


async def read_exactly(conn: Connection, n: int) -> bytes:
    out = bytearray()
    while len(out) < n:
        chunk = await conn.receive_some()
        assert chunk, "unexpected EOF"
        out += chunk
    return bytes(out)


async def test_payload_larger_than_the_send_buffer_arrives_whole() -> None:
    data = bytes(i % 251 for i in range(8 << 20))
    with trio.fail_after(30):
        async with connected() as (a, b), trio.open_nursery() as nursery:
            nursery.start_soon(a.send_all, data)
            assert await read_exactly(b, len(data)) == data


async def test_concurrent_senders_keep_seq_order_on_the_wire() -> None:
    frames = 40
    big = b"x" * (256 << 10)  # several frames fill the buffer: senders wait mid-frame
    with trio.fail_after(30):
        async with connected() as (a, b), trio.open_nursery() as nursery:
            link = TcpLink("B", a, FrameSealer(CipherState(KEY)), nursery, ())

            async def sender(tag: str) -> None:
                for i in range(frames // 2):
                    await link.send(DATA, f"{tag}{i}", big, None)

            nursery.start_soon(sender, "p")
            nursery.start_soon(sender, "q")
            opener = FrameOpener(CipherState(KEY))
            buf = FrameBuffer(1 << 20)
            labels = []
            for _ in range(frames):
                frame = await read_frame(b, buf)
                assert frame is not None
                _, label, payload = decode_body(opener.open(frame))  # seq checked here
                assert payload == big
                labels.append(label)
    assert sorted(labels) == sorted([f"p{i}" for i in range(frames // 2)] + [f"q{i}" for i in range(frames // 2)])


async def test_reader_with_data_always_ready_yields() -> None:
    ran = trio.Event()

    async def mark() -> None:
        ran.set()

    async with connected() as (a, b):
        await a.send_all(b"z" * 4096)
        await trio.sleep(0.05)  # let the bytes reach b's receive buffer
        async with trio.open_nursery() as nursery:
            nursery.start_soon(mark)
            for _ in range(2 * (YIELD_EVERY + 1)):
                assert await b.receive_some(1) == b"z"
            assert ran.is_set()


async def test_close_wakes_a_waiting_reader() -> None:
    async with connected() as (a, b):
        async with trio.open_nursery() as nursery:
            failed = trio.Event()

            async def reader() -> None:
                with pytest.raises(trio.ClosedResourceError):
                    await b.receive_some()
                failed.set()

            nursery.start_soon(reader)
            await trio.testing.wait_all_tasks_blocked()  # the reader waits on the socket
            b.close()
        assert failed.is_set()
        assert await a.receive_some() == b""  # the peer sees EOF


def test_planning_a_tcp_session_checks_the_config_without_sockets(tmp_path: Path) -> None:
    from generated.examples import ping_pong as pp
    from runtime.config import load_config
    from runtime.errors import ConfigError
    from runtime.keytool import local_network

    cfg = load_config(local_network(tmp_path, ["Client", "Server"]))
    plan = plan_tcp_session(pp.PROTOCOL, cfg, "Client")
    assert (str(plan.me), plan.key.public) == ("Client", cfg.members["Client"].public)
    assert (plan.host, plan.port) == (cfg.members["Client"].host, cfg.members["Client"].port)
    with pytest.raises(ConfigError, match="Referee is not a member"):
        plan_tcp_session(pp.PROTOCOL, cfg, "Referee")

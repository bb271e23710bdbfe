"""The support code generated modules share (runtime.genlib)."""

from __future__ import annotations

import pytest

from runtime import genlib
from runtime.contract import Peer
from runtime.errors import LocalViolation, SessionClosed
from runtime.memory import memory_session
from tests.runtime.roles import ping_pong as pp


async def test_unmatched_dispatch_fails_the_session_as_our_own_defect() -> None:
    async with memory_session(pp.PROTOCOL) as net:
        client = net.endpoint("Client")
        net.endpoint("Server")
        err = genlib.unexpected(client, Peer("Server"), "Client_S2", "Pong", "Ping")
        assert isinstance(err, LocalViolation)
        assert "Client_S2" in str(err) and "'Ping'" in str(err) and "Server" in str(err)
        with pytest.raises(SessionClosed):
            await client.send(Peer("Server"), "Ping", b"", lambda b: b, pp.STEP_PING)


def test_loop_counters_and_ranges() -> None:
    loops = genlib.push(genlib.push(()))
    assert genlib.incr(genlib.incr(loops)) == (0, 2)
    assert genlib.pop(loops) == (0,)
    assert genlib.in_range(2, 0, 3) and not genlib.in_range(3, 0, 3)
    assert not genlib.in_range(None, 0, 3)

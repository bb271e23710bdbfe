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


async def test_member_peers_are_the_members_with_one_shared_peer_each() -> None:
    from generated.threshold import lottery as lt

    async with memory_session(lt.PROTOCOL, families={"Peer": 4}) as net:
        ep1, ep2 = net.endpoint("Peer[1]"), net.endpoint("Peer[2]")
        first = genlib.member_peers(ep1, "Peer", None, None, True)
        assert first == [(i, Peer("Peer", i)) for i in (0, 2, 3)]
        again = genlib.member_peers(ep2, "Peer", 1, None, False)
        assert [i for i, _ in again] == [1, 2, 3]
        # The same objects every time, not one per call (nor per message).
        assert dict(first)[3] is dict(again)[3]


def test_member_peers_stop_caching_at_the_bound(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(genlib, "_PEERS", {})
    monkeypatch.setattr(genlib, "_MAX_PEERS", 2)

    class Ep:
        me = Peer("Other")
        crashed: frozenset[str] = frozenset()

        def family_size(self, family: str) -> int:
            return 5

    peers = genlib.member_peers(Ep(), "F", None, None, True)  # type: ignore[arg-type]
    assert peers == [(i, Peer("F", i)) for i in range(5)]
    assert len(genlib._PEERS) == 2


async def test_a_survivor_may_not_choose_a_member_taken_for_crashed() -> None:
    """Re-election among the survivors: a failure branch took Peer[2] for crashed, so the
    family steps skip it and the agreement refuses it as the choice (before any claim)."""
    from runtime.contract import Step

    errors: list[Exception] = []

    class Ep:
        me = Peer("Peer", 0)
        crashed = frozenset({"Peer[2]"})

        def __init__(self) -> None:
            self.chosen: dict[str, int] = {}

        def family_size(self, family: str) -> int:
            return 4

        def local_violation(self, error: Exception) -> None:
            errors.append(error)

    ep = Ep()
    assert genlib.members(ep, "Peer", None, None, True) == [1, 3]  # type: ignore[arg-type]
    step = Step("P", "Peer", "Peer_S4", "(agree)", "p.yaml:1:1")
    with pytest.raises(LocalViolation, match=r"chose Peer\[2\] as Coordinator, which has failed"):
        await genlib.agree(ep, "Peer", "Coordinator", 2, step)  # type: ignore[arg-type]
    assert len(errors) == 1 and ep.chosen == {}

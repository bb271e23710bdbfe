"""The endpoint's per-step fast paths keep every semantic of the general path.

A (step, peer) plan is worked out on first use; plain plans (no hook applies, no
middleware) skip hook and event code, and memory links then deliver without awaiting.
These tests pin what must still happen on those paths: hooks and middleware that are
configured run on every message, deadlines and cancellation still apply, a failed session
refuses a step whose plan was cached, and a busy role still reaches a schedule point.
"""

from __future__ import annotations

import inspect

import pytest
import trio

from generated.examples import ping_pong as g
from generated.threshold import lottery as lt
from runtime.contract import Peer, Step
from runtime.endpoint import YIELD_EVERY, SessionEndpoint
from runtime.errors import ConfigError, LinearityError, PeerGone, SessionClosed
from runtime.extensions import Hook, HookScope, standard_registry
from runtime.memory import memory_session
from runtime.middleware import Event, Middleware
from tests.runtime.roles import ping_pong as pp

CLIENT, SERVER = Peer("Client"), Peer("Server")
RECV_PING = Step("PingPong", "Server", "Server_S1", "Ping", "t.yaml:1:1")


def raw(b: bytes) -> bytes:
    return b


class Counting(Hook):
    def __init__(self) -> None:
        self.sent: list[str] = []
        self.received: list[str] = []

    def after_send(self, step: Step, to: Peer, label: str) -> None:
        self.sent.append(label)

    def after_recv(self, step: Step, frm: Peer, label: str) -> None:
        self.received.append(label)


async def test_hooks_run_on_every_message_of_a_cached_plan() -> None:
    hooks: dict[str, Counting] = {}

    def factory(scope: HookScope) -> Hook:
        return hooks.setdefault(str(scope.me), Counting())

    registry = standard_registry(extra=[factory])
    with trio.fail_after(10):
        async with memory_session(pp.PROTOCOL, registry=registry) as net:
            res = await net.run({"Client": lambda ep: pp.client(ep, 40), "Server": pp.server})
    assert res["Server"].unwrap() == 40
    assert hooks["Client"].sent.count("Ping") == 40 and hooks["Client"].received.count("Pong") == 40
    assert hooks["Server"].received.count("Ping") == 40 and hooks["Server"].sent.count("Pong") == 40


class Recorder(Middleware):
    def __init__(self) -> None:
        self.events: list[tuple[str, str, str]] = []

    def on_event(self, ev: Event) -> None:
        self.events.append((ev.role, ev.direction, ev.label))


async def test_middleware_sees_every_message() -> None:
    rec = Recorder()
    with trio.fail_after(10):
        async with memory_session(pp.PROTOCOL, middleware=[rec]) as net:
            await net.run({"Client": lambda ep: pp.client(ep, 30), "Server": pp.server})
    assert rec.events.count(("Client", "send", "Ping")) == 30
    assert rec.events.count(("Server", "recv", "Ping")) == 30
    assert rec.events.count(("Client", "recv", "Pong")) == 30


async def test_deadline_fires_after_fast_receives() -> None:
    waits_long = Step("PingPong", "Client", "Client_S0", "Pong", "t.yaml:1:1", timeout=60)

    async def stalling_client(ep: SessionEndpoint) -> None:
        s = g.start_client(ep)
        for i in range(3 * YIELD_EVERY):
            s1 = await s.select_continue()
            _, s = await (await s1.send_ping(g.Ping(seq=i))).recv_pong()
        # Neither continues nor exits the loop: waits for the server, which times out.
        await ep.recv(SERVER, {"Pong": raw}, waits_long)

    with trio.fail_after(10):
        async with memory_session(pp.PROTOCOL, timeout=0.2) as net:
            res = await net.run({"Client": stalling_client, "Server": pp.server})
    err = res["Server"].error
    assert isinstance(err, PeerGone) and "deadline" in err.reason
    assert isinstance(res["Client"].error, PeerGone)  # learnt from the server's abort


async def test_a_step_deadline_earlier_than_the_watchdogs_wake_re_arms_it() -> None:
    """The watchdog sleeps until the session's timeout when nobody waits; a receive whose
    step has a shorter deadline wakes it earlier, also when the watchdog is already
    asleep and again for a later receive (it keeps its wake-up time, not the scope's)."""
    short = Step("PingPong", "Client", "Client_S2", "Pong", "t.yaml:1:1", timeout=0.05)
    for _ in range(2):
        with trio.fail_after(10):  # the session's own timeout (60 s) would hang the test
            async with memory_session(pp.PROTOCOL, timeout=60) as net:
                c = net.endpoint(CLIENT)
                net.endpoint(SERVER)
                await trio.sleep(0.01)  # the watchdog is asleep until now + 60 s
                t0 = trio.current_time()
                with pytest.raises(PeerGone, match="deadline"):
                    await c.recv(SERVER, {"Pong": raw}, short)
                assert trio.current_time() - t0 < 5

async def test_cancelled_receive_of_a_queued_frame_consumes_nothing() -> None:
    async with memory_session(pp.PROTOCOL) as net:
        c, s = net.endpoint(CLIENT), net.endpoint(SERVER)
        await c.send(SERVER, "Ping", b"1", raw, pp.STEP_PING)
        with trio.CancelScope() as scope:
            scope.cancel()
            await s.recv(CLIENT, {"Ping": raw}, RECV_PING)
        assert scope.cancelled_caught
        assert await s.recv(CLIENT, {"Ping": raw}, RECV_PING) == ("Ping", b"1")


async def test_failed_session_refuses_a_cached_step() -> None:
    async with memory_session(pp.PROTOCOL) as net:
        c = net.endpoint(CLIENT)
        net.endpoint(SERVER)
        await c.send(SERVER, "Ping", b"1", raw, pp.STEP_PING)  # the plan is cached now
        c.abort("test")
        with pytest.raises(SessionClosed):
            await c.send(SERVER, "Ping", b"2", raw, pp.STEP_PING)
        with pytest.raises(SessionClosed):
            await c.recv(SERVER, {"Pong": raw}, pp.STEP_PING)


async def test_busy_sender_reaches_a_schedule_point() -> None:
    ran = trio.Event()

    async def mark() -> None:
        ran.set()

    async with memory_session(pp.PROTOCOL) as net:
        c = net.endpoint(CLIENT)
        net.endpoint(SERVER)
        async with trio.open_nursery() as nursery:
            nursery.start_soon(mark)  # runnable, waiting for the sender to yield
            # Sends to an unbounded inbox never block. Two schedule points: trio may run
            # the sender first in the batch after the first one.
            for i in range(2 * (YIELD_EVERY + 1)):
                await c.send(SERVER, "Ping", bytes([i]), raw, pp.STEP_PING)
            assert ran.is_set()


async def test_linearity_error_names_the_exact_first_use_line() -> None:
    async with memory_session(pp.PROTOCOL) as net:
        s = g.start_client(net.endpoint(CLIENT))
        net.endpoint(SERVER)
        first_line = inspect.currentframe().f_lineno + 1  # type: ignore[union-attr]
        await s.select_continue()
        with pytest.raises(LinearityError) as info:
            await s.select_exit()
    assert info.value.first_use == f"{__file__}:{first_line} in select_continue()"
    assert info.value.method == "select_exit"


async def test_shared_send_and_receive_bodies_check_linearity_and_build_usable_states() -> None:
    """genlib's State._send/_recv inline the linearity check and the next state's
    construction: a second use still names the user's line, and the state they build is
    a fresh, unused one of the right class."""
    async with memory_session(pp.PROTOCOL) as net:
        s1 = await g.start_client(net.endpoint(CLIENT)).select_continue()
        net.endpoint(SERVER)
        first_line = inspect.currentframe().f_lineno + 1  # type: ignore[union-attr]
        s2 = await s1.send_ping(g.Ping(seq=7))
        with pytest.raises(LinearityError) as info:
            await s1.send_ping(g.Ping(seq=8))
        assert info.value.first_use == f"{__file__}:{first_line} in send_ping()"
        assert info.value.method == "send_ping"
        assert type(s2) is g.Client_S2 and not s2.used and s1.used
    async with memory_session(pp.PROTOCOL) as net:
        c = g.start_client(net.endpoint(CLIENT))
        srv = g.start_server(net.endpoint(SERVER))
        await (await c.select_continue()).send_ping(g.Ping(seq=3))
        branch = await srv.offer()
        if isinstance(branch, g.Server_S0_Exit):
            pytest.fail("the client went on")
        srv1 = branch.state
        first_line = inspect.currentframe().f_lineno + 1  # type: ignore[union-attr]
        ping, s3 = await srv1.recv_ping()
        with pytest.raises(LinearityError) as info:
            await srv1.recv_ping()
        assert ping == g.Ping(seq=3) and type(s3) is g.Server_S2 and not s3.used
        assert info.value.first_use == f"{__file__}:{first_line} in recv_ping()"


async def test_fresh_peer_objects_reuse_the_step_hooks() -> None:
    asked: list[Step] = []

    class Asking(Hook):
        def applies(self, step: Step) -> bool:
            asked.append(step)
            return False

    registry = standard_registry(extra=[lambda scope: Asking()])
    async with memory_session(pp.PROTOCOL, registry=registry) as net:
        c, s = net.endpoint(CLIENT), net.endpoint(SERVER)
        for i in range(5):  # family steps pass a new Peer per call, like these
            await c.send(Peer("Server"), "Ping", bytes([i]), raw, pp.STEP_PING)
        got = [await s.recv(Peer("Client"), {"Ping": raw}, RECV_PING) for _ in range(5)]
    assert [m for _, m in got] == [bytes([i]) for i in range(5)]
    assert asked == [pp.STEP_PING, RECV_PING]  # once per step, not per message


async def test_alternating_fresh_family_peers_reach_each_member_in_order() -> None:
    step = Step("Lottery", "Peer", "Peer_S0", "Commit", "t.yaml:1:1")
    recv = Step("Lottery", "Peer", "Peer_S1", "Commit", "t.yaml:1:1")
    async with memory_session(lt.PROTOCOL, families={"Peer": 3}) as net:
        eps = [net.endpoint(Peer("Peer", i)) for i in range(3)]
        for r in range(4):  # fresh Peer objects, alternating members, as family steps send
            for i in (1, 2):
                await eps[0].send(Peer("Peer", i), "Commit", bytes([r, i]), raw, step)
        for i in (1, 2):
            got = [await eps[i].recv(Peer("Peer", 0), {"Commit": raw}, recv) for _ in range(4)]
            assert [m for _, m in got] == [bytes([r, i]) for r in range(4)]
        eps[0].abort("test")
        with pytest.raises(SessionClosed):  # a plan built before is no way around it
            await eps[0].send(Peer("Peer", 2), "Commit", b"x", raw, step)


async def test_endpoint_lookup_by_name_keeps_its_checks() -> None:
    async with memory_session(lt.PROTOCOL, families={"Peer": 3}) as net:
        assert net.endpoint("Peer[01]").me == Peer("Peer", 1)  # parsed, as before
        assert net.endpoint(Peer("Peer", 2)).me_name == "Peer[2]"
        with pytest.raises(ConfigError, match="not a member"):
            net.endpoint(Peer("Peer[0]"))  # prints like a member, is not one
        with pytest.raises(ConfigError, match="not a member"):
            net.endpoint("Peer[3]")
        with pytest.raises(ConfigError, match="already taken"):
            net.endpoint("Peer[1]")


async def test_one_family_step_used_by_two_tasks_at_once_reaches_each_member() -> None:
    """A family step's plan is re-pointed at each member; a send reads its peer's channel
    before its first await, so two tasks sending on the same step interleave safely."""
    step = Step("Lottery", "Peer", "Peer_S0", "Commit", "t.yaml:1:1")
    members = [Peer("Peer", i) for i in range(3)]
    rounds = 3 * YIELD_EVERY
    async with memory_session(lt.PROTOCOL, families={"Peer": 3}) as net:
        ep0, ep1, ep2 = (net.endpoint(p) for p in members)

        async def to(peer: Peer, tag: int) -> None:
            for i in range(rounds):
                # A fresh Peer each time, as generated family loops make them.
                await ep0.send(Peer(peer.role, peer.index), "Commit", bytes([tag, i]), raw, step)

        async with trio.open_nursery() as nursery:
            nursery.start_soon(to, members[1], 1)
            nursery.start_soon(to, members[2], 2)
        recv = Step("Lottery", "Peer", "Peer_S1", "Commit", "t.yaml:2:1")
        for ep, tag in ((ep1, 1), (ep2, 2)):
            got = [(await ep.recv(members[0], {"Commit": raw}, recv))[1] for _ in range(rounds)]
            assert got == [bytes([tag, i]) for i in range(rounds)]

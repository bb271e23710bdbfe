"""Both transports run the same protocol suites: good paths, violations, failures."""

from __future__ import annotations

import pytest
import trio

from runtime.codec import Writer
from runtime.contract import Peer, Step
from runtime.endpoint import SessionEndpoint
from runtime.errors import LinearityError, LocalViolation, PeerGone, RemoteViolation, SessionClosed
from runtime.memory import RoleFn, memory_session
from tests.runtime.harness import Runner, run_memory
from tests.runtime.roles import ping_pong as pp
from tests.runtime.roles import two_buyer as tb


async def test_two_buyer_accept(run_roles: Runner) -> None:
    with trio.fail_after(20):
        res = await run_roles(tb.PROTOCOL, {
            "Buyer1": tb.buyer1_main, "Buyer2": tb.buyer2_main, "Seller": tb.seller_main,
        })
    assert {k: r.unwrap() for k, r in res.items()} == {
        "Buyer1": 100, "Buyer2": "2024-06-01", "Seller": "sold TAPL",
    }


async def test_two_buyer_reject(run_roles: Runner) -> None:
    async def seller(ep: SessionEndpoint) -> str:
        return await tb.seller(tb.start_seller(ep), price=1000)

    with trio.fail_after(20):
        res = await run_roles(tb.PROTOCOL, {
            "Buyer1": tb.buyer1_main, "Buyer2": tb.buyer2_main, "Seller": seller,
        })
    assert res["Buyer2"].unwrap() == "rejected"
    assert res["Seller"].unwrap() == "no sale"


async def test_ping_pong_loses_nothing(run_roles: Runner) -> None:
    n = 300

    async def client(ep: SessionEndpoint) -> int:
        return await pp.client(ep, n)

    with trio.fail_after(20):
        res = await run_roles(pp.PROTOCOL, {"Client": client, "Server": pp.server})
    assert res["Client"].unwrap() == sum(range(n))
    assert res["Server"].unwrap() == n


_BAD_STEP = Step("PingPong", "Client", "Client_S0", "Ping", "test")


async def test_unexpected_label_is_remote_violation(run_roles: Runner) -> None:
    async def rogue_client(ep: SessionEndpoint) -> None:
        # Skips the loop's continue/exit control message: a protocol violation.
        w = Writer()
        w.sint(1)
        await ep.send(Peer("Server"), "Ping", w.getvalue(), lambda b: b, _BAD_STEP)
        await ep.recv(Peer("Server"), {"Pong": bytes}, _BAD_STEP)

    with trio.fail_after(20):
        res = await run_roles(pp.PROTOCOL, {"Client": rogue_client, "Server": pp.server})
    err = res["Server"].error
    assert isinstance(err, RemoteViolation)
    assert err.peer == "Client" and err.state == "Server_S0"
    assert "__continue__" in err.expected and err.got == "'Ping'"
    assert isinstance(res["Client"].error, PeerGone)  # the server aborted: no hang


async def test_malformed_payload_is_remote_violation(run_roles: Runner) -> None:
    async def rogue_client(ep: SessionEndpoint) -> None:
        await ep.send(Peer("Server"), "__continue__", b"", lambda b: b, _BAD_STEP)
        await ep.send(Peer("Server"), "Ping", b"\xff", lambda b: b, _BAD_STEP)  # truncated varint
        await ep.recv(Peer("Server"), {"Pong": bytes}, _BAD_STEP)

    with trio.fail_after(20):
        res = await run_roles(pp.PROTOCOL, {"Client": rogue_client, "Server": pp.server})
    err = res["Server"].error
    assert isinstance(err, RemoteViolation)
    assert err.state == "Server_S1" and "malformed payload" in err.got and "Ping" in err.expected


async def test_role_that_raises_makes_peers_gone(run_roles: Runner) -> None:
    async def broken_seller(ep: SessionEndpoint) -> None:
        raise RuntimeError("disk on fire")

    with trio.fail_after(20):
        res = await run_roles(tb.PROTOCOL, {
            "Buyer1": tb.buyer1_main, "Buyer2": tb.buyer2_main, "Seller": broken_seller,
        })
    assert isinstance(res["Seller"].error, RuntimeError)
    assert isinstance(res["Buyer2"].error, PeerGone)
    assert isinstance(res["Buyer1"].error, PeerGone)


async def test_role_that_returns_early_makes_peers_gone(run_roles: Runner) -> None:
    async def lazy_seller(ep: SessionEndpoint) -> str:
        await tb.start_seller(ep).recv_title()
        return "went home"

    with trio.fail_after(20):
        res = await run_roles(tb.PROTOCOL, {
            "Buyer1": tb.buyer1_main, "Buyer2": tb.buyer2_main, "Seller": lazy_seller,
        })
    assert isinstance(res["Buyer1"].error, PeerGone)
    assert isinstance(res["Buyer2"].error, PeerGone)


async def test_deadline_gives_peer_gone(run_roles: Runner) -> None:
    async def silent_seller(ep: SessionEndpoint) -> None:
        await trio.sleep(1)

    with trio.fail_after(20):
        res = await run_roles(tb.PROTOCOL, {
            "Buyer1": tb.buyer1_main, "Buyer2": tb.buyer2_main, "Seller": silent_seller,
        }, timeout=0.3)
    err = res["Buyer1"].error
    assert isinstance(err, PeerGone) and "deadline" in err.reason
    assert isinstance(res["Buyer2"].error, PeerGone)


async def test_step_timeout_overrides_default() -> None:
    step = Step("PingPong", "Server", "Server_S0", "x", "test", timeout=0.05)
    async with memory_session(pp.PROTOCOL, timeout=60) as net:
        ep = net.endpoint("Server")
        net.endpoint("Client")
        with trio.fail_after(5):
            try:
                await ep.recv(Peer("Client"), {"x": bytes}, step)
            except PeerGone as e:
                assert "0.05s deadline" in e.reason
            else:
                raise AssertionError("expected PeerGone")


async def test_session_refuses_use_after_violation() -> None:
    async with memory_session(pp.PROTOCOL) as net:
        client = net.endpoint("Client")
        net.endpoint("Server")
        s = pp.start_client(client)
        await s.select_continue()
        with pytest.raises(LinearityError):
            await s.select_continue()  # second use of a linear state
        try:
            await client.send(Peer("Server"), "Ping", b"", lambda b: b, _BAD_STEP)
        except SessionClosed as e:
            assert "LinearityError" in str(e)
        else:
            raise AssertionError("expected SessionClosed")


async def test_two_sessions_in_one_process_are_independent() -> None:
    async def rogue_client(ep: SessionEndpoint) -> None:
        await ep.send(Peer("Server"), "Pong", b"", lambda b: b, _BAD_STEP)

    async def good_client(ep: SessionEndpoint) -> int:
        await trio.sleep(0.05)  # still running when the other session fails
        return await pp.client(ep, 50)

    results = {}

    async def session(name: str, client: RoleFn) -> None:
        results[name] = await run_memory(pp.PROTOCOL, {"Client": client, "Server": pp.server})

    with trio.fail_after(20):
        async with trio.open_nursery() as n:
            n.start_soon(session, "bad", rogue_client)
            n.start_soon(session, "good", good_client)
    assert isinstance(results["bad"]["Server"].error, RemoteViolation)
    assert results["good"]["Client"].unwrap() == sum(range(50))
    assert results["good"]["Server"].unwrap() == 50


async def test_cancellation_leaves_no_tasks() -> None:
    def tasks() -> int:
        root = trio.lowlevel.current_root_task()
        assert root is not None
        return sum(len(n.child_tasks) for n in root.child_nurseries)

    before = tasks()
    with trio.move_on_after(0.2):
        async with memory_session(pp.PROTOCOL) as net:
            await net.run({"Client": lambda ep: pp.client(ep, 10**9), "Server": pp.server})
    assert tasks() == before


async def test_not_a_member_is_local_violation() -> None:
    from runtime.errors import NotAMember

    async with memory_session(pp.PROTOCOL) as net:
        ep = net.endpoint("Client")
        try:
            await ep.send(Peer("Nobody"), "Ping", b"", lambda b: b, _BAD_STEP)
        except NotAMember as e:
            assert "Nobody" in str(e)
        else:
            raise AssertionError("expected NotAMember")


async def test_passthrough_mode() -> None:
    with trio.fail_after(10):
        res = await run_memory(pp.PROTOCOL, {
            "Client": lambda ep: pp.client(ep, 20), "Server": pp.server,
        }, passthrough=True)
    assert res["Client"].unwrap() == sum(range(20))


async def test_role_that_stops_short_is_reported_in_memory() -> None:
    async def lazy(ep: SessionEndpoint) -> str:
        return "did nothing"

    with trio.fail_after(20):
        res = await run_memory(pp.PROTOCOL, {"Client": lazy, "Server": pp.server}, timeout=5.0)
    # Its own result says it stopped short; the server waiting on it hears at once.
    err = res["Client"].error
    assert isinstance(err, LocalViolation)
    assert str(err) == "Client: the role function returned without reaching the end of the protocol"
    assert res["Client"].value == "did nothing"
    server = res["Server"].error
    assert isinstance(server, PeerGone) and "returned without reaching the end" in server.reason

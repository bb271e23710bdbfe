"""Each injected fault produces its documented error in every affected role, without a hang
(see the table in runtime/faults.py)."""

from __future__ import annotations

import trio

from runtime.endpoint import SessionEndpoint
from runtime.errors import InjectedCrash, PeerGone, RemoteViolation
from runtime.faults import Fault, FaultInjector
from tests.runtime.harness import Runner
from tests.runtime.roles import ping_pong as pp


async def client(ep: SessionEndpoint) -> int:
    return await pp.client(ep, 5)


async def run(run_roles: Runner, *faults: Fault, timeout: float = 0.5, seed: int = 0) -> tuple[
    BaseException | None, BaseException | None, FaultInjector
]:
    inj = FaultInjector(list(faults), seed=seed)
    with trio.fail_after(20):
        res = await run_roles(pp.PROTOCOL, {"Client": client, "Server": pp.server}, middleware=[inj], timeout=timeout)
    return res["Client"].error, res["Server"].error, inj


async def test_drop_waited_for_gives_peer_gone(run_roles: Runner) -> None:
    c, s, inj = await run(run_roles, Fault("drop", role="Server", label="Pong", nth=2))
    assert inj.log == [("drop", "Server", "Client", "Pong")]
    assert isinstance(c, PeerGone) and "deadline" in c.reason
    assert isinstance(s, PeerGone)


async def test_drop_then_later_frame_gives_gap_violation(run_roles: Runner) -> None:
    c, s, _ = await run(run_roles, Fault("drop", role="Client", label="__continue__", nth=1))
    assert isinstance(s, RemoteViolation)
    assert "gap" in s.got or "out-of-order" in s.got
    assert isinstance(c, PeerGone)


async def test_short_delay_is_harmless(run_roles: Runner) -> None:
    c, s, inj = await run(run_roles, Fault("delay", role="Client", label="Ping", delay=0.02), timeout=5)
    assert c is None and s is None
    assert len(inj.log) == 5


async def test_long_delay_gives_peer_gone(run_roles: Runner) -> None:
    c, s, _ = await run(run_roles, Fault("delay", role="Server", label="Pong", nth=1, delay=1.0), timeout=0.3)
    assert isinstance(c, PeerGone) and "deadline" in c.reason
    assert isinstance(s, PeerGone | RemoteViolation)


async def test_duplicate_gives_remote_violation(run_roles: Runner) -> None:
    c, s, _ = await run(run_roles, Fault("duplicate", role="Client", label="Ping", nth=1))
    assert isinstance(s, RemoteViolation)
    assert "duplicate" in s.got or "replayed" in s.got
    assert isinstance(c, PeerGone)


async def test_corrupt_gives_remote_violation(run_roles: Runner) -> None:
    c, s, _ = await run(run_roles, Fault("corrupt", role="Client", label="Ping", nth=2))
    assert isinstance(s, RemoteViolation) and s.peer == "Client"
    assert isinstance(c, PeerGone)


async def test_crash_after_n_gives_peer_gone(run_roles: Runner) -> None:
    c, s, _ = await run(run_roles, Fault("crash", role="Client", after=3))
    assert isinstance(c, InjectedCrash)
    assert isinstance(s, PeerGone) and "connection lost" in s.reason


async def test_random_faults_never_hang(run_roles: Runner) -> None:
    for seed in range(3):
        c, s, _ = await run(
            run_roles,
            Fault("drop", probability=0.1), Fault("duplicate", probability=0.1),
            Fault("corrupt", probability=0.1), timeout=0.3, seed=seed,
        )
        for e in (c, s):
            assert e is None or isinstance(e, PeerGone | RemoteViolation)


async def test_duplicate_of_the_last_frame_is_caught_at_end(run_roles: Runner) -> None:
    # The last frame the server reads is the client's loop exit; its copy is still queued
    # when the server reaches End, and a frame at End is one the protocol never sends.
    c, s, inj = await run(run_roles, Fault("duplicate", role="Client", label="__exit__"), timeout=5)
    assert inj.log == [("duplicate", "Client", "Server", "__exit__")]
    assert c is None  # the client finished before the server could object
    if s is not None or run_roles.__name__ == "run_memory":
        # In memory the copy is queued with the original; over TCP it may arrive after the
        # server closed, and then nobody can see it.
        assert isinstance(s, RemoteViolation) and s.peer == "Client" and s.state == "End"
        assert "'__exit__' frame" in s.got

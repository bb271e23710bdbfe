"""Epoch bumps as a protocol step (protocols/examples/epoch_bump.yaml): after ``bump_epoch()``
every frame a member sends carries the new epoch, the events (and so traces) show it, and
a frame of an older epoch is a RemoteViolation naming its sender."""

from __future__ import annotations

from typing import Any, cast

from generated.examples import epoch_bump as eb
from runtime.contract import Endpoint, Step
from runtime.errors import RemoteViolation
from runtime.memory import RoleResult
from runtime.middleware import Event, Middleware
from tests.runtime.harness import Runner


class Events(Middleware):
    def __init__(self) -> None:
        self.events: list[Event] = []

    def on_event(self, ev: Event) -> None:
        self.events.append(ev)


class StaleEpoch:
    """An endpoint whose member skips the bump: it keeps sending frames of the old epoch."""

    def __init__(self, ep: Endpoint) -> None:
        self._ep = ep

    def __getattr__(self, name: str) -> Any:
        return getattr(self._ep, name)

    async def bump_epoch(self, step: Step) -> int:
        return 0


async def alice(ep: Endpoint) -> tuple[int, eb.Alice_End]:
    s1 = await eb.start_alice(ep).send_ping(eb.Ping(n=1))
    epoch, s2 = await s1.bump_epoch()
    pong, s3 = await s2.recv_pong()
    return epoch, await s3.send_ping(eb.Ping(n=pong.n + 1))


async def bob(ep: Endpoint) -> tuple[int, eb.Bob_End]:
    ping, s1 = await eb.start_bob(ep).recv_ping()
    epoch, s2 = await s1.bump_epoch()
    s3 = await s2.send_pong(eb.Pong(n=ping.n + 1))
    _, end = await s3.recv_ping()
    return epoch, end


def values(results: dict[str, RoleResult]) -> dict[str, Any]:
    return {name: r.error if r.error is not None else r.value for name, r in results.items()}


async def test_after_a_bump_every_event_shows_the_new_epoch(run_roles: Runner) -> None:
    seen = Events()
    out = values(await run_roles(eb.PROTOCOL, {"Alice": alice, "Bob": bob}, middleware=[seen]))
    assert out["Alice"][0] == 1 and out["Bob"][0] == 1, out
    by_role = [(e.role, e.direction, e.label, e.epoch) for e in seen.events if e.role == "Alice"]
    assert by_role == [
        ("Alice", "send", "Ping", 0),
        ("Alice", "epoch", "epoch 1", 1),
        ("Alice", "recv", "Pong", 1),
        ("Alice", "send", "Ping", 1),
    ]


async def test_a_frame_of_an_older_epoch_names_its_sender(run_roles: Runner) -> None:
    async def stale_bob(ep: Endpoint) -> tuple[int, eb.Bob_End]:
        return await bob(cast(Endpoint, StaleEpoch(ep)))

    out = values(await run_roles(eb.PROTOCOL, {"Alice": alice, "Bob": stale_bob}))
    err = out["Alice"]
    assert isinstance(err, RemoteViolation), out
    assert err.peer == "Bob"
    assert "a frame of epoch 1" in str(err) and "Pong of an older epoch 0" in str(err)


async def test_a_frame_of_a_later_epoch_is_a_violation_too(run_roles: Runner) -> None:
    """Bob bumps but Alice does not: Bob's Pong (epoch 1) reaches Alice at epoch 0."""

    async def stale_alice(ep: Endpoint) -> tuple[int, eb.Alice_End]:
        return await alice(cast(Endpoint, StaleEpoch(ep)))

    out = values(await run_roles(eb.PROTOCOL, {"Alice": stale_alice, "Bob": bob}))
    err = out["Alice"]
    assert isinstance(err, RemoteViolation), out
    assert err.peer == "Bob" and "Pong of a later epoch 1" in str(err)

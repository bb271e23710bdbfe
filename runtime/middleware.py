"""Composable middleware around an endpoint's sends and receives.

An endpoint takes a list of ``Middleware`` objects. With none installed the hot path does
not build events at all. Middleware sees traffic; policy tied to a step's annotations is a
hook (``runtime.extensions``): docs/runtime.md, "Hook or middleware?", says which to write.
Three callbacks, all optional:

* ``before_send(ev)`` - before a message leaves (after annotations were enforced); may raise
  (the fault injector's crash-after-n does).
* ``on_wire(link, ev, wire, forward)`` - wraps the hand-off of one encoded (TCP: sealed)
  frame to the link; call ``await forward(wire)`` zero, one or more times. Hooks compose
  in list order, the first is outermost.
* ``on_event(ev)`` - after a send or receive completed, or a receive failed
  (``direction == "error"``), or the member bumped the session epoch (``"epoch"``; every
  event carries the member's epoch at that time).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass
from typing import Any, Protocol

Forward = Callable[[object], Awaitable[None]]


@dataclass(slots=True)
class Event:
    time: float  # wall clock, seconds since the epoch
    session: str
    epoch: int
    role: str  # the member the event happened at
    peer: str
    direction: str  # "send", "recv", "error", or "epoch" (the member bumped to ``epoch``)
    label: str
    size: int  # encoded payload bytes (0 on pass-through sessions)
    state: str
    message: str
    spec: str  # where the interaction is written
    duration: float = 0.0  # seconds spent sending / waiting for the message
    error: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class WireLink(Protocol):
    """What ``on_wire`` sees of a link."""

    @property
    def peer_name(self) -> str: ...

    def damage(self, wire: object, position: int) -> object:
        """A copy of ``wire`` with one bit flipped near ``position`` (fault injection)."""
        ...

    def crash(self) -> None:
        """Drop the link without a goodbye, as if our process died."""
        ...


class Middleware:
    def before_send(self, ev: Event) -> None:
        pass

    async def on_wire(self, link: WireLink, ev: Event, wire: object, forward: Forward) -> None:
        await forward(wire)

    def on_event(self, ev: Event) -> None:
        pass


def overrides(mw: Middleware, name: str) -> bool:
    return getattr(type(mw), name) is not getattr(Middleware, name)


def chain_wire(
    hooks: tuple[Middleware, ...], link: WireLink, ev: Event, last: Forward
) -> Forward:
    """Compose ``on_wire`` hooks so the first in the list is outermost."""
    fwd = last
    for mw in reversed(hooks):
        fwd = _bind(mw, link, ev, fwd)
    return fwd


def _bind(mw: Middleware, link: WireLink, ev: Event, nxt: Forward) -> Forward:
    async def step(wire: object) -> None:
        await mw.on_wire(link, ev, wire, nxt)

    return step

"""Seeded fault injection for tests (a ``Middleware``).

Each fault acts on frames a matching member sends (on the wire, after sealing on TCP):

=============  ==============================================================================
fault          error it produces
=============  ==============================================================================
drop           The frame is lost. The receiver gets ``RemoteViolation`` ("a frame after a gap")
               when a later frame from that sender arrives, or ``PeerGone`` (deadline) if it
               waits for the lost one and nothing follows.
delay          Delivered late. Shorter than the receiver's deadline: no error; longer:
               ``PeerGone`` (deadline) at the receiver.
duplicate      Sent twice. The receiver's next receive from that sender gets
               ``RemoteViolation`` ("a duplicate"; on TCP "a rejected frame ... replayed").
               A duplicate of the very last frame a receiver reads: RemoteViolation when
               the receiver reaches End with it queued (always in memory); one arriving
               after the receiver closed cannot be seen.
corrupt        One bit flipped. ``RemoteViolation`` at the receiver (CRC mismatch in memory,
               AEAD failure on TCP). Needs an encoding session.
crash          After ``after`` sends the member dies: its send raises ``InjectedCrash`` and its
               links drop without goodbye; peers waiting on it get ``PeerGone``
               ("connection lost").
=============  ==============================================================================

In every case the member that detects the fault aborts its session, so every other member
waiting on it gets ``PeerGone`` ("its session failed: ...") at once: nobody hangs.
"""

from __future__ import annotations

import random
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Literal, final

import trio

from runtime.errors import InjectedCrash
from runtime.middleware import Event, Forward, Middleware, WireLink

FaultKind = Literal["drop", "delay", "duplicate", "corrupt", "crash"]


@dataclass
class Fault:
    kind: FaultKind
    role: str | None = None  # sending member ("Buyer1", "Signer[2]"); None: any
    peer: str | None = None  # receiving member; None: any
    label: str | None = None  # message label; None: any
    nth: int | None = None  # act on the nth matching frame only (1-based)
    probability: float = 1.0  # otherwise on each matching frame with this probability
    delay: float = 0.0  # seconds, for "delay"
    after: int = 0  # for "crash": sends that succeed before the crash
    seen: int = field(default=0, init=False)

    def matches(self, ev: Event) -> bool:
        return (
            (self.role is None or self.role == ev.role)
            and (self.peer is None or self.peer == ev.peer)
            and (self.label is None or self.label == ev.label)
        )


class FaultTarget(ABC):
    """A link that fault injection can act on, beside its ``endpoint.Link`` duties: the
    transports' links inherit both, so ``Link`` itself says nothing about faults."""

    __slots__ = ()

    @abstractmethod
    def crash(self) -> None:
        """Stop without a goodbye, as if our process died."""

    @abstractmethod
    def damage(self, wire: object, position: int) -> object:
        """A copy of ``wire`` with one bit flipped (the ``corrupt`` fault)."""


@final
class FaultInjector(Middleware):
    def __init__(self, faults: list[Fault], seed: int = 0) -> None:
        self.faults = faults
        self.rng = random.Random(seed)
        self.log: list[tuple[str, str, str, str]] = []  # (fault, role, peer, label) injected

    def before_send(self, ev: Event) -> None:
        for f in self.faults:
            if f.kind == "crash" and (f.role is None or f.role == ev.role):
                if f.seen >= f.after:
                    self.log.append(("crash", ev.role, ev.peer, ev.label))
                    raise InjectedCrash(f"injected crash of {ev.role} after {f.after} sends")
                f.seen += 1

    def _fires(self, f: Fault) -> bool:
        f.seen += 1
        if f.nth is not None:
            return f.seen == f.nth
        return self.rng.random() < f.probability

    async def on_wire(self, link: WireLink, ev: Event, wire: object, forward: Forward) -> None:
        for f in self.faults:
            if f.kind == "crash" or not f.matches(ev) or not self._fires(f):
                continue
            self.log.append((f.kind, ev.role, ev.peer, ev.label))
            if f.kind == "drop":
                return
            if f.kind == "delay":
                await trio.sleep(f.delay)
            elif f.kind == "duplicate":
                await forward(wire)
            elif f.kind == "corrupt":
                wire = link.damage(wire, self.rng.randrange(1 << 30))
        await forward(wire)

"""Per-peer inboxes with cheap receive deadlines (trio edge).

A trio memory channel plus a deadline cancel scope per receive costs more than the
message itself, so each inbox is a deque with at most one waiting task, and one
``Deadlines`` watchdog task per session wakes a waiter whose deadline passed. Registering
a deadline is a set insertion; the watchdog only re-arms when a deadline earlier than its
next wake-up appears.

An inbox holds at most ``limit`` bytes (payload bytes plus ``ITEM_COST`` per frame, so a
flood of empty frames counts too). A peer that sends more than we have received (a flood,
or a peer racing far ahead of the protocol) overflows it: the frame is dropped, nothing
more is queued, and ``on_overflow`` names the peer, so the endpoint fails the session with
a ``RemoteViolation`` naming the flooder instead of growing without bound.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable
from typing import Final, final

import outcome
import trio
from trio.lowlevel import (
    Abort,
    Task,
    checkpoint,
    current_clock,
    current_task,
    reschedule,
    wait_task_rescheduled,
)

from runtime.framing import INTERRUPTED, TIMEOUT, Item

_TIMEOUT_ITEM: Final[Item] = Item(TIMEOUT, -1, "", None, -1)
DEFAULT_INBOX_LIMIT: Final = 4 << 20
# What a queued frame costs besides its payload bytes (tuple, label, bookkeeping). put()
# and take() work it out inline: they run once per message.
ITEM_COST: Final = 64


@final
class Inbox:
    """The ordered frames from one peer to us; one consumer at a time."""

    __slots__ = (
        "_deadlines", "_waiter", "deadline", "items", "limit", "on_overflow", "overflowed", "queued",
    )

    def __init__(self, deadlines: Deadlines, limit: int = DEFAULT_INBOX_LIMIT) -> None:
        # Frames not received yet. The endpoint takes one with take() when it need not
        # wait (its hot path); anything else goes through get().
        self.items: deque[Item] = deque()
        self._waiter: Task | None = None
        self._deadlines = deadlines
        self.deadline = math.inf
        self.limit = limit
        self.queued = 0  # cost of the items queued
        self.overflowed = False
        # Called with this inbox and what it would have queued.
        self.on_overflow: Callable[[Inbox, int], None] | None = None

    def put(self, item: Item) -> None:
        if self.overflowed:
            return
        data = item[3]
        queued = self.queued + (ITEM_COST + len(data) if type(data) is bytes else ITEM_COST)
        if queued > self.limit:
            self.overflowed = True
            if self.on_overflow is not None:
                self.on_overflow(self, queued)
            return
        self.queued = queued
        self.items.append(item)
        w = self._waiter
        if w is not None:
            self._waiter = None
            self._deadlines.waiting.discard(self)
            reschedule(w)

    def interrupt(self, reason: str) -> None:
        """Wake a waiting receiver with an INTERRUPTED item (our own session failed)."""
        w = self._waiter
        if w is not None:
            self._waiter = None
            self._deadlines.unwatch(self)
            reschedule(w, outcome.Value((INTERRUPTED, -1, reason, None, -1)))

    def expire(self) -> None:
        w = self._waiter
        if w is not None:
            self._waiter = None
            reschedule(w, outcome.Value(_TIMEOUT_ITEM))

    def __len__(self) -> int:
        return len(self.items)

    def take(self) -> Item:
        """The oldest queued item (there must be one)."""
        item = self.items.popleft()
        data = item[3]
        self.queued -= ITEM_COST + len(data) if type(data) is bytes else ITEM_COST
        return item

    def _abort(self, _: object) -> Abort:
        self._waiter = None
        self._deadlines.unwatch(self)
        return Abort.SUCCEEDED

    async def get(self, timeout: float) -> Item:
        items = self.items
        if items:
            await checkpoint()  # the endpoint's periodic schedule point (YIELD_EVERY)
            if items:
                return self.take()
        if self._waiter is not None:
            raise trio.BusyResourceError("another task is already receiving from this peer")
        self._waiter = current_task()
        dl = self._deadlines
        # The run's clock, asked once: trio.current_time() is three Python calls deep.
        clock = dl.clock
        if clock is None:
            clock = dl.clock = current_clock()
        deadline = self.deadline = clock.current_time() + timeout
        # dl.watch(self), spelt out: a receiver that has to wait does this once a message.
        dl.waiting.add(self)
        if deadline < dl.wake:
            dl.rearm(deadline)
        marker: Item | None = await wait_task_rescheduled(self._abort)
        if marker is not None:
            return marker
        item = items.popleft()  # self.take(), spelt out
        data = item[3]
        self.queued -= ITEM_COST + len(data) if type(data) is bytes else ITEM_COST
        return item


@final
class Deadlines:
    """Watchdog that expires waiting inboxes; run ``run()`` in the session's nursery."""

    __slots__ = ("_idle", "_scope", "clock", "waiting", "wake")

    def __init__(self, idle: float) -> None:
        self.waiting: set[Inbox] = set()  # inboxes with a receiver waiting
        self.clock: trio.abc.Clock | None = None  # the run's clock, bound on first use
        self._scope: trio.CancelScope | None = None
        self._idle = idle  # re-check period when nobody waits: the usual timeout
        # When the watchdog wakes next (its scope's deadline, kept here: reading a
        # CancelScope's deadline is a property call). -inf while it is not asleep: nothing
        # to re-arm then, its next round looks at every waiting inbox anyway.
        self.wake = -math.inf

    def watch(self, inbox: Inbox) -> None:
        self.waiting.add(inbox)
        if inbox.deadline < self.wake:
            self.rearm(inbox.deadline)

    def rearm(self, deadline: float) -> None:
        """Wake the watchdog at ``deadline`` (earlier than it would)."""
        scope = self._scope
        if scope is not None:
            scope.deadline = deadline
            self.wake = deadline

    def unwatch(self, inbox: Inbox) -> None:
        self.waiting.discard(inbox)

    async def run(self) -> None:
        self.clock = current_clock()
        while True:
            now = trio.current_time()
            wake = now + self._idle
            for inbox in list(self.waiting):
                if inbox.deadline <= now:
                    self.waiting.discard(inbox)
                    inbox.expire()
                elif inbox.deadline < wake:
                    wake = inbox.deadline
            with trio.CancelScope(deadline=wake) as scope:
                self._scope = scope
                self.wake = wake
                await trio.sleep_forever()
            self._scope = None
            self.wake = -math.inf

"""Suite-wide guard: a test that hangs fails after TEST_LIMIT_S instead of stalling CI.

Timing is never asserted; this only bounds a wedged test (a lost wake-up, a dead peer
process). SIGALRM interrupts blocking calls and trio's event loop alike.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from types import FrameType

import pytest

TEST_LIMIT_S = int(os.environ.get("MINUET_TEST_LIMIT_S", "300"))


class HungTest(Exception):
    """Raised inside a test that ran over TEST_LIMIT_S."""


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Iterator[None]:
    if not hasattr(signal, "SIGALRM"):
        yield
        return

    def on_alarm(signum: int, frame: FrameType | None) -> None:
        raise HungTest(f"{item.nodeid} ran over {TEST_LIMIT_S} s")

    previous = signal.signal(signal.SIGALRM, on_alarm)
    signal.alarm(TEST_LIMIT_S)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)

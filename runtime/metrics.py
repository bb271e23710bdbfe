"""Metrics middleware: message counts, bytes and latency histograms per role and message.

Latency is the time a send took to hand the frame to the link, and the time a receive
waited for its message. Buckets are upper bounds in seconds (last is +inf).
"""

from __future__ import annotations

import bisect
import json
from typing import Any, Final, final

from runtime.middleware import Event, Middleware

BUCKETS: Final = (1e-5, 3e-5, 1e-4, 3e-4, 1e-3, 3e-3, 1e-2, 3e-2, 0.1, 0.3, 1.0, 3.0, 10.0)


@final
class _Series:
    __slots__ = ("bytes", "count", "hist", "max", "total")

    def __init__(self) -> None:
        self.count = 0
        self.bytes = 0
        self.total = 0.0
        self.max = 0.0
        self.hist = [0] * (len(BUCKETS) + 1)

    def add(self, ev: Event) -> None:
        self.count += 1
        self.bytes += ev.size
        self.total += ev.duration
        self.max = max(self.max, ev.duration)
        self.hist[bisect.bisect_left(BUCKETS, ev.duration)] += 1


@final
class MetricsMiddleware(Middleware):
    def __init__(self) -> None:
        self._series: dict[tuple[str, str, str], _Series] = {}

    def on_event(self, ev: Event) -> None:
        key = (ev.role, ev.direction, ev.label)
        s = self._series.get(key)
        if s is None:
            s = self._series[key] = _Series()
        s.add(ev)

    def count(self, role: str, direction: str, label: str) -> int:
        s = self._series.get((role, direction, label))
        return s.count if s is not None else 0

    def snapshot(self) -> dict[str, Any]:
        roles: dict[str, Any] = {}
        for (role, direction, label), s in sorted(self._series.items()):
            roles.setdefault(role, {}).setdefault(direction, {})[label] = {
                "count": s.count,
                "bytes": s.bytes,
                "latency_mean_s": s.total / s.count if s.count else 0.0,
                "latency_max_s": s.max,
                "histogram": {
                    **{f"le_{b:g}": n for b, n in zip(BUCKETS, s.hist, strict=False)},
                    "le_inf": s.hist[-1],
                },
            }
        return {"buckets_s": list(BUCKETS), "roles": roles}

    def to_json(self) -> str:
        return json.dumps(self.snapshot(), indent=2, sort_keys=True)

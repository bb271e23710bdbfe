"""Trace middleware: one JSON object per line for every send, receive and failed receive.

Fields: time, session, epoch, role, peer, direction, label, size, state, message, spec,
duration, error. ``runtime.trace_mermaid`` renders a trace as a sequence diagram.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, TextIO, final

from runtime.middleware import Event, Middleware


@final
class TraceMiddleware(Middleware):
    """Writes events to ``path`` (appending) or a text stream; keeps them in ``events`` too
    when ``keep`` is set (handy in tests)."""

    def __init__(self, path: str | Path | None = None, stream: TextIO | None = None, keep: bool = False) -> None:
        self._file: TextIO | None = Path(path).open("a", encoding="utf-8") if path is not None else None
        self._stream = stream
        self.keep = keep
        self.events: list[dict[str, Any]] = []

    def on_event(self, ev: Event) -> None:
        d = ev.to_dict()
        if self.keep:
            self.events.append(d)
        if self._file is not None or self._stream is not None:
            line = json.dumps(d, sort_keys=True) + "\n"
            if self._file is not None:
                self._file.write(line)
            if self._stream is not None:
                self._stream.write(line)

    def flush(self) -> None:
        if self._file is not None:
            self._file.flush()

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None


def read_trace(path: str | Path) -> list[dict[str, Any]]:
    out = []
    with Path(path).open(encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            if line.strip():
                obj = json.loads(line)
                if not isinstance(obj, dict):
                    raise ValueError(f"{path}:{n}: not a trace event")
                out.append(obj)
    return out

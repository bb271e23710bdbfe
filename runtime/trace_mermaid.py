"""Render a JSON-lines trace as a Mermaid sequence diagram.

    python -m runtime.trace_mermaid trace.jsonl [more.jsonl ...] [-o out.mmd]

Each message is drawn once, from its send events (receives only add failures), ordered by
time; a failed receive is a note over the role that failed. A simulation trace
(``runtime.sim``) is drawn in its step order, with its injected faults as notes.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Iterable
from typing import Any

from runtime.trace import read_trace

_SAFE = re.compile(r"[^A-Za-z0-9_]")


def _actor(name: str) -> str:
    return _SAFE.sub("_", name)


def _text(s: str) -> str:
    return s.replace(";", ",").replace("#", "").replace("\n", " ")


def render(events: Iterable[dict[str, Any]]) -> str:
    evs = sorted(events, key=lambda e: float(e.get("time", 0.0)))
    roles: list[str] = []
    for e in evs:
        for r in (e.get("role"), e.get("peer")):
            if isinstance(r, str) and r not in roles:
                roles.append(r)
    lines = ["sequenceDiagram"]
    lines += [f"    participant {_actor(r)} as {r}" for r in roles]
    for e in evs:
        kind = e.get("kind")
        if kind is not None:
            lines += _sim_line(e)
            continue
        d = e.get("direction")
        if d == "send":
            label = _text(str(e.get("label", "")))
            lines.append(f"    {_actor(e['role'])}->>{_actor(e['peer'])}: {label} ({e.get('size', 0)} B)")
        elif d == "epoch":
            lines.append(f"    Note over {_actor(e['role'])}: epoch {e.get('epoch', '?')}")
        elif d == "error":
            lines.append(f"    Note over {_actor(e['role'])}: {_text(str(e.get('error', 'error')))[:120]}")
    return "\n".join(lines) + "\n"


def _sim_line(e: dict[str, Any]) -> list[str]:
    kind = e.get("kind")
    if kind == "post" and e.get("frame") == "data":
        label = _text(str(e.get("label", "")))
        return [f"    {_actor(e['role'])}->>{_actor(e['peer'])}: {label} #{e.get('seq')} ({e.get('size', 0)} B)"]
    if kind == "fault":
        f = e.get("fault", {})
        what = _text(str(f.get("kind", "fault")))
        if e.get("label"):
            return [f"    Note over {_actor(e['role'])}: step {e.get('step')}: {what} {_text(str(e['label']))} from {_text(str(e.get('peer')))}"]
        who = [r for r in str(f.get("role", "")).split(",") if r]
        return [f"    Note over {_actor(who[0]) if who else 'all'}: step {e.get('step')}: {what} {_text(', '.join(who))}"]
    if kind == "error":
        return [f"    Note over {_actor(e['role'])}: {_text(str(e.get('error', 'error')))[:120]}"]
    return []


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(prog="minuet trace", description="render a trace as Mermaid")
    ap.add_argument("traces", nargs="+")
    ap.add_argument("-o", "--output")
    args = ap.parse_args(argv)
    events: list[dict[str, Any]] = []
    try:
        for path in args.traces:
            events += read_trace(path)
    except (OSError, ValueError, json.JSONDecodeError) as e:
        print(f"minuet trace: {e}", file=sys.stderr)
        return 2  # a trace that cannot be read is an I/O error, as for every minuet command
    text = render(events)
    if args.output:
        with open(args.output, "w", encoding="utf-8") as f:
            f.write(text)
    else:
        sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

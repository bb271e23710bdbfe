"""Time travel over a recorded trace (pure): where every member was at step K.

A simulation trace numbers its steps (one scheduler decision each); a memory or TCP trace
(``runtime.trace``) has no steps, so each of its events is one step, in time order. At step
K a member is in the generated state class of its latest send or receive (``Step.state`` is
the class name), at the spec line that interaction is written on, or at End, or failed; the
messages in flight are those sent and not yet received.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass
class RoleView:
    role: str
    state: str = "(not started)"
    doing: str = ""
    spec: str = ""
    error: str = ""


@dataclass
class Snapshot:
    step: int
    last: int  # the last step of the trace
    time: float
    roles: dict[str, RoleView]
    in_flight: list[str]
    happened: list[str] = field(default_factory=list)  # what step ``step`` itself did


def normalise(events: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Simulation traces as they are; memory/TCP traces get a step per event and the
    simulation's event kinds (send -> send + post, recv -> deliver + recv, error)."""
    if any(e.get("kind") == "header" for e in events):
        return [dict(e) for e in events]
    out: list[dict[str, Any]] = []
    ordered = sorted(events, key=lambda e: float(e.get("time", 0.0)))
    sent: dict[tuple[str, str], int] = {}
    got: dict[tuple[str, str], int] = {}
    for n, e in enumerate(ordered, 1):
        role, peer, d = str(e.get("role", "")), str(e.get("peer", "")), e.get("direction")
        base = {"step": n, "time": float(e.get("time", 0.0)), "role": role, "peer": peer,
                "state": e.get("state", ""), "spec": e.get("spec", ""),
                "message": e.get("label", ""), "label": e.get("label", "")}
        if d == "send":
            seq = sent.get((role, peer), 0)
            sent[(role, peer)] = seq + 1
            out.append({**base, "kind": "send"})
            out.append({**base, "kind": "post", "seq": seq, "frame": "data"})
        elif d == "recv":
            seq = got.get((peer, role), 0)
            got[(peer, role)] = seq + 1
            out.append({**base, "kind": "deliver", "role": role, "peer": peer, "seq": seq, "frame": "data"})
            out.append({**base, "kind": "recv"})
        elif d == "error":
            out.append({**base, "kind": "error", "error": e.get("error", "")})
    return out


def last_step(events: Sequence[Mapping[str, Any]]) -> int:
    return max((int(e.get("step", 0)) for e in events), default=0)


def members(events: Sequence[Mapping[str, Any]]) -> list[str]:
    for e in events:
        if e.get("kind") == "header":
            return [str(m) for m in e.get("members", [])]
    names: list[str] = []
    for e in events:
        for r in (e.get("role"), e.get("peer")):
            if isinstance(r, str) and r and r not in names:
                names.append(r)
    return names


def _describe(e: Mapping[str, Any]) -> str:
    k = e.get("kind")
    if k == "deliver":
        extra = " (duplicate)" if e.get("duplicate") else ""
        what = e.get("label") or e.get("frame")
        return f"deliver {what} #{e.get('seq')} {e.get('peer')} -> {e.get('role')}{extra}"
    if k == "fault":
        f = e.get("fault", {})
        return f"FAULT {f.get('kind')}" + (f" of {e.get('label')} {e.get('peer')} -> {e.get('role')}" if e.get("label") else f" {f.get('role', '')}")
    if k == "send":
        return f"{e.get('role')} sends {e.get('message')} to {e.get('peer')} ({e.get('state')})"
    if k == "recv":
        return f"{e.get('role')} receives {e.get('message')} from {e.get('peer')} ({e.get('state')})"
    if k == "error":
        return f"{e.get('role')} fails: {e.get('error')}"
    if k == "end":
        return f"{e.get('role')} reaches End"
    if k == "hang":
        return f"HANG: {', '.join(e.get('roles', []))} still running"
    return str(k)


def at(events: Sequence[Mapping[str, Any]], k: int) -> Snapshot:
    """The state of every member after step ``k`` (clamped to the trace)."""
    evs = normalise(events)
    end = last_step(evs)
    k = max(0, min(k, end))
    roles = {m: RoleView(m) for m in members(evs)}
    flight: dict[tuple[str, str, int], str] = {}
    happened: list[str] = []
    time = 0.0
    for e in evs:
        step = int(e.get("step", 0))
        if step > k:
            break
        kind = e.get("kind")
        time = float(e.get("time", time))
        if step == k and kind not in ("header", "post", "wait", "result"):
            happened.append(_describe(e))
        role = str(e.get("role", ""))
        view = roles.get(role)
        if kind in ("send", "wait", "recv") and view is not None:
            view.state = str(e.get("state", ""))
            view.spec = str(e.get("spec", ""))
            verb = {"send": "sending", "wait": "waiting for", "recv": "received"}[str(kind)]
            prep = "to" if kind == "send" else "from"
            view.doing = f"{verb} {e.get('message', '')} {prep} {e.get('peer', '')}"
        elif kind == "end" and view is not None:
            view.state, view.doing, view.spec = str(e.get("state", "End")), "reached End", ""
        elif kind == "error" and view is not None:
            view.error = str(e.get("error", ""))
            view.doing = "failed"
        elif kind == "result" and view is not None and not e.get("ok"):
            final = str(e.get("error", ""))
            if final != view.error:  # the role function raised something else in the end
                view.error = f"{view.error}; the role function then ended with {final}" if view.error else final
            view.doing = "failed"
        elif kind == "post":
            what = e.get("label") or e.get("frame")
            flight[(role, str(e.get("peer")), int(e.get("seq", -1)))] = (
                f"{what} #{e.get('seq')} {role} -> {e.get('peer')}"
            )
        elif kind == "deliver" and not e.get("duplicate"):
            flight.pop((str(e.get("peer")), role, int(e.get("seq", -1))), None)
        elif kind == "fault" and e.get("fault", {}).get("kind") == "drop":
            flight.pop((str(e.get("peer")), role, int(e.get("seq", -1))), None)
    return Snapshot(k, end, time, roles, sorted(flight.values()), happened)


def _spec_text(spec: str, root: Path | None) -> str:
    """The spec line itself, when the spec file is at hand (paths are repo-relative)."""
    path, _, rest = spec.partition(":")
    line = rest.partition(":")[0]
    if not path or not line.isdigit():
        return ""
    for base in ([root] if root is not None else []) + [Path.cwd()]:
        p = base / path
        if p.is_file():
            lines = p.read_text(encoding="utf-8").splitlines()
            n = int(line)
            if 0 < n <= len(lines):
                return lines[n - 1].strip()
    return ""


def render(snap: Snapshot, root: Path | None = None) -> str:
    out = [f"step {snap.step}/{snap.last}  t={snap.time:g}s"]
    out += [f"  > {h}" for h in snap.happened]
    width = max((len(r) for r in snap.roles), default=0)
    for name, v in snap.roles.items():
        line = f"  {name:<{width}}  {v.state:<14} {v.doing}"
        if v.spec:
            text = _spec_text(v.spec, root)
            line += f"  [{v.spec}{': ' + text if text else ''}]"
        if v.error:
            line += f"\n  {'':<{width}}  ! {v.error}"
        out.append(line.rstrip())
    out.append("  in flight: " + (", ".join(snap.in_flight) if snap.in_flight else "nothing"))
    return "\n".join(out) + "\n"

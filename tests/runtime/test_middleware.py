"""Trace (JSON lines, Mermaid), metrics JSON, and the CLI entry points."""

from __future__ import annotations

import json
from pathlib import Path

import trio

from runtime.cli import trace_main
from runtime.metrics import MetricsMiddleware
from runtime.trace import TraceMiddleware, read_trace
from runtime.trace_mermaid import render
from tests.runtime.harness import Runner
from tests.runtime.roles import two_buyer as tb


async def test_trace_and_metrics(run_roles: Runner, tmp_path: Path) -> None:
    trace_path = tmp_path / "trace.jsonl"
    tracer = TraceMiddleware(trace_path, keep=True)
    metrics = MetricsMiddleware()
    with trio.fail_after(20):
        res = await run_roles(tb.PROTOCOL, {
            "Buyer1": tb.buyer1_main, "Buyer2": tb.buyer2_main, "Seller": tb.seller_main,
        }, middleware=[tracer, metrics])
    assert all(r.ok for r in res.values())
    tracer.close()
    events = read_trace(trace_path)
    sends = [e for e in events if e["direction"] == "send"]
    recvs = [e for e in events if e["direction"] == "recv"]
    assert len(sends) == len(recvs) == 6
    first = min(sends, key=lambda e: e["time"])
    assert first["role"] == "Buyer1" and first["peer"] == "Seller" and first["label"] == "Title"
    assert first["state"] == "Buyer1_S0" and first["spec"].startswith("protocols/two_buyer.yaml:")
    assert {"time", "session", "epoch", "size"} <= set(first)
    mermaid = render(events)
    assert mermaid.startswith("sequenceDiagram") and "Buyer1->>Seller: Title" in mermaid
    snap = json.loads(metrics.to_json())
    assert snap["roles"]["Seller"]["send"]["Quote"]["count"] == 2
    assert snap["roles"]["Buyer2"]["recv"]["Quote"]["count"] == 1
    out = tmp_path / "t.mmd"
    assert trace_main([str(trace_path), "-o", str(out)]) == 0
    assert "Buyer1->>Seller: Title" in out.read_text()

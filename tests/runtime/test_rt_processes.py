"""The two-buyer protocol as three OS processes over TCP on loopback (``minuet run``)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from runtime.keys import local_network

ROOT = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent


def test_two_buyer_three_processes(tmp_path: Path) -> None:
    cfg = local_network(tmp_path, ["Buyer1", "Buyer2", "Seller"], session="procs", timeout=10,
                        connect_timeout=15)
    procs = {}
    for role, fn in (("Seller", "seller"), ("Buyer2", "buyer2"), ("Buyer1", "buyer1")):
        procs[role] = subprocess.Popen(
            [sys.executable, "-m", "runtime.cli", "--config", str(cfg), "--role", role,
             "--entry", f"rt_roles.two_buyer:{fn}", "--path", str(HERE),
             "--trace", str(tmp_path / f"{role}.jsonl")],
            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )
    out = {}
    try:
        for role, p in procs.items():
            stdout, stderr = p.communicate(timeout=40)
            assert p.returncode == 0, f"{role}: {stderr}"
            out[role] = json.loads(stdout.strip().splitlines()[-1])["result"]
    finally:
        for p in procs.values():
            if p.poll() is None:
                p.kill()
    assert out == {"Buyer1": 100, "Buyer2": "2024-06-01", "Seller": "sold TAPL"}
    traces = [str(tmp_path / f"{r}.jsonl") for r in procs]
    mmd = subprocess.run([sys.executable, "-m", "runtime.trace_mermaid", *traces],
                         cwd=ROOT, capture_output=True, text=True, timeout=30)
    assert "Seller->>Buyer2: Quote" in mmd.stdout


def test_run_reports_config_errors(tmp_path: Path) -> None:
    p = subprocess.run(
        [sys.executable, "-m", "runtime.cli", "--config", str(tmp_path / "missing.json"),
         "--role", "Buyer1", "--entry", "rt_roles.two_buyer:buyer1", "--path", str(HERE)],
        cwd=ROOT, capture_output=True, text=True, timeout=30,
    )
    assert p.returncode == 2 and "cannot read config" in p.stderr


def test_entry_that_stops_short_fails_its_process(tmp_path: Path) -> None:
    cfg = local_network(tmp_path, ["Client", "Server"], session="short", timeout=10,
                        connect_timeout=15)
    procs = {
        role: subprocess.Popen(
            [sys.executable, "-m", "runtime.cli", "--config", str(cfg), "--role", role,
             "--entry", f"rt_roles.ping_pong:{fn}", "--protocol", "generated.examples.ping_pong",
             "--pass", "endpoint", "--path", str(HERE)],
            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )
        for role, fn in (("Client", "lazy"), ("Server", "server"))
    }
    errs = {}
    try:
        for role, p in procs.items():
            _out, errs[role] = p.communicate(timeout=40)
            assert p.returncode == 1, f"{role}: {errs[role]}"
    finally:
        for p in procs.values():
            if p.poll() is None:
                p.kill()
    assert "Client: LocalViolation: the entry function returned without reaching the end" in errs["Client"]
    assert "'did nothing'" in errs["Client"]
    assert "Server: PeerGone" in errs["Server"]

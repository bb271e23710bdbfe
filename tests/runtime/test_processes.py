"""The two-buyer protocol as three OS processes over TCP on loopback (``minuet run``)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from runtime.keytool import local_network
from tests.runtime.harness import ROOT, minuet_run, run_processes


def test_two_buyer_three_processes(tmp_path: Path) -> None:
    cfg = local_network(tmp_path, ["Buyer1", "Buyer2", "Seller"], session="procs", timeout=10,
                        connect_timeout=15)
    done = run_processes({
        role: minuet_run(cfg, role, f"tests.runtime.roles.two_buyer:{role.lower()}",
                         "--trace", str(tmp_path / f"{role}.jsonl"))
        for role in ("Seller", "Buyer2", "Buyer1")
    }, timeout=40)
    assert {role: d.result() for role, d in done.items()} == {
        "Buyer1": 100, "Buyer2": "2024-06-01", "Seller": "sold TAPL",
    }
    traces = [str(tmp_path / f"{r}.jsonl") for r in done]
    mmd = subprocess.run([sys.executable, "-m", "runtime.trace_mermaid", *traces],
                         cwd=ROOT, capture_output=True, text=True, timeout=30)
    assert "Seller->>Buyer2: Quote" in mmd.stdout


def test_run_reports_config_errors(tmp_path: Path) -> None:
    p = subprocess.run(
        [sys.executable, "-m", "runtime.cli", "--config", str(tmp_path / "missing.json"),
         "--role", "Buyer1", "--entry", "tests.runtime.roles.two_buyer:buyer1", "--path", str(ROOT)],
        cwd=ROOT, capture_output=True, text=True, timeout=30,
    )
    assert p.returncode == 2 and "cannot read config" in p.stderr


def test_entry_that_stops_short_fails_its_process(tmp_path: Path) -> None:
    cfg = local_network(tmp_path, ["Client", "Server"], session="short", timeout=10,
                        connect_timeout=15)
    done = run_processes({
        role: minuet_run(cfg, role, f"tests.runtime.roles.ping_pong:{fn}", "--protocol",
                         "generated.examples.ping_pong", "--pass", "endpoint")
        for role, fn in (("Client", "lazy"), ("Server", "server"))
    }, timeout=40)
    assert [d.returncode for d in done.values()] == [1, 1], done
    client = done["Client"].stderr
    assert "Client: LocalViolation: the entry function returned without reaching the end" in client
    assert "'did nothing'" in client
    assert "Server: PeerGone" in done["Server"].stderr

"""A flagship protocol across OS processes: a 2-of-3 DKG, each participant its own
``minuet run`` process over authenticated, encrypted TCP links on loopback."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from examples.dkg_node import write_sealing_keys
from runtime.keys import local_network

ROOT = Path(__file__).resolve().parents[2]
N = 3


def test_dkg_three_processes(tmp_path: Path) -> None:
    members = [f"Participant[{i}]" for i in range(N)]
    cfg = local_network(tmp_path / "net", members, session="dkg-procs", timeout=20,
                        connect_timeout=20, params={"t": 2}, families={"Participant": N})
    write_sealing_keys(tmp_path / "seal", N)
    env = {**os.environ, "MINUET_DKG_KEYS": str(tmp_path / "seal")}
    procs = {
        m: subprocess.Popen(
            [sys.executable, "-m", "runtime.cli", "--config", str(cfg), "--role", m,
             "--entry", "examples.dkg_node:participant", "--pass", "endpoint"],
            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )
        for m in members
    }
    out = {}
    try:
        for m, p in procs.items():
            stdout, stderr = p.communicate(timeout=60)
            assert p.returncode == 0, f"{m}: {stderr}"
            out[m] = json.loads(stdout.strip().splitlines()[-1])["result"]
    finally:
        for p in procs.values():
            if p.poll() is None:
                p.kill()
    assert sorted(r["identifier"] for r in out.values()) == [1, 2, 3]
    assert len({r["group_key"] for r in out.values()}) == 1
    assert len({r["verifying_share"] for r in out.values()}) == N


def test_missing_sealing_keys_are_reported(tmp_path: Path) -> None:
    members = ["Participant[0]", "Participant[1]"]
    cfg = local_network(tmp_path / "net", members, session="x", timeout=10, connect_timeout=20,
                        params={"t": 2}, families={"Participant": 2})
    env = {**os.environ, "MINUET_DKG_KEYS": str(tmp_path / "nowhere")}
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "runtime.cli", "--config", str(cfg), "--role", m,
             "--entry", "examples.dkg_node:participant", "--pass", "endpoint"],
            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )
        for m in members
    ]
    try:
        for i, p in enumerate(procs):
            _stdout, stderr = p.communicate(timeout=60)
            # The links come up, then the entry finds no keys: a one-line error, no traceback.
            assert p.returncode == 1, stderr
            assert f"cannot read the sealing keys of member {i}" in stderr
            assert "Traceback" not in stderr
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()

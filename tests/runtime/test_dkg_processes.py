"""A flagship protocol across OS processes: a 2-of-3 DKG, each participant its own
``minuet run`` process over authenticated, encrypted TCP links on loopback."""

from __future__ import annotations

import os
from pathlib import Path

from examples.dkg_node import write_sealing_keys
from runtime.keytool import local_network
from tests.runtime.harness import minuet_run, run_processes

N = 3
ENTRY = "examples.dkg_node:participant"


def test_dkg_three_processes(tmp_path: Path) -> None:
    members = [f"Participant[{i}]" for i in range(N)]
    cfg = local_network(tmp_path / "net", members, session="dkg-procs", timeout=20,
                        connect_timeout=20, params={"t": 2}, families={"Participant": N})
    write_sealing_keys(tmp_path / "seal", N)
    env = {**os.environ, "MINUET_DKG_KEYS": str(tmp_path / "seal")}
    done = run_processes(
        {m: minuet_run(cfg, m, ENTRY, "--pass", "endpoint") for m in members}, env=env
    )
    out = [d.result() for d in done.values()]
    assert sorted(r["identifier"] for r in out) == [1, 2, 3]
    assert len({r["group_key"] for r in out}) == 1
    assert len({r["verifying_share"] for r in out}) == N


def test_missing_sealing_keys_are_reported(tmp_path: Path) -> None:
    members = ["Participant[0]", "Participant[1]"]
    cfg = local_network(tmp_path / "net", members, session="x", timeout=10, connect_timeout=20,
                        params={"t": 2}, families={"Participant": 2})
    env = {**os.environ, "MINUET_DKG_KEYS": str(tmp_path / "nowhere")}
    done = run_processes(
        {m: minuet_run(cfg, m, ENTRY, "--pass", "endpoint") for m in members}, env=env
    )
    for i, d in enumerate(done.values()):
        # The links come up, then the entry finds no keys: a one-line error, no traceback.
        assert d.returncode == 1, d.stderr
        assert f"cannot read the sealing keys of member {i}" in d.stderr
        assert "Traceback" not in d.stderr

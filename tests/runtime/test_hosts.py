"""Between hosts: the two-buyer protocol with the seller on one host and the buyers on another.

The two hosts are network namespaces made by this test, joined by a veth pair carrying
addresses of TEST-NET-2 (RFC 5737, never routed anywhere); each member is its own
``minuet run`` process inside its host, so links cross a real network stack, not loopback.
Needs root and ``ip netns`` (iproute2); skipped with the reason otherwise.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from runtime.keytool import local_network
from tests.runtime.harness import minuet_run, run_processes

ADDR = {"a": "198.51.100.1", "b": "198.51.100.2"}


def _ip(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["ip", *args], capture_output=True, text=True, timeout=30)


@pytest.fixture
def hosts() -> Iterator[dict[str, str]]:
    if shutil.which("ip") is None or os.geteuid() != 0:
        pytest.skip("needs root and iproute2's `ip netns` to make two test hosts")
    tag = f"minuet{os.getpid()}"
    ns = {"a": f"{tag}a", "b": f"{tag}b"}
    made: list[str] = []
    try:
        for name in ns.values():
            r = _ip("netns", "add", name)
            if r.returncode != 0:
                pytest.skip(f"cannot make a network namespace here: {r.stderr.strip()}")
            made.append(name)
        steps = [
            ("link", "add", f"{tag}va", "type", "veth", "peer", "name", f"{tag}vb"),
            ("link", "set", f"{tag}va", "netns", ns["a"]),
            ("link", "set", f"{tag}vb", "netns", ns["b"]),
        ]
        for side in ("a", "b"):
            dev = f"{tag}v{side}"
            steps += [
                ("-n", ns[side], "addr", "add", f"{ADDR[side]}/30", "dev", dev),
                ("-n", ns[side], "link", "set", dev, "up"),
                ("-n", ns[side], "link", "set", "lo", "up"),
            ]
        for step in steps:
            r = _ip(*step)
            if r.returncode != 0:
                pytest.skip(f"cannot wire the test hosts (ip {' '.join(step)}): {r.stderr.strip()}")
        yield ns
    finally:
        for name in made:
            _ip("netns", "del", name)  # takes the veth pair with it


def test_two_buyer_across_two_hosts(hosts: dict[str, str], tmp_path: Path) -> None:
    place = {"Seller": "a", "Buyer1": "b", "Buyer2": "b"}
    cfg = local_network(tmp_path, list(place), session="hosts", timeout=20, connect_timeout=20)
    net = json.loads(cfg.read_text(encoding="utf-8"))
    for port, (member, side) in enumerate(place.items(), start=47001):
        net["members"][member]["host"] = ADDR[side]
        net["members"][member]["port"] = port
    cfg.write_text(json.dumps(net), encoding="utf-8")
    done = run_processes({
        role: minuet_run(cfg, role, f"tests.runtime.roles.two_buyer:{role.lower()}",
                         prefix=("ip", "netns", "exec", hosts[side]))
        for role, side in place.items()
    })
    assert {role: d.result() for role, d in done.items()} == {
        "Buyer1": 100, "Buyer2": "2024-06-01", "Seller": "sold TAPL",
    }

"""``minuet node``: three nodes as OS processes, one Noise link per pair, running three FROST
signing ceremonies at once (each node coordinates one and signs in the others), one of
which fails mid-way without disturbing the other two; per-session traces and results; a
protocol outside the allow-list is refused; graceful shutdown. Plus the node wire format."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import trio
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from examples.frost_node import write_node_keys
from runtime.crypto import frost
from runtime.crypto.keys import trusted_dealer_keygen
from runtime.errors import FrameError
from runtime.identity import write_key_file
from runtime.keytool import bound_local_network
from runtime.node import load_node_config, request
from runtime.node_wire import Open, SessionFrame, decode, encode_open, encode_session

NODES = ["n0", "n1", "n2"]
FROST = {
    "module": "generated.threshold.frost_sign",
    "roles": {"Coordinator": "examples.frost_node:coordinator", "Signer": "examples.frost_node:signer"},
    "capabilities": {"Coordinator": ["frost_coordinate"]},
}


def _configs(tmp: Path) -> dict[str, Path]:
    net, sockets = bound_local_network(tmp / "ports", NODES)  # distinct free ports
    ports = {n: m["port"] for n, m in json.loads(net.read_text())["members"].items()}
    for s in sockets.values():
        s.close()
    keys = {n: write_key_file(tmp / f"{n}.key") for n in NODES}
    paths = {}
    for n in NODES:
        cfg = {
            "name": n, "port": ports[n], "key": f"{n}.key", "control": f"{n}.sock",
            "state_dir": f"state-{n}", "trace_dir": "traces", "timeout": 10, "grace": 5,
            "peers": {p: {"port": ports[p], "ed25519": keys[p].public_b64} for p in NODES if p != n},
            "protocols": {"FrostSign": FROST},
        }
        paths[n] = tmp / f"{n}.json"
        paths[n].write_text(json.dumps(cfg))
    return paths


def _ceremony(coord: str, signers: list[str], ids: list[int], msg: bytes, session: str,
              **args: Any) -> dict[str, Any]:
    roles = {"Coordinator": coord, **{f"Signer[{i}]": n for i, n in enumerate(signers)}}
    return {"op": "start", "protocol": "FrostSign", "session": session, "epoch": 0, "roles": roles,
            "families": {"Signer": len(signers)},
            "args": {"message": msg.hex(), "signers": ids, **args}}


async def test_three_nodes_run_three_ceremonies_at_once(tmp_path: Path) -> None:
    keys, public, _ = trusted_dealer_keygen(2, 3)
    paths = _configs(tmp_path)
    for i, n in enumerate(NODES):  # node n_i holds the key package with identifier i + 1
        write_node_keys(tmp_path / f"state-{n}", public, {i + 1: keys[i + 1]})
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(Path.cwd()), os.environ.get("PYTHONPATH", "")])}
    procs = [
        subprocess.Popen([sys.executable, "-m", "runtime.node", "run", "--config", str(paths[n])],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
        for n in NODES
    ]
    controls = {n: load_node_config(paths[n]).control for n in NODES}
    try:
        with trio.fail_after(60):
            for sock in controls.values():
                while not sock.exists():
                    await trio.sleep(0.05)
            msgs = {s: f"message {s}".encode() for s in ("A", "B", "C")}
            plan = {
                "A": ("n0", _ceremony("n0", ["n1", "n2"], [2, 3], msgs["A"], "A")),
                "B": ("n1", _ceremony("n1", ["n0", "n2"], [1, 3], msgs["B"], "B")),
                # C fails mid-way: n1's signer stops after its commitment
                "C": ("n2", _ceremony("n2", ["n0", "n1"], [1, 2], msgs["C"], "C",
                                      fail_after_commitment=["Signer[1]"])),
            }
            results: dict[str, dict[str, Any]] = {}

            async def run(name: str, node: str, req: dict[str, Any]) -> None:
                results[name] = await request(controls[node], req)

            async with trio.open_nursery() as nursery:
                for name, (node, req) in plan.items():
                    nursery.start_soon(run, name, node, req)
            refused = await request(controls["n0"], {
                **_ceremony("n0", ["n1", "n2"], [2, 3], b"x", "D"), "protocol": "Dkg"})
            statuses: dict[str, dict[str, Any]] = {}
            for n in NODES:  # a signer finishes a moment after its coordinator answered
                st = await request(controls[n], {"op": "status"})
                while len(st["finished"]) < 3 or st["running"]:
                    await trio.sleep(0.05)
                    st = await request(controls[n], {"op": "status"})
                statuses[n] = st
            for n in ("n0", "n1"):
                assert (await request(controls[n], {"op": "shutdown"}))["ok"]
        # the CLI's way to the same control socket
        done = subprocess.run([sys.executable, "-m", "codegen.cli", "node", "shutdown", "--config", str(paths["n2"])],
                              capture_output=True, text=True, env=env, check=False)
        assert done.returncode == 0 and json.loads(done.stdout) == {"ok": True}, done.stderr
        for p in procs:
            out, err = p.communicate(timeout=30)
            assert p.returncode == 0, err.decode()
            assert b'"stopped": true' in out
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.communicate()
    for name in ("A", "B"):
        assert results[name]["ok"], (results[name], statuses)
        frost.verify(public.verifying_key, msgs[name], bytes.fromhex(results[name]["value"]))
        assert results[name]["metrics"]  # per-session metrics
    assert not results["C"]["ok"]
    assert "Signer[1]" in results["C"]["error"] and "InjectedCrash" in results["C"]["error"], results["C"]
    # every node ran (or refused) its part of all three; n1's failure stayed in C
    for n in NODES:
        st = statuses[n]
        assert st["links"] == sorted(set(NODES) - {n})
        assert st["running"] == []
        assert {k.split(".")[0] for k in st["finished"]} == {"A", "B", "C"}
    assert statuses["n1"]["finished"]["A.0"]["ok"] and statuses["n1"]["finished"]["B.0"]["ok"]
    assert "InjectedCrash" in statuses["n1"]["finished"]["C.0"]["error"]
    assert refused == {"ok": False, "error": "refused: protocol Dkg is not allowed on this node"}
    traces = sorted(p.name for p in (tmp_path / "traces").iterdir())
    assert traces == sorted(f"{s}.0.{n}.jsonl" for s in "ABC" for n in NODES)
    assert (tmp_path / "state-n0" / "results" / "A.0.json").exists()


def test_node_wire_round_trip_and_malformed_input() -> None:
    o = Open("FrostSign", "s", 2, {"Coordinator": "a", "Signer[0]": "b"}, {}, {"Signer": 1}, {"m": "00"})
    assert decode(encode_open(o)) == o
    f = SessionFrame("s", 2, "Coordinator", "Signer[0]", b"\x01body")
    assert decode(encode_session(f)) == f
    for bad in (b"", b"\x00not json", b"\x00[]", b"\x00" + json.dumps({**o.to_json(), "epoch": -1}).encode(),
                b"\x05", b"\x01\x05ab"):
        with pytest.raises(FrameError):
            decode(bad)


def _node(tmp: Path, **extra: Any) -> Any:
    from typing import cast

    from runtime.node import Node, _PeerLink, parse_node_config

    peer = write_key_file(tmp / "peer.key")
    me = write_key_file(tmp / "me.key")
    cfg = parse_node_config({
        "name": "n0", "port": 1, "key": "me.key", "protocols": {"FrostSign": FROST},
        "peers": {"n1": {"port": 2, "ed25519": peer.public_b64}}, **extra,
    }, tmp, "node.json")
    node = Node(cfg, me)
    link = _PeerLink("n1", cast(trio.SocketStream, None), cast(Any, None), cast(Any, None), cast(Any, None))
    return node, link


def test_frames_of_sessions_not_open_yet_are_bounded_per_peer(tmp_path: Path) -> None:
    node, link = _node(tmp_path, peer_pending_limit=1000)
    for _ in range(20):
        node._dispatch(link, SessionFrame("later", 0, "Coordinator", "Signer[0]", b"x" * 100))
    assert link.pending_bytes <= 1000 and len(link.pending) == 6
    assert any("dropped a frame of unknown session 'later'" in e for e in node.events)


def test_refusals(tmp_path: Path) -> None:
    node, _ = _node(tmp_path, max_sessions=1)
    o = Open("FrostSign", "s", 0, {"Coordinator": "n1", "Signer[0]": "n0"})
    assert node._refuse(Open("Dkg", "s", 0, o.roles), "n1") == "protocol Dkg is not allowed on this node"
    assert node._refuse(o, "n9") == "n9 plays no role in it"
    assert node._refuse(Open("FrostSign", "s", 0, {"Coordinator": "n1"}), "n1") == (
        "this node must play exactly one role, not 0")
    assert node._refuse(Open("FrostSign", "s", 0, {"Coordinator": "n7", "Signer[0]": "n0"}), None) == (
        "unknown nodes ['n7']")
    assert node._refuse(o, "n1") is None
    node.closing = True
    assert node._refuse(o, "n1") == "the node is shutting down"


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.binary(max_size=80) | st.integers(0, 2**32 - 1).map(lambda n: n.to_bytes(4, "big")),
                max_size=3))
async def test_node_accept_survives_any_unauthenticated_input(tmp_path_factory: pytest.TempPathFactory,
                                                             chunks: list[bytes]) -> None:
    from typing import cast

    import trio.testing

    node, _ = _node(tmp_path_factory.mktemp("n"), handshake_timeout=0.2)
    client, server = trio.testing.memory_stream_pair()
    for c in chunks:
        await client.send_all(c)
    await client.send_eof()
    with trio.fail_after(5):
        await node._accept(cast(trio.SocketStream, server))
    assert node.links == {} and node.half_open == 0
    assert len(node.events) == 1 and node.events[0].startswith("refused")


async def test_node_refuses_wrong_key_and_caps_half_open_handshakes(tmp_path: Path) -> None:
    from typing import cast

    import trio.testing

    from runtime.framing import length_prefix
    from runtime.identity import Identity
    from runtime.node import LINK_PROTOCOL, LINK_SESSION
    from runtime.securelink import Initiator

    node, _ = _node(tmp_path, max_handshakes=1, handshake_timeout=0.3)
    # n1's name, but not n1's key: refused as LinkAuthError, nobody linked
    hs = Initiator(LINK_PROTOCOL, LINK_SESSION, 0, "n1", Identity.generate(), "n0", node.key.link_public)
    client, server = trio.testing.memory_stream_pair()
    await client.send_all(length_prefix(hs.hello()))
    with trio.fail_after(5):
        await node._accept(cast(trio.SocketStream, server))
    assert node.links == {} and "LinkAuthError: n1 failed to prove its identity" in node.events[-1]
    # one silent connection holds the only half-open slot; the next is closed at once
    async with trio.open_nursery() as nursery:
        _, silent = trio.testing.memory_stream_pair()
        nursery.start_soon(node._accept, cast(trio.SocketStream, silent))
        await trio.sleep(0.05)
        _, second = trio.testing.memory_stream_pair()
        await node._accept(cast(trio.SocketStream, second))
        assert "more than 1 handshakes at once" in node.events[-1]
    assert node.half_open == 0 and node.events[-1] == "refused ?: no handshake within 0.3s"


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=200))
def test_node_wire_decode_never_crashes(data: bytes) -> None:
    try:
        decode(data)
    except FrameError:
        pass

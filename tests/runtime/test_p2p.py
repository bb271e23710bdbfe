"""The libp2p transport (``runtime.p2p``, the ``minuet[p2p]`` extra): peer IDs from member
identities, Noise-only security, wrong keys refused, sessions as OS processes and as streams
sharing one connection, mDNS on loopback."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path
from typing import Any

import multiaddr
import pytest
import trio
from libp2p import new_host
from libp2p.crypto.ed25519 import Ed25519PublicKey as Libp2pEd25519Public
from libp2p.crypto.ed25519 import create_new_key_pair as ed25519_key_pair
from libp2p.custom_types import TProtocol
from libp2p.network.config import ConnectionConfig
from libp2p.peer.id import ID
from libp2p.peer.peerinfo import PeerInfo
from libp2p.security.insecure.transport import PLAINTEXT_PROTOCOL_ID, InsecureTransport
from libp2p.security.secio.transport import ID as SECIO_PROTOCOL_ID
from libp2p.security.secio.transport import Transport as SecioTransport

from examples.frost_node import write_node_keys
from runtime.config import NetConfig, parse_config
from runtime.crypto import frost
from runtime.crypto.keys import trusted_dealer_keygen
from runtime.errors import LinkAuthError, LinkVersionError, PeerGone
from runtime.framing import length_prefix
from runtime.identity import Identity, write_key_file
from runtime.keytool import local_network
from runtime.node import load_node_config, request
from runtime.p2p import PROTOCOL_ID, P2pHost, open_p2p_host, p2p_session
from runtime.p2p_ids import peer_id, public_from_peer_id
from runtime.securelink import Initiator
from runtime.trace import TraceMiddleware
from tests.runtime.harness import ROOT, minuet_run, run_processes
from tests.runtime.roles import ping_pong as pp
from tests.runtime.test_node import NODES
from tests.runtime.test_node import _ceremony as ceremony
from tests.runtime.test_node import _configs as node_configs
from tests.runtime.test_securelink import _v1_hello

logging.getLogger("libp2p").setLevel(logging.CRITICAL)  # refused dials log errors by design


def test_peer_ids_map_to_member_identities_both_ways() -> None:
    for seed in (bytes(32), b"\x01" * 32, os.urandom(32), os.urandom(32)):
        key = Identity(seed)
        ours = peer_id(key.public)
        theirs = ID.from_pubkey(ed25519_key_pair(seed).public_key)
        assert ours == theirs.to_base58() and ours.startswith("12D3KooW")
        assert public_from_peer_id(ours) == key.public
        extracted = ID.from_base58(ours).extract_public_key()
        assert extracted is not None and extracted.to_bytes() == key.public
        assert peer_id(Libp2pEd25519Public.from_bytes(key.public).to_bytes()) == ours
    # an RSA peer's ID is a SHA-256 multihash: no key inside, not a member identity
    for bad in ("QmYyQSo1c1Ym7orWxLYvCrM2EmxFTANf8wXmmE7DWjhx5N", "", "0OIl", "12D3KooW" + "1" * 44):
        with pytest.raises(ValueError):
            public_from_peer_id(bad)


def _config(keys: dict[str, Identity], ports: dict[str, int], session: str = "p2p", **kw: Any) -> NetConfig:
    return parse_config({
        "session": session, "timeout": 10, "connect_timeout": 10, "linger": 2, **kw,
        "members": {n: {"host": "127.0.0.1", "port": ports[n], "ed25519": k.public_b64}
                    for n, k in keys.items()},
    })


@asynccontextmanager
async def _hosts(keys: dict[str, Identity], mdns: bool = False) -> AsyncIterator[dict[str, P2pHost]]:
    async with AsyncExitStack() as stack:
        yield {n: await stack.enter_async_context(open_p2p_host(k, mdns=mdns)) for n, k in keys.items()}


async def _ping_pong(
    hosts: dict[str, P2pHost], cfgs: dict[str, NetConfig], **kw: Any
) -> dict[str, Any]:
    out: dict[str, Any] = {}

    async def one(name: str, fn: Callable[..., Any]) -> None:
        try:
            async with p2p_session(pp.PROTOCOL, cfgs[name], name, host=hosts[name], **kw) as ep:
                out[name] = await fn(ep)
        except* PeerGone as eg:
            out[name] = eg.exceptions[0]

    async with trio.open_nursery() as n:
        n.start_soon(one, "Client", pp.client)
        n.start_soon(one, "Server", pp.server)
    return out


async def test_sessions_share_one_connection_one_stream_each() -> None:
    keys = {"Client": Identity.generate(), "Server": Identity.generate()}
    with trio.fail_after(30):
        async with _hosts(keys) as hosts:
            assert {n: h.peer_id for n, h in hosts.items()} == {n: peer_id(k.public) for n, k in keys.items()}
            assert hosts["Client"].host.get_id().to_base58() == hosts["Client"].peer_id
            ports = {n: h.port for n, h in hosts.items()}
            results: list[dict[str, Any]] = []

            async def session(sid: str) -> None:
                cfg = _config(keys, ports, session=sid)
                results.append(await _ping_pong(hosts, {"Client": cfg, "Server": cfg}))

            async with trio.open_nursery() as n:
                for sid in ("s1", "s2", "s3"):
                    n.start_soon(session, sid)
            server_id = hosts["Server"].host.get_id()
            assert len(hosts["Client"].host.get_network().get_connections(server_id)) == 1
    assert results == [{"Client": 45, "Server": 10}] * 3


async def test_wrong_key_peers_are_refused_and_named() -> None:
    """The config lists K for each member; the Server runs with another key (it dials the
    Client), and in a second run the Client does (the Server's libp2p dial meets it)."""
    keys = {"Client": Identity.generate(), "Server": Identity.generate()}
    for impostor in ("Server", "Client"):
        actual = dict(keys)
        actual[impostor] = Identity.generate()
        trace = TraceMiddleware(keep=True)
        with trio.fail_after(30):
            async with _hosts(actual) as hosts:
                ports = {n: h.port for n, h in hosts.items()}
                honest = _config(keys, ports, connect_timeout=2.5)
                own = _config({**keys, impostor: actual[impostor]}, ports, connect_timeout=2.5)
                cfgs = {n: own if n == impostor else honest for n in keys}
                victim = "Client" if impostor == "Server" else "Server"
                out = await _ping_pong(hosts, cfgs, middleware=[trace])
        err = out[victim]
        assert isinstance(err, PeerGone) and err.peer == impostor, err
        if impostor == "Client":  # the Server dialled: libp2p's Noise met another peer ID
            assert isinstance(err.__cause__, LinkAuthError) and err.__cause__.peer == "Client"
            assert "does not hold Client's key" in str(err.__cause__)
        else:  # the Server dialled the Client with the wrong key: Minuet's Noise_KK refused it
            refused = [e["error"] for e in trace.events
                       if e["label"] == "handshake" and e["role"] == "Client"]
            assert refused and refused[0].startswith("LinkAuthError: Server failed to prove its identity")


async def test_strangers_and_old_link_versions_are_refused_without_harm() -> None:
    """Streams of our protocol from a stranger's host: garbage and a hello for a session not
    running here are dropped, a link-version-1 hello gets the typed version reply; the
    session then runs as usual on the same hosts."""
    keys = {"Client": Identity.generate(), "Server": Identity.generate()}
    replies: dict[str, bytes] = {}
    with trio.fail_after(30):
        async with _hosts(keys) as hosts, open_p2p_host(Identity.generate()) as stranger:
            client = hosts["Client"]
            pid = ID.from_base58(client.peer_id)
            addr = multiaddr.Multiaddr(f"/ip4/127.0.0.1/tcp/{client.port}")
            stranger.host.get_peerstore().add_addrs(pid, [addr], 3600)

            async def probe(name: str, data: bytes) -> None:
                stream = await stranger.host.new_stream(pid, [PROTOCOL_ID])
                await stream.write(data)
                try:
                    replies[name] = await stream.read(4096)
                except Exception:  # reset or EOF: refused without a word
                    replies[name] = b""

            await probe("garbage", b"\xff" * 64)  # a length far above any hello
            await probe("v1", length_prefix(_v1_hello()))
            foreign = Initiator(pp.PROTOCOL.name, "not-here", 0, "Server", Identity.generate(),
                                "Client", keys["Client"].link_public)
            await probe("no such session", length_prefix(foreign.hello()))
            cfg = _config(keys, {n: h.port for n, h in hosts.items()})
            out = await _ping_pong(hosts, {"Client": cfg, "Server": cfg})
    assert out == {"Client": 45, "Server": 10}
    assert replies["garbage"] == replies["no such session"] == b""
    probe_v1 = Initiator(pp.PROTOCOL.name, "s", 0, "A", Identity.generate(), "Client",
                         keys["Client"].link_public)
    with pytest.raises(LinkVersionError, match="Client speaks link protocol version 2"):
        probe_v1.finish(replies["v1"][4:])


@pytest.mark.parametrize("security", ["plaintext", "secio"])
async def test_plaintext_and_secio_dialers_are_refused(security: str) -> None:
    """A dialler offering only plaintext (or the deprecated secio) cannot connect to a Minuet
    host; the same dialler does reach a library-default host, so the test can fail."""
    pair = ed25519_key_pair(os.urandom(32))
    sec = ({TProtocol(PLAINTEXT_PROTOCOL_ID): InsecureTransport(pair)} if security == "plaintext"
           else {SECIO_PROTOCOL_ID: SecioTransport(pair)})
    listen = [multiaddr.Multiaddr("/ip4/127.0.0.1/tcp/0")]
    dialler = new_host(key_pair=pair, sec_opt=sec, muxer_preference="YAMUX", listen_addrs=listen,
                       connection_config=ConnectionConfig(max_connections_per_peer=1))
    default = new_host(key_pair=ed25519_key_pair(os.urandom(32)), muxer_preference="YAMUX",
                       listen_addrs=listen)
    connected: dict[str, bool] = {}
    with trio.fail_after(30):
        async with dialler.run(listen_addrs=listen), default.run(listen_addrs=listen), \
                open_p2p_host(Identity.generate()) as ours:
            for name, target in (("minuet", ours.host), ("default", default)):
                addr = multiaddr.Multiaddr(f"/ip4/127.0.0.1/tcp/{_port(target)}")
                try:
                    await dialler.connect(PeerInfo(target.get_id(), [addr]))
                    connected[name] = True
                except Exception:
                    connected[name] = False
    assert connected == {"minuet": False, "default": True}


def _port(host: Any) -> int:
    return int(host.get_transport_addrs()[0].value_for_protocol("tcp"))


async def test_peers_found_by_mdns_on_loopback() -> None:
    """With ``mdns`` the dialler ignores the config's addresses (here: ports nobody listens
    on) and finds its peer's address by mDNS (zeroconf multicast; on this host's loopback)."""
    keys = {"Client": Identity.generate(), "Server": Identity.generate()}
    with trio.fail_after(30):
        async with _hosts(keys, mdns=True) as hosts:
            cfg = _config(keys, {"Client": 9, "Server": 9})
            out = await _ping_pong(hosts, {"Client": cfg, "Server": cfg})
    assert out == {"Client": 45, "Server": 10}


def test_two_buyer_three_processes_over_p2p(tmp_path: Path) -> None:
    cfg = local_network(tmp_path, ["Buyer1", "Buyer2", "Seller"], session="p2p-procs", timeout=10,
                        connect_timeout=15)
    done = run_processes({
        role: minuet_run(cfg, role, f"tests.runtime.roles.two_buyer:{role.lower()}",
                         "--transport", "p2p")
        for role in ("Seller", "Buyer2", "Buyer1")
    }, timeout=60)
    assert {role: d.result() for role, d in done.items()} == {
        "Buyer1": 100, "Buyer2": "2024-06-01", "Seller": "sold TAPL",
    }


def test_ping_pong_two_processes_over_p2p_and_a_wrong_key(tmp_path: Path) -> None:
    """Two processes run ping-pong to End. Then a Client process with another key (and a
    config naming that key) takes the Client's place: the Server refuses it, naming it."""
    cfg = local_network(tmp_path, ["Client", "Server"], session="p2p-two", timeout=10,
                        connect_timeout=15)

    def cmd(role: str, config: Path) -> list[str]:
        return minuet_run(config, role, f"tests.runtime.roles.ping_pong:{role.lower()}",
                          "--protocol", "generated.examples.ping_pong", "--pass", "endpoint",
                          "--transport", "p2p")

    done = run_processes({role: cmd(role, cfg) for role in ("Client", "Server")}, timeout=60)
    assert {role: d.result() for role, d in done.items()} == {"Client": 45, "Server": 10}
    net = json.loads(cfg.read_text(encoding="utf-8"))
    # The impostor must be listening before the Server's last dial, under CI load too.
    net.update(session="p2p-wrong", connect_timeout=12)
    honest = tmp_path / "honest.json"
    honest.write_text(json.dumps(net), encoding="utf-8")
    net["members"]["Client"].update(key="impostor.key", ed25519=write_key_file(tmp_path / "impostor.key").public_b64)
    own = tmp_path / "impostor.json"
    own.write_text(json.dumps(net), encoding="utf-8")
    done = run_processes({"Client": cmd("Client", own), "Server": cmd("Server", honest)}, timeout=60)
    assert [d.returncode for d in done.values()] == [1, 1], done
    server, impostor = done["Server"].stderr, done["Client"].stderr
    both = f"server:\n{server}\nimpostor:\n{impostor}"
    assert "Server: PeerGone: peer Client gone while in state connect" in server, both
    assert "Client failed to prove its identity" in server, both
    assert "does not hold Client's key" in server, both


def test_p2p_without_the_extra_is_a_usage_error(tmp_path: Path) -> None:
    """Where libp2p is not installed (simulated: its import fails), ``--transport p2p`` says
    which extra to install (exit 2), no traceback; ``--mdns`` needs ``--transport p2p``."""
    cfg = local_network(tmp_path, ["Client", "Server"], session="no-extra")
    argv = minuet_run(cfg, "Client", "tests.runtime.roles.ping_pong:client", "--protocol",
                      "generated.examples.ping_pong", "--pass", "endpoint")[3:]
    code = ("import sys; sys.modules['libp2p'] = None; from runtime.cli import run_main; "
            f"sys.exit(run_main({argv!r} + sys.argv[1:]))")
    for extra, message in ((["--transport", "p2p"], "needs the p2p extra (pip install 'minuet[p2p]')"),
                           (["--mdns"], "--mdns is for --transport p2p")):
        p = subprocess.run([sys.executable, "-c", code, *extra], cwd=ROOT, capture_output=True,
                           text=True, timeout=60)
        assert p.returncode == 2 and message in p.stderr and "Traceback" not in p.stderr, p.stderr


async def test_three_nodes_over_p2p_run_two_ceremonies_at_once(tmp_path: Path) -> None:
    """``minuet node run --transport p2p``: three nodes as OS processes, their links libp2p
    streams, two FROST signing ceremonies at once; both signatures verify."""
    keys, public, _ = trusted_dealer_keygen(2, 3)
    paths = node_configs(tmp_path)
    for i, n in enumerate(NODES):
        write_node_keys(tmp_path / f"state-{n}", public, {i + 1: keys[i + 1]})
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    procs = [subprocess.Popen([sys.executable, "-m", "runtime.node", "run", "--config", str(paths[n]),
                               "--transport", "p2p"],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, cwd=ROOT)
             for n in NODES]
    controls = {n: load_node_config(paths[n]).control for n in NODES}
    msgs = {s: f"message {s}".encode() for s in ("A", "B")}
    results: dict[str, dict[str, Any]] = {}
    try:
        with trio.fail_after(60):
            for sock in controls.values():
                while not sock.exists():
                    await trio.sleep(0.05)
            plan = {"A": ("n0", ceremony("n0", ["n1", "n2"], [2, 3], msgs["A"], "A")),
                    "B": ("n1", ceremony("n1", ["n0", "n2"], [1, 3], msgs["B"], "B"))}

            async def run(name: str, node: str, req: dict[str, Any]) -> None:
                results[name] = await request(controls[node], req)

            async with trio.open_nursery() as nursery:
                for name, (node, req) in plan.items():
                    nursery.start_soon(run, name, node, req)
            for n in NODES:  # a signer finishes a moment after its coordinator answered
                st = await request(controls[n], {"op": "status"})
                while len(st["finished"]) < 2 or st["running"]:
                    await trio.sleep(0.05)
                    st = await request(controls[n], {"op": "status"})
                assert st["links"] == sorted(set(NODES) - {n}), st
            for n in NODES:
                assert (await request(controls[n], {"op": "shutdown"}))["ok"]
        for p in procs:
            out, err = p.communicate(timeout=30)
            assert p.returncode == 0 and b'"stopped": true' in out, err.decode()
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.communicate()
    for name in ("A", "B"):
        assert results[name]["ok"], results[name]
        frost.verify(public.verifying_key, msgs[name], bytes.fromhex(results[name]["value"]))

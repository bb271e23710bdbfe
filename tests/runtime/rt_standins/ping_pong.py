"""Hand-written stand-in for ``generated/examples/ping_pong.py`` (protocols/ping_pong.yaml).

It follows the generator contract exactly (``LinearState``, ``_take``, ``Endpoint.send``/
``recv`` with ``Step`` constants, Writer/Reader codecs, ``close`` at End) so the runtime can
be tested and benchmarked before the generator lands.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from runtime.codec import Reader as _Reader
from runtime.codec import Writer as _Writer
from runtime.contract import Endpoint as _Endpoint
from runtime.contract import Peer as _Peer
from runtime.contract import ProtocolInfo as _ProtocolInfo
from runtime.contract import RoleInfo as _RoleInfo
from runtime.contract import Step as _Step
from runtime.errors import DecodeError as _DecodeError
from runtime.linear import PRIVATE as _PRIVATE
from runtime.linear import LinearState as _LinearState

_SPEC: Final = "protocols/ping_pong.yaml"
PROTOCOL: Final = _ProtocolInfo("PingPong", (_RoleInfo("Client"), _RoleInfo("Server")), (), _SPEC)
CONTINUE: Final = "__continue__"
EXIT: Final = "__exit__"


@dataclass(frozen=True, slots=True)
class Ping:
    seq: int


@dataclass(frozen=True, slots=True)
class Pong:
    seq: int


def _enc_Ping(v: Ping) -> bytes:
    w = _Writer()
    w.sint(v.seq)
    return w.getvalue()


def _dec_Ping(b: bytes) -> Ping:
    r = _Reader(b)
    v = Ping(seq=r.sint())
    r.finish()
    return v


def _enc_Pong(v: Pong) -> bytes:
    w = _Writer()
    w.sint(v.seq)
    return w.getvalue()


def _dec_Pong(b: bytes) -> Pong:
    r = _Reader(b)
    v = Pong(seq=r.sint())
    r.finish()
    return v


def _enc_ctl(v: None) -> bytes:
    return b""


def _dec_ctl(b: bytes) -> None:
    if b:
        raise _DecodeError(f"{len(b)} trailing bytes after control message")


_PEER_Client: Final = _Peer("Client")
_PEER_Server: Final = _Peer("Server")
_STEP_0: Final = _Step("PingPong", "Client", "Client_S0", "__continue__|__exit__", f"{_SPEC}:11:5")
_STEP_1: Final = _Step("PingPong", "Client", "Client_S1", "Ping", f"{_SPEC}:14:11")
_STEP_2: Final = _Step("PingPong", "Client", "Client_S2", "Pong", f"{_SPEC}:15:11")
_STEP_3: Final = _Step("PingPong", "Server", "Server_S0", "__continue__|__exit__", f"{_SPEC}:11:5")
_STEP_4: Final = _Step("PingPong", "Server", "Server_S1", "Ping", f"{_SPEC}:14:11")
_STEP_5: Final = _Step("PingPong", "Server", "Server_S2", "Pong", f"{_SPEC}:15:11")


class Client_End(_LinearState):
    """Client has finished the protocol; the session is closed."""


class Client_S0(_LinearState):
    """Client decides whether the loop goes on."""

    async def select_continue(self) -> Client_S1:
        _ep = self._take("select_continue")
        await _ep.send(_PEER_Server, CONTINUE, None, _enc_ctl, _STEP_0)
        return Client_S1(_ep, _PRIVATE)

    async def select_exit(self) -> Client_End:
        _ep = self._take("select_exit")
        await _ep.send(_PEER_Server, EXIT, None, _enc_ctl, _STEP_0)
        await _ep.close()
        return Client_End(_ep, _PRIVATE)


class Client_S1(_LinearState):
    async def send_ping(self, msg: Ping) -> Client_S2:
        _ep = self._take("send_ping")
        await _ep.send(_PEER_Server, "Ping", msg, _enc_Ping, _STEP_1)
        return Client_S2(_ep, _PRIVATE)


class Client_S2(_LinearState):
    async def recv_pong(self) -> tuple[Pong, Client_S0]:
        _ep = self._take("recv_pong")
        _lbl, _v = await _ep.recv(_PEER_Server, {"Pong": _dec_Pong}, _STEP_2)
        assert isinstance(_v, Pong)
        return _v, Client_S0(_ep, _PRIVATE)


class Server_End(_LinearState):
    """Server has finished the protocol; the session is closed."""


class Server_S0(_LinearState):
    async def offer(self) -> Server_S1 | Server_End:
        _ep = self._take("offer")
        _lbl, _v = await _ep.recv(_PEER_Client, {CONTINUE: _dec_ctl, EXIT: _dec_ctl}, _STEP_3)
        if _lbl == CONTINUE:
            return Server_S1(_ep, _PRIVATE)
        await _ep.close()
        return Server_End(_ep, _PRIVATE)


class Server_S1(_LinearState):
    async def recv_ping(self) -> tuple[Ping, Server_S2]:
        _ep = self._take("recv_ping")
        _lbl, _v = await _ep.recv(_PEER_Client, {"Ping": _dec_Ping}, _STEP_4)
        assert isinstance(_v, Ping)
        return _v, Server_S2(_ep, _PRIVATE)


class Server_S2(_LinearState):
    async def send_pong(self, msg: Pong) -> Server_S0:
        _ep = self._take("send_pong")
        await _ep.send(_PEER_Client, "Pong", msg, _enc_Pong, _STEP_5)
        return Server_S0(_ep, _PRIVATE)


def start_client(ep: _Endpoint) -> Client_S0:
    return Client_S0(ep, _PRIVATE)


def start_server(ep: _Endpoint) -> Server_S0:
    return Server_S0(ep, _PRIVATE)


# Role functions used by tests, the benchmark and ``minuet run`` examples.


async def client(ep: _Endpoint, rounds: int = 10) -> int:
    s = start_client(ep)
    total = 0
    for i in range(rounds):
        s1 = await s.select_continue()
        s2 = await s1.send_ping(Ping(i))
        pong, s = await s2.recv_pong()
        total += pong.seq
    await s.select_exit()
    return total


async def server(ep: _Endpoint) -> int:
    s = start_server(ep)
    n = 0
    while True:
        nxt = await s.offer()
        if isinstance(nxt, Server_End):
            return n
        ping, s2 = await nxt.recv_ping()
        s = await s2.send_pong(Pong(ping.seq))
        n += 1

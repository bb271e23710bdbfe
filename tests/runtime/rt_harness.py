"""Test harness: run the same role functions over the memory or the TCP transport."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import trio

from runtime.config import load_config
from runtime.contract import Peer, ProtocolInfo
from runtime.endpoint import SessionEndpoint
from runtime.keys import local_network
from runtime.memory import RoleResult, memory_session
from runtime.middleware import Middleware
from runtime.session_core import SessionInfo
from runtime.tcp import tcp_session

RoleFn = Callable[[SessionEndpoint], Awaitable[Any]]
Roles = Mapping[Peer, RoleFn] | Mapping[str, RoleFn] | Mapping[Peer | str, RoleFn]
Runner = Callable[..., Awaitable[dict[str, RoleResult]]]


async def run_memory(
    protocol: ProtocolInfo, roles: Roles, *, middleware: Sequence[Middleware] = (),
    timeout: float = 5.0, **kw: Any,
) -> dict[str, RoleResult]:
    async with memory_session(protocol, timeout=timeout, middleware=middleware, **kw) as net:
        return await net.run(roles)


def make_tcp_runner(tmp: Path) -> Runner:
    async def run_tcp(
        protocol: ProtocolInfo, roles: Roles, *, middleware: Sequence[Middleware] = (),
        timeout: float = 5.0, params: Mapping[str, int] | None = None,
        families: Mapping[str, int] | None = None, **kw: Any,
    ) -> dict[str, RoleResult]:
        info = SessionInfo.build(protocol, params, families)
        names = [str(p) for p in info.members]
        cfg = load_config(local_network(
            tmp / f"net{len(list(tmp.iterdir()))}", names, timeout=timeout, connect_timeout=10, linger=2,
            params=dict(params or {}), families=dict(families or {}),
        ))
        results: dict[str, RoleResult] = {}

        async def one(name: str, fn: RoleFn) -> None:
            res = results[name] = RoleResult(name)
            try:
                async with tcp_session(protocol, cfg, name, middleware=middleware, **kw) as ep:
                    try:
                        res.value = await fn(ep)
                    except Exception as e:
                        res.error = e
            except* Exception as eg:
                if res.error is None:
                    res.error = eg.exceptions[0]

        async with trio.open_nursery() as nursery:
            for name, fn in roles.items():
                nursery.start_soon(one, str(name), fn)
        return results

    return run_tcp



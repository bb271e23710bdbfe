"""Shared fixtures: run the same role functions over the memory or the TCP transport."""

from __future__ import annotations

import sys
from collections.abc import Awaitable, Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest
import trio

sys.path.insert(0, str(Path(__file__).parent))  # rt_standins

from runtime.config import load_config  # noqa: E402
from runtime.contract import ProtocolInfo  # noqa: E402
from runtime.endpoint import SessionEndpoint  # noqa: E402
from runtime.keys import local_network  # noqa: E402
from runtime.memory import RoleResult, memory_session  # noqa: E402
from runtime.middleware import Middleware  # noqa: E402
from runtime.session_core import SessionInfo  # noqa: E402
from runtime.tcp import tcp_session  # noqa: E402

RoleFn = Callable[[SessionEndpoint], Awaitable[Any]]
Runner = Callable[..., Awaitable[dict[str, RoleResult]]]


async def run_memory(
    protocol: ProtocolInfo, roles: Mapping[str, RoleFn], *, middleware: Sequence[Middleware] = (),
    timeout: float = 5.0, **kw: Any,
) -> dict[str, RoleResult]:
    async with memory_session(protocol, timeout=timeout, middleware=middleware, **kw) as net:
        return await net.run(roles)


def make_tcp_runner(tmp: Path) -> Runner:
    async def run_tcp(
        protocol: ProtocolInfo, roles: Mapping[str, RoleFn], *, middleware: Sequence[Middleware] = (),
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
                nursery.start_soon(one, name, fn)
        return results

    return run_tcp


@pytest.fixture(params=["memory", "tcp"])
def run_roles(request: pytest.FixtureRequest, tmp_path: Path) -> Runner:
    if request.param == "memory":
        return run_memory
    return make_tcp_runner(tmp_path)

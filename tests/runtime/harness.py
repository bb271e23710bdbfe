"""Test harness: run the same role functions over the memory or the TCP transport."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import trio

from generated.threshold import justify
from runtime.config import load_config
from runtime.contract import Peer, ProtocolInfo
from runtime.endpoint import SessionEndpoint
from runtime.keytool import bound_local_network
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
        # Session settings the memory runner takes as keywords go into the TCP config.
        settings = {k: kw.pop(k) for k in ("inbox_limit",) if k in kw}
        path, sockets = bound_local_network(
            tmp / f"net{len(list(tmp.iterdir()))}", names, timeout=timeout, connect_timeout=10, linger=2,
            params=dict(params or {}), families=dict(families or {}), **settings,
        )
        cfg = load_config(path)
        results: dict[str, RoleResult] = {}

        async def one(name: str, fn: RoleFn) -> None:
            res = results[name] = RoleResult(name)
            try:
                async with tcp_session(
                    protocol, cfg, name, middleware=middleware, listener=sockets.pop(name), **kw
                ) as ep:
                    try:
                        res.value = await fn(ep)
                    except Exception as e:
                        res.error = e
            except* Exception as eg:
                if res.error is None:
                    res.error = eg.exceptions[0]

        try:
            async with trio.open_nursery() as nursery:
                for name, fn in roles.items():
                    nursery.start_soon(one, str(name), fn)
        finally:
            for sock in sockets.values():  # members without a role function
                sock.close()
        return results

    return run_tcp





async def run_justify(run_roles: Runner, programs: Mapping[str, RoleFn]) -> dict[str, Any]:
    """The Justify session that settles a disputed ceremony (``examples.justification``),
    one member per program; every member's outcome."""
    with trio.fail_after(60):
        results = await run_roles(
            justify.PROTOCOL, programs, families={"Member": len(programs)}, timeout=10.0
        )
    return {name: r.unwrap() for name, r in results.items()}

ROOT = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class Finished:
    """How one ``minuet run`` process ended."""

    returncode: int
    stdout: str
    stderr: str

    def result(self) -> Any:
        """The entry's result from the process's last JSON line (it must have succeeded)."""
        assert self.returncode == 0, self.stderr
        return json.loads(self.stdout.strip().splitlines()[-1])["result"]


def minuet_run(cfg: Path, role: str, entry: str, *extra: str, prefix: Sequence[str] = ()) -> list[str]:
    """The command line of ``minuet run`` for one member (``prefix``: e.g. ``ip netns exec``)."""
    return [*prefix, sys.executable, "-m", "runtime.cli", "--config", str(cfg), "--role", role,
            "--entry", entry, "--path", str(ROOT), *extra]


def run_processes(
    commands: Mapping[str, Sequence[str]], *, env: Mapping[str, str] | None = None,
    timeout: float = 60,
) -> dict[str, Finished]:
    """Start every command at once (members of one session), wait for all, kill leftovers."""
    procs = {
        name: subprocess.Popen(
            list(cmd), cwd=ROOT, env=None if env is None else dict(env),
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )
        for name, cmd in commands.items()
    }
    out: dict[str, Finished] = {}
    try:
        for name, p in procs.items():
            stdout, stderr = p.communicate(timeout=timeout)
            out[name] = Finished(p.returncode, stdout, stderr)
    finally:
        for p in procs.values():
            if p.poll() is None:
                p.kill()
    return out

"""Fixtures for the runtime suite: ``run_roles`` is parametrized over memory and TCP."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))  # rt_standins, rt_harness

from rt_harness import Runner, make_tcp_runner, run_memory


@pytest.fixture(params=["memory", "tcp"])
def run_roles(request: pytest.FixtureRequest, tmp_path: Path) -> Runner:
    if request.param == "memory":
        return run_memory
    return make_tcp_runner(tmp_path)

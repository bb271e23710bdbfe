"""The simulator (runtime.sim): determinism, faults, invariants, shrinking, replay, time travel
and the `minuet simulate` / `minuet trace` commands."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

import pytest
import trio

from examples import sim_scenarios as ss
from generated.examples import two_buyer as tb
from runtime.contract import Endpoint
from runtime.crypto.rand import DeterministicRandom, OsRandom, default_random, seeded_for_tests
from runtime.errors import ConfigError, InjectedCrash, PeerGone, RemoteViolation
from runtime.memory import RoleFn, memory_session
from runtime.sim import timeline
from runtime.sim.cli import simulate_main, trace_main
from runtime.sim.core import FaultConfig, Scheduler, SimFault, shrink, trace_lines
from runtime.sim.network import SessionSpec, SimHang, SimResult, simulate
from runtime.sim.scenario import (
    Scenario,
    Verdict,
    check,
    deliveries_of,
    entries_scenario,
    run_one,
    shrink_failure,
    sweep,
)
from runtime.trace import TraceMiddleware
from tests.runtime.harness import Runner

ALL_FAULTS = FaultConfig(("drop", "delay", "duplicate", "corrupt", "crash", "partition"), 0.2, 3)
ROOT = Path(__file__).resolve().parents[2]


def _trace(sc: Scenario, seed: int, **kw: object) -> str:
    return trace_lines(run_one(sc, seed, **kw).result.trace)  # type: ignore[arg-type]


# ---------------------------------------------------------------------- determinism


def test_a_seed_reproduces_its_trace_byte_for_byte() -> None:
    for seed in (3, 11, 29):
        assert _trace(ss.two_buyer, seed, faults=ALL_FAULTS) == _trace(ss.two_buyer, seed, faults=ALL_FAULTS)
    a = _trace(ss.frost, 5, faults=FaultConfig(ss.frost.faults, 0.2, 3))
    assert a == _trace(ss.frost, 5, faults=FaultConfig(ss.frost.faults, 0.2, 3))


def test_a_seed_reproduces_its_trace_in_another_process(tmp_path: Path) -> None:
    # Another interpreter: other hash seeds, another trio scheduling order.
    out = tmp_path / "t.jsonl"
    proc = subprocess.run(
        [sys.executable, "-m", "codegen.cli", "simulate", "--scenario", "examples.sim_scenarios:frost",
         "--faults", "all", "--fault-rate", "0.2", "--seed", "8", "--trace", str(out)],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode in (0, 1), proc.stderr
    assert "TEST MODE" in proc.stderr
    assert out.read_text() == _trace(ss.frost, 8, faults=FaultConfig(ss.frost.faults, 0.2, 3),
                                     header={"scenario": "examples.sim_scenarios:frost"})


def test_a_seed_runs_the_same_alone_and_in_a_sweep() -> None:
    cfg = FaultConfig(ss.two_buyer.faults, 0.3, 3)
    swept: dict[int, str] = {}
    sweep(ss.two_buyer, range(40), faults=cfg, on_verdict=lambda v: swept.update({v.seed: trace_lines(v.result.trace)}))
    assert any('"kind": "fault"' in t and '"delay"' in t for t in swept.values())
    for seed in (0, 7, 23, 39):
        assert swept[seed] == _trace(ss.two_buyer, seed, faults=cfg)


def test_seeds_explore_different_interleavings() -> None:
    orders = {deliveries_of(run_one(ss.two_buyer, seed).result.trace) for seed in range(30)}
    assert len(orders) > 3


def test_policies_fifo_newest_and_starve() -> None:
    for policy in ("fifo", "newest"):
        for seed in range(5):
            assert run_one(ss.frost, seed, policy=policy).ok
    fifo = {deliveries_of(run_one(ss.two_buyer, s, policy="fifo").result.trace) for s in range(5)}
    assert len(fifo) == 1  # FIFO does not depend on the seed
    v = run_one(ss.two_buyer, 0, policy="starve")
    # The victim's frames wait 90% of the 10 s deadline each, yet nobody times out.
    assert v.ok and v.result.time >= 9.0, (v.failures, v.result.time)


def test_crypto_randomness_is_seeded_per_member_and_only_in_the_simulation() -> None:
    a = run_one(ss.frost, 1).result.results["Coordinator"].value
    b = run_one(ss.frost, 1).result.results["Coordinator"].value
    c = run_one(ss.frost, 2).result.results["Coordinator"].value
    assert isinstance(a, bytes) and a == b and a != c
    assert isinstance(default_random(), OsRandom)
    with pytest.raises(TypeError):
        with seeded_for_tests(OsRandom()):  # type: ignore[arg-type]
            pass
    with seeded_for_tests(DeterministicRandom(1)) as r:
        assert default_random() is r
    assert isinstance(default_random(), OsRandom)


# ---------------------------------------------------------------------- faults


def _errors(v: SimResult) -> dict[str, BaseException | None]:
    return {n: r.error for n, r in v.results.items()}


def _explicit(sc: Scenario, *faults: SimFault, seed: int = 0) -> SimResult:
    return run_one(sc, seed, policy="fifo", schedule=list(faults)).result


def test_each_fault_gives_its_typed_error() -> None:
    # FIFO two-buyer: step 1 delivers Title, 2 and 3 the Quotes, 4 the Share.
    drop = _errors(_explicit(ss.two_buyer, SimFault("drop", 4)))
    assert isinstance(drop["Buyer2"], PeerGone | RemoteViolation)
    dup = _errors(_explicit(ss.two_buyer, SimFault("duplicate", 2)))
    # Buyer1 reads nothing more from the Seller: the copy is still queued at its End.
    assert isinstance(dup["Buyer1"], RemoteViolation) and dup["Buyer1"].peer == "Seller"
    bad = _errors(_explicit(ss.two_buyer, SimFault("corrupt", 1)))
    assert isinstance(bad["Seller"], RemoteViolation) and "corrupted" in str(bad["Seller"])
    crash = _explicit(ss.two_buyer, SimFault("crash", 2, "Seller"))
    assert isinstance(crash.results["Seller"].error, InjectedCrash)
    # Buyer1's Quote left before the crash; Buyer2 loses the Seller it waits on.
    assert crash.results["Buyer1"].ok
    assert isinstance(crash.results["Buyer2"].error, PeerGone)
    assert "vanished" in str(crash.results["Buyer2"].error)
    short = _explicit(ss.two_buyer, SimFault("delay", 2, delay=3.0))
    assert all(r.ok for r in short.results.values()) and short.time >= 3.0
    long = _errors(_explicit(ss.two_buyer, SimFault("delay", 2, delay=50.0)))
    assert isinstance(long["Buyer1"], PeerGone) and "deadline" in str(long["Buyer1"])
    cut = _errors(_explicit(ss.two_buyer, SimFault("partition", 1, "Seller", delay=60.0)))
    assert any(isinstance(e, PeerGone) for e in cut.values())
    healed = _explicit(ss.two_buyer, SimFault("partition", 1, "Seller", delay=2.0))
    assert all(r.ok for r in healed.results.values())


def test_a_delayed_frame_is_due_at_the_clock_reading_it_waits_for() -> None:
    # Seed 199 delays a frame to 8.847 s: unrounded, the due time was one float above the
    # clock reading the wait ended at, and the scheduler waited for it forever.
    v = run_one(ss.two_buyer, 199, faults=FaultConfig(ss.two_buyer.faults, 0.3, 3))
    assert any(f.kind == "delay" for f in v.result.faults) and v.ok, v.failures


def test_byzantine_signer_is_named_and_invariant_holds() -> None:
    v = run_one(ss.frost, 0, schedule=[SimFault("byzantine", 0, "Signer[1]", mode="bad-share")])
    assert v.ok, v.failures
    assert v.result.results["Coordinator"].value == [2]  # member 1 holds identifier 2
    assert v.result.byzantine == {"Signer[1]": "bad-share"}


def test_sweep_every_bundled_protocol_with_faults() -> None:
    """A few hundred seeds over every bundled protocol with role programs, threshold ones
    with faults and Byzantine members: every member ends at End or with a typed error,
    nobody hangs, and each scenario's own invariant holds."""
    counts = {"two_buyer": 80, "ping_pong": 50, "frost": 50, "lottery": 40,
              "key_derivation": 25, "recovery": 30, "dkg": 25}
    assert set(counts) == set(ss.ALL)
    seen_faults: set[str] = set()

    def saw(v: Verdict) -> None:
        seen_faults.update(f.kind for f in v.result.faults)

    for name, sc in ss.ALL.items():
        cfg = FaultConfig(sc.faults, 0.08, 3)
        for policy in ("random", "fifo", "newest"):
            failing = sweep(sc, range(counts[name] // 3), policy=policy, faults=cfg, on_verdict=saw)
            assert not failing, [(name, v.seed, v.failures, [f.describe() for f in v.result.faults]) for v in failing]
    assert seen_faults == {"drop", "delay", "duplicate", "corrupt", "crash", "partition", "byzantine"}


# ---------------------------------------------------------------------- invariants


async def _forever(ep: Endpoint) -> None:
    await trio.sleep_forever()  # not a protocol wait: no deadline applies


def test_a_hang_past_virtual_deadlines_is_reported() -> None:
    sc = Scenario("hang", SessionSpec(tb.PROTOCOL, timeout=5.0),
                  lambda _b: {"Buyer1": _forever, "Buyer2": ss.buyer2, "Seller": ss.seller})
    v = run_one(sc, 0)
    assert isinstance(v.result.results["Buyer1"].error, SimHang)
    assert any(f.startswith("hang:") for f in v.failures)
    assert v.result.time >= 5.0 * 40  # gave up at the virtual limit, in no real time


def test_untyped_errors_and_user_invariants_fail_a_seed() -> None:
    v = run_one(ss.two_buyer_careless, 0, schedule=[SimFault("crash", 3, "Seller")], policy="fifo")
    assert any("untyped error: RuntimeError" in f for f in v.failures)

    def never(run: SimResult) -> str:
        return "the buyers must never agree"

    sc = Scenario("x", ss.two_buyer.session, ss.two_buyer.roles, never)
    v = run_one(sc, 0)
    assert v.failures == ["invariant test_untyped_errors_and_user_invariants_fail_a_seed.<locals>.never: the buyers must never agree"]
    clean_failure = check(sc, v.result)  # and a fault-free run must reach End everywhere
    assert clean_failure == v.failures


# ---------------------------------------------------------------------- shrinking


def test_shrink_is_one_minimal() -> None:
    faults = [SimFault("drop", i) for i in range(1, 9)]
    needed = {faults[2], faults[6]}
    assert set(shrink(faults, lambda c: needed <= set(c))) == needed
    assert shrink(faults, lambda c: True) == []


def test_a_failing_seed_shrinks_to_the_fault_that_matters() -> None:
    noise = [SimFault("delay", 1, delay=1.0), SimFault("delay", 2, delay=2.0)]
    crash = SimFault("crash", 6, "Seller")
    v = run_one(ss.two_buyer_careless, 4, policy="fifo", schedule=[*noise, crash, SimFault("delay", 9, delay=1.0)])
    assert not v.ok
    minimal, final = shrink_failure(ss.two_buyer_careless, v, policy="fifo")
    assert len(minimal) == 1 and minimal[0].kind in ("crash", "delay"), minimal
    assert not final.ok


# ---------------------------------------------------------------------- replay


def test_replaying_a_simulation_trace_reproduces_it() -> None:
    v = run_one(ss.lottery, 6, faults=FaultConfig(ss.lottery.faults, 0.2, 3))
    byz = [SimFault("byzantine", 0, r, mode=m) for r, m in sorted(v.result.byzantine.items())]
    frame = [f for f in v.result.faults if f.kind != "byzantine"]
    # Another seed: only the forced order and the schedule make it the same run.
    again = run_one(ss.lottery, 6, schedule=byz + frame, forced=deliveries_of(v.result.trace))
    assert trace_lines(again.result.trace) == trace_lines(v.result.trace)


def _memory_trace() -> list[dict[str, object]]:
    tracer = TraceMiddleware(keep=True)

    async def main() -> None:
        async with memory_session(tb.PROTOCOL, middleware=[tracer]) as net:
            await net.run({"Buyer1": ss.buyer1, "Buyer2": ss.buyer2, "Seller": ss.seller})

    trio.run(main)
    return tracer.events


def test_replaying_a_memory_trace_forces_its_delivery_order() -> None:
    recorded = deliveries_of(_memory_trace())
    assert len(recorded) == 6
    for seed in range(4):
        v = run_one(ss.two_buyer, seed, forced=recorded)
        assert v.ok and v.result.diverged is None
        data = [(e["peer"], e["role"]) for e in v.result.trace if e.get("choice") and e.get("frame") == "data"]
        assert tuple(data) == recorded


async def test_replaying_a_recorded_memory_or_tcp_run(run_roles: Runner) -> None:
    tracer = TraceMiddleware(keep=True)
    results = await run_roles(tb.PROTOCOL, {"Buyer1": ss.buyer1, "Buyer2": ss.buyer2, "Seller": ss.seller},
                              middleware=[tracer])
    assert all(r.ok for r in results.values())
    recorded = deliveries_of(tracer.events)
    # The simulation needs a trio run of its own: a worker thread has none yet.
    v = await trio.to_thread.run_sync(lambda: run_one(ss.two_buyer, 3, forced=recorded))
    assert v.ok and v.result.diverged is None, v.failures
    data = [(e["peer"], e["role"]) for e in v.result.trace if e.get("choice") and e.get("frame") == "data"]
    assert tuple(data) == recorded


def test_a_replay_that_cannot_be_followed_says_where() -> None:
    v = run_one(ss.two_buyer, 0, forced=[("Seller", "Buyer1")])  # Seller has nothing yet
    assert v.result.diverged is not None and "Seller -> Buyer1" in v.result.diverged
    assert any(f.startswith("replay diverged") for f in v.failures)


# ---------------------------------------------------------------------- time travel


def test_state_of_every_member_at_a_step() -> None:
    trace = run_one(ss.two_buyer, 0, policy="fifo").result.trace
    snap = timeline.at(trace, 1)  # Title delivered to the Seller, who answered with Quotes
    assert snap.roles["Seller"].state == "Seller_S3"
    assert snap.roles["Buyer1"].state == "Buyer1_S1"
    assert snap.roles["Buyer2"].state == "Buyer2_S0"
    assert snap.roles["Seller"].spec == "protocols/two_buyer.yaml:18:5"
    assert snap.in_flight == ["Quote #0 Seller -> Buyer1", "Quote #0 Seller -> Buyer2"]
    text = timeline.render(snap, ROOT)
    assert "choice at Buyer2" in text  # the spec line itself
    end = timeline.at(trace, 10_000)
    assert {v.state for v in end.roles.values()} == {"Buyer1_End", "Buyer2_End", "Seller_End"}
    assert [f for f in end.in_flight if not f.startswith("close")] == []  # goodbyes may trail


def test_time_travel_over_a_memory_trace() -> None:
    snap = timeline.at(_memory_trace(), 1)  # Buyer1 sent Title
    assert snap.roles["Buyer1"].state == "Buyer1_S0"
    assert snap.in_flight == ["Title #0 Buyer1 -> Seller"]


def test_trace_cli_at_and_step(tmp_path: Path) -> None:
    path = tmp_path / "run.jsonl"
    path.write_text(trace_lines(run_one(ss.two_buyer, 0, policy="fifo").result.trace))
    out = io.StringIO()
    assert trace_main([str(path), "--at", "2", "--root", str(ROOT)], out=out) == 0
    assert out.getvalue().startswith("step 2/") and "Buyer1_End" in out.getvalue()
    out = io.StringIO()
    assert trace_main([str(path), "--step"], out=out, inp=io.StringIO("n\nn\np\n5\nq\n")) == 0
    steps = [line.split()[1] for line in out.getvalue().split("> ") if line.startswith("step")]
    assert [s.split("/")[0] for s in steps] == ["0", "1", "2", "1", "5"]
    mermaid = tmp_path / "run.mmd"
    assert trace_main([str(path), "-o", str(mermaid)]) == 0
    assert "Buyer1->>Seller: Title #0" in mermaid.read_text()


# ---------------------------------------------------------------------- minuet simulate


def test_simulate_cli_finds_prints_shrinks_and_reproduces(tmp_path: Path) -> None:
    out, err = io.StringIO(), io.StringIO()
    code = simulate_main(["--scenario", "examples.sim_scenarios:two_buyer_careless", "--runs", "60",
                          "--faults", "all", "--progress"], out, err)
    assert code == 1
    assert "TEST MODE" in err.getvalue() and "60/60 seeds" in err.getvalue()
    text = out.getvalue()
    assert "untyped error: RuntimeError" in text and "shrunk to 1 of" in text
    seed = int(text.split("failing seeds: ")[1].split()[0])
    args = ["--scenario", "examples.sim_scenarios:two_buyer_careless", "--faults", "all", "--seed", str(seed)]
    first, second, scen = tmp_path / "a.jsonl", tmp_path / "b.jsonl", tmp_path / "a.json"
    assert simulate_main([*args, "--trace", str(first), "--export", str(scen)], io.StringIO(), io.StringIO()) == 1
    assert simulate_main([*args, "--trace", str(second)], io.StringIO(), io.StringIO()) == 1
    assert first.read_bytes() == second.read_bytes()
    replayed = tmp_path / "c.jsonl"
    assert simulate_main(["--replay", str(scen), "--trace", str(replayed)], io.StringIO(), io.StringIO()) == 1
    assert replayed.read_bytes() == first.read_bytes()
    assert json.loads(scen.read_text())["seed"] == seed


def test_simulate_cli_with_role_entries() -> None:
    out = io.StringIO()
    code = simulate_main([
        "--protocol", "generated.examples.two_buyer", "--role", "Buyer1=tests.runtime.roles.two_buyer:buyer1",
        "--role", "Buyer2=tests.runtime.roles.two_buyer:buyer2", "--role", "Seller=tests.runtime.roles.two_buyer:seller",
        "--runs", "20", "--policy", "newest",
    ], out, io.StringIO())
    assert code == 0, out.getvalue()
    assert "20 seeds" in out.getvalue() and "0 failing" in out.getvalue()


@pytest.mark.parametrize("argv, message", [
    (["--scenario", "no.such.module:x"], "cannot import"),
    (["--protocol", "generated.examples.two_buyer", "--role", "Buyer1=tests.runtime.roles.two_buyer:buyer1"], "no --role entry for Buyer2"),
    (["--scenario", "examples.sim_scenarios:two_buyer", "--faults", "meteor"], "unknown meteor"),
    (["--scenario", "examples.sim_scenarios:two_buyer", "--policy", "chaos"], ""),
    (["--replay", "/nonexistent.json"], "cannot read"),
])
def test_simulate_cli_bad_input_is_a_located_error(argv: list[str], message: str) -> None:
    err = io.StringIO()
    assert simulate_main(argv, io.StringIO(), err) == 2
    assert message in err.getvalue() and "Traceback" not in err.getvalue()


def test_malformed_recordings_are_located_errors(tmp_path: Path) -> None:
    junk = tmp_path / "junk.jsonl"
    junk.write_text('{"kind": "header", "seed": "x", "scenario": "examples.sim_scenarios:two_buyer"}\n'
                    '{"kind": "fault", "step": "soon"}\n')
    err = io.StringIO()
    assert simulate_main(["--replay", str(junk)], io.StringIO(), err) == 2
    assert "not a usable trace" in err.getvalue() and "Traceback" not in err.getvalue()
    err = io.StringIO()
    assert trace_main([str(junk), "--at", "1"], io.StringIO(), err) == 2
    assert "not a usable trace" in err.getvalue()
    notjson = tmp_path / "x.jsonl"
    notjson.write_text("{nope\n")
    err = io.StringIO()
    assert trace_main([str(notjson), "--at", "1"], io.StringIO(), err) == 2


def _broken_factory(_byz: Mapping[str, str]) -> Mapping[str, RoleFn]:
    raise KeyError("no key for Signer[3]")


def test_bad_schedules_and_programs_are_config_errors() -> None:
    with pytest.raises(ConfigError, match="could not be built: KeyError"):
        simulate(ss.two_buyer.session, _broken_factory, 0)
    with pytest.raises(ConfigError):
        SimFault("meteor")
    with pytest.raises(ConfigError):
        Scheduler(["A"], 0, policy="chaos")
    roles: Mapping[str, RoleFn] = {"Buyer1": ss.buyer1}
    with pytest.raises(ConfigError, match="no role program for Buyer2, Seller"):
        simulate(ss.two_buyer.session, lambda _b: roles, 0)
    with pytest.raises(ConfigError, match="no --role entry"):
        entries_scenario("generated.examples.two_buyer", {})

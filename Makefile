# Minuet developer commands. `make setup` is implied by every target that needs the venv.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: setup generate check test bench bench-scale demo fuzz simulate clean

setup: $(STAMP)

# The p2p extra (libp2p) is installed too, so CI runs its tests. libp2p needs trio_typing at
# run time, but that package's stubs (written for trio 0.22) would shadow trio's own inline
# types for mypy: keep the module, drop the stubs.
$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev,p2p]'
	$(PY) -c "import pathlib, shutil, sysconfig; site = pathlib.Path(sysconfig.get_paths()['purelib']); [shutil.rmtree(site / d, ignore_errors=True) for d in ('trio-stubs', 'outcome-stubs', 'async_generator-stubs')]"
	touch $(STAMP)

generate: $(STAMP)
	$(PY) -m codegen.generate

check: $(STAMP)
	$(VENV)/bin/ruff check codegen runtime generated tests bench examples
	$(VENV)/bin/mypy --strict
	$(VENV)/bin/minuet lint examples tests/runtime/roles

test: check
	$(PY) -m codegen.generate --check
	$(VENV)/bin/minuet verify $(sort $(shell find protocols -name "*.yaml"))
	$(VENV)/bin/pytest

demo: $(STAMP)
	$(VENV)/bin/minuet check $(sort $(shell find protocols -name "*.yaml"))
	$(PY) -m examples.two_buyer_demo
	$(PY) -m examples.frost_signing
	$(PY) -m examples.lottery_election
	$(PY) -m examples.dkg_ceremony
	$(PY) -m examples.key_derivation
	$(PY) -m examples.elected_signing
	$(PY) -m examples.reshare_ceremony
	$(PY) -m examples.guardian_recovery

# The hardening campaign (a few minutes, not part of `make test`): mutated specs, the
# transport attack matrix and the threshold fault matrix; prints one summary table.
fuzz: $(STAMP)
	$(PY) -m tests.fuzz.campaign

# Lottery N = 100 and DKG n = 20 in memory, besides the sizes `make bench` runs (a few minutes).
bench-scale: $(STAMP)
	$(PY) -m bench.multiparty --scale

bench: $(STAMP)
	$(PY) -m bench.compiler
	$(PY) -m bench.codegen
	$(PY) -m bench.lint
	$(PY) -m bench.runtime
	$(PY) -m bench.p2p
	$(PY) -m bench.multiparty
	$(PY) -m bench.crypto
	$(PY) -m bench.verify
	$(PY) -m bench.sim

# Longer simulation sweeps than `make test` runs (every bundled protocol, all faults).
SIM_RUNS ?= 2000
SIM_SCENARIOS := two_buyer ping_pong frost lottery key_derivation recovery dkg
simulate: $(STAMP)
	@for s in $(SIM_SCENARIOS); do \
		for p in random fifo newest starve; do \
			$(VENV)/bin/minuet simulate --scenario examples.sim_scenarios:$$s --runs $(SIM_RUNS) \
				--faults all --policy $$p --fault-rate 0.05 || exit 1; \
		done; \
	done

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache .hypothesis .fuzz-failures

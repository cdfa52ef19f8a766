# Two entry points for a fresh clone: `make demo` (the main job) and `make test` (every test).
# Both set up everything they need, idempotently: Python venv with pinned packages, npm packages
# (solc as WebAssembly, anvil, forge, OpenZeppelin, Chainlink) and the solc wrapper, then compile.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3
SOLC_VERSION := 0.8.28
VENV := .venv
STAMPS := .toolchain/stamps
SOLC_BIN := .toolchain/solc/solc-v$(SOLC_VERSION)

export PATH := $(CURDIR)/node_modules/.bin:$(CURDIR)/$(VENV)/bin:$(PATH)
# The npm `forge` launcher exits 0 even when tests fail: call the platform binary it wraps.
FORGE = $(firstword $(wildcard $(CURDIR)/node_modules/@foundry-rs/forge-*/bin/forge))
export SOLCX_BINARY_PATH := $(CURDIR)/.toolchain/solc
export MPLBACKEND := Agg

.PHONY: help setup compile test test-py test-forge test-forge-deep lint typecheck demo bench clean

help:
	@echo "make demo   - set up, start a local chain, deploy and run the demo"
	@echo "make test   - set up and run every test (pytest + forge fuzz/invariant suites)"
	@echo "make bench  - gas table from real receipts and keeper/backtest benchmarks"
	@echo "make setup  - only install the toolchain and compile"

$(STAMPS)/venv: pyproject.toml requirements.lock
	@mkdir -p $(STAMPS)
	@test -x $(VENV)/bin/python || $(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check -r requirements.lock
	$(VENV)/bin/pip install --quiet --disable-pip-version-check --no-deps -e .
	@touch $@

$(STAMPS)/npm: package.json package-lock.json
	@mkdir -p $(STAMPS)
	npm install --no-audit --no-fund --loglevel=error
	@touch $@

$(SOLC_BIN): tools/solc-wrapper.cjs | $(STAMPS)/npm
	@mkdir -p $(dir $@)
	ln -sf ../../tools/solc-wrapper.cjs $@
	@$@ --version | grep -q "Version: $(SOLC_VERSION)+commit" || { echo "solc wrapper does not answer $(SOLC_VERSION)"; exit 1; }

setup: $(STAMPS)/venv $(STAMPS)/npm $(SOLC_BIN) compile

# ape's incremental compile misses changes in imported libraries: rebuild everything when any source changed.
SOL_SOURCES := $(shell find contracts -name '*.sol')
$(STAMPS)/compiled: $(SOL_SOURCES) ape-config.yaml $(STAMPS)/venv $(SOLC_BIN)
	@mkdir -p .build $(STAMPS)
	@ape compile --force > .build/compile.log 2>&1 || { cat .build/compile.log; echo "compilation failed"; exit 1; }
	@grep -E "^(SUCCESS|ERROR|WARNING)" .build/compile.log || true
	@touch $@

compile: $(STAMPS)/compiled

test: setup test-forge test-py

test-forge: $(SOLC_BIN)
	$(FORGE) test

test-forge-deep: $(SOLC_BIN)
	FOUNDRY_PROFILE=deep $(FORGE) test

# One pytest process per purpose: ape reverts chain state per module and caches contract types by address,
# and the e2e keeper configures logging globally, so the groups do not share a process.
test-py: $(STAMPS)/venv $(STAMPS)/compiled
	$(VENV)/bin/python -m pytest tests/keeper -q
	$(VENV)/bin/python -m pytest tests/keeper_core -q
	$(VENV)/bin/python -m pytest tests/e2e -q
	$(VENV)/bin/python -m pytest tests/unit -q
	$(VENV)/bin/python -m pytest tests/vault -q

typecheck: $(STAMPS)/venv
	$(VENV)/bin/python -m mypy

demo: setup
	ape run demo --network ethereum:local:foundry

bench: setup
	ape run bench_gas --network ethereum:local:foundry
	$(VENV)/bin/python bench/bench_strategies.py
	$(VENV)/bin/python bench/bench_keeper.py

clean:
	rm -rf .build out cache .toolchain/stamps

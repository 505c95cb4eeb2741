# Ledgerhouse — the two set-up commands (`make run`, `make test`) work from a fresh clone:
# they create .venv and install the pinned dependencies when needed.
SHELL  := /bin/bash
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
ROOT   ?= ./warehouse
SCALE  ?= 0.05
HOST   ?= 127.0.0.1
PORT   ?= 8000

.PHONY: install run test test-slow test-crash test-fuzz test-all bench lint typecheck demo clean lock check-pins

$(STAMP): pyproject.toml constraints.txt
	@$(PYTHON) tools/lock.py check
	@test -d $(VENV) || { echo "install: creating the virtualenv $(VENV) ($$($(PYTHON) --version))"; $(PYTHON) -m venv $(VENV); }
	@echo "install: upgrading pip in $(VENV)"
	@$(BIN)/pip install --quiet --upgrade pip
	@echo "install: installing ledgerhouse and $$(grep -c '==' constraints.txt) pinned dependencies (constraints.txt) into $(VENV); about 1-2 minutes the first time"
	@set -o pipefail; $(BIN)/pip install --progress-bar off -c constraints.txt -e '.[dev,bench]' \
	  | { grep --line-buffered -E '^(Collecting|Successfully installed)' || true; } \
	  | sed -u -e 's/^/  /' -e 's/^\(.\{110\}\).*/\1 .../'
	@touch $(STAMP)
	@echo "install: done. Put ledgerhouse on your PATH with: source $(VENV)/bin/activate   (or run $(BIN)/ledgerhouse)"

install: $(STAMP)

## make run: install, create a warehouse, load a small generated demo through ingestion, serve it.
run: $(STAMP)
	$(BIN)/ledgerhouse demo --root $(ROOT) --scale $(SCALE) --host $(HOST) --port $(PORT)

## make test: install, lint, type-check, then the default (fast) test tier, one pytest worker per
## CPU: property tests with the dev hypothesis profile (fewer examples); HYPOTHESIS_PROFILE=ci
## gives CI's full counts.
test: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/mypy
	$(BIN)/pytest -q

## make test-slow: the `slow` tier alone (CI runs it after `make test`), in one process: its
## two-tenant DoS test measures latency, which a test on another worker would disturb.
test-slow: $(STAMP)
	$(BIN)/pytest -q -n0 -m slow

## make test-crash: the `crash` tier: writers killed (SIGKILL) mid-commit, then recovery.
test-crash: $(STAMP)
	$(BIN)/pytest -q -m crash

## make test-fuzz: the `fuzz` tier: schemathesis against the OpenAPI description (no 5xx, one
## error envelope), about two minutes; LEDGERHOUSE_FUZZ_EXAMPLES=500 hunts longer.
test-fuzz: $(STAMP)
	$(BIN)/pytest -q -m fuzz

## make test-all: every tier that runs on this machine, including `slow`, `crash` and `fuzz`.
test-all: $(STAMP)
	$(BIN)/pytest -q -n0 -m 'not spark and not browser'

## make bench: the FinBench benchmark (BENCH_SCALE, BENCH_RUNS, BENCH_OUT); see docs/benchmarks.md.
BENCH_SCALE ?= 1
BENCH_RUNS  ?= 15
BENCH_OUT   ?= bench-results
bench: $(STAMP)
	$(BIN)/ledgerhouse bench --scale $(BENCH_SCALE) --runs $(BENCH_RUNS) --out $(BENCH_OUT)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/mypy

## make lock: rewrite constraints.txt from a clean virtualenv (registry releases only, name==version);
## make lock UPGRADE=1 takes the newest releases that pyproject.toml allows.
lock:
	$(PYTHON) tools/lock.py write $(if $(UPGRADE),--upgrade,)
	$(PYTHON) tools/lock.py pythons 3.11 3.12 3.13

## make check-pins: fail on any direct reference (path, URL, VCS) in constraints.txt or pyproject.toml.
check-pins:
	$(PYTHON) tools/lock.py check

clean:
	rm -rf $(VENV) warehouse .pytest_cache .mypy_cache .ruff_cache

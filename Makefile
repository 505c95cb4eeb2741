# Ledgerhouse — the two set-up commands (`make run`, `make test`) work from a fresh clone:
# they create .venv and install the pinned dependencies when needed.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
ROOT   ?= ./warehouse
SCALE  ?= 0.05
HOST   ?= 127.0.0.1
PORT   ?= 8000

.PHONY: install run test test-slow test-all bench lint typecheck demo clean

$(STAMP): pyproject.toml constraints.txt
	test -d $(VENV) || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -c constraints.txt -e '.[dev,bench]'
	touch $(STAMP)

install: $(STAMP)

## make run: install, create a warehouse, load a small generated demo through ingestion, serve it.
run: $(STAMP)
	$(BIN)/ledgerhouse demo --root $(ROOT) --scale $(SCALE) --host $(HOST) --port $(PORT)

## make test: install, lint, type-check, then the default (fast) test tier.
test: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/mypy
	$(BIN)/pytest -q

## make test-slow: the `slow` tier alone (CI runs it after `make test`).
test-slow: $(STAMP)
	$(BIN)/pytest -q -m slow

## make test-all: every tier that runs on this machine, including `slow`.
test-all: $(STAMP)
	$(BIN)/pytest -q -m 'not spark and not browser'

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

clean:
	rm -rf $(VENV) warehouse .pytest_cache .mypy_cache .ruff_cache

# kotra-idp. Two commands set everything up on a fresh machine with python3 and make:
#   make run    provider + two demo KOTRA sites on SQLite with demo data
#   make test   lint, type-check and the whole test suite
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

.PHONY: install run test lint bench clean

$(STAMP): pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

run: install
	$(BIN)/idp db upgrade
	$(BIN)/idp demo seed
	bash scripts/run_demo.sh

lint: install
	$(BIN)/ruff check idp clients tests bench
	$(BIN)/mypy
	$(BIN)/lint-imports --no-logo --no-cache

test: lint
	$(BIN)/python -m pytest $(PYTEST_ARGS)

bench: install
	bash bench/run_bench.sh

clean:
	rm -rf $(VENV) instance .pytest_cache .ruff_cache .mypy_cache

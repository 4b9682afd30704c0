# kotra-idp. Two commands set everything up on a fresh machine with python3 and make:
#   make run    provider + two demo KOTRA sites on SQLite with demo data (IDP_ENV=development)
#   make test   lint, type-check and the whole test suite (IDP_ENV=testing)
# Without IDP_ENV the provider starts as production (it then needs IDP_SECRET_KEY etc.).
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

.PHONY: install lock run test lint bench bench-scale clean a11y-tools

$(STAMP): pyproject.toml constraints.txt
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -c constraints.txt -e '.[dev]'
	@# `idp serve` runs its workers under python -OO: their bytecode, compiled once here, so that
	@# no worker compiles ~950 modules at start where PYTHONDONTWRITEBYTECODE is set (idp/cli.py).
	$(BIN)/python -OO -m compileall -q -j 0 $(VENV)/lib idp > /dev/null \
		|| echo "compileall: some files of the venv did not compile (syntax errors: nothing imports them)"
	touch $(STAMP)

install: $(STAMP)

# constraints.txt afresh: the newest releases pyproject.toml allows, resolved in a venv of their
# own (nothing installed by hand into .venv gets pinned). The next make install installs them.
LOCK_VENV := .venv-lock
lock:
	rm -rf $(LOCK_VENV) && $(PY) -m venv $(LOCK_VENV)
	$(LOCK_VENV)/bin/pip install -q --upgrade pip
	$(LOCK_VENV)/bin/pip install -q '.[dev]'
	{ sed -n '/^#/p' constraints.txt; $(LOCK_VENV)/bin/pip freeze | grep -v '^kotra-idp'; } \
		> constraints.txt.new && mv constraints.txt.new constraints.txt
	rm -rf $(LOCK_VENV) build

run: export IDP_ENV := development
run: install
	$(BIN)/idp db upgrade
	$(BIN)/idp demo seed
	bash scripts/run_demo.sh

lint: install
	$(BIN)/ruff check idp clients tests bench
	$(BIN)/mypy
	$(BIN)/lint-imports --no-logo --no-cache

# axe-core for the browser tests' accessibility checks (skipped with a reason without npm).
AXE := tests/browser/axe/node_modules/axe-core/axe.min.js
$(AXE): tests/browser/axe/package.json tests/browser/axe/package-lock.json
	-command -v npm >/dev/null && npm ci --prefix tests/browser/axe --no-audit --no-fund -q

# node-oidc-provider for the SNS Google-path test (issue 9; skipped with a reason without npm).
SNS_PEER := tests/sns/oidc_peer/node_modules/oidc-provider/package.json
$(SNS_PEER): tests/sns/oidc_peer/package.json tests/sns/oidc_peer/package-lock.json
	-command -v npm >/dev/null && npm ci --prefix tests/sns/oidc_peer --no-audit --no-fund -q

a11y-tools: $(AXE) $(SNS_PEER)

test: export IDP_ENV := testing
test: lint a11y-tools
	$(BIN)/python -m pytest $(PYTEST_ARGS)

bench: install
	$(BIN)/python bench/hs_search.py
	$(BIN)/python bench/signup_e2e.py
	RUNS=$${RUNS:-3} DURATION=$${DURATION:-10} bash bench/run_bench.sh
	$(BIN)/python bench/npki_bench.py
	$(BIN)/python bench/mileage_bench.py --backends sqlite,postgres --duration $${DURATION:-20} \
		--pg-url $${BENCH_PG_URL:-postgresql+psycopg://postgres@127.0.0.1:5432/idp_bench}

# Cost per operation at 1,000 and at 10,000,000 members (issue 10; not part of `make bench`:
# the load alone took 20 minutes on the 2-core machine). EMPTIES the database it is given.
bench-scale: install
	$(BIN)/python bench/scale_bench.py --large $${LARGE:-10000000} \
		--database-url $${BENCH_SCALE_URL:-postgresql+psycopg://postgres@127.0.0.1:5432/scale_bench}

clean:
	rm -rf $(VENV) instance .pytest_cache .ruff_cache .mypy_cache

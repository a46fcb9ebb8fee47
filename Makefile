# FinMatch Platform: `make run` and `make test` do all set-up on a fresh machine.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
# Reinstall when the dependency list changes.
STAMP := $(VENV)/.installed-$(shell cksum setup.py | cut -d' ' -f1)

.PHONY: run test test-fast lint lint-sql bench bootstrap browser clean

bootstrap: $(STAMP)

$(STAMP): setup.py
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip setuptools wheel
	$(PY) -m pip install --quiet -e '.[test,bench]'
	@rm -f $(VENV)/.installed-*
	@touch $@

run: bootstrap
	@bash scripts/run.sh

# Headless Chromium from Debian's packages, for the tests that render pages in a real browser.
browser:
	@command -v chromium >/dev/null 2>&1 || { \
	  echo "Installing Debian's chromium for the browser tests"; \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) \
	  || echo "warning: could not install chromium; browser tests will be skipped"; }

# ruff's rules and its formatter (ruff.toml), then the SQL.
lint: bootstrap lint-sql
	$(VENV)/bin/ruff check finmatch_platform finmatch_platform_tests bench
	$(VENV)/bin/ruff format --check finmatch_platform finmatch_platform_tests bench

# sqlfluff with the dbt templater (.sqlfluff): rendering needs no warehouse, so the profile's
# warehouse path points at an in-memory DuckDB whatever the shell has set.
lint-sql: bootstrap
	FINMATCH_WAREHOUSE_PATH=:memory: $(VENV)/bin/sqlfluff lint dbt

test: bootstrap browser lint
	$(VENV)/bin/pytest

# The fast tier: pure lib/ functions and the simulator (generation and its APIs over loopback).
test-fast: bootstrap
	$(VENV)/bin/pytest -n 2 finmatch_platform_tests/lib finmatch_platform_tests/simulator

bench: bootstrap
	@set -e; for script in bench/bench_*.py; do echo "== $$script"; $(PY) $$script; done

# The connector debug loop against the simulators `make run` starts: reset data/debug/<source>.duckdb,
# sync from the start, print masked sample rows and the operation summary. Keys from the
# environment, else from .finmatch/secrets.env (never overriding an exported one), as `make run`. E.g.
# `make debug-connector SOURCE=payscore ARGS="--yes --rows 10"`.
SOURCE ?= fpr
.PHONY: debug-connector
debug-connector: bootstrap
	@secrets=""; [ -f .finmatch/secrets.env ] && secrets="$(VENV)/bin/dotenv -f .finmatch/secrets.env run --no-override --"; \
	FINMATCH_PAYSCORE_BASE_URL="$${FINMATCH_PAYSCORE_BASE_URL:-http://127.0.0.1:$${FINMATCH_PAYSCORE_PORT:-8766}}" \
	  $$secrets $(VENV)/bin/finmatch-connector-debug $(SOURCE) $(ARGS)

clean:
	rm -rf $(VENV) .dagster_home data dbt/target dbt/logs

# The two commands: `make run` (service + mock government systems, SQLite under ./var)
# and `make test` (the whole suite). Both build .venv from the pinned lock file themselves.

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp
PG_TEST_URL ?= postgresql+psycopg://postgres@127.0.0.1:5432/test

.PHONY: run test lint typecheck bench clean

$(STAMP): requirements.lock pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.lock
	$(PY) -m pip install --quiet --no-deps --no-build-isolation -e .
	touch $(STAMP)

run: $(STAMP)
	GATEWAY_START_MOCKS=$${GATEWAY_START_MOCKS:-true} $(VENV)/bin/gateway serve

# The suite runs on SQLite; then, when GATEWAY_TEST_DATABASE_URL is set (CI sets it), every test
# that touches the database runs again on PostgreSQL, including the PostgreSQL-only concurrency tests.
test: $(STAMP)
	env -u GATEWAY_TEST_DATABASE_URL $(PY) -m pytest
	@if [ -n "$$GATEWAY_TEST_DATABASE_URL" ]; then \
		echo "== the database tests again, on PostgreSQL =="; \
		$(PY) -m pytest -m "db or postgres"; \
	fi

lint: $(STAMP)
	$(VENV)/bin/ruff check gateway mocks tests benchmarks
	$(VENV)/bin/ruff format --check gateway mocks tests benchmarks

typecheck: $(STAMP)
	$(VENV)/bin/mypy

bench: $(STAMP)
	$(PY) -m benchmarks

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache

# The two commands: `make run` (service + mock government systems, SQLite under ./var)
# and `make test` (the whole suite). Both build .venv from the pinned lock files themselves:
# requirements.lock (what the service, the worker and the mocks need; all the container installs)
# and requirements-dev.lock (the test, lint and type tools on top of it).

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp

.PHONY: run test lint typecheck bench clean browser

# The console's browser test drives Debian's Chromium (a test tool's own browser download cannot
# work here); CJK fonts so that Chinese names render in the screenshots.
CHROMIUM := /usr/bin/chromium
# The replica test and benchmark put Debian's nginx in front of several gateway processes.
NGINX := /usr/sbin/nginx
# The Spark executor's tests run Spark in local mode, which needs a Java runtime (Debian's).
JAVA := /usr/bin/java

$(STAMP): requirements.lock requirements-dev.lock pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements-dev.lock  # includes -r requirements.lock
	$(PY) -m pip install --quiet --no-deps -e .
	# The runtime wheels (and setuptools, to build ours) for the installed-package test, which
	# installs offline from here: tests send no traffic beyond loopback.
	$(PY) -m pip wheel --quiet -r requirements.lock "setuptools>=69" --wheel-dir $(VENV)/wheelhouse
	touch $(STAMP)

run: $(STAMP)
	GATEWAY_START_MOCKS=$${GATEWAY_START_MOCKS:-true} $(VENV)/bin/gateway serve

$(CHROMIUM):
	apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium fonts-noto-cjk >/dev/null

browser: $(CHROMIUM)

$(JAVA):
	apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq default-jre-headless >/dev/null

$(NGINX):
	apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nginx-light >/dev/null

# Lint and types first; the suite runs on SQLite; then, when GATEWAY_TEST_DATABASE_URL is set (CI sets it), every test
# that touches the database runs again on PostgreSQL, including the PostgreSQL-only concurrency tests.
test: $(STAMP) $(CHROMIUM) $(NGINX) $(JAVA)
	$(VENV)/bin/ruff check gateway mocks tests benchmarks
	$(VENV)/bin/mypy
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

bench: $(STAMP) $(NGINX)
	$(PY) -m pip install --quiet -r requirements-bench.txt
	command -v pgbench >/dev/null || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql-contrib >/dev/null)
	$(PY) -m benchmarks

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache

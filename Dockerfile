# The gateway as a container: slim, non-root, the runtime dependencies only (requirements.lock, never
# the development tools of requirements-dev.lock), the wheel with its contracts as package data.
# One image, three roles (docker-compose.yml runs each):
#   gateway serve        the HTTP service (the default command; the health check asks its /healthz)
#   gateway worker       the queues: verification, batches, exports, webhooks, audit checkpoints
#                        (no HTTP: run it with the health check disabled, as docker-compose.yml does)
#   gateway mocks serve  the mock government systems (development only; GATEWAY_MOCKS_HOST=0.0.0.0)
# Point GATEWAY_DATABASE_URL at PostgreSQL and supply the keys (with PostgreSQL none is generated):
# GATEWAY_SECRET_KEY, and GATEWAY_TOKEN_KEYS_DIR and GATEWAY_STATEMENT_KEYS_DIR mounted from a secret
# store (README: Keys, Containers). These machines have no Docker engine: tests/test_packaging.py
# proves the same install (the wheel + requirements.lock in a fresh environment, run outside the
# checkout) in `make test` instead.
FROM python:3.11-slim AS build
WORKDIR /src
COPY requirements.lock ./
RUN python -m venv /opt/venv \
 && /opt/venv/bin/pip install --no-cache-dir --disable-pip-version-check -r requirements.lock
COPY pyproject.toml README.md ./
COPY gateway ./gateway
COPY mocks ./mocks
RUN /opt/venv/bin/pip install --no-cache-dir --disable-pip-version-check --no-deps . \
 && /opt/venv/bin/pip check

FROM python:3.11-slim
RUN useradd --system --uid 10001 --home-dir /app gateway
WORKDIR /app
COPY --from=build /opt/venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH \
    GATEWAY_HOST=0.0.0.0 \
    GATEWAY_DATA_DIR=/app/var \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1
# Mount points owned by the service user, so named volumes mounted there start writable by it:
# var (exports, shared by every gateway and the worker), keys, audit checkpoints.
RUN mkdir -p /app/var /app/keys /app/checkpoints \
 && chown gateway /app/var /app/keys /app/checkpoints
USER gateway
EXPOSE 8000
# Stopped as by Ctrl-C: uvicorn shuts down gracefully on it, and `gateway worker` and `gateway mocks
# serve` finish on KeyboardInterrupt (as PID 1 a Python process would ignore a bare SIGTERM).
STOPSIGNAL SIGINT
HEALTHCHECK --interval=15s --timeout=3s --start-period=60s \
  CMD python -c "import urllib.request,sys; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=2).status == 200 else 1)"
CMD ["gateway", "serve"]

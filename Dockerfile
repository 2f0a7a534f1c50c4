# The gateway as a container: slim, non-root, with a health check. Same start command as `make run`
# (`gateway serve`); point GATEWAY_DATABASE_URL at PostgreSQL in production, and supply the keys
# (with PostgreSQL none is generated): GATEWAY_SECRET_KEY, and GATEWAY_TOKEN_KEYS_DIR and
# GATEWAY_STATEMENT_KEYS_DIR mounted from a secret store (README: Keys). Never built here: these
# machines have no Docker engine (issue 15 tracks a container that starts).
FROM python:3.11-slim AS build
WORKDIR /app
COPY requirements.lock pyproject.toml README.md ./
RUN python -m venv /opt/venv && /opt/venv/bin/pip install --no-cache-dir -r requirements.lock
COPY gateway ./gateway
COPY mocks ./mocks
COPY contracts ./contracts
RUN /opt/venv/bin/pip install --no-cache-dir --no-deps .

FROM python:3.11-slim
RUN useradd --system --uid 10001 --home-dir /app gateway
WORKDIR /app
COPY --from=build /opt/venv /opt/venv
COPY contracts ./contracts
ENV PATH=/opt/venv/bin:$PATH \
    GATEWAY_HOST=0.0.0.0 \
    GATEWAY_DATA_DIR=/app/var \
    PYTHONDONTWRITEBYTECODE=1
RUN mkdir -p /app/var && chown gateway /app/var
USER gateway
EXPOSE 8000
HEALTHCHECK --interval=15s --timeout=3s --start-period=30s \
  CMD python -c "import urllib.request,sys; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=2).status == 200 else 1)"
CMD ["gateway", "serve"]

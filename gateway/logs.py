"""Logs: JSON lines on stderr carrying the request id, with anything shaped like an ID number masked
in every record, whoever logged it. The API, the worker and the command-line tools configure them
the same way (``configure_logging``); nothing here knows the web framework.
"""

from __future__ import annotations

import contextvars
import json
import logging
import sys
from pathlib import Path
from typing import Any

from gateway.privacy import mask_id_numbers

# The request being served, set by the HTTP layer's middleware (gateway.observability).
request_id_var: contextvars.ContextVar[str | None] = contextvars.ContextVar("request_id", default=None)


class MaskIdNumbersFilter(logging.Filter):
    """Rewrite each record's message with ID-shaped numbers masked, before any handler sees it."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a bad format string must not lose the record
            message = str(record.msg)
        record.msg = mask_id_numbers(message)
        record.args = None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = mask_id_numbers(record.exc_text)
        return True


class RequestIdFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = request_id_var.get()
        return True


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S%z"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        request_id = getattr(record, "request_id", None)
        if request_id:
            entry["request_id"] = request_id
        for key in ("event", "adapter", "status", "path", "method", "duration_ms", "client_id"):
            if hasattr(record, key):
                entry[key] = getattr(record, key)
        if record.exc_text:
            entry["exception"] = record.exc_text
        return json.dumps(entry, ensure_ascii=False)


def configure_logging(level: str = "INFO", json_lines: bool = True, file: Path | None = None) -> None:
    """Install one handler on the root logger with masking and request ids: stderr, or ``file``
    (appended) for a command whose stdout and stderr a person reads (``gateway.terminal``)."""
    handler: logging.Handler = (
        logging.FileHandler(file, encoding="utf-8") if file is not None else logging.StreamHandler(sys.stderr)
    )
    handler.addFilter(MaskIdNumbersFilter())
    handler.addFilter(RequestIdFilter())
    handler.setFormatter(
        JsonFormatter() if json_lines else logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s")
    )
    root = logging.getLogger()
    for existing in list(root.handlers):
        if getattr(existing, "_gateway", False):
            root.removeHandler(existing)
    handler._gateway = True  # type: ignore[attr-defined]
    root.addHandler(handler)
    root.setLevel(level)
    # uvicorn's access log would print query strings; ours carries the route and request id instead.
    logging.getLogger("uvicorn.access").disabled = True

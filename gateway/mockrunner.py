"""Starts the mock government systems beside the service for ``make run`` (development only)."""

from __future__ import annotations

import logging

from gateway.settings import Settings

logger = logging.getLogger(__name__)


def start_mocks_for(settings: Settings) -> dict[str, object]:
    """Start the mocks on loopback ports and return settings overrides pointing the adapters at them."""
    try:
        from mocks.server import start_all  # type: ignore[import-not-found,unused-ignore]
    except ImportError:
        logger.warning("mock government systems are not available in this build")
        return {}
    urls = start_all(settings)
    logger.info("mock government systems started", extra={"event": "mocks_started"})
    return dict(urls)

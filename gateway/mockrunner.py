"""Starts the mock government systems beside the service for ``make run`` (development only).

The mocks listen on the loopback ports the adapters point at by default (8701-8704), answer from the
same seeded synthetic population as the demo data, and stop with the process.
"""

from __future__ import annotations

import logging

logger = logging.getLogger(__name__)


def start_dev_mocks() -> None:
    """Start the mocks on the ports the default adapter URLs point at."""
    from mocks.server import start_from_settings
    from mocks.settings import MocksSettings

    running = start_from_settings(MocksSettings())
    for name, url in running.endpoints.items():
        logger.info("mock %s listening at %s", name, url, extra={"event": "mock_started"})

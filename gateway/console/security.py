"""What the console's responses tell the browser: where content may come from, no framing, no
sniffing, no referrer beyond the origin, and (when the console is served securely) HSTS.

The pages are server-rendered with no script, no inline style and no third-party resource, so the
Content-Security-Policy can allow the console's own stylesheet and nothing else. Whether the
console is served securely is decided by ``secure_transport`` from the settings, not from the
request's scheme alone: behind a TLS-terminating proxy the request arrives as plain http.
"""

from __future__ import annotations

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gateway.settings import Settings

CONSOLE_PREFIX = "/console"
CONTENT_SECURITY_POLICY = (
    "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; "
    "frame-ancestors 'none'; base-uri 'none'"
)
HSTS = "max-age=31536000"


def secure_transport(settings: Settings, scheme: str) -> bool:
    """Whether console cookies are Secure (and HSTS is sent): as configured; unset, always except on a
    development gateway reached over plain http (browsers would drop a Secure cookie there)."""
    if settings.console_cookie_secure is not None:
        return settings.console_cookie_secure
    return scheme == "https" or not settings.is_development


class ConsoleSecurityHeaders:
    """Adds the console's security headers to every response under ``/console``."""

    def __init__(self, app: ASGIApp, settings: Settings) -> None:
        self.app, self.settings = app, settings

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path: str = scope.get("path", "")
        if scope["type"] != "http" or not (path == CONSOLE_PREFIX or path.startswith(CONSOLE_PREFIX + "/")):
            await self.app(scope, receive, send)
            return
        hsts = secure_transport(self.settings, scope.get("scheme", "http"))

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                headers["Content-Security-Policy"] = CONTENT_SECURITY_POLICY
                headers["X-Frame-Options"] = "DENY"
                headers["X-Content-Type-Options"] = "nosniff"
                headers["Referrer-Policy"] = "same-origin"
                if hsts:
                    headers["Strict-Transport-Security"] = HSTS
            await send(message)

        await self.app(scope, receive, send_with_headers)

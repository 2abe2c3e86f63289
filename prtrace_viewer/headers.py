"""The security headers every `/ui` response carries, errors and redirects included.

Recorded text is untrusted: escaping keeps it out of the markup, and the Content-Security-Policy
here is the second wall, forbidding inline script and style so a string that slipped through
could still not run. The routes set the headers on what they answer; the middleware sets them
on what the framework answers itself (a 404 or 405 no viewer route made), so no `/ui` answer
goes out without them.
"""

from __future__ import annotations

from typing import Any

from starlette.responses import Response

__all__ = ["CSP", "SecurityHeaders", "security_headers"]

CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; font-src 'self'; form-action 'self'; frame-ancestors 'none'; "
    "base-uri 'none'"
)
_HEADERS: tuple[tuple[str, str], ...] = (
    ("Content-Security-Policy", CSP),
    ("X-Content-Type-Options", "nosniff"),
    ("Referrer-Policy", "no-referrer"),
    ("X-Frame-Options", "DENY"),
)
_MANAGED = frozenset(name.lower().encode() for name, _ in _HEADERS)
_NO_STORE = "no-store"


def security_headers(response: Response) -> None:
    """The headers every `/ui` response carries; `no-store` unless the response chose its
    own caching (only the versioned static files do)."""
    for name, value in _HEADERS:
        response.headers[name] = value
    if "cache-control" not in response.headers:
        response.headers["Cache-Control"] = _NO_STORE


class SecurityHeaders:
    """ASGI middleware giving every response under `prefix` the security headers, including
    those no viewer route made (a 404 or 405 the framework answered itself)."""

    def __init__(self, app: Any, prefix: str = "/ui") -> None:
        self.app = app
        self.prefix = prefix

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        path = scope.get("path", "") if scope["type"] == "http" else ""
        if not (path == self.prefix or path.startswith(self.prefix + "/")):
            await self.app(scope, receive, send)
            return

        async def sending(message: Any) -> None:
            if message["type"] == "http.response.start":
                headers = [(k, v) for k, v in message.get("headers", []) if k.lower() not in _MANAGED]
                present = {k.lower() for k, _ in message.get("headers", [])}
                headers += [(k.lower().encode(), v.encode()) for k, v in _HEADERS]
                if b"cache-control" not in present:
                    headers.append((b"cache-control", _NO_STORE.encode()))
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, sending)

"""What wraps every request: the metrics, and the loopback guard of auth-off mode.

Both are plain ASGI middlewares rather than @app.middleware("http"): Starlette's
BaseHTTPMiddleware ends a streamed body cleanly even when the stream failed midway, so a client
of /v1/export would take a cut-short download for a whole one.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Collection
from typing import Any

from starlette.responses import Response

from .errors import ServerError
from .loopback import local_only_refusal
from .metrics import UNMATCHED_ROUTE, Metrics, method_label

__all__ = ["LocalOnlyGuard", "Measured"]


class Measured:
    """Counts and times every request, labelled by method and route template."""

    def __init__(self, app: Any, metrics: Metrics, routes: Callable[[], Collection[str]]) -> None:
        self.app = app
        self.metrics = metrics
        self._routes = routes
        self._known: frozenset[str] | None = None

    def _route(self, scope: Any) -> str:
        # The matched route's template, never the raw path: one series per endpoint, not one
        # per trace id, and a path no route answers is UNMATCHED_ROUTE.
        if self._known is None:  # every route exists by the first request
            self._known = frozenset(self._routes())
        name = getattr(scope.get("route"), "path", None)
        return name if name in self._known else UNMATCHED_ROUTE

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def sending(message: Any) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, sending)
        finally:
            method, route = method_label(scope["method"]), self._route(scope)
            self.metrics.latency.labels(method, route).observe(time.perf_counter() - started)
            self.metrics.requests.labels(method, route, str(status)).inc()
            if status == 503:
                self.metrics.store_errors.inc()


class LocalOnlyGuard:
    """With PRTRACE_AUTH=off: answers a request from another machine, or for a host name that
    is not loopback, with `refuse(LocalOnly)` before any route (docs and 404s included) sees it."""

    def __init__(self, app: Any, refuse: Callable[[ServerError], Response]) -> None:
        self.app = app
        self.refuse = refuse

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http":  # the app has no websocket route; lifespan has no peer
            refusal = local_only_refusal(scope)
            if refusal is not None:
                await self.refuse(refusal)(scope, receive, send)
                return
        await self.app(scope, receive, send)

"""The viewer's app as each host builds it, for the tests that drive its routes in-process:
open (auth off), behind a token login, and `prtrace view`'s one-time key."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI

from prtrace_viewer.app import ViewerHost, viewer_router
from prtrace_viewer.session import ViewKey
from prtrace_viewer.source import LoginRequired, TraceSource

TOKEN = "prt_abc_good-token"


def viewer_app(host: ViewerHost) -> FastAPI:
    app = FastAPI()
    app.include_router(viewer_router(host))
    return app


def open_host(source: TraceSource) -> ViewerHost:
    """The server with PRTRACE_AUTH=off: every page open."""
    return ViewerHost(source_for=lambda _credential: source, login=False,
                      check_token=lambda _token: False, login_hint="")


def login_host(source: TraceSource, **kwargs: Any) -> ViewerHost:
    """The server with tokens required: TOKEN is the one good token."""
    def source_for(credential: str | None) -> TraceSource:
        if credential != TOKEN:
            raise LoginRequired("a token is required")
        return source

    return ViewerHost(source_for=source_for, login=True, check_token=lambda token: token == TOKEN,
                      login_hint="Ask your admin for a token.", **kwargs)


def key_host(source: TraceSource, key: ViewKey, **kwargs: Any) -> ViewerHost:
    """`prtrace view`: only the session the key was traded for reads."""
    def source_for(credential: str | None) -> TraceSource:
        if not key.admits(credential):
            raise LoginRequired("open the address `prtrace view` printed")
        return source

    return ViewerHost(source_for=source_for, login=False, check_token=lambda _token: False,
                      login_hint="", name="prtrace — local buffer", view_key=key, **kwargs)

"""Who is asking: the session cookie, the credential, the login form, and the local key.

The parts of authorisation that are not a page. The reader's credential (the cookie, else a
bearer token) goes to the host, which alone decides what it may read; this module only carries
it, sets and clears the cookie, and guards the forms that set it: a cross-site post is refused,
a login body is capped (a token is short), and a login sends the browser only to a viewer path.
For `prtrace view`, the key in the printed URL is good for one visit: the first request that
carries it gets a fresh session value in a cookie named for the viewer's port (cookies ignore
ports, so two viewers, or anything else listening on loopback, must not share one), and the key
is spent. A request naming another Host is refused, so a page of another site cannot reach the
viewer through DNS rebinding.
"""

from __future__ import annotations

import hmac
import re
import secrets
import threading
from html import escape
from urllib.parse import parse_qs, urlencode, urlsplit

from fastapi import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from .source import BadRequest, LoginRequired, ViewerError

__all__ = [
    "COOKIE",
    "LOGIN_BODY_MAX",
    "BodyTooLarge",
    "KeySpent",
    "NotAForm",
    "ViewKey",
    "credential",
    "cross_site",
    "has_cookie",
    "key_gate",
    "path_and_query",
    "plausible_token",
    "read_form",
    "safe_next",
    "session_cookie",
    "view_cookie",
]

COOKIE = "prtrace_session"
LOGIN_BODY_MAX = 16 * 1024
LOGIN_FIELDS_MAX = 16  # a login posts two fields; a few more is a browser's doing, hundreds are not

_TOKEN = re.compile(r"^[A-Za-z0-9._~+/=-]{1,512}\Z")  # what a cookie may carry as it is


class BodyTooLarge(ViewerError):
    """The login form's body is larger than any token could make it."""

    status = 413


class NotAForm(ViewerError):
    """The login was not posted as a form."""

    status = 415


class KeySpent(LoginRequired):
    """The key URL was opened before: it is good for one browser only."""


class ViewKey:
    """`prtrace view`'s key, good for one visit.

    The key travels in a URL (the printed line, the page that opens the browser), so it is
    spent the first time it is used: that request gets a separate random session value, which
    is all the cookie ever holds. Someone who reads the key later (from a terminal's
    scrollback, from a process list) finds it spent. Thread-safe: pages are served from a
    thread pool, and two requests with the key must not both win."""

    def __init__(self, key: str) -> None:
        self.key = key
        self._session: str | None = None
        self._lock = threading.Lock()

    def matches(self, offered: str) -> bool:
        """Whether `offered` is this key (spent or not), compared in constant time."""
        return hmac.compare_digest(offered.encode(), self.key.encode())

    def trade(self, offered: str) -> str:
        """The session value for the first request with the key; `LoginRequired` for a wrong
        key, `KeySpent` for the key once traded."""
        if not self.matches(offered):
            raise LoginRequired("that key is not this viewer's")
        with self._lock:
            if self._session is not None:
                raise KeySpent(
                    "this address was already opened; run prtrace view again or use the browser that opened it"
                )
            self._session = secrets.token_urlsafe(32)
            return self._session

    def admits(self, session: str | None) -> bool:
        """Whether a cookie's value is the session the key was traded for."""
        current = self._session
        if current is None or not session:
            return False
        return hmac.compare_digest(session.encode(), current.encode())


def view_cookie(request: Request) -> str:
    """The local viewer's cookie name, `prtrace_view_<port>`: browsers keep cookies by host
    alone, so a name shared across ports would let two viewers overwrite each other's session
    and hand it to any other server on 127.0.0.1."""
    server = request.scope.get("server")
    port = server[1] if server and server[1] is not None else 0
    return f"prtrace_view_{port}"


def credential(request: Request, *, view: bool = False) -> str | None:
    """The reader's credential: the session cookie, else an `Authorization: Bearer` token;
    for the local viewer (`view`), its own port's cookie and nothing else."""
    if view:
        return request.cookies.get(view_cookie(request))
    cookie = request.cookies.get(COOKIE)
    if cookie:
        return cookie
    scheme, _, token = request.headers.get("authorization", "").strip().partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        return token.strip()
    return None


def has_cookie(request: Request) -> bool:
    return bool(request.cookies.get(COOKIE))


def plausible_token(token: str) -> bool:
    """Whether a login token could be one at all, and be kept in a cookie as it is."""
    return _TOKEN.match(token) is not None


def over_https(request: Request) -> bool:
    """Whether the browser reached us over https: directly, or through a proxy that says so.

    A proxy's `X-Forwarded-Proto` is taken on its word here although anyone can send it: it
    only ever adds `Secure` to a cookie, which at worst keeps the cookie off plain http."""
    if request.url.scheme == "https":
        return True
    forwarded = request.headers.get("x-forwarded-proto", "")
    return any(part.strip().lower() == "https" for part in forwarded.split(","))


def session_cookie(
    value: str, request: Request, *, secure: bool | None, clear: bool = False, name: str = COOKIE
) -> str:
    """The `Set-Cookie` value: a browser-session cookie for `/ui` alone, Secure when `secure`
    says so (None: when the browser came over https, `over_https`)."""
    if secure is None:
        secure = over_https(request)
    parts = [f"{name}={'' if clear else value}", "HttpOnly", "SameSite=Strict", "Path=/ui"]
    if clear:
        parts.append("Max-Age=0")
    if secure:
        parts.append("Secure")
    return "; ".join(parts)


def path_and_query(request: Request, *, drop: str | None = None) -> str:
    """The request's own path and query (without the parameter `drop`), to come back to."""
    items = [(k, v) for k, v in request.query_params.multi_items() if k != drop]
    return request.url.path + (f"?{urlencode(items)}" if items else "")


def safe_next(value: str | None) -> str:
    """Where a login may send the browser: a viewer path on this site, nothing else."""
    if (
        not value
        or not value.startswith("/ui")
        or value.startswith("//")
        or (len(value) > 3 and value[3] not in "/?#")
        or "\\" in value
        or any(not 32 < ord(ch) < 127 for ch in value)
    ):
        return "/ui"
    return value


def cross_site(request: Request) -> bool:
    """A post another site's page made: the browser says so, or names another origin.

    Under `Referrer-Policy: no-referrer` (which every page here sends) a browser posts its
    own forms with `Origin: null`; that is taken only when `Sec-Fetch-Site` vouches for it."""
    site = request.headers.get("sec-fetch-site")
    if site is not None and site not in ("same-origin", "none"):
        return True
    origin = request.headers.get("origin")
    if origin is None:
        return False
    if origin == "null":
        return site is None
    host = request.headers.get("host", "")
    try:
        return urlsplit(origin).netloc.lower() != host.lower()
    except ValueError:  # not a URL at all (`http://[::1`): no page of ours sent it
        return True


async def read_form(request: Request) -> dict[str, list[str]]:
    """The login form's fields, read with a cap: a token is short, a huge body is not one."""
    media = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media != "application/x-www-form-urlencoded":
        raise NotAForm("the login form posts application/x-www-form-urlencoded fields")
    declared = request.headers.get("content-length")
    if declared is not None and (not declared.isdigit() or int(declared) > LOGIN_BODY_MAX):
        raise BodyTooLarge("the login form is too large")
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > LOGIN_BODY_MAX:
            raise BodyTooLarge("the login form is too large")
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as error:
        raise BadRequest("the login form is not UTF-8") from error
    try:
        return parse_qs(text, keep_blank_values=True, max_num_fields=LOGIN_FIELDS_MAX)
    except ValueError as error:  # more fields than any login form has
        raise BadRequest("the login form has too many fields") from error


def _check_host(request: Request) -> None:
    """Refuse a Host that is not this loopback address and port (DNS rebinding)."""
    server = request.scope.get("server")
    port = server[1] if server else None
    allowed = {f"127.0.0.1:{port}", f"localhost:{port}"}
    if port == 80:
        allowed |= {"127.0.0.1", "localhost"}
    if request.headers.get("host", "").lower() not in allowed:
        raise BadRequest("this viewer answers only for 127.0.0.1 and localhost")


def key_gate(request: Request, key: ViewKey, *, secure: bool | None, needs_key: bool) -> Response | None:
    """With a view key: refuse a foreign Host, trade `?key=` (once) for a session cookie, and
    require that cookie everywhere else (where `needs_key`). None: go on to the route."""
    _check_host(request)
    name = view_cookie(request)
    offered = request.query_params.get("key")
    if offered is None:
        if needs_key and not key.admits(request.cookies.get(name)):
            raise LoginRequired("this viewer needs its key")
        return None
    target = path_and_query(request, drop="key")
    if key.matches(offered) and key.admits(request.cookies.get(name)):
        return RedirectResponse(target, status_code=303)  # the browser that opened it, again
    session = key.trade(offered)
    response = _onward(target, request)
    response.headers.append("set-cookie", session_cookie(session, request, secure=secure, name=name))
    return response


def _onward(target: str, request: Request) -> Response:
    """Where the browser goes once the key is traded: a redirect, or, when another site (the
    local page that opened the browser) sent it here, a page that moves on by itself. A
    `SameSite=Strict` cookie is not sent on the rest of a redirect chain another site began,
    but it is on a navigation this page starts."""
    if request.headers.get("sec-fetch-site", "none") in ("none", "same-origin"):
        return RedirectResponse(target, status_code=303)
    url = escape(target, quote=True)
    html = (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        f'<meta http-equiv="refresh" content="0;url={url}"><title>prtrace</title></head>'
        f'<body><p><a href="{url}">Open the viewer</a></p></body></html>'
    )
    return HTMLResponse(html)

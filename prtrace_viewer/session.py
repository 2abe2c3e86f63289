"""Who is asking: the session cookie, the credential, the login form, and the local key.

The parts of authorisation that are not a page. The reader's credential (the cookie, else a
bearer token) goes to the host, which alone decides what it may read; this module only carries
it, sets and clears the cookie, and guards the forms that set it: a cross-site post is refused,
a login body is capped (a token is short), and a login sends the browser only to a viewer path.
For `prtrace view`, the key in the printed URL is traded once for the cookie, and a request
naming another Host is refused, so a page of another site cannot reach the viewer through DNS
rebinding.
"""

from __future__ import annotations

import hmac
import re
from urllib.parse import parse_qs, urlencode, urlsplit

from fastapi import Request
from starlette.responses import RedirectResponse, Response

from .source import BadRequest, LoginRequired, ViewerError

__all__ = [
    "COOKIE",
    "LOGIN_BODY_MAX",
    "BodyTooLarge",
    "NotAForm",
    "credential",
    "cross_site",
    "has_cookie",
    "key_gate",
    "path_and_query",
    "plausible_token",
    "read_form",
    "safe_next",
    "session_cookie",
]

COOKIE = "prtrace_session"
LOGIN_BODY_MAX = 16 * 1024

_TOKEN = re.compile(r"^[A-Za-z0-9._~+/=-]{1,512}\Z")  # what a cookie may carry as it is


class BodyTooLarge(ViewerError):
    """The login form's body is larger than any token could make it."""

    status = 413


class NotAForm(ViewerError):
    """The login was not posted as a form."""

    status = 415


def credential(request: Request, *, cookie_only: bool = False) -> str | None:
    """The reader's credential: the session cookie, else (unless `cookie_only`, as with the
    local key) an `Authorization: Bearer` token."""
    if cookie_only:
        return request.cookies.get(COOKIE)
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


def session_cookie(value: str, request: Request, *, secure: bool | None, clear: bool = False) -> str:
    """The `Set-Cookie` value: a browser-session cookie for `/ui` alone, Secure when `secure`
    says so (None: when the request came over https)."""
    if secure is None:
        secure = request.url.scheme == "https"
    parts = [f"{COOKIE}={'' if clear else value}", "HttpOnly", "SameSite=Strict", "Path=/ui"]
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
    return urlsplit(origin).netloc.lower() != host.lower()


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
    return parse_qs(text, keep_blank_values=True, max_num_fields=16)


def _check_host(request: Request) -> None:
    """Refuse a Host that is not this loopback address and port (DNS rebinding)."""
    server = request.scope.get("server")
    port = server[1] if server else None
    allowed = {f"127.0.0.1:{port}", f"localhost:{port}"}
    if port == 80:
        allowed |= {"127.0.0.1", "localhost"}
    if request.headers.get("host", "").lower() not in allowed:
        raise BadRequest("this viewer answers only for 127.0.0.1 and localhost")


def key_gate(request: Request, key: str, *, secure: bool | None, needs_key: bool) -> Response | None:
    """With a view key: refuse a foreign Host, trade `?key=` for the cookie, and require
    the cookie everywhere else (where `needs_key`). None: go on to the route."""
    _check_host(request)
    offered = request.query_params.get("key")
    if offered is not None:
        if not hmac.compare_digest(offered.encode(), key.encode()):
            raise LoginRequired("that key is not this viewer's")
        response = RedirectResponse(path_and_query(request, drop="key"), status_code=303)
        response.headers.append("set-cookie", session_cookie(key, request, secure=secure))
        return response
    cookie = request.cookies.get(COOKIE, "")
    if needs_key and not hmac.compare_digest(cookie.encode(), key.encode()):
        raise LoginRequired("this viewer needs its key")
    return None

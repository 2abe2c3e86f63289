"""Who is asking, in process: `prtrace view`'s key good for one visit and its per-port cookie,
the login form's field cap, and when the session cookie is Secure — through the real router and
Starlette's test client."""

from __future__ import annotations

import threading
import warnings
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest
from fastapi import FastAPI

from prtrace_viewer.app import ViewerHost, viewer_router
from prtrace_viewer.memory import MemorySource
from prtrace_viewer.session import KeySpent, ViewKey
from tests.viewer import HUMAN, TRACE_A, event, trace_document
from tests.viewer.hosts import TOKEN, key_host, login_host

with warnings.catch_warnings():  # the test client's one warning about httpx (see test_app)
    warnings.filterwarnings("ignore", message=r"Using `httpx` with `starlette\.testclient`")
    from fastapi.testclient import TestClient

KEY = "k3y-Of_the-local-viewer-0123456789abcdef"
PORT = 8765
LOCAL = f"http://127.0.0.1:{PORT}"
VIEW_COOKIE = f"prtrace_view_{PORT}"
SPENT = "this address was already opened; run prtrace view again or use the browser that opened it"


def _source() -> MemorySource:
    events = [event(1, "start", {"head_sha": None, "branch": "main", "dirty": []}, actor=HUMAN),
              event(2, "annotation", {"text": "a note"}, actor=HUMAN)]
    return MemorySource([trace_document(TRACE_A, events)])


def _client(host: ViewerHost, base_url: str = LOCAL) -> TestClient:
    app = FastAPI()
    app.include_router(viewer_router(host))
    return TestClient(app, base_url=base_url, follow_redirects=False)


@pytest.fixture
def key() -> ViewKey:
    return ViewKey(KEY)


@pytest.fixture
def viewer(key: ViewKey) -> Iterator[TestClient]:
    with _client(key_host(_source(), key, secure_cookie=False)) as client:
        yield client


def _session_of(set_cookie: str) -> str:
    name_value = set_cookie.split(";", 1)[0]
    name, _, value = name_value.partition("=")
    assert name == VIEW_COOKIE
    return value


# the local key: one visit, then a session


def test_the_key_is_traded_for_a_session_in_a_cookie_named_for_the_port(viewer: TestClient) -> None:
    response = viewer.get(f"/ui/traces/{TRACE_A}", params={"key": KEY, "event": f"{1:064x}"})
    assert response.status_code == 303
    assert response.headers["location"] == f"/ui/traces/{TRACE_A}?event={1:064x}"
    set_cookie = response.headers["set-cookie"]
    session = _session_of(set_cookie)
    assert set_cookie == f"{VIEW_COOKIE}={session}; HttpOnly; SameSite=Strict; Path=/ui"
    assert session and session != KEY and KEY not in set_cookie  # the cookie never holds the key
    viewer.cookies.clear()
    page = viewer.get(f"/ui/traces/{TRACE_A}", headers={"Cookie": f"{VIEW_COOKIE}={session}"})
    assert page.status_code == 200 and "prtrace — local buffer" in page.text
    assert viewer.get("/ui", headers={"Host": f"localhost:{PORT}", "Cookie": f"{VIEW_COOKIE}={session}"}).status_code == 200


def test_the_key_opens_one_browser_only(viewer: TestClient) -> None:
    first = viewer.get("/ui", params={"key": KEY})
    session = _session_of(first.headers["set-cookie"])
    viewer.cookies.clear()
    # another browser (no session) with the same address: spent
    again = viewer.get("/ui", params={"key": KEY})
    assert again.status_code == 401
    assert "set-cookie" not in again.headers
    assert SPENT in again.text
    # the browser that opened it may open the address again: it only loses the key
    back = viewer.get("/ui", params={"key": KEY}, headers={"Cookie": f"{VIEW_COOKIE}={session}"})
    assert back.status_code == 303 and back.headers["location"] == "/ui"
    assert "set-cookie" not in back.headers


def test_neither_the_key_nor_another_ports_cookie_reads(viewer: TestClient) -> None:
    session = _session_of(viewer.get("/ui", params={"key": KEY}).headers["set-cookie"])
    viewer.cookies.clear()
    for cookie in (f"{VIEW_COOKIE}={KEY}",  # the key itself is no session
                   f"prtrace_session={session}",  # the server's cookie name is not this viewer's
                   f"prtrace_view_{PORT + 1}={session}"):  # nor another port's
        refused = viewer.get("/ui", headers={"Cookie": cookie})
        assert refused.status_code == 401, cookie
        assert "prtrace view" in refused.text


def test_a_wrong_key_is_401_and_does_not_spend_the_key(viewer: TestClient) -> None:
    wrong = viewer.get("/ui", params={"key": "not-the-key"})
    assert wrong.status_code == 401 and "set-cookie" not in wrong.headers
    assert viewer.get("/ui", params={"key": KEY}).status_code == 303


def test_two_viewers_keep_their_own_cookies() -> None:
    one, two = ViewKey(KEY), ViewKey(KEY + "-2")
    with (
        _client(key_host(_source(), one, secure_cookie=False)) as first,
        _client(key_host(_source(), two, secure_cookie=False), f"http://127.0.0.1:{PORT + 1}") as second,
    ):
        a = first.get("/ui", params={"key": KEY}).headers["set-cookie"]
        b = second.get("/ui", params={"key": KEY + "-2"}).headers["set-cookie"]
    assert a.startswith(f"prtrace_view_{PORT}=") and b.startswith(f"prtrace_view_{PORT + 1}=")


def test_the_key_has_one_winner_among_racing_requests() -> None:
    key = ViewKey(KEY)
    start = threading.Barrier(8)

    def attempt(_: int) -> str | None:
        start.wait()
        try:
            return key.trade(KEY)
        except KeySpent:
            return None

    with ThreadPoolExecutor(8) as pool:
        won = [s for s in pool.map(attempt, range(8)) if s is not None]
    assert len(won) == 1 and key.admits(won[0])
    assert not key.admits(None) and not key.admits("") and not key.admits(KEY)


def test_a_key_opened_from_another_page_moves_on_by_a_page_not_a_redirect(viewer: TestClient) -> None:
    """The local page that opens the browser is another site: a SameSite=Strict cookie would
    not go with the rest of its redirect chain, so the viewer answers with a page that moves on."""
    response = viewer.get("/ui/traces/" + TRACE_A, params={"key": KEY}, headers={"Sec-Fetch-Site": "cross-site"})
    assert response.status_code == 200
    assert response.headers["set-cookie"].startswith(f"{VIEW_COOKIE}=")
    assert f'<meta http-equiv="refresh" content="0;url=/ui/traces/{TRACE_A}">' in response.text
    assert KEY not in response.text
    assert "<script" not in response.text


# the login form


def test_a_login_with_too_many_fields_is_400() -> None:
    with _client(login_host(_source())) as client:
        body = "&".join(f"f{n}=x" for n in range(40)) + f"&token={TOKEN}"
        response = client.post("/ui/login", content=body,
                               headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert response.status_code == 400
    assert "too many fields" in response.text
    assert "set-cookie" not in response.headers
    assert "content-security-policy" in response.headers


# Secure


@pytest.mark.parametrize(("secure", "base_url", "headers", "expected"), [
    (None, "http://testserver", {}, False),
    (None, "https://testserver", {}, True),
    (None, "http://testserver", {"X-Forwarded-Proto": "https"}, True),  # a TLS proxy says so
    (None, "http://testserver", {"X-Forwarded-Proto": "HTTPS, http"}, True),
    (None, "http://testserver", {"X-Forwarded-Proto": "http"}, False),
    (True, "http://testserver", {}, True),
    (False, "https://testserver", {"X-Forwarded-Proto": "https"}, False),
])
def test_the_login_cookie_is_secure_when_the_browser_came_over_https(
    secure: bool | None, base_url: str, headers: dict[str, str], expected: bool
) -> None:
    with _client(login_host(_source(), secure_cookie=secure), base_url) as client:
        response = client.post("/ui/login", data={"token": TOKEN}, headers=headers)
    assert response.status_code == 303
    assert response.headers["set-cookie"].endswith("; Secure") is expected

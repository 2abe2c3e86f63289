"""The viewer's routes, in process: the real router over a MemorySource, through Starlette's
test client. Pages, fragments and JSON; escaping of recorded text; the login cookie; the local
key; refusals of bad input; the security headers on every answer."""

from __future__ import annotations

import re
import warnings
from collections.abc import Iterator
from html.parser import HTMLParser
from typing import Any

import pytest

from prtrace_viewer.app import ViewerHost
from prtrace_viewer.headers import CSP, SecurityHeaders
from prtrace_viewer.memory import MemorySource
from prtrace_viewer.session import ViewKey
from prtrace_viewer.source import TraceSource
from tests.viewer import AGENT, HUMAN, TRACE_A, TRACE_B, edit_payload, event, trace_document
from tests.viewer.hosts import TOKEN, key_host, login_host, open_host, viewer_app

# Starlette's test client prefers the `httpx2` package and warns when it falls back to httpx;
# the fallback is what this project installs, so that one warning is not an error here.
with warnings.catch_warnings():
    warnings.filterwarnings("ignore", message=r"Using `httpx` with `starlette\.testclient`")
    from fastapi.testclient import TestClient

KEY = "k3y-Of_the-local-viewer-0123456789abcdef"
LOCAL = "http://127.0.0.1:8765"

SCRIPT = "<script>alert(1)</script>"
HOSTILE_FILE = "<img src=x onerror=alert(1)>.py"
HOSTILE_BRANCH = "<b>bold</b>-branch"
HOSTILE_NOTE = "<iframe src=//evil.example></iframe> note"
HOSTILE_URL = "javascript:alert(1)"


# A trace whose recorded text is all hostile: what an attacker could put in a commit message,
# a file name, a diff, a branch name, a note and a CI run's link.
def _hostile_events() -> list[dict[str, Any]]:
    diff_edit = edit_payload(HOSTILE_FILE, b"a = 1\n", f"a = 1\nb = '{SCRIPT}'\n".encode())
    return [
        event(1, "start", {"head_sha": None, "branch": HOSTILE_BRANCH, "dirty": []}, actor=HUMAN),
        event(2, "edit", edit_payload(HOSTILE_FILE, None, b"a = 1\n"), actor=AGENT),
        event(3, "edit", diff_edit, actor=AGENT),
        event(4, "test", {"command": "pytest", "exit_code": 1, "framework": "pytest", "passed": 1,
                          "failed": 1, "failed_tests": [f"test_{SCRIPT}"]}, actor=HUMAN),
        event(5, "commit", {"sha": "c" * 40, "message": f"{SCRIPT}<b>bold</b>", "files_changed": 1,
                            "files": [HOSTILE_FILE]}, actor=HUMAN),
        event(6, "annotation", {"text": HOSTILE_NOTE}, actor=HUMAN),
        event(7, "ci", {"name": f"build {SCRIPT}", "conclusion": "failure", "url": HOSTILE_URL}),
        event(8, "command", {"command": f"echo '{SCRIPT}'", "exit_code": 0, "stdout_sample": SCRIPT}),
    ]


def _with_ids(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{**e, "event_id": f"{n:064x}"} for n, e in enumerate(events, start=1)]


def _source() -> MemorySource:
    hostile = trace_document(TRACE_A, _with_ids(_hostile_events()), branch=HOSTILE_BRANCH, pr="acme/app#7")
    long = trace_document(
        TRACE_B,
        [event(n, "command" if n % 7 else "test",
               {"command": f"step {n}", "exit_code": 0, "framework": "pytest", "passed": 3}, at=n * 2)
         for n in range(1, 451)],
        branch="long",
    )
    return MemorySource([hostile, long])


def _key_host(source: TraceSource) -> ViewerHost:
    return key_host(source, ViewKey(KEY))


def _cookie(value: str) -> dict[str, str]:
    """The session cookie as a browser sends it back."""
    return {"Cookie": f"prtrace_session={value}"}


@pytest.fixture
def client() -> Iterator[TestClient]:
    with TestClient(viewer_app(open_host(_source()))) as test_client:
        yield test_client


@pytest.fixture
def login_client() -> Iterator[TestClient]:
    with TestClient(viewer_app(login_host(_source())), follow_redirects=False) as test_client:
        yield test_client


class _Tags(HTMLParser):
    """Every start tag and its attributes, as a browser's parser would build them."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))


def _tags(html: str) -> list[tuple[str, dict[str, str | None]]]:
    parser = _Tags()
    parser.feed(html)
    parser.close()
    return parser.tags


def assert_safe_markup(html: str) -> None:
    """What the CSP would block anyway, and what recorded text must never become: a script
    without src, an event handler or style attribute, a javascript: link, an element that
    only recorded text could have made."""
    for tag, attrs in _tags(html):
        assert tag not in ("iframe", "img", "b"), tag
        if tag == "script":
            assert attrs.get("src"), "an inline script"
        for name, value in attrs.items():
            assert not name.startswith("on"), (tag, name)
            assert name != "style", tag
            if name in ("href", "src", "action"):
                assert not (value or "").strip().lower().startswith("javascript:"), (tag, value)


def assert_security_headers(response: Any) -> None:
    assert response.headers["content-security-policy"] == CSP
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["referrer-policy"] == "no-referrer"
    assert response.headers["x-frame-options"] == "DENY"


PAGES = [
    "/ui",
    "/ui/",
    "/ui?repo=acme/app&branch=long",
    "/ui/prs/acme/app/7",
    f"/ui/traces/{TRACE_A}",
    f"/ui/traces/{TRACE_A}?event={5:064x}",
    f"/ui/traces/{TRACE_B}",
]
FRAGMENTS = [
    f"/ui/traces/{TRACE_B}/rows?after_seq=200",
    f"/ui/traces/{TRACE_A}/events/{3:064x}",
    f"/ui/traces/{TRACE_A}/files?at=3",
    f"/ui/traces/{TRACE_A}/file?at=3&path=" + "%3Cimg%20src%3Dx%20onerror%3Dalert(1)%3E.py",
]


@pytest.mark.parametrize("url", PAGES + FRAGMENTS + [f"/ui/traces/{TRACE_A}/overview.json"])
def test_every_page_and_fragment_answers_with_the_security_headers(client: TestClient, url: str) -> None:
    response = client.get(url)
    assert response.status_code == 200, response.text
    assert_security_headers(response)
    assert response.headers["cache-control"] == "no-store"
    if not url.endswith(".json"):
        assert_safe_markup(response.text)


@pytest.mark.parametrize("url", PAGES)
def test_pages_are_whole_documents_naming_their_kind(client: TestClient, url: str) -> None:
    html = client.get(url).text
    tags = _tags(html)
    assert ("html", {"lang": "en"}) in tags
    body = next(attrs for tag, attrs in tags if tag == "body")
    assert body["data-page"] in ("list", "pr", "trace")
    scripts = [attrs for tag, attrs in tags if tag == "script"]
    assert [s["src"].split("?")[0] for s in scripts if s["src"]] == ["/ui/static/uPlot.iife.min.js", "/ui/static/viewer.js"]
    assert all("defer" in s for s in scripts)
    assert 'id="content"' in html and "Skip to content" in html


def test_errors_and_redirects_carry_the_headers_too(login_client: TestClient) -> None:
    for response in (login_client.get("/ui"), login_client.get("/ui/traces/nope"),
                     login_client.get("/ui/no/such/page"), login_client.post("/ui/logout")):
        assert response.status_code in (303, 400, 404), response.status_code
        assert_security_headers(response)


def test_recorded_html_comes_out_as_text(client: TestClient) -> None:
    trace = client.get(f"/ui/traces/{TRACE_A}").text
    commit = client.get(f"/ui/traces/{TRACE_A}/events/{5:064x}").text
    edit = client.get(f"/ui/traces/{TRACE_A}/events/{3:064x}").text
    note = client.get(f"/ui/traces/{TRACE_A}/events/{6:064x}").text
    ci = client.get(f"/ui/traces/{TRACE_A}/events/{7:064x}").text
    files = client.get(f"/ui/traces/{TRACE_A}/files?at=3").text
    listing = client.get("/ui").text
    pr = client.get("/ui/prs/acme/app/7").text
    for html in (trace, commit, edit, note, ci, files, listing, pr):
        assert SCRIPT not in html
        assert "<b>bold</b>" not in html
        assert_safe_markup(html)
    assert "&lt;script&gt;alert(1)&lt;/script&gt;&lt;b&gt;bold&lt;/b&gt;" in commit
    assert "&lt;iframe src=//evil.example&gt;&lt;/iframe&gt; note" in note
    assert "&lt;b&gt;bold&lt;/b&gt;-branch" in trace and "&lt;b&gt;bold&lt;/b&gt;-branch" in listing
    assert "&lt;img src=x onerror=alert(1)&gt;.py" in files
    # the diff's added line holds the script as highlighted, escaped text
    assert "diff-line add" in edit and "&lt;/script&gt;" in edit
    # a CI run's javascript: URL is neither a link nor shown
    assert "javascript:" not in ci and "javascript:" not in pr
    assert 'class="ci-row status-fail"' in pr


def test_the_commit_detail_has_its_hooks(client: TestClient) -> None:
    html = client.get(f"/ui/traces/{TRACE_A}/events/{5:064x}").text
    tags = _tags(html)
    assert ("pre", {"class": "commit-message"}) in tags
    assert ("ul", {"class": "commit-files"}) in tags
    test = client.get(f"/ui/traces/{TRACE_A}/events/{4:064x}").text
    assert ("ul", {"class": "failed-tests"}) in _tags(test)
    command = client.get(f"/ui/traces/{TRACE_A}/events/{8:064x}").text
    assert ("pre", {"class": "command-output"}) in _tags(command)


def test_the_event_detail_opens_without_javascript(client: TestClient) -> None:
    html = client.get(f"/ui/traces/{TRACE_A}", params={"event": f"{5:064x}"}).text
    detail = html[html.index('<section id="detail"'):]
    assert 'class="commit-message"' in detail[: detail.index("</section>")]


def test_the_trace_page_links_each_row_to_its_detail(client: TestClient) -> None:
    rows = [attrs for tag, attrs in _tags(client.get(f"/ui/traces/{TRACE_A}").text)
            if tag == "tr" and "event-row" in (attrs.get("class") or "")]
    assert [r["data-seq"] for r in rows] == [str(n) for n in range(1, 9)]
    assert [r["data-event-id"] for r in rows] == [f"{n:064x}" for n in range(1, 9)]
    assert rows[3]["class"] == "event-row status-fail" and rows[3]["data-type"] == "test"
    links = [attrs["href"] for tag, attrs in _tags(client.get(f"/ui/traces/{TRACE_A}").text)
             if tag == "a" and attrs.get("class") == "event-link"]
    assert links[0] == f"/ui/traces/{TRACE_A}?event={1:064x}#detail"


def test_events_without_ids_are_named_by_their_place_in_the_trace() -> None:
    bare = trace_document(TRACE_A, [event(1, "annotation", {"text": "first"}), event(2, "annotation", {"text": "second"})])
    with TestClient(viewer_app(open_host(MemorySource([bare])))) as client:
        rows = [attrs for tag, attrs in _tags(client.get(f"/ui/traces/{TRACE_A}").text) if tag == "tr" and "data-event-id" in attrs]
        assert [r["data-event-id"] for r in rows] == ["i0", "i1"]
        assert "second" in client.get(f"/ui/traces/{TRACE_A}/events/i1").text
        assert client.get(f"/ui/traces/{TRACE_A}/events/i2").status_code == 404


def test_rows_page_on_to_the_end(client: TestClient) -> None:
    first = client.get(f"/ui/traces/{TRACE_B}").text
    seen = [int(a["data-seq"] or 0) for t, a in _tags(first) if t == "tr" and "data-seq" in a]
    more = [a["data-src"] for t, a in _tags(first) if t == "button" and a.get("id") == "more-events"]
    pages = 1
    while more:
        fragment = client.get(more[0] or "")
        assert fragment.status_code == 200
        tags = _tags(fragment.text)
        seen += [int(a["data-seq"] or 0) for t, a in tags if t == "tr"]
        more = [a["data-src"] for t, a in tags if t == "button" and a.get("id") == "more-events"]
        pages += 1
    assert seen == list(range(1, 451))
    assert pages == 3


def test_the_type_filter_reloads_rows_of_one_type(client: TestClient) -> None:
    tags = _tags(client.get(f"/ui/traces/{TRACE_B}/rows", params={"type": "test"}).text)
    types = {a["data-type"] for t, a in tags if t == "tr"}
    assert types == {"test"}
    assert len([t for t, _ in tags if t == "tr"]) == 450 // 7


def test_the_list_filters_and_pages(client: TestClient) -> None:
    def trace_ids(html: str) -> list[str | None]:
        return [a["data-trace-id"] for t, a in _tags(html) if t == "tr" and a.get("class") == "trace-row"]

    assert trace_ids(client.get("/ui").text) == [TRACE_B, TRACE_A]
    assert trace_ids(client.get("/ui", params={"branch": "long"}).text) == [TRACE_B]
    assert trace_ids(client.get("/ui", params={"pr": "acme/app#7"}).text) == [TRACE_A]
    many = MemorySource([trace_document(f"00000000-0000-4000-8000-{n:012x}", [event(1, "annotation", {"text": "x"}, at=n)])
                         for n in range(55)])
    with TestClient(viewer_app(open_host(many))) as paging:
        first = paging.get("/ui", params={"repo": "acme/app"}).text
        (next_href,) = [a["href"] for t, a in _tags(first) if t == "a" and a.get("id") == "next-page"]
        assert next_href and "repo=acme%2Fapp" in next_href and "cursor=" in next_href
        second = paging.get(next_href).text
        assert len(trace_ids(first)) == 50 and len(trace_ids(second)) == 5
        assert not set(trace_ids(first)) & set(trace_ids(second))
        assert 'id="next-page"' not in second


def test_overview_is_the_views_json(client: TestClient) -> None:
    response = client.get(f"/ui/traces/{TRACE_B}/overview.json")
    assert response.headers["content-type"] == "application/json"
    data = response.json()
    assert len(data["points"]) == 450 and data["seqs"] == {"min": 1, "max": 450}


def test_the_replay_fragments(client: TestClient) -> None:
    files = client.get(f"/ui/traces/{TRACE_A}/files", params={"at": 3}).text
    buttons = [a for t, a in _tags(files) if t == "button"]
    assert [b["data-path"] for b in buttons] == [HOSTILE_FILE]
    assert buttons[0]["class"] == "file changed"
    shown = client.get(f"/ui/traces/{TRACE_A}/file", params={"at": 3, "path": HOSTILE_FILE}).text
    pre = [a for t, a in _tags(shown) if t == "pre"]
    assert pre == [{"class": "file-content hl", "data-path": HOSTILE_FILE, "data-seq": "3"}]
    assert shown.count('<span class="line">') == 2 and "&lt;/script&gt;" in shown
    before = client.get(f"/ui/traces/{TRACE_A}/file", params={"at": 2, "path": HOSTILE_FILE}).text
    assert before.count('<span class="line">') == 1


# login


def test_a_page_without_credentials_goes_to_the_login(login_client: TestClient) -> None:
    response = login_client.get(f"/ui/traces/{TRACE_A}", params={"event": f"{1:064x}"})
    assert response.status_code == 303
    assert response.headers["location"] == f"/ui/login?next=/ui/traces/{TRACE_A}%3Fevent%3D{1:064x}"
    assert login_client.get(f"/ui/traces/{TRACE_A}/rows").status_code == 401
    unauthorised = login_client.get(f"/ui/traces/{TRACE_A}/overview.json")
    assert unauthorised.status_code == 401 and "error" in unauthorised.json()


def test_the_login_page(login_client: TestClient) -> None:
    response = login_client.get("/ui/login", params={"next": "/ui/prs/acme/app/7"})
    assert response.status_code == 200
    tags = _tags(response.text)
    assert ("input", {"type": "hidden", "name": "next", "value": "/ui/prs/acme/app/7"}) in tags
    assert any(t == "input" and a.get("type") == "password" and a.get("name") == "token" for t, a in tags)
    assert "Ask your admin for a token." in response.text


def test_login_sets_a_strict_http_only_session_cookie(login_client: TestClient) -> None:
    response = login_client.post("/ui/login", data={"token": TOKEN, "next": f"/ui/traces/{TRACE_A}"})
    assert response.status_code == 303
    assert response.headers["location"] == f"/ui/traces/{TRACE_A}"
    assert response.headers["set-cookie"] == f"prtrace_session={TOKEN}; HttpOnly; SameSite=Strict; Path=/ui"
    assert_security_headers(response)
    page = login_client.get(f"/ui/traces/{TRACE_A}", headers=_cookie(TOKEN))
    assert page.status_code == 200 and "Log out" in page.text


def test_the_cookie_is_secure_over_https() -> None:
    with TestClient(viewer_app(login_host(_source())), base_url="https://viewer.example",
                    follow_redirects=False) as client:
        response = client.post("/ui/login", data={"token": TOKEN, "next": "/ui"})
        assert response.headers["set-cookie"].endswith("; Secure")
    with TestClient(viewer_app(login_host(_source(), secure_cookie=True)), follow_redirects=False) as client:
        response = client.post("/ui/login", data={"token": TOKEN, "next": "/ui"})
        assert response.headers["set-cookie"].endswith("; Secure")


def test_a_bearer_token_reads_too(login_client: TestClient) -> None:
    response = login_client.get("/ui", headers={"Authorization": f"Bearer {TOKEN}"})
    assert response.status_code == 200 and "Log out" not in response.text


def test_a_bad_token_is_401_with_the_form_again(login_client: TestClient) -> None:
    response = login_client.post("/ui/login", data={"token": "prt_nope", "next": "/ui"})
    assert response.status_code == 401
    assert "set-cookie" not in response.headers
    assert "That token is unknown or revoked." in response.text
    assert 'id="login"' in response.text


@pytest.mark.parametrize("target", ["//evil.example", "https://evil.example/ui", "/uix", "/ui\\@evil.example", ""])
def test_login_sends_nowhere_but_the_viewer(login_client: TestClient, target: str) -> None:
    response = login_client.post("/ui/login", data={"token": TOKEN, "next": target})
    assert response.status_code == 303
    assert response.headers["location"] == "/ui"


@pytest.mark.parametrize("headers", [
    {"Origin": "https://evil.example"},
    {"Origin": "null"},
    {"Sec-Fetch-Site": "cross-site"},
    {"Sec-Fetch-Site": "same-site"},
])
def test_a_cross_site_post_is_refused(login_client: TestClient, headers: dict[str, str]) -> None:
    for path in ("/ui/login", "/ui/logout"):
        response = login_client.post(path, data={"token": TOKEN, "next": "/ui"}, headers=headers)
        assert response.status_code == 403, path
        assert "set-cookie" not in response.headers
        assert_security_headers(response)


@pytest.mark.parametrize("headers", [
    {"Origin": "http://testserver", "Sec-Fetch-Site": "same-origin"},
    {"Origin": "http://testserver"},
    # a page under Referrer-Policy: no-referrer posts its own form with Origin: null
    {"Origin": "null", "Sec-Fetch-Site": "same-origin"},
    {},
])
def test_a_same_origin_post_is_taken(login_client: TestClient, headers: dict[str, str]) -> None:
    response = login_client.post("/ui/login", data={"token": TOKEN}, headers=headers)
    assert response.status_code == 303


def test_the_login_form_is_small_and_form_encoded(login_client: TestClient) -> None:
    big = login_client.post("/ui/login", data={"token": "x" * (17 * 1024)})
    assert big.status_code == 413
    json_body = login_client.post("/ui/login", json={"token": TOKEN})
    assert json_body.status_code == 415


def test_logout_clears_the_cookie(login_client: TestClient) -> None:
    response = login_client.post("/ui/logout", headers=_cookie(TOKEN))
    assert response.status_code == 303
    assert response.headers["location"] == "/ui/login"
    assert response.headers["set-cookie"] == "prtrace_session=; HttpOnly; SameSite=Strict; Path=/ui; Max-Age=0"


def test_an_open_viewer_has_no_login(client: TestClient) -> None:
    assert client.get("/ui/login").status_code == 404
    assert client.post("/ui/login", data={"token": TOKEN}).status_code == 404
    assert "Log out" not in client.get("/ui").text


# the local key


def test_the_key_url_sets_the_cookie_and_drops_the_key() -> None:
    with TestClient(viewer_app(_key_host(_source())), base_url=LOCAL, follow_redirects=False) as client:
        response = client.get(f"/ui/traces/{TRACE_A}", params={"key": KEY, "event": f"{1:064x}"})
        assert response.status_code == 303
        assert response.headers["location"] == f"/ui/traces/{TRACE_A}?event={1:064x}"
        name, _, rest = response.headers["set-cookie"].partition("=")
        session = rest.split(";", 1)[0]
        assert name == "prtrace_view_8765" and session and session != KEY  # a session, never the key
        assert response.headers["set-cookie"] == f"{name}={session}; HttpOnly; SameSite=Strict; Path=/ui"
        page = client.get(response.headers["location"], headers={"Cookie": f"{name}={session}"})
        assert page.status_code == 200 and "prtrace — local buffer" in page.text
        same = client.get("/ui", headers={"Host": "localhost:8765", "Cookie": f"{name}={session}"})
        assert same.status_code == 200


def test_without_the_key_the_local_viewer_is_401() -> None:
    with TestClient(viewer_app(_key_host(_source())), base_url=LOCAL, follow_redirects=False) as client:
        for response in (client.get("/ui"), client.get("/ui", params={"key": "wrong"}),
                         client.get("/ui", headers={"Cookie": "prtrace_view_8765=wrong"}),
                         client.get("/ui", headers={"Cookie": f"prtrace_view_8765={KEY}"})):
            assert response.status_code == 401
            assert "set-cookie" not in response.headers
            assert "prtrace view" in response.text
            assert_security_headers(response)
        assert client.get(f"/ui/traces/{TRACE_A}/overview.json").status_code == 401
        # the stylesheet the 401 page needs is no secret
        assert client.get("/ui/static/viewer.css").status_code == 200


@pytest.mark.parametrize("host", ["evil.example:8765", "127.0.0.1:9999", "evil.example", "localhost"])
def test_the_local_viewer_refuses_other_host_names(host: str) -> None:
    with TestClient(viewer_app(_key_host(_source())), base_url=LOCAL, follow_redirects=False) as client:
        response = client.get("/ui", params={"key": KEY}, headers={"Host": host, **_cookie(KEY)})
        assert response.status_code == 400
        assert "set-cookie" not in response.headers


# bad input


@pytest.mark.parametrize(("url", "status"), [
    ("/ui/traces/not-a-uuid", 400),
    (f"/ui/traces/{TRACE_A.upper()}", 400),
    ("/ui/traces/00000000-0000-4000-8000-000000000000", 404),
    (f"/ui/traces/{TRACE_A}?event=zzz", 400),
    (f"/ui/traces/{TRACE_A}?event={'0' * 64}", 404),
    (f"/ui/traces/{TRACE_A}/rows?after_seq=-1", 400),
    (f"/ui/traces/{TRACE_A}/rows?after_seq=1e3", 400),
    (f"/ui/traces/{TRACE_A}/rows?type=<b>", 400),
    (f"/ui/traces/{TRACE_A}/events/{'0' * 64}", 404),
    (f"/ui/traces/{TRACE_A}/events/i99", 404),
    (f"/ui/traces/{TRACE_A}/events/{'A' * 64}", 400),
    (f"/ui/traces/{TRACE_A}/files", 400),
    (f"/ui/traces/{TRACE_A}/files?at=x", 400),
    (f"/ui/traces/{TRACE_A}/file?at=3", 400),
    (f"/ui/traces/{TRACE_A}/file?at=-3&path=a", 400),
    ("/ui/traces/00000000-0000-4000-8000-000000000000/overview.json", 404),
    ("/ui/prs/acme/app/x", 400),
    ("/ui/prs/acme/app/99", 404),
    ("/ui?cursor=garbage", 400),
    ("/ui?since=yesterday-ish", 400),
    ("/ui/nothing/here", 404),
])
def test_bad_input_is_refused_never_a_500(client: TestClient, url: str, status: int) -> None:
    response = client.get(url)
    assert response.status_code == status, response.text
    assert_security_headers(response)
    assert "Traceback" not in response.text


# static files


def test_static_files_come_from_the_allow_list(client: TestClient) -> None:
    page = client.get("/ui").text
    (css,) = [a["href"] for t, a in _tags(page) if t == "link" and "viewer.css" in (a.get("href") or "")]
    assert css and "?v=" in css
    versioned = client.get(css)
    assert versioned.status_code == 200
    assert versioned.headers["cache-control"] == "public, max-age=31536000, immutable"
    assert versioned.headers["content-type"].startswith("text/css")
    assert ".hl" in versioned.text  # the highlighter's classes come with it
    assert_security_headers(versioned)
    plain = client.get("/ui/static/viewer.js")
    assert plain.headers["content-type"].startswith("text/javascript")
    assert "immutable" not in plain.headers["cache-control"]
    assert client.get("/ui/static/uPlot.LICENSE").status_code == 200
    for path in ("/ui/static/app.py", "/ui/static/../app.py", "/ui/static/..%2fapp.py",
                 "/ui/static/%2e%2e%2fapp.py", "/ui/static/templates", "/ui/static/"):
        response = client.get(path)
        assert response.status_code == 404, path
        assert "ViewerHost" not in response.text


def test_pages_name_static_files_by_version(client: TestClient) -> None:
    page = client.get(f"/ui/traces/{TRACE_A}").text
    urls = re.findall(r'(?:href|src)="(/ui/static/[^"]+)"', page)
    assert len(urls) == 4
    for url in urls:
        response = client.get(url)
        assert response.status_code == 200 and "immutable" in response.headers["cache-control"]


def test_the_middleware_covers_answers_no_viewer_route_made() -> None:
    app = viewer_app(open_host(_source()))

    @app.get("/elsewhere")
    def elsewhere() -> dict[str, str]:
        return {"ok": "yes"}

    app.add_middleware(SecurityHeaders)
    with TestClient(app) as client:
        refused = client.delete("/ui")  # no such method: the framework answers, not the viewer
        assert refused.status_code == 405
        assert_security_headers(refused)
        assert refused.headers["cache-control"] == "no-store"
        static = client.get(_static_url(client, "viewer.js"))
        assert static.headers["cache-control"] == "public, max-age=31536000, immutable"
        assert "content-security-policy" not in client.get("/elsewhere").headers


def _static_url(client: TestClient, name: str) -> str:
    (url,) = [u for u in re.findall(r'(?:href|src)="(/ui/static/[^"]+)"', client.get("/ui").text) if name in u]
    return url


def test_the_pr_page_shows_its_traces_ci_runs_and_first_events() -> None:
    events = [event(n, "annotation", {"text": f"note {n}"}, at=n) for n in range(1, 511)]
    events.append(event(None, "ci", {"name": "build", "conclusion": "success", "url": "https://ci.example/run/1"}, at=600))
    doc = trace_document(TRACE_B, _with_ids(events), pr="acme/app#8")
    with TestClient(viewer_app(open_host(MemorySource([doc])))) as client:
        html = client.get("/ui/prs/acme/app/8").text
    tags = _tags(html)
    assert ("h1", {"id": "pr-title"}) in tags and "PR acme/app#8" in html
    assert [a["data-trace-id"] for t, a in tags if t == "tr" and a.get("class") == "trace-row"] == [TRACE_B]
    assert [a["class"] for t, a in tags if t == "tr" and "ci-row" in (a.get("class") or "")] == ["ci-row status-pass"]
    assert ("a", {"href": "https://ci.example/run/1", "rel": "noopener noreferrer nofollow"}) in tags
    assert len([a for t, a in tags if t == "tr" and "pr-event" in (a.get("class") or "")]) == 500
    assert "11 more events not shown" in html

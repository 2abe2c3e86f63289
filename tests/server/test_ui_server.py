"""The viewer as the server serves it: the real app over the real stores, tokens made by the
server's own token code, and every page authorised like the API — a reader sees every trace, a
writer only its own, a revoked token's session ends, auth off is open to this machine."""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from html.parser import HTMLParser
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from prtrace_server.app import create_app
from prtrace_server.auth import Principal
from prtrace_server.errors import StoreUnavailable
from prtrace_server.index import Role
from prtrace_server.settings import ServerSettings
from prtrace_server.tokens import issue_token, revoke
from prtrace_server.ui import EventCache, ServerSource
from tests.server.server_helpers import TestClient, blobs_of, index_of, make_batch, note

JSON = {"Content-Type": "application/json"}
Tokens = Callable[..., str]


class _Rows(HTMLParser):
    """The `data-trace-id` of each `tr.trace-row`, and `body[data-page]`."""

    def __init__(self) -> None:
        super().__init__()
        self.trace_ids: list[str] = []
        self.page: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        if tag == "tr" and "trace-row" in (found.get("class") or "").split():
            self.trace_ids.append(found.get("data-trace-id") or "")
        if tag == "body":
            self.page = found.get("data-page")


def listed(html: str) -> list[str]:
    parser = _Rows()
    parser.feed(html)
    return parser.trace_ids


def session(token: str) -> dict[str, str]:
    """The cookie a browser sends after logging in with `token`."""
    return {"Cookie": f"prtrace_session={token}"}


@pytest.fixture
def token(auth_client: TestClient) -> Tokens:
    """A fresh token (the token itself) for a user and role, made by the server's token code."""

    def make(user: str, role: Role = "writer") -> str:
        _, made = issue_token(index_of(auth_client), user=user, role=role)
        return made

    return make


def send(client: TestClient, batch: dict[str, Any], token: str | None = None) -> None:
    headers = {**JSON, **({"Authorization": f"Bearer {token}"} if token else {})}
    response = client.post("/v1/batches", content=json.dumps(batch), headers=headers)
    assert response.status_code == 200, response.text
    assert not response.json()["rejected"], response.text


def a_trace(client: TestClient, token: str | None = None, *, ts: tuple[str, ...] = ("2026-11-24T19:00:00.000Z",),
            repo: str = "acme/webapp") -> str:
    """A new trace of notes at these times, sent with the token; its id."""
    trace_id = str(uuid.uuid4())
    events = [note(seq, f"note {seq}", at) for seq, at in enumerate(ts, 1)]
    send(client, make_batch(trace_id, events, repo={"name": repo, "branch": "main", "language": ["python"]}), token)
    return trace_id


def assert_viewer_headers(response: Any) -> None:
    csp = response.headers.get("content-security-policy", "")
    assert "script-src 'self'" in csp and "frame-ancestors 'none'" in csp, dict(response.headers)
    assert response.headers.get("x-content-type-options") == "nosniff"
    assert response.headers.get("x-frame-options") == "DENY"


# signing in


def test_a_page_without_a_session_redirects_to_the_login(auth_client: TestClient) -> None:
    response = auth_client.get("/ui?repo=acme/webapp", follow_redirects=False)
    assert response.status_code == 303
    target = urlsplit(response.headers["location"])
    assert target.path == "/ui/login"
    (back,) = parse_qs(target.query)["next"]  # where the login returns to: this very page
    assert urlsplit(back).path == "/ui"
    assert parse_qs(urlsplit(back).query) == {"repo": ["acme/webapp"]}
    assert_viewer_headers(response)
    login = auth_client.get("/ui/login")
    assert login.status_code == 200
    assert 'name="token"' in login.text


def test_login_with_a_real_token_keeps_an_httponly_strict_session(auth_client: TestClient, token: Tokens) -> None:
    reader = token("rita", "reader")
    response = auth_client.post(
        "/ui/login",
        content=f"token={reader}&next=%2Fui%3Frepo%3Dacme%2Fwebapp",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
        follow_redirects=False,
    )
    assert response.status_code == 303, response.text
    assert response.headers["location"] == "/ui?repo=acme/webapp"
    cookie = response.headers["set-cookie"]
    assert cookie.startswith(f"prtrace_session={reader};")
    attributes = {part.strip().lower() for part in cookie.split(";")[1:]}
    assert {"httponly", "samesite=strict", "path=/ui"} <= attributes
    assert not any(a.startswith("max-age") or a.startswith("expires") for a in attributes)
    page = auth_client.get("/ui", headers=session(reader), follow_redirects=False)
    assert page.status_code == 200
    assert 'data-page="list"' in page.text


def test_login_with_a_wrong_token_is_refused_and_sets_no_cookie(auth_client: TestClient, token: Tokens) -> None:
    real = token("alice")
    response = auth_client.post(
        "/ui/login",
        content=f"token={real[:-4]}xxxx&next=%2Fui",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
        follow_redirects=False,
    )
    assert response.status_code == 401
    assert "set-cookie" not in response.headers
    assert 'name="token"' in response.text


def test_a_bearer_token_opens_the_pages_too(auth_client: TestClient, token: Tokens) -> None:
    alice = token("alice")
    mine = a_trace(auth_client, alice)
    page = auth_client.get("/ui", headers={"Authorization": f"Bearer {alice}"}, follow_redirects=False)
    assert page.status_code == 200
    assert listed(page.text) == [mine]


# who sees what


def test_a_reader_sees_every_trace(auth_client: TestClient, token: Tokens) -> None:
    alice, bob, reader = token("alice"), token("bob"), token("rita", "reader")
    alices, bobs = a_trace(auth_client, alice), a_trace(auth_client, bob)
    page = auth_client.get("/ui", headers=session(reader))
    assert page.status_code == 200
    assert sorted(listed(page.text)) == sorted([alices, bobs])
    for trace_id in (alices, bobs):
        shown = auth_client.get(f"/ui/traces/{trace_id}", headers=session(reader))
        assert shown.status_code == 200
        assert 'id="trace-title"' in shown.text
        overview = auth_client.get(f"/ui/traces/{trace_id}/overview.json", headers=session(reader))
        assert overview.status_code == 200
        assert len(overview.json()["points"]) == 1


def test_a_writer_sees_only_its_own_traces(auth_client: TestClient, token: Tokens) -> None:
    alice, bob = token("alice"), token("bob")
    alices, bobs = a_trace(auth_client, alice), a_trace(auth_client, bob)
    page = auth_client.get("/ui", headers=session(alice))
    assert listed(page.text) == [alices]
    assert bobs not in page.text

    refused = auth_client.get(f"/ui/traces/{bobs}", headers=session(alice), follow_redirects=False)
    assert refused.status_code == 403
    assert refused.headers["content-type"].startswith("text/html")
    assert 'data-page="error"' in refused.text
    assert "note 1" not in refused.text
    assert_viewer_headers(refused)
    for fragment in ("overview.json", "rows?after_seq=0", "files?at=1"):
        response = auth_client.get(f"/ui/traces/{bobs}/{fragment}", headers=session(alice), follow_redirects=False)
        assert response.status_code == 403, fragment
        assert "note 1" not in response.text
    # nor does asking for the other writer's traces by name show any
    listing = auth_client.get("/ui", params={"developer": "bob"}, headers=session(alice))
    assert listed(listing.text) == []


def test_a_revoked_tokens_session_goes_back_to_the_login(auth_client: TestClient, token: Tokens) -> None:
    alice = token("alice")
    mine = a_trace(auth_client, alice)
    assert auth_client.get(f"/ui/traces/{mine}", headers=session(alice)).status_code == 200
    revoke(index_of(auth_client), user="alice")
    for path in ("/ui", f"/ui/traces/{mine}"):
        response = auth_client.get(path, headers=session(alice), follow_redirects=False)
        assert response.status_code == 303, path
        assert urlsplit(response.headers["location"]).path == "/ui/login"
    fragment = auth_client.get(f"/ui/traces/{mine}/overview.json", headers=session(alice), follow_redirects=False)
    assert fragment.status_code == 401


def test_with_auth_off_the_viewer_is_open_to_this_machine(client: TestClient) -> None:
    trace_id = a_trace(client)
    page = client.get("/ui", follow_redirects=False)
    assert page.status_code == 200
    assert listed(page.text) == [trace_id]
    assert client.get(f"/ui/traces/{trace_id}").status_code == 200
    assert client.get("/ui/login").status_code == 404  # nothing to log in to
    # a page asked for by another host name (a rebinding web page) gets nothing
    rebound = client.get("/ui", headers={"Host": "evil.example"})
    assert rebound.status_code == 403
    assert trace_id not in rebound.text
    assert_viewer_headers(rebound)


# the list's since and until


@pytest.fixture
def three_days(client: TestClient) -> dict[str, str]:
    """Traces on three days; the middle one from late on the 24th into the 25th."""
    return {
        "early": a_trace(client, ts=("2026-11-20T09:00:00.000Z", "2026-11-20T10:00:00.000Z")),
        "middle": a_trace(client, ts=("2026-11-24T23:30:00.000Z", "2026-11-25T00:30:00.000Z")),
        "late": a_trace(client, ts=("2026-11-28T09:00:00.000Z",)),
    }


def _api(client: TestClient, **params: str) -> set[str]:
    response = client.get("/v1/traces", params=params)
    assert response.status_code == 200, response.text
    return {summary["trace_id"] for summary in response.json()["traces"]}


def test_the_trace_list_filters_by_since_and_until(client: TestClient, three_days: dict[str, str]) -> None:
    early, middle, late = three_days["early"], three_days["middle"], three_days["late"]
    assert _api(client) == {early, middle, late}
    assert _api(client, since="2026-11-24") == {middle, late}
    assert _api(client, since="2026-11-25T00:00:00Z") == {middle, late}  # its last event is after
    assert _api(client, since="2026-11-25T01:00:00Z") == {late}
    # until: a date is the whole day, so a trace begun at 23:30 on it is in
    assert _api(client, until="2026-11-24") == {early, middle}
    assert _api(client, until="2026-11-24T23:00:00Z") == {early}
    assert _api(client, until="2026-11-24T23:30:00+00:00") == {early, middle}
    assert _api(client, since="2026-11-21", until="2026-11-27") == {middle}
    assert _api(client, since="2026-11-29") == set()


@pytest.mark.parametrize("name", ["since", "until"])
def test_a_malformed_bound_is_a_422_naming_it(client: TestClient, name: str) -> None:
    response = client.get("/v1/traces", params={name: "soon"})
    assert response.status_code == 422
    assert response.json()["detail"].startswith(f"{name}:")


def test_the_list_page_filters_by_since_and_until(client: TestClient, three_days: dict[str, str]) -> None:
    page = client.get("/ui", params={"since": "2026-11-21", "until": "2026-11-27"})
    assert page.status_code == 200
    assert listed(page.text) == [three_days["middle"]]
    page = client.get("/ui", params={"until": "2026-11-24"})
    assert sorted(listed(page.text)) == sorted([three_days["early"], three_days["middle"]])
    bad = client.get("/ui", params={"until": "next tuesday"})
    assert bad.status_code == 400
    assert 'data-page="error"' in bad.text


# the events LRU


def test_the_trace_page_sees_a_new_batch_at_once(client: TestClient) -> None:
    trace_id = a_trace(client, ts=("2026-11-24T19:00:00.000Z", "2026-11-24T19:01:00.000Z"))
    first = client.get(f"/ui/traces/{trace_id}/overview.json")
    assert len(first.json()["points"]) == 2
    again = client.get(f"/ui/traces/{trace_id}/overview.json")
    assert again.json() == first.json()
    send(client, make_batch(trace_id, [note(3, "one more", "2026-11-24T19:02:00.000Z")]))
    after = client.get(f"/ui/traces/{trace_id}/overview.json")
    assert len(after.json()["points"]) == 3


def test_the_event_cache_is_bounded_by_events_and_checks_access_each_time(client: TestClient) -> None:
    index, blobs = index_of(client), blobs_of(client)
    cache = EventCache(max_events=2)
    ids = [a_trace(client), a_trace(client), a_trace(client)]  # one event each
    admin = ServerSource(index, blobs, Principal("anonymous", "admin"), cache=cache)
    first = admin.events(ids[0])
    assert admin.events(ids[0]) is first  # read once
    admin.events(ids[1])
    admin.events(ids[2])  # a third event: the oldest trace goes
    assert admin.events(ids[0]) is not first
    assert [event["payload"]["text"] for event in admin.events(ids[0])] == ["note 1"]

    from prtrace_viewer.source import NotAllowed

    stranger = ServerSource(index, blobs, Principal("mallory", "writer"), cache=cache)
    with pytest.raises(NotAllowed):
        stranger.events(ids[0])  # cached for the admin, still not readable by another writer


def test_a_writer_gets_the_cached_events_themselves_when_none_is_hidden(client: TestClient) -> None:
    trace_id = a_trace(client)  # with auth off, the anonymous user's
    writer = ServerSource(index_of(client), blobs_of(client), Principal("anonymous", "writer"), cache=EventCache())
    # the file view keeps its replay checkpoints per events object: a copy per call starts them over
    assert writer.events(trace_id) is writer.events(trace_id)


def _events(n: int, tag: str) -> tuple[dict[str, Any], ...]:
    return tuple({"seq": seq, "type": "annotation", "payload": {"text": tag}} for seq in range(1, n + 1))


def test_the_event_cache_holds_at_most_its_events_but_always_the_last_trace() -> None:
    cache = EventCache(max_events=10)
    cache.put(("a", 1), _events(6, "a"))
    cache.put(("b", 1), _events(4, "b"))
    assert cache.get(("a", 1)) is not None and cache.get(("b", 1)) is not None  # 10: both fit
    cache.put(("c", 1), _events(3, "c"))  # 13: the least recently used (a, 6) goes
    assert cache.get(("a", 1)) is None
    assert cache.get(("b", 1)) is not None and cache.get(("c", 1)) is not None
    cache.put(("c", 2), _events(4, "c"))  # a new batch of c: its older version goes at once
    assert cache.get(("c", 1)) is None and cache.get(("c", 2)) is not None
    huge = _events(50, "huge")
    cache.put(("d", 1), huge)  # larger than the whole bound: kept alone, being the one in use
    assert cache.get(("d", 1)) is huge
    assert all(cache.get(key) is None for key in (("b", 1), ("c", 2)))


def test_concurrent_misses_of_one_trace_read_it_once() -> None:
    cache = EventCache()
    reads = 0
    started = threading.Event()
    release = threading.Event()

    def read() -> tuple[dict[str, Any], ...]:
        nonlocal reads
        reads += 1
        started.set()
        release.wait(10)  # every other request arrives while this one reads
        return _events(3, "slow")

    with ThreadPoolExecutor(8) as pool:
        leader = pool.submit(cache.load, ("t", 1), read)
        assert started.wait(10)
        waiters = [pool.submit(cache.load, ("t", 1), read) for _ in range(7)]
        time.sleep(0.2)
        release.set()
        answers = [leader.result(10), *(w.result(10) for w in waiters)]
    assert reads == 1
    assert all(answer is answers[0] for answer in answers)
    assert cache.load(("t", 1), read) is answers[0] and reads == 1


def test_a_failed_read_fails_its_waiters_and_the_next_request_reads_again() -> None:
    cache = EventCache()
    release = threading.Event()
    calls = 0

    def failing() -> tuple[dict[str, Any], ...]:
        nonlocal calls
        calls += 1
        release.wait(10)
        raise StoreUnavailable("the object store does not answer")

    with ThreadPoolExecutor(4) as pool:
        attempts = [pool.submit(cache.load, ("t", 1), failing) for _ in range(4)]
        time.sleep(0.2)
        release.set()
        for attempt in attempts:
            with pytest.raises(StoreUnavailable):
                attempt.result(10)
    assert calls == 1
    assert cache.load(("t", 1), lambda: _events(1, "back"))[0]["payload"]["text"] == "back"


def test_pages_asking_together_read_a_trace_once(client: TestClient) -> None:
    """Through the server's source: the overview, the rows and the scrubber of one page arrive
    together; the trace's events are read from the stores once (counted at the read itself)."""
    index, blobs = index_of(client), blobs_of(client)
    trace_id = a_trace(client, ts=("2026-11-24T19:00:00.000Z", "2026-11-24T19:01:00.000Z"))
    reads = 0
    lock = threading.Lock()

    class Counting(ServerSource):
        def _read(self, trace_id: str) -> tuple[Any, ...]:
            nonlocal reads
            with lock:
                reads += 1
            time.sleep(0.3)  # long enough for every other request to miss too
            return super()._read(trace_id)

    source = Counting(index, blobs, Principal("anonymous", "admin"), cache=EventCache())
    with ThreadPoolExecutor(6) as pool:
        answers = list(pool.map(lambda _: source.events(trace_id), range(6)))
    assert reads == 1
    assert all(answer is answers[0] for answer in answers) and len(answers[0]) == 2


# Secure behind a TLS proxy (PRTRACE_COOKIE_SECURE)


@pytest.mark.parametrize(("setting", "base_url", "headers", "secure"), [
    ("auto", "http://testserver", {}, False),
    ("auto", "https://testserver", {}, True),
    ("auto", "http://testserver", {"X-Forwarded-Proto": "https"}, True),  # an ingress elsewhere
    ("true", "http://testserver", {}, True),
    ("false", "https://testserver", {"X-Forwarded-Proto": "https"}, False),
])
def test_the_session_cookie_is_secure_as_prtrace_cookie_secure_says(
    backend: dict[str, str], setting: str, base_url: str, headers: dict[str, str], secure: bool
) -> None:
    settings = ServerSettings(auth="required", cookie_secure=setting)
    with TestClient(create_app(settings), base_url=base_url) as client:
        _, made = issue_token(index_of(client), user="rita", role="reader")
        response = client.post("/ui/login", content=f"token={made}", follow_redirects=False,
                               headers={"Content-Type": "application/x-www-form-urlencoded", **headers})
        assert response.status_code == 303, response.text
        attributes = {part.strip().lower() for part in response.headers["set-cookie"].split(";")[1:]}
        assert ("secure" in attributes) is secure
        out = client.post("/ui/logout", headers={**session(made), **headers}, follow_redirects=False)
        assert ("secure" in out.headers["set-cookie"].lower()) is secure


def test_prtrace_cookie_secure_takes_three_words(monkeypatch: pytest.MonkeyPatch) -> None:
    from prtrace_server.errors import ConfigError
    from prtrace_server.settings import load_settings

    assert load_settings().cookie_secure == "auto"
    monkeypatch.setenv("PRTRACE_COOKIE_SECURE", " TRUE ")
    assert load_settings().cookie_secure == "true"
    monkeypatch.setenv("PRTRACE_COOKIE_SECURE", "yes")
    with pytest.raises(ConfigError, match="PRTRACE_COOKIE_SECURE"):
        load_settings()

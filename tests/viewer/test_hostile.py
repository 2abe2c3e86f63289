"""A trace written to hurt the viewer: numbers past 64 bits, lone surrogates, digits by the
thousand, one line of 200 KB, events re-sent without ids. Every page still answers, with its
headers, and shows what was recorded as text."""

from __future__ import annotations

import re
import warnings
from collections.abc import Iterator
from dataclasses import replace
from typing import Any
from urllib.parse import quote

import orjson
import pytest

from prtrace_viewer.headers import CSP
from prtrace_viewer.memory import MemorySource
from prtrace_viewer.refs import event_refs, find_event
from tests.viewer import TRACE_A, TRACE_B, edit_payload, event, trace_document
from tests.viewer.hosts import TOKEN, login_host, open_host, viewer_app

with warnings.catch_warnings():
    warnings.filterwarnings("ignore", message=r"Using `httpx` with `starlette\.testclient`")
    from fastapi.testclient import TestClient

SCRIPT = "<script>alert(1)</script>"
SURROGATE = "hi\ud800 there"
HUGE = 10**30
LONG_LINE = "a " * 100_000 + SCRIPT  # Java's lexer takes seconds per thousand bare words
HUGE_HUNK = f"@@ -{'9' * 5000} +1 @@\n-a\n+b\n"


def _events() -> list[dict[str, Any]]:
    long_edit = {"file": "Big.java", "op": "modify", "before_sha": None, "after_sha": None,
                 "change_summary": "+" + "9" * 5000 + "/-1",
                 "diff": f"--- a/Big.java\n+++ b/Big.java\n@@ -1 +1 @@\n-{LONG_LINE}\n+{LONG_LINE}!\n"}
    return [
        event(1, "start", {"head_sha": None, "branch": f"main{SURROGATE}", "dirty": []}),
        event(2, "edit", edit_payload("app.ts", None, f"{LONG_LINE}\nlet x = 1;\n".encode())),
        event(3, "edit", long_edit),
        event(4, "edit", {"file": "h.py", "op": "modify", "change_summary": "+1/-1", "diff": HUGE_HUNK}),
        event(5, "test", {"command": "pytest", "exit_code": 0, "passed": HUGE, "failed": -HUGE,
                          "duration_ms": 2**64}),
        event(6, "commit", {"sha": "c" * 40, "message": SURROGATE, "files": [f"x{SURROGATE}.py"],
                            "insertions": HUGE}),
        event(10**20, "annotation", {"text": f"far {SURROGATE}"}, at=7),
        event(8, "command", {"command": f"echo {SURROGATE}", "exit_code": HUGE, "stdout_sample": SURROGATE}),
        event(9, "edit", edit_payload(f"s{SURROGATE}.py", None, f"v = '{SURROGATE}'\n".encode("utf-8", "surrogatepass"))),
    ]


def _with_ids(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{**e, "event_id": f"{n:064x}"} for n, e in enumerate(events, start=1)]


def _source() -> MemorySource:
    hostile = trace_document(TRACE_A, _with_ids(_events()), pr="acme/app#7", user=f"dev{SURROGATE}")
    hostile["developer"]["seats"] = HUGE
    return MemorySource([hostile])


@pytest.fixture
def client() -> Iterator[TestClient]:
    with TestClient(viewer_app(open_host(_source()))) as test_client:
        yield test_client


def _headers_are_set(response: Any) -> None:
    assert response.headers["content-security-policy"] == CSP
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["x-frame-options"] == "DENY"


URLS = [
    "/ui",
    "/ui?until=9999-12-31",
    "/ui?since=9999-12-31&until=9999-12-31",
    "/ui/prs/acme/app/7",
    f"/ui/traces/{TRACE_A}",
    f"/ui/traces/{TRACE_A}/overview.json",
    f"/ui/traces/{TRACE_A}/rows?after_seq=1",
    f"/ui/traces/{TRACE_A}/files?at=9",
    f"/ui/traces/{TRACE_A}/file?at=9&path=app.ts",
    f"/ui/traces/{TRACE_A}/file?at=9&path=" + quote(f"s{SURROGATE}.py".encode("utf-8", "surrogatepass")),
    *(f"/ui/traces/{TRACE_A}/events/{n:064x}" for n in range(1, 10)),
    *(f"/ui/traces/{TRACE_A}?event={n:064x}" for n in range(1, 10)),
]


@pytest.mark.parametrize("url", URLS)
def test_every_page_of_a_hostile_trace_answers(client: TestClient, url: str) -> None:
    response = client.get(url)
    assert response.status_code == 200, response.text
    _headers_are_set(response)
    assert "<script>alert" not in response.text


def test_lone_surrogates_are_shown_as_escapes(client: TestClient) -> None:
    html = client.get(f"/ui/traces/{TRACE_A}/events/{6:064x}").text
    assert "hi\\ud800 there" in html


def test_numbers_past_64_bits_are_absent_from_the_overview(client: TestClient) -> None:
    data = orjson.loads(client.get(f"/ui/traces/{TRACE_A}/overview.json").content)
    assert data["tests"]["passed"] == [None] and data["tests"]["failed"] == [None]
    assert data["seqs"] == {"min": 1, "max": 9}  # the seq of 10**20 is no seq
    big = next(row for row in data["churn"] if row["file"] == "Big.java")
    assert (big["added"], big["removed"]) == (0, 0)  # a summary of 5,000 digits counts as none


def test_a_200_kb_line_comes_back_as_plain_escaped_text(client: TestClient) -> None:
    escaped = LONG_LINE.replace("<", "&lt;").replace(">", "&gt;")
    diff = client.get(f"/ui/traces/{TRACE_A}/events/{3:064x}").text
    assert escaped in diff and escaped + "!" in diff
    shown = client.get(f"/ui/traces/{TRACE_A}/file?at=9&path=app.ts").text
    assert '<span class="line">' + escaped + "\n</span>" in shown  # one plain line, no colour in it
    assert '<span class="kd">let</span>' in shown  # the short line after it is still coloured


def test_a_hunk_header_of_5000_digits_is_a_plain_row(client: TestClient) -> None:
    html = client.get(f"/ui/traces/{TRACE_A}/events/{4:064x}").text
    assert "@@ -999" in html


def test_until_the_last_day_there_is_lists_every_trace(client: TestClient) -> None:
    html = client.get("/ui?until=9999-12-31").text
    assert f'data-trace-id="{TRACE_A}"' in html


def test_events_re_sent_without_ids_open_their_own_detail() -> None:
    first = event(2, "annotation", {"text": "the first note"}, at=5)
    again = {**event(2, "annotation", {"text": "the note sent again"}, at=5), "server_seq": 3}
    twin = event(2, "annotation", {"text": "a twin, server_seq and all"}, at=5)
    bare = trace_document(TRACE_B, [event(1, "start", {"head_sha": None, "branch": "main", "dirty": []}),
                                    {**first, "server_seq": 2}, again, {**twin, "server_seq": 3}])
    with TestClient(viewer_app(open_host(MemorySource([bare])))) as client:
        html = client.get(f"/ui/traces/{TRACE_B}").text
        refs = re.findall(r'data-event-id="(i\d+)"', html)
        assert sorted(refs) == ["i0", "i1", "i2", "i3"]
        texts = [next(t for t in ("the first note", "the note sent again", "a twin, server_seq and all")
                      if t in client.get(f"/ui/traces/{TRACE_B}/events/{ref}").text) for ref in ("i1", "i2", "i3")]
        assert sorted(texts) == sorted(["the first note", "the note sent again", "a twin, server_seq and all"])


def test_a_login_post_that_breaks_still_answers_with_the_headers() -> None:
    source = MemorySource([])
    host = login_host(source)
    with TestClient(viewer_app(host), follow_redirects=False) as client:
        # an Origin no URL parser takes: no page of ours sent it
        response = client.post("/ui/login", content=f"token={TOKEN}&next=/ui",
                               headers={"Content-Type": "application/x-www-form-urlencoded",
                                        "Origin": "http://[::1"})
        assert response.status_code == 403
        _headers_are_set(response)
        assert response.headers["content-type"].startswith("text/html")
        assert "data-page=\"error\"" in response.text

    def broken_check(token: str) -> bool:
        raise RuntimeError("the token store broke")

    broken = replace(login_host(source), check_token=broken_check)
    with TestClient(viewer_app(broken), follow_redirects=False, raise_server_exceptions=False) as client:
        # a fault behind the form is a page with the headers, not the framework's bare 500
        response = client.post("/ui/login", content=f"token={TOKEN}&next=/ui",
                               headers={"Content-Type": "application/x-www-form-urlencoded"})
        assert response.status_code == 500
        _headers_are_set(response)
        assert "data-page=\"error\"" in response.text


class _CopyingSource(MemorySource):
    """Pages of copies, as a server reads them from its store apart from the whole trace."""

    def events_page(self, trace_id: str, *, after_seq: int | None, limit: int, type: str | None) -> dict[str, Any]:
        page = super().events_page(trace_id, after_seq=after_seq, limit=limit, type=type)
        return {**page, "events": [dict(e) for e in page["events"]]}


def test_re_sent_events_are_told_apart_when_pages_are_copies() -> None:
    same = {"seq": 2, "ts": "2026-11-24T19:00:05.000Z", "type": "annotation"}
    events = [event(1, "start", {"head_sha": None, "branch": "main", "dirty": []}),
              {**same, "payload": {"text": "one"}}, {**same, "payload": {"text": "two"}},
              {**same, "payload": {"text": "three"}, "server_seq": 7}]
    source = _CopyingSource([trace_document(TRACE_B, events)])
    page = source.events_page(TRACE_B, after_seq=None, limit=50, type=None)["events"]
    refs = event_refs(source, TRACE_B, page)
    assert refs == ["i0", "i1", "i2", "i3"]
    for ref, shown in zip(refs, page, strict=True):
        assert find_event(source, TRACE_B, ref)["payload"] == shown["payload"]

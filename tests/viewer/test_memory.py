"""The in-memory source answers as the server's reads do: filters, pages, the PR document."""

from __future__ import annotations

from typing import Any

import pytest

from prtrace_viewer.memory import MemorySource
from prtrace_viewer.source import BadRequest, NotFound, TraceQuery
from tests.viewer import (
    TRACE_A,
    TRACE_B,
    TRACE_C,
    MemoryRepo,
    edit_payload,
    event,
    trace_document,
    ts,
)

DAY = 24 * 3600.0


def _commands(count: int, *, start: float = 0.0, first_seq: int = 1) -> list[dict[str, Any]]:
    return [event(first_seq + n, "command", {"command": f"c{n}", "exit_code": 0}, at=start + n)
            for n in range(count)]


def _source(**kwargs: Any) -> MemorySource:
    """Three traces: A (acme/app main, PR #7, by dev, day 0), B (acme/app feature, PR #7, by ana,
    day 1, with a CI run), C (other/lib main, PR #7 of another repo, by dev, day 3)."""
    ci = {"seq": None, "ts": ts(DAY + 50), "type": "ci", "origin": "server",
          "payload": {"name": "build", "conclusion": "success", "head_sha": "a" * 40}}
    return MemorySource(
        [
            trace_document(TRACE_A, _commands(5), pr="acme/app#7"),
            trace_document(TRACE_B, [*_commands(3, start=DAY), ci], branch="feature", pr="Acme/App#7", user="ana"),
            trace_document(TRACE_C, _commands(2, start=3 * DAY), repo="other/lib", pr="other/lib#7"),
        ],
        **kwargs,
    )


def _ids(answer: dict[str, Any]) -> list[str]:
    return [row["trace_id"] for row in answer["traces"]]


def test_the_listing_is_newest_first_with_the_server_s_summary_keys() -> None:
    answer = _source(owner="me").traces(TraceQuery())
    assert _ids(answer) == [TRACE_C, TRACE_B, TRACE_A]
    assert answer["next_cursor"] is None
    row = answer["traces"][2]
    assert row == {
        "trace_id": TRACE_A, "repo": "acme/app", "branch": "main", "pr_id": "acme/app#7", "owner": "me",
        "developer_id": "dev", "event_count": 5, "first_ts": ts(0), "last_ts": ts(4),
        "created_at": ts(0), "updated_at": ts(4),
    }


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        (TraceQuery(repo="acme/app"), [TRACE_B, TRACE_A]),
        (TraceQuery(repo="acme/ap"), []),
        (TraceQuery(branch="feature"), [TRACE_B]),
        (TraceQuery(developer="dev"), [TRACE_C, TRACE_A]),
        (TraceQuery(pr="acme/app#7"), [TRACE_B, TRACE_A]),  # the PR's name in any case
        (TraceQuery(pr="7"), [TRACE_C, TRACE_B, TRACE_A]),
        (TraceQuery(pr="#7", repo="other/lib"), [TRACE_C]),
        (TraceQuery(pr="8"), []),
        (TraceQuery(since="2026-11-25"), [TRACE_C, TRACE_B]),
        (TraceQuery(until="2026-11-24"), [TRACE_A]),  # the whole day
        (TraceQuery(until="2026-11-25"), [TRACE_B, TRACE_A]),
        (TraceQuery(since="2026-11-25", until="2026-11-25"), [TRACE_B]),
        (TraceQuery(since=ts(4)), [TRACE_C, TRACE_B, TRACE_A]),  # a timestamp is included
        (TraceQuery(since=ts(4.001)), [TRACE_C, TRACE_B]),
        (TraceQuery(until=ts(DAY)), [TRACE_B, TRACE_A]),
        (TraceQuery(until=ts(DAY - 0.001)), [TRACE_A]),
        (TraceQuery(since="2026-11-24T19:00:04"), [TRACE_C, TRACE_B, TRACE_A]),  # no zone: UTC, as the server reads it
        (TraceQuery(since="2026-11-24T19:00:04.001"), [TRACE_C, TRACE_B]),
        (TraceQuery(until="9999-12-31"), [TRACE_C, TRACE_B, TRACE_A]),  # the last day there is
    ],
)
def test_filters(query: TraceQuery, expected: list[str]) -> None:
    assert _ids(_source().traces(query)) == expected


def test_pages_follow_the_cursor_to_the_end() -> None:
    source = _source()
    first = source.traces(TraceQuery(limit=2))
    assert _ids(first) == [TRACE_C, TRACE_B] and first["next_cursor"]
    second = source.traces(TraceQuery(limit=2, cursor=first["next_cursor"]))
    assert _ids(second) == [TRACE_A] and second["next_cursor"] is None
    filtered = source.traces(TraceQuery(limit=1, repo="acme/app"))
    rest = source.traces(TraceQuery(limit=1, repo="acme/app", cursor=filtered["next_cursor"]))
    assert _ids(filtered) + _ids(rest) == [TRACE_B, TRACE_A]


@pytest.mark.parametrize(
    "query",
    [TraceQuery(cursor="abc"), TraceQuery(cursor="-1"), TraceQuery(cursor="1" * 40), TraceQuery(limit=0),
     TraceQuery(limit=-5), TraceQuery(since="yesterday"), TraceQuery(until="2026-13-01"),
     TraceQuery(since="2026-11-24 10:00")],
)
def test_a_bad_query_is_a_bad_request(query: TraceQuery) -> None:
    with pytest.raises(BadRequest):
        _source().traces(query)


def test_head_is_the_summary_and_the_envelope() -> None:
    head = _source().head(TRACE_B)
    assert head["summary"]["trace_id"] == TRACE_B and head["summary"]["event_count"] == 4
    assert head["envelope"] == {
        "trace_id": TRACE_B, "repo": {"name": "acme/app", "branch": "feature", "language": ["python"]},
        "pr": {"pr_id": "Acme/App#7", "title": "PR Acme/App#7", "status": "open"}, "developer": {"user_id": "ana"},
    }


def test_an_unknown_trace_is_not_found_everywhere() -> None:
    source = _source()
    missing = "9" * 8 + "-9999-4999-8999-" + "9" * 12
    for call in (lambda: source.head(missing), lambda: source.events(missing), lambda: source.replay_sources(missing),
                 lambda: source.events_page(missing, after_seq=None, limit=10, type=None)):
        with pytest.raises(NotFound):
            call()


def test_events_pages_keep_resent_seqs_together_and_end_with_the_server_s_events() -> None:
    events = [*_commands(6), {**event(3, "command", {"command": "again", "exit_code": 1}, at=2.5), "server_seq": 9},
              {"seq": None, "ts": ts(1.5), "type": "ci", "origin": "server", "payload": {"name": "b"}}]
    source = MemorySource([trace_document(TRACE_A, events)])
    first = source.events_page(TRACE_A, after_seq=None, limit=3, type=None)
    assert [e["seq"] for e in first["events"]] == [1, 2, 3, 3] and first["next_after_seq"] == 3
    full = source.events_page(TRACE_A, after_seq=3, limit=3, type=None)
    assert [e["seq"] for e in full["events"]] == [4, 5, 6] and full["next_after_seq"] == 6
    empty = source.events_page(TRACE_A, after_seq=6, limit=3, type=None)
    assert [e["seq"] for e in empty["events"]] == [None] and empty["next_after_seq"] is None
    last = source.events_page(TRACE_A, after_seq=3, limit=4, type=None)
    # the CI run goes with the last page, placed by its time (as the server places it)
    assert [e["seq"] for e in last["events"]] == [None, 4, 5, 6] and last["next_after_seq"] is None
    tail = source.events_page(TRACE_A, after_seq=4, limit=10, type=None)
    assert [e["seq"] for e in tail["events"]] == [None, 5, 6]
    whole = source.events_page(TRACE_A, after_seq=None, limit=100, type=None)
    assert [e["seq"] for e in whole["events"]] == [1, 2, None, 3, 3, 4, 5, 6]  # the CI run by its time
    assert [e["seq"] for e in source.events(TRACE_A)] == [1, 2, None, 3, 3, 4, 5, 6]
    only_ci = source.events_page(TRACE_A, after_seq=None, limit=100, type="ci")
    assert [e["type"] for e in only_ci["events"]] == ["ci"]
    with pytest.raises(BadRequest):
        source.events_page(TRACE_A, after_seq=None, limit=0, type=None)


def test_the_pr_merges_its_traces_by_time_and_counts_ci_runs_once() -> None:
    source = _source()
    ci = {"seq": None, "ts": ts(DAY + 50), "type": "ci", "origin": "server",
          "payload": {"name": "build", "conclusion": "success", "head_sha": "a" * 40}}
    # the same CI run copied into another trace of the PR is shown once
    twice = MemorySource([
        trace_document(TRACE_A, [*_commands(2), ci], pr="acme/app#7"),
        trace_document(TRACE_B, [*_commands(2, start=DAY), ci], pr="acme/app#7"),
    ])
    assert twice.pr("acme", "app", 7)["ci_runs"] == 1
    pr = source.pr("ACME", "app", 7)
    assert pr["pr_id"] == "Acme/App#7"
    assert pr["pr"]["title"] == "PR Acme/App#7" and pr["pr"]["source"] == "client"
    assert {t["trace_id"] for t in pr["traces"]} == {TRACE_A, TRACE_B}
    assert pr["ci_runs"] == 1
    assert [(e["trace_id"], e["seq"]) for e in pr["events"]] == [
        (TRACE_A, 1), (TRACE_A, 2), (TRACE_A, 3), (TRACE_A, 4), (TRACE_A, 5),
        (TRACE_B, 1), (TRACE_B, 2), (TRACE_B, 3), (None, None),
    ]
    assert pr["timeline"]["start_time"] == ts(0) and pr["timeline"]["end_time"] == ts(DAY + 50)
    with pytest.raises(NotFound):
        source.pr("acme", "app", 8)


def test_replay_sources_are_the_ones_given() -> None:
    repo = MemoryRepo()
    assert _source(sources=repo).replay_sources(TRACE_A) is repo
    assert _source().replay_sources(TRACE_A) is None


def test_a_document_with_odd_events_still_lists() -> None:
    odd = [event(1, "edit", edit_payload("a.py", None, b"a\n")), {"seq": 2, "ts": "later", "type": "x", "payload": {}},
           ]
    document = {**trace_document(TRACE_A, odd), "events": [*odd, "not an event"]}
    source = MemorySource([document])
    row = source.traces(TraceQuery())["traces"][0]
    assert row["event_count"] == 2 and row["first_ts"] == row["last_ts"] == ts(1)
    assert [e["seq"] for e in source.events(TRACE_A)] == [1, 2]

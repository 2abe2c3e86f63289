"""Trace assembly and envelope merging: pure functions."""

from __future__ import annotations

from typing import Any

import pytest

from prtrace_core.canonical import canonical_json
from prtrace_server.assemble import assemble_trace, order_events, timeline
from prtrace_server.envelope import MAX_ENVELOPE_BYTES, merge_envelope
from prtrace_server.errors import EnvelopeTooLarge


def ev(seq: int | None, server_seq: int, ts: str) -> dict[str, Any]:
    return {"seq": seq, "server_seq": server_seq, "ts": ts, "type": "t", "payload": {}}


def test_events_are_ordered_by_seq_then_server_seq() -> None:
    events = [ev(2, 3, "2026-01-01T00:00:02Z"), ev(1, 2, "2026-01-01T00:00:01Z"), ev(2, 1, "2026-01-01T00:00:03Z")]
    assert [(e["seq"], e["server_seq"]) for e in order_events(events)] == [(1, 2), (2, 1), (2, 3)]


def test_events_without_seq_take_their_place_by_time() -> None:
    events = [
        ev(1, 1, "2026-01-01T00:00:01Z"),
        ev(2, 2, "2026-01-01T00:00:05Z"),
        ev(None, 3, "2026-01-01T00:00:03Z"),
        ev(None, 4, "2026-01-01T00:00:09Z"),
    ]
    assert [e["server_seq"] for e in order_events(events)] == [1, 3, 2, 4]


def test_timeline_spans_the_earliest_to_the_latest_event_across_time_zones() -> None:
    events = [ev(1, 1, "2026-01-01T01:00:00.000+01:00"), ev(2, 2, "2026-01-01T00:20:00.500Z")]
    assert timeline(events) == {
        "start_time": "2026-01-01T01:00:00.000+01:00",
        "end_time": "2026-01-01T00:20:00.500Z",
        "duration_seconds": 1200.5,
    }


def test_empty_trace_has_an_empty_timeline() -> None:
    trace = assemble_trace({"trace_id": "t", "repo": {}, "developer": {}}, [], owner="alice")
    assert trace["timeline"] == {"start_time": None, "end_time": None, "duration_seconds": 0}
    assert trace["pr"] is None
    assert trace["events"] == []


def test_the_owner_is_the_servers_never_the_envelopes() -> None:
    envelope = {"trace_id": "t", "repo": {}, "developer": {"user_id": "mallory"}, "owner": "mallory"}
    trace = assemble_trace(envelope, [], owner="alice")
    assert trace["owner"] == "alice"
    assert trace["developer"] == {"user_id": "mallory"}  # kept, as a description


def test_an_envelope_that_grows_past_the_limit_across_batches_is_refused() -> None:
    first: dict[str, Any] = {"trace_id": "t", "repo": {"name": "a/b", "branch": "m", "language": []}, "developer": {"user_id": "d"}}
    stored = merge_envelope(None, first)
    for batch in range(3):
        languages = [f"lang-{batch}-{n:05d}" for n in range(MAX_ENVELOPE_BYTES // 40)]
        more = {**first, "repo": {**first["repo"], "language": languages}}
        assert len(canonical_json(more)) < MAX_ENVELOPE_BYTES  # each batch alone is within it
        try:
            stored = merge_envelope(stored, more)
        except EnvelopeTooLarge as exc:
            assert "envelope" in str(exc)
            assert batch > 0
            return
    raise AssertionError("the merged envelope grew past the limit unchecked")


def test_an_envelope_stored_over_the_limit_before_it_existed_may_stay_as_it_is() -> None:
    big: dict[str, Any] = {"trace_id": "t", "repo": {"name": "a/b", "branch": "m", "language": ["x" * MAX_ENVELOPE_BYTES]}, "developer": {"user_id": "d"}}
    again = {**big, "repo": {**big["repo"], "language": []}, "pr": {"pr_id": "a/b#1"}}
    assert merge_envelope(big, {**again, "pr": None})["repo"]["language"] == big["repo"]["language"]
    with pytest.raises(EnvelopeTooLarge):
        merge_envelope(big, again)  # linking a PR would make it larger still


def test_later_batches_link_a_pr_and_add_languages_but_never_unlink() -> None:
    first: dict[str, Any] = {"trace_id": "t", "repo": {"name": "a/b", "branch": "m", "language": ["python"]}, "pr": None, "developer": {"user_id": "d"}}
    linked = {**first, "repo": {**first["repo"], "language": ["go", "python"]}, "pr": {"pr_id": "a/b#1"}}
    merged = merge_envelope(merge_envelope(None, first), linked)
    assert merged["pr"] == {"pr_id": "a/b#1"}
    assert merged["repo"]["language"] == ["python", "go"]
    assert merge_envelope(merged, first)["pr"] == {"pr_id": "a/b#1"}
    assert first["pr"] is None  # inputs are not changed

"""The exactly-once write's decisions, without a database: both index stores run this plan
under their trace lock (test_index_stores.py proves the stores around it)."""

from __future__ import annotations

from dataclasses import replace

import pytest

from prtrace_server.errors import Forbidden, SeqModeChanged
from prtrace_server.index import EventWrite, TraceRecord, TraceWrite
from prtrace_server.index_rows import EVENT_COLUMNS, event_row
from prtrace_server.ingest_sql import plan_ingest

TRACE = "0b9f8a52-6c1e-4d3a-9f57-2a4c1e8d7b10"
ENVELOPE = {
    "trace_id": TRACE,
    "repo": {"name": "a/b", "branch": "main"},
    "developer": {"user_id": "d"},
}
CURRENT = TraceRecord(
    trace_id=TRACE,
    repo_name="a/b",
    branch="main",
    pr_id=None,
    developer_id="d",
    owner="u",
    envelope=ENVELOPE,
    language=[],
    event_count=2,
    first_ts="2026-11-24T10:00:00.000Z",
    last_ts="2026-11-24T11:00:00.000Z",
    last_seq=2,
    last_server_seq=5,
    seq_mode="server",
    created_at="t0",
    updated_at="t0",
    compacted_upto=0,
)
WRITE = TraceWrite(TRACE, "a/b", "main", None, "d", ENVELOPE, "server")


def event(n: int, ts: str = "2026-11-24T10:30:00.000Z", seq: int | None = None) -> EventWrite:
    return EventWrite(event_id=f"{n:064x}", seq=seq, ts=ts, type="annotation", object_key="k")


def test_new_events_follow_the_trace_and_stored_or_repeated_ones_are_duplicates() -> None:
    events = [
        event(1, "2026-11-24T09:00:00.000Z"),
        event(2),
        event(1),
        event(3, "2026-11-24T12:00:00.000Z"),
    ]
    plan = plan_ingest(
        CURRENT, WRITE, events, {f"{2:064x}"}, user="u", may_write_any=False, received_at="t1"
    )
    assert plan.outcome.accepted == [f"{1:064x}", f"{3:064x}"]
    assert plan.outcome.duplicates == [f"{2:064x}", f"{1:064x}"]
    seq, server_seq, by_server = (
        EVENT_COLUMNS.index(c) for c in ("seq", "server_seq", "seq_by_server")
    )
    assert [(r[seq], r[server_seq], r[by_server]) for r in plan.rows] == [(3, 6, 1), (4, 7, 1)]
    # needs_link, event_count, first_ts, last_ts, last_seq, last_server_seq, seq_mode, updated_at
    assert plan.trace_update[3:-1] == (
        0,
        4,
        "2026-11-24T09:00:00.000Z",
        "2026-11-24T12:00:00.000Z",
        4,
        7,
        "server",
        "t1",
    )


def test_a_client_linking_a_pr_marks_the_trace_for_linking() -> None:
    plan = plan_ingest(
        CURRENT,
        replace(WRITE, pr_id="a/b#1"),
        [],
        set(),
        user="u",
        may_write_any=False,
        received_at="t1",
    )
    assert plan.trace_update[2:5] == ("a/b#1", 1, 2)
    assert plan.rows == []


def test_another_users_trace_or_another_seq_mode_is_refused() -> None:
    with pytest.raises(Forbidden):
        plan_ingest(
            CURRENT, WRITE, [event(1)], set(), user="v", may_write_any=False, received_at="t1"
        )
    assert plan_ingest(
        CURRENT, WRITE, [event(1)], set(), user="v", may_write_any=True, received_at="t1"
    ).rows
    with pytest.raises(SeqModeChanged):
        plan_ingest(
            CURRENT,
            replace(WRITE, seq_mode="client"),
            [event(1, seq=1)],
            set(),
            user="u",
            may_write_any=False,
            received_at="t1",
        )


def test_an_event_row_holds_every_event_column_in_order() -> None:
    values = {name: f"<{name}>" for name in EventWrite._fields}
    row = event_row(
        EventWrite(**values),
        trace_id="<trace_id>",
        seq=7,
        server_seq=8,
        seq_by_server=True,
        received_at="<received_at>",
    )
    assert len(row) == len(EVENT_COLUMNS)
    for column, value in zip(EVENT_COLUMNS, row, strict=True):
        if column in values and column != "seq":  # the event's seq is only what the client sent
            assert value == f"<{column}>", column
    assert row[EVENT_COLUMNS.index("seq")] == 7

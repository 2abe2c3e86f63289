"""The exactly-once write, planned: what one ingest transaction stores, given the trace's row
as read under its lock and the batch's event ids the index already holds.

Pure, so both index stores run the same decisions (`index_sql.SqlQueries.ingest` does the
reads and writes around it). The plan is exact only because the caller holds the trace's lock
from the read to the commit: no other writer can store an event of this trace, allocate a
server_seq or move its bounds in between.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import Any

from .envelope import languages_of, merge_envelope
from .errors import Forbidden, SeqModeChanged
from .index import EventWrite, IngestOutcome, TraceRecord, TraceWrite
from .index_rows import EVENT_COLUMNS, dumps, event_row

__all__ = [
    "EVENTS_INSERT",
    "TRACE_INSERT",
    "TRACE_UPDATE",
    "IngestPlan",
    "new_trace_row",
    "plan_ingest",
]

# A new trace's row, unless a concurrent writer's is there already (the row lock decides then).
TRACE_INSERT = (
    "INSERT INTO traces (trace_id, repo_name, branch, pr_id, developer_id, owner, "
    "envelope, language, seq_mode, created_at, updated_at, needs_link) "
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 1) ON CONFLICT (trace_id) DO NOTHING"
)

# Every value is computed under the row lock, so each is set outright.
TRACE_UPDATE = (
    "UPDATE traces SET envelope = ?, language = ?, pr_id = ?, needs_link = ?, event_count = ?, "
    "first_ts = ?, last_ts = ?, last_seq = ?, last_server_seq = ?, seq_mode = ?, updated_at = ? "
    "WHERE trace_id = ?"
)

EVENTS_INSERT = f"INSERT INTO events_index ({', '.join(EVENT_COLUMNS)}) VALUES ({', '.join('?' * len(EVENT_COLUMNS))})"


@dataclass(frozen=True, slots=True)
class IngestPlan:
    """The outcome to report, the event rows to insert, and the TRACE_UPDATE arguments."""

    outcome: IngestOutcome
    rows: list[tuple[Any, ...]]
    trace_update: tuple[Any, ...]


def new_trace_row(trace: TraceWrite, *, user: str, received_at: str) -> tuple[Any, ...]:
    """The TRACE_INSERT arguments of a trace `user` creates with this batch."""
    envelope = merge_envelope(None, trace.envelope)
    return (
        trace.trace_id,
        trace.repo_name,
        trace.branch,
        trace.pr_id,
        trace.developer_id,
        user,
        dumps(envelope),
        dumps(languages_of(envelope)),
        trace.seq_mode,
        received_at,
        received_at,
    )


def plan_ingest(
    current: TraceRecord,
    trace: TraceWrite,
    events: Sequence[EventWrite],
    stored: Collection[str],
    *,
    user: str,
    may_write_any: bool,
    received_at: str,
) -> IngestPlan:
    """Decide the write: Forbidden when the trace is another user's, SeqModeChanged when its
    seq mode is fixed otherwise, EnvelopeTooLarge when the merged envelope would be too large.

    Events already `stored` (or earlier in `events`) are duplicates; the others get the
    trace's next server_seqs and, without a seq of their own, its next seqs.
    """
    if current.owner != user and not may_write_any:
        raise Forbidden(f"trace {trace.trace_id} belongs to another user")
    if trace.seq_mode and current.seq_mode and trace.seq_mode != current.seq_mode:
        raise SeqModeChanged(f"trace {trace.trace_id} seq mode is {current.seq_mode}")
    envelope = merge_envelope(current.envelope, trace.envelope)

    outcome = IngestOutcome()
    seen = set(stored)
    rows: list[tuple[Any, ...]] = []
    last_seq = current.last_seq
    server_seq = current.last_server_seq
    first_ts = current.first_ts
    last_ts = current.last_ts
    for event in events:
        if event.event_id in seen:
            outcome.duplicates.append(event.event_id)
            continue
        seen.add(event.event_id)
        outcome.accepted.append(event.event_id)
        seq = last_seq + 1 if event.seq is None else event.seq
        server_seq += 1
        last_seq = max(last_seq, seq)
        if event.ts:
            first_ts = event.ts if first_ts is None or event.ts < first_ts else first_ts
            last_ts = event.ts if last_ts is None or event.ts > last_ts else last_ts
        rows.append(
            event_row(
                event,
                trace_id=trace.trace_id,
                seq=seq,
                server_seq=server_seq,
                seq_by_server=event.seq is None,
                received_at=received_at,
            )
        )

    pr_id = trace.pr_id if trace.pr_id is not None else current.pr_id
    relink = pr_id != current.pr_id  # a PR linked by the client: GitHub's facts for it apply now
    trace_update = (
        dumps(envelope),
        dumps(languages_of(envelope)),
        pr_id,
        int(current.needs_link or relink),
        current.event_count + len(rows),
        first_ts,
        last_ts,
        last_seq,
        server_seq,
        current.seq_mode or trace.seq_mode,
        received_at,
        trace.trace_id,
    )
    return IngestPlan(outcome, rows, trace_update)

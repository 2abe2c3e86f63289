"""Rows of the index's tables read into records, and records written back as rows.

Both stores hold the same schema (the shared migrations) and both drivers hand back rows indexed
by column name (`sqlite3.Row`, psycopg's dict rows), so one mapper per table serves either.
"""

from __future__ import annotations

import json
from typing import Any, Protocol

import orjson

from .github import CiRun, PullRequest
from .index import (
    STATS_COLUMNS,
    SUMMARY_COLUMNS,
    EventRecord,
    EventWrite,
    TokenRecord,
    TraceRecord,
    TraceSummary,
)

__all__ = [
    "EVENT_COLUMNS",
    "Row",
    "ci_run_record",
    "dumps",
    "event_record",
    "event_row",
    "pull_request_record",
    "token_record",
    "trace_record",
    "trace_summary_record",
]

# The `events_index` columns an insert writes, in the order `event_row` gives them.
EVENT_COLUMNS = (
    "event_id",
    "trace_id",
    "seq",
    "server_seq",
    "seq_by_server",
    "ts",
    "type",
    "received_at",
    "object_key",
    "file",
    "command",
    "exit_code",
    "passed",
    "failed",
    "sha",
    *STATS_COLUMNS,
)


class Row(Protocol):
    """A result row, indexed by column name."""

    def __getitem__(self, column: str, /) -> Any: ...


def dumps(value: Any) -> str:
    """JSON for a text column (`envelope`, `language`). Control characters, NUL among them,
    come out escaped, so the text is valid in PostgreSQL too."""
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def trace_record(row: Row) -> TraceRecord:
    """A `traces` row as a record."""
    return TraceRecord(
        trace_id=row["trace_id"],
        repo_name=row["repo_name"],
        branch=row["branch"],
        pr_id=row["pr_id"],
        developer_id=row["developer_id"],
        owner=row["owner"],
        envelope=json.loads(row["envelope"]),
        language=json.loads(row["language"]),
        event_count=row["event_count"],
        first_ts=row["first_ts"],
        last_ts=row["last_ts"],
        last_seq=row["last_seq"],
        last_server_seq=row["last_server_seq"],
        seq_mode=row["seq_mode"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        compacted_upto=row["compacted_upto"],
        needs_link=bool(row["needs_link"]),
    )


def trace_summary_record(row: Row) -> TraceSummary:
    """A `traces` row, selected by SUMMARY_COLUMNS, as a summary."""
    return TraceSummary(**{column: row[column] for column in SUMMARY_COLUMNS})


def event_record(row: Row) -> EventRecord:
    """An `events_index` row, selected by EVENT_RECORD_COLUMNS, as a record."""
    # By name: a query that selects other columns, or in another order, still reads right.
    record = EventRecord._make([row[column] for column in EventRecord._fields])
    return record._replace(seq_by_server=bool(record.seq_by_server))


def event_row(
    event: EventWrite,
    *,
    trace_id: str,
    seq: int | None,
    server_seq: int,
    seq_by_server: bool,
    received_at: str,
) -> tuple[Any, ...]:
    """The values of an `events_index` row, in EVENT_COLUMNS order."""
    # From object_key on, the columns follow the event's own fields (index.EventWrite).
    return (
        event.event_id,
        trace_id,
        seq,
        server_seq,
        int(seq_by_server),
        event.ts,
        event.type,
        received_at,
        *event[4:],
    )


def token_record(row: Row) -> TokenRecord:
    """A `tokens` row as a record."""
    return TokenRecord(
        token_id=row["token_id"],
        user=row["user_name"],
        role=row["role"],
        token_hash=row["token_hash"],
        created_at=row["created_at"],
        revoked_at=row["revoked_at"],
    )


def pull_request_record(row: Row) -> PullRequest:
    """A `pull_requests` row as GitHub's PR."""
    return PullRequest(
        repo_name=row["repo_name"],
        number=int(row["number"]),
        title=row["title"],
        status=row["status"],
        head_repo=row["head_repo"],
        head_branch=row["head_branch"],
        updated_at=row["updated_at"],
        head_sha=row["head_sha"],
        url=row["url"],
        created_at=row["created_at"],
        merged_at=row["merged_at"],
        closed_at=row["closed_at"],
    )


def ci_run_record(row: Row) -> CiRun:
    """A `ci_runs` row as the CI state change it stored."""
    event = orjson.loads(row["event"])
    numbers = [int(n) for n in row["pr_numbers"].strip(",").split(",") if n]
    return CiRun(
        repo_name=row["repo_name"],
        head_repo=row["head_repo"],
        head_branch=row["head_branch"],
        head_sha=row["head_sha"],
        ts=row["ts"],
        payload=event["payload"],
        pr_numbers=numbers,
    )

"""The index in the SQL that SQLite and PostgreSQL both answer: the exactly-once ingest, the
reads, the stats (sums and backfill), the tokens and the compaction marks.

Both index stores hold the same schema (the shared migrations) and both drivers hand back
rows indexed by column name, so a store supplies only what differs: its placeholder (`_mark`),
its connections (`_connection()`, and `_write()` for a transaction), how a write transaction
locks a trace (`_row_lock`: SQLite's BEGIN IMMEDIATE already holds the database's write lock,
PostgreSQL takes the row's with `FOR UPDATE`), and its bulk insert (`_insert_events`).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Collection, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import fields
from typing import Any

from prtrace_core.stats import IDLE_GAP_S

from .index import (
    EVENT_RECORD_COLUMNS,
    STATS_COLUMNS,
    SUMMARY_COLUMNS,
    EventKey,
    EventRecord,
    EventWrite,
    IngestOutcome,
    TokenRecord,
    TraceFilter,
    TraceRecord,
    TraceSummary,
    TraceSums,
    TraceWrite,
)
from .index_rows import Row, event_record, token_record, trace_record, trace_summary_record
from .ingest_sql import TRACE_INSERT, TRACE_UPDATE, new_trace_row, plan_ingest
from .migrate import apply_migrations

__all__ = ["TRACE_SUMS_SQL", "SqlQueries"]

# The per-trace sums behind GET /v1/stats, following prtrace_core.stats' definitions:
# - `ordered` walks the selected traces and their events (LEFT JOIN: a trace whose events
#   were all rejected still gets its row of zeros), numbers each trace's events in trace order
#   (`ord`: seq, server_seq, those without a seq last) and takes each event's gap to the one
#   before it in time order;
# - `marked` finds, per trace, the first and last test run and the first green one in trace
#   order, and for each test run whether the test run before it was green;
# - `sums` adds it all up, one row per trace, and the final SELECT looks each trace up by
#   its key for the columns that describe it (carried through the sorts above, they made
#   them slower; a join from the traces to `marked` scanned it once per trace on SQLite).
# {where} selects traces (columns of `traces` only); the `?` after it is the idle gap in ms.
TRACE_SUMS_SQL = """
WITH ordered AS (
    SELECT t.trace_id, e.event_id, e.type, e.ts_ms, e.file, e.lines_added, e.lines_removed, e.green, e.actor_kind,
           ROW_NUMBER() OVER (
               PARTITION BY t.trace_id ORDER BY e.seq IS NULL, e.seq, e.server_seq, e.ts
           ) AS ord,
           e.ts_ms - LAG(e.ts_ms) OVER (PARTITION BY t.trace_id ORDER BY e.ts_ms) AS gap_ms
    FROM traces t LEFT JOIN events_index e ON e.trace_id = t.trace_id
    {where}
),
marked AS (
    SELECT o.*,
           MIN(CASE WHEN o.type = 'test' THEN o.ord END) OVER (PARTITION BY o.trace_id) AS first_test,
           MAX(CASE WHEN o.type = 'test' THEN o.ord END) OVER (PARTITION BY o.trace_id) AS last_test,
           MIN(CASE WHEN o.type = 'test' AND o.green = 1 THEN o.ord END)
               OVER (PARTITION BY o.trace_id) AS first_green,
           LAG(o.green) OVER (PARTITION BY o.trace_id, o.type = 'test' ORDER BY o.ord) AS previous_green
    FROM ordered o
),
sums AS (
    SELECT trace_id,
           COUNT(event_id) AS events,
           MIN(ts_ms) AS first_ms,
           MAX(ts_ms) AS last_ms,
           SUM(CASE WHEN gap_ms <= ? THEN gap_ms ELSE 0 END) AS active_ms,
           SUM(CASE WHEN type = 'edit' THEN 1 ELSE 0 END) AS edits,
           COUNT(DISTINCT CASE WHEN type = 'edit' THEN file END) AS files_touched,
           SUM(CASE WHEN type = 'edit' THEN lines_added ELSE 0 END) AS lines_added,
           SUM(CASE WHEN type = 'edit' THEN lines_removed ELSE 0 END) AS lines_removed,
           SUM(CASE WHEN type = 'command' THEN 1 ELSE 0 END) AS commands,
           SUM(CASE WHEN type = 'test' THEN 1 ELSE 0 END) AS test_runs,
           SUM(CASE WHEN type = 'test' AND green = 1 THEN 1 ELSE 0 END) AS green_runs,
           MAX(CASE WHEN ord = first_green THEN ts_ms END) AS first_green_ms,
           SUM(CASE WHEN type = 'test' AND green = 1 AND previous_green = 0 THEN 1 ELSE 0 END) AS red_green_cycles,
           SUM(CASE WHEN type = 'edit' AND ord > first_test AND ord < last_test THEN 1 ELSE 0 END)
               AS edits_between_tests,
           SUM(CASE WHEN type = 'commit' THEN 1 ELSE 0 END) AS commits,
           SUM(CASE WHEN type = 'rewrite' THEN 1 ELSE 0 END) AS rewrites,
           SUM(CASE WHEN actor_kind = 'agent' THEN 1 ELSE 0 END) AS agent_events
    FROM marked
    GROUP BY trace_id
)
SELECT s.*, t.repo_name, t.branch, t.pr_id, t.developer_id, t.owner
FROM sums s JOIN traces t ON t.trace_id = s.trace_id
ORDER BY t.created_at DESC, t.trace_id DESC
"""

# SQLite binds at most this many parameters in older builds; IN (...) lists stay below it.
_IN_CHUNK = 500

_SUMS_NULLABLE = ("pr_id", "first_ms", "last_ms", "first_green_ms")
_SUMS_TEXT = ("trace_id", "repo_name", "branch", "pr_id", "developer_id", "owner")


def _trace_where(query: TraceFilter) -> tuple[str, list[Any]]:
    """The WHERE clause (or nothing) selecting the filter's traces; its limit and after aside."""
    where: list[str] = []
    args: list[Any] = []
    for column, value in (
        ("repo_name", query.repo),
        ("branch", query.branch),
        ("pr_id", query.pr_id),
        ("owner", query.developer),  # ?developer= names the owner: the envelope's user_id proves nothing
        ("owner", query.owner),
    ):
        if value is not None:
            where.append(f"{column} = ?")
            args.append(value)
    if query.pr_number is not None:
        where.append("pr_id LIKE ?")
        args.append(f"%#{query.pr_number}")
    if query.since is not None:
        # last_ts is the latest event's ts in index form, whose text order is time order
        where.append("last_ts >= ?")
        args.append(query.since)
    if query.until is not None:
        where.append("first_ts <= ?")
        args.append(query.until)
    return (" WHERE " + " AND ".join(where) if where else ""), args


def _trace_sums(row: Any) -> TraceSums:
    # PostgreSQL's SUM of BIGINT is NUMERIC (a Decimal here); SQLite's SUM of nothing is NULL.
    values: dict[str, Any] = {}
    for name in (f.name for f in fields(TraceSums)):
        value = row[name]
        if name in _SUMS_TEXT:
            values[name] = value
        elif name in _SUMS_NULLABLE:
            values[name] = None if value is None else int(value)
        else:
            values[name] = int(value or 0)
    return TraceSums(**values)


class SqlQueries(ABC):
    _mark: str  # the driver's placeholder: ? or %s
    # Appended to the SELECT that reads a trace's row in a write transaction: what makes the
    # transaction the trace's only writer until it commits.
    _row_lock: str = ""

    @abstractmethod
    def _connection(self) -> AbstractContextManager[Any]:
        """A connection for reads (the store's pool or its idle list)."""

    @abstractmethod
    def _write(self) -> AbstractContextManager[Any]:
        """A connection inside a write transaction, committed when the block ends."""

    @abstractmethod
    def _insert_events(self, conn: Any, rows: Sequence[tuple[Any, ...]]) -> None:
        """Insert `events_index` rows (index_rows.EVENT_COLUMNS, in order) in one go. Under the
        trace's lock none can conflict; if one ever did, the transaction fails and rolls back."""

    def _rows(self, sql: str, args: list[Any] | tuple[Any, ...] = ()) -> list[Any]:
        with self._connection() as conn:
            return list(conn.execute(sql.replace("?", self._mark), args).fetchall())

    def _sql(self, sql: str) -> str:
        """`sql`, written with `?`, in the driver's placeholder."""
        return sql.replace("?", self._mark)

    def _apply_migrations(self, conn: Any) -> None:
        """Bring the schema up to date, in `conn`'s transaction under the store's lock."""
        apply_migrations(conn, mark=self._mark)

    def _locked_trace(self, conn: Any, trace_id: str) -> Row | None:
        """The trace's row, locked until the transaction ends; None when there is none."""
        row: Row | None = conn.execute(
            self._sql(f"SELECT * FROM traces WHERE trace_id = ?{self._row_lock}"), (trace_id,)
        ).fetchone()
        return row

    def _existing(self, conn: Any, event_ids: Collection[str]) -> set[str]:
        """Which of these event ids the index holds. By primary key alone: an event id covers
        its trace id, and a `trace_id = ?` term lets a planner walk the whole trace instead."""
        ids = list(event_ids)
        found: set[str] = set()
        for start in range(0, len(ids), _IN_CHUNK):
            chunk = ids[start : start + _IN_CHUNK]
            rows = conn.execute(
                self._sql(f"SELECT event_id FROM events_index WHERE event_id IN ({', '.join('?' * len(chunk))})"),
                chunk,
            )
            found.update(row["event_id"] for row in rows)
        return found

    # the write

    def ingest(
        self,
        *,
        trace: TraceWrite,
        events: Sequence[EventWrite],
        user: str,
        may_write_any: bool,
        received_at: str,
    ) -> IngestOutcome:
        with self._write() as conn:
            row = self._locked_trace(conn, trace.trace_id)
            if row is None:
                if not events:
                    return IngestOutcome()  # nothing stored, so nothing claimed: the trace stays unowned
                # A concurrent first batch may insert it first: then its row is there, owned by
                # its writer, and the lock below waits for that writer to commit.
                conn.execute(self._sql(TRACE_INSERT), new_trace_row(trace, user=user, received_at=received_at))
                row = self._locked_trace(conn, trace.trace_id)
                if row is None:
                    raise RuntimeError(f"trace {trace.trace_id} vanished while it was being written")
            # Under the lock this is exact: events a concurrent request stored first are found
            # here and reported as duplicates.
            stored = self._existing(conn, [event.event_id for event in events])
            plan = plan_ingest(
                trace_record(row), trace, events, stored,
                user=user, may_write_any=may_write_any, received_at=received_at,
            )
            if plan.rows:
                self._insert_events(conn, plan.rows)
            conn.execute(self._sql(TRACE_UPDATE), plan.trace_update)
        return plan.outcome

    def existing_event_ids(self, trace_id: str, event_ids: Collection[str]) -> set[str]:
        with self._connection() as conn:
            return self._existing(conn, event_ids)

    # reads

    def get_trace(self, trace_id: str) -> TraceRecord | None:
        rows = self._rows("SELECT * FROM traces WHERE trace_id = ?", (trace_id,))
        return trace_record(rows[0]) if rows else None

    def list_traces(self, query: TraceFilter) -> list[TraceSummary]:
        where, args = _trace_where(query)
        if query.after is not None:
            where += (" AND " if where else " WHERE ") + "(created_at, trace_id) < (?, ?)"
            args.extend(query.after)
        # The summary columns only: a page of envelopes could be megabytes read and parsed.
        sql = (
            f"SELECT {', '.join(SUMMARY_COLUMNS)} FROM traces{where} "
            "ORDER BY created_at DESC, trace_id DESC LIMIT ?"
        )
        args.append(query.limit)
        return [trace_summary_record(row) for row in self._rows(sql, args)]

    def event_records(
        self,
        trace_id: str,
        *,
        type: str | None = None,
        after_seq: int | None = None,
        after_server_seq: int | None = None,
        limit: int | None = None,
    ) -> list[EventRecord]:
        sql = f"SELECT {EVENT_RECORD_COLUMNS} FROM events_index WHERE trace_id = ?"
        args: list[Any] = [trace_id]
        for condition, value in (("type =", type), ("seq >", after_seq), ("server_seq >", after_server_seq)):
            if value is not None:
                sql += f" AND {condition} ?"
                args.append(value)
        sql += " ORDER BY seq IS NULL, seq, server_seq"
        if limit is not None:
            sql += " LIMIT ?"
            args.append(limit)
        return [event_record(row) for row in self._rows(sql, args)]

    def event_page(self, trace_id: str, *, after: EventKey | None, limit: int) -> list[EventRecord]:
        # Two keyset walks, each along an index: the numbered events by (seq, server_seq),
        # then the few without a seq (made by the server) by server_seq.
        rows: list[Any] = []
        if after is None or after[0] is not None:
            sql = f"SELECT {EVENT_RECORD_COLUMNS} FROM events_index WHERE trace_id = ? AND seq IS NOT NULL"
            args: list[Any] = [trace_id]
            if after is not None:
                sql += " AND (seq, server_seq) > (?, ?)"
                args.extend(after)
            rows = self._rows(sql + " ORDER BY seq, server_seq LIMIT ?", [*args, limit])
        if len(rows) < limit:
            after_server_seq = after[1] if after is not None and after[0] is None else 0
            rows += self._rows(
                f"SELECT {EVENT_RECORD_COLUMNS} FROM events_index WHERE trace_id = ? AND seq IS NULL AND server_seq > ? "
                "ORDER BY server_seq LIMIT ?",
                (trace_id, after_server_seq, limit - len(rows)),
            )
        return [event_record(row) for row in rows]

    # stats

    def trace_sums(self, query: TraceFilter) -> list[TraceSums]:
        where, args = _trace_where(query)
        rows = self._rows(TRACE_SUMS_SQL.format(where=where), [*args, IDLE_GAP_S * 1000])
        return [_trace_sums(row) for row in rows]

    def traces_to_backfill(self, query: TraceFilter) -> list[str]:
        where, args = _trace_where(query)
        where += (" AND " if where else " WHERE ") + "needs_backfill = 1"
        return [row["trace_id"] for row in self._rows(f"SELECT trace_id FROM traces{where}", args)]

    def fill_stats_columns(
        self, trace_id: str, rows: Sequence[tuple[str, Mapping[str, Any]]], *, done: bool
    ) -> None:
        assignments = ", ".join(f"{column} = ?" for column in STATS_COLUMNS)
        update = f"UPDATE events_index SET {assignments} WHERE event_id = ? AND trace_id = ?"
        with self._write() as conn:
            cursor = conn.cursor()
            cursor.executemany(
                update.replace("?", self._mark),
                [(*(columns[c] for c in STATS_COLUMNS), event_id, trace_id) for event_id, columns in rows],
            )
            if done:
                cursor.execute(
                    "UPDATE traces SET needs_backfill = 0 WHERE trace_id = ?".replace("?", self._mark), (trace_id,)
                )

    # tokens

    def add_token(self, token: TokenRecord) -> None:
        with self._write() as conn:
            conn.execute(
                "INSERT INTO tokens (token_id, user_name, role, token_hash, created_at, revoked_at) "
                "VALUES (?, ?, ?, ?, ?, ?)".replace("?", self._mark),
                (token.token_id, token.user, token.role, token.token_hash, token.created_at, token.revoked_at),
            )

    def get_token(self, token_id: str) -> TokenRecord | None:
        rows = self._rows("SELECT * FROM tokens WHERE token_id = ?", (token_id,))
        return token_record(rows[0]) if rows else None

    def list_tokens(self) -> list[TokenRecord]:
        return [token_record(row) for row in self._rows("SELECT * FROM tokens ORDER BY created_at, token_id")]

    def revoke_tokens(self, *, token_id: str | None = None, user: str | None = None, at: str) -> int:
        if (token_id is None) == (user is None):
            raise ValueError("revoke by token_id or by user, not both")
        column, value = ("token_id", token_id) if token_id is not None else ("user_name", user)
        with self._write() as conn:
            sql = f"UPDATE tokens SET revoked_at = ? WHERE {column} = ? AND revoked_at IS NULL"
            return int(conn.execute(sql.replace("?", self._mark), (at, value)).rowcount)

    # compaction

    def traces_behind(self, limit: int) -> list[str]:
        rows = self._rows(
            "SELECT trace_id FROM traces WHERE compacted_upto < last_server_seq ORDER BY updated_at LIMIT ?", (limit,)
        )
        return [row["trace_id"] for row in rows]

    def last_server_seq(self, trace_id: str) -> int:
        rows = self._rows("SELECT last_server_seq FROM traces WHERE trace_id = ?", (trace_id,))
        return int(rows[0]["last_server_seq"]) if rows else 0

    # orphans

    def referenced_objects(self, trace_id: str) -> set[str]:
        # Per trace, along the (trace_id, …) index: an index on object_key would find orphans
        # in one query but cost every ingest an index update.
        rows = self._rows("SELECT DISTINCT object_key FROM events_index WHERE trace_id = ?", (trace_id,))
        return {row["object_key"] for row in rows}

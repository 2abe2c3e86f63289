"""The index on PostgreSQL, for a stateless tier of server replicas in front of one database.

Requests borrow connections from a psycopg pool that reconnects by itself after an outage.
Connecting and waiting for a connection both time out within seconds, so an unreachable
database becomes StoreUnavailable (a 503 the client retries), never a hung request. Writers of
one trace queue on its row lock (`SELECT … FOR UPDATE`): that is what makes dedup exact and
`server_seq` gap-free and in commit order when many replicas ingest the same trace at once.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import psycopg
from psycopg.conninfo import conninfo_to_dict
from psycopg.rows import DictRow, dict_row
from psycopg_pool import ConnectionPool, PoolClosed, PoolTimeout

from prtrace_core.timestamps import now_ts

from .envelope import languages_of, merge_envelope
from .errors import ConfigError, Forbidden, SeqModeChanged, StoreUnavailable
from .index import (
    STATS_COLUMNS,
    EventWrite,
    IngestOutcome,
    TraceWrite,
    dumps,
    trace_record,
)
from .index_github import GithubQueries
from .migrate import MIGRATIONS_TABLE, load_migrations

__all__ = ["PostgresIndex"]

Connection = psycopg.Connection[DictRow]

_CONNECT_TIMEOUT_S = 2
_POOL_WAIT_S = 3.0  # how long a request waits for a connection before it is a 503
_PING_WAIT_S = 2.0
# A failed reconnection is given up after this long, so the next request starts a fresh
# attempt at once instead of waiting out an ever longer backoff after the database is back.
_RECONNECT_S = 4.0
_POOL_MIN = 1
# Requests hold a connection for one statement or one short transaction, so a few serve the
# 40 request threads; many replicas times this must stay under the server's max_connections.
_POOL_MAX = 16
_COMPACTION_LOCK = 0x70727463  # advisory lock namespace for compaction: 'prtc'
_STATEMENT_TIMEOUT_MS = 30_000
# Any fixed 64-bit number; every replica takes this advisory lock to migrate one at a time.
_MIGRATION_LOCK = 0x7072_7472_6163_6501
# Errors that mean "the database is not answering right now", not "this module has a bug".
_OUTAGE = (psycopg.OperationalError, psycopg.errors.ReadOnlySqlTransaction)


class PostgresIndex(GithubQueries):
    """IndexStore on PostgreSQL; tables in the connection's default schema."""

    _mark = "%s"
    _row_lock = " FOR UPDATE"

    def __init__(self, url: str) -> None:
        self._url = url
        self._kwargs = _connect_options(url)
        self._migrate()
        self._pool: ConnectionPool[Connection] = ConnectionPool(
            url,
            connection_class=Connection,
            kwargs=self._kwargs,
            min_size=_POOL_MIN,
            max_size=_POOL_MAX,
            timeout=_POOL_WAIT_S,
            reconnect_timeout=_RECONNECT_S,
            # One empty query per borrow: a connection broken by a database restart is
            # replaced here instead of failing the request that drew it.
            check=ConnectionPool.check_connection,
            configure=_configure,
            name="prtrace-index",
            open=False,
        )
        self._pool.open()

    @classmethod
    def from_url(cls, url: str) -> PostgresIndex:
        """The index for a `postgresql://…` URL, passed to psycopg as it is."""
        return cls(url)

    # connections

    def _connect(self) -> Connection:
        # Outside the pool, so a failure at start names its cause (refused, auth, no database).
        try:
            conn = Connection.connect(self._url, **self._kwargs)
        except _OUTAGE as exc:
            raise StoreUnavailable(f"cannot connect to the PostgreSQL index: {_first_line(exc)}") from exc
        return conn

    @contextmanager
    def _connection(self, wait_s: float | None = None) -> Iterator[Connection]:
        try:
            with self._pool.connection(timeout=wait_s) as conn:
                yield conn
        except PoolClosed:
            raise StoreUnavailable("the index is closed") from None
        except PoolTimeout as exc:
            raise StoreUnavailable(
                f"the PostgreSQL index gave no connection within {wait_s or _POOL_WAIT_S:g} s"
            ) from exc
        except _OUTAGE as exc:
            raise StoreUnavailable(f"the PostgreSQL index failed: {_first_line(exc)}") from exc

    @contextmanager
    def _write(self) -> Iterator[Connection]:
        with self._connection() as conn, conn.transaction():
            yield conn

    def close(self) -> None:
        self._pool.close(timeout=5)

    def _migrate(self) -> None:
        # One transaction under an advisory lock: replicas starting together queue here, and
        # each finds the migrations the first one applied. PostgreSQL DDL is transactional.
        try:
            with self._connect() as conn, conn.transaction():
                conn.execute("SELECT pg_advisory_xact_lock(%s)", (_MIGRATION_LOCK,))
                conn.execute(MIGRATIONS_TABLE)
                done = {row["version"] for row in conn.execute("SELECT version FROM schema_migrations")}
                for migration in load_migrations():
                    if migration.version in done:
                        continue
                    for statement in migration.statements:
                        conn.execute(statement)
                    conn.execute(
                        "INSERT INTO schema_migrations (version, name, applied_at) VALUES (%s, %s, %s)",
                        (migration.version, migration.name, now_ts()),
                    )
        except _OUTAGE as exc:
            raise StoreUnavailable(f"cannot migrate the PostgreSQL index: {_first_line(exc)}") from exc

    # reads

    def ping(self) -> None:
        with self._connection(_PING_WAIT_S) as conn:
            conn.execute("SELECT 1 FROM traces LIMIT 1").fetchall()

    def existing_event_ids(self, trace_id: str, event_ids: Collection[str]) -> set[str]:
        with self._connection() as conn:
            return _existing(conn, event_ids)

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
        outcome = IngestOutcome()
        with self._write() as conn:
            # A trace is created only along with an event: an empty or wholly rejected batch
            # claims nothing. Events a concurrent writer stores first leave this one a
            # duplicate-only batch, but that writer's row is there by then and is what counts.
            if events:
                self._insert_trace(conn, trace, user=user, received_at=received_at)
            # The row lock: every writer of this trace waits here until the one before commits,
            # so what this transaction reads below stays true until it commits.
            row = conn.execute("SELECT * FROM traces WHERE trace_id = %s FOR UPDATE", (trace.trace_id,)).fetchone()
            if row is None:
                return outcome
            current = trace_record(row)
            if current.owner != user and not may_write_any:
                raise Forbidden(f"trace {trace.trace_id} belongs to another user")
            if trace.seq_mode and current.seq_mode and trace.seq_mode != current.seq_mode:
                raise SeqModeChanged(f"trace {trace.trace_id} seq mode is {current.seq_mode}")
            envelope = merge_envelope(current.envelope, trace.envelope)

            # Under the lock this is exact: events a concurrent request stored first are found
            # here and reported as duplicates.
            existing = _existing(conn, [event.event_id for event in events])
            fresh: list[EventWrite] = []
            for event in events:
                if event.event_id in existing:
                    outcome.duplicates.append(event.event_id)
                else:
                    existing.add(event.event_id)
                    fresh.append(event)
            seqs: list[int] = []
            last_seq = current.last_seq
            for event in fresh:
                seqs.append(last_seq + 1 if event.seq is None else event.seq)
                last_seq = max(last_seq, seqs[-1])
            stamps = [event.ts for event in fresh]
            first_ts = min(filter(None, [current.first_ts, *stamps]), default=None)
            last_ts = max(filter(None, [current.last_ts, *stamps]), default=None)

            # server_seq is allocated here, inside the transaction that stores the events.
            allocated = conn.execute(
                "UPDATE traces SET last_server_seq = last_server_seq + %s, "
                "event_count = event_count + %s, envelope = %s, language = %s, "
                "pr_id = COALESCE(%s, pr_id), first_ts = %s, "
                # a PR linked by the client: GitHub's facts for it apply now (old pr_id on the right)
                "needs_link = CASE WHEN COALESCE(%s, pr_id) IS DISTINCT FROM pr_id THEN 1 ELSE needs_link END, "
                "last_ts = %s, last_seq = %s, "
                "seq_mode = COALESCE(seq_mode, %s), updated_at = %s "
                "WHERE trace_id = %s RETURNING last_server_seq",
                (
                    len(fresh),
                    len(fresh),
                    dumps(envelope),
                    dumps(languages_of(envelope)),
                    trace.pr_id,
                    first_ts,
                    trace.pr_id,
                    last_ts,
                    last_seq,
                    trace.seq_mode,
                    received_at,
                    trace.trace_id,
                ),
            ).fetchone()
            assert allocated is not None
            first_server_seq = allocated["last_server_seq"] - len(fresh) + 1
            _copy_events(conn, trace.trace_id, fresh, seqs, first_server_seq, received_at)
            outcome.accepted.extend(event.event_id for event in fresh)
        return outcome

    def _insert_trace(self, conn: Connection, trace: TraceWrite, *, user: str, received_at: str) -> None:
        """The trace's row, owned by `user`, unless a row is already there."""
        first = merge_envelope(None, trace.envelope)
        conn.execute(
            "INSERT INTO traces (trace_id, repo_name, branch, pr_id, developer_id, owner, "
            "envelope, language, seq_mode, created_at, updated_at, needs_link) "
            "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, 1) "
            "ON CONFLICT (trace_id) DO NOTHING",
            (
                trace.trace_id,
                trace.repo_name,
                trace.branch,
                trace.pr_id,
                trace.developer_id,
                user,
                dumps(first),
                dumps(languages_of(first)),
                trace.seq_mode,
                received_at,
                received_at,
            ),
        )

    # compaction

    @contextmanager
    def compaction_lock(self, trace_id: str) -> Iterator[bool]:
        # A session advisory lock on a connection held for the whole compaction: workers on
        # any number of machines exclude each other, and a worker that dies releases it.
        with self._connection() as conn:
            row = conn.execute(
                "SELECT pg_try_advisory_lock(%s, hashtext(%s)) AS held", (_COMPACTION_LOCK, trace_id)
            ).fetchone()
            if row is None or not row["held"]:
                yield False
                return
            try:
                yield True
            finally:
                conn.execute("SELECT pg_advisory_unlock(%s, hashtext(%s))", (_COMPACTION_LOCK, trace_id))

    def mark_compacted(self, trace_id: str, upto: int) -> None:
        with self._write() as conn:
            conn.execute(
                "UPDATE traces SET compacted_upto = GREATEST(compacted_upto, %s) WHERE trace_id = %s",
                (upto, trace_id),
            )


def _existing(conn: Connection, event_ids: Collection[str]) -> set[str]:
    # By primary key alone: an event id covers its trace id.
    if not event_ids:
        return set()
    rows = conn.execute("SELECT event_id FROM events_index WHERE event_id = ANY(%s)", (list(event_ids),))
    return {row["event_id"] for row in rows}


def _copy_events(
    conn: Connection,
    trace_id: str,
    events: Sequence[EventWrite],
    seqs: Sequence[int],
    first_server_seq: int,
    received_at: str,
) -> None:
    """COPY a batch's rows in. Under the trace's row lock the duplicate check above is exact and
    an event id covers its trace id, so no row can conflict; if one ever did, COPY fails, the
    transaction rolls back, and nothing is acknowledged."""
    with conn.cursor().copy(
        "COPY events_index (event_id, trace_id, seq, server_seq, seq_by_server, ts, type, "
        f"received_at, object_key, file, command, exit_code, passed, failed, sha, {', '.join(STATS_COLUMNS)}) "
        "FROM STDIN"
    ) as copy:
        for offset, (event, seq) in enumerate(zip(events, seqs, strict=True)):
            copy.write_row((
                event.event_id, trace_id, seq, first_server_seq + offset, int(event.seq is None), event.ts,
                event.type, received_at, event.object_key, event.file, event.command, event.exit_code,
                event.passed, event.failed, event.sha, *(getattr(event, column) for column in STATS_COLUMNS),
            ))


def _connect_options(url: str) -> dict[str, Any]:
    """Connection options beside the URL: rows as dicts, autocommit (writes open their own
    transaction), and a short connect timeout unless the URL sets one."""
    try:
        given = conninfo_to_dict(url)
    except psycopg.ProgrammingError:
        # The message may quote the URL, password and all; say only what is wrong with it.
        raise ConfigError(
            "PRTRACE_DATABASE_URL is not a PostgreSQL connection URL",
            hint="postgresql://USER:PASSWORD@HOST:PORT/DATABASE, or postgresql://USER@/DATABASE?host=/socket/dir",
        ) from None
    options: dict[str, Any] = {"autocommit": True, "row_factory": dict_row}
    if "connect_timeout" not in given:
        options["connect_timeout"] = _CONNECT_TIMEOUT_S
    return options


def _configure(conn: Connection) -> None:
    # A statement stuck behind a hung server or lock becomes a 503, not a request held forever.
    conn.execute(f"SET statement_timeout = {_STATEMENT_TIMEOUT_MS}")


def _first_line(exc: Exception) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__

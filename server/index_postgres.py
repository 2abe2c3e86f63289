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

from .errors import ConfigError, StoreUnavailable
from .index_github import GithubQueries
from .index_rows import EVENT_COLUMNS

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
                self._apply_migrations(conn)
        except _OUTAGE as exc:
            raise StoreUnavailable(f"cannot migrate the PostgreSQL index: {_first_line(exc)}") from exc

    # reads

    def ping(self) -> None:
        with self._connection(_PING_WAIT_S) as conn:
            conn.execute("SELECT 1 FROM traces LIMIT 1").fetchall()

    def _existing(self, conn: Connection, event_ids: Collection[str]) -> set[str]:
        # One array parameter instead of chunked IN lists; by primary key alone, as there.
        if not event_ids:
            return set()
        rows = conn.execute("SELECT event_id FROM events_index WHERE event_id = ANY(%s)", (list(event_ids),))
        return {row["event_id"] for row in rows}

    # the write (SqlQueries.ingest)

    def _insert_events(self, conn: Connection, rows: Sequence[tuple[Any, ...]]) -> None:
        with conn.cursor().copy(f"COPY events_index ({', '.join(EVENT_COLUMNS)}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)

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

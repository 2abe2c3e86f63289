"""The embedded index: one SQLite file in WAL mode.

FastAPI runs sync endpoints in a thread pool, so connections come from a small pool, one
connection per borrowing thread at a time. Writes take `BEGIN IMMEDIATE`: a deferred
transaction that later upgrades to a write fails with SQLITE_BUSY whatever the busy timeout.
"""

from __future__ import annotations

import fcntl
import os
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from .errors import ConfigError, StoreUnavailable
from .index_github import GithubQueries
from .ingest_sql import EVENTS_INSERT
from .private_files import private_dir, private_file

__all__ = ["SqliteIndex", "sqlite_path"]

_BUSY_TIMEOUT_S = 10.0


def sqlite_path(url: str) -> Path:
    """The file a `sqlite:///relative` or `sqlite:////absolute` URL names."""
    if not url.startswith("sqlite:///"):
        raise ConfigError(f"PRTRACE_DATABASE_URL: expected sqlite:///PATH, got {url.split(':', 1)[0]}:…")
    path = url[len("sqlite:///") :].split("?", 1)[0]
    if not path or path == ":memory:":
        raise ConfigError("PRTRACE_DATABASE_URL: the SQLite index needs a file path, not memory")
    return Path(path)


class SqliteIndex(GithubQueries):
    """IndexStore on one SQLite file."""

    _mark = "?"
    # No row lock: every write transaction is BEGIN IMMEDIATE, which holds the database's
    # write lock from its first statement, so the trace row it reads stays true until COMMIT.
    _row_lock = ""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._idle: list[sqlite3.Connection] = []
        self._closed = False
        # Before SQLite opens it: its -wal and -shm files take the database file's mode.
        private_dir(path.parent)
        private_file(path)
        self._migrate()

    @classmethod
    def from_url(cls, url: str) -> SqliteIndex:
        """The index for a `sqlite:///PATH` URL."""
        return cls(sqlite_path(url))

    # connections

    def _connect(self) -> sqlite3.Connection:
        # check_same_thread off: a pooled connection moves between worker threads, never shared.
        conn = sqlite3.connect(
            self.path, timeout=_BUSY_TIMEOUT_S, isolation_level=None, check_same_thread=False
        )
        conn.row_factory = sqlite3.Row
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute(f"PRAGMA busy_timeout={int(_BUSY_TIMEOUT_S * 1000)}")
        # An acknowledged batch must survive power loss, not only a crash of this process.
        conn.execute("PRAGMA synchronous=FULL")
        conn.execute("PRAGMA foreign_keys=ON")
        return conn

    @contextmanager
    def _connection(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            if self._closed:
                raise StoreUnavailable("the index is closed")
            conn = self._idle.pop() if self._idle else None
        try:
            if conn is None:
                conn = self._connect()
            yield conn
        except (sqlite3.IntegrityError, sqlite3.ProgrammingError, sqlite3.InterfaceError):
            raise  # a bug in this module, not an outage
        except sqlite3.DatabaseError as exc:
            raise StoreUnavailable(f"the SQLite index at {self.path} failed: {exc}") from exc
        finally:
            if conn is not None:
                with self._lock:
                    if self._closed:
                        conn.close()
                    else:
                        self._idle.append(conn)

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        with self._connection() as conn:
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")

    def close(self) -> None:
        with self._lock:
            self._closed = True
            idle, self._idle = self._idle, []
        for conn in idle:
            conn.close()

    def _migrate(self) -> None:
        with self._write() as conn:
            self._apply_migrations(conn)

    # reads

    def ping(self) -> None:
        with self._connection() as conn:
            conn.execute("SELECT 1 FROM traces LIMIT 1").fetchall()

    # the write (SqlQueries.ingest)

    def _insert_events(self, conn: sqlite3.Connection, rows: Sequence[tuple[Any, ...]]) -> None:
        # BEGIN IMMEDIATE holds the database's write lock: the rows cannot conflict, and go
        # in as one executemany of one prepared statement.
        conn.executemany(EVENTS_INSERT, rows)

    # compaction

    @contextmanager
    def compaction_lock(self, trace_id: str) -> Iterator[bool]:
        # SQLite serves processes on one machine: a file lock per trace, beside the database,
        # covers all of them (the in-process worker and any `prtrace-server worker`).
        folder = self.path.parent / "locks"
        folder.mkdir(exist_ok=True)
        fd = os.open(folder / f"compact-{trace_id}.lock", os.O_RDWR | os.O_CREAT, 0o600)
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                yield False
                return
            yield True
        finally:
            os.close(fd)

    def mark_compacted(self, trace_id: str, upto: int) -> None:
        with self._write() as conn:
            conn.execute(
                "UPDATE traces SET compacted_upto = MAX(compacted_upto, ?) WHERE trace_id = ?", (upto, trace_id)
            )


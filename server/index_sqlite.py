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
from collections.abc import Collection, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

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
from .private_files import private_dir, private_file

__all__ = ["SqliteIndex", "sqlite_path"]

_BUSY_TIMEOUT_S = 10.0
# SQLite binds at most this many parameters in older builds; chunk IN (...) lists below it.
_IN_CHUNK = 500


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
            conn.execute(MIGRATIONS_TABLE)
            done = {row[0] for row in conn.execute("SELECT version FROM schema_migrations")}
            for migration in load_migrations():
                if migration.version in done:
                    continue
                for statement in migration.statements:
                    conn.execute(statement)
                conn.execute(
                    "INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)",
                    (migration.version, migration.name, now_ts()),
                )

    # reads

    def ping(self) -> None:
        with self._connection() as conn:
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
            row = conn.execute("SELECT * FROM traces WHERE trace_id = ?", (trace.trace_id,)).fetchone()
            if row is None and not events:
                return outcome  # nothing stored, so nothing claimed: the trace stays unowned
            if row is None:
                envelope = merge_envelope(None, trace.envelope)
                conn.execute(
                    "INSERT INTO traces (trace_id, repo_name, branch, pr_id, developer_id, owner, "
                    "envelope, language, seq_mode, created_at, updated_at, needs_link) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 1)",
                    (
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
                    ),
                )
                current = trace_record(
                    conn.execute("SELECT * FROM traces WHERE trace_id = ?", (trace.trace_id,)).fetchone()
                )
            else:
                current = trace_record(row)
                if current.owner != user and not may_write_any:
                    raise Forbidden(f"trace {trace.trace_id} belongs to another user")
                if trace.seq_mode and current.seq_mode and trace.seq_mode != current.seq_mode:
                    raise SeqModeChanged(f"trace {trace.trace_id} seq mode is {current.seq_mode}")
                envelope = merge_envelope(current.envelope, trace.envelope)

            # BEGIN IMMEDIATE holds the database's write lock: what this reads stays true
            # until it commits, so the rows below cannot conflict and go in as one executemany.
            existing = _existing(conn, [event.event_id for event in events])
            fresh: list[EventWrite] = []
            for event in events:
                if event.event_id in existing:
                    outcome.duplicates.append(event.event_id)
                else:
                    existing.add(event.event_id)
                    fresh.append(event)
            last_seq = current.last_seq
            server_seq = current.last_server_seq
            rows = []
            for event in fresh:
                seq = last_seq + 1 if event.seq is None else event.seq
                server_seq += 1
                last_seq = max(last_seq, seq)
                rows.append((
                    event.event_id, trace.trace_id, seq, server_seq, int(event.seq is None), event.ts,
                    event.type, received_at, event.object_key, event.file, event.command,
                    event.exit_code, event.passed, event.failed, event.sha,
                    *(getattr(event, column) for column in STATS_COLUMNS),
                ))
            conn.executemany(
                "INSERT INTO events_index (event_id, trace_id, seq, server_seq, seq_by_server, "
                "ts, type, received_at, object_key, file, command, exit_code, passed, failed, sha, "
                f"{', '.join(STATS_COLUMNS)}) VALUES ({', '.join('?' * (15 + len(STATS_COLUMNS)))})",
                rows,
            )
            outcome.accepted.extend(event.event_id for event in fresh)
            stamps = [event.ts for event in fresh]
            first_ts = min(filter(None, [current.first_ts, *stamps]), default=None)
            last_ts = max(filter(None, [current.last_ts, *stamps]), default=None)

            pr_id = trace.pr_id if trace.pr_id is not None else current.pr_id
            relink = int(pr_id != current.pr_id)  # GitHub's facts for that PR apply now
            conn.execute(
                "UPDATE traces SET envelope = ?, language = ?, pr_id = ?, needs_link = MAX(needs_link, ?), "
                "event_count = event_count + ?, first_ts = ?, last_ts = ?, last_seq = ?, "
                "last_server_seq = ?, seq_mode = COALESCE(seq_mode, ?), updated_at = ? "
                "WHERE trace_id = ?",
                (
                    dumps(envelope),
                    dumps(languages_of(envelope)),
                    pr_id,
                    relink,
                    len(outcome.accepted),
                    first_ts,
                    last_ts,
                    last_seq,
                    server_seq,
                    trace.seq_mode,
                    received_at,
                    trace.trace_id,
                ),
            )
        return outcome

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


def _existing(conn: sqlite3.Connection, event_ids: Collection[str]) -> set[str]:
    # By primary key alone: an event id covers its trace id, and a `trace_id = ?` term lets
    # the planner walk the whole trace through its (trace_id, seq) index instead.
    ids = list(event_ids)
    found: set[str] = set()
    for start in range(0, len(ids), _IN_CHUNK):
        chunk = ids[start : start + _IN_CHUNK]
        marks = ", ".join("?" * len(chunk))
        rows = conn.execute(
            f"SELECT event_id FROM events_index WHERE event_id IN ({marks})",
            chunk,
        )
        found.update(row[0] for row in rows)
    return found

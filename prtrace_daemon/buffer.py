"""The local buffer: SQLite under PRTRACE_HOME, the source of truth until the server acknowledges.

Seqs are allocated with `UPDATE … RETURNING` inside `BEGIN IMMEDIATE`, in the transaction that
stores the event, so any number of processes writing one trace get 1..n with no gap and no
duplicate. (A deferred transaction that upgrades to a write fails with SQLITE_BUSY in WAL mode
whatever the busy timeout, hence IMMEDIATE.)
"""

from __future__ import annotations

import json
import os
import re
import sqlite3
import time
import uuid
from collections.abc import Collection, Iterable, Iterator, Mapping
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from prtrace_core.canonical import event_id
from prtrace_core.languages import language_of
from prtrace_core.timestamps import now_ts
from prtrace_daemon.client_errors import BufferCorrupt, BufferUnavailable

__all__ = [
    "AGENT_CALL_FORGET_NS",
    "AGENT_MARK_TTL_NS",
    "AGENT_SHELL_TTL_NS",
    "AgentCallRow",
    "Buffer",
    "RepoRow",
    "Snapshot",
    "TraceRow",
    "Writer",
]

# How long an agent's open edit call holds: its post hook follows its pre within seconds, and
# an agent stops a tool after 10 minutes at most. Past it a post hook that never came (an agent
# killed mid-call) no longer hides the call's files from the scan.
AGENT_MARK_TTL_NS = 10 * 60 * 1_000_000_000
# How long an open shell call that runs git may own the git hooks' lines written in the repo: a
# commit or push the agent runs is done well within it (Claude Code's shell tool stops a command
# after 2 minutes unless asked for more), while a call with no post hook (one the developer
# denied, one still running) must not take the developer's own commits for long.
AGENT_SHELL_TTL_NS = 2 * 60 * 1_000_000_000
# A call row is kept this long for a post hook drained very late (then recorded as one with no
# pre), and removed after, so the table never grows.
AGENT_CALL_FORGET_NS = 24 * 3600 * 1_000_000_000

_MIGRATIONS: tuple[str, ...] = (
    """
    CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
    CREATE TABLE repos (
        path TEXT PRIMARY KEY,
        name TEXT NOT NULL,
        registered_at TEXT NOT NULL,
        paused INTEGER NOT NULL DEFAULT 0,
        last_branch TEXT,
        last_head TEXT
    );
    CREATE TABLE traces (
        trace_id TEXT PRIMARY KEY,
        repo_path TEXT NOT NULL,
        repo_name TEXT NOT NULL,
        branch TEXT NOT NULL,
        created_at TEXT NOT NULL,
        last_seq INTEGER NOT NULL DEFAULT 0,
        languages TEXT NOT NULL DEFAULT '[]',
        pr TEXT,
        envelope_dirty INTEGER NOT NULL DEFAULT 1,
        UNIQUE (repo_path, branch)
    );
    CREATE TABLE events (
        trace_id TEXT NOT NULL REFERENCES traces (trace_id),
        seq INTEGER NOT NULL,
        ts TEXT NOT NULL,
        type TEXT NOT NULL,
        payload TEXT NOT NULL,
        actor TEXT,
        event_id TEXT NOT NULL,
        state TEXT NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'acked', 'rejected')),
        reason TEXT,
        PRIMARY KEY (trace_id, seq)
    ) WITHOUT ROWID;
    CREATE INDEX events_by_state ON events (state, trace_id, seq);
    CREATE TABLE snapshots (
        repo_path TEXT NOT NULL,
        path TEXT NOT NULL,
        blob_sha TEXT NOT NULL,
        size INTEGER NOT NULL,
        mtime_ns INTEGER NOT NULL,
        racy INTEGER NOT NULL DEFAULT 0,
        PRIMARY KEY (repo_path, path)
    ) WITHOUT ROWID;
    CREATE TABLE spool_done (line_key TEXT PRIMARY KEY, done_at TEXT NOT NULL) WITHOUT ROWID;
    """,
    # Snapshot paths as the file system's bytes: a file name need not be UTF-8.
    """
    UPDATE snapshots SET path = CAST(path AS BLOB);
    """,
    # How far each live shell's spool file has been read (its inode, so a reused pid starts over).
    """
    CREATE TABLE spool_offsets (name TEXT PRIMARY KEY, inode INTEGER NOT NULL, offset INTEGER NOT NULL) WITHOUT ROWID;
    """,
    # Each file's executable bit (chmod leaves mtime alone, so a scan must compare it). NULL:
    # a snapshot taken before the bit was kept; the next scan learns it without an edit.
    """
    ALTER TABLE snapshots ADD COLUMN executable INTEGER;
    """,
    # coding agents: the tool calls whose pre hook ran and whose post hook has not been drained
    # yet (an edit tool's files are marked, so a scan leaves them to the post hook; a shell
    # call's changes are the agent's), and each agent session's model (Claude Code names it
    # only at SessionStart).
    """
    CREATE TABLE agent_calls (
        call_key TEXT PRIMARY KEY,
        repo_path TEXT NOT NULL,
        actor TEXT NOT NULL,
        tool_kind TEXT NOT NULL,
        files TEXT NOT NULL DEFAULT '[]',
        started_ns INTEGER NOT NULL
    ) WITHOUT ROWID;
    CREATE INDEX agent_calls_by_repo ON agent_calls (repo_path, started_ns);
    CREATE TABLE agent_sessions (
        agent TEXT NOT NULL,
        session TEXT NOT NULL,
        model TEXT NOT NULL,
        PRIMARY KEY (agent, session)
    ) WITHOUT ROWID;
    """,
    # line authors: who wrote each line of a file's content as last recorded (authorship.py's
    # encoding), by path and blob id, a few versions per path so a branch switch and back keeps them
    """
    CREATE TABLE line_authors (
        repo_path TEXT NOT NULL,
        path BLOB NOT NULL,
        blob_sha TEXT NOT NULL,
        authors TEXT NOT NULL,
        recorded_ns INTEGER NOT NULL,
        PRIMARY KEY (repo_path, path, blob_sha)
    ) WITHOUT ROWID;
    """,
    # a shell call's command line (its pre hook's): only a call that runs git owns the git hooks'
    # lines written while it is open
    """
    ALTER TABLE agent_calls ADD COLUMN command TEXT;
    """,
)


# A git object id (sha1 or sha256) as a payload's JSON text holds one: what the blob cache is keyed by.
_OBJECT_ID = re.compile(r"(?<![0-9a-f])(?:[0-9a-f]{64}|[0-9a-f]{40})(?![0-9a-f])")


@dataclass(frozen=True, slots=True)
class RepoRow:
    path: str
    name: str
    registered_at: str
    paused: bool
    last_branch: str | None
    last_head: str | None


@dataclass(frozen=True, slots=True)
class TraceRow:
    trace_id: str
    repo_path: str
    repo_name: str
    branch: str
    created_at: str
    last_seq: int
    languages: list[str]
    pr: dict[str, Any] | None
    envelope_dirty: bool


@dataclass(frozen=True, slots=True)
class AgentCallRow:
    """An agent's tool call whose pre hook was drained and whose post hook was not yet."""

    call_key: str
    repo_path: str
    actor: dict[str, Any]
    tool_kind: str  # "edit" | "shell"
    files: tuple[str, ...]  # an edit tool's files, repo-relative: marked until the post hook
    started_ns: int  # when the pre hook ran
    command: str | None = None  # a shell call's command line, as its pre hook gave it


def _agent_call_row(row: sqlite3.Row) -> AgentCallRow:
    return AgentCallRow(
        call_key=row["call_key"],
        repo_path=row["repo_path"],
        actor=json.loads(row["actor"]),
        tool_kind=row["tool_kind"],
        files=tuple(json.loads(row["files"])),
        started_ns=row["started_ns"],
        command=row["command"],
    )


@dataclass(frozen=True, slots=True)
class Snapshot:
    """What the edit engine last saw of one file."""

    blob_sha: str
    size: int
    mtime_ns: int
    racy: bool
    executable: bool | None = None  # None: not known (a snapshot from before the bit was kept)


def _trace_row(row: sqlite3.Row) -> TraceRow:
    return TraceRow(
        trace_id=row["trace_id"],
        repo_path=row["repo_path"],
        repo_name=row["repo_name"],
        branch=row["branch"],
        created_at=row["created_at"],
        last_seq=row["last_seq"],
        languages=json.loads(row["languages"]),
        pr=json.loads(row["pr"]) if row["pr"] else None,
        envelope_dirty=bool(row["envelope_dirty"]),
    )


def _snapshot_row(repo_path: str, path: str, snap: Snapshot) -> tuple[Any, ...]:
    executable = None if snap.executable is None else int(snap.executable)
    return (repo_path, os.fsencode(path), snap.blob_sha, snap.size, snap.mtime_ns, int(snap.racy), executable)


def _repo_row(row: sqlite3.Row) -> RepoRow:
    return RepoRow(
        path=row["path"],
        name=row["name"],
        registered_at=row["registered_at"],
        paused=bool(row["paused"]),
        last_branch=row["last_branch"],
        last_head=row["last_head"],
    )


@contextmanager
def _translated(path: Path) -> Iterator[None]:
    """sqlite3's errors, as the two a user can act on."""
    try:
        yield
    except sqlite3.DatabaseError as exc:
        text = str(exc)
        if isinstance(exc, sqlite3.OperationalError) and "malformed" not in text and "not a database" not in text:
            raise BufferUnavailable(f"cannot write the buffer {path}: {text}",
                                    hint="free disk space or check permissions; buffered events are kept") from exc
        raise BufferCorrupt(
            f"the buffer {path} is damaged: {text}",
            hint=f"move it aside (mv {path} {path}.damaged) and run `prtrace start` again; the damaged file is kept",
        ) from exc


class Writer:
    """The operations of one write transaction. Everything in it commits together or not at all."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn

    def create_trace(self, *, repo_path: str, repo_name: str, branch: str) -> str:
        """A new trace (uuid4) for the branch; the caller appends its `start` event next."""
        trace_id = str(uuid.uuid4())
        self._conn.execute(
            "INSERT INTO traces (trace_id, repo_path, repo_name, branch, created_at) VALUES (?, ?, ?, ?, ?)",
            (trace_id, repo_path, repo_name, branch, now_ts()),
        )
        return trace_id

    def append(
        self,
        trace_id: str,
        type: str,
        payload: dict[str, Any],
        *,
        ts: str | None = None,
        actor: dict[str, Any] | None = None,
    ) -> int:
        """Store one event under the trace's next seq and return that seq.

        Its ts is never earlier than the event before it: an event recorded late (a spooled
        line the daemon drains after it already recorded the edits a slow machine saw since)
        takes the moment it was placed in the trace, so time never runs backwards along the seqs.
        """
        (seq,) = self._conn.execute(
            "UPDATE traces SET last_seq = last_seq + 1 WHERE trace_id = ? RETURNING last_seq", (trace_id,)
        ).fetchone()
        ts = ts or now_ts()
        previous = self._conn.execute(
            "SELECT ts FROM events WHERE trace_id = ? AND seq = ?", (trace_id, seq - 1)
        ).fetchone()
        if previous is not None and _canonical(previous[0]) and _canonical(ts) and previous[0] > ts:
            ts = previous[0]
        event: dict[str, Any] = {"seq": seq, "ts": ts, "type": type, "payload": payload}
        if actor is not None:
            event["actor"] = actor
        self._conn.execute(
            "INSERT INTO events (trace_id, seq, ts, type, payload, actor, event_id) VALUES (?, ?, ?, ?, ?, ?, ?)",
            (
                trace_id,
                seq,
                event["ts"],
                type,
                json.dumps(payload, ensure_ascii=False),
                json.dumps(actor) if actor is not None else None,
                event_id(trace_id, event),
            ),
        )
        if type == "edit" and isinstance(payload.get("file"), str):
            self._note_language(trace_id, payload["file"])
        return int(seq)

    def _note_language(self, trace_id: str, path: str) -> None:
        language = language_of(path)
        if language is None:
            return
        (current,) = self._conn.execute("SELECT languages FROM traces WHERE trace_id = ?", (trace_id,)).fetchone()
        languages = json.loads(current)
        if language not in languages:
            languages.append(language)
            self._conn.execute(
                "UPDATE traces SET languages = ?, envelope_dirty = 1 WHERE trace_id = ?",
                (json.dumps(languages), trace_id),
            )

    def put_snapshot(self, repo_path: str, path: str, snap: Snapshot) -> None:
        self._conn.execute(
            "INSERT OR REPLACE INTO snapshots (repo_path, path, blob_sha, size, mtime_ns, racy, executable)"
            " VALUES (?, ?, ?, ?, ?, ?, ?)",
            _snapshot_row(repo_path, path, snap),
        )

    def drop_snapshot(self, repo_path: str, path: str) -> None:
        self._conn.execute("DELETE FROM snapshots WHERE repo_path = ? AND path = ?", (repo_path, os.fsencode(path)))

    def replace_snapshots(self, repo_path: str, snaps: dict[str, Snapshot]) -> None:
        """A fresh baseline for the repo (first start, or a branch switch)."""
        self._conn.execute("DELETE FROM snapshots WHERE repo_path = ?", (repo_path,))
        self._conn.executemany(
            "INSERT INTO snapshots (repo_path, path, blob_sha, size, mtime_ns, racy, executable) VALUES (?, ?, ?, ?, ?, ?, ?)",
            [_snapshot_row(repo_path, p, s) for p, s in snaps.items()],
        )

    def claim_spool_line(self, key: str) -> bool:
        """True the first time a spool line is processed; False when it already was."""
        cur = self._conn.execute(
            "INSERT OR IGNORE INTO spool_done (line_key, done_at) VALUES (?, ?)", (key, now_ts())
        )
        return cur.rowcount == 1

    def save_spool_offsets(self, offsets: dict[str, tuple[int, int]], finished: Iterable[str]) -> None:
        """Keep how far live shell files were read; forget the files drained whole."""
        self._conn.executemany(
            "INSERT OR REPLACE INTO spool_offsets (name, inode, offset) VALUES (?, ?, ?)",
            [(name, inode, offset) for name, (inode, offset) in offsets.items()],
        )
        self._conn.executemany("DELETE FROM spool_offsets WHERE name = ?", [(name,) for name in finished])

    def set_repo_head(self, repo_path: str, branch: str, head: str | None) -> None:
        self._conn.execute(
            "UPDATE repos SET last_branch = ?, last_head = ? WHERE path = ?", (branch, head, repo_path)
        )

    # coding agents

    def open_agent_call(
        self,
        call_key: str,
        *,
        repo_path: str,
        actor: Mapping[str, Any],
        tool_kind: str,
        files: Collection[str],
        started_ns: int,
        command: str | None = None,
    ) -> None:
        """Note a tool call whose pre hook ran (its files marked until its post hook; a shell
        call's command, which says whether the git lines written meanwhile may be its own);
        calls too old for any post hook to close are forgotten on the way."""
        self._conn.execute(
            "DELETE FROM agent_calls WHERE started_ns < ?", (started_ns - AGENT_CALL_FORGET_NS,)
        )
        self._conn.execute(
            "INSERT OR REPLACE INTO agent_calls"
            " (call_key, repo_path, actor, tool_kind, files, started_ns, command)"
            " VALUES (?, ?, ?, ?, ?, ?, ?)",
            (
                call_key,
                repo_path,
                json.dumps(dict(actor)),
                tool_kind,
                json.dumps(sorted(files)),
                started_ns,
                command,
            ),
        )

    def close_agent_call(self, call_key: str) -> None:
        """The call's post hook is recorded: its files are the scan's again."""
        self._conn.execute("DELETE FROM agent_calls WHERE call_key = ?", (call_key,))

    def note_agent_session(self, agent: str, session: str, model: str) -> None:
        """The model an agent session runs on, for its later calls whose payload lacks it."""
        self._conn.execute(
            "INSERT OR REPLACE INTO agent_sessions (agent, session, model) VALUES (?, ?, ?)",
            (agent, session, model),
        )

    # line authors

    def line_authors(self, repo_path: str, path: str, blob_sha: str) -> str | None:
        """The encoded line authors of the file's content `blob_sha`, when recorded."""
        row = self._conn.execute(
            "SELECT authors FROM line_authors WHERE repo_path = ? AND path = ? AND blob_sha = ?",
            (repo_path, os.fsencode(path), blob_sha),
        ).fetchone()
        return str(row[0]) if row else None

    def put_line_authors(self, repo_path: str, path: str, blob_sha: str, authors: str, *, keep: int) -> None:
        """Record the line authors of a content; only the `keep` latest versions of a path stay."""
        key = os.fsencode(path)
        self._conn.execute(
            "INSERT OR REPLACE INTO line_authors (repo_path, path, blob_sha, authors, recorded_ns)"
            " VALUES (?, ?, ?, ?, ?)",
            (repo_path, key, blob_sha, authors, time.time_ns()),
        )
        self._conn.execute(
            "DELETE FROM line_authors WHERE repo_path = ? AND path = ? AND recorded_ns <"
            " (SELECT recorded_ns FROM line_authors WHERE repo_path = ? AND path = ?"
            "  ORDER BY recorded_ns DESC LIMIT 1 OFFSET ?)",
            (repo_path, key, repo_path, key, keep - 1),
        )

class Buffer:
    """One connection to buffer.db."""

    def __init__(self, path: Path, *, timeout_s: float = 30.0) -> None:
        self.path = path
        with _translated(path):
            self._conn = sqlite3.connect(path, timeout=timeout_s, isolation_level=None, check_same_thread=False)
            self._conn.row_factory = sqlite3.Row
            self._conn.execute("PRAGMA journal_mode = WAL")
            self._conn.execute("PRAGMA synchronous = NORMAL")
            self._conn.execute(f"PRAGMA busy_timeout = {int(timeout_s * 1000)}")
            self._migrate()
        for private in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
            with suppress(OSError):
                private.chmod(0o600)  # diffs and command output live here

    def close(self) -> None:
        self._conn.close()

    def __enter__(self) -> Buffer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _migrate(self) -> None:
        (version,) = self._conn.execute("PRAGMA user_version").fetchone()
        if version >= len(_MIGRATIONS):
            return
        self._conn.execute("BEGIN IMMEDIATE")
        try:
            (version,) = self._conn.execute("PRAGMA user_version").fetchone()
            for number, script in enumerate(_MIGRATIONS[version:], start=version + 1):
                for statement in script.split(";"):
                    if statement.strip():
                        self._conn.execute(statement)
                self._conn.execute(f"PRAGMA user_version = {number}")
            self._conn.execute("COMMIT")
        except BaseException:
            self._conn.execute("ROLLBACK")
            raise

    @contextmanager
    def write(self) -> Iterator[Writer]:
        """A `BEGIN IMMEDIATE` transaction: commits on success, rolls back on any error."""
        with _translated(self.path):
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                yield Writer(self._conn)
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            self._conn.execute("COMMIT")

    @contextmanager
    def durable_write(self) -> Iterator[Writer]:
        """A write whose commit, and every commit before it, is on disk when it returns: the
        buffer runs synchronous=NORMAL (a commit may sit in the OS's cache until a checkpoint),
        and this one transaction FULL, which syncs the WAL. A drain removes spool files only
        after one."""
        with _translated(self.path):
            self._conn.execute("PRAGMA synchronous = FULL")
        try:
            with self.write() as tx:
                # A commit with nothing in it syncs nothing: this row makes sure there is a frame.
                self._conn.execute(
                    "INSERT OR REPLACE INTO meta (key, value) VALUES ('last_durable_commit', ?)", (now_ts(),)
                )
                yield tx
        finally:
            with suppress(sqlite3.Error):
                self._conn.execute("PRAGMA synchronous = NORMAL")

    def _query(self, sql: str, params: Iterable[Any] = ()) -> list[sqlite3.Row]:
        with _translated(self.path):
            return self._conn.execute(sql, tuple(params)).fetchall()

    # identity

    def developer_id(self) -> str:
        """A stable uuid for this user's machine, made on first use."""
        rows = self._query("SELECT value FROM meta WHERE key = 'developer_id'")
        if rows:
            return str(rows[0]["value"])
        with self.write():
            self._conn.execute(
                "INSERT OR IGNORE INTO meta (key, value) VALUES ('developer_id', ?)", (str(uuid.uuid4()),)
            )
        return str(self._query("SELECT value FROM meta WHERE key = 'developer_id'")[0]["value"])

    def withheld_key(self) -> bytes:
        """The key of the digests that stand for withheld files' content in the snapshot, made on
        first use: a plain hash of a short secret file could be brute-forced, a keyed one only
        with this key, which never leaves the buffer."""
        rows = self._query("SELECT value FROM meta WHERE key = 'withheld_key'")
        if not rows:
            import secrets  # once per buffer

            with self.write():
                self._conn.execute(
                    "INSERT OR IGNORE INTO meta (key, value) VALUES ('withheld_key', ?)", (secrets.token_hex(32),)
                )
            rows = self._query("SELECT value FROM meta WHERE key = 'withheld_key'")
        return bytes.fromhex(str(rows[0]["value"]))

    # repos

    def register_repo(self, path: str, name: str) -> bool:
        """Register a repo; False when it already was (its name is refreshed)."""
        with self.write():
            cur = self._conn.execute(
                "INSERT OR IGNORE INTO repos (path, name, registered_at) VALUES (?, ?, ?)", (path, name, now_ts())
            )
            if cur.rowcount == 0:
                self._conn.execute("UPDATE repos SET name = ? WHERE path = ?", (name, path))
            return cur.rowcount == 1

    def unregister_repo(self, path: str) -> None:
        """Forget a repo and its snapshot; its traces and events stay (they may await a push)."""
        with self.write():
            self._conn.execute("DELETE FROM repos WHERE path = ?", (path,))
            self._conn.execute("DELETE FROM snapshots WHERE repo_path = ?", (path,))

    def set_paused(self, path: str, paused: bool) -> None:
        with self.write():
            self._conn.execute("UPDATE repos SET paused = ? WHERE path = ?", (int(paused), path))

    def done_spool_lines(self, keys: Iterable[str]) -> set[str]:
        """Which of these spool lines are recorded (or dropped) already: a drain retried after a
        failure passes over them rather than handling them again."""
        wanted = list(dict.fromkeys(keys))
        done: set[str] = set()
        for at in range(0, len(wanted), 500):  # under SQLite's limit on bound parameters
            chunk = wanted[at:at + 500]
            marks = ",".join("?" * len(chunk))
            done.update(r["line_key"] for r in self._query(f"SELECT line_key FROM spool_done WHERE line_key IN ({marks})", chunk))
        return done

    def spool_offsets(self) -> dict[str, tuple[int, int]]:
        return {row["name"]: (row["inode"], row["offset"]) for row in self._query("SELECT * FROM spool_offsets")}

    def repo(self, path: str) -> RepoRow | None:
        rows = self._query("SELECT * FROM repos WHERE path = ?", (path,))
        return _repo_row(rows[0]) if rows else None

    def repos(self) -> list[RepoRow]:
        return [_repo_row(r) for r in self._query("SELECT * FROM repos ORDER BY path")]

    # coding agents

    def agent_call(self, call_key: str) -> AgentCallRow | None:
        rows = self._query("SELECT * FROM agent_calls WHERE call_key = ?", (call_key,))
        return _agent_call_row(rows[0]) if rows else None

    def marked_files(
        self, repo_path: str, now_ns: int, *, excluding: str | None = None
    ) -> set[str]:
        """The repo's files an agent's edit tool is writing (pre hook drained, post not yet, and
        not expired): a scan leaves them to the post hook, which records them as the agent's.
        `excluding`: a call whose own marks are left out (its post hook asks who else writes)."""
        rows = self._query(
            "SELECT files FROM agent_calls WHERE repo_path = ? AND tool_kind = 'edit'"
            " AND started_ns > ? AND call_key IS NOT ?",
            (repo_path, now_ns - AGENT_MARK_TTL_NS, excluding),
        )
        return {path for row in rows for path in json.loads(row["files"])}

    def open_shell_calls(self, repo_path: str, at_ns: int) -> list[AgentCallRow]:
        """The agent shell calls open in the repo at `at_ns` (pre hook drained, post not yet,
        started within AGENT_SHELL_TTL_NS), the latest first: a git hook's line written then
        may be one of theirs."""
        rows = self._query(
            "SELECT * FROM agent_calls WHERE repo_path = ? AND tool_kind = 'shell'"
            " AND started_ns <= ? AND started_ns > ? ORDER BY started_ns DESC",
            (repo_path, at_ns, at_ns - AGENT_SHELL_TTL_NS),
        )
        return [_agent_call_row(row) for row in rows]

    def agent_model(self, agent: str, session: str) -> str | None:
        rows = self._query(
            "SELECT model FROM agent_sessions WHERE agent = ? AND session = ?", (agent, session)
        )
        return str(rows[0]["model"]) if rows else None

    # line authors

    def line_authors(self, repo_path: str, path: str, blob_sha: str) -> str | None:
        """The encoded line authors of the file's content `blob_sha`, when recorded."""
        rows = self._query(
            "SELECT authors FROM line_authors WHERE repo_path = ? AND path = ? AND blob_sha = ?",
            (repo_path, os.fsencode(path), blob_sha),
        )
        return str(rows[0]["authors"]) if rows else None

    def authorship_events(self, repo_path: str) -> list[tuple[str, dict[str, Any]]]:
        """(type, payload) of the repo's commits that carry an authorship, its rewrites and its
        imported attributions, oldest first: what blame resolves lines from."""
        rows = self._query(
            "SELECT e.type, e.payload FROM events e JOIN traces t ON t.trace_id = e.trace_id"
            " WHERE t.repo_path = ? AND (e.type IN ('rewrite', 'attribution')"
            " OR (e.type = 'commit' AND json_extract(e.payload, '$.authorship') IS NOT NULL))"
            " ORDER BY e.ts, e.seq",
            (repo_path,),
        )
        return [(str(r["type"]), json.loads(r["payload"])) for r in rows]

    def squash_pending(self, trace_id: str) -> bool:
        """Whether a squash merge was recorded in the trace since its last commit: the next
        commit then holds lines another branch's commits wrote."""
        rows = self._query(
            "SELECT 1 FROM events WHERE trace_id = ? AND type = 'merge'"
            " AND json_extract(payload, '$.squash') = 1 AND seq >"
            " COALESCE((SELECT MAX(seq) FROM events WHERE trace_id = ? AND type = 'commit'), 0)"
            " LIMIT 1",
            (trace_id, trace_id),
        )
        return bool(rows)

    # traces

    def trace(self, trace_id: str) -> TraceRow | None:
        rows = self._query("SELECT * FROM traces WHERE trace_id = ?", (trace_id,))
        return _trace_row(rows[0]) if rows else None

    def trace_for(self, repo_path: str, branch: str) -> TraceRow | None:
        rows = self._query("SELECT * FROM traces WHERE repo_path = ? AND branch = ?", (repo_path, branch))
        return _trace_row(rows[0]) if rows else None

    def traces(
        self, *, repo_path: str | None = None, branch: str | None = None, pr_id: str | None = None
    ) -> list[TraceRow]:
        clauses, params = [], []
        if repo_path is not None:
            clauses.append("repo_path = ?")
            params.append(repo_path)
        if branch is not None:
            clauses.append("branch = ?")
            params.append(branch)
        if pr_id is not None:
            clauses.append("json_extract(pr, '$.pr_id') = ?")
            params.append(pr_id)
        where = f"WHERE {' AND '.join(clauses)}" if clauses else ""
        return [_trace_row(r) for r in self._query(f"SELECT * FROM traces {where} ORDER BY created_at", params)]

    def set_pr(self, trace_id: str, pr: dict[str, Any]) -> None:
        with self.write():
            self._conn.execute(
                "UPDATE traces SET pr = ?, envelope_dirty = 1 WHERE trace_id = ?", (json.dumps(pr), trace_id)
            )

    # events

    def events(self, trace_id: str) -> list[dict[str, Any]]:
        """The trace's events in seq order, as they travel, with event_id and local state."""
        rows = self._query("SELECT * FROM events WHERE trace_id = ? ORDER BY seq", (trace_id,))
        return [self._event(row, with_state=True) for row in rows]

    @staticmethod
    def _event(row: sqlite3.Row, *, with_state: bool = False) -> dict[str, Any]:
        event: dict[str, Any] = {
            "seq": row["seq"],
            "ts": row["ts"],
            "type": row["type"],
            "payload": json.loads(row["payload"]),
        }
        if row["actor"] is not None:
            event["actor"] = json.loads(row["actor"])
        event["event_id"] = row["event_id"]
        if with_state:
            event["state"] = row["state"]
            if row["reason"]:
                event["reason"] = row["reason"]
        return event

    def pending_traces(self) -> list[TraceRow]:
        """Traces with events to push or an envelope the server has not seen."""
        rows = self._query(
            "SELECT * FROM traces WHERE envelope_dirty = 1 OR trace_id IN "
            "(SELECT DISTINCT trace_id FROM events WHERE state = 'pending') ORDER BY created_at"
        )
        return [_trace_row(r) for r in rows]

    def pending_events(self, trace_id: str, *, after_seq: int = 0, limit: int = 1000) -> list[dict[str, Any]]:
        rows = self._query(
            "SELECT * FROM events WHERE state = 'pending' AND trace_id = ? AND seq > ? ORDER BY seq LIMIT ?",
            (trace_id, after_seq, limit),
        )
        return [self._event(row) for row in rows]

    def settle(
        self,
        trace_id: str,
        *,
        acked: Iterable[str],
        rejected: Iterable[tuple[str, str]],
        envelope_sent: TraceRow | None,
        seqs: Mapping[str, int] | None = None,
    ) -> None:
        """Record the server's answer: acked events leave the queue, rejected ones are set aside.

        Rows are found by their primary key: `seqs` (event id → seq, the batch as sent) names
        them, and the few ids it lacks are looked up in one pass over the trace.
        """
        acked, rejected = list(acked), list(rejected)
        where = dict(seqs or {})
        with self.write():
            unknown = [eid for eid in [*acked, *(eid for eid, _ in rejected)] if eid not in where]
            for start in range(0, len(unknown), 500):
                chunk = unknown[start : start + 500]
                rows = self._conn.execute(
                    f"SELECT event_id, seq FROM events WHERE trace_id = ? AND event_id IN ({', '.join('?' * len(chunk))})",
                    (trace_id, *chunk),
                )
                where.update((eid, seq) for eid, seq in rows)
            self._conn.executemany(
                "UPDATE events SET state = 'acked' WHERE trace_id = ? AND seq = ? AND event_id = ? AND state = 'pending'",
                [(trace_id, where[eid], eid) for eid in acked if eid in where],
            )
            self._conn.executemany(
                "UPDATE events SET state = 'rejected', reason = ? WHERE trace_id = ? AND seq = ? AND event_id = ?",
                [(reason, trace_id, where[eid], eid) for eid, reason in rejected if eid in where],
            )
            if envelope_sent is not None:
                # Only if the PR link and languages are still what was sent: a `prtrace pr`
                # during the push must go out with the next one.
                self._conn.execute(
                    "UPDATE traces SET envelope_dirty = 0 WHERE trace_id = ? AND pr IS ? AND languages = ?",
                    (
                        trace_id,
                        json.dumps(envelope_sent.pr) if envelope_sent.pr is not None else None,
                        json.dumps(envelope_sent.languages),
                    ),
                )

    def counts(self) -> dict[str, int]:
        """Events by state across all traces."""
        rows = self._query("SELECT state, COUNT(*) AS n FROM events GROUP BY state")
        counts = {"pending": 0, "acked": 0, "rejected": 0}
        counts.update({r["state"]: r["n"] for r in rows})
        return counts

    def pending_of_types(self, types: Collection[str], limit: int = 1000) -> set[tuple[str, int]]:
        """(trace_id, seq) of the events of these types that wait to be pushed (the daemon
        pushes soon after a new commit or push)."""
        marks = ",".join("?" * len(types))
        rows = self._query(
            f"SELECT trace_id, seq FROM events WHERE state = 'pending' AND type IN ({marks}) LIMIT ?",
            (*types, limit),
        )
        return {(row["trace_id"], int(row["seq"])) for row in rows}

    def rejected_reasons(self, limit: int = 1000) -> list[tuple[str, int]]:
        """The reasons the server gave for the events it rejected, with how many each, the
        most common first."""
        rows = self._query(
            "SELECT COALESCE(reason, '') AS reason, COUNT(*) AS n FROM events WHERE state = 'rejected'"
            " GROUP BY reason ORDER BY n DESC, MIN(seq) LIMIT ?",
            (limit,),
        )
        return [(r["reason"], r["n"]) for r in rows]

    def trace_counts(self, trace_id: str) -> dict[str, int]:
        rows = self._query("SELECT state, COUNT(*) AS n FROM events WHERE trace_id = ? GROUP BY state", (trace_id,))
        counts = {"pending": 0, "acked": 0, "rejected": 0}
        counts.update({r["state"]: r["n"] for r in rows})
        return counts

    # snapshots

    def snapshots(self, repo_path: str, within: Collection[str] | None = None) -> dict[str, Snapshot]:
        """The repo's snapshot; with `within`, only the entries at or under those paths (a
        watcher's flush then reads a handful of rows, not the whole repo's)."""
        sql = "SELECT path, blob_sha, size, mtime_ns, racy, executable FROM snapshots WHERE repo_path = ?"
        if within is None:
            rows = self._query(sql, (repo_path,))
        else:
            rows = []
            for path in within:
                key = os.fsencode(path)
                # `key/` <= path < `key0`: everything under the folder ('0' follows '/')
                rows += self._query(f"{sql} AND (path = ? OR (path > ? AND path < ?))", (repo_path, key, key + b"/", key + b"0"))
        return {
            os.fsdecode(r["path"]): Snapshot(
                r["blob_sha"], r["size"], r["mtime_ns"], bool(r["racy"]),
                None if r["executable"] is None else bool(r["executable"]),
            )
            for r in rows
        }

    # purging (`prtrace purge`: the developer removes recorded activity from this machine)

    def purge_candidates(
        self,
        *,
        trace_ids: Collection[str] | None = None,
        repo_path: str | None = None,
        idle_before: str | None = None,
    ) -> list[TraceRow]:
        """The traces named, or a repository's, or all; with `idle_before` (a trace timestamp)
        only those whose last event is older. A trace goes whole or not at all: cutting one
        would leave a trace without its `start`, which nothing can replay."""
        clauses: list[str] = []
        params: list[Any] = []
        if trace_ids is not None:
            clauses.append(f"trace_id IN ({', '.join('?' * len(trace_ids))})" if trace_ids else "0")
            params += list(trace_ids)
        if repo_path is not None:
            clauses.append("repo_path = ?")
            params.append(repo_path)
        if idle_before is not None:
            clauses.append(
                "COALESCE((SELECT MAX(ts) FROM events WHERE events.trace_id = traces.trace_id), created_at) < ?"
            )
            params.append(idle_before)
        where = f"WHERE {' AND '.join(clauses)}" if clauses else ""
        return [_trace_row(r) for r in self._query(f"SELECT * FROM traces {where} ORDER BY created_at", params)]

    def event_states(self, trace_ids: Collection[str]) -> dict[str, int]:
        """Events of these traces by state (pending: not pushed yet)."""
        counts = {"pending": 0, "acked": 0, "rejected": 0}
        for trace_id in trace_ids:
            for state, n in self.trace_counts(trace_id).items():
                counts[state] = counts.get(state, 0) + n
        return counts

    def purge_traces(self, trace_ids: Collection[str]) -> dict[str, int]:
        """Delete the traces and their events in one transaction; returns the events removed by
        state. Freed pages are overwritten (secure_delete) and the WAL is checkpointed, so the
        content does not linger in buffer.db or its WAL."""
        with _translated(self.path):
            self._conn.execute("PRAGMA secure_delete = ON")
        counts = {"pending": 0, "acked": 0, "rejected": 0}
        with self.write():
            for trace_id in trace_ids:
                for row in self._conn.execute(
                    "SELECT state, COUNT(*) AS n FROM events WHERE trace_id = ? GROUP BY state", (trace_id,)
                ).fetchall():
                    counts[row["state"]] = counts.get(row["state"], 0) + row["n"]
                self._conn.execute("DELETE FROM events WHERE trace_id = ?", (trace_id,))
                self._conn.execute("DELETE FROM traces WHERE trace_id = ?", (trace_id,))
        self._checkpoint()
        return counts

    def forget_spool_files(self, names: Iterable[str]) -> None:
        """Drop the read offsets of spool files that were removed (a new file under the name,
        even on a reused inode, is then read from its start)."""
        with self.write() as tx:
            tx.save_spool_offsets({}, names)

    def blob_references(self) -> set[str]:
        """Every blob id the buffer may still want from the blob cache: each snapshot's (the
        next edit is diffed against it), and any git object id written in an event (edits'
        before/after, a `start` event's dirty files). Any 40- or 64-hex string in a payload
        counts, so a field added later is never missed; keeping too much is harmless."""
        with _translated(self.path):
            keep = {row[0] for row in self._conn.execute("SELECT DISTINCT blob_sha FROM snapshots")}
            for (payload,) in self._conn.execute("SELECT payload FROM events"):
                keep.update(_OBJECT_ID.findall(payload))
        return keep

    def _checkpoint(self) -> None:
        """Fold the WAL into the database and empty it; best effort (a reader may hold it)."""
        with suppress(sqlite3.DatabaseError):
            self._conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall()


def _canonical(ts: object) -> bool:
    """`2026-11-24T19:06:57.123Z`: the form whose text order is time order."""
    return isinstance(ts, str) and len(ts) == 24 and ts.endswith("Z") and ts[10] == "T"

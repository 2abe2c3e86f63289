"""The embedded stores on their own: the SQLite index and the object folder."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

import pytest

from prtrace_server.blobs_folder import FolderBlobs
from prtrace_server.errors import (
    ConfigError,
    Forbidden,
    SeqModeChanged,
    StoreCorrupt,
    StoreUnavailable,
)
from prtrace_server.index import EventWrite, SeqMode, TraceWrite
from prtrace_server.index_sqlite import SqliteIndex, sqlite_path
from prtrace_server.migrate import load_migrations
from prtrace_server.stores import open_blobs, open_index

TRACE = "0b9f8a52-6c1e-4d3a-9f57-2a4c1e8d7b10"


def trace_write(seq_mode: SeqMode | None = "client") -> TraceWrite:
    envelope = {"trace_id": TRACE, "repo": {"name": "acme/webapp", "branch": "main"}, "developer": {"user_id": "d"}}
    return TraceWrite(TRACE, "acme/webapp", "main", None, "d", envelope, seq_mode)


def event(n: int, seq: int | None = None) -> EventWrite:
    return EventWrite(event_id=f"{n:064x}", seq=seq, ts=f"2026-11-24T19:00:{n:02d}.000Z", type="annotation", object_key="k")


def test_migrations_are_applied_once_and_recorded(tmp_path: Path) -> None:
    SqliteIndex(tmp_path / "index.db").close()
    SqliteIndex(tmp_path / "index.db").close()
    with sqlite3.connect(tmp_path / "index.db") as conn:
        rows = conn.execute("SELECT version, name FROM schema_migrations").fetchall()
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    conn.close()
    assert rows == [(m.version, m.name) for m in load_migrations()]
    assert {"traces", "events_index", "tokens", "schema_migrations"} <= tables


def test_index_runs_in_wal_mode(tmp_path: Path) -> None:
    index = SqliteIndex(tmp_path / "index.db")
    index.close()
    with sqlite3.connect(tmp_path / "index.db") as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    conn.close()


def test_ingest_allocates_server_seqs_in_commit_order_across_connections(tmp_path: Path) -> None:
    # Two stores on one file stand for two server processes.
    stores = [SqliteIndex(tmp_path / "index.db"), SqliteIndex(tmp_path / "index.db")]
    try:
        def write(store: SqliteIndex, start: int) -> None:
            for n in range(start, start + 20):
                store.ingest(trace=trace_write(), events=[event(n, seq=n)], user="u", may_write_any=False, received_at="t")

        threads = [threading.Thread(target=write, args=(store, 1 + 20 * i)) for i, store in enumerate(stores)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        records = stores[0].event_records(TRACE)
        assert sorted(r.server_seq for r in records) == list(range(1, 41))
        trace = stores[1].get_trace(TRACE)
        assert trace is not None and (trace.event_count, trace.last_server_seq, trace.last_seq) == (40, 40, 40)
    finally:
        for store in stores:
            store.close()


def test_ingest_reports_an_already_stored_event_as_duplicate(tmp_path: Path) -> None:
    index = SqliteIndex(tmp_path / "index.db")
    try:
        first = index.ingest(trace=trace_write(), events=[event(1, 1)], user="u", may_write_any=False, received_at="t")
        again = index.ingest(trace=trace_write(), events=[event(1, 1), event(2, 2)], user="u", may_write_any=False, received_at="t")
        assert (first.accepted, first.duplicates) == ([f"{1:064x}"], [])
        assert (again.accepted, again.duplicates) == ([f"{2:064x}"], [f"{1:064x}"])
    finally:
        index.close()


def test_ingest_refuses_another_users_trace_and_a_changed_seq_mode(tmp_path: Path) -> None:
    index = SqliteIndex(tmp_path / "index.db")
    try:
        index.ingest(trace=trace_write(), events=[event(1, 1)], user="alice", may_write_any=False, received_at="t")
        with pytest.raises(Forbidden):
            index.ingest(trace=trace_write(), events=[event(2, 2)], user="bob", may_write_any=False, received_at="t")
        with pytest.raises(SeqModeChanged):
            index.ingest(trace=trace_write("server"), events=[event(3)], user="alice", may_write_any=False, received_at="t")
        assert [r.event_id for r in index.event_records(TRACE)] == [f"{1:064x}"]
    finally:
        index.close()


def test_closed_index_is_unavailable(tmp_path: Path) -> None:
    index = SqliteIndex(tmp_path / "index.db")
    index.close()
    with pytest.raises(StoreUnavailable):
        index.get_trace(TRACE)


def test_a_file_that_is_not_a_database_is_unavailable_not_a_crash(tmp_path: Path) -> None:
    (tmp_path / "index.db").write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(StoreUnavailable):
        SqliteIndex(tmp_path / "index.db")


@pytest.mark.parametrize(
    ("url", "path"),
    [("sqlite:///relative/index.db", "relative/index.db"), ("sqlite:////abs/index.db", "/abs/index.db")],
)
def test_sqlite_urls_name_relative_and_absolute_files(url: str, path: str) -> None:
    assert sqlite_path(url) == Path(path)


@pytest.mark.parametrize("url", ["sqlite://", "sqlite:///:memory:", "sqlite:relative.db"])
def test_sqlite_urls_without_a_file_are_refused(url: str) -> None:
    with pytest.raises(ConfigError):
        sqlite_path(url)


@pytest.mark.parametrize("url", ["postgresql://u@h/db", "s3://bucket"])
def test_distributed_backends_are_not_in_this_version(url: str) -> None:
    with pytest.raises(ConfigError, match="not available in this version"):
        (open_index if url.startswith("postgresql") else open_blobs)(url)


def test_folder_store_puts_gets_and_overwrites_atomically(tmp_path: Path) -> None:
    blobs = FolderBlobs(tmp_path / "objects")
    key = "batches/t/abc.ndjson"
    assert not blobs.exists(key)
    blobs.put(key, b"one\n")
    blobs.put(key, b"one\n")
    assert blobs.get(key) == b"one\n"
    blobs.put(key, b"two\n")
    assert blobs.get(key) == b"two\n"
    assert blobs.exists(key)
    leftovers = [p.name for p in (tmp_path / "objects").rglob("*") if p.name.startswith(".tmp-")]
    assert leftovers == []


@pytest.mark.parametrize("key", ["../escape", "/absolute", "a/../../b", "", "a//b", ".hidden", "a b"])
def test_folder_store_refuses_keys_outside_its_folder(tmp_path: Path, key: str) -> None:
    with pytest.raises(ValueError):
        FolderBlobs(tmp_path / "objects").put(key, b"x")


def test_missing_object_is_store_corrupt(tmp_path: Path) -> None:
    with pytest.raises(StoreCorrupt):
        FolderBlobs(tmp_path / "objects").get("batches/none.ndjson")


def test_unwritable_folder_is_unavailable(tmp_path: Path) -> None:
    blobs = FolderBlobs(tmp_path / "objects")
    (tmp_path / "objects" / "batches").write_bytes(b"a file where a folder belongs")
    with pytest.raises(StoreUnavailable):
        blobs.put("batches/t/x.ndjson", b"x")

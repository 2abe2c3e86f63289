"""What only the embedded stores have: a SQLite file in WAL mode, an object folder on disk.
(What every store does is in test_index_stores.py and test_blob_stores.py.)"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from prtrace_server.blobs_folder import FolderBlobs
from prtrace_server.errors import ConfigError, StoreUnavailable
from prtrace_server.index_sqlite import SqliteIndex, sqlite_path
from prtrace_server.migrate import load_migrations


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


def test_unwritable_folder_is_unavailable(tmp_path: Path) -> None:
    blobs = FolderBlobs(tmp_path / "objects")
    (tmp_path / "objects" / "batches").write_bytes(b"a file where a folder belongs")
    with pytest.raises(StoreUnavailable):
        blobs.put("batches/t/x.ndjson", b"x")

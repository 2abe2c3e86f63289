"""What only the PostgreSQL index has: tables a person can query, migrations that many
replicas can start at once, a URL passed to psycopg as it is, fast failure when unreachable."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import psycopg
import pytest

from prtrace_server.errors import ConfigError, StoreUnavailable
from prtrace_server.index import EventWrite, IndexStore, TraceWrite
from prtrace_server.index_postgres import PostgresIndex
from prtrace_server.migrate import load_migrations
from prtrace_server.stores import open_index
from tests.support.stack import free_port

TRACE = "0b9f8a52-6c1e-4d3a-9f57-2a4c1e8d7b10"


def test_tables_live_in_the_default_schema(postgres_url: str) -> None:
    index = open_index(postgres_url)
    try:
        envelope = {"trace_id": TRACE, "repo": {"name": "acme/webapp", "branch": "main"}, "developer": {"user_id": "d"}}
        events = [EventWrite(f"{n:064x}", n, "2026-11-24T19:00:00.000Z", "annotation", "k") for n in (1, 2)]
        index.ingest(
            trace=TraceWrite(TRACE, "acme/webapp", "main", None, "d", envelope, "client"),
            events=events, user="u", may_write_any=False, received_at="t",
        )
    finally:
        index.close()
    # The run guide's queries, unqualified.
    with psycopg.connect(postgres_url) as conn:
        [trace] = conn.execute("SELECT trace_id, repo_name, event_count FROM traces").fetchall()
        [(count,)] = conn.execute("SELECT COUNT(*) FROM events_index").fetchall()
    assert trace == (TRACE, "acme/webapp", 2)
    assert count == 2


def test_replicas_starting_at_once_migrate_once(postgres_url: str) -> None:
    stores: list[IndexStore] = []
    errors: list[BaseException] = []
    barrier = threading.Barrier(6)

    def start() -> None:
        barrier.wait()
        try:
            stores.append(open_index(postgres_url))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=start) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for store in stores:
        store.close()
    assert errors == []
    assert len(stores) == 6
    with psycopg.connect(postgres_url) as conn:
        rows = conn.execute("SELECT version, name FROM schema_migrations ORDER BY version").fetchall()
    assert rows == [(m.version, m.name) for m in load_migrations()]


def test_an_unreachable_database_fails_fast_and_clearly() -> None:
    started = time.monotonic()
    with pytest.raises(StoreUnavailable, match="cannot connect to the PostgreSQL index"):
        PostgresIndex(f"postgresql://postgres@127.0.0.1:{free_port()}/postgres")
    assert time.monotonic() - started < 5


def test_a_database_that_does_not_exist_is_named(postgres_url: str) -> None:
    url = postgres_url.rsplit("/", 1)[0] + "/no_such_database"
    with pytest.raises(StoreUnavailable, match="no_such_database"):
        open_index(url)


@pytest.mark.parametrize("url", ["postgresql://u:secret%zz@h/db", "postgresql://u:secret@h/db?nonsense=1"])
def test_a_malformed_url_is_a_config_error_that_keeps_the_password_out(url: str) -> None:
    with pytest.raises(ConfigError) as caught:
        open_index(url)
    assert "secret" not in str(caught.value)
    assert caught.value.hint and "postgresql://" in caught.value.hint


def test_a_socket_directory_url_is_passed_to_psycopg_as_given(tmp_path: Path) -> None:
    # Embedded PostgreSQL listens on a Unix socket in its data folder; pydantic's PostgresDsn
    # would refuse this URL, psycopg takes it.
    from tests.conftest import start_postgres_cluster

    pg = start_postgres_cluster(tmp_path / "pgdata")
    try:
        index = open_index(f"postgresql://postgres:@/postgres?host={pg.pgdata}&port={pg.port}")
        try:
            index.ping()
            assert index.get_trace(TRACE) is None
        finally:
            index.close()
    finally:
        pg.stop()

from __future__ import annotations

import multiprocessing
import sqlite3
from pathlib import Path

import pytest

from prtrace_daemon.buffer import Buffer
from prtrace_daemon.client_errors import BufferCorrupt


def _writer(db: str, trace_id: str, n: int) -> None:
    with Buffer(Path(db)) as buffer:
        for i in range(n):
            with buffer.write() as tx:
                tx.append(trace_id, "annotation", {"text": f"note {i}"})


def _new_trace(buffer: Buffer) -> str:
    buffer.register_repo("/r", "acme/r")
    with buffer.write() as tx:
        return tx.create_trace(repo_path="/r", repo_name="acme/r", branch="main")


def test_concurrent_writers_get_seqs_without_gap_or_duplicate(tmp_path: Path) -> None:
    db = tmp_path / "buffer.db"
    with Buffer(db) as buffer:
        trace_id = _new_trace(buffer)
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_writer, args=(str(db), trace_id, 150)) for _ in range(4)]
    for proc in procs:
        proc.start()
    for proc in procs:
        proc.join(120)
        assert proc.exitcode == 0
    with Buffer(db) as buffer:
        seqs = [e["seq"] for e in buffer.events(trace_id)]
        assert seqs == list(range(1, 601))
        assert len({e["event_id"] for e in buffer.events(trace_id)}) == 600


def test_failed_transaction_leaves_no_event_and_no_seq(tmp_path: Path) -> None:
    with Buffer(tmp_path / "buffer.db") as buffer:
        trace_id = _new_trace(buffer)
        with pytest.raises(RuntimeError), buffer.write() as tx:
            tx.append(trace_id, "annotation", {"text": "lost"})
            raise RuntimeError("crash in the middle")
        with buffer.write() as tx:
            assert tx.append(trace_id, "annotation", {"text": "kept"}) == 1
        assert [e["payload"]["text"] for e in buffer.events(trace_id)] == ["kept"]


def test_settle_acks_and_sets_rejected_aside(tmp_path: Path) -> None:
    with Buffer(tmp_path / "buffer.db") as buffer:
        trace_id = _new_trace(buffer)
        with buffer.write() as tx:
            for i in range(3):
                tx.append(trace_id, "annotation", {"text": str(i)})
        ids = [e["event_id"] for e in buffer.events(trace_id)]
        buffer.settle(trace_id, acked=[ids[0]], rejected=[(ids[1], "schema: payload.text")], envelope_sent=buffer.trace(trace_id))
        assert [e["seq"] for e in buffer.pending_events(trace_id)] == [3]
        assert buffer.counts() == {"pending": 1, "acked": 1, "rejected": 1}
        assert buffer.events(trace_id)[1]["reason"] == "schema: payload.text"


def test_a_corrupt_buffer_file_is_a_clear_error_and_is_kept(tmp_path: Path) -> None:
    db = tmp_path / "buffer.db"
    db.write_bytes(b"this is not a sqlite database at all" * 100)
    with pytest.raises(BufferCorrupt, match="damaged"):
        Buffer(db)
    assert db.read_bytes().startswith(b"this is not")


def test_buffer_file_is_private(tmp_path: Path) -> None:
    with Buffer(tmp_path / "buffer.db"):
        pass
    assert (tmp_path / "buffer.db").stat().st_mode & 0o077 == 0


def test_wal_mode_is_on(tmp_path: Path) -> None:
    with Buffer(tmp_path / "buffer.db"):
        pass
    conn = sqlite3.connect(tmp_path / "buffer.db")
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    conn.close()

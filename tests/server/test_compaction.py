"""The compaction worker keeps raw/<trace_id>.ndjson: every event once, in trace order, with
its server stamps — on both storage configurations."""

from __future__ import annotations

import os
import subprocess
import time
import uuid
from pathlib import Path
from typing import Any

import orjson
import pytest

from prtrace_server.app import create_app
from prtrace_server.auth import Principal
from prtrace_server.compaction import MAX_SPACING_S, Compactor, Worker, raw_key
from prtrace_server.ingest import ingest_batch
from prtrace_server.settings import ServerSettings
from prtrace_server.stores import open_blobs, open_index
from tests.server.server_helpers import (
    TestClient,
    blobs_of,
    index_of,
    loopback_client,
    make_batch,
    note,
)
from tests.support.server import SERVER
from tests.support.waiting import wait_for


def _raw(client: TestClient, trace_id: str) -> list[dict[str, Any]]:
    data = blobs_of(client).get(raw_key(trace_id))
    return [orjson.loads(line) for line in data.splitlines()]


def _trace(client: TestClient, trace_id: str) -> list[dict[str, Any]]:
    answer = client.get(f"/v1/traces/{trace_id}")
    assert answer.status_code == 200
    events: list[dict[str, Any]] = answer.json()["events"]
    return events


def test_compacted_object_is_the_trace_in_order_with_server_stamps(
    client: TestClient, sample_batch: dict[str, Any]
) -> None:
    trace_id = sample_batch["trace_id"]
    assert client.post("/ingest", json=sample_batch).status_code == 200
    compactor = Compactor(index_of(client), blobs_of(client))
    assert compactor.compact(trace_id)
    raw = _raw(client, trace_id)
    assert raw == _trace(client, trace_id)
    assert [e["seq"] for e in raw] == sorted(e["seq"] for e in raw)
    assert all({"event_id", "server_seq", "received_at"} <= set(e) for e in raw)
    assert index_of(client).get_trace(trace_id).compacted_upto == len(raw)  # type: ignore[union-attr]


def test_only_traces_with_new_events_are_behind(client: TestClient, sample_batch: dict[str, Any]) -> None:
    index = index_of(client)
    trace_id = sample_batch["trace_id"]
    client.post("/ingest", json=sample_batch)
    assert trace_id in index.traces_behind(100)
    compactor = Compactor(index, blobs_of(client))
    assert compactor.run_pass() == 1
    assert index.traces_behind(100) == []
    client.post("/ingest", json=sample_batch)  # all duplicates: nothing new to compact
    assert index.traces_behind(100) == []
    client.post("/ingest", json=make_batch(trace_id, [note(100, "later")]))
    assert index.traces_behind(100) == [trace_id]
    compactor.run_pass()
    assert _raw(client, trace_id)[-1]["payload"]["text"] == "later"


def test_a_second_worker_skips_a_trace_being_compacted(client: TestClient, sample_batch: dict[str, Any]) -> None:
    index = index_of(client)
    trace_id = sample_batch["trace_id"]
    client.post("/ingest", json=sample_batch)
    other = Compactor(index, blobs_of(client))
    with index.compaction_lock(trace_id) as held:
        assert held
        assert other.compact(trace_id) is False
    assert other.compact(trace_id) is True


def test_the_in_process_worker_compacts_soon_after_ingest(backend: dict[str, str]) -> None:
    trace_id = str(uuid.uuid4())
    with loopback_client(create_app(ServerSettings(auth="off"), worker=True)) as client:
        answer = client.post("/v1/batches", json=make_batch(trace_id, [note(i, f"n{i}") for i in range(1, 6)]))
        assert len(answer.json()["accepted_event_ids"]) == 5
        wait_for(lambda: not index_of(client).traces_behind(10), "the worker to compact", 15)
        assert [e["payload"]["text"] for e in _raw(client, trace_id)] == [f"n{i}" for i in range(1, 6)]


def test_worker_command_compacts_every_trace_that_is_behind(backend: dict[str, str], client: TestClient) -> None:
    traces = [str(uuid.uuid4()) for _ in range(3)]
    for trace_id in traces:
        client.post("/v1/batches", json=make_batch(trace_id, [note(1, "a"), note(2, "b")]))
    result = subprocess.run(
        [str(SERVER), "worker", "--once"], env={**os.environ, **backend}, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    assert "compacted 3 trace(s)" in result.stderr
    for trace_id in traces:
        assert [e["seq"] for e in _raw(client, trace_id)] == [1, 2]
    assert index_of(client).traces_behind(10) == []


def _counters(client: TestClient, *names: str) -> dict[str, float]:
    """The samples of the named metrics in /metrics, keyed by name and labels as exposed."""
    from prometheus_client.parser import text_string_to_metric_families

    values: dict[str, float] = {}
    for family in text_string_to_metric_families(client.get("/metrics").text):
        for sample in family.samples:
            if sample.name in names:
                labels = ",".join(f'{k}="{v}"' for k, v in sorted(sample.labels.items()))
                values[f"{sample.name}{{{labels}}}"] = sample.value
    return values


def test_metrics_count_requests_and_events(client: TestClient, sample_batch: dict[str, Any]) -> None:
    names = ("prtrace_http_requests_total", "prtrace_ingest_events_total", "prtrace_ingest_batch_events_count")
    before = _counters(client, *names)
    client.post("/ingest", json=sample_batch)
    client.post("/ingest", json=sample_batch)
    after = _counters(client, *names)
    moved = {key: value - before.get(key, 0.0) for key, value in after.items() if value != before.get(key, 0.0)}
    accepted = len(sample_batch["events"])
    assert moved == {
        'prtrace_ingest_events_total{outcome="accepted"}': accepted,  # the first post, every event
        'prtrace_ingest_events_total{outcome="duplicate"}': accepted,  # the second, every one again
        "prtrace_ingest_batch_events_count{}": 2,
        'prtrace_http_requests_total{method="POST",route="/ingest",status="200"}': 2,
        'prtrace_http_requests_total{method="GET",route="/metrics",status="200"}': 1,  # the first look
    }


@pytest.mark.parametrize("path", ["/v1/traces/0b9f8a52-6c1e-4d3a-9f57-2a4c1e8d7b10", "/nope"])
def test_metrics_label_routes_by_template_not_by_id(client: TestClient, path: str) -> None:
    client.get(path)
    text = client.get("/metrics").text
    assert "0b9f8a52" not in text


def test_events_arriving_out_of_order_are_compacted_into_trace_order(client: TestClient) -> None:
    trace_id = str(uuid.uuid4())
    compactor = Compactor(index_of(client), blobs_of(client))
    client.post("/v1/batches", json=make_batch(trace_id, [note(seq, f"n{seq}") for seq in (1, 2, 6, 7)]))
    compactor.run_pass()
    client.post("/v1/batches", json=make_batch(trace_id, [note(8, "n8")]))  # appended
    compactor.run_pass()
    client.post("/v1/batches", json=make_batch(trace_id, [note(seq, f"n{seq}") for seq in (3, 4, 5)]))  # rebuilt
    compactor.run_pass()
    raw = _raw(client, trace_id)
    assert [e["seq"] for e in raw] == [1, 2, 3, 4, 5, 6, 7, 8]
    assert raw == _trace(client, trace_id)


def test_a_lost_compacted_object_is_rebuilt(client: TestClient, sample_batch: dict[str, Any]) -> None:
    trace_id = sample_batch["trace_id"]
    compactor = Compactor(index_of(client), blobs_of(client))
    client.post("/ingest", json=sample_batch)
    compactor.run_pass()
    _delete_raw(client, trace_id)
    client.post("/v1/batches", json=make_batch(trace_id, [note(100, "later")]))
    compactor.run_pass()
    assert _raw(client, trace_id) == _trace(client, trace_id)


def _delete_raw(client: TestClient, trace_id: str) -> None:
    blobs = blobs_of(client)
    root = getattr(blobs, "root", None)
    if root is not None:
        (root / raw_key(trace_id)).unlink()
    else:
        blobs._client.delete_object(Bucket=blobs.bucket, Key=blobs.prefix + raw_key(trace_id))  # type: ignore[attr-defined]


def test_an_object_written_without_its_mark_is_not_appended_to_twice(
    client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A put that landed while compacted_upto did not move (a crash, or a timeout after the
    write) must not make the next pass repeat its events."""
    trace_id = str(uuid.uuid4())
    index = index_of(client)
    compactor = Compactor(index, blobs_of(client))
    client.post("/v1/batches", json=make_batch(trace_id, [note(1, "a"), note(2, "b")]))
    compactor.run_pass()
    client.post("/v1/batches", json=make_batch(trace_id, [note(3, "c")]))
    with monkeypatch.context() as patch:
        patch.setattr(index, "mark_compacted", lambda *_: (_ for _ in ()).throw(RuntimeError("crash")))
        with pytest.raises(RuntimeError):
            compactor.compact(trace_id)
    client.post("/v1/batches", json=make_batch(trace_id, [note(4, "d")]))
    compactor.run_pass()
    assert [e["seq"] for e in _raw(client, trace_id)] == [1, 2, 3, 4]


class _SlowRawObjects:
    """The real folder store, with one trace's compacted object slow to write: a trace whose
    pass is costly, beside one whose pass is not."""

    def __init__(self, blobs: Any, slow_trace: str, delay_s: float) -> None:
        self._blobs = blobs
        self._slow_key = raw_key(slow_trace)
        self._delay_s = delay_s
        self.raw_puts: list[tuple[str, float, float]] = []  # key, when begun, when done

    def put(self, key: str, data: bytes) -> None:
        begun = time.monotonic()
        if key == self._slow_key:
            time.sleep(self._delay_s)
        self._blobs.put(key, data)
        if key.startswith("raw/"):
            self.raw_puts.append((key, begun, time.monotonic()))

    def __getattr__(self, name: str) -> Any:
        return getattr(self._blobs, name)


def test_a_costly_trace_waits_its_turn_but_a_small_one_beside_it_does_not(tmp_path: Path) -> None:
    """After a pass that took T, a trace's next pass waits 4 T (at most MAX_SPACING_S), so a
    trace pushed batch after batch is not rewritten whole on every batch; a small trace
    delivered at the same time is compacted at once, and the costly one still is, later."""
    index = open_index(f"sqlite:///{tmp_path / 'index.db'}")
    big, small = str(uuid.uuid4()), str(uuid.uuid4())
    blobs = _SlowRawObjects(open_blobs(f"file://{tmp_path / 'objects'}"), big, delay_s=0.6)
    worker = Worker(Compactor(index, blobs), interval_s=60, settle_s=0.05)  # type: ignore[arg-type]
    admin = Principal("admin", "admin")

    def push(trace_id: str, seq: int) -> None:
        ingest_batch(make_batch(trace_id, [note(seq, f"event {seq}")]), principal=admin, index=index, blobs=blobs)  # type: ignore[arg-type]
        worker.queue.publish(trace_id, events=1)

    def compacted(trace_id: str) -> bool:
        trace = index.get_trace(trace_id)
        return trace is not None and trace.compacted_upto == trace.last_server_seq

    worker.start()
    try:
        push(big, 1)
        wait_for(lambda: compacted(big), "the first pass over the costly trace", timeout_s=10)
        push(big, 2)
        push(small, 1)
        wait_for(lambda: compacted(small), "the small trace compacted", timeout_s=10)
        wait_for(lambda: compacted(big), "the costly trace compacted after its wait", timeout_s=10)
    finally:
        worker.stop()
        index.close()
    assert [key for key, _, _ in blobs.raw_puts] == [raw_key(big), raw_key(small), raw_key(big)]
    # the first pass took over 0.6 s, so the next waited MAX_SPACING_S (a slower machine only
    # widens the gap); without the spacing it would follow within the settle time
    (_, _, first_done), (_, second_begun, _) = blobs.raw_puts[0], blobs.raw_puts[2]
    assert second_begun - first_done >= MAX_SPACING_S * 0.9
    assert [e["payload"]["text"] for e in _lines_of(blobs.get(raw_key(big)))] == ["event 1", "event 2"]


def _lines_of(data: bytes) -> list[dict[str, Any]]:
    return [orjson.loads(line) for line in data.splitlines()]

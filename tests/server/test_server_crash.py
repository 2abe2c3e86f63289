"""kill -9 of the server in the middle of pushes: once every batch has been retried to a 200,
each event is in the index exactly once and its batch object holds it."""

from __future__ import annotations

import os
import subprocess
import threading
import time
import uuid
from collections import defaultdict
from functools import partial
from pathlib import Path
from typing import Any

import boto3
import httpx
import orjson
import psycopg
import pytest
from botocore.config import Config

from prtrace_core.canonical import event_id, id_document
from prtrace_server.blobs_s3 import s3_location
from tests.server.server_helpers import make_batch, note
from tests.support.server import SERVER, ServerProcess
from tests.support.stack import free_port
from tests.support.waiting import wait_for

pytestmark = pytest.mark.e2e

TRACES = 4
EVENTS_PER_TRACE = 360
BATCH = 40
STEP = 30  # batches overlap by ten events, as a client's resend after a lost answer would
DEADLINE_S = 120


class Pusher:
    """Clients pushing their traces' batches in order, each retried until it gets a 200."""

    def __init__(self, url: str, batches: dict[str, list[dict[str, Any]]]) -> None:
        self.url = url
        self.batches = batches
        self.answered = 0
        self.transport_errors = 0
        self.cut_off = 0
        self.statuses: set[int] = set()
        self.failures: list[BaseException] = []
        self.acknowledged: set[str] = set()
        self._lock = threading.Lock()
        self._threads = [threading.Thread(target=self._run, args=(trace_id,)) for trace_id in batches]

    def start(self) -> None:
        for thread in self._threads:
            thread.start()

    def join(self) -> None:
        for thread in self._threads:
            thread.join()

    def _run(self, trace_id: str) -> None:
        # One budget for the trace's whole push, not one per batch.
        deadline = time.monotonic() + DEADLINE_S
        try:
            with httpx.Client(timeout=10) as http:
                for batch in self.batches[trace_id]:
                    wait_for(
                        partial(self._send, http, batch),
                        f"a 200 for a batch of {trace_id}",
                        max(0.0, deadline - time.monotonic()),
                    )
        except BaseException as exc:
            self.failures.append(exc)

    def _send(self, http: httpx.Client, batch: dict[str, Any]) -> bool:
        """Post `batch` once: whether it got its 200, counting what happened otherwise."""
        try:
            response = http.post(f"{self.url}/v1/batches", json=batch)
        except httpx.TransportError as exc:
            with self._lock:
                self.transport_errors += 1
                if not isinstance(exc, httpx.ConnectError):
                    self.cut_off += 1  # sent, and the server died before answering
            return False
        with self._lock:
            self.statuses.add(response.status_code)
        if response.status_code != 200:
            return False
        answer = response.json()
        with self._lock:
            self.answered += 1
            self.acknowledged.update(answer["accepted_event_ids"])
            self.acknowledged.update(answer["duplicate_event_ids"])
        return True

    def wait_until_answered(self, answered: int) -> None:
        """Until `answered` batches have had their 200, failing early if a pusher failed."""

        def reached() -> bool:
            assert not self.failures, self.failures
            return self.answered >= answered

        wait_for(reached, lambda: f"{answered} batches answered, not {self.answered}", DEADLINE_S, 0.01)


@pytest.mark.parametrize("backend", ["postgres+s3"], indirect=True)
def test_kill_9_mid_push_loses_nothing_and_stores_nothing_twice(backend: dict[str, str], tmp_path: Path) -> None:
    events = {
        str(uuid.uuid4()): [note(n, f"event {n}", ts=f"2026-11-24T19:{n // 60:02d}:{n % 60:02d}.000Z") for n in range(1, EVENTS_PER_TRACE + 1)]
        for _ in range(TRACES)
    }
    batches = {
        trace_id: [make_batch(trace_id, sent[start : start + BATCH]) for start in range(0, EVENTS_PER_TRACE, STEP)]
        for trace_id, sent in events.items()
    }
    total = sum(len(b) for b in batches.values())
    server = ServerProcess({**backend, "PRTRACE_AUTH": "off"}, tmp_path / "server.log", free_port())
    server.start()
    pusher = Pusher(server.url, batches)
    try:
        pusher.start()
        for share in (4, 2):  # kill it a quarter of the way in, and again half way
            pusher.wait_until_answered(total // share)
            server.kill()
            time.sleep(0.3)  # pushes in flight fail; new ones find nobody listening
            server.start()
        pusher.join()
    finally:
        server.stop()
    assert not pusher.failures, pusher.failures
    assert pusher.answered == total
    assert pusher.cut_off > 0  # the kills landed on requests in flight
    assert pusher.statuses <= {200, 503}  # never a 500

    expected = {event_id(trace_id, e): (trace_id, e) for trace_id, sent in events.items() for e in sent}
    assert pusher.acknowledged == set(expected)

    # Every event in the index exactly once, server_seq gap-free per trace.
    with psycopg.connect(backend["PRTRACE_DATABASE_URL"]) as conn:
        rows = conn.execute("SELECT event_id, trace_id, seq, server_seq, object_key FROM events_index").fetchall()
        counts = dict(conn.execute("SELECT trace_id, event_count FROM traces").fetchall())
    assert sorted(row[0] for row in rows) == sorted(expected)
    by_trace: dict[str, list[int]] = defaultdict(list)
    for event, trace_id, seq, server_seq, _ in rows:
        assert expected[event][0] == trace_id
        assert expected[event][1]["seq"] == seq
        by_trace[trace_id].append(server_seq)
    for trace_id, server_seqs in by_trace.items():
        assert sorted(server_seqs) == list(range(1, EVENTS_PER_TRACE + 1))
        assert counts[trace_id] == EVENTS_PER_TRACE

    # Every indexed event's batch object holds that event, byte for byte as sent.
    bucket, prefix = s3_location(backend["PRTRACE_STORAGE_URL"])
    s3 = boto3.client("s3", region_name="us-east-1", config=Config(s3={"addressing_style": "path"}))
    objects: dict[str, dict[str, Any]] = {}
    for key in {row[4] for row in rows}:
        body = s3.get_object(Bucket=bucket, Key=prefix + key)["Body"].read()
        objects[key] = {line["event_id"]: line for line in map(orjson.loads, body.splitlines())}
    s3.close()
    for event, trace_id, _, _, key in rows:
        stored = objects[key].get(event)
        assert stored is not None, f"{key} lacks {event}"
        assert {k: v for k, v in stored.items() if k != "event_id"} == id_document(trace_id, expected[event][1])

    # The compacted objects (rewritten by the in-process worker while the server ran, and
    # brought up to date by a worker pass now) hold every event once, in trace order.
    worker = subprocess.run(
        [str(SERVER), "worker", "--once"], env={**os.environ, **backend}, capture_output=True, text=True, timeout=120
    )
    assert worker.returncode == 0, worker.stderr
    s3 = boto3.client("s3", region_name="us-east-1", config=Config(s3={"addressing_style": "path"}))
    for trace_id, sent in events.items():
        body = s3.get_object(Bucket=bucket, Key=f"{prefix}raw/{trace_id}.ndjson")["Body"].read()
        raw = [orjson.loads(line) for line in body.splitlines()]
        assert [e["event_id"] for e in raw] == [event_id(trace_id, e) for e in sent]
        assert [e["server_seq"] for e in raw] == list(range(1, EVENTS_PER_TRACE + 1))
    s3.close()

"""Exactly-once in effect, on every backend: concurrent and retried batches leave each event
stored once, server_seq gap-free, and the index and the objects in agreement."""

from __future__ import annotations

import json
import random
import threading
import uuid
from collections.abc import Collection, Sequence
from typing import Any

import pytest

from prtrace_core.canonical import event_id
from prtrace_server.app import create_app
from prtrace_server.errors import StoreUnavailable
from prtrace_server.index import EventWrite, IndexStore, IngestOutcome, TraceWrite
from prtrace_server.settings import ServerSettings
from prtrace_server.stores import open_index
from tests.server.server_helpers import (
    TestClient,
    assert_index_and_objects_agree,
    blobs_of,
    index_of,
    loopback_client,
    make_batch,
    note,
    object_keys,
)

JSON = {"Content-Type": "application/json"}


def events(count: int) -> list[dict[str, Any]]:
    return [note(n, f"event {n}", ts=f"2026-11-24T19:{n // 60 % 60:02d}:{n % 60:02d}.000Z") for n in range(1, count + 1)]


def test_concurrent_overlapping_batches_store_each_event_once(client: TestClient) -> None:
    trace_id = str(uuid.uuid4())
    universe = events(150)
    answers: list[dict[str, Any]] = []
    sent: set[str] = set()
    lock = threading.Lock()
    barrier = threading.Barrier(10)

    def push(worker: int) -> None:
        rng = random.Random(worker)
        barrier.wait()
        for _ in range(5):
            start = rng.randrange(0, 130)
            window = universe[start : start + rng.randrange(10, 60)]
            batch = rng.sample(window, len(window))
            response = client.post("/v1/batches", content=json.dumps(make_batch(trace_id, batch)), headers=JSON)
            assert response.status_code == 200, response.text
            with lock:
                answers.append(response.json())
                sent.update(event_id(trace_id, e) for e in batch)

    threads = [threading.Thread(target=push, args=(worker,)) for worker in range(10)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert len(answers) == 50
    accepted = [i for answer in answers for i in answer["accepted_event_ids"]]
    assert len(accepted) == len(set(accepted))  # no event accepted twice
    assert set(accepted) == sent  # and none lost
    for answer in answers:
        assert not set(answer["accepted_event_ids"]) & set(answer["duplicate_event_ids"])
    records = assert_index_and_objects_agree(index_of(client), blobs_of(client), trace_id)
    assert {r.event_id for r in records} == sent
    trace = client.get(f"/v1/traces/{trace_id}").json()
    assert [e["event_id"] for e in trace["events"]] == sorted(sent, key=lambda i: next(r.seq for r in records if r.event_id == i))


class CrashBeforeIndexCommit:
    """The real index, except that its next `ingest` fails before anything commits: the state a
    server killed between writing the batch object and committing the index rows leaves."""

    def __init__(self, index: IndexStore) -> None:
        self.index = index
        self.crashes = 1

    def __getattr__(self, name: str) -> Any:
        return getattr(self.index, name)

    def ingest(
        self, *, trace: TraceWrite, events: Sequence[EventWrite], user: str, may_write_any: bool, received_at: str
    ) -> IngestOutcome:
        if self.crashes:
            self.crashes -= 1
            raise StoreUnavailable("the index went away before the commit")
        return self.index.ingest(trace=trace, events=events, user=user, may_write_any=may_write_any, received_at=received_at)


@pytest.mark.parametrize("retry", ["same batch", "batch with more events"])
def test_retry_after_a_crash_between_object_write_and_index_commit_stores_each_event_once(
    settings: ServerSettings, retry: str
) -> None:
    trace_id = str(uuid.uuid4())
    first = events(20)
    again = first if retry == "same batch" else [*events(30)[25:], *first]
    crashing = CrashBeforeIndexCommit(open_index(settings.index_url))
    with loopback_client(create_app(settings, index=crashing)) as client:  # type: ignore[arg-type]
        response = client.post("/v1/batches", content=json.dumps(make_batch(trace_id, first)), headers=JSON)
        assert response.status_code == 503
        assert response.headers["Retry-After"]
        # The object was written; the index holds nothing.
        assert len(object_keys(blobs_of(client))) == 1
        assert crashing.index.event_records(trace_id) == []

        response = client.post("/v1/batches", content=json.dumps(make_batch(trace_id, again)), headers=JSON)
        assert response.status_code == 200, response.text
        expected = {event_id(trace_id, e) for e in again}
        assert set(response.json()["accepted_event_ids"]) == expected
        records = assert_index_and_objects_agree(crashing.index, blobs_of(client), trace_id)
        assert {r.event_id for r in records} == expected

        # And once more, as a client that never saw the answer would.
        response = client.post("/v1/batches", content=json.dumps(make_batch(trace_id, again)), headers=JSON)
        assert response.json()["accepted_event_ids"] == []
        assert set(response.json()["duplicate_event_ids"]) == expected
        assert len(assert_index_and_objects_agree(crashing.index, blobs_of(client), trace_id)) == len(expected)


def test_every_answered_event_is_in_the_index_and_its_object(client: TestClient, sample_batch: dict[str, Any]) -> None:
    response = client.post("/ingest", content=json.dumps(sample_batch), headers=JSON)
    records = assert_index_and_objects_agree(index_of(client), blobs_of(client), sample_batch["trace_id"])
    answered: Collection[str] = response.json()["accepted_event_ids"]
    assert {r.event_id for r in records} == set(answered)

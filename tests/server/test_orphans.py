"""The orphan sweeper deletes batch objects no index row points at once they are older than the
grace period, and nothing else — on the folder store and on S3 alike.

Ages are real: S3 gives no way to backdate an object, so the tests use a grace of a couple of
seconds and wait (by polling the store's own listing) until the objects are that old.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import uuid
from pathlib import Path

from prtrace_server.app import create_app
from prtrace_server.blobs import BlobStore
from prtrace_server.blobs_s3 import S3Blobs
from prtrace_server.metrics import Metrics
from prtrace_server.orphans import OrphanSweeper
from prtrace_server.settings import ServerSettings
from tests.server.server_helpers import (
    TestClient,
    blobs_of,
    index_of,
    loopback_client,
    make_batch,
    note,
    object_keys,
)
from tests.support.server import SERVER
from tests.support.waiting import wait_for

GRACE_S = 2.0


def batch_key(trace_id: str, content: bytes) -> str:
    return f"batches/{trace_id}/{hashlib.sha256(content).hexdigest()}.ndjson"


def put_orphan(blobs: BlobStore, trace_id: str, text: str) -> str:
    content = f'{{"orphan":"{text}"}}\n'.encode()
    key = batch_key(trace_id, content)
    blobs.put(key, content)
    return key


def ages(blobs: BlobStore) -> dict[str, float]:
    return {item.key: item.age_s for item in blobs.list_objects("batches/")}


def wait_until_older_than(blobs: BlobStore, keys: list[str], age_s: float) -> None:
    """A barrier on the store's own clock: every key listed at least `age_s` old."""
    wait_for(
        lambda: all(ages(blobs).get(key, -1) >= age_s for key in keys),
        lambda: f"{keys} to grow {age_s} s old: {ages(blobs)}",
        30,
        interval_s=0.1,
    )


def deleted_count(metrics: Metrics) -> float:
    return metrics.registry.get_sample_value("prtrace_orphans_deleted_total") or 0.0


def test_old_orphans_go_and_fresh_or_referenced_objects_stay(client: TestClient) -> None:
    index, blobs = index_of(client), blobs_of(client)
    trace_id = str(uuid.uuid4())
    client.post("/v1/batches", json=make_batch(trace_id, [note(1, "kept")]))
    [referenced] = object_keys(blobs)
    old = put_orphan(blobs, trace_id, "old")  # the trace's own batch whose commit failed
    unknown = put_orphan(blobs, str(uuid.uuid4()), "a trace that never committed")
    stray = "batches/not-a-batch.txt"  # not a name ingest writes: never touched
    blobs.put(stray, b"x")
    wait_until_older_than(blobs, [referenced, old, unknown], GRACE_S)
    fresh = put_orphan(blobs, trace_id, "fresh")  # in flight: written, not yet committed

    metrics = Metrics()
    sweeper = OrphanSweeper(index, blobs, grace_s=GRACE_S, metrics=metrics)
    assert sweeper.sweep() == 2
    assert object_keys(blobs) == sorted([referenced, fresh, stray])
    assert deleted_count(metrics) == 2
    assert client.get(f"/v1/traces/{trace_id}").json()["events"][0]["payload"]["text"] == "kept"
    assert sweeper.sweep() == 0
    assert deleted_count(metrics) == 2


def test_a_retried_batch_rewriting_an_old_orphan_makes_it_new_again(client: TestClient) -> None:
    """The race: a batch's first attempt wrote its object and never committed; an hour later
    the client retries, and the put of the same bytes comes just before the index commit. The
    put must restart the object's age, or the sweeper could take it from under the commit."""
    blobs = blobs_of(client)
    key = put_orphan(blobs, str(uuid.uuid4()), "first attempt")
    wait_until_older_than(blobs, [key], GRACE_S)
    blobs.put(key, blobs.get(key))  # the retry, same key, same bytes
    assert ages(blobs)[key] < GRACE_S
    assert OrphanSweeper(index_of(client), blobs, grace_s=GRACE_S).sweep() == 0
    assert blobs.exists(key)


def test_an_object_put_after_it_was_listed_is_not_deleted(client: TestClient) -> None:
    """The store checks the age again at the moment of deletion."""
    blobs = blobs_of(client)
    key = put_orphan(blobs, str(uuid.uuid4()), "listed old")
    wait_until_older_than(blobs, [key], GRACE_S)
    blobs.put(key, blobs.get(key))  # lands between the sweeper's listing and its delete
    assert blobs.delete([key], min_age_s=GRACE_S) == []
    assert blobs.exists(key)
    assert blobs.get(key) == b'{"orphan":"listed old"}\n'


def test_listing_and_deleting_page_through_many_objects(client: TestClient) -> None:
    blobs = blobs_of(client)
    if isinstance(blobs, S3Blobs):
        blobs.page_size = 3  # real pages of ListObjectsV2 and DeleteObjects requests, small
    trace_id = str(uuid.uuid4())
    keys = sorted(put_orphan(blobs, trace_id, f"n{n}") for n in range(8))
    blobs.put("raw/other.ndjson", b"{}\n")
    assert sorted(item.key for item in blobs.list_objects("batches/")) == keys
    assert sorted(blobs.delete([*keys[:7], f"batches/{trace_id}/{'0' * 64}.ndjson"])) == keys[:7]
    assert object_keys(blobs) == keys[7:]
    assert blobs.exists("raw/other.ndjson")


def test_the_worker_sweeps_orphans_when_it_starts(
    backend: dict[str, str], client: TestClient, tmp_path: Path
) -> None:
    blobs = blobs_of(client)
    trace_id = str(uuid.uuid4())
    client.post("/v1/batches", json=make_batch(trace_id, [note(1, "kept")]))
    orphan = put_orphan(blobs, trace_id, "old")
    wait_until_older_than(blobs, [orphan], 1.0)
    result = subprocess.run(
        [str(SERVER), "worker", "--once"], capture_output=True, text=True, timeout=120,
        env={**os.environ, **backend, "PRTRACE_ORPHAN_GRACE_S": "1"},
    )
    assert result.returncode == 0, result.stderr
    assert "deleted 1 orphaned batch object(s)" in result.stderr
    assert not blobs.exists(orphan)
    assert client.get(f"/v1/traces/{trace_id}").status_code == 200


def test_the_in_process_worker_sweeps_in_a_thread_of_its_own(backend: dict[str, str]) -> None:
    settings = ServerSettings(auth="off", orphan_grace_s=1.0, orphan_interval_s=0.2)
    with loopback_client(create_app(settings, worker=True)) as client:
        blobs = blobs_of(client)
        orphan = put_orphan(blobs, str(uuid.uuid4()), "old")
        wait_for(lambda: not blobs.exists(orphan), "the sweep")
        text = client.get("/metrics").text
        assert "prtrace_orphans_deleted_total 1.0" in text

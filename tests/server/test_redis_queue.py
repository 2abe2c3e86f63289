"""The Redis Streams compaction queue: ingest publishes after its commit, workers on any replica
compact promptly and acknowledge, a dead worker's messages are claimed by another, and Redis
going away loses nothing — all against a real redis-server.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
import redis

from prtrace_server.app import create_app
from prtrace_server.blobs import BlobStore
from prtrace_server.compaction import Compactor, Worker, raw_key
from prtrace_server.errors import StoreCorrupt
from prtrace_server.index import IndexStore
from prtrace_server.metrics import Metrics
from prtrace_server.queue import GROUP, RedisQueue
from prtrace_server.settings import ServerSettings
from prtrace_server.stores import open_blobs, open_index
from tests.conftest import S3Endpoint
from tests.server.server_helpers import loopback_client, make_batch, note
from tests.support.server import ServerProcess, start_worker
from tests.support.stack import LocalRedis, free_port, start_redis
from tests.support.waiting import wait_for


def raw_seqs(blobs: BlobStore, trace_id: str) -> list[int]:
    try:
        data = blobs.get(raw_key(trace_id))
    except StoreCorrupt:
        return []
    return [orjson.loads(line)["seq"] for line in data.splitlines()]


def consumers(client: redis.Redis, stream: str) -> list[dict[str, Any]]:
    try:
        found: list[dict[str, Any]] = client.xinfo_consumers(stream, GROUP)
    except redis.ResponseError:  # no stream or no group yet
        return []
    return found


def pending(client: redis.Redis, stream: str) -> int:
    try:
        return int(client.xpending(stream, GROUP)["pending"])
    except redis.ResponseError:
        return 0


@pytest.fixture
def redis_client(redis_server: str) -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(redis_server, decode_responses=True)
    yield client
    client.close()


class WorkerThread:
    """A Worker in a thread of the test, on stores and a queue of its own, as another replica's."""

    def __init__(self, index: IndexStore, blobs: BlobStore, queue: RedisQueue, *, interval_s: float = 3600) -> None:
        self.metrics = Metrics()
        self.queue = queue
        self.worker = Worker(Compactor(index, blobs), queue=queue, interval_s=interval_s, metrics=self.metrics)

    def __enter__(self) -> WorkerThread:
        self.worker.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.worker.stop()
        self.queue.close()

    def count(self, name: str) -> float:
        value = self.metrics.registry.get_sample_value(f"prtrace_{name}_total")
        return value or 0.0


def test_a_batch_is_published_after_commit_and_a_worker_compacts_it_promptly(
    backend: dict[str, str], redis_env: dict[str, str], redis_client: redis.Redis
) -> None:
    stream = redis_env["PRTRACE_REDIS_STREAM"]
    settings = ServerSettings(auth="off")
    index, blobs = open_index(settings.index_url), open_blobs(settings.blob_url)
    queue = RedisQueue(redis_env["PRTRACE_REDIS_URL"], stream=stream, consumer="other-replica")
    # The worker sweeps once, at start, and then never again: what it compacts later, it heard of.
    with loopback_client(create_app(settings)) as client, WorkerThread(index, blobs, queue) as other:
        wait_for(lambda: consumers(redis_client, stream), "the worker to join the group")
        trace_id = str(uuid.uuid4())
        answer = client.post("/v1/batches", json=make_batch(trace_id, [note(n, f"n{n}") for n in range(1, 6)]))
        assert len(answer.json()["accepted_event_ids"]) == 5
        assert wait_for(lambda: raw_seqs(blobs, trace_id), "compaction") == [1, 2, 3, 4, 5]
        wait_for(lambda: pending(redis_client, stream) == 0, "the acknowledgement")
        assert other.count("compactions") == 1
    (message_id, fields), = redis_client.xrange(stream)
    assert fields == {"trace_id": trace_id, "events": "5", "upto": "5"}
    [group] = redis_client.xinfo_groups(stream)
    assert group["last-delivered-id"] == message_id and group["pending"] == 0
    # a batch of duplicates adds nothing, so it tells nobody
    with loopback_client(create_app(settings)) as client:
        client.post("/v1/batches", json=make_batch(trace_id, [note(1, "n1")]))
    assert redis_client.xlen(stream) == 1
    index.close()
    blobs.close()


def test_without_redis_the_app_never_loads_the_redis_package(tmp_path: Path) -> None:
    code = (
        "import sys; from prtrace_server.app import create_app; from prtrace_server.settings import ServerSettings; "
        f"create_app(ServerSettings(data_dir={str(tmp_path)!r}), worker=True); "
        "assert 'redis' not in sys.modules, 'redis was imported'"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("PRTRACE_")}
    subprocess.run([sys.executable, "-c", code], check=True, env=env, timeout=60)


@pytest.mark.e2e
def test_a_worker_killed_before_its_ack_leaves_the_message_to_another(
    backend: dict[str, str], redis_env: dict[str, str], redis_client: redis.Redis, tmp_path: Path
) -> None:
    """kill -9 of a real `prtrace-server worker` that has read a message and not acknowledged
    it: another worker claims the message (XAUTOCLAIM) and compacts the trace."""
    stream = redis_env["PRTRACE_REDIS_STREAM"]
    settings = ServerSettings(auth="off")
    index, blobs = open_index(settings.index_url), open_blobs(settings.blob_url)
    trace_id = str(uuid.uuid4())
    with ExitStack() as stack:
        stack.callback(index.close)
        stack.callback(blobs.close)
        dead = stack.enter_context(
            start_worker({**backend, **redis_env}, tmp_path / "worker.log", options=["--interval", "3600"])
        )
        stack.callback(dead.kill)  # (a no-op once it is dead; Popen's exit then waits for it)
        [first] = wait_for(lambda: consumers(redis_client, stream), "the first worker to join the group")
        assert str(dead.pid) in first["name"]
        # The test holds the trace's compaction lock: the first worker reads the message and
        # cannot compact, so it holds the message unacknowledged.
        with index.compaction_lock(trace_id) as held:
            assert held
            with loopback_client(create_app(settings)) as client:
                client.post("/v1/batches", json=make_batch(trace_id, [note(1, "a"), note(2, "b")]))
            wait_for(
                lambda: redis_client.xpending(stream, GROUP)["consumers"] == [{"name": first["name"], "pending": 1}],
                "the first worker to read the message",
            )
            dead.send_signal(signal.SIGKILL)
            dead.wait()
            # Its only pass over the traces, at start, finds the trace locked too: what it
            # compacts later, it took over from the dead worker.
            queue = RedisQueue(redis_env["PRTRACE_REDIS_URL"], stream=stream, consumer="survivor", claim_idle_s=0.2)
            survivor = stack.enter_context(WorkerThread(index, blobs, queue))
            wait_for(lambda: survivor.count("compaction_claimed") == 1, "the claim")
            assert raw_seqs(blobs, trace_id) == []
        assert wait_for(lambda: raw_seqs(blobs, trace_id), "compaction") == [1, 2]
        wait_for(lambda: pending(redis_client, stream) == 0, "the acknowledgement")
        assert survivor.count("compactions") == 1
        assert [c["name"] for c in consumers(redis_client, stream) if c["pending"]] == []


@pytest.mark.e2e
def test_a_batch_taken_by_one_replica_is_compacted_by_the_worker_of_another(
    s3_server: S3Endpoint, postgres_url: str, s3_bucket: str, redis_env: dict[str, str],
    redis_client: redis.Redis, tmp_path: Path,
) -> None:
    env = {
        "PRTRACE_DATA_DIR": str(tmp_path / "data"), "PRTRACE_DATABASE_URL": postgres_url,
        "PRTRACE_STORAGE_URL": f"s3://{s3_bucket}", "PRTRACE_AUTH": "off", **s3_server.env(), **redis_env,
    }
    stream = redis_env["PRTRACE_REDIS_STREAM"]
    taker = ServerProcess(env, tmp_path / "taker.log", options=["--no-worker"])
    other = ServerProcess(env, tmp_path / "other.log")
    try:
        taker.start()
        other.start()
        [member] = wait_for(lambda: consumers(redis_client, stream), "the other replica's worker to join")
        assert str(other.pid) in member["name"]
        trace_id = str(uuid.uuid4())
        answer = httpx.post(f"{taker.url}/v1/batches", json=make_batch(trace_id, [note(1, "a"), note(2, "b")]))
        assert answer.status_code == 200
        s3 = s3_server.client()

        def compacted() -> list[int]:
            try:
                body = s3.get_object(Bucket=s3_bucket, Key=raw_key(trace_id))["Body"].read()
            except s3.exceptions.NoSuchKey:
                return []
            return [orjson.loads(line)["seq"] for line in body.splitlines()]

        assert wait_for(compacted, "the other replica to compact the trace") == [1, 2]
        wait_for(lambda: pending(redis_client, stream) == 0, "the acknowledgement")
        [(message_id, fields)] = redis_client.xrange(stream)
        assert fields["trace_id"] == trace_id
        [group] = redis_client.xinfo_groups(stream)
        assert group["last-delivered-id"] == message_id
        assert "prtrace_compactions_total 1.0" in httpx.get(f"{other.url}/metrics").text
        assert "prtrace_compactions_total 0.0" in httpx.get(f"{taker.url}/metrics").text
    finally:
        taker.stop()
        other.stop()
    for server in (taker, other):
        assert "Traceback" not in server.log.read_text(errors="replace")


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[LocalRedis]:
    """A redis-server of this test's own, which it may stop, freeze and start again."""
    server = start_redis(tmp_path / "redis")
    try:
        yield server
    finally:
        if server.process is not None and server.process.poll() is None:
            os.kill(server.process.pid, signal.SIGCONT)
        server.stop()


def test_a_redis_that_does_not_answer_costs_one_timeout_then_is_left_alone(
    own_redis: LocalRedis, caplog: pytest.LogCaptureFixture
) -> None:
    assert own_redis.process is not None
    probe = redis.Redis.from_url(own_redis.url(), decode_responses=True)
    connections = int(probe.info("stats")["total_connections_received"])
    metrics = Metrics()
    queue = RedisQueue(own_redis.url(), stream="s", metrics=metrics, timeout_s=0.3, backoff_s=0.5)
    caplog.set_level(logging.WARNING, logger="prtrace_server.queue")
    os.kill(own_redis.process.pid, signal.SIGSTOP)  # up, but answering nothing
    try:
        for _ in range(20):
            queue.publish("t", events=1)  # never raises
    finally:
        os.kill(own_redis.process.pid, signal.SIGCONT)
    # One connection was tried (and timed out); the other 19 hints were dropped without a try.
    # A new connection is accepted after every one queued before it: a barrier for the count.
    with redis.Redis.from_url(own_redis.url(), decode_responses=True) as after:
        assert int(after.info("stats")["total_connections_received"]) == connections + 2
    assert metrics.registry.get_sample_value("prtrace_compaction_hints_dropped_total") == 20
    before = probe.xlen("s")  # 0, or 1 if Redis ran the timed-out XADD once it woke: a hint twice is harmless
    wait_for(lambda: (queue.publish("t", events=1), probe.xlen("s"))[1] > before, "the queue to try again")
    queue.publish("t", events=1)
    assert probe.xlen("s") == before + 2
    messages = [r.getMessage() for r in caplog.records]
    assert sum("is unavailable" in m for m in messages) == 1
    assert sum("reachable again" in m for m in messages) == 1
    queue.close()
    probe.close()


@pytest.mark.e2e
@pytest.mark.parametrize("backend", ["embedded"], indirect=True)  # the queue is the same on any storage
def test_redis_stopped_mid_traffic_loses_nothing_and_the_stream_takes_over_again(
    backend: dict[str, str], own_redis: LocalRedis, tmp_path: Path
) -> None:
    stream = "prtrace:compaction"  # the default
    server = ServerProcess(
        {**backend, "PRTRACE_AUTH": "off", "PRTRACE_REDIS_URL": own_redis.url()}, tmp_path / "server.log", free_port()
    )
    blobs = open_blobs(ServerSettings().blob_url)
    trace_id = str(uuid.uuid4())
    statuses: list[int] = []
    stop = threading.Event()

    def traffic() -> None:
        with httpx.Client(base_url=server.url, timeout=30) as http:
            while not stop.is_set():
                seq = len(statuses) + 1
                statuses.append(http.post("/v1/batches", json=make_batch(trace_id, [note(seq, f"n{seq}")])).status_code)
                time.sleep(0.02)

    def compacted_through(count: int) -> bool:
        return raw_seqs(blobs, trace_id)[:count] == list(range(1, count + 1))

    def messages() -> int:
        with redis.Redis.from_url(own_redis.url(), decode_responses=True) as probe:
            return int(probe.xlen(stream))

    server.start()
    sender = threading.Thread(target=traffic)
    try:
        sender.start()
        wait_for(lambda: messages() >= 3, "messages while Redis is up")
        own_redis.stop()
        sent = len(statuses)
        wait_for(lambda: len(statuses) >= sent + 20, "traffic while Redis is down")
        count = len(statuses)
        wait_for(lambda: compacted_through(count), "the periodic sweep to compact")
        own_redis.start()  # on the same port, empty: no stream, no group
        wait_for(lambda: messages() >= 3, "messages again once Redis is back")
        stop.set()
        sender.join()
        with redis.Redis.from_url(own_redis.url(), decode_responses=True) as probe:
            last = probe.xrevrange(stream, count=1)[0][0]
            wait_for(
                lambda: [(g["last-delivered-id"], g["pending"]) for g in probe.xinfo_groups(stream)] == [(last, 0)],
                "the worker to read the stream again",
            )
        wait_for(lambda: compacted_through(len(statuses)), "the last batches to be compacted")
        assert len(raw_seqs(blobs, trace_id)) == len(statuses)
    finally:
        stop.set()
        if sender.is_alive():
            sender.join()
        server.stop()
        blobs.close()
    assert set(statuses) == {200}, statuses
    log = server.log.read_text(errors="replace")
    assert "Traceback" not in log
    assert log.count("is unavailable") == 1, log
    assert log.count("reachable again") == 1, log

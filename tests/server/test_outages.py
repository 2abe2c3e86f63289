"""A store going down is a 503 with Retry-After, never a 500 or a hung request, and the same
server process serves again once the store is back — no restart.

These tests stop services, so they start their own PostgreSQL and S3 server (once for this
module) rather than the session's.
"""

from __future__ import annotations

import subprocess
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import S3Endpoint, start_postgres_cluster
from tests.server.server_helpers import make_batch, note
from tests.support.server import SERVER, ServerProcess
from tests.support.stack import (
    S3_ACCESS_KEY,
    S3_SECRET_KEY,
    LocalPostgres,
    LocalS3,
    free_port,
    start_s3,
)
from tests.support.waiting import wait_for

pytestmark = pytest.mark.e2e

RECOVERY_S = 30


@pytest.fixture(scope="module")
def own_postgres(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalPostgres]:
    pg = start_postgres_cluster(tmp_path_factory.mktemp("outage-postgres") / "pgdata")
    try:
        yield pg
    finally:
        pg.stop()


@pytest.fixture(scope="module")
def own_s3(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalS3]:
    s3 = start_s3(tmp_path_factory.mktemp("outage-s3"))
    try:
        yield s3
    finally:
        s3.kill()  # its data is thrown away: no need to wait seconds for a clean shutdown


def batch(trace_id: str, first: int, count: int) -> dict[str, Any]:
    return make_batch(trace_id, [note(n, f"n{n}") for n in range(first, first + count)])


def assert_unavailable(response: httpx.Response, store: str) -> None:
    assert response.status_code == 503, response.text
    assert int(response.headers["Retry-After"]) >= 1
    assert store in response.text


def retry_until_ok(request: Any) -> tuple[httpx.Response, int]:
    """Send until the answer is 200, as a client does; every other answer must be a 503."""
    sent: list[httpx.Response] = []

    def answered() -> httpx.Response | None:
        response: httpx.Response = request()
        sent.append(response)
        if response.status_code == 200:
            return response
        assert response.status_code == 503, response.text
        return None

    response = wait_for(answered, lambda: f"recovery: {sent[-1].text}", RECOVERY_S, interval_s=0.2)
    return response, len(sent)


@pytest.mark.parametrize("outage", ["stopped", "killed"])
def test_postgresql_down_is_a_503_and_the_server_recovers_by_itself(
    own_postgres: LocalPostgres, s3_server: S3Endpoint, s3_bucket: str, tmp_path: Path, outage: str
) -> None:
    database = f"outage_{uuid.uuid4().hex[:12]}"
    own_postgres.create_database(database)
    env = {
        "PRTRACE_DATA_DIR": str(tmp_path / "data"),
        # The embedded server's own socket folder, as its URIs name it.
        "PRTRACE_DATABASE_URL": f"postgresql://postgres:@/{database}?host={own_postgres.pgdata}&port={own_postgres.port}",
        "PRTRACE_STORAGE_URL": f"s3://{s3_bucket}",
        "PRTRACE_AUTH": "required",
        **s3_server.env(),
    }
    created = subprocess.run(
        [str(SERVER), "token", "create", "--user", "alice"], env={**env, "PATH": ""}, capture_output=True, text=True, check=True
    )
    auth = {"Authorization": f"Bearer {created.stdout.strip()}"}
    server = ServerProcess(env, tmp_path / "server.log", free_port())
    server.start()
    trace_id = str(uuid.uuid4())
    try:
        with httpx.Client(base_url=server.url, headers=auth, timeout=30) as http:
            assert http.post("/v1/batches", json=batch(trace_id, 1, 5)).status_code == 200
            # A clean shutdown, or a crash that leaves PostgreSQL to recover from its WAL.
            if outage == "stopped":
                own_postgres.stop()
            else:
                own_postgres.kill()
            try:
                # Each request waits out the index's connection wait before its 503: sent
                # together, they wait together.
                started = time.monotonic()
                with ThreadPoolExecutor(3) as pool:
                    posted = pool.submit(http.post, "/v1/batches", json=batch(trace_id, 6, 5))
                    read = pool.submit(http.get, f"/v1/traces/{trace_id}")
                    readiness = pool.submit(http.get, "/readyz")
                    assert_unavailable(posted.result(), "PostgreSQL")
                    assert time.monotonic() - started < 10  # seconds, not a hung request
                    assert_unavailable(read.result(), "PostgreSQL")
                    ready = readiness.result()
                assert_unavailable(ready, "PostgreSQL")
                assert "PostgreSQL" in ready.json()["index"]
                assert ready.json()["objects"] == "ok"
            finally:
                own_postgres.start()
            pid = server.pid
            answer, _ = retry_until_ok(lambda: http.post("/v1/batches", json=batch(trace_id, 6, 5)))
            assert server.pid == pid and server.process is not None and server.process.poll() is None
            assert len(answer.json()["accepted_event_ids"]) == 5
            trace = http.get(f"/v1/traces/{trace_id}").json()
            assert [e["seq"] for e in trace["events"]] == list(range(1, 11))
            assert [e["server_seq"] for e in trace["events"]] == list(range(1, 11))
            assert http.get("/readyz").status_code == 200
    finally:
        server.stop()
    assert "Traceback" not in server.log.read_text(errors="replace")


def test_s3_down_is_a_503_and_the_server_recovers_by_itself(
    own_s3: LocalS3, postgres_url: str, tmp_path: Path
) -> None:
    bucket = f"outage-{uuid.uuid4().hex[:12]}"
    own_s3.create_bucket(bucket)
    endpoint = S3Endpoint(own_s3.endpoint, S3_ACCESS_KEY, S3_SECRET_KEY)
    env = {
        "PRTRACE_DATA_DIR": str(tmp_path / "data"),
        "PRTRACE_DATABASE_URL": postgres_url,
        "PRTRACE_STORAGE_URL": f"s3://{bucket}",
        "PRTRACE_AUTH": "off",
        **endpoint.env(),
    }
    server = ServerProcess(env, tmp_path / "server.log", free_port())
    server.start()
    trace_id = str(uuid.uuid4())
    try:
        with httpx.Client(base_url=server.url, timeout=30) as http:
            assert http.post("/v1/batches", json=batch(trace_id, 1, 5)).status_code == 200
            own_s3.kill()
            try:
                started = time.monotonic()
                assert_unavailable(http.post("/v1/batches", json=batch(trace_id, 6, 5)), "S3")
                assert time.monotonic() - started < 10
                # Reads take the events from their batch objects.
                assert_unavailable(http.get(f"/v1/traces/{trace_id}"), "S3")
                assert_unavailable(http.get(f"/v1/traces/{trace_id}/events"), "S3")
                ready = http.get("/readyz")
                assert_unavailable(ready, "S3")
                assert ready.json()["index"] == "ok"
                assert "S3" in ready.json()["objects"]
                # The index alone still answers what it holds.
                assert http.get("/v1/traces").status_code == 200
            finally:
                own_s3.start()
            pid = server.pid
            answer, _ = retry_until_ok(lambda: http.post("/v1/batches", json=batch(trace_id, 6, 5)))
            assert server.pid == pid and server.process is not None and server.process.poll() is None
            assert len(answer.json()["accepted_event_ids"]) == 5
            trace = http.get(f"/v1/traces/{trace_id}").json()
            assert [e["seq"] for e in trace["events"]] == list(range(1, 11))
            assert http.get("/readyz").status_code == 200
    finally:
        server.stop()
    assert "Traceback" not in server.log.read_text(errors="replace")

"""The real `prtrace-server serve` process, spoken to over HTTP."""

from __future__ import annotations

import copy
import gzip
import json
import signal
import threading
import zlib
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.server import ServerProcess

pytestmark = pytest.mark.e2e

GZIP = {"Content-Type": "application/json", "Content-Encoding": "gzip"}


@pytest.fixture
def server(live_server: ServerProcess) -> str:
    """The real server process on each backend (auth off); its base URL."""
    return live_server.url


def test_real_server_runs_the_run_guides_dedup_steps(server: str, sample_batch: dict[str, Any]) -> None:
    first = httpx.post(f"{server}/ingest", json=sample_batch)
    assert first.status_code == 200
    assert len(first.json()["accepted_event_ids"]) == 9
    again = httpx.post(f"{server}/ingest", json=sample_batch)
    assert again.json()["accepted_event_ids"] == []
    changed = copy.deepcopy(sample_batch)
    next(e for e in changed["events"] if e["type"] == "commit")["payload"]["files_changed"] = 3
    assert len(httpx.post(f"{server}/ingest", json=changed).json()["accepted_event_ids"]) == 1
    trace = httpx.get(f"{server}/v1/traces/{sample_batch['trace_id']}").json()
    assert len(trace["events"]) == 10


def test_real_server_takes_gzip_bodies(server: str, sample_batch: dict[str, Any]) -> None:
    body = gzip.compress(json.dumps(sample_batch).encode())
    response = httpx.post(f"{server}/v1/batches", content=body, headers=GZIP)
    assert response.status_code == 200
    assert len(response.json()["accepted_event_ids"]) == 9
    again = httpx.post(f"{server}/v1/batches", content=body, headers=GZIP)
    assert len(again.json()["duplicate_event_ids"]) == 9


def test_real_server_answers_413_to_an_oversized_upload_instead_of_resetting(server: str) -> None:
    body = b'{"events": ["' + b"x" * (20 * 1024 * 1024) + b'"]}'
    response = httpx.post(f"{server}/v1/batches", content=body, headers={"Content-Type": "application/json"})
    assert response.status_code == 413


def test_real_server_answers_413_to_a_gzip_bomb(server: str) -> None:
    deflate = zlib.compressobj(1, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    zeros = bytes(1 << 20)
    bomb = b"".join([deflate.compress(zeros) for _ in range(64)] + [deflate.flush()])
    response = httpx.post(f"{server}/v1/batches", content=bomb, headers=GZIP)
    assert response.status_code == 413


def test_real_server_stores_each_event_once_under_concurrent_pushes(
    server: str, sample_batch: dict[str, Any]
) -> None:
    accepted: list[str] = []
    lock = threading.Lock()
    barrier = threading.Barrier(6)

    def push() -> None:
        with httpx.Client() as client:
            barrier.wait()
            answer = client.post(f"{server}/v1/batches", json=sample_batch, timeout=30).json()
        with lock:
            accepted.extend(answer["accepted_event_ids"])

    threads = [threading.Thread(target=push) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(accepted) == len(set(accepted)) == 9


def test_several_server_processes_share_the_port_and_the_stores(tmp_path: Path, sample_batch: dict[str, Any]) -> None:
    env = {"PRTRACE_AUTH": "off", "PRTRACE_DATA_DIR": str(tmp_path / "data")}
    server = ServerProcess(env, tmp_path / "serve.log", options=["--processes", "2"], ready_path="/readyz")
    try:
        server.start()
        with httpx.Client() as client:
            answers = [client.post(f"{server.url}/ingest", json=sample_batch).json() for _ in range(4)]
            assert sum(len(a["accepted_event_ids"]) for a in answers) == len(sample_batch["events"])
            trace = client.get(f"{server.url}/v1/traces/{sample_batch['trace_id']}").json()
        assert len(trace["events"]) == len(sample_batch["events"])
    finally:
        status = server.stop(signal.SIGINT, timeout_s=30)
    assert status != -signal.SIGKILL, "serve --processes 2 did not stop on SIGINT within 30 s"
    assert "Traceback" not in (tmp_path / "serve.log").read_text()

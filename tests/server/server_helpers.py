"""Helpers the server tests share (fixtures live in conftest.py; a real server process is
tests.support.server's)."""

from __future__ import annotations

import json
import os
import warnings
from collections import Counter
from pathlib import Path
from typing import Any

import orjson

# Starlette's test client prefers the `httpx2` package and warns when it falls back to httpx;
# the fallback is what this project installs, so that one warning is not an error here.
with warnings.catch_warnings():
    warnings.filterwarnings("ignore", message=r"Using `httpx` with `starlette\.testclient`")
    from fastapi.testclient import TestClient

from prtrace_server.blobs import BlobStore
from prtrace_server.blobs_folder import FolderBlobs
from prtrace_server.blobs_s3 import S3Blobs
from prtrace_server.index import EventRecord, IndexStore

__all__ = [
    "LOOPBACK_PEER",
    "LOOPBACK_URL",
    "SAMPLE_BATCH",
    "TestClient",
    "assert_index_and_objects_agree",
    "blobs_of",
    "index_of",
    "load_sample",
    "loopback_client",
    "make_batch",
    "note",
    "object_keys",
]

SAMPLE_BATCH = Path(__file__).parent.parent / "fixtures" / "sample_batch.json"
TRACE_A = "0b9f8a52-6c1e-4d3a-9f57-2a4c1e8d7b10"
# How a test client reaches an auth-off app: that mode answers only loopback peers asking
# for a loopback host name (the test client's defaults are neither).
LOOPBACK_URL = "http://127.0.0.1"
LOOPBACK_PEER = ("127.0.0.1", 50000)


def load_sample() -> dict[str, Any]:
    """A fresh copy of the run guide's sample batch."""
    batch: dict[str, Any] = json.loads(SAMPLE_BATCH.read_text(encoding="utf-8"))
    return batch


def loopback_client(app: Any) -> TestClient:
    """A test client for an auth-off app, from a loopback peer to a loopback host name."""
    return TestClient(app, base_url=LOOPBACK_URL, client=LOOPBACK_PEER)


def index_of(client: TestClient) -> IndexStore:
    """The index store behind a test client's app."""
    index: IndexStore = client.app.state.services.index  # type: ignore[attr-defined]
    return index


def blobs_of(client: TestClient) -> BlobStore:
    """The object store behind a test client's app."""
    blobs: BlobStore = client.app.state.services.blobs  # type: ignore[attr-defined]
    return blobs


def object_keys(blobs: BlobStore, prefix: str = "batches/") -> list[str]:
    """Every key under the prefix, sorted, whichever store holds them."""
    if isinstance(blobs, FolderBlobs):
        return sorted(
            path.relative_to(blobs.root).as_posix()
            for path in (blobs.root / prefix).rglob("*")
            if path.is_file() and not path.name.startswith(".")
        )
    assert isinstance(blobs, S3Blobs), type(blobs)
    import boto3
    from botocore.config import Config

    # A client of the test's own, from the same AWS_* environment the store was opened with.
    s3 = boto3.client(
        "s3", region_name=os.environ.get("AWS_REGION", "us-east-1"), config=Config(s3={"addressing_style": "path"})
    )
    keys: list[str] = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=blobs.bucket, Prefix=blobs.prefix + prefix):
        keys += [item["Key"][len(blobs.prefix) :] for item in page.get("Contents", [])]
    s3.close()
    return sorted(keys)


def assert_index_and_objects_agree(index: IndexStore, blobs: BlobStore, trace_id: str) -> list[EventRecord]:
    """Each event indexed once, server_seq 1..n without a gap, the trace's counters match, and
    every row's object exists and holds that very event. Returns the rows."""
    records = index.event_records(trace_id)
    ids = Counter(record.event_id for record in records)
    assert not [event for event, count in ids.items() if count > 1]
    assert sorted(record.server_seq for record in records) == list(range(1, len(records) + 1))
    trace = index.get_trace(trace_id)
    assert trace is not None
    assert (trace.event_count, trace.last_server_seq) == (len(records), len(records))
    lines: dict[str, dict[str, Any]] = {}
    for key in {record.object_key for record in records}:
        for line in blobs.get(key).splitlines():
            stored = orjson.loads(line)
            lines.setdefault(key + " " + stored["event_id"], stored)
    for record in records:
        stored = lines.get(record.object_key + " " + record.event_id)
        assert stored is not None, f"{record.object_key} lacks {record.event_id}"
        assert stored["trace_id"] == trace_id
        assert stored["type"] == record.type
    return records


def make_batch(trace_id: str, events: list[Any], **envelope: Any) -> dict[str, Any]:
    """A small batch for a trace, with envelope fields overridable."""
    batch: dict[str, Any] = {
        "trace_id": trace_id,
        "repo": {"name": "acme/webapp", "branch": "main", "language": ["python"]},
        "pr": None,
        "developer": {"user_id": "dev-1", "ide_version": "0.9.2", "os": "Linux"},
        "events": events,
    }
    batch.update(envelope)
    return batch


def note(seq: int | None, text: str, ts: str = "2026-11-24T19:00:00.000Z") -> dict[str, Any]:
    """An annotation event; `seq` None leaves seq out."""
    event: dict[str, Any] = {"ts": ts, "type": "annotation", "payload": {"text": text}}
    if seq is not None:
        event["seq"] = seq
    return event

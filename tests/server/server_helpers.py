"""Helpers the server tests share (fixtures live in conftest.py)."""

from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import Any

# Starlette's test client prefers the `httpx2` package and warns when it falls back to httpx;
# the fallback is what this project installs, so that one warning is not an error here.
with warnings.catch_warnings():
    warnings.filterwarnings("ignore", message=r"Using `httpx` with `starlette\.testclient`")
    from fastapi.testclient import TestClient

from prtrace_server.index import IndexStore

__all__ = ["SAMPLE_BATCH", "TestClient", "index_of", "load_sample", "make_batch", "note"]

SAMPLE_BATCH = Path(__file__).parent.parent / "fixtures" / "sample_batch.json"
TRACE_A = "0b9f8a52-6c1e-4d3a-9f57-2a4c1e8d7b10"


def load_sample() -> dict[str, Any]:
    """A fresh copy of the run guide's sample batch."""
    batch: dict[str, Any] = json.loads(SAMPLE_BATCH.read_text(encoding="utf-8"))
    return batch


def index_of(client: TestClient) -> IndexStore:
    """The index store behind a test client's app."""
    index: IndexStore = client.app.state.services.index  # type: ignore[attr-defined]
    return index


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

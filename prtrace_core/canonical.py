"""Canonical JSON and event ids.

The id is what makes re-sending safe: same content, same id, stored once. Both sides compute it
from the event exactly as it travels (no defaults filled in, `ts` as sent), so the rule lives
here and nowhere else.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any

__all__ = ["ID_FIELDS", "canonical_json", "event_id", "id_document"]

ID_FIELDS = ("trace_id", "seq", "ts", "type", "payload")


def canonical_json(value: Any) -> bytes:
    """UTF-8 JSON with sorted keys and no spaces — the bytes an event id is the hash of.

    Raises ValueError for text that cannot be UTF-8 (a lone surrogate), so it never hashes
    something it could not store.
    """
    text = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise ValueError("text holds a lone surrogate and is not valid UTF-8") from exc


def id_document(trace_id: str, event: Mapping[str, Any]) -> dict[str, Any]:
    """The fields an event id covers: trace_id, seq, ts, type, payload, and actor when set."""
    doc: dict[str, Any] = {
        "trace_id": trace_id,
        "seq": event.get("seq"),
        "ts": event.get("ts"),
        "type": event.get("type"),
        "payload": event.get("payload"),
    }
    actor = event.get("actor")
    if actor is not None:
        doc["actor"] = actor
    return doc


def event_id(trace_id: str, event: Mapping[str, Any]) -> str:
    """sha256 hex of the canonical JSON of the event's identifying fields."""
    return hashlib.sha256(canonical_json(id_document(trace_id, event))).hexdigest()

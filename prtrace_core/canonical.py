"""Canonical JSON and event ids.

The id is what makes re-sending safe: same content, same id, stored once. Both sides compute it
from the event exactly as it travels (no defaults filled in, `ts` as sent), so the rule lives
here and nowhere else.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from typing import Any

import orjson

__all__ = ["ID_FIELDS", "canonical_event", "canonical_json", "event_id", "id_document", "reference_json"]

ID_FIELDS = ("trace_id", "seq", "ts", "type", "payload")

# orjson writes what `json.dumps` writes (sorted keys, no spaces, UTF-8, the same escapes and
# the same shortest float digits) except for floats below 1e-4, which it spells `0.00001` or
# `2.5e-8` where Python writes `1e-05` and `2.5e-08`. Output that might hold one goes the
# reference way; a string that merely looks like one only costs the slower path.
_MAYBE_TINY_FLOAT = re.compile(rb"\de-|0\.0000")


def reference_json(value: Any) -> bytes:
    """The contract's definition: `json.dumps(v, sort_keys=True, separators=(",", ":"),
    ensure_ascii=False)` as UTF-8. Raises ValueError on a lone surrogate."""
    text = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise ValueError("text holds a lone surrogate and is not valid UTF-8") from exc


def canonical_json(value: Any) -> bytes:
    """UTF-8 JSON with sorted keys and no spaces — the bytes an event id is the hash of.

    Byte for byte `reference_json`, about ten times faster. Raises ValueError for text that
    cannot be UTF-8 (a lone surrogate), so it never hashes something it could not store.
    """
    try:
        out = orjson.dumps(value, option=orjson.OPT_SORT_KEYS)
    except orjson.JSONEncodeError:
        return reference_json(value)  # integers beyond 64 bits, surrogates: the reference decides
    # `in` is a memchr scan, many times faster than the regex; most output has neither
    if (b"e-" in out or b"0.0000" in out) and _MAYBE_TINY_FLOAT.search(out):
        return reference_json(value)
    return out


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


def canonical_event(trace_id: str, event: Mapping[str, Any]) -> tuple[bytes, str]:
    """The canonical bytes of the event's id document and the event id (their sha256 hex)."""
    data = canonical_json(id_document(trace_id, event))
    return data, hashlib.sha256(data).hexdigest()


def event_id(trace_id: str, event: Mapping[str, Any]) -> str:
    """sha256 hex of the canonical JSON of the event's identifying fields."""
    return canonical_event(trace_id, event)[1]

"""Accepting a batch: check each event on its own, compute its id, store the new ones once.

The order of the write is what makes retries safe: the batch object (only canonical event
content, so a retry writes the same bytes under the same key) goes to the object store first,
then one index transaction records the events. The index never points at a missing object,
and an event is acknowledged only once that transaction has committed.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
from pydantic import ValidationError

from prtrace_core.canonical import canonical_json, fast_canonical_json, id_document
from prtrace_core.schema import Envelope
from prtrace_core.stats import is_green
from prtrace_core.timestamps import format_ts, now_ts, parse_ts
from prtrace_core.validation import MAX_EVENT_BYTES, Problem, check_event

from .auth import Principal
from .blobs import BlobStore
from .envelope import check_envelope_size, merge_envelope
from .errors import BodyTooLarge, Forbidden, InvalidBatch, SeqModeChanged
from .index import KEY_TEXT_MAX_BYTES, STATS_COLUMNS, EventWrite, IndexStore, SeqMode, TraceWrite
from .json_limits import INT_MIN, SEQ_MAX, find_problem, too_deep

__all__ = [
    "INDEX_TEXT_MAX",
    "MAX_EVENTS",
    "BatchPlan",
    "Candidate",
    "batch_object",
    "check_one",
    "event_write",
    "index_columns",
    "ingest_batch",
    "plan_batch",
    "split_batch",
    "stats_columns",
    "trace_write",
]

MAX_EVENTS = 1000
INDEX_TEXT_MAX = 2048  # query columns hold a prefix; the event keeps the whole text
_ATTEMPTS = 3
_CANONICAL_TS = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z\Z")  # already as the index stores it
# The event fields its id covers (id_document), beside the batch's trace_id.
_ID_KEYS = frozenset(("seq", "ts", "type", "payload", "actor"))
# Fields a client may send in a whole-trace document that the server derives itself.
_DERIVED = ("events", "timeline")
# An edit's change_summary, read as prtrace_core.stats reads it.
_SUMMARY = re.compile(r"^\+(\d+)/-(\d+)$")
# Line counts beyond this are not believed: the index sums them, and SQLite's SUM stops at 2**63.
_LINES_MAX = 2**31 - 1
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_EPOCH_NAIVE = datetime(1970, 1, 1)
_MS = timedelta(milliseconds=1)


@dataclass(frozen=True, slots=True)
class Candidate:
    """An event that passed every check: where it was in the batch, its id and content."""

    index: int
    event_id: str
    raw: dict[str, Any]
    canonical: bytes  # the canonical JSON of what the id covers; its sha256 is event_id


@dataclass(slots=True)
class BatchPlan:
    """The batch sorted out: new candidates (first occurrences), in-batch repeats, rejections."""

    seq_mode: SeqMode | None
    candidates: list[Candidate] = field(default_factory=list)
    repeats: list[str] = field(default_factory=list)
    rejected: list[dict[str, Any]] = field(default_factory=list)


def split_batch(body: Any) -> tuple[dict[str, Any], list[Any]]:
    """The envelope (validated) and the raw events; InvalidBatch or BodyTooLarge otherwise."""
    if not isinstance(body, dict):
        raise InvalidBatch(
            f"body: must be a JSON object with trace_id, repo, developer and events, not {_json_type(body)}"
        )
    if "events" not in body:
        raise InvalidBatch("events: field required")
    events = body["events"]
    if not isinstance(events, list):
        raise InvalidBatch(f"events: must be a list of events, not {_json_type(events)}")
    if len(events) > MAX_EVENTS:
        raise BodyTooLarge(f"events: at most {MAX_EVENTS:,} per batch, got {len(events):,}")
    envelope = {key: value for key, value in body.items() if key not in _DERIVED}
    problem = find_problem(envelope)
    if problem is not None:
        raise InvalidBatch(problem)
    check_envelope_size(envelope)
    try:
        Envelope.model_validate(envelope)
    except ValidationError as exc:
        raise InvalidBatch(_describe(exc)) from None
    pr = envelope.get("pr")
    for where, text in (
        ("repo.name", envelope["repo"]["name"]),
        ("repo.branch", envelope["repo"]["branch"]),
        ("pr.pr_id", pr.get("pr_id") if isinstance(pr, dict) else None),
    ):
        if isinstance(text, str) and len(text.encode("utf-8")) > KEY_TEXT_MAX_BYTES:
            raise InvalidBatch(f"{where}: at most {KEY_TEXT_MAX_BYTES:,} bytes of UTF-8, as the index is keyed on it")
    return envelope, events


def check_one(trace_id: str, raw: Any) -> tuple[Problem | None, bytes, str]:
    """Why this event cannot be stored (or None), its canonical bytes and its id.

    The common case runs at C speed: one orjson pass proves the text is UTF-8 and every
    integer fits 64 bits, and a walk over containers only checks the depth. Only an event that
    fails gets the slow walk that names the field.
    """
    if not isinstance(raw, dict):
        problem = find_problem(raw)  # a number no double holds, in place of the event
        return (Problem("schema", problem) if problem else check_event(raw)), b"", ""
    document = id_document(trace_id, raw)
    data: bytes | None = None
    try:
        # One orjson pass encodes what the id covers and proves it storable; the event's
        # other fields (rare) get one of their own.
        data = fast_canonical_json(document)
        extra = raw.keys() - _ID_KEYS
        if extra:
            orjson.dumps({key: raw[key] for key in extra})  # names too: a key may be no UTF-8
        suspect = too_deep(raw)
    except orjson.JSONEncodeError:
        suspect = True
    if suspect and (problem := find_problem(raw)) is not None:
        return Problem("schema", problem), b"", ""
    if data is None:
        data = canonical_json(document)  # a tiny float, or what only the reference encodes
    identity = hashlib.sha256(data).hexdigest()
    if len(data) > MAX_EVENT_BYTES:
        message = f"event: {len(data):,} bytes of canonical JSON, over the {MAX_EVENT_BYTES:,} byte limit"
        return Problem("event_too_large", message), b"", ""
    invalid = check_event(raw)
    if invalid is not None:
        return invalid, b"", ""
    seq = raw.get("seq")
    if isinstance(seq, int) and seq > SEQ_MAX:
        return Problem("schema", f"seq: must be at most {SEQ_MAX}"), b"", ""
    return None, data, identity


def plan_batch(trace_id: str, raw_events: Sequence[Any], *, seq_mode: SeqMode | None) -> BatchPlan:
    """Check every event, decide the trace's seq mode if still open, and compute ids.

    A trace's first event with a seq makes it a client-seq trace (events without one are then
    `seq_required`); a first event without one makes the server number the trace's events.
    """
    plan = BatchPlan(seq_mode=seq_mode)
    seen: set[str] = set()
    for index, raw in enumerate(raw_events):
        problem, data, identity = check_one(trace_id, raw)
        if problem is None:
            has_seq = raw.get("seq") is not None
            if plan.seq_mode is None:
                plan.seq_mode = "client" if has_seq else "server"
            if plan.seq_mode == "client" and not has_seq:
                problem = Problem("seq_required", "seq: required, because this trace's client numbers its events")
            elif plan.seq_mode == "server" and has_seq:
                problem = Problem(
                    "seq_not_allowed", "seq: this trace's events are numbered by the server; send them without seq"
                )
        if problem is not None:
            plan.rejected.append({"index": index, "code": problem.code, "error": problem.message})
            continue
        if identity in seen:
            plan.repeats.append(identity)
            continue
        seen.add(identity)
        plan.candidates.append(Candidate(index, identity, raw, data))
    return plan


def batch_object(trace_id: str, candidates: Sequence[Candidate], *, origin: str | None = None) -> tuple[str, bytes]:
    """The immutable object for these events and its content-addressed key.

    One line per event: the canonical JSON of what its id covers plus `event_id` (and
    `"origin": "server"` for the events the server made). Nothing the server stamps is in it,
    so the same events always give the same bytes and key.
    """
    if origin is not None:
        lines = [canonical_json({**orjson.loads(c.canonical), "event_id": c.event_id, "origin": origin}) + b"\n"
                 for c in candidates]
    else:
        lines = [_object_line(c) for c in candidates]
    content = b"".join(lines)
    return f"batches/{trace_id}/{hashlib.sha256(content).hexdigest()}.ndjson", content


def _object_line(candidate: Candidate) -> bytes:
    """canonical_json({**id_document, "event_id": …}) without encoding the event again: with
    sorted keys, "event_id" comes first unless the event has an "actor"."""
    if candidate.canonical.startswith(b'{"actor":'):
        document = {**orjson.loads(candidate.canonical), "event_id": candidate.event_id}
        return canonical_json(document) + b"\n"
    return b'{"event_id":"' + candidate.event_id.encode() + b'",' + candidate.canonical[1:] + b"\n"


def index_columns(payload: Mapping[str, Any]) -> dict[str, Any]:
    """The payload fields worth querying, as index columns: text free of NUL, 64-bit ints."""
    return dict(zip(_INDEX_PAYLOAD_COLUMNS, _index_values(payload), strict=True))


def stats_columns(event: Mapping[str, Any]) -> dict[str, Any]:
    """The index columns GET /v1/stats adds up (`index.STATS_COLUMNS`), from a valid event:
    its ts in epoch milliseconds, its actor's kind, an edit's lines, a test run's outcome as
    `prtrace_core.stats.is_green` decides it."""
    return dict(zip(STATS_COLUMNS, _stats_values(event), strict=True))


# index_columns' keys, in EventWrite's order; the tuples below follow it (no dict per event).
_INDEX_PAYLOAD_COLUMNS = ("file", "command", "exit_code", "passed", "failed", "sha")


def _index_values(payload: Mapping[str, Any]) -> tuple[Any, ...]:
    sha = payload.get("sha")
    if not isinstance(sha, str):
        sha = payload.get("head_sha")
    return (
        _text(payload.get("file")),
        _text(payload.get("command")),
        _bigint(payload.get("exit_code")),
        _bigint(payload.get("passed")),
        _bigint(payload.get("failed")),
        _text(sha),
    )


def _stats_values(event: Mapping[str, Any]) -> tuple[Any, ...]:
    payload = event["payload"]
    actor = event.get("actor")
    added: int | None = None
    removed: int | None = None
    green: int | None = None
    if event["type"] == "edit":
        match = _SUMMARY.match(str(payload.get("change_summary", "")))
        # the length check first: int() refuses over 4,300 digits, and a count that long is no count
        if match and len(match[1]) <= 10 and len(match[2]) <= 10:
            added, removed = int(match[1]), int(match[2])
            if added > _LINES_MAX or removed > _LINES_MAX:
                added = removed = None
    elif event["type"] == "test":
        green = int(is_green(payload))
    return (
        _epoch_ms(event["ts"]),
        _text(actor.get("kind")) if isinstance(actor, dict) else None,
        added,
        removed,
        _bigint(payload.get("skipped")),
        _bigint(payload.get("errors")),
        green,
    )


def _epoch_ms(ts: str) -> int:
    # Floored, as the index's ts text keeps whole milliseconds. The canonical form, which
    # clients send, skips parse_ts: a sixth of the time, and this runs for every event.
    if _CANONICAL_TS.match(ts):
        return (datetime.fromisoformat(ts[:-1]) - _EPOCH_NAIVE) // _MS
    return (parse_ts(ts) - _EPOCH) // _MS


def trace_write(envelope: Mapping[str, Any], seq_mode: SeqMode | None) -> TraceWrite:
    """The trace's index columns from a validated envelope."""
    pr = envelope.get("pr")
    return TraceWrite(
        trace_id=envelope["trace_id"],
        repo_name=_strip_nul(envelope["repo"]["name"]),
        branch=_strip_nul(envelope["repo"]["branch"]),
        pr_id=_strip_nul(pr["pr_id"]) if isinstance(pr, dict) else None,
        developer_id=_strip_nul(envelope["developer"]["user_id"]),
        envelope=dict(envelope),
        seq_mode=seq_mode,
    )


def ingest_batch(
    body: Any,
    *,
    principal: Principal,
    index: IndexStore,
    blobs: BlobStore,
    now: Callable[[], str] = now_ts,
) -> dict[str, Any]:
    """Store a decoded batch; the answer lists accepted, duplicate and rejected events.

    The trace belongs to the principal of the first batch that stores an event in it (the
    envelope's `developer` only describes); an empty or wholly rejected batch creates nothing
    and so claims nothing.
    """
    envelope, raw_events = split_batch(body)
    if not principal.can_write:
        raise Forbidden(f"user {principal.user} has the {principal.role} role, which may not write")
    trace_id: str = envelope["trace_id"]
    for _ in range(_ATTEMPTS):
        trace = index.get_trace(trace_id)
        if trace is not None and trace.owner != principal.user and not principal.is_admin:
            raise Forbidden(f"trace {trace_id} belongs to another user")
        plan = plan_batch(trace_id, raw_events, seq_mode=trace.seq_mode if trace else None)
        stored = index.existing_event_ids(trace_id, [c.event_id for c in plan.candidates])
        fresh = [c for c in plan.candidates if c.event_id not in stored]
        rows: list[EventWrite] = []
        if fresh:
            if trace is not None:
                # An envelope that would grow past its limit is refused before the object is
                # written, so the refusal leaves no object behind (the store checks it again).
                merge_envelope(trace.envelope, envelope)
            key, content = batch_object(trace_id, fresh)
            blobs.put(key, content)
            rows = [event_write(c, key) for c in fresh]
        try:
            outcome = index.ingest(
                trace=trace_write(envelope, plan.seq_mode),
                events=rows,
                user=principal.user,
                may_write_any=principal.is_admin,
                received_at=now(),
            )
        except SeqModeChanged:
            continue  # a concurrent first batch fixed the mode; sort this one out again
        break
    else:
        raise SeqModeChanged(f"trace {trace_id} is being written concurrently; retry the batch")

    accepted = set(outcome.accepted)
    duplicates: dict[str, None] = {}
    for candidate in plan.candidates:
        if candidate.event_id not in accepted:
            duplicates.setdefault(candidate.event_id, None)
    for repeat in plan.repeats:
        duplicates.setdefault(repeat, None)
    return {
        "trace_id": trace_id,
        "accepted_event_ids": [c.event_id for c in plan.candidates if c.event_id in accepted],
        "duplicate_event_ids": list(duplicates),
        "rejected": plan.rejected,
    }


def event_write(candidate: Candidate, object_key: str) -> EventWrite:
    """The index row of a checked event stored in `object_key`."""
    raw = candidate.raw
    ts = raw["ts"]
    return EventWrite(
        candidate.event_id,
        raw.get("seq"),
        ts if _CANONICAL_TS.match(ts) else format_ts(parse_ts(ts)),
        _strip_nul(raw["type"]),
        object_key,
        *_index_values(raw["payload"]),
        *_stats_values(raw),
    )


def _strip_nul(text: str) -> str:
    # PostgreSQL text refuses NUL; the event object keeps it, the index columns drop it.
    return text.replace("\x00", "")


def _text(value: Any) -> str | None:
    return _strip_nul(value)[:INDEX_TEXT_MAX] if isinstance(value, str) else None


def _bigint(value: Any) -> int | None:
    if isinstance(value, int) and not isinstance(value, bool) and INT_MIN <= value <= SEQ_MAX:
        return value
    return None


def _describe(exc: ValidationError) -> str:
    first = exc.errors(include_url=False)[0]
    where = ".".join(str(part) for part in first["loc"])
    return f"{where}: {first['msg']}" if where else first["msg"]


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    return {dict: "an object", list: "an array", str: "a string", bool: "a boolean"}.get(
        type(value), "a number"
    )

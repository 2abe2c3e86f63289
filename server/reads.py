"""Answering reads: which traces a user may see, and their events from the index rows and the
batch objects those rows point at — so a write is visible to the very next read."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Iterable
from typing import Any

import orjson
from pydantic import TypeAdapter, ValidationError

from prtrace_core.schema import TraceId

from .assemble import assemble_trace, order_events, present_event, trace_summary
from .auth import Principal
from .blobs import BlobStore
from .ci_visibility import RECORDING_TYPES, github_pr, recorded_commits, without_foreign_ci
from .errors import BadQuery, Forbidden, NotFound, StoreCorrupt
from .index import EventRecord, IndexStore, TraceFilter, TraceRecord, TraceSummary

__all__ = [
    "check_trace_id",
    "list_traces",
    "load_events",
    "trace_commits",
    "trace_document",
    "trace_events",
    "visible_trace",
]

_TRACE_ID: TypeAdapter[str] = TypeAdapter(TraceId)
# Events without a seq (made by the server: CI runs) in one trace, at most, on a last page.
_LOOSE_MAX = 100_000


def check_trace_id(trace_id: str) -> str:
    """The id itself when it is a lower-case UUID; BadQuery otherwise."""
    try:
        return _TRACE_ID.validate_python(trace_id)
    except ValidationError:
        raise BadQuery(f"trace_id: {trace_id!r} is not a lower-case UUID") from None


def visible_trace(index: IndexStore, trace_id: str, principal: Principal) -> TraceRecord:
    """The trace if it exists and the user may read it."""
    trace = index.get_trace(check_trace_id(trace_id))
    if trace is None:
        raise NotFound(f"no trace {trace_id}")
    if not principal.may_read(trace.owner):
        raise Forbidden(f"trace {trace_id} belongs to another user")
    return trace


def load_events(blobs: BlobStore, records: Iterable[EventRecord]) -> list[dict[str, Any]]:
    """Each indexed event, read from its batch object and presented with its server stamps."""
    records = list(records)
    lines: dict[str, dict[str, Any]] = {}
    for key in dict.fromkeys(record.object_key for record in records):
        for line in blobs.get(key).splitlines():
            if line:
                stored = orjson.loads(line)
                lines[stored["event_id"]] = stored
    events = []
    for record in records:
        stored = lines.get(record.event_id)
        if stored is None:
            raise StoreCorrupt(f"object {record.object_key} lacks event {record.event_id}")
        events.append(present_event(record, stored))
    return events


def trace_document(index: IndexStore, blobs: BlobStore, trace_id: str, principal: Principal) -> dict[str, Any]:
    """The whole trace JSON, with GitHub's facts about its PR as far as this reader is shown
    them (`ci_visibility`)."""
    trace = visible_trace(index, trace_id, principal)
    events = without_foreign_ci(principal, load_events(blobs, index.event_records(trace.trace_id)))
    envelope = trace.envelope
    github = github_pr(index, trace, principal)
    if github is not None:
        # GitHub's word on the PR (a title changed, a merge) over what the client last sent
        envelope = {**envelope, "pr": github.envelope_pr()}
    return assemble_trace(envelope, events, owner=trace.owner)


def trace_events(
    index: IndexStore,
    blobs: BlobStore,
    trace_id: str,
    principal: Principal,
    *,
    type: str | None,
    after_seq: int | None,
    limit: int,
) -> dict[str, Any]:
    """A page of the trace's events in order; `next_after_seq` continues it when it is full.

    Events that share a seq (one changed and sent again) are never split across pages.
    """
    trace = visible_trace(index, trace_id, principal)
    type = _clean(type)
    records = [
        r for r in index.event_records(trace.trace_id, type=type, after_seq=after_seq, limit=limit) if r.seq is not None
    ]
    full = len(records) == limit
    if full:
        last = records[-1].seq
        assert last is not None
        seen = {record.event_id for record in records}
        records += [r for r in _at_seq(index, trace.trace_id, type, last) if r.event_id not in seen]
    else:
        # The last page: the events the server made (CI runs, no seq) go with it, all those
        # this reader is shown, placed by their time among the page's events.
        loose = index.event_page(trace.trace_id, after=(None, 0), limit=_LOOSE_MAX)
        records += [r for r in loose if type is None or r.type == type]
    loaded = load_events(blobs, records)
    if not full and not principal.reads_all and any(r.seq is None for r in records):
        loaded = without_foreign_ci(principal, loaded, trace_commits(index, blobs, trace.trace_id))
    return {
        "trace_id": trace.trace_id,
        "events": order_events(loaded),
        "next_after_seq": records[-1].seq if full else None,
    }


def trace_commits(index: IndexStore, blobs: BlobStore, trace_id: str) -> frozenset[str]:
    """The commits a trace recorded (`ci_visibility.recorded_commits`), from its events of the
    types that record one, read by type through the index: a page need not read the whole trace
    to know which CI runs its reader is shown."""
    records = [record for kind in RECORDING_TYPES for record in index.event_records(trace_id, type=kind)]
    return recorded_commits(load_events(blobs, records))


def _at_seq(index: IndexStore, trace_id: str, type: str | None, seq: int) -> list[EventRecord]:
    """Every event at `seq`: one, or a few when one was changed and sent again. Read a few rows
    at a time from `seq` on, never the rest of the trace (19,800 rows behind a first page)."""
    probe = 16
    while True:
        rows = index.event_records(trace_id, type=type, after_seq=seq - 1, limit=probe)
        if len(rows) < probe or rows[-1].seq != seq:
            return [row for row in rows if row.seq == seq]
        probe *= 8


def list_traces(
    index: IndexStore,
    principal: Principal,
    *,
    repo: str | None = None,
    branch: str | None = None,
    pr: str | None = None,
    developer: str | None = None,
    since: str | None = None,
    until: str | None = None,
    limit: int = 100,
    cursor: str | None = None,
) -> dict[str, Any]:
    """A page of trace summaries, newest first, and the cursor of the next page (or null).

    `pr` is a PR id (`owner/repo#N`) or a number, which with `repo` means `repo#N`.
    `developer` is a user name: the traces it owns (the envelope's `developer` proves nothing).
    `since` keeps the traces with an event at or after it, `until` those whose first event is
    at or before it (a date there means the whole day): together, the traces active in a span.
    """
    pr_id, pr_number = _pr_filter(pr, repo)
    query = TraceFilter(
        repo=_clean(repo),
        branch=_clean(branch),
        pr_id=pr_id,
        pr_number=pr_number,
        developer=_clean(developer),
        since=_since(since),
        until=_until(until),
        owner=None if principal.reads_all else principal.user,
        limit=limit,
        after=_decode_cursor(cursor) if cursor else None,
    )
    records = index.list_traces(query)
    next_cursor = _encode_cursor(records[-1]) if len(records) == limit else None
    return {"traces": [trace_summary(r) for r in records], "next_cursor": next_cursor}


def _pr_filter(pr: str | None, repo: str | None) -> tuple[str | None, int | None]:
    pr = _clean(pr)
    if pr is None:
        return None, None
    number = pr.removeprefix("#")
    if number.isascii() and number.isdigit() and len(number) <= 18:
        if repo:
            return f"{_clean(repo)}#{int(number)}", None
        return None, int(number)
    return pr, None


def _since(text: str | None) -> str | None:
    """`since` in index form, read as GET /v1/stats reads it; None when absent or blank."""
    if text is None or not text.strip():
        return None
    from .stats import parse_since  # stats reads events through this module: imported late

    return parse_since(text)


def _until(text: str | None) -> str | None:
    """`until` in index form (a date: its whole day); None when absent or blank."""
    if text is None or not text.strip():
        return None
    from .stats import parse_until

    return parse_until(text)


def _clean(value: str | None) -> str | None:
    # Index columns hold no NUL, so a filter with one would match nothing anyway.
    return value.replace("\x00", "") if value else None


def _encode_cursor(record: TraceSummary) -> str:
    raw = orjson.dumps([record.created_at, record.trace_id])
    return base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=")


def _decode_cursor(cursor: str) -> tuple[str, str]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        created_at, trace_id = orjson.loads(raw)
        if isinstance(created_at, str) and isinstance(trace_id, str) and "\x00" not in created_at + trace_id:
            return created_at, trace_id
    except (binascii.Error, ValueError, TypeError):
        pass
    raise BadQuery("cursor: not a cursor this server handed out")

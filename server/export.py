"""GET /v1/export: the selected traces' events as JSONL or Parquet, streamed.

One row per event (`prtrace_core.export.event_row`, the columns the client's `prtrace export`
writes too), each trace's rows in trace order, traces newest first. Memory stays bounded
whatever the export's size: traces and events are read page by page (keyset pagination on the
index), batch objects a couple at a time, and each chunk is sent before the next is built.
The download is not a snapshot: rows committed while it runs may or may not be in it.
"""

from __future__ import annotations

import importlib.util
from collections import OrderedDict
from collections.abc import Iterator
from dataclasses import dataclass, replace
from typing import Any, Literal

import orjson

from prtrace_core.export import event_row, jsonl_lines, parquet_chunks
from prtrace_core.timestamps import now_ts

from .assemble import present_event
from .auth import Principal
from .blobs import BlobStore
from .ci_visibility import recorded_commits, without_foreign_ci
from .errors import BadQuery, StoreCorrupt
from .index import EventKey, EventRecord, IndexStore, TraceFilter, TraceRecord, TraceSummary
from .stats import trace_filter

__all__ = ["MEDIA_TYPES", "Export", "ExportFormat", "export", "export_rows"]

ExportFormat = Literal["jsonl", "parquet"]

MEDIA_TYPES: dict[str, str] = {"jsonl": "application/x-ndjson", "parquet": "application/vnd.apache.parquet"}

_TRACE_PAGE = 100
_EVENT_PAGE = 1000
# Batch objects kept parsed: a page of events in trace order spans one or two of them.
_OBJECTS_KEPT = 2
_CHUNK_BYTES = 256 * 1024
# Rows per Parquet row group, all held at once while it is encoded: 10,000 (the core's
# default) took some 60 MB of the server's memory for small events, 2,000 some 20 MB, for a
# file a few per cent larger. The core counts rows, not bytes: 2,000 of the largest events
# (256 KiB) would still be 500 MB.
_PARQUET_ROWS = 2_000


@dataclass(frozen=True, slots=True)
class Export:
    """A download ready to stream: its chunks (produced lazily), media type and file name."""

    chunks: Iterator[bytes]
    media_type: str
    filename: str


class _ObjectLines:
    """The stored event lines of the batch objects read last, by event id."""

    def __init__(self, blobs: BlobStore) -> None:
        self.blobs = blobs
        self.kept: OrderedDict[str, dict[str, dict[str, Any]]] = OrderedDict()

    def stored(self, record: EventRecord) -> dict[str, Any]:
        lines = self.kept.get(record.object_key)
        if lines is None:
            lines = {}
            for line in self.blobs.get(record.object_key).splitlines():
                if line:
                    stored = orjson.loads(line)
                    lines[stored["event_id"]] = stored
            self.kept[record.object_key] = lines
            while len(self.kept) > _OBJECTS_KEPT:
                self.kept.popitem(last=False)
        else:
            self.kept.move_to_end(record.object_key)
        stored = lines.get(record.event_id)
        if stored is None:
            raise StoreCorrupt(f"object {record.object_key} lacks event {record.event_id}")
        return stored


def _traces(index: IndexStore, query: TraceFilter, first: list[TraceSummary]) -> Iterator[TraceRecord]:
    # Pages of the listing (no envelopes), then each trace's row as its turn comes: one
    # envelope in memory at a time.
    page = first
    while True:
        for summary in page:
            trace = index.get_trace(summary.trace_id)
            if trace is not None:
                yield trace
        if len(page) < query.limit:
            return
        last = page[-1]
        page = index.list_traces(replace(query, after=(last.created_at, last.trace_id)))


def _event_pages(index: IndexStore, trace_id: str) -> Iterator[list[EventRecord]]:
    after: EventKey | None = None
    while True:
        page = index.event_page(trace_id, after=after, limit=_EVENT_PAGE)
        if page:
            yield page
        if len(page) < _EVENT_PAGE:
            return
        after = (page[-1].seq, page[-1].server_seq)


def export_rows(
    index: IndexStore,
    blobs: BlobStore,
    query: TraceFilter,
    *,
    principal: Principal,
    first: list[TraceSummary] | None = None,
) -> Iterator[dict[str, Any]]:
    """The export's rows, one by one, made as they are consumed. `first` is the first page of
    traces when the caller has already read it.

    The server-made CI runs `principal` is not shown (`ci_visibility`) are left out. They come
    last in trace order (they have no seq), so the commits the trace recorded are known from
    its rows already made by the time they come: no second read of the trace.
    """
    objects = _ObjectLines(blobs)
    traces = first if first is not None else index.list_traces(query)
    for trace in _traces(index, query, traces):
        envelope = trace.envelope
        recorded: set[str] = set()
        for page in _event_pages(index, trace.trace_id):
            for record in page:
                event = present_event(record, objects.stored(record))
                if not principal.reads_all:
                    if record.seq is not None:
                        recorded.update(recorded_commits([event]))
                    elif not without_foreign_ci(principal, [event], recorded):
                        continue
                yield event_row(envelope, event)


def _jsonl(rows: Iterator[dict[str, Any]]) -> Iterator[bytes]:
    # Lines gathered into chunks of about _CHUNK_BYTES: each chunk is one trip through the
    # server's send path, and a chunk bounded in bytes (not rows) bounds memory whatever the
    # events' size.
    lines: list[bytes] = []
    size = 0
    for line in jsonl_lines(rows):
        lines.append(line)
        size += len(line)
        if size >= _CHUNK_BYTES:
            yield b"".join(lines)
            lines.clear()
            size = 0
    if lines:
        yield b"".join(lines)


def export(
    index: IndexStore,
    blobs: BlobStore,
    principal: Principal,
    *,
    format: ExportFormat,
    repo: str | None = None,
    since: str | None = None,
    pr: str | None = None,
) -> Export:
    """The download for these filters (the same as GET /v1/stats'), readable by `principal`.

    What can be refused is checked here, before the first byte is sent: a bad parameter is a
    422, a store that is down a 503. A failure once the download has begun propagates, so the
    server drops the connection before the last chunk: an incomplete transfer to any HTTP
    client (test_a_download_that_fails_midway_is_an_incomplete_transfer).
    """
    query = replace(trace_filter(principal, repo=repo, since=since, pr=pr), limit=_TRACE_PAGE)
    if format == "parquet" and importlib.util.find_spec("pyarrow") is None:
        raise BadQuery("format: parquet needs pyarrow installed on the server; ask for format=jsonl")
    first = index.list_traces(query)
    rows = export_rows(index, blobs, query, principal=principal, first=first)
    chunks = _jsonl(rows) if format == "jsonl" else parquet_chunks(rows, batch_rows=_PARQUET_ROWS)
    stamp = now_ts().replace("-", "").replace(":", "").split(".")[0]
    return Export(chunks=chunks, media_type=MEDIA_TYPES[format], filename=f"prtrace-export-{stamp}Z.{format}")

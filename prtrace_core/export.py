"""Traces as rows for analysts: one row per event, the trace's fields alongside.

The client (`prtrace export`) and the server (`GET /v1/export`) build rows here, so a file
from either has the same columns. Typed columns hold what analysts filter and group by; the
whole payload travels as a JSON string beside them. pyarrow is imported only by the
functions that write Parquet: JSONL needs nothing beyond the standard library.
"""

from __future__ import annotations

import calendar
import contextlib
import io
import json
from collections.abc import Iterable, Iterator, Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any

from prtrace_core.timestamps import parse_ts

if TYPE_CHECKING:
    import pyarrow as pa

__all__ = [
    "COLUMNS",
    "PARTITION_COLUMNS",
    "arrow_schema",
    "event_row",
    "jsonl_lines",
    "parquet_chunks",
    "record_batches",
]

# (name, type): the type names are pyarrow's; "timestamp" is milliseconds in UTC.
COLUMNS: tuple[tuple[str, str], ...] = (
    ("trace_id", "string"),
    ("repo", "string"),
    ("branch", "string"),
    ("pr_id", "string"),
    ("developer", "string"),
    ("seq", "int64"),
    ("server_seq", "int64"),
    ("event_id", "string"),
    ("ts", "timestamp"),
    ("type", "string"),
    ("actor_kind", "string"),
    ("actor_name", "string"),
    ("file", "string"),
    ("command", "string"),
    ("exit_code", "int64"),
    ("framework", "string"),
    ("passed", "int64"),
    ("failed", "int64"),
    ("skipped", "int64"),
    ("sha", "string"),
    ("payload", "string"),
)

# A Hive-partitioned dataset adds these, derived from the row.
PARTITION_COLUMNS = ("repo", "date")


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def event_row(trace: Mapping[str, Any], event: Mapping[str, Any]) -> dict[str, Any]:
    """The row for one event of `trace` (an envelope: trace_id, repo, pr, developer).
    `ts` stays the event's own text here; the Parquet writer turns it into a timestamp."""
    repo = trace.get("repo") or {}
    pr = trace.get("pr") or {}
    developer = trace.get("developer") or {}
    payload = event.get("payload") or {}
    actor = event.get("actor") or {}
    sha = _text(payload.get("sha")) or _text(payload.get("head_sha")) or _text(payload.get("after_sha"))
    return {
        "trace_id": _text(trace.get("trace_id")),
        "repo": _text(repo.get("name")),
        "branch": _text(repo.get("branch")),
        "pr_id": _text(pr.get("pr_id")) if isinstance(pr, Mapping) else None,
        "developer": _text(developer.get("user_id")) if isinstance(developer, Mapping) else None,
        "seq": _int(event.get("seq")),
        "server_seq": _int(event.get("server_seq")),
        "event_id": _text(event.get("event_id")),
        "ts": _text(event.get("ts")),
        "type": _text(event.get("type")),
        "actor_kind": _text(actor.get("kind")) if isinstance(actor, Mapping) else None,
        "actor_name": _text(actor.get("name")) if isinstance(actor, Mapping) else None,
        "file": _text(payload.get("file")),
        "command": _text(payload.get("command")),
        "exit_code": _int(payload.get("exit_code")),
        "framework": _text(payload.get("framework")),
        "passed": _int(payload.get("passed")),
        "failed": _int(payload.get("failed")),
        "skipped": _int(payload.get("skipped")),
        "sha": sha,
        "payload": _json(payload, sort_keys=True),
    }


def _json(value: Any, *, sort_keys: bool = False) -> str:
    """Compact JSON; orjson where it can (text with a lone surrogate or an integer past 64 bits
    falls back to the standard library)."""
    import orjson

    try:
        return orjson.dumps(value, option=orjson.OPT_SORT_KEYS if sort_keys else 0).decode("utf-8")
    except (TypeError, orjson.JSONEncodeError):
        return json.dumps(value, ensure_ascii=False, sort_keys=sort_keys, separators=(",", ":"))


def jsonl_lines(rows: Iterable[Mapping[str, Any]]) -> Iterator[bytes]:
    """Each row as one line of JSON (UTF-8)."""
    for row in rows:
        yield (_json(row) + "\n").encode("utf-8", "surrogatepass")


def arrow_schema(*, partitioned: bool = False) -> pa.Schema:
    """The Parquet schema; `partitioned` adds the `date` column a Hive dataset is split by."""
    import pyarrow as pa

    types = {"string": pa.string(), "int64": pa.int64(), "timestamp": pa.timestamp("ms", tz="UTC")}
    fields = [pa.field(name, types[kind]) for name, kind in COLUMNS]
    if partitioned:
        fields.append(pa.field("date", pa.string()))
    return pa.schema(fields)


def _ms(ts: Any) -> int | None:
    if not isinstance(ts, str):
        return None
    moment = None
    if len(ts) == 24 and ts[-1] == "Z":  # the form prtrace writes: no regex needed
        with contextlib.suppress(ValueError):
            moment = datetime.fromisoformat(ts)
    if moment is None:
        try:
            moment = parse_ts(ts)
        except ValueError:
            return None
    # whole seconds and milliseconds apart: a float product may land a millisecond short
    return calendar.timegm(moment.utctimetuple()) * 1000 + moment.microsecond // 1000


def record_batches(
    rows: Iterable[Mapping[str, Any]], *, batch_rows: int = 10_000, partitioned: bool = False
) -> Iterator[pa.RecordBatch]:
    """Rows as Arrow record batches of at most `batch_rows`, so memory stays bounded."""
    import pyarrow as pa

    schema = arrow_schema(partitioned=partitioned)
    names = [name for name, _ in COLUMNS]
    columns: dict[str, list[Any]] = {name: [] for name in schema.names}

    def flush() -> pa.RecordBatch:
        batch = pa.RecordBatch.from_pydict(columns, schema=schema)
        for values in columns.values():
            values.clear()
        return batch

    for row in rows:
        ms = _ms(row.get("ts"))
        for name in names:
            columns[name].append(ms if name == "ts" else row.get(name))
        if partitioned:
            columns["date"].append(str(row.get("ts") or "")[:10] or "unknown")
        if len(columns["trace_id"]) >= batch_rows:
            yield flush()
    if columns["trace_id"]:
        yield flush()


class _Sink(io.RawIOBase):
    """A write-only file that keeps what was written until it is taken, so a Parquet file can
    be sent while it is being written (the format writes front to back, footer last)."""

    def __init__(self) -> None:
        self.chunks: list[bytes] = []
        self.position = 0

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        chunk = bytes(data)
        self.chunks.append(chunk)
        self.position += len(chunk)
        return len(chunk)

    def tell(self) -> int:
        return self.position

    def take(self) -> bytes:
        data = b"".join(self.chunks)
        self.chunks.clear()
        return data


def parquet_chunks(rows: Iterable[Mapping[str, Any]], *, batch_rows: int = 10_000) -> Iterator[bytes]:
    """A Parquet file as a stream of byte chunks, one row group per `batch_rows` rows."""
    import pyarrow.parquet as pq

    sink = _Sink()
    with pq.ParquetWriter(sink, arrow_schema(), compression="zstd") as writer:
        for batch in record_batches(rows, batch_rows=batch_rows):
            writer.write_batch(batch)
            if data := sink.take():
                yield data
    if data := sink.take():
        yield data

"""Reading traces from files people pass around: a trace `.json` (what `prtrace show --json`
and `GET /v1/traces/{id}` give), a list of them, or JSON lines — the compacted
`raw/<trace_id>.ndjson` (one event a line) or a `prtrace export --format jsonl` file (one row
a line, the trace's fields alongside)."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from typing import Any

from prtrace_core.errors import PrtraceError
from prtrace_core.timeline import derive_timeline

__all__ = ["NotATraceFile", "parse_trace_file", "rows_from_lines"]


class NotATraceFile(PrtraceError):
    """A file named as a REF does not hold a trace."""


def _is_trace(doc: Any) -> bool:
    return isinstance(doc, dict) and isinstance(doc.get("events"), list)


def _from_rows(rows: list[dict[str, Any]], name: str) -> list[dict[str, Any]]:
    traces: dict[str, dict[str, Any]] = {}
    for number, row in enumerate(rows, 1):
        if isinstance(row.get("payload"), str):  # an export row
            try:
                payload = json.loads(row["payload"])
            except ValueError as exc:
                raise NotATraceFile(f"{name}, line {number}: the payload column is not JSON") from exc
            trace = traces.setdefault(str(row.get("trace_id")), {
                "trace_id": row.get("trace_id"),
                "repo": {"name": row.get("repo"), "branch": row.get("branch")},
                "pr": {"pr_id": row["pr_id"]} if row.get("pr_id") else None,
                "developer": {"user_id": row.get("developer")},
                "events": [],
            })
            event = {k: row.get(k) for k in ("seq", "server_seq", "ts", "type", "event_id")}
            if row.get("actor_kind"):
                event["actor"] = {"kind": row["actor_kind"], "name": row.get("actor_name")}
            trace["events"].append({**event, "payload": payload})
        elif isinstance(row.get("type"), str) and isinstance(row.get("payload"), dict):  # an event
            traces.setdefault(str(row.get("trace_id")), {"trace_id": row.get("trace_id"), "events": []})[
                "events"].append(row)
        elif _is_trace(row):
            traces[str(row.get("trace_id"))] = row
        else:
            raise NotATraceFile(f"{name}, line {number}: neither an event, an export row nor a trace")
    for trace in traces.values():
        trace.setdefault("timeline", derive_timeline(trace["events"]))
    return list(traces.values())


def _json_lines(text: str, name: str) -> list[dict[str, Any]]:
    rows = []
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except ValueError as exc:
            raise NotATraceFile(f"{name} is not JSON (line {number}: {exc})") from exc
        if not isinstance(row, dict):
            raise NotATraceFile(f"{name}, line {number}: expected a JSON object")
        rows.append(row)
    if not rows:
        raise NotATraceFile(f"{name} is empty")
    return rows


def parse_trace_file(data: bytes, name: str) -> list[dict[str, Any]]:
    """The traces a file holds; NotATraceFile, naming the file and the line, when it holds none."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise NotATraceFile(f"{name} is not UTF-8 text, so not a trace file") from exc
    try:
        doc = json.loads(text)
    except ValueError:
        return _from_rows(_json_lines(text, name), name)
    if _is_trace(doc):
        return [doc]
    if isinstance(doc, list) and doc and all(_is_trace(d) for d in doc):
        return doc
    if isinstance(doc, dict) and isinstance(doc.get("traces"), list) and all(_is_trace(d) for d in doc["traces"]):
        return list(doc["traces"])
    if isinstance(doc, dict):
        return _from_rows([doc], name)
    raise NotATraceFile(f"{name} is JSON but not a trace (no `events` list)")


def rows_from_lines(lines: Iterable[bytes], name: str) -> Iterator[dict[str, Any]]:
    """Export rows from a JSON-lines trace file, one line at a time, so a file of any size is
    converted in bounded memory: an export row passes as it is, an event line (a compacted
    `raw/` object) becomes its row, a whole trace a line becomes its rows."""
    import orjson

    from prtrace_core.export import COLUMNS, event_row

    names = [column for column, _ in COLUMNS]
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            row = orjson.loads(line)
        except orjson.JSONDecodeError as exc:
            raise NotATraceFile(f"{name} is not JSON lines (line {number}: {exc})") from exc
        if isinstance(row, dict) and isinstance(row.get("payload"), str):
            yield {column: row.get(column) for column in names}
        elif isinstance(row, dict) and isinstance(row.get("type"), str) and isinstance(row.get("payload"), dict):
            yield event_row({"trace_id": row.get("trace_id")}, row)
        elif _is_trace(row):
            for event in row["events"]:
                if isinstance(event, dict):
                    yield event_row(row, event)
        else:
            raise NotATraceFile(f"{name}, line {number}: neither an event, an export row nor a trace")

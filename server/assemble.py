"""A trace as readers get it, built from index rows and the stored event lines. Pure."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from prtrace_core.timeline import derive_timeline
from prtrace_core.timestamps import parse_ts

from .index import EventRecord, TraceSummary

__all__ = ["assemble_trace", "order_events", "present_event", "timeline", "trace_summary"]


def present_event(record: EventRecord, stored: Mapping[str, Any]) -> dict[str, Any]:
    """The event as sent, with what the server stamped on it.

    `seq` comes from the index, which holds the server's seq for an event sent without one
    (its stored line, like its id, has `seq: null`).
    """
    event: dict[str, Any] = {
        "seq": record.seq,
        "ts": stored["ts"],
        "type": stored["type"],
        "payload": stored["payload"],
    }
    if stored.get("actor") is not None:
        event["actor"] = stored["actor"]
    event["event_id"] = record.event_id
    event["server_seq"] = record.server_seq
    event["received_at"] = record.received_at
    if record.seq_by_server:
        event["seq_by_server"] = True
    if stored.get("origin") is not None:
        event["origin"] = stored["origin"]  # "server": a `ci` event from a webhook
    return event


def order_events(events: Iterable[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """Trace order: (seq, server_seq); an event without seq (made by the server) by its ts."""
    numbered = sorted((e for e in events if e.get("seq") is not None), key=lambda e: (e["seq"], e["server_seq"]))
    loose = sorted((e for e in events if e.get("seq") is None), key=lambda e: (_when(e), e["server_seq"]))
    ordered: list[Mapping[str, Any]] = []
    position = 0
    for event in loose:
        while position < len(numbered) and _when(numbered[position]) <= _when(event):
            ordered.append(numbered[position])
            position += 1
        ordered.append(event)
    ordered.extend(numbered[position:])
    return ordered


def timeline(events: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    """start_time, end_time (as sent) and duration_seconds over the events' ts — the same rule
    the capture side uses for a local trace."""
    return derive_timeline(events)


def assemble_trace(
    envelope: Mapping[str, Any], events: Iterable[Mapping[str, Any]], *, owner: str
) -> dict[str, Any]:
    """The whole trace: envelope, its owner, derived timeline, events in trace order.

    `owner` is the token user whose write created the trace, the one fact about who recorded it
    that the server vouches for; the envelope's `developer` is what the client said.
    """
    ordered = order_events(events)
    trace = {key: value for key, value in envelope.items() if key not in ("timeline", "events", "owner")}
    trace.setdefault("pr", None)
    trace["owner"] = owner
    trace["timeline"] = timeline(ordered)
    trace["events"] = ordered
    return trace


def trace_summary(record: TraceSummary) -> dict[str, Any]:
    """One row of the trace listing: `owner` is the token user the trace belongs to,
    `developer_id` the envelope's description."""
    return {
        "trace_id": record.trace_id,
        "repo": record.repo_name,
        "branch": record.branch,
        "pr_id": record.pr_id,
        "owner": record.owner,
        "developer_id": record.developer_id,
        "event_count": record.event_count,
        "first_ts": record.first_ts,
        "last_ts": record.last_ts,
        "created_at": record.created_at,
        "updated_at": record.updated_at,
    }


def _when(event: Mapping[str, Any]) -> datetime:
    return parse_ts(event["ts"])

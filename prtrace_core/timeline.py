"""The seed's `timeline` block, derived from the events' timestamps, and several traces merged
into one timeline (a pull request's)."""

from __future__ import annotations

import heapq
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from prtrace_core.timestamps import parse_ts

__all__ = ["derive_timeline", "merge_by_time"]


def merge_by_time(streams: Iterable[Sequence[Mapping[str, Any]]]) -> list[Mapping[str, Any]]:
    """Several event lists, each in its own (trace) order, as one list ordered by `ts`.

    Each list keeps its order even where its clock stepped back: lists are merged, never
    sorted, so a trace's events never swap places with each other.
    """
    return list(heapq.merge(*streams, key=lambda event: parse_ts(event["ts"])))


def derive_timeline(events: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    """start_time, end_time and duration_seconds over the events' `ts` (earliest to latest)."""
    stamps = [(parse_ts(ev["ts"]), ev["ts"]) for ev in events if isinstance(ev.get("ts"), str)]
    if not stamps:
        return {"start_time": None, "end_time": None, "duration_seconds": 0}
    first = min(stamps)
    last = max(stamps)
    return {
        "start_time": first[1],
        "end_time": last[1],
        "duration_seconds": round((last[0] - first[0]).total_seconds(), 3),
    }

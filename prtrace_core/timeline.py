"""The seed's `timeline` block, derived from the events' timestamps."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from prtrace_core.timestamps import parse_ts

__all__ = ["derive_timeline"]


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

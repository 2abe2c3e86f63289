"""How the routes name one event of a trace: its id, or `i<N>`, its index in trace order.

Most events carry a 64-hex id, but some do not (a local trace's older events, a server's CI
runs); those are named by their place in the trace instead. Both directions live here, so the
rows' links and the detail route agree on what a name means.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from .params import event_ref, is_event_id
from .source import NotFound, TraceSource

__all__ = ["event_refs", "find_event"]


def _event_key(event: Mapping[str, Any]) -> tuple[Any, ...]:
    return (event.get("seq"), event.get("ts"), event.get("type"))


def event_refs(source: TraceSource, trace_id: str, events: Sequence[Mapping[str, Any]]) -> list[str]:
    """How the detail route names each event: its id, or `i<N>` (its index in trace order)
    for one without an id; only then are the trace's events read to find N."""
    ids = [event.get("event_id") for event in events]
    if all(is_event_id(i) for i in ids):
        return [str(i) for i in ids]
    index = {_event_key(e): n for n, e in enumerate(source.events(trace_id))}
    refs = []
    for event, event_id in zip(events, ids, strict=True):
        if is_event_id(event_id):
            refs.append(str(event_id))
        else:
            n = index.get(_event_key(event))
            refs.append(f"i{n}" if n is not None else "")
    return refs


def find_event(source: TraceSource, trace_id: str, ref: str) -> Mapping[str, Any]:
    """The event a name from `event_refs` (or a recorded id) stands for."""
    event_ref(ref)
    events = source.events(trace_id)
    if ref.startswith("i"):
        index = int(ref[1:])
        if index < len(events):
            return events[index]
    else:
        for event in events:
            if event.get("event_id") == ref:
                return event
    raise NotFound("this trace has no such event")

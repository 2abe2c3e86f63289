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
    return (event.get("seq"), event.get("ts"), event.get("type"), event.get("server_seq"))


def event_refs(source: TraceSource, trace_id: str, events: Sequence[Mapping[str, Any]]) -> list[str]:
    """How the detail route names each event: its id, or `i<N>` (its index in trace order)
    for one without an id; only then are the trace's events read to find N.

    A page's event is found in the trace by identity when the source hands out the same
    objects (a source in memory does); else by what it says of itself, and among events that
    say the same (one re-sent at the same seq and time), by their order: a page holds every
    event of a seq, and the trace's events without a seq, in trace order."""
    ids = [event.get("event_id") for event in events]
    if all(is_event_id(i) for i in ids):
        return [str(i) for i in ids]
    ordered = source.events(trace_id)
    by_identity = {id(e): n for n, e in enumerate(ordered)}
    by_key: dict[tuple[Any, ...], list[int]] = {}
    for place, e in enumerate(ordered):
        by_key.setdefault(_event_key(e), []).append(place)
    seen: dict[tuple[Any, ...], int] = {}
    refs = []
    for event, event_id in zip(events, ids, strict=True):
        if is_event_id(event_id):
            refs.append(str(event_id))
            continue
        index = by_identity.get(id(event))
        if index is None or ordered[index] is not event:
            key = _event_key(event)
            turn = seen[key] = seen.get(key, -1) + 1
            places = by_key.get(key, [])
            index = places[turn] if turn < len(places) else None
        refs.append(f"i{index}" if index is not None else "")
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

"""A source over whole trace documents held in memory: what `prtrace view` serves from the local
buffer or a trace file, and what the viewer's own tests read.

It answers as the server's reads do (the same filters, page shapes and PR document), so the
pages cannot tell the two apart; the differences are only where a local trace has less: one
owner, no index to page through (a cursor is an offset into the sorted list), and no CI runs
but those a trace file already holds.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from prtrace_core.canonical import canonical_json
from prtrace_core.replay import Sources
from prtrace_core.text import valid_text
from prtrace_core.timeline import derive_timeline, merge_by_time
from prtrace_core.timestamps import parse_since, parse_ts, parse_until

from .source import BadRequest, NotFound, TraceQuery

__all__ = ["MAX_LIMIT", "MemorySource"]

# The most rows one page may ask for: a bigger page is a slow page.
MAX_LIMIT = 1000
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(slots=True)
class _Trace:
    """One trace document, read once: its events in trace order and its listing row."""

    envelope: dict[str, Any]
    events: list[Mapping[str, Any]]
    summary: dict[str, Any]
    first: datetime | None
    last: datetime | None
    numbered: list[Mapping[str, Any]] = field(default_factory=list)  # events with a seq
    loose: list[Mapping[str, Any]] = field(default_factory=list)  # without (server-made CI runs)


def _when(event: Mapping[str, Any]) -> datetime | None:
    ts = event.get("ts")
    if not isinstance(ts, str):
        return None
    try:
        return parse_ts(ts)
    except ValueError:
        return None


def _seq(event: Mapping[str, Any]) -> int | None:
    seq = event.get("seq")
    return seq if isinstance(seq, int) and not isinstance(seq, bool) else None


def _server_seq(event: Mapping[str, Any]) -> int:
    value = event.get("server_seq")
    return value if isinstance(value, int) else 0


def _order(events: Sequence[Mapping[str, Any]]) -> tuple[list[Mapping[str, Any]], list[Mapping[str, Any]]]:
    """(events with a seq by (seq, server_seq), events without one by time) — the server's
    trace order before the two are interleaved."""
    numbered = sorted((e for e in events if _seq(e) is not None), key=lambda e: (_seq(e) or 0, _server_seq(e)))
    loose = sorted((e for e in events if _seq(e) is None), key=lambda e: (_when(e) or _EPOCH, _server_seq(e)))
    return numbered, loose


def _interleave(numbered: list[Mapping[str, Any]], loose: list[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """Events without a seq placed by their time among those with one, as the server does."""
    ordered: list[Mapping[str, Any]] = []
    position = 0
    for event in loose:
        moment = _when(event) or _EPOCH
        while position < len(numbered) and (_when(numbered[position]) or _EPOCH) <= moment:
            ordered.append(numbered[position])
            position += 1
        ordered.append(event)
    ordered.extend(numbered[position:])
    return ordered


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) else None


# orjson writes no integer outside 64 bits, and a page cannot be encoded with a lone surrogate
# in it (json.loads keeps both): a trace file is anyone's, so both are mended once, at load.
_INT_MIN, _INT_MAX = -(2**63), 2**63 - 1


def _sound_text(text: str) -> str:
    if text.isascii():  # nearly every string: nothing to check
        return text
    return valid_text(text)


def _sound(value: Any) -> Any:
    """`value` with every string valid UTF-8 (a lone surrogate written as `\\udNNN`) and every
    integer beyond 64 bits read as absent (None). A part that needs nothing is the same object,
    so a sound trace is walked, not copied."""
    if isinstance(value, str):
        return _sound_text(value)
    if isinstance(value, bool):
        return value
    if isinstance(value, int):
        return value if _INT_MIN <= value <= _INT_MAX else None
    if isinstance(value, Mapping):
        mended = {(_sound_text(k) if isinstance(k, str) else k): _sound(v) for k, v in value.items()}
        same = len(mended) == len(value) and all(
            k in value and value[k] is v for k, v in mended.items()
        )
        return value if same else mended
    if isinstance(value, list | tuple):
        items = [_sound(item) for item in value]
        return value if all(a is b for a, b in zip(items, value, strict=True)) else items
    return value


def _read(document: Mapping[str, Any], owner: str) -> _Trace:
    repo = document.get("repo") if isinstance(document.get("repo"), Mapping) else {}
    pr = document.get("pr") if isinstance(document.get("pr"), Mapping) else None
    developer = document.get("developer") if isinstance(document.get("developer"), Mapping) else {}
    assert isinstance(repo, Mapping) and isinstance(developer, Mapping)
    raw = document.get("events")
    events = [e for e in raw if isinstance(e, Mapping)] if isinstance(raw, list) else []
    numbered, loose = _order(events)
    moments = [m for m in map(_when, events) if m is not None]
    first, last = (min(moments), max(moments)) if moments else (None, None)
    stamps = [e["ts"] for e in events if _when(e) is not None]
    first_ts = min(stamps, key=parse_ts) if stamps else None
    last_ts = max(stamps, key=parse_ts) if stamps else None
    envelope = {
        "trace_id": str(document.get("trace_id")),
        "repo": dict(repo),
        "pr": dict(pr) if pr is not None else None,
        "developer": dict(developer),
    }
    summary = {
        "trace_id": envelope["trace_id"],
        "repo": _text(repo.get("name")),
        "branch": _text(repo.get("branch")),
        "pr_id": _text(pr.get("pr_id")) if pr is not None else None,
        "owner": owner,
        "developer_id": _text(developer.get("user_id")),
        "event_count": len(events),
        "first_ts": first_ts,
        "last_ts": last_ts,
        # A local trace has no server rows: it was begun by its first event, last changed by
        # its latest.
        "created_at": first_ts,
        "updated_at": last_ts,
    }
    return _Trace(envelope, _interleave(numbered, loose), summary, first, last, numbered, loose)


def _bound(text: str, *, until: bool) -> Callable[[datetime], bool]:
    """A since/until filter as a test of a moment, read as the server reads it (a date, a
    timestamp, an age such as 7d; `until` a date means its whole day), bounds included."""
    try:
        bound = parse_until(text) if until else parse_since(text)
    except ValueError as exc:
        raise BadRequest(f"{'until' if until else 'since'}: {exc}") from None
    if until:
        return lambda moment: moment <= bound
    return lambda moment: moment >= bound


def _offset(cursor: str | None) -> int:
    if not cursor:
        return 0
    if not cursor.isascii() or not cursor.isdigit() or len(cursor) > 9:
        raise BadRequest("cursor: not one this listing gave")
    return int(cursor)


def _limit(limit: int) -> int:
    if limit < 1:
        raise BadRequest(f"limit: {limit} is not a positive number")
    return min(limit, MAX_LIMIT)


class MemorySource:
    """A `TraceSource` over trace documents as `prtrace show --json` gives them (an envelope and
    its `events`), all owned by `owner`; `sources` is where replay finds content they lack."""

    def __init__(
        self, traces: Sequence[Mapping[str, Any]], *, sources: Sources | None = None, owner: str = "you"
    ) -> None:
        self._sources = sources
        self._owner = owner
        read = [_read(_sound(document), owner) for document in traces]
        self._by_id = {trace.envelope["trace_id"]: trace for trace in read}
        # newest first, as the server lists them
        self._listing = sorted(
            self._by_id.values(),
            key=lambda t: (t.first or _EPOCH, t.envelope["trace_id"]),
            reverse=True,
        )

    def _trace(self, trace_id: str) -> _Trace:
        trace = self._by_id.get(trace_id)
        if trace is None:
            raise NotFound(f"no trace {trace_id}")
        return trace

    def traces(self, query: TraceQuery) -> dict[str, Any]:
        """A page of the traces that pass every filter, newest first."""
        limit = _limit(query.limit)
        start = _offset(query.cursor)
        since = _bound(query.since, until=False) if query.since else None
        until = _bound(query.until, until=True) if query.until else None
        wanted = _pr_match(query.pr, query.repo)

        def keep(trace: _Trace) -> bool:
            row = trace.summary
            if query.repo and row["repo"] != query.repo:
                return False
            if query.branch and row["branch"] != query.branch:
                return False
            if query.developer and row["developer_id"] != query.developer:
                return False
            if wanted is not None and not wanted(row["pr_id"]):
                return False
            # since: an event at or after it (the latest one); until: the first event at or before
            if since is not None and (trace.last is None or not since(trace.last)):
                return False
            return until is None or (trace.first is not None and until(trace.first))

        matching = [trace.summary for trace in self._listing if keep(trace)]
        page = matching[start : start + limit]
        more = start + limit < len(matching)
        return {"traces": [dict(row) for row in page], "next_cursor": str(start + limit) if more else None}

    def head(self, trace_id: str) -> dict[str, Any]:
        trace = self._trace(trace_id)
        return {"summary": dict(trace.summary), "envelope": dict(trace.envelope)}

    def events_page(
        self, trace_id: str, *, after_seq: int | None, limit: int, type: str | None
    ) -> dict[str, Any]:
        """A page of events after `after_seq`, as the server pages them: events that share a
        seq stay on one page; the last page carries the events without a seq."""
        trace = self._trace(trace_id)
        limit = _limit(limit)
        after = after_seq if after_seq is not None else 0
        chosen = [e for e in trace.numbered if (_seq(e) or 0) > after and (type is None or e.get("type") == type)]
        full = len(chosen) >= limit
        page = chosen[:limit]
        if full:
            last = _seq(page[-1])
            page += [e for e in chosen[limit:] if _seq(e) == last]
            return {"trace_id": trace_id, "events": page, "next_after_seq": last}
        loose = [e for e in trace.loose if type is None or e.get("type") == type]
        return {"trace_id": trace_id, "events": _interleave(page, loose), "next_after_seq": None}

    def events(self, trace_id: str) -> Sequence[Mapping[str, Any]]:
        return self._trace(trace_id).events

    def pr(self, owner: str, repo: str, number: int) -> dict[str, Any]:
        """The PR's traces merged into one timeline by time, each event naming its trace; CI
        runs the traces hold are shown once, with no trace."""
        pr_id = f"{owner}/{repo}#{number}"
        traces = [t for t in self._listing if (t.summary["pr_id"] or "").lower() == pr_id.lower()]
        if not traces:
            raise NotFound(f"no trace is linked to {pr_id}")
        streams: list[list[Mapping[str, Any]]] = []
        ci: dict[bytes, dict[str, Any]] = {}
        for trace in traces:
            own: list[Mapping[str, Any]] = []
            for event in trace.events:
                if _when(event) is None:
                    continue  # no place on a timeline ordered by time
                if event.get("origin") == "server" and event.get("type") == "ci":
                    payload = event.get("payload") if isinstance(event.get("payload"), Mapping) else {}
                    key = canonical_json({"ts": event["ts"], "payload": payload})
                    ci.setdefault(key, {"seq": None, "ts": event["ts"], "type": "ci", "payload": dict(payload or {}),
                                        "origin": "server", "trace_id": None})
                else:
                    own.append({**event, "trace_id": trace.envelope["trace_id"]})
            streams.append(own)
        streams.append(sorted(ci.values(), key=lambda e: parse_ts(e["ts"])))
        events = merge_by_time(streams)
        newest = max(traces, key=lambda t: t.last or _EPOCH)
        block = newest.envelope["pr"] or {}
        return {
            "pr_id": block.get("pr_id") or pr_id,
            "pr": {**block, "pr_id": block.get("pr_id") or pr_id, "source": "client"},
            "traces": [dict(t.summary) for t in traces],
            "ci_runs": len(ci),
            "timeline": derive_timeline(events),
            "events": events,
        }

    def replay_sources(self, trace_id: str) -> Sources | None:
        self._trace(trace_id)
        return self._sources


def _pr_match(pr: str | None, repo: str | None) -> Callable[[str | None], bool] | None:
    """The test a trace's pr_id must pass for `pr`: `owner/repo#N` (any case of the name), or a
    number — with `repo`, that repository's PR; alone, any repository's PR with that number."""
    if not pr:
        return None
    number = pr.removeprefix("#")
    if number.isascii() and number.isdigit() and len(number) <= 18:
        if not repo:
            wanted = str(int(number))
            return lambda pr_id: pr_id is not None and pr_id.rpartition("#")[2] == wanted
        pr = f"{repo}#{int(number)}"
    target = pr.lower()
    return lambda pr_id: pr_id is not None and pr_id.lower() == target

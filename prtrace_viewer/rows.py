"""Traces, events and CI runs as the rows and strings the templates show.

Pure: each function takes recorded data and answers plain values (no HTML: the templates
escape). Recorded values may be missing or malformed, so each answers something readable for
anything, and a link is made only from values the viewer's routes accept.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import quote, urlencode

from prtrace_core.schema import EVENT_TYPES, UUID_RE
from prtrace_core.timestamps import parse_ts

from . import views
from .params import is_event_id, pr_id_parts

__all__ = [
    "TABLE_TYPES",
    "as_mapping",
    "ci_row",
    "duration",
    "duration_ms",
    "event_row",
    "pr_event_row",
    "pr_href",
    "pr_timeline",
    "rows_url",
    "trace_facts",
    "trace_row",
    "when",
]

# The types the events table's filter offers: the schema's, and the daemon's own markers.
TABLE_TYPES: tuple[str, ...] = (*EVENT_TYPES, *(t for t in ("pause", "resume") if t not in EVENT_TYPES))


def when(ts: Any) -> str:
    if not isinstance(ts, str):
        return ""
    try:
        moment = parse_ts(ts)
    except ValueError:
        return ts
    return moment.strftime("%Y-%m-%d %H:%M:%SZ")


def _seconds_between(first: Any, last: Any) -> float | None:
    try:
        return (parse_ts(last) - parse_ts(first)).total_seconds()
    except (TypeError, ValueError):
        return None


def duration(seconds: float | None) -> str:
    if seconds is None:
        return ""
    total = round(seconds)
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h {minutes:02d}m"
    if minutes:
        return f"{minutes}m {secs:02d}s"
    return f"{secs}s"


def duration_ms(ms: Any) -> str:
    if not isinstance(ms, int | float):
        return ""
    return f"{ms} ms" if ms < 1000 else duration(ms / 1000)


def as_mapping(value: Any) -> Mapping[str, Any]:
    """A recorded object, or an empty one where the record has something else."""
    return value if isinstance(value, Mapping) else {}


def pr_href(pr_id: Any) -> str | None:
    """The PR page of an `owner/repo#N`, when its parts are ones the PR route accepts."""
    parts = pr_id_parts(pr_id)
    if parts is None:
        return None
    owner, repo, number = parts
    return f"/ui/prs/{quote(owner, safe='')}/{quote(repo, safe='')}/{number}"


def _trace_href(trace_id: Any) -> str | None:
    return f"/ui/traces/{trace_id}" if isinstance(trace_id, str) and UUID_RE.match(trace_id) else None


def trace_row(summary: Mapping[str, Any]) -> dict[str, Any]:
    trace_id = str(summary.get("trace_id", ""))
    first, last = summary.get("first_ts"), summary.get("last_ts")
    return {
        "trace_id": trace_id,
        "short_id": trace_id[:8],
        "href": _trace_href(trace_id) or "/ui",
        "repo": summary.get("repo") or "",
        "branch": summary.get("branch") or "",
        "pr_id": summary.get("pr_id"),
        "pr_href": pr_href(summary.get("pr_id")),
        "who": summary.get("owner") or summary.get("developer_id") or "",
        "events": summary.get("event_count", 0),
        "first_ts": first if isinstance(first, str) else None,
        "first": when(first),
        "last_ts": last if isinstance(last, str) else None,
        "last": when(last),
        "duration": duration(_seconds_between(first, last)),
    }


def trace_facts(trace_id: str, head: Mapping[str, Any]) -> dict[str, Any]:
    """The trace page's header: the summary's row, with what the envelope knows better."""
    summary = as_mapping(head.get("summary"))
    envelope = as_mapping(head.get("envelope"))
    repo = as_mapping(envelope.get("repo"))
    pr = as_mapping(envelope.get("pr"))
    developer = as_mapping(envelope.get("developer"))
    row = trace_row({"trace_id": trace_id, **summary})
    languages = repo.get("language")
    pr_id = pr.get("pr_id") or summary.get("pr_id")
    return {
        **row,
        "repo": repo.get("name") or row["repo"],
        "branch": repo.get("branch") or row["branch"],
        "languages": ", ".join(str(x) for x in languages) if isinstance(languages, list) else "",
        "pr_id": pr_id,
        "pr_href": pr_href(pr_id),
        "who": summary.get("owner") or developer.get("user_id") or row["who"],
    }


def event_row(trace_id: str, event: Mapping[str, Any], ref: str) -> dict[str, Any]:
    """One row of the events table; `ref` names the event for the detail route ("" when it
    cannot be named: the row then links to the trace)."""
    seq = event.get("seq")
    ts = event.get("ts")
    actor = event.get("actor")
    return {
        "seq": seq if isinstance(seq, int) and not isinstance(seq, bool) else None,
        "ts": ts if isinstance(ts, str) else None,
        "time": when(ts),
        "type": str(event.get("type", "")),
        "lane": views.lane_of(event),
        "actor": views.actor_label(actor if isinstance(actor, Mapping) else None),
        "summary": views.summary(event),
        "status": views.status(event),
        "ref": ref,
        "href": f"/ui/traces/{trace_id}?event={ref}#detail" if ref else f"/ui/traces/{trace_id}",
    }


def rows_url(trace_id: str, after: Any, kind: str | None) -> str | None:
    """The "more" button's source: the next page of rows, or None on the last page."""
    if not isinstance(after, int) or isinstance(after, bool):
        return None
    query: list[tuple[str, str]] = [("after_seq", str(after))]
    if kind:
        query.append(("type", kind))
    return f"/ui/traces/{trace_id}/rows?{urlencode(query)}"


def ci_row(event: Mapping[str, Any]) -> dict[str, Any]:
    d = views.detail(event)
    ts = event.get("ts")
    return {
        "name": d.get("name") or "CI",
        "conclusion": d.get("conclusion") or d.get("ci_status") or "—",
        "status": d["status"],
        "ts": ts if isinstance(ts, str) else None,
        "time": when(ts),
        "head_sha": d.get("head_sha"),
        "url": d.get("url"),
    }


def pr_event_row(event: Mapping[str, Any]) -> dict[str, Any]:
    """A row of the PR's merged timeline: like the trace's, linked to the event's own trace."""
    trace_id = event.get("trace_id")
    trace_href = _trace_href(trace_id)
    event_id = event.get("event_id")
    row = event_row(str(trace_id), event, "")
    row["href"] = f"{trace_href}?event={event_id}#detail" if trace_href and is_event_id(event_id) else None
    row["trace_href"] = trace_href
    row["trace_short"] = str(trace_id)[:8] if trace_href else ""
    return row


def pr_timeline(timeline: Mapping[str, Any]) -> dict[str, Any]:
    """The PR page's span: from `derive_timeline`'s start, end and duration."""
    return {
        "start_ts": timeline.get("start_time"),
        "start": when(timeline.get("start_time")),
        "end_ts": timeline.get("end_time"),
        "end": when(timeline.get("end_time")),
        "duration": duration(timeline.get("duration_seconds")) if timeline.get("duration_seconds") else "",
    }

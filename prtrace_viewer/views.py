"""Events into what the pages show: lanes, one-line summaries, pass/fail, the overview the
trace page plots, and one event's detail.

Pure functions over events as sources give them, so both the server and `prtrace view` show a
trace the same way and the tests need no browser. Everything returned is plain data (text,
numbers, lists): the templates escape text where it lands, and `overview()` goes out as JSON.
Recorded text is never trusted to be well-formed: a field of the wrong type reads as absent.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping, Sequence
from typing import Any, Literal, TypeGuard

from prtrace_core import actors
from prtrace_core.stats import line_stats, trace_stats
from prtrace_core.summaries import event_summary
from prtrace_core.timestamps import parse_ts

from .highlight import diff_lines

__all__ = [
    "LANE_LABELS",
    "LANE_TYPES",
    "MAX_BUCKETS",
    "Status",
    "actor_label",
    "detail",
    "lane_of",
    "overview",
    "status",
    "summary",
]

LANE_TYPES: tuple[str, ...] = ("edit", "command", "test", "commit", "note", "ci", "agent", "other")
LANE_LABELS: dict[str, str] = {
    "edit": "Edits",
    "command": "Commands",
    "test": "Tests",
    "commit": "Commits",
    "note": "Notes",
    "ci": "CI",
    "agent": "Agent",
    "other": "Other",
}
_LANE_OF_TYPE: dict[str, str] = {
    "edit": "edit",
    "command": "command",
    "test": "test",
    "commit": "commit",
    "merge": "commit",
    "rewrite": "commit",
    "push": "commit",
    "checkout": "commit",
    "annotation": "note",
    "ci": "ci",
    "agent": "agent",
}
_LANE_INDEX = {lane: index for index, lane in enumerate(LANE_TYPES)}

Status = Literal["pass", "fail", "neutral"]
_STATUS_CODE: dict[Status, int] = {"neutral": 0, "pass": 1, "fail": 2}
_CI_PASS = ("success",)
_CI_FAIL = ("failure", "timed_out", "cancelled")

# The plot of events over time keeps at most this many buckets; widths are ones a reader knows.
MAX_BUCKETS = 200
_BUCKET_WIDTHS_S = (60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400)
_CHURN_TOP = 30
# A count of more than 15 digits is no edit's: such a summary counts as none.
_CHANGE = re.compile(r"^\+(\d{1,15})/-(\d{1,15})$")
UNKNOWN_ACTOR = "unknown"


def _is_map(value: Any) -> TypeGuard[Mapping[str, Any]]:
    # events are dicts: skip the ABC's slow check for them (it adds up over 20,000 events)
    return type(value) is dict or isinstance(value, Mapping)


def _payload(event: Mapping[str, Any]) -> Mapping[str, Any]:
    payload = event.get("payload")
    return payload if _is_map(payload) else {}


# orjson writes no integer outside 64 bits: a bigger recorded number reads as absent.
_INT_MIN, _INT_MAX = -(2**63), 2**63 - 1


def _int(value: Any) -> int | None:
    if isinstance(value, int) and not isinstance(value, bool) and _INT_MIN <= value <= _INT_MAX:
        return value
    return None


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def lane_of(event: Mapping[str, Any]) -> str:
    """The event's lane on the time axis: git's own events share the commits' lane, a start,
    a pause or anything this version does not know goes to `other`."""
    return _LANE_OF_TYPE.get(str(event.get("type")), "other")


def actor_label(actor: Mapping[str, Any] | None) -> str:
    """The actor's lane name: `human`, the agent's name (`claude-code/Explore` for a subagent),
    a tool's name; `unknown` for an event nobody is known to have made."""
    return actors.actor_label(actor) or UNKNOWN_ACTOR


def summary(event: Mapping[str, Any]) -> str:
    """One line of plain text (the templates escape it), worded as `prtrace show` words it."""
    return event_summary(dict(event))[0]


def status(event: Mapping[str, Any]) -> Status:
    """Whether a test run, command or CI run went well; everything else is neutral."""
    kind = event.get("type")
    payload = _payload(event)
    if kind == "test":
        failed = (_int(payload.get("failed")) or 0) + (_int(payload.get("errors")) or 0)
        return "fail" if failed > 0 or payload.get("exit_code") != 0 else "pass"
    if kind == "command":
        code = payload.get("exit_code")
        if code is None:
            return "neutral"
        return "pass" if code == 0 else "fail"
    if kind == "ci":
        conclusion = payload.get("conclusion")
        if conclusion in _CI_PASS:
            return "pass"
        if conclusion in _CI_FAIL:
            return "fail"
    return "neutral"


def _ms(event: Mapping[str, Any]) -> int | None:
    ts = event.get("ts")
    if not isinstance(ts, str):
        return None
    try:
        return round(parse_ts(ts).timestamp() * 1000)
    except ValueError:
        return None


def _failed_count(payload: Mapping[str, Any]) -> int | None:
    """Failed and errored tests of a run; None (a gap in the plot, not a zero) when the run
    counted neither, e.g. one known only by its exit code."""
    failed, errors = _int(payload.get("failed")), _int(payload.get("errors"))
    if failed is None and errors is None:
        return None
    return (failed or 0) + (errors or 0)


def _json_safe(value: Any) -> Any:
    """`value` with every integer orjson cannot write (beyond 64 bits: a sum of recorded
    numbers can get there) read as absent."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int):
        return _int(value)
    if isinstance(value, dict):
        return {key: _json_safe(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_json_safe(item) for item in value]
    return value


def _bucket_width(span_s: float) -> int:
    """The narrowest familiar width that cuts `span_s` into at most MAX_BUCKETS buckets."""
    for width in _BUCKET_WIDTHS_S:
        if span_s / width < MAX_BUCKETS:
            return width
    days = math.floor(span_s / 86400 / MAX_BUCKETS) + 1
    return days * 86400


def _churn(events: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    files: dict[str, list[int]] = {}
    for event in events:
        if event.get("type") != "edit":
            continue
        payload = _payload(event)
        path = _str(payload.get("file"))
        if path is None:
            continue
        row = files.setdefault(path, [0, 0, 0])
        match = _CHANGE.match(str(payload.get("change_summary", "")))
        if match:
            row[0] += int(match[1])
            row[1] += int(match[2])
        row[2] += 1
    top = sorted(files.items(), key=lambda item: (-(item[1][0] + item[1][1]), -item[1][2], item[0]))
    return [{"file": path, "added": a, "removed": r, "edits": n} for path, (a, r, n) in top[:_CHURN_TOP]]


def overview(events: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """What the trace page draws once its first screen is up: one point per event (in trace
    order) on the lanes, events per bucket of time by lane, the test runs, the files that
    changed most, and the trace's figures. Plain JSON values only."""
    type_labels = [LANE_LABELS[lane] for lane in LANE_TYPES]
    actor_lanes: dict[str, int] = {}
    labels: dict[tuple[Any, Any, Any], str] = {}  # an actor's label, worked out once
    points: list[list[int | None]] = []
    event_ids: list[str | None] = []
    seqs: list[int] = []
    tests: dict[str, list[Any]] = {"t": [], "passed": [], "failed": [], "seq": []}
    moments: list[int] = []
    last_ms: int | None = None
    for index, event in enumerate(events):
        ms = _ms(event)
        if ms is not None:
            moments.append(ms)
            last_ms = ms
        else:
            ms = last_ms  # an event without a readable time sits where the one before it did
        actor = event.get("actor")
        if _is_map(actor):
            key = (actor.get("kind"), actor.get("name"), actor.get("subagent"))
            label = labels.get(key) or labels.setdefault(key, actor_label(actor))
        else:
            label = UNKNOWN_ACTOR
        lane = actor_lanes.setdefault(label, len(actor_lanes))
        seq = _int(event.get("seq"))
        if seq is not None:
            seqs.append(seq)
        points.append([ms, _LANE_INDEX[lane_of(event)], lane, seq, _STATUS_CODE[status(event)], index])
        event_id = event.get("event_id")
        event_ids.append(event_id if isinstance(event_id, str) else None)
        if event.get("type") == "test" and ms is not None:
            payload = _payload(event)
            tests["t"].append(ms / 1000)
            tests["passed"].append(_int(payload.get("passed")))
            tests["failed"].append(_failed_count(payload))
            tests["seq"].append(seq)
    first_ms = points[0][0] if points else None
    if first_ms is None and moments:
        first_ms = moments[0]
        for point in points:  # events before the first readable time sit at it
            if point[0] is None:
                point[0] = first_ms
    t0 = min(moments) if moments else None
    t1 = max(moments) if moments else None
    per_minute, bucket_s = _per_bucket(points, t0, t1, type_labels)
    stats = {name: value for name, value in trace_stats(events).items() if not name.startswith("_")}
    # Lines come from commits and the rewrites that replaced some: the rest need not be sorted.
    stats["lines"] = line_stats([e for e in events if e.get("type") in ("commit", "rewrite")])
    return {
        "t0": t0,
        "t1": t1,
        "lanes": {"type": type_labels, "actor": list(actor_lanes)},
        "points": points,
        "event_ids": event_ids,
        "seqs": {"min": min(seqs), "max": max(seqs)} if seqs else None,
        "per_minute": per_minute,
        "bucket_s": bucket_s,
        "tests": tests,
        "churn": _json_safe(_churn(events)),
        "stats": _json_safe(stats),
    }


def _per_bucket(
    points: list[list[int | None]], t0: int | None, t1: int | None, labels: list[str]
) -> tuple[dict[str, Any], int]:
    """Events per lane per bucket: bucket starts in seconds (uPlot's x) and, per lane that has
    any event, its counts."""
    if t0 is None or t1 is None:
        return {"t": [], "types": {}}, _BUCKET_WIDTHS_S[0]
    width = _bucket_width((t1 - t0) / 1000)
    start = (t0 // 1000) // width * width
    count = (t1 // 1000 - start) // width + 1
    counts = [[0] * count for _ in labels]
    for point in points:
        ms, lane = point[0], point[1]
        if ms is None or lane is None:
            continue
        bucket = min(max((ms // 1000 - start) // width, 0), count - 1)
        counts[lane][bucket] += 1
    types = {label: row for label, row in zip(labels, counts, strict=True) if any(row)}
    return {"t": [start + i * width for i in range(count)], "types": types}, width


# detail


def _actor_detail(actor: Any) -> dict[str, Any]:
    if not isinstance(actor, Mapping):
        return {"label": UNKNOWN_ACTOR, "kind": None, "model": None, "session": None}
    agent = actor.get("kind") == "agent"
    return {
        "label": actor_label(actor),
        "kind": _str(actor.get("kind")),
        "model": _str(actor.get("model")) if agent else None,
        "session": _str(actor.get("session")) if agent else None,
    }


def _edit_notes(payload: Mapping[str, Any]) -> list[str]:
    """Why the diff shown is not the whole change, one sentence each."""
    notes = []
    if payload.get("withheld") is True:
        notes.append("This file is withheld: capture never reads it (a secret by its name, or "
                     "listed in .prtraceignore), so the trace has no content or diff for it.")
    if payload.get("binary") is True:
        notes.append("This is a binary file: the trace holds no diff of it.")
    omitted = payload.get("diff_omitted")
    if omitted:
        reason = f" ({omitted})" if isinstance(omitted, str) else ""
        notes.append(f"The diff was left out{reason}.")
    if payload.get("diff_truncated") is True:
        notes.append("The diff was truncated: only its beginning is shown.")
    if payload.get("diff_redacted") is True:
        notes.append("Secrets were redacted from this diff: it no longer applies as it stands.")
    return notes


def _authorship(payload: Mapping[str, Any]) -> list[dict[str, Any]]:
    authorship = payload.get("authorship")
    files = authorship.get("files") if isinstance(authorship, Mapping) else None
    if not isinstance(files, Mapping):
        return []
    return [
        {"file": str(path), **{kind: _int(entry.get(kind)) or 0 for kind in ("agent", "human", "unknown")}}
        for path, entry in files.items()
        if isinstance(entry, Mapping)
    ]


def _http_url(value: Any) -> str | None:
    """A link only to the web: a recorded `javascript:` or `data:` URL is not one."""
    if isinstance(value, str) and value.lower().startswith(("https://", "http://")):
        return value
    return None


def _strings(value: Any) -> list[str]:
    return [str(item) for item in value] if isinstance(value, list) else []


def detail(event: Mapping[str, Any]) -> dict[str, Any]:
    """What the detail panel shows for one event, as plain data for its template (the
    template escapes every string; `diff_lines` is already safe HTML)."""
    kind = lane_of(event)
    payload = _payload(event)
    out: dict[str, Any] = {
        "kind": kind,
        "type": str(event.get("type")),
        "title": summary(event),
        "seq": _int(event.get("seq")),
        "ts": _str(event.get("ts")),
        "event_id": _str(event.get("event_id")),
        "actor": _actor_detail(event.get("actor")),
        "status": status(event),
    }
    etype = event.get("type")
    if etype == "edit":
        path = _str(payload.get("file")) or ""
        diff = _str(payload.get("diff"))
        out |= {
            "file": path,
            "old_file": _str(payload.get("old_file")),
            "op": _str(payload.get("op")) or "modify",
            "change_summary": _str(payload.get("change_summary")),
            "diff_lines": diff_lines(diff, path) if diff else [],
            "notes": _edit_notes(payload),
        }
    elif etype == "command":
        out |= {
            "command": _str(payload.get("command")),
            "exit_code": _int(payload.get("exit_code")),
            "duration_ms": _int(payload.get("duration_ms")),
            "cwd": _str(payload.get("cwd")),
            "output": _str(payload.get("stdout_sample")),
        }
    elif etype == "test":
        out |= {
            "command": _str(payload.get("command")),
            "exit_code": _int(payload.get("exit_code")),
            "framework": _str(payload.get("framework")),
            **{key: _int(payload.get(key)) for key in ("passed", "failed", "skipped", "errors")},
            "failed_tests": _strings(payload.get("failed_tests")),
            "duration_ms": _int(payload.get("duration_ms")),
        }
    elif etype == "commit":
        out |= {
            "sha": _str(payload.get("sha")),
            "message": _str(payload.get("message")) or "",
            "files": _strings(payload.get("files")),
            "files_changed": _int(payload.get("files_changed")),
            "insertions": _int(payload.get("insertions")),
            "deletions": _int(payload.get("deletions")),
            "parents": _strings(payload.get("parents")),
            "branch": _str(payload.get("branch")),
            "authorship": _authorship(payload),
        }
    elif etype == "annotation":
        out |= {"text": _str(payload.get("text")) or "", "role": _str(payload.get("role"))}
    elif etype == "ci":
        out |= {
            "name": _str(payload.get("name")),
            "ci_status": _str(payload.get("status")),  # `status` is the pass/fail of every event
            "conclusion": _str(payload.get("conclusion")),
            "url": _http_url(payload.get("url")),
            "head_sha": _str(payload.get("head_sha")),
        }
    else:
        out["payload_json"] = json.dumps(payload, indent=2, ensure_ascii=False, sort_keys=True, default=str)
    return out

"""GET /v1/stats: how the work on each trace went, computed in SQL on the index.

The figures and their definitions are `prtrace_core.stats`' (the contract): the index adds
up per trace what they are made of (`IndexStore.trace_sums`, one SQL query for SQLite and
PostgreSQL alike), and this module turns those sums into figures with the same arithmetic and
rounding as `prtrace_core.stats.trace_stats`, so both give the same numbers for a trace. The
total is `prtrace_core.stats.combine` over the traces.

The filters select traces, never cut one: `since` keeps the traces with an event at or after
that moment, and their figures cover the whole trace.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime
from typing import Any

from prtrace_core.stats import FIELDS, combine
from prtrace_core.timestamps import parse_since as core_since
from prtrace_core.timestamps import parse_until as core_until

from .auth import Principal
from .blobs import BlobStore
from .errors import BadQuery
from .index import IndexStore, TraceFilter, TraceSums
from .ingest import stats_columns
from .reads import load_events

__all__ = ["backfill", "figures", "parse_since", "parse_until", "stats", "trace_filter"]

# A query string's `+` arrives as a space: 2026-11-24T19:00:00+02:00 unencoded.
_SPACED_OFFSET = re.compile(r"(T[\d:.]+) (\d{2}:?\d{2})\Z")
_PR_ID = re.compile(r"[^\s#]+/[^\s#]+#\d+\Z")
_PR_NUMBER = re.compile(r"#?([0-9]{1,18})\Z")
_BACKFILL_PAGE = 1000


def parse_since(text: str) -> str:
    """`since` as the index writes ts (UTC, milliseconds, Z), read as `prtrace --since` reads it
    (a date, a timestamp, an age such as 7d). BadQuery for anything else."""
    return _index_bound("since", core_since, text)


def parse_until(text: str) -> str:
    """`until` in index form, read as `since` is, except that a date means its whole day."""
    return _index_bound("until", core_until, text)


def _index_bound(name: str, parse: Callable[[str], datetime], text: str) -> str:
    text = _SPACED_OFFSET.sub(r"\1+\2", text.strip())
    try:
        moment = parse(text)
    except ValueError as exc:
        raise BadQuery(f"{name}: {str(exc)[:160]}") from None
    # zero-padded by hand: strftime's %Y drops the padding of years before 1000 on Linux
    return (
        f"{moment.year:04d}-{moment.month:02d}-{moment.day:02d}T{moment.hour:02d}:{moment.minute:02d}:"
        f"{moment.second:02d}.{moment.microsecond // 1000:03d}Z"
    )


def trace_filter(
    principal: Principal, *, repo: str | None = None, since: str | None = None, pr: str | None = None
) -> TraceFilter:
    """The traces a stats or export request selects: `repo` (owner/repo), `since` (see
    `parse_since`), `pr` (owner/repo#N, or N: with `repo` that repo's PR N, alone any repo's).
    A writer sees only its own traces. BadQuery for a malformed parameter."""
    repo = _clean(repo)
    pr_id: str | None = None
    pr_number: int | None = None
    pr = _clean(pr)
    if pr is not None:
        number = _PR_NUMBER.match(pr)
        if number and repo is not None:
            pr_id = f"{repo}#{int(number[1])}"
        elif number:
            pr_number = int(number[1])
        elif _PR_ID.match(pr):
            pr_id = pr
        else:
            raise BadQuery(f"pr: {pr[:64]!r} is neither owner/repo#N nor a PR number")
    return TraceFilter(
        repo=repo,
        pr_id=pr_id,
        pr_number=pr_number,
        since=parse_since(since) if since is not None and since.strip() else None,
        owner=None if principal.reads_all else principal.user,
    )


def figures(sums: TraceSums) -> dict[str, Any]:
    """The trace's figures from its sums, each as `prtrace_core.stats.trace_stats` computes
    it; `_between_sum` and `_between_n` are kept for `combine`."""
    between_n = max(sums.test_runs - 1, 0)  # one gap between each pair of consecutive runs
    first, last = sums.first_ms, sums.last_ms
    return {
        "events": sums.events,
        "duration_s": round((last - first) / 1000, 3) if first is not None and last is not None else 0.0,
        "active_s": round(sums.active_ms / 1000, 3),
        "edits": sums.edits,
        "files_touched": sums.files_touched,
        "lines_added": sums.lines_added,
        "lines_removed": sums.lines_removed,
        "commands": sums.commands,
        "test_runs": sums.test_runs,
        "green_runs": sums.green_runs,
        "time_to_first_green_s": (
            round((sums.first_green_ms - first) / 1000, 3)
            if sums.first_green_ms is not None and first is not None
            else None
        ),
        "red_green_cycles": sums.red_green_cycles,
        "edits_between_tests": round(sums.edits_between_tests / between_n, 2) if between_n else None,
        "commits": sums.commits,
        "rewrites": sums.rewrites,
        "agent_events": sums.agent_events,
        "agent_share": round(sums.agent_events / sums.events, 4) if sums.events else 0.0,
        "_between_sum": sums.edits_between_tests,
        "_between_n": between_n,
    }


def stats(
    index: IndexStore,
    blobs: BlobStore,
    principal: Principal,
    *,
    repo: str | None = None,
    since: str | None = None,
    pr: str | None = None,
) -> dict[str, Any]:
    """`{"traces": [one row per trace, newest first], "total": combine() of them}`."""
    query = trace_filter(principal, repo=repo, since=since, pr=pr)
    backfill(index, blobs, query)
    rows = []
    per_trace = []
    for sums in index.trace_sums(query):
        figured = figures(sums)
        per_trace.append(figured)
        rows.append({
            "trace_id": sums.trace_id,
            "repo": sums.repo_name,
            "branch": sums.branch,
            "pr_id": sums.pr_id,
            "owner": sums.owner,
            "developer": sums.developer_id,
            **{name: figured[name] for name in FIELDS},
        })
    return {"traces": rows, "total": combine(per_trace)}


def backfill(index: IndexStore, blobs: BlobStore, query: TraceFilter) -> int:
    """Fill the stats columns of the selected traces indexed before they existed (migration
    0003), from their batch objects; returns how many traces it filled. Each is filled once:
    the trace's mark is cleared with its last rows, and rows ingested since are already filled."""
    traces = index.traces_to_backfill(query)
    for trace_id in traces:
        after = None
        while True:
            page = index.event_page(trace_id, after=after, limit=_BACKFILL_PAGE)
            done = len(page) < _BACKFILL_PAGE
            events = load_events(blobs, page)
            rows = [(event["event_id"], stats_columns(event)) for event in events]
            index.fill_stats_columns(trace_id, rows, done=done)
            if done:
                break
            after = (page[-1].seq, page[-1].server_seq)
    return len(traces)


def _clean(value: str | None) -> str | None:
    # Index columns hold no NUL, so a filter with one would match nothing anyway.
    value = value.replace("\x00", "").strip() if value else None
    return value or None

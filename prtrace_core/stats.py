"""What a trace says about how the work went: time, edits, churn, test cycles, commits.

Pure functions over a trace's events. The server computes the same figures in SQL on its
index (`GET /v1/stats`), so every definition here is one that SQL can follow:

- trace order is `(seq, server_seq)`, events without a seq (a webhook's `ci`) last;
- `duration_s` is the latest `ts` minus the earliest;
- `active_s` sums the gaps between consecutive events in time order, leaving out any gap
  longer than `IDLE_GAP_S` (a lunch break is not work);
- a test run is *green* when its exit code is 0 and it reports no failures and no errors;
- `time_to_first_green_s` runs from the trace's earliest `ts` to the first green run's `ts`;
- a *red→green cycle* is a green run that directly follows a red one, in trace order;
- `edits_between_tests` is the mean number of edits between consecutive test runs;
- churn is the sum of each edit's `change_summary` (`+added/-removed`);
- the *agent line share* of a commit is the lines it added that agents wrote over the lines
  it added whose author is known (its payload's `authorship`); of a trace or a PR, the same
  over its commits, leaving out those an amend or a rebase replaced (their lines are counted
  in the commits that replaced them). These figures are the client's: the server's SQL ones
  do not have them (`LINE_FIELDS`, beside `FIELDS`).
"""

from __future__ import annotations

import contextlib
import itertools
import re
import statistics
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from prtrace_core.timestamps import parse_ts

__all__ = [
    "FIELDS",
    "IDLE_GAP_S",
    "LINE_FIELDS",
    "combine",
    "combine_lines",
    "commit_lines",
    "is_green",
    "line_stats",
    "replaced_commits",
    "trace_order",
    "trace_stats",
]

IDLE_GAP_S = 15 * 60

# The figures, in the order tables and CSV show them.
FIELDS: tuple[str, ...] = (
    "events",
    "duration_s",
    "active_s",
    "edits",
    "files_touched",
    "lines_added",
    "lines_removed",
    "commands",
    "test_runs",
    "green_runs",
    "time_to_first_green_s",
    "red_green_cycles",
    "edits_between_tests",
    "commits",
    "rewrites",
    "agent_events",
    "agent_share",
)

# Who wrote the committed lines, from commit payloads' `authorship`, after FIELDS in tables.
LINE_FIELDS: tuple[str, ...] = ("agent_lines", "human_lines", "unknown_lines", "agent_line_share")

# A count of more than 15 digits is no edit's (and int() refuses past 4,300): such a summary
# counts as none.
_SUMMARY = re.compile(r"^\+(\d{1,15})/-(\d{1,15})$")


def is_green(payload: Mapping[str, Any]) -> bool:
    """A test run that passed: exit 0, and no failures or errors reported."""
    return payload.get("exit_code") == 0 and not payload.get("failed") and not payload.get("errors")


def trace_order(events: Iterable[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """Events in trace order: `(seq, server_seq)`, server-made events (no seq) after, by `ts`."""

    def key(event: Mapping[str, Any]) -> tuple[int, int, int, str]:
        seq = event.get("seq")
        server_seq = event.get("server_seq")
        return (
            1 if not isinstance(seq, int) else 0,
            seq if isinstance(seq, int) else 0,
            server_seq if isinstance(server_seq, int) else 0,
            str(event.get("ts", "")),
        )

    return sorted(events, key=key)


def _seconds(events: Sequence[Mapping[str, Any]]) -> list[float]:
    moments = []
    for event in events:
        try:
            moments.append(parse_ts(str(event.get("ts"))).timestamp())
        except ValueError:
            continue
    return moments


def trace_stats(events: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    """The figures for one trace (see the module's docstring for each definition)."""
    ordered = trace_order(events)
    moments = sorted(_seconds(ordered))
    first = moments[0] if moments else None
    files: set[str] = set()
    added = removed = edits = commands = tests = greens = cycles = commits = rewrites = agent = 0
    first_green: float | None = None
    since_test: int | None = None  # edits since the last test run; None before the first
    between: list[int] = []
    last_green: bool | None = None
    for event in ordered:
        kind = event.get("type")
        payload = event.get("payload") or {}
        actor = event.get("actor") or {}
        if isinstance(actor, Mapping) and actor.get("kind") == "agent":
            agent += 1
        if kind == "edit":
            edits += 1
            if since_test is not None:
                since_test += 1
            if isinstance(payload.get("file"), str):
                files.add(payload["file"])
            match = _SUMMARY.match(str(payload.get("change_summary", "")))
            if match:
                added += int(match[1])
                removed += int(match[2])
        elif kind == "command":
            commands += 1
        elif kind == "test":
            tests += 1
            if since_test is not None:
                between.append(since_test)
            since_test = 0
            green = is_green(payload)
            if green:
                greens += 1
                if last_green is False:
                    cycles += 1
                if first_green is None and first is not None:
                    with contextlib.suppress(ValueError):
                        first_green = parse_ts(str(event.get("ts"))).timestamp() - first
            last_green = green
        elif kind == "commit":
            commits += 1
        elif kind == "rewrite":
            rewrites += 1
    active = sum(gap for a, b in itertools.pairwise(moments) if (gap := b - a) <= IDLE_GAP_S)
    count = len(ordered)
    return {
        "events": count,
        "duration_s": round(moments[-1] - moments[0], 3) if moments else 0.0,
        "active_s": round(active, 3),
        "edits": edits,
        "files_touched": len(files),
        "lines_added": added,
        "lines_removed": removed,
        "commands": commands,
        "test_runs": tests,
        "green_runs": greens,
        "time_to_first_green_s": round(first_green, 3) if first_green is not None else None,
        "red_green_cycles": cycles,
        "edits_between_tests": round(sum(between) / len(between), 2) if between else None,
        "commits": commits,
        "rewrites": rewrites,
        "agent_events": agent,
        "agent_share": round(agent / count, 4) if count else 0.0,
        # kept so that many traces combine into exact means
        "_between_sum": sum(between),
        "_between_n": len(between),
    }


def combine(per_trace: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """The figures over many traces: counts and times summed, `time_to_first_green_s` the
    median over the traces that went green, means weighted by what they average over."""
    total: dict[str, Any] = {"traces": len(per_trace)}
    summed = ("events", "duration_s", "active_s", "edits", "lines_added", "lines_removed", "commands",
              "test_runs", "green_runs", "red_green_cycles", "commits", "rewrites", "agent_events")
    for name in summed:
        total[name] = sum(s.get(name) or 0 for s in per_trace)
    for name in ("duration_s", "active_s"):
        total[name] = round(total[name], 3)
    # a file is counted once per trace it was touched in
    total["files_touched"] = sum(s.get("files_touched") or 0 for s in per_trace)
    greens = [s["time_to_first_green_s"] for s in per_trace if s.get("time_to_first_green_s") is not None]
    total["time_to_first_green_s"] = round(statistics.median(greens), 3) if greens else None
    n = sum(s.get("_between_n") or 0 for s in per_trace)
    total["edits_between_tests"] = round(sum(s.get("_between_sum") or 0 for s in per_trace) / n, 2) if n else None
    total["agent_share"] = round(total["agent_events"] / total["events"], 4) if total["events"] else 0.0
    return {name: total[name] for name in ("traces", *FIELDS)}


def _share(agent: int, human: int) -> float | None:
    return round(agent / (agent + human), 4) if agent + human else None


def replaced_commits(events: Iterable[Mapping[str, Any]]) -> set[str]:
    """The commits an amend or a rebase replaced (`old_sha` of the `rewrite` events' mappings):
    their lines are counted, and exported, in the commits that replaced them."""
    return {
        str(m.get("old_sha"))
        for e in events
        if e.get("type") == "rewrite"
        for m in (e.get("payload") or {}).get("mappings") or []
        if isinstance(m, Mapping) and m.get("old_sha") != m.get("new_sha")
    }


def commit_lines(events: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Per commit with an `authorship`, in trace order: its sha, the lines it added by agents,
    by the developer and of no known author, and its agent line share. Commits an amend or a
    rebase replaced are left out."""
    ordered = trace_order(events)
    replaced = replaced_commits(ordered)
    rows = []
    for event in ordered:
        payload = event.get("payload") or {}
        authorship = payload.get("authorship")
        if event.get("type") != "commit" or not isinstance(authorship, Mapping):
            continue
        if payload.get("sha") in replaced:
            continue
        counts = {"agent": 0, "human": 0, "unknown": 0}
        files = authorship.get("files")
        entries = list(files.values()) if isinstance(files, Mapping) else []
        entries.append(authorship.get("omitted"))  # files left out of a huge commit, summed
        for entry in entries:
            for kind in counts:
                value = entry.get(kind) if isinstance(entry, Mapping) else None
                counts[kind] += value if isinstance(value, int) else 0
        rows.append({
            "sha": payload.get("sha"),
            "agent_lines": counts["agent"],
            "human_lines": counts["human"],
            "unknown_lines": counts["unknown"],
            "agent_line_share": _share(counts["agent"], counts["human"]),
        })
    return rows


def line_stats(events: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    """The LINE_FIELDS of one trace, and its commits' own (`commit_lines`)."""
    commits = commit_lines(events)
    return {**combine_lines(commits), "commit_lines": commits}


def combine_lines(rows: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """The LINE_FIELDS over many commits or traces: lines summed, the share of the sums."""
    sums = {name: sum(r.get(name) or 0 for r in rows) for name in LINE_FIELDS[:3]}
    return {**sums, "agent_line_share": _share(sums["agent_lines"], sums["human_lines"])}

"""Putting GitHub's facts into traces: the PR a trace belongs to, and its CI runs as `ci` events.

Every step is idempotent — a PR is set only on a trace without one, a CI event is stored once
by its id — so it runs wherever it may be needed: when a webhook arrives (for the traces that
exist), after an ingest creates a trace or its client links a PR (`needs_link`), and in the
worker's sweep, which finishes whatever a crash interrupted.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Iterable
from datetime import timedelta

from prtrace_core.timestamps import format_ts, now_ts, parse_ts

from .blobs import BlobStore
from .errors import StoreCorrupt, StoreUnavailable
from .github import CiRun, PullRequest
from .index import IndexStore, TraceRecord
from .ingest import Candidate, batch_object, check_one, event_write

__all__ = [
    "CI_AFTER",
    "CI_LOOKBACK",
    "apply_ci_run",
    "apply_pull_request",
    "link_after_ingest",
    "link_pending",
    "link_trace",
    "new_mark",
]

log = logging.getLogger(__name__)

# A branch's CI runs from before its trace began belong to earlier work on a branch of the
# same name, except those just before (a push, then `prtrace start`): an hour's grace.
CI_LOOKBACK = timedelta(hours=1)
# …and CI runs more than a day after a trace's last event are later work on the branch (a
# trace on `main` does not collect every run there ever is).
CI_AFTER = timedelta(days=1)


def new_mark() -> str:
    """A fresh value for a pending row: clearing it later only succeeds if no one re-marked it."""
    return uuid.uuid4().hex


def link_trace(
    index: IndexStore, blobs: BlobStore, trace: TraceRecord, *, now: Callable[[], str] = now_ts
) -> str | None:
    """Apply GitHub's facts to one trace: its PR if it has none, and every CI run that belongs
    to it. Returns the trace's PR id (now), for the caller to refresh that PR's document."""
    pr_id = trace.pr_id
    if pr_id is None:
        pr = _best(index.pull_requests_of_branch(trace.repo_name, trace.branch), trace)
        if pr is not None:
            if index.set_trace_pr(trace.trace_id, pr):
                pr_id = pr.pr_id
            else:
                refreshed = index.get_trace(trace.trace_id)  # its client linked it meanwhile
                pr_id = refreshed.pr_id if refreshed is not None else None
    runs = _runs_of(index, trace, pr_id)
    if runs:
        _store_ci_events(index, blobs, trace.trace_id, runs, received_at=now())
    return pr_id


def apply_pull_request(
    index: IndexStore, blobs: BlobStore, pr: PullRequest, *, now: Callable[[], str] = now_ts
) -> set[str]:
    """Store the PR and link the traces of its head branch (and those linked to it by their
    clients get its CI runs); returns the PR ids whose documents changed."""
    index.save_pull_request(pr)
    # The head branch lives in the head repository (a fork's, or the base's own): a trace of
    # the base repository on a branch of the same name is other work.
    traces = _distinct([*index.traces_of_branch({pr.head_repo}, pr.head_branch), *index.traces_of_pr(pr.pr_id)])
    changed = {pr.pr_id}
    for trace in traces:
        linked = link_trace(index, blobs, trace, now=now)
        if linked:
            changed.add(linked)
    return changed


def apply_ci_run(index: IndexStore, blobs: BlobStore, run: CiRun, *, now: Callable[[], str] = now_ts) -> set[str]:
    """Store the CI state change and add it to every trace it belongs to; returns the PR ids
    whose documents changed."""
    index.save_ci_run(run)
    traces: list[TraceRecord] = []
    if run.head_branch:
        traces += index.traces_of_branch({run.head_repo}, run.head_branch)
    for number in run.pr_numbers:
        traces += index.traces_of_pr(f"{run.repo_name}#{number}")
    changed = {f"{run.repo_name}#{number}" for number in run.pr_numbers}
    for trace in _distinct(traces):
        linked = link_trace(index, blobs, trace, now=now)
        if linked:
            changed.add(linked)
    return changed


def link_after_ingest(index: IndexStore, blobs: BlobStore, trace_id: str) -> None:
    """Link a trace ingest just created or its client just linked to a PR, at once rather than
    at the next sweep. The batch is already stored: a failure here is the sweep's to finish."""
    try:
        trace = index.get_trace(trace_id)
        if trace is None or not trace.needs_link:
            return
        pr_id = link_trace(index, blobs, trace)
        index.trace_linked(trace_id, pr_id)  # as linked now: a client's link since keeps the flag
        if pr_id:
            index.mark_prs_pending([pr_id], new_mark())
    except Exception as exc:  # never an error for a batch that is stored
        log.warning("linking %s to GitHub's facts left to the sweep: %s", trace_id, exc)


def link_pending(index: IndexStore, blobs: BlobStore, *, limit: int = 100, mark: str | None = None) -> int:
    """Link the traces ingest flagged (`needs_link`); returns how many. The worker's sweep."""
    done = 0
    changed: set[str] = set()
    for trace_id in index.traces_to_link(limit):
        trace = index.get_trace(trace_id)
        if trace is None:
            continue
        try:
            pr_id = link_trace(index, blobs, trace)
        except (StoreUnavailable, StoreCorrupt) as exc:
            log.warning("linking %s to GitHub's facts postponed: %s", trace_id, exc)
            continue
        except Exception:  # a bug, or data no check foresaw: never a stalled sweep
            log.exception("linking %s to GitHub's facts failed; it is left unlinked", trace_id)
            pr_id = trace.pr_id
        index.trace_linked(trace_id, pr_id)  # as linked now: a client's link since keeps the flag
        if pr_id:
            changed.add(pr_id)
        done += 1
    index.mark_prs_pending(changed, mark or new_mark())
    return done


def _best(prs: list[PullRequest], trace: TraceRecord) -> PullRequest | None:
    """The PR a branch's trace belongs to: an open one first, else the newest that was still
    open when the trace began (a branch name used again is not last month's merged PR)."""
    open_prs = [pr for pr in prs if pr.status == "open"]
    if open_prs:
        return open_prs[0]
    began = _shifted(trace.first_ts, -CI_LOOKBACK)
    closed = [pr for pr in prs if began is None or (pr.closed_at or pr.merged_at or pr.updated_at) >= began]
    return closed[0] if closed else None


def _runs_of(index: IndexStore, trace: TraceRecord, pr_id: str | None) -> list[CiRun]:
    """The CI runs that belong to a trace: those of its branch while it was active (from an
    hour before its first event to CI_AFTER past its last), and those GitHub reports for its PR."""
    since = _shifted(trace.first_ts, -CI_LOOKBACK)
    until = _shifted(trace.last_ts, CI_AFTER)
    runs = [r for r in index.ci_runs_of_branch(trace.repo_name, trace.branch, since=since)
            if until is None or r.ts <= until]
    if pr_id is not None:
        repo, _, number = pr_id.rpartition("#")
        if number.isdigit() and len(number) <= 18:
            runs += index.ci_runs_of_pr(repo, int(number))
    unique = {run.ci_id: run for run in runs}
    return sorted(unique.values(), key=lambda run: run.ts)


def _shifted(ts: str | None, by: timedelta) -> str | None:
    """ts moved by `by`, in the index's form; None when absent, clamped at the calendar's ends
    (a client may send year 1)."""
    if not ts:
        return None
    try:
        return format_ts(parse_ts(ts) + by)
    except (ValueError, OverflowError):
        return ts


def _store_ci_events(
    index: IndexStore, blobs: BlobStore, trace_id: str, runs: Iterable[CiRun], *, received_at: str
) -> list[str]:
    """The runs as the trace's `ci` events, stored once each: the object first, then the rows."""
    candidates: list[Candidate] = []
    for position, run in enumerate(runs):
        event = run.event()
        problem, data, identity = check_one(trace_id, event)
        if problem is not None:  # a payload GitHub would never send; say so, keep the rest
            log.warning("CI event for %s skipped: %s", trace_id, problem.message)
            continue
        candidates.append(Candidate(position, identity, event, data))
    stored = index.existing_event_ids(trace_id, [c.event_id for c in candidates])
    fresh = [c for c in candidates if c.event_id not in stored]
    if not fresh:
        return []
    key, content = batch_object(trace_id, fresh, origin="server")
    blobs.put(key, content)
    return index.add_server_events(trace_id, [event_write(c, key) for c in fresh], received_at=received_at)


def _distinct(traces: Iterable[TraceRecord]) -> list[TraceRecord]:
    seen: dict[str, TraceRecord] = {}
    for trace in traces:
        seen.setdefault(trace.trace_id, trace)
    return list(seen.values())


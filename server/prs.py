"""One pull request as readers get it: every trace linked to it and its CI runs, merged into one
timeline ordered by time, each event naming its trace.

A PR's traces may come from several developers, branches or machines, so the merge is by
`ts`; within a trace, trace order is kept (each trace's events enter the merge in its own
order). CI runs belong to the PR, not to one trace: the copies its traces hold (`origin:
server`) are shown once, with `trace_id: null`.

A PR id is whatever a client put in its envelope, so a writer can claim any PR. What GitHub
told the server about a PR (its title and state, its CI runs) is therefore shown in full only to
those who read every trace; a writer sees the CI runs of the commits their own traces recorded,
and the PR as their own traces' clients described it (the rule is `ci_visibility`'s).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from prtrace_core.canonical import canonical_json
from prtrace_core.timeline import derive_timeline, merge_by_time
from prtrace_core.timestamps import parse_ts

from .assemble import order_events, trace_summary
from .auth import Principal
from .blobs import BlobStore, check_key
from .ci_visibility import ci_shown, recorded_commits
from .errors import BadQuery, NotFound
from .github import CiRun, PullRequest, valid_repo_name
from .index import IndexStore, TraceRecord, TraceSummary
from .reads import load_events

__all__ = ["SYSTEM", "pr_document", "pr_key", "recorded_commits", "split_pr_id"]

# Who the worker reads as when it writes a PR's document: every trace.
SYSTEM = Principal(user="prtrace-worker", role="reader")


def split_pr_id(pr_id: str) -> tuple[str, str, int] | None:
    """(owner, repo, number) of `owner/repo#N`, or None when it is not one GitHub could name."""
    repo, _, number = pr_id.rpartition("#")
    if not valid_repo_name(repo) or not number.isascii() or not number.isdigit() or len(number) > 18:
        return None
    owner, name = repo.split("/")
    return owner, name, int(number)


def pr_key(owner: str, repo: str, number: int) -> str:
    """The PR document's object key, `prs/<owner>/<repo>/<n>.json`, lower-cased as GitHub
    compares names (one document however a client spells them); ValueError for a name no
    object key may hold (`org/.github`: a leading dot)."""
    if not valid_repo_name(f"{owner}/{repo}"):
        raise ValueError(f"not a repository name: {owner}/{repo}")
    return check_key(f"prs/{owner.lower()}/{repo.lower()}/{number}.json")


def pr_document(
    index: IndexStore, blobs: BlobStore, principal: Principal, owner: str, repo: str, number: int
) -> dict[str, Any]:
    """The PR with the traces this user may read and its CI runs, in one timeline."""
    if not valid_repo_name(f"{owner}/{repo}"):
        raise BadQuery(f"owner/repo: {owner}/{repo!s:.80} is not a GitHub repository name")
    pr_id = f"{owner}/{repo}#{number}"
    traces = [t for t in index.traces_of_pr(pr_id) if principal.may_read(t.owner)]
    if not traces:
        raise NotFound(f"no trace is linked to {pr_id}")
    github = index.pull_request(pr_id)
    read = [(trace, order_events(load_events(blobs, index.event_records(trace.trace_id)))) for trace in traces]
    shown = ci_shown(principal, recorded_commits(event for _, events in read for event in events))

    streams: list[list[Mapping[str, Any]]] = []
    ci: dict[bytes, dict[str, Any]] = {}
    for trace, trace_events in read:
        own: list[Mapping[str, Any]] = []
        for event in trace_events:
            if event.get("origin") == "server":
                if shown(event["payload"]):
                    _add_ci(ci, event["ts"], event["payload"])
            else:
                own.append({**event, "trace_id": trace.trace_id})
        streams.append(own)
    for run in _pr_runs(index, owner, repo, number, github):
        if shown(run.payload):
            _add_ci(ci, run.ts, run.payload)
    streams.append(sorted(ci.values(), key=_when))
    events = merge_by_time(streams)

    return {
        "pr_id": github.pr_id if github else pr_id,
        "pr": _pr_block(github if principal.reads_all else None, traces, pr_id),
        "traces": [trace_summary(_summary(t)) for t in traces],
        "ci_runs": len(ci),
        "timeline": derive_timeline(events),
        "events": events,
    }


def _pr_runs(index: IndexStore, owner: str, repo: str, number: int, github: PullRequest | None) -> Iterator[CiRun]:
    yield from index.ci_runs_of_pr(f"{owner}/{repo}", number)
    if github is not None:
        # Checks on a fork's branch name no PR (GitHub leaves pull_requests empty for them).
        since = github.created_at
        yield from index.ci_runs_of_branch(github.head_repo, github.head_branch, since=since)


def _add_ci(found: dict[bytes, dict[str, Any]], ts: str, payload: Mapping[str, Any]) -> None:
    key = canonical_json({"ts": ts, "payload": payload})
    found.setdefault(
        key, {"seq": None, "ts": ts, "type": "ci", "payload": dict(payload), "origin": "server", "trace_id": None}
    )


def _pr_block(github: PullRequest | None, traces: list[TraceRecord], pr_id: str) -> dict[str, Any]:
    """GitHub's description when a webhook gave one, else what the traces' clients said."""
    if github is not None:
        return {**github.envelope_pr(), "head_branch": github.head_branch, "head_repo": github.head_repo,
                "closed_at": github.closed_at, "source": "github"}
    for trace in sorted(traces, key=lambda t: t.updated_at, reverse=True):
        pr = trace.envelope.get("pr")
        if isinstance(pr, dict):
            return {**pr, "pr_id": pr_id, "source": "client"}
    return {"pr_id": pr_id, "source": "client"}


def _summary(trace: TraceRecord) -> TraceSummary:
    return TraceSummary(
        trace_id=trace.trace_id,
        repo_name=trace.repo_name,
        branch=trace.branch,
        pr_id=trace.pr_id,
        developer_id=trace.developer_id,
        owner=trace.owner,
        event_count=trace.event_count,
        first_ts=trace.first_ts,
        last_ts=trace.last_ts,
        created_at=trace.created_at,
        updated_at=trace.updated_at,
    )


def _when(event: Mapping[str, Any]) -> Any:
    return parse_ts(event["ts"])

"""What a viewer reads from, and the errors it can answer with.

The viewer's pages are the same whether the traces come from the server's stores or from the
local buffer; `TraceSource` is the one seam between them. A source is already bound to the
reader, so it alone decides what that reader may see. Each error carries the HTTP status the
pages answer it with, so the routes map errors to statuses in one place.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from prtrace_core.errors import PrtraceError
from prtrace_core.replay import Sources

__all__ = [
    "BadRequest",
    "LoginRequired",
    "NotAllowed",
    "NotFound",
    "TraceQuery",
    "TraceSource",
    "Unavailable",
    "ViewerError",
]


class ViewerError(PrtraceError):
    """Base of what a viewer page can refuse or fail with; `status` is the HTTP answer."""

    status: int = 400


class BadRequest(ViewerError):
    """A filter, seq, id or cursor in the request is malformed."""

    status = 400


class LoginRequired(ViewerError):
    """No credentials came with the request, or they are unknown or revoked."""

    status = 401


class NotAllowed(ViewerError):
    """The reader's token may not read this trace."""

    status = 403


class NotFound(ViewerError):
    """No such trace, PR, event or file."""

    status = 404


class Unavailable(ViewerError):
    """A store behind the source does not answer."""

    status = 503


@dataclass(frozen=True, slots=True)
class TraceQuery:
    """The traces list's filters and page, as the list page's form sends them."""

    repo: str | None = None
    branch: str | None = None
    pr: str | None = None  # "owner/repo#N" or "N"
    developer: str | None = None  # the owner (token user) on the server
    since: str | None = None  # "YYYY-MM-DD" or ISO timestamp: traces with an event at/after
    until: str | None = None  # "YYYY-MM-DD" (whole day included) or ISO: first event at/before
    cursor: str | None = None
    limit: int = 50


class TraceSource(Protocol):
    """One reader's view of the traces: already bound to who is asking."""

    def traces(self, query: TraceQuery) -> dict[str, Any]:
        """{"traces": [summary, ...], "next_cursor": str | None}; newest first. A summary has
        the keys of the server's trace_summary: trace_id, repo, branch, pr_id, owner,
        developer_id, event_count, first_ts, last_ts, created_at, updated_at."""
        ...

    def head(self, trace_id: str) -> dict[str, Any]:
        """{"summary": summary, "envelope": {trace_id, repo:{name,branch,language}, pr,
        developer}} — cheap (no events read): the first screen needs only this and one page."""
        ...

    def events_page(
        self, trace_id: str, *, after_seq: int | None, limit: int, type: str | None
    ) -> dict[str, Any]:
        """{"events": [...], "next_after_seq": int | None} — the same contract as
        GET /v1/traces/{id}/events (events without seq, e.g. server CI runs, come on the
        last page)."""
        ...

    def events(self, trace_id: str) -> Sequence[Mapping[str, Any]]:
        """Every event in trace order (the server caches the last few traces it read)."""
        ...

    def pr(self, owner: str, repo: str, number: int) -> dict[str, Any]:
        """The PR document: the shape of GET /v1/prs/{owner}/{repo}/{n}: pr_id, pr (title,
        status, …), traces (summaries), ci_runs (count), timeline, events (each with trace_id;
        CI runs have type "ci", trace_id None)."""
        ...

    def replay_sources(self, trace_id: str) -> Sources | None:
        """Where replay finds content the trace lacks (a git repository), or None."""
        ...

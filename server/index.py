"""The index: one row per trace, one row per event, and the tokens — behind one protocol so the
SQLite and PostgreSQL stores are interchangeable."""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field, fields
from typing import TYPE_CHECKING, Any, Literal, NamedTuple, Protocol

if TYPE_CHECKING:
    from .github import CiRun, PullRequest

__all__ = [
    "EVENT_RECORD_COLUMNS",
    "KEY_TEXT_MAX_BYTES",
    "STATS_COLUMNS",
    "SUMMARY_COLUMNS",
    "EventKey",
    "EventRecord",
    "EventWrite",
    "IndexStore",
    "IngestOutcome",
    "Role",
    "SeqMode",
    "TokenRecord",
    "TraceFilter",
    "TraceRecord",
    "TraceSummary",
    "TraceSums",
    "TraceWrite",
]

SeqMode = Literal["client", "server"]
Role = Literal["writer", "reader", "admin"]

# Text the index is keyed on (repo name, branch, PR id) holds at most this many UTF-8 bytes:
# PostgreSQL's btree refuses an entry over 2,704 bytes, and (repo_name, branch) is one entry.
KEY_TEXT_MAX_BYTES = 1024

# The event columns migration 0003 added for GET /v1/stats, in the order stores write them.
STATS_COLUMNS = ("ts_ms", "actor_kind", "lines_added", "lines_removed", "skipped", "errors", "green")

# Where a page of a trace's events ended: the last row's (seq, server_seq).
EventKey = tuple[int | None, int]


@dataclass(frozen=True, slots=True)
class TraceRecord:
    """One `traces` row."""

    trace_id: str
    repo_name: str
    branch: str
    pr_id: str | None
    developer_id: str
    owner: str
    envelope: dict[str, Any]
    language: list[str]
    event_count: int
    first_ts: str | None
    last_ts: str | None
    last_seq: int
    last_server_seq: int
    seq_mode: SeqMode | None
    created_at: str
    updated_at: str
    compacted_upto: int
    needs_link: bool = False  # GitHub's facts are still to be applied (server/linking.py)


@dataclass(frozen=True, slots=True)
class TraceSummary:
    """The `traces` columns a listing shows: everything but the envelope, which may be large."""

    trace_id: str
    repo_name: str
    branch: str
    pr_id: str | None
    developer_id: str
    owner: str
    event_count: int
    first_ts: str | None
    last_ts: str | None
    created_at: str
    updated_at: str


# The columns of TraceSummary, as a listing selects them.
SUMMARY_COLUMNS = tuple(f.name for f in fields(TraceSummary))


@dataclass(frozen=True, slots=True)
class TraceWrite:
    """What a batch says about its trace. Index text columns arrive free of NUL."""

    trace_id: str
    repo_name: str
    branch: str
    pr_id: str | None
    developer_id: str
    envelope: dict[str, Any]
    seq_mode: SeqMode | None  # None when the batch holds no event that decides it


class EventWrite(NamedTuple):
    """A new event for the index; `seq` None means the server assigns the trace's next one.

    A named tuple, not a frozen dataclass: ingest makes one per event, and a frozen
    dataclass of this many fields costs several times as much to build.
    """

    event_id: str
    seq: int | None
    ts: str  # normalised UTC, so text order is time order
    type: str
    object_key: str
    file: str | None = None
    command: str | None = None
    exit_code: int | None = None
    passed: int | None = None
    failed: int | None = None
    sha: str | None = None
    # STATS_COLUMNS
    ts_ms: int | None = None
    actor_kind: str | None = None
    lines_added: int | None = None
    lines_removed: int | None = None
    skipped: int | None = None
    errors: int | None = None
    green: int | None = None  # 1 or 0 for a test run, None for any other event


class EventRecord(NamedTuple):
    """One `events_index` row, as reads and compaction need it (a named tuple: a trace is read
    a row at a time, and a frozen dataclass cost 3 µs a row to build)."""

    event_id: str
    trace_id: str
    seq: int | None
    server_seq: int
    seq_by_server: bool
    ts: str
    type: str
    received_at: str
    object_key: str
    file: str | None
    command: str | None
    exit_code: int | None
    passed: int | None
    failed: int | None
    sha: str | None


# The columns an EventRecord is read from, in its order.
EVENT_RECORD_COLUMNS = ", ".join(EventRecord._fields)


@dataclass(slots=True)
class IngestOutcome:
    """Event ids stored by this transaction, and those another write had stored first."""

    accepted: list[str] = field(default_factory=list)
    duplicates: list[str] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class TraceFilter:
    """A page of the trace listing, newest first; `after` is the last row of the previous page."""

    repo: str | None = None
    branch: str | None = None
    pr_id: str | None = None
    pr_number: int | None = None  # matches any repo's PR with this number
    developer: str | None = None  # ?developer=: the owner (the token user), not the envelope's
    owner: str | None = None  # a writer sees only their own traces
    since: str | None = None  # traces with an event at or after this ts (index form)
    until: str | None = None  # traces whose first event is at or before this ts (index form)
    limit: int = 100
    after: tuple[str, str] | None = None  # (created_at, trace_id)


@dataclass(frozen=True, slots=True)
class TraceSums:
    """What the index adds up for one trace: the raw material of `prtrace_core.stats`' figures,
    kept as integers (milliseconds, counts) so the rounding happens once, as the core does it."""

    trace_id: str
    repo_name: str
    branch: str
    pr_id: str | None
    developer_id: str
    owner: str
    events: int
    first_ms: int | None  # earliest ts
    last_ms: int | None  # latest ts
    active_ms: int  # gaps between events in time order, none longer than the idle gap
    edits: int
    files_touched: int
    lines_added: int
    lines_removed: int
    commands: int
    test_runs: int
    green_runs: int
    first_green_ms: int | None  # ts of the first green run in trace order
    red_green_cycles: int
    edits_between_tests: int  # edits after the first test run and before the last
    commits: int
    rewrites: int
    agent_events: int


@dataclass(frozen=True, slots=True)
class TokenRecord:
    """One API token; only the hash of its secret is kept."""

    token_id: str
    user: str
    role: Role
    token_hash: str
    created_at: str
    revoked_at: str | None = None


class IndexStore(Protocol):
    """The index of traces, events and tokens.

    `ingest` is the one write that matters: it runs in a single transaction, takes the trace's
    row lock first, so concurrent batches for one trace are serialised and `server_seq` order is
    commit order. Store failures surface as `StoreUnavailable`.
    """

    def close(self) -> None:
        """Release connections; the store is unusable afterwards."""
        ...

    def ping(self) -> None:
        """Raise StoreUnavailable unless the index answers a query."""
        ...

    def get_trace(self, trace_id: str) -> TraceRecord | None:
        """The trace's row, or None."""
        ...

    def existing_event_ids(self, trace_id: str, event_ids: Collection[str]) -> set[str]:
        """Which of these ids the index already holds for the trace."""
        ...

    # GitHub's facts and their links to traces (server/index_github.py has the SQL)

    def delivery_seen(self, delivery_id: str) -> bool:
        """Whether this webhook delivery was handled to the end."""
        ...

    def record_delivery(self, delivery_id: str, event: str, received_at: str) -> None:
        """Remember a handled delivery."""
        ...

    def save_pull_request(self, pr: PullRequest) -> None:
        """Insert or update the PR, unless the stored row is newer."""
        ...

    def pull_request(self, pr_id: str) -> PullRequest | None:
        """The PR GitHub described under this id, any case."""
        ...

    def pull_requests_of_branch(self, repo_name: str, branch: str) -> list[PullRequest]:
        """PRs whose head is this branch of this repository, newest first."""
        ...

    def save_ci_run(self, run: CiRun) -> None:
        """Store a CI state change once."""
        ...

    def ci_runs_of_branch(self, repo_name: str, branch: str, *, since: str | None) -> list[CiRun]:
        """CI runs on this branch of this repository, at or after `since`."""
        ...

    def ci_runs_of_pr(self, repo_name: str, number: int) -> list[CiRun]:
        """CI runs GitHub reported for the PR."""
        ...

    def traces_of_branch(self, repo_names: Collection[str], branch: str) -> list[TraceRecord]:
        """Traces on this branch of any of these repositories."""
        ...

    def traces_of_pr(self, pr_id: str) -> list[TraceRecord]:
        """Traces linked to the PR, oldest first."""
        ...

    def traces_to_link(self, limit: int) -> list[str]:
        """Traces that GitHub's facts have not been applied to since they were created or linked."""
        ...

    def set_trace_pr(self, trace_id: str, pr: PullRequest) -> bool:
        """Link a trace without a PR to this one; False when it has one."""
        ...

    def trace_linked(self, trace_id: str, pr_id: str | None) -> None:
        """GitHub's facts are applied to the trace as linked to `pr_id`."""
        ...

    def add_server_events(self, trace_id: str, events: Sequence[EventWrite], *, received_at: str) -> list[str]:
        """Store server-made events (no seq) in an existing trace once each; the ids stored now."""
        ...

    def mark_prs_pending(self, pr_ids: Iterable[str], mark: str) -> None:
        """These PRs' documents are behind."""
        ...

    def prs_pending(self, limit: int) -> list[tuple[str, str]]:
        """(pr_id, mark) of PRs whose document is behind."""
        ...

    def pr_written(self, pr_id: str, mark: str) -> None:
        """The PR's document is written as of `mark`."""
        ...

    def ingest(
        self,
        *,
        trace: TraceWrite,
        events: Sequence[EventWrite],
        user: str,
        may_write_any: bool,
        received_at: str,
    ) -> IngestOutcome:
        """Upsert the trace and insert the events that are new, in one transaction.

        A new trace is created only along with its first event, owned by `user`: with no event
        to insert, a trace that does not exist stays absent (nothing is claimed). An existing
        trace owned by someone else raises Forbidden unless `may_write_any`. A trace whose seq mode is fixed differently from
        `trace.seq_mode` raises SeqModeChanged. Events without seq get the trace's next seqs.
        """
        ...

    def list_traces(self, query: TraceFilter) -> list[TraceSummary]:
        """One page of traces, newest first (created_at, trace_id descending); no envelopes."""
        ...

    def event_records(
        self,
        trace_id: str,
        *,
        type: str | None = None,
        after_seq: int | None = None,
        after_server_seq: int | None = None,
        limit: int | None = None,
    ) -> list[EventRecord]:
        """The trace's event rows in (seq, server_seq) order, filtered."""
        ...

    def event_page(self, trace_id: str, *, after: EventKey | None, limit: int) -> list[EventRecord]:
        """Up to `limit` event rows in trace order (numbered by (seq, server_seq), then those
        without seq by server_seq), after the row whose (seq, server_seq) is `after`."""
        ...

    def trace_sums(self, query: TraceFilter) -> list[TraceSums]:
        """The stats sums of every trace the filter selects (its limit and after are ignored),
        newest first."""
        ...

    def traces_to_backfill(self, query: TraceFilter) -> list[str]:
        """Traces the filter selects whose rows predate the STATS_COLUMNS (migration 0003)."""
        ...

    def fill_stats_columns(
        self, trace_id: str, rows: Sequence[tuple[str, Mapping[str, Any]]], *, done: bool
    ) -> None:
        """Set the STATS_COLUMNS of these (event_id, columns) rows; `done` clears the trace's
        backfill mark in the same transaction."""
        ...

    def add_token(self, token: TokenRecord) -> None:
        """Store a new token."""
        ...

    def get_token(self, token_id: str) -> TokenRecord | None:
        """A token by its public id, revoked or not."""
        ...

    def list_tokens(self) -> list[TokenRecord]:
        """Every token, oldest first."""
        ...

    def revoke_tokens(self, *, token_id: str | None = None, user: str | None = None, at: str) -> int:
        """Revoke one token, or all of a user's; returns how many were still active."""
        ...

    def traces_behind(self, limit: int) -> list[str]:
        """Traces whose compacted object lacks events (compacted_upto < last_server_seq)."""
        ...

    def compaction_lock(self, trace_id: str) -> AbstractContextManager[bool]:
        """Try to take the trace's compaction lock; yields False when another worker holds it."""
        ...

    def last_server_seq(self, trace_id: str) -> int:
        """The highest server_seq allocated in the trace; every event up to it has committed."""
        ...

    def mark_compacted(self, trace_id: str, upto: int) -> None:
        """Record that raw/<trace_id>.ndjson holds every event up to server_seq `upto`."""
        ...

    def referenced_objects(self, trace_id: str) -> set[str]:
        """The batch object keys the trace's event rows point at (the orphan sweeper keeps these)."""
        ...

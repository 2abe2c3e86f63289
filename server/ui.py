"""The viewer over the server's stores: the traces a token may read, as `/ui` shows them.

The pages are `prtrace_viewer`'s; this module brings them a `TraceSource` bound to the
reader (`ServerSource`) and the `ViewerHost` that authorises a page like the API authorises a
request (`viewer_host`). Reads go through the same functions as the API (`reads`, `prs`), so a
page shows exactly what `GET /v1/...` would answer that token, and a server error becomes the
viewer's error of the same meaning.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import Future
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from prtrace_viewer import source as viewer
from prtrace_viewer.app import ViewerHost

from .assemble import order_events, trace_summary
from .auth import Principal, authenticate
from .blobs import BlobStore
from .ci_visibility import github_pr, without_foreign_ci
from .errors import (
    BadArgument,
    BadQuery,
    Forbidden,
    NotFound,
    ServerError,
    StoreUnavailable,
    Unauthorized,
)
from .index import SUMMARY_COLUMNS, IndexStore, TraceRecord, TraceSummary
from .prs import pr_document
from .reads import list_traces, load_events, trace_events, visible_trace
from .tokens import verify_token

if TYPE_CHECKING:
    from prtrace_core.replay import Sources

    from .app import Services

__all__ = ["EventCache", "ServerSource", "viewer_host"]

# How many events of whole traces the viewer keeps read: the trace being scrubbed and a few
# more. 20,000 events are tens of megabytes of dicts; more would be memory nobody asked for.
_EVENTS_KEPT = 100_000

# PRTRACE_COOKIE_SECURE as the viewer takes it (None: Secure when the browser came over https,
# directly or through a proxy's X-Forwarded-Proto).
_SECURE_COOKIE: dict[str, bool | None] = {"auto": None, "true": True, "false": False}

# Server errors as the viewer answers them; the first matching class wins.
_VIEWER_ERRORS: tuple[tuple[type[ServerError], type[viewer.ViewerError]], ...] = (
    (Unauthorized, viewer.LoginRequired),
    (Forbidden, viewer.NotAllowed),
    (NotFound, viewer.NotFound),
    (BadQuery, viewer.BadRequest),
    (BadArgument, viewer.BadRequest),
    (StoreUnavailable, viewer.Unavailable),
)


@contextmanager
def _as_viewer_errors() -> Iterator[None]:
    """Run a read, turning the server's refusals into the viewer's (same status, same text)."""
    try:
        yield
    except ServerError as exc:
        for server_class, viewer_class in _VIEWER_ERRORS:
            if isinstance(exc, server_class):
                raise viewer_class(str(exc)) from exc
        raise


class EventCache:
    """The traces last read whole, each under `(trace_id, last_server_seq)`: a scrub or an
    overview asks for the same 20,000 events many times, and a new batch (which moves
    `last_server_seq`) makes a new key, so it is seen at once.

    Bounded by the events it holds, not by traces (one trace may be 50 events or 50,000), but
    the trace read last is always kept. A trace is read once however many requests miss it at
    the same moment: the first reads, the others wait for its answer (a page's overview, rows
    and scrubber all ask together). Thread-safe: pages are served from a thread pool."""

    def __init__(self, max_events: int = _EVENTS_KEPT) -> None:
        self._max_events = max_events
        self._lock = threading.Lock()
        self._kept: OrderedDict[tuple[str, int], tuple[Mapping[str, Any], ...]] = OrderedDict()
        self._held = 0  # events in `_kept`
        self._loading: dict[tuple[str, int], Future[tuple[Mapping[str, Any], ...]]] = {}

    def get(self, key: tuple[str, int]) -> tuple[Mapping[str, Any], ...] | None:
        with self._lock:
            events = self._kept.get(key)
            if events is not None:
                self._kept.move_to_end(key)
            return events

    def load(
        self, key: tuple[str, int], read: Callable[[], tuple[Mapping[str, Any], ...]]
    ) -> tuple[Mapping[str, Any], ...]:
        """The events under `key`, from memory, else from `read()`, called once for all the
        requests that want it meanwhile (its error, if it fails, goes to each of them)."""
        with self._lock:
            events = self._kept.get(key)
            if events is not None:
                self._kept.move_to_end(key)
                return events
            flight = self._loading.get(key)
            leader = flight is None
            if flight is None:
                flight = self._loading[key] = Future()
        if not leader:
            return flight.result()
        try:
            events = read()
        except BaseException as exc:
            with self._lock:
                del self._loading[key]
            flight.set_exception(exc)
            raise
        with self._lock:
            del self._loading[key]
            self._keep(key, events)
        flight.set_result(events)
        return events

    def put(self, key: tuple[str, int], events: tuple[Mapping[str, Any], ...]) -> None:
        with self._lock:
            self._keep(key, events)

    def _keep(self, key: tuple[str, int], events: tuple[Mapping[str, Any], ...]) -> None:
        # an older version of the same trace is never asked for again
        for stale in [k for k in self._kept if k[0] == key[0]]:
            self._held -= len(self._kept.pop(stale))
        self._kept[key] = events
        self._held += len(events)
        while self._held > self._max_events and len(self._kept) > 1:
            _, dropped = self._kept.popitem(last=False)
            self._held -= len(dropped)


class ServerSource:
    """One reader's view of the server's traces: every call checks the principal's access,
    the cached events too."""

    def __init__(
        self, index: IndexStore, blobs: BlobStore, principal: Principal, *, cache: EventCache | None = None
    ) -> None:
        self.index = index
        self.blobs = blobs
        self.principal = principal
        self.cache = cache if cache is not None else EventCache()

    def traces(self, query: viewer.TraceQuery) -> dict[str, Any]:
        with _as_viewer_errors():
            return list_traces(
                self.index,
                self.principal,
                repo=query.repo,
                branch=query.branch,
                pr=query.pr,
                developer=query.developer,
                since=query.since,
                until=query.until,
                limit=query.limit,
                cursor=query.cursor,
            )

    def head(self, trace_id: str) -> dict[str, Any]:
        with _as_viewer_errors():
            trace = visible_trace(self.index, trace_id, self.principal)
            envelope = dict(trace.envelope)
            github = github_pr(self.index, trace, self.principal)
        if github is not None:
            # GitHub's word over the client's, as reads do, for those shown it (`ci_visibility`)
            envelope["pr"] = github.envelope_pr()
        return {
            "summary": trace_summary(_summary(trace)),
            "envelope": {
                "trace_id": trace.trace_id,
                "repo": envelope.get("repo"),
                "pr": envelope.get("pr"),
                "developer": envelope.get("developer"),
            },
        }

    def events_page(self, trace_id: str, *, after_seq: int | None, limit: int, type: str | None) -> dict[str, Any]:
        with _as_viewer_errors():
            return trace_events(
                self.index, self.blobs, trace_id, self.principal, type=type, after_seq=after_seq, limit=limit
            )

    def events(self, trace_id: str) -> Sequence[Mapping[str, Any]]:
        with _as_viewer_errors():
            trace = visible_trace(self.index, trace_id, self.principal)
            key = (trace.trace_id, trace.last_server_seq)
            events = self.cache.load(key, lambda: self._read(trace.trace_id))
        if self.principal.reads_all:
            return events
        # The cache is every reader's: the CI runs this one is not shown are left out per call.
        # When none is, the cached tuple itself goes back: the file view keeps its replay
        # checkpoints per events object, and a fresh copy per call would start them over.
        kept = without_foreign_ci(self.principal, events)
        return events if len(kept) == len(events) else tuple(kept)

    def _read(self, trace_id: str) -> tuple[Mapping[str, Any], ...]:
        return tuple(order_events(load_events(self.blobs, self.index.event_records(trace_id))))

    def pr(self, owner: str, repo: str, number: int) -> dict[str, Any]:
        with _as_viewer_errors():
            return pr_document(self.index, self.blobs, self.principal, owner, repo, number)

    def replay_sources(self, trace_id: str) -> Sources | None:
        # The server holds no repository: replay works from what the trace itself carries.
        return None


def _summary(trace: TraceRecord) -> TraceSummary:
    return TraceSummary(**{name: getattr(trace, name) for name in SUMMARY_COLUMNS})


def viewer_host(services: Services) -> ViewerHost:
    """The viewer as this server serves it: a page's credential (the session cookie or a
    bearer token) is checked exactly as the API checks a token, on every request, so a revoked
    token's session ends with its next page."""
    required = services.settings.auth == "required"
    cache = EventCache()

    def source_for(credential: str | None) -> viewer.TraceSource:
        with _as_viewer_errors():
            authorization = f"Bearer {credential}" if credential else None
            principal = authenticate(authorization, required=required, index=services.index)
        return ServerSource(services.index, services.blobs, principal, cache=cache)

    def check_token(token: str) -> bool:
        with _as_viewer_errors():
            return verify_token(services.index, token.strip()) is not None

    return ViewerHost(
        source_for=source_for,
        login=required,
        check_token=check_token,
        login_hint="Sign in with an API token; an administrator makes one with "
        "`prtrace-server token create --user NAME --role reader`.",
        secure_cookie=_SECURE_COOKIE[services.settings.cookie_secure],
    )

"""Uploading the buffer: unacknowledged events, oldest first, in gzip batches.

An event leaves the queue only when the server's answer lists it as accepted or duplicate,
so a push killed at any point is finished by the next one and the server's dedup makes the
resend harmless. Rejected events are set aside with the reason and never block the rest.

`outgoing` is the one place a batch is put together: `push` sends what it yields, and
`prtrace push --dry-run` shows it, so what the dry run shows is what a push sends.
"""

from __future__ import annotations

import gzip
import json
import os
import random
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx

from prtrace_daemon.buffer import Buffer, TraceRow
from prtrace_daemon.envelope import envelope
from prtrace_daemon.errors import ServerError, ServerUnreachable
from prtrace_daemon.locks import file_lock
from prtrace_daemon.paths import Home

__all__ = ["MAX_BATCH_BYTES", "MAX_BATCH_EVENTS", "Batch", "PushReport", "ServerClient", "outgoing", "push", "unrecorded_spool"]

MAX_BATCH_EVENTS = 1000
MAX_BATCH_BYTES = 1024 * 1024
RETRY_STATUSES = {429, 502, 503, 504}


@dataclass(frozen=True, slots=True)
class Batch:
    """One `POST /v1/batches` as it leaves the machine: the body (the trace's envelope and its
    events, without the local event ids, which the server recomputes) and those local ids."""

    trace: TraceRow
    body: dict[str, Any]
    event_ids: list[str]


@dataclass(slots=True)
class PushReport:
    traces: int = 0
    batches: int = 0
    accepted: int = 0
    duplicate: int = 0
    rejected: int = 0
    busy: bool = False  # another push holds the lock
    failed: list[tuple[str, str]] = field(default_factory=list)  # (trace_id, the server's reason)


class ServerClient:
    """The server's HTTP API, with retries for what may pass (connection errors, 429, 5xx busy)."""

    def __init__(self, base_url: str, token: str | None, *, attempts: int = 6, timeout_s: float = 30.0) -> None:
        headers = {"User-Agent": "prtrace"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        self.base_url = base_url.rstrip("/")
        self.attempts = attempts
        self._http = httpx.Client(base_url=self.base_url, headers=headers, timeout=timeout_s)

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> ServerClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        delay = 0.5
        last: str = ""
        for attempt in range(self.attempts):
            try:
                response = self._http.request(method, path, **kwargs)
            except httpx.TransportError as exc:
                last = f"cannot reach {self.base_url}: {exc or type(exc).__name__}"
            else:
                if response.status_code not in RETRY_STATUSES:
                    return response
                last = f"{self.base_url} answered {response.status_code}"
                retry_after = response.headers.get("Retry-After", "")
                if retry_after.isdigit():
                    delay = max(delay, min(float(retry_after), 30.0))
            if attempt + 1 < self.attempts:
                time.sleep(delay * (0.5 + random.random()))  # jitter: replicas don't retry in step
                delay = min(delay * 2, 30.0)
        raise ServerUnreachable(last)

    def get_json(self, path: str, **params: Any) -> Any:
        response = self.request("GET", path, params={k: v for k, v in params.items() if v is not None})
        if response.status_code == 404:
            return None
        _raise_for(response)
        return response.json()

    def stream_lines(self, path: str, **params: Any) -> Iterator[bytes]:
        """The lines of a streamed answer (an export), as they arrive; a download cut short
        is an error, never a silently shorter file."""
        query = {k: v for k, v in params.items() if v is not None}
        try:
            with self._http.stream("GET", path, params=query, timeout=httpx.Timeout(30.0, read=300.0)) as response:
                if response.status_code >= 400:
                    response.read()
                    _raise_for(response)
                pending = b""
                for chunk in response.iter_bytes():
                    pending += chunk
                    *lines, pending = pending.split(b"\n")
                    yield from lines
                if pending:
                    yield pending
        except httpx.TransportError as exc:
            raise ServerUnreachable(f"the download from {self.base_url} broke off: {exc or type(exc).__name__}") from exc

    def post_batch(self, batch: dict[str, Any]) -> dict[str, Any]:
        body = gzip.compress(json.dumps(batch, ensure_ascii=False).encode("utf-8"), compresslevel=5)
        response = self.request(
            "POST",
            "/v1/batches",
            content=body,
            headers={"Content-Type": "application/json", "Content-Encoding": "gzip"},
        )
        _raise_for(response)
        answer = response.json()
        if not isinstance(answer, dict) or "accepted_event_ids" not in answer:
            raise ServerError(f"unexpected answer from {self.base_url}: {response.text[:200]}")
        return answer


def _raise_for(response: httpx.Response) -> None:
    if response.status_code < 400:
        return
    try:
        detail = response.json().get("detail", response.text)
    except (ValueError, AttributeError):
        detail = response.text
    hint = None
    if response.status_code == 401:
        hint = "log in with `prtrace login --server URL` (it reads the token from stdin or asks for it)"
    raise ServerError(f"server answered {response.status_code}: {str(detail)[:300]}", hint=hint)


def _batches(buffer: Buffer, trace: TraceRow) -> Iterator[list[dict[str, Any]]]:
    """Pending events within the count and size limits, oldest first (each with its event_id)."""
    after = 0
    while events := buffer.pending_events(trace.trace_id, after_seq=after, limit=MAX_BATCH_EVENTS):
        batch: list[dict[str, Any]] = []
        size = 0
        for event in events:
            event_size = len(json.dumps(event, ensure_ascii=False).encode("utf-8"))
            if batch and size + event_size > MAX_BATCH_BYTES:
                break
            batch.append(event)
            size += event_size
        after = batch[-1]["seq"]
        yield batch


def outgoing(buffer: Buffer, trace: TraceRow) -> Iterator[Batch]:
    """The batches a push sends for the trace, in order: its pending events within the limits,
    or the envelope alone when only it changed (a PR linked, a language added). Reads only.
    Batches are cut by seq, so settling one (as a push does) never changes the next."""
    head = envelope(buffer, trace)
    sent_any = False
    for events in _batches(buffer, trace):
        ids = [event.pop("event_id") for event in events]
        yield Batch(trace, {**head, "events": events}, ids)
        sent_any = True
    if not sent_any and trace.envelope_dirty:
        yield Batch(trace, {**head, "events": []}, [])


def unrecorded_spool(home: Home, buffer: Buffer) -> int:
    """How many spool files hold lines not yet recorded (a push records them first). Reads
    only: a live shell's file counts when it has grown past where the last drain stopped."""
    read_to = buffer.spool_offsets()
    waiting = 0
    try:
        entries = list(os.scandir(home.spool))
    except OSError:
        return 0
    for entry in entries:
        if not entry.name.endswith((".spool", ".draining")):
            continue
        try:
            st = entry.stat()
        except OSError:
            continue
        inode, offset = read_to.get(entry.name.removesuffix(".draining"), (None, 0))
        if st.st_size > (offset if inode == st.st_ino else 0):
            waiting += 1
    return waiting


def push(
    home: Home,
    buffer: Buffer,
    client: ServerClient,
    *,
    on_batch: Callable[[PushReport, int], None] | None = None,
) -> PushReport:
    """Send every pending event; returns counts. Two pushes at once never send the same batch."""
    report = PushReport()
    with file_lock(home.locks / "push.lock", blocking=False) as held:
        if not held:
            report.busy = True
            return report
        for trace in buffer.pending_traces():
            report.traces += 1
            try:
                for batch in outgoing(buffer, trace):
                    _send(buffer, client, batch, report)
                    if on_batch is not None and batch.event_ids:
                        on_batch(report, len(batch.event_ids))
            except ServerError as exc:
                # The server refused this trace (its envelope, or it is someone else's): that
                # must not keep every other trace from being pushed.
                report.failed.append((trace.trace_id, str(exc)))
    return report


def _send(buffer: Buffer, client: ServerClient, batch: Batch, report: PushReport) -> None:
    """Post one batch and settle each event by the answer (the server recomputes the ids)."""
    trace, local_ids = batch.trace, batch.event_ids
    answer = client.post_batch(batch.body)
    rejected = []
    for item in answer.get("rejected", []):
        index = item.get("index") if isinstance(item, dict) else None
        if isinstance(index, int) and 0 <= index < len(local_ids):
            rejected.append((local_ids[index], f"{item.get('code', 'rejected')}: {item.get('error', '')}"))
    accepted = [i for i in answer.get("accepted_event_ids", []) if isinstance(i, str)]
    duplicate = [i for i in answer.get("duplicate_event_ids", []) if isinstance(i, str)]
    buffer.settle(trace.trace_id, acked=accepted + duplicate, rejected=rejected, envelope_sent=trace)
    report.batches += 1
    report.accepted += len(accepted)
    report.duplicate += len(duplicate)
    report.rejected += len(rejected)

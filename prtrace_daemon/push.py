"""Uploading the buffer: unacknowledged events, oldest first, in gzip batches.

An event leaves the queue only when the server's answer lists it as accepted or duplicate,
so a push killed at any point is finished by the next one and the server's dedup makes the
resend harmless. Rejected events are set aside with the reason and never block the rest.

`outgoing` is the one place a batch is put together: `push` sends what it yields, and
`prtrace push --dry-run` shows it, so what the dry run shows is what a push sends.

One push at a time per PRTRACE_HOME (`locks/push.lock`, which names its holder): `prtrace
push` waits for the one running and says so; the daemon's push passes its turn. The last
push that finished is kept in `push.json` for `prtrace status`.
"""

from __future__ import annotations

import contextlib
import gzip
import json
import os
import queue
import random
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any

import httpx

from prtrace_core.timestamps import now_ts
from prtrace_daemon.buffer import Buffer, TraceRow
from prtrace_daemon.client_errors import ServerRefused, ServerUnreachable
from prtrace_daemon.envelope import envelope
from prtrace_daemon.locks import LockFile
from prtrace_daemon.paths import Home

__all__ = [
    "MAX_BATCH_BYTES",
    "MAX_BATCH_EVENTS",
    "Batch",
    "PushReport",
    "RetryHook",
    "ServerClient",
    "encode_batch",
    "outgoing",
    "public_url",
    "push",
    "push_lock",
    "read_push_state",
    "unrecorded_spool",
    "update_push_state",
]

MAX_BATCH_EVENTS = 1000
MAX_BATCH_BYTES = 1024 * 1024
RETRY_STATUSES = {429, 502, 503, 504}
MAX_WAIT_S = 30.0  # backoff stops doubling here
MAX_RETRY_AFTER_S = 60.0  # a server asking for longer is waited on this long, then asked again
PUSH_STATE = "push.json"

# Told before each wait between tries: (why, seconds it waits, the try that failed, tries in all).
RetryHook = Callable[[str, float, int, int], None]


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
    events_sent: int = 0  # in batches the server answered
    bytes_sent: int = 0  # gzip bytes of those batches, as they crossed the wire
    busy: bool = False  # another push holds the lock (and this one did not wait)
    waited_for: str | None = None  # who held the lock while this push waited for it
    failed: list[tuple[str, str]] = field(default_factory=list)  # (trace_id, the server's reason)
    rejected_reasons: Counter[str] = field(default_factory=Counter)  # the server's reason -> events


class ServerClient:
    """The server's HTTP API, with retries for what may pass (connection errors, 429, 5xx busy)."""

    def __init__(
        self,
        base_url: str,
        token: str | None,
        *,
        attempts: int = 6,
        timeout_s: float = 30.0,
        retry_s: float = 0.5,
        on_retry: RetryHook | None = None,
    ) -> None:
        headers = {"User-Agent": "prtrace"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        self.base_url = base_url.rstrip("/")
        self.attempts = attempts
        self.retry_s = retry_s
        self.on_retry = on_retry
        self._http = httpx.Client(base_url=self.base_url, headers=headers, timeout=timeout_s)

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> ServerClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """Send, retrying connection errors, 429, 502, 503 and 504 with exponential backoff
        and jitter (at least as long as a Retry-After asks); ServerUnreachable when the tries
        run out. Any other answer is returned as it is.

        A loop of our own rather than stamina or tenacity, because what it must do is the part
        they leave to hooks: a busy answer is a response, not an exception; the wait is known,
        and told to this client's `on_retry` (the CLI says it on stderr, the daemon's push
        thread keeps quiet) before it is slept, where stamina reports retries through
        process-wide instrumentation; a Retry-After is a floor under the backoff; and equal
        jitter keeps every wait at least half its backoff, so the backoff shows until its cap.
        Wrapped around those, a library would add an import and save no lines.
        (tests/daemon/test_push_retry.py holds it to each of these.)"""
        backoff = self.retry_s
        last = why = ""
        for attempt in range(1, self.attempts + 1):
            retry_after = None
            try:
                response = self._http.request(method, path, **kwargs)
            except httpx.TransportError as exc:
                reason = f"{exc or type(exc).__name__}"
                last, why = f"cannot reach {self.base_url}: {reason}", f"cannot reach the server ({reason})"
            else:
                if response.status_code not in RETRY_STATUSES:
                    return response
                last, why = f"{self.base_url} answered {response.status_code}", f"server answered {response.status_code}"
                retry_after = _retry_after(response.headers.get("Retry-After", ""))
            if attempt < self.attempts:
                # Equal jitter: clients that failed together spread out, and each wait is at
                # least half its backoff, so below the cap no wait is shorter than the one before.
                wait = backoff / 2 + random.random() * backoff / 2
                if retry_after is not None:
                    wait = max(wait, retry_after)
                if self.on_retry is not None:
                    self.on_retry(why, wait, attempt, self.attempts)
                time.sleep(wait)
                backoff = min(backoff * 2, MAX_WAIT_S)
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
        """POST one batch body (a dict) and return the server's answer."""
        return self.post_encoded(encode_batch(batch))

    def post_encoded(self, body: bytes) -> dict[str, Any]:
        """POST a batch already encoded by `encode_batch` and return the server's answer."""
        response = self.request(
            "POST",
            "/v1/batches",
            content=body,
            headers={"Content-Type": "application/json", "Content-Encoding": "gzip"},
        )
        _raise_for(response)
        answer = response.json()
        if not isinstance(answer, dict) or "accepted_event_ids" not in answer:
            raise ServerRefused(f"unexpected answer from {self.base_url}: {response.text[:200]}")
        return answer


def encode_batch(batch: dict[str, Any]) -> bytes:
    """A batch as it goes on the wire: JSON, gzip."""
    return gzip.compress(json_bytes(batch), compresslevel=5)


def json_bytes(value: Any) -> bytes:
    """Compact UTF-8 JSON as the server reads it. The stdlib's, not orjson's: orjson writes a
    NaN as null, which would change an event the server must see as it was recorded (and
    reject on its own); the cost is hidden, as batches are encoded while the one before is on
    the wire (`_read_ahead`)."""
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def _retry_after(value: str) -> float | None:
    """Seconds a Retry-After header asks for (a number or an HTTP date), within bounds."""
    value = value.strip()
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        try:
            seconds = parsedate_to_datetime(value).timestamp() - time.time()
        except (TypeError, ValueError, IndexError, OverflowError):
            return None
    if seconds != seconds:  # NaN
        return None
    return min(max(seconds, 0.0), MAX_RETRY_AFTER_S)


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
    raise ServerRefused(f"server answered {response.status_code}: {str(detail)[:300]}", hint=hint)


def _batches(buffer: Buffer, trace: TraceRow, max_events: int, max_bytes: int) -> Iterator[list[dict[str, Any]]]:
    """Pending events within the count and size limits, oldest first (each with its event_id)."""
    after = 0
    while events := buffer.pending_events(trace.trace_id, after_seq=after, limit=max_events):
        batch: list[dict[str, Any]] = []
        size = 0
        for event in events:
            event_size = len(json_bytes(event)) + 1  # and its comma
            if batch and size + event_size > max_bytes:
                break
            batch.append(event)
            size += event_size
        after = batch[-1]["seq"]
        yield batch


def outgoing(
    buffer: Buffer, trace: TraceRow, *, max_events: int = MAX_BATCH_EVENTS, max_bytes: int = MAX_BATCH_BYTES
) -> Iterator[Batch]:
    """The batches a push sends for the trace, in order: its pending events within the limits,
    or the envelope alone when only it changed (a PR linked, a language added). Reads only.
    Batches are cut by seq, so settling one (as a push does) never changes the next."""
    head = envelope(buffer, trace)
    sent_any = False
    for events in _batches(buffer, trace, max_events, max_bytes):
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


@contextmanager
def push_lock(home: Home, *, wait: bool, holder: str, on_wait: Callable[[str], None] | None = None) -> Iterator[bool]:
    """Hold the push lock (a flock the kernel drops if the holder dies), naming the holder in
    the file. Without `wait`, yields False at once when another process holds it; with it,
    tells `on_wait` who holds it (`pid 123 (the daemon)`) and waits for its turn."""
    with LockFile(home.locks / "push.lock") as lock:
        if not lock.acquire(blocking=False):
            if not wait:
                yield False
                return
            if on_wait is not None:
                on_wait(_holder(lock.fd))
            lock.acquire()
        with contextlib.suppress(OSError):  # the name is a courtesy; the flock is the lock
            os.ftruncate(lock.fd, 0)
            os.pwrite(lock.fd, f"{os.getpid()} {holder}\n".encode(), 0)
        yield True


def _holder(fd: int) -> str:
    """Who holds the push lock, as its holder wrote it: `pid 123 (prtrace push)`."""
    try:
        pid, _, who = os.pread(fd, 200, 0).decode("utf-8", "replace").strip().partition(" ")
    except OSError:
        return "another process"
    return f"pid {pid} ({who})" if pid.isdigit() and who else "another process"


def push(
    home: Home,
    buffer: Buffer,
    client: ServerClient,
    *,
    on_batch: Callable[[PushReport, int], None] | None = None,
    wait: bool = False,
    on_wait: Callable[[str], None] | None = None,
    by: str = "prtrace push",
    max_events: int = MAX_BATCH_EVENTS,
    max_bytes: int = MAX_BATCH_BYTES,
) -> PushReport:
    """Send every pending event; returns counts. Two pushes at once never send the same batch:
    with `wait` a push waits for the running one (then sends what is still pending), without
    it it returns at once with `busy` set. `by` names this pusher in the lock and push.json."""
    report = PushReport()

    def waiting(holder: str) -> None:
        report.waited_for = holder
        if on_wait is not None:
            on_wait(holder)

    with push_lock(home, wait=wait, holder=by, on_wait=waiting) as held:
        if not held:
            report.busy = True
            return report
        for trace in buffer.pending_traces():
            report.traces += 1
            try:
                for batch, body in _read_ahead(buffer.path, trace, max_events=max_events, max_bytes=max_bytes):
                    _send(buffer, client, batch, body, report)
                    if on_batch is not None and batch.event_ids:
                        on_batch(report, len(batch.event_ids))
            except ServerRefused as exc:
                # The server refused this trace (its envelope, or it is someone else's): that
                # must not keep every other trace from being pushed.
                report.failed.append((trace.trace_id, str(exc)))
        if report.batches:
            update_push_state(home, last_push={
                "at": now_ts(), "by": by, "server": public_url(client.base_url), "accepted": report.accepted,
                "duplicate": report.duplicate, "rejected": report.rejected, "batches": report.batches,
            })
    return report


def public_url(url: str) -> str:
    """The URL without a `user:password@` part, as it may be written to a file or a log."""
    from urllib.parse import urlsplit, urlunsplit

    try:
        parts = urlsplit(url)
        if "@" not in parts.netloc:
            return url
        return urlunsplit(parts._replace(netloc=parts.netloc.rpartition("@")[2]))
    except ValueError:
        return "(a URL that does not parse)"


def read_push_state(home: Home) -> dict[str, Any]:
    """push.json: the last push that sent something (`last_push`) and the daemon's view of
    the server (`auto_push`); {} when there is none or it cannot be read."""
    try:
        data = json.loads((home.root / PUSH_STATE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def update_push_state(home: Home, **values: Any) -> None:
    """Replace keys of push.json (written whole, atomically); a failure to write is ignored:
    it only feeds `prtrace status`."""
    data = {**read_push_state(home), **values}
    target = home.root / PUSH_STATE
    tmp = target.with_name(f".{PUSH_STATE}.{os.getpid()}.tmp")
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(json.dumps(data))
        os.replace(tmp, target)
    except OSError:
        with contextlib.suppress(OSError):
            tmp.unlink()


def _read_ahead(
    path: Path, trace: TraceRow, *, max_events: int, max_bytes: int, depth: int = 2
) -> Iterator[tuple[Batch, bytes]]:
    """The trace's batches (as `outgoing` cuts them) and their encoded bodies, read and encoded
    by a thread with its own connection to the buffer while the batch before is on the wire,
    so the client's work overlaps the server's instead of adding to it. Batches are cut by
    seq, so settling one meanwhile never changes the next."""
    ready: queue.Queue[tuple[Batch, bytes] | BaseException | None] = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def offer(item: tuple[Batch, bytes] | BaseException | None) -> bool:
        while not stop.is_set():
            try:
                ready.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        try:
            with Buffer(path) as own:
                for batch in outgoing(own, trace, max_events=max_events, max_bytes=max_bytes):
                    if not offer((batch, encode_batch(batch.body))):
                        return
        except BaseException as exc:  # handed to the consumer, which raises it as its own
            offer(exc)
            return
        offer(None)

    worker = threading.Thread(target=produce, name="prtrace-push-read-ahead", daemon=True)
    worker.start()
    try:
        while (item := ready.get()) is not None:
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        worker.join(timeout=10)


def _send(buffer: Buffer, client: ServerClient, batch: Batch, body: bytes, report: PushReport) -> None:
    """Post one batch and settle each event by the answer (the server recomputes the ids)."""
    trace, local_ids = batch.trace, batch.event_ids
    answer = client.post_encoded(body)
    report.events_sent += len(local_ids)
    report.bytes_sent += len(body)
    rejected = []
    for item in answer.get("rejected", []):
        index = item.get("index") if isinstance(item, dict) else None
        if isinstance(index, int) and 0 <= index < len(local_ids):
            rejected.append((local_ids[index], f"{item.get('code', 'rejected')}: {item.get('error', '')}"))
    accepted = [i for i in answer.get("accepted_event_ids", []) if isinstance(i, str)]
    duplicate = [i for i in answer.get("duplicate_event_ids", []) if isinstance(i, str)]
    seqs = {eid: event["seq"] for eid, event in zip(local_ids, batch.body["events"], strict=True)}
    buffer.settle(trace.trace_id, acked=accepted + duplicate, rejected=rejected, envelope_sent=trace, seqs=seqs)
    report.batches += 1
    report.accepted += len(accepted)
    report.duplicate += len(duplicate)
    report.rejected += len(rejected)
    report.rejected_reasons.update(reason for _, reason in rejected)

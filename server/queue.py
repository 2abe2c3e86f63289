"""The compaction queue: which traces changed, told to the compaction worker.

The queue is a hint, never part of a write. Ingest publishes after its index transaction has
committed, and publishing never fails or holds up a request; the worker's periodic sweep
(traces whose compacted object is behind the index) finds whatever a lost message or an outage
left behind. The queue only makes compaction prompt.

- `LocalQueue`: ingest and the worker in one process (the embedded default).
- `RedisQueue` (PRTRACE_REDIS_URL): a Redis stream read by a consumer group, so a batch taken
  by any replica is compacted promptly by a worker anywhere. A worker acknowledges a message
  (XACK) once its trace is compacted up to it; a message whose worker died stays pending and
  another worker claims it (XAUTOCLAIM) once it has been idle for `claim_idle_s`.

The `redis` package is imported only when a RedisQueue is made, so the embedded default never
loads it.
"""

from __future__ import annotations

import logging
import os
import queue
import secrets
import socket
import threading
import time
from collections.abc import Callable, Sequence
from contextlib import suppress
from dataclasses import dataclass
from typing import Any, Protocol

from .errors import ConfigError, StoreUnavailable
from .metrics import Metrics
from .settings import ServerSettings

__all__ = [
    "DEFAULT_STREAM",
    "GROUP",
    "CompactionQueue",
    "Delivery",
    "LocalQueue",
    "RedisQueue",
    "open_queue",
]

log = logging.getLogger(__name__)

DEFAULT_STREAM = "prtrace:compaction"
GROUP = "compactors"
# Redis on the same network answers in a millisecond; a request never waits longer than this
# for its hint to be sent.
_TIMEOUT_S = 0.5
# After a failed call nobody calls Redis for this long (then one caller tries again), so an
# outage costs one timeout per few seconds, not one per request.
_BACKOFF_S = 5.0
_BLOCK_MAX_S = 1.0  # a read waits at most this long, so a stopping worker is not held up
_CLAIM_IDLE_S = 30.0  # a message unacknowledged this long belongs to a worker that died
_READ_COUNT = 100
_MAXLEN = 100_000  # about as many messages as the stream keeps; acknowledged ones are trimmed away
_PRUNE_EVERY_S = 600.0
_PRUNE_IDLE_MS = 3_600_000  # a consumer silent this long, with nothing pending, is forgotten


@dataclass(frozen=True, slots=True)
class Delivery:
    """A trace that changed, as the queue told it."""

    trace_id: str
    # The trace's last server_seq once the batch had committed: the batch's events are at or
    # below it, so a trace compacted up to `upto` needs nothing for this message.
    upto: int | None = None
    message_id: str | None = None  # the stream entry to acknowledge
    claimed: bool = False  # taken over from a worker that stopped answering


class CompactionQueue(Protocol):
    """Tells workers which traces changed. No method raises: an outage only delays compaction."""

    def publish(self, trace_id: str, *, events: int) -> None:
        """A batch added `events` events to the trace and has committed (called by ingest)."""
        ...

    def receive(self, timeout_s: float) -> list[Delivery]:
        """What changed, waiting up to `timeout_s` for something; [] when nothing did."""
        ...

    def ack(self, deliveries: Sequence[Delivery]) -> None:
        """These deliveries are done with: their traces are compacted up to them."""
        ...

    def release(self, deliveries: Sequence[Delivery]) -> None:
        """These deliveries failed: leave them to be taken up again later, by any worker."""
        ...

    def wake(self) -> None:
        """End a waiting `receive` early (the worker is stopping)."""
        ...

    def close(self) -> None:
        """Release connections."""
        ...


def open_queue(
    settings: ServerSettings,
    *,
    in_process_worker: bool,
    upto_of: Callable[[str], int] | None = None,
    metrics: Metrics | None = None,
) -> CompactionQueue | None:
    """The Redis queue when PRTRACE_REDIS_URL is set; else an in-process queue for a worker in
    this process, or None when there is nobody to tell."""
    if settings.redis_url:
        return RedisQueue(settings.redis_url, stream=settings.redis_stream, upto_of=upto_of, metrics=metrics)
    return LocalQueue() if in_process_worker else None


class LocalQueue:
    """The queue within one process: ingest and the worker thread share it."""

    def __init__(self) -> None:
        self._items: queue.SimpleQueue[str] = queue.SimpleQueue()

    def publish(self, trace_id: str, *, events: int) -> None:
        self._items.put(trace_id)

    def receive(self, timeout_s: float) -> list[Delivery]:
        try:
            first = self._items.get(timeout=timeout_s) if timeout_s > 0 else self._items.get_nowait()
        except queue.Empty:
            return []
        names = [first]
        while True:
            try:
                names.append(self._items.get_nowait())
            except queue.Empty:
                break
        return [Delivery(name) for name in names if name]  # "" only wakes

    def ack(self, deliveries: Sequence[Delivery]) -> None:
        pass

    def release(self, deliveries: Sequence[Delivery]) -> None:
        pass  # the sweep finds the trace

    def wake(self) -> None:
        self._items.put("")

    def close(self) -> None:
        pass


class _Availability:
    """Whether Redis answered the last call, shared by every caller in the process. Logs the
    outage once and the recovery once; while down, lets one caller try every `backoff_s`."""

    def __init__(self, where: str, backoff_s: float) -> None:
        self.where = where
        self.backoff_s = backoff_s
        self._lock = threading.Lock()
        self._down = False
        self._retry_at = 0.0
        self._probing = False

    def may_try(self) -> bool:
        with self._lock:
            if not self._down:
                return True
            if self._probing or time.monotonic() < self._retry_at:
                return False
            self._probing = True
            return True

    def failed(self, exc: Exception) -> None:
        with self._lock:
            self._probing = False
            self._retry_at = time.monotonic() + self.backoff_s
            if self._down:
                return
            self._down = True
        # Logged as warnings, recovery too: the server configures no logging, and Python shows
        # nothing below a warning then.
        log.warning(
            "compaction queue: Redis at %s is unavailable (%s); ingest goes on, and the periodic "
            "sweep compacts traces until it is back",
            self.where, _first_line(exc),
        )

    def succeeded(self) -> None:
        with self._lock:
            self._probing = False
            if not self._down:
                return
            self._down = False
        log.warning("compaction queue: Redis at %s is reachable again", self.where)


class RedisQueue:
    """The queue on a Redis stream, read by the consumer group `group`.

    Each message is one committed batch: `trace_id`, `events` (how many it added) and `upto`
    (see Delivery). Each worker reads as its own consumer (host, pid and a random tag), so a
    restarted worker never mistakes another's pending messages for its own.
    """

    def __init__(
        self,
        url: str,
        *,
        stream: str = DEFAULT_STREAM,
        group: str = GROUP,
        consumer: str | None = None,
        claim_idle_s: float = _CLAIM_IDLE_S,
        upto_of: Callable[[str], int] | None = None,
        metrics: Metrics | None = None,
        timeout_s: float = _TIMEOUT_S,
        backoff_s: float = _BACKOFF_S,
    ) -> None:
        try:
            import redis
            from redis.backoff import NoBackoff
            from redis.retry import Retry
        except ImportError:
            raise ConfigError(
                "PRTRACE_REDIS_URL is set but the redis package is not installed",
                hint="pip install 'prtrace[server]'",
            ) from None
        self.stream = stream
        self.group = group
        self.consumer = consumer or f"{socket.gethostname()}-{os.getpid()}-{secrets.token_hex(3)}"
        self.claim_idle_s = claim_idle_s
        self._upto_of = upto_of
        self._metrics = metrics
        # No retries of redis-py's own: a failure is an outage to back off from, not to repeat.
        options: dict[str, Any] = {
            "socket_connect_timeout": timeout_s,
            "retry": Retry(NoBackoff(), 0),
            "decode_responses": True,
        }
        try:
            self._writer = redis.Redis.from_url(url, socket_timeout=timeout_s, **options)
            # A blocking read holds its socket for up to _BLOCK_MAX_S: a client of its own.
            self._reader = redis.Redis.from_url(url, socket_timeout=_BLOCK_MAX_S + timeout_s, **options)
        except ValueError:
            # The message may quote the URL, password and all.
            raise ConfigError(
                "PRTRACE_REDIS_URL is not a Redis URL", hint="redis://[:PASSWORD@]HOST:PORT[/DB] or rediss://…"
            ) from None
        self._errors: tuple[type[Exception], ...] = (redis.RedisError, OSError)
        self._response_error: type[Exception] = redis.ResponseError
        self.where = _where(self._writer.connection_pool.connection_kwargs)
        self._available = _Availability(self.where, backoff_s)
        self._woken = threading.Event()
        self._next_claim = 0.0
        self._joined = False
        # Messages this worker holds and is still working on: claiming them back from itself
        # (a trace another worker keeps locked for a while) must not deliver them twice.
        self._held: set[str] = set()
        self._next_prune = time.monotonic() + _PRUNE_EVERY_S

    # the ingest side

    def publish(self, trace_id: str, *, events: int) -> None:
        if not self._available.may_try():
            self._dropped()
            return
        fields: dict[Any, Any] = {"trace_id": trace_id, "events": events}
        if self._upto_of is not None:
            with suppress(StoreUnavailable):  # without it, the worker looks the trace up itself
                fields["upto"] = self._upto_of(trace_id)
        try:
            self._writer.xadd(self.stream, fields, maxlen=_MAXLEN, approximate=True)
        except self._errors as exc:
            self._available.failed(exc)
            self._dropped()
            return
        self._available.succeeded()

    def _dropped(self) -> None:
        if self._metrics is not None:
            self._metrics.queue_dropped.inc()

    # the worker side

    def receive(self, timeout_s: float) -> list[Delivery]:
        if not self._available.may_try():
            self._woken.wait(timeout_s)  # the sweep compacts meanwhile
            return []
        try:
            if not self._joined:
                self._join()
            deliveries = self._claim()
            if not deliveries:
                deliveries = self._read(timeout_s)
        except self._errors as exc:
            self._available.failed(exc)
            self._woken.wait(timeout_s)
            return []
        self._available.succeeded()
        return deliveries

    def ack(self, deliveries: Sequence[Delivery]) -> None:
        ids = [d.message_id for d in deliveries if d.message_id is not None]
        if not ids:
            return
        self._held.difference_update(ids)
        try:
            self._reader.xack(self.stream, self.group, *ids)
        except self._errors as exc:
            # Left pending: a worker claims it later, finds the trace compacted, acknowledges.
            self._available.failed(exc)

    def release(self, deliveries: Sequence[Delivery]) -> None:
        # Still pending in the group: claimed again once idle, by this worker or another.
        self._held.difference_update(d.message_id for d in deliveries if d.message_id is not None)

    def wake(self) -> None:
        self._woken.set()

    def close(self) -> None:
        self._writer.close()
        self._reader.close()

    def _read(self, timeout_s: float) -> list[Delivery]:
        block_ms = int(min(timeout_s, _BLOCK_MAX_S) * 1000)
        answer = self._in_group(
            lambda: self._reader.xreadgroup(
                self.group, self.consumer, {self.stream: ">"}, count=_READ_COUNT, block=block_ms or None
            )
        )
        return [d for _, entries in answer or [] for d in self._deliveries(entries, claimed=False)]

    def _claim(self) -> list[Delivery]:
        """Messages another consumer read and never acknowledged, idle for `claim_idle_s`."""
        now = time.monotonic()
        if now < self._next_claim:
            return []
        self._next_claim = now + max(self.claim_idle_s / 2, 0.05)
        if now >= self._next_prune:
            self._next_prune = now + _PRUNE_EVERY_S
            self._prune_consumers()
        # JUSTID, then each entry by id: Redis 6.2 answers an entry trimmed from the stream
        # while pending without its id, which would leave it pending for ever. Claimed entries
        # are idle no more, so starting from the beginning each time moves on to the next ones.
        ids = self._in_group(
            lambda: self._reader.xautoclaim(
                self.stream, self.group, self.consumer, min_idle_time=int(self.claim_idle_s * 1000),
                start_id="0-0", count=_READ_COUNT, justid=True,
            )
        )
        claimed: list[Delivery] = []
        for message_id in ids or []:
            if message_id in self._held:
                continue
            entries = self._reader.xrange(self.stream, min=message_id, max=message_id)
            claimed += self._deliveries(entries or [(message_id, {})], claimed=True)
        if claimed:
            log.warning("compaction queue: claimed %d message(s) left unacknowledged for %g s",
                        len(claimed), self.claim_idle_s)
        return claimed

    def _deliveries(self, entries: Sequence[Any], *, claimed: bool) -> list[Delivery]:
        found: list[Delivery] = []
        for message_id, fields in entries:
            trace_id = (fields or {}).get("trace_id")
            if not trace_id:  # trimmed from the stream while pending: nothing left to do for it
                self._reader.xack(self.stream, self.group, message_id)
                continue
            upto = fields.get("upto")
            found.append(Delivery(trace_id, int(upto) if upto and upto.isdigit() else None, message_id, claimed))
            self._held.add(message_id)
        return found

    def _in_group(self, call: Callable[[], Any]) -> Any:
        """Run a group command; if the group is missing (Redis restarted empty), join again
        and run the command again."""
        try:
            return call()
        except self._response_error as exc:
            if "NOGROUP" not in str(exc):
                raise
        self._join()
        return call()

    def _join(self) -> None:
        """Make the group if it is missing, reading from the stream's start (so messages sent
        before any worker was there are read too), and this consumer in it: a worker shows in
        XINFO CONSUMERS from its start, not only from its first message."""
        try:
            self._reader.xgroup_create(self.stream, self.group, id="0", mkstream=True)
        except self._response_error as exc:
            if "BUSYGROUP" not in str(exc):  # another worker made it first
                raise
        self._reader.xgroup_createconsumer(self.stream, self.group, self.consumer)
        self._joined = True

    def _prune_consumers(self) -> None:
        """Forget consumers long silent with nothing pending: workers that stopped for good."""
        try:
            consumers = self._reader.xinfo_consumers(self.stream, self.group)
        except self._response_error:
            return  # no stream or group yet
        for consumer in consumers:
            if consumer["name"] != self.consumer and not consumer["pending"] and consumer["idle"] > _PRUNE_IDLE_MS:
                self._reader.xgroup_delconsumer(self.stream, self.group, consumer["name"])


def _where(kwargs: dict[str, Any]) -> str:
    """Where Redis is, for the log: host and port or socket path, never the password."""
    if kwargs.get("path"):
        return str(kwargs["path"])
    return f"{kwargs.get('host', 'localhost')}:{kwargs.get('port', 6379)}"


def _first_line(exc: Exception) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__

"""The compaction worker: keeps `raw/<trace_id>.ndjson`, the whole trace in trace order, in step
with the index.

It needs no notification to be correct: each pass asks the index which traces have events
beyond what their compacted object holds (`compacted_upto < last_server_seq`). A queue only
makes it prompt. Per trace it holds a lock, reads the trace's last `server_seq` S (every event
up to S has committed: server_seqs are allocated inside the ingest transaction), rewrites the
object from the index and the batch objects, and only then moves `compacted_upto` to S. A
crash at any point leaves a trace that the next pass finds behind and compacts again.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import orjson

from .assemble import order_events
from .blobs import BlobStore
from .errors import StoreCorrupt, StoreUnavailable
from .index import IndexStore
from .metrics import Metrics
from .reads import load_events

__all__ = ["Compactor", "Worker", "raw_key"]

log = logging.getLogger(__name__)


def raw_key(trace_id: str) -> str:
    return f"raw/{trace_id}.ndjson"


@dataclass
class Compactor:
    """Rewrites compacted trace objects."""

    index: IndexStore
    blobs: BlobStore

    def compact(self, trace_id: str) -> bool:
        """Bring one trace's compacted object up to date; False when another worker holds it."""
        with self.index.compaction_lock(trace_id) as held:
            if not held:
                return False
            upto = self.index.last_server_seq(trace_id)
            trace = self.index.get_trace(trace_id)
            done = trace.compacted_upto if trace is not None else 0
            body = self._appended(trace_id, done, upto) if done else None
            if body is None:
                body = _lines(self._events(trace_id, after=None, upto=upto))
            self.blobs.put(raw_key(trace_id), body)
            self.index.mark_compacted(trace_id, upto)
            return True

    def _events(self, trace_id: str, *, after: int | None, upto: int) -> list[Mapping[str, Any]]:
        records = self.index.event_records(trace_id, after_server_seq=after)
        return order_events(load_events(self.blobs, (r for r in records if r.server_seq <= upto)))

    def _appended(self, trace_id: str, done: int, upto: int) -> bytes | None:
        """The compacted object with the new events appended, when they all sort after it (the
        usual case: a client's seqs only grow); None when the trace must be rebuilt whole."""
        try:
            current = self.blobs.get(raw_key(trace_id))
        except StoreCorrupt:
            return None  # the object is missing: rebuild it
        last_line = current.rstrip(b"\n").rpartition(b"\n")[2]
        last = orjson.loads(last_line) if last_line else {}
        if last.get("server_seq") != done:
            # The object holds more than the index says (a put that landed but whose
            # compacted_upto never moved: a crash, or a timeout after the write) or less.
            return None
        new = self._events(trace_id, after=done, upto=upto)
        if last.get("seq") is None or any(e.get("seq") is None or e["seq"] < last["seq"] for e in new):
            return None
        return current + _lines(new)

    def run_pass(self, limit: int = 100) -> int:
        """Compact every trace that is behind (up to `limit`); returns how many were compacted."""
        done = 0
        for trace_id in self.index.traces_behind(limit):
            try:
                done += self.compact(trace_id)
            except (StoreUnavailable, StoreCorrupt) as exc:
                log.warning("compaction of %s postponed: %s", trace_id, exc)
        return done


def _lines(events: Iterable[Mapping[str, Any]]) -> bytes:
    return b"".join(orjson.dumps(event) + b"\n" for event in events)


class Worker:
    """Runs compaction passes: promptly after a nudge, and every `interval_s` regardless."""

    def __init__(
        self, compactor: Compactor, *, interval_s: float = 2.0, settle_s: float = 0.2, metrics: Metrics | None = None
    ) -> None:
        self.compactor = compactor
        self.metrics = metrics
        self.interval_s = interval_s
        self.settle_s = settle_s  # let a burst of batches land before rewriting the object
        self._nudges: queue.SimpleQueue[str] = queue.SimpleQueue()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def nudge(self, trace_id: str) -> None:
        """A trace changed (called by ingest); never blocks."""
        self._nudges.put(trace_id)

    def run(self) -> None:
        """Loop until stopped (the body of `prtrace-server worker` and of the in-process thread)."""
        while not self._stop.is_set():
            try:
                done = self.compactor.run_pass()
                if self.metrics is not None:
                    self.metrics.compactions.inc(done)
            except StoreUnavailable as exc:
                log.warning("compaction paused: %s", exc)
            except Exception:  # a bug must not end the worker; the next pass retries
                log.exception("compaction pass failed")
            self._wait()

    def _wait(self) -> None:
        try:
            self._nudges.get(timeout=self.interval_s)
        except queue.Empty:
            return
        if self._stop.wait(self.settle_s):
            return
        for _ in self._drain():
            pass

    def _drain(self) -> Iterator[str]:
        while True:
            try:
                yield self._nudges.get_nowait()
            except queue.Empty:
                return

    def start(self) -> None:
        self._thread = threading.Thread(target=self.run, name="prtrace-compaction", daemon=True)
        self._thread.start()

    def stop(self, timeout_s: float = 10.0) -> None:
        self._stop.set()
        self._nudges.put("")
        if self._thread is not None:
            self._thread.join(timeout_s)

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
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import orjson

from prtrace_core.timestamps import parse_ts

from .assemble import order_events
from .blobs import BlobStore
from .errors import NotFound, StoreCorrupt, StoreUnavailable
from .index import IndexStore
from .linking import link_pending, new_mark
from .metrics import Metrics
from .orphans import OrphanSweeper
from .prs import SYSTEM, pr_document, pr_key, split_pr_id
from .queue import CompactionQueue, Delivery, LocalQueue
from .reads import load_events

__all__ = ["Compactor", "Worker", "raw_key"]

log = logging.getLogger(__name__)


# The longest a trace's next compaction waits after a costly one (see Worker._spaced).
MAX_SPACING_S = 2.0
_SPACED_MAX = 1024  # traces whose next pass waits, remembered at once before the expired go


def raw_key(trace_id: str) -> str:
    return f"raw/{trace_id}.ndjson"


@dataclass
class Compactor:
    """Rewrites compacted trace objects, and the documents of the PRs they belong to.

    With `github` (webhooks enabled), each pass first applies GitHub's facts to the traces
    ingest flagged (server/linking.py), so a trace pushed after its PR's webhooks gets them.
    """

    index: IndexStore
    blobs: BlobStore
    github: bool = False

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
            if trace is not None and trace.pr_id:
                # before compacted_upto moves: a crash in between rewrites both, never neither
                self.index.mark_prs_pending([trace.pr_id], new_mark())
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
        return current + _lines(new) if _sorts_after(current, last, new) else None

    def run_pass(self, limit: int = 100, compact: Callable[[str], bool] | None = None) -> int:
        """Compact every trace that is behind (up to `limit`), then the PR documents that are;
        returns how many traces were compacted. `compact` stands in for `self.compact` (the
        worker's, which spaces a trace's passes by their cost)."""
        if self.github:
            link_pending(self.index, self.blobs, limit=limit)
        compact = compact or self.compact
        done = 0
        for trace_id in self.index.traces_behind(limit):
            try:
                done += compact(trace_id)
            except (StoreUnavailable, StoreCorrupt) as exc:
                log.warning("compaction of %s postponed: %s", trace_id, exc)
        self.write_pr_documents(limit)
        return done

    def write_pr_documents(self, limit: int = 100) -> int:
        """Rewrite `prs/<owner>/<repo>/<n>.json` for every PR whose traces or CI changed."""
        written = 0
        for pr_id, mark in self.index.prs_pending(limit):
            parts = split_pr_id(pr_id)
            try:
                if parts is not None:
                    document = pr_document(self.index, self.blobs, SYSTEM, *parts)
                    self.blobs.put(pr_key(*parts), orjson.dumps(document))
                    written += 1
            except NotFound:
                pass  # no trace is linked to it (yet): nothing to write
            except (StoreUnavailable, StoreCorrupt) as exc:
                log.warning("document of %s postponed: %s", pr_id, exc)
                continue
            except Exception:  # a name no key may hold, or a bug: never a stalled pass
                log.exception("no document for %s", pr_id)
            self.index.pr_written(pr_id, mark)
        return written


def _sorts_after(current: bytes, last: Mapping[str, Any], new: list[Mapping[str, Any]]) -> bool:
    """Whether trace order puts every new event after everything the object holds, so they
    may simply be appended.

    The usual case is cheap: the object ends with a numbered event and the new events are all
    numbered, with seqs no lower. When CI runs (no seq, placed by time) are on either side, the
    new events must take higher seqs than any held and be later than every event held.
    """
    if not new:
        return True
    if last.get("seq") is not None and all(e.get("seq") is not None and e["seq"] >= last["seq"] for e in new):
        return True
    try:
        held = [orjson.loads(line) for line in current.splitlines() if line]
        top = max((e["seq"] for e in held if e.get("seq") is not None), default=None)
        latest = max(parse_ts(e["ts"]) for e in held)
        return all(
            (e.get("seq") is None or top is None or e["seq"] > top) and parse_ts(e["ts"]) > latest for e in new
        )
    except (ValueError, TypeError, KeyError):
        return False


def _lines(events: Iterable[Mapping[str, Any]]) -> bytes:
    return b"".join(orjson.dumps(event) + b"\n" for event in events)


class Worker:
    """Keeps compacted objects in step with the index.

    It runs a pass every `interval_s`, finding the traces that are behind whatever the queue
    said (a lost message or an outage of the queue delays compaction by one pass at most), and
    one as soon as the queue names a trace; then it makes sure each trace named is compacted up
    to its message before acknowledging it. With an orphan sweeper, it also deletes orphaned
    batch objects, in a thread of its own (a sweep lists every batch object: it may take long).
    """

    def __init__(
        self,
        compactor: Compactor,
        *,
        queue: CompactionQueue | None = None,
        orphans: OrphanSweeper | None = None,
        interval_s: float = 2.0,
        settle_s: float = 0.2,
        metrics: Metrics | None = None,
    ) -> None:
        self.compactor = compactor
        self.queue: CompactionQueue = queue if queue is not None else LocalQueue()
        self.orphans = orphans
        self.metrics = metrics
        self.interval_s = interval_s
        self.settle_s = settle_s  # let a burst of batches land before rewriting the object
        self._not_before: dict[str, float] = {}  # trace -> when its next pass may run (monotonic)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._orphan_thread: threading.Thread | None = None

    def run(self) -> None:
        """Loop until stopped (the body of `prtrace-server worker` and of the in-process thread)."""
        if self.orphans is not None:
            self._orphan_thread = threading.Thread(
                target=self.orphans.run, args=(self._stop,), name="prtrace-orphans", daemon=True
            )
            self._orphan_thread.start()
        try:
            self._loop()
        finally:
            self._stop.set()
            if self._orphan_thread is not None:
                self._orphan_thread.join(5)

    def _loop(self) -> None:
        next_sweep = 0.0
        waiting: list[Delivery] = []  # traces another worker was compacting: tried again shortly
        while not self._stop.is_set():
            if time.monotonic() >= next_sweep:
                self._sweep()
                next_sweep = time.monotonic() + self.interval_s
            timeout = max(0.0, next_sweep - time.monotonic())
            if waiting:
                timeout = min(timeout, max(self.settle_s, 0.05))
            deliveries = self.queue.receive(timeout)
            if self._stop.is_set():
                return
            if deliveries and self.settle_s > 0 and not self._stop.wait(self.settle_s):
                deliveries += self.queue.receive(0)
            if deliveries:
                if self.metrics is not None:
                    self.metrics.queue_claimed.inc(sum(d.claimed for d in deliveries))
                # A whole pass, promptly: it compacts the traces named along with everything a
                # pass does for them (links, PR documents); _take then finds them done.
                self._sweep()
                next_sweep = time.monotonic() + self.interval_s
            if deliveries or waiting:
                waiting = self._take(waiting + deliveries)

    def _sweep(self) -> None:
        try:
            self._count(self.compactor.run_pass(compact=self._spaced))
        except StoreUnavailable as exc:
            log.warning("compaction paused: %s", exc)
        except Exception:  # a bug must not end the worker; the next pass retries
            log.exception("compaction pass failed")

    def _take(self, deliveries: list[Delivery]) -> list[Delivery]:
        """Compact the traces named, acknowledge what is done; returns the deliveries whose
        trace another worker holds (tried again shortly: its compaction may predate them)."""
        by_trace: dict[str, list[Delivery]] = {}
        for delivery in deliveries:
            by_trace.setdefault(delivery.trace_id, []).append(delivery)
        waiting: list[Delivery] = []
        for trace_id, group in by_trace.items():
            if self._stop.is_set():
                break  # unacknowledged messages are claimed by another worker
            upto = max((d.upto for d in group if d.upto is not None), default=None)
            try:
                done = self._compact(trace_id, upto)
            except (StoreUnavailable, StoreCorrupt) as exc:
                # Left unacknowledged: claimed again later, and the sweep finds the trace.
                log.warning("compaction of %s postponed: %s", trace_id, exc)
                self.queue.release(group)
                continue
            except Exception:
                log.exception("compaction of %s failed", trace_id)
                self.queue.release(group)
                continue
            if done:
                self.queue.ack(group)
            else:
                waiting += group
        return waiting

    def _compact(self, trace_id: str, upto: int | None) -> bool:
        """Compact the trace unless it is compacted up to `upto` (or to its end) already;
        False when another worker holds it."""
        trace = self.compactor.index.get_trace(trace_id)
        if trace is None:
            return True
        if trace.compacted_upto >= (upto if upto is not None else trace.last_server_seq):
            return True
        if not self._spaced(trace_id):
            return False
        self._count(1)
        return True

    def _spaced(self, trace_id: str) -> bool:
        """Compact the trace unless its last pass was too recent for its cost; False when it
        waits (its delivery is tried again shortly) or another worker holds it.

        A pass rewrites the trace's object whole (an object store has no append), so a trace
        pushed batch after batch would pay for its whole object on every batch: the square of
        the trace in all. After a pass that took T, the trace's next one waits 4 T (at most
        MAX_SPACING_S): its compaction takes at most a fifth of the worker's time whatever its
        size. Per trace: a small trace beside a large one is still compacted within `settle_s`.
        """
        now = time.monotonic()
        if now < self._not_before.get(trace_id, 0.0):
            return False
        if not self.compactor.compact(trace_id):
            return False
        done = time.monotonic()
        spacing = min(4 * (done - now), MAX_SPACING_S)
        if spacing > self.settle_s:
            if len(self._not_before) >= _SPACED_MAX:  # only traces still waiting are kept
                self._not_before = {t: at for t, at in self._not_before.items() if at > done}
            self._not_before[trace_id] = done + spacing
        else:
            self._not_before.pop(trace_id, None)
        return True

    def _count(self, compacted: int) -> None:
        if self.metrics is not None:
            self.metrics.compactions.inc(compacted)

    def start(self) -> None:
        self._thread = threading.Thread(target=self.run, name="prtrace-compaction", daemon=True)
        self._thread.start()

    def stop(self, timeout_s: float = 10.0) -> None:
        self._stop.set()
        self.queue.wake()
        if self._thread is not None:
            self._thread.join(timeout_s)

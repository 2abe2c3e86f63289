"""The orphan sweeper: deletes batch objects that no index row points at.

Ingest writes a batch's object before the index transaction that records its events; when
that transaction fails (the database went down, the client gave up), the object stays behind,
pointed at by nothing. Such an orphan is deleted once it is older than the grace period (an
hour by default): a batch still in flight has written its object and not yet committed, and a
retried batch rewrites its object (a put restarts its age) just before it commits, so neither
is ever old and unreferenced at once. The stores make the final check at the moment of
deletion: an object put since it was listed is kept.

The index is asked per trace (`referenced_objects`, along the index on trace_id) rather than
per key, so ingest pays for no index on object_key.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from itertools import groupby

from .blobs import BlobStore, StoredObject
from .errors import StoreUnavailable
from .index import IndexStore
from .metrics import Metrics

__all__ = ["BATCHES", "OrphanSweeper"]

log = logging.getLogger(__name__)

BATCHES = "batches/"
# Only what ingest writes is ever considered: batches/<trace_id>/<sha256>.ndjson.
_BATCH_KEY = re.compile(r"^batches/([^/]+)/[0-9a-f]{64}\.ndjson$")


@dataclass
class OrphanSweeper:
    """Finds and deletes orphaned batch objects older than `grace_s`, every `every_s`."""

    index: IndexStore
    blobs: BlobStore
    grace_s: float = 3600.0
    every_s: float = 600.0
    metrics: Metrics | None = None

    def sweep(self) -> int:
        """One pass over every batch object; returns how many orphans were deleted."""
        deleted = 0
        for trace_id, old in _old_batches(self.blobs.list_objects(BATCHES), self.grace_s):
            referenced = self.index.referenced_objects(trace_id)
            orphans = [key for key in old if key not in referenced]
            if not orphans:
                continue
            gone = self.blobs.delete(orphans, min_age_s=self.grace_s)
            if gone:
                log.warning("deleted %d orphaned batch object(s) of trace %s", len(gone), trace_id)
                if self.metrics is not None:
                    self.metrics.orphans_deleted.inc(len(gone))
            deleted += len(gone)
        return deleted

    def run(self, stop: threading.Event) -> None:
        """Sweep now and every `every_s` until `stop` is set (a thread of the worker)."""
        while not stop.is_set():
            try:
                self.sweep()
            except StoreUnavailable as exc:
                log.warning("orphan sweep postponed: %s", exc)
            except Exception:  # a bug must not end the thread; the next sweep tries again
                log.exception("orphan sweep failed")
            stop.wait(self.every_s)


def _old_batches(objects: Iterable[StoredObject], grace_s: float) -> Iterator[tuple[str, list[str]]]:
    """(trace_id, keys older than the grace) for each trace folder that has any; a store lists
    a folder's keys together, so one trace is in memory at a time."""
    batches = ((match[1], item) for item in objects if (match := _BATCH_KEY.match(item.key)))
    for trace_id, items in groupby(batches, key=lambda pair: pair[0]):
        old = [item.key for _, item in items if item.age_s >= grace_s]
        if old:
            yield trace_id, old

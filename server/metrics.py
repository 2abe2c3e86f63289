"""Prometheus metrics: what an operator needs to see that ingest is healthy.

Each app gets its own registry, so tests (and several apps in one process) never share
counters. Every label value comes from a fixed set (the methods below, the app's route
templates, status codes), so no request can add series of its own making.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

__all__ = ["CONTENT_TYPE_LATEST", "METHODS", "OTHER_METHOD", "UNMATCHED_ROUTE", "Metrics", "method_label"]

METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
OTHER_METHOD = "other"  # any other method a client makes up
UNMATCHED_ROUTE = "unmatched"  # every path no route answers: one series, not one per path


def method_label(method: str) -> str:
    """The method as a label: one of METHODS, else OTHER_METHOD."""
    return method if method in METHODS else OTHER_METHOD


@dataclass
class Metrics:
    """The app's counters and histograms, in a registry of its own."""

    registry: CollectorRegistry = field(default_factory=CollectorRegistry)

    def __post_init__(self) -> None:
        r = self.registry
        self.requests = Counter(
            "prtrace_http_requests", "HTTP requests answered", ["method", "route", "status"], registry=r
        )
        self.latency = Histogram(
            "prtrace_http_request_seconds", "Time to answer a request", ["method", "route"], registry=r,
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
        )
        self.events = Counter(
            "prtrace_ingest_events", "Events received, by outcome", ["outcome"], registry=r
        )
        self.batch_size = Histogram(
            "prtrace_ingest_batch_events", "Events per batch", registry=r,
            buckets=(1, 10, 50, 100, 250, 500, 1000),
        )
        self.store_errors = Counter(
            "prtrace_store_unavailable", "Requests answered 503 because a store was down", registry=r
        )
        self.compactions = Counter("prtrace_compactions", "Traces whose compacted object was rewritten", registry=r)
        self.queue_claimed = Counter(
            "prtrace_compaction_claimed", "Queue messages claimed after being left unacknowledged (by a worker that stopped)", registry=r
        )
        self.queue_dropped = Counter(
            "prtrace_compaction_hints_dropped",
            "Batches whose queue message was not sent because Redis was down (the sweep compacts them)",
            registry=r,
        )
        self.orphans_deleted = Counter(
            "prtrace_orphans_deleted", "Batch objects deleted because no index row pointed at them", registry=r
        )

    def count_batch(self, *, accepted: int, duplicate: int, rejected: int) -> None:
        self.events.labels("accepted").inc(accepted)
        self.events.labels("duplicate").inc(duplicate)
        self.events.labels("rejected").inc(rejected)
        self.batch_size.observe(accepted + duplicate + rejected)

    def render(self) -> bytes:
        return generate_latest(self.registry)

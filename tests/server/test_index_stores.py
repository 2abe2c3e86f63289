"""Every index store keeps the same promises: SQLite and PostgreSQL run the same tests.

Two store objects on one database stand for two server replicas.
"""

from __future__ import annotations

import random
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from prtrace_server.errors import Forbidden, SeqModeChanged, StoreUnavailable
from prtrace_server.index import (
    EventWrite,
    IndexStore,
    SeqMode,
    TokenRecord,
    TraceFilter,
    TraceSummary,
    TraceWrite,
)
from prtrace_server.stores import open_index

TRACE = "0b9f8a52-6c1e-4d3a-9f57-2a4c1e8d7b10"
OpenIndex = Callable[[], IndexStore]


@pytest.fixture(params=["sqlite", "postgres"])
def index_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/index.db"
    url: str = request.getfixturevalue("postgres_url")
    return url


@pytest.fixture
def open_store(index_url: str) -> Iterator[OpenIndex]:
    """Opens stores on the test's database (one per replica); closes them all afterwards."""
    opened: list[IndexStore] = []

    def make() -> IndexStore:
        opened.append(open_index(index_url))
        return opened[-1]

    yield make
    for store in opened:
        store.close()


@pytest.fixture
def index(open_store: OpenIndex) -> IndexStore:
    return open_store()


def trace_write(seq_mode: SeqMode | None = "client", pr_id: str | None = None) -> TraceWrite:
    envelope = {"trace_id": TRACE, "repo": {"name": "acme/webapp", "branch": "main"}, "developer": {"user_id": "d"}}
    return TraceWrite(TRACE, "acme/webapp", "main", pr_id, "d", envelope, seq_mode)


def event(n: int, seq: int | None = None) -> EventWrite:
    return EventWrite(
        event_id=f"{n:064x}", seq=seq, ts=f"2026-11-24T19:{n // 60 % 60:02d}:{n % 60:02d}.000Z", type="annotation", object_key="k"
    )


def ingest(store: IndexStore, events: list[EventWrite], *, user: str = "u", seq_mode: SeqMode | None = "client") -> tuple[list[str], list[str]]:
    outcome = store.ingest(trace=trace_write(seq_mode), events=events, user=user, may_write_any=False, received_at="t")
    return outcome.accepted, outcome.duplicates


def test_ingest_allocates_server_seqs_in_commit_order_across_replicas(open_store: OpenIndex) -> None:
    stores = [open_store(), open_store()]

    def write(store: IndexStore, start: int) -> None:
        for n in range(start, start + 20):
            ingest(store, [event(n, seq=n)])

    threads = [threading.Thread(target=write, args=(store, 1 + 20 * i)) for i, store in enumerate(stores)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    records = stores[0].event_records(TRACE)
    assert sorted(r.server_seq for r in records) == list(range(1, 41))
    trace = stores[1].get_trace(TRACE)
    assert trace is not None and (trace.event_count, trace.last_server_seq, trace.last_seq) == (40, 40, 40)


def test_concurrent_overlapping_ingests_store_each_event_once_without_gaps(open_store: OpenIndex) -> None:
    stores = [open_store(), open_store()]
    universe = [event(n, seq=n) for n in range(1, 121)]
    accepted: list[str] = []
    lock = threading.Lock()
    barrier = threading.Barrier(8)

    def write(worker: int) -> None:
        rng = random.Random(worker)
        barrier.wait()
        for _ in range(6):
            start = rng.randrange(0, 100)
            window = universe[start : start + rng.randrange(5, 40)]
            got, _ = ingest(stores[worker % 2], rng.sample(window, len(window)))
            with lock:
                accepted.extend(got)

    threads = [threading.Thread(target=write, args=(worker,)) for worker in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    records = stores[0].event_records(TRACE)
    assert len(accepted) == len(set(accepted)) == len(records)
    assert {r.event_id for r in records} == set(accepted)
    assert sorted(r.server_seq for r in records) == list(range(1, len(records) + 1))
    trace = stores[1].get_trace(TRACE)
    assert trace is not None
    assert (trace.event_count, trace.last_server_seq) == (len(records), len(records))
    assert trace.last_seq == max(r.seq or 0 for r in records)


def test_concurrent_server_numbered_events_get_distinct_consecutive_seqs(open_store: OpenIndex) -> None:
    stores = [open_store(), open_store()]

    def write(worker: int) -> None:
        for n in range(worker * 10 + 1, worker * 10 + 11, 2):
            ingest(stores[worker % 2], [event(n), event(n + 1)], seq_mode="server")

    threads = [threading.Thread(target=write, args=(worker,)) for worker in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    records = stores[0].event_records(TRACE)
    assert sorted(r.seq or 0 for r in records) == list(range(1, 61))
    assert all(r.seq_by_server for r in records)
    assert [r.seq for r in sorted(records, key=lambda r: r.server_seq)] == list(range(1, 61))


def test_ingest_reports_an_already_stored_event_as_duplicate(index: IndexStore) -> None:
    first = ingest(index, [event(1, 1)])
    again = ingest(index, [event(1, 1), event(2, 2), event(2, 2)])
    assert first == ([f"{1:064x}"], [])
    assert again == ([f"{2:064x}"], [f"{1:064x}", f"{2:064x}"])
    assert [r.server_seq for r in index.event_records(TRACE)] == [1, 2]


def test_ingest_refuses_another_users_trace_and_a_changed_seq_mode(index: IndexStore) -> None:
    ingest(index, [event(1, 1)], user="alice")
    with pytest.raises(Forbidden):
        ingest(index, [event(2, 2)], user="bob")
    with pytest.raises(SeqModeChanged):
        ingest(index, [event(3)], user="alice", seq_mode="server")
    assert [r.event_id for r in index.event_records(TRACE)] == [f"{1:064x}"]
    trace = index.get_trace(TRACE)
    assert trace is not None and (trace.owner, trace.event_count, trace.last_server_seq) == ("alice", 1, 1)


def test_trace_row_tracks_counts_times_and_a_linked_pr(index: IndexStore) -> None:
    ingest(index, [event(5, 5), event(2, 2)])
    index.ingest(trace=trace_write(pr_id="acme/webapp#9"), events=[event(9, 9)], user="u", may_write_any=False, received_at="t2")
    index.ingest(trace=trace_write(), events=[], user="u", may_write_any=False, received_at="t3")
    trace = index.get_trace(TRACE)
    assert trace is not None
    assert (trace.event_count, trace.last_seq, trace.last_server_seq) == (3, 9, 3)
    assert (trace.first_ts, trace.last_ts) == (event(2).ts, event(9).ts)
    assert (trace.pr_id, trace.created_at, trace.updated_at) == ("acme/webapp#9", "t", "t3")


def test_event_records_filter_and_order(index: IndexStore) -> None:
    ingest(index, [event(3, 3), event(1, 1), event(2, 2), event(4, 2)])
    assert [(r.seq, r.server_seq) for r in index.event_records(TRACE)] == [(1, 2), (2, 3), (2, 4), (3, 1)]
    assert [r.seq for r in index.event_records(TRACE, after_seq=1, limit=2)] == [2, 2]
    assert index.event_records(TRACE, type="commit") == []
    assert index.existing_event_ids(TRACE, [f"{1:064x}", f"{99:064x}"]) == {f"{1:064x}"}
    assert index.existing_event_ids(TRACE, []) == set()


def test_tokens_are_stored_listed_and_revoked(index: IndexStore) -> None:
    for n, user in enumerate(["alice", "alice", "bob"]):
        index.add_token(TokenRecord(f"{n:012x}", user, "writer", "hash", f"2026-01-0{n + 1}T00:00:00.000Z"))
    assert [t.user for t in index.list_tokens()] == ["alice", "alice", "bob"]
    assert index.revoke_tokens(user="alice", at="now") == 2
    assert index.revoke_tokens(user="alice", at="later") == 0
    assert index.revoke_tokens(token_id=f"{2:012x}", at="now") == 1
    token = index.get_token(f"{0:012x}")
    assert token is not None and token.revoked_at == "now"
    assert index.get_token("ffffffffffff") is None


def test_closed_index_is_unavailable(index: IndexStore) -> None:
    index.close()
    with pytest.raises(StoreUnavailable):
        index.get_trace(TRACE)


def test_an_ingest_without_events_creates_no_trace_and_claims_nothing(index: IndexStore) -> None:
    outcome = index.ingest(trace=trace_write(), events=[], user="mallory", may_write_any=False, received_at="t")
    assert (outcome.accepted, outcome.duplicates) == ([], [])
    assert index.get_trace(TRACE) is None
    ingest(index, [event(1, 1)], user="alice")
    trace = index.get_trace(TRACE)
    assert trace is not None and trace.owner == "alice"


def test_a_listing_carries_the_owner_and_no_envelope(index: IndexStore) -> None:
    ingest(index, [event(1, 1)], user="alice")
    [summary] = index.list_traces(TraceFilter())
    assert isinstance(summary, TraceSummary)
    assert not hasattr(summary, "envelope")
    assert (summary.trace_id, summary.owner, summary.developer_id) == (TRACE, "alice", "d")


def test_the_developer_filter_matches_the_owner_not_the_envelope(index: IndexStore) -> None:
    ingest(index, [event(1, 1)], user="alice")  # the envelope's developer is "d"
    assert [s.trace_id for s in index.list_traces(TraceFilter(developer="alice"))] == [TRACE]
    assert index.list_traces(TraceFilter(developer="d")) == []
    assert [s.owner for s in index.trace_sums(TraceFilter(developer="alice"))] == ["alice"]
    assert index.trace_sums(TraceFilter(developer="d")) == []

"""GET /v1/export: one row per event as JSONL or Parquet, streamed in bounded memory."""

from __future__ import annotations

import gzip
import io
import json
import os
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import duckdb
import httpx
import orjson
import pyarrow.parquet as pq
import pytest

from prtrace_core.export import COLUMNS, arrow_schema, event_row
from prtrace_server import export as export_module
from tests.server.server_helpers import TestClient, make_batch, note
from tests.support.server import serving

JSON = {"Content-Type": "application/json"}
NAMES = [name for name, _ in COLUMNS]
Tokens = Callable[..., dict[str, str]]


def post(client: TestClient, batch: dict[str, Any], headers: dict[str, str] | None = None) -> dict[str, Any]:
    response = client.post("/v1/batches", content=json.dumps(batch), headers={**JSON, **(headers or {})})
    assert response.status_code == 200, response.text
    answer: dict[str, Any] = response.json()
    return answer


def jsonl(client: TestClient, query: str = "", headers: dict[str, str] | None = None) -> list[dict[str, Any]]:
    response = client.get(f"/v1/export?format=jsonl&{query}", headers=headers or {})
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/x-ndjson")
    return [json.loads(line) for line in response.text.splitlines()]


def expected_rows(client: TestClient, trace_ids: list[str]) -> list[dict[str, Any]]:
    """The rows each trace should give, in trace order: built from the trace as served."""
    rows = []
    for trace_id in trace_ids:
        trace = client.get(f"/v1/traces/{trace_id}").json()
        ordered = sorted(trace["events"], key=lambda e: (e["seq"] is None, e["seq"] or 0, e["server_seq"]))
        rows += [event_row(trace, event) for event in ordered]
    return rows


def listed(client: TestClient, query: str = "") -> list[str]:
    """Trace ids in listing order (newest first), the order the export takes them in."""
    return [t["trace_id"] for t in client.get(f"/v1/traces?limit=1000&{query}").json()["traces"]]


def two_traces(client: TestClient, sample_batch: dict[str, Any]) -> tuple[str, str]:
    post(client, sample_batch)
    other = str(uuid.uuid4())
    events = [note(1, "a"), note(2, "b"), note(3, "c"), {"seq": 4, "ts": "2026-11-24T19:00:01.000Z", "type": "test",
              "payload": {"command": "pytest", "exit_code": 0, "framework": "pytest", "passed": 3, "skipped": 1}}]
    post(client, make_batch(other, events))
    post(client, make_batch(other, [note(2, "b, changed")]))  # shares seq 2
    return sample_batch["trace_id"], other


def test_jsonl_export_is_one_row_per_event_in_trace_order(client: TestClient, sample_batch: dict[str, Any]) -> None:
    two_traces(client, sample_batch)
    response = client.get("/v1/export?format=jsonl")
    assert response.headers["content-disposition"].startswith('attachment; filename="prtrace-export-')
    assert response.headers["content-disposition"].endswith('.jsonl"')
    rows = jsonl(client)
    assert all(list(row) == NAMES for row in rows)
    assert rows == expected_rows(client, listed(client))
    mine = [row for row in rows if row["trace_id"] == sample_batch["trace_id"]]
    assert Counter(row["type"] for row in mine) == Counter(e["type"] for e in sample_batch["events"])
    assert all(isinstance(row["server_seq"], int) for row in rows)
    assert [row["seq"] for row in rows if row["trace_id"] != sample_batch["trace_id"]] == [1, 2, 2, 3, 4]


def test_jsonl_is_the_default_format(client: TestClient, sample_batch: dict[str, Any]) -> None:
    post(client, sample_batch)
    response = client.get("/v1/export")
    assert response.headers["content-type"].startswith("application/x-ndjson")
    assert len(response.text.splitlines()) == len(sample_batch["events"])


def test_parquet_export_reads_back_with_pyarrow_and_duckdb(
    client: TestClient, sample_batch: dict[str, Any], tmp_path: Path
) -> None:
    first, other = two_traces(client, sample_batch)
    response = client.get("/v1/export?format=parquet")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/vnd.apache.parquet"
    assert response.headers["content-disposition"].endswith('.parquet"')
    table = pq.read_table(io.BytesIO(response.content))
    assert table.schema.equals(arrow_schema())
    expected = expected_rows(client, listed(client))
    assert table.column("event_id").to_pylist() == [row["event_id"] for row in expected]
    assert table.column("payload").to_pylist() == [row["payload"] for row in expected]

    path = tmp_path / "export.parquet"
    path.write_bytes(response.content)
    counts = dict(duckdb.sql(f"SELECT type, count(*) FROM read_parquet('{path}') WHERE trace_id = '{first}' GROUP BY type").fetchall())
    assert counts == Counter(e["type"] for e in sample_batch["events"])
    [(start, end, skipped)] = duckdb.sql(
        f"SELECT min(ts), max(ts), sum(skipped) FROM read_parquet('{path}') WHERE trace_id = '{other}'"
    ).fetchall()
    assert (end - start).total_seconds() == 1.0
    assert skipped == 1


def test_export_pages_through_traces_and_events(client: TestClient, monkeypatch: pytest.MonkeyPatch) -> None:
    # Pages as small as can be, so every boundary is crossed: between traces, inside a trace,
    # and between two events that share a seq.
    monkeypatch.setattr(export_module, "_TRACE_PAGE", 2)
    monkeypatch.setattr(export_module, "_EVENT_PAGE", 3)
    made = []
    for n in range(5):
        trace = str(uuid.uuid4())
        post(client, make_batch(trace, [note(seq, f"{n}/{seq}") for seq in range(1, 2 + 2 * n)]))
        post(client, make_batch(trace, [note(3, "again"), note(6, "again")]))
        made.append(trace)
    rows = jsonl(client)
    assert rows == expected_rows(client, listed(client))
    assert len(rows) == sum(1 + 2 * n for n in range(5)) + 2 * 5
    parquet = client.get("/v1/export?format=parquet")
    assert pq.read_table(io.BytesIO(parquet.content)).column("event_id").to_pylist() == [r["event_id"] for r in rows]


def test_export_filters_as_stats_does(client: TestClient) -> None:
    early, late, other = (str(uuid.uuid4()) for _ in range(3))
    pr = {"pr_id": "acme/webapp#12", "title": "t", "status": "open"}
    post(client, make_batch(early, [note(1, "a", "2026-11-20T10:00:00.000Z")]))
    post(client, make_batch(late, [note(1, "a", "2026-11-22T10:00:00.000Z"), note(2, "b", "2026-11-24T00:00:00.000Z")], pr=pr))
    post(client, make_batch(other, [note(1, "a", "2026-11-25T08:00:00.000Z")], repo={"name": "other/tool", "branch": "main"}))

    def traces(query: str) -> list[str]:
        return list(dict.fromkeys(row["trace_id"] for row in jsonl(client, query)))

    assert set(traces("repo=acme/webapp")) == {early, late}
    assert traces("pr=acme/webapp%2312") == [late]
    assert traces("repo=acme/webapp&pr=12") == [late]
    # since selects traces, never cuts one: the late trace comes whole
    assert sorted(traces("since=2026-11-23")) == sorted([late, other])
    assert len(jsonl(client, "since=2026-11-23&repo=acme/webapp")) == 2


def test_writer_exports_only_its_own_traces(auth_client: TestClient, token_for: Tokens) -> None:
    alice, bob, reader = token_for("alice"), token_for("bob"), token_for("rita", "reader")
    mine, theirs = str(uuid.uuid4()), str(uuid.uuid4())
    post(auth_client, make_batch(mine, [note(1, "a")]), alice)
    post(auth_client, make_batch(theirs, [note(1, "b"), note(2, "c")]), bob)
    assert {row["trace_id"] for row in jsonl(auth_client, headers=alice)} == {mine}
    assert {row["trace_id"] for row in jsonl(auth_client, "repo=acme/webapp&since=2026-01-01", headers=alice)} == {mine}
    parquet = auth_client.get("/v1/export?format=parquet", headers=alice)
    assert set(pq.read_table(io.BytesIO(parquet.content)).column("trace_id").to_pylist()) == {mine}
    assert {row["trace_id"] for row in jsonl(auth_client, headers=reader)} == {mine, theirs}
    assert auth_client.get("/v1/export").status_code == 401


@pytest.mark.parametrize(
    ("query", "named"),
    [("format=csv", "format"), ("format=", "format"), ("since=soon", "since"), ("pr=a%23b", "pr")],
)
def test_bad_parameters_are_422_naming_the_parameter(client: TestClient, query: str, named: str) -> None:
    response = client.get(f"/v1/export?{query}")
    assert response.status_code == 422
    assert response.json()["detail"].startswith(f"{named}:")


def test_an_empty_export_is_still_a_valid_file(client: TestClient) -> None:
    assert client.get("/v1/export?format=jsonl").content == b""
    parquet = client.get("/v1/export?format=parquet")
    table = pq.read_table(io.BytesIO(parquet.content))
    assert (table.num_rows, table.schema.equals(arrow_schema())) == (0, True)


@pytest.mark.e2e
def test_a_download_that_fails_midway_is_an_incomplete_transfer(tmp_path: Path, sample_batch: dict[str, Any]) -> None:
    data = tmp_path / "data"
    with _serving(data, tmp_path / "server.log") as (url, _):
        assert httpx.post(f"{url}/v1/batches", json=sample_batch).status_code == 200
        for path in (data / "objects" / "batches").rglob("*.ndjson"):
            path.unlink()  # the index now points at objects that are gone
        with pytest.raises(httpx.RemoteProtocolError):
            httpx.get(f"{url}/v1/export?format=jsonl")


# Bounded memory: a real server process streams a small export, then one ten times larger; the
# larger one must not need more memory than the small one did (beyond allocator noise), while
# holding it would take more than its JSONL size.

SMALL_REPO, LARGE_REPO = "acme/small", "acme/webapp"
SMALL_TRACES, LARGE_TRACES = 1, 3
SMALL_BATCHES, LARGE_BATCHES = 6, 20
BATCH = 1000
DIFF = "".join(f"+    line {n} of a change that is long enough to look like code\n" for n in range(4))


def _event(trace: int, seq: int) -> dict[str, Any]:
    ts = f"2026-11-{1 + trace:02d}T{seq // 3_600_000 % 24:02d}:{seq // 60_000 % 60:02d}:{seq // 1000 % 60:02d}.{seq % 1000:03d}Z"
    kind = seq % 4
    if kind == 0:
        payload: dict[str, Any] = {"command": "pytest -q", "exit_code": seq % 3, "framework": "pytest", "passed": 10, "failed": seq % 3}
        return {"seq": seq, "ts": ts, "type": "test", "payload": payload}
    if kind == 1:
        return {"seq": seq, "ts": ts, "type": "command", "payload": {"command": f"make step-{seq}", "exit_code": 0}}
    payload = {"file": f"src/module_{seq % 97}.py", "change_summary": "+4/-0", "diff_snippet": DIFF, "op": "modify"}
    return {"seq": seq, "ts": ts, "type": "edit", "payload": payload, "actor": {"kind": "agent", "name": "bot"}}


def _seed(url: str) -> None:
    """The large and the small repo's traces, pushed by one client per trace at once, and a
    tiny trace in repo warm/up."""
    small = make_batch(str(uuid.uuid4()), [_event(0, seq) for seq in range(1, 101)], repo={"name": "warm/up", "branch": "main"})
    assert httpx.post(f"{url}/v1/batches", json=small).status_code == 200
    failures: list[str] = []

    def push(trace: int, repo: str, batches: int) -> None:
        trace_id = str(uuid.UUID(int=trace + 1, version=4))
        with httpx.Client(timeout=60) as http:
            for batch in range(batches):
                first = batch * BATCH + 1
                events = [_event(trace, seq) for seq in range(first, first + BATCH)]
                body = make_batch(trace_id, events, repo={"name": repo, "branch": "main", "language": ["python"]})
                answer = http.post(f"{url}/v1/batches", content=gzip.compress(orjson.dumps(body), compresslevel=1),
                                   headers={**JSON, "Content-Encoding": "gzip"})
                if answer.status_code != 200 or len(answer.json()["accepted_event_ids"]) != BATCH:
                    failures.append(answer.text[:500])
                    return

    plan = [(SMALL_REPO, SMALL_BATCHES)] * SMALL_TRACES + [(LARGE_REPO, LARGE_BATCHES)] * LARGE_TRACES
    threads = [threading.Thread(target=push, args=(trace, repo, batches)) for trace, (repo, batches) in enumerate(plan)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not failures, failures


def _kib(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1])
    raise AssertionError(f"no {field} in /proc/{pid}/status")


@contextmanager
def _serving(data: Path, log: Path, processes: int = 1) -> Iterator[tuple[str, int]]:
    """`prtrace-server serve --no-worker` on the embedded stores: its URL and pid. No worker,
    so that compaction (which reads a whole trace) is not part of what is measured."""
    env = {"PRTRACE_AUTH": "off", "PRTRACE_DATA_DIR": str(data)}
    with serving(env, log, options=["--no-worker", "--processes", str(processes)]) as server:
        yield server.url, server.pid


class _RssSampler(threading.Thread):
    """The process's largest VmRSS seen while it runs, sampled every 20 ms."""

    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self.pid = pid
        self.peak = 0
        self.done = threading.Event()

    def run(self) -> None:
        while not self.done.wait(0.02):
            self.peak = max(self.peak, _kib(self.pid, "VmRSS"))


def _download(url: str, query: str, sink: Path | None = None) -> tuple[int, int, float]:
    """Stream an export, keeping nothing (or writing it to `sink`): bytes, newlines, seconds."""
    size = lines = 0
    started = time.perf_counter()
    with httpx.Client(timeout=120) as http, http.stream("GET", f"{url}/v1/export?{query}") as response:
        assert response.status_code == 200, response.read()
        with (sink.open("wb") if sink else open(os.devnull, "wb")) as out:
            for chunk in response.iter_raw(1 << 16):
                size += len(chunk)
                lines += chunk.count(b"\n")
                out.write(chunk)
    return size, lines, time.perf_counter() - started


@pytest.mark.e2e
def test_a_large_export_streams_in_no_more_memory_than_a_small_one(tmp_path: Path) -> None:
    data, log = tmp_path / "data", tmp_path / "server.log"
    totals = {SMALL_REPO: SMALL_TRACES * SMALL_BATCHES * BATCH, LARGE_REPO: LARGE_TRACES * LARGE_BATCHES * BATCH}
    started = time.perf_counter()
    with _serving(data, log, processes=os.cpu_count() or 1) as (url, _):
        _seed(url)
    seeded = time.perf_counter() - started
    # A fresh process: its peak RSS so far is its start-up's, not the seeding's.
    with _serving(data, log) as (url, pid):
        for fmt in ("jsonl", "parquet"):  # the code paths and pyarrow's libraries loaded first
            assert _download(url, f"format={fmt}&repo=warm/up")[0] > 0
        base = _kib(pid, "VmHWM")
        sampler = _RssSampler(pid)
        sampler.start()
        peak: dict[tuple[str, str], int] = {}  # the peak RSS after each download, in KiB
        sizes: dict[str, int] = {}
        seconds: dict[str, float] = {}
        for fmt in ("jsonl", "parquet"):
            for repo in (SMALL_REPO, LARGE_REPO):  # the small one first: it sets the working set
                sink = tmp_path / f"{repo.replace('/', '_')}.parquet" if fmt == "parquet" else None
                size, lines, elapsed = _download(url, f"format={fmt}&repo={repo}", sink)
                peak[fmt, repo] = _kib(pid, "VmHWM")
                if sink is None:
                    assert lines == totals[repo]
                    sizes[repo] = size
                else:
                    [(rows, types)] = duckdb.sql(f"SELECT count(*), count(DISTINCT type) FROM read_parquet('{sink}')").fetchall()
                    assert (rows, types) == (totals[repo], 3)
                seconds[f"{fmt} {repo}"] = elapsed
        sampler.done.set()
        sampler.join()

    mib = 1024
    jsonl_small = (peak["jsonl", SMALL_REPO] - base) / mib
    jsonl_more = (peak["jsonl", LARGE_REPO] - peak["jsonl", SMALL_REPO]) / mib
    parquet_small = (peak["parquet", SMALL_REPO] - peak["jsonl", LARGE_REPO]) / mib
    parquet_more = (peak["parquet", LARGE_REPO] - peak["parquet", SMALL_REPO]) / mib
    more_data_mib = (sizes[LARGE_REPO] - sizes[SMALL_REPO]) / 2**20
    large = totals[LARGE_REPO]
    print(
        f"\nexport of {large:,} events: JSONL {sizes[LARGE_REPO] / 2**20:.0f} MiB in {seconds[f'jsonl {LARGE_REPO}']:.1f} s "
        f"({large / seconds[f'jsonl {LARGE_REPO}']:,.0f} rows/s), Parquet in {seconds[f'parquet {LARGE_REPO}']:.1f} s "
        f"({large / seconds[f'parquet {LARGE_REPO}']:,.0f} rows/s); server peak RSS {base / mib:.0f} MiB before, "
        f"+{jsonl_small:.1f} MiB for the small JSONL export and +{jsonl_more:.1f} MiB more for the large one, "
        f"+{parquet_small:.1f} and +{parquet_more:.1f} MiB for Parquet (sampled peak {sampler.peak / mib:.0f} MiB); "
        f"seeding took {seeded:.1f} s"
    )
    # Holding an export would take more than its JSONL size; streaming takes a few pages, as
    # many for the large export as for the small one.
    assert (peak["jsonl", LARGE_REPO] - base) / mib < 48 and (peak["parquet", LARGE_REPO] - base) / mib < 96
    assert jsonl_more < more_data_mib / 8, (jsonl_more, more_data_mib)
    assert parquet_more < more_data_mib / 4, (parquet_more, more_data_mib)

"""GET /v1/stats: the index's figures are prtrace_core.stats' figures, on SQLite and PostgreSQL.

The contract is `prtrace_core.stats.trace_stats` over a trace's events: every test here reads
the trace back (`GET /v1/traces/{id}`), computes the figures in Python, and expects the
endpoint, which computes them in SQL, to say exactly the same.
"""

from __future__ import annotations

import json
import random
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from prtrace_core.stats import FIELDS, combine, trace_stats
from prtrace_core.timestamps import format_ts
from prtrace_server.index import IndexStore, TraceFilter
from prtrace_server.settings import ServerSettings
from prtrace_server.stores import open_index
from tests.server.server_helpers import TestClient, index_of, make_batch, note

JSON = {"Content-Type": "application/json"}
START = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)
HUMAN = {"kind": "human", "name": "dev"}
AGENT = {"kind": "agent", "name": "claude-code"}
Tokens = Callable[..., dict[str, str]]
TRACE_TAIL = "-6c1e-4d3a-9f57-2a4c1e8d7b10"


def post(client: TestClient, batch: dict[str, Any], headers: dict[str, str] | None = None) -> dict[str, Any]:
    response = client.post("/v1/batches", content=json.dumps(batch), headers={**JSON, **(headers or {})})
    assert response.status_code == 200, response.text
    answer: dict[str, Any] = response.json()
    return answer


def at(ms: int) -> str:
    return format_ts(START + timedelta(milliseconds=ms))


def edit(file: str, added: int, removed: int, *, actor: dict[str, str] | None = None) -> dict[str, Any]:
    event: dict[str, Any] = {"type": "edit", "payload": {"file": file, "change_summary": f"+{added}/-{removed}"}}
    if actor is not None:
        event["actor"] = actor
    return event


def ran_tests(exit_code: int, *, failed: int | None = None, errors: int | None = None) -> dict[str, Any]:
    payload: dict[str, Any] = {"command": "pytest -q", "exit_code": exit_code, "framework": "pytest"}
    if failed is not None:
        payload["failed"] = failed
    if errors is not None:
        payload["errors"] = errors
    return {"type": "test", "payload": payload}


def command(text: str, exit_code: int = 0, *, actor: dict[str, str] | None = None) -> dict[str, Any]:
    event: dict[str, Any] = {"type": "command", "payload": {"command": text, "exit_code": exit_code}}
    if actor is not None:
        event["actor"] = actor
    return event


def commit(sha: str) -> dict[str, Any]:
    return {"type": "commit", "payload": {"sha": sha, "message": "wip", "files_changed": 1}}


def rewrite() -> dict[str, Any]:
    return {"type": "rewrite", "payload": {"kind": "amend", "mappings": [{"old_sha": "aaaa1", "new_sha": "bbbb2"}]}}


def numbered(steps: list[tuple[int, dict[str, Any]]]) -> list[dict[str, Any]]:
    """Events from (ms after START, event) steps, seq 1, 2, 3 … in list order."""
    return [{"seq": n, "ts": at(ms), **event} for n, (ms, event) in enumerate(steps, start=1)]


def python_figures(client: TestClient, trace_id: str, headers: dict[str, str] | None = None) -> dict[str, Any]:
    """prtrace_core.stats' figures for the trace as the server gives it back."""
    response = client.get(f"/v1/traces/{trace_id}", headers=headers or {})
    assert response.status_code == 200, response.text
    return trace_stats(response.json()["events"])


def stats(client: TestClient, query: str = "", headers: dict[str, str] | None = None) -> dict[str, Any]:
    response = client.get(f"/v1/stats?{query}", headers=headers or {})
    assert response.status_code == 200, response.text
    answer: dict[str, Any] = response.json()
    return answer


def assert_same_as_core(client: TestClient, answer: dict[str, Any]) -> None:
    """Each trace's figures, and the total, equal what prtrace_core.stats computes."""
    expected = []
    for row in answer["traces"]:
        figures = python_figures(client, row["trace_id"])
        expected.append(figures)
        assert {name: row[name] for name in FIELDS} == {name: figures[name] for name in FIELDS}, row["trace_id"]
    assert answer["total"] == combine(expected)


def execute(index: IndexStore, sql: str, args: tuple[Any, ...] = ()) -> None:
    """Raw SQL on the index, to stand for what the API cannot write (old rows, server events)."""
    with index._write() as conn:  # type: ignore[attr-defined]
        conn.execute(sql.replace("?", index._mark), args)  # type: ignore[attr-defined]


def varied_traces(client: TestClient) -> list[str]:
    """Traces with every figure in play; returns their ids."""
    made: list[str] = []

    # red, red (errors with exit 0), green, green, a 16-minute pause, red, green; edits between;
    # agent and human actors; posted in two batches, each in shuffled order.
    busy = numbered([
        (0, {"type": "start", "payload": {"head_sha": "9c41d07", "branch": "fix/x"}}),
        (1_500, edit("src/a.py", 25, 10, actor=HUMAN)),
        (4_250, edit("src/b.py", 3, 0, actor=AGENT)),
        (9_000, ran_tests(1, failed=2)),
        (20_001, edit("src/a.py", 1, 1, actor=AGENT)),
        (31_337, ran_tests(0, errors=1)),
        (45_000, edit("tests/test_a.py", 12, 0)),
        (45_000, command("ruff check .", 1, actor=AGENT)),
        (60_123, ran_tests(0, failed=0, errors=0)),
        (61_000, commit("3f2a9c1")),
        (62_000, ran_tests(0)),
        (62_000 + 16 * 60_000, edit("src/c.py", 0, 40)),  # back from lunch
        (62_500 + 16 * 60_000, ran_tests(2, failed=1)),
        (70_000 + 16 * 60_000, edit("src/c.py", 2, 0)),
        (71_000 + 16 * 60_000, ran_tests(0, failed=0)),
        (72_000 + 16 * 60_000, rewrite()),
        (73_000 + 16 * 60_000, {"type": "annotation", "payload": {"text": "done"}, "actor": HUMAN}),
    ])
    trace = str(uuid.uuid4())
    rng = random.Random(7)
    first, second = busy[:9], busy[9:]
    rng.shuffle(first)
    rng.shuffle(second)
    pr = {"pr_id": "acme/webapp#7", "title": "t", "status": "open"}
    post(client, make_batch(trace, second, pr=pr))  # later events reach the server first
    post(client, make_batch(trace, first, pr=pr))
    # the same seq sent again, changed: stored beside the first, after it in trace order
    # (by server_seq, although its clock says earlier)
    changed = {**busy[5], "ts": at(30_000), "payload": {**busy[5]["payload"], "errors": 0}}
    post(client, make_batch(trace, [changed], pr=pr))
    made.append(trace)

    # clock skew: trace order and time order disagree; the first green in trace order is not
    # the earliest green in time; exactly 15 minutes between two events counts as work.
    skewed = numbered([
        (100_000, ran_tests(1, failed=1)),
        (50_000, edit("x.py", 5, 5)),
        (40_000, ran_tests(0)),
        (40_000 + 15 * 60_000, ran_tests(0)),
        (30_000, edit("y.py", 1, 2)),
        (10_000, ran_tests(1)),
        (20_000, ran_tests(0)),
    ])
    trace = str(uuid.uuid4())
    post(client, make_batch(trace, skewed, repo={"name": "acme/tool", "branch": "main"}))
    made.append(trace)

    # the server numbers a client without a buffer; one test run only; no edits
    loose = [
        {"ts": at(5_000), **ran_tests(0)},
        {"ts": at(1_000), **command("make", actor=AGENT)},
        {"ts": at(9_999), **commit("abcd123")},
    ]
    trace = str(uuid.uuid4())
    post(client, make_batch(trace, loose))
    made.append(trace)

    # every event refused: no trace at all (a batch that stores nothing claims nothing)
    trace = str(uuid.uuid4())
    answer = post(client, make_batch(trace, [{"seq": 1, "ts": "yesterday", "type": "annotation", "payload": {}}]))
    assert len(answer["rejected"]) == 1

    # a single event
    trace = str(uuid.uuid4())
    post(client, make_batch(trace, [note(1, "hello")]))
    made.append(trace)
    return made


def test_stats_equal_the_core_figures_for_varied_traces(client: TestClient, sample_batch: dict[str, Any]) -> None:
    post(client, sample_batch)
    made = [sample_batch["trace_id"], *varied_traces(client)]
    answer = stats(client)
    assert {row["trace_id"] for row in answer["traces"]} == set(made)
    assert_same_as_core(client, answer)
    busy = next(row for row in answer["traces"] if row["trace_id"] == made[1])
    # what the figures are, spelled out for the busiest trace
    assert busy["events"] == 18
    assert busy["test_runs"] == 7  # the changed resend is a run of its own
    assert busy["red_green_cycles"] == 2  # red, red, green (the resend), green, green, red, green
    assert busy["agent_events"] == 3
    assert (busy["lines_added"], busy["lines_removed"]) == (25 + 3 + 1 + 12 + 0 + 2, 10 + 0 + 1 + 0 + 40 + 0)
    assert busy["files_touched"] == 4
    assert busy["active_s"] == pytest.approx(busy["duration_s"] - 16 * 60, abs=0.001)
    assert busy["pr_id"] == "acme/webapp#7"
    assert busy["repo"] == "acme/webapp" and busy["branch"] == "main" and busy["developer"] == "dev-1"
    single = next(row for row in answer["traces"] if row["trace_id"] == made[4])
    assert (single["events"], single["duration_s"], single["edits_between_tests"]) == (1, 0.0, None)


def test_rows_are_newest_first_and_the_total_combines_them(client: TestClient) -> None:
    made = [str(uuid.uuid4()) for _ in range(3)]
    for trace in made:
        post(client, make_batch(trace, numbered([(0, ran_tests(1)), (60_000, ran_tests(0))])))
    answer = stats(client)
    listed = [t["trace_id"] for t in client.get("/v1/traces").json()["traces"]]
    assert [row["trace_id"] for row in answer["traces"]] == listed
    assert set(listed) == set(made)
    assert answer["total"]["traces"] == 3
    assert answer["total"]["time_to_first_green_s"] == 60.0
    assert answer["total"]["red_green_cycles"] == 3
    assert list(answer["total"]) == ["traces", *FIELDS]
    assert list(answer["traces"][0]) == ["trace_id", "repo", "branch", "pr_id", "owner", "developer", *FIELDS]


def test_no_traces_gives_an_empty_total(client: TestClient) -> None:
    assert stats(client) == {"traces": [], "total": combine([])}


def test_server_made_events_without_seq_come_after_the_numbered_ones(client: TestClient) -> None:
    # The webhook that makes them is not here yet; the index can hold them already.
    trace = str(uuid.uuid4())
    ci = {"type": "ci", "payload": {"provider": "github", "status": "completed", "conclusion": "success"}}
    events = numbered([(0, ran_tests(1)), (1_000, {**ci}), (2_000, edit("a.py", 1, 0)), (3_000, ran_tests(0))])
    events.append({"seq": 5, "ts": at(500), **ran_tests(0)})
    post(client, make_batch(trace, events))
    execute(index_of(client), "UPDATE events_index SET seq = NULL WHERE trace_id = ? AND type IN ('ci', 'test') AND seq IN (2, 5)", (trace,))
    served = client.get(f"/v1/traces/{trace}").json()["events"]
    assert sum(1 for event in served if event["seq"] is None) == 2
    answer = stats(client)
    assert_same_as_core(client, answer)
    # in trace order the green run without a seq is last, so it follows a green one: no cycle
    assert answer["traces"][0]["red_green_cycles"] == 1


def test_rows_indexed_before_the_stats_columns_are_filled_from_their_objects(
    client: TestClient, sample_batch: dict[str, Any]
) -> None:
    post(client, sample_batch)
    made = varied_traces(client)
    index = index_of(client)
    # as an index migrated from version 2 holds them: the new columns empty, the traces marked
    execute(
        index,
        "UPDATE events_index SET ts_ms = NULL, actor_kind = NULL, lines_added = NULL, lines_removed = NULL, "
        "skipped = NULL, errors = NULL, green = NULL",
    )
    execute(index, "UPDATE traces SET needs_backfill = 1 WHERE event_count > 0")
    marked = set(index.traces_to_backfill(TraceFilter()))
    assert marked == {sample_batch["trace_id"], *made}
    # a filter fills only what it selects
    assert [row["trace_id"] for row in stats(client, "repo=acme/tool")["traces"]] == [made[1]]
    assert set(index.traces_to_backfill(TraceFilter())) == marked - {made[1]}
    assert_same_as_core(client, stats(client))
    assert index.traces_to_backfill(TraceFilter()) == []


def test_an_upgraded_index_marks_the_traces_that_have_events_for_backfill(
    settings: ServerSettings, monkeypatch: pytest.MonkeyPatch
) -> None:
    from prtrace_server import migrate

    older = [m for m in migrate.load_migrations() if m.version < "0003"]
    with monkeypatch.context() as patch:
        patch.setattr(migrate, "load_migrations", lambda: older)
        index = open_index(settings.index_url)
        for trace, count in (("1" * 8 + TRACE_TAIL, 3), ("2" * 8 + TRACE_TAIL, 0)):
            execute(
                index,
                "INSERT INTO traces (trace_id, repo_name, branch, developer_id, owner, envelope, "
                "created_at, updated_at, event_count) VALUES (?, 'a/b', 'main', 'd', 'u', '{}', 't', 't', ?)",
                (trace, count),
            )
        index.close()
    index = open_index(settings.index_url)  # applies 0003
    try:
        assert index.traces_to_backfill(TraceFilter()) == ["1" * 8 + TRACE_TAIL]
        assert index.trace_sums(TraceFilter())[0].events == 0  # no event rows: nothing to add up
    finally:
        index.close()


def test_filters_select_traces_by_repo_pr_and_since(client: TestClient) -> None:
    early = str(uuid.uuid4())
    post(client, make_batch(early, [note(1, "a", "2026-11-20T10:00:00.000Z"), note(2, "b", "2026-11-23T23:59:59.999Z")]))
    late = str(uuid.uuid4())
    pr = {"pr_id": "acme/webapp#12", "title": "t", "status": "open"}
    post(client, make_batch(late, [note(1, "a", "2026-11-22T10:00:00.000Z"), note(2, "b", "2026-11-24T00:00:00.000Z")], pr=pr))
    other = str(uuid.uuid4())
    other_pr = {"pr_id": "other/tool#12", "title": "t", "status": "open"}
    post(
        client,
        make_batch(other, [note(1, "a", "2026-11-25T08:00:00.000Z")], repo={"name": "other/tool", "branch": "main"}, pr=other_pr),
    )

    def ids(query: str) -> set[str]:
        return {row["trace_id"] for row in stats(client, query)["traces"]}

    assert ids("") == {early, late, other}
    assert ids("repo=acme/webapp") == {early, late}
    assert ids("pr=acme/webapp%2312") == {late}
    assert ids("pr=12&repo=acme/webapp") == {late}
    assert ids("pr=%2312") == {late, other}
    assert ids("pr=13") == set()
    # since: the traces with an event at or after it — and their figures are the whole trace's
    assert ids("since=2026-11-24") == {late, other}
    assert ids("since=2026-11-23T23:59:59.999Z") == {early, late, other}
    assert ids("since=2026-11-24T01:00:00%2B02:00") == {early, late, other}  # 23:00 UTC the day before
    assert ids("since=2026-11-24T01:00:00Z") == {other}
    assert ids("since=2026-11-24T03:00:00+02:00") == {other}  # an unencoded + arrives as a space
    assert ids("since=2026-11-24T00:00:00.001") == {other}
    assert ids("since=2026-11-24&repo=acme/webapp") == {late}
    [row] = stats(client, "since=2026-11-24&repo=acme/webapp")["traces"]
    assert row["events"] == 2
    assert row["duration_s"] == 2 * 86_400 - 36_000


@pytest.mark.parametrize(
    ("query", "named"),
    [
        ("since=yesterday", "since"),
        ("since=2026-13-01", "since"),
        ("since=2026-11-24T25:00:00Z", "since"),
        ("since=0001-01-01T00:00:00%2B05:00", "since"),
        ("pr=acme%23x", "pr"),
        ("pr=owner/repo%2312%2313", "pr"),
        ("pr=" + "9" * 40, "pr"),
    ],
)
def test_bad_parameters_are_422_naming_the_parameter(client: TestClient, query: str, named: str) -> None:
    response = client.get(f"/v1/stats?{query}")
    assert response.status_code == 422
    assert response.json()["detail"].startswith(f"{named}:")


def test_writer_gets_stats_of_its_own_traces_and_a_reader_of_all(auth_client: TestClient, token_for: Tokens) -> None:
    alice, bob, reader = token_for("alice"), token_for("bob"), token_for("rita", "reader")
    mine, theirs = str(uuid.uuid4()), str(uuid.uuid4())
    post(auth_client, make_batch(mine, [note(1, "a")]), alice)
    post(auth_client, make_batch(theirs, [note(1, "b"), note(2, "c")]), bob)
    assert [row["trace_id"] for row in stats(auth_client, headers=alice)["traces"]] == [mine]
    assert stats(auth_client, headers=alice)["total"]["events"] == 1
    assert {row["trace_id"] for row in stats(auth_client, headers=reader)["traces"]} == {mine, theirs}
    assert auth_client.get("/v1/stats").status_code == 401


def test_openapi_documents_stats(client: TestClient) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    assert {"/v1/stats", "/v1/export"} <= set(paths)
    assert {p["name"] for p in paths["/v1/stats"]["get"]["parameters"]} >= {"repo", "since", "pr"}


# Random traces: whatever the mix, order, clock and gaps, SQL and Python agree.

KINDS = st.sampled_from(["edit", "edit", "test", "test", "command", "commit", "rewrite", "annotation"])
GAPS = st.sampled_from([0, 1, 7, 999, 60_000, 899_999, 900_000, 900_001, 3_600_000, -5_000])


def random_event(draw: st.DrawFn) -> dict[str, Any]:
    kind = draw(KINDS)
    if kind == "edit":
        event = edit(draw(st.sampled_from(["a.py", "b.py", "c/d.py"])), draw(st.integers(0, 500)), draw(st.integers(0, 500)))
    elif kind == "test":
        event = ran_tests(
            draw(st.sampled_from([0, 0, 1, 2])),
            failed=draw(st.sampled_from([None, 0, 1, 4])),
            errors=draw(st.sampled_from([None, 0, 0, 1])),
        )
    elif kind == "command":
        event = command("make", draw(st.sampled_from([0, 1])))
    elif kind == "commit":
        event = commit("abcdef1")
    elif kind == "rewrite":
        event = rewrite()
    else:
        event = {"type": "annotation", "payload": {"text": "n"}}
    actor = draw(st.sampled_from([None, HUMAN, AGENT, {"kind": "tool"}]))
    if actor is not None:
        event["actor"] = actor
    return event


@st.composite
def random_trace(draw: st.DrawFn) -> list[dict[str, Any]]:
    """Events in random order, with random gaps (idle ones, exactly 15 minutes, clock skew
    backwards), and maybe events changed and sent again under a seq already used."""
    events: list[dict[str, Any]] = []
    clock = 0
    for _ in range(draw(st.integers(1, 25))):
        clock = max(clock + draw(GAPS), 0)
        events.append({"seq": len(events) + 1, "ts": at(clock), **random_event(draw)})
    for _ in range(draw(st.integers(0, 2))):
        seq = draw(st.integers(1, len(events)))
        events.append({"seq": seq, "ts": at(draw(st.integers(0, clock + 10_000))), **random_event(draw)})
    order = draw(st.permutations(range(len(events))))
    return [events[i] for i in order]


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(events=random_trace(), split=st.integers(0, 30))
def test_random_traces_give_the_core_figures(client: TestClient, events: list[dict[str, Any]], split: int) -> None:
    trace = str(uuid.uuid4())
    repo = {"name": f"prop/{trace}", "branch": "main"}
    post(client, make_batch(trace, events[:split], repo=repo))
    post(client, make_batch(trace, events[split:], repo=repo))
    [row] = stats(client, f"repo=prop/{trace}")["traces"]
    figures = python_figures(client, trace)
    assert {name: row[name] for name in FIELDS} == {name: figures[name] for name in FIELDS}

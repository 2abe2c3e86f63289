"""What the pages show of events: lanes, summaries, pass/fail, the overview and the detail."""

from __future__ import annotations

import itertools
from typing import Any

import orjson
import pytest

from prtrace_core.stats import trace_stats
from prtrace_core.timestamps import parse_ts
from prtrace_viewer import views
from prtrace_viewer.views import LANE_TYPES, actor_label, detail, lane_of, overview, status, summary
from tests.viewer import AGENT, HUMAN, edit_payload, event, ts

SCRIPT = "<script>alert(1)</script>"


def _test_run(seq: int, *, passed: int, failed: int = 0, errors: int = 0, exit_code: int = 0,
              at: float | None = None) -> dict[str, Any]:
    payload = {"command": "pytest", "exit_code": exit_code, "framework": "pytest", "passed": passed,
               "failed": failed, "errors": errors, "failed_tests": ["t::a"] if failed else []}
    return event(seq, "test", payload, at=at, actor=AGENT)


def _session() -> list[dict[str, Any]]:
    return [
        event(1, "start", {"head_sha": "a" * 40, "branch": "main", "dirty": []}, at=0),
        event(2, "edit", edit_payload("src/a.py", b"x = 1\n", b"x = 2\ny = 3\n"), at=30, actor=AGENT),
        event(3, "command", {"command": "make", "exit_code": 2, "duration_ms": 1500}, at=65, actor=HUMAN),
        _test_run(4, passed=3, failed=1, exit_code=1, at=70),
        event(5, "edit", edit_payload("src/b.py", None, b"".join(b"l%d\n" % n for n in range(9))), at=90,
              actor=AGENT),
        event(6, "edit", edit_payload("src/a.py", b"x = 2\ny = 3\n", b"x = 2\n"), at=100, actor=AGENT),
        _test_run(7, passed=4, at=130),
        event(8, "commit", {"sha": "c" * 40, "message": "Fix a\n\nbody", "files_changed": 2,
                            "files": ["src/a.py", "src/b.py"], "insertions": 11, "deletions": 1}, at=150),
        event(9, "annotation", {"text": "looks good"}, at=160, actor=HUMAN),
        event(10, "push", {"remote": "origin", "refs": []}, at=170),
        event(11, "agent", {"event": "stop", "reason": "done"}, at=175, actor=AGENT),
        event(12, "pause", {}, at=180),
        {"seq": None, "ts": ts(200), "type": "ci", "origin": "server",
         "payload": {"name": "build", "status": "completed", "conclusion": "failure", "head_sha": "c" * 40}},
    ]


def test_each_type_has_its_lane() -> None:
    kinds = {e["type"]: lane_of(e) for e in _session()}
    assert kinds == {"start": "other", "edit": "edit", "command": "command", "test": "test", "commit": "commit",
                     "annotation": "note", "push": "commit", "agent": "agent", "pause": "other", "ci": "ci"}
    for kind in ("merge", "rewrite", "checkout"):
        assert lane_of({"type": kind}) == "commit"
    assert set(views.LANE_LABELS) == set(LANE_TYPES)


def test_actor_labels() -> None:
    assert actor_label(HUMAN) == "human"
    assert actor_label(AGENT) == "claude-code"
    assert actor_label({"kind": "agent", "name": "claude-code", "subagent": "Explore"}) == "claude-code/Explore"
    assert actor_label({"kind": "tool", "name": "git"}) == "git"
    assert actor_label(None) == "unknown"


def test_summaries_are_one_plain_line_worded_as_show_words_them() -> None:
    events = _session()
    assert summary(events[1]) == "modify src/a.py +2/-1"
    assert summary(events[2]) == "`make` → exit 2 (1.5s)"
    assert summary(events[7]).startswith("ccccccc Fix a (2 file(s), +11/-1)")
    tricky = event(13, "commit", {"sha": "d" * 40, "message": f"{SCRIPT}\nsecond\x1b[31m", "files_changed": 1})
    assert summary(tricky) == f"ddddddd {SCRIPT} (1 file(s))"  # plain text: the template escapes it


@pytest.mark.parametrize(
    ("one", "expected"),
    [
        (_test_run(1, passed=3), "pass"),
        (_test_run(1, passed=3, failed=1, exit_code=1), "fail"),
        (_test_run(1, passed=3, errors=1), "fail"),
        (_test_run(1, passed=3, exit_code=5), "fail"),
        (event(1, "command", {"command": "x", "exit_code": 0}), "pass"),
        (event(1, "command", {"command": "x", "exit_code": 1}), "fail"),
        (event(1, "ci", {"conclusion": "success"}), "pass"),
        (event(1, "ci", {"conclusion": "timed_out"}), "fail"),
        (event(1, "ci", {"conclusion": "cancelled"}), "fail"),
        (event(1, "ci", {"conclusion": "failure"}), "fail"),
        (event(1, "ci", {"status": "in_progress"}), "neutral"),
        (event(1, "edit", edit_payload("a", None, b"a\n")), "neutral"),
        ({"type": "test", "payload": "not a dict"}, "fail"),
    ],
)
def test_status(one: dict[str, Any], expected: str) -> None:
    assert status(one) == expected


def test_overview_points_lanes_and_series() -> None:
    events = _session()
    got = overview(events)
    t0 = int(parse_ts(ts(0)).timestamp() * 1000)
    assert got["t0"] == t0 and got["t1"] == t0 + 200_000
    assert got["lanes"]["type"] == ["Edits", "Commands", "Tests", "Commits", "Notes", "CI", "Agent", "Other"]
    assert got["lanes"]["actor"] == ["unknown", "claude-code", "human"]
    assert len(got["points"]) == len(events) == len(got["event_ids"])
    assert got["points"][1] == [t0 + 30_000, 0, 1, 2, 0, 1]  # an agent's edit at 30 s
    assert got["points"][2] == [t0 + 65_000, 1, 2, 3, 2, 2]  # a failed command by the developer
    assert got["points"][3][4] == 2 and got["points"][6][4] == 1  # red test, then green
    assert got["points"][-1] == [t0 + 200_000, 5, 0, None, 2, 12]  # the CI run: no seq
    assert got["seqs"] == {"min": 1, "max": 12}
    assert got["tests"] == {"t": [(t0 + 70_000) / 1000, (t0 + 130_000) / 1000], "passed": [3, 4],
                            "failed": [1, 0], "seq": [4, 7]}
    assert got["bucket_s"] == 60
    per = got["per_minute"]
    assert per["t"] == [t0 // 1000 + 60 * n for n in range(4)]
    assert per["types"]["Edits"] == [1, 2, 0, 0]
    assert per["types"]["Tests"] == [0, 1, 1, 0]
    assert "Notes" in per["types"] and sum(sum(row) for row in per["types"].values()) == len(events)
    stats = trace_stats(events)
    assert got["stats"]["edits"] == stats["edits"] == 3
    assert not any(name.startswith("_") for name in got["stats"])
    assert "agent_lines" in got["stats"]["lines"]


def test_churn_is_the_files_that_changed_most_first() -> None:
    events = _session()
    assert overview(events)["churn"] == [
        {"file": "src/b.py", "added": 9, "removed": 0, "edits": 1},
        {"file": "src/a.py", "added": 2, "removed": 2, "edits": 2},
    ]
    many = [event(n, "edit", {"file": f"f{n}.py", "change_summary": f"+{n}/-0"}) for n in range(1, 41)]
    churn = overview(many)["churn"]
    assert len(churn) == 30 and churn[0]["file"] == "f40.py" and churn[-1]["file"] == "f11.py"


def test_a_long_trace_keeps_to_about_two_hundred_buckets() -> None:
    # three days, one event a minute
    events = [event(n, "command", {"command": "x", "exit_code": 0}, at=n * 60.0) for n in range(1, 3 * 24 * 60)]
    got = overview(events)
    assert len(got["per_minute"]["t"]) <= views.MAX_BUCKETS + 1
    assert got["bucket_s"] in (1800, 3600)
    assert sum(got["per_minute"]["types"]["Commands"]) == len(events)
    starts = got["per_minute"]["t"]
    assert all(b - a == got["bucket_s"] for a, b in itertools.pairwise(starts))


def test_the_overview_is_plain_json() -> None:
    events = _session()
    got = overview(events)
    assert orjson.loads(orjson.dumps(got)) == got
    empty = overview([])
    assert empty["t0"] is None and empty["points"] == [] and empty["seqs"] is None
    assert orjson.loads(orjson.dumps(empty)) == empty


def test_events_with_odd_fields_still_have_a_place() -> None:
    events = [
        {"seq": 1, "ts": "not a time", "type": "edit", "payload": {"file": 3}},
        event(2, "note-from-the-future", {"x": [1, 2]}, at=10),
        {"seq": 3, "type": "command", "payload": None, "actor": "nobody"},
    ]
    got = overview(events)
    t = got["points"][1][0]
    assert [p[0] for p in got["points"]] == [t, t, t]
    assert got["points"][1][1] == LANE_TYPES.index("other")
    orjson.dumps(got)


def test_detail_of_an_edit_has_its_highlighted_diff_and_notes() -> None:
    payload = edit_payload("web/x.html", b"<p>a</p>\n", f"{SCRIPT}\n".encode())
    shown = detail(event(5, "edit", {**payload, "diff_truncated": True}, actor=AGENT))
    assert shown["kind"] == "edit" and shown["seq"] == 5 and shown["status"] == "neutral"
    assert shown["actor"] == {"label": "claude-code", "kind": "agent", "model": "opus", "session": "s-1"}
    assert shown["file"] == "web/x.html" and shown["op"] == "modify" and shown["change_summary"] == "+1/-1"
    assert [row.kind for row in shown["diff_lines"]] == ["meta", "meta", "hunk", "del", "add"]
    assert all("<script" not in str(row.html) for row in shown["diff_lines"])
    assert shown["notes"] == ["The diff was truncated: only its beginning is shown."]
    withheld = detail(event(6, "edit", {"file": ".env", "op": "modify", "withheld": True, "change_summary": "+0/-0"}))
    assert withheld["diff_lines"] == [] and "withheld" in withheld["notes"][0]
    binary = detail(event(7, "edit", edit_payload("a.png", None, b"\x89PNG\x00")))
    assert binary["notes"] == ["This is a binary file: the trace holds no diff of it."]


def test_detail_of_the_other_types() -> None:
    events = _session()
    command = detail(events[2])
    assert command["command"] == "make" and command["exit_code"] == 2 and command["status"] == "fail"
    assert command["actor"]["model"] is None
    test = detail(events[3])
    assert (test["framework"], test["passed"], test["failed"], test["failed_tests"]) == ("pytest", 3, 1, ["t::a"])
    commit = detail({**events[7], "payload": {**events[7]["payload"], "authorship": {
        "actors": [], "files": {"src/a.py": {"agent": 3, "human": 1, "unknown": 0, "ranges": []}}}}})
    assert commit["message"] == "Fix a\n\nbody" and commit["files"] == ["src/a.py", "src/b.py"]
    assert (commit["insertions"], commit["deletions"]) == (11, 1)
    assert commit["authorship"] == [{"file": "src/a.py", "agent": 3, "human": 1, "unknown": 0}]
    note = detail(event(9, "annotation", {"text": "why", "role": "reviewer"}))
    assert (note["text"], note["role"], note["kind"]) == ("why", "reviewer", "note")
    ci = detail(events[-1])
    assert (ci["name"], ci["conclusion"], ci["ci_status"], ci["status"]) == ("build", "failure", "completed", "fail")
    assert ci["url"] is None and ci["seq"] is None
    push = detail(events[9])
    assert orjson.loads(push["payload_json"]) == {"remote": "origin", "refs": []}


@pytest.mark.parametrize(
    ("url", "kept"),
    [
        ("https://ci.example/run/1", True),
        ("http://ci.example/run/1", True),
        ("HTTPS://ci.example/run/1", True),
        ("javascript:alert(1)", False),
        (" javascript:alert(1)", False),
        ("data:text/html,<script>", False),
        ("//evil.example", False),
        (3, False),
    ],
)
def test_a_ci_link_is_only_ever_to_the_web(url: Any, kept: bool) -> None:
    shown = detail(event(None, "ci", {"name": "b", "url": url}))
    assert shown["url"] == (url if kept else None)


def test_a_test_run_without_counts_is_a_gap_in_the_plot_not_a_zero() -> None:
    events = [
        _test_run(1, passed=3, at=10),
        event(2, "test", {"command": "pytest", "exit_code": 1}, at=20),  # only its exit code
        event(3, "test", {"command": "pytest", "exit_code": 1, "errors": 2}, at=30),
    ]
    got = overview(events)
    assert got["tests"]["passed"] == [3, None, None]
    assert got["tests"]["failed"] == [0, None, 2]
    assert got["tests"]["seq"] == [1, 2, 3] and len(got["tests"]["t"]) == 3
    assert [p[4] for p in got["points"]] == [1, 2, 2]  # the run with no counts is still red
    orjson.dumps(got)


HUGE_SUMMARY = "+" + "9" * 5000 + "/-1"


def test_a_change_summary_with_a_huge_number_counts_as_none() -> None:
    events = [
        event(1, "edit", {"file": "a.py", "op": "modify", "change_summary": HUGE_SUMMARY}),
        event(2, "edit", {"file": "a.py", "op": "modify", "change_summary": "+3/-1"}),
        event(3, "edit", {"file": "b.py", "op": "modify", "change_summary": f"+{'9' * 16}/-0"}),
    ]
    stats = trace_stats(events)
    assert (stats["lines_added"], stats["lines_removed"]) == (3, 1)
    got = overview(events)
    assert got["churn"][0] == {"file": "a.py", "added": 3, "removed": 1, "edits": 2}
    assert got["churn"][1] == {"file": "b.py", "added": 0, "removed": 0, "edits": 1}
    orjson.dumps(got)
    assert detail(events[0])["change_summary"] == HUGE_SUMMARY  # shown as the text it is


def test_numbers_beyond_64_bits_read_as_absent() -> None:
    events = [
        event(10**20, "test", {"command": "pytest", "exit_code": 0, "passed": 10**30, "failed": -(10**30)}, at=1),
        event(2, "command", {"command": "ls", "exit_code": 0, "duration_ms": 2**63}),
        event(3, "commit", {"sha": "c" * 40, "message": "m", "files": ["a.py"], "insertions": 2**64,
                            "authorship": {"files": {"a.py": {"agent": 2**62, "human": 2**62 + 5}}}}),
        event(4, "commit", {"sha": "d" * 40, "message": "m", "files": ["a.py"],
                            "authorship": {"files": {"a.py": {"agent": 2**62, "human": 2**62}}}}),
    ]
    got = overview(events)
    orjson.dumps(got)  # every number fits: a sum past 64 bits is absent too
    assert got["points"][0][3] is None and got["tests"]["passed"] == [None]
    assert detail(events[1])["duration_ms"] is None
    assert detail(events[2])["insertions"] is None
    assert detail(events[0])["seq"] is None
    assert views._int(2**63 - 1) == 2**63 - 1 and views._int(-(2**63)) == -(2**63)

"""The figures stats gives, on small hand-made traces where the answer is plain."""

from __future__ import annotations

from typing import Any

from prtrace_core.stats import FIELDS, combine, trace_stats


def _ev(seq: int, minute: float, type: str, **payload: Any) -> dict[str, Any]:
    seconds = int(minute * 60)
    return {"seq": seq, "ts": f"2026-12-01T10:{seconds // 60:02d}:{seconds % 60:02d}.000Z", "type": type, "payload": payload}


def _test(seq: int, minute: float, *, green: bool) -> dict[str, Any]:
    return _ev(seq, minute, "test", command="pytest", framework="pytest", exit_code=0 if green else 1,
               passed=3, failed=0 if green else 1)


TRACE = [
    _ev(1, 0, "start", head_sha="abc", branch="b"),
    _ev(2, 1, "edit", file="a.py", change_summary="+10/-2"),
    _test(3, 2, green=False),
    _ev(4, 3, "edit", file="a.py", change_summary="+1/-1"),
    _ev(5, 4, "edit", file="b.py", change_summary="+5/-0"),
    _test(6, 5, green=True),
    _test(7, 6, green=False),
    _ev(8, 7, "edit", file="a.py", change_summary="+2/-2"),
    _test(9, 8, green=True),
    _ev(10, 9, "command", command="ls", exit_code=0),
    _ev(11, 40, "commit", sha="123", message="m", files_changed=2),  # after a 31-minute break
    _ev(12, 41, "rewrite", kind="amend", mappings=[]),
]


def test_figures_of_one_trace() -> None:
    s = trace_stats(TRACE)
    assert s["events"] == 12
    assert s["duration_s"] == 41 * 60
    assert s["active_s"] == 10 * 60  # the 31-minute gap is not work
    assert (s["edits"], s["files_touched"], s["lines_added"], s["lines_removed"]) == (4, 2, 18, 5)
    assert (s["commands"], s["test_runs"], s["green_runs"]) == (1, 4, 2)
    assert s["time_to_first_green_s"] == 5 * 60
    assert s["red_green_cycles"] == 2
    assert s["edits_between_tests"] == 1.0  # 2, 0, 1 edits between the four runs
    assert (s["commits"], s["rewrites"]) == (1, 1)
    assert s["agent_share"] == 0.0


def test_order_is_by_seq_not_by_position() -> None:
    assert trace_stats(list(reversed(TRACE))) == trace_stats(TRACE)


def test_agent_events_are_counted() -> None:
    events = [*TRACE[:2], {**_ev(13, 1.5, "edit", file="c.py", change_summary="+1/-0"), "actor": {"kind": "agent", "name": "claude-code"}}]
    s = trace_stats(events)
    assert s["agent_events"] == 1 and s["agent_share"] == round(1 / 3, 4)


def test_a_trace_without_tests_has_no_time_to_green() -> None:
    s = trace_stats(TRACE[:2])
    assert s["time_to_first_green_s"] is None and s["edits_between_tests"] is None and s["red_green_cycles"] == 0


def test_many_traces_combine_into_sums_medians_and_weighted_means() -> None:
    one = trace_stats(TRACE)
    other = trace_stats([_ev(1, 0, "start"), _test(2, 1, green=True), _ev(3, 2, "edit", file="x", change_summary="+1/-0"), _test(4, 3, green=True)])
    total = combine([one, other])
    assert list(total) == ["traces", *FIELDS]
    assert total["traces"] == 2 and total["edits"] == 5 and total["test_runs"] == 6
    assert total["time_to_first_green_s"] == (300 + 60) / 2
    assert total["edits_between_tests"] == round((3 + 1) / (3 + 1), 2)


def _commit(seq: int, sha: str, agent: int, human: int, unknown: int = 0) -> dict[str, Any]:
    files = {"a.py": {"agent": agent, "human": human, "unknown": unknown, "ranges": []}}
    return _ev(seq, seq, "commit", sha=sha, message="m", files_changed=1, authorship={"actors": [], "files": files})


def test_agent_line_share_per_commit_leaves_out_commits_a_rewrite_replaced() -> None:
    from prtrace_core.stats import LINE_FIELDS, combine_lines, line_stats

    events = [
        _ev(1, 0, "start"),
        _commit(2, "c1", agent=8, human=2),
        _commit(3, "c2", agent=1, human=3, unknown=4),
        _ev(4, 4, "rewrite", kind="amend", mappings=[{"old_sha": "c2", "new_sha": "c3"}]),
        _commit(5, "c3", agent=2, human=3, unknown=4),
        _ev(6, 6, "commit", sha="c4", message="no authorship recorded", files_changed=1),
    ]
    s = line_stats(events)
    assert [c["sha"] for c in s["commit_lines"]] == ["c1", "c3"]
    assert s["commit_lines"][0]["agent_line_share"] == 0.8
    assert (s["agent_lines"], s["human_lines"], s["unknown_lines"]) == (10, 5, 4)
    assert s["agent_line_share"] == round(10 / 15, 4)
    assert line_stats(TRACE)["agent_line_share"] is None  # no line of known author
    total = combine_lines([s, line_stats(TRACE)])
    assert list(total) == list(LINE_FIELDS) and total["agent_line_share"] == s["agent_line_share"]

"""verify on a real session: clean as recorded, and each planted fault found by its own check,
naming the seq(s) it concerns."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest

from prtrace_core.canonical import event_id
from prtrace_core.verify import Report, verify_trace
from prtrace_daemon.blobs import BlobCache
from prtrace_daemon.gitobjects import GitSources
from prtrace_daemon.recorder import Recorder
from tests.conftest import git
from tests.daemon.test_replay import Session, _session


@pytest.fixture
def session(rec: Recorder, repo: Path) -> Session:
    return _session(rec, repo)


def _verify(s: Session, trace: dict[str, Any], *, with_repo: bool = True) -> Report:
    if not with_repo:
        return verify_trace(trace)
    with GitSources(s.repo, BlobCache(s.rec.home.blobs)) as sources:
        return verify_trace(trace, sources=sources)


def _faults(report: Report, check: str) -> list[Any]:
    return [f for f in report.faults if f.check == check]


def _event(trace: dict[str, Any], seq: int) -> dict[str, Any]:
    return next(e for e in trace["events"] if e["seq"] == seq)


def _edit(trace: dict[str, Any], file: str, nth: int = 0) -> dict[str, Any]:
    return [e for e in trace["events"] if e["type"] == "edit" and e["payload"]["file"] == file][nth]


def _rehash(trace: dict[str, Any], event: dict[str, Any]) -> None:
    event["event_id"] = event_id(trace["trace_id"], {k: event[k] for k in ("seq", "ts", "type", "payload")})


def test_a_recorded_session_is_clean_with_and_without_its_repository(session: Session) -> None:
    trace = session.trace()
    with_repo = _verify(session, trace)
    assert with_repo.ok, [f.message for f in with_repo.faults]
    assert with_repo.checked[-1] == "commit_state" and not with_repo.findings
    alone = _verify(session, trace, with_repo=False)
    assert alone.ok, [f.message for f in alone.faults]
    assert any("no repository" in note for note in alone.notes)


def test_a_missing_event_is_a_seq_gap(session: Session) -> None:
    trace = copy.deepcopy(session.trace())
    trace["events"] = [e for e in trace["events"] if e["seq"] not in (5, 6)]
    (gap,) = _faults(_verify(session, trace), "seq_gap")
    assert gap.seqs == (5, 6) and "seq 5-6 missing" in gap.message


def test_the_same_event_twice_is_a_duplicate(session: Session) -> None:
    trace = copy.deepcopy(session.trace())
    trace["events"].append(copy.deepcopy(_event(trace, 4)))
    (dup,) = _faults(_verify(session, trace), "seq_duplicate")
    assert dup.seqs == (4,)


def test_a_changed_event_resent_at_its_seq_is_reported_not_a_fault(session: Session) -> None:
    trace = copy.deepcopy(session.trace())
    resent = copy.deepcopy(_event(trace, 4))
    resent["payload"]["text"] = "the same note, reworded"
    _rehash(trace, resent)
    trace["events"].append(resent)
    report = _verify(session, trace)
    assert report.ok
    (warning,) = [f for f in report.findings if f.check == "seq_resent"]
    assert warning.warning and warning.seqs == (4,) and "changed and sent again" in warning.message


def test_a_clock_running_backwards_is_named_with_both_seqs(session: Session) -> None:
    trace = copy.deepcopy(session.trace())
    _event(trace, 10)["ts"] = "2020-01-01T00:00:00.000Z"
    (fault,) = _faults(_verify(session, trace), "ts_order")
    assert fault.seqs == (9, 10)


def test_seq_1_must_be_the_start_event(session: Session) -> None:
    trace = copy.deepcopy(session.trace())
    _event(trace, 1)["type"] = "annotation"
    (fault,) = _faults(verify_trace(trace), "start")
    assert fault.seqs == (1,) and "not a start event" in fault.message


def test_an_edit_that_starts_from_another_version_breaks_the_chain(session: Session) -> None:
    trace = copy.deepcopy(session.trace())
    edit = _edit(trace, "src/app.py", 1)
    edit["payload"]["before_sha"] = "0" * 40
    faults = _faults(_verify(session, trace, with_repo=False), "file_chain")
    assert [f.file for f in faults] == ["src/app.py"]
    assert faults[0].seqs[-1] == edit["seq"] and "src/app.py" in faults[0].message


def test_the_chain_holds_across_renames_and_deletes(session: Session) -> None:
    trace = copy.deepcopy(session.trace())
    rename = _edit(trace, "docs.txt")
    assert rename["payload"]["op"] == "rename"
    rename["payload"]["before_sha"] = "1" * 40
    delete = _edit(trace, "calc.py", 1)
    assert delete["payload"]["op"] == "delete"
    delete["payload"]["before_sha"] = "2" * 40
    faults = _faults(_verify(session, trace), "file_chain")
    assert {(f.file, f.seqs[-1]) for f in faults} >= {("notes.txt", rename["seq"]), ("calc.py", delete["seq"])}


def test_a_diff_that_does_not_apply_is_found(session: Session) -> None:
    trace = copy.deepcopy(session.trace())
    edit = _edit(trace, "src/app.py", 1)
    edit["payload"]["diff"] = edit["payload"]["diff"].replace(" def main():", " def principal():")
    (fault,) = _faults(_verify(session, trace), "diff_apply")
    assert fault.seqs == (edit["seq"],) and "does not apply" in fault.message


def test_a_diff_that_applies_but_gives_other_content_is_found(session: Session) -> None:
    trace = copy.deepcopy(session.trace())
    edit = _edit(trace, "src/app.py", 1)
    edit["payload"]["diff"] = edit["payload"]["diff"].replace("+    return 0", "+    return 1")
    (fault,) = _faults(_verify(session, trace, with_repo=False), "diff_apply")
    assert fault.seqs == (edit["seq"],) and "does not give" in fault.message


def test_a_commit_that_does_not_hold_what_the_edits_produced_is_found(session: Session) -> None:
    trace = copy.deepcopy(session.trace())
    first_commit = next(e for e in trace["events"] if e["type"] == "commit")
    # the edit to run.sh never happened, as far as the trace says
    trace["events"] = [e for e in trace["events"] if not (e["type"] == "edit" and e["payload"]["file"] == "run.sh" and e["seq"] < first_commit["seq"])]
    faults = _faults(_verify(session, trace), "commit_state")
    assert any(f.file == "run.sh" and first_commit["seq"] in f.seqs for f in faults)


def test_a_repository_without_the_base_commit_cannot_check(session: Session, tmp_path: Path) -> None:
    from prtrace_core.replay import BaseCommitMissing
    from prtrace_daemon.gitrepo import GitRepo

    other = tmp_path / "other"
    other.mkdir()
    git(other, "init", "-q")
    with GitSources(GitRepo(other)) as sources, pytest.raises(BaseCommitMissing) as caught:
        verify_trace(session.trace(), sources=sources)
    assert caught.value.exit_code == 2

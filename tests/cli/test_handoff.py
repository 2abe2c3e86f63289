"""`note` and `run` with the daemon running: the event is handed over as a spool line and the
daemon records it — after the edits that came before it, as when the command records itself."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import run_prtrace
from tests.daemon.test_daemon import events
from tests.support.waiting import wait_for

pytestmark = pytest.mark.e2e


@pytest.fixture
def live(repo: Path) -> Iterator[Path]:
    run_prtrace("start", cwd=repo, check=True)
    yield repo
    run_prtrace("stop", cwd=repo)


def _recorded(prtrace_home: Path, repo: Path, type: str, count: int = 1) -> list[dict[str, Any]]:
    def found() -> list[dict[str, Any]]:
        all_events = events(prtrace_home, repo)
        return all_events if sum(e["type"] == type for e in all_events) >= count else []

    return wait_for(found, what=f"{count} {type} event(s) from the daemon")


def test_a_note_made_right_after_a_save_comes_after_its_edit(live: Path, prtrace_home: Path) -> None:
    (live / "calc.py").write_text("def add(a, b):\n    return a + b + 0\n")
    proc = run_prtrace("note", "made add explicit", cwd=live, check=True)
    assert proc.stdout.strip() == "noted"
    found = _recorded(prtrace_home, live, "annotation")
    types = [e["type"] for e in found]
    assert types.index("edit") < types.index("annotation")
    assert found[types.index("annotation")]["payload"] == {"text": "made add explicit"}


def test_a_run_is_recorded_after_the_edits_its_command_made(live: Path, prtrace_home: Path) -> None:
    proc = run_prtrace("run", "--", "sh", "-c", "echo '# generated' >> calc.py; echo done; exit 3", cwd=live)
    assert proc.returncode == 3 and "done" in proc.stdout
    found = _recorded(prtrace_home, live, "command")
    types = [e["type"] for e in found]
    assert types.index("edit") < types.index("command")
    command = found[types.index("command")]["payload"]
    assert command["exit_code"] == 3 and "done" in command["stdout_sample"] and command["cwd"] == str(live)


def test_a_test_run_handed_over_keeps_its_results_and_odd_bytes_survive(live: Path, prtrace_home: Path) -> None:
    (live / "test_calc.py").write_text("def test_ok():\n    pass\n\ndef test_bad():\n    assert 0\n")
    run_prtrace("run", "--", sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "test_calc.py", cwd=live)
    run_prtrace("run", "--", "true", "caf\udce9", cwd=live)  # not UTF-8: arrives as a lone surrogate
    found = _recorded(prtrace_home, live, "command")
    [test] = [e["payload"] for e in found if e["type"] == "test"]
    assert (test["framework"], test["passed"], test["failed"]) == ("pytest", 1, 1)
    assert test["failed_tests"] == ["test_calc.py::test_bad"]
    [odd] = [e["payload"] for e in found if e["type"] == "command"]
    assert odd["command"] == "true caf\\xe9"  # as the in-process path writes it (valid_utf8)


def test_a_handed_over_note_leaves_nothing_in_the_spool_once_recorded(live: Path, prtrace_home: Path) -> None:
    for text in ("first", "second"):  # the same process id may come again: each hand-off has its own file
        assert run_prtrace("note", text, cwd=live, check=True).stdout.strip() == "noted"
    found = _recorded(prtrace_home, live, "annotation", count=2)
    assert [e["payload"]["text"] for e in found if e["type"] == "annotation"] == ["first", "second"]
    wait_for(
        lambda: not [p for p in (prtrace_home / "spool").iterdir() if p.is_file()], what="the spool files removed"
    )

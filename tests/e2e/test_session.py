"""The whole path with the real `prtrace` and `prtrace-server` processes on loopback."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
from pathlib import Path

import httpx
import pytest

from tests.conftest import BIN, git, run_prtrace
from tests.support.waiting import wait_for

pytestmark = pytest.mark.e2e

# The session's own pytest runs load none of the plugins this environment has installed (a
# developer's would not have them, and loading them takes most of a run's second), and write no
# bytecode: calc.py is rewritten within the second at the same size, and a .pyc checked by
# mtime and size would still hold the first version.
BARE_PYTEST = {"PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1", "PYTHONDONTWRITEBYTECODE": "1"}


def _session(repo: Path) -> None:
    run_prtrace("start", cwd=repo, check=True)
    run_prtrace("note", "adding subtraction", cwd=repo, check=True)
    (repo / "calc.py").write_text("def add(a, b):\n    return a + b\n\n\ndef sub(a, b):\n    return a + b\n")
    (repo / "test_calc.py").write_text("from calc import sub\n\n\ndef test_sub():\n    assert sub(3, 1) == 2\n")
    failing = run_prtrace("run", "--", str(BIN / "python"), "-m", "pytest", "-q", "-p", "no:cacheprovider", cwd=repo, env=BARE_PYTEST)
    assert failing.returncode == 1 and "1 failed" in failing.stdout
    (repo / "calc.py").write_text("def add(a, b):\n    return a + b\n\n\ndef sub(a, b):\n    return a - b\n")
    passing = run_prtrace("run", "--", str(BIN / "python"), "-m", "pytest", "-q", "-p", "no:cacheprovider", cwd=repo, env=BARE_PYTEST)
    assert passing.returncode == 0 and "1 passed" in passing.stdout
    git(repo, "add", ".")
    git(repo, "commit", "-qm", "feat: sub")


def test_session_is_shown_without_a_server_then_pushed_once_and_shown_back_from_it(repo: Path, server_url: str) -> None:
    _session(repo)
    local = run_prtrace("show", "main", "--local", cwd=repo, check=True).stdout  # no server set anywhere
    assert "commit" in local and "feat: sub" in local
    pushed = run_prtrace("push", "--server", server_url, cwd=repo, check=True)
    assert "0 left" in pushed.stdout
    shown = run_prtrace("show", "main", "--json", "--server", server_url, cwd=repo, check=True)
    trace = json.loads(shown.stdout)
    events = trace["events"]
    assert [e["seq"] for e in events] == list(range(1, len(events) + 1))
    kinds = [e["type"] for e in events]
    assert kinds[0] == "start" and kinds[1] == "annotation"
    tests = [e["payload"] for e in events if e["type"] == "test"]
    assert [(t["failed"], t["passed"]) for t in tests] == [(1, 0), (0, 1)]
    assert tests[0]["failed_tests"] == ["test_calc.py::test_sub"]
    assert kinds.index("edit") < kinds.index("test") < kinds.index("commit") == len(kinds) - 1
    assert events[-1]["payload"]["message"] == "feat: sub"
    assert trace["repo"]["branch"] == "main" and "python" in trace["repo"]["language"]
    assert all(e.get("server_seq") and e.get("event_id") for e in events)
    timeline = run_prtrace("show", "main", "--server", server_url, cwd=repo, check=True).stdout
    for word in ("start", "annotation", "edit", "test", "commit", "1 failed", "1 passed"):
        assert word in timeline
    again = run_prtrace("push", "--server", server_url, cwd=repo, check=True)
    assert ": 0 new," in again.stdout  # a second push sends nothing new (not the tail of "10 new")


NOTES = 1200


def test_push_killed_part_way_then_rerun_leaves_every_event_once(repo: Path, server_url: str, prtrace_home: Path) -> None:
    run_prtrace("start", cwd=repo, check=True)
    # A backlog of many batches, so the kill lands between two of them.
    db = sqlite3.connect(prtrace_home / "buffer.db")
    (trace_id,) = db.execute("SELECT trace_id FROM traces").fetchone()
    db.close()
    from prtrace_daemon.buffer import Buffer

    with Buffer(prtrace_home / "buffer.db") as buffer, buffer.write() as tx:
        for i in range(NOTES):
            tx.append(trace_id, "annotation", {"text": f"note {i} " + "x" * 200})
    proc = subprocess.Popen([str(BIN / "prtrace"), "push", "--server", server_url], cwd=repo,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            env={**os.environ, "PRTRACE_PUSH_BATCH_EVENTS": str(NOTES // 12)})

    def acked() -> bool:
        with Buffer(prtrace_home / "buffer.db") as buffer:
            return buffer.counts()["acked"] > 0

    try:
        wait_for(acked, "the first batch to be acknowledged", 60, 0.02)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    with Buffer(prtrace_home / "buffer.db") as buffer:
        assert 0 < buffer.counts()["acked"] < NOTES + 1, "the kill should land part way"
    run_prtrace("push", "--server", server_url, cwd=repo, check=True)
    trace = httpx.get(f"{server_url}/v1/traces/{trace_id}", timeout=30).json()
    seqs = [e["seq"] for e in trace["events"]]
    assert seqs == list(range(1, NOTES + 2))
    assert len({e["event_id"] for e in trace["events"]}) == NOTES + 1


def test_server_down_is_one_clear_line_and_loses_nothing(repo: Path, prtrace_home: Path) -> None:
    run_prtrace("start", cwd=repo, check=True)
    run_prtrace("note", "offline work", cwd=repo, check=True)
    result = run_prtrace("push", "--server", "http://127.0.0.1:9", cwd=repo, env={"PRTRACE_PUSH_ATTEMPTS": "1"})
    assert result.returncode == 1
    assert result.stderr.startswith("error: cannot reach") and "Traceback" not in result.stderr
    assert "2 waiting to be pushed" in run_prtrace("status", cwd=repo).stdout


def test_server_4xx_stops_with_its_message(repo: Path, server_url: str) -> None:
    run_prtrace("start", cwd=repo, check=True)
    result = run_prtrace("push", "--server", server_url + "/nope", cwd=repo)
    assert result.returncode == 1 and "404" in result.stderr and "Traceback" not in result.stderr


def test_hook_records_commit_without_a_prtrace_process(repo: Path, prtrace_home: Path) -> None:
    run_prtrace("start", "--no-daemon", cwd=repo, check=True)  # a daemon would drain the spool at once
    (repo / "calc.py").write_text("x = 1\n")
    env = {**os.environ, "PATH": "/usr/bin:/bin"}  # prtrace is not on PATH: the hook must not need it
    subprocess.run(["git", "commit", "-qam", "c"], cwd=repo, check=True, env=env)
    spooled = list((prtrace_home / "spool").glob("hook.*.spool"))
    assert spooled and "\tcommit\t" in spooled[0].read_text()


def test_a_trace_the_server_refuses_does_not_block_the_others(
    repo: Path, tmp_path: Path, server_url: str, prtrace_home: Path
) -> None:
    run_prtrace("start", "--no-daemon", cwd=repo, check=True)
    other = tmp_path / "other"
    other.mkdir()
    git(other, "init", "-q", "-b", "main")
    (other / "a.txt").write_text("a\n")
    git(other, "add", ".")
    git(other, "commit", "-qm", "a")
    run_prtrace("start", "--no-daemon", cwd=other, check=True)
    db = sqlite3.connect(prtrace_home / "buffer.db")
    db.execute("UPDATE traces SET pr = ? WHERE repo_path = ?", (json.dumps({"pr_id": "not a pr id"}), str(repo)))
    db.commit()
    db.close()
    result = run_prtrace("push", "--server", server_url, cwd=repo)
    assert result.returncode == 1 and "refused" in result.stderr and "Traceback" not in result.stderr
    listing = httpx.get(f"{server_url}/v1/traces", timeout=10).json()["traces"]
    assert [t["branch"] for t in listing] == ["main"] and len(listing) == 1

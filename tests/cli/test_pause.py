"""`prtrace pause` / `prtrace resume`: nothing done in between is recorded, and the trace says so."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from prtrace_core.gitblob import blob_sha
from tests.conftest import git, run_prtrace
from tests.daemon.test_daemon import events
from tests.support.waiting import wait_for

pytestmark = pytest.mark.e2e


def _events(repo: Path) -> list[dict[str, Any]]:
    shown = run_prtrace("show", "main", "--local", "--json", cwd=repo, check=True).stdout
    return list(json.loads(shown)["events"])


def test_nothing_done_while_paused_is_recorded_and_resume_names_what_changed(repo: Path) -> None:
    run_prtrace("start", "--no-daemon", cwd=repo, check=True)
    (repo / "calc.py").write_text("def add(a, b):\n    return b + a\n")
    paused = run_prtrace("pause", cwd=repo, check=True)
    assert "paused" in paused.stdout
    (repo / "calc.py").write_text("secret experiment\n")
    (repo / "scratch.txt").write_text("private\n")
    git(repo, "add", "scratch.txt")
    git(repo, "commit", "-qm", "while paused")
    refused = run_prtrace("note", "not now", cwd=repo)
    assert refused.returncode == 1 and "paused" in refused.stderr and "prtrace resume" in refused.stderr
    ran = run_prtrace("run", "--", "sh", "-c", "echo still runs; exit 4", cwd=repo)
    assert ran.returncode == 4 and "still runs" in ran.stdout and "not recorded" in ran.stderr
    assert "paused" in run_prtrace("status", cwd=repo, check=True).stdout
    resumed = run_prtrace("resume", cwd=repo, check=True)
    assert "2 file(s) changed while paused" in resumed.stdout
    (repo / "calc.py").write_text("def add(a, b):\n    return a + b\n")
    run_prtrace("note", "back", cwd=repo, check=True)

    found = _events(repo)
    kinds = [e["type"] for e in found]
    assert kinds == ["start", "edit", "pause", "resume", "edit", "annotation"]
    assert found[3]["payload"]["changed_while_paused"] == ["calc.py", "scratch.txt"]
    text = json.dumps(found[:4])
    assert "secret experiment" not in text and "private" not in text and "while paused" not in text
    # Capture restarts from the tree as it is at resume: the next edit starts there, so the chain
    # of each file's versions stays whole (what is left in the tree at resume is its starting point).
    after = found[4]["payload"]
    assert after["before_sha"] == blob_sha(b"secret experiment\n")


def test_a_paused_repo_is_left_alone_by_the_daemon(repo: Path, prtrace_home: Path) -> None:
    run_prtrace("start", cwd=repo, check=True)
    try:
        run_prtrace("pause", cwd=repo, check=True)
        (repo / "notes.txt").write_text("typed while paused\n")
        run_prtrace("resume", cwd=repo, check=True)
        # The save after resume is the barrier: a daemon that recorded the paused one would have
        # done so before this one falls due (a path is recorded a debounce window after its last
        # event), so no fixed sleep is needed to see that it did not.
        (repo / "calc.py").write_text("typed after resume\n")
        found = wait_for(
            lambda: [e for e in events(prtrace_home, repo) if e["type"] == "edit"], what="the edit after resume"
        )
        assert [e["type"] for e in events(prtrace_home, repo)] == ["start", "pause", "resume", "edit"]
        assert found[0]["payload"]["file"] == "calc.py" and "typed after resume" in found[0]["payload"]["diff"]
    finally:
        run_prtrace("stop", cwd=repo)

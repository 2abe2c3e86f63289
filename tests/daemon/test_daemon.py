"""Real daemon processes in temp repos: edits are recorded as files are saved."""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from prtrace_core.gitblob import blob_sha
from prtrace_daemon.buffer import Buffer
from prtrace_daemon.paths import home
from prtrace_daemon.process import running
from tests.conftest import git, run_prtrace
from tests.support.waiting import wait_for

pytestmark = pytest.mark.e2e


def events(prtrace_home: Path, repo: Path, branch: str = "main") -> list[dict[str, Any]]:
    with Buffer(prtrace_home / "buffer.db") as buffer:
        trace = buffer.trace_for(str(repo), branch)
        return buffer.events(trace.trace_id) if trace else []


def edits(prtrace_home: Path, repo: Path, branch: str = "main") -> list[dict[str, Any]]:
    return [e["payload"] for e in events(prtrace_home, repo, branch) if e["type"] == "edit"]


def barrier(prtrace_home: Path, repo: Path, branch: str = "main", name: str = "barrier.txt") -> None:
    """Save one more file and wait for its edit. The daemon records a path once its last event
    is a debounce window old, so whatever earlier saves would have recorded is in by then: a
    check that nothing else happened needs no fixed sleep."""
    (repo / name).write_text("the last save\n")
    wait_for(lambda: name in {e["file"] for e in edits(prtrace_home, repo, branch)}, what=f"the edit of {name}")


@pytest.fixture
def live(repo: Path, prtrace_home: Path) -> Iterator[Path]:
    """The repo, registered, with a daemon watching it; the daemon is stopped afterwards."""
    run_prtrace("start", cwd=repo, check=True)
    assert running(home()) is not None
    yield repo
    run_prtrace("stop", cwd=repo)


def test_a_save_becomes_an_edit_with_no_prtrace_command(live: Path, prtrace_home: Path) -> None:
    (live / "calc.py").write_text("def add(a, b):\n    return b + a\n")
    [edit] = wait_for(lambda: edits(prtrace_home, live), what="the edit")
    assert edit["file"] == "calc.py" and edit["op"] == "modify"
    assert edit["after_sha"] == blob_sha((live / "calc.py").read_bytes())
    assert "+    return b + a" in edit["diff"]


def test_an_editor_style_save_is_one_edit(live: Path, prtrace_home: Path) -> None:
    tmp = live / ".calc.py.swp~"
    tmp.write_text("def add(a, b):\n    return a + b  # saved\n")
    os.replace(tmp, live / "calc.py")
    os.utime(live / "calc.py")
    (live / "calc.py").touch()
    wait_for(lambda: edits(prtrace_home, live), what="the edit")
    barrier(prtrace_home, live)
    assert [e["file"] for e in edits(prtrace_home, live)] == ["calc.py", "barrier.txt"]


def test_ignored_generated_and_binary_files_produce_nothing(live: Path, prtrace_home: Path) -> None:
    (live / ".prtraceignore").write_text("secrets/\n")
    wait_for(lambda: edits(prtrace_home, live), what="the .prtraceignore edit")
    (live / "app.log").write_text("ignored by .gitignore\n")
    (live / "secrets").mkdir()
    (live / "secrets" / "key.txt").write_text("ignored by .prtraceignore\n")
    (live / "node_modules" / "pkg").mkdir(parents=True)
    (live / "node_modules" / "pkg" / "index.js").write_text("generated\n")
    (live / "logo.png").write_bytes(b"\x89PNG\r\n\x1a\n\0\0")
    (live / "real.py").write_text("x = 1\n")  # a marker: once it is in, the rest had their chance
    wait_for(lambda: {"real.py", "secrets/key.txt"} <= {e["file"] for e in edits(prtrace_home, live)},
             what="real.py and the withheld secrets/key.txt")
    barrier(prtrace_home, live)
    recorded = {e["file"]: e for e in edits(prtrace_home, live)}
    assert sorted(recorded) == [".prtraceignore", "barrier.txt", "real.py", "secrets/key.txt"]
    withheld = recorded["secrets/key.txt"]  # .prtraceignore'd: that it changed, not what it holds
    assert withheld["withheld"] is True and "diff" not in withheld and "after_sha" not in withheld


def test_kill_9_mid_burst_loses_nothing_and_a_restart_catches_up(live: Path, prtrace_home: Path) -> None:
    files = [live / "src" / f"m{i:02d}.py" for i in range(40)]
    files[0].parent.mkdir()
    for round_ in range(3):
        for path in files:
            path.write_text(f"VALUE = {round_}\n")
        if round_ == 1:
            info = running(home())
            assert info is not None
            os.kill(info.pid, signal.SIGKILL)
            wait_for(lambda: running(home()) is None, what="the daemon to die")
    run_prtrace("start", cwd=live, check=True)  # a new daemon catches up on the third round
    final = {f"src/{p.name}": blob_sha(p.read_bytes()) for p in files}

    def caught_up() -> bool:
        last = {e["file"]: e["after_sha"] for e in edits(prtrace_home, live)}
        return all(last.get(name) == sha for name, sha in final.items())

    wait_for(caught_up, timeout_s=30, what="every file's last content")
    recorded = events(prtrace_home, live)
    assert [e["seq"] for e in recorded] == list(range(1, len(recorded) + 1))
    chains: dict[str, str | None] = {}
    for edit in (e["payload"] for e in recorded if e["type"] == "edit"):
        assert edit["before_sha"] == chains.get(edit["file"]), f"broken chain for {edit['file']}"
        chains[edit["file"]] = edit["after_sha"]


def test_a_branch_switch_moves_the_stream_and_the_checkout_is_not_an_edit(live: Path, prtrace_home: Path) -> None:
    git(live, "checkout", "-q", "-b", "feature")
    (live / "feature.py").write_text("FEATURE = True\n")
    wait_for(lambda: edits(prtrace_home, live, "feature"), what="the edit on feature")
    git(live, "add", "feature.py")
    git(live, "commit", "-qm", "feature")
    git(live, "checkout", "-q", "main")  # removes feature.py from the work tree
    wait_for(
        lambda: any(e["type"] == "checkout" for e in events(prtrace_home, live, "main")), what="the checkout"
    )
    barrier(prtrace_home, live, "main")
    assert [e["file"] for e in edits(prtrace_home, live, "main")] == ["barrier.txt"]
    assert [e["file"] for e in edits(prtrace_home, live, "feature")] == ["feature.py"]


def test_one_daemon_per_user(live: Path) -> None:
    second = run_prtrace("daemon", cwd=live)
    assert second.returncode == 1 and "already running" in second.stderr


def test_status_and_stop(live: Path) -> None:
    assert "daemon:   running" in run_prtrace("status", cwd=live, check=True).stdout
    assert "daemon stopped" in run_prtrace("stop", cwd=live, check=True).stdout
    assert running(home()) is None
    assert "not running" in run_prtrace("status", cwd=live, check=True).stdout


def test_a_deleted_repo_does_not_stop_the_daemon(tmp_path: Path, live: Path, prtrace_home: Path) -> None:
    other = tmp_path / "other"
    other.mkdir()
    git(other, "init", "-q", "-b", "main")
    (other / "a.txt").write_text("a\n")
    git(other, "add", ".")
    git(other, "commit", "-qm", "a")
    run_prtrace("start", cwd=other, check=True)
    import shutil

    shutil.rmtree(other)
    (live / "calc.py").write_text("still watched\n")
    wait_for(lambda: edits(prtrace_home, live), what="the edit in the surviving repo")
    assert running(home()) is not None

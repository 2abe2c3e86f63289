"""When the disk fills, file handles run out, a read fails or a handler has a bug: no spooled
line is lost (a note the CLI confirmed least of all), no spool file is removed before its lines
are on disk, the daemon runs on, and no secret reaches daemon.log or crash.log.

Failures are injected where the system meets the OS (os.write, a file's read, SQLite's own
"disk is full"), everything else is real: files, SQLite, git, and daemon processes.
"""

from __future__ import annotations

import errno
import os
import sqlite3
import stat
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from prtrace_cli import hot
from prtrace_daemon.buffer import Writer
from prtrace_daemon.client_errors import BufferUnavailable
from prtrace_daemon.gitrepo import GitRepo
from prtrace_daemon.handoff import hand_off
from prtrace_daemon.paths import home as state_home
from prtrace_daemon.process import daemon_lock, running, stop
from prtrace_daemon.recorder import Recorder
from prtrace_daemon.spool import QUARANTINE, SpoolDeferred, quarantined, spool_waiting
from prtrace_daemon.spool_events import SpoolInterpreter
from tests.conftest import run_prtrace
from tests.support.waiting import wait_for

TOKEN = "ghp_" + "a1B2c3D4e5F6g7H8i9J0" * 2  # the shape of a GitHub token (40 characters)


def _started(rec: Recorder, repo: Path) -> GitRepo:
    git = GitRepo(repo)
    rec.register(git)
    rec.record(git)
    return git


def _events(rec: Recorder, repo: Path, type: str) -> list[dict[str, Any]]:
    trace = rec.buffer.trace_for(str(repo), "main")
    assert trace is not None
    return [e["payload"] for e in rec.buffer.events(trace.trace_id) if e["type"] == type]


def _command_line(repo: Path, command: str, start: str) -> bytes:
    return f"v1\tcommand\t{start}\t{repo}\t0\t10\t{repo}\t0\tbash\t{command}\n".encode()


def _spool_file(rec: Recorder, name: str, data: bytes) -> Path:
    path = rec.home.spool / name
    path.write_bytes(data)
    return path


def _spool_names(rec: Recorder) -> list[str]:
    return sorted(name for name in os.listdir(rec.home.spool) if name != QUARANTINE)


@contextmanager
def _daemon_seen_alive(rec: Recorder) -> Iterator[None]:
    """What `note` and `run` check before handing off: a daemon holds the lock (here, we do)."""
    with daemon_lock(rec.home) as held:
        assert held
        yield


# 1. a line waits for the next drain when the failure passes; it is set aside when it does not


FULL_DISK = [
    pytest.param(sqlite3.OperationalError("database or disk is full"), id="sqlite-disk-full"),
    pytest.param(OSError(errno.ENOSPC, "No space left on device"), id="ENOSPC"),
    pytest.param(OSError(errno.EMFILE, "Too many open files"), id="EMFILE"),
]


@pytest.mark.parametrize("failure", FULL_DISK)
def test_a_full_disk_or_no_file_handles_leaves_the_lines_for_the_next_drain(
    rec: Recorder, repo: Path, failure: Exception
) -> None:
    _started(rec, repo)
    home = str(rec.home.root)
    hand_off(home, str(repo), "annotation", {"text": "first"}, "2026-11-25T10:00:00.000Z")
    hand_off(home, str(repo), "annotation", {"text": "second"}, "2026-11-25T10:00:01.000Z")
    with pytest.MonkeyPatch.context() as mp:
        if isinstance(failure, sqlite3.Error):
            mp.setattr(Writer, "append", _raise(failure))  # where SQLite meets the full disk
        else:
            mp.setattr(GitRepo, "git", _raise(failure))  # where git would be started
        with pytest.raises(BufferUnavailable):
            rec.drain()
        with pytest.raises(BufferUnavailable):
            rec.drain()  # and again: nothing is given up on
        assert len(_spool_names(rec)) == 2 and quarantined(rec.home.spool) == 0
    assert rec.drain() == 2
    assert [a["text"] for a in _events(rec, repo, "annotation")] == ["first", "second"]
    assert _spool_names(rec) == []
    assert rec.drain() == 0


def test_a_deferred_drain_is_an_error_with_a_hint_not_a_crash(rec: Recorder, repo: Path) -> None:
    _started(rec, repo)
    with pytest.MonkeyPatch.context() as mp, pytest.raises(SpoolDeferred) as caught:
        mp.setattr("prtrace_daemon.spool_events.take_lines", _raise(OSError(errno.EMFILE, "Too many open files")))
        rec.drain()
    assert "Too many open files" in str(caught.value) and caught.value.hint


def _raise(exc: BaseException) -> Any:
    def fail(*_args: object, **_kwargs: object) -> Any:
        raise exc
    return fail


@pytest.mark.parametrize(
    "failure",
    [pytest.param(OSError(errno.EIO, "Input/output error"), id="EIO"), pytest.param(KeyError("payload"), id="bug")],
)
def test_a_line_whose_handler_fails_is_set_aside_and_the_lines_behind_it_are_recorded(
    rec: Recorder, repo: Path, failure: Exception
) -> None:
    _started(rec, repo)
    real = SpoolInterpreter._command_line

    def flaky(self: SpoolInterpreter, git: GitRepo, line: Any, ts: str) -> int:
        if line.fields[-1].startswith("deploy"):
            raise failure
        return real(self, git, line, ts)

    _spool_file(rec, "shell.1.1.spool", _command_line(repo, f"deploy --token={TOKEN}", "1795600001.000000"))
    _spool_file(rec, "shell.1.2.spool", _command_line(repo, "make test", "1795600002.000000"))
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(SpoolInterpreter, "_command_line", flaky)
        assert rec.drain() == 1
    assert [c["command"] for c in _events(rec, repo, "command")] == ["make test"]
    assert _spool_names(rec) == []

    folder = rec.home.spool / QUARANTINE
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    [kept] = list(folder.glob("*.spool"))
    assert stat.S_IMODE(kept.stat().st_mode) == 0o600
    assert b"deploy --token=" in kept.read_bytes() and TOKEN.encode() not in kept.read_bytes()
    why = kept.with_suffix(".why").read_text()
    assert type(failure).__name__ in why and TOKEN not in why

    status = run_prtrace("status", cwd=repo, check=True).stdout
    assert "1 line(s) could not be recorded" in status and "hint:" in status and str(folder) in status

    os.replace(kept, rec.home.spool / kept.name)  # the bug is fixed: moved back, the line is recorded
    assert rec.drain() == 1
    last = _events(rec, repo, "command")[-1]["command"]
    assert last.startswith("deploy --token=") and TOKEN not in last
    assert quarantined(rec.home.spool) == 0
    assert "could not be recorded" not in run_prtrace("status", cwd=repo, check=True).stdout


def test_malformed_lines_and_unknown_kinds_are_dropped(rec: Recorder, repo: Path) -> None:
    _started(rec, repo)
    _spool_file(
        rec,
        "hook.1.spool",
        b"garbage without tabs\n"
        + f"v1\tno-such-kind\t2026-11-25T10:00:00.000Z\t{repo}\tx\n".encode()
        + f"v1\tevent\t2026-11-25T10:00:01.000Z\t{repo}\tannotation\t{{not json\n".encode(),
    )
    assert rec.drain() == 0
    assert _spool_names(rec) == [] and quarantined(rec.home.spool) == 0
    assert _events(rec, repo, "annotation") == []


# 1. a note the CLI confirmed is never lost


def test_a_confirmed_note_survives_a_bug_in_its_handler(
    rec: Recorder, repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _started(rec, repo)
    monkeypatch.chdir(repo)
    with _daemon_seen_alive(rec):
        assert hot.note("why the parser changed") == "noted"
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(SpoolInterpreter, "_handoff_line", _raise(RuntimeError("a bug")))
        assert rec.drain() == 0
    assert _events(rec, repo, "annotation") == [] and quarantined(rec.home.spool) == 1
    for kept in (rec.home.spool / QUARANTINE).glob("*.spool"):
        os.replace(kept, rec.home.spool / kept.name)
    assert rec.drain() == 1
    assert [a["text"] for a in _events(rec, repo, "annotation")] == ["why the parser changed"]


def test_a_confirmed_note_for_a_repo_unregistered_before_the_drain_is_set_aside(
    rec: Recorder, repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    git = _started(rec, repo)
    monkeypatch.chdir(repo)
    with _daemon_seen_alive(rec):
        assert hot.note("kept") == "noted"
    _spool_file(rec, "shell.1.1.spool", _command_line(repo, "ls", "1795600001.000000"))
    rec.unregister(git)
    assert rec.drain() == 0
    [kept] = list((rec.home.spool / QUARANTINE).glob("*.spool"))
    assert b'"kept"' in kept.read_bytes()  # the note; the typed command is dropped, as unregistering asks


# 2. a spool file whose read failed is not removed


def test_a_spool_file_that_cannot_be_read_is_kept_for_the_next_drain(rec: Recorder, repo: Path) -> None:
    _started(rec, repo)
    hand_off(str(rec.home.root), str(repo), "annotation", {"text": "on a bad sector"}, "2026-11-25T10:00:00.000Z")
    real_open = Path.open

    def failing_open(self: Path, *args: Any, **kwargs: Any) -> Any:
        if self.name.endswith(".draining"):
            raise OSError(errno.EIO, "Input/output error")
        return real_open(self, *args, **kwargs)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(Path, "open", failing_open)
        assert rec.drain() == 0
    [left] = _spool_names(rec)
    assert left.endswith(".draining") and spool_waiting(rec.home.spool)
    assert rec.drain() == 1
    assert [a["text"] for a in _events(rec, repo, "annotation")] == ["on a bad sector"]
    assert _spool_names(rec) == [] and not spool_waiting(rec.home.spool)


# 3. the hand-off write is whole or absent


def test_a_short_hand_off_write_is_continued_until_the_line_is_whole(rec: Recorder, repo: Path) -> None:
    _started(rec, repo)
    real_write = os.write
    calls = []

    def trickle(fd: int, data: Any) -> int:
        calls.append(len(data))
        return real_write(fd, bytes(data[:7]))  # as a write interrupted by a signal returns

    text = "a note long enough to need several writes " * 3
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(os, "write", trickle)
        hand_off(str(rec.home.root), str(repo), "annotation", {"text": text}, "2026-11-25T10:00:00.000Z")
    assert len(calls) > 10
    assert rec.drain() == 1
    assert [a["text"] for a in _events(rec, repo, "annotation")] == [text]


def test_a_hand_off_that_fails_part_way_leaves_no_torn_line_and_the_note_is_recorded_here(
    rec: Recorder, repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _started(rec, repo)
    monkeypatch.chdir(repo)
    real_write = os.write
    first: list[int] = []

    def fill_up(fd: int, data: Any) -> int:
        if not first:  # the hand-off's first write goes part-way, its next finds the disk full
            first.append(fd)
            return real_write(fd, bytes(data[:10]))
        if fd == first[0]:
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_write(fd, data)

    with _daemon_seen_alive(rec), pytest.MonkeyPatch.context() as mp:
        mp.setattr(os, "write", fill_up)
        answer = hot.note("written in process instead")
    assert answer.startswith("noted as event")
    assert _spool_names(rec) == []  # no torn line waits for a drain
    rec.drain()
    assert [a["text"] for a in _events(rec, repo, "annotation")] == ["written in process instead"]


def test_a_run_whose_hand_off_fails_is_recorded_here(
    rec: Recorder, repo: Path, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]
) -> None:
    _started(rec, repo)
    monkeypatch.chdir(repo)
    with _daemon_seen_alive(rec), pytest.MonkeyPatch.context() as mp:
        mp.setattr("prtrace_daemon.handoff.hand_off", _raise(OSError(errno.ENOSPC, "No space left on device")))
        assert hot.run(["sh", "-c", "echo ran; exit 4"]) == 4
    assert "could not be recorded" not in capfd.readouterr().err
    [command] = _events(rec, repo, "command")
    assert command["exit_code"] == 4 and "ran" in command["stdout_sample"]


def test_each_hand_off_gets_a_file_of_its_own(rec: Recorder, repo: Path) -> None:
    _started(rec, repo)
    for n in range(3):
        hand_off(str(rec.home.root), str(repo), "annotation", {"text": f"n{n}"}, f"2026-11-25T10:00:0{n}.000Z")
    names = _spool_names(rec)
    assert len(names) == 3 and all(name.startswith(f"cli.{os.getpid()}.") for name in names)
    assert all((rec.home.spool / name).read_bytes().count(b"\n") == 1 for name in names)


# 5. spool files go only once their lines are on disk


def test_spool_files_are_removed_only_after_a_synced_commit(rec: Recorder, repo: Path) -> None:
    _started(rec, repo)
    hand_off(str(rec.home.root), str(repo), "annotation", {"text": "durable"}, "2026-11-25T10:00:00.000Z")
    steps: list[str] = []
    conn = rec.buffer._conn
    conn.set_trace_callback(lambda sql: steps.append(sql.strip()))
    real_unlink = Path.unlink

    def unlink(self: Path, missing_ok: bool = False) -> None:
        steps.append(f"unlink {self.name}")
        real_unlink(self, missing_ok=missing_ok)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(Path, "unlink", unlink)
        assert rec.drain() == 1
    conn.set_trace_callback(None)
    first_unlink = next(i for i, step in enumerate(steps) if step.startswith("unlink cli."))
    before = steps[:first_unlink]
    last_full = max(i for i, step in enumerate(before) if step == "PRAGMA synchronous = FULL")
    assert "COMMIT" in before[last_full:], "the synced transaction committed before the file went"
    assert not any(step == "PRAGMA synchronous = NORMAL" for step in before[last_full:before.index("COMMIT", last_full)])
    assert conn.execute("PRAGMA synchronous").fetchone()[0] == 1  # NORMAL again for the rest


# 4. and 7. real daemon processes, with a failure injected


_PATCHED_DAEMON = r"""
import errno, os, sys
from prtrace_daemon import daemon, recorder, spool_events

daemon.RETRY_S = 0.2
mode = os.environ["PRTRACE_TEST_FAILURE"]
if mode == "drain":  # the first drains fail as a full file table makes them
    real_drain = recorder.Recorder.drain
    left = [3]

    def drain(self):
        if left[0]:
            left[0] -= 1
            raise OSError(errno.EMFILE, "Too many open files")
        return real_drain(self)

    recorder.Recorder.drain = drain
else:  # a bug whose message quotes the line, secrets and all
    def handoff_line(self, repo, line, ts):
        raise RuntimeError(f"cannot record {line.fields!r}")

    spool_events.SpoolInterpreter._handoff_line = handoff_line
sys.argv = ["prtrace", "daemon"]
from prtrace_cli.main import main

main()
"""


@contextmanager
def _patched_daemon(prtrace_home: Path, failure: str) -> Iterator[subprocess.Popen[bytes]]:
    from prtrace_daemon.daemon import read_state

    log = prtrace_home / "daemon.log"
    with log.open("ab") as out:
        proc = subprocess.Popen(
            [sys.executable, "-c", _PATCHED_DAEMON],
            env={**os.environ, "PRTRACE_TEST_FAILURE": failure},
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        wait_for(lambda: (read_state(state_home()) or {}).get("pid") == proc.pid or proc.poll() is not None, what="the daemon")
        assert proc.poll() is None, log.read_text()
        yield proc
    finally:
        stop(state_home())
        proc.wait(timeout=10)


def _note_events(prtrace_home: Path, repo: Path) -> list[dict[str, Any]]:
    from tests.daemon.test_daemon import events

    return [e for e in events(prtrace_home, repo) if e["type"] == "annotation"]


@pytest.mark.e2e
def test_the_daemon_survives_failed_drains_logs_them_and_retries(repo: Path, prtrace_home: Path) -> None:
    run_prtrace("start", "--no-daemon", cwd=repo, check=True)
    with _patched_daemon(prtrace_home, "drain") as proc:
        assert run_prtrace("note", "while the file table was full", cwd=repo, check=True).stdout.strip() == "noted"
        wait_for(lambda: _note_events(prtrace_home, repo), what="the note, once the drains succeed again")
        assert proc.poll() is None and running(state_home()) is not None
    log = (prtrace_home / "daemon.log").read_text()
    assert "Too many open files" in log and "will retry" in log


@pytest.mark.e2e
def test_no_token_reaches_daemon_log_or_the_quarantine_when_a_run_fails_to_record(
    repo: Path, prtrace_home: Path
) -> None:
    run_prtrace("start", "--no-daemon", cwd=repo, check=True)
    with _patched_daemon(prtrace_home, "bug"):
        proc = run_prtrace("run", "--", "true", "-H", f"Authorization: Bearer {TOKEN}", cwd=repo)
        assert proc.returncode == 0
        wait_for(lambda: quarantined(prtrace_home / "spool"), what="the line set aside")
    log = (prtrace_home / "daemon.log").read_text()
    assert "set spool line" in log and "cannot record" in log
    assert TOKEN not in log
    for kept in (prtrace_home / "spool" / QUARANTINE).iterdir():
        assert TOKEN not in kept.read_text()


_CRASHING_RUN = r"""
import sys
from prtrace_daemon import runner

def crash(argv, **_kwargs):
    raise RuntimeError(f"cannot start {list(argv)!r}")

runner.run_command = crash
sys.argv = ["prtrace", *sys.argv[1:]]
from prtrace_cli.main import main

main()
"""


@pytest.mark.e2e
def test_no_token_reaches_crash_log_when_a_run_crashes(repo: Path, prtrace_home: Path) -> None:
    run_prtrace("start", "--no-daemon", cwd=repo, check=True)
    argv = ["run", "--", "curl", "-H", f"Authorization: Bearer {TOKEN}", "https://api.github.com/user"]
    proc = subprocess.run([sys.executable, "-c", _CRASHING_RUN, *argv], cwd=repo, capture_output=True, text=True)
    assert proc.returncode == 3 and "crash.log" in proc.stderr
    crash = (prtrace_home / "crash.log").read_text()
    assert "--- prtrace run -- curl -H Authorization: Bearer" in crash
    assert "RuntimeError: cannot start" in crash
    assert TOKEN not in crash and TOKEN not in proc.stderr


def test_daemon_log_records_are_redacted_message_arguments_and_traceback(tmp_path: Path) -> None:
    import logging

    from prtrace_core.redact import Redactor
    from prtrace_daemon.daemon import redact_logs

    path = tmp_path / "daemon.log"
    handler = logging.FileHandler(path)
    root = logging.getLogger()
    root.addHandler(handler)
    restore = redact_logs(Redactor())
    try:
        logger = logging.getLogger("prtrace.test")
        logger.warning("ran %s", f"curl -H 'Authorization: Bearer {TOKEN}'")
        try:
            raise RuntimeError(f"git push https://dev:{TOKEN}@github.com/o/r failed")
        except RuntimeError:
            logger.exception("push failed")
    finally:
        restore()
        root.removeHandler(handler)
        handler.close()
    written = path.read_text()
    assert "ran curl" in written and "RuntimeError" in written
    assert TOKEN not in written

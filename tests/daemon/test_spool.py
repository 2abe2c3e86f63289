"""The spool as the hooks write it: a file per command, taken and removed once its line ends,
even while its shell runs on; an old-style live shell file read on from where the last drain
stopped; a half-written line waits; nothing is recorded twice or lost."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

from prtrace_core.timestamps import format_ts
from prtrace_daemon.gitrepo import GitRepo
from prtrace_daemon.handoff import hand_off
from prtrace_daemon.recorder import Recorder
from prtrace_daemon.spool import parse_line, release, take_lines
from prtrace_daemon.spool_format import unescape


def _line(repo: Path, command: str, *, start: str = "1795600000.250000", exit_code: int = 0, ms: int = 1500) -> bytes:
    return f"v1\tcommand\t{start}\t{repo}\t{exit_code}\t{ms}\t{repo}\t{exit_code}\tbash\t{command}\n".encode()


def test_a_shell_line_is_timed_from_its_start_and_ordered_by_its_end() -> None:
    line = parse_line(_line(Path("/r"), "make test"))
    assert line is not None
    assert line.ts == "2026-11-25T09:46:40.250Z"
    assert line.order == "2026-11-25T09:46:41.750Z"
    fish = parse_line(b"v1\tcommand\t@1795600001.75\t/r\t0\t1500\t/r\t0\tfish\tmake\n")
    assert fish is not None and fish.ts == "2026-11-25T09:46:40.250Z" and fish.order == line.order


def test_escapes_are_undone_and_a_lone_backslash_kept() -> None:
    assert unescape(r"printf 'a\tb\n' \\ end\q") == "printf 'a\tb\n' \\ end\\q"


def test_a_live_shell_file_is_read_from_the_offset_and_a_half_written_line_waits(tmp_path: Path) -> None:
    spool = tmp_path / "spool"
    spool.mkdir()
    live = spool / f"shell.{os.getpid()}.spool"  # this process is alive: its file stays in place
    live.write_bytes(_line(tmp_path, "one") + _line(tmp_path, "two", start="1795600001.0")[:20])
    first = take_lines(spool)
    assert [line.fields[-1] for line in first.lines] == ["one"]
    assert first.files == [] and live.exists()
    with live.open("ab") as fh:
        fh.write(_line(tmp_path, "two", start="1795600001.0")[20:])
    second = take_lines(spool, first.offsets)
    assert [line.fields[-1] for line in second.lines] == ["two"]
    assert second.offsets[live.name][1] == live.stat().st_size


def test_a_new_file_under_a_reused_name_is_read_from_its_start(tmp_path: Path) -> None:
    spool = tmp_path / "spool"
    spool.mkdir()
    live = spool / f"shell.{os.getpid()}.spool"
    live.write_bytes(_line(tmp_path, "an old command") + _line(tmp_path, "another", start="1795600002.0"))
    taken = take_lines(spool)
    live.unlink()
    live.write_bytes(_line(tmp_path, "new"))  # the file system may hand out the same inode again
    assert [line.fields[-1] for line in take_lines(spool, taken.offsets).lines] == ["new"]


def test_an_exited_shells_file_is_drained_once_and_removed(rec: Recorder, repo: Path) -> None:
    rec.register(GitRepo(repo))
    rec.record(GitRepo(repo))
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    pid = int(dead.stdout)
    live = rec.home.spool / f"shell.{os.getpid()}.spool"
    exited = rec.home.spool / f"shell.{pid}.spool"
    live.write_bytes(_line(repo, "pytest -q", start="1795600003.0", exit_code=1))
    exited.write_bytes(_line(repo, "make", start="1795600001.0"))
    (rec.home.shell / f"bash.{pid}.hist").write_text("  1  make\n")
    assert rec.drain() == 2
    assert not exited.exists() and live.exists()
    assert not (rec.home.shell / f"bash.{pid}.hist").exists()
    with live.open("ab") as fh:
        fh.write(_line(repo, "git status", start="1795600009.0"))
    assert rec.drain() == 1
    assert rec.drain() == 0
    trace = rec.buffer.trace_for(str(repo), "main")
    assert trace is not None
    commands = [e["payload"] for e in rec.buffer.events(trace.trace_id) if e["type"] == "command"]
    assert [(c["command"], c["exit_code"], c["duration_ms"]) for c in commands] == [
        ("make", 0, 1500),
        ("pytest -q", 1, 1500),
        ("git status", 0, 1500),
    ]
    assert set(rec.buffer.spool_offsets()) == {live.name}


def test_a_handed_over_line_drained_late_is_appended_without_pulling_later_work_ahead(
    rec: Recorder, repo: Path
) -> None:
    git = GitRepo(repo)
    rec.register(git)
    rec.record(git)
    stale = format_ts(datetime.fromtimestamp(time.time() - 120, UTC))
    hand_off(str(rec.home.root), str(repo), "annotation", {"text": "written two minutes ago"}, stale)
    (repo / "calc.py").write_text("later work\n")  # made after the note: must not come before it
    assert rec.drain() == 1
    rec.record(git)
    trace = rec.buffer.trace_for(str(repo), "main")
    assert trace is not None
    kinds = [(e["type"], e["ts"]) for e in rec.buffer.events(trace.trace_id)]
    assert [k for k, _ in kinds] == ["start", "annotation", "edit"]
    # placed after the start event, it takes the start's time rather than run backwards
    assert stale < kinds[1][1] == kinds[0][1] <= kinds[2][1]


def test_a_bad_handoff_line_is_skipped_and_the_next_one_recorded(rec: Recorder, repo: Path) -> None:
    git = GitRepo(repo)
    rec.register(git)
    rec.record(git)
    (rec.home.spool / "cli.1.spool").write_bytes(
        b"v1\tevent\t2026-11-25T10:00:00.000Z\t" + str(repo).encode() + b"\tannotation\t{not json\n"
        + b"v1\tevent\t2026-11-25T10:00:01.000Z\t" + str(repo).encode() + b"\tannotation\t"
        + json.dumps({"text": "fine"}).encode() + b"\n"
    )
    assert rec.drain() == 1


def test_a_save_made_after_a_note_but_before_the_drain_stays_after_it(rec: Recorder, repo: Path) -> None:
    git = GitRepo(repo)
    rec.register(git)
    rec.record(git)
    (repo / "calc.py").write_text("before the note\n")
    hand_off(str(rec.home.root), str(repo), "annotation", {"text": "now"}, format_ts(datetime.now(UTC)))
    time.sleep(0.02)
    (repo / "README.md").write_text("after the note, before the daemon took it\n")
    assert rec.drain() == 1
    rec.record(git)
    trace = rec.buffer.trace_for(str(repo), "main")
    assert trace is not None
    order = [(e["type"], e["payload"].get("file")) for e in rec.buffer.events(trace.trace_id)]
    assert order == [("start", None), ("edit", "calc.py"), ("annotation", None), ("edit", "README.md")]


def test_a_hook_file_is_not_taken_before_its_line_is_written(tmp_path: Path) -> None:
    """The file exists (and wakes the daemon) an instant before the hook's line is in it."""
    spool = tmp_path / "spool"
    spool.mkdir()
    hook = spool / f"hook.{os.getpid()}.spool"  # a hook that is still running
    hook.write_bytes(b"")
    assert take_lines(spool).lines == [] and hook.exists()
    hook.write_bytes(b"v1\tcommit\t\t/r\tabc\trefs/heads/main")
    assert take_lines(spool).lines == [] and hook.exists()
    hook.write_bytes(b"v1\tcommit\t\t/r\tabc\trefs/heads/main\n")
    [line] = take_lines(spool).lines
    assert line.kind == "commit" and line.fields == ("abc", "refs/heads/main") and not hook.exists()


def test_a_per_command_file_is_taken_once_its_line_ends_while_its_shell_runs_on(tmp_path: Path) -> None:
    spool = tmp_path / "spool"
    spool.mkdir()
    line = _line(tmp_path, "make")
    path = spool / f"shell.{os.getpid()}.1795600000250000.spool"  # this process stands for the shell
    path.write_bytes(line[:15])
    assert take_lines(spool).lines == [] and path.exists()  # still being written
    with path.open("ab") as fh:
        fh.write(line[15:])
    taken = take_lines(spool)
    assert [one.fields[-1] for one in taken.lines] == ["make"]
    assert taken.files == [spool / f"{path.name}.draining"] and taken.offsets == {}
    assert release(taken.files) == []
    assert os.listdir(spool) == []


def test_lines_written_while_drains_run_are_each_taken_exactly_once(tmp_path: Path) -> None:
    """A real bash writes one file per command exactly as the hook does (`>>`, a name made of
    its pid and the start time) while the drainer takes and removes files as fast as it can."""
    spool = tmp_path / "spool"
    spool.mkdir()
    count = 400
    script = (
        f"for ((i = 1; i <= {count}; i++)); do\n"
        "  printf 'v1\\tcommand\\t1795600000.%06d\\t/r\\t0\\t1\\t/r\\t0\\tbash\\techo %d\\n' \"$i\" \"$i\""
        " 2>/dev/null >>\"$SPOOL/shell.$$.$((1795600000000000 + i)).spool\"\n"
        "done\n"
    )
    writer = subprocess.Popen(["bash", "-c", script], env={**os.environ, "SPOOL": str(spool)})
    seen: list[str] = []
    while True:
        finished = writer.poll() is not None
        taken = take_lines(spool)
        seen += [one.fields[-1] for one in taken.lines]
        assert release(taken.files) == []
        if finished:
            break
    assert writer.returncode == 0
    assert sorted(seen) == sorted(f"echo {i}" for i in range(1, count + 1))  # each once, none lost
    assert os.listdir(spool) == []

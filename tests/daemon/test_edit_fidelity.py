"""Edits carry what a replay needs to rebuild a commit byte for byte: the file mode, binary
content by blob id, whether the redactor changed the diff, and a ts that never runs backwards."""

from __future__ import annotations

import os
import sqlite3
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from prtrace_core.gitblob import blob_sha
from prtrace_core.timestamps import format_ts, parse_ts
from prtrace_daemon.buffer import _MIGRATIONS, Buffer
from prtrace_daemon.diffs import edit_payload
from prtrace_daemon.gitrepo import GitRepo
from prtrace_daemon.handoff import hand_off
from prtrace_daemon.recorder import Recorder
from tests.conftest import git
from tests.daemon.conftest import started

# A PNG header and a few chunks' worth of bytes: NULs early, so git (and capture) call it binary.
PNG = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR\0\0\0\x10\0\0\0\x10\x08\x06\0\0\0\x1f\xf3\xffa" + bytes(range(256))
AWS_KEY = "AKIA" + "ABCDEFGHIJKLMNOP"


def _events(rec: Recorder, repo: GitRepo) -> list[dict[str, Any]]:
    trace = rec.buffer.trace_for(str(repo.root), repo.head()[1])
    assert trace is not None
    return rec.buffer.events(trace.trace_id)


def _edits(rec: Recorder, repo: GitRepo) -> list[dict[str, Any]]:
    return [e["payload"] for e in _events(rec, repo) if e["type"] == "edit"]


def _committed(root: Path, path: str) -> str:
    return git(root, "rev-parse", f"HEAD:{path}").strip()


def _age(path: Path, seconds: int = 3600) -> None:
    """Move the file's mtime into the past, so its snapshot is trusted by stat (not racy)."""
    past = time.time() - seconds
    os.utime(path, (past, past))


@pytest.fixture
def with_binary(repo: Path) -> Path:
    """The repo with a committed binary file, `logo.png`."""
    (repo / "logo.png").write_bytes(PNG)
    git(repo, "add", "logo.png")
    git(repo, "commit", "-qm", "add logo")
    return repo


# modes


def test_a_created_executable_script_records_mode_100755(rec: Recorder, repo: Path) -> None:
    r = started(rec, repo)
    script = repo / "run.sh"
    script.write_text("#!/bin/sh\necho hi\n")
    script.chmod(0o755)
    (repo / "plain.txt").write_text("plain\n")
    rec.record(r)
    edits = {e["file"]: e for e in _edits(rec, r)}
    assert edits["run.sh"]["op"] == "create" and edits["run.sh"]["mode"] == "100755"
    assert edits["plain.txt"]["mode"] == "100644"


def test_chmod_x_on_an_unchanged_file_records_a_mode_only_edit(rec: Recorder, repo: Path) -> None:
    _age(repo / "calc.py")  # its size and mtime match the snapshot: only the bit tells
    r = started(rec, repo)
    sha = _committed(repo, "calc.py")
    (repo / "calc.py").chmod(0o755)
    assert rec.record(r).edits == 1
    (edit,) = _edits(rec, r)
    assert edit["op"] == "modify" and edit["before_sha"] == edit["after_sha"] == sha
    assert edit["change_summary"] == "+0/-0" and edit["mode"] == "100755"
    assert "diff" not in edit and "diff_snippet" not in edit
    assert rec.record(r).edits == 0  # recorded once
    (repo / "calc.py").chmod(0o644)
    assert rec.record(r).edits == 1 and _edits(rec, r)[-1]["mode"] == "100644"


def test_a_commit_that_only_changes_a_mode_gets_a_mode_only_edit_before_it(rec: Recorder, repo: Path) -> None:
    r = started(rec, repo)
    (repo / "calc.py").chmod(0o755)
    git(repo, "commit", "-qam", "make it executable")  # drained before any scan sees the chmod
    rec.record(r, "annotation", {"text": "after"})
    kinds = [(e["type"], e["payload"].get("mode")) for e in _events(rec, r)]
    assert kinds[1:] == [("edit", "100755"), ("commit", None), ("annotation", None)]
    edit = _edits(rec, r)[0]
    assert edit["before_sha"] == edit["after_sha"] == _committed(repo, "calc.py")


def test_a_tracked_executable_keeps_its_mode_from_the_index(rec: Recorder, repo: Path) -> None:
    tool = repo / "tool.sh"
    tool.write_text("#!/bin/sh\n")
    tool.chmod(0o755)
    git(repo, "add", "tool.sh")
    git(repo, "commit", "-qm", "tool")
    r = started(rec, repo)
    assert _events(rec, r)[0]["payload"]["dirty"] == []
    tool.write_text("#!/bin/sh\necho changed\n")
    rec.record(r)
    (edit,) = _edits(rec, r)
    assert edit["mode"] == "100755" and "+echo changed" in edit["diff"]


def test_a_delete_carries_no_mode(rec: Recorder, repo: Path) -> None:
    r = started(rec, repo)
    (repo / "calc.py").unlink()
    rec.record(r)
    (edit,) = _edits(rec, r)
    assert edit["op"] == "delete" and "mode" not in edit


def test_the_start_event_lists_a_file_whose_only_difference_from_head_is_its_mode(rec: Recorder, repo: Path) -> None:
    (repo / "calc.py").chmod(0o755)
    r = started(rec, repo)
    (entry,) = _events(rec, r)[0]["payload"]["dirty"]
    assert entry["file"] == "calc.py" and entry["op"] == "modify" and entry["mode"] == "100755"
    assert entry["before_sha"] == entry["after_sha"] and "diff" not in entry


def test_a_snapshot_from_before_modes_were_kept_learns_the_bit_without_an_edit(
    rec: Recorder, repo: Path, tmp_path: Path
) -> None:
    """Buffer migration 4: old snapshot rows have no executable bit; it is not a change."""
    old = tmp_path / "v3.db"
    conn = sqlite3.connect(old)
    for script in _MIGRATIONS[:3]:
        conn.executescript(script)
    conn.execute("PRAGMA user_version = 3")
    conn.execute(
        "INSERT INTO snapshots (repo_path, path, blob_sha, size, mtime_ns, racy) VALUES ('/r', CAST('a' AS BLOB), 's', 1, 2, 0)"
    )
    conn.commit()
    conn.close()
    with Buffer(old) as migrated:
        assert migrated.snapshots("/r")["a"].executable is None

    (repo / "tool.sh").write_text("#!/bin/sh\n")
    (repo / "tool.sh").chmod(0o755)
    r = started(rec, repo)
    rec.buffer._conn.execute("UPDATE snapshots SET executable = NULL")  # as migration 4 leaves them
    assert rec.record(r).edits == 0
    snaps = rec.buffer.snapshots(str(repo))
    assert snaps["tool.sh"].executable is True and snaps["calc.py"].executable is False


# binary files


def test_a_committed_binary_file_gets_a_binary_edit_with_the_committed_blob(rec: Recorder, repo: Path) -> None:
    r = started(rec, repo)
    (repo / "logo.png").write_bytes(PNG)
    assert rec.record(r).edits == 0  # untracked: not yet
    git(repo, "add", "logo.png")
    git(repo, "commit", "-qm", "add logo")
    rec.record(r, "annotation", {"text": "after"})
    events = _events(rec, r)
    assert [e["type"] for e in events[1:]] == ["edit", "commit", "annotation"]
    edit = events[1]["payload"]
    assert edit["file"] == "logo.png" and edit["op"] == "create" and edit["binary"] is True
    assert edit["after_sha"] == _committed(repo, "logo.png") == blob_sha(PNG)
    assert edit["before_sha"] is None and edit["mode"] == "100644" and edit["change_summary"] == "+0/-0"
    assert "diff" not in edit and "diff_snippet" not in edit


def test_a_tracked_binary_modified_in_the_work_tree_is_recorded_with_its_content_cached(
    rec: Recorder, with_binary: Path
) -> None:
    r = started(rec, with_binary)
    changed = PNG + b"\0more pixels"
    (with_binary / "logo.png").write_bytes(changed)
    rec.record(r)
    (edit,) = _edits(rec, r)
    assert edit["op"] == "modify" and edit["binary"] is True and edit["mode"] == "100644"
    assert edit["before_sha"] == _committed(with_binary, "logo.png") and edit["after_sha"] == blob_sha(changed)
    assert "diff" not in edit and edit["change_summary"] == "+0/-0"
    assert rec.cache.get(blob_sha(changed)) == changed  # git never held this state: replay takes it here
    again = changed + b"\0even more"
    (with_binary / "logo.png").write_bytes(again)
    rec.record(r)
    assert _edits(rec, r)[-1]["before_sha"] == blob_sha(changed)  # the chain holds


def test_a_tracked_binary_renamed_then_deleted_is_recorded(rec: Recorder, with_binary: Path) -> None:
    r = started(rec, with_binary)
    (with_binary / "logo.png").rename(with_binary / "icon.png")
    rec.record(r)
    (renamed,) = _edits(rec, r)
    assert renamed["op"] == "rename" and renamed["old_file"] == "logo.png" and renamed["file"] == "icon.png"
    assert renamed["binary"] is True and renamed["after_sha"] == blob_sha(PNG) and "diff" not in renamed
    (with_binary / "icon.png").unlink()
    rec.record(r)
    deleted = _edits(rec, r)[-1]
    assert deleted["op"] == "delete" and deleted["binary"] is True and deleted["before_sha"] == blob_sha(PNG)
    assert deleted["after_sha"] is None and "mode" not in deleted


def test_a_staged_new_binary_is_recorded_once_git_tracks_it(rec: Recorder, repo: Path) -> None:
    r = started(rec, repo)
    (repo / "logo.png").write_bytes(PNG)
    git(repo, "add", "logo.png")
    rec.record(r)
    (edit,) = _edits(rec, r)
    assert edit["op"] == "create" and edit["binary"] is True and edit["after_sha"] == blob_sha(PNG)
    git(repo, "commit", "-qm", "logo")
    rec.record(r)
    assert len(_edits(rec, r)) == 1  # the commit holds what was recorded already


def test_an_untracked_binary_build_product_is_not_recorded(rec: Recorder, repo: Path) -> None:
    (repo / ".gitignore").unlink()  # a repo without .gitignore
    git(repo, "commit", "-qam", "no ignores")
    (repo / "build").mkdir()
    (repo / "build" / "early.o").write_bytes(b"\x7fELF\0\0\0early")
    r = started(rec, repo)
    (repo / "build" / "app.o").write_bytes(b"\x7fELF\2\1\1\0\0\0\0" + bytes(64))
    rec.record(r)
    rec.record(r)
    assert _edits(rec, r) == []
    assert _events(rec, r)[0]["payload"]["dirty"] == []
    assert not any(p.startswith("build/") for p in rec.buffer.snapshots(str(repo)))


def test_edit_payload_gives_the_binary_form_when_either_side_is_binary() -> None:
    for before, after in ((b"text\n", PNG), (PNG, b"text\n"), (None, PNG), (PNG, None)):
        payload = edit_payload(
            "f", before, after, before_sha="a" if before else None, after_sha="b" if after else None,
            op="modify" if before and after else "create" if after else "delete", mode="100644",
        )
        assert payload["binary"] is True and payload["change_summary"] == "+0/-0"
        assert "diff" not in payload and "diff_snippet" not in payload
        assert ("mode" in payload) == (after is not None)


# redaction and time


def test_a_diff_the_redactor_changed_is_marked(rec: Recorder, repo: Path) -> None:
    (repo / "dirty_secret.py").write_text(f'KEY = "{AWS_KEY}"\n')
    r = started(rec, repo)
    (entry,) = _events(rec, r)[0]["payload"]["dirty"]
    assert entry["diff_redacted"] is True and AWS_KEY not in entry["diff"]
    (repo / "settings.py").write_text(f'AWS_ACCESS_KEY_ID = "{AWS_KEY}"\n')
    (repo / "clean.py").write_text("x = 1\n")
    rec.record(r)
    edits = {e["file"]: e for e in _edits(rec, r)}
    assert edits["settings.py"]["diff_redacted"] is True and AWS_KEY not in edits["settings.py"]["diff"]
    assert "diff_redacted" not in edits["clean.py"]


def test_the_edits_before_a_handed_off_note_are_not_later_than_the_note(rec: Recorder, repo: Path) -> None:
    r = started(rec, repo)
    (repo / "calc.py").write_text("made before the note\n")
    note_ts = format_ts(datetime.now(UTC))
    hand_off(str(rec.home.root), str(repo), "annotation", {"text": "the note"}, note_ts)
    time.sleep(0.05)  # the daemon drains a little later
    assert rec.drain() == 1
    events = _events(rec, r)
    assert [e["type"] for e in events[1:]] == ["edit", "annotation"]
    assert events[2]["ts"] == note_ts
    assert parse_ts(events[1]["ts"]) <= parse_ts(note_ts)

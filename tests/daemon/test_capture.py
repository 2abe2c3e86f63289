"""The edit engine and recorder on real git repos in temp folders."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from prtrace_core.gitblob import blob_sha
from prtrace_daemon.client_errors import NotRegistered
from prtrace_daemon.gitrepo import GitRepo
from prtrace_daemon.hooks import install_hooks
from prtrace_daemon.recorder import Recorder
from tests.conftest import git
from tests.daemon.conftest import started


def _events(rec: Recorder, repo: GitRepo) -> list[dict]:
    trace = rec.buffer.trace_for(str(repo.root), repo.head()[1])
    assert trace is not None
    return rec.buffer.events(trace.trace_id)


def test_trace_begins_with_start_event_holding_head_and_dirty_files(rec: Recorder, repo: Path) -> None:
    (repo / "calc.py").write_text("def add(a, b):\n    return a + b  # dirty\n")
    (repo / "new.py").write_text("print('new')\n")
    r = started(rec, repo)
    start = _events(rec, r)[0]
    assert start["seq"] == 1 and start["type"] == "start"
    assert start["payload"]["head_sha"] == git(repo, "rev-parse", "HEAD").strip()
    assert start["payload"]["branch"] == "main"
    dirty = {d["file"]: d for d in start["payload"]["dirty"]}
    assert set(dirty) == {"calc.py", "new.py"}
    assert "# dirty" in dirty["calc.py"]["diff"] and dirty["new.py"]["op"] == "create"


def test_edits_are_recorded_in_order_with_a_chain_of_hashes(rec: Recorder, repo: Path) -> None:
    r = started(rec, repo)
    original = (repo / "calc.py").read_bytes()
    v2 = original + b"\n\ndef sub(a, b):\n    return a - b\n"
    (repo / "calc.py").write_bytes(v2)
    rec.record(r, "annotation", {"text": "one"})
    v3 = v2.replace(b"a - b", b"a - b  # fixed")
    (repo / "calc.py").write_bytes(v3)
    (repo / "notes.md").write_text("# notes\n")
    rec.record(r, "annotation", {"text": "two"})
    events = _events(rec, r)
    assert [e["type"] for e in events] == ["start", "edit", "annotation", "edit", "edit", "annotation"]
    assert [e["seq"] for e in events] == list(range(1, 7))
    first, second = events[1]["payload"], events[3]["payload"]
    assert first["before_sha"] == blob_sha(original) and first["after_sha"] == blob_sha(v2)
    assert second["before_sha"] == first["after_sha"] and second["after_sha"] == blob_sha(v3)
    assert first["change_summary"] == "+4/-0" and "+def sub(a, b):" in first["diff"]
    assert events[4]["payload"]["op"] == "create" and events[4]["payload"]["file"] == "notes.md"


def test_a_scan_with_nothing_changed_records_nothing(rec: Recorder, repo: Path) -> None:
    r = started(rec, repo)
    (repo / "calc.py").write_text("changed = True\n")
    assert rec.record(r).edits == 1
    assert rec.record(r).edits == 0
    os.utime(repo / "calc.py")  # touched, same content
    assert rec.record(r).edits == 0


def test_ignored_and_binary_files_produce_no_edits(rec: Recorder, repo: Path) -> None:
    r = started(rec, repo)
    (repo / "debug.log").write_text("ignored by .gitignore\n")
    (repo / "__pycache__").mkdir()
    (repo / "__pycache__" / "calc.pyc").write_bytes(b"\0\1binary")
    (repo / "image.png").write_bytes(b"\x89PNG\r\n\x1a\n\0\0\0")
    (repo / ".prtraceignore").write_text("secret/\n")
    (repo / "secret").mkdir()
    (repo / "secret" / "keys.txt").write_text("nope\n")
    rec.record(r)
    edits = {e["payload"]["file"]: e["payload"] for e in _events(rec, r) if e["type"] == "edit"}
    assert sorted(edits) == [".prtraceignore", "secret/keys.txt"]
    # a .prtraceignore'd file is withheld: that it changed is recorded, never what it holds
    assert edits["secret/keys.txt"]["withheld"] is True and "diff" not in edits["secret/keys.txt"]


def test_delete_and_rename_are_edits_of_their_own(rec: Recorder, repo: Path) -> None:
    (repo / "old.py").write_text("x = 1\n")
    git(repo, "add", ".")
    git(repo, "commit", "-qm", "add old")
    r = started(rec, repo)
    (repo / "old.py").rename(repo / "renamed.py")
    (repo / "calc.py").unlink()
    rec.record(r)
    edits = {e["payload"]["op"]: e["payload"] for e in _events(rec, r) if e["type"] == "edit"}
    assert edits["rename"]["old_file"] == "old.py" and edits["rename"]["file"] == "renamed.py"
    assert edits["delete"]["file"] == "calc.py" and edits["delete"]["after_sha"] is None


def test_secrets_in_diffs_are_redacted_before_they_are_stored(rec: Recorder, repo: Path) -> None:
    r = started(rec, repo)
    token = "ghp_" + "A1b2C3d4" * 5
    (repo / "settings.py").write_text(f'GITHUB_TOKEN = "{token}"\n')
    rec.record(r)
    raw = rec.buffer.path.read_bytes() + b"".join(p.read_bytes() for p in rec.buffer.path.parent.glob("*.db-wal"))
    assert token.encode() not in raw
    edit = _events(rec, r)[-1]["payload"]
    assert "[REDACTED:github_token]" in edit["diff"]


def test_commit_is_recorded_after_the_edits_that_produced_it(rec: Recorder, repo: Path) -> None:
    r = started(rec, repo)
    (repo / "calc.py").write_text("def add(a, b):\n    return b + a\n")
    (repo / "extra.py").write_text("y = 2\n")
    git(repo, "add", ".")
    git(repo, "commit", "-qm", "feat: swap")
    (repo / "calc.py").write_text("after the commit\n")  # later work stays after the commit
    rec.record(r, "annotation", {"text": "done"})
    events = _events(rec, r)
    kinds = [(e["type"], e["payload"].get("file")) for e in events]
    commit_at = kinds.index(("commit", None))
    assert set(kinds[1:commit_at]) == {("edit", "calc.py"), ("edit", "extra.py")}
    commit = events[commit_at]["payload"]
    assert commit["message"] == "feat: swap" and commit["files_changed"] == 2 and commit["branch"] == "main"
    assert commit["sha"] == git(repo, "rev-parse", "HEAD").strip()
    after = events[commit_at + 1]["payload"]
    assert after["file"] == "calc.py" and "after the commit" in after["diff"]
    assert after["before_sha"] == events[commit_at - 2]["payload"]["after_sha"] or after["before_sha"] in {
        e["payload"].get("after_sha") for e in events[:commit_at]
    }


def test_a_spool_line_is_recorded_once_even_when_drained_twice(rec: Recorder, repo: Path) -> None:
    r = started(rec, repo)
    (repo / "calc.py").write_text("v2\n")
    git(repo, "commit", "-qam", "c1")
    spooled = list(rec.home.spool.glob("*.spool"))
    assert len(spooled) == 1
    content, mtime_ns = spooled[0].read_bytes(), spooled[0].stat().st_mtime_ns
    rec.drain()
    # a drain that died before removing its file leaves it behind (renamed, its mtime kept, which
    # is the line's time): the line must not repeat
    left = rec.home.spool / "hook.1.spool.draining"
    left.write_bytes(content)
    os.utime(left, ns=(mtime_ns, mtime_ns))
    rec.drain()
    assert [e["type"] for e in _events(rec, r)].count("commit") == 1


def test_a_branch_gets_its_own_trace_and_the_checkout_is_not_an_edit(rec: Recorder, repo: Path) -> None:
    r = started(rec, repo)
    git(repo, "checkout", "-q", "-b", "feature")
    (repo / "calc.py").write_text("feature work\n")
    git(repo, "commit", "-qam", "feature")
    git(repo, "checkout", "-q", "main")
    rec.record(r, "annotation", {"text": "back on main"})
    main_events = _events(rec, r)
    assert [e["type"] for e in main_events][-2:] == ["checkout", "annotation"]
    assert not [e for e in main_events if e["type"] == "edit"]
    feature = rec.buffer.trace_for(str(repo), "feature")
    assert feature is not None
    kinds = [e["type"] for e in rec.buffer.events(feature.trace_id)]
    assert kinds[0] == "start" and "commit" in kinds


def test_switching_back_and_forth_records_every_checkout(rec: Recorder, repo: Path) -> None:
    """The same switch twice writes the same spool line twice; each is its own event."""
    r = started(rec, repo)
    git(repo, "branch", "feature")
    for branch in ("feature", "main", "feature", "main"):
        git(repo, "checkout", "-q", branch)
    rec.drain()
    checkouts = [
        e["payload"]["to_branch"]
        for trace in rec.buffer.traces()
        for e in rec.buffer.events(trace.trace_id)
        if e["type"] == "checkout"
    ]
    assert sorted(checkouts) == ["feature", "feature", "main", "main"]
    assert r.head()[1] == "main"


def test_unregistered_repo_is_refused(rec: Recorder, repo: Path) -> None:
    with pytest.raises(NotRegistered):
        rec.record(GitRepo(repo), "annotation", {"text": "x"})


def test_hook_chains_an_existing_hook_and_never_fails_git(rec: Recorder, repo: Path) -> None:
    hook = repo / ".git" / "hooks" / "post-commit"
    marker = repo.parent / "theirs-ran"
    hook.write_text(f"#!/bin/sh\ntouch {marker}\nexit 1\n")
    hook.chmod(0o755)
    r = started(rec, repo)
    (repo / "calc.py").write_text("v2\n")
    result = subprocess.run(["git", "commit", "-qam", "c"], cwd=repo, capture_output=True)
    assert result.returncode == 0 and marker.exists()
    # prtrace's state gone: the hook still must not fail the commit
    import shutil

    shutil.rmtree(rec.home.spool)
    (repo / "calc.py").write_text("v3\n")
    assert subprocess.run(["git", "commit", "-qam", "c2"], cwd=repo, capture_output=True).returncode == 0
    assert r.head()[0] is not None


def test_secrets_in_commit_messages_and_notes_are_redacted(rec: Recorder, repo: Path) -> None:
    r = started(rec, repo)
    key = "AKIA" + "ABCDEFGHIJKLMNOP"
    rec.record(r, "annotation", {"text": f"rotated {key} today"})
    (repo / "calc.py").write_text("v2\n")
    git(repo, "commit", "-qam", f"chore: drop password=hunter2hunter2 and {key}")
    rec.drain()
    texts = json_dump(_events(rec, r))
    assert key not in texts and "hunter2hunter2" not in texts
    assert "[REDACTED:aws_access_key]" in texts


def json_dump(value: object) -> str:
    import json

    return json.dumps(value)


def test_a_start_event_stays_under_the_servers_event_limit(rec: Recorder, repo: Path) -> None:
    for i in range(2500):
        (repo / f"untracked_{i:04d}.txt").write_text(f"file {i}\n")
    r = started(rec, repo)
    start = _events(rec, r)[0]
    import json

    assert len(json.dumps(start["payload"]).encode()) < 256 * 1024
    assert start["payload"]["dirty"][-1]["omitted_files"] > 0


def test_a_file_name_that_is_not_utf8_is_recorded_not_fatal(rec: Recorder, repo: Path) -> None:
    r = started(rec, repo)
    (repo / "caf\udce9.txt").write_bytes(b"latin-1 name\n")  # the byte 0xE9 on disk
    rec.record(r, "annotation", {"text": "after"})
    edit = next(e["payload"] for e in _events(rec, r) if e["type"] == "edit")
    assert edit["file"] == "caf\\xe9.txt"


def test_commits_replayed_by_a_rebase_stay_in_the_branchs_trace(rec: Recorder, repo: Path) -> None:
    git(repo, "checkout", "-q", "-b", "feat")
    started(rec, repo)
    for name in ("a", "b"):
        (repo / f"{name}.py").write_text(f"{name} = 1\n")
        git(repo, "add", ".")
        git(repo, "commit", "-qm", name)
    git(repo, "checkout", "-q", "main")
    (repo / "main.py").write_text("m = 1\n")
    git(repo, "add", ".")
    git(repo, "commit", "-qm", "main moves on")
    git(repo, "checkout", "-q", "feat")
    git(repo, "rebase", "-q", "main")
    rec.drain()
    branches = {t.branch for t in rec.buffer.traces()}
    assert not any(b.startswith("detached@") for b in branches), branches


def test_a_users_hook_is_never_lost_by_a_second_install(rec: Recorder, repo: Path) -> None:
    hooks = repo / ".git" / "hooks"
    (hooks / "post-commit").write_text("#!/bin/sh\necho A\n")
    install_hooks(GitRepo(repo), rec.home.root)  # A moves aside and is chained
    (hooks / "post-commit").write_text("#!/bin/sh\necho B\n")  # the user installs another
    report = install_hooks(GitRepo(repo), rec.home.root)
    assert (hooks / "post-commit").read_text() == "#!/bin/sh\necho B\n"
    assert (hooks / "post-commit.prtrace-orig").read_text() == "#!/bin/sh\necho A\n"
    assert report.skipped


def test_with_core_hooks_path_nothing_is_written_there_and_the_users_hooks_still_run(
    rec: Recorder, repo: Path
) -> None:
    from prtrace_daemon.hooks import uninstall_hooks

    husky = repo / ".husky"
    husky.mkdir()
    ran = repo.parent / "husky-pre-commit-ran"
    (husky / "pre-commit").write_text(f"#!/bin/sh\ntouch {ran}\n")
    (husky / "pre-commit").chmod(0o755)
    git(repo, "config", "core.hooksPath", ".husky")
    r = started(rec, repo)
    assert sorted(p.name for p in husky.iterdir()) == ["pre-commit"]  # nothing of ours in there
    (repo / "calc.py").write_text("v2\n")
    git(repo, "commit", "-qam", "through husky")
    assert ran.exists()
    assert any(e["type"] == "commit" for e in (rec.drain(), _events(rec, r))[1])
    uninstall_hooks(r, rec.home.root)
    assert git(repo, "config", "--local", "--get", "core.hooksPath").strip() == ".husky"

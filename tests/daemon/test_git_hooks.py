"""Real git operations in temp repos with prtrace's hooks installed beside the user's own."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from prtrace_daemon.gitrepo import GitRepo
from prtrace_daemon.recorder import Recorder
from prtrace_daemon.spool import parse_line
from prtrace_daemon.spool_format import (
    CheckoutRecord,
    CommitRecord,
    MergeRecord,
    PushRecord,
    RewriteRecord,
    SpoolRecord,
)
from tests.conftest import git
from tests.daemon.conftest import started


def _events(rec: Recorder, root: Path, branch: str = "main") -> list[dict]:
    rec.drain()
    trace = rec.buffer.trace_for(str(root), branch)
    assert trace is not None
    return rec.buffer.events(trace.trace_id)


@pytest.fixture
def remote(tmp_path: Path, repo: Path) -> Path:
    bare = tmp_path / "remote.git"
    subprocess.run(["git", "init", "-q", "--bare", str(bare)], check=True)
    git(repo, "remote", "add", "origin", str(bare))
    return bare


def test_push_is_recorded_and_the_users_pre_push_hook_gets_the_same_stdin(
    rec: Recorder, repo: Path, remote: Path, tmp_path: Path
) -> None:
    seen = tmp_path / "theirs.txt"
    hook = repo / ".git" / "hooks" / "pre-push"
    hook.write_text(f"#!/bin/sh\necho \"$1 $2\" > {seen}\ncat >> {seen}\n")
    hook.chmod(0o755)
    started(rec, repo)
    git(repo, "push", "-q", "origin", "main")
    [push] = [e["payload"] for e in _events(rec, repo) if e["type"] == "push"]
    head = git(repo, "rev-parse", "HEAD").strip()
    assert push["remote"] == "origin"
    assert push["refs"] == [
        {"local_ref": "refs/heads/main", "local_sha": head, "remote_ref": "refs/heads/main", "remote_sha": "0" * 40}
    ]
    lines = seen.read_text().splitlines()
    assert lines[0] == f"origin {remote}" and lines[1] == f"refs/heads/main {head} refs/heads/main {'0' * 40}"


def test_a_users_pre_push_hook_may_still_refuse_the_push(rec: Recorder, repo: Path, remote: Path) -> None:
    hook = repo / ".git" / "hooks" / "pre-push"
    hook.write_text("#!/bin/sh\necho no >&2\nexit 1\n")
    hook.chmod(0o755)
    started(rec, repo)
    result = subprocess.run(["git", "push", "-q", "origin", "main"], cwd=repo, capture_output=True)
    assert result.returncode != 0
    assert subprocess.run(["git", "ls-remote", str(remote)], capture_output=True, text=True).stdout == ""


def test_an_amend_is_a_rewrite_from_the_old_sha_to_the_new(rec: Recorder, repo: Path) -> None:
    started(rec, repo)
    (repo / "calc.py").write_text("v2\n")
    git(repo, "commit", "-qam", "v2")
    old = git(repo, "rev-parse", "HEAD").strip()
    git(repo, "commit", "-q", "--amend", "-m", "v2, better message")
    new = git(repo, "rev-parse", "HEAD").strip()
    [rewrite] = [e["payload"] for e in _events(rec, repo) if e["type"] == "rewrite"]
    assert rewrite == {"kind": "amend", "mappings": [{"old_sha": old, "new_sha": new}]}


def test_a_switch_to_an_unborn_branch_is_recorded_not_quarantined(rec: Recorder, repo: Path) -> None:
    """`git checkout --orphan` leaves HEAD naming no commit (the hook writes `HEAD` for its sha):
    the line has no tree to move to, and the next compare sees the switch."""
    from prtrace_daemon.spool import quarantined

    started(rec, repo)
    git(repo, "checkout", "-q", "--orphan", "fresh")
    (repo / "new.py").write_text("N = 1\n")
    rec.record(GitRepo(repo), "annotation", {"text": "on an orphan branch"})
    assert quarantined(rec.home.spool) == 0
    trace = rec.buffer.trace_for(str(repo), "fresh")
    assert trace is not None
    events = rec.buffer.events(trace.trace_id)
    assert events[0]["type"] == "start" and events[-1]["payload"] == {"text": "on an orphan branch"}


def test_a_merge_records_what_it_brought_in_then_the_merge(rec: Recorder, repo: Path) -> None:
    started(rec, repo)
    git(repo, "checkout", "-q", "-b", "topic")
    (repo / "topic.py").write_text("T = 1\n")
    git(repo, "add", ".")
    git(repo, "commit", "-qm", "topic")
    git(repo, "checkout", "-q", "main")
    (repo / "calc.py").write_text("main moved on\n")
    git(repo, "commit", "-qam", "main")
    git(repo, "merge", "-q", "--no-edit", "topic")
    events = _events(rec, repo)
    kinds = [(e["type"], e["payload"].get("file")) for e in events]
    merge_at = next(i for i, (kind, _) in enumerate(kinds) if kind == "merge")
    assert ("edit", "topic.py") in kinds[:merge_at]
    assert events[merge_at]["payload"]["sha"] == git(repo, "rev-parse", "HEAD").strip()
    assert events[merge_at]["payload"]["squash"] is False


def test_uninstall_restores_every_hook_exactly(rec: Recorder, repo: Path) -> None:
    from prtrace_daemon.hooks import uninstall_hooks

    hooks = repo / ".git" / "hooks"
    (hooks / "pre-push").write_text("#!/bin/sh\nexit 0\n")
    (hooks / "pre-push").chmod(0o755)
    before = {p.name: p.read_bytes() for p in hooks.iterdir()}
    started(rec, repo)
    assert len({p.name for p in hooks.iterdir()} - set(before)) >= 4
    uninstall_hooks(GitRepo(repo))
    assert {p.name: p.read_bytes() for p in hooks.iterdir()} == before


def _hook_records(rec: Recorder, root: Path) -> dict[str, list[SpoolRecord]]:
    """The records in the git hooks' spool lines, not yet drained, by kind (in a set order:
    hooks run milliseconds apart may leave files of the same mtime)."""
    found: dict[str, list[SpoolRecord]] = {}
    for path in rec.home.spool.glob("hook.*.spool"):
        line = parse_line(path.read_bytes(), path.stat().st_mtime_ns)
        assert line is not None and line.record is not None, path.read_bytes()
        assert line.repo_path == str(root)
        found.setdefault(line.kind, []).append(line.record)
    return {kind: sorted(records, key=repr) for kind, records in found.items()}


def test_the_real_hooks_lines_decode_into_typed_records(rec: Recorder, repo: Path, remote: Path) -> None:
    started(rec, repo)
    (repo / "calc.py").write_text("def add(a, b):\n    return b + a\n")
    git(repo, "commit", "-q", "-am", "swap")
    one = git(repo, "rev-parse", "HEAD").strip()
    git(repo, "checkout", "-q", "-b", "feature")
    git(repo, "commit", "-q", "--amend", "-m", "swap, amended")
    two = git(repo, "rev-parse", "HEAD").strip()
    git(repo, "checkout", "-q", "main")
    git(repo, "merge", "-q", "--no-ff", "-m", "merge feature", "feature")
    merged = git(repo, "rev-parse", "HEAD").strip()
    (repo / "calc.py").write_text("changed\n")
    git(repo, "checkout", "-q", "--", "calc.py")
    git(repo, "push", "-q", "origin", "main")
    main = "refs/heads/main"
    expected: dict[str, list[SpoolRecord]] = {
        "commit": [CommitRecord(one, main), CommitRecord(two, "refs/heads/feature")],
        "checkout": [
            CheckoutRecord(one, "refs/heads/feature", one, True),
            CheckoutRecord(one, main, two, True),
            CheckoutRecord(merged, main, merged, False),  # a file checkout
        ],
        "rewrite": [RewriteRecord(two, "refs/heads/feature", "amend", ((one, two),))],
        "merge": [MergeRecord(merged, main, False, one)],
        "push": [PushRecord(merged, main, "origin", str(remote), ((main, merged, main, "0" * 40),))],
    }
    assert _hook_records(rec, repo) == {kind: sorted(records, key=repr) for kind, records in expected.items()}

"""`prtrace purge`: the developer removes recorded activity from this machine — the chosen
traces whole, the blob cache entries nothing left needs, spooled activity — and is told what
went, above all what had never been pushed."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import httpx
import pytest

from prtrace_core.gitblob import blob_sha
from tests.cli.test_login import in_terminal
from tests.conftest import git, run_prtrace
from tests.support.waiting import wait_for


def _events(home: Path) -> list[tuple[str, str]]:
    with sqlite3.connect(home / "buffer.db") as conn:
        return conn.execute("SELECT trace_id, type FROM events ORDER BY trace_id, seq").fetchall()


def _traces(home: Path) -> set[str]:
    with sqlite3.connect(home / "buffer.db") as conn:
        return {row[0] for row in conn.execute("SELECT trace_id FROM traces")}


def _cached(home: Path) -> set[str]:
    return {p.parent.name + p.name for p in (home / "blobs").glob("*/*") if not p.name.startswith(".")}


def _trace_id(repo: Path, branch: str) -> str:
    return str(json.loads(run_prtrace("show", branch, "--local", "--json", cwd=repo, check=True).stdout)["trace_id"])


def _new_repo(root: Path) -> Path:
    root.mkdir()
    git(root, "init", "-q", "-b", "main")
    (root / "README").write_text("hello\n")
    git(root, "add", ".")
    git(root, "commit", "-qm", "initial")
    return root


def _one_line_error(result, code: int, text: str) -> None:  # type: ignore[no-untyped-def]
    assert result.returncode == code, (result.stdout, result.stderr)
    assert "Traceback" not in result.stderr
    assert result.stderr.startswith("error: ") and text in result.stderr.splitlines()[0], result.stderr


def test_purge_with_no_selection_refuses_and_says_what_to_pass(repo: Path, prtrace_home: Path) -> None:
    run_prtrace("start", "--no-daemon", cwd=repo, check=True)
    result = run_prtrace("purge", cwd=repo)
    _one_line_error(result, 2, "--trace ID")
    assert "--repo" in result.stderr and "--all" in result.stderr
    _one_line_error(run_prtrace("purge", "--repo", "--all", cwd=repo), 2, "--repo and --all cannot be combined")
    _one_line_error(run_prtrace("purge", "--before", "30d", cwd=repo), 2, "say what to purge")
    _one_line_error(run_prtrace("purge", "--trace", "no-such-trace", cwd=repo), 1, "no trace no-such-trace")
    bad = run_prtrace("purge", "--repo", "--before", "last tuesday", cwd=repo)
    assert bad.returncode == 2 and "not a date" in bad.stderr
    assert len(_events(prtrace_home)) == 1  # nothing was removed


def test_purge_repo_removes_its_traces_and_the_cached_content_only_they_needed(tmp_path: Path, prtrace_home: Path) -> None:
    one, other = _new_repo(tmp_path / "one"), _new_repo(tmp_path / "other")
    shared, secret, later = b"shared draft\n", b"password-ish draft\n", b"the current text\n"
    for repo in (one, other):
        (repo / "draft.txt").write_bytes(shared)  # untracked: git lacks it, the cache holds it
        run_prtrace("start", "--no-daemon", cwd=repo, check=True)
    (one / "notes.txt").write_bytes(secret)
    run_prtrace("note", "wrote notes", cwd=one, check=True)
    (one / "notes.txt").write_bytes(later)  # the secret version is now only in a recorded event
    run_prtrace("note", "rewrote them", cwd=one, check=True)
    other_trace = _trace_id(other, "main")
    assert {blob_sha(shared), blob_sha(secret), blob_sha(later)} <= _cached(prtrace_home)

    result = run_prtrace("purge", "--repo", cwd=one, check=True)
    assert "purged 1 trace(s)" in result.stdout and "had not been pushed: they are gone for good" in result.stdout
    assert _traces(prtrace_home) == {other_trace}
    assert {t for t, _ in _events(prtrace_home)} == {other_trace}
    cached = _cached(prtrace_home)
    assert blob_sha(secret) not in cached  # nothing left needs it
    assert blob_sha(shared) in cached  # the other repository's snapshot and trace still do
    assert blob_sha(later) in cached  # the repository's snapshot still names it
    assert "removed 1 cached file content(s)" in result.stdout

    # recording goes on: a new trace, starting from the tree as it is, with no bogus edits
    (one / "notes.txt").write_bytes(later + b"more\n")
    run_prtrace("note", "after the purge", cwd=one, check=True)
    doc = json.loads(run_prtrace("show", "main", "--local", "--json", cwd=one, check=True).stdout)
    assert [e["type"] for e in doc["events"]] == ["start", "annotation"]
    dirty = {d["file"]: d for d in doc["events"][0]["payload"]["dirty"]}
    assert set(dirty) == {"draft.txt", "notes.txt"} and dirty["notes.txt"]["after_sha"] == blob_sha(later + b"more\n")
    (one / "notes.txt").write_bytes(b"final\n")
    run_prtrace("note", "and on", cwd=one, check=True)
    assert run_prtrace("verify", "main", "--local", cwd=one).returncode == 0


def test_purge_trace_removes_that_trace_alone_and_what_the_spool_held_for_it(repo: Path, prtrace_home: Path) -> None:
    git(repo, "checkout", "-q", "-b", "feature")
    run_prtrace("start", "--no-daemon", cwd=repo, check=True)
    (repo / "calc.py").write_text("def add(a, b):\n    return a + b  # feature\n")
    run_prtrace("note", "on feature", cwd=repo, check=True)
    feature = _trace_id(repo, "feature")
    git(repo, "commit", "-qam", "feature commit")  # spooled by the hook, not yet recorded
    git(repo, "checkout", "-q", "main")
    run_prtrace("note", "on main", cwd=repo, check=True)
    main = _trace_id(repo, "main")
    git(repo, "checkout", "-q", "feature")
    git(repo, "commit", "-q", "--allow-empty", "-m", "another feature commit")  # spooled again

    result = run_prtrace("purge", "--trace", feature, cwd=repo, check=True)
    assert f"  {feature}  repo  feature" in result.stdout
    assert _traces(prtrace_home) == {main}
    assert not [p for p in (prtrace_home / "spool").iterdir() if p.suffix in (".spool", ".draining")]
    assert "feature commit" not in json.dumps(_events(prtrace_home))
    _one_line_error(run_prtrace("show", feature, "--local", cwd=repo), 1, "no trace matches")


def test_purge_all_asks_first_and_refuses_without_a_terminal(repo: Path, prtrace_home: Path) -> None:
    run_prtrace("start", "--no-daemon", cwd=repo, check=True)
    run_prtrace("note", "keep me unless told", cwd=repo, check=True)
    result = run_prtrace("purge", "--all", cwd=repo)
    _one_line_error(result, 2, "asks first")
    assert "2 event(s)" in result.stderr and "--yes" in result.stderr
    assert len(_events(prtrace_home)) == 2

    code, seen = in_terminal(["purge", "--all"], cwd=repo, answer="n", prompt=b"Purge")
    assert code == 1 and b"cancelled" in seen and b"never pushed" in seen, seen
    assert len(_events(prtrace_home)) == 2
    code, seen = in_terminal(["purge", "--all"], cwd=repo, answer="y", prompt=b"Purge")
    assert code == 0 and b"purged 1 trace(s)" in seen, seen
    assert _events(prtrace_home) == []


def test_purge_all_yes_empties_the_buffer_spool_and_cache_and_scrubs_the_file(repo: Path, prtrace_home: Path) -> None:
    run_prtrace("start", "--no-daemon", cwd=repo, check=True)
    (repo / "scratch.txt").write_text("an untracked draft\n")
    run_prtrace("note", "MARKER-purge-me-7f3a", cwd=repo, check=True)
    (repo / "scratch.txt").write_text("a second draft\n")
    run_prtrace("note", "again", cwd=repo, check=True)
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "MARKER-commit-9c1e")  # only in the spool so far
    quarantine = prtrace_home / "spool" / "quarantine"
    quarantine.mkdir()
    (quarantine / "0123456789abcdef.spool").write_text(f"v1\tcommand\t1700000000.000001\t{repo}\t5\tMARKER-q\n")
    (quarantine / "0123456789abcdef.why").write_text("failed\n")

    result = run_prtrace("purge", "--all", "--yes", cwd=repo, check=True)
    assert "purged 1 trace(s)" in result.stdout and "gone for good" in result.stdout
    assert "2 spool file(s)" in result.stdout  # the commit's line and the set-aside one
    assert _events(prtrace_home) == [] and _traces(prtrace_home) == set()
    assert not [p for p in (prtrace_home / "spool").rglob("*") if p.is_file()]
    for path in prtrace_home.glob("buffer.db*"):  # deleted rows are overwritten, the WAL emptied
        data = path.read_bytes()
        assert b"MARKER-purge-me" not in data and b"an untracked draft" not in data, path
    # the snapshot's content stays (the next edit is diffed against it); the first draft goes
    assert blob_sha(b"an untracked draft\n") not in _cached(prtrace_home)
    assert blob_sha(b"a second draft\n") in _cached(prtrace_home)

    run_prtrace("note", "after", cwd=repo, check=True)
    doc = json.loads(run_prtrace("show", "main", "--local", "--json", cwd=repo, check=True).stdout)
    assert [e["type"] for e in doc["events"]] == ["start", "annotation"]
    assert "MARKER-commit" not in json.dumps(doc)


def test_purge_before_keeps_traces_active_since(repo: Path, prtrace_home: Path) -> None:
    run_prtrace("start", "--no-daemon", cwd=repo, check=True)
    old = _trace_id(repo, "main")
    with sqlite3.connect(prtrace_home / "buffer.db") as conn:  # a trace last touched in 2020
        conn.execute("UPDATE events SET ts = '2020-01-01T00:00:00.000Z' WHERE trace_id = ?", (old,))
    git(repo, "checkout", "-q", "-b", "recent")
    run_prtrace("note", "recent work", cwd=repo, check=True)
    recent = _trace_id(repo, "recent")

    assert "no trace to purge" in run_prtrace("purge", "--all", "--before", "2019-06-01", "--yes", cwd=repo, check=True).stdout
    result = run_prtrace("purge", "--all", "--before", "30d", "--yes", cwd=repo, check=True)
    assert f"  {old}  repo  main" in result.stdout and recent not in result.stdout
    assert _traces(prtrace_home) == {recent}
    run_prtrace("purge", "--repo", "--before", "2020-01-01T00:00:01Z", cwd=repo, check=True)
    assert _traces(prtrace_home) == {recent}


@pytest.mark.e2e
def test_purge_says_what_the_server_keeps_and_what_is_gone_for_good(repo: Path, server_url: str) -> None:
    run_prtrace("start", "--no-daemon", cwd=repo, check=True)
    trace = _trace_id(repo, "main")
    run_prtrace("push", "--server", server_url, cwd=repo, check=True)
    run_prtrace("note", "never pushed", cwd=repo, check=True)
    result = run_prtrace("purge", "--repo", cwd=repo, check=True)
    assert "purged 1 trace(s) and their 2 event(s)" in result.stdout
    assert "1 of those events had not been pushed: they are gone for good" in result.stdout
    assert "1 had been pushed: the server keeps its copy" in result.stdout
    assert httpx.get(f"{server_url}/v1/traces/{trace}", timeout=10).status_code == 200


def test_purge_while_the_daemon_records_leaves_it_recording_a_new_trace(repo: Path, prtrace_home: Path) -> None:
    run_prtrace("start", cwd=repo, check=True)  # with the daemon
    purged = _trace_id(repo, "main")
    for n in range(5):  # the daemon records these while the purge runs
        (repo / f"f{n}.py").write_text(f"x = {n}\n")
        if n == 2:
            run_prtrace("purge", "--repo", cwd=repo, check=True)
    (repo / "last.py").write_text("done = True\n")
    # The daemon opens a new trace at the next save it sees.
    wait_for(lambda: _traces(prtrace_home) - {purged}, "the daemon to record after the purge", 30, 0.1)
    assert purged not in _traces(prtrace_home)
    doc = json.loads(run_prtrace("show", "main", "--local", "--json", cwd=repo, check=True).stdout)
    assert doc["events"][0]["type"] == "start" and doc["events"][0]["seq"] == 1
    assert run_prtrace("verify", "main", "--local", cwd=repo).returncode == 0
    assert "daemon:   running" in run_prtrace("status", cwd=repo, check=True).stdout

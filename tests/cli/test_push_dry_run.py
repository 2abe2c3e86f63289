"""`prtrace push --dry-run`: exactly what a push would send, per trace, with nothing sent and
nothing in the buffer changed — checked against what a real server then receives."""

from __future__ import annotations

import hashlib
import json
import sqlite3
from pathlib import Path
from typing import Any

import httpx

from tests.conftest import git, run_prtrace


def _buffer_state(home: Path) -> list[tuple[Any, ...]]:
    """Every event's state and every trace's envelope flag, straight from buffer.db."""
    with sqlite3.connect(home / "buffer.db") as conn:
        events = conn.execute("SELECT trace_id, seq, state, reason FROM events ORDER BY trace_id, seq").fetchall()
        traces = conn.execute("SELECT trace_id, envelope_dirty, last_seq FROM traces ORDER BY trace_id").fetchall()
    return [*events, *traces]


def _session(repo: Path) -> str:
    """Some recorded work on branch `feature`, linked to a PR; returns the trace id."""
    git(repo, "remote", "add", "origin", "https://github.com/acme/calc.git")
    git(repo, "checkout", "-q", "-b", "feature")
    run_prtrace("start", "--no-daemon", cwd=repo, check=True)
    (repo / "calc.py").write_text("def add(a, b):\n    return a + b\n\n\ndef sub(a, b):\n    return a - b\n")
    run_prtrace("note", "adding sub", cwd=repo, check=True)
    run_prtrace("run", "--", "sh", "-c", "echo built", cwd=repo, check=True)
    run_prtrace("pr", "7", "--title", "Add sub", cwd=repo, check=True)
    doc = json.loads(run_prtrace("show", "feature", "--local", "--json", cwd=repo, check=True).stdout)
    return str(doc["trace_id"])


def test_dry_run_shows_each_trace_and_sends_and_changes_nothing(repo: Path, prtrace_home: Path, server_url: str) -> None:
    trace_id = _session(repo)
    before = _buffer_state(prtrace_home)
    buffer_bytes = hashlib.sha256((prtrace_home / "buffer.db").read_bytes()).hexdigest()

    shown = run_prtrace("push", "--dry-run", "--server", server_url, cwd=repo, check=True).stdout
    assert "nothing is sent" in shown and f"{server_url}/v1/batches" in shown
    assert trace_id in shown and "acme/calc" in shown and "feature" in shown and "acme/calc#7" in shown
    assert "Add sub" in shown and "developer:" in shown
    assert "events:    4, seq 1–4: 1 start, 1 edit, 1 annotation, 1 command" in shown
    assert "1 trace(s)" in shown

    assert httpx.get(f"{server_url}/v1/traces/{trace_id}", timeout=10).status_code == 404  # nothing sent
    assert _buffer_state(prtrace_home) == before  # nothing marked
    assert hashlib.sha256((prtrace_home / "buffer.db").read_bytes()).hexdigest() == buffer_bytes

    bodies = json.loads(run_prtrace("push", "--dry-run", "--json", "--server", server_url, cwd=repo, check=True).stdout)
    assert bodies["url"] == f"{server_url}/v1/batches"
    [body] = bodies["batches"]
    assert body["trace_id"] == trace_id and body["pr"]["pr_id"] == "acme/calc#7"
    assert set(body) == {"trace_id", "repo", "pr", "developer", "events"}
    assert all(set(e) <= {"seq", "ts", "type", "payload", "actor"} for e in body["events"])  # no local fields
    assert _buffer_state(prtrace_home) == before

    pushed = run_prtrace("push", "--server", server_url, cwd=repo, check=True).stdout
    assert f"{len(body['events'])} new" in pushed
    stored = httpx.get(f"{server_url}/v1/traces/{trace_id}", timeout=10).json()
    for key in ("trace_id", "repo", "pr", "developer"):
        assert stored[key] == body[key], key
    sent = ("seq", "ts", "type", "payload", "actor")
    assert [{k: e[k] for k in sent if k in e} for e in stored["events"]] == body["events"]
    assert all(e["actor"] == {"kind": "human"} for e in body["events"])  # the developer's session

    after = json.loads(run_prtrace("push", "--dry-run", "--json", cwd=repo, check=True).stdout)
    assert after["batches"] == [] and after["url"] is None
    assert "nothing to push" in run_prtrace("push", "--dry-run", cwd=repo, check=True).stdout


def test_dry_run_shows_an_envelope_only_batch_after_a_pr_is_linked(repo: Path, server_url: str) -> None:
    _session(repo)
    run_prtrace("push", "--server", server_url, cwd=repo, check=True)
    run_prtrace("pr", "8", "--title", "Renumbered", cwd=repo, check=True)
    bodies = json.loads(run_prtrace("push", "--dry-run", "--json", cwd=repo, check=True).stdout)
    assert [(b["pr"]["pr_id"], b["events"]) for b in bodies["batches"]] == [("acme/calc#8", [])]
    assert "the envelope alone" in run_prtrace("push", "--dry-run", cwd=repo, check=True).stdout


def test_dry_run_counts_spooled_activity_without_recording_it(repo: Path, prtrace_home: Path) -> None:
    _session(repo)
    git(repo, "commit", "-qam", "sub")  # the hook spools it; nothing has drained it yet
    before = _buffer_state(prtrace_home)
    shown = run_prtrace("push", "--dry-run", cwd=repo, check=True).stdout
    assert "1 spool file(s) hold activity not recorded yet" in shown
    assert json.loads(run_prtrace("push", "--dry-run", "--json", cwd=repo, check=True).stdout)["spool_files_not_recorded"] == 1
    assert _buffer_state(prtrace_home) == before  # the commit is still only in the spool
    assert any(p.name.endswith(".spool") for p in (prtrace_home / "spool").iterdir())


def test_json_without_dry_run_is_refused(repo: Path) -> None:
    result = run_prtrace("push", "--json", "--server", "http://127.0.0.1:9", cwd=repo)
    assert result.returncode == 1 and result.stderr.startswith("error: --json goes with --dry-run")


def test_dry_run_splits_batches_as_a_push_does(repo: Path, prtrace_home: Path) -> None:
    """Over 1,000 events: two batches, cut by seq, every event once."""
    trace_id = _session(repo)
    with sqlite3.connect(prtrace_home / "buffer.db") as conn:
        (last,) = conn.execute("SELECT last_seq FROM traces WHERE trace_id = ?", (trace_id,)).fetchone()
    _append_notes(prtrace_home, trace_id, last, 1100)
    bodies = json.loads(run_prtrace("push", "--dry-run", "--json", cwd=repo, check=True).stdout)["batches"]
    seqs = [e["seq"] for b in bodies for e in b["events"]]
    assert len(bodies) == 2 and len(bodies[0]["events"]) == 1000
    assert seqs == list(range(1, last + 1100 + 1))
    assert "2 batches" in run_prtrace("push", "--dry-run", cwd=repo, check=True).stdout


def _append_notes(home: Path, trace_id: str, after: int, count: int) -> None:
    """Many events at once, as the buffer itself stores them (recording 1,100 notes one
    process each would take minutes)."""
    from prtrace_daemon.buffer import Buffer

    with Buffer(home / "buffer.db") as buffer, buffer.write() as tx:
        for i in range(count):
            assert tx.append(trace_id, "annotation", {"text": f"bulk {i}"}) == after + i + 1

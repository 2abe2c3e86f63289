"""verify, replay, stats and export as a user runs them: the real `prtrace` process, a real
repository, and one clear line and a non-zero exit for every kind of bad input."""

from __future__ import annotations

import contextlib
import copy
import csv
import io
import json
import sqlite3
import subprocess
import tarfile
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pytest

from prtrace_core.stats import LINE_FIELDS
from prtrace_core.tracefile import NotATraceFile, parse_trace_file
from tests.conftest import git, isolate, make_repo, run_prtrace


def _record(repo: Path, branch: str = "feature") -> dict[str, Any]:
    """A short session on `branch`, captured without the daemon; its trace from the buffer."""
    git(repo, "checkout", "-q", "-b", branch)
    run_prtrace("start", "--no-daemon", cwd=repo, check=True)
    (repo / "calc.py").write_text("def add(a, b):\n    return a + b\n\n\ndef mul(a, b):\n    return a * b\n")
    (repo / "tool.sh").write_text("#!/bin/sh\necho hi\n")
    (repo / "tool.sh").chmod(0o755)
    run_prtrace("note", "mul and a tool", cwd=repo, check=True)
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "mul")
    (repo / "calc.py").write_text("def add(a, b):\n    return a + b\n")
    run_prtrace("note", "took mul out again", cwd=repo, check=True)
    shown = run_prtrace("show", branch, "--json", "--local", cwd=repo, check=True)
    return dict(json.loads(shown.stdout))


@dataclass(frozen=True)
class Recorded:
    """A recorded session: its repository (on branch `feature`), the PRTRACE_HOME holding it,
    and its trace as `show --json` gave it."""

    repo: Path
    home: Path
    trace: dict[str, Any]


@pytest.fixture(scope="module")
def recorded_once(tmp_path_factory: pytest.TempPathFactory) -> Recorded:
    """`_record`, once for the tests that only read what it recorded."""
    root = tmp_path_factory.mktemp("recorded")
    home = root / "home"
    home.mkdir()
    with pytest.MonkeyPatch.context() as env:
        isolate(env, home)
        repo = make_repo(root / "repo")
        trace = _record(repo)
    return Recorded(repo, home, trace)


@pytest.fixture
def recorded(recorded_once: Recorded, monkeypatch: pytest.MonkeyPatch) -> Iterator[Recorded]:
    """The shared recording, its PRTRACE_HOME this test's; afterwards, the buffer must still
    hold just what was recorded (the tests that use it only read)."""
    monkeypatch.setenv("PRTRACE_HOME", str(recorded_once.home))
    yield replace(recorded_once, trace=copy.deepcopy(recorded_once.trace))
    with contextlib.closing(sqlite3.connect(recorded_once.home / "buffer.db")) as db:
        (count,) = db.execute("SELECT count(*) FROM events").fetchone()
    assert count == len(recorded_once.trace["events"]), "a reading test changed the shared recording"


def _one_line_error(proc: subprocess.CompletedProcess[str], code: int, text: str) -> None:
    assert proc.returncode == code, (proc.stdout, proc.stderr)
    assert "Traceback" not in proc.stderr
    first = proc.stderr.strip().splitlines()[0]
    assert first.startswith("error:") and text in first, proc.stderr


def test_verify_a_clean_trace_exits_0_and_names_each_check(recorded: Recorded) -> None:
    repo = recorded.repo
    out = run_prtrace("verify", "feature", "--local", cwd=repo)
    assert out.returncode == 0, out.stdout + out.stderr
    for check in ("seq_gap", "ts_order", "start", "file_chain", "diff_apply", "commit_state", "clean"):
        assert check in out.stdout
    report = json.loads(run_prtrace("verify", "feature", "--local", "--json", cwd=repo, check=True).stdout)
    assert report["ok"] is True and report["faults"] == [] and "commit_state" in report["checked"]


def test_verify_a_trace_file_with_a_fault_exits_1_naming_check_and_seq(recorded: Recorded, tmp_path: Path) -> None:
    repo, trace = recorded.repo, recorded.trace
    edit = [e for e in trace["events"] if e["type"] == "edit" and e["payload"]["file"] == "calc.py"][-1]
    edit["payload"]["before_sha"] = "f" * 40
    bad = tmp_path / "trace.json"
    bad.write_text(json.dumps(trace))
    out = run_prtrace("verify", str(bad), cwd=repo)
    assert out.returncode == 1
    assert "file_chain" in out.stdout and f"seq {edit['seq']}" in out.stdout and "1 fault" in out.stdout
    report = json.loads(run_prtrace("verify", str(bad), "--json", cwd=tmp_path).stdout)
    assert [f["check"] for f in report["faults"]] == ["file_chain"]
    assert any("not inside a repository" in note for note in report["notes"])


def test_verify_against_a_repository_without_the_base_commit_exits_2(recorded: Recorded, tmp_path: Path) -> None:
    trace = recorded.trace
    path = tmp_path / "trace.json"
    path.write_text(json.dumps(trace))
    other = tmp_path / "shallow"
    other.mkdir()
    git(other, "init", "-q")
    _one_line_error(run_prtrace("verify", str(path), "--repo", str(other), cwd=tmp_path), 2, "does not have")


def test_replay_to_a_folder_is_the_commit_and_refuses_what_it_cannot_do(recorded: Recorded, tmp_path: Path) -> None:
    repo, trace = recorded.repo, recorded.trace
    commit = next(e for e in trace["events"] if e["type"] == "commit")
    out = tmp_path / "replayed"
    run_prtrace("replay", "feature", "--local", "--at", str(commit["seq"]), "--to", str(out), cwd=repo, check=True)
    archive = subprocess.run(["git", "archive", commit["payload"]["sha"]], cwd=repo, capture_output=True, check=True).stdout
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        for member in tar.getmembers():
            if member.isfile():
                data = tar.extractfile(member)
                assert data is not None and (out / member.name).read_bytes() == data.read()
                assert bool((out / member.name).stat().st_mode & 0o100) == bool(member.mode & 0o100), member.name
    last = trace["events"][-1]["seq"]
    _one_line_error(run_prtrace("replay", "feature", "--local", "--at", str(last + 5), "--to", str(tmp_path / "x"), cwd=repo),
                    1, f"seq {last + 5} is not in the trace")
    _one_line_error(run_prtrace("replay", "feature", "--local", "--to", str(out), cwd=repo), 1, "not an empty folder")
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    _one_line_error(run_prtrace("replay", "feature", "--local", "--to", str(blocker / "sub"), cwd=repo), 1, "cannot write")
    assert not (tmp_path / "x").exists()


def test_replay_without_to_prints_the_timeline_with_diffs(recorded: Recorded) -> None:
    out = run_prtrace("replay", "feature", "--local", cwd=recorded.repo, check=True).stdout
    assert "seq 1" in out and "+def mul(a, b):" in out and "took mul out again" in out


@pytest.mark.parametrize(
    ("content", "message", "command"),
    [(b"{not json", "is not JSON", "show"), (b'{"hello": "world"}', "neither an event", "verify"),
     (b"\xff\xfe", "not UTF-8", "replay"), (b"", "empty", "stats")],
)
def test_a_file_that_is_not_a_trace_is_one_line(tmp_path: Path, content: bytes, message: str, command: str) -> None:
    # Every reading command reads a file through parse_trace_file: each kind of bad file is
    # refused there, and said in one line by a real command (a different one for each kind).
    path = tmp_path / "bad.json"
    path.write_bytes(content)
    with pytest.raises(NotATraceFile, match=message):
        parse_trace_file(content, str(path))
    _one_line_error(run_prtrace(command, str(path), cwd=tmp_path), 1, message)


def test_a_ref_that_matches_nothing_is_one_line(recorded: Recorded, tmp_path: Path) -> None:
    repo = recorded.repo
    for command in ("show", "verify", "replay", "stats"):
        _one_line_error(run_prtrace(command, "no-such-branch", "--local", cwd=repo), 1, "no trace matches")
    _one_line_error(run_prtrace("verify", str(tmp_path / "missing.json"), cwd=repo), 1, "cannot read")


def test_a_pr_with_two_traces_is_one_for_stats_and_ambiguous_for_verify(repo: Path) -> None:
    git(repo, "remote", "add", "origin", "https://github.com/acme/calc.git")
    _record(repo, "feature")
    run_prtrace("pr", "7", cwd=repo, check=True)
    git(repo, "commit", "-qam", "wip")
    git(repo, "checkout", "-q", "main")
    git(repo, "checkout", "-q", "-b", "second")
    (repo / "second.txt").write_text("more\n")
    run_prtrace("note", "second branch", cwd=repo, check=True)
    run_prtrace("pr", "7", cwd=repo, check=True)
    _one_line_error(run_prtrace("verify", "PR-7", "--local", cwd=repo), 1, "matches 2 traces")
    stats = json.loads(run_prtrace("stats", "PR-7", "--local", "--json", cwd=repo, check=True).stdout)
    assert len(stats["traces"]) == 2 and stats["total"]["traces"] == 2
    assert stats["total"]["edits"] == sum(t["edits"] for t in stats["traces"])
    rows = list(csv.DictReader(io.StringIO(run_prtrace("stats", "PR-7", "--local", "--csv", cwd=repo, check=True).stdout)))
    assert [r["trace_id"] for r in rows][-1] == "total" and len(rows) == 3
    table = run_prtrace("stats", "PR-7", "--local", cwd=repo, check=True).stdout
    assert "red→green" in table and "total" in table


def test_export_round_trips_through_duckdb_and_pandas(recorded: Recorded, tmp_path: Path) -> None:
    duckdb = pytest.importorskip("duckdb")
    pandas = pytest.importorskip("pandas")
    repo, trace = recorded.repo, recorded.trace
    by_type = Counter(e["type"] for e in trace["events"])
    jsonl, parquet, folder = tmp_path / "t.jsonl", tmp_path / "t.parquet", tmp_path / "lake"
    run_prtrace("export", "feature", "--local", "--out", str(jsonl), cwd=repo, check=True)
    run_prtrace("export", "feature", "--local", "--out", str(parquet), cwd=repo, check=True)
    folder.mkdir()
    run_prtrace("export", "feature", "--local", "--out", str(folder), cwd=repo, check=True)
    rows = [json.loads(line) for line in jsonl.read_text().splitlines()]
    assert Counter(r["type"] for r in rows) == by_type
    counted = dict(duckdb.sql(f"SELECT type, count(*) FROM '{parquet}' GROUP BY type").fetchall())
    assert counted == by_type
    hive = duckdb.sql(
        f"SELECT repo, type, count(*) FROM read_parquet('{folder}/**/*.parquet', hive_partitioning=true) GROUP BY ALL"
    ).fetchall()
    assert {t: n for _repo, t, n in hive} == by_type and {r for r, _t, _n in hive} == {"repo"}
    frame = pandas.read_parquet(parquet)
    assert frame["type"].value_counts().to_dict() == by_type
    assert str(frame["ts"].dtype).startswith("datetime64") and frame["seq"].is_monotonic_increasing
    first_edit = frame[frame["type"] == "edit"].iloc[0]
    assert json.loads(first_edit["payload"])["file"] == first_edit["file"]
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    _one_line_error(run_prtrace("export", "feature", "--local", "--out", str(blocker / "t.jsonl"), cwd=repo), 1, "cannot write")
    _one_line_error(run_prtrace("export", "feature", "--local", "--format", "jsonl", "--out", str(folder), cwd=repo), 1, "folder")


def test_a_trace_file_of_export_rows_reads_back_as_the_trace(recorded: Recorded, tmp_path: Path) -> None:
    repo, trace = recorded.repo, recorded.trace
    jsonl = tmp_path / "rows.jsonl"
    run_prtrace("export", "feature", "--local", "--out", str(jsonl), cwd=repo, check=True)
    report = json.loads(run_prtrace("verify", str(jsonl), "--json", cwd=repo, check=True).stdout)
    assert report["ok"] and report["events"] == len(trace["events"])
    back = json.loads(run_prtrace("show", str(jsonl), "--json", cwd=repo, check=True).stdout)
    assert [e["event_id"] for e in back["events"]] == [e["event_id"] for e in trace["events"]]
    again = tmp_path / "again.jsonl"
    run_prtrace("export", str(jsonl), "--out", str(again), cwd=tmp_path, check=True)  # line by line
    assert again.read_text() == jsonl.read_text()
    broken = tmp_path / "broken.jsonl"
    broken.write_text(jsonl.read_text() + "{oops\n")
    _one_line_error(run_prtrace("export", str(broken), "--out", str(tmp_path / "b.jsonl"), cwd=tmp_path), 1, "line")
    assert not (tmp_path / "b.jsonl").exists()


def test_export_writes_a_dataset_to_s3(recorded: Recorded, tmp_path: Path, s3_server: Any, s3_bucket: str) -> None:
    pq = pytest.importorskip("pyarrow.parquet")
    repo, trace = recorded.repo, recorded.trace
    run_prtrace("export", "feature", "--local", "--out", f"s3://{s3_bucket}/lake/", cwd=repo, check=True, env=s3_server.env())
    client = s3_server.client()
    keys = [o["Key"] for o in client.list_objects_v2(Bucket=s3_bucket, Prefix="lake/")["Contents"]]
    assert keys and all(k.startswith("lake/repo=repo/date=") and k.endswith(".parquet") for k in keys)
    rows = 0
    for key in keys:
        local = tmp_path / key.replace("/", "_")
        client.download_file(s3_bucket, key, str(local))
        rows += pq.read_table(local).num_rows
    assert rows == len(trace["events"])


def test_replay_in_a_terminal_waits_for_a_key_between_events(recorded: Recorded) -> None:
    import os
    import pty
    import select

    from tests.conftest import BIN
    from tests.support.waiting import blocked_reading, wait_for

    repo, trace = recorded.repo, recorded.trace
    pid, fd = pty.fork()
    if pid == 0:  # the child: prtrace in a terminal
        os.chdir(repo)
        os.execv(str(BIN / "prtrace"), [str(BIN / "prtrace"), "replay", "feature", "--local"])
    seen = b""

    def read_until(marker: bytes, timeout: float = 20) -> None:
        def arrived() -> bool:  # select() is the wait: no sleep between reads
            nonlocal seen
            if marker not in seen and select.select([fd], [], [], 0.2)[0]:
                try:
                    seen += os.read(fd, 65536)
                except OSError:  # the terminal closed: the marker will never come
                    raise AssertionError(seen.decode(errors="replace")) from None
            return marker in seen

        wait_for(arrived, lambda: f"{marker!r} in {seen.decode(errors='replace')}", timeout, 0)

    try:
        read_until(b"seq 1")
        wait_for(lambda: blocked_reading(pid), "replay to wait for a key")
        while select.select([fd], [], [], 0)[0]:  # all it printed before it blocked
            seen += os.read(fd, 65536)
        assert b"seq 2" not in seen  # it waits for a key
        os.write(fd, b" ")
        read_until(b"seq 2")
        assert b"seq 3" not in seen
        os.write(fd, b"q")

        def stopped() -> tuple[int, int] | None:
            done, status = os.waitpid(pid, os.WNOHANG)
            return (done, status) if done else None

        _, status = wait_for(stopped, "prtrace replay to stop at q", 20)
        assert os.waitstatus_to_exitcode(status) == 0
        assert f"seq {trace['events'][-1]['seq']} ".encode() not in seen
    finally:
        os.close(fd)
        with contextlib.suppress(ProcessLookupError, ChildProcessError):
            os.kill(pid, 9)
            os.waitpid(pid, 0)


@pytest.mark.e2e
def test_a_repository_from_the_server_exports_and_measures_as_it_does_locally(repo: Path, tmp_path: Path, server_url: str) -> None:
    git(repo, "remote", "add", "origin", "https://github.com/acme/calc.git")
    trace = _record(repo)
    run_prtrace("push", "--server", server_url, cwd=repo, check=True)
    local = json.loads(run_prtrace("stats", "--repo", "acme/calc", "--local", "--json", cwd=repo, check=True).stdout)
    remote = json.loads(run_prtrace("stats", "--repo", "acme/calc", "--since", "1d", "--server", server_url, "--json", cwd=repo, check=True).stdout)
    # who wrote the committed lines is read from the traces' commits, not from the server's index
    client_only = {"developer", "commit_lines", *LINE_FIELDS}
    figures = {k: v for k, v in local["traces"][0].items() if k not in client_only}
    assert {k: remote["traces"][0][k] for k in figures} == figures
    assert remote["total"] == {k: v for k, v in local["total"].items() if k not in client_only}
    out = tmp_path / "calc.jsonl"
    run_prtrace("export", "--repo", "acme/calc", "--server", server_url, "--out", str(out), cwd=repo, check=True)
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["event_id"] for r in rows] == [e["event_id"] for e in trace["events"]]
    assert all(isinstance(r["server_seq"], int) for r in rows)
    _one_line_error(run_prtrace("export", "--repo", "acme/none", "--server", server_url, "--out", str(tmp_path / "none.jsonl"), cwd=repo),
                    1, "no event matches")
    assert not (tmp_path / "none.jsonl").exists()

"""prtrace benchmarks. Each one measures against a baseline in the same run and records the
ratio in docs/benchmarks.md, because absolute times on a shared 2-core machine are noise."""

from __future__ import annotations

import argparse
import gzip
import json
import os
import platform
import random
import re
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from prtrace_core.canonical import event_id  # noqa: E402
from prtrace_server.devstack import (  # noqa: E402
    S3_ACCESS_KEY,
    S3_SECRET_KEY,
    free_port,
    start_postgres,
    start_s3,
)
from prtrace_server.ingest import index_columns  # noqa: E402

BIN = Path(sys.executable).parent
WORDS = ["parser", "token", "request", "handler", "cache", "retry", "timeout", "config", "session", "user", "item", "value", "result", "error"]


# ---------------------------------------------------------------- realistic events


def _diff(rng: random.Random, lines: int) -> str:
    start = rng.randint(1, 400)
    body = []
    for _ in range(lines):
        words = " ".join(rng.choice(WORDS) for _ in range(rng.randint(3, 8)))
        body.append(f"{rng.choice('+- ')}    {words}")
    return f"@@ -{start},{lines} +{start},{lines} @@\n" + "\n".join(body) + "\n"


def make_events(n: int, *, heavy: bool, seed: int) -> list[dict[str, Any]]:
    """n events shaped like a real session: mostly edits, some commands/tests/commits/notes.
    The light mix averages ~350 bytes of payload; the heavy one carries multi-KiB diffs."""
    rng = random.Random(seed)
    t0 = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)
    events = []
    for i in range(n):
        ts = (t0 + timedelta(milliseconds=700 * i)).strftime("%Y-%m-%dT%H:%M:%S.") + f"{(700 * i) % 1000:03d}Z"
        roll = rng.random()
        path = f"src/{rng.choice(WORDS)}/{rng.choice(WORDS)}.py"
        if roll < 0.6:
            snippet = _diff(rng, rng.randint(40, 120) if heavy else 4)
            payload: dict[str, Any] = {
                "file": path, "op": "modify", "change_summary": f"+{rng.randint(1, 9)}/-{rng.randint(0, 5)}",
                "diff_snippet": snippet[:220], "before_sha": f"{rng.getrandbits(160):040x}",
                "after_sha": f"{rng.getrandbits(160):040x}",
            }
            if heavy:
                payload["diff"] = f"--- a/{path}\n+++ b/{path}\n" + snippet
            kind = "edit"
        elif roll < 0.75:
            kind, payload = "command", {
                "command": f"git {rng.choice(['status', 'diff', 'log --oneline'])}", "exit_code": 0,
                "stdout_sample": " ".join(rng.choice(WORDS) for _ in range(25)), "duration_ms": rng.randint(5, 900),
                "cwd": "/home/dev/webapp",
            }
        elif roll < 0.88:
            failed = rng.randint(0, 2)
            kind, payload = "test", {
                "command": "pytest -q", "exit_code": int(failed > 0), "framework": "pytest",
                "passed": rng.randint(10, 200), "failed": failed, "skipped": 0, "errors": 0,
                "failed_tests": [f"tests/test_{rng.choice(WORDS)}.py::test_{rng.choice(WORDS)}" for _ in range(failed)],
                "duration_ms": rng.randint(500, 9000),
            }
        elif roll < 0.94:
            kind, payload = "commit", {
                "sha": f"{rng.getrandbits(160):040x}", "message": f"fix: handle {rng.choice(WORDS)} {rng.choice(WORDS)}",
                "files_changed": rng.randint(1, 6), "insertions": rng.randint(1, 80), "deletions": rng.randint(0, 40),
                "parents": [f"{rng.getrandbits(160):040x}"], "branch": "fix-login",
            }
        else:
            kind, payload = "annotation", {"text": " ".join(rng.choice(WORDS) for _ in range(20))}
        events.append({"seq": i + 1, "ts": ts, "type": kind, "payload": payload})
    return events


def envelope(trace_id: str) -> dict[str, Any]:
    return {
        "trace_id": trace_id,
        "repo": {"name": "acme/webapp", "branch": "fix-login", "language": ["python"]},
        "pr": None,
        "developer": {"user_id": str(uuid.uuid4()), "ide_version": "bench", "os": "Linux"},
    }


# ---------------------------------------------------------------- the real server


@contextmanager
def serving(env: dict[str, str], *, separate_worker: bool = False, processes: int = 1) -> Iterator[str]:
    """`prtrace-server serve` as configured: with its in-process compaction worker, or (as a
    deployment on PostgreSQL + S3 runs) `--no-worker` beside a `prtrace-server worker`."""
    port = free_port()
    full_env = {**os.environ, "PRTRACE_AUTH": "off", **env}
    args = [str(BIN / "prtrace-server"), "serve", "--host", "127.0.0.1", "--port", str(port), "--processes", str(processes)]
    quiet = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL}
    proc = subprocess.Popen([*args, "--no-worker"] if separate_worker else args, env=full_env, **quiet)  # type: ignore[call-overload]
    worker = subprocess.Popen([str(BIN / "prtrace-server"), "worker"], env=full_env, **quiet) if separate_worker else None  # type: ignore[call-overload]
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(300):
            try:
                if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.1)
        yield url
    finally:
        for process in (proc, worker):
            if process is not None:
                process.terminate()
                process.wait(timeout=30)


def server_rate(url: str, streams: list[list[dict[str, Any]]]) -> float:
    """Events per second through POST /v1/batches: one client per stream (a trace's batches,
    in order), all at once, gzip bodies as `prtrace push` sends them."""
    headers = {"Content-Type": "application/json", "Content-Encoding": "gzip"}
    bodies = [[gzip.compress(json.dumps(b).encode(), 5) for b in stream] for stream in streams]
    failures: list[BaseException] = []

    def push(stream: list[bytes]) -> None:
        try:
            with httpx.Client(timeout=120) as client:
                for body in stream:
                    answer = client.post(f"{url}/v1/batches", content=body, headers=headers)
                    answer.raise_for_status()
                    assert not answer.json()["rejected"], answer.json()["rejected"][:1]
        except BaseException as exc:
            failures.append(exc)

    threads = [threading.Thread(target=push, args=(stream,)) for stream in bodies]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - started
    if failures:
        raise failures[0]
    return sum(len(b["events"]) for stream in streams for b in stream) / elapsed


def index_rows(batches: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
    """The events_index rows the server would write for these batches."""
    rows = []
    server_seq = 0
    for batch in batches:
        key = f"batches/{batch['trace_id']}/{'0' * 64}.ndjson"
        for event in batch["events"]:
            server_seq += 1
            cols = index_columns(event["payload"])
            rows.append((
                event_id(batch["trace_id"], event), batch["trace_id"], event["seq"], server_seq, 0, event["ts"],
                event["type"], "2026-11-24T10:00:00.000Z", key, cols["file"], cols["command"], cols["exit_code"],
                cols["passed"], cols["failed"], cols["sha"],
            ))
    return rows


def _schema(table: str) -> list[str]:
    """events_index as the migrations make it (its columns and every index), named `table`,
    without the foreign key (the baseline has no traces table)."""
    text = "\n".join(p.read_text() for p in sorted((ROOT / "server" / "migrations").glob("*.sql")))
    match = re.search(r"CREATE TABLE events_index \((.*?)\n\);", text, re.S)
    assert match is not None
    statements = [f"CREATE TABLE {table} ({match.group(1).replace('REFERENCES traces (trace_id)', '')})"]
    for index in re.findall(r"CREATE INDEX (\w+) ON events_index (\([^)]*\))", text):
        statements.append(f"CREATE INDEX {table}_{index[0]} ON {table} {index[1]}")
    return statements


def sqlite_rate(rows: list[tuple[Any, ...]], folder: Path) -> float:
    """SQLite's own executemany into the same table, in one transaction per 1,000 rows (WAL,
    synchronous=FULL as the server runs it)."""
    conn = sqlite3.connect(folder / "raw.db", isolation_level=None)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = FULL")
    for statement in _schema("events_index"):
        conn.execute(statement)
    started = time.perf_counter()
    for i in range(0, len(rows), 1000):
        conn.execute("BEGIN IMMEDIATE")
        conn.executemany(f"INSERT INTO events_index VALUES ({', '.join('?' * 15)})", rows[i : i + 1000])
        conn.execute("COMMIT")
    elapsed = time.perf_counter() - started
    conn.close()
    return len(rows) / elapsed


def copy_rate(rows: list[tuple[Any, ...]], url: str) -> float:
    """PostgreSQL's own COPY of the same rows into the same table, one transaction per 1,000."""
    import psycopg

    with psycopg.connect(url) as conn:
        for statement in _schema("raw_events_index"):
            conn.execute(statement)
        conn.commit()
        started = time.perf_counter()
        for i in range(0, len(rows), 1000):
            with conn.cursor().copy("COPY raw_events_index FROM STDIN") as copy:
                for row in rows[i : i + 1000]:
                    copy.write_row(row)
            conn.commit()
        elapsed = time.perf_counter() - started
    return len(rows) / elapsed


def bench_ingest(n_batches: int, clients: int) -> list[dict[str, Any]]:
    results = []
    with tempfile.TemporaryDirectory(prefix="prtrace-bench-") as tmp:
        work = Path(tmp)
        pg = start_postgres(work / "pgdata")
        s3 = start_s3(work / "s3")
        try:
            for mix in ("light", "diff-heavy"):
                for config in ("embedded", "postgres+s3"):
                    name = f"b{len(results)}"
                    # the same events for every run of this mix, under fresh trace ids
                    events = make_events(1000 * n_batches, heavy=mix == "diff-heavy", seed=7)
                    payload_bytes = sum(len(json.dumps(e["payload"])) for e in events) / len(events)

                    def streams(n: int, events: list[dict[str, Any]] = events) -> list[list[dict[str, Any]]]:
                        per = len(events) // n
                        out = []
                        for part in range(n):
                            head = envelope(str(uuid.uuid4()))
                            chunk = events[part * per : (part + 1) * per]
                            out.append([{**head, "events": chunk[i : i + 1000]} for i in range(0, len(chunk), 1000)])
                        return out

                    one, many = streams(1), streams(clients)
                    rows = index_rows(one[0])
                    if config == "embedded":
                        env = {"PRTRACE_DATA_DIR": str(work / name)}
                        baseline_name, baseline = "SQLite executemany", sqlite_rate(rows, _fresh(work / f"{name}-raw"))
                    else:
                        pg.create_database(name)
                        s3.create_bucket(f"bench-{name}")
                        env = {
                            "PRTRACE_DATA_DIR": str(work / name), "PRTRACE_DATABASE_URL": pg.url(name),
                            "PRTRACE_STORAGE_URL": f"s3://bench-{name}", "AWS_ENDPOINT_URL": s3.endpoint,
                            "AWS_ACCESS_KEY_ID": S3_ACCESS_KEY, "AWS_SECRET_ACCESS_KEY": S3_SECRET_KEY,
                            "AWS_REGION": "us-east-1",
                        }
                        baseline_name, baseline = "PostgreSQL COPY", copy_rate(rows, pg.url(name))
                    with serving(env, separate_worker=config != "embedded") as url:
                        rate_one = server_rate(url, one)
                    with serving(env, separate_worker=config != "embedded", processes=os.cpu_count() or 1) as url:
                        rate_many = server_rate(url, many)
                    results.append({
                        "mix": mix, "config": config, "events": len(events), "payload_bytes": payload_bytes,
                        "clients": clients, "server_eps_1": rate_one, "server_eps_n": rate_many,
                        "baseline": baseline_name, "baseline_eps": baseline,
                    })
                    print(
                        f"{mix:10} {config:12} 1 client {rate_one:8,.0f} ev/s  {clients} clients {rate_many:8,.0f} ev/s"
                        f"   {baseline_name} {baseline:8,.0f} rows/s   ratios {rate_one / baseline:.2f} {rate_many / baseline:.2f}",
                        flush=True,
                    )
        finally:
            s3.stop()
            pg.stop()
    return results


def _fresh(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    return folder


# ---------------------------------------------------------------- the capture daemon


def _proc_stats(pid: int) -> tuple[float, int]:
    """(CPU seconds used so far, resident set in bytes) of a process, from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    ticks = os.sysconf("SC_CLK_TCK")
    cpu = (int(fields[11]) + int(fields[12])) / ticks
    rss = int(fields[21]) * os.sysconf("SC_PAGE_SIZE")
    return cpu, rss


def _edit_count(db: Path) -> int:
    conn = sqlite3.connect(db)
    try:
        return int(conn.execute("SELECT COUNT(*) FROM events WHERE type = 'edit'").fetchone()[0])
    finally:
        conn.close()


def bench_daemon(n_files: int, n_edits: int, idle_s: float, saves: int) -> dict[str, Any]:
    """Save→event latency, idle cost, and a burst of edits in a big repo, for a real daemon."""
    from prtrace_core.timestamps import parse_ts

    with tempfile.TemporaryDirectory(prefix="prtrace-bench-") as tmp:
        work = Path(tmp)
        repo = work / "repo"
        env = {**os.environ, "PRTRACE_HOME": str(work / "home"), "GIT_CONFIG_NOSYSTEM": "1",
               "GIT_AUTHOR_NAME": "b", "GIT_AUTHOR_EMAIL": "b@b", "GIT_COMMITTER_NAME": "b", "GIT_COMMITTER_EMAIL": "b@b"}
        repo.mkdir()
        per_dir = 100
        paths = []
        for i in range(n_files):
            folder = repo / f"pkg{i // per_dir:04d}"
            if i % per_dir == 0:
                folder.mkdir()
            path = folder / f"mod{i % per_dir:03d}.py"
            path.write_text(f"VALUE = {i}\n")
            paths.append(path)
        (repo / "node_modules" / "dep").mkdir(parents=True)  # generated: must cost nothing
        for i in range(2000):
            (repo / "node_modules" / "dep" / f"f{i}.js").write_text("x\n")
        (repo / ".gitignore").write_text("node_modules/\n")
        for args in (["init", "-q", "-b", "main"], ["add", "-A"], ["commit", "-qm", "bench"]):
            subprocess.run(["git", *args], cwd=repo, env=env, check=True)
        prtrace = str(BIN / "prtrace")
        started = time.perf_counter()
        subprocess.run([prtrace, "start"], cwd=repo, env=env, check=True, capture_output=True)
        start_s = time.perf_counter() - started
        pid = int((work / "home" / "daemon.pid").read_text().split()[0])
        db = work / "home" / "buffer.db"
        try:
            time.sleep(2)
            # save -> event latency, one save at a time, a few hundred ms apart
            latencies = []
            for n in range(saves):
                path = paths[(n * 7919) % len(paths)]
                before = _edit_count(db)
                saved = datetime.now(UTC)
                path.write_text(f"VALUE = {n} # saved\n")
                while _edit_count(db) == before:
                    time.sleep(0.005)
                conn = sqlite3.connect(db)
                (ts,) = conn.execute("SELECT ts FROM events WHERE type = 'edit' ORDER BY trace_id, seq DESC LIMIT 1").fetchone()
                conn.close()
                latencies.append(max(0.0, (parse_ts(ts) - saved).total_seconds()))
                time.sleep(0.2)
            latencies.sort()
            # idle
            cpu0, _ = _proc_stats(pid)
            rss_idle = 0
            t0 = time.perf_counter()
            while time.perf_counter() - t0 < idle_s:
                time.sleep(1)
                rss_idle = max(rss_idle, _proc_stats(pid)[1])
            cpu1, _ = _proc_stats(pid)
            idle_cpu = (cpu1 - cpu0) / (time.perf_counter() - t0)
            # a burst: n_edits files rewritten as fast as Python can
            before = _edit_count(db)
            cpu0, _ = _proc_stats(pid)
            rss_burst = 0
            t0 = time.perf_counter()
            for n, path in enumerate(paths[:n_edits]):
                path.write_text(f"VALUE = {n} # burst\n")
            written_s = time.perf_counter() - t0
            while _edit_count(db) < before + n_edits:
                rss_burst = max(rss_burst, _proc_stats(pid)[1])
                time.sleep(0.2)
                if time.perf_counter() - t0 > 600:
                    raise RuntimeError("the burst was not recorded within 10 minutes")
            burst_s = time.perf_counter() - t0
            cpu1, _ = _proc_stats(pid)
            rss_burst = max(rss_burst, _proc_stats(pid)[1])
        finally:
            subprocess.run([prtrace, "stop"], cwd=repo, env=env, capture_output=True)
    pick = lambda q: latencies[min(len(latencies) - 1, int(q * len(latencies)))]  # noqa: E731
    return {
        "files": n_files, "edits": n_edits, "saves": saves, "start_s": start_s,
        "p50": pick(0.5), "p95": pick(0.95), "max": latencies[-1],
        "idle_s": idle_s, "idle_cpu": idle_cpu, "rss_idle": rss_idle,
        "burst_write_s": written_s, "burst_s": burst_s, "burst_cpu_s": cpu1 - cpu0, "rss_burst": rss_burst,
    }


def daemon_section(r: dict[str, Any], command: str) -> str:
    mib = 1024 * 1024
    return "\n".join([
        f"Command: `{command}`  ",
        f"Machine: {machine()}  ",
        f"Date: {datetime.now(UTC):%Y-%m-%d}",
        "",
        f"A real `prtrace daemon` (started by `prtrace start`, default debounce) on a repo of {r['files']:,} files",
        f"in {r['files'] // 100:,} folders, plus a git-ignored `node_modules/` of 2,000 files that must cost nothing.",
        "",
        "| measure | figure | aim |",
        "|---|---:|---:|",
        f"| `prtrace start` (register, snapshot, start the daemon, catch up) | {r['start_s']:.2f} s | |",
        f"| save → edit event in the buffer, p50 ({r['saves']} saves) | {r['p50'] * 1000:.0f} ms | |",
        f"| save → edit event in the buffer, p95 | {r['p95'] * 1000:.0f} ms | < 1,500 ms |",
        f"| daemon CPU while idle for {r['idle_s']:.0f} s | {r['idle_cpu'] * 100:.2f} % | < 1 % |",
        f"| daemon RSS while idle | {r['rss_idle'] / mib:.0f} MB | < 80 MB |",
        f"| {r['edits']:,} files rewritten in {r['burst_write_s']:.1f} s: all recorded after | {r['burst_s']:.1f} s | |",
        f"| daemon CPU for that burst | {r['burst_cpu_s']:.1f} s | |",
        f"| daemon RSS peak during the burst | {r['rss_burst'] / mib:.0f} MB | < 80 MB |",
    ])


# ---------------------------------------------------------------- git hooks and the CLI


def _timed(argv: list[str], *, cwd: Path, env: dict[str, str], runs: int, settle: float = 0.0) -> float:
    """Median seconds of `runs` runs of a command (`settle` s apart: time for the daemon to
    take the previous one, as between two commands a person types)."""
    times = []
    for _ in range(runs):
        time.sleep(settle)
        started = time.perf_counter()
        subprocess.run(argv, cwd=cwd, env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        times.append(time.perf_counter() - started)
    times.sort()
    return times[len(times) // 2]


def _installed(work: Path) -> Path:
    """prtrace installed as users get it (a wheel, not this checkout's editable install, whose
    import hook alone costs ~15 ms at every Python start); returns its bin folder."""
    venv = work / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    subprocess.run([str(venv / "bin" / "pip"), "install", "-q", "--disable-pip-version-check", str(ROOT)],
                   check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return venv / "bin"


def bench_hooks(commits: int, runs: int) -> dict[str, Any]:
    """Per-commit cost of prtrace's git hooks, and the start-up cost of `note` and `run`."""
    with tempfile.TemporaryDirectory(prefix="prtrace-bench-") as tmp:
        work = Path(tmp)
        bin_dir = _installed(work)
        # No PRTRACE_HOME: the state folder is found as a user's is, under this HOME.
        env = {k: v for k, v in os.environ.items() if k not in ("PRTRACE_HOME", "XDG_DATA_HOME")}
        env.update({"HOME": str(work), "GIT_CONFIG_NOSYSTEM": "1", "GIT_AUTHOR_NAME": "b", "GIT_AUTHOR_EMAIL": "b@b",
                    "GIT_COMMITTER_NAME": "b", "GIT_COMMITTER_EMAIL": "b@b"})
        prtrace = str(bin_dir / "prtrace")
        results: dict[str, Any] = {"commits": commits, "runs": runs}
        for label, hooked in (("bare", False), ("hooked", True)):
            repo = work / label
            repo.mkdir()
            subprocess.run(["git", "init", "-q", "-b", "main"], cwd=repo, env=env, check=True)
            (repo / "f.txt").write_text("0\n")
            subprocess.run(["git", "add", "."], cwd=repo, env=env, check=True)
            subprocess.run(["git", "commit", "-qm", "0"], cwd=repo, env=env, check=True)
            if hooked:
                subprocess.run([prtrace, "start", "--no-daemon"], cwd=repo, env=env, check=True, capture_output=True)
            started = time.perf_counter()
            for n in range(commits):
                subprocess.run(["git", "commit", "-q", "--allow-empty", "-m", str(n)], cwd=repo, env=env, check=True)
            results[f"commit_{label}"] = (time.perf_counter() - started) / commits
        repo = work / "hooked"
        python = str(bin_dir / "python")
        results["floor"] = _timed([python, "-c", "import typer, rich"], cwd=repo, env=env, runs=runs)
        results["python"] = _timed([python, "-c", "pass"], cwd=repo, env=env, runs=runs)
        results["true"] = _timed(["true"], cwd=repo, env=env, runs=runs)
        results["note_here"] = _timed([prtrace, "note", "a note"], cwd=repo, env=env, runs=runs)
        results["run_here"] = _timed([prtrace, "run", "--", "true"], cwd=repo, env=env, runs=runs)
        subprocess.run([prtrace, "start"], cwd=repo, env=env, check=True, capture_output=True)  # now with the daemon
        try:
            results["note"] = _timed([prtrace, "note", "a note"], cwd=repo, env=env, runs=runs, settle=0.3)
            results["run_true"] = _timed([prtrace, "run", "--", "true"], cwd=repo, env=env, runs=runs, settle=0.3)
        finally:
            subprocess.run([prtrace, "stop"], cwd=repo, env=env, check=True, capture_output=True)
    return results


def _typed_session(argv: list[str], *, cwd: Path, env: dict[str, str], commands: int) -> float:
    """Seconds an interactive shell takes to run `commands` typed `:` lines, prompt to prompt."""
    import pty
    import select

    marker = b"<<p>>"
    pid, fd = pty.fork()
    if pid == 0:
        os.chdir(cwd)
        os.execvpe(argv[0], argv, env)
    seen = b""

    def until(count: int, timeout: float) -> None:
        nonlocal seen
        deadline = time.monotonic() + timeout
        while seen.count(marker) < count:
            if time.monotonic() > deadline:
                raise RuntimeError(f"{argv[0]}: {seen.count(marker)} prompts of {count}")
            if select.select([fd], [], [], 0.5)[0]:
                seen += os.read(fd, 1 << 16)
                seen = seen[-(1 << 20):] if len(seen) > (1 << 22) else seen

    try:
        until(1, 20)
        seen = b""
        started = time.perf_counter()
        for _ in range(commands):
            os.write(fd, b":\n")
        until(commands, 300)
        elapsed = time.perf_counter() - started
        os.write(fd, b"exit\n")
    finally:
        os.waitpid(pid, 0)
        os.close(fd)
    return elapsed


def bench_shell(commands: int, rounds: int) -> dict[str, Any]:
    """Per-command cost of the shell hooks: the same typed commands in bash (and zsh when it is
    installed) without the hook, with it outside any registered repo, and inside one."""
    results: dict[str, Any] = {"commands": commands, "rounds": rounds}
    with tempfile.TemporaryDirectory(prefix="prtrace-bench-") as tmp:
        work = Path(tmp)
        env = {**os.environ, "PRTRACE_HOME": str(work / "home"), "TERM": "dumb", "HOME": str(work), "HISTFILE": "/dev/null"}
        repo, elsewhere = work / "repo", work / "elsewhere"
        repo.mkdir()
        elsewhere.mkdir()
        subprocess.run(["git", "init", "-q", "-b", "main"], cwd=repo, env=env, check=True)
        subprocess.run([str(BIN / "prtrace"), "start", "--no-daemon"], cwd=repo, env=env, check=True, capture_output=True)
        for shell in ("bash", "zsh"):
            if shutil.which(shell) is None:
                continue
            hook = subprocess.run([str(BIN / "prtrace"), "shell-init", shell], env=env, check=True,
                                  capture_output=True, text=True).stdout
            rcs = {}
            for label, text in (("bare", ""), ("hooked", hook)):
                rc = work / f"{shell}-{label}.rc"
                prompt = "PS1='<<p>>'" if shell == "bash" else "PROMPT='<<p>>'; unsetopt ZLE PROMPT_SP"
                rc.write_text(f"{text}\n{prompt}\n")
                rcs[label] = rc
            cases = {"bare": (rcs["bare"], repo), "outside": (rcs["hooked"], elsewhere), "inside": (rcs["hooked"], repo)}
            timings: dict[str, list[float]] = {label: [] for label in cases}
            for _ in range(rounds):  # interleaved, so drift in the machine's load hits every case alike
                for label, (rc, cwd) in cases.items():
                    if shell == "bash":
                        argv = ["bash", "--rcfile", str(rc), "--noprofile", "-i"]
                        run_env = env
                    else:
                        zdot = work / f"zdot-{rc.stem}"
                        zdot.mkdir(exist_ok=True)
                        shutil.copy(rc, zdot / ".zshrc")
                        argv, run_env = ["zsh", "-i"], {**env, "ZDOTDIR": str(zdot)}
                    timings[label].append(_typed_session(argv, cwd=cwd, env=run_env, commands=commands))
            for label, values in timings.items():
                values.sort()
                results[f"{shell}_{label}"] = values[len(values) // 2] / commands
        spooled = sum(len(p.read_bytes().splitlines()) for p in (work / "home" / "spool").glob("shell.*"))
        results["spooled"] = spooled
    return results


def shell_section(r: dict[str, Any], command: str) -> str:
    us = 1_000_000
    rows = []
    for shell in ("bash", "zsh"):
        if f"{shell}_bare" not in r:
            continue
        bare = r[f"{shell}_bare"]
        rows += [
            f"| {shell}, no hook | {bare * us:.0f} µs | |",
            f"| {shell}, hook, outside registered repos | {r[f'{shell}_outside'] * us:.0f} µs "
            f"| +{(r[f'{shell}_outside'] - bare) * us:.0f} µs |",
            f"| {shell}, hook, inside a registered repo (one spool line each) | {r[f'{shell}_inside'] * us:.0f} µs "
            f"| +{(r[f'{shell}_inside'] - bare) * us:.0f} µs |",
        ]
    return "\n".join([
        f"Command: `{command}`  ",
        f"Machine: {machine()}  ",
        f"Date: {datetime.now(UTC):%Y-%m-%d}",
        "",
        f"{r['commands']} `:` commands typed into an interactive shell through a pseudo-terminal, prompt to",
        f"prompt; median of {r['rounds']} interleaved rounds per case, all in one run. Aim: under 1 ms",
        "(1,000 µs) added per command.",
        "",
        "| case | per command | added by the hook |",
        "|---|---:|---:|",
        *rows,
    ])


def hooks_section(r: dict[str, Any], command: str) -> str:
    ms = 1000
    return "\n".join([
        f"Command: `{command}`  ",
        f"Machine: {machine()}  ",
        f"Date: {datetime.now(UTC):%Y-%m-%d}",
        "",
        f"{r['commits']} `git commit --allow-empty` in a repo without and with prtrace's hooks (one run);",
        f"the CLI figures are medians of {r['runs']} runs of prtrace installed from a wheel in a fresh",
        "virtualenv, beside what any Python or Typer program pays there.",
        "",
        "| measure | figure | aim |",
        "|---|---:|---:|",
        f"| `git commit`, no hooks | {r['commit_bare'] * ms:.1f} ms | |",
        f"| `git commit`, prtrace's post-commit hook | {r['commit_hooked'] * ms:.1f} ms | |",
        f"| overhead per commit | {(r['commit_hooked'] - r['commit_bare']) * ms:.1f} ms | < 5 ms |",
        f"| `python -c pass` | {r['python'] * ms:.0f} ms | |",
        f"| `python -c \"import typer, rich\"` (the floor of a Typer CLI) | {r['floor'] * ms:.0f} ms | |",
        f"| `prtrace note`, daemon running | {r['note'] * ms:.0f} ms | < 80 ms |",
        f"| `prtrace note`, no daemon (the scan runs in the command) | {r['note_here'] * ms:.0f} ms | |",
        f"| `true` | {r['true'] * ms:.1f} ms | |",
        f"| `prtrace run -- true`, daemon running | {r['run_true'] * ms:.0f} ms | |",
        f"| overhead of `prtrace run`, daemon running | {(r['run_true'] - r['true']) * ms:.0f} ms | < 35 ms |",
        f"| overhead of `prtrace run`, no daemon | {(r['run_here'] - r['true']) * ms:.0f} ms | |",
    ])


# ---------------------------------------------------------------- docs/benchmarks.md


def machine() -> str:
    cpu = "unknown CPU"
    with suppress(OSError, StopIteration):
        cpu = next(line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                   if line.startswith("model name"))
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return f"{os.cpu_count()} cores ({cpu}), {mem:.0f} GiB, {platform.system()} {platform.release()}, Python {platform.python_version()}"


def write_section(name: str, body: str) -> None:
    """Replace the `## name` section of docs/benchmarks.md (or add it)."""
    path = ROOT / "docs" / "benchmarks.md"
    text = path.read_text() if path.exists() else "# Benchmarks\n\nProduced by `scripts/bench`; each figure is compared with a baseline measured in the same run.\n"
    section = f"## {name}\n\n{body.strip()}\n"
    pattern = re.compile(rf"^## {re.escape(name)}\n.*?(?=^## |\Z)", re.S | re.M)
    text = pattern.sub(lambda _: section + "\n", text) if pattern.search(text) else text.rstrip() + "\n\n" + section
    path.write_text(text.rstrip() + "\n")


def ingest_section(results: list[dict[str, Any]], command: str) -> str:
    lines = [
        f"Command: `{command}`  ",
        f"Machine: {machine()}  ",
        f"Date: {datetime.now(UTC):%Y-%m-%d}",
        "",
        "Batches of 1,000 events posted one after another (gzip, as `prtrace push` sends them) to a real",
        "`prtrace-server serve` process — on the embedded default with its in-process compaction worker,",
        "on PostgreSQL + S3 with `--no-worker` and a `prtrace-server worker` beside it, as deployed. The",
        "baseline writes the same `events_index` rows into the same table (same indexes, same",
        "durability) with the database's own bulk path, 1,000 rows per transaction, in the same run.",
        "The second figure has several clients pushing at once to `serve --processes N` (one per core).",
        "",
        f"| mix | storage | events | payload bytes/event | server ev/s, 1 client | server ev/s, {results[0]['clients']} clients "
        "| baseline | baseline rows/s | ratio, 1 client | ratio, clients |",
        "|---|---|---:|---:|---:|---:|---|---:|---:|---:|",
    ]
    for r in results:
        lines.append(
            f"| {r['mix']} | {r['config']} | {r['events']:,} | {r['payload_bytes']:.0f} | {r['server_eps_1']:,.0f} | "
            f"{r['server_eps_n']:,.0f} | {r['baseline']} | {r['baseline_eps']:,.0f} | "
            f"{r['server_eps_1'] / r['baseline_eps']:.2f} | {r['server_eps_n'] / r['baseline_eps']:.2f} |"
        )
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(prog="scripts/bench")
    sub = parser.add_subparsers(dest="what", required=True)
    ingest = sub.add_parser("ingest", help="events/s through the real server vs the database's own bulk insert")
    ingest.add_argument("--batches", type=int, default=10, help="batches of 1,000 events per configuration")
    ingest.add_argument("--clients", type=int, default=4, help="clients pushing at once in the second run")
    ingest.add_argument("--no-write", action="store_true", help="print only; leave docs/benchmarks.md alone")
    daemon = sub.add_parser("daemon", help="save-to-event latency, idle cost and a burst, for a real daemon")
    daemon.add_argument("--files", type=int, default=50_000, help="files in the repo")
    daemon.add_argument("--edits", type=int, default=10_000, help="files rewritten in the burst")
    daemon.add_argument("--idle", type=float, default=60.0, help="seconds of idle measurement")
    daemon.add_argument("--saves", type=int, default=100, help="single saves timed for the latency")
    daemon.add_argument("--no-write", action="store_true", help="print only; leave docs/benchmarks.md alone")
    shell = sub.add_parser("shell", help="per-command cost of the bash and zsh hooks")
    shell.add_argument("--commands", type=int, default=1000, help="commands typed per session")
    shell.add_argument("--rounds", type=int, default=5, help="sessions per case (the median is kept)")
    shell.add_argument("--no-write", action="store_true", help="print only; leave docs/benchmarks.md alone")
    hooks = sub.add_parser("hooks", help="per-commit cost of the git hooks; start-up cost of note and run")
    hooks.add_argument("--commits", type=int, default=500, help="commits with and without the hooks")
    hooks.add_argument("--runs", type=int, default=20, help="runs per CLI figure (the median is kept)")
    hooks.add_argument("--no-write", action="store_true", help="print only; leave docs/benchmarks.md alone")
    options = parser.parse_args()
    command = "scripts/bench " + " ".join(sys.argv[1:])
    if options.what == "hooks":
        section = hooks_section(bench_hooks(options.commits, options.runs), command)
        print(section)
        if not options.no_write:
            write_section("Git hooks and the CLI", section)
            print("written to docs/benchmarks.md")
    if options.what == "shell":
        section = shell_section(bench_shell(options.commands, options.rounds), command)
        print(section)
        if not options.no_write:
            write_section("Shell hooks", section)
            print("written to docs/benchmarks.md")
    if options.what == "daemon":
        result = bench_daemon(options.files, options.edits, options.idle, options.saves)
        section = daemon_section(result, command)
        print(section)
        if not options.no_write:
            write_section("Capture daemon", section)
            print("written to docs/benchmarks.md")
    if options.what == "ingest":
        results = bench_ingest(options.batches, options.clients)
        if not options.no_write:
            write_section("Ingest", ingest_section(results, command))
            print("written to docs/benchmarks.md")
    return 0


if __name__ == "__main__":
    sys.exit(main())

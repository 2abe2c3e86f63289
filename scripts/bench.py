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
import orjson

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
def serving(
    env: dict[str, str], *, separate_worker: bool = False, processes: int = 1, compaction: bool = True
) -> Iterator[str]:
    """`prtrace-server serve` as configured: with its in-process compaction worker, or (as a
    deployment on PostgreSQL + S3 runs) `--no-worker` beside a `prtrace-server worker`; with
    `compaction=False`, `--no-worker` and no worker at all (for reads that never touch it)."""
    port = free_port()
    full_env = {**os.environ, "PRTRACE_AUTH": "off", **env}
    args = [str(BIN / "prtrace-server"), "serve", "--host", "127.0.0.1", "--port", str(port), "--processes", str(processes)]
    quiet = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL}
    no_worker = separate_worker or not compaction
    proc = subprocess.Popen([*args, "--no-worker"] if no_worker else args, env=full_env, **quiet)  # type: ignore[call-overload]
    worker = (
        subprocess.Popen([str(BIN / "prtrace-server"), "worker"], env=full_env, **quiet)  # type: ignore[call-overload]
        if separate_worker and compaction else None
    )
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
    bodies = [[gzip.compress(json.dumps(b).encode(), 5) for b in stream] for stream in streams]
    return sum(len(b["events"]) for stream in streams for b in stream) / post_bodies(url, bodies)


def post_bodies(url: str, bodies: list[list[bytes]]) -> float:
    """Seconds to POST the gzip bodies to /v1/batches, one client per list, all at once."""
    headers = {"Content-Type": "application/json", "Content-Encoding": "gzip"}
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
    return elapsed


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


# ---------------------------------------------------------------- reading: show, verify, replay, export, stats


BRANCH = "feature/read-path"
GIT_IDENTITY = {"GIT_CONFIG_NOSYSTEM": "1", "GIT_AUTHOR_NAME": "Dev", "GIT_AUTHOR_EMAIL": "dev@example.com",
                "GIT_COMMITTER_NAME": "Dev", "GIT_COMMITTER_EMAIL": "dev@example.com"}
REPOS = [f"acme/{name}" for name in ("webapp", "api", "billing", "search", "mobile", "infra", "docs", "auth",
                                     "payments", "notify", "ledger", "gateway", "ui-kit", "etl", "reports",
                                     "scheduler", "cache", "crm", "ml-feat", "admin")]


def _code_line(rng: random.Random) -> str:
    indent = "    " * rng.randint(0, 2)
    a, b, c = rng.choice(WORDS), rng.choice(WORDS), rng.choice(WORDS)
    roll = rng.random()
    if roll < 0.3:
        return f"{indent}{a}_{b} = {c}({rng.randint(0, 999)})\n"
    if roll < 0.45:
        return f"{indent}if {a}.{b} is not None:\n"
    if roll < 0.65:
        return f"{indent}return {a}_{b}({c}, timeout={rng.randint(1, 60)})\n"
    if roll < 0.75:
        return f"{indent}# keep the {a} and the {b} {c} in step\n"
    if roll < 0.85:
        return f"{indent}self.{a} = {b}.get({c!r})\n"
    return "\n"


def _ts(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def _fast_import_commit(mark: int, parent: int | None, ref: str, when: datetime, message: str,
                        changes: dict[str, bytes | None]) -> bytes:
    """One commit of a `git fast-import` stream: the files changed (None: deleted)."""
    stamp = f"Dev <dev@example.com> {int(when.timestamp())} +0000"
    text = message.encode()
    parts = [f"commit {ref}\nmark :{mark}\nauthor {stamp}\ncommitter {stamp}\ndata {len(text)}\n".encode(), text, b"\n"]
    if parent is not None:
        parts.append(f"from :{parent}\n".encode())
    for path, content in changes.items():
        if content is None:
            parts.append(f"D {path}\n".encode())
        else:
            parts += [f"M 100644 inline {path}\ndata {len(content)}\n".encode(), content, b"\n"]
    return b"".join(parts)


def build_session(work: Path, *, n_events: int, n_files: int, seed: int) -> dict[str, Any]:
    """A real git repository and the trace of a long session on it, written as a trace .json:
    a base commit of `n_files` files, then `n_events` events — edits whose diffs apply and whose
    before/after blob ids chain, commands, test runs, notes, and real commits (made with git
    fast-import) holding exactly the state the edits before them produced. Ends with a commit,
    so the replayed tree is that commit's tree."""
    from prtrace_core.gitblob import blob_sha
    from prtrace_daemon.diffs import edit_payload

    rng = random.Random(seed)
    repo = work / "repo"
    env = {**os.environ, **GIT_IDENTITY}
    subprocess.run(["git", "init", "-q", "-b", "main", str(repo)], env=env, check=True)
    moment = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
    stream: list[bytes] = []

    state: dict[str, bytes] = {}
    for i in range(n_files):
        lines = [f'"""The {rng.choice(WORDS)} {rng.choice(WORDS)} module."""\n', "\n"]
        lines += [_code_line(rng) for _ in range(rng.randint(30, 250))]
        state[f"src/pkg{i // 50:03d}/mod{i % 50:02d}.py"] = "".join(lines).encode()
    stream.append(_fast_import_commit(1, None, "refs/heads/main", moment, "base", dict(state)))
    shas = {path: blob_sha(content) for path, content in state.items()}
    committed = dict(state)
    hot = rng.sample(sorted(state), min(150, n_files))  # the files this PR works on, hottest first
    weights = [1 / (rank + 1) ** 0.7 for rank in range(len(hot))]
    lines_of: dict[str, list[str]] = {}

    def lines(path: str) -> list[str]:
        if path not in lines_of:
            lines_of[path] = state[path].decode().splitlines(keepends=True)
        return lines_of[path]

    events: list[dict[str, Any]] = [
        {"seq": 1, "ts": _ts(moment), "type": "start", "payload": {"head_sha": ":1", "branch": BRANCH, "dirty": []}}
    ]
    changed: set[str] = set()
    added = removed = 0
    mark = pushed_mark = 1
    counts = {"edit": 0, "commit": 0}

    def record(kind: str, payload: dict[str, Any]) -> None:
        events.append({"seq": len(events) + 1, "ts": _ts(moment), "type": kind, "payload": payload})

    def edit(path: str, before: bytes | None, after: bytes | None, op: str, old: str | None = None) -> None:
        nonlocal added, removed
        before_sha = shas.get(old or path) if before is not None else None
        after_sha = blob_sha(after) if after is not None else None
        payload = edit_payload(path, before, after, before_sha=before_sha, after_sha=after_sha, op=op,
                               old_file=old, mode="100644")
        plus, minus = payload["change_summary"][1:].split("/-")
        added, removed = added + int(plus), removed + int(minus)
        for gone in (old, path if after is None else None):
            if gone is not None:
                state.pop(gone, None)
                shas.pop(gone, None)
                lines_of.pop(gone, None)
                changed.add(gone)
        if after is not None:
            state[path], shas[path] = after, after_sha  # type: ignore[assignment]
            changed.add(path)
        counts["edit"] += 1
        record("edit", payload)

    def commit() -> None:
        nonlocal mark, added, removed
        changes = {p: state.get(p) for p in sorted(changed) if state.get(p) != committed.get(p)}
        changed.clear()
        if not changes:
            return
        mark += 1
        message = f"{rng.choice(['fix', 'feat', 'refactor', 'test'])}: {rng.choice(WORDS)} {rng.choice(WORDS)}"
        stream.append(_fast_import_commit(mark, mark - 1, f"refs/heads/{BRANCH}", moment, message, changes))
        for path, content in changes.items():
            if content is None:
                committed.pop(path, None)
            else:
                committed[path] = content
        record("commit", {"sha": f":{mark}", "message": message, "files_changed": len(changes), "files": list(changes),
                          "insertions": added, "deletions": removed, "parents": [f":{mark - 1}"], "branch": BRANCH})
        added = removed = 0
        counts["commit"] += 1

    while len(events) < n_events - 1:
        moment += timedelta(milliseconds=50 + int(rng.expovariate(1 / 20_000)))
        roll = rng.random()
        if roll < 0.008 and changed:
            commit()
        elif roll < 0.011 and mark > pushed_mark:
            record("push", {"remote": "origin", "refs": [{
                "local_ref": f"refs/heads/{BRANCH}", "local_sha": f":{mark}",
                "remote_ref": f"refs/heads/{BRANCH}", "remote_sha": f":{pushed_mark}"}]})
            pushed_mark = mark
        elif roll < 0.62:
            op = rng.random()
            if op < 0.01:  # a new file
                path = f"tests/test_{rng.choice(WORDS)}_{len(events)}.py"
                body = "".join(_code_line(rng) for _ in range(rng.randint(15, 60))).encode()
                edit(path, None, body, "create")
                hot.insert(rng.randint(0, 10), path)
                weights = [1 / (rank + 1) ** 0.7 for rank in range(len(hot))]
            elif op < 0.013 and len(hot) > 40:  # one removed
                path = hot.pop(rng.randrange(20, len(hot)))
                weights.pop()
                edit(path, state[path], None, "delete")
            elif op < 0.016:  # one moved
                old = hot.pop(rng.randrange(len(hot)))
                path = old.replace(".py", f"_{len(events)}.py")
                hot.insert(rng.randint(0, 10), path)
                content = state[old]
                edit(path, content, content, "rename", old)
            else:
                path = rng.choices(hot, weights)[0]
                current = lines(path)
                at = rng.randint(0, len(current))
                if rng.random() < 0.1:
                    drop, new = 0, [_code_line(rng) for _ in range(rng.randint(8, 25))]
                else:
                    drop = rng.randint(0, min(6 if len(current) > 400 else 3, len(current) - at))
                    new = [_code_line(rng) for _ in range(rng.randint(0 if drop else 1, 4))]
                updated = current[:at] + new + current[at + drop:]
                after = "".join(updated).encode()
                if after == state[path]:
                    continue
                before = state[path]
                edit(path, before, after, "modify")
                lines_of[path] = updated
        elif roll < 0.78:
            command, out = rng.choice([("git status", "On branch " + BRANCH), ("ruff check .", "All checks passed!"),
                                       ("git diff --stat", " 3 files changed"), ("make lint", "ok")])
            record("command", {"command": command, "exit_code": 0, "stdout_sample": out + "\n",
                               "duration_ms": rng.randint(5, 900), "cwd": "/home/dev/webapp"})
        elif roll < 0.92:
            failed = rng.choice([0, 0, 0, 1, 2])
            record("test", {"command": "pytest -q", "exit_code": int(failed > 0), "framework": "pytest",
                            "passed": rng.randint(200, 400), "failed": failed, "skipped": 2, "errors": 0,
                            "failed_tests": [f"tests/test_{rng.choice(WORDS)}.py::test_{rng.choice(WORDS)}"
                                             for _ in range(failed)], "duration_ms": rng.randint(3000, 30000)})
        else:
            record("annotation", {"text": " ".join(rng.choice(WORDS) for _ in range(rng.randint(5, 30)))})
    moment += timedelta(seconds=30)
    commit()
    marks_file = work / "marks"
    subprocess.run(["git", "fast-import", "--quiet", f"--export-marks={marks_file}"], cwd=repo, env=env,
                   input=b"".join(stream), check=True)
    subprocess.run(["git", "checkout", "-q", "-f", BRANCH], cwd=repo, env=env, check=True)
    marks = dict(line.split() for line in marks_file.read_text().splitlines())

    def resolved(value: Any) -> Any:
        if isinstance(value, str) and value.startswith(":"):
            return marks[value]
        if isinstance(value, list):
            return [resolved(v) for v in value]
        if isinstance(value, dict):
            return {k: resolved(v) for k, v in value.items()}
        return value

    trace_id = str(uuid.UUID(int=rng.getrandbits(128), version=4))
    for event in events:
        if event["type"] in ("start", "commit", "push"):
            event["payload"] = resolved(event["payload"])
        event["event_id"] = event_id(trace_id, event)
    trace = {
        "trace_id": trace_id,
        "repo": {"name": "acme/webapp", "branch": BRANCH, "language": ["python"]},
        "pr": {"pr_id": "acme/webapp#512", "title": "A faster read path", "status": "open"},
        "developer": {"user_id": str(uuid.UUID(int=rng.getrandbits(128), version=4)), "ide_version": "bench", "os": "Linux"},
        "events": events,
    }
    path = work / "trace.json"
    path.write_bytes(orjson.dumps(trace))
    return {
        "repo": repo, "trace": path, "head": marks[f":{mark}"], "events": len(events), "edits": counts["edit"],
        "commits": counts["commit"], "base_files": n_files, "final_files": len(state),
        "tree_bytes": sum(len(c) for c in state.values()), "trace_bytes": path.stat().st_size,
    }


def _high_water(pid: int, peaks: dict[int, int]) -> None:
    """Record VmHWM (the peak resident set so far) of a process and its descendants."""
    with suppress(OSError, ValueError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                peaks[pid] = max(peaks.get(pid, 0), int(line.split()[1]) * 1024)
        for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split():
            _high_water(int(child), peaks)


def _measured(argv: list[str], *, env: dict[str, str], cwd: Path | None = None) -> tuple[float, int]:
    """(wall seconds, peak RSS in bytes of its largest process) of one run of a command; its
    output is discarded, and a failure raises with the end of its stderr.

    The peak is VmHWM sampled every 10 ms, not wait4's ru_maxrss: a child's ru_maxrss starts
    from its parent's resident set at fork (exec keeps it), so every command run from this
    process would show at least this process's own size."""
    peaks: dict[int, int] = {}
    with tempfile.TemporaryFile() as errors:
        started = time.perf_counter()
        proc = subprocess.Popen(argv, env=env, cwd=cwd, stdout=subprocess.DEVNULL, stderr=errors)
        done = threading.Event()

        def sample() -> None:
            while not done.wait(0.01):
                _high_water(proc.pid, peaks)

        sampler = threading.Thread(target=sample)
        sampler.start()
        returncode = proc.wait()
        elapsed = time.perf_counter() - started
        done.set()
        sampler.join()
        if returncode != 0:
            errors.seek(0)
            raise RuntimeError(f"{' '.join(argv)}: exit {returncode}: {errors.read()[-2000:].decode(errors='replace')}")
    return elapsed, max(peaks.values(), default=0)


def _rounds(commands: dict[str, Any], runs: int, *, env: dict[str, str], cwd: Path) -> dict[str, dict[str, float]]:
    """Each command (an argv, or a function returning one, called before each run) `runs`
    times, interleaved so drift in the machine's load hits all alike: best, median, peak RSS."""
    times: dict[str, list[float]] = {name: [] for name in commands}
    rss: dict[str, int] = dict.fromkeys(commands, 0)
    for _ in range(runs):
        for name, argv in commands.items():
            elapsed, peak = _measured(argv() if callable(argv) else argv, env=env, cwd=cwd)
            times[name].append(elapsed)
            rss[name] = max(rss[name], peak)
    return {name: {"best": min(t), "median": sorted(t)[len(t) // 2], "rss": rss[name]} for name, t in times.items()}


def _python(code: str, *args: str) -> list[str]:
    return [sys.executable, "-c", code, *args]


def bench_trace_reads(work: Path, *, n_events: int, n_files: int, runs: int) -> dict[str, Any]:
    """show --json, verify and replay of one long trace, as real CLI processes, against what
    reading the same file and extracting the same tree cost outside prtrace."""
    started = time.perf_counter()
    session = build_session(work, n_events=n_events, n_files=n_files, seed=11)
    print(f"session: {session['events']:,} events, {session['edits']:,} edits, {session['commits']} commits, "
          f"{session['trace_bytes'] / 2**20:.1f} MiB of trace JSON, built in {time.perf_counter() - started:.1f} s",
          flush=True)
    prtrace = str(BIN / "prtrace")
    env = {**os.environ, **GIT_IDENTITY, "PRTRACE_HOME": str(work / "home")}
    env.pop("PRTRACE_SERVER", None)
    trace, repo = str(session["trace"]), str(session["repo"])
    # A benchmark of a trace full of faults would measure the fault reports: it must be clean.
    checked = subprocess.run([prtrace, "verify", trace, "--repo", repo, "--json"], env=env, capture_output=True, text=True)
    report = json.loads(checked.stdout)
    if checked.returncode != 0 or report["faults"] or report["warnings"]:
        raise RuntimeError(f"the benchmark trace does not verify clean: {(report['faults'] + report['warnings'])[:3]}")
    session["verify_notes"] = report["notes"]
    session["checked"] = report["checked"]
    shown = subprocess.run([prtrace, "show", trace, "--json"], env=env, capture_output=True, check=True).stdout
    if json.loads(shown)["events"] != json.loads(session["trace"].read_bytes())["events"]:
        raise RuntimeError("prtrace show --json does not give back the trace's events")
    # The replayed tree must be the last commit's, file for file.
    replayed, archived = work / "check-replay", work / "check-archive"
    subprocess.run([prtrace, "replay", trace, "--to", str(replayed), "--repo", repo], env=env, check=True, capture_output=True)
    archived.mkdir()
    subprocess.run(f"git -C {repo} archive {session['head']} | tar -x -C {archived}", shell=True, env=env, check=True)
    subprocess.run(["diff", "-r", "-q", str(replayed), str(archived)], check=True)
    shutil.rmtree(replayed)
    session["archive_files"] = sum(1 for p in archived.rglob("*") if p.is_file())
    shutil.rmtree(archived)

    targets = iter(range(1_000_000))

    def replay_argv() -> list[str]:
        return [prtrace, "replay", trace, "--to", str(work / f"replay-{next(targets)}"), "--repo", repo]

    def archive_argv() -> list[str]:
        folder = work / f"archive-{next(targets)}"
        folder.mkdir()
        return ["sh", "-c", f"git -C {repo} archive {session['head']} | tar -x -C {folder}"]

    timings = _rounds({
        "help": [prtrace, "--help"],
        "json_load": _python("import json, sys; json.load(open(sys.argv[1], 'rb'))", trace),
        "show": [prtrace, "show", trace, "--json"],
        "verify": [prtrace, "verify", trace, "--repo", repo],
        "verify_alone": [prtrace, "verify", trace],
        "replay": replay_argv,
        "archive": archive_argv,
    }, runs, env=env, cwd=work)
    for folder in work.glob("replay-*"):
        shutil.rmtree(folder)
    for folder in work.glob("archive-*"):
        shutil.rmtree(folder)
    return {"session": session, "runs": runs, "timings": timings}


def _many_traces(n_traces: int, per_trace: int) -> Iterator[tuple[dict[str, Any], list[dict[str, Any]]]]:
    """(envelope, events) of `n_traces` sessions of `per_trace` events (the ingest benchmark's
    light mix) across 20 repositories and four weeks, some linked to a PR."""
    for k in range(n_traces):
        rng = random.Random(1000 + k)
        trace_id = str(uuid.UUID(int=rng.getrandbits(128), version=4))
        repo = REPOS[k % len(REPOS)]
        head = {
            "trace_id": trace_id,
            "repo": {"name": repo, "branch": f"feature/{rng.choice(WORDS)}-{k}", "language": ["python"]},
            "pr": {"pr_id": f"{repo}#{100 + k}", "title": f"fix {rng.choice(WORDS)}", "status": "open"} if k % 3 else None,
            "developer": {"user_id": str(uuid.UUID(int=rng.getrandbits(128), version=4)), "ide_version": "bench", "os": "Linux"},
        }
        day = f"2026-11-{1 + k % 28:02d}T"
        events = make_events(per_trace, heavy=False, seed=1000 + k)
        for event in events:
            event["ts"] = day + event["ts"][11:]
        yield head, events


def build_many(work: Path, *, n_traces: int, per_trace: int) -> dict[str, Any]:
    """The export benchmark's input — every event as a row of `prtrace export --format jsonl`
    (event ids and server seqs filled in as the server stamps them) — and, for the stats
    benchmark, the same events as gzip batches of 1,000, as `prtrace push` sends them."""
    from prtrace_core.export import event_row

    path = work / "events.jsonl"
    bodies: list[bytes] = []
    with path.open("wb") as out:
        for head, events in _many_traces(n_traces, per_trace):
            for i in range(0, len(events), 1000):
                bodies.append(gzip.compress(orjson.dumps({**head, "events": events[i : i + 1000]}), 5))
            for event in events:
                event["event_id"] = event_id(head["trace_id"], event)
                event["server_seq"] = event["seq"]
            out.write(b"".join(orjson.dumps(event_row(head, event)) + b"\n" for event in events))
    return {"jsonl": path, "bodies": bodies, "events": n_traces * per_trace, "traces": n_traces,
            "jsonl_bytes": path.stat().st_size}


def _duck_copy(source: str, out: Path, options: str) -> str:
    """DuckDB's COPY of the export rows to `out`, the columns typed as prtrace's Parquet has them."""
    from prtrace_core.export import COLUMNS

    types = {"string": "VARCHAR", "int64": "BIGINT", "timestamp": "TIMESTAMPTZ"}
    columns = ", ".join(f"{name}: '{types[kind]}'" for name, kind in COLUMNS)
    return (f"COPY (SELECT * FROM read_json('{source}', format = 'newline_delimited', columns = {{{columns}}})) "
            f"TO '{out}' ({options})")


def bench_export(work: Path, many: dict[str, Any]) -> dict[str, Any]:
    """`prtrace export` of every event in a .jsonl file to Parquet and to JSONL, as processes
    (wall time and peak RSS), beside DuckDB's COPY and pyarrow doing the same conversion."""
    import pyarrow.parquet as pq

    prtrace = str(BIN / "prtrace")
    env = {**os.environ, "PRTRACE_HOME": str(work / "home")}
    env.pop("PRTRACE_SERVER", None)
    source = str(many["jsonl"])
    results: dict[str, Any] = {}
    cases: dict[str, tuple[list[str], Path]] = {
        "prtrace_parquet": ([prtrace, "export", source, "--out", str(work / "out.parquet")], work / "out.parquet"),
        "prtrace_jsonl": ([prtrace, "export", source, "--out", str(work / "out.jsonl")], work / "out.jsonl"),
        "duckdb_parquet": (_python("import duckdb, sys; duckdb.sql(sys.argv[1])", _duck_copy(
            source, work / "duck.parquet", "FORMAT parquet, COMPRESSION zstd")), work / "duck.parquet"),
        "duckdb_jsonl": (_python("import duckdb, sys; duckdb.sql(sys.argv[1])", _duck_copy(
            source, work / "duck.jsonl", "FORMAT json")), work / "duck.jsonl"),
        # pyarrow: parse the JSONL into a table, then write it (the write alone is timed inside)
        "pyarrow_parquet": (_python(
            "import sys, time, pyarrow.json as pj, pyarrow.parquet as pq\n"
            "from prtrace_core.export import arrow_schema\n"
            "table = pj.read_json(sys.argv[1], parse_options=pj.ParseOptions(explicit_schema=arrow_schema()))\n"
            "started = time.perf_counter()\n"
            "pq.write_table(table, sys.argv[2], compression='zstd', row_group_size=10_000)\n"
            "open(sys.argv[3], 'w').write(str(time.perf_counter() - started))",
            source, str(work / "arrow.parquet"), str(work / "arrow.write_s")), work / "arrow.parquet"),
    }
    for name, (argv, out) in cases.items():
        elapsed, rss = _measured(argv, env=env, cwd=work)
        rows = pq.read_metadata(out).num_rows if out.suffix == ".parquet" else _count_lines(out)
        if rows != many["events"]:
            raise RuntimeError(f"{name} wrote {rows:,} rows of {many['events']:,}")
        results[name] = {"seconds": elapsed, "rss": rss, "bytes": out.stat().st_size}
        print(f"export {name:16} {elapsed:7.1f} s  {many['events'] / elapsed:9,.0f} rows/s  peak RSS {rss / 2**20:7,.0f} MiB",
              flush=True)
        out.unlink()
    results["pyarrow_write_s"] = float((work / "arrow.write_s").read_text())
    return results


def _count_lines(path: Path) -> int:
    count = 0
    with path.open("rb") as handle:
        while chunk := handle.read(1 << 24):
            count += chunk.count(b"\n")
    return count


def bench_stats(work: Path, many: dict[str, Any], *, runs: int) -> dict[str, Any]:
    """GET /v1/stats over every event of `many`, ingested through a real server into real
    PostgreSQL, beside a plain count of the same table and the stats query run directly."""
    import psycopg

    from prtrace_core.stats import IDLE_GAP_S
    from prtrace_server.index_sql import TRACE_SUMS_SQL

    pg = start_postgres(work / "pgdata")
    try:
        pg.create_database("stats")
        env = {"PRTRACE_DATA_DIR": str(work / "server"), "PRTRACE_DATABASE_URL": pg.url("stats")}
        clients = 4
        bodies = [many["bodies"][i::clients] for i in range(clients)]
        with serving(env, processes=os.cpu_count() or 1, compaction=False) as url:
            ingest_s = post_bodies(url, bodies)
            print(f"ingested {many['events']:,} events in {ingest_s:.1f} s ({many['events'] / ingest_s:,.0f} ev/s)", flush=True)
            with psycopg.connect(pg.url("stats"), autocommit=True) as conn:
                conn.execute("VACUUM ANALYZE")  # what autovacuum does to a freshly loaded table, done now
                indexed = conn.execute("SELECT count(*) FROM events_index").fetchone()
                assert indexed is not None and indexed[0] == many["events"], indexed
                repo = REPOS[0]
                expected_traces = sum(1 for k in range(many["traces"]) if k % len(REPOS) == 0)
                timings: dict[str, list[float]] = {"count": [], "sql": [], "stats": [], "stats_repo": []}
                with httpx.Client(base_url=url, timeout=600) as client:
                    for _ in range(runs):
                        started = time.perf_counter()
                        conn.execute("SELECT count(*) FROM events_index").fetchone()
                        timings["count"].append(time.perf_counter() - started)
                        started = time.perf_counter()
                        conn.execute(TRACE_SUMS_SQL.format(where="").replace("?", "%s"), (IDLE_GAP_S * 1000,)).fetchall()
                        timings["sql"].append(time.perf_counter() - started)
                        started = time.perf_counter()
                        answer = client.get("/v1/stats")
                        timings["stats"].append(time.perf_counter() - started)
                        answer.raise_for_status()
                        body = answer.json()
                        assert len(body["traces"]) == many["traces"] and body["total"]["events"] == many["events"], body["total"]
                        started = time.perf_counter()
                        answer = client.get("/v1/stats", params={"repo": repo})
                        timings["stats_repo"].append(time.perf_counter() - started)
                        answer.raise_for_status()
                        assert len(answer.json()["traces"]) == expected_traces, len(answer.json()["traces"])
                repo_events = answer.json()["total"]["events"]
    finally:
        pg.stop()
    result = {name: {"best": min(t), "median": sorted(t)[len(t) // 2]} for name, t in timings.items()}
    return {"ingest_s": ingest_s, "clients": clients, "repo": repo, "repo_traces": expected_traces,
            "repo_events": repo_events, "runs": runs, **result}


def bench_read(
    *, n_events: int, n_files: int, runs: int, stats_runs: int, n_traces: int, per_trace: int, parts: set[str]
) -> dict[str, Any]:
    """Every reading benchmark asked for in `parts`, in one temporary folder."""
    results: dict[str, Any] = {"parts": parts}
    with tempfile.TemporaryDirectory(prefix="prtrace-bench-") as tmp:
        work = Path(tmp)
        started = time.perf_counter()
        if parts & {"show", "replay"}:
            (work / "trace").mkdir()
            results["trace"] = bench_trace_reads(work / "trace", n_events=n_events, n_files=n_files, runs=runs)
            shutil.rmtree(work / "trace")
        if parts & {"export", "stats"}:
            (work / "many").mkdir()
            built = time.perf_counter()
            many = build_many(work / "many", n_traces=n_traces, per_trace=per_trace)
            print(f"{many['events']:,} events ({many['jsonl_bytes'] / 2**20:,.0f} MiB of JSONL) built in "
                  f"{time.perf_counter() - built:.1f} s", flush=True)
            results["many"] = {k: v for k, v in many.items() if k not in ("bodies", "jsonl")}
            if "export" in parts:
                results["export"] = bench_export(work / "many", many)
            if "stats" in parts:
                results["stats"] = bench_stats(work / "many", many, runs=stats_runs)
        results["total_s"] = time.perf_counter() - started
    return results


def read_section(r: dict[str, Any], command: str) -> str:
    mib = 2**20
    lines = [
        f"Command: `{command}`  ",
        f"Machine: {machine()}  ",
        f"Date: {datetime.now(UTC):%Y-%m-%d}",
    ]
    if "trace" in r:
        s, t, runs = r["trace"]["session"], r["trace"]["timings"], r["trace"]["runs"]

        def row(label: str, name: str, aim: str = "", base: str | None = None) -> str:
            ratio = f"{t[name]['median'] / t[base]['median']:.1f}×" if base else ""
            return (f"| {label} | {t[name]['best']:.2f} s | {t[name]['median']:.2f} s | {t[name]['rss'] / mib:,.0f} MiB "
                    f"| {ratio} | {aim} |")

        lines += [
            "",
            f"One trace of {s['events']:,} events on a real git repository: a base commit of {s['base_files']:,} files, "
            f"{s['edits']:,} edits",
            f"whose diffs apply and whose before/after blob ids chain, {s['commits']} real commits (git fast-import) "
            "holding what",
            "the edits before them produced, and commands, test runs, pushes and notes between them;",
            f"{s['trace_bytes'] / mib:.1f} MiB of trace JSON. Before anything is timed, `prtrace verify --repo` must "
            "report it clean",
            "(every check, commits included) and the replayed tree must equal `git archive` of the last commit",
            f"({s['archive_files']:,} files, {s['tree_bytes'] / mib:.1f} MiB). Wall time of the real CLI process "
            "(this checkout's editable",
            f"install) and its peak RSS (VmHWM), best and median of {runs} interleaved runs, beside baselines from "
            "the same",
            "runs; the ratio is of the medians.",
            "",
            "| command | best | median | peak RSS | vs baseline | aim |",
            "|---|---:|---:|---:|---:|---:|",
            row("`prtrace --help` (the CLI's bare start-up)", "help"),
            row("`python -c 'json.load(open(\"trace.json\"))'` (baseline)", "json_load"),
            row("`prtrace show trace.json --json`", "show", "< 1 s", "json_load"),
            row("`prtrace verify trace.json --repo REPO`", "verify", "< 1 s", "json_load"),
            row("`prtrace verify trace.json` (no repository: commits and base content not checked)", "verify_alone",
                "", "json_load"),
            row("`git archive HEAD \\| tar -x` of the same tree (baseline)", "archive"),
            row("`prtrace replay trace.json --to DIR --repo REPO`", "replay", "", "archive"),
        ]
    if "export" in r:
        m, e = r["many"], r["export"]
        n = m["events"]

        def erow(label: str, name: str) -> str:
            x = e[name]
            return (f"| {label} | {x['seconds']:.1f} s | {n / x['seconds']:,.0f} | {x['rss'] / mib:,.0f} MiB "
                    f"| {x['bytes'] / mib:,.0f} MiB |")

        lines += [
            "",
            f"Export of {n:,} events ({m['traces']} traces of {n // m['traces']:,}, the ingest benchmark's light mix) "
            f"from a {m['jsonl_bytes'] / mib:,.0f} MiB",
            "`.jsonl` file of export rows (what `prtrace export --out x.jsonl` writes), each command a child process,",
            "one run each, peak RSS of its largest process (VmHWM); beside DuckDB and pyarrow converting the same",
            "file to the same columns (they use both cores; prtrace one). Every output is checked to hold every row.",
            "",
            "| writer | wall | rows/s | peak RSS | output |",
            "|---|---:|---:|---:|---:|",
            erow("`prtrace export events.jsonl --out x.parquet`", "prtrace_parquet"),
            erow("`prtrace export events.jsonl --out x.jsonl`", "prtrace_jsonl"),
            erow("DuckDB `COPY (SELECT * FROM read_json(…)) TO 'x.parquet'` (baseline)", "duckdb_parquet"),
            erow("DuckDB `COPY … TO 'x.jsonl' (FORMAT json)` (baseline)", "duckdb_jsonl"),
            erow(f"pyarrow `json.read_json` + `parquet.write_table` (baseline; the write alone "
                 f"{e['pyarrow_write_s']:.1f} s)", "pyarrow_parquet"),
        ]
    if "stats" in r:
        st, m = r["stats"], r["many"]
        n = m["events"]

        def srow(label: str, name: str) -> str:
            return f"| {label} | {st[name]['best'] * 1000:,.0f} ms | {st[name]['median'] * 1000:,.0f} ms |"

        lines += [
            "",
            f"`GET /v1/stats` over the same {n:,} events ({m['traces']} traces in {min(len(REPOS), m['traces'])} repositories), "
            "ingested through a real",
            f"`prtrace-server serve --processes {os.cpu_count()} --no-worker` on PostgreSQL (objects in a folder) by "
            f"{st['clients']} clients posting",
            f"gzip batches of 1,000 ({st['ingest_s']:.0f} s, {n / st['ingest_s']:,.0f} events/s), then `VACUUM ANALYZE` "
            "as autovacuum would.",
            f"Best and median of {st['runs']} interleaved runs; the baseline and the bare SQL through psycopg.",
            "",
            "| query | best | median |",
            "|---|---:|---:|",
            srow("`SELECT count(*) FROM events_index` (baseline)", "count"),
            srow("the stats query alone (`TRACE_SUMS_SQL`, no filter)", "sql"),
            srow(f"`GET /v1/stats` ({m['traces']} traces, {n:,} events)", "stats"),
            srow(f"`GET /v1/stats?repo={st['repo']}` ({st['repo_traces']} traces, {st['repo_events']:,} events)",
                 "stats_repo"),
        ]
    return "\n".join(lines)


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
    read = sub.add_parser("read", help="show, verify and replay of a long trace; export of 1M events; GET /v1/stats")
    read.add_argument("--events", type=int, default=20_000, help="events in the trace shown, verified and replayed")
    read.add_argument("--files", type=int, default=2_000, help="files in that trace's repository")
    read.add_argument("--runs", type=int, default=5, help="runs per timed command or query")
    read.add_argument("--stats-runs", type=int, default=3, help="runs per stats query (each takes seconds)")
    read.add_argument("--traces", type=int, default=200, help="traces exported and indexed for stats")
    read.add_argument("--per-trace", type=int, default=5_000, help="events per trace exported and indexed")
    read.add_argument("--parts", default="show,export,stats", help="what to run: show (with verify and replay), export, stats")
    read.add_argument("--no-write", action="store_true", help="print only; leave docs/benchmarks.md alone")
    redact = sub.add_parser("redact", help="redaction: hostile megabytes per rule, cost per event, corpus precision and recall")
    redact.add_argument("--runs", type=int, default=5, help="runs per figure (the median is kept)")
    redact.add_argument("--no-write", action="store_true", help="print only; leave docs/benchmarks.md alone")
    push = sub.add_parser("push", help="prtrace push of 100,000 buffered events; ingest to compacted raw/ with Redis and without")
    push.add_argument("--events", type=int, default=100_000, help="events buffered and pushed per server")
    push.add_argument("--samples", type=int, default=20, help="ingests timed to their compacted object per queue")
    push.add_argument("--no-write", action="store_true", help="print only; leave docs/benchmarks.md alone")
    options = parser.parse_args()
    command = "scripts/bench " + " ".join(sys.argv[1:])
    if options.what == "push":
        from scripts.bench_push import bench_push, push_section

        section = push_section(bench_push(options.events, options.samples), command, machine(), f"{datetime.now(UTC):%Y-%m-%d}")
        print(section)
        if not options.no_write:
            write_section("Push", section)
            print("written to docs/benchmarks.md")
    if options.what == "redact":
        from scripts.bench_redact import bench_redact, redact_section

        section = redact_section(bench_redact(options.runs), command, machine(), f"{datetime.now(UTC):%Y-%m-%d}")
        print(section)
        if not options.no_write:
            write_section("Redaction", section)
            print("written to docs/benchmarks.md")
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
    if options.what == "read":
        parts = set(options.parts.split(","))
        result = bench_read(n_events=options.events, n_files=options.files, runs=options.runs, stats_runs=options.stats_runs,
                            n_traces=options.traces, per_trace=options.per_trace, parts=parts)
        section = read_section(result, command)
        print(section)
        print(f"(the whole benchmark took {result['total_s']:.0f} s)")
        if not options.no_write:
            if parts >= {"show", "export", "stats"}:
                write_section("Reading", section)
                print("written to docs/benchmarks.md")
            else:
                print("not written: only a full run (every part) replaces the section")
    if options.what == "ingest":
        results = bench_ingest(options.batches, options.clients)
        if not options.no_write:
            write_section("Ingest", ingest_section(results, command))
            print("written to docs/benchmarks.md")
    return 0


if __name__ == "__main__":
    sys.exit(main())

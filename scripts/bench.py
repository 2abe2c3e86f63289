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
    options = parser.parse_args()
    command = "scripts/bench " + " ".join(sys.argv[1:])
    if options.what == "ingest":
        results = bench_ingest(options.batches, options.clients)
        if not options.no_write:
            write_section("Ingest", ingest_section(results, command))
            print("written to docs/benchmarks.md")
    return 0


if __name__ == "__main__":
    sys.exit(main())

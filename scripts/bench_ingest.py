"""`scripts/bench ingest`: events/s through the real server, beside the database's own bulk
insert of the same rows (SQLite executemany, PostgreSQL COPY) and beside aw-server, the
embedded peer, ingesting the same events, in the same run."""

from __future__ import annotations

import json
import os
import re
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

if __package__ in (None, ""):  # run as a file: the repository root is what `scripts.` needs
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from prtrace_core.canonical import event_id
from prtrace_server.ingest import index_columns, stats_columns
from scripts.bench_common import (
    ROOT,
    S3_ACCESS_KEY,
    S3_SECRET_KEY,
    all_at_once,
    bench_parser,
    command_line,
    envelope,
    machine,
    make_events,
    publish,
    server_rate,
    serving,
    start_postgres,
    start_s3,
    today,
)

SUMMARY = "events/s through the real server vs the database's own bulk insert and aw-server"


def index_rows(batches: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
    """The events_index rows the server would write for these batches, every column."""
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
                cols["passed"], cols["failed"], cols["sha"], *stats_columns(event).values(),
            ))
    return rows


def _schema(table: str) -> list[str]:
    """events_index as the migrations make it (its columns and every index), named `table`,
    without the foreign key (the baseline has no traces table)."""
    text = "\n".join(p.read_text() for p in sorted((ROOT / "server" / "migrations").glob("*.sql")))
    match = re.search(r"CREATE TABLE events_index \((.*?)\n\);", text, re.S)
    assert match is not None
    statements = [f"CREATE TABLE {table} ({match.group(1).replace('REFERENCES traces (trace_id)', '')})"]
    for column in re.findall(r"ALTER TABLE events_index ADD COLUMN ([^;]+);", text):
        statements.append(f"ALTER TABLE {table} ADD COLUMN {column}")
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
        conn.executemany(f"INSERT INTO events_index VALUES ({', '.join('?' * len(rows[0]))})", rows[i : i + 1000])
        conn.execute("COMMIT")
    elapsed = time.perf_counter() - started
    conn.close()
    return len(rows) / elapsed


def copy_rate(rows: list[tuple[Any, ...]], url: str) -> float:
    """PostgreSQL's own COPY of the same rows into the same table, one transaction per 1,000,
    fed text lines formatted before the clock starts, so that it measures the database."""
    import psycopg

    chunks = [b"".join(_copy_line(row) for row in rows[i : i + 1000]) for i in range(0, len(rows), 1000)]
    with psycopg.connect(url) as conn:
        for statement in _schema("raw_events_index"):
            conn.execute(statement)
        conn.commit()
        started = time.perf_counter()
        for chunk in chunks:
            with conn.cursor().copy("COPY raw_events_index FROM STDIN") as copy:
                copy.write(chunk)
            conn.commit()
        elapsed = time.perf_counter() - started
    return len(rows) / elapsed


def _copy_line(row: tuple[Any, ...]) -> bytes:
    """One row in COPY's text format: tab-separated, \\N for NULL, backslash escapes."""
    fields = []
    for value in row:
        if value is None:
            fields.append("\\N")
        else:
            text = str(value)
            for plain, escaped in (("\\", "\\\\"), ("\t", "\\t"), ("\n", "\\n"), ("\r", "\\r")):
                text = text.replace(plain, escaped)
            fields.append(text)
    return ("\t".join(fields) + "\n").encode()


# ---------------------------------------------------------------- aw-server, the embedded peer

AW_SERVER = "aw-server==0.12.0"
# aw-server 0.12 predates peewee 4, which hands its DateTimeField back as a datetime
AW_PINS = ("peewee<4",)
AW_VENV = ROOT / ".bench-cache" / "aw-server-0.12"


def aw_venv() -> Path:
    """ActivityWatch's server in a virtualenv of its own under .bench-cache/, made once."""
    program = AW_VENV / "bin" / "aw-server"
    if not program.exists():
        print(f"installing {AW_SERVER} into {AW_VENV.relative_to(ROOT)}", flush=True)
        subprocess.run([sys.executable, "-m", "venv", str(AW_VENV)], check=True)
        subprocess.run(
            [str(AW_VENV / "bin" / "pip"), "install", "--quiet", AW_SERVER, *AW_PINS], check=True
        )
    return program


@contextmanager
def aw_serving(home: Path) -> Iterator[str]:
    """aw-server on a free port, its SQLite store (peewee, WAL) and logs under `home`."""
    program = aw_venv()
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {**os.environ, **{f"XDG_{kind}_HOME": str(home / kind.lower()) for kind in ("DATA", "CONFIG", "CACHE")}}
    log = (home.parent / f"{home.name}.log").open("wb")
    process = subprocess.Popen(
        [str(program), "--host", "127.0.0.1", "--port", str(port), "--storage", "peewee"],
        env=env, stdout=log, stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}/api/0"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                httpx.get(f"{url}/info", timeout=2).raise_for_status()
                break
            except httpx.HTTPError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"aw-server did not start; see {log.name}") from None
                time.sleep(0.2)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=30)
        log.close()


def aw_rate(url: str, streams: list[list[dict[str, Any]]]) -> float:
    """Events per second into aw-server: the same events, 1,000 per POST to its bucket events
    endpoint (an insert, not a heartbeat), one client per stream, each into its own bucket."""
    bodies = []
    for n, stream in enumerate(streams):
        bucket = f"prtrace-bench-{n}"
        httpx.post(
            f"{url}/buckets/{bucket}", json={"client": "bench", "type": "prtrace.event", "hostname": "bench"}
        ).raise_for_status()
        bodies.append((bucket, [
            json.dumps([
                {"timestamp": event["ts"], "duration": 0,
                 "data": {"trace_id": batch["trace_id"], "seq": event["seq"], "type": event["type"],
                          "payload": event["payload"]}}
                for event in batch["events"]
            ]).encode()
            for batch in stream
        ]))
    def push(pair: tuple[str, list[bytes]]) -> None:
        bucket, stream = pair
        with httpx.Client(timeout=300) as client:
            for body in stream:
                client.post(
                    f"{url}/buckets/{bucket}/events", content=body, headers={"Content-Type": "application/json"}
                ).raise_for_status()

    elapsed = all_at_once(push, bodies)
    return sum(len(b["events"]) for stream in streams for b in stream) / elapsed


def bench_ingest(n_batches: int, clients: int) -> list[dict[str, Any]]:
    results: list[dict[str, Any]] = []
    aw: dict[str, tuple[float, float]] = {}  # mix -> aw-server's ev/s, 1 client and `clients`
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
                    if mix not in aw:  # the embedded peer: once per mix, on the same events
                        with aw_serving(work / f"{name}-aw") as url:
                            aw_one = aw_rate(url, streams(1))
                        with aw_serving(work / f"{name}-aw-n") as url:
                            aw[mix] = (aw_one, aw_rate(url, streams(clients)))
                    results.append({
                        "mix": mix, "config": config, "events": len(events), "payload_bytes": payload_bytes,
                        "clients": clients, "server_eps_1": rate_one, "server_eps_n": rate_many,
                        "baseline": baseline_name, "baseline_eps": baseline,
                        "aw_eps_1": aw[mix][0], "aw_eps_n": aw[mix][1],
                    })
                    print(
                        f"{mix:10} {config:12} 1 client {rate_one:8,.0f} ev/s  {clients} clients {rate_many:8,.0f} ev/s"
                        f"   {baseline_name} {baseline:8,.0f} rows/s   ratios {rate_one / baseline:.2f} {rate_many / baseline:.2f}"
                        f"   aw-server {aw[mix][0]:8,.0f} / {aw[mix][1]:8,.0f} ev/s",
                        flush=True,
                    )
        finally:
            s3.stop()
            pg.stop()
    return results


def _fresh(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    return folder



def ingest_section(results: list[dict[str, Any]], command: str) -> str:
    n = results[0]["clients"]
    lines = [
        f"Command: `{command}`  ",
        f"Machine: {machine()}  ",
        f"Date: {today()}",
        "",
        "Batches of 1,000 events posted one after another (gzip, as `prtrace push` sends them) to a real",
        "`prtrace-server serve` process — on the embedded default with its in-process compaction worker,",
        "on PostgreSQL + S3 with `--no-worker` and a `prtrace-server worker` beside it, as deployed. The",
        "baseline writes the same `events_index` rows (every column) into the same table (same indexes,",
        "same durability) with the database's own bulk path, 1,000 rows per transaction, in the same",
        "run; COPY is fed text lines formatted before the clock starts. The second figure has several",
        "clients pushing at once to `serve --processes N` (one per core). aw-server 0.12 (ActivityWatch's",
        "server, SQLite in WAL mode, in a virtualenv of its own under `.bench-cache/`) is the embedded",
        "peer: the same events, 1,000 per POST to its bucket events endpoint, one bucket per client.",
        "",
        f"| mix | storage | events | payload bytes/event | server ev/s, 1 client | server ev/s, {n} clients "
        "| baseline | baseline rows/s | ratio, 1 client | ratio, clients "
        f"| aw-server ev/s, 1 client | aw-server ev/s, {n} clients | × aw-server, 1 client | × aw-server, clients |",
        "|---|---|---:|---:|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        lines.append(
            f"| {r['mix']} | {r['config']} | {r['events']:,} | {r['payload_bytes']:.0f} | {r['server_eps_1']:,.0f} | "
            f"{r['server_eps_n']:,.0f} | {r['baseline']} | {r['baseline_eps']:,.0f} | "
            f"{r['server_eps_1'] / r['baseline_eps']:.2f} | {r['server_eps_n'] / r['baseline_eps']:.2f} | "
            f"{r['aw_eps_1']:,.0f} | {r['aw_eps_n']:,.0f} | "
            f"{r['server_eps_1'] / r['aw_eps_1']:.1f} | {r['server_eps_n'] / r['aw_eps_n']:.1f} |"
        )
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    parser = bench_parser("ingest", SUMMARY)
    parser.add_argument("--batches", type=int, default=10, help="batches of 1,000 events per configuration")
    parser.add_argument("--clients", type=int, default=4, help="clients pushing at once in the second run")
    options = parser.parse_args(argv)
    command = command_line("ingest", argv)
    results = bench_ingest(options.batches, options.clients)
    publish("Ingest", ingest_section(results, command), no_write=options.no_write)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

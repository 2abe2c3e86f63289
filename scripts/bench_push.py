"""`scripts/bench push`: how fast buffered events reach the server, and how soon they are compacted.

- 100,000 events waiting in a real local buffer are pushed by the real `prtrace push` process
  to a real `prtrace-server`, on the embedded default and on PostgreSQL + S3: events/s, and
  the bytes on the wire with and without gzip (the batches a push sends, measured as sent);
- the time from an ingest's answer to its compacted `raw/<trace_id>.ndjson` object, with the
  Redis Streams queue (a separate `prtrace-server worker` woken by the stream) and with the
  query sweep alone (the same worker, no Redis).
"""

from __future__ import annotations

import gzip
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import httpx

if __package__ in (None, ""):  # run as a file: the repository root is what `scripts.` needs
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from prtrace_daemon.buffer import Buffer
from prtrace_daemon.push import outgoing
from scripts.bench_common import (
    BIN,
    S3_ACCESS_KEY,
    S3_SECRET_KEY,
    bench_parser,
    command_line,
    envelope,
    machine,
    make_events,
    publish,
    serving,
    start_postgres,
    start_redis,
    start_s3,
    today,
)

__all__ = ["bench_push", "main", "push_section"]

SUMMARY = "prtrace push of 100,000 buffered events; ingest to compacted raw/ with Redis and without"


def _fill_buffer(home: Path, n_events: int) -> tuple[int, int, int]:
    """A buffer holding `n_events` unpushed events of one trace (a session's mix of edits,
    commands, tests, commits and notes); returns (events, JSON bytes, gzip bytes) of the
    batches a push sends for them."""
    home.mkdir(parents=True)
    buffer = Buffer(home / "buffer.db")
    try:
        events = make_events(n_events, heavy=False, seed=11)
        with buffer.write() as tx:
            trace_id = tx.create_trace(repo_path=str(home / "repo"), repo_name="acme/bench", branch="push-bench")
            for event in events:
                tx.append(trace_id, event["type"], event["payload"], ts=event["ts"])
        raw = packed = 0
        for trace in buffer.pending_traces():
            for batch in outgoing(buffer, trace):
                body = json.dumps(batch.body, ensure_ascii=False).encode("utf-8")
                raw += len(body)
                packed += len(gzip.compress(body, compresslevel=5))
        return n_events, raw, packed
    finally:
        buffer.close()


def _push_rate(url: str, home: Path) -> float:
    """Seconds of one `prtrace push` of the whole buffer (a real process, as a user runs it)."""
    env = {**os.environ, "PRTRACE_HOME": str(home), "PRTRACE_SERVER": url}
    start = time.perf_counter()
    proc = subprocess.run([str(BIN / "prtrace"), "push"], env=env, capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - start
    if proc.returncode != 0 or " 0 left" not in proc.stdout:
        raise RuntimeError(f"push failed: {proc.stdout}{proc.stderr}")
    return elapsed


def _compaction_delays(url: str, objects: Path, samples: int) -> list[float]:
    """Seconds from each ingest's answer to its raw/ object, one small batch per new trace,
    a second apart."""
    delays = []
    with httpx.Client(base_url=url, timeout=30) as client:
        for n in range(samples):
            trace_id = str(uuid.uuid4())
            events = make_events(10, heavy=False, seed=n)
            answer = client.post("/v1/batches", json={**envelope(trace_id), "events": events})
            answer.raise_for_status()
            answered = time.perf_counter()
            target = objects / "raw" / f"{trace_id}.ndjson"
            while not target.exists():
                if time.perf_counter() - answered > 120:
                    raise RuntimeError("no compacted object within 120 s")
                time.sleep(0.005)
            delays.append(time.perf_counter() - answered)
            time.sleep(1.0)
    return delays


def bench_push(n_events: int, samples: int) -> dict[str, Any]:
    results: dict[str, Any] = {"events": n_events, "push": [], "compaction": []}
    with tempfile.TemporaryDirectory(prefix="prtrace-bench-push-") as tmp:
        work = Path(tmp)
        pg = start_postgres(work / "pgdata")
        s3 = start_s3(work / "s3")
        try:
            for config in ("embedded", "postgres+s3"):
                home = work / f"home-{config}"
                count, raw, packed = _fill_buffer(home, n_events)
                env = {"PRTRACE_DATA_DIR": str(work / f"data-{config}")}
                if config != "embedded":
                    pg.create_database("push")
                    s3.create_bucket("bench-push")
                    env |= {
                        "PRTRACE_DATABASE_URL": pg.url("push"), "PRTRACE_STORAGE_URL": "s3://bench-push",
                        "AWS_ENDPOINT_URL": s3.endpoint, "AWS_ACCESS_KEY_ID": S3_ACCESS_KEY,
                        "AWS_SECRET_ACCESS_KEY": S3_SECRET_KEY, "AWS_REGION": "us-east-1",
                    }
                with serving(env, separate_worker=config != "embedded") as url:
                    seconds = _push_rate(url, home)
                results["push"].append({"config": config, "events": count, "seconds": seconds,
                                        "json_bytes": raw, "gzip_bytes": packed})
                print(f"push {config:12} {count / seconds:8,.0f} events/s  {raw / 1e6:.1f} MB JSON, "
                      f"{packed / 1e6:.1f} MB gzip", flush=True)

            redis = start_redis(work / "redis")
            try:
                for queue in ("redis", "sweep"):
                    data = work / f"compact-{queue}"
                    env = {"PRTRACE_DATA_DIR": str(data)}
                    if queue == "redis":
                        env["PRTRACE_REDIS_URL"] = redis.url()
                    with serving(env, separate_worker=True) as url:
                        delays = _compaction_delays(url, data / "objects", samples)
                    results["compaction"].append({"queue": queue, "median_s": statistics.median(delays),
                                                  "max_s": max(delays), "samples": len(delays)})
                    print(f"ingest → raw/ with {queue:5}: median {statistics.median(delays):.3f} s, "
                          f"max {max(delays):.3f} s", flush=True)
            finally:
                redis.stop()
        finally:
            s3.stop()
            pg.stop()
    return results


def push_section(r: dict[str, Any], command: str, machine: str, date: str) -> str:
    lines = [
        f"`{command}` on {machine}, {date}.",
        "",
        f"{r['events']:,} buffered events (a session's mix: edits with diffs, commands, tests, commits, notes) "
        "pushed by the real `prtrace push` process to a local `prtrace-server` (compaction in a separate "
        "worker on PostgreSQL + S3):",
        "",
        "| server | events/s | bytes on the wire (JSON → gzip) |",
        "|---|---:|---:|",
    ]
    for p in r["push"]:
        ratio = p["json_bytes"] / p["gzip_bytes"]
        lines.append(
            f"| {p['config']} | {p['events'] / p['seconds']:,.0f} | "
            f"{p['json_bytes'] / 1e6:.1f} MB → {p['gzip_bytes'] / 1e6:.1f} MB ({ratio:.1f}x smaller) |"
        )
    lines += [
        "",
        "Ingest → compacted `raw/` object (one 10-event batch per new trace, a second apart, served by "
        "`serve --no-worker` beside a `prtrace-server worker` whose sweep runs every 2 s, its default):",
        "",
        "| queue | median | max |",
        "|---|---:|---:|",
    ]
    for c in r["compaction"]:
        name = "Redis Streams (`PRTRACE_REDIS_URL`)" if c["queue"] == "redis" else "the sweep alone"
        lines.append(f"| {name} | {c['median_s']:.2f} s | {c['max_s']:.2f} s |")
    return "\n".join(lines) + "\n"


def main(argv: list[str]) -> int:
    parser = bench_parser("push", SUMMARY)
    parser.add_argument("--events", type=int, default=100_000, help="events buffered and pushed per server")
    parser.add_argument("--samples", type=int, default=20, help="ingests timed to their compacted object per queue")
    options = parser.parse_args(argv)
    section = push_section(bench_push(options.events, options.samples), command_line("push", argv), machine(), today())
    publish("Push", section, no_write=options.no_write)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

"""What every `scripts/bench` benchmark shares: the repository root on sys.path (so `scripts.`
and `tests.` import), realistic events, a real `prtrace-server` process, the machine line and
docs/benchmarks.md. One copy here, so a fix to how a server is started or a section written
lands in every benchmark."""

from __future__ import annotations

import argparse
import gzip
import json
import os
import platform
import random
import re
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, suppress
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

import httpx

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tests.support.server import ServerProcess, start_worker  # noqa: E402
from tests.support.stack import (  # noqa: E402
    S3_ACCESS_KEY,
    S3_SECRET_KEY,
    free_port,
    start_postgres,
    start_redis,
    start_s3,
)

__all__ = [
    "BIN", "ROOT", "S3_ACCESS_KEY", "S3_SECRET_KEY", "WORDS", "all_at_once", "bench_parser", "command_line", "envelope",
    "free_port", "machine", "make_events", "post_bodies", "publish", "server_rate", "serving", "start_postgres",
    "start_redis", "start_s3", "today", "write_section",
]

BIN = Path(sys.executable).parent
T = TypeVar("T")
WORDS = ["parser", "token", "request", "handler", "cache", "retry", "timeout", "config", "session", "user", "item", "value", "result", "error"]


# ---------------------------------------------------------------- realistic events


def code_line(rng: random.Random) -> str:
    """A line of plausible Python, for files whose diffs must apply and highlight like code."""
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
    `compaction=False`, `--no-worker` and no worker at all (for reads that never touch it).
    Their output goes to logs beside PRTRACE_DATA_DIR, named in the error if the server fails."""
    data = Path(env["PRTRACE_DATA_DIR"])
    full_env = {"PRTRACE_AUTH": "off", **env}
    no_worker = separate_worker or not compaction
    options = ["--processes", str(processes), *(["--no-worker"] if no_worker else [])]
    server = ServerProcess(full_env, data.with_name(f"{data.name}-serve.log"), options=options)
    worker = (
        start_worker(full_env, data.with_name(f"{data.name}-worker.log"))
        if separate_worker and compaction else None
    )
    try:
        server.start(timeout_s=60)
        yield server.url
    finally:
        server.stop(timeout_s=30)
        if worker is not None:
            worker.terminate()
            worker.wait(timeout=30)


def server_rate(url: str, streams: list[list[dict[str, Any]]]) -> float:
    """Events per second through POST /v1/batches: one client per stream (a trace's batches,
    in order), all at once, gzip bodies as `prtrace push` sends them."""
    bodies = [[gzip.compress(json.dumps(b).encode(), 5) for b in stream] for stream in streams]
    return sum(len(b["events"]) for stream in streams for b in stream) / post_bodies(url, bodies)


def post_bodies(url: str, bodies: list[list[bytes]]) -> float:
    """Seconds to POST the gzip bodies to /v1/batches, one client per list, all at once."""
    headers = {"Content-Type": "application/json", "Content-Encoding": "gzip"}

    def push(stream: list[bytes]) -> None:
        with httpx.Client(timeout=120) as client:
            for body in stream:
                answer = client.post(f"{url}/v1/batches", content=body, headers=headers)
                answer.raise_for_status()
                assert not answer.json()["rejected"], answer.json()["rejected"][:1]

    return all_at_once(push, bodies)


def all_at_once(client: Callable[[T], object], streams: Sequence[T]) -> float:
    """Seconds for one `client` thread per stream, all started together, to finish; the first
    failure of any of them is raised."""
    failures: list[BaseException] = []

    def run(stream: T) -> None:
        try:
            client(stream)
        except BaseException as exc:
            failures.append(exc)

    threads = [threading.Thread(target=run, args=(stream,)) for stream in streams]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - started
    if failures:
        raise failures[0]
    return elapsed



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



def bench_parser(name: str, summary: str) -> argparse.ArgumentParser:
    """The command line every benchmark shares: `scripts/bench NAME … [--no-write]`."""
    parser = argparse.ArgumentParser(prog=f"scripts/bench {name}", description=summary)
    parser.add_argument("--no-write", action="store_true", help="print only; leave docs/benchmarks.md alone")
    return parser


def publish(title: str, section: str, *, no_write: bool) -> None:
    """Print a benchmark's section and, unless --no-write, put it in docs/benchmarks.md."""
    print(section)
    if not no_write:
        write_section(title, section)
        print("written to docs/benchmarks.md")


def today() -> str:
    """The date line of a section, UTC."""
    return f"{datetime.now(UTC):%Y-%m-%d}"


def command_line(name: str, argv: list[str]) -> str:
    """The command a section records: what was typed to produce it."""
    return " ".join(["scripts/bench", name, *argv])

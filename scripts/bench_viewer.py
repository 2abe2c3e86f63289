"""`scripts/bench viewer`: the trace viewer's first screen of a long trace, from a real
`prtrace-server` and in a real browser.

One trace of 20,000 events (edits whose diffs chain, so the replay scrubber can rebuild any
file at any seq; commands; test runs red and green; commits; notes) is posted in gzip batches of
1,000 to `prtrace-server serve` on the embedded default, with tokens required. Then:

- the server's time for what the trace page asks for — the page itself (the first screen:
  header and the first 200 rows), `overview.json` (every event, summarised for the timeline,
  plots and stats), a later page of rows, one event's detail, and a file as it was at a seq —
  with httpx and a bearer token, best and median of several runs (the first, cold, apart);
- in headless Chromium (Debian's, through Selenium), with a session cookie: the time to
  the first contentful paint, to `DOMContentLoaded`, and to the overview drawn (the
  `prtrace-overview` performance mark), best and median of 5 page loads.

The aim is the issue's: the first screen of a 20,000-event trace in under a second.
"""

from __future__ import annotations

import gzip
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

if __package__ in (None, ""):  # run as a file: the repository root is what `scripts.` needs
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from prtrace_core.gitblob import blob_sha
from prtrace_daemon.diffs import edit_payload
from scripts.bench_common import (
    BIN,
    WORDS,
    bench_parser,
    code_line,
    command_line,
    machine,
    publish,
    serving,
    today,
)

__all__ = ["bench_viewer", "main", "make_trace", "viewer_section"]

SUMMARY = "the trace viewer's first screen of a 20,000-event trace: server times and headless Chromium"

BRANCH = "feature/viewer-bench"
BATCH = 1_000
AIM_S = 1.0


# ---------------------------------------------------------------- the trace


def _ts(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def make_trace(n_events: int, *, n_files: int, seed: int) -> tuple[list[dict[str, Any]], str]:
    """`n_events` events of one session, and the path of its most edited file. The files are
    created in the trace and every edit's diff applies to the one before, so a replay rebuilds
    any file at any seq from the trace alone."""
    rng = random.Random(seed)
    moment = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)
    events: list[dict[str, Any]] = []
    files: dict[str, list[str]] = {}
    shas: dict[str, str] = {}
    touched: set[str] = set()

    def record(kind: str, payload: dict[str, Any]) -> None:
        events.append({"seq": len(events) + 1, "ts": _ts(moment), "type": kind, "payload": payload})

    def edit(path: str, after_lines: list[str]) -> None:
        before = "".join(files[path]).encode() if path in files else None
        after = "".join(after_lines).encode()
        after_sha = blob_sha(after)
        record("edit", edit_payload(path, before, after, before_sha=shas.get(path), after_sha=after_sha,
                                    op="modify" if before is not None else "create", mode="100644"))
        files[path], shas[path] = after_lines, after_sha
        touched.add(path)

    record("start", {"head_sha": f"{rng.getrandbits(160):040x}", "branch": BRANCH, "dirty": []})
    paths = [f"src/{rng.choice(WORDS)}/{name}_{i}.py" for i, name in enumerate(rng.choices(WORDS, k=n_files))]
    for path in paths:
        moment += timedelta(seconds=rng.randint(5, 40))
        edit(path, [f'"""The {rng.choice(WORDS)} module."""\n', "\n"] + [code_line(rng) for _ in range(rng.randint(40, 200))])
    weights = [1 / (rank + 1) ** 0.8 for rank in range(len(paths))]  # a few hot files, a long tail
    failing = 0
    while len(events) < n_events:
        moment += timedelta(milliseconds=200 + int(rng.expovariate(1 / 4_000)))
        roll = rng.random()
        if roll < 0.6:
            path = rng.choices(paths, weights)[0]
            current = files[path]
            at = rng.randint(2, len(current))
            drop = rng.randint(0, min(3, len(current) - at))
            new = [code_line(rng) for _ in range(rng.randint(0 if drop else 1, 4))]
            updated = current[:at] + new + current[at + drop:]
            if updated != current:
                edit(path, updated)
        elif roll < 0.75:
            command, out = rng.choice([("git status", f"On branch {BRANCH}\n"), ("ruff check .", "All checks passed!\n"),
                                       ("git diff --stat", " 3 files changed\n"), ("make lint", "ok\n")])
            record("command", {"command": command, "exit_code": 0, "stdout_sample": out,
                               "duration_ms": rng.randint(5, 900), "cwd": "/home/dev/webapp"})
        elif roll < 0.87:
            failing = rng.choice([0, 0, 1, 2]) if failing == 0 else rng.choice([0, failing])
            record("test", {"command": "pytest -q", "exit_code": int(failing > 0), "framework": "pytest",
                            "passed": rng.randint(200, 400), "failed": failing, "skipped": 2, "errors": 0,
                            "failed_tests": [f"tests/test_{rng.choice(WORDS)}.py::test_{rng.choice(WORDS)}"
                                             for _ in range(failing)],
                            "stdout_sample": f"{failing} failed, 312 passed\n" if failing else "312 passed\n",
                            "duration_ms": rng.randint(3_000, 30_000)})
        elif roll < 0.92:
            if touched:
                record("commit", {"sha": f"{rng.getrandbits(160):040x}",
                                  "message": f"{rng.choice(['fix', 'feat', 'refactor'])}: {rng.choice(WORDS)} {rng.choice(WORDS)}",
                                  "files_changed": len(touched), "files": sorted(touched), "insertions": rng.randint(1, 80),
                                  "deletions": rng.randint(0, 40), "parents": [f"{rng.getrandbits(160):040x}"],
                                  "branch": BRANCH})
                touched.clear()
        else:
            record("annotation", {"text": " ".join(rng.choice(WORDS) for _ in range(rng.randint(5, 30)))})
    hottest = max(paths, key=lambda p: sum(1 for e in events if e["type"] == "edit" and e["payload"]["file"] == p))
    return events[:n_events], hottest


def _envelope(trace_id: str) -> dict[str, Any]:
    return {"trace_id": trace_id, "repo": {"name": "acme/webapp", "branch": BRANCH, "language": ["python"]},
            "pr": {"pr_id": "acme/webapp#321", "title": "A long session", "status": "open"},
            "developer": {"user_id": str(uuid.uuid4()), "ide_version": "bench", "os": "Linux"}}


# ---------------------------------------------------------------- measuring


def _token(env: dict[str, str], user: str, role: str) -> str:
    proc = subprocess.run([str(BIN / "prtrace-server"), "token", "create", "--user", user, "--role", role],
                          env={**os.environ, **env}, capture_output=True, text=True, check=True)
    return proc.stdout.strip().splitlines()[-1]


def _post(client: httpx.Client, trace_id: str, events: list[dict[str, Any]]) -> float:
    """Seconds to POST every event in gzip batches of BATCH."""
    started = time.perf_counter()
    for start in range(0, len(events), BATCH):
        body = gzip.compress(json.dumps({**_envelope(trace_id), "events": events[start:start + BATCH]}).encode(), 5)
        answer = client.post("/v1/batches", content=body,
                             headers={"Content-Type": "application/json", "Content-Encoding": "gzip"})
        answer.raise_for_status()
        assert not answer.json()["rejected"], answer.json()["rejected"][:1]
    return time.perf_counter() - started


def _compacted(data: Path, trace_id: str, n_events: int, timeout_s: float = 180) -> bool:
    """Wait until the compaction worker's raw/<trace_id>.ndjson holds every event, so the
    reads meet a settled trace (as they would a while after a push)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        for raw in data.rglob(f"raw/{trace_id}.ndjson"):
            with raw.open("rb") as handle:
                if sum(1 for _ in handle) >= n_events:
                    return True
        time.sleep(0.5)
    return False


def _timed_gets(client: httpx.Client, paths: dict[str, str], runs: int) -> dict[str, dict[str, float]]:
    """Each path fetched `runs` times (interleaved): the cold first run apart, best and median."""
    times: dict[str, list[float]] = {name: [] for name in paths}
    sizes: dict[str, int] = {}
    for _ in range(runs):
        for name, path in paths.items():
            started = time.perf_counter()
            answer = client.get(path)
            times[name].append(time.perf_counter() - started)
            if answer.status_code != 200:
                raise RuntimeError(f"GET {path} answered {answer.status_code}: {answer.text[:300]}")
            sizes[name] = len(answer.content)
    return {name: {"first": t[0], "best": min(t[1:] or t), "median": statistics.median(t[1:] or t),
                   "bytes": sizes[name]} for name, t in times.items()}


PAGE_TIMES = """
const nav = performance.getEntriesByType('navigation')[0];
const paint = performance.getEntriesByType('paint').find(e => e.name === 'first-contentful-paint');
const drawn = performance.getEntriesByName('prtrace-overview')[0];
return {response: nav.responseEnd, dcl: nav.domContentLoadedEventEnd,
        fcp: paint ? paint.startTime : null, overview: drawn ? drawn.startTime : null,
        rows: document.querySelectorAll('#events tr.event-row').length};
"""


def _browser_loads(url: str, token: str, trace_id: str, loads: int) -> dict[str, Any]:
    """Page loads of the trace in headless Chromium, holding the session cookie."""
    from tests.support.browser import headless_chromium, set_session
    from tests.support.waiting import wait_for

    page = f"{url}/ui/traces/{trace_id}"
    samples: list[dict[str, Any]] = []
    with headless_chromium() as driver:
        driver.get(f"{url}/ui/login")
        set_session(driver, url, token)  # what the login form's answer sets
        for _ in range(loads + 1):  # the first load warms the browser's cache of the static files
            driver.get(page)
            wait_for(lambda: driver.execute_script("return document.body.dataset.ready === '1'"),
                     "the overview drawn", 120, 0.02)
            samples.append(driver.execute_script(PAGE_TIMES))
    samples = samples[1:]
    result: dict[str, Any] = {"loads": loads, "rows": samples[0]["rows"]}
    for key in ("response", "dcl", "fcp", "overview"):
        values = [s[key] / 1000 for s in samples if s[key] is not None]
        if len(values) != len(samples):
            raise RuntimeError(f"the page did not report {key}: {samples}")
        result[key] = {"best": min(values), "median": statistics.median(values)}
    return result


def bench_viewer(*, n_events: int, n_files: int, runs: int, loads: int) -> dict[str, Any]:
    built = time.perf_counter()
    events, hottest = make_trace(n_events, n_files=n_files, seed=15)
    build_s = time.perf_counter() - built
    counts: dict[str, int] = {}
    for event in events:
        counts[event["type"]] = counts.get(event["type"], 0) + 1
    trace_id = str(uuid.UUID(int=random.Random(15).getrandbits(128), version=4))
    result: dict[str, Any] = {"events": len(events), "counts": counts, "files": n_files, "build_s": build_s,
                              "hottest": hottest, "runs": runs}
    with tempfile.TemporaryDirectory(prefix="prtrace-bench-viewer-") as tmp:
        data = Path(tmp) / "server"
        data.mkdir()
        env = {"PRTRACE_DATA_DIR": str(data), "PRTRACE_AUTH": "required"}
        token = _token(env, "dev", "writer")
        with serving(env) as url, httpx.Client(base_url=url, timeout=300,
                                               headers={"Authorization": f"Bearer {token}"}) as client:
            result["post_s"] = _post(client, trace_id, events)
            result["compacted"] = _compacted(data, trace_id, len(events))
            edits = [e for e in events if e["type"] == "edit"]
            middle = edits[len(edits) // 2]
            detail_id = client.get(f"/v1/traces/{trace_id}/events",
                                   params={"after_seq": middle["seq"] - 1, "limit": 1}).json()["events"][0]["event_id"]
            last_seq = events[-1]["seq"]
            base = f"/ui/traces/{trace_id}"
            paths = {
                "api_page": f"/v1/traces/{trace_id}/events?limit=200",
                "api_trace": f"/v1/traces/{trace_id}",
                "page": base,
                "overview": f"{base}/overview.json",
                "rows": f"{base}/rows?after_seq={n_events // 2}",
                "detail": f"{base}/events/{detail_id}",
                "files": f"{base}/files?at={last_seq}",
                "file": f"{base}/file?at={last_seq}&path={hottest}",
            }
            result["edits_of_hottest"] = sum(1 for e in edits if e["payload"]["file"] == hottest)
            result["server"] = _timed_gets(client, paths, runs)
            for name, timing in result["server"].items():
                print(f"{name:9} first {timing['first'] * 1000:7.0f} ms  best {timing['best'] * 1000:7.0f} ms  "
                      f"median {timing['median'] * 1000:7.0f} ms  {timing['bytes']:,} bytes", flush=True)
            result["browser"] = _browser_loads(url, token, trace_id, loads)
            for key in ("fcp", "dcl", "overview"):
                timing = result["browser"][key]
                print(f"browser {key:9} best {timing['best'] * 1000:7.0f} ms  median {timing['median'] * 1000:7.0f} ms",
                      flush=True)
    return result


# ---------------------------------------------------------------- docs/benchmarks.md


def viewer_section(r: dict[str, Any], command: str) -> str:
    s, b = r["server"], r["browser"]

    def ms(value: float) -> str:
        return f"{value * 1000:,.0f} ms"

    def aim(value: float) -> str:
        return f"< 1 s: {'met' if value < AIM_S else 'missed'}"

    def srow(label: str, name: str, target: bool = False) -> str:
        t = s[name]
        goal = aim(t["median"]) + (" (cold: missed)" if t["first"] >= AIM_S else " (cold too)") if target else ""
        return (f"| {label} | {ms(t['first'])} | {ms(t['best'])} | {ms(t['median'])} | {t['bytes'] / 1024:,.0f} KiB "
                f"| {goal} |")

    def brow(label: str, name: str, target: bool = False) -> str:
        t = b[name]
        return f"| {label} | {ms(t['best'])} | {ms(t['median'])} | {aim(t['median']) if target else ''} |"

    mix = ", ".join(f"{n:,} {kind}" for kind, n in sorted(r["counts"].items(), key=lambda kv: -kv[1]))
    return "\n".join([
        f"Command: `{command}`  ",
        f"Machine: {machine()}  ",
        f"Date: {today()}",
        "",
        f"One trace of {r['events']:,} events ({mix})",
        f"over {r['files']} files created in the trace, every edit's diff applying to the one before (so the",
        "scrubber rebuilds any file at any seq from the trace alone), posted in gzip batches of",
        f"{BATCH:,} to a real `prtrace-server serve` on the embedded default with tokens required",
        f"({r['post_s']:.1f} s){', and compacted' if r['compacted'] else ''} before anything is timed. "
        "Aim: the first screen in under a second.",
        "",
        f"Server: each `GET` with httpx and a bearer token, {r['runs']} interleaved runs; the first (cold: nothing",
        "cached) apart, best and median of the rest; the API's own reads of the same trace as baselines.",
        "",
        "| request | first | best | median | size | aim |",
        "|---|---:|---:|---:|---:|---|",
        srow("`GET /v1/traces/{id}/events?limit=200` (baseline: the API's first page, JSON)", "api_page"),
        srow("`GET /v1/traces/{id}` (baseline: the API's whole trace, JSON)", "api_trace"),
        srow("`GET /ui/traces/{id}` (the first screen: header and 200 rows)", "page", target=True),
        srow("`GET …/overview.json` (every event: timeline, plots, stats, churn)", "overview"),
        srow(f"`GET …/rows?after_seq={r['events'] // 2}` (a page of 200 rows)", "rows"),
        srow("`GET …/events/{event_id}` (an edit's detail, its diff highlighted)", "detail"),
        srow("`GET …/files?at=LAST` (the file list at the last seq)", "files"),
        srow(f"`GET …/file?at=LAST&path=…` (the most edited file, {r['edits_of_hottest']:,} edits replayed)", "file"),
        "",
        f"Browser: headless Chromium (Debian's, through Selenium) holding a session cookie, {b['loads']} loads of",
        "the trace page after one that fills the cache; times from the navigation's start.",
        "",
        "| measure | best | median | aim |",
        "|---|---:|---:|---|",
        brow("response received (`responseEnd`)", "response"),
        brow("first contentful paint", "fcp", target=True),
        brow("`DOMContentLoaded` done", "dcl"),
        brow("overview drawn (`prtrace-overview` mark: timeline, plots, stats)", "overview"),
    ])


def main(argv: list[str]) -> int:
    parser = bench_parser("viewer", SUMMARY)
    parser.add_argument("--events", type=int, default=20_000, help="events in the trace")
    parser.add_argument("--files", type=int, default=60, help="files the trace creates and edits")
    parser.add_argument("--runs", type=int, default=7, help="runs per timed request (the first is reported apart)")
    parser.add_argument("--loads", type=int, default=5, help="page loads timed in the browser")
    options = parser.parse_args(argv)
    result = bench_viewer(n_events=options.events, n_files=options.files, runs=options.runs, loads=options.loads)
    publish("Viewer", viewer_section(result, command_line("viewer", argv)), no_write=options.no_write)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

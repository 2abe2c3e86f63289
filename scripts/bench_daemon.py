"""`scripts/bench daemon`: save-to-event latency, idle cost and a burst of edits, for a real
capture daemon on a big repository."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a file: the repository root is what `scripts.` needs
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from scripts.bench_common import BIN, bench_parser, command_line, machine, publish

SUMMARY = "save-to-event latency, idle cost and a burst, for a real daemon"


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

def main(argv: list[str]) -> int:
    parser = bench_parser("daemon", SUMMARY)
    parser.add_argument("--files", type=int, default=50_000, help="files in the repo")
    parser.add_argument("--edits", type=int, default=10_000, help="files rewritten in the burst")
    parser.add_argument("--idle", type=float, default=60.0, help="seconds of idle measurement")
    parser.add_argument("--saves", type=int, default=100, help="single saves timed for the latency")
    options = parser.parse_args(argv)
    command = command_line("daemon", argv)
    result = bench_daemon(options.files, options.edits, options.idle, options.saves)
    section = daemon_section(result, command)
    publish("Capture daemon", section, no_write=options.no_write)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

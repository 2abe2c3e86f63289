"""`scripts/bench read`: show, verify and replay of a long trace on a real repository; export of
many events; GET /v1/stats on PostgreSQL; each beside a baseline measured in the same run."""

from __future__ import annotations

import gzip
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import suppress
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import orjson

if __package__ in (None, ""):  # run as a file: the repository root is what `scripts.` needs
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from prtrace_core.canonical import event_id
from scripts.bench_common import (
    BIN,
    WORDS,
    bench_parser,
    code_line,
    command_line,
    machine,
    make_events,
    post_bodies,
    serving,
    start_postgres,
    write_section,
)

SUMMARY = "show, verify and replay of a long trace; export of 1M events; GET /v1/stats"


BRANCH = "feature/read-path"
GIT_IDENTITY = {"GIT_CONFIG_NOSYSTEM": "1", "GIT_AUTHOR_NAME": "Dev", "GIT_AUTHOR_EMAIL": "dev@example.com",
                "GIT_COMMITTER_NAME": "Dev", "GIT_COMMITTER_EMAIL": "dev@example.com"}
REPOS = [f"acme/{name}" for name in ("webapp", "api", "billing", "search", "mobile", "infra", "docs", "auth",
                                     "payments", "notify", "ledger", "gateway", "ui-kit", "etl", "reports",
                                     "scheduler", "cache", "crm", "ml-feat", "admin")]


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
        lines += [code_line(rng) for _ in range(rng.randint(30, 250))]
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
                body = "".join(code_line(rng) for _ in range(rng.randint(15, 60))).encode()
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
                    drop, new = 0, [code_line(rng) for _ in range(rng.randint(8, 25))]
                else:
                    drop = rng.randint(0, min(6 if len(current) > 400 else 3, len(current) - at))
                    new = [code_line(rng) for _ in range(rng.randint(0 if drop else 1, 4))]
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


def main(argv: list[str]) -> int:
    parser = bench_parser("read", SUMMARY)
    parser.add_argument("--events", type=int, default=20_000, help="events in the trace shown, verified and replayed")
    parser.add_argument("--files", type=int, default=2_000, help="files in that trace's repository")
    parser.add_argument("--runs", type=int, default=5, help="runs per timed command or query")
    parser.add_argument("--stats-runs", type=int, default=3, help="runs per stats query (each takes seconds)")
    parser.add_argument("--traces", type=int, default=200, help="traces exported and indexed for stats")
    parser.add_argument("--per-trace", type=int, default=5_000, help="events per trace exported and indexed")
    parser.add_argument("--parts", default="show,export,stats", help="what to run: show (with verify and replay), export, stats")
    options = parser.parse_args(argv)
    command = command_line("read", argv)
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
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

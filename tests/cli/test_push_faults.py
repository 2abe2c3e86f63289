"""`prtrace push` against a real `prtrace-server` that fails on purpose.

A small real HTTP proxy (a thread running a tiny HTTP server) stands between the real
`prtrace` process and the real server. It forwards every request, and on cue it answers 503
or 429 itself, holds requests at a gate, forwards a batch but loses the answer, or stops
listening so connections are refused. It notes when each request arrived and what the server
answered, so a test sees the backoff itself (the gaps grow, Retry-After is waited out) and
can count what was accepted. The server process is also killed with SIGKILL mid-push and
started again on the same data.

Every test ends by reading the trace back from the server: every event there exactly once.
"""

from __future__ import annotations

import gzip
import itertools
import json
import os
import pty
import queue
import re
import select
import sqlite3
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest

from prtrace_daemon.buffer import Buffer
from tests.conftest import BIN, run_prtrace, serving
from tests.support.server import ServerProcess
from tests.support.stack import free_port
from tests.support.waiting import wait_for

__all__ = ["FaultProxy", "StderrLines", "add_notes", "server_events"]

pytestmark = pytest.mark.e2e

FAST = {"PRTRACE_PUSH_RETRY_S": "0.2"}  # first wait 0.1–0.2 s, then 0.2–0.4 s, 0.4–0.8 s …


# the fault proxy


@dataclass
class Seen:
    """One request as the proxy saw it."""

    at: float  # time.monotonic() when it arrived
    method: str
    path: str
    status: int = 0  # what the client got; 0: no answer (the connection was dropped)
    events: int = 0  # events in a POSTed batch
    answer: dict[str, Any] = field(default_factory=dict)  # the server's JSON answer to a batch


class FaultProxy:
    """Forwards to `upstream` on a loopback port of its own, failing on cue.

    `fail_next(n, status, headers)`: the next n requests are answered by the proxy itself.
    `drop_answer_next(n)`: the next n are forwarded, but the answer is lost (the connection
    closes without one). `hold(from_request=k)` / `release()`: requests from the k-th on (0
    based) wait at a gate. `stop()` / `start()`: stop listening (connections are refused, and
    a request held at the gate is cut off unanswered) and listen again on the same port.
    Every answer closes its connection, so no client keeps one across a stop.
    """

    def __init__(self, upstream: str) -> None:
        self.upstream = upstream.rstrip("/")
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.seen: list[Seen] = []
        self._faults: list[tuple[int, dict[str, str]] | None] = []  # None: lose the answer
        self._cond = threading.Condition()
        self._gate = threading.Event()
        self._gate.set()
        self._hold_from: int | None = None
        self._cut_held = False
        self._http = httpx.Client(timeout=60)
        self._server: ThreadingHTTPServer | None = None
        self.start()

    # control

    def start(self) -> None:
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:
                proxy._handle(self)

            def do_POST(self) -> None:
                proxy._handle(self)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler, bind_and_activate=False)
        server.allow_reuse_address = True
        server.daemon_threads = True
        server.server_bind()
        server.server_activate()
        self._cut_held = False
        self._server = server
        threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()

    def stop(self) -> None:
        """Stop listening: from now on connections are refused; a held request is cut off."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        self._cut_held = True
        self.release()

    def close(self) -> None:
        self.stop()
        self._http.close()

    def fail_next(self, n: int, status: int, headers: dict[str, str] | None = None) -> None:
        with self._cond:
            self._faults += [(status, headers or {})] * n

    def drop_answer_next(self, n: int) -> None:
        with self._cond:
            self._faults += [None] * n

    def clear_faults(self) -> None:
        with self._cond:
            self._faults.clear()

    def hold(self, from_request: int = 0) -> None:
        with self._cond:
            self._hold_from = from_request
            self._gate.clear()

    def release(self) -> None:
        with self._cond:
            self._hold_from = None
            self._gate.set()

    def wait_for(self, check: Callable[[list[Seen]], bool], timeout_s: float = 60, what: str = "requests") -> None:
        with self._cond:
            assert self._cond.wait_for(lambda: check(self.seen), timeout=timeout_s), f"timed out waiting for {what}"

    def posts(self) -> list[Seen]:
        with self._cond:
            return [seen for seen in self.seen if seen.method == "POST"]

    # serving (handler threads)

    def _handle(self, handler: BaseHTTPRequestHandler) -> None:
        handler.close_connection = True
        body = handler.rfile.read(int(handler.headers.get("Content-Length") or 0))
        seen = Seen(time.monotonic(), handler.command, handler.path, events=_event_count(handler, body))
        with self._cond:
            held = self._hold_from is not None and len(self.seen) >= self._hold_from
            self.seen.append(seen)
            self._cond.notify_all()
        if held:
            self._gate.wait()
            if self._cut_held:
                return  # the server went away with the request: no answer
        with self._cond:
            faulty = bool(self._faults)
            fault = self._faults.pop(0) if faulty else None
        if fault is not None:
            status, headers = fault
            self._answer(handler, seen, status, {"detail": f"the proxy says {status}"}, headers)
            return
        headers = {k: v for k, v in handler.headers.items() if k.lower() in ("content-type", "content-encoding", "authorization", "user-agent")}
        try:
            response = self._http.request(handler.command, self.upstream + handler.path, content=body, headers=headers)
        except httpx.TransportError as exc:
            self._answer(handler, seen, 502, {"detail": f"upstream: {exc}"}, {})
            return
        if faulty:  # forwarded and stored, but the client never hears of it
            return
        try:
            answer = response.json()
        except ValueError:
            answer = {}
        if response.status_code == 200 and handler.command == "POST":
            seen.answer = answer
        retry_after = {k: v for k, v in response.headers.items() if k.lower() == "retry-after"}
        self._answer(handler, seen, response.status_code, answer, retry_after)

    def _answer(self, handler: BaseHTTPRequestHandler, seen: Seen, status: int, doc: Any, headers: dict[str, str]) -> None:
        data = json.dumps(doc).encode()
        handler.send_response(status)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Content-Length", str(len(data)))
        handler.send_header("Connection", "close")
        for key, value in headers.items():
            handler.send_header(key, value)
        handler.end_headers()
        handler.wfile.write(data)
        with self._cond:
            seen.status = status
            self._cond.notify_all()


def _event_count(handler: BaseHTTPRequestHandler, body: bytes) -> int:
    if handler.command != "POST" or not body:
        return 0
    try:
        raw = gzip.decompress(body) if handler.headers.get("Content-Encoding") == "gzip" else body
        return len(json.loads(raw).get("events", []))
    except (OSError, ValueError, AttributeError):
        return 0


@pytest.fixture
def upstream(tmp_path: Path) -> Iterator[str]:
    with serving(tmp_path / "server-data") as url:
        yield url


@pytest.fixture
def proxy(upstream: str) -> Iterator[FaultProxy]:
    fault_proxy = FaultProxy(upstream)
    try:
        yield fault_proxy
    finally:
        fault_proxy.close()


# the buffer and the server


def add_notes(home: Path, repo: Path, count: int, *, size: int = 40) -> str:
    """`count` annotations appended to the repo's trace straight into the buffer (a big
    backlog without a big session); returns the trace id."""
    with Buffer(home / "buffer.db") as buffer:
        trace = buffer.trace_for(str(repo), "main")
        assert trace is not None
        with buffer.write() as tx:
            for i in range(count):
                tx.append(trace.trace_id, "annotation", {"text": f"note {i} " + "x" * size})
        return trace.trace_id


def server_events(server: str, trace_id: str) -> list[dict[str, Any]]:
    """The trace's events as the server gives them back, in trace order."""
    response = httpx.get(f"{server}/v1/traces/{trace_id}", timeout=60)
    assert response.status_code == 200, response.text
    events: list[dict[str, Any]] = response.json()["events"]
    return events


def assert_each_once(server: str, trace_id: str, seqs: list[int]) -> None:
    """The server holds exactly these seqs of the trace, each event once."""
    events = server_events(server, trace_id)
    assert [e["seq"] for e in events] == seqs
    assert len({e["event_id"] for e in events}) == len(seqs)


def local_counts(home: Path) -> dict[str, int]:
    with Buffer(home / "buffer.db") as buffer:
        return buffer.counts()


@pytest.fixture
def started(repo: Path, prtrace_home: Path) -> Path:
    run_prtrace("start", "--no-daemon", cwd=repo, check=True)
    return repo


class StderrLines:
    """A process's stderr, line by line as it comes, read by a thread (a barrier on output)."""

    def __init__(self, proc: subprocess.Popen[str]) -> None:
        assert proc.stderr is not None
        self.lines: list[str] = []
        self._queue: queue.Queue[str | None] = queue.Queue()
        stream = proc.stderr

        def pump() -> None:
            for line in stream:
                self._queue.put(line)
            self._queue.put(None)

        threading.Thread(target=pump, daemon=True).start()

    def wait_for(self, check: Callable[[str], bool], timeout_s: float = 60) -> str:
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                line = self._queue.get(timeout=max(0.01, deadline - time.monotonic()))
            except queue.Empty:
                raise AssertionError(f"no such line on stderr; so far: {self.lines}") from None
            if line is None:
                raise AssertionError(f"stderr ended first; it said: {self.lines}")
            self.lines.append(line)
            if check(line):
                return line

    def rest(self) -> list[str]:
        while (line := self._queue.get(timeout=60)) is not None:
            self.lines.append(line)
        return self.lines


def popen_prtrace(*args: str, cwd: Path, env: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [str(BIN / "prtrace"), *args], cwd=cwd, env={**os.environ, **env},
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )


def waits_said(stderr: str) -> list[float]:
    """The waits `prtrace push` announced: "…, retrying in 0.4 s (try 2 of 6)"."""
    return [float(line.split("retrying in ")[1].split(" s")[0]) for line in stderr.splitlines() if "retrying in" in line]


# retries and backoff


def test_503s_are_retried_with_growing_waits_and_every_event_arrives_once(
    started: Path, prtrace_home: Path, proxy: FaultProxy, upstream: str
) -> None:
    trace_id = add_notes(prtrace_home, started, 20)
    proxy.fail_next(4, 503)
    result = run_prtrace("push", "--server", proxy.url, cwd=started, env={**FAST, "PRTRACE_PUSH_ATTEMPTS": "6"})
    assert result.returncode == 0, result.stderr
    said = [line for line in result.stderr.splitlines() if "retrying" in line]
    assert len(said) == 4 and all(line.startswith("server answered 503, retrying in ") for line in said)
    assert said[0].endswith("(try 2 of 6)") and said[-1].endswith("(try 5 of 6)")
    assert ": 21 new," in result.stdout and " 0 left)" in result.stdout
    posts = proxy.posts()
    assert [p.status for p in posts] == [503, 503, 503, 503, 200]
    # The waits it announced: each within its backoff (0.1–0.2 s, 0.2–0.4 s, 0.4–0.8 s,
    # 0.8–1.6 s: doubling, with jitter) and never shorter than the one before.
    waits = waits_said(result.stderr)
    for n, wait in enumerate(waits):
        assert 0.1 * 2**n - 0.05 <= wait <= 0.2 * 2**n + 0.05, waits
    assert waits == sorted(waits)
    # ... and kept: the gaps between the requests the proxy saw are at least as long.
    gaps = [b.at - a.at for a, b in itertools.pairwise(posts)]
    assert all(gap >= wait - 0.05 for gap, wait in zip(gaps, waits, strict=True)), (gaps, waits)
    assert gaps[-1] > gaps[0], gaps
    assert_each_once(upstream, trace_id, list(range(1, 22)))


def test_429_with_retry_after_is_waited_out(started: Path, prtrace_home: Path, proxy: FaultProxy, upstream: str) -> None:
    trace_id = add_notes(prtrace_home, started, 3)
    proxy.fail_next(1, 429, {"Retry-After": "2"})
    result = run_prtrace("push", "--server", proxy.url, cwd=started, env={"PRTRACE_PUSH_RETRY_S": "0.1"})
    assert result.returncode == 0, result.stderr
    assert "server answered 429, retrying in 2 s (try 2 of 6)" in result.stderr
    first, second = proxy.posts()
    assert (first.status, second.status) == (429, 200)
    assert second.at - first.at >= 1.95  # the server asked for 2 s; the backoff alone was 0.1 s
    assert_each_once(upstream, trace_id, list(range(1, 5)))


def test_refused_connections_are_retried_until_the_server_listens_again(
    started: Path, prtrace_home: Path, proxy: FaultProxy, upstream: str
) -> None:
    trace_id = add_notes(prtrace_home, started, 10)
    proxy.stop()
    proc = popen_prtrace("push", "--server", proxy.url, cwd=started, env={**FAST, "PRTRACE_PUSH_ATTEMPTS": "20"})
    stderr = StderrLines(proc)
    for _ in range(3):  # three refused tries, each said, before the server is back
        stderr.wait_for(lambda line: line.startswith("cannot reach the server (") and "retrying in" in line)
    proxy.start()
    out, _ = proc.communicate(timeout=120)
    said = "".join(stderr.rest())
    assert proc.returncode == 0, said
    waits = waits_said(said)
    assert len(waits) >= 3 and waits[2] > waits[0], waits
    assert ": 11 new," in out
    assert_each_once(upstream, trace_id, list(range(1, 12)))


def test_a_server_that_stays_away_is_one_clear_error_and_the_next_push_sends_all(
    started: Path, prtrace_home: Path, proxy: FaultProxy, upstream: str
) -> None:
    trace_id = add_notes(prtrace_home, started, 5)
    proxy.fail_next(100, 503)
    result = run_prtrace("push", "--server", proxy.url, cwd=started, env={**FAST, "PRTRACE_PUSH_ATTEMPTS": "3"})
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert len(waits_said(result.stderr)) == 2
    assert f"error: {proxy.url} answered 503" in result.stderr and "nothing is lost" in result.stderr
    assert local_counts(prtrace_home)["pending"] == 6
    assert "6 waiting to be pushed" in run_prtrace("status", cwd=started).stdout
    proxy.clear_faults()
    run_prtrace("push", "--server", proxy.url, cwd=started, check=True)
    assert_each_once(upstream, trace_id, list(range(1, 7)))


def test_a_lost_answer_is_resent_and_stored_once(started: Path, prtrace_home: Path, proxy: FaultProxy, upstream: str) -> None:
    trace_id = add_notes(prtrace_home, started, 25)
    proxy.drop_answer_next(1)  # the server stores the first batch; its answer never arrives
    result = run_prtrace("push", "--server", proxy.url, cwd=started, env={**FAST, "PRTRACE_PUSH_BATCH_EVENTS": "10"})
    assert result.returncode == 0, result.stderr
    assert "cannot reach the server" in result.stderr  # the cut answer is retried like a failure
    assert "16 new, 10 already there" in result.stdout  # the resent batch: every event a duplicate
    assert_each_once(upstream, trace_id, list(range(1, 27)))


def test_the_server_stopping_mid_push_is_survived(started: Path, prtrace_home: Path, proxy: FaultProxy, upstream: str) -> None:
    trace_id = add_notes(prtrace_home, started, 60)
    proxy.hold(from_request=3)  # three batches go through; the fourth is in flight when it stops
    proc = popen_prtrace("push", "--server", proxy.url, cwd=started,
                         env={**FAST, "PRTRACE_PUSH_BATCH_EVENTS": "10", "PRTRACE_PUSH_ATTEMPTS": "30"})
    stderr = StderrLines(proc)
    proxy.wait_for(lambda seen: len(seen) >= 4, what="the fourth batch")
    proxy.stop()
    for _ in range(2):  # the cut-off request, then a refused connection
        stderr.wait_for(lambda line: line.startswith("cannot reach the server ("))
    proxy.start()
    out, _ = proc.communicate(timeout=120)
    assert proc.returncode == 0, "".join(stderr.rest())
    assert ": 61 new," in out and " 0 left)" in out
    assert [p.status for p in proxy.posts()[:4]] == [200, 200, 200, 0]
    assert_each_once(upstream, trace_id, list(range(1, 62)))


# kill -9 of the server, restart on the same data


def index_rows(backend: dict[str, str], trace_id: str) -> tuple[int, int]:
    """(rows, distinct event ids) of the trace in the server's index, read from its database."""
    sql = "SELECT COUNT(*), COUNT(DISTINCT event_id) FROM events_index WHERE trace_id = "
    url = backend.get("PRTRACE_DATABASE_URL")
    if url:
        import psycopg

        with psycopg.connect(url) as conn:
            row = conn.execute(sql + "%s", (trace_id,)).fetchone()
    else:
        with sqlite3.connect(Path(backend["PRTRACE_DATA_DIR"]) / "index.db") as conn:
            row = conn.execute(sql + "?", (trace_id,)).fetchone()
    assert row is not None
    return int(row[0]), int(row[1])


def test_server_killed_mid_push_then_restarted_on_its_data_has_every_event_once(
    started: Path, prtrace_home: Path, backend: dict[str, str], tmp_path: Path
) -> None:
    total = 5000
    trace_id = add_notes(prtrace_home, started, total)
    server = ServerProcess({"PRTRACE_AUTH": "off", **backend}, tmp_path / "server.log").start()
    try:
        env = {"PRTRACE_PUSH_BATCH_EVENTS": "100", "PRTRACE_PUSH_ATTEMPTS": "2", "PRTRACE_PUSH_RETRY_S": "0.1"}
        proc = popen_prtrace("push", "--server", server.url, cwd=started, env=env)

        def in_flight() -> bool:  # a fifth of the way: batches are in flight
            assert proc.poll() is None, "the push ended before the kill"
            return local_counts(prtrace_home)["acked"] >= 1000

        wait_for(in_flight, "a fifth of the push to be acknowledged", 120, 0.01)
        server.kill()
        _, err = proc.communicate(timeout=60)
        assert proc.returncode == 1 and "cannot reach" in err and "Traceback" not in err
        acked = local_counts(prtrace_home)["acked"]
        assert 1000 <= acked < total + 1
        server.start()  # same port, same data dir / database / bucket
        result = run_prtrace("push", "--server", server.url, cwd=started, env=env, timeout=300)
        assert result.returncode == 0, result.stderr
        assert local_counts(prtrace_home) == {"pending": 0, "acked": total + 1, "rejected": 0}
        assert_each_once(server.url, trace_id, list(range(1, total + 2)))
        assert index_rows(backend, trace_id) == (total + 1, total + 1)
    finally:
        server.stop()


# rejected events


def test_rejected_events_are_set_aside_with_the_reason_and_block_nothing(
    started: Path, prtrace_home: Path, upstream: str
) -> None:
    with Buffer(prtrace_home / "buffer.db") as buffer:
        trace = buffer.trace_for(str(started), "main")
        assert trace is not None
        with buffer.write() as tx:
            for i in range(2, 31):
                if i == 10:
                    tx.append(trace.trace_id, "annotation", {"text": "a reading", "score": float("nan")})
                elif i == 20:
                    tx.append(trace.trace_id, "annotation", {"text": "y" * 300_000})  # over 256 KiB
                else:
                    tx.append(trace.trace_id, "annotation", {"text": f"note {i}"})
    small = {"PRTRACE_PUSH_BATCH_EVENTS": "8"}  # the rejected ones sit mid-batch, mid-queue
    result = run_prtrace("push", "--server", upstream, cwd=started, env=small)
    assert result.returncode == 0, result.stderr
    assert ": 28 new," in result.stdout and ", 2 rejected" in result.stdout and " 0 left)" in result.stdout
    assert "event_too_large" in result.stdout and "schema" in result.stdout
    assert_each_once(upstream, trace.trace_id, [n for n in range(1, 31) if n not in (10, 20)])

    with Buffer(prtrace_home / "buffer.db") as buffer:
        states = {e["seq"]: (e["state"], e.get("reason", "")) for e in buffer.events(trace.trace_id)}
    assert states[10][0] == "rejected" and states[10][1].startswith("schema: ")
    assert states[20][0] == "rejected" and states[20][1].startswith("event_too_large: ")
    status = run_prtrace("status", cwd=started, check=True).stdout
    assert "2 rejected by the server" in status
    assert "rejected: 1 × schema: " in status and "          1 × event_too_large: event: " in status

    # Not sent again; and a rejected event at the head of the queue holds back none behind it.
    with Buffer(prtrace_home / "buffer.db") as buffer, buffer.write() as tx:
        tx.append(trace.trace_id, "annotation", {"text": "bad again", "score": float("inf")})
        tx.append(trace.trace_id, "annotation", {"text": "after it"})
    again = run_prtrace("push", "--server", upstream, cwd=started, env=small, check=True)
    assert ": 1 new," in again.stdout and ", 1 rejected" in again.stdout
    assert_each_once(upstream, trace.trace_id, [n for n in range(1, 33) if n not in (10, 20, 31)])
    status = run_prtrace("status", cwd=started, check=True).stdout
    assert "3 rejected by the server" in status and "rejected: 2 × schema, e.g. " in status


# two pushes at once


def test_a_second_push_waits_for_the_first_says_so_and_nothing_is_sent_twice(
    started: Path, prtrace_home: Path, proxy: FaultProxy, upstream: str
) -> None:
    trace_id = add_notes(prtrace_home, started, 300)
    env = {"PRTRACE_PUSH_BATCH_EVENTS": "50"}
    proxy.hold()  # the first push's first batch waits at the gate, the push lock held
    first = popen_prtrace("push", "--server", proxy.url, cwd=started, env=env)
    proxy.wait_for(lambda seen: len(seen) >= 1, what="the first push's first batch")
    second = popen_prtrace("push", "--server", proxy.url, cwd=started, env=env)
    said = StderrLines(second).wait_for(lambda line: "another push is running" in line)
    assert f"pid {first.pid} (prtrace push)" in said and "waiting for it to finish" in said
    proxy.release()
    out_first, err_first = first.communicate(timeout=120)
    out_second, _ = second.communicate(timeout=120)
    assert first.returncode == 0 and second.returncode == 0, err_first
    # ": N new," as the summary words it, so that "0 new" cannot be the tail of "10 new"
    assert ": 301 new," in out_first and ": 0 new," in out_second and "(0 batches" in out_second
    answered = [p for p in proxy.posts() if p.status == 200]
    assert sum(len(p.answer["accepted_event_ids"]) for p in answered) == 301
    assert sum(len(p.answer["duplicate_event_ids"]) for p in answered) == 0  # no batch twice
    assert_each_once(upstream, trace_id, list(range(1, 302)))


# on a terminal


def test_on_a_terminal_a_bar_counts_events_and_bytes(started: Path, prtrace_home: Path, upstream: str) -> None:
    add_notes(prtrace_home, started, 40)
    leader, follower = pty.openpty()
    proc = subprocess.Popen(
        [str(BIN / "prtrace"), "push", "--server", upstream], cwd=started, stdin=follower,
        stdout=follower, stderr=follower, env={**os.environ, "COLUMNS": "120", "TERM": "xterm",
                                               "PRTRACE_PUSH_BATCH_EVENTS": "5"},
    )
    os.close(follower)
    seen = b""
    while True:
        ready, _, _ = select.select([leader], [], [], 60)
        assert ready, "no output"
        try:
            chunk = os.read(leader, 65536)
        except OSError:  # the terminal closed: the process is done
            break
        if not chunk:
            break
        seen += chunk
    os.close(leader)
    assert proc.wait(timeout=60) == 0
    text = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", seen.decode("utf-8", "replace"))  # colours, cursor moves
    assert "pushing" in text and " 0/41 events, 0 bytes sent" in text
    assert re.search(r"41/41 events, [0-9.]+ KiB sent", text), text
    assert ": 41 new," in text

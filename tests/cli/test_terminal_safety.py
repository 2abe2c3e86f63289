"""Recorded or server-sent text reaches the terminal inert: no escape sequence from a repository,
a server or another writer (clipboard writes, title changes, screen clears, 8-bit C1 controls)
is printed raw, and `[bold]` in a commit message prints as written, not as Rich markup."""

from __future__ import annotations

import json
import os
import re
import subprocess
import threading
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest

from prtrace_core.text import json_printable, printable
from tests.conftest import BIN, git

OSC52 = "\x1b]52;c;ZXZpbA==\x07"  # write "evil" to the clipboard
TITLE = "\x1b]0;pwned\x07"  # retitle the window
CLEAR = "\x1b[2J"  # clear the screen
C1 = "\u009b2J\u009d0;t\u009c"  # the same as 8-bit C1 controls (CSI, OSC, ST)
EVIL = f"a{OSC52}b{TITLE}c{CLEAR}d{C1}e\rf"
MARKUP = "[bold]loud[/bold] [/]"


def _run(*args: str, cwd: Path, stdin: bytes = b"", env: dict[str, str] | None = None) -> subprocess.CompletedProcess[bytes]:
    """The real `prtrace`, its output kept as bytes (nothing decoded away)."""
    base = {k: v for k, v in os.environ.items() if k not in ("FORCE_COLOR", "NO_COLOR")}
    return subprocess.run(
        [str(BIN / "prtrace"), *args], cwd=cwd, input=stdin, capture_output=True, timeout=60,
        env={**base, "COLUMNS": "200", **(env or {})},
    )


def _inert(data: bytes, *, colour: bool = False) -> str:
    """The output decoded, having checked it holds no control character but newline and tab
    (with `colour`, Rich's own are allowed and nothing else: colours, and a progress bar's
    cursor hiding, line erasing and carriage returns)."""
    if colour:
        data = re.sub(rb"\x1b\[[0-9;]*m|\x1b\[\?25[lh]|\x1b\[2K|\x1b\[1A|\r", b"", data)
    assert b"\x1b" not in data and b"\x07" not in data and b"\r" not in data, data
    text = data.decode("utf-8")
    bad = [ch for ch in text if (ord(ch) < 0x20 and ch not in "\n\t") or 0x7F <= ord(ch) <= 0x9F]
    assert not bad, (bad, text)
    return text


def _both_inert(proc: subprocess.CompletedProcess[bytes], *, colour: bool = False) -> str:
    _inert(proc.stderr, colour=colour)
    return _inert(proc.stdout, colour=colour)


# the pure functions


@pytest.mark.parametrize(
    ("raw", "shown"),
    [
        ("plain text", "plain text"),
        (f"x{OSC52}y", "x]52;c;ZXZpbA==y"),
        (f"x{TITLE}y", "x]0;pwnedy"),
        (f"x{CLEAR}y", "xy"),
        ("x\x1b[1;31mred\x1b[0my", "xredy"),
        ("x\u009b2Jy\u009d0;t\u009cz", "xy0;tz"),
        ("tab\tand\nnewline stay", "tab\tand\nnewline stay"),
        ("cr\rbell\x07del\x7fnul\x00", "crbelldelnul"),
        ("ünïcödé and emoji 🎉 stay", "ünïcödé and emoji 🎉 stay"),
        ("a lone surrogate \udc9b from a file name", "a lone surrogate \\x9b from a file name"),
    ],
)
def test_printable_removes_every_control_character_but_newline_and_tab(raw: str, shown: str) -> None:
    assert printable(raw) == shown


def test_printable_one_line_turns_newlines_and_tabs_into_spaces() -> None:
    assert printable("first\nerror: forged\tline", one_line=True) == "first error: forged line"


def test_json_printable_escapes_del_and_c1_and_keeps_the_value() -> None:
    doc = {"k": f"{EVIL}\x7f\u0085", "ü": "é"}
    text = json_printable(json.dumps(doc, ensure_ascii=False))
    assert json.loads(text) == doc
    assert not any(ord(ch) < 0x20 or 0x7F <= ord(ch) <= 0x9F for ch in text)
    assert "\\u009b" in text and "é" in text


# recorded here, by the real CLI


def test_a_recorded_note_command_commit_and_file_name_print_inert(repo: Path, tmp_path: Path) -> None:
    git(repo, "remote", "add", "origin", f"https://github.com/acme/calc{TITLE}[bold].git")  # the repo's name
    assert _run("start", "--no-daemon", cwd=repo).returncode == 0
    evil_file = repo / f"evil{TITLE}{CLEAR}.py"
    evil_file.write_text(f"# {EVIL}\nx = 1\n")
    assert _run("note", f"note {EVIL} {MARKUP}", cwd=repo).returncode == 0
    ran = _run("run", "--", "sh", "-c", f"echo 'out {EVIL}'; exit 3", f"arg{EVIL}", cwd=repo)
    assert ran.returncode == 3  # (its own output passes through as the command wrote it)
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", f"fix {EVIL} {MARKUP}\n\nbody {OSC52}")

    printed: dict[tuple[str, ...], str] = {}
    for args in (
        ("show", "main", "--local"),
        ("show", "main", "--local", "--diffs"),
        ("show", "main", "--local", "--json"),
        ("status",),
        ("verify", "main", "--local"),
        ("replay", "main", "--local"),
        ("stats", "main", "--local"),
        ("stats", "main", "--local", "--csv"),
        ("stats", "main", "--local", "--json"),
        ("verify", "main", "--local", "--json"),
        ("push", "--dry-run"),
        ("push", "--dry-run", "--json"),
    ):
        proc = _run(*args, cwd=repo)
        assert proc.returncode in (0, 1), (args, proc.stderr)
        printed[args] = _both_inert(proc)
    shown = printed["show", "main", "--local", "--diffs"]
    assert "[bold]loud[/bold] [/]" in shown  # markup in a note and a commit message prints as written
    assert "fix a]52;c;ZXZpbA==b]0;pwnedcd" in shown
    for args in (("show", "main", "--local", "--diffs"), ("status",), ("push", "--dry-run")):
        coloured = _run(*args, cwd=repo, env={"FORCE_COLOR": "1"})
        _both_inert(coloured, colour=True)
    assert "acme/calc]0;pwned[bold]" in printed["status",]

    doc = json.loads(printed["show", "main", "--local", "--json"])
    texts = [e["payload"].get("text") for e in doc["events"] if e["type"] == "annotation"]
    assert texts == [f"note {EVIL} {MARKUP}"]  # the JSON holds the text as recorded, escaped
    assert "\\u001b]52" in printed["show", "main", "--local", "--json"]


def test_a_trace_file_with_hostile_names_prints_inert(tmp_path: Path) -> None:
    path = tmp_path / "trace.json"
    path.write_text(json.dumps(_hostile_trace(str(uuid.uuid4()))), encoding="utf-8")
    for args in (
        ("show", str(path)),
        ("show", str(path), "--diffs"),
        ("verify", str(path)),
        ("replay", str(path)),
        ("stats", str(path)),
        ("stats", str(path), "--csv"),
    ):
        proc = _run(*args, cwd=tmp_path)
        assert proc.returncode in (0, 1), (args, proc.stderr)
        text = _both_inert(proc)
        if args[0] in ("show", "stats") and "--csv" not in args:
            assert "[bold]loud[/bold]" in text, args


# sent by a server: another writer's trace, a hostile server's error text


def test_a_trace_another_writer_pushed_prints_inert_from_the_server(server_url: str, tmp_path: Path) -> None:
    trace_id = str(uuid.uuid4())
    batch = _hostile_trace(trace_id)
    batch.pop("timeline")
    answer = httpx.post(f"{server_url}/v1/batches", json=batch, timeout=30).json()
    assert len(answer["accepted_event_ids"]) == len(batch["events"]), answer
    printed: dict[tuple[str, ...], str] = {}
    for args in (
        ("show", trace_id),
        ("show", trace_id, "--diffs"),
        ("verify", trace_id),
        ("replay", trace_id),
        ("stats", trace_id),
        ("stats", trace_id, "--json"),
        ("show", trace_id, "--json"),
    ):
        proc = _run(*args, "--server", server_url, cwd=tmp_path)
        assert proc.returncode in (0, 1), (args, proc.stderr)
        printed[args] = _both_inert(proc)
    shown = json.loads(printed["show", trace_id, "--json"])
    assert shown["repo"]["branch"] == batch["repo"]["branch"]


class _Hostile(BaseHTTPRequestHandler):
    """A server whose every answer is an error full of escape sequences and a forged line."""

    status = 400

    def _answer(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        self.rfile.read(length)
        body = json.dumps({"detail": f"bad {EVIL} {MARKUP}\nerror: forged second line"}, ensure_ascii=False).encode()
        self.send_response(self.status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = _answer

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture(params=[400, 401])
def hostile_server(request: pytest.FixtureRequest) -> Iterator[str]:
    handler = type("Handler", (_Hostile,), {"status": request.param})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_a_hostile_servers_error_text_is_one_inert_red_line(hostile_server: str, repo: Path) -> None:
    assert _run("start", "--no-daemon", cwd=repo).returncode == 0
    for args, stdin in (
        (("show", str(uuid.uuid4()), "--server", hostile_server), b""),
        (("login", "--server", hostile_server), b"prt_token\n"),
        (("push", "--server", hostile_server), b""),
    ):
        proc = _run(*args, cwd=repo, stdin=stdin, env={"PRTRACE_PUSH_ATTEMPTS": "1"})
        assert proc.returncode == 1, (args, proc.stderr)
        err = _inert(proc.stderr)
        assert "Traceback" not in err
        assert not any(line.startswith("error: forged") for line in err.splitlines()), err
        assert "bad a]52;c;ZXZpbA==b" in err and "[bold]loud[/bold]" in err, err
        coloured = _run(*args, cwd=repo, stdin=stdin, env={"PRTRACE_PUSH_ATTEMPTS": "1", "FORCE_COLOR": "1"})
        _both_inert(coloured, colour=True)


def _hostile_trace(trace_id: str) -> dict[str, Any]:
    """A trace whose every recorded text holds escape sequences and Rich markup."""
    ts = "2026-11-24T19:06:{:02d}.000Z"
    head = "3f2a9c1" + "0" * 33
    events = [
        {"seq": 1, "ts": ts.format(1), "type": "start", "payload": {"head_sha": head, "branch": f"b{EVIL}", "dirty": []}},
        {"seq": 2, "ts": ts.format(2), "type": "edit", "payload": {
            "file": f"src/{EVIL}{MARKUP}.py", "change_summary": "+1/-0", "op": "create",
            "diff": f"--- /dev/null\n+++ b/x.py\n@@ -0,0 +1 @@\n+{EVIL}\n", "before_sha": None, "after_sha": "1" * 40}},
        {"seq": 3, "ts": ts.format(3), "type": "command", "payload": {
            "command": f"echo {EVIL} {MARKUP}", "exit_code": 0, "stdout_sample": f"{EVIL}\n", "duration_ms": 5}},
        {"seq": 4, "ts": ts.format(4), "type": "test", "payload": {
            "command": f"pytest {EVIL}", "exit_code": 1, "framework": f"pytest{TITLE}", "failed": 1,
            "failed_tests": [f"test_{EVIL}"]}},
        {"seq": 5, "ts": ts.format(5), "type": "commit", "payload": {
            "sha": "4" * 40, "message": f"fix {EVIL} {MARKUP}", "files_changed": 1}},
        {"seq": 6, "ts": ts.format(6), "type": "annotation", "payload": {"text": f"note {EVIL} {MARKUP}"}},
        {"seq": 7, "ts": ts.format(7), "type": "checkout", "payload": {"from_branch": f"x{OSC52}", "to_branch": f"y{C1}"}},
        {"seq": 8, "ts": ts.format(8), "type": "custom.kind", "payload": {"what": EVIL}},
    ]
    return {
        "trace_id": trace_id,
        "repo": {"name": f"acme/{EVIL}", "branch": f"feature{EVIL}{MARKUP}", "language": [f"py{CLEAR}"]},
        "pr": {"pr_id": f"acme/x{TITLE}#1", "title": EVIL, "status": "open"},
        "developer": {"user_id": str(uuid.uuid4()), "ide_version": f"v{OSC52}", "os": f"os{C1}"},
        "timeline": {"start_time": ts.format(1), "end_time": ts.format(8), "duration_seconds": 7},
        "events": events,
    }

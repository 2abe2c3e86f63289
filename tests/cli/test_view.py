"""`prtrace view` as a user runs it: the real process over a recorded repository's buffer or a
trace file, its printed address opened with an HTTP client as a browser would (the key in the
address becomes a session cookie), and Ctrl-C as the normal way to stop it."""

from __future__ import annotations

import json
import os
import re
import select
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from prtrace_core.gitblob import blob_sha
from prtrace_daemon.blobs import BlobCache
from tests.conftest import BIN, git, isolate, make_repo, run_prtrace
from tests.viewer import edit_payload

_LINE = re.compile(r"^prtrace view: (http://127\.0\.0\.1:(\d+)(/ui\S*)) \(Ctrl-C stops\)$")


@dataclass(frozen=True)
class Recorded:
    """A short recorded session: its repository, its PRTRACE_HOME, its trace (`show --json`)."""

    repo: Path
    home: Path
    trace: dict[str, Any]


@pytest.fixture(scope="module")
def recorded(tmp_path_factory: pytest.TempPathFactory) -> Recorded:
    root = tmp_path_factory.mktemp("viewed")
    home = root / "home"
    home.mkdir()
    with pytest.MonkeyPatch.context() as env:
        isolate(env, home)
        repo = make_repo(root / "repo")
        git(repo, "checkout", "-q", "-b", "feature")
        run_prtrace("start", "--no-daemon", cwd=repo, check=True)
        (repo / "calc.py").write_text("def add(a, b):\n    return a + b\n\n\ndef mul(a, b):\n    return a * b\n")
        run_prtrace("note", "mul, <b>bold</b> & all", cwd=repo, check=True)
        git(repo, "add", "-A")
        git(repo, "commit", "-qm", "mul")
        shown = run_prtrace("show", "feature", "--json", "--local", cwd=repo, check=True)
    return Recorded(repo, home, dict(json.loads(shown.stdout)))


@dataclass(frozen=True)
class Viewing:
    """A running `prtrace view` and the address it printed."""

    proc: subprocess.Popen[str]
    url: str
    base: str
    path: str


def _first_line(proc: subprocess.Popen[str], timeout_s: float = 60) -> str:
    assert proc.stdout is not None
    ready, _, _ = select.select([proc.stdout], [], [], timeout_s)
    if not ready:
        proc.kill()
        raise AssertionError(f"prtrace view printed nothing in {timeout_s} s: {proc.communicate()[1]}")
    return proc.stdout.readline().rstrip("\n")


@contextmanager
def viewing(*args: str, cwd: Path, home: Path) -> Iterator[Viewing]:
    """`prtrace view ARGS --no-browser`, stopped with Ctrl-C (SIGINT) if the test has not."""
    proc = subprocess.Popen(
        [str(BIN / "prtrace"), "view", *args, "--no-browser"], cwd=cwd, text=True,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, env={**os.environ, "PRTRACE_HOME": str(home)},
    )
    try:
        line = _first_line(proc)
        match = _LINE.match(line)
        assert match, line
        yield Viewing(proc, match[1], f"http://127.0.0.1:{match[2]}", match[3])
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        for stream in (proc.stdout, proc.stderr):
            if stream is not None:
                stream.close()


def stop(view: Viewing) -> tuple[int, str]:
    """Ctrl-C, as a user stops it: the exit code and what it said on stderr."""
    view.proc.send_signal(signal.SIGINT)
    _, err = view.proc.communicate(timeout=20)
    return view.proc.returncode, err


def test_view_serves_the_buffers_trace_until_ctrl_c(recorded: Recorded) -> None:
    trace_id = recorded.trace["trace_id"]
    with viewing("feature", cwd=recorded.repo, home=recorded.home) as view:
        assert view.path.startswith(f"/ui/traces/{trace_id}?key=")
        with httpx.Client(follow_redirects=True, timeout=30) as browser:
            page = browser.get(view.url)
            assert page.status_code == 200, page.text
            assert "key=" not in str(page.url)  # the key was traded for a session cookie
            assert str(page.url) == f"{view.base}/ui/traces/{trace_id}"
            assert 'data-page="trace"' in page.text
            assert "&lt;b&gt;bold&lt;/b&gt;" in page.text and "<b>bold</b>" not in page.text
            overview = browser.get(f"{view.base}/ui/traces/{trace_id}/overview.json")
            assert overview.status_code == 200
            assert len(overview.json()["points"]) == len(recorded.trace["events"])
            port = view.base.rsplit(":", 1)[1]
            session = browser.cookies.get(f"prtrace_view_{port}")  # a cookie of this port's own
            assert session and session not in view.url  # a session value, not the key
        with httpx.Client(timeout=30) as stranger:  # the port alone opens nothing
            refused = stranger.get(f"{view.base}/ui/traces/{trace_id}")
            assert refused.status_code == 401
            assert "bold" not in refused.text
            spent = stranger.get(view.url)  # nor the printed address, once a browser opened it
            assert spent.status_code == 401 and "set-cookie" not in spent.headers
            assert "this address was already opened" in spent.text and "bold" not in spent.text
        code, err = stop(view)
    assert code == 0, err
    assert "Traceback" not in err
    assert len(err.strip().splitlines()) <= 1, err


def test_view_without_ref_lists_every_trace_in_the_buffer(recorded: Recorded, tmp_path: Path) -> None:
    with viewing(cwd=tmp_path, home=recorded.home) as view:
        assert view.path.startswith("/ui?key=")
        with httpx.Client(follow_redirects=True, timeout=30) as browser:
            page = browser.get(view.url)
            assert page.status_code == 200
            assert 'data-page="list"' in page.text
            assert f'data-trace-id="{recorded.trace["trace_id"]}"' in page.text
            shown = browser.get(f"{view.base}/ui/traces/{recorded.trace['trace_id']}")
            assert shown.status_code == 200
        code, err = stop(view)
    assert code == 0, err
    assert "Traceback" not in err


def test_view_reads_a_trace_file_outside_any_repository(recorded: Recorded, tmp_path: Path) -> None:
    trace_file = tmp_path / "trace.json"
    trace_file.write_text(json.dumps(recorded.trace), encoding="utf-8")
    empty_home = tmp_path / "home"
    empty_home.mkdir()
    with viewing(str(trace_file), cwd=tmp_path, home=empty_home) as view:
        with httpx.Client(follow_redirects=True, timeout=30) as browser:
            page = browser.get(view.url)
            assert page.status_code == 200
            assert str(page.url) == f"{view.base}/ui/traces/{recorded.trace['trace_id']}"
            assert 'id="trace-title"' in page.text
        code, err = stop(view)
    assert code == 0, err
    assert "Traceback" not in err


def test_view_outside_the_repository_shows_what_the_blob_cache_kept(recorded: Recorded, tmp_path: Path) -> None:
    """A file first recorded as a modify: its content before the trace is in the blob cache
    (capture keeps it), and away from the repository that is what the scrubber builds on."""
    before = b"def add(a, b):\n    return a + b\n"
    after = b"def add(a, b):\n    return a + b  # the sum\n"
    start = next(e for e in recorded.trace["events"] if e["type"] == "start")
    edit = {"seq": start["seq"] + 1, "ts": start["ts"], "type": "edit", "actor": start.get("actor"),
            "payload": edit_payload("lib.py", before, after)}
    trace_id = str(uuid.uuid4())
    trace_file = tmp_path / "trace.json"
    trace_file.write_text(json.dumps({**recorded.trace, "trace_id": trace_id, "events": [start, edit]}))
    home = tmp_path / "home"
    BlobCache(home / "blobs").put(blob_sha(before), before)
    elsewhere = tmp_path / "elsewhere"  # no repository here
    elsewhere.mkdir()
    with viewing(str(trace_file), cwd=elsewhere, home=home) as view:
        with httpx.Client(follow_redirects=True, timeout=30) as browser:
            assert browser.get(view.url).status_code == 200
            shown = browser.get(f"{view.base}/ui/traces/{trace_id}/file",
                                params={"at": str(edit["seq"]), "path": "lib.py"})
            assert shown.status_code == 200, shown.text
            assert 'class="file-content' in shown.text
            assert "the sum" in shown.text
            listed = browser.get(f"{view.base}/ui/traces/{trace_id}/files", params={"at": str(edit["seq"])})
            assert 'data-path="lib.py"' in listed.text
        code, err = stop(view)
    assert code == 0, err


def test_the_browser_is_opened_on_a_private_file_not_on_the_key(recorded: Recorded, tmp_path: Path) -> None:
    """The browser's command line is readable by every local user: it gets a file (0600, in a
    0700 folder) that forwards to the address, and the file is gone when the viewer stops."""
    log = tmp_path / "browser.log"
    browser = tmp_path / "browser"
    browser.write_text(
        "#!/bin/sh\n"
        f"echo \"argv $*\" >> {log}\n"
        "path=${1#file://}\n"
        f"stat -c 'mode %a' \"$path\" >> {log}\n"
        f"stat -c 'folder %a' \"$(dirname \"$path\")\" >> {log}\n"
        f"cat \"$path\" >> {log}\n"
    )
    browser.chmod(0o700)
    proc = subprocess.Popen(
        [str(BIN / "prtrace"), "view", "feature"], cwd=recorded.repo, text=True,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        env={**os.environ, "PRTRACE_HOME": str(recorded.home), "BROWSER": str(browser)},
    )
    try:
        line = _first_line(proc)
        match = _LINE.match(line)
        assert match, line
        key = match[1].rsplit("key=", 1)[1]
        deadline = time.monotonic() + 30
        while "</html>" not in (log.read_text() if log.exists() else "") and time.monotonic() < deadline:
            time.sleep(0.1)
        seen = log.read_text()
        argv = seen.splitlines()[0]
        assert argv.startswith("argv file://") and key not in argv
        assert "mode 600" in seen and "folder 700" in seen
        assert f'<meta http-equiv="refresh" content="0;url={match[1]}">' in seen
        opened = Path(argv.removeprefix("argv file://"))
        assert opened.exists()
    finally:
        proc.send_signal(signal.SIGINT)
        proc.communicate(timeout=20)
    assert proc.returncode == 0
    assert not opened.exists() and not opened.parent.exists()


def test_view_of_a_missing_ref_is_one_red_line(recorded: Recorded) -> None:
    proc = run_prtrace("view", "00000000-0000-4000-8000-000000000000", "--no-browser", cwd=recorded.repo,
                       env={"PRTRACE_HOME": str(recorded.home)}, timeout=60)
    assert proc.returncode == 1, (proc.stdout, proc.stderr)
    assert proc.stdout == ""
    assert "Traceback" not in proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert lines[0].startswith("error: no trace matches '00000000-0000-4000-8000-000000000000'")
    assert all(line.startswith(("error:", "hint:")) for line in lines)


def test_view_on_a_port_in_use_says_so(recorded: Recorded, tmp_path: Path) -> None:
    with viewing("feature", cwd=recorded.repo, home=recorded.home) as view:
        port = view.base.rsplit(":", 1)[1]
        proc = run_prtrace("view", "feature", "--no-browser", "--port", port, cwd=recorded.repo,
                           env={"PRTRACE_HOME": str(recorded.home)}, timeout=60)
        assert proc.returncode == 1, (proc.stdout, proc.stderr)
        assert f"cannot listen on 127.0.0.1:{port}" in proc.stderr.splitlines()[0]
        assert "Traceback" not in proc.stderr


# `prtrace view` as an install without the view extra runs it: the viewer's web stack absent.
_WITHOUT_VIEW_EXTRA = """
import sys
for name in ("uvicorn", "fastapi", "jinja2"):
    sys.modules[name] = None  # as if not installed: importing it raises ImportError
from prtrace_cli.main import main
sys.argv = ["prtrace", "view", "--no-browser"]
main()
"""


def test_view_without_its_packages_says_how_to_install_them(recorded: Recorded) -> None:
    proc = subprocess.run([sys.executable, "-c", _WITHOUT_VIEW_EXTRA], cwd=recorded.repo, capture_output=True,
                          text=True, timeout=60, env={**os.environ, "PRTRACE_HOME": str(recorded.home)})
    assert proc.returncode == 1, (proc.stdout, proc.stderr)
    assert proc.stdout == ""
    assert proc.stderr.strip().splitlines() == [
        "error: prtrace view needs the viewer's packages: pip install 'prtrace[view]'"
    ]


def _trace(trace_id: str, pr_id: str | None, branch: str = "fix/x") -> dict[str, Any]:
    return {"trace_id": trace_id, "repo": {"name": "acme/webapp", "branch": branch},
            "pr": {"pr_id": pr_id} if pr_id else None, "events": []}


def test_the_first_page_fits_what_ref_names() -> None:
    from prtrace_cli.view import page_for

    one = "0b9f8a52-6c1e-4d3a-9f57-2a4c1e8d7b10"
    two = "1c0a9b63-7d2f-4e4b-8a68-3b5d2f9e8c21"
    assert page_for(one, [_trace(one, None)]) == f"/ui/traces/{one}"
    # a PR recorded in several traces opens on the PR's page, which shows them all
    both = [_trace(one, "acme/webapp#7"), _trace(two, "acme/webapp#7")]
    assert page_for("PR-7", both) == "/ui/prs/acme/webapp/7"
    assert page_for("acme/webapp#7", both) == "/ui/prs/acme/webapp/7"
    # a branch recorded twice: the list, filtered to it
    assert page_for("fix/x", [_trace(one, None), _trace(two, None)]) == "/ui?branch=fix%2Fx&repo=acme%2Fwebapp"
    assert page_for("traces.jsonl", [_trace(one, None), _trace(two, None)]) == "/ui"

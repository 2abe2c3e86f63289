"""`prtrace run` as a terminal user meets it: a real pseudo-terminal, signals, exit codes."""

from __future__ import annotations

import json
import os
import pty
import signal
import subprocess
import sys
import time
from pathlib import Path

from tests.conftest import BIN, run_prtrace


def _last_event(repo: Path) -> dict:
    shown = run_prtrace("show", "main", "--local", "--json", cwd=repo, check=True).stdout
    return json.loads(shown)["events"][-1]


def test_on_a_terminal_the_command_sees_a_terminal(repo: Path) -> None:
    run_prtrace("start", "--no-daemon", cwd=repo, check=True)
    master, slave = pty.openpty()
    proc = subprocess.Popen(
        [str(BIN / "prtrace"), "run", "--", sys.executable, "-c", "import sys; print('tty', sys.stdout.isatty())"],
        cwd=repo, stdin=slave, stdout=slave, stderr=slave, env=os.environ.copy(),
    )
    os.close(slave)
    output = b""
    while True:
        try:
            chunk = os.read(master, 4096)
        except OSError:
            break
        if not chunk:
            break
        output += chunk
    os.close(master)
    assert proc.wait(timeout=60) == 0
    assert b"tty True" in output
    assert "tty True" in _last_event(repo)["payload"]["stdout_sample"]


def test_without_a_terminal_output_is_piped_and_the_sample_kept(repo: Path) -> None:
    run_prtrace("start", "--no-daemon", cwd=repo, check=True)
    result = run_prtrace("run", "--", sys.executable, "-c", "import sys; print('tty', sys.stdout.isatty())", cwd=repo)
    assert result.returncode == 0 and "tty False" in result.stdout


def test_sigterm_is_passed_to_the_command_and_its_end_recorded(repo: Path) -> None:
    run_prtrace("start", "--no-daemon", cwd=repo, check=True)
    with subprocess.Popen(
        [str(BIN / "prtrace"), "run", "--", sys.executable, "-u", "-c", "import time; print('ready'); time.sleep(60)"],
        cwd=repo, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
    ) as proc:
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == b"ready"
        started = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 128 + signal.SIGTERM
        assert time.monotonic() - started < 10
    event = _last_event(repo)
    assert event["type"] == "command" and event["payload"]["exit_code"] == 128 + signal.SIGTERM


def test_a_junit_report_written_by_the_run_becomes_its_test_event(repo: Path) -> None:
    run_prtrace("start", "--no-daemon", cwd=repo, check=True)
    (repo / "test_one.py").write_text("def test_ok():\n    pass\n\ndef test_bad():\n    assert False\n")
    result = run_prtrace(
        "run", "--", sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--junitxml=out/report.xml", cwd=repo
    )
    assert result.returncode == 1
    event = _last_event(repo)
    assert event["type"] == "test" and event["payload"]["framework"] == "pytest"
    assert (event["payload"]["passed"], event["payload"]["failed"]) == (1, 1)
    assert event["payload"]["failed_tests"] == ["test_one.test_bad"]

"""The commands people type all day — `note`, `run` — without Typer's or Rich's start-up.

`prtrace_cli.main` sends `prtrace note TEXT` and `prtrace run -- CMD …` here directly; the
Typer commands of the same names call the same functions, so both paths behave alike.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from prtrace_cli.state import current_repo, open_buffer, open_home, recorder

if TYPE_CHECKING:
    from prtrace_daemon.testresults import TestSummary

__all__ = ["note", "run"]


def note(text: str) -> str:
    """Record an `annotation`; returns the line to show."""
    if not text.strip():
        from prtrace_daemon.errors import ConfigError

        raise ConfigError("a note needs some text", hint='prtrace note "why I changed the parser"')
    repo = current_repo()
    home = open_home()
    with open_buffer(home) as buffer:
        recorded = recorder(home, buffer).record(repo, "annotation", {"text": text})
    extra = f" (after {recorded.edits} edit{'s' * (recorded.edits != 1)})" if recorded.edits else ""
    return f"noted as event {recorded.seq}{extra}"


def run(command: Sequence[str], junit: Path | None = None) -> int:
    """Run the command and record it; returns its exit code. The command runs even when the
    buffer cannot be written (only its record is lost, and we say so)."""
    from prtrace_core.errors import PrtraceError
    from prtrace_core.timestamps import now_ts
    from prtrace_daemon.errors import NotRegistered
    from prtrace_daemon.runner import run_command
    from prtrace_daemon.testresults import detect_framework, junit_path, parse_output

    if not command:
        from prtrace_daemon.errors import ConfigError

        raise ConfigError("no command to run", hint="prtrace run -- pytest -q")
    repo = current_repo()
    home = open_home()
    problem: PrtraceError | None = None
    buffer = None
    try:
        buffer = open_buffer(home)
        rec = recorder(home, buffer)
        rec.record(repo)  # edits made before the command come before it
    except NotRegistered:
        raise
    except PrtraceError as exc:
        problem = exc
    try:
        started = now_ts()
        started_s = time.time()
        outcome = run_command(command)
        payload: dict[str, object] = {
            "command": " ".join(command),
            "exit_code": outcome.exit_code,
            "stdout_sample": outcome.sample,
            "duration_ms": outcome.duration_ms,
            "cwd": os.getcwd(),
        }
        framework = detect_framework(command)
        kind = "command"
        summary = None
        report = junit or (Path(p) if (p := junit_path(command)) else None)
        if report is not None:
            summary = _junit_summary(report, framework, since=started_s)
        if (summary is None or not summary.found) and framework is not None:
            summary = parse_output(framework, outcome.output_for_parsing)
        if summary is not None and (summary.found or framework not in (None, "auto")):
            kind = "test"  # `npm test` that ran no runner we know stays a plain command
            payload.update(summary.payload())
        if problem is None:
            try:
                rec.record(repo, kind, payload, ts=started)
            except PrtraceError as exc:
                problem = exc
    finally:
        if buffer is not None:
            buffer.close()
    if problem is not None:
        warning = f"prtrace: the command ran, but could not be recorded: {problem}\n"
        sys.stderr.write(f"\x1b[33m{warning}\x1b[0m" if sys.stderr.isatty() else warning)
    return outcome.exit_code


def _junit_summary(report: Path, framework: str | None, *, since: float) -> TestSummary | None:
    """The results in a JUnit report written by this run (an older file is not this run's)."""
    from prtrace_daemon.testresults import parse_junit

    try:
        if report.stat().st_mtime < since - 1 or report.stat().st_size > 50 * 1024 * 1024:
            return None
        return parse_junit(report.read_bytes(), framework if framework not in (None, "auto") else "junit")
    except OSError:
        return None

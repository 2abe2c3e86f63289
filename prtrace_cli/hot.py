"""The commands people type all day — `note`, `run` — without Typer's or Rich's start-up.

`prtrace_cli.main` sends `prtrace note TEXT` and `prtrace run -- CMD …` here directly; the
Typer commands of the same names call the same functions, so both paths behave alike.

When the capture daemon runs, the event is handed to it as one spool line (handoff.py): the
daemon compares the work tree first, so edits still come before the event, and the command
costs the developer little more than Python's own start. With no daemon it is recorded here.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Sequence

from prtrace_core.timestamps import now_ts
from prtrace_daemon.paths import home_root

TYPE_CHECKING = False  # typing, like pathlib, is loaded only when a command needs it
if TYPE_CHECKING:
    from pathlib import Path
    from typing import Any

    from prtrace_core.errors import PrtraceError
    from prtrace_daemon.runner import Outcome
    from prtrace_daemon.testresults import TestSummary

__all__ = ["note", "run"]


def _handoff() -> tuple[str, str | None]:
    """The state folder, and the repo to hand the event to when a daemon runs to take it."""
    from prtrace_daemon.handoff import handoff_root

    root = home_root()
    return root, handoff_root(root, os.getcwd())


def note(text: str) -> str:
    """Record an `annotation`; returns the line to show."""
    if not text.strip():
        from prtrace_daemon.errors import ConfigError

        raise ConfigError("a note needs some text", hint='prtrace note "why I changed the parser"')
    home, root = _handoff()
    if root is not None:
        from prtrace_daemon.handoff import hand_off

        try:
            hand_off(home, root, "annotation", {"text": text}, now_ts())
            return "noted"
        except OSError:
            pass  # the spool cannot take it: record it here, saying why if that fails too
    from prtrace_cli.state import current_repo, open_buffer, open_home, recorder

    repo = current_repo()
    state = open_home()
    with open_buffer(state) as buffer:
        recorded = recorder(state, buffer).record(repo, "annotation", {"text": text})
    extra = f" (after {recorded.edits} edit{'s' * (recorded.edits != 1)})" if recorded.edits else ""
    return f"noted as event {recorded.seq}{extra}"


def run(command: Sequence[str], junit: Path | None = None) -> int:
    """Run the command and record it; returns its exit code. The command runs even when its
    record cannot be written (only the record is lost, and we say so)."""
    from prtrace_daemon.runner import run_command

    if not command:
        from prtrace_daemon.errors import ConfigError

        raise ConfigError("no command to run", hint="prtrace run -- pytest -q")
    home, root = _handoff()
    if root is None:
        return _run_here(command, junit)
    started, started_s = now_ts(), time.time()
    outcome = run_command(command)
    kind, payload = _event(command, outcome, junit, started_s)
    try:
        from prtrace_daemon.handoff import hand_off

        hand_off(home, root, kind, payload, started)
    except OSError:
        _record_here(kind, payload, started)  # the spool cannot take it: record it here instead
    return outcome.exit_code


def _record_here(kind: str, payload: dict[str, Any], started: str) -> None:
    """Record a command that has run, in process; say so when that fails too (the command's own
    exit code stands either way)."""
    from prtrace_cli.state import current_repo, open_buffer, open_home, recorder
    from prtrace_core.errors import PrtraceError
    from prtrace_daemon.errors import Paused

    try:
        repo = current_repo()
        home = open_home()
        with open_buffer(home) as buffer:
            recorder(home, buffer).record(repo, kind, payload, ts=started)
    except Paused as exc:
        sys.stderr.write(f"prtrace: {_line(exc)}; the command was not recorded\n")
    except (PrtraceError, OSError) as exc:
        _warn(str(exc))


def _run_here(command: Sequence[str], junit: Path | None) -> int:
    """`run` with no daemon: the edits made before the command are recorded before it starts."""
    from prtrace_cli.state import current_repo, open_buffer, open_home, recorder
    from prtrace_core.errors import PrtraceError
    from prtrace_daemon.errors import NotRegistered, Paused
    from prtrace_daemon.runner import run_command

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
        started, started_s = now_ts(), time.time()
        outcome = run_command(command)
        kind, payload = _event(command, outcome, junit, started_s)
        if problem is None:
            try:
                rec.record(repo, kind, payload, ts=started)
            except PrtraceError as exc:
                problem = exc
    finally:
        if buffer is not None:
            buffer.close()
    if isinstance(problem, Paused):
        sys.stderr.write(f"prtrace: {_line(problem)}; the command was not recorded\n")
    elif problem is not None:
        _warn(str(problem))
    return outcome.exit_code


def _line(problem: object) -> str:
    from prtrace_core.text import printable  # only when something is said: off the hot path

    return printable(str(problem), one_line=True)


def _warn(problem: str) -> None:
    from prtrace_core.text import printable  # only when something failed: off the hot path

    warning = f"prtrace: the command ran, but could not be recorded: {printable(problem, one_line=True)}\n"
    sys.stderr.write(f"\x1b[33m{warning}\x1b[0m" if sys.stderr.isatty() else warning)


def _event(command: Sequence[str], outcome: Outcome, junit: Path | None, started_s: float) -> tuple[str, dict[str, Any]]:
    """The `command` event, or a `test` event when a test runner's results are found."""
    from prtrace_daemon.testcommands import detect_framework, junit_path

    payload: dict[str, Any] = {
        "command": " ".join(command),
        "exit_code": outcome.exit_code,
        "stdout_sample": outcome.sample,
        "duration_ms": outcome.duration_ms,
        "cwd": os.getcwd(),
    }
    framework = detect_framework(command)
    written = junit_path(command)
    if framework is None and junit is None and written is None:
        return "command", payload
    from pathlib import Path

    from prtrace_daemon.testresults import parse_output

    report = junit or (Path(written) if written else None)

    summary = _junit_summary(report, framework, since=started_s) if report is not None else None
    if (summary is None or not summary.found) and framework is not None:
        summary = parse_output(framework, outcome.output_for_parsing)
    if summary is not None and (summary.found or framework not in (None, "auto")):
        payload.update(summary.payload())
        return "test", payload  # `npm test` that ran no runner we know stays a plain command
    return "command", payload


def _junit_summary(report: Path, framework: str | None, *, since: float) -> TestSummary | None:
    """The results in a JUnit report written by this run (an older file is not this run's)."""
    from prtrace_daemon.testresults import parse_junit

    try:
        if report.stat().st_mtime < since - 1 or report.stat().st_size > 50 * 1024 * 1024:
            return None
        return parse_junit(report.read_bytes(), framework if framework not in (None, "auto") else "junit")
    except OSError:
        return None

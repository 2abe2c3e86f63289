"""What a finished `prtrace run` is recorded as: a `command` event, or a `test` event when a
test runner's results are found, in a JUnit report the run wrote or else in its output.

Both ways into `prtrace run` (the hot dispatch and Typer's command) end here. It is on their
path, so the output parsers (testresults.py) and pathlib load only for a run that may be a test.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

from prtrace_daemon.testcommands import detect_framework, junit_path

TYPE_CHECKING = False  # typing, like pathlib, is loaded only when a run needs it
if TYPE_CHECKING:
    from pathlib import Path
    from typing import Any

    from prtrace_daemon.runner import Outcome
    from prtrace_daemon.testresults import TestSummary

__all__ = ["JUNIT_MAX_BYTES", "read_junit", "run_event"]

# A larger report is not read: its counts are not worth the memory.
JUNIT_MAX_BYTES = 50 * 1024 * 1024


def run_event(
    command: Sequence[str],
    outcome: Outcome,
    *,
    junit: Path | None,
    started_s: float,
    cwd: str | None = None,
) -> tuple[str, dict[str, Any]]:
    """The event type and payload for `command`, which ended as `outcome`; `junit` is a report
    named by `--junit`, `started_s` when the run started (an older report is not this run's);
    `cwd` where it ran, when not here (a coding agent's command)."""
    payload: dict[str, Any] = {
        "command": " ".join(command),
        "exit_code": outcome.exit_code,
        "stdout_sample": outcome.sample,
        "duration_ms": outcome.duration_ms,
        "cwd": cwd or os.getcwd(),
    }
    framework = detect_framework(command)
    written = junit_path(command)
    if framework is None and junit is None and written is None:
        return "command", payload
    from pathlib import Path

    from prtrace_daemon.testresults import parse_output

    report = junit or (Path(cwd or ".", written) if written else None)
    summary = read_junit(report, framework, since=started_s) if report is not None else None
    if (summary is None or not summary.found) and framework is not None:
        summary = parse_output(framework, outcome.output_for_parsing)
    if summary is not None and (summary.found or framework not in (None, "auto")):
        payload.update(summary.payload())
        return "test", payload  # `npm test` that ran no runner we know stays a plain command
    return "command", payload


def read_junit(report: Path, framework: str | None, *, since: float) -> TestSummary | None:
    """The results in a JUnit report written since `since` (an older file is not this run's);
    None when there is none to read."""
    from prtrace_daemon.testresults import parse_junit

    try:
        if report.stat().st_mtime < since - 1 or report.stat().st_size > JUNIT_MAX_BYTES:
            return None
        return parse_junit(
            report.read_bytes(), framework if framework not in (None, "auto") else "junit"
        )
    except OSError:
        return None

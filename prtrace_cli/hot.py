"""The commands people type all day — `note`, `run` — and the hook every new shell asks for
(`shell-init`), without Typer's or Rich's start-up.

This module only dispatches: it hands the event to the daemon or records it in process. What
a run is recorded as (a `command`, or a `test` with its results) is decided in the capture
package (prtrace_daemon.run_event).

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

from prtrace_daemon.paths import home_root

TYPE_CHECKING = False  # typing, like pathlib, is loaded only when a command needs it
if TYPE_CHECKING:
    from pathlib import Path
    from typing import Any

    from prtrace_core.errors import PrtraceError

__all__ = ["note", "run", "shell_hook"]


def _handoff() -> tuple[str, str | None]:
    """The state folder, and the repo to hand the event to when a daemon runs to take it."""
    from prtrace_daemon.handoff import handoff_root

    root = home_root()
    return root, handoff_root(root, os.getcwd())


def note(text: str) -> str:
    """Record an `annotation`; returns the line to show."""
    if not text.strip():
        from prtrace_core.errors import ConfigError

        raise ConfigError("a note needs some text", hint='prtrace note "why I changed the parser"')
    home, root = _handoff()
    if root is not None:
        from prtrace_daemon.handoff import hand_off

        try:
            hand_off(home, root, "annotation", {"text": text})
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
    from prtrace_daemon.run_event import run_event
    from prtrace_daemon.runner import run_command

    if not command:
        from prtrace_core.errors import ConfigError

        raise ConfigError("no command to run", hint="prtrace run -- pytest -q")
    home, root = _handoff()
    if root is None:
        return _run_here(command, junit)
    started_ns = time.time_ns()
    outcome = run_command(command)
    kind, payload = run_event(command, outcome, junit=junit, started_s=started_ns / 1e9)
    try:
        from prtrace_daemon.handoff import hand_off
        from prtrace_daemon.spool_format import epoch_time

        hand_off(home, root, kind, payload, epoch_time(started_ns))
    except OSError:
        _record_here(kind, payload, _ts(started_ns))  # the spool cannot take it: record it here instead
    return outcome.exit_code


def _ts(ns: int) -> str:
    """The trace's timestamp for a `time.time_ns()` reading: datetime is loaded only here, off
    the hand-off's path."""
    from datetime import UTC, datetime

    from prtrace_core.timestamps import format_ts

    moment = datetime.fromtimestamp(ns // 1_000_000_000, UTC).replace(microsecond=ns % 1_000_000_000 // 1000)
    return format_ts(moment)


def _record_here(kind: str, payload: dict[str, Any], started: str) -> None:
    """Record a command that has run, in process; say so when that fails too (the command's own
    exit code stands either way)."""
    from prtrace_cli.state import current_repo, open_buffer, open_home, recorder
    from prtrace_core.errors import PrtraceError
    from prtrace_daemon.client_errors import Paused

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
    from prtrace_daemon.client_errors import NotRegistered, Paused
    from prtrace_daemon.run_event import run_event
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
        started_ns = time.time_ns()
        started, started_s = _ts(started_ns), started_ns / 1e9
        outcome = run_command(command)
        kind, payload = run_event(command, outcome, junit=junit, started_s=started_s)
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


def shell_hook(shell: str, wrap: list[str]) -> str:
    """The hook for `shell`, with the commands in `wrap` and in config.toml's `shell_wrap`
    sent through `prtrace run`, and config.toml's `shell_ignore` patterns left out. Every new
    shell asks for it, so it loads no more than the note path does."""
    from prtrace_cli.state import open_home, settings
    from prtrace_daemon.shellinit import render

    home = open_home()
    config = settings(home)
    wraps = list(dict.fromkeys([*config.shell_wrap, *wrap]))
    return render(shell, home.root, ignore=config.shell_ignore, wrap=wraps)

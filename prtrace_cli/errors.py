"""The CLI's single error handler: expected errors are one red line and a hint, never a traceback."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable

from prtrace_core.errors import PrtraceError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from pathlib import Path

__all__ = ["run_guarded"]


def _say(line: str, style: str) -> None:
    from rich.console import Console

    from prtrace_core.text import printable

    # A message may quote a server's answer, a file name or a ref: one line, no control
    # characters, so no escape sequence in it reaches the terminal.
    Console(stderr=True, highlight=False, soft_wrap=True).print(printable(line, one_line=True), style=style, markup=False)


def run_guarded(entry: Callable[[], object]) -> int:
    """Run the CLI; map PrtraceError to exit 1, Ctrl-C to 130, anything else to 3 with a log."""
    try:
        result = entry()
    except PrtraceError as exc:
        _say(f"error: {exc}", "bold red")
        if exc.hint:
            _say(f"hint: {exc.hint}", "yellow")
        return exc.exit_code
    except KeyboardInterrupt:
        _say("interrupted", "red")
        return 130
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    except Exception:
        log = _crash_log()
        _say(f"error: prtrace hit an unexpected problem (details in {log})", "bold red")
        _say("hint: buffered events are safe; please report this with the log", "yellow")
        return 3
    return result if isinstance(result, int) else 0


def _crash_log() -> Path:
    import traceback  # only for the crash: `note` and `run` start without it

    from prtrace_daemon.paths import home

    path = home().root / "crash.log"
    # The command line (`run -- curl -H "Authorization: Bearer …"`) and the exception's text
    # may hold a secret: both are redacted before they reach the file.
    report = _redacted(f"--- prtrace {' '.join(sys.argv[1:])}\n{traceback.format_exc()}")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        with open(fd, "a", encoding="utf-8", errors="backslashreplace") as fh:
            fh.write(report)
    except OSError:
        sys.stderr.write(report)
    return path


def _redacted(text: str) -> str:
    """The text with secrets masked, by the user's own patterns too when config.toml reads; a
    placeholder when redaction itself fails: a crash report never holds a secret as it was."""
    try:
        from prtrace_core.redact import Redactor

        try:
            from prtrace_daemon.config import load_settings
            from prtrace_daemon.paths import home

            redactor = Redactor(load_settings(home().config, check=False).redact_patterns, skip_invalid=True)
        except Exception:  # an unreadable config.toml, or a pattern that does not compile
            redactor = Redactor()
        return redactor.text(text)
    except Exception:
        return "--- prtrace (the command and its traceback are withheld: they could not be redacted)\n"

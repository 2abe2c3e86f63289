"""The one guarded entry of both commands, `prtrace` and `prtrace-server`.

An error prtrace expects (`PrtraceError`) is one red line and a `hint:` line, exit 1 (or its own
code); Ctrl-C is one line and exit 130, as a shell reports SIGINT; anything else is a bug: one
line naming a crash log that holds the redacted traceback, exit 3. Never a traceback on the
terminal. Each command says where its crash log goes and how to redact it (`CrashLog`).

The guard imports nothing beyond the standard library (it is on the path of every `note` and
`run`, and the core takes no CLI library): its two lines are coloured by hand, the way Rich
would, and only on a terminal. Typer and Click catch Ctrl-C before it gets here, so each
command's Typer app is built on `guarded_group(TyperGroup)`, which hands it on as
`Interrupted`.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable

from prtrace_core.errors import Interrupted, PrtraceError

TYPE_CHECKING = False
if TYPE_CHECKING:  # `typing` costs `note` and `run` milliseconds at start: for mypy only
    from pathlib import Path
    from typing import Any, TypeVar

    from prtrace_core.redact import Redactor

    _Group = TypeVar("_Group", bound=type)

__all__ = ["CrashLog", "guarded_group", "run_guarded"]

_STYLES = {"bold red": "1;31", "red": "31", "yellow": "33"}


class CrashLog:
    """Where a command writes the traceback of an unexpected error, and how it is redacted.

    Both are functions, called only on a crash: finding the folder may read settings, and the
    redactor may compile the user's own patterns. (A plain class, not a dataclass: it is built
    on the path of every `note` and `run`.)
    """

    __slots__ = ("folder", "hint", "program", "redactor")

    def __init__(
        self,
        program: str,
        folder: Callable[[], Path],
        redactor: Callable[[], Redactor] | None = None,
        *,
        hint: str = "please report this with the log",
    ) -> None:
        self.program = program  # the command's name, heading each report
        self.folder = folder
        self.redactor = redactor  # None: the built-in rules only
        self.hint = hint


def run_guarded(entry: Callable[[], object], crash: CrashLog) -> int:
    """Run a command; map PrtraceError to its exit code (1), Ctrl-C to 130, anything else to 3
    with a crash log. Returns the exit code."""
    try:
        result = entry()
    except Interrupted:
        _say("interrupted", "red")
        return Interrupted.exit_code
    except PrtraceError as exc:
        _say(f"error: {exc}", "bold red")
        if exc.hint:
            _say(f"hint: {exc.hint}", "yellow")
        return exc.exit_code
    except KeyboardInterrupt:
        _say("interrupted", "red")
        return Interrupted.exit_code
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    except Exception:
        log = _write_crash_log(crash)
        _say(f"error: {crash.program} hit an unexpected problem (details in {log})", "bold red")
        _say(f"hint: {crash.hint}", "yellow")
        return 3
    return result if isinstance(result, int) else 0


def _say(line: str, style: str) -> None:
    from prtrace_core.text import printable

    # A message may quote a server's answer, a file name or a ref: one line, no control
    # characters, so no escape sequence in it reaches the terminal.
    text = printable(line, one_line=True)
    if _coloured():
        text = f"\x1b[{_STYLES[style]}m{text}\x1b[0m"
    try:
        sys.stderr.write(text + "\n")
        sys.stderr.flush()
    except (OSError, ValueError):  # stderr closed: the exit code still says it
        pass


def _coloured() -> bool:
    """Colour as Rich decides it: FORCE_COLOR forces it, NO_COLOR or TERM=dumb turn it off,
    otherwise only on a terminal."""
    if os.environ.get("FORCE_COLOR"):
        return True
    if "NO_COLOR" in os.environ or os.environ.get("TERM") == "dumb":
        return False
    try:
        return sys.stderr.isatty()
    except (AttributeError, ValueError):
        return False


class _CtrlCAsInterrupted:
    """Mixed into a Click or Typer group: a command's Ctrl-C leaves it as `Interrupted`.

    Click turns a KeyboardInterrupt into `Abort` ("Aborted!", exit 1), and so does a prompt;
    newer Typer turns the first into a silent exit 130 and the second into "Aborted.", exit 1.
    As `Interrupted` it reaches `run_guarded`, which says so in one line and exits 130 whatever
    the version. A command that handles Ctrl-C itself (a worker that stops cleanly) still
    does: this sees only what a command lets through.
    """

    def invoke(self, ctx: Any) -> Any:
        """Invoke the group and its subcommand, turning Ctrl-C into `Interrupted`."""
        try:
            return super().invoke(ctx)  # type: ignore[misc]  # the group class mixed with
        except KeyboardInterrupt as exc:
            raise Interrupted("interrupted") from exc
        except Exception as exc:
            # A prompt answers Ctrl-C with `raise Abort() from None`: the interrupt stays its
            # context. (Click's Abort, or Typer's own: known by name, so the core imports
            # neither.)
            if type(exc).__name__ == "Abort" and isinstance(exc.__context__, KeyboardInterrupt):
                raise Interrupted("interrupted") from exc
            raise


def guarded_group(base: _Group) -> _Group:
    """`base` (TyperGroup, or a Click group class) with Ctrl-C handed on as `Interrupted`:
    pass it as the Typer app's `cls`."""
    from typing import cast  # built with the Typer app, never on the hot path

    return cast("_Group", type(f"Guarded{base.__name__}", (_CtrlCAsInterrupted, base), {}))


def _write_crash_log(crash: CrashLog) -> Path | str:
    import traceback  # only for the crash: `note` and `run` start without it

    # The command line (`run -- curl -H "Authorization: Bearer …"`) and the exception's text
    # may hold a secret: both are redacted before they reach the file.
    report = redacted(
        f"--- {crash.program} {' '.join(sys.argv[1:])}\n{traceback.format_exc()}", crash
    )
    try:
        path = crash.folder() / "crash.log"
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        with open(fd, "a", encoding="utf-8", errors="backslashreplace") as fh:
            fh.write(report)
    except Exception:  # no folder to write to: the redacted report goes to stderr instead
        sys.stderr.write(report)
        return "the report above"
    return path


def redacted(text: str, crash: CrashLog) -> str:
    """The text with secrets masked, by the command's own redactor when it builds, else by the
    built-in rules; a placeholder when redaction itself fails: a crash report never holds a
    secret as it was."""
    try:
        from prtrace_core.redact import Redactor

        try:
            redactor = crash.redactor() if crash.redactor is not None else Redactor()
        except Exception:  # an unreadable config, or a pattern that does not compile
            redactor = Redactor()
        return redactor.text(text)
    except Exception:
        return (
            f"--- {crash.program} (the command and its traceback are withheld: "
            "they could not be redacted)\n"
        )

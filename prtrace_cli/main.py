"""`prtrace`: the developer's command.

The commands typed all day (`note TEXT`, `run -- CMD …`), the hook every new shell asks
for (`shell-init SHELL`) and `--version` are dispatched before Typer, Rich or pydantic is
imported: they are on the developer's critical path. Everything else goes through the Typer
app in `prtrace_cli.app`. Both run under the one guarded entry (`prtrace_core.guard`), with the
crash log in the state folder.
"""

from __future__ import annotations

import sys
from collections.abc import Callable

from prtrace_core.guard import CrashLog, run_guarded

TYPE_CHECKING = False
if TYPE_CHECKING:
    from pathlib import Path

    from prtrace_core.redact import Redactor

__all__ = ["CRASH_LOG", "main"]


def _state_folder() -> Path:
    from prtrace_daemon.paths import home

    return home().root


def _redactor() -> Redactor:
    """The built-in rules and the user's own patterns from config.toml (those that compile)."""
    from prtrace_core.redact import Redactor
    from prtrace_daemon.config import load_settings
    from prtrace_daemon.paths import home

    return Redactor(load_settings(home().config, check=False).redact_patterns, skip_invalid=True)


CRASH_LOG = CrashLog(
    "prtrace", _state_folder, _redactor, hint="buffered events are safe; please report this with the log"
)


def version_line() -> str:
    """`prtrace --version`'s answer, from the installed distribution."""
    from importlib.metadata import version

    return f"prtrace {version('prtrace')}"


def _hot(argv: list[str]) -> Callable[[], object] | None:
    if argv == ["--version"]:
        return lambda: print(version_line())
    if len(argv) == 2 and argv[0] == "note" and not argv[1].startswith("-"):
        from prtrace_cli import hot

        return lambda: print(hot.note(argv[1]))
    if len(argv) >= 3 and argv[0] == "run" and argv[1] == "--":
        from prtrace_cli import hot

        return lambda: hot.run(argv[2:])
    if len(argv) == 2 and argv[0] == "shell-init" and not argv[1].startswith("-"):
        from prtrace_cli import hot  # evaluated by every new shell: kept off Typer's start-up

        return lambda: print(hot.shell_hook(argv[1], []), end="")
    return None


def main() -> None:
    """Console-script entry point."""
    fast = _hot(sys.argv[1:])
    if fast is not None:
        sys.exit(run_guarded(fast, CRASH_LOG))
    from prtrace_cli.app import app

    # Standalone mode: click prints usage errors itself (exit 2) and exits with a command's
    # own code; prtrace's errors pass through it to the one handler.
    sys.exit(run_guarded(app, CRASH_LOG))


if __name__ == "__main__":
    main()

"""`prtrace`: the developer's command.

The commands typed all day (`note TEXT`, `run -- CMD …`) and the hook every new shell asks
for (`shell-init SHELL`) are dispatched before Typer, Rich or
pydantic is imported: they are on the developer's critical path. Everything else goes
through the Typer app in `prtrace_cli.app`.
"""

from __future__ import annotations

import sys
from collections.abc import Callable

from prtrace_cli.errors import run_guarded

__all__ = ["main"]


def _hot(argv: list[str]) -> Callable[[], object] | None:
    if len(argv) == 2 and argv[0] == "note" and not argv[1].startswith("-"):
        from prtrace_cli import hot

        return lambda: print(hot.note(argv[1]))
    if len(argv) >= 3 and argv[0] == "run" and argv[1] == "--":
        from prtrace_cli import hot

        return lambda: hot.run(argv[2:])
    if len(argv) == 2 and argv[0] == "shell-init" and not argv[1].startswith("-"):
        from prtrace_cli import shell  # evaluated by every new shell: kept off Typer's start-up

        return lambda: print(shell.hook_text(argv[1], []), end="")
    return None


def main() -> None:
    """Console-script entry point."""
    fast = _hot(sys.argv[1:])
    if fast is not None:
        sys.exit(run_guarded(fast))
    from prtrace_cli.app import app

    # Standalone mode: click prints usage errors itself (exit 2) and exits with a command's
    # own code; prtrace's errors pass through it to the one handler.
    sys.exit(run_guarded(app))


if __name__ == "__main__":
    main()

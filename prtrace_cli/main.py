"""`prtrace`: the developer's command. Every command module imports its heavy parts lazily."""

from __future__ import annotations

import sys

import typer

from prtrace_cli import capture, daemon, show, sync
from prtrace_cli.errors import run_guarded

__all__ = ["app", "main"]

app = typer.Typer(
    name="prtrace",
    help="Record how a pull request is really made: edits, commands, tests, commits and notes, in order.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)

app.command()(capture.start)
app.command()(capture.note)
app.command(context_settings={"allow_interspersed_args": False})(capture.run)
app.command()(capture.status)
app.command()(sync.push)
app.command()(sync.login)
app.command()(show.show)
app.command()(capture.pr)
app.command()(capture.uninstall)
app.command()(daemon.stop)
app.command()(daemon.daemon)


def main() -> None:
    """Console-script entry point."""
    # Standalone mode: click prints usage errors itself (exit 2) and exits with a command's
    # own code; prtrace's errors pass through it to the one handler.
    sys.exit(run_guarded(app))


if __name__ == "__main__":
    main()

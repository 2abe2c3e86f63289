"""The `prtrace` Typer app: every command, with its help. Imported only when needed (see main)."""

from __future__ import annotations

import inspect
from typing import Annotated

import typer
from typer.core import TyperGroup

from prtrace_cli import (
    agent_commands,
    blame,
    daemon_commands,
    export,
    importing,
    purge,
    recording,
    replay,
    shell,
    show,
    stats,
    sync,
    verify,
)
from prtrace_core.guard import guarded_group

__all__ = ["app"]

app = typer.Typer(
    name="prtrace",
    help="Record how a pull request is really made: edits, commands, tests, commits and notes, in order.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    cls=guarded_group(TyperGroup),  # Ctrl-C: one line, exit 130
    add_completion=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)



def _version(shown: bool) -> None:
    if shown:
        from prtrace_cli.main import version_line

        typer.echo(version_line())
        raise typer.Exit()


@app.callback()
def _options(
    show_version: Annotated[
        bool,
        typer.Option("--version", callback=_version, is_eager=True, help="Show the version and exit."),
    ] = False,
) -> None:
    """Record how a pull request is really made: edits, commands, tests, commits and notes, in order."""


app.command()(recording.start)
app.command()(recording.note)
app.command(context_settings={"allow_interspersed_args": False})(recording.run)
app.command()(recording.status)
app.command()(sync.push)
app.command()(sync.login)
app.command()(show.show)
app.command()(verify.verify)
app.command()(replay.replay)
app.command()(stats.stats)
app.command()(blame.blame)
app.command()(export.export)
app.add_typer(importing.app, name="import")
app.command()(recording.pr)
app.command()(recording.pause)
app.command()(recording.resume)
app.command()(recording.uninstall)
app.command()(purge.purge)
app.command(name="shell-init")(shell.shell_init)
app.add_typer(agent_commands.app, name="agent")
app.command()(daemon_commands.stop)
app.command()(daemon_commands.daemon)


@app.command()
def view(
    ref: Annotated[str | None, typer.Argument(help="PR-123, 123, owner/repo#123, a trace id, a branch, or a trace .json/.jsonl file (default: every trace in the local buffer).")] = None,
    port: Annotated[int | None, typer.Option("--port", min=1, max=65535, help="Listen on this port (default: a free one).")] = None,
    no_browser: Annotated[bool, typer.Option("--no-browser", help="Only print the address; open no browser.")] = False,
) -> None:
    r"""Open the trace viewer on this machine: the timeline, each event's detail, the files at
    any seq, the stats and plots, served on 127.0.0.1 until Ctrl-C.

    It reads the local buffer, or a trace file; a server's traces are in that server's own
    viewer, at /ui. The address printed carries a one-time key: only a browser that opened it
    can read the traces. Needs the viewer's packages: pip install 'prtrace\[view]'."""
    from prtrace_cli.view import open_view

    open_view(ref, port=port, browser=not no_browser)


def _reflow(doc: str) -> str:
    """A docstring as --help should take it: one line per paragraph, so Typer wraps it to the
    terminal instead of keeping the source's breaks at 100 columns (which cut every line of the
    command list in two). A paragraph with an indented line (shell-init's examples) stays as is."""
    paragraphs = inspect.cleandoc(doc).split("\n\n")
    return "\n\n".join(
        p if any(line[:1].isspace() for line in p.splitlines()) else " ".join(p.split("\n"))
        for p in paragraphs
    )


def _reflow_help(group: typer.Typer) -> None:
    for command in group.registered_commands:
        if command.help is None and command.callback is not None and command.callback.__doc__:
            command.help = _reflow(command.callback.__doc__)
    for sub in group.registered_groups:
        if sub.typer_instance is not None:
            _reflow_help(sub.typer_instance)


_reflow_help(app)

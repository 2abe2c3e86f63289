"""The `prtrace` Typer app: every command, with its help. Imported only when needed (see main)."""

from __future__ import annotations

import typer

from prtrace_cli import capture, daemon, export, purge, replay, shell, show, stats, sync, verify

__all__ = ["app"]

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
app.command()(verify.verify)
app.command()(replay.replay)
app.command()(stats.stats)
app.command()(export.export)
app.command()(capture.pr)
app.command()(capture.pause)
app.command()(capture.resume)
app.command()(capture.uninstall)
app.command()(purge.purge)
app.command(name="shell-init")(shell.shell_init)
app.command()(daemon.stop)
app.command()(daemon.daemon)

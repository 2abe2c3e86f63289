"""`prtrace purge`: remove recorded activity from this machine."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from prtrace_cli.state import current_repo, open_buffer, open_home, recorder
from prtrace_cli.traces import since_option
from prtrace_core.errors import PrtraceError

if TYPE_CHECKING:
    from prtrace_daemon.buffer import Buffer
    from prtrace_daemon.paths import Home
    from prtrace_daemon.purge import PurgeReport, Selection

__all__ = ["PurgeCancelled", "PurgeRefused", "purge"]

_LISTED = 20  # traces named one per line; past this, a count


class PurgeRefused(PrtraceError):
    """A purge that was not clearly asked for: nothing chosen, two choices at once, or
    everything with no one at a terminal to confirm it."""

    exit_code = 2


class PurgeCancelled(PrtraceError):
    """The developer answered no when asked to confirm."""


def purge(
    trace: Annotated[
        str | None, typer.Option("--trace", help="One trace, by its id (`prtrace status` names this branch's).", metavar="ID")
    ] = None,
    repo: Annotated[bool, typer.Option("--repo", help="Every trace of the repository you are in.")] = False,
    everything: Annotated[
        bool, typer.Option("--all", help="Every trace of every repository and the spool; cached contents only the current files need stay. Asks first.")
    ] = False,
    before: Annotated[
        str | None,
        typer.Option(
            "--before", metavar="DATE", callback=since_option,
            help="Only traces whose last event is older: 2026-12-01, a timestamp, or an age (30d, 12h).",
        ),
    ] = None,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="With --all: do not ask for confirmation.")] = False,
) -> None:
    """Remove recorded activity from this machine: the chosen traces with all their events
    (pushed or not), the cached file contents nothing left needs, and spooled activity.

    Pass one of --trace ID, --repo or --all; add --before DATE to keep recent work. A trace goes whole or not at all. Events never pushed are gone for good (the output counts them); what was pushed stays on the server. Recording goes on (`prtrace uninstall` stops it), from the files as capture last saw them.
    """
    from prtrace_core.timestamps import parse_since
    from prtrace_daemon.purge import Selection, preview
    from prtrace_daemon.purge import purge as purge_selection

    chosen = [flag for flag, on in (("--trace", trace is not None), ("--repo", repo), ("--all", everything)) if on]
    if not chosen:
        raise PurgeRefused(
            "say what to purge: --trace ID (one trace), --repo (this repository's traces) or --all (everything)",
            hint="add --before DATE to keep recent work, e.g. prtrace purge --repo --before 30d",
        )
    if len(chosen) > 1:
        raise PurgeRefused(f"{' and '.join(chosen)} cannot be combined: pass one of --trace, --repo or --all")
    if trace is not None and not trace.strip():
        raise PurgeRefused("--trace needs a trace id", hint="`prtrace status` names this branch's trace")
    selection = Selection(
        trace_ids=(trace.strip(),) if trace is not None else (),
        repo_path=str(current_repo().root) if repo else None,
        everything=everything,
        before=parse_since(before) if before is not None else None,
    )
    home = open_home()
    with open_buffer(home) as buffer:
        if not selection.wipe:
            _drain(home, buffer)
        if everything and not yes:
            _confirm(preview(buffer, selection), selection)
        report = purge_selection(home, buffer, selection, on_wait=_say_waiting)
    _print(report, selection)


def _drain(home: Home, buffer: Buffer) -> None:
    """Record what the spool holds first, so spooled activity of the chosen traces (a commit,
    a typed command) goes with them rather than arriving after the purge."""
    from rich.console import Console

    from prtrace_cli.render import line

    try:
        recorder(home, buffer).drain()
    except PrtraceError as exc:
        Console(stderr=True, highlight=False, soft_wrap=True).print(
            f"warning: the spool could not be recorded first ({line(exc)}); what it holds is not purged",
            style="yellow", markup=False,
        )


def _confirm(planned: PurgeReport, selection: Selection) -> None:
    import sys

    what = f"{len(planned.traces)} trace(s) with {planned.events} event(s)"
    if planned.unpushed:
        what += f", {planned.unpushed} of them never pushed"
    if selection.wipe:
        what += ", empty the spool, and drop cached contents no current file needs"
    if sys.stdin is None or not sys.stdin.isatty():
        raise PurgeRefused(
            f"purge --all would remove {what}, and asks first; no terminal to answer",
            hint="add --yes to purge everything without being asked",
        )
    if not typer.confirm(f"Purge {what}?", default=False, err=True):
        raise PurgeCancelled("purge cancelled: nothing was removed")


def _say_waiting(message: str) -> None:
    from rich.console import Console

    Console(stderr=True, highlight=False).print(f"{message} …", markup=False)


def _print(report: PurgeReport, selection: Selection) -> None:
    from rich.console import Console

    from prtrace_cli.render import plain

    out = Console(highlight=False, soft_wrap=True)
    if report.traces:
        out.print(f"purged {len(report.traces)} trace(s) and their {report.events} event(s)")
        for row in report.traces[:_LISTED]:
            out.print(f"  {row.trace_id}  {plain(row.repo_name)}  {plain(row.branch)}")
        if len(report.traces) > _LISTED:
            out.print(f"  … and {len(report.traces) - _LISTED} more")
        if report.unpushed:
            out.print(f"[yellow]{report.unpushed} of those events had not been pushed: they are gone for good[/]")
        if report.pushed:
            out.print(f"{report.pushed} had been pushed: the server keeps its copy")
        if report.rejected:
            out.print(f"{report.rejected} had been rejected by the server")
    else:
        scope = "" if selection.before is None else " (none idle that long)"
        out.print(f"no trace to purge{scope}")
    out.print(f"removed {report.blobs} cached file content(s) and {report.spool_files} spool file(s)")
    if report.live_shell_files:
        out.print(
            f"[yellow]note:[/] {report.live_shell_files} running shell(s) with an older prtrace hook keep their "
            "commands in a spool file (already recorded) until they exit; open new shells"
        )

"""`prtrace import git-ai|entire`: other tools' records of agent work, brought into this
repository's traces (prtrace_daemon/importers.py)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Annotated

import typer
from typer.core import TyperGroup

from prtrace_core.guard import guarded_group

if TYPE_CHECKING:
    from prtrace_daemon.importers import ImportReport

__all__ = ["app"]

app = typer.Typer(
    name="import",
    help="Bring what git-ai or Entire recorded about agent work into this repository's traces.",
    no_args_is_help=True,
    cls=guarded_group(TyperGroup),  # Ctrl-C: one line, exit 130
)

_ALL_HELP = "Every local branch that has a trace, not only the current one."


@app.command("git-ai")
def git_ai(all_branches: Annotated[bool, typer.Option("--all", help=_ALL_HELP)] = False) -> None:
    """Import git-ai's line authorship (its notes in refs/notes/ai).

    An `attribution` event per commit of the current branch with an authorship/3.0.0 note, in
    the branch's trace. Running it again adds nothing."""
    from prtrace_daemon.importers import import_git_ai

    _run("git-ai", import_git_ai, all_branches, what="note")


@app.command("entire")
def entire(all_branches: Annotated[bool, typer.Option("--all", help=_ALL_HELP)] = False) -> None:
    """Import Entire's checkpoints (the branch entire/checkpoints/v1).

    For each commit with an `Entire-Checkpoint:` trailer: an `agent` event per session, its
    prompts as `annotation` events (role: prompt) and an `attribution` for the files it
    touched. Running it again adds nothing."""
    from prtrace_daemon.importers import import_entire

    _run("Entire", import_entire, all_branches, what="checkpoint")


def _run(
    name: str, importer: Callable[..., ImportReport], all_branches: bool, *, what: str
) -> None:
    from prtrace_cli.state import current_repo, open_buffer, open_home, recorder

    repo = current_repo()
    home = open_home()
    with open_buffer(home) as buffer:
        report = importer(recorder(home, buffer), repo, all_branches=all_branches)
    _print(name, report, what)


def _print(name: str, report: ImportReport, what: str) -> None:
    """What the import did, each commit counted once (a commit on two branches imported into
    both traces is one commit, two events)."""
    from rich.console import Console

    from prtrace_cli.render import plain

    console = Console(highlight=False, soft_wrap=True)
    where = ", ".join(plain(b) for b in report.branches) or "no branch"
    console.print(
        f"imported {report.imported} commit(s) from {name} ({report.events} event(s))"
        f" into the trace of {where}"
        + (f"; {report.already} already imported" if report.already else "")
    )
    if report.malformed:
        shown = "; ".join(f"{sha[:10]}: {plain(why)}" for sha, why in report.malformed[:5])
        more = " …" if len(report.malformed) > 5 else ""
        console.print(
            f"skipped {len(report.malformed)} malformed {what}(s): {shown}{more}", style="yellow"
        )
    if report.skipped_files:
        shown = "; ".join(f"{sha[:10]}: {plain(path)}" for sha, path in report.skipped_files[:5])
        more = " …" if len(report.skipped_files) > 5 else ""
        console.print(
            f"skipped {len(report.skipped_files)} file(s) a {what} names that its commit does not"
            f" have: {shown}{more}",
            style="yellow",
        )
    if report.no_trace:
        console.print(
            f"left out {len(report.no_trace)} branch(es) with no trace yet: {', '.join(plain(b) for b in report.no_trace)}"
            " (check one out and import there)",
            style="dim",
        )

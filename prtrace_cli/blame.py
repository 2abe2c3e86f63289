"""`prtrace blame FILE`: each line with its commit, who wrote it (the developer or an agent) and
the agent's session, as `git blame` shows lines, from this repository's recorded traces."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Annotated, Any

import typer

if TYPE_CHECKING:
    from prtrace_daemon.authorship_store import BlamedLine

__all__ = ["blame"]


def blame(
    file: Annotated[str, typer.Argument(help="The file to blame, as a path from here.")],
    rev: Annotated[
        str | None,
        typer.Option(
            "--rev",
            help="Blame the file as this commit has it (default: the work tree, as git blame).",
        ),
    ] = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print JSON on stdout: one object per line.")
    ] = False,
) -> None:
    """Show who wrote each line of FILE, human or agent, like `git blame`: short commit, actor,
    agent session, line number and text. Lines keep their author through amends, rebases,
    cherry-picks and squash merges (matched by rewrite, patch-id and content)."""
    from prtrace_cli.state import current_repo
    from prtrace_cli.traces import _drained_buffer
    from prtrace_daemon.authorship_store import blame as blame_lines

    repo = current_repo()
    with _drained_buffer() as buffer:
        lines = blame_lines(buffer, repo, file, rev)
    if as_json:
        _print_json(lines)
    else:
        _print_table(lines)


def _record(line: BlamedLine) -> dict[str, Any]:
    from prtrace_core.authorship import actor_class

    return {
        "line": line.number,
        "commit": line.commit,
        "author": actor_class(line.actor),
        "actor": line.actor,
        "via": line.via,
        "text": line.text,
    }


def _print_json(lines: list[BlamedLine]) -> None:
    import json

    from prtrace_core.text import json_printable

    doc = json.dumps([_record(line) for line in lines], ensure_ascii=False, indent=2)
    sys.stdout.write(json_printable(doc) + "\n")


def _print_table(lines: list[BlamedLine]) -> None:
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    from prtrace_cli.render import actor_style, line
    from prtrace_core.actors import actor_label

    console = Console(highlight=False, width=None if sys.stdout.isatty() else 160)
    table = Table(show_header=False, box=None, pad_edge=False, padding=(0, 1))
    for name in ("commit", "actor", "session"):
        table.add_column(name, no_wrap=True)
    table.add_column("line", justify="right", no_wrap=True)
    table.add_column("text", no_wrap=True, overflow="ellipsis")
    for row in lines:
        actor = row.actor
        label = actor_label(actor) if actor else "?"
        session = str(actor.get("session") or "")[:8] if actor else ""
        commit = "00000000" if set(row.commit) == {"0"} else row.commit[:8]
        table.add_row(
            Text(commit, style="dim"),
            Text(line(label), style=actor_style(actor) if actor else "dim"),
            Text(line(session), style="dim"),
            Text(str(row.number), style="dim"),
            Text(line(row.text.expandtabs(4))),  # recorded text: never markup
        )
    console.print(table)

"""`prtrace blame FILE`: each line with its commit, who wrote it (the developer or an agent) and
the agent's session, as `git blame` shows lines, from this repository's recorded traces.

On a terminal the metadata keeps fixed columns and only the text is cut at the window's edge.
Piped, each line is `SHA8 ACTOR SESSION8 LINENO<TAB>TEXT` as a `git blame` user expects: the
fields padded to fixed widths, the text as committed (tabs kept, never cut), but never a
terminal command: the text is the repository's, written by anyone, so its escape sequences
and other control characters go (`prtrace_core.text.printable`).
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, Any

import typer

if TYPE_CHECKING:
    from rich.console import Console

    from prtrace_daemon.authorship_store import BlamedLine

__all__ = ["blame", "plain_rows"]


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
    cherry-picks and squash merges (matched by rewrite, patch-id and content).

    Piped, each line is `SHA8 ACTOR SESSION8 LINENO<TAB>TEXT`, the text uncut."""
    from prtrace_cli.state import current_repo
    from prtrace_cli.traces import _drained_buffer
    from prtrace_daemon.authorship_store import blame as blame_lines

    repo = current_repo()
    with _drained_buffer() as buffer:
        lines = blame_lines(buffer, repo, file, rev)
    if as_json:
        _print_json(lines)
    elif sys.stdout.isatty():
        _print_terminal(lines)
    else:
        sys.stdout.write(plain_rows(lines))


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


@dataclass(frozen=True, slots=True)
class _Row:
    """A blamed line's fields, printable: short commit, actor label and style, short session."""

    commit: str
    label: str
    style: str
    session: str
    number: int
    text: str  # as committed, printable, tabs kept

    @classmethod
    def of(cls, line: BlamedLine) -> _Row:
        from prtrace_cli.render import actor_style
        from prtrace_cli.render import line as one_line
        from prtrace_core.actors import actor_label
        from prtrace_core.text import printable

        actor = line.actor
        session = str(actor.get("session") or "")[:8] if actor else ""
        return cls(
            commit="00000000" if set(line.commit) == {"0"} else line.commit[:8],
            label=one_line(actor_label(actor) or "?") if actor else "?",
            style=actor_style(actor) if actor else "dim",
            session=one_line(session),
            number=line.number,
            text=printable(line.text).replace("\n", " "),
        )


def _widths(rows: list[_Row]) -> tuple[int, int]:
    """The actor column's width (its longest label) and the line number's (the largest)."""
    from rich.cells import cell_len

    label = max((cell_len(r.label) for r in rows), default=1)
    number = max((len(str(r.number)) for r in rows), default=1)
    return label, number


def _pad(text: str, width: int) -> str:
    """`text` padded with spaces to `width` terminal cells (a wide character takes two)."""
    from rich.cells import cell_len

    return text + " " * max(0, width - cell_len(text))


def plain_rows(lines: list[BlamedLine]) -> str:
    """The lines as `git blame` prints them to a pipe: `SHA8 ACTOR SESSION8 LINENO<TAB>TEXT`,
    the fields padded to fixed widths, the text whole (tabs kept, nothing cut or padded)."""
    rows = [_Row.of(line) for line in lines]
    label_width, number_width = _widths(rows)
    return "".join(
        f"{r.commit} {_pad(r.label, label_width)} {_pad(r.session, 8)}"
        f" {r.number:>{number_width}}\t{r.text}\n"
        for r in rows
    )


def _print_terminal(lines: list[BlamedLine], console: Console | None = None) -> None:
    """The lines on a terminal, coloured per actor: the metadata in fixed columns, the text
    (tabs expanded) cut with `…` at the window's edge, one screen line per file line."""
    from rich.console import Console
    from rich.text import Text

    console = console or Console(highlight=False)
    rows = [_Row.of(line) for line in lines]
    label_width, number_width = _widths(rows)
    out = Text(no_wrap=True, overflow="ellipsis", end="\n")
    for at, r in enumerate(rows):
        if at:
            out.append("\n")
        out.append(r.commit, "dim").append(" ")
        out.append(_pad(r.label, label_width), r.style).append(" ")
        out.append(_pad(r.session, 8), "dim").append(" ")
        out.append(f"{r.number:>{number_width}}", "dim").append(" ")
        out.append(r.text.expandtabs(4))  # recorded text: a `Text`, never markup
    if rows:
        console.print(out, no_wrap=True, overflow="ellipsis", crop=True)

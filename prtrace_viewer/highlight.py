"""Diffs and files as safe HTML: syntax-highlighted on the server, with CSS classes only.

Every line shown here is recorded text (a repository's code, a diff someone else wrote), so it
reaches HTML only through pygments' HtmlFormatter, which escapes what it emits, or through
`markupsafe.escape`; nothing here wraps recorded text in `Markup` as it stands. The pages'
Content-Security-Policy forbids inline styles, so the formatter emits classes, and
`stylesheet()` gives their rules, scoped under `.hl`.

A side of a diff is highlighted in pieces of a few KiB of lines, each as one text (a string
that opens on one line and closes three lines later is coloured right), then cut back into
lines. Recorded text is written by whoever holds a token, and some of pygments' lexers take
time quadratic in what they are given (Java's on a long run of bare words, TypeScript's on
one long line), so the work is bounded three ways: a line longer than `MAX_LINE` is never
given to a lexer (it is shown plain, and the pieces stop around it), no piece is longer than
`PIECE_BYTES`, and highlighting stops at `MAX_LINES` lines, `MAX_BYTES` bytes or `MAX_SECONDS`
of work, whichever comes first; the rest is shown plain.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from markupsafe import Markup, escape
from pygments import highlight
from pygments.formatters import HtmlFormatter
from pygments.lexer import Lexer
from pygments.lexers import get_lexer_for_filename
from pygments.util import ClassNotFound

__all__ = [
    "MAX_BYTES",
    "MAX_LINE",
    "MAX_LINES",
    "MAX_SECONDS",
    "PIECE_BYTES",
    "DiffKind",
    "DiffLine",
    "diff_lines",
    "file_lines",
    "stylesheet",
]

# Beyond these, lines are shown plain: highlighting is the costly part of a page.
MAX_LINES = 2_000
MAX_BYTES = 128 * 1024
MAX_LINE = 1_000  # characters: a longer line is shown plain, whatever its neighbours
PIECE_BYTES = 4 * 1024  # the most text one lexer run is given: its worst case stays small
MAX_SECONDS = 0.5  # of lexing per diff or file; the pieces left after it are shown plain

Clock = Callable[[], float]

DiffKind = Literal["hunk", "add", "del", "ctx", "meta"]

# Numbers beyond 15 digits are no file's line numbers: such a header is shown as a plain row.
_HUNK = re.compile(r"^@@ -(\d{1,15})(?:,(\d{1,15}))? \+(\d{1,15})(?:,(\d{1,15}))? @@")
_FORMATTER = HtmlFormatter(nowrap=True)


@dataclass(frozen=True, slots=True)
class DiffLine:
    """One row of a diff as the detail panel shows it; `html` is the line's text without its
    `+`/`-`/` ` tag, escaped and highlighted."""

    kind: DiffKind
    old_no: int | None
    new_no: int | None
    html: Markup


def stylesheet() -> str:
    """The rules of pygments' classes, every one under `.hl` (no rule leaks to the page)."""
    formatter = HtmlFormatter()
    return "\n".join([*formatter.get_background_style_defs(".hl"), *formatter.get_token_style_defs(".hl")]) + "\n"


def _lexer(path: str) -> Lexer | None:
    """The lexer pygments picks by the file's name; None (plain text) when it knows none."""
    try:
        return get_lexer_for_filename(path, stripnl=False, ensurenl=True)
    except ClassNotFound:
        return None


def _budget(lines: list[str]) -> int:
    """How many of `lines`, from the first, fit the highlighting cap. Lines too long to
    highlight cost nothing here: they are shown plain whatever the budget."""
    size = 0
    for number, line in enumerate(lines[:MAX_LINES]):
        if len(line) <= MAX_LINE:
            size += len(line) + 1
        if size > MAX_BYTES:
            return number
    return min(len(lines), MAX_LINES)


def _pieces(lines: list[str]) -> list[tuple[int, int, bool]]:
    """`lines` cut into runs (start, end, highlighted): each line too long to highlight alone
    and plain, the others in pieces of at most PIECE_BYTES (a longer line than that is a piece
    of its own)."""
    runs: list[tuple[int, int, bool]] = []
    start = size = 0
    for number, line in enumerate(lines):
        if len(line) > MAX_LINE:
            if start < number:
                runs.append((start, number, True))
            runs.append((number, number + 1, False))
            start, size = number + 1, 0
            continue
        if start < number and size + len(line) + 1 > PIECE_BYTES:
            runs.append((start, number, True))
            start, size = number, 0
        size += len(line) + 1
    if start < len(lines):
        runs.append((start, len(lines), True))
    return runs


def _lexed(lines: list[str], lexer: Lexer) -> list[Markup]:
    """The lines highlighted as one text when the lexer keeps the line count (it turns a lone
    `\\r` into a line end, say), else each line escaped."""
    try:
        out = highlight("\n".join(lines) + "\n", lexer, _FORMATTER).split("\n")
    except Exception:  # a third-party lexer run on untrusted text: never fail a page over colour
        out = []
    if len(out) != len(lines) + 1 or out[-1]:
        return [escape(line) for line in lines]
    # The formatter closes every span at each line end and escapes what it writes.
    return [Markup(html) for html in out[:-1]]


def _highlight(lines: list[str], lexer: Lexer | None, deadline: float, clock: Clock) -> list[Markup]:
    """The lines as HTML, one Markup per line: piece by piece while time is left before
    `deadline`, plain escaped text for long lines and for the pieces after it."""
    if lexer is None or not lines:
        return [escape(line) for line in lines]
    out: list[Markup] = []
    for start, end, lexable in _pieces(lines):
        if lexable and clock() < deadline:
            out += _lexed(lines[start:end], lexer)
        else:
            out += [escape(line) for line in lines[start:end]]
    return out


def _capped(lines: list[str], lexer: Lexer | None, clock: Clock) -> list[Markup]:
    count = _budget(lines)
    deadline = clock() + MAX_SECONDS
    return _highlight(lines[:count], lexer, deadline, clock) + [escape(line) for line in lines[count:]]


def file_lines(text: str, path: str, *, clock: Clock = time.monotonic) -> list[Markup]:
    """The file's lines as HTML, highlighted by the lexer its name suggests (`clock` measures
    the time spent lexing)."""
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()  # the last line's end starts no line
    return _capped(lines, _lexer(path), clock)


def _rows(diff: str) -> list[tuple[DiffKind, int | None, int | None, str]]:
    """The diff's rows: kind, old and new line numbers, the text without its tag. Rows
    outside a hunk (headers, `\\ No newline at end of file`) are `meta`."""
    rows: list[tuple[DiffKind, int | None, int | None, str]] = []
    old_left = new_left = 0
    old_no = new_no = 0
    for row in diff.split("\n"):
        match = _HUNK.match(row)
        if match:
            old_no, new_no = int(match[1]), int(match[3])
            old_left = int(match[2]) if match[2] is not None else 1
            new_left = int(match[4]) if match[4] is not None else 1
            rows.append(("hunk", None, None, row))
            continue
        tag, text = row[:1], row[1:]
        if tag == " " and old_left > 0 and new_left > 0:
            rows.append(("ctx", old_no, new_no, text))
            old_no, new_no, old_left, new_left = old_no + 1, new_no + 1, old_left - 1, new_left - 1
        elif tag == "-" and old_left > 0:
            rows.append(("del", old_no, None, text))
            old_no, old_left = old_no + 1, old_left - 1
        elif tag == "+" and new_left > 0:
            rows.append(("add", None, new_no, text))
            new_no, new_left = new_no + 1, new_left - 1
        elif row or rows:
            rows.append(("meta", None, None, row))
    while rows and rows[-1] == ("meta", None, None, ""):
        rows.pop()  # the diff's final line end
    return rows


def diff_lines(diff: str, path: str, *, clock: Clock = time.monotonic) -> list[DiffLine]:
    """The diff's rows with their line numbers, each side highlighted as the file it comes from
    (the old side's lines as one text, the new side's as another), within the cap."""
    rows = _rows(diff)
    lexer = _lexer(path)
    count = _budget([text for _, _, _, text in rows])
    deadline = clock() + MAX_SECONDS
    # Context lines belong to both sides (each side is lexed whole); they are shown as the
    # new side colours them.
    html: dict[int, Markup] = {}
    for shown, other in (("del", "ctx"), ("add", "ctx")):
        side = [i for i in range(count) if rows[i][0] in (shown, other)]
        for i, markup in zip(side, _highlight([rows[i][3] for i in side], lexer, deadline, clock), strict=True):
            if rows[i][0] == shown or shown == "add":
                html[i] = markup
    return [
        DiffLine(kind, old_no, new_no, html[i] if i in html else escape(text))
        for i, (kind, old_no, new_no, text) in enumerate(rows)
    ]

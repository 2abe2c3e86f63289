"""`prtrace blame`'s output: on a terminal the metadata keeps its columns and only the text is
cut at the window's edge; piped, `SHA8 ACTOR SESSION8 LINENO<TAB>TEXT` rows with the text whole
(a long line uncut, a tab kept) and no terminal command from the file's text, either way."""

from __future__ import annotations

import io
import os
import re
import shlex
import subprocess
from pathlib import Path

from rich.console import Console

from prtrace_cli.blame import _print_terminal, plain_rows
from prtrace_daemon.authorship_store import BlamedLine
from tests.conftest import BIN, git, run_prtrace

AGENT = {"kind": "agent", "name": "claude-code", "session": "sess-1234abcd", "model": "claude-x"}
LONG = "x = '" + "long " * 40 + "'"  # 205 characters
TAB = "\treturn 1"
HOSTILE = "s = '\x1b[31mred\x1b[0m \x1b]52;c;aGVsbG8=\x07 \x1b]0;owned\x07'"
ROW = re.compile(r"^([0-9a-f]{8}) (\S+) +(.{8}) +(\d+)\t(.*)$")
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


def _blamed_file(repo: Path) -> list[str]:
    """A committed file with a long line, a tab and escape sequences, in a recorded repo."""
    run_prtrace("start", "--no-daemon", cwd=repo, check=True)
    lines = ["def f():", TAB, LONG, HOSTILE, ""]
    (repo / "f.py").write_text("\n".join(lines) + "\n")
    git(repo, "add", "f.py")
    git(repo, "commit", "-q", "-m", "f")
    return lines


def test_piped_rows_are_fixed_width_fields_then_the_whole_text(repo: Path) -> None:
    lines = _blamed_file(repo)
    out = run_prtrace("blame", "f.py", cwd=repo, check=True).stdout
    sha = git(repo, "rev-parse", "HEAD").strip()[:8]
    rows = out.split("\n")
    assert rows.pop() == ""  # every row ends in a newline
    assert len(rows) == len(lines)
    found = [ROW.match(row) for row in rows]
    assert all(found), rows
    assert [m[1] for m in found if m] == [sha] * len(lines)
    assert [int(m[4]) for m in found if m] == list(range(1, len(lines) + 1))
    texts = [m[5] for m in found if m]
    assert texts[:3] == ["def f():", TAB, LONG]  # the tab kept, the long line uncut
    # the escape sequences' control characters are gone; what they carried stays visible
    assert texts[3] == "s = 'red ]52;c;aGVsbG8= ]0;owned'"
    assert "\x1b" not in out and "\x07" not in out
    # the text starts at the same column on every row, and nothing is padded after it
    assert len({row.index("\t") for row in rows}) == 1
    assert all(row == row.rstrip(" ") for row in rows)


def _render(lines: list[BlamedLine], width: int) -> list[str]:
    buffer = io.StringIO()
    console = Console(file=buffer, force_terminal=True, width=width, highlight=False)
    _print_terminal(lines, console)
    return ANSI.sub("", buffer.getvalue()).rstrip("\n").split("\n")


def test_on_a_terminal_only_the_text_is_cut_and_the_columns_stay() -> None:
    blamed = [
        BlamedLine(1, "a" * 40, AGENT, "commit", "def f():"),
        BlamedLine(2, "a" * 40, AGENT, "commit", TAB),
        BlamedLine(3, "b" * 40, {"kind": "human"}, "commit", LONG),
        BlamedLine(10, "0" * 40, None, None, HOSTILE),
    ]
    shown = _render(blamed, 60)
    assert len(shown) == 4 and all(len(row) <= 60 for row in shown)
    assert shown[0] == "aaaaaaaa claude-code sess-123  1 def f():"
    assert shown[1] == "aaaaaaaa claude-code sess-123  2     return 1"  # the tab expanded
    assert shown[2].startswith("bbbbbbbb human                 3 x = 'long long")
    assert len(shown[2]) == 60 and shown[2].endswith("…")
    assert shown[3].startswith("00000000 ?                    10 s = 'red ]52;c;")
    # a wider window shows more of the text, the same columns
    wide = _render(blamed, 120)
    assert wide[0] == shown[0] and len(wide[2]) == 120 and wide[2].startswith(shown[2][:-1])


def test_a_real_terminal_gets_the_columns_too(repo: Path) -> None:
    """Through a pseudo-terminal (`script`): what a developer at a terminal sees."""
    lines = _blamed_file(repo)
    command = shlex.join([str(BIN / "prtrace"), "blame", "f.py"])
    proc = subprocess.run(
        ["script", "-qec", command, "/dev/null"],
        cwd=repo,
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "COLUMNS": "70", "TERM": "xterm-256color"},
        check=True,
    )
    shown = [ANSI.sub("", row) for row in proc.stdout.replace("\r\n", "\n").split("\n") if row]
    assert len(shown) == len(lines)
    assert all(len(row) <= 70 for row in shown), shown
    assert shown[2].endswith("…") and "\t" not in proc.stdout
    assert "\x1b]" not in proc.stdout and "\x07" not in proc.stdout  # no title, no clipboard
    assert "]0;owned" in shown[3]  # what the sequence carried is shown as text


def test_plain_rows_of_no_lines_is_empty() -> None:
    assert plain_rows([]) == ""

"""Applying the unified diffs that edits carry, exactly as capture wrote them.

Capture builds each diff with difflib over the file's text split by `str.splitlines` (after
decoding UTF-8 with replacement), and marks a last line without a newline with git's
`\\ No newline at end of file`. Applying splits the content the same way, so line numbers
agree even for files with `\\r`, form feeds or other line breaks Python knows.
"""

from __future__ import annotations

import re

__all__ = ["PatchError", "apply_diff"]

_HUNK = re.compile(r"^@@ -(\d+)(?:,(\d+))? \+(\d+)(?:,(\d+))? @@")


class PatchError(ValueError):
    """The diff does not apply to the content it is said to change."""


def _hunks(diff: str) -> list[tuple[int, int, list[str], list[str]]]:
    """(old start, old length, old lines, new lines) per hunk, lines with their line ends."""
    rows = diff.split("\n")
    hunks = []
    i = 0
    while i < len(rows):
        match = _HUNK.match(rows[i])
        i += 1
        if not match:
            continue
        old_len = int(match[2]) if match[2] is not None else 1
        new_len = int(match[4]) if match[4] is not None else 1
        old: list[str] = []
        new: list[str] = []
        while (len(old) < old_len or len(new) < new_len) and i < len(rows):
            row = rows[i]
            i += 1
            if not row:
                break  # the end of the text: a context line is never empty (it starts with " ")
            if row.startswith("\\"):
                continue
            text = row[1:] + "\n"
            if i < len(rows) and rows[i].startswith("\\"):
                text = text[:-1]  # "\ No newline at end of file": the line has no end
                i += 1
            tag = row[:1]
            if tag == " ":
                old.append(text)
                new.append(text)
            elif tag == "-":
                old.append(text)
            elif tag == "+":
                new.append(text)
            else:
                raise PatchError(f"unexpected line in a hunk: {row[:40]!r}")
        if len(old) != old_len or len(new) != new_len:
            raise PatchError("the diff ends inside a hunk")
        hunks.append((int(match[1]), old_len, old, new))
    return hunks


def apply_diff(before: bytes, diff: str) -> bytes:
    """The content `diff` turns `before` into; PatchError when a hunk does not match."""
    lines = before.decode("utf-8", "replace").splitlines(keepends=True)
    out: list[str] = []
    position = 0
    for start, length, old, new in _hunks(diff):
        at = start - 1 if length else start  # an empty range names the line it follows
        if at < position or lines[at : at + length] != old:
            raise PatchError(f"the hunk at line {start} does not match the content before it")
        out.extend(lines[position:at])
        out.extend(new)
        position = at + length
    out.extend(lines[position:])
    return "".join(out).encode("utf-8")

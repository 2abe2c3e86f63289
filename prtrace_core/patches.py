"""Applying the unified diffs that edits carry, exactly as capture wrote them.

Capture builds each diff with difflib over the file's text split by `str.splitlines` (after
decoding UTF-8 with replacement), and marks a last line without a newline with git's
`\\ No newline at end of file`. Applying splits the content the same way, so line numbers
agree even for files with `\\r`, form feeds or other line breaks Python knows.
"""

from __future__ import annotations

import re

__all__ = ["PatchError", "apply_diff", "hunks"]

_HUNK = re.compile(r"^@@ -(\d+)(?:,(\d+))? \+(\d+)(?:,(\d+))? @@")


class PatchError(ValueError):
    """The diff does not apply to the content it is said to change."""


def hunks(diff: str) -> list[tuple[int, int, list[tuple[str, str]]]]:
    """(old start, old length, rows) per hunk: each row its tag (" " kept, "-" removed, "+"
    added) and its line with its line end. PatchError when the diff is not one capture wrote."""
    rows = diff.split("\n")
    found = []
    i = 0
    while i < len(rows):
        match = _HUNK.match(rows[i])
        i += 1
        if not match:
            continue
        old_len = int(match[2]) if match[2] is not None else 1
        new_len = int(match[4]) if match[4] is not None else 1
        tagged: list[tuple[str, str]] = []
        seen_old = seen_new = 0
        while (seen_old < old_len or seen_new < new_len) and i < len(rows):
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
            if tag not in (" ", "-", "+"):
                raise PatchError(f"unexpected line in a hunk: {row[:40]!r}")
            seen_old += tag != "+"
            seen_new += tag != "-"
            tagged.append((tag, text))
        if seen_old != old_len or seen_new != new_len:
            raise PatchError("the diff ends inside a hunk")
        found.append((int(match[1]), old_len, tagged))
    return found


def apply_diff(before: bytes, diff: str) -> bytes:
    """The content `diff` turns `before` into; PatchError when a hunk does not match."""
    lines = before.decode("utf-8", "replace").splitlines(keepends=True)
    out: list[str] = []
    position = 0
    for start, length, rows in hunks(diff):
        old = [text for tag, text in rows if tag != "+"]
        new = [text for tag, text in rows if tag != "-"]
        at = start - 1 if length else start  # an empty range names the line it follows
        if at < position or lines[at : at + length] != old:
            raise PatchError(f"the hunk at line {start} does not match the content before it")
        out.extend(lines[position:at])
        out.extend(new)
        position = at + length
    out.extend(lines[position:])
    return "".join(out).encode("utf-8")

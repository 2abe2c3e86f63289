"""Codex's apply_patch text, read into the files it writes.

Codex hands its hooks the patch itself (`*** Begin Patch … *** End Patch`), not file paths, so
the files an apply_patch call touches are known only by reading it:

    *** Begin Patch
    *** Add File: PATH          then the file's lines, each after a `+`
    *** Delete File: PATH
    *** Update File: PATH
    *** Move to: NEW_PATH       (optional, right after Update File)
    @@ [a line to find]         a hunk: ` ` context, `-` removed, `+` added lines; the first
                                hunk of a file may leave out its `@@`; an empty line is an
                                empty context line; `*** End of File` ends a hunk at the end
    *** End Patch

A hunk becomes one replacement piece: its context and removed lines (old) to its context and
added lines (new), in the file's order, with the text of its `@@` line as its anchor (Codex
looks for the hunk after that line and after the hunk before it, so the same old text in two
functions is told apart). A patch that breaks this grammar still names the files
it can, with no content and no pieces: the capture then takes those files as they are on disk,
which is better than guessing what a broken patch meant.
"""

from __future__ import annotations

from prtrace_daemon.agent_calls import FileWrite

__all__ = ["parse_patch"]

_BEGIN = "*** Begin Patch"
_END = "*** End Patch"
_ADD = "*** Add File: "
_DELETE = "*** Delete File: "
_UPDATE = "*** Update File: "
_MOVE = "*** Move to: "
_END_OF_FILE = "*** End of File"


class _File:
    """A file section being read: what its header said and the lines under it so far."""

    __slots__ = ("hunks", "lines", "moved_to", "op", "path")

    def __init__(self, op: str, path: str) -> None:
        self.op = op  # "write" (Add File), "delete", "replace" (Update File)
        self.path = path
        self.moved_to: str | None = None
        self.lines: list[str] = []  # Add File: the content's lines
        # Update File: (anchor, old lines, new lines) per hunk; anchor: its `@@` line's text
        self.hunks: list[tuple[str | None, list[str], list[str]]] = []

    def result(self, *, broken: bool) -> FileWrite:
        """The FileWrite this section describes; only its path and op when the patch is broken."""
        op = "move" if self.moved_to is not None else self.op
        if broken:
            return FileWrite(path=self.path, op=op, moved_to=self.moved_to)
        if self.op == "write":
            return FileWrite(path=self.path, op=op, content=_joined(self.lines))
        hunks = [(anchor, old, new) for anchor, old, new in self.hunks if old or new]
        return FileWrite(
            path=self.path,
            op=op,
            replacements=tuple((_joined(old), _joined(new), False) for _, old, new in hunks),
            moved_to=self.moved_to,
            anchors=tuple(anchor for anchor, _, _ in hunks),
        )


def parse_patch(text: str) -> tuple[FileWrite, ...]:
    """The files `text` (an apply_patch patch) adds, updates, moves or deletes, in its order.
    Never raises: junk gives the files it names, or none."""
    if not isinstance(text, str):
        return ()
    lines = text.split("\n")
    # Codex trims the markers, and may receive the patch inside a shell heredoc: read from the
    # first Begin Patch to the End Patch after it, and call a patch without either broken.
    starts = [i for i, line in enumerate(lines) if line.strip() == _BEGIN]
    start = starts[0] + 1 if starts else 0
    end = next((i for i in range(start, len(lines)) if lines[i].strip() == _END), None)
    broken = not starts or end is None
    files: list[_File] = []
    current: _File | None = None
    for line in lines[start : len(lines) if end is None else end]:
        header = _header(line)
        if header is not None:
            current = header
            files.append(current)
            continue
        if current is None:
            broken = broken or bool(line.strip())  # text between sections that is not a header
            continue
        if line.startswith(_MOVE) and current.op == "replace" and not current.hunks:
            current.moved_to = line[len(_MOVE) :].strip() or None
            broken = broken or current.moved_to is None
        elif current.op == "write":
            broken = broken or not line.startswith("+")
            current.lines.append(line[1:])
        elif current.op == "replace":
            broken = _hunk_line(current, line) or broken
        else:
            broken = True  # a Delete File section holds no lines
    return tuple(section.result(broken=broken) for section in files)


def _header(line: str) -> _File | None:
    """The file section `line` opens, or None when it opens none."""
    for prefix, op in ((_ADD, "write"), (_DELETE, "delete"), (_UPDATE, "replace")):
        if line.startswith(prefix):
            path = line[len(prefix) :].strip()
            return _File(op, path) if path else None
    return None


def _hunk_line(section: _File, line: str) -> bool:
    """Adds `line` to the last hunk of an Update File section; True when it fits no hunk."""
    if line.startswith("@@"):
        section.hunks.append((line[2:].strip() or None, [], []))
        return False
    if line.strip() == _END_OF_FILE:
        return not section.hunks
    if not section.hunks:
        section.hunks.append((None, [], []))  # the first hunk may leave out its @@ line
    _, old, new = section.hunks[-1]
    if line == "" or line[0] == " ":
        old.append(line[1:])
        new.append(line[1:])
    elif line[0] == "-":
        old.append(line[1:])
    elif line[0] == "+":
        new.append(line[1:])
    else:
        return True
    return False


def _joined(lines: list[str]) -> str:
    """The text of `lines`, each ended by a newline as it is in the file."""
    return "".join(line + "\n" for line in lines)

"""The spool: lines appended by git hooks and shell hooks without starting Python.

Each writer appends to a file of its own (`<kind>.<pid>.spool`), one line per `write()`. A
git hook's file, or any file whose writer has exited, is taken whole by rename; a live
shell keeps appending to its file, so that one is read from where the last drain stopped
(its offset is kept in the buffer). Lines come back in the order they were written across
files; the caller records each in the same transaction that marks it done (by the sha256
of the raw line), so a crash at any point neither loses nor repeats a line.
"""

from __future__ import annotations

import hashlib
import os
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from prtrace_core.timestamps import format_ts

__all__ = ["SpoolLine", "Taken", "is_count", "parse_line", "release", "sweep_scratch", "take_lines", "unescape"]


def is_count(text: str, *, signed: bool = False) -> bool:
    """A whole number as the hooks write one (ASCII digits, a sign when allowed)."""
    return _COUNT.match(text[1:] if signed and text.startswith("-") else text) is not None

_EPOCH = re.compile(r"\A([0-9]{9,11})[.,]([0-9]{1,9})\Z")
_COUNT = re.compile(r"\A[0-9]{1,12}\Z")  # ASCII digits only: str.isdigit() takes "²", int() does not
_ESCAPES = {"\\": "\\", "t": "\t", "n": "\n", "r": "\r"}
_ESCAPED = re.compile(r"\\(.)", re.DOTALL)


@dataclass(frozen=True, slots=True)
class SpoolLine:
    key: str  # sha256 of the raw line: what marks it done
    kind: str
    ts: str  # when it happened (a shell command: when it started)
    repo_path: str
    fields: tuple[str, ...]
    order: str = ""  # when it was written (a shell command: when it ended); sorts lines across files
    written_ns: int = 0  # its file's mtime when read: no later than the line's own write for a one-line file


@dataclass(slots=True)
class Taken:
    """What one drain claimed: the lines, the files to remove once they are recorded, and how
    far each live shell file has been read (name → (inode, byte offset))."""

    lines: list[SpoolLine] = field(default_factory=list)
    files: list[Path] = field(default_factory=list)
    offsets: dict[str, tuple[int, int]] = field(default_factory=dict)


def unescape(text: str) -> str:
    """Undo the shell hooks' escaping of `\\`, tab, newline and CR (one line per record)."""
    return _ESCAPED.sub(lambda m: _ESCAPES.get(m.group(1), m.group(0)), text) if "\\" in text else text


def _iso(ts: str) -> tuple[str, datetime | None]:
    """A hook's ISO time as it is; a shell's `$EPOCHREALTIME` (seconds.micros) made ISO."""
    match = _EPOCH.match(ts)
    if match is None:
        return ts, None
    seconds, fraction = match.groups()
    moment = datetime.fromtimestamp(int(seconds), UTC) + timedelta(microseconds=int(fraction.ljust(6, "0")[:6]))
    return format_ts(moment), moment


def parse_line(raw: bytes, written_ns: int = 0) -> SpoolLine | None:
    """A `v1\\tKIND\\tTS\\tREPO\\t…` line, or None for anything else (a torn or foreign line).

    A shell's `command` line carries its duration (ms) as its second field and its time as
    epoch seconds: when it started, or, after an `@`, when it ended (fish has no clock to read
    at the start without starting a process). A git hook leaves the time out (`date` would be a
    process in git's path): its file's mtime, `written_ns`, is when it appended its line.
    """
    try:
        return _parse(raw, written_ns)
    except (ValueError, OverflowError):  # a line no hook of ours writes: skipped, never fatal
        return None


def _parse(raw: bytes, written_ns: int) -> SpoolLine | None:
    text = raw.decode("utf-8", "surrogateescape").rstrip("\n")
    parts = text.split("\t")
    if len(parts) < 4 or parts[0] != "v1" or not parts[1] or not parts[3]:
        return None
    fields = tuple(parts[4:])
    if not parts[2]:  # the time joins the key: `git checkout main` twice writes the same line
        written = format_ts(datetime.fromtimestamp(written_ns / 1e9, UTC))
        key = hashlib.sha256(str(written_ns).encode() + raw).hexdigest()
        return SpoolLine(key, parts[1], written, parts[3], fields, written, written_ns)
    ended = parts[2].startswith("@")
    ts, moment = _iso(parts[2].removeprefix("@"))
    order = ts
    if parts[1] == "event" and written_ns:
        order = format_ts(datetime.fromtimestamp(written_ns / 1e9, UTC))  # `run` gives its start
    if parts[1] == "command" and moment is not None and len(fields) > 1 and _COUNT.match(fields[1]):
        duration = timedelta(milliseconds=int(fields[1]))
        if ended:
            ts = format_ts(moment - duration)
        else:
            order = format_ts(moment + duration)
    return SpoolLine(hashlib.sha256(raw).hexdigest(), parts[1], ts, parts[3], fields, order, written_ns)


def _writer_alive(name: str) -> bool:
    parts = name.split(".")
    if len(parts) < 3 or not parts[1].isdigit():
        return False
    try:
        os.kill(int(parts[1]), 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _complete(path: Path) -> bool:
    try:
        with path.open("rb") as handle:
            handle.seek(-1, os.SEEK_END)
            return handle.read(1) == b"\n"
    except OSError:  # empty (the seek fails), or gone
        return False


def _read(path: Path, start: tuple[int, int] | None) -> tuple[list[SpoolLine], int, int]:
    """Complete lines from the byte offset `start` gives (when it is for this very file);
    returns them, the file's inode and the offset just after the last complete line."""
    try:
        with path.open("rb") as handle:
            stat = os.fstat(handle.fileno())
            inode = stat.st_ino
            # Another file under the name (a reused pid whose old file was removed by hand) may
            # even have the old inode: one shorter than the offset is read from its start.
            offset = start[1] if start is not None and start[0] == inode and start[1] <= stat.st_size else 0
            handle.seek(offset)
            data = handle.read()
    except OSError:
        return [], 0, 0
    end = data.rfind(b"\n") + 1  # a line still being written waits for the next drain
    lines = [line for raw in data[:end].splitlines(keepends=True) if (line := parse_line(raw, stat.st_mtime_ns)) is not None]
    return lines, inode, offset + end


def take_lines(spool: Path, offsets: dict[str, tuple[int, int]] | None = None) -> Taken:
    """Claim every spool line not yet taken, in the order they were written.

    Finished files (a git hook's, or any whose writer has exited) are taken by rename and
    listed for release; a live shell's file is read from `offsets` on and left in place.
    """
    offsets = offsets or {}
    taken = Taken()
    try:
        names = sorted(os.listdir(spool))
    except FileNotFoundError:
        return taken
    for name in names:
        path = spool / name
        if name.endswith(".draining"):
            claimed = path  # left by a drain that died: its lines are claimed or not, either way safe
        elif not name.endswith(".spool"):
            continue
        elif name.startswith("hook.") or not _writer_alive(name):
            # A git hook writes its one line before it runs the user's hook, which may take
            # long (the same pid, by exec): its file is complete once the line is, and not
            # before: the file exists (and wakes the daemon) an instant before its line does.
            if name.startswith("hook.") and _writer_alive(name) and not _complete(path):
                continue
            claimed = spool / f"{name}.draining"
            try:
                os.replace(path, claimed)
            except FileNotFoundError:
                continue
        else:  # a shell that is still running appends to this file: read on from the offset
            lines, inode, end = _read(path, offsets.get(name))
            taken.lines.extend(lines)
            if inode:
                taken.offsets[name] = (inode, end)
            continue
        base = claimed.name.removesuffix(".draining")
        lines, _, _ = _read(claimed, offsets.get(base))  # a rename keeps the inode, so the offset holds
        taken.lines.extend(lines)
        taken.files.append(claimed)
    taken.lines.sort(key=lambda line: line.order or line.ts)
    return taken


def release(files: list[Path]) -> None:
    """Remove drained files (their lines are recorded and marked done)."""
    for path in files:
        path.unlink(missing_ok=True)


def sweep_scratch(folder: Path) -> None:
    """Remove the shell hooks' scratch files (`<shell>.<pid>.*`) of shells that have exited."""
    try:
        names = os.listdir(folder)
    except OSError:
        return
    for name in names:
        if not _writer_alive(name):
            (folder / name).unlink(missing_ok=True)

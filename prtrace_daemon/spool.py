"""The spool: lines appended by git hooks, shell hooks, `note` and `run` without starting Python.

This module keeps the files: which to take, in what order, what to set aside. What a line says
is spool_format.py's; what it records is spool_events.py's.

Who writes which file:

- `shell.<pid>.<start>.spool`: one file per command typed in an interactive shell, named by
  the shell's pid and the command's start time (fish: its end time), to the microsecond.
- `cli.<pid>.<ns>.spool`: `note` or `run` handing an event to the daemon (handoff.py),
  created with O_EXCL.
- `hook.<pid>.spool`: a git hook, one line (it then execs the user's own hook, same pid).
- `agent.<pid>.spool`: a coding agent's hook (`prtrace agent install`), one line: the hook's
  JSON input. Taken like a git hook's file.
- `shell.<pid>.spool`: a shell that loaded the hook of an older prtrace appends every command
  to this one file for as long as it lives.

Taking files while writers write, without losing a line. A shell's `>>` opens the file, then
writes. A drainer that reads a shared file and then renames or truncates it loses a line
whose writer opened the file before the rename (or truncate) and wrote after the read; no
check the drainer can make closes that window without the writer's help, and shells have no
flock builtin. So instead no file is written twice: each of the first three kinds is opened
for writing by one writer, once (its name is unique: a pid and a clock reading, or O_EXCL; a
git hook's pid is unique while its file waits, barring pid reuse), and holds one line whose
only raw newline is its last byte (the hooks escape newlines inside a record, and a line too
long for one write() is written on in order). Once its last byte is "\n" such a file never
grows again: it is renamed to `<name>.draining`, read, and removed after its lines are
recorded and on disk (`SpoolInterpreter.drain`). So a typed command stays on disk only until
the next drain, not for the shell's life. A file whose writer has died is taken as it is (a
torn line is all it will ever hold, and is skipped); a file that cannot be read is left in
place for the next drain, never removed. The old per-shell file alone cannot be taken while
its shell lives: it is read on from the offset the last drain reached (kept in the buffer) and
taken whole once the shell exits.

Lines come back in the order they were written across files; the caller records each in the
same transaction that marks it done (by the sha256 of the raw line), so a crash at any point
neither loses nor repeats a line. A line is dropped only when it can never be recorded
(malformed, or of a kind no hook writes); one whose handling failed is set aside, redacted and
with why, in `quarantine/` (0700), which `prtrace status` counts; moved back into the spool it
is tried again.
"""

from __future__ import annotations

import errno
import hashlib
import os
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from prtrace_core.timestamps import format_ts
from prtrace_daemon.client_errors import BufferUnavailable
from prtrace_daemon.spool_format import (
    CommandRecord,
    HandoffRecord,
    SpoolRecord,
    decode_line,
    decode_record,
)

__all__ = [
    "QUARANTINE",
    "TRANSIENT_ERRNOS",
    "SpoolDeferred",
    "SpoolLine",
    "Taken",
    "appended_for_life",
    "parse_line",
    "quarantined",
    "release",
    "set_aside",
    "spool_waiting",
    "sweep_scratch",
    "take_lines",
]

QUARANTINE = "quarantine"  # beside the spool files: lines set aside, each with why
# Errors that pass once a resource is back (space, file descriptors, memory): the line waits.
TRANSIENT_ERRNOS = frozenset(
    {errno.ENOSPC, errno.EDQUOT, errno.EMFILE, errno.ENFILE, errno.ENOMEM, errno.EAGAIN, errno.EINTR, errno.EBUSY}
)


class SpoolDeferred(BufferUnavailable):
    """The spool could not be drained now (a full disk, too many open files); its lines wait."""

    hint = "free disk space or file handles; nothing spooled is lost: the next prtrace command or the daemon records it"


_EPOCH = re.compile(r"\A([0-9]{9,11})[.,]([0-9]{1,9})\Z")
_PID = re.compile(r"\A[1-9][0-9]{0,9}\Z")


@dataclass(frozen=True, slots=True)
class SpoolLine:
    key: str  # sha256 of the raw line: what marks it done
    kind: str
    ts: str  # when it happened (a shell command: when it started)
    repo_path: str
    fields: tuple[str, ...]  # as written, after the header
    order: str = ""  # when it was written (a shell command: when it ended); sorts lines across files
    written_ns: int = 0  # its file's mtime when read: no later than the line's own write for a one-line file
    raw: bytes = b""  # the line as written, kept whole when it is set aside
    record: SpoolRecord | None = None  # what the fields say; None: a kind or fields no writer of ours writes


@dataclass(slots=True)
class Taken:
    """What one drain claimed: the lines, the files to remove once they are recorded, how far
    each old-style live shell file has been read (name → (inode, byte offset)), and the files
    that could not be taken or read (left in place for the next drain)."""

    lines: list[SpoolLine] = field(default_factory=list)
    files: list[Path] = field(default_factory=list)
    offsets: dict[str, tuple[int, int]] = field(default_factory=dict)
    unread: list[tuple[Path, OSError]] = field(default_factory=list)


def _iso(ts: str) -> tuple[str, datetime | None]:
    """An ISO time as it is; epoch seconds (a shell's `$EPOCHREALTIME`, a hand-off's) made ISO."""
    match = _EPOCH.match(ts)
    if match is None:
        return ts, None
    seconds, fraction = match.groups()
    moment = datetime.fromtimestamp(int(seconds), UTC) + timedelta(microseconds=int(fraction.ljust(6, "0")[:6]))
    return format_ts(moment), moment


def parse_line(raw: bytes, written_ns: int = 0) -> SpoolLine | None:
    """A line of the spool format (spool_format.py), timed; None for anything else (a torn or
    foreign line).

    A shell's `command` line carries its duration and its time as epoch seconds: when it
    started, or, after an `@`, when it ended (fish has no clock to read at the start without
    starting a process). A git hook leaves the time out (`date` would be a process in git's
    path): its file's mtime, `written_ns`, is when it appended its line.
    """
    try:
        return _parse(raw, written_ns)
    except (ValueError, OverflowError):  # a line no hook of ours writes: skipped, never fatal
        return None


def _parse(raw: bytes, written_ns: int) -> SpoolLine | None:
    decoded = decode_line(raw)
    if decoded is None:
        return None
    kind, when, repo, fields = decoded
    record = decode_record(kind, fields)
    if not when:  # the time joins the key: `git checkout main` twice writes the same line
        written = format_ts(datetime.fromtimestamp(written_ns / 1e9, UTC))
        key = hashlib.sha256(str(written_ns).encode() + raw).hexdigest()
        return SpoolLine(key, kind, written, repo, fields, written, written_ns, raw, record)
    ended = when.startswith("@")
    ts, moment = _iso(when.removeprefix("@"))
    order = ts
    if kind == HandoffRecord.kind and written_ns:
        order = format_ts(datetime.fromtimestamp(written_ns / 1e9, UTC))  # `run` gives its start
    if isinstance(record, CommandRecord) and moment is not None and record.duration_ms is not None:
        duration = timedelta(milliseconds=record.duration_ms)
        if ended:
            ts = format_ts(moment - duration)
        else:
            order = format_ts(moment + duration)
    return SpoolLine(hashlib.sha256(raw).hexdigest(), kind, ts, repo, fields, order, written_ns, raw, record)


def _writer_alive(name: str) -> bool:
    """Whether the process named in `<kind>.<pid>.…` still runs (no pid in the name: no)."""
    parts = name.split(".")
    if len(parts) < 3 or not _PID.match(parts[1]):
        return False
    try:
        os.kill(int(parts[1]), 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError):
        return True
    return True


def appended_for_life(name: str) -> bool:
    """An old-style shell file (`shell.<pid>.spool`) whose shell still runs and appends to it."""
    return name.startswith("shell.") and name.count(".") == 2 and _writer_alive(name)


def _complete(path: Path) -> bool:
    try:
        with path.open("rb") as handle:
            handle.seek(-1, os.SEEK_END)
            return handle.read(1) == b"\n"
    except OSError:  # empty (the seek fails), or gone
        return False


def _read(path: Path, start: tuple[int, int] | None) -> tuple[list[SpoolLine], int, int]:
    """Complete lines from the byte offset `start` gives (when it is for this very file);
    returns them, the file's inode and the offset just after the last complete line. Raises
    OSError when the file cannot be read: the caller then leaves it where it is."""
    with path.open("rb") as handle:
        stat = os.fstat(handle.fileno())
        inode = stat.st_ino
        # Another file under the name (a reused pid whose old file was removed by hand) may
        # even have the old inode: one shorter than the offset is read from its start.
        offset = start[1] if start is not None and start[0] == inode and start[1] <= stat.st_size else 0
        handle.seek(offset)
        data = handle.read()
    end = data.rfind(b"\n") + 1  # a line still being written waits for the next drain
    lines = [line for raw in data[:end].splitlines(keepends=True) if (line := parse_line(raw, stat.st_mtime_ns)) is not None]
    return lines, inode, offset + end


def take_lines(spool: Path, offsets: dict[str, tuple[int, int]] | None = None) -> Taken:
    """Claim every spool line not yet taken, in the order they were written.

    A file that is complete, or whose writer has exited, is taken by rename and listed for
    release; an old-style live shell file is read from `offsets` on and left in place; a file
    that cannot be taken or read is left in place and listed in `unread`. Raises OSError when
    the spool folder itself cannot be listed.
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
            claimed = path  # left by a drain that died or failed: its lines are claimed or not, either way safe
        elif not name.endswith(".spool"):
            continue
        elif appended_for_life(name):
            _read_on(path, offsets.get(name), taken)
            continue
        elif _writer_alive(name) and not _complete(path):
            # Its one line is not all there yet: the file exists (and wakes the daemon) an
            # instant before its line does. A git hook runs the user's hook after writing it,
            # under the same pid, so a live writer with a complete line is done with the file.
            continue
        else:
            claimed = spool / f"{name}.draining"
            try:
                os.replace(path, claimed)
            except FileNotFoundError:
                continue
            except OSError as exc:
                taken.unread.append((path, exc))
                continue
        base = claimed.name.removesuffix(".draining")
        try:
            lines, _, _ = _read(claimed, offsets.get(base))  # a rename keeps the inode, so the offset holds
        except FileNotFoundError:
            continue
        except OSError as exc:  # kept, never released: the next drain reads it again
            taken.unread.append((claimed, exc))
            continue
        taken.lines.extend(lines)
        taken.files.append(claimed)
    # Lines of the same millisecond (an agent's pre and post hooks around a quick tool call)
    # keep their order by their files' mtimes, not by the pids in the files' names.
    taken.lines.sort(key=lambda line: (line.order or line.ts, line.written_ns))
    return taken


def _read_on(path: Path, start: tuple[int, int] | None, taken: Taken) -> None:
    """Read an old-style live shell file on from `start`; on failure its offset stays put."""
    try:
        lines, inode, end = _read(path, start)
    except FileNotFoundError:
        return
    except OSError as exc:
        taken.unread.append((path, exc))
        return
    taken.lines.extend(lines)
    taken.offsets[path.name] = (inode, end)


def release(files: list[Path]) -> list[tuple[Path, OSError]]:
    """Remove drained files (their lines are recorded, marked done and on disk). Returns those
    that could not be removed: the next drain reads them again and skips what is done."""
    failed = []
    for path in files:
        try:
            path.unlink(missing_ok=True)
        except OSError as exc:
            failed.append((path, exc))
    return failed


def spool_waiting(spool: Path) -> bool:
    """Whether a drain left a claimed file behind (one it could not read or remove)."""
    try:
        return any(name.endswith(".draining") for name in os.listdir(spool))
    except OSError:
        return False


def sweep_scratch(folder: Path) -> None:
    """Remove the shell hooks' scratch files (`<shell>.<pid>.*`) of shells that have exited."""
    try:
        names = os.listdir(folder)
    except OSError:
        return
    for name in names:
        if not _writer_alive(name):
            (folder / name).unlink(missing_ok=True)


# quarantine


def set_aside(spool: Path, line: SpoolLine, reason: str) -> Path:
    """Keep a line that could not be recorded in `spool/quarantine` (0700): the line, whole and
    with its time written in, as `<key>.spool`, and why as `<key>.why`, both on disk before
    this returns (its spool file is removed after). Raises OSError when it cannot."""
    folder = spool / QUARANTINE
    folder.mkdir(mode=0o700, exist_ok=True)
    os.chmod(folder, 0o700)  # the lines may hold commands as typed
    name = line.key[:16]
    _write_synced(folder / f"{name}.why", reason.rstrip("\n").encode("utf-8", "backslashreplace") + b"\n")
    target = folder / f"{name}.spool"
    _write_synced(target, _self_contained(line))
    _sync_dir(folder)
    return target


def quarantined(spool: Path) -> int:
    """How many lines are set aside in `spool/quarantine`."""
    try:
        return sum(name.endswith(".spool") for name in os.listdir(spool / QUARANTINE))
    except OSError:
        return 0


def _self_contained(line: SpoolLine) -> bytes:
    """The raw line with its time filled in: a git hook's line takes its time from its file's
    mtime, which a file moved back into the spool to retry would not keep."""
    parts = line.raw.rstrip(b"\n").split(b"\t")
    if len(parts) > 2 and not parts[2]:
        parts[2] = line.ts.encode()
    return b"\t".join(parts) + b"\n"


def _write_synced(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        view = memoryview(data)
        while view:
            written = os.write(fd, view)
            if not written:
                raise OSError(errno.EIO, "no progress writing", str(path))
            view = view[written:]
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)


def _sync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)

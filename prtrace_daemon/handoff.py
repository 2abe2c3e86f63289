"""Handing an event to the running daemon through the spool, so `note` and `run` pay for no scan.

The work tree scan that puts the edits made before an event ahead of it costs tens of
milliseconds of git and file stats; a running daemon does it instead, when it drains the
line, off the developer's critical path. With no daemon, the caller records in process.
Paths are strings here: this runs before pathlib is loaded.
"""

from __future__ import annotations

import contextlib
import errno
import os
import time

from prtrace_daemon.paths import REPOS, SPOOL
from prtrace_daemon.process import daemon_alive
from prtrace_daemon.spool_format import HandoffRecord, encode_line, epoch_time

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

__all__ = ["containing_root", "hand_off", "handoff_root"]



def handoff_root(home_root: str, cwd: str) -> str | None:
    """The registered repo holding `cwd` when a daemon runs to take the event; else None."""
    try:
        with open(os.path.join(home_root, REPOS), encoding="utf-8") as listing:
            roots = listing.read().splitlines()
    except OSError:
        return None
    root = containing_root(roots, cwd)
    if root is None or not daemon_alive(home_root):
        return None
    return root


def containing_root(roots: list[str], place: str) -> str | None:
    """The repo of `roots` holding `place` (the deepest, for a repo inside another's folder)."""
    inside = [r for r in roots if r and (place == r or place.startswith(r.rstrip("/") + "/"))]
    return max(inside, key=len) if inside else None


def hand_off(home_root: str, root: str, type: str, payload: dict[str, Any], ts: str | None = None) -> None:
    """Write the event's one line to a spool file of its own (raises OSError when it can't).
    `ts`: when the event happened, as the spool line's TIME (spool_format.py); now by default,
    as epoch seconds, which need no datetime here (the drain makes them ISO).

    The line is written whole (a short write is continued) and synced under a scratch name, then
    renamed into the spool: the drainer never meets a torn or half-synced line, and when any
    step fails nothing was handed off, so the caller's own recording cannot make a second copy.
    The name is synced before this returns: what `prtrace note` confirms stays.
    """
    try:
        line = encode_line(HandoffRecord(type, payload), repo=root, ts=ts or epoch_time(time.time_ns()))
    except ValueError as exc:  # a repo path no line can hold (a tab in it): the caller records it
        raise OSError(errno.EINVAL, str(exc)) from exc
    path = os.path.join(home_root, SPOOL, f"cli.{os.getpid()}.{time.time_ns()}.spool")
    scratch = path.removesuffix(".spool") + ".tmp"  # no drainer takes it until it is whole and synced
    fd = os.open(scratch, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        try:
            _write_all(fd, line)
            os.fsync(fd)  # confirmed to the user next: it must outlast a power cut, not just a crash
        finally:
            os.close(fd)
        os.rename(scratch, path)
    except OSError:
        with contextlib.suppress(OSError):
            os.unlink(scratch)  # not handed off: the caller records the event itself, once
        raise
    _sync_dir(os.path.join(home_root, SPOOL))


def _sync_dir(path: str) -> None:
    """The new file's name, made durable with its folder."""
    with contextlib.suppress(OSError):  # some file systems refuse fsync on a folder
        dir_fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)


def _write_all(fd: int, data: bytes) -> None:
    """os.write until every byte is written: a write may take fewer (a signal, a nearly full disk)."""
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        if written <= 0:
            raise OSError(errno.EIO, "the spool took no bytes")
        view = view[written:]

"""Removing recorded activity from this machine, on the developer's word (`prtrace purge`).

What goes: the chosen traces, whole, with their events (pushed or not); the blob cache
entries nothing left needs; and the spool: purging everything empties it, a narrower purge
records it first (so spooled activity of the chosen traces goes with them) and removes the
lines set aside in its quarantine for a purged repository. What stays: registered
repositories, settings, the developer id, and each repository's snapshot — the files as
capture last saw them, which the next edit is diffed against (without it the next commit
would look as if it created every file it touches). The blob cache keeps what the snapshots
name for the same reason; it is what the work tree held when capture last looked at it.

Everything is done under the locks capture itself takes (push, spool, each repository), so
no capture or push runs half way through a purge. Rows are deleted with SQLite's
secure_delete on and the WAL checkpointed, so purged content does not linger in buffer.db.
The server is another matter: what was pushed stays there.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from prtrace_core.timestamps import format_ts
from prtrace_daemon.blobs import BlobCache
from prtrace_daemon.buffer import Buffer, TraceRow
from prtrace_daemon.client_errors import UnknownRef
from prtrace_daemon.locks import file_lock, repo_lock_path
from prtrace_daemon.paths import Home
from prtrace_daemon.spool import appended_for_life

__all__ = ["PurgeReport", "Selection", "preview", "purge"]


@dataclass(frozen=True, slots=True)
class Selection:
    """What to purge: named traces, one repository's (its path), or all; with `before`, only
    those of them whose last event is older."""

    trace_ids: tuple[str, ...] = ()
    repo_path: str | None = None
    everything: bool = False
    before: datetime | None = None

    @property
    def wipe(self) -> bool:
        """Everything, whatever its age: the spool and the blob cache are emptied outright."""
        return self.everything and self.before is None


@dataclass(slots=True)
class PurgeReport:
    """What a purge removed (or, from `preview`, would remove)."""

    traces: list[TraceRow] = field(default_factory=list)
    unpushed: int = 0  # events the server never received: gone for good
    pushed: int = 0  # events the server holds: gone from here only
    rejected: int = 0  # events the server refused, kept here with the reason
    blobs: int = 0
    spool_files: int = 0
    live_shell_files: int = 0  # files a running shell (an older hook) appends to for life: left alone

    @property
    def events(self) -> int:
        return self.unpushed + self.pushed + self.rejected


def _candidates(buffer: Buffer, selection: Selection) -> list[TraceRow]:
    rows = buffer.purge_candidates(
        trace_ids=selection.trace_ids or None,
        repo_path=selection.repo_path,
        idle_before=format_ts(selection.before) if selection.before is not None else None,
    )
    for trace_id in selection.trace_ids:
        if buffer.trace(trace_id) is None:
            raise UnknownRef(f"no trace {trace_id} in the local buffer",
                             hint="`prtrace status` names this branch's trace; `prtrace show BRANCH --local` shows a branch's")
    return rows


def preview(buffer: Buffer, selection: Selection) -> PurgeReport:
    """What `purge` would remove from the buffer, removing nothing (the blob cache and spool
    are counted by the purge itself)."""
    rows = _candidates(buffer, selection)
    counts = buffer.event_states([row.trace_id for row in rows])
    return PurgeReport(rows, counts["pending"], counts["acked"], counts["rejected"])


def purge(home: Home, buffer: Buffer, selection: Selection, *, on_wait: Callable[[str], None] | None = None) -> PurgeReport:
    """Remove what the selection names; returns what went. A narrower purge than `wipe`
    expects the caller to have drained the spool first (drain needs the redacting recorder)."""
    with _capture_locks(home, buffer, on_wait):
        rows = _candidates(buffer, selection)
        counts = buffer.purge_traces([row.trace_id for row in rows])
        report = PurgeReport(rows, counts["pending"], counts["acked"], counts["rejected"])
        cache = BlobCache(home.blobs)
        started = time.time()
        if selection.wipe:
            removed, set_aside = _empty_spool(home.spool)
            buffer.forget_spool_files(removed)
            report.spool_files = len(removed) + set_aside
        else:
            report.spool_files = _drop_quarantined(home.spool, selection.repo_path) if selection.repo_path else 0
            report.live_shell_files = _live_shell_files(home.spool)
        report.blobs = cache.prune(buffer.blob_references(), written_before=started)
    return report


@contextmanager
def _capture_locks(home: Home, buffer: Buffer, on_wait: Callable[[str], None] | None) -> Iterator[None]:
    """Hold, in the order capture takes them, the push lock (so the counts of what was pushed
    are true), the spool lock and every repository's lock (so no capture is half done, nor puts
    a blob in the cache while it is pruned)."""
    with ExitStack() as stack:
        push_lock = home.locks / "push.lock"
        if not stack.enter_context(file_lock(push_lock, blocking=False)):
            if on_wait is not None:
                on_wait("a push is running; waiting for it to finish")
            stack.enter_context(file_lock(push_lock))
        stack.enter_context(file_lock(home.locks / "spool.lock"))
        paths = {row.path for row in buffer.repos()} | {row.repo_path for row in buffer.traces()}
        for path in sorted(paths):
            stack.enter_context(file_lock(repo_lock_path(home.locks, path)))
        yield


def _live_shell_files(spool: Path) -> int:
    try:
        return sum(appended_for_life(name) for name in os.listdir(spool))
    except OSError:
        return 0


def _empty_spool(spool: Path) -> tuple[list[str], int]:
    """Remove every spool file, set-aside lines included; returns the names removed from the
    spool itself and how many set-aside lines went. A shell appending to a spool file opens it
    anew for its next command."""
    from prtrace_daemon.spool import QUARANTINE

    removed: list[str] = []
    set_aside = 0
    for folder in (spool, spool / QUARANTINE):
        try:
            entries = list(os.scandir(folder))
        except OSError:
            continue
        for entry in entries:
            if entry.is_dir(follow_symlinks=False):
                continue
            try:
                os.unlink(entry.path)
            except FileNotFoundError:
                continue
            if folder == spool:
                removed.append(entry.name.removesuffix(".draining"))
            elif entry.name.endswith(".spool"):
                set_aside += 1
    return removed, set_aside


def _drop_quarantined(spool: Path, repo_path: str) -> int:
    """Remove the lines set aside for the repository (each `<key>.spool` and its `<key>.why`)."""
    from prtrace_daemon.spool import QUARANTINE, parse_line

    folder = spool / QUARANTINE
    removed = 0
    try:
        names = os.listdir(folder)
    except OSError:
        return 0
    for name in names:
        if not name.endswith(".spool"):
            continue
        path = folder / name
        try:
            line = parse_line(path.read_bytes().split(b"\n", 1)[0] + b"\n", int(path.stat().st_mtime_ns))
        except OSError:
            continue
        if line is not None and line.repo_path == repo_path:
            path.unlink(missing_ok=True)
            path.with_suffix(".why").unlink(missing_ok=True)
            removed += 1
    return removed

"""The scrubber: which files a trace has at a seq, and one file's content there.

Both are built on the replay engine (`prtrace_core.replay.Replayer`), so the viewer shows
exactly what `prtrace replay` would rebuild. They differ in what they make it do:

- `files_at` needs every event (any of them may create, rename or delete a file) but only
  paths, blob ids and seqs: it replays with the diffs taken out and no blob ever read.
- `file_at` needs content, but only one file's: it replays the events of that file's chain
  (the events that reset the whole tree, and the edits of the path or of a path it was renamed
  from, followed backwards), so showing one file of a 20,000-event trace applies that file's
  diffs alone. `tests/viewer/test_replaying.py` checks it against a replay of every event.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from prtrace_core.gitblob import GITLINK
from prtrace_core.replay import BaseCommitMissing, FileState, Replayer, Sources, effective_events

__all__ = ["FileAt", "FileContent", "FileStatus", "chain", "file_at", "files_at"]

FileStatus = Literal["known", "unknown", "withheld"]

# The events that set or forget many files at once: every chain needs them.
_TREE_EVENTS = frozenset({"start", "checkout", "resume"})


@dataclass(frozen=True, slots=True)
class FileAt:
    """One file in the tree at a seq: `known` when the trace says which version it is,
    `withheld` when capture never read it, `unknown` when it changed where the trace could
    not follow (while paused, by a checkout git cannot replay)."""

    path: str
    status: FileStatus
    changed_at: int | None  # the seq that last set it
    changed_here: bool  # set by exactly the seq asked about


@dataclass(frozen=True, slots=True)
class FileContent:
    """One file's content at a seq, or the reason it cannot be shown (`text` None)."""

    path: str
    seq: int
    text: str | None
    binary: bool
    reason: str | None


class _NoContent:
    """A repository's trees and blob ids, without its blobs: enough to follow paths."""

    def __init__(self, sources: Sources) -> None:
        self._sources = sources

    def blob(self, sha: str) -> bytes | None:
        return None

    def tree(self, commit: str) -> dict[str, tuple[str, str]] | None:
        return self._sources.tree(commit)

    def blob_ids(self, commit: str, paths: list[str]) -> dict[str, str | None] | None:
        return self._sources.blob_ids(commit, paths)


def _seq(event: Mapping[str, Any]) -> int:
    seq = event.get("seq")
    assert isinstance(seq, int)  # effective_events keeps only events with a seq
    return seq


def _upto(events: Sequence[Mapping[str, Any]], seq: int) -> list[Mapping[str, Any]]:
    return [event for event in effective_events(events) if _seq(event) <= seq]


def _replay(events: Sequence[Mapping[str, Any]], sources: Sources | None) -> Replayer:
    """The events applied in order. A repository without the trace's base commit is no help
    for this trace: the replay then goes on without it, as it does with no repository."""
    replayer = Replayer(sources=sources)
    try:
        for event in events:
            replayer.apply(event)
    except BaseCommitMissing:
        replayer = Replayer()
        for event in events:
            replayer.apply(event)
    return replayer


def _without_diffs(event: Mapping[str, Any]) -> Mapping[str, Any]:
    """The event with no diff to apply (a start's dirty files included)."""
    payload = event.get("payload")
    if not isinstance(payload, Mapping):
        return event
    if event.get("type") == "edit" and "diff" in payload:
        return {**event, "payload": {**payload, "diff": None}}
    dirty = payload.get("dirty")
    if event.get("type") == "start" and isinstance(dirty, list):
        plain = [{**entry, "diff": None} if isinstance(entry, Mapping) else entry for entry in dirty]
        return {**event, "payload": {**payload, "dirty": plain}}
    return event


def _status(state: FileState) -> FileStatus:
    if state.sha is None:
        return "withheld" if state.withheld else "unknown"
    return "known"


def files_at(events: Sequence[Mapping[str, Any]], seq: int, sources: Sources | None) -> list[FileAt]:
    """The files of the tree right after `seq`, in path order (submodules left out)."""
    chosen = [_without_diffs(event) for event in _upto(events, seq)]
    replayer = _replay(chosen, _NoContent(sources) if sources is not None else None)
    return [
        FileAt(path, _status(state), state.seq, state.seq == seq)
        for path, state in sorted(replayer.files.items())
        if state.mode != GITLINK
    ]


def _edit_paths(event: Mapping[str, Any]) -> tuple[str | None, str | None]:
    payload = event.get("payload")
    if not isinstance(payload, Mapping):
        return None, None
    path, old = payload.get("file"), payload.get("old_file")
    return (path if isinstance(path, str) else None), (old if isinstance(old, str) else None)


def _touches(event: Mapping[str, Any], names: set[str]) -> bool:
    """Whether a commit names one of `names` among its files."""
    payload = event.get("payload")
    if not isinstance(payload, Mapping):
        return False
    if event.get("type") == "commit":
        files = payload.get("files")
        return isinstance(files, list) and any(name in names for name in files if isinstance(name, str))
    return False


def chain(events: Sequence[Mapping[str, Any]], path: str) -> list[Mapping[str, Any]]:
    """The events, in order, that decide `path`'s content: those that reset the tree, the
    commits that name it (one can say which blob a withheld file is), and the edits of the
    path and of every path whose content reached it by a rename, followed backwards. An edit
    that renames a tracked path away is kept too: it empties that path."""
    names = {path}
    kept: list[Mapping[str, Any]] = []
    for event in reversed(events):
        kind = event.get("type")
        if kind == "edit":
            new, old = _edit_paths(event)
            if new in names or old in names:
                kept.append(event)
                if new in names and old is not None:
                    names.add(old)
        elif kind in _TREE_EVENTS or _touches(event, names):
            kept.append(event)
    kept.reverse()
    return kept


def _last_edit(events: Sequence[Mapping[str, Any]], path: str, seq: int | None) -> Mapping[str, Any] | None:
    for event in reversed(events):
        if event.get("type") == "edit" and _seq(event) == seq and _edit_paths(event)[0] == path:
            payload = event.get("payload")
            return payload if isinstance(payload, Mapping) else None
    return None


def _why_not(payload: Mapping[str, Any] | None, sources: Sources | None) -> str:
    """Why a file the trace names has no content here, from the edit that last set it."""
    where = "and no repository that holds it is at hand" if sources is None else "and the repository does not hold it"
    if payload is None:
        return f"this file's content is not in the trace, {where}"
    if payload.get("diff_omitted"):
        return f"the diff that made this version was left out of the trace, {where}"
    if payload.get("diff_truncated"):
        return f"the diff that made this version was truncated, {where}"
    if payload.get("diff_redacted"):
        return f"the diff that made this version had secrets redacted, {where}"
    return (
        "this file's content before the trace is not known here: its first recorded diff starts "
        f"from a version the trace does not hold, {where}"
    )


def file_at(
    events: Sequence[Mapping[str, Any]], seq: int, path: str, sources: Sources | None
) -> FileContent:
    """`path`'s content right after `seq`, replaying only the events of its chain."""
    chosen = chain(_upto(events, seq), path)
    replayer = _replay(chosen, sources)
    state = replayer.files.get(path)
    if state is None:
        return FileContent(path, seq, None, False, f"the trace has no file {path} at seq {seq}")
    if state.sha is None:
        if state.withheld:
            reason = ("this file is withheld: capture never reads it (a secret by its name, or "
                      "listed in .prtraceignore), and no commit since says which version it is")
        else:
            reason = ("this file changed where the trace could not follow it (while capture was "
                      "paused, or by a checkout): its content here is not known")
        return FileContent(path, seq, None, False, reason)
    if state.mode == GITLINK:
        return FileContent(path, seq, None, False, "a submodule: it has no content of its own")
    data = replayer.content(path)
    edit = _last_edit(chosen, path, state.seq)
    if data is None:
        binary = edit is not None and edit.get("binary") is True
        reason = f"a binary file, {_where(sources)}" if binary else _why_not(edit, sources)
        return FileContent(path, seq, None, binary, reason)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return FileContent(path, seq, None, True, f"a binary file ({len(data):,} bytes): not shown")
    if "\x00" in text:
        return FileContent(path, seq, None, True, f"a binary file ({len(data):,} bytes): not shown")
    return FileContent(path, seq, text, False, None)


def _where(sources: Sources | None) -> str:
    if sources is None:
        return "and the trace holds only its blob id: no repository that holds it is at hand"
    return "and the repository does not hold its blob"

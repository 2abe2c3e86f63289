"""The scrubber: which files a trace has at a seq, and one file's content there.

Both are built on the replay engine (`prtrace_core.replay.Replayer`), so the viewer shows
exactly what `prtrace replay` would rebuild. They differ in what they make it do:

- `files_at` needs every event (any of them may create, rename or delete a file) but only
  paths, blob ids and seqs: it replays with the diffs taken out and no blob ever read.
- `file_at` needs content, but only one file's: it replays the events of that file's chain
  (the events that reset the whole tree, and the edits of the path or of a path it was renamed
  from, followed backwards), so showing one file of a 20,000-event trace applies that file's
  diffs alone. `tests/viewer/test_replaying.py` checks it against a replay of every event.

A file edited ten thousand times still has a long chain, and the scrubber asks for it again
at every stop; `FileCache` keeps, per trace and path, the replay's state every `CHECKPOINT`
events of the chain, so a request replays at most that many events from the nearest one.
"""

from __future__ import annotations

import bisect
import threading
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Literal

from prtrace_core.gitblob import GITLINK
from prtrace_core.replay import BaseCommitMissing, FileState, Replayer, Sources, effective_events

__all__ = ["CHECKPOINT", "FileAt", "FileCache", "FileContent", "FileStatus", "chain", "file_at", "files_at"]

FileStatus = Literal["known", "unknown", "withheld"]

# The events that set or forget many files at once: every chain needs them.
_TREE_EVENTS = frozenset({"start", "checkout", "resume"})

# A FileCache keeps the replay's state every this many events of a file's chain.
CHECKPOINT = 256


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


class _BlobsOnly:
    """Sources that lack the trace's base commit (or hold no repository at all, only a blob
    cache), as the replay can still use them: each base commit is an empty tree (nothing known
    of the files before the trace, as with no sources), any other commit is missing (a checkout
    leaves its files unknown), and blobs are still read by id, so what capture kept is shown."""

    def __init__(self, sources: Sources, events: Sequence[Mapping[str, Any]]) -> None:
        self._sources = sources
        self._bases = {
            head
            for event in events
            if event.get("type") == "start"
            and isinstance(payload := event.get("payload"), Mapping)
            and isinstance(head := payload.get("head_sha"), str)
        }

    def blob(self, sha: str) -> bytes | None:
        return self._sources.blob(sha)

    def tree(self, commit: str) -> dict[str, tuple[str, str]] | None:
        return {} if commit in self._bases else None

    def blob_ids(self, commit: str, paths: list[str]) -> dict[str, str | None] | None:
        return None


def _blobs_only(sources: Sources | None, events: Sequence[Mapping[str, Any]]) -> Sources | None:
    return _BlobsOnly(sources, events) if sources is not None else None


def _seq(event: Mapping[str, Any]) -> int:
    seq = event.get("seq")
    assert isinstance(seq, int)  # effective_events keeps only events with a seq
    return seq


def _upto(events: Sequence[Mapping[str, Any]], seq: int) -> list[Mapping[str, Any]]:
    return [event for event in effective_events(events) if _seq(event) <= seq]


def _replay(events: Sequence[Mapping[str, Any]], sources: Sources | None) -> Replayer:
    """The events applied in order. Sources without the trace's base commit (no repository, or
    one that lacks it) still lend their blobs: the replay goes on from what the trace holds."""
    replayer = Replayer(sources=sources)
    try:
        for event in events:
            replayer.apply(event)
    except BaseCommitMissing:
        replayer = Replayer(sources=_blobs_only(sources, events))
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
    return _chain(events, path)[0]


def _chain(events: Sequence[Mapping[str, Any]], path: str) -> tuple[list[Mapping[str, Any]], set[str]]:
    """The chain, and every name its events read or write that matters to `path`."""
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
    return kept, names


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
    return _content(_replay(chosen, sources), chosen, seq, path, sources)


def _content(
    replayer: Replayer, chosen: Sequence[Mapping[str, Any]], seq: int, path: str, sources: Sources | None
) -> FileContent:
    """What the replay of `chosen` (the chain up to `seq`) says of `path`."""
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


# The checkpoint cache


@dataclass(frozen=True, slots=True)
class _Snapshot:
    """A replay's state after some events of one chain: the files of the chain's names (no
    other file can change what the rest of the chain does to them) and whether the paths not
    held are known to be absent."""

    files: dict[str, FileState]
    base_known: bool

    @classmethod
    def of(cls, replayer: Replayer, names: set[str]) -> _Snapshot:
        held = {name: replace(state) for name in names if (state := replayer.files.get(name)) is not None}
        return cls(held, replayer.base_known)

    def replayer(self, sources: Sources | None) -> Replayer:
        files = {name: replace(state) for name, state in self.files.items()}  # replay changes them
        return Replayer(sources=sources, files=files, base_known=self.base_known)


@dataclass(slots=True)
class _Chain:
    """One path's chain in one trace, with the checkpoints made so far: by how many of its
    events were applied, one list for a replay with the sources and one without (the
    sources are dropped for the whole replay when they lack the trace's base commit)."""

    events: Sequence[Mapping[str, Any]]  # held, so the id it is keyed by stays this object's
    sources: Sources | None
    chosen: list[Mapping[str, Any]]
    seqs: list[int]
    names: set[str]
    points: dict[bool, dict[int, _Snapshot]] = field(default_factory=lambda: {True: {}, False: {}})
    lock: threading.Lock = field(default_factory=threading.Lock)


class FileCache:
    """`file_at` for the scrubber, with checkpoints: per trace (the events object a source
    hands back while the trace is unchanged) and path, the replay's state every `every` events
    of the chain, so a request applies at most `every` events. Holds the last `size` chains;
    safe to share between the threads that serve pages. `applied` counts the events applied."""

    def __init__(self, *, size: int = 8, every: int = CHECKPOINT) -> None:
        self._size = size
        self._every = every
        self._chains: OrderedDict[tuple[int, str], _Chain] = OrderedDict()
        self._lock = threading.Lock()
        self.applied = 0

    def file_at(
        self, events: Sequence[Mapping[str, Any]], seq: int, path: str, sources: Sources | None
    ) -> FileContent:
        """What `replaying.file_at` answers, from the nearest checkpoint at or below `seq`."""
        entry = self._entry(events, path, sources)
        with entry.lock:
            count = bisect.bisect_right(entry.seqs, seq)
            chosen = entry.chosen[:count]
            try:
                replayer = self._replay(entry, count, sources is not None)
            except BaseCommitMissing:
                replayer = self._replay(entry, count, False)
            return _content(replayer, chosen, seq, path, sources)

    def _entry(self, events: Sequence[Mapping[str, Any]], path: str, sources: Sources | None) -> _Chain:
        key = (id(events), path)
        with self._lock:
            entry = self._chains.get(key)
            if entry is not None and entry.events is events and entry.sources is sources:
                self._chains.move_to_end(key)
                return entry
        effective = effective_events(events)  # outside the lock: a long trace takes a while
        chosen, names = _chain(effective, path)
        entry = _Chain(events, sources, chosen, [_seq(event) for event in chosen], names)
        with self._lock:
            self._chains[key] = entry
            self._chains.move_to_end(key)
            while len(self._chains) > self._size:
                self._chains.popitem(last=False)
        return entry

    def _replay(self, entry: _Chain, count: int, with_sources: bool) -> Replayer:
        """The first `count` events of the chain applied, from the nearest checkpoint; the
        checkpoints passed on the way are kept."""
        points = entry.points[with_sources]
        sources = entry.sources if with_sources else _blobs_only(entry.sources, entry.chosen)
        start = count - count % self._every
        while start > 0 and start not in points:
            start -= self._every
        replayer = points[start].replayer(sources) if start > 0 else Replayer(sources=sources)
        for done in range(start + 1, count + 1):
            replayer.apply(entry.chosen[done - 1])
            if done % self._every == 0 and done not in points:
                points[done] = _Snapshot.of(replayer, entry.names)
        with self._lock:
            self.applied += count - start
        return replayer

"""Rebuilding a trace's work tree event by event, and noticing where the trace disagrees with
itself on the way.

The engine starts from the `start` event's base commit (plus the files that were already
dirty), applies each edit's diff to the content before it, and checks the result against the
edit's `after_sha`. Where a diff cannot be used (redacted, truncated, omitted, binary) or does
not produce `after_sha`, the content is taken by its blob id from a `Sources` (git's objects,
a local cache); where nobody has that blob the file is marked not replayable. A withheld file
(a secret capture never reads) has no content, diff or blob id in the trace: it is not
replayable from its edit on, until a commit that holds it (or a checkout) says which blob it
is, and git has that blob. The engine is
pure: git is reached only through the `Sources` given to it, so `verify` can run it with no
repository at all and the server can run it for its viewer.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from prtrace_core.errors import PrtraceError
from prtrace_core.gitblob import GITLINK, REGULAR, blob_sha
from prtrace_core.patches import PatchError, apply_diff

__all__ = [
    "BaseCommitMissing",
    "FileState",
    "Finding",
    "Replayer",
    "Sources",
    "effective_events",
]


class BaseCommitMissing(PrtraceError):
    """The repository does not have the commit the trace starts from."""

    exit_code = 2


class Sources(Protocol):
    """Where content comes from when the trace alone does not hold it."""

    def blob(self, sha: str) -> bytes | None:
        """The blob's content, or None when it cannot be had."""

    def tree(self, commit: str) -> dict[str, tuple[str, str]] | None:
        """{path: (mode, blob id)} of a commit, or None when the commit is missing."""

    def blob_ids(self, commit: str, paths: list[str]) -> dict[str, str | None] | None:
        """{path: blob id, or None when the commit has no such file} for a few paths of a
        commit (cheaper than its whole tree); None when the commit is missing."""


@dataclass(slots=True)
class FileState:
    """One file as the trace has it at some point."""

    sha: str | None  # None: not known (changed while paused, by a checkout nobody can follow, or withheld)
    mode: str = REGULAR
    content: bytes | None = None  # loaded lazily from the sources
    seq: int | None = None  # the event that last set it
    withheld: bool = False  # set by a withheld edit: the trace never had this file's content


@dataclass(frozen=True, slots=True)
class Finding:
    """A fault (or, with `warning`, a remark) one of the checks found."""

    check: str
    seqs: tuple[int, ...]
    message: str
    file: str | None = None
    warning: bool = False

    def as_dict(self) -> dict[str, Any]:
        return {"check": self.check, "seqs": list(self.seqs), "file": self.file,
                "message": self.message, "level": "warning" if self.warning else "fault"}


def _seq_of(event: Mapping[str, Any]) -> int | None:
    seq = event.get("seq")
    return seq if isinstance(seq, int) and not isinstance(seq, bool) else None


def effective_events(events: Iterable[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """The events a replay applies, in seq order: of an event changed and re-sent at the same
    seq, the last one received; events without a seq (made by the server) are left out."""
    chosen: dict[int, Mapping[str, Any]] = {}
    for event in events:
        seq = _seq_of(event)
        if seq is None:
            continue
        held = chosen.get(seq)
        if held is None or (event.get("server_seq") or 0) >= (held.get("server_seq") or 0):
            chosen[seq] = event
    return [chosen[seq] for seq in sorted(chosen)]


def _usable_diff(payload: Mapping[str, Any]) -> str | None:
    diff = payload.get("diff")
    if not isinstance(diff, str) or not diff:
        return None
    if payload.get("diff_truncated") or payload.get("diff_omitted") or payload.get("binary"):
        return None
    if payload.get("diff_redacted") or "[REDACTED:" in diff:
        return None
    return diff


@dataclass(slots=True)
class Replayer:
    """Applies events to a tree of FileStates; `findings` gathers what does not add up."""

    sources: Sources | None = None
    files: dict[str, FileState] = field(default_factory=dict)
    findings: list[Finding] = field(default_factory=list)
    # Whether every path not in `files` is known to be absent: true from a base commit's tree,
    # false when replaying without a repository (the first sight of a file is then taken on trust).
    base_known: bool = False
    unreplayable: dict[str, int] = field(default_factory=dict)
    diffs_checked: int = 0
    diffs_unchecked: int = 0
    withheld_edits: int = 0

    # content

    def content(self, path: str) -> bytes | None:
        """The file's content at this point, loading it by blob id when needed."""
        state = self.files.get(path)
        if state is None or state.sha is None:
            return None
        if state.content is None:
            state.content = self._blob(state.sha)
        return state.content

    def _blob(self, sha: str) -> bytes | None:
        if self.sources is None:
            return None
        data = self.sources.blob(sha)
        return data if data is not None and blob_sha(data) == sha else None

    # events

    def apply(self, event: Mapping[str, Any]) -> None:
        """Apply one event (events without a seq are not part of the tree)."""
        seq = _seq_of(event)
        payload = event.get("payload")
        if seq is None or not isinstance(payload, Mapping):
            return
        kind = event.get("type")
        if kind == "start":
            self.start(seq, payload)
        elif kind == "edit":
            self.edit(seq, payload)
        elif kind == "commit":
            self._commit(seq, payload)
        elif kind == "checkout":
            self._checkout(seq, payload)
        elif kind == "resume":
            self._resume(seq, payload)

    def start(self, seq: int, payload: Mapping[str, Any]) -> None:
        """The base commit's tree, then the files that already differed from it."""
        head = payload.get("head_sha")
        self.files.clear()
        if self.sources is not None:
            if isinstance(head, str) and head:
                tree = self.sources.tree(head)
                if tree is None:
                    raise BaseCommitMissing(
                        f"the trace starts from commit {head[:12]}, which the repository does not have",
                        hint="fetch it (`git fetch --unshallow` in a shallow clone), or name another clone with --repo",
                    )
                self.files = {path: FileState(sha, mode, seq=seq) for path, (mode, sha) in tree.items()}
            self.base_known = True
        for entry in payload.get("dirty") or []:
            if not isinstance(entry, Mapping):
                continue
            if entry.get("omitted_files"):
                self.base_known = False  # files we were not told about may differ from the base
                self.findings.append(Finding(
                    "start", (seq,), f"seq {seq}: {entry['omitted_files']} already-changed file(s) were not "
                    "recorded at the start; they may not replay", warning=True))
                continue
            if isinstance(entry.get("file"), str):
                self.edit(seq, entry)

    def edit(self, seq: int, payload: Mapping[str, Any]) -> None:
        """One file created, changed, renamed or deleted."""
        path = payload.get("file")
        if not isinstance(path, str):
            return
        before_sha, after_sha = payload.get("before_sha"), payload.get("after_sha")
        op = payload.get("op") or ("create" if before_sha is None else "delete" if after_sha is None else "modify")
        old_path = payload.get("old_file") if op == "rename" and isinstance(payload.get("old_file"), str) else path
        assert isinstance(old_path, str)
        if payload.get("withheld") is True:
            self._withheld(seq, path, old_path, op, payload)
            return
        current = self._check_chain(seq, old_path, before_sha)
        if op == "rename":
            self.files.pop(old_path, None)
            self.unreplayable.pop(old_path, None)
        if op == "delete" or after_sha is None:
            self.files.pop(path, None)
            self.unreplayable.pop(path, None)
            return
        given = payload.get("mode")
        mode = given if isinstance(given, str) else current.mode if current is not None else REGULAR
        state = FileState(after_sha if isinstance(after_sha, str) else None, mode, seq=seq)
        self.files[path] = state
        self.unreplayable.pop(path, None)
        if current is not None and current.sha == after_sha:
            state.content = current.content  # a rename or a mode change: same content
            return
        before = current.content if current is not None else b""
        if current is not None and before is None and current.sha is not None:
            before = self._blob(current.sha)
        diff = _usable_diff(payload)
        if diff is not None and before is not None:
            self.diffs_checked += 1
            try:
                after = apply_diff(before, diff)
            except PatchError as exc:
                self.findings.append(Finding("diff_apply", (seq,), f"seq {seq}: the diff of {path} does not apply: {exc}", path))
            else:
                if blob_sha(after) == after_sha:
                    state.content = after
                    return
                actual = self._blob(after_sha) if isinstance(after_sha, str) else None
                if _is_text(before) and (actual is None or _is_text(actual)):
                    # (a file that is not UTF-8 was diffed as decoded text: no diff can rebuild it)
                    self.findings.append(Finding(
                        "diff_apply", (seq,), f"seq {seq}: the diff of {path} applies but does not give "
                        f"after_sha {str(after_sha)[:12]}", path))
                state.content = actual
        elif diff is not None:
            self.diffs_unchecked += 1
        if state.content is None and state.sha is not None:
            state.content = self._blob(state.sha)
        if state.content is None:
            self.unreplayable[path] = seq

    def _withheld(self, seq: int, path: str, old_path: str, op: Any, payload: Mapping[str, Any]) -> None:
        """A withheld file changed: where it is, and its mode, are known; its content is not.
        There is no before_sha to check a chain with, and no diff to apply."""
        self.withheld_edits += 1
        current = self.files.get(old_path)
        if op == "rename":
            self.files.pop(old_path, None)
            self.unreplayable.pop(old_path, None)
        if op == "delete":
            self.files.pop(path, None)
            self.unreplayable.pop(path, None)
            return
        given = payload.get("mode")
        mode = given if isinstance(given, str) else current.mode if current is not None else REGULAR
        self.files[path] = FileState(None, mode, seq=seq, withheld=True)
        self.unreplayable[path] = seq

    def _commit(self, seq: int, payload: Mapping[str, Any]) -> None:
        """A commit that holds a withheld file says which blob it is now: capture records the
        edits that lead to a commit before it, so right after it the file is the committed blob."""
        sha = payload.get("sha")
        files = payload.get("files")
        if self.sources is None or not isinstance(sha, str) or not isinstance(files, list):
            return
        held = [p for p in files if isinstance(p, str) and (state := self.files.get(p)) is not None and state.withheld]
        if not held:
            return
        ids = self.sources.blob_ids(sha, held)
        for path, blob in (ids or {}).items():
            state = self.files[path]
            if blob is not None and state.sha is None:
                state.sha, state.content, state.seq = blob, None, seq
                if self.content(path) is not None:
                    self.unreplayable.pop(path, None)

    def _check_chain(self, seq: int, path: str, before_sha: Any) -> FileState | None:
        """The file's state before this edit; a fault when the edit says it started elsewhere."""
        current = self.files.get(path)
        if current is None and not self.base_known:
            if isinstance(before_sha, str):
                return FileState(before_sha, seq=seq)  # first sight, taken on trust
            return None
        expected = current.sha if current is not None else None
        if current is not None and (current.sha is None or current.withheld):
            # Nothing to chain from: the trace never had this version (paused, or withheld; a
            # file that stops being withheld starts again from an unknown version).
            return FileState(before_sha, current.mode, seq=seq) if isinstance(before_sha, str) else None
        if before_sha != expected:
            where = f" (seq {current.seq})" if current is not None and current.seq is not None else ""
            self.findings.append(Finding(
                "file_chain", (seq,) if current is None or current.seq is None else (current.seq, seq),
                f"seq {seq}: {path} starts from {_short(before_sha)}, but the trace left it at "
                f"{_short(expected)}{where}", path))
            # carry on from what the edit says it started from
            mode = current.mode if current is not None else REGULAR
            return FileState(before_sha, mode, seq=seq) if isinstance(before_sha, str) else None
        return current

    def _checkout(self, seq: int, payload: Mapping[str, Any]) -> None:
        """Files a branch switch rewrote are not edits: follow them through git when we can."""
        old, new = payload.get("from_sha"), payload.get("to_sha")
        trees = None
        if self.sources is not None and isinstance(old, str) and isinstance(new, str) and old and new:
            before, after = self.sources.tree(old), self.sources.tree(new)
            if before is not None and after is not None:
                trees = before, after
        if trees is None:
            for state in self.files.values():
                state.sha, state.content = None, None
            self.base_known = False
            return
        before, after = trees
        for path in before.keys() | after.keys():
            if before.get(path) == after.get(path):
                continue
            if path in after:
                mode, sha = after[path]
                self.files[path] = FileState(sha, mode, seq=seq)
            else:
                self.files.pop(path, None)

    def _resume(self, seq: int, payload: Mapping[str, Any]) -> None:
        """Files changed while capture was paused are no longer known."""
        changed = payload.get("changed_while_paused") or []
        if payload.get("omitted_files"):
            changed = list(self.files)
            self.base_known = False
        for path in changed:
            if isinstance(path, str):
                state = self.files.setdefault(path, FileState(None, seq=seq))
                state.sha, state.content, state.seq = None, None, seq

    # the result

    def tree(self) -> Iterator[tuple[str, str, bytes | None]]:
        """(path, mode, content or None when it cannot be had), in path order; a submodule
        (a gitlink) has no content of its own and is left out."""
        for path in sorted(self.files):
            state = self.files[path]
            if state.mode == GITLINK:
                continue
            yield path, state.mode, self.content(path)


def _is_text(data: bytes) -> bool:
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def _short(sha: Any) -> str:
    return str(sha)[:12] if sha else "nothing (absent)"

"""The edit engine: compare the work tree with the last snapshot and turn differences into edits.

Whoever scans holds the repo's file lock and applies the result in one buffer transaction,
so the same change is never recorded twice and each file's before_sha → after_sha chain has
no break.

Secrets never reach the disk through here. Diffs are computed between redacted versions of a
file (the redactor is run over each whole version first), and the blob cache keeps only those
redacted versions, under the real blob id (so a replay, which checks ids, never mistakes one
for the real content). A withheld file (withheld.py) is never read into an edit or the cache
at all: its edits say only that it changed.
"""

from __future__ import annotations

import os
import stat
import time
from collections.abc import Collection
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from prtrace_core.gitblob import EXECUTABLE, GITLINK, blob_sha, file_mode
from prtrace_core.redact import Redactor
from prtrace_daemon.blobs import BlobCache
from prtrace_daemon.buffer import Snapshot
from prtrace_daemon.diffs import FILE_CAP, edit_payload, is_binary, redact_content, withheld_payload
from prtrace_daemon.gitrepo import GitRepo
from prtrace_daemon.withheld import Withheld, is_digest

__all__ = [
    "GENERATED_DIRS",
    "Change",
    "ScanResult",
    "Split",
    "baseline",
    "blob_snapshot",
    "changed_ns",
    "deleted_at",
    "dirty_state",
    "edit_towards",
    "scan",
    "split_edit",
    "tracked_paths",
]

# Folders that are never anyone's source, ignored by git or not (a repo may lack a .gitignore
# while npm or pip fill them): their files are never edits, and the watcher never walks them.
GENERATED_DIRS = frozenset({
    ".git", "node_modules", "__pycache__", ".venv", "venv", ".tox", ".nox", ".mypy_cache",
    ".pytest_cache", ".ruff_cache", ".hypothesis", ".gradle", ".next", ".nuxt", ".terraform",
    ".eggs", ".direnv",
})

# Budget for the diffs carried by a `start` event, well below the server's 256 KiB per event.
DIRTY_BUDGET = 160 * 1024
DIRTY_MAX_FILES = 500
_NULL_SHA = "0" * 40


@dataclass(slots=True)
class Change:
    """One file's edit and the snapshot entry that follows it (None: the file left the snapshot)."""

    path: str
    payload: dict[str, Any]
    snapshot: Snapshot | None
    renamed_from: str | None = None


@dataclass(slots=True)
class ScanResult:
    changes: list[Change] = field(default_factory=list)
    # stat-only refreshes: same content, new mtime
    touched: dict[str, Snapshot] = field(default_factory=dict)


def tracked_paths(repo: GitRepo, within: Collection[str] | None = None) -> list[str]:
    """The files capture looks at: what git lists, less generated folders (only at or under the
    paths `within` when given). Withheld files are among them: their changes are recorded,
    their content is not."""
    return [p for p in repo.list_files(within) if GENERATED_DIRS.isdisjoint(p.split("/")[:-1])]


def _kept(repo: GitRepo, cache: BlobCache, redactor: Redactor, sha: str) -> bytes | None:
    """A version's content as capture may keep it: the cache's (redacted when it was put
    there), else git's, redacted now; None when neither has it."""
    cached = cache.get(sha)
    if cached is not None:
        return cached
    raw = repo.read_blob(sha)
    return None if raw is None else redact_content(redactor, raw)


def _keep(cache: BlobCache, redactor: Redactor, sha: str, content: bytes) -> bytes:
    """Redact a version read from disk and cache it (under its real blob id) for the next diff."""
    clean = redact_content(redactor, content)
    if len(content) <= FILE_CAP:
        cache.put(sha, clean)
    return clean


def _content_edit(
    path: str,
    before: tuple[str, bytes | None] | None,
    after: tuple[str, bytes | None] | None,
    *,
    op: str,
    old_file: str | None = None,
    mode: str | None = None,
) -> dict[str, Any]:
    """An edit between two (blob id, kept content) versions. A version whose kept content has
    another id than its own was changed by the redactor, and the diff says so."""
    redacted = any(
        side is not None and side[1] is not None and blob_sha(side[1]) != side[0] for side in (before, after)
    )
    return edit_payload(
        path,
        before[1] if before else None,
        after[1] if after else None,
        before_sha=before[0] if before else None,
        after_sha=after[0] if after else None,
        op=op,
        old_file=old_file,
        mode=mode,
        redacted=redacted,
    )


def _racy(mtime_ns: int) -> bool:
    # git's racy rule: a file modified in the second the snapshot was taken may change again
    # without its mtime moving, so such entries are hashed, not trusted, next time.
    return mtime_ns // 1_000_000_000 >= int(time.time()) - 1


def _read(root: Path, path: str) -> tuple[os.stat_result, bytes] | None:
    """A regular file's stat and content, or None when it is gone, not a file, or unreadable."""
    full = root / path
    try:
        st = full.lstat()
        if not full.is_file() or full.is_symlink():
            return None
        return st, full.read_bytes()
    except OSError:
        return None


def _executable(st: os.stat_result) -> bool:
    return bool(st.st_mode & stat.S_IXUSR)


def _snapshot(st: os.stat_result, sha: str) -> Snapshot:
    return Snapshot(sha, st.st_size, st.st_mtime_ns, _racy(st.st_mtime_ns), _executable(st))


def baseline(repo: GitRepo, cache: BlobCache, *, redactor: Redactor, withheld: Withheld) -> dict[str, Snapshot]:
    """A snapshot of the whole work tree. Clean tracked files take their blob id and mode from
    git's index (git has their content); only dirty and untracked files are read and kept
    (redacted) in the cache. A binary file is in it only when git tracks it (an untracked one is
    a build product). A withheld file is read only for its keyed digest."""
    index = repo.index_entries()
    dirty = repo.dirty_paths()
    snaps: dict[str, Snapshot] = {}
    for path in tracked_paths(repo):
        if path in withheld:
            got = _read(repo.root, path)
            if got is not None:
                snaps[path] = _snapshot(got[0], withheld.digest(got[1]))
            continue
        full = repo.root / path
        entry = index.get(path)
        if entry is not None and path not in dirty:
            try:
                st = full.lstat()
            except OSError:
                continue
            if full.is_file() and not full.is_symlink():
                snaps[path] = Snapshot(
                    entry.sha, st.st_size, st.st_mtime_ns, _racy(st.st_mtime_ns), entry.mode == file_mode(True)
                )
            continue
        got = _read(repo.root, path)
        if got is None or (entry is None and is_binary(got[1])):
            continue
        st, content = got
        sha = blob_sha(content)
        _keep(cache, redactor, sha, content)
        snaps[path] = _snapshot(st, sha)
    return snaps


def blob_snapshot(repo: GitRepo, withheld: Withheld, path: str, sha: str, executable: bool) -> Snapshot:
    """The snapshot entry of a file git moved to blob `sha` (a commit, a checkout): its blob id,
    or for a withheld file the keyed digest of that blob. Size -1: the next scan hashes the
    file rather than trusting its stat."""
    if path in withheld:
        content = repo.read_blob(sha)
        if content is not None:
            sha = withheld.digest(content)
    return Snapshot(sha, -1, -1, True, executable)


def _differs(repo: GitRepo, withheld: Withheld, head: tuple[str, str] | None, snap: Snapshot | None) -> bool:
    """Whether the file (mode, blob id in HEAD) is not what the snapshot holds (a withheld
    file's snapshot holds a digest: HEAD's blob is digested to compare)."""
    if head is None or snap is None:
        return head is not snap
    if is_digest(snap.blob_sha):
        content = repo.read_blob(head[1])
        if content is None or withheld.digest(content) != snap.blob_sha:
            return True
    elif head[1] != snap.blob_sha:
        return True
    return snap.executable is not None and head[0] != file_mode(snap.executable)


def _mode_on_disk(full: Path) -> str | None:
    try:
        return file_mode(_executable(full.lstat()))
    except OSError:
        return None


def dirty_state(
    repo: GitRepo,
    head_sha: str | None,
    snaps: dict[str, Snapshot],
    cache: BlobCache,
    *,
    redactor: Redactor,
    withheld: Withheld,
) -> list[dict[str, Any]]:
    """What differs from `head_sha` when a trace begins, with diffs (of redacted versions), for
    its `start` event. A withheld file's entry says only that it differs."""
    head_tree = repo.tree(head_sha) if head_sha else {}  # path → (mode, blob id)
    dirty: list[dict[str, Any]] = []
    budget = DIRTY_BUDGET
    candidates = sorted(set(head_tree) | set(snaps))
    for number, path in enumerate(candidates):
        if budget <= 0 or len(dirty) >= DIRTY_MAX_FILES:
            # The rest would push the event over the server's limit: count them instead.
            rest = sum(1 for p in candidates[number:] if _differs(repo, withheld, head_tree.get(p), snaps.get(p)))
            if rest:
                dirty.append({"omitted_files": rest})
            break
        head = head_tree.get(path)
        snap = snaps.get(path)
        if not _differs(repo, withheld, head, snap):
            continue
        before_sha = head[1] if head else None
        after_sha = snap.blob_sha if snap else None
        if snap is None and not (repo.root / path).exists():
            op = "delete"
        elif snap is None:
            continue  # untracked binary or ignored now: not capture's business
        else:
            op = "modify" if before_sha else "create"
        mode: str | None = None
        if snap is not None:
            mode = file_mode(snap.executable) if snap.executable is not None else _mode_on_disk(repo.root / path)
        if path in withheld or (after_sha is not None and is_digest(after_sha)):
            dirty.append(withheld_payload(path, op=op, mode=mode))
            budget -= 256
            continue
        before = (before_sha, _kept(repo, cache, redactor, before_sha)) if before_sha else None
        after = (after_sha, _kept(repo, cache, redactor, after_sha)) if after_sha else None
        entry = _content_edit(path, before, after, op=op, mode=mode)
        entry.pop("diff_snippet", None)
        size = len(entry.get("diff", "").encode())
        if size > budget:
            entry.pop("diff", None)
            entry["diff_omitted"] = "size"
            size = 0
        budget -= size + 256  # the entry's own fields
        dirty.append(entry)
    return dirty


def scan(
    repo: GitRepo,
    snaps: dict[str, Snapshot],
    cache: BlobCache,
    within: Collection[str] | None = None,
    until_ns: int | None = None,
    *,
    redactor: Redactor,
    withheld: Withheld,
    skip: Collection[str] = (),
) -> ScanResult:
    """Every file that differs from its snapshot, as edits in path order (renames paired up).

    With `within` (paths the watcher saw change), only files at or under those paths are
    looked at, so a save costs the same in a repo of ten files or fifty thousand. With
    `until_ns`, a file modified after that moment (a new one: also moved in after it, which
    its ctime tells) is left for a later scan: it is work done after the event being recorded;
    so is a deletion whose folder changed after it (a file gone has no mtime of its own). A
    withheld file is compared by its keyed digest, so only a real change (or a chmod) makes an
    edit, and that edit carries no content. Files in `skip` (an agent's edit tool is writing
    them) are not looked at: its post hook records them.
    """
    result = ScanResult()
    if skip:
        snaps = {p: s for p, s in snaps.items() if p not in skip}
    if within is not None:
        prefixes = tuple(f"{p}/" for p in within)
        wanted = set(within)
        snaps = {p: s for p, s in snaps.items() if p in wanted or p.startswith(prefixes)}
    # path → (blob id, or a withheld file's digest; content as kept, None when withheld; snapshot)
    created: dict[str, tuple[str, bytes | None, Snapshot]] = {}
    # New binary files: a rename's new half, a file git tracks, or an untracked build product.
    new_binaries: dict[str, tuple[str, bytes, Snapshot]] = {}
    deleted: dict[str, Snapshot] = {}
    modified: list[tuple[str, bytes | None, Snapshot]] = []
    mode_only: list[tuple[str, bytes | None, Snapshot]] = []
    for path in tracked_paths(repo, within):
        if path in skip:
            continue
        old = snaps.get(path)
        hidden = path in withheld
        full = repo.root / path
        try:
            st = full.lstat()
        except OSError:
            continue
        # a file new to the snapshot may have been moved in, which keeps its mtime but not ctime
        moment = st.st_mtime_ns if old is not None else max(st.st_mtime_ns, st.st_ctime_ns)
        # A snapshot of the other kind (the file has just become withheld, or stopped being)
        # is read again whatever its stat says, so the snapshot and the trace catch up.
        if (
            old is not None
            and is_digest(old.blob_sha) == hidden
            and not old.racy
            and st.st_size == old.size
            and st.st_mtime_ns == old.mtime_ns
        ):
            if old.executable is None:
                # a snapshot from before the bit was kept: learn it, no edit
                result.touched[path] = replace(old, executable=_executable(st))
                continue
            if old.executable == _executable(st):
                continue
            moment = st.st_ctime_ns  # chmod moves ctime, not mtime
        if until_ns is not None and moment > until_ns:
            continue
        got = _read(repo.root, path)
        if got is None:
            continue
        st, content = got
        if hidden:
            digest = withheld.digest(content)
            snap = _snapshot(st, digest)
            # (a plain blob id: a snapshot git gave, or one from before the file was withheld)
            same = old is not None and (
                old.blob_sha == digest or (not is_digest(old.blob_sha) and old.blob_sha == blob_sha(content))
            )
            kept: bytes | None = None
        else:
            sha = blob_sha(content)
            snap = _snapshot(st, sha)
            same = old is not None and old.blob_sha == sha
            kept = content
        if old is not None and same:
            if old.executable is None or old.executable == snap.executable:
                result.touched[path] = snap
            else:
                mode_only.append((path, kept, snap))
            continue
        if hidden:
            if old is None:
                created[path] = (snap.blob_sha, None, snap)
            else:
                modified.append((path, None, snap))
            continue
        if old is None and is_binary(content):
            new_binaries[path] = (snap.blob_sha, content, snap)
            continue
        kept = _keep(cache, redactor, snap.blob_sha, content)
        if old is None:
            created[path] = (snap.blob_sha, kept, snap)
        else:
            modified.append((path, kept, snap))
    for path, old in snaps.items():
        # git still lists a deleted tracked file until it is staged, so look at the disk
        if not (repo.root / path).is_file():
            if until_ns is not None and deleted_at(repo.root, path) > until_ns:
                continue
            deleted[path] = old

    def before_of(snap: Snapshot) -> tuple[str, bytes | None]:
        return snap.blob_sha, _kept(repo, cache, redactor, snap.blob_sha)

    # A deletion and a creation of the same content in one scan is a rename (a withheld file's
    # digest pairs only with another withheld file's).
    by_sha = {old.blob_sha: path for path, old in sorted(deleted.items())}
    unpaired: list[str] = []
    for path, (sha, kept, snap) in sorted({**created, **new_binaries}.items()):
        old_path = by_sha.pop(sha, None)
        if old_path is None and path in new_binaries:
            unpaired.append(path)
            continue
        mode = file_mode(bool(snap.executable))
        if path in new_binaries:
            # git may never hold this state: a replay takes it from the cache
            kept = _keep(cache, redactor, sha, new_binaries[path][1])
        if old_path is not None:
            old = deleted.pop(old_path)
            if is_digest(sha):
                payload = withheld_payload(path, op="rename", old_file=old_path, mode=mode)
            else:
                payload = _content_edit(path, (old.blob_sha, kept), (sha, kept), op="rename", old_file=old_path, mode=mode)
            result.changes.append(Change(path, payload, snap, renamed_from=old_path))
        else:
            if is_digest(sha):
                payload = withheld_payload(path, op="create", mode=mode)
            else:
                payload = _content_edit(path, None, (sha, kept), op="create", mode=mode)
            result.changes.append(Change(path, payload, snap))
    # A new binary file is recorded once git tracks it; an untracked one (a build product in a
    # repo without .gitignore) stays out of the snapshot, and so out of the trace.
    for path in sorted(repo.tracked(unpaired)):
        sha, content, snap = new_binaries[path]
        kept = _keep(cache, redactor, sha, content)
        payload = _content_edit(path, None, (sha, kept), op="create", mode=file_mode(bool(snap.executable)))
        result.changes.append(Change(path, payload, snap))
    for path, kept, snap in modified:
        old = snaps[path]
        mode = file_mode(bool(snap.executable))
        if is_digest(snap.blob_sha):
            payload = withheld_payload(path, op="modify", mode=mode)
        elif is_digest(old.blob_sha):
            # No longer withheld: its content enters the trace now, from a version it never had.
            payload = _content_edit(path, None, (snap.blob_sha, kept), op="modify", mode=mode)
        else:
            payload = _content_edit(path, before_of(old), (snap.blob_sha, kept), op="modify", mode=mode)
        result.changes.append(Change(path, payload, snap))
    for path, unchanged, snap in mode_only:
        mode = file_mode(bool(snap.executable))
        if unchanged is None:
            payload = withheld_payload(path, op="modify", mode=mode)
        else:  # the same content on both sides: no diff, so nothing of it is kept
            payload = edit_payload(
                path, unchanged, unchanged, before_sha=snap.blob_sha, after_sha=snap.blob_sha, op="modify", mode=mode
            )
        result.changes.append(Change(path, payload, snap))
    for path, old in sorted(deleted.items()):
        if path in withheld or is_digest(old.blob_sha):
            payload = withheld_payload(path, op="delete")
        else:
            payload = _content_edit(path, before_of(old), None, op="delete")
        result.changes.append(Change(path, payload, None))
    result.changes.sort(key=lambda c: c.path)
    return result


def deleted_at(root: Path, path: str) -> int:
    """When a file that is gone was deleted, at the latest: the mtime of its folder (of the
    nearest folder still there, when its own went with it), which a deletion or a move moves."""
    folder = (root / path).parent
    while True:
        try:
            return folder.lstat().st_mtime_ns
        except OSError:
            if folder == root or folder == folder.parent:
                return time.time_ns()  # not even the repo's folder: take it as just now
            folder = folder.parent


def edit_towards(
    repo: GitRepo,
    snaps: dict[str, Snapshot],
    cache: BlobCache,
    *,
    path: str,
    new_sha: str,
    new_mode: str,
    old_path: str | None,
    old_mode: str = "",
    redactor: Redactor,
    withheld: Withheld,
) -> Change | None:
    """The edit that takes the snapshot of `path` to blob `new_sha` with git mode `new_mode`
    (None: nothing to record): how a change git made (a commit, a merge) is recorded. Binary
    content is recorded by blob id (git holds it); a withheld file only by the fact it changed."""
    if new_mode == GITLINK:
        return None  # a submodule's commit, not a file of this work tree
    target = None if new_sha == _NULL_SHA else new_sha
    executable = new_mode == EXECUTABLE
    current = snaps.get(path)
    prev = snaps.get(old_path) if old_path else current
    hidden = path in withheld or (prev is not None and is_digest(prev.blob_sha))
    snap = blob_snapshot(repo, withheld, path, target, executable) if target else None
    if snap is not None and current is not None and current.blob_sha in (target, snap.blob_sha):
        # A scan already recorded this content; the mode may still be new (chmod in a commit).
        recorded = current.executable if current.executable is not None else old_mode == EXECUTABLE
        if recorded == executable:
            return None
        if hidden:
            return Change(path, withheld_payload(path, op="modify", mode=new_mode), snap)
        content = repo.read_blob(snap.blob_sha) or b""  # same both sides: no diff is made of it
        payload = edit_payload(
            path, content, content, before_sha=snap.blob_sha, after_sha=snap.blob_sha, op="modify", mode=new_mode
        )
        return Change(path, payload, snap)
    if target is None and prev is None:
        return None
    if target is None:
        op = "delete"
    elif old_path is not None and prev is not None:
        op = "rename"
    else:
        op = "modify" if prev is not None else "create"
    renamed_from = old_path if op == "rename" else None
    if hidden:
        payload = withheld_payload(path, op=op, old_file=renamed_from, mode=new_mode or None)
        return Change(path, payload, snap, renamed_from=renamed_from)
    before = (prev.blob_sha, _kept(repo, cache, redactor, prev.blob_sha)) if prev else None
    after: tuple[str, bytes | None] | None = None
    if target is not None:
        raw = repo.read_blob(target)
        after = (target, None if raw is None else redact_content(redactor, raw))
    payload = _content_edit(path, before, after, op=op, old_file=renamed_from, mode=new_mode or None)
    return Change(path, payload, snap, renamed_from=renamed_from)


@dataclass(frozen=True, slots=True)
class Split:
    """A file an agent's tool wrote and someone changed beyond it before capture saw it: the
    tool's part (None when the tool left the file as it was) and what changed beyond it."""

    tool: Change | None
    beyond: Change


def split_edit(
    repo: GitRepo,
    snaps: dict[str, Snapshot],
    cache: BlobCache,
    *,
    path: str,
    written: bytes,
    redactor: Redactor,
    withheld: Withheld,
) -> Split | None:
    """Two chained edits for `path`: its snapshot → `written` (what the tool wrote), then
    `written` → the file on disk, so each is told from the other by content. None when there
    is nothing to split (the disk holds `written`) or it cannot be (a withheld or binary file,
    whose changes carry no diff to tell apart): the caller records the change whole."""
    old = snaps.get(path)
    if path in withheld or (old is not None and is_digest(old.blob_sha)):
        return None
    got = _read(repo.root, path)
    if got is not None and got[1] == written:
        return None
    if is_binary(written) or (got is not None and is_binary(got[1])):
        return None
    written_sha = blob_sha(written)
    executable = _executable(got[0]) if got is not None else bool(old and old.executable)
    mode = file_mode(executable)
    kept_written = _keep(cache, redactor, written_sha, written)
    tool: Change | None = None
    if old is None or old.blob_sha != written_sha:
        before = (old.blob_sha, _kept(repo, cache, redactor, old.blob_sha)) if old else None
        payload = _content_edit(
            path, before, (written_sha, kept_written), op="modify" if old else "create", mode=mode
        )
        # size -1: never trusted by a scan, so a later one hashes the file
        tool = Change(path, payload, Snapshot(written_sha, -1, -1, True, executable))
    if got is None:
        beyond = Change(path, _content_edit(path, (written_sha, kept_written), None, op="delete"), None)
    else:
        st, content = got
        sha = blob_sha(content)
        after = (sha, _keep(cache, redactor, sha, content))
        payload = _content_edit(path, (written_sha, kept_written), after, op="modify", mode=mode)
        beyond = Change(path, payload, _snapshot(st, sha))
    return Split(tool, beyond)


def changed_ns(root: Path, change: Change) -> int:
    """When a change a scan found was made, at the latest: the file's ctime (a write, a chmod
    and a move all set it), or for a deletion its folder's mtime."""
    if change.snapshot is None:
        return deleted_at(root, change.path)
    try:
        return (root / change.path).lstat().st_ctime_ns
    except OSError:
        return change.snapshot.mtime_ns

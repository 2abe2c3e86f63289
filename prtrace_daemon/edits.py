"""The edit engine: compare the work tree with the last snapshot and turn differences into edits.

Whoever scans holds the repo's file lock and applies the result in one buffer transaction,
so the same change is never recorded twice and each file's before_sha → after_sha chain has
no break.
"""

from __future__ import annotations

import os
import stat
import time
from collections.abc import Collection
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import pathspec

from prtrace_core.gitblob import blob_sha, file_mode
from prtrace_daemon.blobs import BlobCache
from prtrace_daemon.buffer import Snapshot
from prtrace_daemon.diffs import FILE_CAP, edit_payload, is_binary
from prtrace_daemon.gitrepo import GitRepo

__all__ = ["GENERATED_DIRS", "Change", "ScanResult", "baseline", "dirty_state", "scan", "tracked_paths"]

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


def _ignore_spec(root: Path) -> pathspec.GitIgnoreSpec | None:
    try:
        lines = (root / ".prtraceignore").read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        return None
    return pathspec.GitIgnoreSpec.from_lines(lines)


def tracked_paths(repo: GitRepo, within: Collection[str] | None = None) -> list[str]:
    """The files capture looks at: what git lists, less `.prtraceignore` (only at or under the
    paths `within` when given)."""
    files = [p for p in repo.list_files(within) if GENERATED_DIRS.isdisjoint(p.split("/")[:-1])]
    spec = _ignore_spec(repo.root)
    if spec is None:
        return files
    return [p for p in files if not spec.match_file(p)]


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


def baseline(repo: GitRepo, cache: BlobCache) -> dict[str, Snapshot]:
    """A snapshot of the whole work tree. Clean tracked files take their blob id and mode from
    git's index (git has their content); only dirty and untracked files are read and kept in the
    cache. A binary file is in it only when git tracks it (an untracked one is a build product)."""
    index = repo.index_entries()
    dirty = repo.dirty_paths()
    snaps: dict[str, Snapshot] = {}
    for path in tracked_paths(repo):
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
        if len(content) <= FILE_CAP:
            cache.put(sha, content)
        snaps[path] = _snapshot(st, sha)
    return snaps


def _differs(head: tuple[str, str] | None, snap: Snapshot | None) -> bool:
    """Whether the file (mode, blob id in HEAD) is not what the snapshot holds."""
    if head is None or snap is None:
        return head is not snap
    if head[1] != snap.blob_sha:
        return True
    return snap.executable is not None and head[0] != file_mode(snap.executable)


def _mode_on_disk(full: Path) -> str | None:
    try:
        return file_mode(_executable(full.lstat()))
    except OSError:
        return None


def dirty_state(
    repo: GitRepo, head_sha: str | None, snaps: dict[str, Snapshot], cache: BlobCache
) -> list[dict[str, Any]]:
    """What differs from `head_sha` when a trace begins, with diffs, for its `start` event."""
    head_tree = repo.tree(head_sha) if head_sha else {}  # path → (mode, blob id)
    dirty: list[dict[str, Any]] = []
    budget = DIRTY_BUDGET
    candidates = sorted(set(head_tree) | set(snaps))
    for number, path in enumerate(candidates):
        if budget <= 0 or len(dirty) >= DIRTY_MAX_FILES:
            # The rest would push the event over the server's limit: count them instead.
            rest = sum(1 for p in candidates[number:] if _differs(head_tree.get(p), snaps.get(p)))
            if rest:
                dirty.append({"omitted_files": rest})
            break
        head = head_tree.get(path)
        snap = snaps.get(path)
        if not _differs(head, snap):
            continue
        before_sha = head[1] if head else None
        after_sha = snap.blob_sha if snap else None
        if snap is None and not (repo.root / path).exists():
            op = "delete"
        elif snap is None:
            continue  # untracked binary or ignored now: not capture's business
        else:
            op = "modify" if before_sha else "create"
        before = repo.read_blob(before_sha) if before_sha else None
        after = (cache.get(after_sha) or repo.read_blob(after_sha)) if after_sha else None
        mode: str | None = None
        if snap is not None:
            mode = file_mode(snap.executable) if snap.executable is not None else _mode_on_disk(repo.root / path)
        entry = edit_payload(path, before, after, before_sha=before_sha, after_sha=after_sha, op=op, mode=mode)
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
) -> ScanResult:
    """Every file that differs from its snapshot, as edits in path order (renames paired up).

    With `within` (paths the watcher saw change), only files at or under those paths are
    looked at, so a save costs the same in a repo of ten files or fifty thousand. With
    `until_ns`, a file modified after that moment is left for a later scan: it is work done
    after the event being recorded.
    """
    result = ScanResult()
    if within is not None:
        prefixes = tuple(f"{p}/" for p in within)
        wanted = set(within)
        snaps = {p: s for p, s in snaps.items() if p in wanted or p.startswith(prefixes)}
    created: dict[str, tuple[str, bytes, Snapshot]] = {}
    # New binary files: a rename's new half, a file git tracks, or an untracked build product.
    new_binaries: dict[str, tuple[str, bytes, Snapshot]] = {}
    deleted: dict[str, Snapshot] = {}
    modified: list[tuple[str, bytes, Snapshot]] = []
    mode_only: list[tuple[str, bytes, Snapshot]] = []
    for path in tracked_paths(repo, within):
        old = snaps.get(path)
        full = repo.root / path
        try:
            st = full.lstat()
        except OSError:
            continue
        moment = st.st_mtime_ns
        if old is not None and not old.racy and st.st_size == old.size and st.st_mtime_ns == old.mtime_ns:
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
        sha = blob_sha(content)
        snap = _snapshot(st, sha)
        if old is not None and old.blob_sha == sha:
            if old.executable is None or old.executable == snap.executable:
                result.touched[path] = snap
            else:
                mode_only.append((path, content, snap))
            continue
        if old is None and is_binary(content):
            new_binaries[path] = (sha, content, snap)
            continue
        if len(content) <= FILE_CAP:
            cache.put(sha, content)
        if old is None:
            created[path] = (sha, content, snap)
        else:
            modified.append((path, content, snap))
    for path, old in snaps.items():
        # git still lists a deleted tracked file until it is staged, so look at the disk
        if not (repo.root / path).is_file():
            deleted[path] = old

    def before_of(snap: Snapshot) -> bytes | None:
        return cache.get(snap.blob_sha) or repo.read_blob(snap.blob_sha)

    # A deletion and a creation of the same content in one scan is a rename.
    by_sha = {old.blob_sha: path for path, old in sorted(deleted.items())}
    unpaired: list[str] = []
    for path, (sha, content, snap) in sorted({**created, **new_binaries}.items()):
        old_path = by_sha.pop(sha, None)
        if old_path is None and path in new_binaries:
            unpaired.append(path)
            continue
        mode = file_mode(bool(snap.executable))
        if path in new_binaries and len(content) <= FILE_CAP:
            cache.put(sha, content)  # git may never hold this state: a replay takes it from here
        if old_path is not None:
            old = deleted.pop(old_path)
            payload = edit_payload(
                path, content, content, before_sha=old.blob_sha, after_sha=sha, op="rename", old_file=old_path, mode=mode
            )
            result.changes.append(Change(path, payload, snap, renamed_from=old_path))
        else:
            payload = edit_payload(path, None, content, before_sha=None, after_sha=sha, op="create", mode=mode)
            result.changes.append(Change(path, payload, snap))
    # A new binary file is recorded once git tracks it; an untracked one (a build product in a
    # repo without .gitignore) stays out of the snapshot, and so out of the trace.
    for path in sorted(repo.tracked(unpaired)):
        sha, content, snap = new_binaries[path]
        if len(content) <= FILE_CAP:
            cache.put(sha, content)
        payload = edit_payload(
            path, None, content, before_sha=None, after_sha=sha, op="create", mode=file_mode(bool(snap.executable))
        )
        result.changes.append(Change(path, payload, snap))
    for path, content, snap in modified:
        old = snaps[path]
        payload = edit_payload(
            path, before_of(old), content, before_sha=old.blob_sha, after_sha=snap.blob_sha, op="modify",
            mode=file_mode(bool(snap.executable)),
        )
        result.changes.append(Change(path, payload, snap))
    for path, content, snap in mode_only:
        payload = edit_payload(
            path, content, content, before_sha=snap.blob_sha, after_sha=snap.blob_sha, op="modify",
            mode=file_mode(bool(snap.executable)),
        )
        result.changes.append(Change(path, payload, snap))
    for path, old in sorted(deleted.items()):
        payload = edit_payload(path, before_of(old), None, before_sha=old.blob_sha, after_sha=None, op="delete")
        result.changes.append(Change(path, payload, None))
    result.changes.sort(key=lambda c: c.path)
    return result

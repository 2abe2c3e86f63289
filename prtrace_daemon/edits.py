"""The edit engine: compare the work tree with the last snapshot and turn differences into edits.

Whoever scans holds the repo's file lock and applies the result in one buffer transaction,
so the same change is never recorded twice and each file's before_sha → after_sha chain has
no break.
"""

from __future__ import annotations

import os
import time
from collections.abc import Collection
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pathspec

from prtrace_daemon.blobs import BlobCache
from prtrace_daemon.buffer import Snapshot
from prtrace_daemon.diffs import FILE_CAP, edit_payload, is_binary
from prtrace_daemon.gitrepo import GitRepo, blob_sha

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


def baseline(repo: GitRepo, cache: BlobCache) -> dict[str, Snapshot]:
    """A snapshot of the whole work tree. Clean tracked files take their blob id from git's index
    (git has their content); only dirty and untracked files are read and kept in the cache."""
    index = repo.index_shas()
    dirty = repo.dirty_paths()
    snaps: dict[str, Snapshot] = {}
    for path in tracked_paths(repo):
        full = repo.root / path
        if path in index and path not in dirty:
            try:
                st = full.lstat()
            except OSError:
                continue
            if full.is_file() and not full.is_symlink():
                snaps[path] = Snapshot(index[path], st.st_size, st.st_mtime_ns, _racy(st.st_mtime_ns))
            continue
        got = _read(repo.root, path)
        if got is None or is_binary(got[1]):
            continue
        st, content = got
        sha = blob_sha(content)
        if len(content) <= FILE_CAP:
            cache.put(sha, content)
        snaps[path] = Snapshot(sha, st.st_size, st.st_mtime_ns, _racy(st.st_mtime_ns))
    return snaps


def dirty_state(
    repo: GitRepo, head_sha: str | None, snaps: dict[str, Snapshot], cache: BlobCache
) -> list[dict[str, Any]]:
    """What differs from `head_sha` when a trace begins, with diffs, for its `start` event."""
    head_tree: dict[str, str] = {}
    if head_sha:
        out = repo.git("ls-tree", "-r", "-z", head_sha)
        for line in out.decode("utf-8", "surrogateescape").split("\0"):
            if line:
                meta, _, path = line.partition("\t")
                head_tree[path] = meta.split()[2]
    dirty: list[dict[str, Any]] = []
    budget = DIRTY_BUDGET
    candidates = sorted(set(head_tree) | set(snaps))
    for number, path in enumerate(candidates):
        if budget <= 0 or len(dirty) >= DIRTY_MAX_FILES:
            # The rest would push the event over the server's limit: count them instead.
            rest = sum(1 for p in candidates[number:] if head_tree.get(p) != (snaps[p].blob_sha if p in snaps else None))
            if rest:
                dirty.append({"omitted_files": rest})
            break
        before_sha = head_tree.get(path)
        snap = snaps.get(path)
        after_sha = snap.blob_sha if snap else None
        if before_sha == after_sha:
            continue
        if snap is None and not (repo.root / path).exists():
            op = "delete"
        elif snap is None:
            continue  # binary or ignored now: not capture's business
        else:
            op = "modify" if before_sha else "create"
        before = repo.read_blob(before_sha) if before_sha else None
        after = (cache.get(after_sha) or repo.read_blob(after_sha)) if after_sha else None
        entry = edit_payload(path, before, after, before_sha=before_sha, after_sha=after_sha, op=op)
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
    deleted: dict[str, Snapshot] = {}
    modified: list[tuple[str, bytes, Snapshot]] = []
    for path in tracked_paths(repo, within):
        old = snaps.get(path)
        full = repo.root / path
        try:
            st = full.lstat()
        except OSError:
            continue
        if old is not None and not old.racy and st.st_size == old.size and st.st_mtime_ns == old.mtime_ns:
            continue
        if until_ns is not None and st.st_mtime_ns > until_ns:
            continue
        got = _read(repo.root, path)
        if got is None:
            continue
        st, content = got
        if is_binary(content):
            continue
        sha = blob_sha(content)
        snap = Snapshot(sha, st.st_size, st.st_mtime_ns, _racy(st.st_mtime_ns))
        if old is not None and old.blob_sha == sha:
            result.touched[path] = snap
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
    for path, (sha, content, snap) in sorted(created.items()):
        old_path = by_sha.pop(sha, None)
        if old_path is not None:
            old = deleted.pop(old_path)
            payload = edit_payload(
                path, content, content, before_sha=old.blob_sha, after_sha=sha, op="rename", old_file=old_path
            )
            result.changes.append(Change(path, payload, snap, renamed_from=old_path))
        else:
            payload = edit_payload(path, None, content, before_sha=None, after_sha=sha, op="create")
            result.changes.append(Change(path, payload, snap))
    for path, content, snap in modified:
        old = snaps[path]
        payload = edit_payload(
            path, before_of(old), content, before_sha=old.blob_sha, after_sha=snap.blob_sha, op="modify"
        )
        result.changes.append(Change(path, payload, snap))
    for path, old in sorted(deleted.items()):
        payload = edit_payload(path, before_of(old), None, before_sha=old.blob_sha, after_sha=None, op="delete")
        result.changes.append(Change(path, payload, None))
    result.changes.sort(key=lambda c: c.path)
    return result

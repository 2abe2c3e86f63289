"""Content of snapshotted files that git does not already hold, keyed by git blob id.

The edit engine needs the previous content of a file to diff against. A committed or staged
file's content is in git's object database already; only content git lacks is kept here,
zlib-compressed, written atomically so a crash never leaves half a blob.

What is kept is the content as the redactor left it, never a secret: the edit engine diffs
redacted versions only, and a withheld file (`.env`, keys) is never put here at all. It is
still filed under the real content's blob id, so a redacted entry never passes for the real
content: replay and verify check the id of what they are given.
"""

from __future__ import annotations

import contextlib
import os
import zlib
from collections.abc import Collection, Iterator
from pathlib import Path

__all__ = ["BlobCache"]


class BlobCache:
    """A content-addressed folder: `<root>/ab/cdef…` holds zlib(content) of blob `abcdef…`."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def _path(self, sha: str) -> Path:
        return self.root / sha[:2] / sha[2:]

    def put(self, sha: str, content: bytes) -> None:
        path = self._path(sha)
        if path.exists():
            return
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(zlib.compress(content, 1))
            os.replace(tmp, path)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise

    def get(self, sha: str) -> bytes | None:
        try:
            return zlib.decompress(self._path(sha).read_bytes())
        except (FileNotFoundError, zlib.error):
            return None

    def ids(self) -> Iterator[str]:
        """The blob ids the cache holds."""
        for folder, entry in self._entries():
            if not entry.name.startswith("."):  # `.name.pid.tmp`: a write under way
                yield folder + entry.name

    def _folders(self) -> list[os.DirEntry[str]]:
        """The two-letter folders, in order."""
        try:
            return sorted((e for e in os.scandir(self.root) if len(e.name) == 2 and e.is_dir(follow_symlinks=False)),
                          key=lambda e: e.name)
        except FileNotFoundError:
            return []

    def _entries(self) -> Iterator[tuple[str, os.DirEntry[str]]]:
        """(two-letter folder, entry) for everything in the cache's folders, in order."""
        for folder in self._folders():
            yield from ((folder.name, entry) for entry in os.scandir(folder.path))

    def prune(self, keep: Collection[str], *, written_before: float) -> int:
        """Remove every entry whose id is not in `keep`; returns how many went. The cache is
        shared by every repository, so the caller passes all that anything still needs (and
        holds the capture locks). An entry written at or after `written_before` (a time.time()
        taken before `keep` was worked out) stays: a capture may have just put it for a
        snapshot `keep` could not yet name."""
        removed = 0
        for sha in list(self.ids()):
            if sha in keep:
                continue
            path = self._path(sha)
            try:
                if path.stat().st_mtime >= written_before:
                    continue
                path.unlink()
            except FileNotFoundError:
                continue
            removed += 1
        self._tidy(written_before - 3600)
        return removed

    def _tidy(self, stale_before: float) -> None:
        """Remove temporary files a crashed write left (an hour old), and folders left empty."""
        for _folder, entry in self._entries():
            if entry.name.startswith(".") and entry.name.endswith(".tmp"):
                with contextlib.suppress(OSError):
                    if entry.stat().st_mtime < stale_before:
                        Path(entry.path).unlink()
        for folder in self._folders():
            with contextlib.suppress(OSError):
                os.rmdir(folder.path)  # only when empty

"""Content of snapshotted files that git does not already hold, keyed by git blob id.

The edit engine needs the previous content of a file to diff against. A committed or staged
file's content is in git's object database already; only content git lacks is kept here,
zlib-compressed, written atomically so a crash never leaves half a blob.
"""

from __future__ import annotations

import os
import zlib
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

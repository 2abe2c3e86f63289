"""Advisory file locks: one scanner per repo, one drainer of the spool, one push at a time."""

from __future__ import annotations

import fcntl
import hashlib
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

__all__ = ["file_lock", "repo_lock_path"]


def repo_lock_path(locks: Path, repo_path: str) -> Path:
    digest = hashlib.sha1(repo_path.encode("utf-8", "surrogateescape"), usedforsecurity=False).hexdigest()
    return locks / f"repo-{digest[:16]}.lock"


@contextmanager
def file_lock(path: Path, *, blocking: bool = True) -> Iterator[bool]:
    """Hold an exclusive flock on `path` (released by the kernel if the process dies).

    Yields False, without holding it, when `blocking` is off and another process has it.
    """
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | (0 if blocking else fcntl.LOCK_NB))
        except BlockingIOError:
            yield False
            return
        yield True
    finally:
        os.close(fd)

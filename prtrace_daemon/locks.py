"""The one file-lock helper: advisory flocks for one scanner per repo, one drainer of the spool,
one push at a time, and the daemon's life.

A flock is released by the kernel when its holder dies, so a crash never leaves a stale lock.
Not the `filelock` library: it opens the lock file with O_TRUNC on every try, which would erase
the push lock's note of who holds it while a second push waits; it has no shared lock, which
`daemon_alive` probes with; and it waits by polling where the kernel can simply block.

The shell and git hooks take no lock (they append one line to a spool file of their own), so
nothing here has to stay compatible with flock(1).
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager

TYPE_CHECKING = False
if TYPE_CHECKING:
    from pathlib import Path

__all__ = ["LockFile", "file_lock", "repo_lock_path"]


def repo_lock_path(locks: Path, repo_path: str) -> Path:
    """The lock file of one repository's scans, named by a digest of its path."""
    import hashlib  # not on the path of `daemon_alive`, which `note` and `run` ask first

    digest = hashlib.sha1(
        repo_path.encode("utf-8", "surrogateescape"), usedforsecurity=False
    ).hexdigest()
    return locks / f"repo-{digest[:16]}.lock"


class LockFile:
    """An open lock file (0600, its folder 0700); its lock goes when it is closed.

    `create=False` opens only a file that exists (OSError otherwise): a probe must not leave
    lock files behind.
    """

    __slots__ = ("fd",)

    def __init__(self, path: str | Path, *, create: bool = True) -> None:
        if create:
            os.makedirs(os.path.dirname(path) or ".", mode=0o700, exist_ok=True)
        self.fd = os.open(path, os.O_RDWR | (os.O_CREAT if create else 0), 0o600)

    def acquire(self, *, blocking: bool = True, shared: bool = False) -> bool:
        """Take the lock (exclusive, or shared); False, without it, when `blocking` is off and
        another process holds it."""
        operation = (fcntl.LOCK_SH if shared else fcntl.LOCK_EX) | (
            0 if blocking else fcntl.LOCK_NB
        )
        try:
            fcntl.flock(self.fd, operation)
        except BlockingIOError:
            return False
        return True

    def close(self) -> None:
        """Close the file, and so release the lock."""
        os.close(self.fd)

    def __enter__(self) -> LockFile:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


@contextmanager
def file_lock(path: Path, *, blocking: bool = True) -> Iterator[bool]:
    """Hold an exclusive lock on `path` for the block.

    Yields False, without holding it, when `blocking` is off and another process has it.
    """
    with LockFile(path) as lock:
        yield lock.acquire(blocking=blocking)

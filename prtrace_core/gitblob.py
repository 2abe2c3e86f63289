"""git's object ids, computed without git: the key every edit's before/after state is named by."""

from __future__ import annotations

import hashlib

__all__ = ["EMPTY_TREE", "blob_sha"]

EMPTY_TREE = "4b825dc642cb6eb9a060e54bf8d69288fbee4904"


def blob_sha(content: bytes) -> str:
    """git's blob id of the content (what `git hash-object` prints)."""
    digest = hashlib.sha1(b"blob %d\0" % len(content), usedforsecurity=False)
    digest.update(content)
    return digest.hexdigest()

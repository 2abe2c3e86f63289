"""git's object ids and file modes, without git: the names every edit's before/after state,
replay and capture agree on."""

from __future__ import annotations

import hashlib

__all__ = ["EMPTY_TREE", "EXECUTABLE", "GITLINK", "REGULAR", "SYMLINK", "blob_sha", "file_mode"]

EMPTY_TREE = "4b825dc642cb6eb9a060e54bf8d69288fbee4904"

# git's file modes, as its trees and index spell them.
REGULAR = "100644"
EXECUTABLE = "100755"
SYMLINK = "120000"
GITLINK = "160000"  # a submodule's commit: not a file of this work tree


def blob_sha(content: bytes) -> str:
    """git's blob id of the content (what `git hash-object` prints)."""
    digest = hashlib.sha1(b"blob %d\0" % len(content), usedforsecurity=False)
    digest.update(content)
    return digest.hexdigest()


def file_mode(executable: bool) -> str:
    """git's mode for a regular file: only the owner's executable bit counts, as in git."""
    return EXECUTABLE if executable else REGULAR

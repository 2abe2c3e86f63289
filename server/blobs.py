"""The object store: immutable batch objects and compacted traces, behind one protocol so the
folder and S3 stores are interchangeable."""

from __future__ import annotations

import re
from typing import Protocol

from .errors import StoreCorrupt

__all__ = ["BlobStore", "check_key", "missing"]

# Keys name objects in a folder or a bucket alike: relative, no `..`, a safe alphabet.
_KEY = re.compile(r"^[A-Za-z0-9_-][A-Za-z0-9._-]*(?:/[A-Za-z0-9_-][A-Za-z0-9._-]*)*$")


def check_key(key: str) -> str:
    """The key itself if it is a safe object name; ValueError otherwise."""
    if not _KEY.match(key) or ".." in key.split("/"):
        raise ValueError(f"not a valid object key: {key!r}")
    return key


class BlobStore(Protocol):
    """Objects by key. Failures surface as StoreUnavailable; a missing object as StoreCorrupt."""

    def put(self, key: str, data: bytes) -> None:
        """Store the bytes under the key, atomically; writing the same bytes again is harmless."""
        ...

    def get(self, key: str) -> bytes:
        """The object's bytes; StoreCorrupt if there is none."""
        ...

    def exists(self, key: str) -> bool:
        """Whether an object is stored under the key."""
        ...

    def ping(self) -> None:
        """Raise StoreUnavailable unless the store can be read and written."""
        ...

    def close(self) -> None:
        """Release clients and connections."""
        ...


def missing(key: str) -> StoreCorrupt:
    """The error for an object the index points at but the store lacks."""
    return StoreCorrupt(f"object {key} is missing from the object store")

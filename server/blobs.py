"""The object store: immutable batch objects and compacted traces, behind one protocol so the
folder and S3 stores are interchangeable."""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Protocol

from .errors import StoreCorrupt

__all__ = ["BlobStore", "StoredObject", "check_key", "check_prefix", "missing"]

# Keys name objects in a folder or a bucket alike: relative, no `..`, a safe alphabet.
_KEY = re.compile(r"^[A-Za-z0-9_-][A-Za-z0-9._-]*(?:/[A-Za-z0-9_-][A-Za-z0-9._-]*)*$")


def check_key(key: str) -> str:
    """The key itself if it is a safe object name; ValueError otherwise."""
    if not _KEY.match(key) or ".." in key.split("/"):
        raise ValueError(f"not a valid object key: {key!r}")
    return key


def check_prefix(prefix: str) -> str:
    """The prefix itself if it names a folder of keys ("batches/", or "" for all); ValueError otherwise."""
    if prefix and (not prefix.endswith("/") or prefix != check_key(prefix[:-1]) + "/"):
        raise ValueError(f"not a valid key prefix: {prefix!r}")
    return prefix


@dataclass(frozen=True, slots=True)
class StoredObject:
    """An object as a listing shows it."""

    key: str
    age_s: float  # seconds since it was last written (put), by this machine's clock


class BlobStore(Protocol):
    """Objects by key. Failures surface as StoreUnavailable; a missing object as StoreCorrupt."""

    def put(self, key: str, data: bytes) -> None:
        """Store the bytes under the key, atomically; writing the same bytes again is harmless.

        Every put restarts the object's age, also when the bytes are the same: a retried batch
        rewrites its object just before its index rows commit, and the orphan sweeper must
        then see it as new, not as the hour-old leftover of the failed first attempt.
        """
        ...

    def get(self, key: str) -> bytes:
        """The object's bytes; StoreCorrupt if there is none."""
        ...

    def exists(self, key: str) -> bool:
        """Whether an object is stored under the key."""
        ...

    def list_objects(self, prefix: str) -> Iterator[StoredObject]:
        """Every object whose key starts with `prefix` (a folder such as "batches/"), with its
        age; the keys of one folder come together. Temporary files are not objects."""
        ...

    def delete(self, keys: Iterable[str], *, min_age_s: float = 0.0) -> list[str]:
        """Delete these objects, each only if it is still at least `min_age_s` old when it
        goes (a put since it was listed keeps it); returns the keys deleted. A key with no
        object is left out."""
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

"""Which index and object store a URL names. The one place a new backend is plugged in.

The PostgreSQL and S3 stores are imported only when named, so the embedded default starts
without loading psycopg or boto3.
"""

from __future__ import annotations

from .blobs import BlobStore
from .blobs_folder import FolderBlobs
from .errors import ConfigError
from .index import IndexStore
from .index_sqlite import SqliteIndex

__all__ = ["open_blobs", "open_index"]


def open_index(url: str) -> IndexStore:
    """The index store for PRTRACE_DATABASE_URL, migrated to the current schema."""
    scheme = url.split(":", 1)[0].lower()
    if scheme == "sqlite":
        return SqliteIndex.from_url(url)
    if scheme in ("postgresql", "postgres"):
        from .index_postgres import PostgresIndex

        return PostgresIndex.from_url(url)
    raise ConfigError(
        f"PRTRACE_DATABASE_URL: unsupported scheme {scheme!r}; use sqlite:///PATH or postgresql://…"
    )


def open_blobs(url: str) -> BlobStore:
    """The object store for PRTRACE_STORAGE_URL; an S3 bucket must already exist."""
    scheme = url.split(":", 1)[0].lower()
    if scheme == "file":
        return FolderBlobs.from_url(url)
    if scheme == "s3":
        from .blobs_s3 import S3Blobs

        return S3Blobs.from_url(url)
    raise ConfigError(
        f"PRTRACE_STORAGE_URL: unsupported scheme {scheme!r}; use file://PATH or s3://BUCKET[/prefix]"
    )

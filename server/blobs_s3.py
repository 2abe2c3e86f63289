"""The object store on S3, or any S3-compatible server: one object per key, under an optional
prefix in one bucket.

The endpoint, credentials and region come from boto3's own configuration (`AWS_ENDPOINT_URL`,
`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_REGION` …). Addressing is path-style, which
every S3-compatible server understands. Timeouts are short and a request is tried twice, so an
outage becomes StoreUnavailable (a 503 the client retries) in seconds. An S3 PUT is atomic: a
reader sees the whole object or none, and a batch object put again holds the same bytes (and
a new LastModified: every put restarts the object's age).
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError

from .blobs import StoredObject, check_key, check_prefix, missing
from .errors import ConfigError, StoreUnavailable

__all__ = ["S3Blobs", "s3_location"]

log = logging.getLogger(__name__)

_CONNECT_TIMEOUT_S = 2
_READ_TIMEOUT_S = 15
_ATTEMPTS = 2
_CONNECTIONS = 32  # about the size of the request thread pool
# S3's bucket naming rules: 3-63 lower-case letters, digits, dots and hyphens.
_BUCKET = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
_NOT_FOUND = {"404", "NoSuchKey", "NotFound"}
_PAGE = 1000  # the most keys one ListObjectsV2 page holds
_CHECKED_CHUNK = 20  # objects looked at, then deleted, at a time: the race window stays short
_DELETE_CHUNK = 1000  # the most keys one DeleteObjects request takes
_DENIED = {"403", "AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch"}


def s3_location(url: str) -> tuple[str, str]:
    """The bucket and the key prefix ("" or ending in "/") of an `s3://BUCKET[/prefix]` URL."""
    if not url.lower().startswith("s3://"):
        raise ConfigError(f"PRTRACE_STORAGE_URL: expected s3://BUCKET[/prefix], got {url!r}")
    bucket, _, prefix = url[len("s3://") :].partition("/")
    if not _BUCKET.match(bucket) or ".." in bucket:
        raise ConfigError(
            f"PRTRACE_STORAGE_URL: {bucket!r} is not a bucket name",
            hint="3-63 lower-case letters, digits, dots and hyphens: s3://traces or s3://traces/prtrace",
        )
    prefix = prefix.strip("/")
    if prefix:
        try:
            check_key(prefix)
        except ValueError:
            raise ConfigError(
                f"PRTRACE_STORAGE_URL: the prefix {prefix!r} is not a valid key prefix",
                hint="letters, digits, . _ - and / between parts: s3://traces/prtrace/objects",
            ) from None
        prefix += "/"
    return bucket, prefix


class S3Blobs:
    """BlobStore on an S3 bucket. The bucket must exist: creating it is the operator's job."""

    def __init__(self, bucket: str, prefix: str = "") -> None:
        self.bucket = bucket
        self.prefix = prefix
        self.page_size = _PAGE  # keys per listing page and per delete request
        self._client = _client()
        try:
            self._check_bucket()
        except BaseException:
            self._client.close()
            raise

    @classmethod
    def from_url(cls, url: str) -> S3Blobs:
        """The store for an `s3://BUCKET[/prefix]` URL."""
        bucket, prefix = s3_location(url)
        return cls(bucket, prefix)

    @property
    def endpoint(self) -> str:
        """Where the S3 requests go."""
        return str(self._client.meta.endpoint_url)

    def _key(self, key: str) -> str:
        return self.prefix + check_key(key)

    def put(self, key: str, data: bytes) -> None:
        name = self._key(key)
        try:
            self._client.put_object(Bucket=self.bucket, Key=name, Body=data)
        except (BotoCoreError, ClientError) as exc:
            raise self._unavailable(f"cannot write object {key}", exc) from exc

    def get(self, key: str) -> bytes:
        name = self._key(key)
        try:
            response = self._client.get_object(Bucket=self.bucket, Key=name)
            with response["Body"] as body:
                data: bytes = body.read()
            return data
        except ClientError as exc:
            if _code(exc) in _NOT_FOUND:
                raise missing(key) from None
            raise self._unavailable(f"cannot read object {key}", exc) from exc
        except BotoCoreError as exc:
            raise self._unavailable(f"cannot read object {key}", exc) from exc

    def exists(self, key: str) -> bool:
        name = self._key(key)
        try:
            self._client.head_object(Bucket=self.bucket, Key=name)
        except ClientError as exc:
            if _code(exc) in _NOT_FOUND:
                return False
            raise self._unavailable(f"cannot look up object {key}", exc) from exc
        except BotoCoreError as exc:
            raise self._unavailable(f"cannot look up object {key}", exc) from exc
        return True

    def list_objects(self, prefix: str) -> Iterator[StoredObject]:
        # list_objects_v2 pages of up to 1,000 keys, in key order, so a folder's keys come together.
        pages = self._client.get_paginator("list_objects_v2").paginate(
            Bucket=self.bucket, Prefix=self.prefix + check_prefix(prefix),
            PaginationConfig={"PageSize": self.page_size},
        )
        try:
            for page in pages:
                now = datetime.now(UTC)
                for item in page.get("Contents", []):
                    key = item["Key"][len(self.prefix) :]
                    yield StoredObject(key, (now - item["LastModified"]).total_seconds())
        except (BotoCoreError, ClientError) as exc:
            raise self._unavailable(f"cannot list objects under {prefix}", exc) from exc

    def delete(self, keys: Iterable[str], *, min_age_s: float = 0.0) -> list[str]:
        # S3 has no delete-if-unmodified: look at each object just before deleting it, chunk by
        # small chunk, so one put since the caller listed it stays (a put landing between this
        # look and the delete, a chunk's HEAD requests later, is not seen), and a key with no
        # object is not counted as deleted.
        names = list(map(self._key, keys))
        deleted: list[str] = []
        chunk_size = min(self.page_size, _DELETE_CHUNK, _CHECKED_CHUNK)
        for start in range(0, len(names), chunk_size):
            chunk = [name for name in names[start : start + chunk_size] if self._age_s(name) >= max(min_age_s, 0.0)]
            if not chunk:
                continue
            try:
                answer = self._client.delete_objects(
                    Bucket=self.bucket, Delete={"Objects": [{"Key": name} for name in chunk], "Quiet": True}
                )
            except (BotoCoreError, ClientError) as exc:
                raise self._unavailable("cannot delete objects", exc) from exc
            errors = answer.get("Errors", [])
            failed = {error["Key"] for error in errors}
            deleted += [name[len(self.prefix) :] for name in chunk if name not in failed]
            if errors:  # left for the next attempt; the caller learns which went
                log.warning("S3 at %s kept %d object(s) it was asked to delete: %s %s", self.endpoint,
                            len(failed), errors[0].get("Code", ""), errors[0].get("Message", ""))
        return deleted

    def _age_s(self, name: str) -> float:
        """Seconds since the object was written; -1 when there is none."""
        try:
            head = self._client.head_object(Bucket=self.bucket, Key=name)
        except ClientError as exc:
            if _code(exc) in _NOT_FOUND:
                return -1.0
            raise self._unavailable(f"cannot look up object {name}", exc) from exc
        except BotoCoreError as exc:
            raise self._unavailable(f"cannot look up object {name}", exc) from exc
        return (datetime.now(UTC) - head["LastModified"]).total_seconds()

    def ping(self) -> None:
        try:
            self._client.head_bucket(Bucket=self.bucket)
        except (BotoCoreError, ClientError) as exc:
            raise self._unavailable(f"bucket {self.bucket} does not answer", exc) from exc

    def close(self) -> None:
        self._client.close()

    def _check_bucket(self) -> None:
        """At start: the bucket exists and the credentials may use it, or a clear ConfigError."""
        try:
            self._client.head_bucket(Bucket=self.bucket)
        except NoCredentialsError:
            raise ConfigError(
                "PRTRACE_STORAGE_URL: no S3 credentials found",
                hint="set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (and AWS_ENDPOINT_URL for a "
                "server other than AWS)",
            ) from None
        except ClientError as exc:
            code = _code(exc)
            if code in _NOT_FOUND or code == "NoSuchBucket":
                raise ConfigError(
                    f"PRTRACE_STORAGE_URL: bucket {self.bucket} does not exist at {self.endpoint}",
                    hint=f"create it first (aws s3 mb s3://{self.bucket}); the server does not create buckets",
                ) from None
            if code in _DENIED:
                raise ConfigError(
                    f"PRTRACE_STORAGE_URL: access to bucket {self.bucket} at {self.endpoint} is denied ({code})",
                    hint="check AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY",
                ) from None
            raise self._unavailable(f"bucket {self.bucket} does not answer", exc) from exc
        except BotoCoreError as exc:
            raise self._unavailable(f"bucket {self.bucket} does not answer", exc) from exc

    def _unavailable(self, what: str, exc: Exception) -> StoreUnavailable:
        if isinstance(exc, ClientError):
            detail = f"{_code(exc)} {exc.response.get('Error', {}).get('Message', '')}".strip()
        else:
            detail = str(exc)
        return StoreUnavailable(f"S3 at {self.endpoint}: {what}: {detail}")


def _client() -> Any:
    session = boto3.session.Session()
    # boto3 reads AWS_DEFAULT_REGION; AWS_REGION is what most other tools read.
    region = session.region_name or os.environ.get("AWS_REGION") or "us-east-1"
    config = Config(
        s3={"addressing_style": "path"},
        connect_timeout=_CONNECT_TIMEOUT_S,
        read_timeout=_READ_TIMEOUT_S,
        retries={"max_attempts": _ATTEMPTS, "mode": "standard"},
        max_pool_connections=_CONNECTIONS,
    )
    return session.client("s3", region_name=region, config=config)


def _code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))

"""What only the S3 object store has: bucket URLs with a prefix, a clear refusal at start when
the bucket is missing or the keys are wrong, fast failure when the endpoint is unreachable."""

from __future__ import annotations

import time

import pytest

from prtrace_server.blobs_s3 import S3Blobs, s3_location
from prtrace_server.errors import ConfigError, StoreUnavailable
from prtrace_server.stores import open_blobs
from tests.conftest import S3Endpoint
from tests.support.stack import free_port


@pytest.fixture
def s3_env(s3_server: S3Endpoint, monkeypatch: pytest.MonkeyPatch) -> S3Endpoint:
    for name, value in s3_server.env().items():
        monkeypatch.setenv(name, value)
    return s3_server


@pytest.mark.parametrize(
    ("url", "bucket", "prefix"),
    [
        ("s3://traces", "traces", ""),
        ("s3://traces/", "traces", ""),
        ("s3://traces/prtrace", "traces", "prtrace/"),
        ("s3://my.traces-1/a/b/", "my.traces-1", "a/b/"),
    ],
)
def test_bucket_urls_name_a_bucket_and_a_prefix(url: str, bucket: str, prefix: str) -> None:
    assert s3_location(url) == (bucket, prefix)


@pytest.mark.parametrize("url", ["s3://", "s3://Traces", "s3://a", "s3://under_score", "s3://b..b", "s3://traces/../x", "s3://traces/a b"])
def test_bad_bucket_urls_are_refused(url: str) -> None:
    with pytest.raises(ConfigError, match="PRTRACE_STORAGE_URL"):
        s3_location(url)


def test_objects_go_under_the_prefix(s3_env: S3Endpoint, s3_bucket: str) -> None:
    blobs = open_blobs(f"s3://{s3_bucket}/deploy/prtrace")
    try:
        blobs.put("batches/t/x.ndjson", b"line\n")
        assert blobs.get("batches/t/x.ndjson") == b"line\n"
    finally:
        blobs.close()
    listing = s3_env.client().list_objects_v2(Bucket=s3_bucket)
    assert [item["Key"] for item in listing["Contents"]] == ["deploy/prtrace/batches/t/x.ndjson"]


def test_a_missing_bucket_is_refused_at_start_with_a_hint(s3_env: S3Endpoint) -> None:
    with pytest.raises(ConfigError, match="bucket no-such-bucket does not exist") as caught:
        open_blobs("s3://no-such-bucket")
    assert caught.value.hint and "create it" in caught.value.hint


def test_wrong_keys_are_refused_at_start(s3_env: S3Endpoint, s3_bucket: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "not-the-secret")
    with pytest.raises(ConfigError, match="denied") as caught:
        open_blobs(f"s3://{s3_bucket}")
    assert "not-the-secret" not in str(caught.value)


def test_an_unreachable_endpoint_fails_fast(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{free_port()}")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "k")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "s")
    started = time.monotonic()
    with pytest.raises(StoreUnavailable, match="does not answer"):
        S3Blobs.from_url("s3://traces")
    # A refused port costs two attempts and the backoff between them: a few seconds, more on a
    # loaded machine (5.005 s was seen), far from a client left to wait out its timeouts.
    assert time.monotonic() - started < 20


def test_a_bucket_removed_while_serving_is_unavailable_not_corrupt(s3_env: S3Endpoint, s3_bucket: str) -> None:
    blobs = open_blobs(f"s3://{s3_bucket}")
    try:
        s3_env.client().delete_bucket(Bucket=s3_bucket)
        with pytest.raises(StoreUnavailable):
            blobs.ping()
        with pytest.raises(StoreUnavailable, match="NoSuchBucket"):
            blobs.get("batches/t/x.ndjson")
    finally:
        blobs.close()

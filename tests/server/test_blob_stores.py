"""Every object store keeps the same promises: the folder and S3 run the same tests."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from prtrace_server.blobs import BlobStore
from prtrace_server.errors import StoreCorrupt
from prtrace_server.stores import open_blobs
from tests.conftest import S3Endpoint
from tests.server.server_helpers import object_keys


@pytest.fixture(params=["folder", "s3"])
def blobs(request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[BlobStore]:
    if request.param == "folder":
        url = f"file://{tmp_path}/objects"
    else:
        s3: S3Endpoint = request.getfixturevalue("s3_server")
        for name, value in s3.env().items():
            monkeypatch.setenv(name, value)
        url = f"s3://{request.getfixturevalue('s3_bucket')}"
    store = open_blobs(url)
    yield store
    store.close()


def test_put_get_and_overwrite(blobs: BlobStore) -> None:
    key = "batches/t/abc.ndjson"
    assert not blobs.exists(key)
    blobs.put(key, b"one\n")
    blobs.put(key, b"one\n")
    assert blobs.get(key) == b"one\n"
    # The compacted trace object is rewritten as the trace grows.
    blobs.put(key, b"two\n")
    assert blobs.get(key) == b"two\n"
    assert blobs.exists(key)
    assert object_keys(blobs) == [key]


def test_objects_keep_every_byte(blobs: BlobStore) -> None:
    data = bytes(range(256)) * 4096 + b"\x00 last line\n"
    blobs.put("raw/big.ndjson", data)
    assert blobs.get("raw/big.ndjson") == data
    blobs.put("raw/empty.ndjson", b"")
    assert blobs.get("raw/empty.ndjson") == b""


def test_concurrent_puts_of_the_same_object_leave_it_whole(blobs: BlobStore) -> None:
    data = b'{"event_id":"x"}\n' * 10_000
    threads = [threading.Thread(target=blobs.put, args=("batches/t/same.ndjson", data)) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert blobs.get("batches/t/same.ndjson") == data


def test_missing_object_is_store_corrupt(blobs: BlobStore) -> None:
    with pytest.raises(StoreCorrupt, match=r"batches/none\.ndjson"):
        blobs.get("batches/none.ndjson")


@pytest.mark.parametrize("key", ["../escape", "/absolute", "a/../../b", "", "a//b", ".hidden", "a b"])
def test_keys_outside_the_store_are_refused(blobs: BlobStore, key: str) -> None:
    with pytest.raises(ValueError):
        blobs.put(key, b"x")
    with pytest.raises(ValueError):
        blobs.get(key)


def test_ping_answers_when_the_store_is_up(blobs: BlobStore) -> None:
    blobs.ping()

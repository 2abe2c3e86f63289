"""Bodies the server refuses as a whole: too large, too many events, bad gzip, bad envelopes,
and garbage of every kind — never a 500."""

from __future__ import annotations

import gzip
import json
import tracemalloc
import zlib
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from prtrace_core.canonical import canonical_json
from prtrace_server.bodies import MAX_BODY_BYTES
from prtrace_server.envelope import MAX_ENVELOPE_BYTES
from tests.server.server_helpers import TRACE_A, TestClient, make_batch, note

JSON = {"Content-Type": "application/json"}
GZIP = {"Content-Type": "application/json", "Content-Encoding": "gzip"}


@pytest.fixture(scope="module")
def gzip_bomb() -> bytes:
    """256 MiB of zeros as gzip (about 1 MiB), compressed piece by piece: 32 times the body
    limit, and four times the memory the test allows."""
    deflate = zlib.compressobj(1, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    zeros = bytes(1 << 20)
    parts = [deflate.compress(zeros) for _ in range(256)]
    parts.append(deflate.flush())
    return b"".join(parts)


def test_gzip_body_is_accepted(client: TestClient, sample_batch: dict[str, Any]) -> None:
    response = client.post("/v1/batches", content=gzip.compress(json.dumps(sample_batch).encode()), headers=GZIP)
    assert response.status_code == 200
    assert len(response.json()["accepted_event_ids"]) == 9


def test_body_over_8_mib_is_413(client: TestClient) -> None:
    filler = "x" * (MAX_BODY_BYTES + 10)
    body = json.dumps(make_batch(TRACE_A, [note(1, filler)]))
    response = client.post("/v1/batches", content=body, headers=JSON)
    assert response.status_code == 413
    assert "8 MiB" in response.json()["detail"]


def test_body_over_8_mib_after_gunzip_is_413(client: TestClient) -> None:
    body = json.dumps(make_batch(TRACE_A, [note(1, "x" * (MAX_BODY_BYTES + 10))])).encode()
    response = client.post("/v1/batches", content=gzip.compress(body), headers=GZIP)
    assert response.status_code == 413


def test_gzip_bomb_is_413_without_inflating_it(client: TestClient, gzip_bomb: bytes) -> None:
    assert len(gzip_bomb) < MAX_BODY_BYTES  # small on the wire: only the inflated size is over
    tracemalloc.start()
    try:
        response = client.post("/v1/batches", content=gzip_bomb, headers=GZIP)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert response.status_code == 413
    assert peak < 64 * 1024 * 1024


def test_more_than_1000_events_is_413(client: TestClient) -> None:
    events = [note(i, "n") for i in range(1, 1002)]
    response = client.post("/v1/batches", content=json.dumps(make_batch(TRACE_A, events)), headers=JSON)
    assert response.status_code == 413
    assert "1,000" in response.json()["detail"]


def test_exactly_1000_events_are_accepted(client: TestClient) -> None:
    events = [note(i, f"n{i}") for i in range(1, 1001)]
    response = client.post("/v1/batches", content=json.dumps(make_batch(TRACE_A, events)), headers=JSON)
    assert response.status_code == 200
    assert len(response.json()["accepted_event_ids"]) == 1000


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(b"\x1f\x8b\x08\x00garbage", id="corrupt"),
        pytest.param(gzip.compress(b'{"a": 1}')[:-6], id="truncated"),
        pytest.param(b'{"not": "gzip"}', id="plain-json"),
    ],
)
def test_bad_gzip_is_400_with_a_clear_message(client: TestClient, body: bytes) -> None:
    response = client.post("/v1/batches", content=body, headers=GZIP)
    assert response.status_code == 400
    assert "gzip" in response.json()["detail"]


def test_unknown_content_encoding_is_415(client: TestClient) -> None:
    response = client.post("/v1/batches", content=b"{}", headers={**JSON, "Content-Encoding": "br"})
    assert response.status_code == 415
    assert "br" in response.json()["detail"]


ENVELOPE_FAULTS: list[tuple[dict[str, Any], str, str]] = [  # (change, field named, name)
    ({"trace_id": None}, "trace_id", "trace-id-null"),
    ({"trace_id": "not-a-uuid"}, "trace_id", "trace-id-malformed"),
    ({"trace_id": TRACE_A.upper()}, "trace_id", "trace-id-upper-case"),
    ({"repo": {"branch": "main"}}, "repo.name", "repo-without-name"),
    ({"repo": "acme/webapp"}, "repo", "repo-a-string"),
    ({"developer": {}}, "developer.user_id", "developer-without-user-id"),
    ({"pr": {"pr_id": "123"}}, "pr.pr_id", "pr-id-malformed"),
    ({"pr": {"pr_id": "acme/webapp#1", "status": "open", "created_at": "soon"}}, "pr.created_at", "pr-created-at"),
    # Index keys: PostgreSQL refuses a btree entry over 2,704 bytes, so every store refuses these.
    ({"repo": {"name": "acme/webapp", "branch": "".join(map(chr, range(0x4E00, 0x4E00 + 400)))}}, "repo.branch", "branch-over-1-kib"),
    ({"pr": {"pr_id": "acme/" + "".join(map(chr, range(0x4E00, 0x4E00 + 400))) + "#1"}}, "pr.pr_id", "pr-id-over-1-kib"),
]


def test_malformed_envelope_is_422_naming_the_field(client: TestClient, subtests: pytest.Subtests) -> None:
    for change, field, name in ENVELOPE_FAULTS:
        with subtests.test(name):
            batch = {**make_batch(TRACE_A, [note(1, "x")]), **change}
            response = client.post("/v1/batches", content=json.dumps(batch), headers=JSON)
            assert response.status_code == 422
            detail = response.json()["detail"]
            assert isinstance(detail, str)
            assert detail.startswith(field), detail


def test_longest_index_keys_the_schema_allows_in_ascii_are_stored(client: TestClient) -> None:
    repo = {"name": "o/" + "r" * 510, "branch": "b" * 1024}
    batch = make_batch(TRACE_A, [note(1, "x")], repo=repo, pr={"pr_id": f"{repo['name']}#1"})
    response = client.post("/v1/batches", content=json.dumps(batch), headers=JSON)
    assert response.status_code == 200, response.text
    assert client.get(f"/v1/traces?branch={'b' * 1024}").json()["traces"][0]["repo"] == repo["name"]


def test_missing_envelope_field_is_422(client: TestClient) -> None:
    batch = make_batch(TRACE_A, [])
    del batch["developer"]
    response = client.post("/v1/batches", content=json.dumps(batch), headers=JSON)
    assert response.status_code == 422
    assert response.json()["detail"].startswith("developer")


@pytest.mark.parametrize(
    ("events", "expected"),
    [(None, "events"), ({"seq": 1}, "events"), ("all of them", "events")],
)
def test_events_not_a_list_is_422(client: TestClient, events: Any, expected: str) -> None:
    batch = make_batch(TRACE_A, [])
    batch["events"] = events
    response = client.post("/v1/batches", content=json.dumps(batch), headers=JSON)
    assert response.status_code == 422
    assert response.json()["detail"].startswith(expected)


def _deep(depth: int) -> bytes:
    return b'{"a":' * depth + b"1" + b"}" * depth


GARBAGE = [
    b"",
    b"   ",
    b"not json",
    b"{",
    b"[]",
    b"null",
    b"42",
    b'"a string"',
    b"true",
    b"{}",
    b'{"events": []}',
    b'{"events": null}',
    b"\xff\xfe\x00{",
    b'{"trace_id": 1, "repo": 2, "developer": 3, "events": 4}',
    b'{"trace_id": "' + TRACE_A.encode() + b'", "repo": {"name": "\x00", "branch": "\x00"}, "developer": {"user_id": "\x00"}, "events": [1, "x", null, [], {}]}',
    b'{"trace_id": "\\ud800", "repo": {}, "developer": {}, "events": []}',
    b'{"trace_id": "' + TRACE_A.encode() + b'", "repo": {"name": "a\\udc00", "branch": "m"}, "developer": {"user_id": "u"}, "events": []}',
    b'{"a": NaN}',
    b'{"a": 1e400}',
    b'{"events": [], "n": 123456789012345678901234567890}',
    b"[" * 100_000 + b"]" * 100_000,
    b"[" * 100_000,
    _deep(2000),
    _deep(900),
    b'{"trace_id": "' + TRACE_A.encode() + b'", "repo": {"name": "r", "branch": "b"}, "developer": {"user_id": "u"}, "x": ' + _deep(200) + b', "events": []}',
]


def test_garbage_gets_a_clear_answer_never_a_500(client: TestClient, subtests: pytest.Subtests) -> None:
    for number, body in enumerate(GARBAGE):  # one app for them all: each is a subtest of its own
        with subtests.test(f"garbage-{number}"):
            response = client.post("/v1/batches", content=body, headers=JSON)
            assert response.status_code in (200, 400, 413, 422), response.text
            answer = response.json()
            if response.status_code == 200:
                assert set(answer) == {"trace_id", "accepted_event_ids", "duplicate_event_ids", "rejected"}
            else:
                assert isinstance(answer["detail"], str) and answer["detail"]


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=20,
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    envelope=st.dictionaries(
        st.sampled_from(["trace_id", "repo", "developer", "pr", "events", "extra"]), json_values, max_size=6
    ),
    events=st.lists(json_values | st.fixed_dictionaries({"ts": json_values, "type": json_values, "payload": json_values}), max_size=4),
)
def test_random_json_never_gets_a_500(client: TestClient, envelope: dict[str, Any], events: list[Any]) -> None:
    body = {**envelope, "events": events} if envelope.get("events") is None else envelope
    response = client.post("/v1/batches", content=json.dumps(body), headers=JSON)
    assert response.status_code in (200, 400, 413, 422), response.text


@pytest.mark.parametrize(
    "path",
    ["/v1/traces?pr=%C2%B2", "/v1/traces?pr=" + "9" * 5000, "/v1/traces?cursor=" + "WyJ4XHUwMDAwIiwieSJd"],
)
def test_odd_read_filters_are_answered_without_a_server_error(client: TestClient, path: str) -> None:
    assert client.get(path).status_code in (200, 422)


def test_a_trace_id_with_a_trailing_newline_is_refused(client: TestClient) -> None:
    batch = make_batch("0b9f8a52-6c1e-4d3a-9f57-2a4c1e8d7b10\n", [note(1, "x")])
    assert client.post("/v1/batches", json=batch).status_code == 422


def test_an_envelope_over_64_kib_is_422_and_stores_nothing(client: TestClient) -> None:
    batch = make_batch(TRACE_A, [note(1, "x")], extra={"blob": "x" * MAX_ENVELOPE_BYTES})
    response = client.post("/v1/batches", content=json.dumps(batch), headers=JSON)
    assert response.status_code == 422
    detail = response.json()["detail"]
    assert detail.startswith("envelope: ") and "65,536" in detail, detail
    assert client.get(f"/v1/traces/{TRACE_A}").status_code == 404


def test_an_envelope_just_under_64_kib_is_stored(client: TestClient) -> None:
    batch = make_batch(TRACE_A, [note(1, "x")], extra="")
    envelope = {key: value for key, value in batch.items() if key != "events"}
    batch["extra"] = "x" * (MAX_ENVELOPE_BYTES - len(canonical_json(envelope)))
    response = client.post("/v1/batches", content=json.dumps(batch), headers=JSON)
    assert response.status_code == 200, response.text
    assert len(client.get(f"/v1/traces/{TRACE_A}").json()["extra"]) == len(batch["extra"])


def test_an_envelope_grown_past_64_kib_by_later_batches_is_422(client: TestClient) -> None:
    statuses = []
    for batch_number in range(1, 5):
        languages = [f"lang-{batch_number}-{n:05d}" for n in range(1500)]
        batch = make_batch(TRACE_A, [note(batch_number, "x")], repo={"name": "acme/webapp", "branch": "main", "language": languages})
        statuses.append(client.post("/v1/batches", content=json.dumps(batch), headers=JSON).status_code)
    assert statuses[:2] == [200, 200]
    assert 422 in statuses
    stored = client.get(f"/v1/traces/{TRACE_A}").json()
    assert len(canonical_json({k: v for k, v in stored.items() if k not in ("events", "timeline", "owner")})) <= MAX_ENVELOPE_BYTES
    assert len(stored["events"]) == statuses.count(200)  # the refused batches stored nothing

"""Reading traces back: whole traces, event pages, listings with filters and cursors, PRs."""

from __future__ import annotations

import json
import uuid
from typing import Any

import boto3
import pytest
from botocore.config import Config

from prtrace_core.canonical import event_id
from prtrace_server.blobs_folder import FolderBlobs
from prtrace_server.blobs_s3 import S3Blobs
from tests.server.server_helpers import TRACE_A, TestClient, blobs_of, make_batch, note

JSON = {"Content-Type": "application/json"}


def post(client: TestClient, batch: dict[str, Any]) -> dict[str, Any]:
    response = client.post("/v1/batches", content=json.dumps(batch), headers=JSON)
    assert response.status_code == 200, response.text
    answer: dict[str, Any] = response.json()
    return answer


def new_trace(client: TestClient, **envelope: Any) -> str:
    trace_id = str(uuid.uuid4())
    post(client, make_batch(trace_id, [note(1, "hello")], **envelope))
    return trace_id


def test_write_is_visible_on_the_next_read(client: TestClient, sample_batch: dict[str, Any]) -> None:
    answer = post(client, sample_batch)
    trace = client.get(f"/v1/traces/{sample_batch['trace_id']}").json()
    assert [e["event_id"] for e in trace["events"]] == answer["accepted_event_ids"]


def test_trace_is_the_envelope_a_timeline_and_events_in_order(client: TestClient, sample_batch: dict[str, Any]) -> None:
    shuffled = {**sample_batch, "events": list(reversed(sample_batch["events"]))}
    post(client, shuffled)
    trace = client.get(f"/v1/traces/{sample_batch['trace_id']}").json()
    for key in ("trace_id", "repo", "pr", "developer"):
        assert trace[key] == sample_batch[key]
    assert trace["timeline"] == {
        "start_time": "2026-11-24T18:41:12.481Z",
        "end_time": "2026-11-24T19:08:14.590Z",
        "duration_seconds": 1622.109,
    }
    assert [e["seq"] for e in trace["events"]] == list(range(1, 10))
    for sent, got in zip(sample_batch["events"], trace["events"], strict=True):
        assert {k: got[k] for k in ("seq", "ts", "type", "payload")} == sent
        assert got["event_id"] == event_id(sample_batch["trace_id"], sent)
        assert isinstance(got["server_seq"], int)
        assert got["received_at"].endswith("Z")
        assert "seq_by_server" not in got


def test_unknown_trace_is_404(client: TestClient) -> None:
    response = client.get(f"/v1/traces/{uuid.uuid4()}")
    assert response.status_code == 404
    assert "no trace" in response.json()["detail"]
    assert client.get(f"/v1/traces/{uuid.uuid4()}/events").status_code == 404


@pytest.mark.parametrize("bad", ["abc", "0B9F8A52-6C1E-4D3A-9F57-2A4C1E8D7B10", "0b9f8a52-6c1e-4d3a-9f57"])
def test_malformed_trace_id_is_422(client: TestClient, bad: str) -> None:
    response = client.get(f"/v1/traces/{bad}")
    assert response.status_code == 422
    assert response.json()["detail"].startswith("trace_id")


def test_list_filters_by_repo_branch_and_pr(client: TestClient) -> None:
    pr = {"pr_id": "acme/webapp#123", "title": "t", "status": "open"}
    a = new_trace(client, pr=pr)
    b = new_trace(client, repo={"name": "acme/webapp", "branch": "feature/x"})
    c = new_trace(client, repo={"name": "other/tool", "branch": "main"}, developer={"user_id": "dev-2"})

    def ids(query: str) -> set[str]:
        response = client.get(f"/v1/traces?{query}")
        assert response.status_code == 200, response.text
        return {t["trace_id"] for t in response.json()["traces"]}

    assert ids("") == {a, b, c}
    assert ids("repo=acme/webapp") == {a, b}
    assert ids("repo=acme/webapp&branch=main") == {a}
    assert ids("branch=main") == {a, c}
    assert ids("pr=acme/webapp%23123") == {a}
    assert ids("pr=123") == {a}
    assert ids("repo=acme/webapp&pr=123") == {a}
    assert ids("repo=other/tool&pr=123") == set()
    # ?developer= names an owner (test_ownership.py); no token user is called dev-2
    assert ids("developer=dev-2") == set()
    assert ids("developer=anonymous") == {a, b, c}


def test_list_summaries_carry_counts_and_times(client: TestClient, sample_batch: dict[str, Any]) -> None:
    post(client, sample_batch)
    [summary] = client.get("/v1/traces").json()["traces"]
    assert summary["trace_id"] == sample_batch["trace_id"]
    assert summary["repo"] == "acme/webapp"
    assert summary["branch"] == "fix/empty-input"
    assert summary["pr_id"] == "acme/webapp#123"
    assert summary["developer_id"] == sample_batch["developer"]["user_id"]
    assert summary["owner"] == "anonymous"  # auth off: every write is the anonymous user's
    assert summary["event_count"] == 9
    assert summary["first_ts"] == "2026-11-24T18:41:12.481Z"
    assert summary["last_ts"] == "2026-11-24T19:08:14.590Z"


def test_list_pages_with_a_cursor_newest_first(client: TestClient) -> None:
    made = [new_trace(client) for _ in range(5)]
    seen: list[str] = []
    created: list[str] = []
    cursor = None
    pages = 0
    while True:
        query = "limit=2" + (f"&cursor={cursor}" if cursor else "")
        page = client.get(f"/v1/traces?{query}").json()
        seen += [t["trace_id"] for t in page["traces"]]
        created += [t["created_at"] for t in page["traces"]]
        pages += 1
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert sorted(seen) == sorted(made)
    assert len(seen) == len(set(seen))
    assert pages == 3
    assert created == sorted(created, reverse=True)


@pytest.mark.parametrize("query", ["cursor=nonsense", "cursor=%00", "limit=0", "limit=1001", "limit=ten"])
def test_bad_list_parameters_are_422(client: TestClient, query: str) -> None:
    response = client.get(f"/v1/traces?{query}")
    assert response.status_code == 422
    assert isinstance(response.json()["detail"], str)


def test_events_filter_by_type_and_after_seq(client: TestClient, sample_batch: dict[str, Any]) -> None:
    post(client, sample_batch)
    base = f"/v1/traces/{sample_batch['trace_id']}/events"
    tests = client.get(f"{base}?type=test").json()
    assert [(e["seq"], e["payload"]["exit_code"]) for e in tests["events"]] == [(4, 1), (7, 0)]
    later = client.get(f"{base}?after_seq=6").json()
    assert [e["seq"] for e in later["events"]] == [7, 8, 9]
    assert later["next_after_seq"] is None


def test_event_pages_continue_and_never_split_a_seq(client: TestClient) -> None:
    events = [note(1, "a"), note(2, "b"), note(2, "b changed"), note(3, "c")]
    post(client, make_batch(TRACE_A, events))
    base = f"/v1/traces/{TRACE_A}/events"
    first = client.get(f"{base}?limit=2").json()
    assert [e["payload"]["text"] for e in first["events"]] == ["a", "b", "b changed"]
    assert first["next_after_seq"] == 2
    rest = client.get(f"{base}?limit=2&after_seq=2").json()
    assert [e["payload"]["text"] for e in rest["events"]] == ["c"]


def test_a_page_keeps_every_version_of_its_last_seq_however_many(client: TestClient) -> None:
    versions = [note(2, f"b{n}") for n in range(40)]  # more than one probe for the seq's ties reads
    post(client, make_batch(TRACE_A, [note(1, "a"), *versions, note(3, "c")]))
    base = f"/v1/traces/{TRACE_A}/events"
    first = client.get(f"{base}?limit=2").json()
    assert [e["payload"]["text"] for e in first["events"]] == ["a"] + [f"b{n}" for n in range(40)]
    assert first["next_after_seq"] == 2
    rest = client.get(f"{base}?limit=2&after_seq=2").json()
    assert [e["payload"]["text"] for e in rest["events"]] == ["c"]


def test_pr_endpoint_lists_the_linked_traces(client: TestClient) -> None:
    pr = {"pr_id": "acme/webapp#123", "title": "t", "status": "open"}
    a = new_trace(client, pr=pr)
    b = new_trace(client, pr=pr, repo={"name": "acme/webapp", "branch": "other"})
    new_trace(client)
    answer = client.get("/v1/prs/acme/webapp/123").json()
    assert answer["pr_id"] == "acme/webapp#123"
    assert {t["trace_id"] for t in answer["traces"]} == {a, b}


def test_unknown_pr_is_404(client: TestClient) -> None:
    response = client.get("/v1/prs/acme/webapp/999")
    assert response.status_code == 404
    assert "acme/webapp#999" in response.json()["detail"]
    assert client.get("/v1/prs/acme/webapp/abc").status_code == 422


def test_health_and_readiness(client: TestClient) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}
    ready = client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json() == {"status": "ready", "index": "ok", "objects": "ok"}


def test_readiness_fails_when_the_object_store_is_gone(client: TestClient) -> None:
    blobs = blobs_of(client)
    if isinstance(blobs, FolderBlobs):
        blobs.root.rename(blobs.root.with_name("elsewhere"))
    else:
        assert isinstance(blobs, S3Blobs)
        s3 = boto3.client("s3", region_name="us-east-1", config=Config(s3={"addressing_style": "path"}))
        s3.delete_bucket(Bucket=blobs.bucket)
        s3.close()
    ready = client.get("/readyz")
    assert ready.status_code == 503
    assert ready.json()["status"] == "unavailable"
    assert ready.json()["index"] == "ok"
    assert ready.headers["Retry-After"]


def test_openapi_documents_every_route(client: TestClient) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    assert set(paths) >= {
        "/v1/batches",
        "/v1/traces",
        "/v1/traces/{trace_id}",
        "/v1/traces/{trace_id}/events",
        "/v1/prs/{owner}/{repo}/{number}",
        "/healthz",
        "/readyz",
    }

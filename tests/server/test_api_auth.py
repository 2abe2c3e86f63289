"""Tokens and roles: writers own what they write, readers read everything, admins do all."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from typing import Any

import pytest

from prtrace_server.tokens import revoke
from tests.server.server_helpers import TestClient, index_of, make_batch, note

JSON = {"Content-Type": "application/json"}
Tokens = Callable[..., dict[str, str]]


def send(client: TestClient, batch: dict[str, Any], headers: dict[str, str]) -> Any:
    return client.post("/v1/batches", content=json.dumps(batch), headers={**JSON, **headers})


def test_request_without_token_is_401(auth_client: TestClient) -> None:
    response = send(auth_client, make_batch(str(uuid.uuid4()), []), {})
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == "Bearer"
    assert "token" in response.json()["detail"]
    assert auth_client.get("/v1/traces").status_code == 401


@pytest.mark.parametrize(
    "header",
    ["Bearer nonsense", "Basic dXNlcjpwYXNz", "Bearer", "Bearer prt_000000000000_" + "a" * 43],
)
def test_malformed_or_unknown_token_is_401(auth_client: TestClient, header: str) -> None:
    response = auth_client.get("/v1/traces", headers={"Authorization": header})
    assert response.status_code == 401


def test_token_with_a_wrong_secret_is_401(auth_client: TestClient, token_for: Tokens) -> None:
    headers = token_for("alice")
    forged = headers["Authorization"][:-4] + ("aaaa" if not headers["Authorization"].endswith("aaaa") else "bbbb")
    assert auth_client.get("/v1/traces", headers={"Authorization": forged}).status_code == 401


def test_revoked_token_is_401(auth_client: TestClient, token_for: Tokens) -> None:
    headers = token_for("alice")
    assert auth_client.get("/v1/traces", headers=headers).status_code == 200
    revoke(index_of(auth_client), user="alice")
    assert auth_client.get("/v1/traces", headers=headers).status_code == 401


def test_writer_writes_and_reads_own_traces(auth_client: TestClient, token_for: Tokens) -> None:
    alice = token_for("alice")
    trace_id = str(uuid.uuid4())
    assert send(auth_client, make_batch(trace_id, [note(1, "mine")]), alice).status_code == 200
    assert auth_client.get(f"/v1/traces/{trace_id}", headers=alice).status_code == 200
    assert auth_client.get(f"/v1/traces/{trace_id}/events", headers=alice).status_code == 200
    assert send(auth_client, make_batch(trace_id, [note(2, "more")]), alice).status_code == 200


def test_writer_may_not_write_or_read_another_users_trace(auth_client: TestClient, token_for: Tokens) -> None:
    alice, bob = token_for("alice"), token_for("bob")
    trace_id = str(uuid.uuid4())
    send(auth_client, make_batch(trace_id, [note(1, "alice's")]), alice)
    response = send(auth_client, make_batch(trace_id, [note(2, "bob's")]), bob)
    assert response.status_code == 403
    assert "another user" in response.json()["detail"]
    assert auth_client.get(f"/v1/traces/{trace_id}", headers=bob).status_code == 403
    assert auth_client.get(f"/v1/traces/{trace_id}/events", headers=bob).status_code == 403
    # Nothing of bob's was stored.
    trace = auth_client.get(f"/v1/traces/{trace_id}", headers=alice).json()
    assert [e["payload"]["text"] for e in trace["events"]] == ["alice's"]


def test_writer_lists_only_own_traces(auth_client: TestClient, token_for: Tokens) -> None:
    alice, bob = token_for("alice"), token_for("bob")
    mine, theirs = str(uuid.uuid4()), str(uuid.uuid4())
    pr = {"pr_id": "acme/webapp#5"}
    send(auth_client, make_batch(mine, [note(1, "a")], pr=pr), alice)
    send(auth_client, make_batch(theirs, [note(1, "b")], pr=pr), bob)
    listed = auth_client.get("/v1/traces", headers=alice).json()["traces"]
    assert [t["trace_id"] for t in listed] == [mine]
    linked = auth_client.get("/v1/prs/acme/webapp/5", headers=alice).json()["traces"]
    assert [t["trace_id"] for t in linked] == [mine]


def test_reader_reads_every_trace_but_may_not_write(auth_client: TestClient, token_for: Tokens) -> None:
    alice, reader = token_for("alice"), token_for("rita", "reader")
    trace_id = str(uuid.uuid4())
    send(auth_client, make_batch(trace_id, [note(1, "a")]), alice)
    assert auth_client.get(f"/v1/traces/{trace_id}", headers=reader).status_code == 200
    assert [t["trace_id"] for t in auth_client.get("/v1/traces", headers=reader).json()["traces"]] == [trace_id]
    response = send(auth_client, make_batch(str(uuid.uuid4()), [note(1, "r")]), reader)
    assert response.status_code == 403
    assert "reader" in response.json()["detail"]


def test_admin_may_write_and_read_any_trace(auth_client: TestClient, token_for: Tokens) -> None:
    alice, admin = token_for("alice"), token_for("root", "admin")
    trace_id = str(uuid.uuid4())
    send(auth_client, make_batch(trace_id, [note(1, "a")]), alice)
    assert send(auth_client, make_batch(trace_id, [note(2, "by admin")]), admin).status_code == 200
    assert len(auth_client.get(f"/v1/traces/{trace_id}", headers=admin).json()["events"]) == 2
    # The trace still belongs to its first writer.
    assert auth_client.get(f"/v1/traces/{trace_id}", headers=alice).status_code == 200


def test_trace_belongs_to_the_token_user_not_the_envelope_developer(
    auth_client: TestClient, token_for: Tokens
) -> None:
    alice, bob = token_for("alice"), token_for("bob")
    trace_id = str(uuid.uuid4())
    send(auth_client, make_batch(trace_id, [note(1, "a")], developer={"user_id": "bob"}), alice)
    assert auth_client.get(f"/v1/traces/{trace_id}", headers=bob).status_code == 403


def test_with_auth_off_every_request_is_an_anonymous_admin(client: TestClient) -> None:
    trace_id = str(uuid.uuid4())
    assert send(client, make_batch(trace_id, [note(1, "a")]), {}).status_code == 200
    trace = index_of(client).get_trace(trace_id)
    assert trace is not None and trace.owner == "anonymous"


def test_health_needs_no_token(auth_client: TestClient) -> None:
    assert auth_client.get("/healthz").status_code == 200
    assert auth_client.get("/readyz").status_code == 200


def test_an_empty_batch_claims_no_trace(auth_client: TestClient, token_for: Tokens) -> None:
    mallory, alice = token_for("mallory"), token_for("alice")
    trace_id = str(uuid.uuid4())
    response = send(auth_client, make_batch(trace_id, []), mallory)
    assert response.status_code == 200
    assert auth_client.get(f"/v1/traces/{trace_id}", headers=mallory).status_code == 404
    assert send(auth_client, make_batch(trace_id, [note(1, "a")]), alice).json()["accepted_event_ids"]
    assert auth_client.get(f"/v1/traces/{trace_id}", headers=alice).json()["owner"] == "alice"
    assert auth_client.get(f"/v1/traces/{trace_id}", headers=mallory).status_code == 403


def test_a_wholly_rejected_batch_claims_no_trace(auth_client: TestClient, token_for: Tokens) -> None:
    mallory, alice = token_for("mallory"), token_for("alice")
    trace_id = str(uuid.uuid4())
    bad = [{"seq": 1, "ts": "yesterday", "type": "annotation", "payload": {"text": "x"}}, "not an event"]
    answer = send(auth_client, make_batch(trace_id, bad), mallory).json()
    assert (answer["accepted_event_ids"], len(answer["rejected"])) == ([], 2)
    assert index_of(auth_client).get_trace(trace_id) is None
    assert send(auth_client, make_batch(trace_id, [note(1, "a")]), alice).status_code == 200
    trace = index_of(auth_client).get_trace(trace_id)
    assert trace is not None and trace.owner == "alice"


def test_a_resent_batch_that_stores_nothing_new_claims_nothing_new(auth_client: TestClient, token_for: Tokens) -> None:
    alice, bob = token_for("alice"), token_for("bob")
    trace_id = str(uuid.uuid4())
    batch = make_batch(trace_id, [note(1, "a")])
    send(auth_client, batch, alice)
    assert send(auth_client, batch, bob).status_code == 403  # the same events, but alice's trace
    trace = index_of(auth_client).get_trace(trace_id)
    assert trace is not None and trace.owner == "alice"

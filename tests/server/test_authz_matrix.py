"""Who may call what: every endpoint against every kind of caller, as one table per mode.

With auth required the callers are no token, a bad token, the owner's token, another writer's,
a reader's and an admin's; with PRTRACE_AUTH=off, a loopback client, a client on another
machine, and a loopback client asking for a foreign host name (DNS rebinding). The trace under
test is alice's, written with an envelope that claims to be mallory's: the token decides, the
envelope only describes.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from typing import Any

import pytest

from prtrace_server.app import create_app
from prtrace_server.settings import ServerSettings
from tests.server.server_helpers import LOOPBACK_URL, TestClient, make_batch, note

JSON = {"Content-Type": "application/json"}
PR = {"pr_id": "acme/webapp#5", "title": "t", "status": "open"}
Tokens = Callable[..., dict[str, str]]

# Each endpoint once (trace-specific ones on the trace under test), as (method, path template).
ENDPOINTS = (
    ("POST", "/v1/batches"),
    ("POST", "/ingest"),
    ("GET", "/v1/traces"),
    ("GET", "/v1/traces/{trace}"),
    ("GET", "/v1/traces/{trace}/events"),
    ("GET", "/v1/prs/acme/webapp/5"),
    ("GET", "/v1/stats"),
    ("GET", "/v1/export"),
    ("GET", "/metrics"),
    ("GET", "/openapi.json"),
    ("GET", "/docs"),
    ("GET", "/redoc"),
    ("GET", "/healthz"),
    ("GET", "/readyz"),
)
_NEEDS_NOTHING = {"/healthz", "/readyz"}
_ONE_TRACE = {"/v1/batches", "/ingest", "/v1/traces/{trace}", "/v1/traces/{trace}/events"}

# What each caller gets from each endpoint, where it differs from 200.
REQUIRED = {
    "no token": {path: 401 for _, path in ENDPOINTS if path not in _NEEDS_NOTHING},
    "bad token": {path: 401 for _, path in ENDPOINTS if path not in _NEEDS_NOTHING},
    "owner": {},
    # another writer: alice's trace is not theirs to read or write, nor is the PR it links
    "another writer": {**{path: 403 for path in _ONE_TRACE}, "/v1/prs/acme/webapp/5": 404},
    "reader": {"/v1/batches": 403, "/ingest": 403},
    "admin": {},
}
AUTH_OFF = {
    "loopback": {},
    "another machine": {path: 403 for _, path in ENDPOINTS},
    "foreign Host": {path: 403 for _, path in ENDPOINTS},
}


def call(client: TestClient, method: str, path: str, trace_id: str, headers: dict[str, str]) -> int:
    url = path.format(trace=trace_id)
    if method == "POST":
        body = json.dumps(make_batch(trace_id, [note(1, "alice's")], developer={"user_id": "mallory"}, pr=PR))
        return client.post(url, content=body, headers={**JSON, **headers}).status_code
    return client.get(url, headers=headers).status_code


def table(client: TestClient, trace_id: str, headers: dict[str, str]) -> dict[str, int]:
    """Every endpoint's status for this caller."""
    return {path: call(client, method, path, trace_id, headers) for method, path in ENDPOINTS}


def expected(exceptions: dict[str, int]) -> dict[str, int]:
    return {path: exceptions.get(path, 200) for _, path in ENDPOINTS}


@pytest.fixture
def alices_trace(auth_client: TestClient, token_for: Tokens) -> str:
    trace_id = str(uuid.uuid4())
    batch = make_batch(trace_id, [note(1, "alice's")], developer={"user_id": "mallory"}, pr=PR)
    response = auth_client.post("/v1/batches", content=json.dumps(batch), headers={**JSON, **token_for("alice")})
    assert response.status_code == 200, response.text
    return trace_id


@pytest.mark.parametrize("caller", list(REQUIRED))
def test_with_auth_required_each_caller_gets_what_its_token_allows(
    auth_client: TestClient, token_for: Tokens, alices_trace: str, caller: str
) -> None:
    headers = {
        "no token": lambda: {},
        "bad token": lambda: {"Authorization": "Bearer prt_000000000000_" + "a" * 43},
        "owner": lambda: token_for("alice"),
        "another writer": lambda: token_for("bob"),
        "reader": lambda: token_for("rita", "reader"),
        "admin": lambda: token_for("root", "admin"),
    }[caller]()
    assert table(auth_client, alices_trace, headers) == expected(REQUIRED[caller])


@pytest.mark.parametrize("caller", list(AUTH_OFF))
def test_with_auth_off_only_this_machine_by_a_loopback_name_is_answered(
    settings: ServerSettings, caller: str
) -> None:
    assert settings.auth == "off"
    app = create_app(settings)
    with TestClient(app, base_url=LOOPBACK_URL, client=("127.0.0.1", 50000)) as local:
        trace_id = str(uuid.uuid4())
        assert local.post("/v1/batches", content=json.dumps(make_batch(trace_id, [note(1, "x")], pr=PR)), headers=JSON).status_code == 200
        if caller == "loopback":
            got = table(local, trace_id, {})
        elif caller == "foreign Host":
            got = table(local, trace_id, {"Host": "rebound.example:8000"})
        else:
            got = table(TestClient(app, base_url=LOOPBACK_URL, client=("192.0.2.7", 50000)), trace_id, {})
    assert got == expected(AUTH_OFF[caller])


def test_the_owner_is_shown_wherever_a_trace_is_summarised(
    auth_client: TestClient, token_for: Tokens, alices_trace: str
) -> None:
    for headers in (token_for("alice"), token_for("rita", "reader"), token_for("root", "admin")):
        [summary] = auth_client.get("/v1/traces", headers=headers).json()["traces"]
        assert (summary["owner"], summary["developer_id"]) == ("alice", "mallory")
        document = auth_client.get(f"/v1/traces/{alices_trace}", headers=headers).json()
        assert (document["owner"], document["developer"]["user_id"]) == ("alice", "mallory")
        [linked] = auth_client.get("/v1/prs/acme/webapp/5", headers=headers).json()["traces"]
        assert linked["owner"] == "alice"
        [row] = auth_client.get("/v1/stats", headers=headers).json()["traces"]
        assert (row["owner"], row["developer"]) == ("alice", "mallory")


def test_another_writer_sees_nothing_of_the_trace_anywhere(
    auth_client: TestClient, token_for: Tokens, alices_trace: str
) -> None:
    bob = token_for("bob")
    assert auth_client.get("/v1/traces", headers=bob).json()["traces"] == []
    assert auth_client.get("/v1/traces?developer=alice", headers=bob).json()["traces"] == []
    assert auth_client.get("/v1/stats", headers=bob).json()["traces"] == []
    assert auth_client.get("/v1/export", headers=bob).content == b""
    # claiming to be the trace's developer in the envelope does not open it
    batch = make_batch(alices_trace, [note(2, "bob's")], developer={"user_id": "alice"})
    response = auth_client.post("/v1/batches", content=json.dumps(batch), headers={**JSON, **bob})
    assert response.status_code == 403
    assert "another user" in response.json()["detail"]


def test_the_developer_filter_selects_by_owner_not_by_envelope(
    auth_client: TestClient, token_for: Tokens, alices_trace: str
) -> None:
    reader = token_for("rita", "reader")

    def listed(query: str) -> list[str]:
        answer: dict[str, Any] = auth_client.get(f"/v1/traces?{query}", headers=reader).json()
        return [t["trace_id"] for t in answer["traces"]]

    assert listed("developer=alice") == [alices_trace]
    assert listed("developer=mallory") == []  # what the envelope claims is no filter

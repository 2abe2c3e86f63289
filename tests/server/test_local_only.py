"""PRTRACE_AUTH=off serves this machine only, and only to callers a web page cannot imitate:
a loopback peer, a loopback Host header, and POST bodies sent as application/json."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable

import httpx
import pytest

from prtrace_server.loopback import is_loopback_client, is_loopback_host
from tests.server.server_helpers import TestClient, index_of, make_batch, note

JSON = {"Content-Type": "application/json"}
Tokens = Callable[..., dict[str, str]]


@pytest.mark.parametrize(
    "host",
    ["127.0.0.1", "127.0.0.1:8000", "localhost", "LOCALHOST:8000", "[::1]", "[::1]:8000", " localhost "],
)
def test_loopback_host_names_are_accepted(host: str) -> None:
    assert is_loopback_host(host)


@pytest.mark.parametrize(
    "host",
    [
        None,
        "",
        "evil.example",
        "evil.example:8000",
        "localhost.evil.example",
        "127.0.0.1.nip.io",
        "localhost.",
        "127.0.0.2",
        "0.0.0.0",
        "::1",  # an IPv6 literal in a Host header is bracketed
        "[::1]x",
        "[::1",
        "127.0.0.1:",
        "127.0.0.1:80:80",
        "127.0.0.1:８０",
        "localhost:123456",
        "192.168.1.10",
    ],
)
def test_every_other_host_name_is_refused(host: str | None) -> None:
    assert not is_loopback_host(host)


@pytest.mark.parametrize(
    ("client", "local"),
    [
        (("127.0.0.1", 1), True),
        (("127.5.6.7", 1), True),
        (("::1", 1), True),
        (("::ffff:127.0.0.1", 1), True),
        (("192.0.2.7", 1), False),
        (("::ffff:192.0.2.7", 1), False),
        (("2001:db8::1", 1), False),
        (("testclient", 50000), False),
        (None, False),
    ],
)
def test_only_loopback_peers_are_local(client: tuple[str, int] | None, local: bool) -> None:
    assert is_loopback_client(client) is local


@pytest.mark.parametrize(
    "content_type",
    [None, "text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x", "application/jsonx"],
)
def test_a_post_that_a_web_page_could_send_is_415_and_stores_nothing(
    client: TestClient, content_type: str | None
) -> None:
    trace_id = str(uuid.uuid4())
    headers = {"Content-Type": content_type} if content_type else {}
    response = client.post("/ingest", content=json.dumps(make_batch(trace_id, [note(1, "x")])), headers=headers)
    assert response.status_code == 415
    assert "application/json" in response.json()["detail"]
    assert index_of(client).get_trace(trace_id) is None


def test_json_with_a_charset_is_json(client: TestClient) -> None:
    body = json.dumps(make_batch(str(uuid.uuid4()), [note(1, "x")]))
    response = client.post("/ingest", content=body, headers={"Content-Type": "Application/JSON; charset=utf-8"})
    assert response.status_code == 200


def test_a_token_does_not_make_a_form_post_acceptable(auth_client: TestClient, token_for: Tokens) -> None:
    headers = {**token_for("alice"), "Content-Type": "text/plain"}
    response = auth_client.post("/v1/batches", content=json.dumps(make_batch(str(uuid.uuid4()), [note(1, "x")])), headers=headers)
    assert response.status_code == 415


def test_a_refusal_names_the_reason(client: TestClient) -> None:
    response = client.get("/v1/traces", headers={"Host": "rebound.example"})
    assert response.status_code == 403
    assert "rebound.example" in response.json()["detail"]
    assert "127.0.0.1" in response.json()["detail"]


def test_a_real_auth_off_server_answers_loopback_names_and_refuses_a_rebound_one(server_url: str) -> None:
    port = httpx.URL(server_url).port
    for host in (f"127.0.0.1:{port}", f"localhost:{port}", "localhost"):
        assert httpx.get(f"{server_url}/v1/traces", headers={"Host": host}).status_code == 200, host
    for host in (f"rebound.example:{port}", "rebound.example"):
        response = httpx.get(f"{server_url}/v1/traces", headers={"Host": host})
        assert response.status_code == 403, host
    batch = json.dumps(make_batch(str(uuid.uuid4()), [note(1, "x")]))
    assert httpx.post(f"{server_url}/ingest", content=batch, headers={"Content-Type": "text/plain"}).status_code == 415
    assert httpx.post(f"{server_url}/ingest", content=batch, headers=JSON).status_code == 200

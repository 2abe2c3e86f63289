"""The API against requests generated from its own OpenAPI document (schemathesis): whatever a
client sends that the document allows, or nearly allows, the server never answers 5xx.

Runs on the embedded store with auth required and a writer's token, a few dozen valid and a
few dozen invalid requests per operation, so the whole file takes seconds. Each operation is
a test of its own, so a failure names it.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings

from prtrace_server.app import create_app
from prtrace_server.settings import ServerSettings
from prtrace_server.tokens import issue_token
from tests.server.server_helpers import TestClient, make_batch, note

EXAMPLES = 30  # per operation and generation mode: seconds in all, on a busy machine

# Every operation in the document (test_every_documented_operation_is_fuzzed keeps it whole).
OPERATIONS = [
    ("POST", "/v1/batches"),
    ("GET", "/v1/traces"),
    ("GET", "/v1/traces/{trace_id}"),
    ("GET", "/v1/traces/{trace_id}/events"),
    ("GET", "/v1/prs/{owner}/{repo}/{number}"),
    ("GET", "/v1/stats"),
    ("GET", "/v1/export"),
    ("GET", "/healthz"),
    ("GET", "/readyz"),
    ("GET", "/metrics"),
    ("POST", "/v1/webhooks/github"),
]
# Operations no generated request can pass: only GitHub's signature opens the webhook.
SIGNED = {("POST", "/v1/webhooks/github")}
# Operations with a parameter or body that a request can break; the others (a free string or
# nothing at all) have no invalid form to generate.
BREAKABLE = [
    ("POST", "/v1/batches"),
    ("GET", "/v1/traces"),
    ("GET", "/v1/traces/{trace_id}/events"),
    ("GET", "/v1/prs/{owner}/{repo}/{number}"),
    ("GET", "/v1/stats"),
    ("GET", "/v1/export"),
]
CASES = [
    *[pytest.param(m, p, schemathesis.GenerationMode.POSITIVE, id=f"{m} {p} valid") for m, p in OPERATIONS],
    *[pytest.param(m, p, schemathesis.GenerationMode.NEGATIVE, id=f"{m} {p} invalid") for m, p in BREAKABLE],
]


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[Any, dict[str, str]]]:
    """An auth-required app on a fresh embedded store and a writer's token; the writer has one
    trace, linked to a PR, so the reads find something. One per test: schemathesis ends the
    lifespan of the apps it called (closing their stores) when each test ends."""
    app = create_app(ServerSettings(auth="required", data_dir=tmp_path / "data", github_webhook_secret="fuzz"))
    _, token = issue_token(app.state.services.index, user="fuzzer", role="writer")
    headers = {"Authorization": f"Bearer {token}"}
    with TestClient(app) as client:
        batch = make_batch(str(uuid.uuid4()), [note(1, "seed"), note(2, "more")], pr={"pr_id": "acme/webapp#1"})
        assert client.post("/v1/batches", json=batch, headers=headers).status_code == 200
        yield app, headers


@pytest.fixture
def api_schema(served: tuple[Any, dict[str, str]]) -> Any:
    """The app's OpenAPI document, fetched with the token it needs."""
    app, headers = served
    return schemathesis.openapi.from_asgi("/openapi.json", app, headers=dict(headers))


def test_every_documented_operation_is_fuzzed(api_schema: Any) -> None:
    documented = {(result.ok().method.upper(), result.ok().path) for result in api_schema.get_all_operations()}
    assert documented == set(OPERATIONS)


@pytest.mark.parametrize(("method", "path", "mode"), CASES)
def test_no_generated_request_gets_a_server_error(
    api_schema: Any, served: tuple[Any, dict[str, str]], method: str, path: str, mode: Any
) -> None:
    _, headers = served
    operation = api_schema[path][method]
    statuses: list[int] = []

    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True, database=None)
    def check(case: Any) -> None:
        response = case.call(headers=dict(headers))
        statuses.append(response.status_code)
        assert response.status_code < 500, (
            f"{case.method} {case.formatted_path} -> {response.status_code}: {response.text[:500]}"
        )

    check()
    if mode == schemathesis.GenerationMode.POSITIVE and "{" not in path and (method, path) not in SIGNED:
        # valid requests get through (a random trace id or PR finds nothing: a 404 is right)
        assert 200 in statuses, f"no generated request got through: {sorted(set(statuses))}"

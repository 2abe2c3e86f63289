"""/metrics: every label from a fixed set whatever the requests, and only for token holders."""

from __future__ import annotations

import uuid
from collections.abc import Callable

from prometheus_client.parser import text_string_to_metric_families

from prtrace_server.metrics import METHODS, OTHER_METHOD, UNMATCHED_ROUTE
from tests.server.server_helpers import TestClient

Tokens = Callable[..., dict[str, str]]


def labels(text: str, name: str) -> set[str]:
    """Every value the label `name` takes in a Prometheus exposition."""
    return {
        sample.labels[name]
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if name in sample.labels
    }


def test_labels_come_from_fixed_sets_whatever_the_requests(client: TestClient) -> None:
    trace_id = str(uuid.uuid4())
    for method, path in [
        ("GET", f"/v1/traces/{trace_id}"),
        ("GET", f"/v1/traces/{trace_id}/events"),
        ("GET", f"/nothing/here/{uuid.uuid4()}"),
        ("GET", "/%2e%2e/%00"),
        ("DELETE", "/v1/traces"),
        ("FROBNICATE", f"/v1/traces/{trace_id}"),
        ("PROPFIND", f"/{uuid.uuid4()}"),
    ]:
        client.request(method, path)
    text = client.get("/metrics").text
    templates = {getattr(route, "path", None) for route in client.app.routes}  # type: ignore[attr-defined]
    assert labels(text, "method") <= METHODS | {OTHER_METHOD}
    assert OTHER_METHOD in labels(text, "method")
    assert labels(text, "route") <= templates | {UNMATCHED_ROUTE}
    assert {"/v1/traces/{trace_id}", "/v1/traces/{trace_id}/events", "/v1/traces", UNMATCHED_ROUTE} <= labels(text, "route")
    assert trace_id not in text
    assert "FROBNICATE" not in text and "PROPFIND" not in text


def test_a_wrong_method_on_a_route_counts_under_its_template(client: TestClient) -> None:
    assert client.delete("/v1/traces").status_code == 405
    text = client.get("/metrics").text
    assert 'prtrace_http_requests_total{method="DELETE",route="/v1/traces",status="405"} 1.0' in text


def test_metrics_need_a_token_when_auth_is_required(auth_client: TestClient, token_for: Tokens) -> None:
    assert auth_client.get("/metrics").status_code == 401
    answer = auth_client.get("/metrics", headers=token_for("prometheus", "reader"))
    assert answer.status_code == 200
    assert "prtrace_http_requests_total" in answer.text
    # the refused request was counted, under its route
    assert 'route="/metrics",status="401"' in answer.text


def test_the_api_documents_need_a_token_when_auth_is_required(auth_client: TestClient, token_for: Tokens) -> None:
    headers = token_for("alice")
    for path in ("/openapi.json", "/docs", "/redoc"):
        assert auth_client.get(path).status_code == 401, path
        assert auth_client.get(path, headers=headers).status_code == 200, path
    document = auth_client.get("/openapi.json", headers=headers).json()
    body = document["paths"]["/v1/batches"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    assert body == {"$ref": "#/components/schemas/Batch"}
    assert "events" in document["components"]["schemas"]["Batch"]["properties"]

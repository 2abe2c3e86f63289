"""POST /v1/webhooks/github: signed deliveries of GitHub's own shapes link PRs to traces and put
CI runs into them, once, whichever arrives first — on the embedded stores and on PostgreSQL+S3."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import orjson
import pytest
from server_helpers import TestClient, blobs_of, index_of, loopback_client, make_batch, note

from prtrace_core.verify import verify_trace
from prtrace_server.app import create_app
from prtrace_server.compaction import Compactor
from prtrace_server.settings import ServerSettings
from tests.fixtures import github_payloads as gh

BRANCH = "fix-empty-input"


@pytest.fixture
def hooks(backend: dict[str, str]) -> Iterator[TestClient]:
    """An auth-off app with webhooks enabled under the fixtures' secret."""
    settings = ServerSettings(auth="off", github_webhook_secret=gh.SECRET)
    with loopback_client(create_app(settings)) as client:
        yield client


def deliver(client: TestClient, event: str, payload: dict[str, Any], **kwargs: Any) -> Any:
    body, headers = gh.delivery(event, payload, **kwargs)
    return client.post("/v1/webhooks/github", content=body, headers=headers)


def push_trace(client: TestClient, *, branch: str = BRANCH, repo: str = "acme/webapp", pr: Any = None,
               ts: str = "2026-11-24T19:05:00.000Z", text: str = "working on it") -> str:
    trace_id = str(uuid.uuid4())
    batch = make_batch(trace_id, [note(1, text, ts)], repo={"name": repo, "branch": branch}, pr=pr)
    answer = client.post("/v1/batches", json=batch)
    assert answer.status_code == 200 and len(answer.json()["accepted_event_ids"]) == 1, answer.text
    return trace_id


def trace(client: TestClient, trace_id: str) -> dict[str, Any]:
    response = client.get(f"/v1/traces/{trace_id}")
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


def ci_events(document: dict[str, Any]) -> list[dict[str, Any]]:
    return [e for e in document["events"] if e["type"] == "ci"]


# the door


def test_ping_answers_pong(hooks: TestClient) -> None:
    response = deliver(hooks, "ping", gh.ping())
    assert response.status_code == 200
    assert response.json()["status"] == "pong"


@pytest.mark.parametrize(
    "tamper",
    ["missing", "other secret", "other body", "sha1 only", "not hex"],
)
def test_a_delivery_without_the_right_signature_is_401_and_changes_nothing(hooks: TestClient, tamper: str) -> None:
    trace_id = push_trace(hooks)
    body, headers = gh.delivery("pull_request", gh.pull_request(), secret=gh.SECRET)
    if tamper == "missing":
        del headers["X-Hub-Signature-256"]
    elif tamper == "other secret":
        headers = gh.delivery("pull_request", gh.pull_request(), secret="not the secret")[1]
    elif tamper == "other body":
        body = body.replace(b"Handle empty input", b"Handle empty inpuT")
    elif tamper == "sha1 only":
        headers["X-Hub-Signature-256"] = headers["X-Hub-Signature"]
    else:
        headers["X-Hub-Signature-256"] = "sha256=" + "zz" * 32
    response = hooks.post("/v1/webhooks/github", content=body, headers=headers)
    assert response.status_code == 401
    assert "X-Hub-Signature-256" in response.json()["detail"]
    assert trace(hooks, trace_id)["pr"] is None


def test_webhooks_are_404_until_a_secret_is_set(client: TestClient) -> None:
    response = deliver(client, "ping", gh.ping())
    assert response.status_code == 404
    assert "PRTRACE_GITHUB_WEBHOOK_SECRET" in response.json()["detail"]


def test_signed_but_malformed_deliveries_are_client_errors(hooks: TestClient) -> None:
    body, headers = gh.delivery("pull_request", gh.pull_request())
    bad_json = b"{not json"
    headers_bad = gh.delivery("pull_request", {})[1]
    import hashlib
    import hmac

    headers_bad["X-Hub-Signature-256"] = "sha256=" + hmac.new(gh.SECRET.encode(), bad_json, hashlib.sha256).hexdigest()
    assert hooks.post("/v1/webhooks/github", content=bad_json, headers=headers_bad).status_code == 400

    no_head = gh.pull_request()
    del no_head["pull_request"]["head"]
    response = deliver(hooks, "pull_request", no_head)
    assert response.status_code == 422
    assert "pull_request.head" in response.json()["detail"]

    no_delivery = dict(headers)
    del no_delivery["X-GitHub-Delivery"]
    assert hooks.post("/v1/webhooks/github", content=body, headers=no_delivery).status_code == 400


def test_events_prtrace_does_not_read_are_acknowledged_and_ignored(hooks: TestClient) -> None:
    response = deliver(hooks, "issues", {"action": "opened", "repository": gh.repository()})
    assert response.status_code == 200
    assert response.json()["status"] == "ignored"


# pull requests


def test_a_pull_request_links_the_traces_of_its_head_branch(hooks: TestClient) -> None:
    mine = push_trace(hooks)
    other_branch = push_trace(hooks, branch="main")
    other_repo = push_trace(hooks, repo="acme/other")
    assert deliver(hooks, "pull_request", gh.pull_request()).status_code == 200

    pr = trace(hooks, mine)["pr"]
    assert pr["pr_id"] == "acme/webapp#123"
    assert pr["title"] == "Handle empty input"
    assert pr["status"] == "open"
    assert pr["created_at"] == "2026-11-24T19:00:00.000Z"
    assert trace(hooks, other_branch)["pr"] is None
    assert trace(hooks, other_repo)["pr"] is None
    listed = hooks.get("/v1/traces", params={"pr": "acme/webapp#123"}).json()["traces"]
    assert [t["trace_id"] for t in listed] == [mine]


def test_a_trace_pushed_after_its_pull_request_is_linked_on_arrival(hooks: TestClient) -> None:
    deliver(hooks, "pull_request", gh.pull_request())
    later = push_trace(hooks)
    assert trace(hooks, later)["pr"]["pr_id"] == "acme/webapp#123"


def test_remote_urls_spelled_in_another_case_still_match(hooks: TestClient) -> None:
    trace_id = push_trace(hooks, repo="Acme/WebApp")
    deliver(hooks, "pull_request", gh.pull_request())
    assert trace(hooks, trace_id)["pr"]["pr_id"] == "acme/webapp#123"


def test_a_merge_closes_the_loop_and_an_older_delivery_never_undoes_it(hooks: TestClient) -> None:
    trace_id = push_trace(hooks)
    deliver(hooks, "pull_request", gh.pull_request())
    merged = gh.pull_request(
        "closed", state="closed", merged=True, merged_at="2026-11-25T10:00:00Z",
        closed_at="2026-11-25T10:00:00Z", updated_at="2026-11-25T10:00:00Z",
    )
    deliver(hooks, "pull_request", merged)
    stale = gh.pull_request("edited", title="An old title", updated_at="2026-11-24T19:30:00Z")
    deliver(hooks, "pull_request", stale)  # GitHub does not promise delivery order
    pr = trace(hooks, trace_id)["pr"]
    assert pr["status"] == "merged"
    assert pr["merged_at"] == "2026-11-25T10:00:00.000Z"
    assert pr["title"] == "Handle empty input"


def test_a_pr_linked_by_its_client_keeps_the_link_and_gets_github_s_status(hooks: TestClient) -> None:
    linked = push_trace(hooks, pr={"pr_id": "acme/webapp#123", "title": "my title", "status": "open"})
    deliver(hooks, "pull_request", gh.pull_request(number=124, title="another PR from the branch"))
    assert trace(hooks, linked)["pr"]["pr_id"] == "acme/webapp#123"
    deliver(hooks, "pull_request", gh.pull_request(state="closed", updated_at="2026-11-26T00:00:00Z"))
    assert trace(hooks, linked)["pr"]["status"] == "closed"


def test_a_fork_s_branch_is_matched_by_the_fork_s_name(hooks: TestClient) -> None:
    fork_trace = push_trace(hooks, repo="bob/webapp", branch="patch-1")
    deliver(hooks, "pull_request", gh.pull_request(number=7, head_repo="bob/webapp", head_ref="patch-1"))
    assert trace(hooks, fork_trace)["pr"]["pr_id"] == "acme/webapp#7"


def test_a_pr_title_holding_a_secret_is_redacted(hooks: TestClient) -> None:
    trace_id = push_trace(hooks)
    token = "ghp_" + "A1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q7r8"
    deliver(hooks, "pull_request", gh.pull_request(title=f"rotate token {token}"))
    assert token not in orjson.dumps(trace(hooks, trace_id)).decode()


# CI


def test_check_runs_become_ci_events_ordered_by_time(hooks: TestClient) -> None:
    trace_id = push_trace(hooks, ts="2026-11-24T19:05:00.000Z")
    hooks.post("/v1/batches", json=make_batch(trace_id, [note(2, "after CI", "2026-11-24T19:30:00.000Z")],
                                             repo={"name": "acme/webapp", "branch": BRANCH}))
    deliver(hooks, "check_run", gh.check_run("created", status="queued", conclusion=None, completed_at=None))
    deliver(hooks, "check_run", gh.check_run())
    document = trace(hooks, trace_id)
    types = [(e["type"], e["seq"]) for e in document["events"]]
    assert types == [("annotation", 1), ("ci", None), ("ci", None), ("annotation", 2)]
    queued, completed = ci_events(document)
    assert queued["payload"]["status"] == "queued"
    assert completed["payload"] | {"id": 128620228} == completed["payload"]
    assert completed["payload"]["conclusion"] == "failure"
    assert completed["payload"]["name"] == "pytest"
    assert completed["payload"]["provider"] == "github"
    assert completed["payload"]["url"] == "https://github.com/acme/webapp/runs/128620228"
    assert completed["ts"] == "2026-11-24T19:12:30.000Z"
    assert all(e["origin"] == "server" for e in (queued, completed))
    # the seq and clock checks pass over server-made events (this trace has no `start`: no other check applies)
    findings = verify_trace(document).findings
    assert [f.check for f in findings if f.check in ("seq_gap", "seq_duplicate", "ts_order")] == []


def test_a_redelivery_and_a_repeat_change_nothing(hooks: TestClient) -> None:
    trace_id = push_trace(hooks)
    payload = gh.workflow_run()
    first = deliver(hooks, "workflow_run", payload, delivery_id="72d3162e-cc78-11e3-81ab-4c9367dc0958")
    again = deliver(hooks, "workflow_run", payload, delivery_id="72d3162e-cc78-11e3-81ab-4c9367dc0958")
    repeat = deliver(hooks, "workflow_run", payload)  # the same facts under a new delivery id
    assert (first.json()["status"], again.json()["status"], repeat.json()["status"]) == (
        "applied", "duplicate", "applied",
    )
    assert len(ci_events(trace(hooks, trace_id))) == 1


def test_a_re_run_is_a_new_event(hooks: TestClient) -> None:
    trace_id = push_trace(hooks)
    deliver(hooks, "workflow_run", gh.workflow_run())
    deliver(hooks, "workflow_run", gh.workflow_run(run_attempt=2, conclusion="success", updated_at="2026-11-24T19:40:00Z"))
    runs = ci_events(trace(hooks, trace_id))
    assert [(e["payload"]["run_attempt"], e["payload"]["conclusion"]) for e in runs] == [(1, "failure"), (2, "success")]
    assert runs[0]["payload"]["workflow"] == "CI"
    assert runs[0]["payload"]["pull_requests"] == [123]


def test_ci_that_ran_before_the_trace_was_pushed_arrives_with_it(hooks: TestClient) -> None:
    deliver(hooks, "check_suite", gh.check_suite(updated_at="2026-11-24T19:20:00Z"))
    deliver(hooks, "pull_request", gh.pull_request())
    trace_id = push_trace(hooks, ts="2026-11-24T19:05:00.000Z")
    document = trace(hooks, trace_id)
    assert document["pr"]["pr_id"] == "acme/webapp#123"
    [suite] = ci_events(document)
    assert suite["payload"]["kind"] == "check_suite"
    assert suite["payload"]["conclusion"] == "success"


def test_old_ci_of_a_reused_branch_name_stays_out(hooks: TestClient) -> None:
    deliver(hooks, "check_run", gh.check_run(started_at="2026-01-01T10:00:00Z",
                                              completed_at="2026-01-01T10:05:00Z", pull_requests=[]))
    trace_id = push_trace(hooks, ts="2026-11-24T19:05:00.000Z")
    assert ci_events(trace(hooks, trace_id)) == []


def test_ci_for_a_pr_reaches_a_trace_linked_to_it_under_another_branch_name(hooks: TestClient) -> None:
    trace_id = push_trace(hooks, branch="local-name", pr={"pr_id": "acme/webapp#123", "status": "open"})
    deliver(hooks, "check_run", gh.check_run())
    assert len(ci_events(trace(hooks, trace_id))) == 1


# the PR as one timeline


def test_a_pr_merges_its_traces_and_ci_in_one_timeline(hooks: TestClient) -> None:
    alice = push_trace(hooks, ts="2026-11-24T19:05:00.000Z", text="alice starts")
    bob = push_trace(hooks, ts="2026-11-24T19:11:00.000Z", text="bob joins")
    deliver(hooks, "pull_request", gh.pull_request())
    deliver(hooks, "check_run", gh.check_run())  # 19:12:30
    hooks.post("/v1/batches", json=make_batch(alice, [note(2, "alice fixes", "2026-11-24T19:20:00.000Z")],
                                             repo={"name": "acme/webapp", "branch": BRANCH}))
    document = hooks.get("/v1/prs/acme/webapp/123").json()
    assert document["pr"]["title"] == "Handle empty input"
    assert document["pr"]["source"] == "github"
    assert {t["trace_id"] for t in document["traces"]} == {alice, bob}
    timeline = [(e["type"], e.get("payload", {}).get("text") or e["payload"].get("name"), e["trace_id"])
                for e in document["events"]]
    assert timeline == [
        ("annotation", "alice starts", alice),
        ("annotation", "bob joins", bob),
        ("ci", "pytest", None),  # once, though both traces hold it
        ("annotation", "alice fixes", alice),
    ]
    assert document["ci_runs"] == 1
    assert document["timeline"]["start_time"] == "2026-11-24T19:05:00.000Z"


def test_the_worker_writes_the_pr_document_beside_raw(hooks: TestClient) -> None:
    trace_id = push_trace(hooks)
    deliver(hooks, "pull_request", gh.pull_request())
    deliver(hooks, "check_run", gh.check_run())
    index, blobs = index_of(hooks), blobs_of(hooks)
    compactor = Compactor(index, blobs, github=True)
    compactor.run_pass()
    document = orjson.loads(blobs.get("prs/acme/webapp/123.json"))
    assert [t["trace_id"] for t in document["traces"]] == [trace_id]
    assert [e["type"] for e in document["events"]] == ["annotation", "ci"]
    assert index.prs_pending(10) == []
    raw = blobs.get(f"raw/{trace_id}.ndjson").splitlines()
    assert [orjson.loads(line)["type"] for line in raw] == ["annotation", "ci"]
    assert orjson.loads(raw[1])["origin"] == "server"


def test_the_sweep_links_a_trace_whose_link_was_interrupted(hooks: TestClient) -> None:
    deliver(hooks, "pull_request", gh.pull_request())
    index, blobs = index_of(hooks), blobs_of(hooks)
    # A batch stored straight into the index, as if the server died before it linked the trace.
    from prtrace_server.auth import ANONYMOUS
    from prtrace_server.ingest import ingest_batch

    trace_id = str(uuid.uuid4())
    batch = make_batch(trace_id, [note(1, "x", "2026-11-24T19:05:00.000Z")], repo={"name": "acme/webapp", "branch": BRANCH})
    ingest_batch(batch, principal=ANONYMOUS, index=index, blobs=blobs)
    assert trace(hooks, trace_id)["pr"] is None
    assert index.traces_to_link(10) == [trace_id]
    Compactor(index, blobs, github=True).run_pass()
    assert trace(hooks, trace_id)["pr"]["pr_id"] == "acme/webapp#123"
    assert index.traces_to_link(10) == []

"""POST /v1/webhooks/github: signed deliveries of GitHub's own shapes link PRs to traces and put
CI runs into them, once, whichever arrives first — on the embedded stores and on PostgreSQL+S3."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import orjson
import pytest

from prtrace_core.verify import verify_trace
from prtrace_server.app import create_app
from prtrace_server.compaction import Compactor
from prtrace_server.settings import ServerSettings
from tests.fixtures import github_payloads as gh
from tests.server.server_helpers import (
    TestClient,
    blobs_of,
    index_of,
    loopback_client,
    make_batch,
    note,
)

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


# what must not match, and what must not stall


def test_a_fork_pr_from_main_does_not_claim_the_base_repository_s_main(hooks: TestClient) -> None:
    base_main = push_trace(hooks, branch="main")
    deliver(hooks, "pull_request", gh.pull_request(number=777, head_repo="mallory/webapp", head_ref="main"))
    deliver(hooks, "workflow_run", gh.workflow_run(head_repo="mallory/webapp", head_branch="main", pull_requests=[]))
    document = trace(hooks, base_main)
    assert document["pr"] is None
    assert ci_events(document) == []


def test_last_month_s_merged_pr_is_not_a_new_trace_s_pr(hooks: TestClient) -> None:
    deliver(hooks, "pull_request", gh.pull_request(
        "closed", number=5, state="closed", merged=True, created_at="2026-10-01T09:00:00Z",
        merged_at="2026-10-02T09:00:00Z", closed_at="2026-10-02T09:00:00Z", updated_at="2026-10-02T09:00:00Z",
    ))
    fresh = push_trace(hooks, ts="2026-11-24T19:05:00.000Z")
    assert trace(hooks, fresh)["pr"] is None
    deliver(hooks, "pull_request", gh.pull_request(number=9, created_at="2026-11-24T19:30:00Z",
                                                   updated_at="2026-11-24T19:30:00Z"))
    assert trace(hooks, fresh)["pr"]["pr_id"] == "acme/webapp#9"


def test_ci_long_after_a_trace_s_last_event_stays_out_unless_its_pr_names_it(hooks: TestClient) -> None:
    trace_id = push_trace(hooks, ts="2026-11-24T19:05:00.000Z")
    deliver(hooks, "check_run", gh.check_run(started_at="2026-12-01T10:00:00Z", completed_at="2026-12-01T10:05:00Z",
                                              pull_requests=[]))
    assert ci_events(trace(hooks, trace_id)) == []
    deliver(hooks, "check_run", gh.check_run(run_id=5, started_at="2026-12-01T11:00:00Z",
                                              completed_at="2026-12-01T11:05:00Z", pull_requests=[123]))
    assert ci_events(trace(hooks, trace_id)) == []  # not linked to #123: nothing ties the two
    deliver(hooks, "pull_request", gh.pull_request())
    assert [e["payload"]["id"] for e in ci_events(trace(hooks, trace_id))] == [5]


def test_a_trace_from_year_one_never_stalls_linking_or_webhooks(hooks: TestClient) -> None:
    ancient = push_trace(hooks, ts="0001-01-01T00:00:00.000Z")
    assert deliver(hooks, "pull_request", gh.pull_request()).status_code == 200
    assert deliver(hooks, "check_run", gh.check_run()).status_code == 200
    assert trace(hooks, ancient)["pr"]["pr_id"] == "acme/webapp#123"
    index, blobs = index_of(hooks), blobs_of(hooks)
    Compactor(index, blobs, github=True).run_pass()
    assert index.traces_to_link(10) == []
    assert index.prs_pending(10) == []


def test_a_pr_no_object_key_can_hold_never_stops_the_others_documents(hooks: TestClient) -> None:
    push_trace(hooks, repo="acme/.github", pr={"pr_id": "acme/.github#1", "status": "open"})
    push_trace(hooks, pr={"pr_id": "acme/webapp#2", "status": "open"})
    index, blobs = index_of(hooks), blobs_of(hooks)
    Compactor(index, blobs, github=True).run_pass()
    assert orjson.loads(blobs.get("prs/acme/webapp/2.json"))["pr_id"] == "acme/webapp#2"
    assert index.prs_pending(10) == []


def test_a_pr_spelled_in_two_cases_has_one_document(hooks: TestClient) -> None:
    push_trace(hooks, repo="Acme/WebApp", pr={"pr_id": "Acme/WebApp#3", "status": "open"})
    index, blobs = index_of(hooks), blobs_of(hooks)
    Compactor(index, blobs, github=True).run_pass()
    assert orjson.loads(blobs.get("prs/acme/webapp/3.json"))["traces"]


def test_a_compressed_delivery_is_refused_before_anything_is_undone(hooks: TestClient) -> None:
    import gzip

    body, headers = gh.delivery("ping", gh.ping())
    response = hooks.post("/v1/webhooks/github", content=gzip.compress(body),
                          headers={**headers, "Content-Encoding": "gzip"})
    assert response.status_code == 415


def test_paging_a_trace_s_events_keeps_its_ci_runs(hooks: TestClient) -> None:
    trace_id = push_trace(hooks, ts="2026-11-24T19:05:00.000Z")
    hooks.post("/v1/batches", json=make_batch(trace_id, [note(n, f"n{n}", f"2026-11-24T19:0{n + 4}:00.000Z")
                                                         for n in (2, 3, 4)],
                                             repo={"name": "acme/webapp", "branch": BRANCH}))
    deliver(hooks, "check_run", gh.check_run(started_at="2026-11-24T19:06:30Z", completed_at="2026-11-24T19:06:40Z"))
    seen: list[str] = []
    after = None
    while True:
        params = {"limit": 2, **({"after_seq": after} if after is not None else {})}
        page = hooks.get(f"/v1/traces/{trace_id}/events", params=params).json()
        seen += [e["type"] for e in page["events"]]
        after = page["next_after_seq"]
        if after is None:
            break
    assert sorted(seen) == ["annotation"] * 4 + ["ci"]
    only_ci = hooks.get(f"/v1/traces/{trace_id}/events", params={"type": "ci", "limit": 1}).json()
    assert [e["type"] for e in only_ci["events"]] == ["ci"]


def test_events_after_a_ci_run_are_appended_to_the_compacted_trace_in_order(hooks: TestClient) -> None:
    trace_id = push_trace(hooks, ts="2026-11-24T19:05:00.000Z")
    deliver(hooks, "check_run", gh.check_run(started_at="2026-11-24T19:06:00Z", completed_at="2026-11-24T19:06:30Z"))
    index, blobs = index_of(hooks), blobs_of(hooks)
    compactor = Compactor(index, blobs, github=True)
    compactor.run_pass()
    for n in (2, 3):
        hooks.post("/v1/batches", json=make_batch(trace_id, [note(n, f"n{n}", f"2026-11-24T19:1{n}:00.000Z")],
                                                 repo={"name": "acme/webapp", "branch": BRANCH}))
        compactor.run_pass()
    raw = [orjson.loads(line) for line in blobs.get(f"raw/{trace_id}.ndjson").splitlines()]
    assert [e["event_id"] for e in raw] == [e["event_id"] for e in trace(hooks, trace_id)["events"]]
    assert [e["type"] for e in raw] == ["annotation", "ci", "annotation", "annotation"]

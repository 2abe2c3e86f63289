"""A PR as each role reads it: a writer who names a PR in an envelope sees that PR's CI runs only
for the commits their own traces recorded, and the PR as their own clients described it, not
GitHub's; readers and admins see everything — through `/v1/prs` and the `/ui/prs` page alike,
and in the claiming trace itself (`/v1/traces/{id}`, its events pages, the export, the viewer)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import orjson
import pytest

from prtrace_server.app import create_app
from prtrace_server.auth import Principal
from prtrace_server.ci_visibility import recorded_commits
from prtrace_server.settings import ServerSettings
from prtrace_server.tokens import issue_token
from prtrace_server.ui import EventCache, ServerSource
from tests.fixtures import github_payloads as gh
from tests.server.server_helpers import TestClient, blobs_of, index_of, make_batch, note

BRANCH = "fix-empty-input"
HEAD = "3f2a9c1e5d0b7a4c2f1e8d9b6a5c4e3f2a1b0c9d"  # the fixtures' PR head and its CI runs' head_sha
MINE = "9c0b1a2f3e4c5a6b9d8e1f2c4a7b0d5e1c9a2f3e"  # a commit Mallory made on her own branch
CLAIM = {"pr_id": "acme/webapp#123", "title": "mallory's own words", "status": "open"}


@pytest.fixture
def hooks(backend: dict[str, str]) -> Iterator[TestClient]:
    """An app that requires tokens, with GitHub webhooks enabled."""
    settings = ServerSettings(auth="required", github_webhook_secret=gh.SECRET)
    with TestClient(create_app(settings)) as client:
        yield client


def bearer(client: TestClient, user: str, role: Any = "writer") -> dict[str, str]:
    _, token = issue_token(index_of(client), user=user, role=role)
    return {"Authorization": f"Bearer {token}"}


def deliver(client: TestClient, event: str, payload: dict[str, Any]) -> None:
    body, headers = gh.delivery(event, payload)
    assert client.post("/v1/webhooks/github", content=body, headers=headers).status_code == 200


def push(client: TestClient, headers: dict[str, str], events: list[dict[str, Any]], **envelope: Any) -> str:
    trace_id = str(uuid.uuid4())
    answer = client.post("/v1/batches", json=make_batch(trace_id, events, **envelope), headers=headers)
    assert answer.status_code == 200 and not answer.json()["rejected"], answer.text
    return trace_id


def commit(seq: int, sha: str, ts: str) -> dict[str, Any]:
    return {"seq": seq, "ts": ts, "type": "commit",
            "payload": {"sha": sha, "message": "fix: handle empty input", "files_changed": 1}}


@pytest.fixture
def two_writers(hooks: TestClient) -> dict[str, Any]:
    """Alice works on the PR's branch and made its head commit; Mallory claims the PR from a
    branch of her own. Then GitHub tells of the PR and of a CI run on its head."""
    alice, mallory = bearer(hooks, "alice"), bearer(hooks, "mallory")
    ids = {
        "alice": push(hooks, alice, [note(1, "alice starts", "2026-11-24T19:05:00.000Z"),
                                     commit(2, HEAD, "2026-11-24T19:08:00.000Z")],
                      repo={"name": "acme/webapp", "branch": BRANCH}),
        "mallory": push(hooks, mallory, [note(1, "mallory looks", "2026-11-24T19:06:00.000Z")],
                        repo={"name": "acme/webapp", "branch": "elsewhere"}, pr=CLAIM),
    }
    deliver(hooks, "pull_request", gh.pull_request())
    deliver(hooks, "check_run", gh.check_run())
    return {"ids": ids, "alice": alice, "mallory": mallory,
            "reader": bearer(hooks, "rita", "reader"), "admin": bearer(hooks, "ada", "admin")}


def pr(client: TestClient, headers: dict[str, str]) -> dict[str, Any]:
    response = client.get("/v1/prs/acme/webapp/123", headers=headers)
    assert response.status_code == 200, response.text
    document: dict[str, Any] = response.json()
    return document


def ci_of(document: dict[str, Any]) -> list[str]:
    return [e["payload"]["head_sha"] for e in document["events"] if e["type"] == "ci"]


@pytest.mark.parametrize("role", ["reader", "admin"])
def test_readers_and_admins_see_github_s_pr_and_every_ci_run(hooks: TestClient, two_writers: dict[str, Any],
                                                             role: str) -> None:
    document = pr(hooks, two_writers[role])
    assert {t["trace_id"] for t in document["traces"]} == set(two_writers["ids"].values())
    assert document["pr"]["source"] == "github" and document["pr"]["title"] == "Handle empty input"
    assert document["ci_runs"] == 1 and ci_of(document) == [HEAD]


def test_a_writer_sees_the_ci_of_the_commits_their_traces_recorded(hooks: TestClient,
                                                                   two_writers: dict[str, Any]) -> None:
    document = pr(hooks, two_writers["alice"])
    assert [t["trace_id"] for t in document["traces"]] == [two_writers["ids"]["alice"]]
    assert document["ci_runs"] == 1 and ci_of(document) == [HEAD]
    assert document["pr"]["source"] == "client"  # her trace's, as the server linked it


def test_a_writer_claiming_a_pr_learns_nothing_github_said(hooks: TestClient, two_writers: dict[str, Any]) -> None:
    response = hooks.get("/v1/prs/acme/webapp/123", headers=two_writers["mallory"])
    document = response.json()
    assert [t["trace_id"] for t in document["traces"]] == [two_writers["ids"]["mallory"]]
    assert document["ci_runs"] == 0 and ci_of(document) == []
    assert document["pr"] == {**CLAIM, "source": "client"}
    assert "Handle empty input" not in response.text and HEAD not in response.text


def test_the_pr_page_shows_each_role_what_the_api_does(hooks: TestClient, two_writers: dict[str, Any]) -> None:
    def page(who: str) -> str:
        response = hooks.get("/ui/prs/acme/webapp/123", headers=two_writers[who])
        assert response.status_code == 200, response.text
        return response.text

    reader, alice, mallory = page("reader"), page("alice"), page("mallory")
    assert "Handle empty input" in reader and reader.count('class="ci-row') == 1
    assert alice.count('class="ci-row') == 1
    assert mallory.count('class="ci-row') == 0
    assert "Handle empty input" not in mallory and "mallory&#39;s own words" in mallory
    assert "pytest" not in mallory  # the CI run's name


def test_the_viewer_s_trace_header_keeps_a_writer_s_own_pr_block(hooks: TestClient,
                                                                 two_writers: dict[str, Any]) -> None:
    mallory = two_writers["ids"]["mallory"]
    index, blobs = index_of(hooks), blobs_of(hooks)
    own = ServerSource(index, blobs, Principal("mallory", "writer")).head(mallory)
    assert own["envelope"]["pr"] == CLAIM
    read = ServerSource(index, blobs, Principal("rita", "reader")).head(mallory)
    assert read["envelope"]["pr"]["title"] == "Handle empty input"


def test_recorded_commits_are_commits_merges_and_pushed_refs() -> None:
    events = [
        {"type": "commit", "payload": {"sha": "A" * 40}},
        {"type": "merge", "payload": {"sha": "b" * 40}},
        {"type": "merge", "payload": {"sha": None}},
        {"type": "push", "payload": {"refs": [{"local_sha": "c" * 40, "remote_sha": "d" * 40}, "junk"]}},
        {"type": "checkout", "payload": {"to_sha": "e" * 40}},
        {"type": "start", "payload": {"head_sha": "f" * 40}},
        {"type": "commit", "payload": "not a mapping"},
    ]
    assert recorded_commits(events) == {"a" * 40, "b" * 40, "c" * 40}


@pytest.fixture
def claimed(hooks: TestClient, two_writers: dict[str, Any]) -> dict[str, Any]:
    """Mallory's claiming trace then records a commit of her own, and GitHub reports a CI run on
    it for the PR: her trace holds two CI runs, one on the PR's head, one on her commit."""
    batch = make_batch(two_writers["ids"]["mallory"], [commit(2, MINE, "2026-11-24T19:20:00.000Z")],
                       repo={"name": "acme/webapp", "branch": "elsewhere"}, pr=CLAIM)
    answer = hooks.post("/v1/batches", json=batch, headers=two_writers["mallory"])
    assert answer.status_code == 200 and not answer.json()["rejected"], answer.text
    deliver(hooks, "check_run", gh.check_run(run_id=7, name="lint", head_branch="elsewhere", head_sha=MINE,
                                             started_at="2026-11-24T19:21:00Z", completed_at="2026-11-24T19:22:00Z"))
    return two_writers


def ci_shas(events: list[dict[str, Any]]) -> list[str]:
    return sorted(e["payload"]["head_sha"] for e in events if e["type"] == "ci")


def trace_of(client: TestClient, trace_id: str, headers: dict[str, str]) -> tuple[dict[str, Any], str]:
    response = client.get(f"/v1/traces/{trace_id}", headers=headers)
    assert response.status_code == 200, response.text
    document: dict[str, Any] = response.json()
    return document, response.text


def event_pages(client: TestClient, trace_id: str, headers: dict[str, str], query: str = "") -> tuple[list[Any], str]:
    """Every page of the trace's events, one event a page, and the pages' text."""
    events: list[Any] = []
    texts: list[str] = []
    after = ""
    while True:
        response = client.get(f"/v1/traces/{trace_id}/events?limit=1{after}{query}", headers=headers)
        assert response.status_code == 200, response.text
        page = response.json()
        events += page["events"]
        texts.append(response.text)
        if page["next_after_seq"] is None:
            return events, "".join(texts)
        after = f"&after_seq={page['next_after_seq']}"


def exported(client: TestClient, headers: dict[str, str]) -> tuple[list[dict[str, Any]], str]:
    response = client.get("/v1/export?format=jsonl", headers=headers)
    assert response.status_code == 200, response.text
    return [orjson.loads(line) for line in response.content.splitlines() if line], response.text


def test_the_claiming_trace_holds_the_claim_and_only_the_ci_of_its_own_commits(
    hooks: TestClient, claimed: dict[str, Any]
) -> None:
    mallory = claimed["ids"]["mallory"]
    own, text = trace_of(hooks, mallory, claimed["mallory"])
    assert own["pr"] == CLAIM
    assert ci_shas(own["events"]) == [MINE]
    assert "Handle empty input" not in text and HEAD not in text and "pytest" not in text

    read, _ = trace_of(hooks, mallory, claimed["reader"])
    assert read["pr"]["title"] == "Handle empty input"
    assert ci_shas(read["events"]) == sorted([HEAD, MINE])


def test_a_writer_s_own_trace_keeps_the_ci_of_the_commit_they_made(hooks: TestClient, claimed: dict[str, Any]) -> None:
    alice = claimed["ids"]["alice"]
    own, _ = trace_of(hooks, alice, claimed["alice"])
    assert ci_shas(own["events"]) == [HEAD]  # the run on Mallory's commit, linked by the PR, is not hers
    read, _ = trace_of(hooks, alice, claimed["admin"])
    assert ci_shas(read["events"]) == sorted([HEAD, MINE])


@pytest.mark.parametrize("query", ["", "&type=ci"])
def test_the_claiming_trace_s_event_pages_leave_out_the_foreign_ci(hooks: TestClient, claimed: dict[str, Any],
                                                                   query: str) -> None:
    mallory = claimed["ids"]["mallory"]
    own, text = event_pages(hooks, mallory, claimed["mallory"], query)
    assert ci_shas(own) == [MINE]
    assert HEAD not in text and "pytest" not in text
    if not query:
        assert [e["seq"] for e in own if e["seq"] is not None] == [1, 2]

    read, _ = event_pages(hooks, mallory, claimed["reader"], query)
    assert ci_shas(read) == sorted([HEAD, MINE])


def test_the_claiming_writer_s_export_leaves_out_the_foreign_ci(hooks: TestClient, claimed: dict[str, Any]) -> None:
    mallory = claimed["ids"]["mallory"]
    rows, text = exported(hooks, claimed["mallory"])
    assert {row["trace_id"] for row in rows} == {mallory}
    assert sorted(row["sha"] for row in rows if row["type"] == "ci") == [MINE]
    assert [row["seq"] for row in rows if row["seq"] is not None] == [1, 2]
    assert HEAD not in text and "Handle empty input" not in text

    rows, _ = exported(hooks, claimed["reader"])
    assert sorted(row["sha"] for row in rows if row["type"] == "ci" and row["trace_id"] == mallory) == sorted(
        [HEAD, MINE]
    )


def test_the_viewer_shows_the_claiming_writer_only_the_ci_of_their_commits(hooks: TestClient,
                                                                           claimed: dict[str, Any]) -> None:
    mallory = claimed["ids"]["mallory"]
    index, blobs, cache = index_of(hooks), blobs_of(hooks), EventCache()
    # the reader's read fills the cache every reader shares; the writer's must still be cut
    read = ServerSource(index, blobs, Principal("rita", "reader"), cache=cache).events(mallory)
    assert ci_shas(list(read)) == sorted([HEAD, MINE])
    own = ServerSource(index, blobs, Principal("mallory", "writer"), cache=cache).events(mallory)
    assert ci_shas(list(own)) == [MINE]

    def page(who: str) -> str:
        response = hooks.get(f"/ui/traces/{mallory}", headers=claimed[who])
        assert response.status_code == 200, response.text
        return response.text

    reader, writer = page("reader"), page("mallory")
    assert reader.count('data-type="ci"') == 2 and writer.count('data-type="ci"') == 1
    assert "pytest" in reader and "pytest" not in writer  # the foreign run's name
    overview = hooks.get(f"/ui/traces/{mallory}/overview.json", headers=claimed["mallory"])
    assert overview.status_code == 200 and overview.json()["lanes"] is not None
    assert sum(1 for point in overview.json()["points"] if point[1] == 5) == 1  # the CI lane

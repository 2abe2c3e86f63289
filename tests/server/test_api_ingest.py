"""POST /v1/batches and /ingest: dedup, rejections, seq modes, concurrency."""

from __future__ import annotations

import copy
import json
import threading
import uuid
from typing import Any

import pytest

from prtrace_core.canonical import event_id
from prtrace_server.ingest import batch_object, plan_batch
from tests.server.server_helpers import (
    TRACE_A,
    TestClient,
    blobs_of,
    index_of,
    make_batch,
    note,
    object_keys,
)

PINNED_TRACE = "0b9f8a52-6c1e-4d3a-9f57-2a4c1e8d7b10"
PINNED_COMMIT = {
    "seq": 7,
    "ts": "2026-11-24T19:06:57.123Z",
    "type": "commit",
    "payload": {"files_changed": 2, "message": "fix: handle empty input case", "sha": "3f2a9c1"},
}
PINNED_ID = "4f512d55d33d8598f4ea5bcb0a6a320bec4db11515788fedee03dbc1b6bd8dbc"


def post(client: TestClient, batch: Any, path: str = "/v1/batches") -> dict[str, Any]:
    # json.dumps escapes a lone surrogate as \\ud800, as a client's JSON encoder would.
    response = client.post(path, content=json.dumps(batch), headers={"Content-Type": "application/json"})
    assert response.status_code == 200, response.text
    answer: dict[str, Any] = response.json()
    return answer


def test_first_post_of_sample_batch_accepts_every_event(client: TestClient, sample_batch: dict[str, Any]) -> None:
    answer = post(client, sample_batch, "/ingest")
    assert answer["trace_id"] == sample_batch["trace_id"]
    assert len(answer["accepted_event_ids"]) == len(sample_batch["events"]) == 9
    assert answer["duplicate_event_ids"] == []
    assert answer["rejected"] == []


def test_resend_of_same_batch_accepts_nothing(client: TestClient, sample_batch: dict[str, Any]) -> None:
    first = post(client, sample_batch, "/ingest")
    again = post(client, sample_batch, "/ingest")
    assert again["accepted_event_ids"] == []
    assert again["duplicate_event_ids"] == first["accepted_event_ids"]


def test_changing_one_field_accepts_exactly_that_event(client: TestClient, sample_batch: dict[str, Any]) -> None:
    post(client, sample_batch, "/ingest")
    changed = copy.deepcopy(sample_batch)
    commit = next(e for e in changed["events"] if e["type"] == "commit")
    assert commit["payload"]["files_changed"] == 2
    commit["payload"]["files_changed"] = 3
    answer = post(client, changed, "/ingest")
    assert answer["accepted_event_ids"] == [event_id(changed["trace_id"], commit)]
    assert len(answer["duplicate_event_ids"]) == 8
    # Stored beside the first: same seq, a later server_seq.
    trace = client.get(f"/v1/traces/{changed['trace_id']}").json()
    commits = [e for e in trace["events"] if e["type"] == "commit"]
    assert [(c["seq"], c["payload"]["files_changed"]) for c in commits] == [(8, 2), (8, 3)]
    assert commits[0]["server_seq"] < commits[1]["server_seq"]


def test_both_paths_share_one_handler_and_one_store(client: TestClient, sample_batch: dict[str, Any]) -> None:
    first = post(client, sample_batch, "/ingest")
    again = post(client, sample_batch, "/v1/batches")
    assert again["duplicate_event_ids"] == first["accepted_event_ids"]


def test_event_id_is_the_pinned_example(client: TestClient) -> None:
    answer = post(client, make_batch(PINNED_TRACE, [PINNED_COMMIT]))
    assert answer["accepted_event_ids"] == [PINNED_ID]


def test_client_event_id_is_ignored_and_recomputed(client: TestClient) -> None:
    event = {**PINNED_COMMIT, "event_id": "0" * 64}
    answer = post(client, make_batch(PINNED_TRACE, [event]))
    assert answer["accepted_event_ids"] == [PINNED_ID]


def test_actor_null_counts_as_absent(client: TestClient) -> None:
    answer = post(client, make_batch(PINNED_TRACE, [{**PINNED_COMMIT, "actor": None}]))
    assert answer["accepted_event_ids"] == [PINNED_ID]


def test_repeat_within_a_batch_is_stored_once(client: TestClient) -> None:
    event = note(1, "twice")
    answer = post(client, make_batch(TRACE_A, [event, copy.deepcopy(event)]))
    identity = event_id(TRACE_A, event)
    assert answer["accepted_event_ids"] == [identity]
    assert answer["duplicate_event_ids"] == [identity]
    assert client.get(f"/v1/traces/{TRACE_A}").json()["events"][0]["event_id"] == identity
    assert len(client.get(f"/v1/traces/{TRACE_A}").json()["events"]) == 1


BAD_EVENTS: list[tuple[Any, str, str, str]] = [  # (event, code, field named, name)
    ("not an event", "schema", "event", "not-an-object"),
    ({"seq": 2, "type": "annotation", "payload": {"text": "x"}}, "schema", "ts", "no-ts"),
    ({"seq": 2, "ts": "yesterday", "type": "annotation", "payload": {"text": "x"}}, "schema", "ts", "bad-ts"),
    ({"seq": 2, "ts": "2026-11-24T19:00:00Z", "type": "Bad Type", "payload": {}}, "schema", "type", "bad-type"),
    ({"seq": 2, "ts": "2026-11-24T19:00:00Z", "type": "note", "payload": []}, "schema", "payload", "payload-list"),
    ({"seq": "2", "ts": "2026-11-24T19:00:00Z", "type": "note", "payload": {}}, "schema", "seq", "seq-string"),
    ({"seq": 2**63, "ts": "2026-11-24T19:00:00Z", "type": "note", "payload": {}}, "schema", "seq", "seq-over-bigint"),
    (
        {"seq": 2, "ts": "2026-11-24T19:00:00Z", "type": "commit", "payload": {"sha": "abcdef1", "message": "m", "files_changed": "two"}},
        "schema",
        "payload.files_changed",
        "commit-files-changed-text",
    ),
    (
        {"seq": 2, "ts": "2026-11-24T19:00:00Z", "type": "command", "payload": {"command": "make"}},
        "schema",
        "payload.exit_code",
        "command-without-exit-code",
    ),
    (
        {"seq": 2, "ts": "2026-11-24T19:00:00Z", "type": "note", "payload": {"blob": "x" * (300 * 1024)}},
        "event_too_large",
        "event",
        "over-256-kib",
    ),
    (
        {"seq": 2, "ts": "2026-11-24T19:00:00Z", "type": "note", "payload": {"text": "a\ud800b"}},
        "schema",
        "payload.text",
        "lone-surrogate",
    ),
    (
        {"seq": 2, "ts": "2026-11-24T19:00:00Z", "type": "note", "payload": {"text": "x"}, "\ud800": 1},
        "schema",
        "value: a key holds a lone surrogate",
        "lone-surrogate-in-a-field-name",
    ),
    (
        {"seq": 2, "ts": "2026-11-24T19:00:00Z", "type": "note", "payload": {"big": -(2**63) - 1}},
        "schema",
        "payload.big",
        "integer-out-of-range",
    ),
]


def test_bad_event_is_rejected_with_code_naming_the_field(client: TestClient, subtests: pytest.Subtests) -> None:
    for event, code, field, name in BAD_EVENTS:  # one app for them all, a trace each
        with subtests.test(name):
            trace_id = str(uuid.uuid4())
            good = note(1, "kept")
            answer = post(client, make_batch(trace_id, [good, event]))
            assert answer["accepted_event_ids"] == [event_id(trace_id, good)]
            [rejected] = answer["rejected"]
            assert rejected["index"] == 1
            assert rejected["code"] == code
            assert rejected["error"].startswith(field), rejected["error"]


def test_deeply_nested_payload_is_rejected_not_a_server_error(client: TestClient) -> None:
    deep: Any = "bottom"
    for _ in range(500):
        deep = {"d": deep}
    answer = post(client, make_batch(TRACE_A, [note(1, "kept"), {**note(2, "x"), "payload": deep}]))
    assert len(answer["accepted_event_ids"]) == 1
    assert answer["rejected"][0]["code"] == "schema"
    assert "nested deeper" in answer["rejected"][0]["error"]


def test_lone_surrogate_escape_in_raw_json_rejects_only_that_event(client: TestClient) -> None:
    body = (
        '{"trace_id": "TRACE", "repo": {"name": "acme/webapp", "branch": "main"},'
        ' "developer": {"user_id": "dev-1"}, "events": ['
        '{"seq": 1, "ts": "2026-11-24T19:00:00.000Z", "type": "annotation", "payload": {"text": "fine"}},'
        '{"seq": 2, "ts": "2026-11-24T19:00:01.000Z", "type": "annotation", "payload": {"text": "bad \\ud800 here"}}'
        "]}"
    ).replace("TRACE", TRACE_A)
    response = client.post("/v1/batches", content=body, headers={"Content-Type": "application/json"})
    assert response.status_code == 200
    answer = response.json()
    assert len(answer["accepted_event_ids"]) == 1
    assert answer["rejected"] == [
        {"index": 1, "code": "schema", "error": "payload.text: text holds a lone surrogate, which is not valid UTF-8"}
    ]


def test_nul_is_kept_in_the_event_and_dropped_from_index_columns(client: TestClient) -> None:
    event = {
        "seq": 1,
        "ts": "2026-11-24T19:00:00.000Z",
        "type": "edit",
        "payload": {"file": "src/a\x00b.py", "change_summary": "+1/-0", "diff": "+x\x00y\n"},
    }
    answer = post(client, make_batch(TRACE_A, [event], repo={"name": "acme/web\x00app", "branch": "main"}))
    assert len(answer["accepted_event_ids"]) == 1
    stored = client.get(f"/v1/traces/{TRACE_A}").json()
    assert stored["events"][0]["payload"]["file"] == "src/a\x00b.py"
    assert stored["repo"]["name"] == "acme/web\x00app"
    [record] = index_of(client).event_records(TRACE_A)
    assert record.file == "src/ab.py"
    trace = index_of(client).get_trace(TRACE_A)
    assert trace is not None and trace.repo_name == "acme/webapp"


def test_event_without_seq_in_client_numbered_trace_is_seq_required(client: TestClient) -> None:
    post(client, make_batch(TRACE_A, [note(1, "numbered")]))
    answer = post(client, make_batch(TRACE_A, [note(None, "unnumbered"), note(2, "numbered too")]))
    assert len(answer["accepted_event_ids"]) == 1
    assert answer["rejected"][0]["index"] == 0
    assert answer["rejected"][0]["code"] == "seq_required"
    assert answer["rejected"][0]["error"].startswith("seq")


def test_event_with_seq_in_server_numbered_trace_is_refused(client: TestClient) -> None:
    post(client, make_batch(TRACE_A, [note(None, "unnumbered")]))
    answer = post(client, make_batch(TRACE_A, [note(5, "numbered")]))
    assert answer["accepted_event_ids"] == []
    assert answer["rejected"][0]["code"] == "seq_not_allowed"


def test_seqless_events_get_server_seqs_and_resend_dedups(client: TestClient) -> None:
    events = [note(None, f"n{i}", ts=f"2026-11-24T19:00:0{i}.000Z") for i in range(3)]
    first = post(client, make_batch(TRACE_A, events))
    assert first["accepted_event_ids"] == [event_id(TRACE_A, e) for e in events]
    # The id is computed with seq null, so a resend finds them.
    again = post(client, make_batch(TRACE_A, events))
    assert again["accepted_event_ids"] == []
    assert again["duplicate_event_ids"] == first["accepted_event_ids"]
    more = [note(None, "n3", ts="2026-11-24T19:00:05.000Z"), note(None, "n4", ts="2026-11-24T19:00:06.000Z")]
    post(client, make_batch(TRACE_A, [events[0], *more]))
    trace = client.get(f"/v1/traces/{TRACE_A}").json()
    assert [(e["seq"], e["payload"]["text"], e.get("seq_by_server")) for e in trace["events"]] == [
        (1, "n0", True),
        (2, "n1", True),
        (3, "n2", True),
        (4, "n3", True),
        (5, "n4", True),
    ]
    for event in trace["events"]:
        assert event_id(TRACE_A, {**event, "seq": None}) == event["event_id"]


def test_batch_object_holds_only_canonical_content(client: TestClient, sample_batch: dict[str, Any]) -> None:
    post(client, sample_batch)
    post(client, sample_batch)
    [key] = object_keys(blobs_of(client))
    content = blobs_of(client).get(key)
    assert len(content.splitlines()) == 9
    assert b"server_seq" not in content
    assert b"received_at" not in content
    assert key.startswith(f"batches/{sample_batch['trace_id']}/")


def test_retried_batch_writes_the_same_bytes_under_the_same_key(sample_batch: dict[str, Any]) -> None:
    trace_id = sample_batch["trace_id"]
    first = batch_object(trace_id, plan_batch(trace_id, sample_batch["events"], seq_mode=None).candidates)
    retry = batch_object(trace_id, plan_batch(trace_id, copy.deepcopy(sample_batch["events"]), seq_mode=None).candidates)
    assert first == retry
    assert first[0].startswith(f"batches/{trace_id}/")


def test_concurrent_posts_of_same_batch_accept_each_event_exactly_once(
    client: TestClient, sample_batch: dict[str, Any]
) -> None:
    answers: list[dict[str, Any]] = []
    barrier = threading.Barrier(8)

    def send() -> None:
        barrier.wait()
        answers.append(post(client, sample_batch))

    threads = [threading.Thread(target=send) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    accepted = [i for answer in answers for i in answer["accepted_event_ids"]]
    assert len(answers) == 8
    assert len(accepted) == len(set(accepted)) == 9
    for answer in answers:
        assert set(answer["accepted_event_ids"]) | set(answer["duplicate_event_ids"]) == set(accepted)
    trace = client.get(f"/v1/traces/{sample_batch['trace_id']}").json()
    assert sorted(e["server_seq"] for e in trace["events"]) == list(range(1, 10))


def test_empty_batch_creates_no_trace_and_a_later_one_links_the_pr(client: TestClient) -> None:
    answer = post(client, make_batch(TRACE_A, []))
    assert answer == {"trace_id": TRACE_A, "accepted_event_ids": [], "duplicate_event_ids": [], "rejected": []}
    assert client.get(f"/v1/traces/{TRACE_A}").status_code == 404
    post(client, make_batch(TRACE_A, [note(1, "first")]))
    assert client.get(f"/v1/traces/{TRACE_A}").json()["pr"] is None
    pr = {"pr_id": "acme/webapp#7", "title": "t", "status": "open", "created_at": None, "merged_at": None}
    # An empty batch still links a PR to a trace that exists (its owner's).
    post(client, make_batch(TRACE_A, [], pr=pr, repo={"name": "acme/webapp", "branch": "main", "language": ["go"]}))
    trace = client.get(f"/v1/traces/{TRACE_A}").json()
    assert trace["pr"]["pr_id"] == "acme/webapp#7"
    assert trace["repo"]["language"] == ["python", "go"]
    post(client, make_batch(TRACE_A, [note(2, "y")], pr=None))
    assert client.get(f"/v1/traces/{TRACE_A}").json()["pr"]["pr_id"] == "acme/webapp#7"


@pytest.mark.parametrize("actor", [None, {"kind": "agent", "name": "claude-code"}])
def test_object_lines_are_the_canonical_event_with_its_id(actor: dict[str, str] | None) -> None:
    from prtrace_core.canonical import canonical_json, id_document

    event = {**note(1, "x"), **({"actor": actor} if actor else {})}
    plan = plan_batch(TRACE_A, [event], seq_mode=None)
    [candidate] = plan.candidates
    _, content = batch_object(TRACE_A, plan.candidates)
    assert content == canonical_json({**id_document(TRACE_A, event), "event_id": candidate.event_id}) + b"\n"


NUMBERS_NO_EVENT_MAY_HOLD = [  # (number as JSON, field named, name)
    ("1e400", "payload.n", "overflows-a-double"),
    ("-1e400", "payload.n", "overflows-negative"),
    ("1" + "0" * 400 + ".5", "payload.n", "long-decimal-overflows"),
    ("NaN", "payload.n", "nan"),
    ("Infinity", "payload.n", "infinity"),
    ("-Infinity", "payload.n", "minus-infinity"),
    ("[1, 2, 1e999]", "payload.n[2]", "inside-a-list"),
    (str(2**64), "payload.n", "integer-over-64-bits"),
    (str(-(2**63) - 1), "payload.n", "integer-under-64-bits"),
    ("9" * 400, "payload.n", "integer-of-400-digits"),
]


def test_a_number_no_event_may_hold_rejects_that_event_alone(client: TestClient, subtests: pytest.Subtests) -> None:
    for number, field, name in NUMBERS_NO_EVENT_MAY_HOLD:  # one app for them all, a trace each
        with subtests.test(name):
            trace_id = str(uuid.uuid4())
            body = (
                '{"trace_id": "TRACE", "repo": {"name": "acme/webapp", "branch": "main"},'
                ' "developer": {"user_id": "dev-1"}, "events": ['
                '{"seq": 1, "ts": "2026-11-24T19:00:00.000Z", "type": "annotation", "payload": {"text": "before"}},'
                '{"seq": 2, "ts": "2026-11-24T19:00:01.000Z", "type": "metric", "payload": {"n": NUMBER}},'
                '{"seq": 3, "ts": "2026-11-24T19:00:02.000Z", "type": "annotation", "payload": {"text": "after", "ok": 1.5e300}}'
                "]}"
            ).replace("TRACE", trace_id).replace("NUMBER", number)
            response = client.post("/v1/batches", content=body, headers={"Content-Type": "application/json"})
            assert response.status_code == 200, response.text
            answer = response.json()
            assert len(answer["accepted_event_ids"]) == 2
            [rejected] = answer["rejected"]
            assert (rejected["index"], rejected["code"]) == (1, "schema")
            assert rejected["error"].startswith(f"{field}: "), rejected["error"]
            assert "finite" in rejected["error"] or "64-bit" in rejected["error"]
            # nothing of it was stored, not even as null
            stored = client.get(f"/v1/traces/{trace_id}").json()["events"]
            assert [e["seq"] for e in stored] == [1, 3]
            assert stored[1]["payload"] == {"text": "after", "ok": 1.5e300}


def test_a_non_finite_seq_or_event_is_rejected_on_its_own(client: TestClient) -> None:
    body = (
        '{"trace_id": "TRACE", "repo": {"name": "acme/webapp", "branch": "main"},'
        ' "developer": {"user_id": "dev-1"}, "events": ['
        '{"seq": 1e400, "ts": "2026-11-24T19:00:00.000Z", "type": "annotation", "payload": {"text": "x"}},'
        "NaN,"
        '{"seq": 1, "ts": "2026-11-24T19:00:00.000Z", "type": "annotation", "payload": {"text": "kept"}}'
        "]}"
    ).replace("TRACE", TRACE_A)
    answer = client.post("/v1/batches", content=body, headers={"Content-Type": "application/json"}).json()
    assert len(answer["accepted_event_ids"]) == 1
    assert [(r["index"], r["error"].split(":")[0]) for r in answer["rejected"]] == [(0, "seq"), (1, "value")]


def test_a_non_finite_number_in_the_envelope_is_422(client: TestClient) -> None:
    body = (
        '{"trace_id": "TRACE", "repo": {"name": "acme/webapp", "branch": "main", "stars": 1e400},'
        ' "developer": {"user_id": "dev-1"}, "events": []}'
    ).replace("TRACE", TRACE_A)
    response = client.post("/v1/batches", content=body, headers={"Content-Type": "application/json"})
    assert response.status_code == 422
    assert response.json()["detail"] == "repo.stars: number 1e400 is not finite"

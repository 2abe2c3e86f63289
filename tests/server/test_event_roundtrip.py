"""Whatever valid event goes in comes back as it was sent, under the id it is stored by."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from prtrace_core.canonical import event_id
from prtrace_core.timestamps import format_ts
from prtrace_server.json_limits import INT_MAX, INT_MIN
from tests.server.server_helpers import TestClient, make_batch

SERVER_FIELDS = ("event_id", "server_seq", "received_at", "seq_by_server")

json_leaves = (
    st.none()
    | st.booleans()
    | st.integers(min_value=INT_MIN, max_value=INT_MAX)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text()
)
json_values = st.recursive(
    json_leaves,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
    max_leaves=25,
)


@st.composite
def timestamps(draw: st.DrawFn) -> str:
    moment = draw(st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC)))
    if draw(st.booleans()):
        return format_ts(moment)
    offset = timezone(timedelta(minutes=draw(st.integers(-12 * 60, 14 * 60))))
    return moment.astimezone(offset).isoformat()


@st.composite
def events(draw: st.DrawFn, numbered: bool) -> dict[str, Any]:
    event: dict[str, Any] = {
        "ts": draw(timestamps()),
        "type": draw(st.from_regex(r"\Ax[a-z0-9_.-]{0,10}\Z")),
        "payload": draw(st.dictionaries(st.text(max_size=10), json_values, max_size=5)),
    }
    if numbered:
        event["seq"] = draw(st.integers(min_value=1, max_value=2**63 - 1))
    if draw(st.booleans()):
        event["actor"] = {"kind": draw(st.sampled_from(["human", "agent", "tool"])), "name": draw(st.text(max_size=12))}
    return event


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data(), numbered=st.booleans())
def test_stored_event_round_trips_and_its_id_is_recomputable(
    client: TestClient, data: st.DataObject, numbered: bool
) -> None:
    sent = data.draw(st.lists(events(numbered), min_size=1, max_size=5))
    trace_id = str(uuid.uuid4())
    response = client.post(
        "/v1/batches", content=json.dumps(make_batch(trace_id, sent)), headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 200, response.text
    answer = response.json()
    assert answer["rejected"] == []
    unique = list(dict.fromkeys(event_id(trace_id, e) for e in sent))
    assert answer["accepted_event_ids"] == unique

    stored = client.get(f"/v1/traces/{trace_id}").json()["events"]
    assert sorted(e["event_id"] for e in stored) == sorted(unique)
    by_id = {event_id(trace_id, e): e for e in sent}
    for event in stored:
        as_sent = {k: v for k, v in event.items() if k not in SERVER_FIELDS}
        if event.get("seq_by_server"):
            assert not numbered
            del as_sent["seq"]  # sent without one; its id was computed with seq null
        assert as_sent == by_id[event["event_id"]]
        assert event_id(trace_id, as_sent) == event["event_id"]

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from prtrace_core.canonical import canonical_json, event_id

PINNED = {
    "payload": {"files_changed": 2, "message": "fix: handle empty input case", "sha": "3f2a9c1"},
    "seq": 7,
    "trace_id": "0b9f8a52-6c1e-4d3a-9f57-2a4c1e8d7b10",
    "ts": "2026-11-24T19:06:57.123Z",
    "type": "commit",
}


def test_event_id_matches_the_pinned_example() -> None:
    event = {k: v for k, v in PINNED.items() if k != "trace_id"}
    assert event_id(PINNED["trace_id"], event) == "4f512d55d33d8598f4ea5bcb0a6a320bec4db11515788fedee03dbc1b6bd8dbc"


def test_canonical_json_is_sorted_compact_utf8() -> None:
    assert canonical_json({"b": "é", "a": [1, {"d": None, "c": True}]}) == '{"a":[1,{"c":true,"d":null}],"b":"é"}'.encode()


def test_null_actor_counts_as_absent_and_a_set_actor_changes_the_id() -> None:
    event = {"seq": 1, "ts": "2026-11-24T19:06:57.123Z", "type": "annotation", "payload": {"text": "x"}}
    tid = PINNED["trace_id"]
    assert event_id(tid, {**event, "actor": None}) == event_id(tid, event)
    assert event_id(tid, {**event, "actor": {"kind": "agent", "name": "claude-code"}}) != event_id(tid, event)


def test_missing_seq_hashes_as_null() -> None:
    event = {"ts": "2026-11-24T19:06:57.123Z", "type": "annotation", "payload": {"text": "x"}}
    assert event_id(PINNED["trace_id"], event) == event_id(PINNED["trace_id"], {**event, "seq": None})


def test_fields_outside_the_id_do_not_change_it() -> None:
    event = {k: v for k, v in PINNED.items() if k != "trace_id"}
    noisy = {**event, "event_id": "forged", "server_seq": 9, "received_at": "2030-01-01T00:00:00.000Z"}
    assert event_id(PINNED["trace_id"], noisy) == event_id(PINNED["trace_id"], event)


def test_lone_surrogate_is_refused() -> None:
    with pytest.raises(ValueError, match="surrogate"):
        canonical_json({"text": "\ud800"})


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**53), 2**53) | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(alphabet=st.characters(blacklist_categories=("Cs",))),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=20,
)


@given(payload=st.dictionaries(st.text(max_size=10), json_values, max_size=5))
def test_id_survives_a_json_round_trip(payload: dict[str, object]) -> None:
    """What the client hashes before sending is what the server hashes after parsing."""
    event = {"seq": 3, "ts": "2026-11-24T19:06:57.123Z", "type": "edit", "payload": payload}
    travelled = json.loads(json.dumps(event, ensure_ascii=False))
    assert event_id(PINNED["trace_id"], travelled) == event_id(PINNED["trace_id"], event)


any_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=25,
)


@given(value=any_json)
def test_fast_canonical_json_is_byte_for_byte_the_reference(value: object) -> None:
    """The fast path must never change an id: same bytes as json.dumps, or the same error."""
    from prtrace_core.canonical import reference_json

    try:
        expected = reference_json(value)
    except ValueError:
        with pytest.raises(ValueError):
            canonical_json(value)
        return
    assert canonical_json(value) == expected


@pytest.mark.parametrize("value", [1e-05, 2.5e-08, -3e-300, 0.0001, 1e16, 2**64, -(2**63) - 1, "\u2028\x7f\x00\x1f"])
def test_floats_big_ints_and_odd_characters_match_the_reference(value: object) -> None:
    from prtrace_core.canonical import reference_json

    assert canonical_json({"v": value}) == reference_json({"v": value})

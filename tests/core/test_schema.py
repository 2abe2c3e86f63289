from __future__ import annotations

import json
from pathlib import Path

import jsonschema

from prtrace_core.schema_doc import batch_json_schema
from prtrace_core.validation import check_event

ROOT = Path(__file__).resolve().parents[2]
SCHEMA_FILE = ROOT / "docs" / "schema" / "batch.schema.json"
TS = "2026-11-24T19:06:57.123Z"


def test_committed_json_schema_is_up_to_date() -> None:
    """docs/schema/batch.schema.json is generated from the models: run scripts/schema after a change."""
    assert json.loads(SCHEMA_FILE.read_text()) == batch_json_schema()


def test_sample_batch_is_valid_against_the_json_schema() -> None:
    batch = json.loads((ROOT / "tests" / "fixtures" / "sample_batch.json").read_text())
    jsonschema.validate(batch, batch_json_schema())
    assert {e["type"] for e in batch["events"]} >= {"edit", "command", "test", "commit", "annotation"}


def test_json_schema_ties_payloads_to_types() -> None:
    bad = {
        "trace_id": "0b9f8a52-6c1e-4d3a-9f57-2a4c1e8d7b10",
        "repo": {"name": "acme/app", "branch": "main"},
        "developer": {"user_id": "u"},
        "events": [{"seq": 1, "ts": TS, "type": "commit", "payload": {"sha": "abc1234"}}],
    }
    validator = jsonschema.Draft202012Validator(batch_json_schema())
    assert list(validator.iter_errors(bad)), "a commit without message/files_changed must not validate"


def test_known_type_with_missing_field_names_the_field() -> None:
    problem = check_event({"seq": 1, "ts": TS, "type": "edit", "payload": {"file": "a.py"}})
    assert problem is not None and problem.code == "schema"
    assert "payload.change_summary" in problem.message


def test_unknown_types_and_extra_fields_are_kept() -> None:
    assert check_event({"seq": 1, "ts": TS, "type": "lint", "payload": {"anything": [1, 2]}}) is None
    assert check_event({"seq": 1, "ts": TS, "type": "annotation", "payload": {"text": "x", "mood": "ok"}}) is None


def test_wrong_types_are_refused_not_coerced() -> None:
    assert check_event({"seq": "1", "ts": TS, "type": "annotation", "payload": {"text": "x"}}) is not None
    assert check_event({"seq": True, "ts": TS, "type": "annotation", "payload": {"text": "x"}}) is not None
    assert check_event({"seq": 1, "ts": "yesterday", "type": "annotation", "payload": {"text": "x"}}) is not None
    assert check_event({"seq": 1, "ts": TS, "type": "annotation", "payload": []}) is not None
    assert check_event([1, 2]) is not None

"""The agents' hook payloads and the Agent Trace schema kept as fixtures (sources in
tests/fixtures/agents/README*.md and tests/fixtures/agent-trace/SOURCE.md): each payload names
the hook it was written for, and the schema behaves as its notes say, version quirk included."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
AGENTS = FIXTURES / "agents"
AGENT_TRACE = FIXTURES / "agent-trace"

# Config files an install must leave as the user wrote them, not hook payloads.
CONFIGS = {"settings.json", "settings.with-user-hook.json", "hooks.with-user-hook.json", "hooks.json"}
PAYLOADS = sorted(path for path in AGENTS.glob("*/*.json") if path.name not in CONFIGS)


def _load(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


def test_every_agent_has_payloads() -> None:
    assert {path.parent.name for path in PAYLOADS} == {"claude-code", "codex", "cursor", "gemini"}


@pytest.mark.parametrize("path", PAYLOADS, ids=lambda path: f"{path.parent.name}/{path.stem}")
def test_a_payload_names_the_hook_its_file_is_named_for(path: Path) -> None:
    payload = _load(path)
    assert payload["hook_event_name"] == path.stem.split("-")[0].split(".")[0]
    assert payload.get("session_id") or payload.get("conversation_id")


def test_the_agent_trace_examples_hold_to_the_schema_in_the_spec_text() -> None:
    schema = _load(AGENT_TRACE / "schema-readme-6.1.json")
    for name in ("example.json", "example-minimal.json"):
        jsonschema.validate(_load(AGENT_TRACE / name), schema)


def test_the_published_schema_rejects_the_specs_own_version_string() -> None:
    """Its pattern escapes the dot twice (`\\\\.`): "0.1.0" fails, so an export must say how it
    meets that (SOURCE.md)."""
    schema = _load(AGENT_TRACE / "schema.json")
    jsonschema.Draft202012Validator.check_schema(schema)
    record = _load(AGENT_TRACE / "example-minimal.json")
    errors = list(jsonschema.Draft202012Validator(schema).iter_errors(record))
    assert [list(error.path) for error in errors] == [["version"]]

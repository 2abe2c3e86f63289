"""Agent Trace export: a trace whose commits carry agent and human authorship becomes records
that hold to the spec's schemas (the published one, its version pattern corrected, and the one
in the spec text), with each actor's lines in its own conversation."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from prtrace_core.agent_trace import AGENT_TRACE_VERSION, contributor, records, trace_records
from prtrace_core.stats import commit_lines

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "agent-trace"
PUBLISHED_VERSION_PATTERN = "^[0-9]+\\\\.[0-9]+\\\\.[0-9]+$"
CORRECTED_VERSION_PATTERN = "^[0-9]+\\.[0-9]+\\.[0-9]+$"

HUMAN = {"kind": "human"}
CLAUDE = {"kind": "agent", "name": "claude-code", "session": "s1", "model": "claude-sonnet-4-5"}
CURSOR = {"kind": "agent", "name": "cursor", "session": "c9", "model": "openai/gpt-4o"}
SHA1 = "a" * 40
SHA2 = "b" * 40
SHA3 = "d" * 40


def _load(name: str) -> Any:
    return json.loads((FIXTURES / name).read_text(encoding="utf-8"))


def corrected_published_schema() -> dict[str, Any]:
    """The published schema with its version pattern as the spec text writes it: one escape."""
    schema = copy.deepcopy(_load("schema.json"))
    version = schema["definitions"]["TraceRecord"]["properties"]["version"]
    assert version["pattern"] == PUBLISHED_VERSION_PATTERN
    version["pattern"] = CORRECTED_VERSION_PATTERN
    return dict(schema)


def _differences(a: Any, b: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    if isinstance(a, dict) and isinstance(b, dict):
        return [
            d
            for key in a.keys() | b.keys()
            for d in _differences(a.get(key), b.get(key), (*path, key))
        ]
    if isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        return [
            d
            for i, (x, y) in enumerate(zip(a, b, strict=True))
            for d in _differences(x, y, (*path, i))
        ]
    return [] if a == b else [path]


def _validate(record: dict[str, Any]) -> None:
    for schema in (corrected_published_schema(), _load("schema-readme-6.1.json")):
        validator = jsonschema.Draft202012Validator(
            schema, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER
        )
        errors = [f"{list(e.path)}: {e.message}" for e in validator.iter_errors(record)]
        assert errors == [], errors


def _trace() -> dict[str, Any]:
    """Two commits: one with live authorship (agent and human lines in one file, a human-only
    file), one only a git-ai import knows."""
    return {
        "trace_id": "0b9f8a52-6c1e-4d3a-9f57-2a4c1e8d7b10",
        "repo": {"name": "acme/calc", "branch": "feature"},
        "events": [
            {
                "seq": 1,
                "ts": "2026-11-24T19:00:00.000Z",
                "type": "start",
                "payload": {"head_sha": "c" * 40, "branch": "feature"},
                "actor": HUMAN,
            },
            {
                "seq": 2,
                "ts": "2026-11-24T19:01:00.000Z",
                "type": "edit",
                "payload": {"file": "src/a.py"},
                "actor": CLAUDE,
            },
            {
                "seq": 3,
                "ts": "2026-11-24T19:06:57.123Z",
                "type": "commit",
                "actor": HUMAN,
                "payload": {
                    "sha": SHA1,
                    "message": "add",
                    "files_changed": 2,
                    "authorship": {
                        "actors": [HUMAN, CLAUDE],
                        "files": {
                            "src/a.py": {
                                "agent": 7,
                                "human": 3,
                                "unknown": 1,
                                "ranges": [[1, 7, 1], [8, 10, 0]],
                            },
                            "README.md": {
                                "agent": 0,
                                "human": 2,
                                "unknown": 0,
                                "ranges": [[1, 2, 0]],
                            },
                        },
                    },
                },
            },
            {
                "seq": 4,
                "ts": "2026-11-24T19:10:00.000Z",
                "type": "commit",
                "actor": HUMAN,
                "payload": {"sha": SHA2, "message": "more", "files_changed": 1},
            },
            {
                "seq": 5,
                "ts": "2026-11-24T19:11:00.000Z",
                "type": "attribution",
                "actor": {"kind": "tool", "name": "git-ai"},
                "payload": {
                    "commit": SHA2,
                    "source": "git-ai",
                    "actors": [CURSOR, HUMAN],
                    "files": {
                        "src/b.py": {
                            "agent": 5,
                            "human": 1,
                            "unknown": 0,
                            "ranges": [[1, 5, 0], [6, 6, 1]],
                        }
                    },
                },
            },
            # an import of a commit capture already attributed: the commit's own record wins
            {
                "seq": 6,
                "ts": "2026-11-24T19:12:00.000Z",
                "type": "attribution",
                "actor": {"kind": "tool", "name": "git-ai"},
                "payload": {
                    "commit": SHA1,
                    "source": "git-ai",
                    "actors": [CURSOR],
                    "files": {
                        "src/a.py": {"agent": 10, "human": 0, "unknown": 0, "ranges": [[1, 10, 0]]}
                    },
                },
            },
        ],
    }


def test_the_corrected_schema_differs_from_the_published_one_only_in_the_version_pattern() -> None:
    assert _differences(_load("schema.json"), corrected_published_schema()) == [
        ("definitions", "TraceRecord", "properties", "version", "pattern")
    ]
    # and the corrected pattern is the spec text's
    assert (
        _load("schema-readme-6.1.json")["properties"]["version"]["pattern"]
        == CORRECTED_VERSION_PATTERN
    )


def test_a_trace_with_agent_and_human_authorship_exports_valid_records() -> None:
    found = records(_trace(), tool_version="0.1.0")
    assert [r["vcs"]["revision"] for r in found] == [SHA1, SHA2]
    for record in found:
        _validate(record)
        assert record["version"] == AGENT_TRACE_VERSION == "0.1.0"
        assert record["tool"] == {"name": "prtrace", "version": "0.1.0"}
    first = found[0]
    assert first["timestamp"] == "2026-11-24T19:06:57.123Z"
    a_py = next(f for f in first["files"] if f["path"] == "src/a.py")
    assert a_py["conversations"] == [
        {"contributor": {"type": "human"}, "ranges": [{"start_line": 8, "end_line": 10}]},
        {
            "contributor": {"type": "ai", "model_id": "anthropic/claude-sonnet-4-5"},
            "ranges": [{"start_line": 1, "end_line": 7}],
        },
    ]
    assert first["metadata"]["dev.prtrace"]["sources"] == ["prtrace"]
    assert CLAUDE in first["metadata"]["dev.prtrace"]["actors"]
    second = found[1]
    assert second["metadata"]["dev.prtrace"]["sources"] == ["git-ai"]
    (b_py,) = second["files"]
    assert b_py["conversations"][0]["contributor"] == {"type": "ai", "model_id": "openai/gpt-4o"}


def test_record_ids_are_stable_uuids_per_trace_and_commit() -> None:
    once, again = records(_trace(), tool_version="1"), records(_trace(), tool_version="1")
    assert [r["id"] for r in once] == [r["id"] for r in again]
    assert len({r["id"] for r in once}) == 2


def test_an_actor_kind_keeps_only_its_conversations() -> None:
    agent_only = records(_trace(), tool_version="1", actor_kind="agent")
    assert all(
        c["contributor"]["type"] == "ai"
        for r in agent_only
        for f in r["files"]
        for c in f["conversations"]
    )
    # README.md was the human's alone
    assert [f["path"] for f in agent_only[0]["files"]] == ["src/a.py"]
    human_only = records(_trace(), tool_version="1", actor_kind="human")
    assert {f["path"] for r in human_only for f in r["files"]} == {
        "README.md",
        "src/a.py",
        "src/b.py",
    }
    for record in agent_only + human_only:
        _validate(record)


def test_ranges_carry_a_content_hash_when_the_committed_file_can_be_read() -> None:
    text = "".join(f"line {n}\n" for n in range(1, 11)).encode()
    found = records(
        _trace(), tool_version="1", content=lambda sha, path: text if path == "src/a.py" else None
    )
    a_py = next(f for f in found[0]["files"] if f["path"] == "src/a.py")
    hashes = [r["content_hash"] for c in a_py["conversations"] for r in c["ranges"]]
    assert (
        len(hashes) == 2 and all(h.startswith("sha256:") for h in hashes) and hashes[0] != hashes[1]
    )
    _validate(found[0])


def test_a_trace_url_becomes_each_conversations_related_resource() -> None:
    (record, _) = records(
        _trace(), tool_version="1", trace_url="https://prtrace.example.com/v1/traces/x"
    )
    for file in record["files"]:
        for conversation in file["conversations"]:
            assert conversation["related"] == [
                {"type": "trace", "url": "https://prtrace.example.com/v1/traces/x"}
            ]
    _validate(record)


def test_a_commit_in_two_traces_is_one_record() -> None:
    first, second = _trace(), _trace()
    second["trace_id"] = "1b9f8a52-6c1e-4d3a-9f57-2a4c1e8d7b10"
    assert len(trace_records([first, second], tool_version="1")) == 2


def test_a_commit_an_amend_replaced_gives_no_record_as_stats_leaves_it_out() -> None:
    """SHA1 amended into SHA3: SHA3's record stands for it (SHA1's own authorship and the
    import about it are left out), by the rule `prtrace stats` follows."""
    trace = _trace()
    amended = copy.deepcopy(trace["events"][2])
    amended["seq"], amended["payload"]["sha"] = 7, SHA3
    rewrite = {
        "seq": 8,
        "ts": "2026-11-24T19:13:00.000Z",
        "type": "rewrite",
        "actor": HUMAN,
        "payload": {"kind": "amend", "mappings": [{"old_sha": SHA1, "new_sha": SHA3}]},
    }
    trace["events"] += [amended, rewrite]
    found = records(trace, tool_version="1")
    assert [r["vcs"]["revision"] for r in found] == [SHA2, SHA3]
    assert [row["sha"] for row in commit_lines(trace["events"])] == [SHA3]
    for record in found:
        _validate(record)


def test_malformed_authorship_is_left_out_not_fatal() -> None:
    trace = _trace()
    trace["events"][2]["payload"]["authorship"]["files"]["src/a.py"]["ranges"] = [
        [0, 3, 1],
        [5, 2, 0],
        [1, 2, 9],
        "x",
    ]
    (first, _) = records(trace, tool_version="1")
    # nothing usable left of src/a.py in the commit's record: the import's statement stands
    a_py = next(f for f in first["files"] if f["path"] == "src/a.py")
    assert a_py["conversations"][0]["ranges"] == [{"start_line": 1, "end_line": 10}]
    assert first["metadata"]["dev.prtrace"]["sources"] == ["prtrace", "git-ai"]
    _validate(first)


@pytest.mark.parametrize(
    ("actor", "expected"),
    [
        (HUMAN, {"type": "human"}),
        (
            {"kind": "agent", "name": "codex", "model": "gpt-5-codex"},
            {"type": "ai", "model_id": "openai/gpt-5-codex"},
        ),
        (
            {"kind": "agent", "name": "cursor", "model": "sonnet"},
            {"type": "ai", "model_id": "sonnet"},
        ),
        ({"kind": "agent", "name": "gemini"}, {"type": "ai"}),
        ({"kind": "tool", "name": "git-ai"}, {"type": "unknown"}),
        (None, {"type": "unknown"}),
    ],
)
def test_contributors(actor: Any, expected: dict[str, str]) -> None:
    assert contributor(actor) == expected

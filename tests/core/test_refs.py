"""`parse_ref`: every form a REF may take, and the near misses that are not what they look
like (each of those is read as a branch name, which the caller then resolves or reports)."""

from __future__ import annotations

from pathlib import Path

import pytest

from prtrace_core.refs import BranchRef, FileRef, PrRef, Ref, TraceRef, parse_ref

TRACE_ID = "0f8fad5b-d9cb-469f-a165-70867728950e"


@pytest.mark.parametrize(
    ("text", "ref"),
    [
        # a trace id, in any case, with stray blanks
        (TRACE_ID, TraceRef(TRACE_ID)),
        (TRACE_ID.upper(), TraceRef(TRACE_ID)),
        (f"  {TRACE_ID}\n", TraceRef(TRACE_ID)),
        # a PR of the current repository
        ("123", PrRef(123, None)),
        ("PR-123", PrRef(123, None)),
        ("pr-123", PrRef(123, None)),
        ("PR123", PrRef(123, None)),
        ("#123", PrRef(123, None)),
        ("007", PrRef(7, None)),
        # a PR of a named repository
        ("acme/app#7", PrRef(7, "acme/app")),
        ("my-org/my.repo_2#4096", PrRef(4096, "my-org/my.repo_2")),
        # a trace file: by its suffix, or a path to a file that exists
        ("trace.json", FileRef(Path("trace.json"))),
        ("exports/pr-12.jsonl", FileRef(Path("exports/pr-12.jsonl"))),
        ("raw/abc.ndjson", FileRef(Path("raw/abc.ndjson"))),
        # a branch, by name or by its full ref (which also names a branch that looks like a PR)
        ("main", BranchRef("main")),
        ("feature/parser-fix", BranchRef("feature/parser-fix")),
        ("refs/heads/123", BranchRef("123")),
        ("refs/heads/notes.json", BranchRef("notes.json")),
    ],
)
def test_each_accepted_form(text: str, ref: Ref) -> None:
    assert parse_ref(text) == ref


@pytest.mark.parametrize(
    "text",
    [
        "PR-",  # no number
        "PR-12a",  # not a number
        "PR 12",  # a blank inside
        "Pr-12",  # the prefix is PR or pr
        "#",
        "-12",
        "12.5",
        "acme#7",  # a repository is owner/name
        "acme/app/extra#7",
        "acme/app#",
        "acme/app#seven",
        "acme app/x#7",
        f"{TRACE_ID}0",  # a trace id is exactly a UUID
        TRACE_ID[:-1],
        TRACE_ID.replace("-", ""),
        "trace.json.bak",  # not a trace file's suffix, and no such file
        "docs/not-here.txt",
    ],
)
def test_a_near_miss_is_a_branch_name_not_a_pr_trace_or_file(text: str) -> None:
    assert parse_ref(text) == BranchRef(text)


def test_a_path_to_a_file_is_a_trace_file_whatever_its_name(tmp_path: Path) -> None:
    export = tmp_path / "pr-12.export"
    export.write_text("{}\n")
    assert parse_ref(str(export)) == FileRef(export)
    # a name without a slash stays a branch even where such a file exists: branches win there
    assert parse_ref("pr-12.export") == BranchRef("pr-12.export")


def test_pr_id_names_the_current_repository_unless_the_ref_did() -> None:
    assert PrRef(7, None).pr_id("acme/app") == "acme/app#7"
    assert PrRef(7, "other/lib").pr_id("acme/app") == "other/lib#7"

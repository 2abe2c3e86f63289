"""Line authors through edits, a commit's authorship, and the order blame resolves lines in."""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Sequence

from hypothesis import given, settings
from hypothesis import strategies as st

from prtrace_core.authorship import (
    UNKNOWN,
    Attribution,
    BlameLine,
    CommitAuthorship,
    LineAuthors,
    added_lines,
    advance,
    advance_by_diff,
    parse_blame_porcelain,
    resolve,
    split_lines,
)

HUMAN = {"kind": "human"}
AGENT = {"kind": "agent", "name": "claude-code", "session": "s1", "model": "m"}
CODEX = {"kind": "agent", "name": "codex", "session": "s2"}


def _diff(before: Sequence[str], after: Sequence[str]) -> str:
    """A diff as capture writes one (difflib, three lines of context, git's no-newline mark)."""
    rows = []
    for row in difflib.unified_diff(list(before), list(after), "a/f", "b/f", n=3):
        rows.append(row if row.endswith("\n") else row + "\n\\ No newline at end of file\n")
    return "".join(rows)


def _who(authors: LineAuthors) -> list[str | None]:
    return [
        (a or {}).get("name", (a or {}).get("kind"))
        for a in (authors.actor(n) for n in range(1, len(authors.lines) + 1))
    ]


def test_an_edit_keeps_untouched_lines_and_gives_new_ones_to_its_actor() -> None:
    v1 = ["a\n", "b\n", "c\n"]
    authors = advance(LineAuthors(), [], v1, HUMAN)
    v2 = ["a\n", "agent line\n", "b\n", "c changed\n"]
    authors = advance(authors, v1, v2, AGENT)
    assert _who(authors) == ["human", "claude-code", "human", "claude-code"]


def test_unknown_lines_stay_unknown_and_unused_actors_are_dropped() -> None:
    base = LineAuthors.unknown(2)
    authors = advance(base, ["x\n", "y\n"], ["x\n", "y\n", "z\n"], AGENT)
    assert authors.lines[:2] == (UNKNOWN, UNKNOWN) and authors.actor(3) == AGENT
    gone = advance(authors, ["x\n", "y\n", "z\n"], ["x\n", "y\n"], HUMAN)
    assert gone.actors == () and gone.lines == (UNKNOWN, UNKNOWN)


def test_the_edits_own_diff_advances_as_the_contents_do() -> None:
    v1 = ["one\n", "two\n", "three"]
    v2 = ["zero\n", "one\n", "2\n", "three\n", "four"]
    start = advance(LineAuthors(), [], v1, HUMAN)
    by_diff = advance_by_diff(start, _diff(v1, v2), AGENT)
    assert by_diff == advance(start, v1, v2, AGENT)


def test_a_diff_that_does_not_fit_the_lines_is_refused() -> None:
    start = LineAuthors.unknown(2)
    assert advance_by_diff(start, "@@ -5,1 +5,1 @@\n-x\n+y\n", AGENT) is None
    assert advance_by_diff(start, "@@ -1,2 +1,1 @@\n-x\n", AGENT) is None  # ends inside the hunk


lines = st.lists(st.sampled_from(["a\n", "b\n", "c\n", "d\n", "\n", "e"]), max_size=12)


@settings(max_examples=200, deadline=None)
@given(lines, lines, lines)
def test_diff_and_contents_agree_on_any_chain_of_edits(
    v1: list[str], v2: list[str], v3: list[str]
) -> None:
    v1, v2, v3 = (split_lines("".join(v).encode()) for v in (v1, v2, v3))
    by_content = advance(advance(LineAuthors(), [], v1, HUMAN), v1, v2, AGENT)
    by_content = advance(by_content, v2, v3, CODEX)
    by_diff = advance_by_diff(LineAuthors(), _diff([], v1), HUMAN)
    assert by_diff is not None
    by_diff = advance_by_diff(by_diff, _diff(v1, v2), AGENT)
    assert by_diff is not None
    by_diff = advance_by_diff(by_diff, _diff(v2, v3), CODEX)
    assert by_diff == by_content and len(by_diff.lines) == len(v3)


def test_authors_encode_as_runs_and_decode_back() -> None:
    authors = advance(
        advance(LineAuthors(), [], ["a\n"] * 500, HUMAN),
        ["a\n"] * 500,
        ["a\n"] * 500 + ["b\n"],
        AGENT,
    )
    text = authors.encode()
    assert len(text) < 200 and LineAuthors.decode(text) == authors


def test_a_commit_names_only_the_lines_it_added_with_counts_per_kind() -> None:
    parent = ["a\n", "b\n", "c\n"]
    committed = ["a\n", "new 1\n", "new 2\n", "b\n", "typed\n", "?\n", "c\n"]
    authors = LineAuthors((AGENT, HUMAN), (UNKNOWN, 0, 0, UNKNOWN, 1, UNKNOWN, UNKNOWN))
    built = CommitAuthorship()
    built.add_file("src/a.py", added_lines(parent, committed), authors)
    built.add_file("b.py", [1, 2], None)
    payload = built.payload()
    assert payload == {
        "actors": [AGENT, HUMAN],
        "files": {
            "src/a.py": {"agent": 2, "human": 1, "unknown": 1, "ranges": [[2, 3, 0], [5, 5, 1]]},
            "b.py": {"agent": 0, "human": 0, "unknown": 2, "ranges": []},
        },
    }
    assert CommitAuthorship().payload() is None


def test_porcelain_blame_is_read_with_the_file_name_each_commit_had() -> None:
    a, b = "a" * 40, "b" * 40
    out = (
        f"{a} 1 1 2\nauthor X\nfilename old.py\n\tfirst\n"
        f"{a} 2 2\n\tsecond\n"
        f"{b} 5 3 1\nauthor Y\nfilename new.py\n\tthird\n"
    ).encode()
    assert parse_blame_porcelain(out) == [
        BlameLine(a, 1, 1, "old.py", "first"),
        BlameLine(a, 2, 2, "old.py", "second"),
        BlameLine(b, 5, 3, "new.py", "third"),
    ]


class _Sources:
    """A repository's attributions as plain data."""

    def __init__(
        self,
        atts: Iterable[Attribution],
        *,
        older: dict[str, list[str]] | None = None,
        patches: dict[str, list[str]] | None = None,
        files: dict[tuple[str, str], list[str]] | None = None,
    ) -> None:
        self.atts = {a.commit: a for a in atts}
        self.older = older or {}
        self.patches = patches or {}
        self.files = files or {}

    def attribution(self, commit: str) -> Attribution | None:
        return self.atts.get(commit)

    def rewritten_from(self, commit: str) -> Sequence[str]:
        return self.older.get(commit, [])

    def same_patch(self, commit: str) -> Sequence[str]:
        return self.patches.get(commit, [])

    def file_lines(self, commit: str, path: str) -> Sequence[str] | None:
        return self.files.get((commit, path))

    def attributions(self) -> Iterable[Attribution]:
        return self.atts.values()


def _att(
    commit: str, ranges: dict[str, list[list[int]]], actors: Sequence[dict] = (AGENT, HUMAN)
) -> Attribution:
    return Attribution.of(
        commit, {"actors": list(actors), "files": {p: {"ranges": r} for p, r in ranges.items()}}
    )


def test_resolution_takes_the_commit_then_its_rewrite_then_its_patch_then_content() -> None:
    old = _att("old", {"f.py": [[1, 1, 0]]})
    picked = _att("picked", {"f.py": [[3, 3, 1]]})
    elsewhere = _att("other", {"g.py": [[7, 7, 0]]})
    own = _att("own", {"f.py": [[1, 1, 1]]})
    files = {
        ("old", "f.py"): ["x\n", "moved\n"],
        ("picked", "f.py"): ["", "", "cherry\n"],
        ("other", "g.py"): [""] * 6 + ["shared\n"],
    }
    sources = _Sources(
        [old, picked, elsewhere, own],
        older={"new": ["old"]},
        patches={"pick2": ["picked"]},
        files=files,
    )
    lines = [
        BlameLine("own", 1, 1, "f.py", "mine"),
        BlameLine("new", 3, 2, "f.py", "moved"),  # line 2 in the amended-away commit: same text
        BlameLine("pick2", 9, 3, "f.py", "cherry"),
        BlameLine("squash", 1, 4, "f.py", "shared"),
        BlameLine("squash", 2, 5, "f.py", "nobody's"),
    ]
    got = [(r.via, (r.actor or {}).get("kind")) for r in resolve(lines, sources)]
    assert got == [
        ("commit", "human"),
        (None, None),
        ("patch-id", "human"),
        ("content", "agent"),
        (None, None),
    ]
    # the rewritten-from commit names line 2 of its file only when its text is the same
    sources.atts["old"] = _att("old", {"f.py": [[1, 2, 0]]})
    assert resolve([lines[1]], sources)[0].via == "rewrite"


def test_content_prefers_the_same_file_then_the_nearest_line() -> None:
    far = _att("c1", {"f.py": [[1, 1, 0]]})
    near = _att("c2", {"f.py": [[40, 40, 1]]})
    other = _att("c3", {"g.py": [[10, 10, 0]]})
    files = {
        ("c1", "f.py"): ["same\n"],
        ("c2", "f.py"): ["\n"] * 39 + ["same\n"],
        ("c3", "g.py"): ["\n"] * 9 + ["same\n"],
    }
    sources = _Sources([far, near, other], files=files)
    (found,) = resolve([BlameLine("squash", 30, 30, "f.py", "same")], sources)
    assert found.via == "content" and found.actor == HUMAN
    (found,) = resolve([BlameLine("squash", 9, 9, "h.py", "same")], sources)
    assert found.actor == AGENT  # no attributed line of h.py: any file's, nearest line 10


def test_a_blank_line_is_never_matched_by_content() -> None:
    sources = _Sources([_att("c1", {"f.py": [[1, 1, 0]]})], files={("c1", "f.py"): ["\n"]})
    assert resolve([BlameLine("x", 1, 1, "f.py", "")], sources)[0].actor is None


def test_a_commit_of_thousands_of_files_keeps_its_authorship_within_the_budget() -> None:
    """A vendored tree of 5,000 files must not make the commit event too big for the server:
    ranges go first, then whole files, and every line is still counted."""
    import json

    from prtrace_core.authorship import AUTHORSHIP_BUDGET, CommitAuthorship, LineAuthors
    from prtrace_core.stats import commit_lines

    agent = {"kind": "agent", "name": "claude-code", "session": "s1"}
    built = CommitAuthorship()
    for n in range(5000):
        # alternating authors: one range per line, the worst case
        authors = LineAuthors(actors=(agent, {"kind": "human"}), lines=tuple(i % 2 for i in range(20)))
        built.add_file(f"vendor/lib/module_{n:04}.py", list(range(1, 21)), authors)
    payload = built.payload()
    assert payload is not None
    assert len(json.dumps(payload)) <= AUTHORSHIP_BUDGET + 1024
    assert payload["omitted"]["files"] > 0
    assert all(entry["ranges_omitted"] for entry in payload["files"].values())
    (row,) = commit_lines([{"type": "commit", "seq": 1, "payload": {"sha": "a" * 40, "authorship": payload}}])
    assert (row["agent_lines"], row["human_lines"]) == (50_000, 50_000)

    small = CommitAuthorship()
    small.add_file("a.py", [1, 2], LineAuthors(actors=(agent,), lines=(0, 0)))
    assert small.payload() == {"actors": [agent], "files": {"a.py": {"agent": 2, "human": 0, "unknown": 0, "ranges": [[1, 2, 0]]}}}

"""Line authors through edits, a commit's authorship, and the order blame resolves lines in."""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Sequence

from hypothesis import given, settings
from hypothesis import strategies as st

from prtrace_core.authorship import (
    GIT,
    UNKNOWN,
    Attribution,
    BlameLine,
    CommitAuthorship,
    LineAuthors,
    LineRanges,
    actor_class,
    added_lines,
    advance,
    advance_by_diff,
    git_lines,
    in_git_numbering,
    parse_blame_porcelain,
    resolve,
    split_lines,
    with_git_lines,
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
        renames: dict[tuple[str, str, str], str] | None = None,
    ) -> None:
        self.atts = {a.commit: a for a in atts}
        self.older = older or {}
        self.patches = patches or {}
        self.files = files or {}
        self.renames = renames or {}
        self.asked: list[str] = []  # the paths content matching indexed

    def attribution(self, commit: str) -> Attribution | None:
        return self.atts.get(commit)

    def rewritten_from(self, commit: str) -> Sequence[str]:
        return self.older.get(commit, [])

    def same_patch(self, commit: str, path: str) -> Sequence[str]:
        return [c for c in self.patches.get(commit, []) if path in self.atts[c].files]

    def origin_path(self, older: str, commit: str, path: str) -> str | None:
        return self.renames.get((older, commit, path))

    def file_lines(self, commit: str, path: str) -> Sequence[str] | None:
        return self.files.get((commit, path))

    def attributions(self, path: str) -> Iterable[Attribution]:
        self.asked.append(path)
        return [a for a in self.atts.values() if path in a.files]


def _att(
    commit: str, ranges: dict[str, list[list[int]]], actors: Sequence[dict] = (AGENT, HUMAN)
) -> Attribution:
    return Attribution.of(
        commit, {"actors": list(actors), "files": {p: {"ranges": r} for p, r in ranges.items()}}
    )


def test_resolution_takes_the_commit_then_its_rewrite_then_its_patch_then_content() -> None:
    old = _att("old", {"f.py": [[1, 1, 0]]})
    picked = _att("picked", {"f.py": [[3, 3, 1]]})
    elsewhere = _att("other", {"f.py": [[7, 7, 0]]})
    own = _att("own", {"f.py": [[1, 1, 1]]})
    files = {
        ("old", "f.py"): ["x\n", "moved\n"],
        ("picked", "f.py"): ["", "", "cherry\n"],
        ("other", "f.py"): [""] * 6 + ["shared = True\n"],
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
        BlameLine("squash", 1, 4, "f.py", "shared = True"),
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


def test_content_matches_only_the_same_file_and_only_when_every_candidate_agrees() -> None:
    c1 = _att("c1", {"f.py": [[1, 1, 0]]})
    c2 = _att("c2", {"f.py": [[40, 40, 0]]})
    other = _att("c3", {"g.py": [[10, 10, 1]], "h.py": [[1, 1, 1]]})
    files = {
        ("c1", "f.py"): ["x = same\n"],
        ("c2", "f.py"): ["\n"] * 39 + ["x = same\n"],
        ("c3", "g.py"): ["\n"] * 9 + ["x = same\n"],
        ("c3", "h.py"): ["y = other\n"],
    }
    sources = _Sources([c1, c2, other], files=files)
    (found,) = resolve([BlameLine("squash", 30, 30, "f.py", "x = same")], sources)
    assert found.via == "content" and found.actor == AGENT
    assert sources.asked == ["f.py"]  # only the file asked is indexed, never the repository
    # no attributed line of k.py: another file's lines say nothing of it
    (found,) = resolve([BlameLine("squash", 9, 9, "k.py", "x = same")], sources)
    assert found.actor is None
    # two authors for the same text in the file: no guess (no tie broken by the first or nearest)
    c4 = _att("c4", {"g.py": [[1, 1, 0]]})
    sources = _Sources([c1, c2, other, c4], files={**files, ("c4", "g.py"): ["x = same\n"]})
    (found,) = resolve([BlameLine("squash", 10, 10, "g.py", "x = same")], sources)
    assert found.actor is None


def test_a_line_too_plain_to_tell_is_never_matched_by_content() -> None:
    sources = _Sources(
        [_att("c1", {"f.py": [[1, 3, 0]]})], files={("c1", "f.py"): ["}\n", "pass\n", "else:\n"]}
    )
    plain = [BlameLine("x", n, n, "f.py", text) for n, text in enumerate(["}", "pass", "else:"], 1)]
    assert [r.actor for r in resolve(plain, sources)] == [None, None, None]


def test_a_commit_whose_own_record_covers_the_file_is_not_guessed_by_content() -> None:
    agent_wrote = _att("c1", {"f.py": [[1, 1, 0]]})
    own = Attribution.of(
        "own", {"actors": [HUMAN], "files": {"f.py": {"unknown": 1, "ranges": [[2, 2, 0]]}}}
    )
    files = {("c1", "f.py"): ["value = compute()\n"]}
    sources = _Sources([agent_wrote, own], files=files)
    (found,) = resolve([BlameLine("own", 1, 1, "f.py", "value = compute()")], sources)
    assert found.actor is None
    # an imported attribution does not speak for the file: content may answer
    imported = Attribution.of(
        "imp", {"actors": [HUMAN], "files": {"f.py": {"ranges": [[2, 2, 0]]}}}, "git-ai"
    )
    sources.atts["imp"] = imported
    (found,) = resolve([BlameLine("imp", 1, 1, "f.py", "value = compute()")], sources)
    assert (found.via, found.actor) == ("content", AGENT)


def test_one_files_attribution_never_answers_for_another_file_of_the_commit() -> None:
    only_a = _att("c1", {"a.py": [[1, 3, 0]]})
    sources = _Sources([only_a])
    (found,) = resolve([BlameLine("c1", 2, 2, "b.py", "human line two")], sources)
    assert found.actor is None
    # a rewrite's older commit names the file by its old name only through git's renames
    amended = _att("c2", {"b.py": [[1, 1, 1]]})
    old = _att("c0", {"old.py": [[1, 1, 0]]})
    files = {("c0", "old.py"): ["moved line here\n"], ("c0", "a.py"): ["x\n"]}
    sources = _Sources([amended, old], older={"c2": ["c0"]}, files=files)
    line = BlameLine("c2", 1, 1, "new.py", "moved line here")
    assert resolve([line], sources)[0].actor is None  # c0 names another file: no guess
    sources.renames[("c0", "c2", "new.py")] = "old.py"
    (found,) = resolve([line], sources)
    assert (found.via, found.actor) == ("rewrite", AGENT)


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
        authors = LineAuthors(
            actors=(agent, {"kind": "human"}), lines=tuple(i % 2 for i in range(20))
        )
        built.add_file(f"vendor/lib/module_{n:04}.py", list(range(1, 21)), authors)
    payload = built.payload()
    assert payload is not None
    assert len(json.dumps(payload)) <= AUTHORSHIP_BUDGET + 1024
    assert payload["omitted"]["files"] > 0
    assert all(entry["ranges_omitted"] for entry in payload["files"].values())
    (row,) = commit_lines(
        [{"type": "commit", "seq": 1, "payload": {"sha": "a" * 40, "authorship": payload}}]
    )
    assert (row["agent_lines"], row["human_lines"]) == (50_000, 50_000)

    small = CommitAuthorship()
    small.add_file("a.py", [1, 2], LineAuthors(actors=(agent,), lines=(0, 0)))
    assert small.payload() == {
        "actors": [agent],
        "files": {"a.py": {"agent": 2, "human": 0, "unknown": 0, "ranges": [[1, 2, 0]]}},
    }


def test_line_numbers_meet_git_where_python_splits_more_lines_than_git() -> None:
    """A form feed and a lone \\r end a line for `str.splitlines`, not for git: the line state
    keeps capture's numbering; ranges and blame use git's."""
    content = b"x = 1\x0cy = 2\nfirst\rsecond\nthird\n"
    pieces = split_lines(content)
    assert len(pieces) == 5 and git_lines(content) == [
        "x = 1\x0cy = 2\n",
        "first\rsecond\n",
        "third\n",
    ]
    # the agent wrote "y = 2" only; the developer the rest
    authors = LineAuthors((HUMAN, AGENT), (0, 1, 0, 0, 0))
    in_git = in_git_numbering(authors, pieces)
    assert _who(in_git) == ["claude-code", "human", "human"]  # any agent piece: the agent's
    built = CommitAuthorship()
    built.add_file("f.py", [1, 2, 3], in_git)
    assert built.payload()["files"]["f.py"]["ranges"] == [[1, 1, 1], [2, 3, 0]]
    # a git line learnt from elsewhere goes to each of its pieces
    learnt = with_git_lines(authors, pieces, {2: CODEX})
    assert _who(learnt) == ["human", "claude-code", "codex", "codex", "human"]
    # a line with an empty piece takes the author of the piece that has text
    unknown_tail = LineAuthors((HUMAN,), (0, UNKNOWN))
    assert _who(in_git_numbering(unknown_tail, ["text\x0c", "\n"])) == ["human"]


def test_a_huge_imported_range_is_looked_up_without_expanding_it() -> None:
    import time

    began = time.perf_counter()
    att = Attribution.of(
        "c", {"actors": [AGENT], "files": {"f.py": {"ranges": [[1, 20_000_000, 0]]}}}
    )
    ranges = att.files["f.py"]
    assert ranges.get(1) == 0 and ranges.get(19_999_999) == 0 and ranges.get(20_000_001) is None
    assert list(ranges.items(3)) == [(1, 0), (2, 0), (3, 0)]
    assert time.perf_counter() - began < 0.05


def test_overlapping_ranges_keep_the_first_starting() -> None:
    ranges = LineRanges.of([(5, 9, 1), (1, 6, 0), (20, 10, 0)])
    assert [ranges.get(n) for n in (1, 6, 7, 9, 10)] == [0, 0, 1, 1, None]


def test_imports_complete_a_commits_attribution_line_by_line() -> None:
    """A file-only record (Entire) never hides line ranges (git-ai), and a commit's unknown
    lines take an import's author; a line the commit names keeps the commit's word."""
    own = Attribution.of(
        "c", {"actors": [HUMAN], "files": {"f.py": {"unknown": 3, "ranges": [[3, 3, 0]]}}}
    )
    git_ai = Attribution.of(
        "c", {"actors": [AGENT], "files": {"f.py": {"ranges": [[1, 3, 0]]}}}, "git-ai"
    )
    entire = Attribution.of(
        "c",
        {"actors": [CODEX], "files": {"f.py": {"ranges": []}, "g.py": {"ranges": []}}},
        "entire",
    )
    merged = own.merged(entire).merged(git_ai)
    names = [
        merged.actors[i]["kind"]
        for i in (merged.files["f.py"].get(n) for n in (1, 2, 3))
        if i is not None
    ]
    assert names == ["agent", "agent", "human"]
    assert "g.py" in merged.files and not merged.files["g.py"] and merged.speaks_for("f.py")
    assert not git_ai.merged(entire).speaks_for("f.py")  # imports never speak for a file


def test_git_written_lines_count_as_unknown_and_are_in_no_range() -> None:
    authors = LineAuthors((GIT, AGENT), (0, 1, 0))
    built = CommitAuthorship()
    built.add_file("f.py", [1, 2, 3], authors)
    payload = built.payload()
    assert payload == {
        "actors": [AGENT],
        "files": {"f.py": {"agent": 1, "human": 0, "unknown": 2, "ranges": [[2, 2, 0]]}},
    }
    assert actor_class(GIT) == "unknown" and actor_class(HUMAN) == "human"


def test_porcelain_file_names_are_unquoted() -> None:
    a = "a" * 40
    out = (
        f'{a} 1 1 1\nfilename "new\\nline \\303\\251.py"\n\tx\n'
        f'{a} 1 2 1\nfilename "tab\\there"\n\ty\n'
    ).encode()
    assert [line.path for line in parse_blame_porcelain(out)] == [
        "new\nline \u00e9.py",
        "tab\there",
    ]

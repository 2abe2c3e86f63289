"""Diffs and files as HTML: recorded text always comes out escaped, highlighted or not."""

from __future__ import annotations

import re

import pytest
from markupsafe import Markup, escape

from prtrace_viewer import highlight
from prtrace_viewer.highlight import DiffLine, diff_lines, file_lines, stylesheet
from tests.viewer import edit_payload

SCRIPT = "<script>alert(1)</script>"


def _text(html: str) -> str:
    """The text a browser shows for the HTML: tags dropped, entities read."""
    plain = re.sub(r"<[^>]*>", "", html)
    return plain.replace("&lt;", "<").replace("&gt;", ">").replace("&#34;", '"').replace("&#39;", "'").replace(
        "&quot;", '"').replace("&amp;", "&")


def _no_live_markup(html: str) -> None:
    assert "<script" not in html and "<img" not in html
    # only the formatter's own spans, with a class and nothing else
    for tag in re.findall(r"<[^>]*>", html):
        assert re.fullmatch(r'<span class="[\w -]+">|</span>', tag), tag


def test_a_script_line_in_a_diff_comes_out_escaped_in_every_kind_of_file() -> None:
    before = b"a = 1\nb = 2\n"
    after = f"a = 1\n{SCRIPT}\n".encode()
    diff = edit_payload("x", before, after)["diff"]
    for path in ("app.py", "page.html", "notes.txt", "README", "weird.unknownext"):
        rows = diff_lines(diff, path)
        added = [row for row in rows if row.kind == "add"]
        assert len(added) == 1 and _text(added[0].html) == SCRIPT
        for row in rows:
            assert isinstance(row.html, Markup)
            _no_live_markup(str(row.html))


def test_the_header_and_hunk_lines_are_escaped_too() -> None:
    diff = f"--- a/{SCRIPT}\n+++ b/{SCRIPT}\n@@ -1 +1 @@ {SCRIPT}\n-x\n+y\n"
    rows = diff_lines(diff, f"{SCRIPT}.py")
    assert [row.kind for row in rows] == ["meta", "meta", "hunk", "del", "add"]
    for row in rows:
        _no_live_markup(str(row.html))
    assert _text(rows[0].html) == f"--- a/{SCRIPT}"


def test_rows_carry_their_old_and_new_line_numbers() -> None:
    before = "".join(f"line{n}\n" for n in range(1, 11)).encode()
    after = before.replace(b"line5\n", b"five\n").replace(b"line9\n", b"")
    rows = diff_lines(edit_payload("m.py", before, after)["diff"], "m.py")
    numbered = [(r.kind, r.old_no, r.new_no, _text(r.html)) for r in rows if r.kind != "meta"]
    assert numbered[0][0] == "hunk"
    assert ("del", 5, None, "line5") in numbered
    assert ("add", None, 5, "five") in numbered
    assert ("ctx", 6, 6, "line6") in numbered
    assert ("del", 9, None, "line9") in numbered
    assert ("ctx", 10, 9, "line10") in numbered


def test_a_diff_of_a_python_file_is_highlighted_with_classes_only() -> None:
    rows = diff_lines(edit_payload("m.py", b"x = 1\n", b"def f():\n    return 'a'\n")["diff"], "m.py")
    added = "".join(str(r.html) for r in rows if r.kind == "add")
    assert '<span class="k">def</span>' in added
    assert "style=" not in added


def test_a_string_that_spans_lines_is_coloured_as_one() -> None:
    lines = file_lines('s = """first\nsecond <b>\n"""\n', "m.py")
    assert len(lines) == 3
    assert lines[1].startswith('<span class="s2">') and "&lt;b&gt;" in lines[1]


def test_a_file_with_no_known_lexer_is_plain_escaped_text() -> None:
    lines = file_lines(f"{SCRIPT}\nplain & simple\n", "data.unknownext")
    assert lines == [Markup("&lt;script&gt;alert(1)&lt;/script&gt;"), Markup("plain &amp; simple")]


def test_carriage_returns_never_shift_a_line_onto_another() -> None:
    lines = file_lines("a = 1\rb = 2\nc = 3\n", "m.py")
    assert len(lines) == 2 and _text(lines[1]) == "c = 3"
    rows = diff_lines("@@ -1,2 +1,2 @@\n-a\r1\n+a\r2\n ctx\n", "m.py")
    assert [(r.kind, _text(r.html)) for r in rows[1:]] == [("del", "a\r1"), ("add", "a\r2"), ("ctx", "ctx")]


def test_beyond_the_cap_lines_are_plain_but_still_escaped() -> None:
    text = "".join(f"x{n} = '{SCRIPT}'\n" for n in range(highlight.MAX_LINES + 50))
    lines = file_lines(text, "big.py")
    assert len(lines) == highlight.MAX_LINES + 50
    assert "<span" in lines[0]
    assert lines[-1] == Markup(f"x{highlight.MAX_LINES + 49} = &#39;&lt;script&gt;alert(1)&lt;/script&gt;&#39;")


def test_a_huge_line_is_plain_and_the_short_ones_around_it_still_coloured() -> None:
    huge = "y = '" + "z" * (highlight.MAX_BYTES + 10) + "'"
    lines = file_lines(f"x = 1\n{huge}\n{SCRIPT}\n", "big.py")
    assert "<span" in lines[0]
    assert lines[1] == Markup(huge.replace("'", "&#39;"))
    assert "<span" in lines[2] and _text(lines[2]) == SCRIPT
    _no_live_markup(str(lines[2]))


def test_a_line_just_past_the_limit_is_plain() -> None:
    long = "x = " + "1 + " * (highlight.MAX_LINE // 4) + "1"
    short = "y = 2"
    lines = file_lines(f"{short}\n{long}\n{short}\n", "m.py")
    assert lines[1] == Markup(long)
    assert "<span" in lines[0] and "<span" in lines[2]


# Lexers whose time grows with the square of a line's length (Java's on bare words,
# TypeScript's on dotted names): a long line of either must never reach them.
HOSTILE_LINES = [("X.java", "a " * 100_000), ("x.ts", "a.b" * 70_000), ("main.tf", "a " * 100_000),
                 ("Makefile", "a " * 100_000), (".htaccess", "a " * 100_000)]


@pytest.mark.parametrize(("path", "line"), HOSTILE_LINES)
def test_a_200_kb_line_in_a_file_is_plain_escaped_text(path: str, line: str) -> None:
    line = line + SCRIPT
    lines = file_lines(f"{line}\nint x;\n", path)
    assert lines[0] == escape(line)
    assert len(lines) == 2


@pytest.mark.parametrize(("path", "line"), HOSTILE_LINES[:2])
def test_a_200_kb_line_in_a_diff_is_plain_escaped_text(path: str, line: str) -> None:
    line = line + SCRIPT
    rows = diff_lines(f"@@ -1,2 +1,2 @@\n-{line}\n+{line}!\n int x;\n", path)
    assert [(r.kind, r.html) for r in rows[1:3]] == [("del", escape(line)), ("add", escape(line + "!"))]
    assert _text(rows[3].html) == "int x;"


def test_lines_of_bare_words_are_lexed_in_small_pieces() -> None:
    # Java's lexer is quadratic in a run of bare words across lines, however short each is.
    text = ("a " * 30 + "\n") * 1500
    pieces = highlight._pieces(text.splitlines())
    assert all(end - start <= highlight.PIECE_BYTES // 61 + 1 for start, end, _ in pieces)
    assert [start for start, _, _ in pieces] == sorted({start for start, _, _ in pieces})
    assert pieces[-1][1] == 1500


def test_once_the_time_is_spent_the_rest_is_plain() -> None:
    ticks = iter(range(100))
    text = "".join(f"x{n} = 1\n" for n in range(1500))  # several pieces
    lines = file_lines(text, "m.py", clock=lambda: next(ticks) * highlight.MAX_SECONDS * 0.9)
    # the clock reads the start, then before each piece: the first piece is in time, no other
    assert "<span" in lines[0]
    assert lines[1000] == Markup("x1000 = 1") and lines[-1] == Markup("x1499 = 1")


def test_the_caps_are_what_a_page_can_afford() -> None:
    assert (highlight.MAX_LINES, highlight.MAX_BYTES, highlight.MAX_LINE) == (2_000, 128 * 1024, 1_000)


def test_a_hunk_header_with_a_huge_number_is_a_plain_row() -> None:
    rows = diff_lines(f"@@ -{'9' * 5000} +1 @@\n-a\n+b\n", "a.py")
    assert rows[0].kind == "meta" and _text(rows[0].html).startswith("@@ -999")
    assert all(r.old_no is None and r.new_no is None for r in rows)


def test_the_stylesheet_is_scoped_under_hl() -> None:
    css = stylesheet()
    selectors = [rule.split("{")[0].strip() for rule in css.splitlines() if "{" in rule]
    assert selectors and all(s.startswith(".hl") for s in selectors)
    assert ".hl .k " in css


def test_an_empty_diff_has_no_rows() -> None:
    assert diff_lines("", "a.py") == []
    assert diff_lines("\n", "a.py") == []
    assert file_lines("", "a.py") == []


def test_diff_line_is_plain_data() -> None:
    row = diff_lines("@@ -1 +1 @@\n-a\n+b\n", "a.txt")[1]
    assert row == DiffLine("del", 1, None, Markup("a"))

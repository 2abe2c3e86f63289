"""Every diff capture writes applies back to the content it came from, whatever the line ends."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from prtrace_core.patches import PatchError, apply_diff
from prtrace_daemon.diffs import edit_payload

# Lines built from the pieces that trip diff tools: CRLF, lone CR, form feeds, NEL, a last
# line without a newline, non-ASCII text.
_pieces = st.sampled_from(["a", "b", "x = 1", "ü", "\n", "\r\n", "\r", "\x0c", "\x85", "\u2028", " "])
_texts = st.lists(_pieces, max_size=40).map("".join)


def _diff(before: bytes, after: bytes) -> str:
    return str(edit_payload("f.txt", before, after, before_sha=None, after_sha=None, op="modify").get("diff", ""))


@settings(max_examples=400, deadline=None)
@given(_texts, _texts)
def test_a_recorded_diff_rebuilds_the_new_content(before: str, after: str) -> None:
    old, new = before.encode(), after.encode()
    assert apply_diff(old, _diff(old, new)) == new


def test_an_empty_diff_leaves_the_content_as_it_is() -> None:
    assert apply_diff(b"same\n", "") == b"same\n"


def test_a_create_applies_to_nothing() -> None:
    assert apply_diff(b"", _diff(b"", b"one\ntwo")) == b"one\ntwo"


def test_a_hunk_whose_context_differs_is_refused() -> None:
    diff = _diff(b"a\nb\nc\n", b"a\nB\nc\n")
    with pytest.raises(PatchError, match="does not match"):
        apply_diff(b"a\nz\nc\n", diff)


def test_a_diff_cut_short_inside_a_hunk_is_refused() -> None:
    diff = _diff(b"a\nb\nc\n", b"a\nB\nC\n")
    with pytest.raises(PatchError, match="ends inside"):
        apply_diff(b"a\nb\nc\n", diff[: diff.rindex("+")])

from __future__ import annotations

from prtrace_core.gitblob import blob_sha
from prtrace_daemon.diffs import DIFF_CAP, FILE_CAP, edit_payload, is_binary


def test_modify_counts_lines_and_keeps_first_hunk_as_snippet() -> None:
    before = b"".join(b"line %d\n" % i for i in range(40))
    after = before.replace(b"line 3\n", b"line three\n").replace(b"line 30\n", b"")
    payload = edit_payload("a.txt", before, after, before_sha=blob_sha(before), after_sha=blob_sha(after), op="modify")
    assert payload["change_summary"] == "+1/-2"
    assert payload["diff"].startswith("--- a/a.txt\n+++ b/a.txt\n@@")
    assert payload["diff_snippet"].startswith("@@") and "line three" in payload["diff_snippet"]
    assert "line 30" not in payload["diff_snippet"]
    assert payload["before_sha"] == blob_sha(before) and payload["after_sha"] == blob_sha(after)


def test_create_and_delete_diff_against_dev_null() -> None:
    created = edit_payload("n.py", None, b"x = 1\n", before_sha=None, after_sha="s", op="create")
    assert created["change_summary"] == "+1/-0" and "--- /dev/null" in created["diff"]
    deleted = edit_payload("n.py", b"x = 1\n", None, before_sha="s", after_sha=None, op="delete")
    assert deleted["change_summary"] == "+0/-1" and "+++ /dev/null" in deleted["diff"]


def test_missing_newline_at_end_is_marked() -> None:
    payload = edit_payload("a", b"a\n", b"a\nb", before_sha=None, after_sha=None, op="modify")
    assert "\\ No newline at end of file" in payload["diff"]


def test_huge_diff_is_truncated_below_the_event_limit() -> None:
    after = b"".join(b"%06d some text to make the line longer\n" % i for i in range(20000))
    payload = edit_payload("big.txt", b"", after, before_sha=None, after_sha=None, op="modify")
    assert payload["diff_truncated"] is True
    assert len(payload["diff"].encode()) <= DIFF_CAP
    assert payload["change_summary"] == "+20000/-0"


def test_file_over_the_cap_gets_hashes_but_no_diff() -> None:
    payload = edit_payload("huge", b"", b"x" * (FILE_CAP + 1), before_sha="a", after_sha="b", op="modify")
    assert payload["diff_omitted"] == "size" and "diff" not in payload and payload["after_sha"] == "b"


def test_non_utf8_text_still_diffs() -> None:
    payload = edit_payload("latin1.txt", b"caf\xe9\n", b"caf\xe9 au lait\n", before_sha=None, after_sha=None, op="modify")
    assert payload["change_summary"] == "+1/-1" and "\ufffd" in payload["diff"]


def test_binary_rule_is_gits() -> None:
    assert is_binary(b"PNG\0\0") and not is_binary(b"plain text\n")


def test_blob_sha_is_gits() -> None:
    assert blob_sha(b"hello\n") == "ce013625030ba8dba906f756967f9e9ca394464a"

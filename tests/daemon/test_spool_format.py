"""The spool line format: every record a writer encodes is the record the drain reads back,
and lines written by earlier versions of the hooks and the hand-off still read as they did.

The real hooks' lines are decoded in test_git_hooks.py (git) and tests/cli/test_shell_hooks.py
(bash, zsh, fish)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from prtrace_daemon.handoff import hand_off
from prtrace_daemon.spool import parse_line
from prtrace_daemon.spool_format import (
    KINDS,
    AgentRecord,
    CheckoutRecord,
    CommandRecord,
    CommitRecord,
    HandoffRecord,
    MergeRecord,
    PushRecord,
    RewriteRecord,
    SpoolRecord,
    encode_line,
    epoch_time,
)

# What a field written as it is may hold: any text but the line's separators.
_RAW = st.text(st.characters(exclude_categories=("Cs",), exclude_characters="\t\n\r"), max_size=40)
_WORD = st.from_regex(r"[A-Za-z0-9/._@:+-]{1,50}", fullmatch=True)  # a ref, as git writes it
_SHA = st.from_regex(r"[0-9a-f]{40}", fullmatch=True)
_COUNT = st.integers(0, 10**12 - 1)
_JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**63)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4)
    ),
    max_leaves=12,
)

RECORDS: dict[str, st.SearchStrategy[SpoolRecord]] = {
    "commit": st.builds(CommitRecord, sha=_SHA, ref=_RAW),
    "checkout": st.builds(
        CheckoutRecord, sha=_SHA, ref=_RAW, previous=_SHA | st.just(""), branch=st.booleans()
    ),
    "merge": st.builds(
        MergeRecord, sha=_SHA, ref=_RAW, squash=st.booleans(), before=_SHA | st.just("")
    ),
    "rewrite": st.builds(
        RewriteRecord,
        sha=_SHA,
        ref=_RAW,
        how=_RAW,
        mappings=st.lists(st.tuples(_SHA, _SHA), max_size=4).map(tuple),
    ),
    "push": st.builds(
        PushRecord,
        sha=_SHA,
        ref=_RAW,
        remote=_RAW,
        url=_RAW,
        refs=st.lists(st.tuples(_WORD, _SHA, _WORD, _SHA), max_size=4).map(tuple),
    ),
    "command": st.builds(
        CommandRecord,
        command=st.text(min_size=1).filter(str.strip),
        exit_code=st.integers(-(10**12) + 1, 10**12 - 1),
        duration_ms=st.none() | _COUNT,
        cwd=st.text(),
        pipestatus=st.lists(_COUNT, max_size=5).map(tuple),
        shell=_RAW,
    ),
    "event": st.builds(
        HandoffRecord,
        type=_RAW.filter(bool),
        payload=st.dictionaries(st.text(max_size=10), _JSON, max_size=5),
    ),
    "agent": st.builds(
        AgentRecord,
        agent=_RAW.filter(bool),
        payload=st.dictionaries(st.text(max_size=10), _JSON, max_size=5),
    ),
}
_TIMES = st.sampled_from(["", "1795600000.250000", "@1795600001.75", "2026-11-25T09:46:40.250Z"])


def test_every_kind_has_a_record_whose_fields_name_its_attributes() -> None:
    assert set(RECORDS) == set(KINDS)
    for kind, record in KINDS.items():
        assert record.kind == kind
        assert sorted(record.FIELDS) == sorted(record.__slots__)


@pytest.mark.parametrize("kind", sorted(KINDS))
@settings(max_examples=150, deadline=None)
@given(data=st.data(), repo=_RAW.filter(bool), when=_TIMES)
def test_a_record_written_is_the_record_read(
    kind: str, data: st.DataObject, repo: str, when: str
) -> None:
    record = data.draw(RECORDS[kind])
    raw = encode_line(record, repo=repo, ts=when)
    assert raw.count(b"\n") == 1 and raw.endswith(b"\n") and b"\r" not in raw
    line = parse_line(raw, written_ns=1_795_600_002_000_000_000)
    assert line is not None
    assert (line.kind, line.repo_path, line.record) == (kind, repo, record)
    assert line.ts.endswith("Z") and len(line.ts) == 24


@pytest.mark.parametrize(
    "record",
    [
        CommitRecord("a\tb", "refs/heads/main"),
        CommitRecord("abc", "refs/heads/a\nb"),
        PushRecord("abc", "refs/heads/main", "origin", "https://host/x\r", ()),
        HandoffRecord("annota\ttion", {}),
    ],
    ids=["tab", "newline", "cr", "type"],
)
def test_a_field_that_would_split_the_line_is_refused(record: SpoolRecord) -> None:
    with pytest.raises(ValueError, match="cannot hold"):
        encode_line(record, repo="/r")


def test_text_a_shell_escapes_may_hold_anything() -> None:
    record = CommandRecord("printf 'a\tb\\n'\necho \\done\r", 0, cwd="/r/with\ttab")
    raw = encode_line(record, repo="/r", ts="1795600000.250000")
    assert raw.count(b"\n") == 1 and b"\\t" in raw
    line = parse_line(raw)
    assert line is not None and line.record == record


def test_a_hand_off_writes_its_time_as_epoch_seconds_read_as_the_trace_timestamp(
    tmp_path: Path,
) -> None:
    (tmp_path / "spool").mkdir()
    hand_off(str(tmp_path), "/r", "annotation", {"text": "why"})
    [written] = list((tmp_path / "spool").iterdir())
    raw = written.read_bytes()
    assert raw.split(b"\t")[2].replace(b".", b"").isdigit()
    line = parse_line(raw, written.stat().st_mtime_ns)
    assert line is not None and line.record == HandoffRecord("annotation", {"text": "why"})
    assert epoch_time(1_795_600_000_250_999_999) == "1795600000.250999999"
    later = parse_line(
        encode_line(HandoffRecord("x", {}), repo="/r", ts=epoch_time(1_795_600_000_250_999_999))
    )
    # the trace timestamp `now_ts()` would have given at that moment
    assert later is not None and later.ts == "2026-11-25T09:46:40.250Z"


def test_a_repo_path_no_line_can_hold_is_not_handed_off(tmp_path: Path) -> None:
    (tmp_path / "spool").mkdir()
    with pytest.raises(OSError):
        hand_off(str(tmp_path), "/r/with\ttab", "annotation", {"text": "why"})
    assert os.listdir(tmp_path / "spool") == []  # the caller records it in process instead


# Lines exactly as earlier versions wrote them: read the same way, for spools that outlive an upgrade.
PREVIOUS = [
    pytest.param(  # a git hook before the time was left to the file's mtime (`date` in the hook)
        b"v1\tcommit\t2026-11-25T09:46:40.250Z\t/r\t" + b"a" * 40 + b"\trefs/heads/main\n",
        CommitRecord("a" * 40, "refs/heads/main"),
        "2026-11-25T09:46:40.250Z",
        id="git-hook-with-date",
    ),
    pytest.param(
        b"v1\tcheckout\t\t/r\t" + b"b" * 40 + b"\trefs/heads/feature\t" + b"a" * 40 + b"\t1\n",
        CheckoutRecord("b" * 40, "refs/heads/feature", "a" * 40, True),
        "2026-11-25T09:46:42.000Z",
        id="git-hook-timed-by-mtime",
    ),
    pytest.param(
        b"v1\tmerge\t\t/r\t" + b"c" * 40 + b"\tHEAD\t0\t\n",
        MergeRecord("c" * 40, "HEAD", False, ""),
        "2026-11-25T09:46:42.000Z",
        id="merge-without-orig-head",
    ),
    pytest.param(  # post-rewrite lines may carry a third word (git's extra info)
        b"v1\trewrite\t\t/r\t"
        + b"d" * 40
        + b"\trefs/heads/main\trebase\t"
        + b"a" * 40
        + b" "
        + b"d" * 40
        + b" extra;\n",
        RewriteRecord("d" * 40, "refs/heads/main", "rebase", (("a" * 40, "d" * 40),)),
        "2026-11-25T09:46:42.000Z",
        id="rewrite-with-extra-info",
    ),
    pytest.param(  # a malformed ref line is left out, the others kept
        b"v1\tpush\t\t/r\tabc\trefs/heads/main\torigin\thttps://x@host/r.git\trefs/heads/main abc refs/heads/main 000;bad;\n",
        PushRecord(
            "abc",
            "refs/heads/main",
            "origin",
            "https://x@host/r.git",
            (("refs/heads/main", "abc", "refs/heads/main", "000"),),
        ),
        "2026-11-25T09:46:42.000Z",
        id="push",
    ),
    pytest.param(
        b"v1\tcommand\t1795600000.250000\t/r\t0\t1500\t/r/sub\t1 0\tbash\tfalse | true\n",
        CommandRecord(
            "false | true", 0, duration_ms=1500, cwd="/r/sub", pipestatus=(1, 0), shell="bash"
        ),
        "2026-11-25T09:46:40.250Z",
        id="bash",
    ),
    pytest.param(
        b"v1\tcommand\t1795600000,25\t/r\t-1\t7\t/r\t130\tzsh\techo a\\\\b\\nc\n",
        CommandRecord("echo a\\b\nc", -1, duration_ms=7, cwd="/r", pipestatus=(130,), shell="zsh"),
        "2026-11-25T09:46:40.250Z",
        id="zsh-comma-and-escapes",
    ),
    pytest.param(
        b"v1\tcommand\t@1795600001.75\t/r\t0\t1500\t/r\t0\tfish\tmake\n",
        CommandRecord("make", 0, duration_ms=1500, cwd="/r", pipestatus=(0,), shell="fish"),
        "2026-11-25T09:46:40.250Z",
        id="fish-end-time",
    ),
    pytest.param(  # fewer fields than today's: the missing ones read as empty, here the text
        b"v1\tcommand\t1795600000.250000\t/r\t2\n",
        None,
        "2026-11-25T09:46:40.250Z",
        id="command-cut-short-has-no-record",
    ),
    pytest.param(
        b"v1\tcheckout\t\t/r\t" + b"b" * 40 + b"\trefs/heads/feature\n",
        CheckoutRecord("b" * 40, "refs/heads/feature", "", False),
        "2026-11-25T09:46:42.000Z",
        id="checkout-cut-short",
    ),
    pytest.param(
        b'v1\tevent\t2026-11-25T09:46:40.250Z\t/r\tannotation\t{"text": "caf\\u00e9 \\udcff"}\n',
        HandoffRecord("annotation", {"text": "caf\u00e9 \udcff"}),
        "2026-11-25T09:46:40.250Z",
        id="hand-off-with-iso-time",
    ),
]


@pytest.mark.parametrize(("raw", "record", "ts"), PREVIOUS)
def test_lines_written_by_earlier_versions_are_still_read(
    raw: bytes, record: SpoolRecord | None, ts: str
) -> None:
    line = parse_line(raw, written_ns=1_795_600_002_000_000_000)
    assert line is not None and line.repo_path == "/r"
    assert line.record == record
    assert line.ts == ts


def test_a_line_of_no_kind_ours_write_reads_without_a_record() -> None:
    line = parse_line(b"v1\tsomething-new\t\t/r\tx\n", written_ns=1)
    assert line is not None and line.kind == "something-new" and line.record is None
    assert parse_line(b"v2\tcommit\t\t/r\tabc\trefs/heads/main\n") is None

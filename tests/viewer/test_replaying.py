"""The scrubber: one file's chain gives what a replay of every event gives, and each file the
trace cannot show says why."""

from __future__ import annotations

import random
from typing import Any

import pytest

from prtrace_core.replay import Replayer, effective_events
from prtrace_viewer.replaying import FileCache, chain, file_at, files_at
from tests.viewer import MemoryRepo, edit_payload, event

BASE = "b" * 40


def _generated(seed: int, steps: int = 160) -> tuple[list[dict[str, Any]], MemoryRepo]:
    """A session of creates, modifies, deletes, renames (with and without changes) and
    re-creations of deleted paths, among commands and tests, from a base commit."""
    rng = random.Random(seed)
    base = {f"src/m{i}.py": "".join(f"line {i}.{n}\n" for n in range(6)).encode() for i in range(4)}
    repo = MemoryRepo()
    repo.commit(BASE, base)
    files = dict(base)
    gone: list[str] = []
    events = [event(1, "start", {"head_sha": BASE, "branch": "main", "dirty": []})]
    fresh = 0
    for seq in range(2, steps + 2):
        roll = rng.random()
        if roll < 0.15:
            events.append(event(seq, "command", {"command": "make", "exit_code": rng.choice([0, 1])}))
            continue
        if roll < 0.25 or not files:
            if gone and rng.random() < 0.5:
                path = gone.pop(rng.randrange(len(gone)))  # a deleted path made again
            else:
                fresh += 1
                path = f"pkg/new{fresh}.py"
            content = f"# {path} at {seq}\nvalue = {seq}\n".encode()
            events.append(event(seq, "edit", edit_payload(path, None, content)))
            files[path] = content
            continue
        path = rng.choice(sorted(files))
        before = files[path]
        if roll < 0.35:
            events.append(event(seq, "edit", edit_payload(path, before, None)))
            del files[path]
            gone.append(path)
        elif roll < 0.5:
            fresh += 1
            target = gone.pop() if gone and rng.random() < 0.3 else f"moved/r{fresh}.py"
            after = before + f"# moved at {seq}\n".encode() if rng.random() < 0.5 else before
            events.append(event(seq, "edit", edit_payload(target, before, after, op="rename", old_file=path)))
            del files[path]
            files[target] = after
            if path not in gone:
                gone.append(path)
        else:
            lines = before.decode().splitlines(keepends=True)
            at = rng.randrange(len(lines) + 1)
            lines.insert(at, f"edit {seq}\n")
            if lines and rng.random() < 0.3:
                lines.pop(rng.randrange(len(lines)))
            after = "".join(lines).encode()
            events.append(event(seq, "edit", edit_payload(path, before, after)))
            files[path] = after
    return events, repo


def _full(events: list[dict[str, Any]], seq: int, sources: Any) -> Replayer:
    replayer = Replayer(sources=sources)
    for one in effective_events(events):
        if one["seq"] <= seq:
            replayer.apply(one)
    return replayer


@pytest.mark.parametrize("seed", [1, 2, 3])
@pytest.mark.parametrize("with_repo", [True, False])
def test_one_file_chain_gives_what_a_full_replay_gives(seed: int, with_repo: bool) -> None:
    events, repo = _generated(seed)
    sources = repo if with_repo else None
    renames = sum(1 for e in events if e["payload"].get("op") == "rename")
    deletes = sum(1 for e in events if e["payload"].get("op") == "delete")
    assert renames >= 5 and deletes >= 5  # the session exercises what the chain must follow
    paths = {e["payload"]["file"] for e in events if e["type"] == "edit"} | {"src/m0.py", "nowhere.py"}
    for seq in (1, 10, 41, 80, 123, len(events)):
        full = _full(events, seq, sources)
        listed = files_at(events, seq, sources)
        assert [f.path for f in listed] == sorted(full.files)
        for path in sorted(paths):
            expected = full.content(path)
            got = file_at(events, seq, path, sources)
            assert got.seq == seq and got.path == path
            if expected is None:
                assert got.text is None and got.reason, (seq, path)
            else:
                assert got.text == expected.decode(), (seq, path)
                assert got.reason is None


def test_without_a_repository_the_base_files_are_unknown_but_created_ones_replay() -> None:
    events, _ = _generated(4)
    created = next(e for e in events if e["type"] == "edit" and e["payload"]["op"] == "create")
    path, seq = created["payload"]["file"], created["seq"]
    shown = file_at(events, seq, path, None)
    assert shown.text is not None and shown.text.startswith(f"# {path}")


def test_the_chain_holds_only_the_file_s_own_history() -> None:
    a1, a2 = b"a\n", b"a\nb\n"
    events = [
        event(1, "start", {"head_sha": None, "branch": "main", "dirty": []}),
        event(2, "edit", edit_payload("old.py", None, a1)),
        event(3, "edit", edit_payload("other.py", None, b"x\n")),
        event(4, "edit", edit_payload("new.py", a1, a2, op="rename", old_file="old.py")),
        event(5, "edit", edit_payload("other.py", b"x\n", b"y\n")),
        event(6, "command", {"command": "ls", "exit_code": 0}),
        event(7, "commit", {"sha": "c" * 40, "message": "m", "files_changed": 1, "files": ["other.py"]}),
    ]
    kept = [e["seq"] for e in chain(events, "new.py")]
    assert kept == [1, 2, 4]
    assert file_at(events, 7, "new.py", None).text == "a\nb\n"
    assert file_at(events, 3, "new.py", None).reason is not None  # not yet there


def test_a_trace_without_a_start_event() -> None:
    content = b"print('hi')\n"
    events = [
        event(3, "edit", edit_payload("made.py", None, content)),
        event(4, "edit", edit_payload("made.py", content, content + b"print(2)\n")),
    ]
    shown = file_at(events, 4, "made.py", None)
    assert shown.text == "print('hi')\nprint(2)\n"
    assert [(f.path, f.status, f.changed_at, f.changed_here) for f in files_at(events, 4, None)] == [
        ("made.py", "known", 4, True)
    ]
    assert file_at(events, 3, "made.py", None).text == "print('hi')\n"


def test_a_file_first_seen_by_a_modify_has_no_content_without_a_repository() -> None:
    before, after = b"one\ntwo\n", b"one\n2\n"
    events = [
        event(1, "start", {"head_sha": "d" * 40, "branch": "main", "dirty": []}),
        event(2, "edit", edit_payload("lib.py", before, after)),
    ]
    shown = file_at(events, 2, "lib.py", None)
    assert shown.text is None and not shown.binary
    assert shown.reason is not None and "content before the trace is not known here" in shown.reason
    assert [(f.path, f.status) for f in files_at(events, 2, None)] == [("lib.py", "known")]
    # With the repository, the base version comes from git and the diff applies to it.
    repo = MemoryRepo()
    repo.commit("d" * 40, {"lib.py": before})
    assert file_at(events, 2, "lib.py", repo).text == "one\n2\n"


def test_a_withheld_file_is_listed_but_not_shown_until_a_commit_names_its_blob() -> None:
    secret = b"TOKEN=abc\n"
    repo = MemoryRepo()
    repo.commit("e" * 40, {".env": secret})
    events = [
        event(1, "start", {"head_sha": None, "branch": "main", "dirty": []}),
        event(2, "edit", {"file": ".env", "op": "create", "withheld": True, "change_summary": "+0/-0"}),
        event(3, "commit", {"sha": "e" * 40, "message": "add env", "files_changed": 1, "files": [".env"]}),
    ]
    listed = files_at(events, 2, None)
    assert [(f.path, f.status, f.changed_here) for f in listed] == [(".env", "withheld", True)]
    shown = file_at(events, 2, ".env", None)
    assert shown.text is None and shown.reason is not None and "withheld" in shown.reason
    assert file_at(events, 3, ".env", None).text is None  # nobody can say which blob it is
    assert file_at(events, 3, ".env", repo).text == "TOKEN=abc\n"
    assert [(f.status, f.changed_at) for f in files_at(events, 3, repo)] == [("known", 3)]


def test_a_binary_file_is_marked_binary_and_never_shown_as_text() -> None:
    png = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR"
    events = [
        event(1, "start", {"head_sha": None, "branch": "main", "dirty": []}),
        event(2, "edit", edit_payload("logo.png", None, png)),
    ]
    without = file_at(events, 2, "logo.png", None)
    assert without.binary and without.text is None and without.reason
    repo = MemoryRepo()
    repo.add_blob(png)
    held = file_at(events, 2, "logo.png", repo)
    assert held.binary and held.text is None and held.reason is not None and "binary" in held.reason


def test_a_file_changed_while_paused_is_unknown() -> None:
    events = [
        event(1, "start", {"head_sha": None, "branch": "main", "dirty": []}),
        event(2, "edit", edit_payload("a.py", None, b"a\n")),
        event(3, "resume", {"changed_while_paused": ["a.py"]}),
    ]
    assert [(f.path, f.status, f.changed_here) for f in files_at(events, 3, None)] == [("a.py", "unknown", True)]
    shown = file_at(events, 3, "a.py", None)
    assert shown.text is None and shown.reason is not None and "paused" in shown.reason


def test_a_repository_without_the_base_commit_replays_as_if_there_were_none() -> None:
    events = [
        event(1, "start", {"head_sha": "f" * 40, "branch": "main", "dirty": []}),
        event(2, "edit", edit_payload("a.py", None, b"a\n")),
    ]
    repo = MemoryRepo()  # knows no commit
    assert file_at(events, 2, "a.py", repo).text == "a\n"
    assert [f.path for f in files_at(events, 2, repo)] == ["a.py"]


def test_sources_without_the_base_commit_still_lend_their_blobs() -> None:
    # `prtrace view` away from the repository: the blob cache holds the version capture kept
    before, after = b"one\ntwo\n", b"one\n2\n"
    events = [
        event(1, "start", {"head_sha": "d" * 40, "branch": "main", "dirty": []}),
        event(2, "edit", edit_payload("lib.py", before, after)),
    ]
    cache_only = MemoryRepo()  # no commit at all
    cache_only.add_blob(before)
    assert file_at(events, 2, "lib.py", cache_only).text == "one\n2\n"
    assert FileCache().file_at(events, 2, "lib.py", cache_only).text == "one\n2\n"
    assert file_at(events, 2, "lib.py", MemoryRepo()).text is None  # a blob nobody kept


def test_an_event_sent_again_at_the_same_seq_replaces_the_first() -> None:
    first = event(2, "edit", edit_payload("a.py", None, b"first\n"))
    again = {**event(2, "edit", edit_payload("a.py", None, b"second\n")), "server_seq": 9}
    events = [event(1, "start", {"head_sha": None, "branch": "main", "dirty": []}), {**first, "server_seq": 1}, again]
    assert file_at(events, 2, "a.py", None).text == "second\n"


def _same(got: Any, want: Any) -> None:
    assert (got.path, got.seq, got.text, got.binary, got.reason) == (want.path, want.seq, want.text, want.binary,
                                                                      want.reason)


@pytest.mark.parametrize("seed", [1, 2, 5])
@pytest.mark.parametrize("with_repo", [True, False])
def test_the_cache_answers_what_a_replay_from_the_start_answers(seed: int, with_repo: bool) -> None:
    events, repo = _generated(seed, steps=200)
    sources = repo if with_repo else None
    cache = FileCache(size=100, every=8)  # many checkpoints, renames across them
    paths = sorted({e["payload"]["file"] for e in events if e["type"] == "edit"} | {"src/m0.py", "nowhere.py"})
    seqs = list(range(1, len(events) + 1))
    random.Random(seed).shuffle(seqs)  # later and earlier, on and off checkpoints
    for seq in [*seqs[:24], 1, 8, 9, 16, 17, len(events)]:
        for path in paths:
            _same(cache.file_at(events, seq, path, sources), file_at(events, seq, path, sources))


def _one_file_edited(times: int) -> list[dict[str, Any]]:
    events = [event(1, "start", {"head_sha": None, "branch": "main", "dirty": []})]
    content = b""
    for n in range(times):
        after = content + f"line {n}\n".encode()
        events.append(event(n + 2, "edit", edit_payload("busy.py", content if n else None, after)))
        events.append(event(None, "ci", {"name": "ci", "conclusion": "success"}))  # no seq: never applied
        content = after
    return events


def test_a_later_request_replays_from_the_nearest_checkpoint() -> None:
    events = _one_file_edited(1000)
    cache = FileCache()
    first = cache.file_at(events, 900, "busy.py", None)
    assert first.text is not None and first.text.endswith("line 898\n")
    assert cache.applied == 900
    before = cache.applied
    later = cache.file_at(events, 1001, "busy.py", None)
    assert later.text is not None and later.text.count("\n") == 1000
    assert cache.applied - before == 1001 - 768  # from the checkpoint after 768 events
    before = cache.applied
    cache.file_at(events, 700, "busy.py", None)
    assert cache.applied - before == 700 - 512
    before = cache.applied
    cache.file_at(events, 512, "busy.py", None)
    assert cache.applied == before  # exactly on a checkpoint


def test_the_cache_keeps_a_few_traces_and_never_mixes_them() -> None:
    cache = FileCache(size=2, every=4)
    traces = [_one_file_edited(n) for n in (10, 11, 12)]
    for events in traces + traces:
        shown = cache.file_at(events, len(events), "busy.py", None)
        assert shown.text is not None and shown.text.count("\n") == (len(events) - 1) // 2
    # an equal trace that is another object is another entry
    copy = [dict(e) for e in traces[0]]
    before = cache.applied
    cache.file_at(copy, 5, "busy.py", None)
    assert cache.applied - before == 5


def test_a_start_from_a_commit_the_repository_lacks_drops_it_for_the_whole_replay() -> None:
    repo = MemoryRepo()
    repo.commit(BASE, {"a.py": b"base\n"})
    events = [event(1, "start", {"head_sha": BASE, "branch": "main", "dirty": []})]
    events += [event(n, "edit", edit_payload("a.py", b"base\n" if n == 2 else b"x\n" * (n - 2),
                                             b"x\n" * (n - 1))) for n in range(2, 12)]
    events.append(event(12, "start", {"head_sha": "9" * 40, "branch": "other", "dirty": []}))
    events += [event(n, "edit", edit_payload("a.py", b"x\n" * (n - 3), b"x\n" * (n - 2))) for n in range(13, 20)]
    cache = FileCache(every=3)
    for seq in (5, 11, 19, 4, 12, 13, 2, 18):
        _same(cache.file_at(events, seq, "a.py", repo), file_at(events, seq, "a.py", repo))

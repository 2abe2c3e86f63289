"""Files never captured (secrets by name, and .prtraceignore) and secrets never kept: a withheld
file's edits say only that it changed, and no byte of a secret is anywhere under PRTRACE_HOME."""

from __future__ import annotations

import contextlib
import os
import time
import zlib
from pathlib import Path
from typing import Any

import pytest

from prtrace_core.gitblob import blob_sha
from prtrace_core.verify import verify_trace
from prtrace_daemon.blobs import BlobCache
from prtrace_daemon.gitobjects import GitSources
from prtrace_daemon.gitrepo import GitRepo
from prtrace_daemon.recorder import Recorder
from prtrace_daemon.withheld import DEFAULT_WITHHELD, Withheld, is_digest
from prtrace_daemon.worktree import NotReplayable, replay, write_tree
from tests.conftest import git
from tests.daemon.conftest import started
from tests.daemon.test_replay import Session

GITHUB_TOKEN = "ghp_x7Kq9LmP2vR4tY8wB3nJ6hF1dS5aZ0cE9gU2"
PASSWORD = "hunter2hunter2"
SECRETS = (GITHUB_TOKEN.encode(), PASSWORD.encode())

# One file name for each default pattern.
DEFAULT_NAMES = (
    ".env",
    ".env.production",
    "server.pem",
    "tls.key",
    "id_rsa",
    "id_rsa.pub",
    "client.p12",
    "release.keystore",
    "secrets/db.txt",
    ".npmrc",
    ".pypirc",
    ".netrc",
    ".git-credentials",
    "gcp-credentials.json",
)
CONTENT_KEYS = ("diff", "diff_snippet", "before_sha", "after_sha", "binary", "diff_omitted")


def _edits(rec: Recorder, repo: GitRepo) -> list[dict[str, Any]]:
    trace = rec.buffer.trace_for(str(repo.root), repo.head()[1])
    assert trace is not None
    return [e["payload"] for e in rec.buffer.events(trace.trace_id) if e["type"] == "edit"]


def _events(rec: Recorder, repo: GitRepo) -> list[dict[str, Any]]:
    trace = rec.buffer.trace_for(str(repo.root), repo.head()[1])
    assert trace is not None
    return rec.buffer.events(trace.trace_id)


def _assert_withheld(payload: dict[str, Any]) -> None:
    assert payload["withheld"] is True, payload
    assert payload["change_summary"] == "+0/-0"
    assert not set(CONTENT_KEYS) & set(payload), payload


def _write(root: Path, rel: str, content: str) -> Path:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(content)
    return path


def _home_bytes(home: Path) -> list[tuple[Path, bytes]]:
    """Every file under PRTRACE_HOME, as stored, and the blob cache's entries also unpacked."""
    found = []
    for path in sorted(home.rglob("*")):
        if not path.is_file():
            continue
        data = path.read_bytes()
        found.append((path, data))
        with contextlib.suppress(zlib.error):
            found.append((path, zlib.decompress(data)))
    return found


def _assert_no_secret_under(home: Path, secrets: tuple[bytes, ...] = SECRETS) -> None:
    files = _home_bytes(home)
    assert any(path.name == "buffer.db-wal" for path, _ in files)  # the WAL is read too
    for path, data in files:
        for secret in secrets:
            assert secret not in data, f"{secret!r} is in {path.relative_to(home)}"


# which files


@pytest.mark.parametrize("name", DEFAULT_NAMES)
@pytest.mark.parametrize("folder", ["", "deploy/conf/"])
def test_each_default_pattern_is_withheld_at_any_depth(name: str, folder: str) -> None:
    assert f"{folder}{name}" in Withheld(key=b"k")


@pytest.mark.parametrize(
    "path", ["env.py", "src/environment.ts", "keys.py", "public.pem.md", "credentials.yaml", "mysecrets/x", "secrets"]
)
def test_ordinary_files_are_not_withheld(path: str) -> None:
    assert path not in Withheld(key=b"k")


def test_prtraceignore_patterns_add_to_the_defaults_and_can_bring_one_back() -> None:
    withheld = Withheld(
        ["# local notes", "", "private/", "/build/signing.*", "*.s[e]cret", "**/vault/**", "!.env.example"], key=b"k"
    )
    for path in ("private/a.txt", "x/private/b", "build/signing.cfg", "a/b.secret", "a/vault/b/c", ".env"):
        assert path in withheld, path
    for path in ("x/build/signing.cfg", "a/b.txt", ".env.example", "sub/.env.example", "vaulted/x"):
        assert path not in withheld, path


def test_a_pattern_with_nothing_literal_in_it_still_matches() -> None:
    """`*` has no literal run for the quick test to look for: every path is asked in full."""
    withheld = Withheld(["*", "!*.py"], key=b"k")
    assert "notes.txt" in withheld and "a/b.md" in withheld and "app.py" not in withheld


def test_the_digest_is_keyed_and_is_no_blob_id() -> None:
    content = f"TOKEN={GITHUB_TOKEN}\n".encode()
    one, other = Withheld(key=b"1" * 32).digest(content), Withheld(key=b"2" * 32).digest(content)
    assert is_digest(one) and one != other and blob_sha(content) not in one
    assert len(DEFAULT_WITHHELD) == 12


# what is recorded


def test_every_default_pattern_makes_a_withheld_edit_top_level_and_nested(rec: Recorder, repo: Path) -> None:
    r = started(rec, repo)
    paths = [f"{folder}{name}" for folder in ("", "deploy/conf/") for name in DEFAULT_NAMES]
    for path in paths:
        _write(repo, path, f"TOKEN={GITHUB_TOKEN}\n")
    rec.record(r)
    edits = {e["file"]: e for e in _edits(rec, r)}
    assert sorted(edits) == sorted(paths)
    for payload in edits.values():
        _assert_withheld(payload)
        assert payload["op"] == "create" and payload["mode"] == "100644"
    assert not any(BlobCache(rec.home.blobs).root.rglob("*")), "a withheld file's content entered the cache"
    _assert_no_secret_under(rec.home.root)


def test_prtraceignore_files_are_withheld_not_dropped(rec: Recorder, repo: Path) -> None:
    _write(repo, ".prtraceignore", "private/\n*.local.yml\n!.env.example\n")
    r = started(rec, repo)
    _write(repo, "private/notes.txt", f"password = \"{PASSWORD}\"\n")
    _write(repo, "config/app.local.yml", "db: x\n")
    _write(repo, ".env.example", "API_URL=https://example.com\n")
    rec.record(r)
    edits = {e["file"]: e for e in _edits(rec, r)}
    _assert_withheld(edits["private/notes.txt"])
    _assert_withheld(edits["config/app.local.yml"])
    assert "withheld" not in edits[".env.example"] and "+API_URL=https://example.com" in edits[".env.example"]["diff"]


def test_a_withheld_file_is_recorded_by_its_changes_only(rec: Recorder, repo: Path) -> None:
    r = started(rec, repo)
    env = _write(repo, ".env", f"TOKEN={GITHUB_TOKEN}\n")
    assert rec.record(r).edits == 1
    snap = rec.buffer.snapshots(str(repo))[".env"]
    assert is_digest(snap.blob_sha) and blob_sha(env.read_bytes()) not in snap.blob_sha
    os.utime(env)  # touched, same content
    assert rec.record(r).edits == 0
    env.write_text(f"TOKEN={GITHUB_TOKEN}\nPASSWORD={PASSWORD}\n")
    assert rec.record(r).edits == 1
    env.chmod(0o755)
    assert rec.record(r).edits == 1
    env.rename(repo / ".env.old")
    assert rec.record(r).edits == 1
    (repo / ".env.old").unlink()
    assert rec.record(r).edits == 1
    edits = _edits(rec, r)
    assert [(e["op"], e["file"], e.get("old_file"), e.get("mode")) for e in edits] == [
        ("create", ".env", None, "100644"),
        ("modify", ".env", None, "100644"),
        ("modify", ".env", None, "100755"),
        ("rename", ".env.old", ".env", "100755"),
        ("delete", ".env.old", None, None),
    ]
    for payload in edits:
        _assert_withheld(payload)
    assert rec.buffer.snapshots(str(repo)).keys() == {".gitignore", "calc.py"}
    _assert_no_secret_under(rec.home.root)


def test_a_racy_withheld_file_is_hashed_not_reported_again(rec: Recorder, repo: Path) -> None:
    r = started(rec, repo)
    _write(repo, "id_rsa", "-----BEGIN OPENSSH PRIVATE KEY-----\nabc\n")
    rec.record(r)
    assert rec.buffer.snapshots(str(repo))["id_rsa"].racy  # modified this second: hashed next time
    assert rec.record(r).edits == 0


def test_the_start_event_withholds_dirty_secret_files(rec: Recorder, repo: Path) -> None:
    _write(repo, "deploy/.npmrc", "//registry.npmjs.org/:_authToken=abc\n")
    git(repo, "add", ".")
    git(repo, "commit", "-qm", "npmrc")
    _write(repo, "deploy/.npmrc", f"//registry.npmjs.org/:_authToken={GITHUB_TOKEN}\n")
    _write(repo, ".env", f"PASSWORD={PASSWORD}\n")
    r = started(rec, repo)
    dirty = {d["file"]: d for d in _events(rec, r)[0]["payload"]["dirty"]}
    assert sorted(dirty) == [".env", "deploy/.npmrc"]
    _assert_withheld(dirty[".env"])
    _assert_withheld(dirty["deploy/.npmrc"])
    assert dirty[".env"]["op"] == "create" and dirty["deploy/.npmrc"]["op"] == "modify"
    assert rec.record(r).edits == 0  # the snapshot holds them as they are
    _assert_no_secret_under(rec.home.root)


def test_a_committed_secret_file_is_withheld_and_not_recorded_twice(rec: Recorder, repo: Path) -> None:
    r = started(rec, repo)
    _write(repo, "certs/server.pem", f"{GITHUB_TOKEN}\n")
    git(repo, "add", ".")
    git(repo, "commit", "-qm", "add a cert")  # drained before any scan saw the file
    rec.record(r, "annotation", {"text": "after"})
    events = _events(rec, r)
    assert [e["type"] for e in events[1:]] == ["edit", "commit", "annotation"]
    _assert_withheld(events[1]["payload"])
    assert events[2]["payload"]["files"] == ["certs/server.pem"]
    assert is_digest(rec.buffer.snapshots(str(repo))["certs/server.pem"].blob_sha)
    _assert_no_secret_under(rec.home.root)


def test_generated_folders_stay_out_altogether(rec: Recorder, repo: Path) -> None:
    r = started(rec, repo)
    _write(repo, "node_modules/pkg/.env", f"TOKEN={GITHUB_TOKEN}\n")
    _write(repo, ".venv/.env", f"TOKEN={GITHUB_TOKEN}\n")
    assert rec.record(r).edits == 0


def test_a_file_named_in_prtraceignore_later_is_withheld_from_then_on(rec: Recorder, repo: Path) -> None:
    r = started(rec, repo)
    notes = _write(repo, "notes.txt", "first\n")
    rec.record(r)
    _write(repo, ".prtraceignore", "notes.txt\n")
    rec.record(r)
    assert rec.record(r).edits == 0  # the rule alone is no change of the file
    notes.write_text("second, private\n")
    rec.record(r)
    last = _edits(rec, r)[-1]
    assert last["file"] == "notes.txt"
    _assert_withheld(last)


def test_a_file_no_longer_withheld_is_captured_again_and_verifies(rec: Recorder, repo: Path) -> None:
    _write(repo, ".prtraceignore", "draft.md\n")
    git(repo, "checkout", "-q", "-b", "feature")
    s = Session(rec, repo)
    s.write("draft.md", "hidden draft\n")
    s.checkpoint("withheld")
    s.write(".prtraceignore", "")
    s.checkpoint("rule removed")
    s.write("draft.md", "hidden draft\nand more\n")
    seq = s.checkpoint("edited")
    edits = [e for e in _edits(rec, s.repo) if e["file"] == "draft.md"]
    assert [("withheld" in e, e["op"]) for e in edits] == [(True, "create"), (False, "modify"), (False, "modify")]
    assert edits[1]["before_sha"] is None and "+hidden draft" in edits[1]["diff"]
    assert edits[2]["before_sha"] == edits[1]["after_sha"]
    trace = s.trace()
    with GitSources(s.repo, BlobCache(rec.home.blobs)) as sources:
        report = verify_trace(trace, sources=sources)
        assert report.ok, [f.message for f in report.faults]
        replayer, _ = replay(trace, sources, seq)
        write_tree(replayer, s.root.parent / "replayed")
    assert (s.root.parent / "replayed" / "draft.md").read_text() == "hidden draft\nand more\n"


# no byte of a secret under PRTRACE_HOME


def test_a_secret_in_a_normal_file_is_in_no_byte_under_prtrace_home(rec: Recorder, repo: Path) -> None:
    r = started(rec, repo)
    settings = repo / "settings.py"
    lines = [f'GITHUB_TOKEN = "{GITHUB_TOKEN}"\n', *(f"OPTION_{i} = {i}\n" for i in range(8)), "DEBUG = False\n"]
    settings.write_text("".join(lines))
    rec.record(r)  # create
    _assert_no_secret_under(rec.home.root)
    settings.write_text("".join(lines).replace("DEBUG = False", "DEBUG = True") + f'DB_PASSWORD = "{PASSWORD}"\n')
    rec.record(r)  # modify: the token's line is unchanged, a password comes in
    _assert_no_secret_under(rec.home.root)
    created, modified = _edits(rec, r)
    assert created["diff_redacted"] is True and "[REDACTED:" in created["diff"]
    assert modified["diff_redacted"] is True and modified["change_summary"] == "+2/-1"
    assert "GITHUB_TOKEN" not in modified["diff"]  # an unchanged line's secret makes no change
    cached = BlobCache(rec.home.blobs).get(modified["after_sha"])
    assert cached is not None and b"DEBUG = True" in cached
    git(repo, "add", "settings.py")
    git(repo, "commit", "-qm", "settings")  # the commit's edits are drawn from git's own blobs
    settings.unlink()
    rec.record(r)  # delete
    assert _edits(rec, r)[-1]["op"] == "delete"
    _assert_no_secret_under(rec.home.root)


def test_a_secret_committed_before_any_scan_is_in_no_byte_under_prtrace_home(rec: Recorder, repo: Path) -> None:
    """The drain records the commit's edits from git's blobs: they are redacted on the way too."""
    r = started(rec, repo)
    (repo / "calc.py").write_text(f'def add(a, b):\n    return a + b\n\nTOKEN = "{GITHUB_TOKEN}"\n')
    git(repo, "commit", "-qam", "token")
    (repo / "calc.py").write_text(f'def add(a, b):\n    return a + b\n\nTOKEN = "{GITHUB_TOKEN}"\nx = 1\n')
    rec.record(r, "annotation", {"text": "after"})
    kinds = [(e["type"], e["payload"].get("diff_redacted")) for e in _events(rec, r)[1:]]
    assert kinds == [("edit", True), ("commit", None), ("edit", True), ("annotation", None)]
    _assert_no_secret_under(rec.home.root)


# replay and verify


def test_replay_and_verify_of_withheld_and_redacted_files(rec: Recorder, repo: Path, tmp_path: Path) -> None:
    git(repo, "checkout", "-q", "-b", "feature")
    s = Session(rec, repo)
    s.write(".env", f"TOKEN={GITHUB_TOKEN}\n")
    s.write("settings.py", f'PASSWORD = "{PASSWORD}"\n')  # committed below
    s.write("local.py", f'PASSWORD = "{PASSWORD}"\nLOCAL = True\n')  # never committed
    s.write("app.py", "print('hi')\n")
    before_commit = s.checkpoint("a secret file, secrets in files, a plain file")
    s.git("add", ".env", "settings.py", "app.py")
    s.git("commit", "-qm", "all but local.py")
    committed = s.checkpoint("committed")
    s.write(".env", f"TOKEN={GITHUB_TOKEN}\nMORE=1\n")
    changed_again = s.checkpoint("the secret file changed again")
    trace = s.trace()
    assert GITHUB_TOKEN not in str(trace) and PASSWORD not in str(trace)

    with GitSources(s.repo, BlobCache(rec.home.blobs)) as sources:
        report = verify_trace(trace, sources=sources)
        assert report.ok, [f.message for f in report.faults]
        assert not [f for f in report.findings if f.check in ("file_chain", "diff_apply")]
        assert any("withheld" in note for note in report.notes)

        # Before the commit: the withheld file has no blob id to look for, and the redacted
        # file git never got is lost; settings.py's blob git has (the commit holds it).
        replayer, _ = replay(trace, sources, before_commit)
        with pytest.raises(NotReplayable, match=r"\.env \(seq \d+\), local\.py .*1 of them withheld.*redacted"):
            write_tree(replayer, tmp_path / "refused")
        written = write_tree(replayer, tmp_path / "partial", partial=True)
        assert set(written.skipped) == {".env", "local.py"}
        assert (tmp_path / "partial" / "app.py").read_text() == "print('hi')\n"
        assert (tmp_path / "partial" / "settings.py").read_text() == f'PASSWORD = "{PASSWORD}"\n'
        assert not (tmp_path / "partial" / ".env").exists()

        # Right after the commit that holds it, git's blob rebuilds the withheld file.
        replayer, _ = replay(trace, sources, committed)
        written = write_tree(replayer, tmp_path / "at-commit", partial=True)
        assert set(written.skipped) == {"local.py"}
        assert (tmp_path / "at-commit" / ".env").read_text() == f"TOKEN={GITHUB_TOKEN}\n"

        # Changed after the commit: withheld again, and not replayable.
        replayer, _ = replay(trace, sources, changed_again)
        with pytest.raises(NotReplayable, match=r"\.env \(seq \d+\), local\.py"):
            write_tree(replayer, tmp_path / "after")
        assert set(write_tree(replayer, tmp_path / "after", partial=True).skipped) == {".env", "local.py"}
    alone = verify_trace(trace)
    assert alone.ok, [f.message for f in alone.faults]


def test_verify_does_not_take_a_withheld_edit_for_a_broken_chain(rec: Recorder, repo: Path) -> None:
    (repo / ".env").write_text("A=1\n")
    git(repo, "add", ".")
    git(repo, "commit", "-qm", "env")
    git(repo, "checkout", "-q", "-b", "feature")
    s = Session(rec, repo)
    time.sleep(0.01)
    s.write(".env", "A=2\n")
    s.checkpoint("changed")
    (repo / ".env").unlink()
    s.checkpoint("deleted")
    trace = s.trace()
    with GitSources(s.repo, None) as sources:
        report = verify_trace(trace, sources=sources)
    assert report.ok and not report.findings, [f.message for f in report.findings]


@pytest.mark.parametrize(("pattern", "path"), [("**/token.txt", "token.txt"), ("**/token.txt", "a/b/token.txt"),
                                               ("**/private/", "private/x.txt"), ("/local.yml", "local.yml")])
def test_a_prtraceignore_pattern_anchored_or_any_depth_matches_at_the_top(pattern: str, path: str) -> None:
    assert path in Withheld([pattern], key=b"k")

"""Replay of real sessions: at every commit the rebuilt tree is `git archive` of that commit,
byte for byte and mode for mode, and at the moments in between it is the work tree as the
test saw it then."""

from __future__ import annotations

import io
import os
import shutil
import stat
import subprocess
import tarfile
from pathlib import Path
from typing import Any

import pytest

from prtrace_core.replay import BaseCommitMissing
from prtrace_core.verify import verify_trace
from prtrace_daemon.blobs import BlobCache
from prtrace_daemon.envelope import local_trace
from prtrace_daemon.gitobjects import GitSources
from prtrace_daemon.gitrepo import GitRepo
from prtrace_daemon.recorder import Recorder
from prtrace_daemon.worktree import NotReplayable, ReplayTargetError, replay, write_tree
from tests.conftest import git
from tests.daemon.conftest import started

Tree = dict[str, tuple[bytes, bool]]  # path -> (content or symlink target, executable)

GITHUB_TOKEN = "ghp_x7Kq9LmP2vR4tY8wB3nJ6hF1dS5aZ0cE9gU2"
PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x02\x00\x00\x00\x90wS\xde"


def _walk(root: Path) -> Tree:
    files: Tree = {}
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root).as_posix()
        if rel.split("/")[0] == ".git" or (path.is_dir() and not path.is_symlink()):
            continue
        if path.is_symlink():
            files[rel] = (os.readlink(path).encode(), False)
        else:
            files[rel] = (path.read_bytes(), bool(path.stat().st_mode & stat.S_IXUSR))
    return files


def work_tree(repo: Path) -> Tree:
    """What capture sees of the work tree: git's files, tracked or not, less the ignored."""
    listed = git(repo, "ls-files", "-co", "--exclude-standard", "-z").split("\0")
    files: Tree = {}
    for rel in filter(None, listed):
        path = repo / rel
        if path.is_file():
            files[rel] = (path.read_bytes(), bool(path.stat().st_mode & stat.S_IXUSR))
    return files


def archive(repo: Path, sha: str, dest: Path) -> Tree:
    data = subprocess.run(["git", "archive", "--format=tar", sha], cwd=repo, check=True, capture_output=True).stdout
    dest.mkdir()
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        tar.extractall(dest, filter="tar")
    return _walk(dest)


class Session:
    """A developer at work: each step saves what the tree looked like after its seq."""

    def __init__(self, rec: Recorder, root: Path) -> None:
        self.rec, self.root = rec, root
        self.repo: GitRepo = started(rec, root)
        self.seen: dict[int, Tree] = {}

    def write(self, rel: str, content: str | bytes, *, executable: bool = False) -> None:
        path = self.root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content.encode() if isinstance(content, str) else content)
        path.chmod(0o755 if executable else 0o644)

    def checkpoint(self, text: str) -> int:
        recorded = self.rec.record(self.repo, "annotation", {"text": text})
        assert recorded.seq is not None
        self.seen[recorded.seq] = work_tree(self.root)
        return recorded.seq

    def git(self, *args: str) -> str:
        return git(self.root, *args)

    def trace(self, branch: str = "feature") -> dict[str, Any]:
        self.rec.drain()
        row = self.rec.buffer.trace_for(str(self.repo.root), branch)
        assert row is not None
        return local_trace(self.rec.buffer, row)


def _session(rec: Recorder, root: Path) -> Session:
    """Several files, a rename, a delete, a binary file, a redacted secret, an executable
    script, two commits, an amend and a rebase."""
    git(root, "checkout", "-q", "-b", "feature")
    s = Session(rec, root)
    s.write("src/app.py", "import os\n\n\ndef main():\n    print('hello')\n")
    s.write("notes.txt", "first line\r\nsecond line\r\n")
    s.checkpoint("two new files, one with CRLF endings")
    s.write("run.sh", "#!/bin/sh\nexec python -m src.app\n", executable=True)
    s.write("calc.py", "def add(a, b):\n    return a + b\n\n\ndef sub(a, b):\n    return a - b\n")
    s.checkpoint("an executable script")
    s.write("logo.png", PNG)
    s.git("add", "-A")
    s.git("commit", "-qm", "app, script and logo")
    s.checkpoint("after the first commit")
    (root / "notes.txt").rename(root / "docs.txt")
    s.checkpoint("renamed notes.txt")
    s.write("config.env", "REGION=eu-west-1\nAWS_ACCESS_KEY_ID=AKIAIOSFODNN7EXAMPLE\n")
    s.write("logo.png", PNG + b"\x00more pixels")
    s.write("src/app.py", "import os\n\n\ndef main():\n    print('hello, world')\n    return 0\n")
    s.checkpoint("a secret, a changed binary, an edit")
    (root / "calc.py").unlink()
    s.checkpoint("deleted calc.py")
    s.git("add", "-A")
    s.git("commit", "-qm", "second commit")
    s.checkpoint("after the second commit")
    s.write("src/app.py", "import os\n\n\ndef main():\n    print('hello, world!')\n    return 0\n")
    s.git("commit", "-qam", "second commit, amended", "--amend")
    s.checkpoint("after the amend")
    # main moves on; feature is rebased onto it
    s.git("checkout", "-q", "main")
    s.write("UPSTREAM.md", "# from main\n")
    s.git("add", "-A")
    s.git("commit", "-qm", "upstream work")
    s.git("checkout", "-q", "feature")
    s.checkpoint("back on feature")
    s.git("rebase", "-q", "main")
    s.checkpoint("after the rebase")
    return s


@pytest.fixture
def session(rec: Recorder, repo: Path) -> Session:
    return _session(rec, repo)


def _replayed(s: Session, trace: dict[str, Any], at: int | None, dest: Path) -> Tree:
    with GitSources(s.repo, BlobCache(s.rec.home.blobs)) as sources:
        replayer, _ = replay(trace, sources, at)
        write_tree(replayer, dest)
    return _walk(dest)


def test_replay_at_each_commit_is_git_archive_of_it(session: Session, tmp_path: Path) -> None:
    trace = session.trace()
    commits = [e for e in trace["events"] if e["type"] == "commit"]
    assert len(commits) >= 4  # two commits, the amend, the rebased pick
    compared = 0
    for event in commits:
        sha = event["payload"]["sha"]
        if session.git("cat-file", "-t", sha).strip() != "commit":
            continue
        expected = archive(session.root, sha, tmp_path / f"archive-{event['seq']}")
        assert _replayed(session, trace, event["seq"], tmp_path / f"replay-{event['seq']}") == expected, event
        compared += 1
    assert compared == len(commits)


def test_replay_at_the_last_seq_is_the_rebased_head(session: Session, tmp_path: Path) -> None:
    trace = session.trace()
    head = session.git("rev-parse", "HEAD").strip()
    expected = archive(session.root, head, tmp_path / "archive")
    assert "UPSTREAM.md" in expected and "docs.txt" in expected and "calc.py" not in expected
    assert expected["run.sh"][1] is True
    assert _replayed(session, trace, None, tmp_path / "replay") == expected


def test_replay_between_commits_is_the_tree_as_it_was(session: Session, tmp_path: Path) -> None:
    trace = session.trace()
    for seq, seen in session.seen.items():
        assert _replayed(session, trace, seq, tmp_path / f"at-{seq}") == seen, f"at seq {seq}"


def test_the_session_verifies_clean_against_its_repository(session: Session) -> None:
    trace = session.trace()
    with GitSources(session.repo, BlobCache(session.rec.home.blobs)) as sources:
        report = verify_trace(trace, sources=sources)
    assert report.ok, [f.message for f in report.faults]
    assert "commit_state" in report.checked


def test_a_redacted_file_whose_blob_is_nowhere_is_named_not_replayable(rec: Recorder, repo: Path, tmp_path: Path) -> None:
    git(repo, "checkout", "-q", "-b", "feature")
    s = Session(rec, repo)
    s.write("config.env", "REGION=eu-west-1\nAWS_ACCESS_KEY_ID=AKIAIOSFODNN7EXAMPLE\n")
    seq = s.checkpoint("a secret, never committed")
    trace = s.trace()
    assert "AKIAIOSFODNN7EXAMPLE" not in str(trace)
    (edit,) = [e["payload"] for e in trace["events"] if e["type"] == "edit"]
    assert edit["diff_redacted"] is True
    # The local cache holds the redacted text only, which is not the recorded blob: no help.
    cached = BlobCache(rec.home.blobs).get(edit["after_sha"])
    assert cached is not None and b"AKIAIOSFODNN7EXAMPLE" not in cached and b"[REDACTED:" in cached
    for cache in (BlobCache(rec.home.blobs), None):
        with GitSources(s.repo, cache) as sources:
            replayer, _ = replay(trace, sources, seq)
            with pytest.raises(NotReplayable, match=r"config\.env.*redacted"):
                write_tree(replayer, tmp_path / "out")
            assert not (tmp_path / "out").exists()
    shutil.rmtree(rec.home.blobs)
    with GitSources(s.repo, None) as sources:
        replayer, _ = replay(trace, sources, seq)
        written = write_tree(replayer, tmp_path / "partial", partial=True)
    assert "config.env" in written.skipped and not (tmp_path / "partial" / "config.env").exists()
    assert (tmp_path / "partial" / "calc.py").exists()


def test_a_redacted_file_replays_from_git_once_committed(rec: Recorder, repo: Path, tmp_path: Path) -> None:
    git(repo, "checkout", "-q", "-b", "feature")
    s = Session(rec, repo)
    middle = "".join(f"OPTION_{i} = {i}\n" for i in range(8))
    s.write("settings.py", f'TOKEN = "{GITHUB_TOKEN}"\n{middle}DEBUG = False\n')
    first = s.checkpoint("a secret")
    s.write("settings.py", f'TOKEN = "{GITHUB_TOKEN}"\n{middle}DEBUG = True\n')
    s.git("add", "-A")
    s.git("commit", "-qm", "settings")
    seq = s.checkpoint("committed")
    trace = s.trace()
    assert GITHUB_TOKEN not in str(trace)
    edits = [e["payload"] for e in trace["events"] if e["type"] == "edit"]
    assert len(edits) == 2 and all(e["diff_redacted"] is True for e in edits)
    # Redacted on both sides, the secret's line is unchanged: the diff holds only the real change.
    assert "+DEBUG = True" in edits[-1]["diff"] and "TOKEN" not in edits[-1]["diff"]
    assert edits[-1]["change_summary"] == "+1/-1"
    with GitSources(s.repo, BlobCache(rec.home.blobs)) as sources:
        replayer, _ = replay(trace, sources, first)
        assert write_tree(replayer, tmp_path / "before-commit", partial=True).skipped == {"settings.py": first - 1}
    assert _replayed(s, trace, seq, tmp_path / "replay") == s.seen[seq]  # git has the committed blob


def test_replay_refuses_a_seq_past_the_end_and_a_folder_in_use(session: Session, tmp_path: Path) -> None:
    trace = session.trace()
    last = trace["events"][-1]["seq"]
    with GitSources(session.repo, None) as sources:
        with pytest.raises(ReplayTargetError, match=f"1..{last}"):
            replay(trace, sources, last + 1)
        replayer, _ = replay(trace, sources, None)
    busy = tmp_path / "busy"
    busy.mkdir()
    (busy / "keep.txt").write_text("mine")
    with pytest.raises(ReplayTargetError, match="not empty"):
        write_tree(replayer, busy)
    assert (busy / "keep.txt").read_text() == "mine"


def test_replay_without_the_base_commit_says_so(rec: Recorder, repo: Path, tmp_path: Path) -> None:
    git(repo, "checkout", "-q", "-b", "feature")
    s = Session(rec, repo)
    s.write("a.txt", "a\n")
    s.checkpoint("one edit")
    trace = s.trace()
    elsewhere = tmp_path / "other"
    elsewhere.mkdir()
    git(elsewhere, "init", "-q")
    with GitSources(GitRepo(elsewhere), None) as sources, pytest.raises(BaseCommitMissing, match="does not have"):
        replay(trace, sources, None)

"""`prtrace import git-ai|entire`: a git-ai note and an Entire checkpoint, both made here in a
real repository, become events in the branch's trace — once, however often the import runs."""

from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from prtrace_daemon.gitrepo import GitRepo
from prtrace_daemon.importers import (
    ImportSourceMissing,
    MalformedRecord,
    import_entire,
    import_git_ai,
    parse_git_ai_note,
    split_prompts,
)
from prtrace_daemon.recorder import Recorder
from tests.conftest import git, run_prtrace
from tests.daemon.conftest import started

TOKEN = "ghp_R7x2Kq9LmP4vW8sT1yZ3nB6cD0fG5hJ2kL8m"  # a GitHub token: the redactor must mask it

NOTE = """src/calc.py
  s_c9883b05a2487d::t_9f8e7d6c5b4a32 1-4,7
  h_31dce776f88375 5-6
---
{
  "schema_version": "authorship/3.0.0",
  "git_ai_version": "1.4.5",
  "base_commit_sha": "7734793b756b3921c88db5375a8c156e9532447b",
  "prompts": {},
  "humans": {"h_31dce776f88375": {"author": "Developer <dev@example.com>"}},
  "sessions": {
    "s_c9883b05a2487d": {
      "agent_id": {"tool": "claude", "id": "conv_abc123", "model": "claude-sonnet-4-5-20250514"},
      "human_author": "dev@example.com"
    }
  }
}"""


def _commit_file(root: Path, path: str, lines: int, message: str) -> str:
    target = root / path
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text("".join(f"line {n}\n" for n in range(1, lines + 1)))
    git(root, "add", path)
    git(root, "commit", "-q", "-m", message)
    return git(root, "rev-parse", "HEAD").strip()


def _events(rec: Recorder, repo: GitRepo, kind: str | None = None) -> list[dict[str, Any]]:
    trace = rec.buffer.trace_for(str(repo.root), "main")
    assert trace is not None
    return [e for e in rec.buffer.events(trace.trace_id) if kind is None or e["type"] == kind]


def test_a_git_ai_note_becomes_one_attribution_event_however_often_it_is_imported(
    rec: Recorder, repo: Path
) -> None:
    grepo = started(rec, repo)
    sha = _commit_file(repo, "src/calc.py", 8, "calc")
    git(repo, "notes", "--ref=ai", "add", "-m", NOTE, sha)

    report = import_git_ai(rec, grepo)
    assert (report.commits, report.events, report.already, report.malformed) == (1, 1, 0, [])
    (event,) = _events(rec, grepo, "attribution")
    assert event["actor"] == {"kind": "tool", "name": "git-ai"}
    agent = {
        "kind": "agent",
        "name": "claude-code",
        "session": "conv_abc123",
        "model": "claude-sonnet-4-5-20250514",
    }
    assert event["payload"] == {
        "commit": sha,
        "source": "git-ai",
        "actors": [agent, {"kind": "human"}],
        # 8 lines added: 5 the agent's, 2 the human's, line 8 covered by no key
        "files": {
            "src/calc.py": {
                "agent": 5,
                "human": 2,
                "unknown": 1,
                "ranges": [[1, 4, 0], [5, 6, 1], [7, 7, 0]],
            }
        },
    }

    again = import_git_ai(rec, grepo)
    assert (again.commits, again.events, again.already) == (1, 0, 1)
    assert len(_events(rec, grepo, "attribution")) == 1


def test_a_malformed_note_is_skipped_and_counted_and_the_rest_imported(
    rec: Recorder, repo: Path
) -> None:
    grepo = started(rec, repo)
    bad = _commit_file(repo, "a.txt", 2, "a")
    git(
        repo,
        "notes",
        "--ref=ai",
        "add",
        "-m",
        'a.txt\n  h_1 1-x\n---\n{"schema_version": "authorship/3.0.0"}',
        bad,
    )
    good = _commit_file(repo, "src/calc.py", 8, "calc")
    git(repo, "notes", "--ref=ai", "add", "-m", NOTE, good)
    report = import_git_ai(rec, grepo)
    assert report.events == 1 and [sha for sha, _ in report.malformed] == [bad]
    assert "bad line range" in report.malformed[0][1]
    assert [e["payload"]["commit"] for e in _events(rec, grepo, "attribution")] == [good]


def test_all_imports_each_branchs_notes_into_its_own_trace(rec: Recorder, repo: Path) -> None:
    grepo = started(rec, repo)
    git(repo, "checkout", "-q", "-b", "other")
    rec.record(grepo)  # capture opens the branch's trace
    noted = _commit_file(repo, "src/calc.py", 8, "calc on other")
    git(repo, "notes", "--ref=ai", "add", "-m", NOTE, noted)
    git(repo, "branch", "untraced", "other")  # never checked out: capture has no trace of it
    git(repo, "checkout", "-q", "main")
    rec.record(grepo)

    assert import_git_ai(rec, grepo).events == 0  # main's own commits have no note
    report = import_git_ai(rec, grepo, all_branches=True)
    assert (report.events, report.branches, report.no_trace) == (1, ["main", "other"], ["untraced"])
    other = rec.buffer.trace_for(str(repo), "other")
    assert other is not None
    attributions = [e for e in rec.buffer.events(other.trace_id) if e["type"] == "attribution"]
    assert [e["payload"]["commit"] for e in attributions] == [noted]
    assert _events(rec, grepo, "attribution") == []


def test_importing_without_the_notes_ref_says_so(rec: Recorder, repo: Path) -> None:
    with pytest.raises(ImportSourceMissing, match="refs/notes/ai"):
        import_git_ai(rec, started(rec, repo))


@pytest.mark.parametrize(
    ("note", "why"),
    [
        ("a.txt\n  h_1 1-2\n", "no `---`"),
        ("a.txt\n  h_1 1-2\n---\nnot json", "not JSON"),
        ('a.txt\n  h_1 1-2\n---\n{"schema_version": "authorship/2.0.0"}', "authorship/3.x"),
        ('  h_1 1-2\n---\n{"schema_version": "authorship/3.0.0"}', "outside a file"),
        ('a.txt\n  h_1 3-2\n---\n{"schema_version": "authorship/3.0.0"}', "bad line range"),
        ('a.txt\n  h_1 0-2\n---\n{"schema_version": "authorship/3.0.0"}', "bad line range"),
        ('a.txt\n  h_1 -1-2\n---\n{"schema_version": "authorship/3.0.0"}', "bad line range"),
    ],
)
def test_malformed_notes_say_what_is_wrong(note: str, why: str) -> None:
    with pytest.raises(MalformedRecord, match=why):
        parse_git_ai_note(note)


def test_a_quoted_path_and_legacy_keys_read_as_the_spec_says() -> None:
    files, _ = parse_git_ai_note(
        '"my file.py"\n  0123456789abcdef 1,3-4\n---\n{"schema_version": "authorship/3.0.0", "prompts": {}}'
    )
    assert files == {"my file.py": {"0123456789abcdef": [(1, 1), (3, 4)]}}


def _note(entries: str) -> str:
    """NOTE's metadata under other attestations."""
    return entries + NOTE[NOTE.index("\n---\n") :]


def test_a_huge_range_is_clipped_to_the_committed_file_and_blame_stays_fast(
    rec: Recorder, repo: Path
) -> None:
    from prtrace_daemon.authorship_store import blame

    grepo = started(rec, repo)
    (repo / "other.py").write_text("".join(f"other {n}\n" for n in range(200)))
    git(repo, "add", "other.py")
    sha = _commit_file(repo, "src/calc.py", 8, "calc and other")
    note = _note(
        "src/calc.py\n"
        "  s_c9883b05a2487d::t_9f8e7d6c5b4a32 1-4,9-4294967295\n"
        "  h_31dce776f88375 5-20000000\n"
        "gone.py\n"
        "  h_31dce776f88375 1-3\n"
    )
    git(repo, "notes", "--ref=ai", "add", "-m", note, sha)

    report = import_git_ai(rec, grepo)
    assert (report.imported, report.malformed, report.skipped_files) == (1, [], [(sha, "gone.py")])
    (event,) = _events(rec, grepo, "attribution")
    # the human's range ends at the file's last line; the agent's second one starts past it
    assert event["payload"]["files"] == {
        "src/calc.py": {"agent": 4, "human": 4, "unknown": 0, "ranges": [[1, 4, 0], [5, 8, 1]]}
    }

    began = time.perf_counter()
    lines = blame(rec.buffer, grepo, str(repo / "other.py"))
    mine = blame(rec.buffer, grepo, str(repo / "src" / "calc.py"))
    assert time.perf_counter() - began < 5  # unclipped: four billion lines expanded, no answer
    assert len(lines) == 200
    assert len(mine) == 8


def test_a_note_naming_only_files_its_commit_lacks_is_malformed(rec: Recorder, repo: Path) -> None:
    grepo = started(rec, repo)
    sha = _commit_file(repo, "src/calc.py", 8, "calc")
    git(repo, "notes", "--ref=ai", "add", "-m", _note("gone.py\n  h_31dce776f88375 1-3\n"), sha)
    report = import_git_ai(rec, grepo)
    assert (report.imported, report.events, report.malformed) == (
        0,
        0,
        [(sha, "names no file its commit has")],
    )


def test_unknown_lines_are_counted_as_prtrace_counts_added_lines(rec: Recorder, repo: Path) -> None:
    """Lines the commit added, as prtrace counts them for its own commits (6 here), not as
    git's numstat pairs them up (5): git-ai's unknown and prtrace's agree."""
    grepo = started(rec, repo)
    (repo / "f.txt").write_text("c\nb\nc\na\n")
    git(repo, "add", "f.txt")
    git(repo, "commit", "-q", "-m", "f")
    (repo / "f.txt").write_text("a\na\nc\na\nb\na\nb\nb\n")
    git(repo, "commit", "-q", "-am", "f again")
    sha = git(repo, "rev-parse", "HEAD").strip()
    numstat = git(repo, "diff", "--numstat", "HEAD~", "HEAD").split()[0]
    assert numstat == "5"
    git(repo, "notes", "--ref=ai", "add", "-m", _note("f.txt\n  h_31dce776f88375 1\n"), sha)
    import_git_ai(rec, grepo)
    (event,) = _events(rec, grepo, "attribution")
    assert event["payload"]["files"]["f.txt"] == {
        "agent": 0,
        "human": 1,
        "unknown": 5,
        "ranges": [[1, 1, 0]],
    }


def test_a_file_with_a_newline_in_its_name_is_read(rec: Recorder, repo: Path) -> None:
    grepo = started(rec, repo)
    name = "two\nlines.txt"
    sha = _commit_file(repo, name, 3, "an odd name")
    git(
        repo,
        "notes",
        "--ref=ai",
        "add",
        "-m",
        _note(json.dumps(name) + "\n  h_31dce776f88375 1-2\n"),
        sha,
    )
    report = import_git_ai(rec, grepo)
    assert (report.imported, report.malformed, report.skipped_files) == (1, [], [])
    (event,) = _events(rec, grepo, "attribution")
    assert event["payload"]["files"] == {
        name: {"agent": 0, "human": 2, "unknown": 1, "ranges": [[1, 2, 0]]}
    }


def test_all_twice_counts_each_commit_once(rec: Recorder, repo: Path) -> None:
    """A noted commit and a malformed one on two branches: imported into both traces, counted
    once; the second run imports nothing and says so."""
    grepo = started(rec, repo)
    good = _commit_file(repo, "src/calc.py", 8, "calc")
    git(repo, "notes", "--ref=ai", "add", "-m", NOTE, good)
    bad = _commit_file(repo, "b.txt", 1, "b")
    git(repo, "notes", "--ref=ai", "add", "-m", "garbage", bad)
    rec.record(grepo)
    git(repo, "checkout", "-q", "-b", "other")
    rec.record(grepo)
    git(repo, "checkout", "-q", "main")
    rec.record(grepo)

    first = import_git_ai(rec, grepo, all_branches=True)
    assert first.branches == ["main", "other"]
    assert (first.commits, first.imported, first.already, first.events) == (2, 1, 0, 2)
    assert [sha for sha, _ in first.malformed] == [bad]

    out = run_prtrace("import", "git-ai", "--all", cwd=repo, check=True).stdout
    assert (
        "imported 0 commit(s) from git-ai (0 event(s)) into the trace of main, other;"
        " 1 already imported" in out
    )
    assert "skipped 1 malformed note(s)" in out


# Entire


def _git_env(repo: Path, index: Path) -> dict[str, str]:
    return {**os.environ, "GIT_INDEX_FILE": str(index)}


def _checkpoint_branch(repo: Path, tmp_path: Path, checkpoint: str, files: dict[str, str]) -> None:
    """An orphan `entire/checkpoints/v1` commit holding `files` under the sharded folder,
    written with plumbing so the work tree is never touched."""
    index = tmp_path / "entire-index"
    env = _git_env(repo, index)
    folder = f"{checkpoint[:2]}/{checkpoint[2:]}"
    for name, text in files.items():
        blob = subprocess.run(
            ["git", "hash-object", "-w", "--stdin"],
            cwd=repo,
            input=text,
            text=True,
            capture_output=True,
            check=True,
        ).stdout.strip()
        subprocess.run(
            ["git", "update-index", "--add", "--cacheinfo", f"100644,{blob},{folder}/{name}"],
            cwd=repo,
            env=env,
            check=True,
        )
    tree = subprocess.run(
        ["git", "write-tree"], cwd=repo, env=env, capture_output=True, text=True, check=True
    ).stdout.strip()
    commit = subprocess.run(
        [
            "git",
            "commit-tree",
            tree,
            "-m",
            f"Checkpoint: {checkpoint}\n\nEntire-Session: s-1\nEntire-Strategy: manual-commit",
        ],
        cwd=repo,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    git(repo, "update-ref", "refs/heads/entire/checkpoints/v1", commit)


def test_an_entire_checkpoint_becomes_a_session_its_prompts_and_an_attribution_once(
    rec: Recorder, repo: Path, tmp_path: Path
) -> None:
    grepo = started(rec, repo)
    checkpoint = "a3b2c4d5e6f7"
    session = "2025-12-01-8f76b0e8-b8f1-4a87-9186-848bdd83d62e"
    _checkpoint_branch(
        repo,
        tmp_path,
        checkpoint,
        {
            "metadata.json": json.dumps(
                {
                    "checkpoint_id": checkpoint,
                    "strategy": "manual-commit",
                    "branch": "main",
                    "files_touched": ["src/login.py"],
                    "sessions": [{"metadata": "/a3/b2c4d5e6f7/0/metadata.json"}],
                }
            ),
            "0/metadata.json": json.dumps(
                {
                    "checkpoint_id": checkpoint,
                    "session_id": session,
                    "strategy": "manual-commit",
                    "created_at": "2026-02-10T23:33:32.245097Z",
                    "files_touched": ["src/login.py", "gone.py"],
                    "agent": "Claude Code",
                    "initial_attribution": {
                        "agent_lines": 3,
                        "human_added": 1,
                        "human_modified": 0,
                        "total_committed": 4,
                    },
                }
            ),
            "0/prompt.txt": f"Implement login\n\n---\n\nuse the token {TOKEN} to test",
            "0/full.jsonl": "{}\n",
        },
    )
    (repo / "src").mkdir()
    (repo / "src" / "login.py").write_text("a\nb\nc\nd\n")
    git(repo, "add", "src/login.py")
    git(repo, "commit", "-q", "-m", f"Implement login feature\n\nEntire-Checkpoint: {checkpoint}")
    sha = git(repo, "rev-parse", "HEAD").strip()
    # an unrelated commit with no trailer stays out
    _commit_file(repo, "notes.txt", 1, "notes")

    report = import_entire(rec, grepo)
    assert (report.commits, report.events, report.malformed) == (1, 4, [])
    imported = [e for e in _events(rec, grepo) if (e["payload"] or {}).get("source") == "entire"]
    assert [e["type"] for e in imported] == ["agent", "annotation", "annotation", "attribution"]
    agent = {"kind": "agent", "name": "claude-code", "session": session}
    start, first, second, attribution = imported
    assert start["actor"] == agent and start["payload"]["event"] == "session"
    assert start["payload"]["commit"] == sha and start["payload"]["checkpoint"] == checkpoint
    assert [p["payload"]["role"] for p in (first, second)] == ["prompt", "prompt"]
    assert first["payload"]["text"] == "Implement login" and first["actor"] == agent
    assert TOKEN not in second["payload"]["text"] and "use the token" in second["payload"]["text"]
    assert attribution["actor"] == {"kind": "tool", "name": "entire"}
    assert attribution["payload"]["actors"] == [agent]
    assert attribution["payload"]["files"] == {
        "src/login.py": {"agent": 0, "human": 0, "unknown": 4, "ranges": [], "actors": [0]}
    }
    assert attribution["payload"]["lines"] == {"agent": 3, "human": 1, "total": 4}

    again = import_entire(rec, grepo)
    assert (again.events, again.already) == (0, 1)
    assert (
        len([e for e in _events(rec, grepo) if (e["payload"] or {}).get("source") == "entire"]) == 4
    )


def test_a_trailer_naming_a_missing_checkpoint_is_skipped_and_counted(
    rec: Recorder, repo: Path, tmp_path: Path
) -> None:
    grepo = started(rec, repo)
    _checkpoint_branch(repo, tmp_path, "abc123def456", {"metadata.json": "{}"})
    git(repo, "commit", "-q", "--allow-empty", "-m", "x\n\nEntire-Checkpoint: 0123456789ab")
    report = import_entire(rec, grepo)
    assert (
        report.events == 0
        and len(report.malformed) == 1
        and "not on entire/checkpoints/v1" in report.malformed[0][1]
    )


def test_prompt_txt_splits_as_entire_joins_it() -> None:
    assert split_prompts("one\n\n---\n\ntwo\n\n---\n\n") == ["one", "two"]
    assert split_prompts("") == []


def test_the_import_command_reports_and_fails_in_one_line(repo: Path) -> None:
    run_prtrace("start", "--no-daemon", cwd=repo, check=True)
    missing = run_prtrace("import", "entire", cwd=repo)
    assert missing.returncode == 1 and "Traceback" not in missing.stderr
    assert (
        missing.stderr.startswith("error:")
        and "entire/checkpoints/v1" in missing.stderr.splitlines()[0]
    )
    sha = _commit_file(repo, "src/calc.py", 8, "calc")
    git(repo, "notes", "--ref=ai", "add", "-m", NOTE, sha)
    bad = _commit_file(repo, "b.txt", 1, "b")
    git(repo, "notes", "--ref=ai", "add", "-m", "garbage", bad)
    out = run_prtrace("import", "git-ai", cwd=repo, check=True)
    assert "imported 1 commit(s) from git-ai (1 event(s)) into the trace of main" in out.stdout
    assert "skipped 1 malformed note(s)" in out.stdout and bad[:10] in out.stdout
    again = run_prtrace("import", "git-ai", cwd=repo, check=True)
    assert "imported 0 commit(s)" in again.stdout and "1 already imported" in again.stdout

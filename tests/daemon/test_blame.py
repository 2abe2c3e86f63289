"""Line attribution on a real repository: an agent and the developer edit the same file, the
commit says who wrote which lines, and `prtrace blame` keeps saying it after an amend, a
rebase onto a main that moved, and a squash merge."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from prtrace_daemon.gitrepo import GitRepo
from prtrace_daemon.recorder import Recorder
from tests.conftest import git, run_prtrace
from tests.daemon.conftest import started

AGENT = {"kind": "agent", "name": "claude-code", "session": "sess-1234abcd", "model": "claude-x"}
BASE = ["# app\n", *(f"base = {i}\n" for i in range(10))]
AGENT_LINES = ["def agent_one():\n", "    return 1\n", "def agent_two():\n", "    return 2\n"]
HUMAN_LINE = "# the developer's note\n"


def _agent_writes(rec: Recorder, repo: GitRepo, path: str, text: str) -> None:
    """An agent's edit tool wrote the file: recorded as the agent's, through write_changes."""
    (repo.root / path).write_text(text)
    plan = rec.plan(repo, [path])
    with rec.buffer.write() as tx:
        rec.apply(tx, repo, plan, actor=AGENT)


def _commits(rec: Recorder, repo: GitRepo) -> list[dict[str, Any]]:
    return [
        e["payload"]
        for t in rec.buffer.traces(repo_path=str(repo.root))
        for e in rec.buffer.events(t.trace_id)
        if e["type"] == "commit"
    ]


def _blame(root: Path, *args: str) -> dict[str, str]:
    """text → who wrote it (agent name, human, unknown), from `prtrace blame --json`."""
    proc = run_prtrace("blame", "app.py", "--json", *args, cwd=root, check=True)
    owners: dict[str, str] = {}
    for row in json.loads(proc.stdout):
        actor = row["actor"] or {}
        owners[row["text"]] = actor.get("name") or row["author"]
    return owners


def _expected(extra: dict[str, str] | None = None) -> dict[str, str]:
    owners = {line.rstrip("\n"): "claude-code" for line in AGENT_LINES}
    owners[HUMAN_LINE.rstrip("\n")] = "human"
    return {**owners, **(extra or {})}


def _check(owners: dict[str, str], expected: dict[str, str]) -> None:
    assert {text: owners.get(text) for text in expected} == expected


@pytest.fixture
def feature(rec: Recorder, repo: Path) -> GitRepo:
    """app.py on main, then a feature branch where the agent adds functions and the developer
    a note between them, committed."""
    (repo / "app.py").write_text("".join(BASE))
    git(repo, "add", "app.py")
    git(repo, "commit", "-q", "-m", "app")
    r = started(rec, repo)
    git(repo, "checkout", "-q", "-b", "feature")
    rec.record(r)
    _agent_writes(rec, r, "app.py", "".join([*BASE[:6], *AGENT_LINES, *BASE[6:]]))
    (repo / "app.py").write_text(
        "".join([*BASE[:6], *AGENT_LINES[:2], HUMAN_LINE, *AGENT_LINES[2:], *BASE[6:]])
    )
    rec.record(r)
    git(repo, "commit", "-q", "-am", "feature")
    rec.record(r)
    return r


def test_commit_payload_counts_and_ranges_each_actors_lines(
    rec: Recorder, feature: GitRepo
) -> None:
    commit = next(c for c in _commits(rec, feature) if c["message"] == "feature")
    authorship = commit["authorship"]
    entry = authorship["files"]["app.py"]
    assert (entry["agent"], entry["human"], entry["unknown"]) == (4, 1, 0)
    actors = authorship["actors"]
    ranges = [
        (start, end, actors[index].get("name", actors[index]["kind"]))
        for start, end, index in entry["ranges"]
    ]
    assert ranges == [(7, 8, "claude-code"), (9, 9, "human"), (10, 11, "claude-code")]
    assert AGENT in actors


def test_stats_give_the_agent_line_share_per_commit_and_trace(feature: GitRepo) -> None:
    proc = run_prtrace("stats", "feature", "--local", "--json", cwd=feature.root, check=True)
    (row,) = json.loads(proc.stdout)["traces"]
    assert (row["agent_lines"], row["human_lines"], row["agent_line_share"]) == (4, 1, 0.8)
    assert [c["agent_line_share"] for c in row["commit_lines"]] == [0.8]
    table = run_prtrace("stats", "feature", "--local", cwd=feature.root, check=True).stdout
    assert "agent line share" in table and "80%" in table and "lines by commit" in table


def test_blame_names_the_agent_and_the_developer_line_by_line(feature: GitRepo) -> None:
    owners = _blame(feature.root)
    _check(owners, _expected())
    assert owners["base = 0"] == "unknown"  # committed before capture began: nobody recorded


def test_blame_shows_session_and_colour_free_text_when_piped(feature: GitRepo) -> None:
    proc = run_prtrace("blame", "app.py", cwd=feature.root, check=True)
    agent_row = next(row for row in proc.stdout.splitlines() if "agent_one" in row)
    assert "claude-code" in agent_row and "sess-123" in agent_row and "\x1b[" not in proc.stdout


def test_attribution_survives_an_amend(rec: Recorder, feature: GitRepo) -> None:
    (feature.root / "app.py").write_text((feature.root / "app.py").read_text() + "tail = True\n")
    rec.record(feature)
    git(feature.root, "commit", "-q", "-a", "--amend", "-m", "feature, amended")
    rec.record(feature)
    _check(_blame(feature.root), _expected({"tail = True": "human"}))


def test_attribution_survives_a_rebase_onto_a_moved_main(rec: Recorder, feature: GitRepo) -> None:
    root = feature.root
    git(root, "checkout", "-q", "main")
    rec.record(feature)
    (root / "app.py").write_text("# app, moved on main\n" + "".join(BASE[1:]))
    rec.record(feature)
    git(root, "commit", "-q", "-am", "main moves")
    rec.record(feature)
    git(root, "checkout", "-q", "feature")
    rec.record(feature)
    git(root, "rebase", "-q", "main")
    rec.record(feature)
    rebased = git(root, "rev-parse", "HEAD").strip()
    entry = next(c for c in _commits(rec, feature) if c["sha"] == rebased)["authorship"]["files"][
        "app.py"
    ]
    assert (entry["agent"], entry["human"], entry["unknown"]) == (
        4,
        1,
        0,
    )  # git's edit is not typing
    _check(_blame(root), _expected({"# app, moved on main": "human"}))


def test_attribution_survives_a_squash_merge(rec: Recorder, feature: GitRepo) -> None:
    root = feature.root
    git(root, "checkout", "-q", "main")
    rec.record(feature)
    git(root, "merge", "-q", "--squash", "feature")
    rec.record(feature)  # the daemon sees the squashed files change: git's work, not typed
    git(root, "commit", "-q", "-m", "squashed feature")
    rec.record(feature)
    squash = next(c for c in _commits(rec, feature) if c["message"] == "squashed feature")
    entry = squash["authorship"]["files"]["app.py"]
    assert (entry["agent"], entry["human"]) == (4, 1)
    _check(_blame(root), _expected())
    _check(_blame(root, "--rev", "main"), _expected())


def test_uncommitted_lines_come_from_the_line_state(rec: Recorder, feature: GitRepo) -> None:
    text = (feature.root / "app.py").read_text()
    _agent_writes(rec, feature, "app.py", text + "def agent_three():\n    return 3\n")
    owners = _blame(feature.root)
    assert owners["def agent_three():"] == "claude-code"
    _check(owners, _expected())


def test_a_file_git_does_not_know_is_one_red_line(feature: GitRepo) -> None:
    (feature.root / "scratch.txt").write_text("not tracked\n")
    proc = run_prtrace("blame", "scratch.txt", cwd=feature.root)
    assert proc.returncode == 1
    assert (
        proc.stderr.startswith("error: git does not know scratch.txt")
        and "Traceback" not in proc.stderr
    )
    proc = run_prtrace("blame", "app.py", "--rev", "HEAD~2", cwd=feature.root)
    assert proc.returncode == 1 and "git does not know app.py at HEAD~2" in proc.stderr


def test_withheld_binary_and_untouched_files_carry_no_authorship(
    rec: Recorder, feature: GitRepo
) -> None:
    root = feature.root
    (root / ".prtraceignore").write_text("secret.txt\n")
    _agent_writes(rec, feature, "secret.txt", "token = hunter2\n")
    _agent_writes(rec, feature, "notes.md", "# notes by the agent\n")
    (root / "logo.bin").write_bytes(b"\0\1\2binary")
    git(root, "add", ".")
    git(root, "commit", "-q", "-m", "more")
    rec.record(feature)
    files = next(c for c in _commits(rec, feature) if c["message"] == "more")["authorship"]["files"]
    assert set(files) == {
        "notes.md",
        ".prtraceignore",
    }  # app.py untouched, secret withheld, logo binary
    assert (files["notes.md"]["agent"], files[".prtraceignore"]["human"]) == (1, 1)

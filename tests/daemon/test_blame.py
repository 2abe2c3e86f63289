"""Line attribution on a real repository: an agent and the developer edit the same file, the
commit says who wrote which lines, and `prtrace blame` keeps saying it after an amend, a
rebase onto a main that moved, and a squash merge."""

from __future__ import annotations

import json
import os
import subprocess
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


# ------------------------------------------------------------------ review findings


def _owners(rec: Recorder, repo: GitRepo, path: str, rev: str | None = None) -> dict[str, str]:
    """text → who wrote it (agent name, human, unknown), from blame in process, after a drain."""
    from prtrace_core.authorship import actor_class
    from prtrace_daemon.authorship_store import blame

    rec.record(repo)
    owners: dict[str, str] = {}
    for row in blame(rec.buffer, repo, str(repo.root / path), rev):
        owners[row.text] = (row.actor or {}).get("name") or actor_class(row.actor)
    return owners


def _authorship(rec: Recorder, repo: GitRepo, message: str) -> dict[str, Any]:
    return next(c for c in _commits(rec, repo) if c["message"] == message)["authorship"]


def _import(rec: Recorder, repo: GitRepo, payload: dict[str, Any]) -> None:
    """An `attribution` event as the importers record one."""
    trace = rec.buffer.trace_for(str(repo.root), "main")
    assert trace is not None
    with rec.buffer.write() as tx:
        rec.append(
            tx, trace.trace_id, "attribution", payload, actor={"kind": "tool", "name": "git-ai"}
        )


def test_an_import_naming_one_file_leaves_the_commits_other_file_alone(
    rec: Recorder, repo: Path
) -> None:
    (repo / "a.py").write_text("a1 = 1\na2 = 2\na3 = 3\n")
    (repo / "b.py").write_text("typed one = 1\ntyped two = 2\ntyped three = 3\n")
    git(repo, "add", ".")
    git(repo, "commit", "-q", "-m", "both, before capture")
    sha = git(repo, "rev-parse", "HEAD").strip()
    r = started(rec, repo)
    files = {"a.py": {"agent": 3, "human": 0, "unknown": 0, "ranges": [[1, 3, 0]]}}
    _import(rec, r, {"commit": sha, "source": "git-ai", "actors": [AGENT], "files": files})
    assert set(_owners(rec, r, "a.py").values()) == {"claude-code"}
    assert set(_owners(rec, r, "b.py").values()) == {"unknown"}


def test_a_withheld_file_is_not_blamed_on_the_agent_of_its_commit(
    rec: Recorder, repo: Path
) -> None:
    r = started(rec, repo)
    (repo / ".prtraceignore").write_text("secret.txt\n")
    rec.record(r)
    git(repo, "add", ".prtraceignore")
    git(repo, "commit", "-q", "-m", "ignore")
    rec.record(r)
    _agent_writes(rec, r, "a.py", "one = 1\ntwo = 2\n")
    (repo / "secret.txt").write_text("token one\ntoken two\n")
    git(repo, "add", ".")
    git(repo, "commit", "-q", "-m", "agent and secret")
    assert set(_owners(rec, r, "secret.txt").values()) == {"unknown"}
    assert set(_owners(rec, r, "a.py").values()) == {"claude-code"}


def test_the_developers_lines_stay_theirs_on_a_detached_head(rec: Recorder, repo: Path) -> None:
    r = started(rec, repo)
    _agent_writes(rec, r, "a.py", "def agent():\n    result = compute()\n    return result\n")
    git(repo, "add", "a.py")
    git(repo, "commit", "-q", "-m", "agent")
    rec.record(r)
    git(repo, "checkout", "-q", "--detach")
    rec.record(r)
    (repo / "h.py").write_text("def mine():\n    result = compute()\n    return result\n")
    rec.record(r)
    git(repo, "add", "h.py")
    git(repo, "commit", "-q", "-m", "typed")
    rec.record(r)
    entry = _authorship(rec, r, "typed")["files"]["h.py"]
    assert (entry["agent"], entry["human"], entry["unknown"]) == (0, 3, 0)
    assert set(_owners(rec, r, "h.py").values()) == {"human"}


def test_blame_never_guesses_from_another_files_lines(rec: Recorder, repo: Path) -> None:
    (repo / "b.py").write_text("def helper():\n    return compute_total()\n")
    git(repo, "add", ".")
    git(repo, "commit", "-q", "-m", "before capture")
    r = started(rec, repo)
    _agent_writes(rec, r, "a.py", "def helper():\n    return compute_total()\n")
    git(repo, "add", "a.py")
    git(repo, "commit", "-q", "-m", "agent")
    assert set(_owners(rec, r, "b.py").values()) == {"unknown"}


def test_a_cherry_pick_gives_the_agent_its_lines(rec: Recorder, repo: Path) -> None:
    (repo / "app.py").write_text("".join(BASE))
    git(repo, "add", "app.py")
    git(repo, "commit", "-q", "-m", "app")
    r = started(rec, repo)
    git(repo, "checkout", "-q", "-b", "feature")
    rec.record(r)
    _agent_writes(rec, r, "app.py", "".join([*BASE, *AGENT_LINES]))
    git(repo, "commit", "-q", "-am", "agent on feature")
    rec.record(r)
    picked = git(repo, "rev-parse", "HEAD").strip()
    git(repo, "checkout", "-q", "main")
    rec.record(r)
    (repo / "app.py").write_text("# app, moved on main\n" + "".join(BASE[1:]))
    rec.record(r)
    git(repo, "commit", "-q", "-am", "main moves")
    rec.record(r)
    git(repo, "cherry-pick", picked)
    rec.record(r)
    head = git(repo, "rev-parse", "HEAD").strip()
    entry = next(c for c in _commits(rec, r) if c["sha"] == head)["authorship"]["files"]["app.py"]
    assert (entry["agent"], entry["human"], entry["unknown"]) == (4, 0, 0)
    owners = _owners(rec, r, "app.py")
    assert {owners[line.rstrip()] for line in AGENT_LINES} == {"claude-code"}
    assert owners["# app, moved on main"] == "human"
    main = rec.buffer.trace_for(str(repo), "main")
    assert main is not None
    edits = [e["actor"] for e in rec.buffer.events(main.trace_id) if e["type"] == "edit"]
    assert edits[-1] == {"kind": "tool", "name": "git"}  # the pick's edit is git's


def test_an_interactive_rebase_that_reorders_and_squashes_keeps_each_authors_lines(
    rec: Recorder, repo: Path
) -> None:
    r = started(rec, repo)
    git(repo, "checkout", "-q", "-b", "feature")
    rec.record(r)
    _agent_writes(rec, r, "a.py", "def first():\n    return 'agent one'\n")
    git(repo, "add", ".")
    git(repo, "commit", "-q", "-m", "c1")
    rec.record(r)
    (repo / "h.py").write_text("def typed():\n    return 'by hand'\n")
    rec.record(r)
    git(repo, "add", ".")
    git(repo, "commit", "-q", "-m", "c2")
    rec.record(r)
    _agent_writes(rec, r, "b.py", "def third():\n    return 'agent three'\n")
    git(repo, "add", ".")
    git(repo, "commit", "-q", "-m", "c3")
    rec.record(r)
    # pick c1, pick c3, squash c2 into it
    editor = "sed -i -e '2{h;d}' -e '3{G;s/\\npick/\\nsquash/}'"
    subprocess.run(
        ["git", "rebase", "-q", "-i", "main"],
        cwd=repo,
        check=True,
        capture_output=True,
        env={**os.environ, "GIT_SEQUENCE_EDITOR": editor, "GIT_EDITOR": "true"},
    )
    log = git(repo, "log", "--format=%s", "main..HEAD").split()
    assert log[-1] == "c1" and len(log) == 2
    assert set(_owners(rec, r, "a.py").values()) == {"claude-code"}
    assert set(_owners(rec, r, "b.py").values()) == {"claude-code"}
    assert set(_owners(rec, r, "h.py").values()) == {"human"}


def test_ranges_count_lines_as_git_does(rec: Recorder, repo: Path) -> None:
    r = started(rec, repo)
    _agent_writes(rec, r, "f.py", "x = 1\x0cy = 2\nfirst\rsecond\nthird = 3\n")
    with (repo / "f.py").open("a") as out:
        out.write("typed = 4\n")
    rec.record(r)
    git(repo, "add", "f.py")
    git(repo, "commit", "-q", "-m", "form feed")
    rec.record(r)
    entry = _authorship(rec, r, "form feed")["files"]["f.py"]
    assert (entry["agent"], entry["human"]) == (3, 1)
    assert [(start, end) for start, end, _ in entry["ranges"]] == [(1, 3), (4, 4)]
    assert _owners(rec, r, "f.py")["typed = 4"] == "human"


def test_an_unknown_commit_line_takes_an_imported_author(rec: Recorder, repo: Path) -> None:
    (repo / "a.py").write_text("one = 1\ntwo = 2\n")
    git(repo, "add", ".")
    git(repo, "commit", "-q", "-m", "a")
    sha = git(repo, "rev-parse", "HEAD").strip()
    r = started(rec, repo)
    trace = rec.buffer.trace_for(str(repo), "main")
    assert trace is not None
    unknown = {
        "actors": [],
        "files": {"a.py": {"agent": 0, "human": 0, "unknown": 2, "ranges": []}},
    }
    with rec.buffer.write() as tx:
        rec.append(
            tx, trace.trace_id, "commit", {"sha": sha, "message": "a", "authorship": unknown}
        )
    ranged = {"a.py": {"agent": 2, "human": 0, "unknown": 0, "ranges": [[1, 2, 0]]}}
    _import(rec, r, {"commit": sha, "source": "git-ai", "actors": [AGENT], "files": ranged})
    file_only = {"a.py": {"agent": 0, "human": 0, "unknown": 2, "ranges": [], "actors": [0]}}
    _import(rec, r, {"commit": sha, "source": "entire", "actors": [AGENT], "files": file_only})
    assert set(_owners(rec, r, "a.py").values()) == {"claude-code"}


def test_a_file_name_with_a_newline_is_read_from_git(rec: Recorder, repo: Path) -> None:
    from prtrace_daemon.authorship_store import RepoAttributions

    odd = "odd\nname.py"
    (repo / odd).write_text("first = 1\n")
    (repo / "plain.py").write_text("second = 2\n")
    git(repo, "add", ".")
    git(repo, "commit", "-q", "-m", "odd")
    sha = git(repo, "rev-parse", "HEAD").strip()
    sources = RepoAttributions(rec.buffer, GitRepo(repo))
    sources._prefetch([(sha, odd), (sha, "plain.py")])
    assert sources.file_lines(sha, odd) == ["first = 1\n"]
    assert sources.file_lines(sha, "plain.py") == ["second = 2\n"]


def test_a_rebase_reads_the_repositorys_attributions_once_per_drain(
    rec: Recorder, feature: GitRepo, monkeypatch: pytest.MonkeyPatch
) -> None:
    from prtrace_daemon.buffer import Buffer

    root = feature.root
    for n in range(3):
        _agent_writes(rec, feature, f"more{n}.py", f"def more_{n}():\n    return {n}\n")
        git(root, "add", ".")
        git(root, "commit", "-q", "-m", f"more {n}")
        rec.record(feature)
    git(root, "checkout", "-q", "main")
    (root / "app.py").write_text("# app, moved on main\n" + "".join(BASE[1:]))
    git(root, "commit", "-q", "-am", "main moves")
    git(root, "checkout", "-q", "feature")
    rec.record(feature)
    reads: list[str] = []
    real = Buffer.authorship_events

    def counted(self: Buffer, repo_path: str) -> list[tuple[str, dict[str, Any]]]:
        reads.append(repo_path)
        return real(self, repo_path)

    monkeypatch.setattr(Buffer, "authorship_events", counted)
    git(root, "rebase", "-q", "main")  # four commits replayed
    rec.record(feature)
    assert len(reads) == 1
    owners = _owners(rec, feature, "more2.py")
    assert set(owners.values()) == {"claude-code"}


def test_a_rebase_that_stopped_ends_with_a_commit_that_is_not_gits(repo: Path) -> None:
    """git replays a clean pick itself; the commit `rebase --continue` makes after a conflict
    holds a resolution, the developer's (or the agent's whose command continued it)."""
    from prtrace_daemon.authorship_store import made_by_git, squash_changes

    env = {**os.environ, "GIT_EDITOR": "true"}
    (repo / "f.txt").write_text("base\n")
    git(repo, "add", "f.txt")
    git(repo, "commit", "-qm", "base")
    git(repo, "checkout", "-qb", "feature")
    (repo / "f.txt").write_text("feature\n")
    (repo / "g.txt").write_text("clean\n")
    git(repo, "add", ".")
    git(repo, "commit", "-qm", "feature: f")
    (repo / "h.txt").write_text("clean pick\n")
    git(repo, "add", "h.txt")
    git(repo, "commit", "-qm", "feature: h")
    git(repo, "checkout", "-q", "main")
    (repo / "f.txt").write_text("main\n")
    git(repo, "commit", "-qam", "main: f")
    git(repo, "checkout", "-q", "feature")
    stopped = subprocess.run(["git", "rebase", "main"], cwd=repo, capture_output=True, env=env)
    assert stopped.returncode != 0  # the conflict in f.txt
    (repo / "f.txt").write_text("resolved\n")
    git(repo, "add", "f.txt")
    subprocess.run(["git", "rebase", "--continue"], cwd=repo, check=True, capture_output=True, env=env)
    r = GitRepo(repo)
    resolved, picked = git(repo, "rev-parse", "HEAD~1", "HEAD").split()
    assert not made_by_git(r, resolved)
    assert made_by_git(r, picked)
    assert squash_changes(r, picked) == []  # nothing staged: no squash to take

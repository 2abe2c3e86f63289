"""Coding agents' hook lines drained into the trace: each agent's recorded payloads (paths moved
into the test's repo) written to the spool as the installed hooks write them, and the events
they become, with the agent as actor; an agent's edit recorded once, whatever the scans."""

from __future__ import annotations

import itertools
import json
import os
import time
from pathlib import Path
from typing import Any

import pytest

from prtrace_core.canonical import event_id
from prtrace_core.gitblob import blob_sha
from prtrace_core.verify import verify_trace
from prtrace_daemon.agent_capture import apply_pieces
from prtrace_daemon.blobs import BlobCache
from prtrace_daemon.buffer import AGENT_MARK_TTL_NS, AGENT_SHELL_TTL_NS
from prtrace_daemon.envelope import local_trace
from prtrace_daemon.gitobjects import GitSources
from prtrace_daemon.gitrepo import GitRepo
from prtrace_daemon.recorder import Recorder
from prtrace_daemon.spool_format import AgentRecord, encode_line
from prtrace_daemon.worktree import replay, write_tree
from tests.conftest import git
from tests.daemon.conftest import started

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "agents"
PROJECT = "/home/dev/project"  # the agent's folder in the recorded payloads
GITHUB_TOKEN = "ghp_x7Kq9LmP2vR4tY8wB3nJ6hF1dS5aZ0cE9gU2"

SHOW = (
    "import sys\n\n\ndef show(trace_id):\n    events = load(trace_id)\n    print(render(events))\n"
)
SHOW_JSON = SHOW.replace("def show(trace_id):", "def show(trace_id, as_json=False):")
DURATION = (
    'import re\n\nUNITS = {"s": 1, "m": 60}\n\n\ndef parse_duration(text):\n    total = 0\n'
    '    for value, unit in re.findall(r"(\\d+)([smh])", text):\n'
    "        total += int(value) * UNITS[unit]\n    return total\n"
)
DURATION_H = DURATION.replace('"m": 60}', '"m": 60, "h": 3600}')
_pids = itertools.count(4_000_000)  # above any live pid: the drain takes the file at once


class Agent:
    """One agent's hooks writing to the test's spool, as `prtrace agent install` sets them up."""

    def __init__(self, rec: Recorder, root: Path, name: str) -> None:
        self.rec, self.root, self.name = rec, root, name

    def payload(self, fixture: str, **changes: Any) -> dict[str, Any]:
        text = (FIXTURES / self.name / f"{fixture}.json").read_text()
        payload: dict[str, Any] = json.loads(text.replace(PROJECT, str(self.root)))
        payload.update(changes)
        return payload

    def hook(self, fixture: str, *, at_ns: int | None = None, **changes: Any) -> None:
        """Spool the fixture's payload as its hook does: one line in `agent.<pid>.spool`, no
        time in it (the file's mtime is when the hook ran)."""
        line = encode_line(
            AgentRecord(self.name, self.payload(fixture, **changes)), repo=str(self.root)
        )
        path = self.rec.home.spool / f"agent.{next(_pids)}.spool"
        path.write_bytes(line)
        when = at_ns if at_ns is not None else time.time_ns()
        os.utime(path, ns=(when, when))


def _commit(root: Path, files: dict[str, str]) -> None:
    for rel, content in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(content)
    git(root, "add", ".")
    git(root, "commit", "-q", "-m", "before the agent")


def _events(rec: Recorder, repo: GitRepo) -> list[dict[str, Any]]:
    trace = rec.buffer.trace_for(str(repo.root), repo.head()[1])
    assert trace is not None
    return rec.buffer.events(trace.trace_id)


def _edits(events: list[dict[str, Any]], path: str) -> list[dict[str, Any]]:
    return [e for e in events if e["type"] == "edit" and e["payload"]["file"] == path]


CLAUDE = {
    "kind": "agent",
    "name": "claude-code",
    "session": "5f0c8a3e-2b7d-4c1e-9a64-3d8e1f7b2c90",
    "model": "claude-sonnet-4-5-20250929",
}


@pytest.fixture
def claude(rec: Recorder, repo: Path) -> tuple[Agent, GitRepo]:
    """Claude Code working in a registered repo holding the file its recorded Edit changes,
    its session started (SessionStart names the model)."""
    _commit(repo, {"prtrace_cli/show.py": SHOW})
    r = started(rec, repo)
    agent = Agent(rec, repo, "claude-code")
    agent.hook("SessionStart")
    rec.drain()
    return agent, r


# per agent: the recorded payloads drained into events


AGENT_SESSIONS = {
    # agent: files before, the edit's (pre or None, post), the files it writes, the shell call's
    # (pre, post), the prompt fixture, the session's start fixture, the actor's session and model
    "claude-code": (
        {"prtrace_cli/show.py": SHOW},
        ("PreToolUse-Edit", "PostToolUse-Edit"),
        {"prtrace_cli/show.py": SHOW_JSON},
        ("PreToolUse-Bash", "PostToolUse-Bash"),
        "UserPromptSubmit",
        "SessionStart",
        ("5f0c8a3e-2b7d-4c1e-9a64-3d8e1f7b2c90", "claude-sonnet-4-5-20250929"),
    ),
    "codex": (
        {"prtrace_cli/show.py": SHOW},
        ("PreToolUse-apply_patch", "PostToolUse-apply_patch"),
        {
            "prtrace_cli/show.py": SHOW_JSON,
            "tests/cli/test_show_json.py": "from prtrace_cli.show import show\n\n\n"
            'def test_show_json():\n    assert show("t1", as_json=True) is not None\n',
        },
        ("PreToolUse-Bash", "PostToolUse-Bash"),
        "UserPromptSubmit",
        "SessionStart",
        ("019a6f2e-8c41-7d30-b5e2-6a9f0c3d1e77", "gpt-5-codex"),
    ),
    "gemini": (
        {"src/duration.py": DURATION},
        ("BeforeTool.replace", "AfterTool.replace"),
        {"src/duration.py": DURATION_H},
        ("BeforeTool.run_shell_command", "AfterTool.run_shell_command"),
        "BeforeAgent",
        "SessionStart",
        ("7c1e2f4a-9b3d-4e5f-8a6b-0c1d2e3f4a5b", None),
    ),
    "cursor": (
        {"src/duration.py": DURATION},
        (None, "afterFileEdit"),  # Cursor has no hook before an edit
        {"src/duration.py": DURATION_H},
        ("beforeShellExecution", "afterShellExecution"),
        "beforeSubmitPrompt",
        "sessionStart",
        ("3f6c2a9e-1d4b-4c8a-9e7f-5b2d0a1c8e34", "claude-4.5-sonnet"),
    ),
}


@pytest.mark.parametrize("name", sorted(AGENT_SESSIONS))
def test_an_agents_session_becomes_its_events(rec: Recorder, repo: Path, name: str) -> None:
    before, (edit_pre, edit_post), after, (shell_pre, shell_post), prompt, start, who = (
        AGENT_SESSIONS[name]
    )
    _commit(repo, before)
    r = started(rec, repo)
    agent = Agent(rec, repo, name)
    for fixture in (start, prompt):
        agent.hook(fixture)
        rec.drain()
    if edit_pre is not None:
        agent.hook(edit_pre)
        rec.record(r)  # the watcher's scan: the pre hook is drained first, its files are marked
    for rel, content in after.items():
        (repo / rel).parent.mkdir(parents=True, exist_ok=True)
        (repo / rel).write_text(content)
    if edit_pre is not None:
        assert rec.record(r).edits == 0  # the watcher saw the tool write: not the scan's
    agent.hook(edit_post)
    agent.hook(shell_pre)
    rec.drain()
    agent.hook(shell_post)
    rec.drain()

    session, model = who
    actor = {
        "kind": "agent",
        "name": name,
        "session": session,
        **({"model": model} if model else {}),
    }
    events = _events(rec, r)
    for rel, content in after.items():
        (edit,) = _edits(events, rel)
        assert edit["actor"] == actor, rel
        assert edit["payload"]["after_sha"] == blob_sha(content.encode())
    (ran,) = [e for e in events if e["type"] in ("command", "test")]
    assert ran["type"] == "test" and ran["actor"] == actor
    assert ran["payload"]["framework"] == "pytest" and ran["payload"]["passed"] == 1
    assert ran["payload"]["exit_code"] == 0 and "1 passed" in ran["payload"]["stdout_sample"]
    assert ran["payload"]["command"].startswith("python -m pytest")
    (asked,) = [e for e in events if e["type"] == "annotation"]
    assert (
        asked["payload"]["role"] == "prompt"
        and asked["payload"]["text"]
        and asked["actor"] == actor
    )
    (began,) = [e for e in events if e["type"] == "agent"]
    assert began["payload"]["event"] == "session_start" and began["actor"] == actor
    assert all(e["actor"] == {"kind": "human"} for e in events if e["type"] == "start")
    now = time.time_ns()
    assert rec.buffer.marked_files(str(repo), now) == set()  # every call closed by its post
    assert rec.buffer.open_shell_calls(str(repo), now) == []
    assert not list(rec.home.spool.glob("agent.*"))  # every line taken


def test_the_actor_is_part_of_the_event_id(claude: tuple[Agent, GitRepo]) -> None:
    agent, r = claude
    events = _events(agent.rec, r)
    trace = agent.rec.buffer.trace_for(str(r.root), "main")
    assert trace is not None
    for event in events:
        fields = {k: event[k] for k in ("seq", "ts", "type", "payload", "actor")}
        assert event["event_id"] == event_id(trace.trace_id, fields)
    assert events[-1]["type"] == "agent" and events[-1]["actor"] == CLAUDE
    assert events[-1]["payload"] == {
        "event": "session_start",
        "source": "startup",
        "transcript_path": agent.payload("SessionStart")["transcript_path"],
    }


# an edit recorded once, and split by content


def test_an_agents_edit_is_recorded_once_whatever_the_scans(claude: tuple[Agent, GitRepo]) -> None:
    agent, r = claude
    rec, root = agent.rec, r.root
    agent.hook("PreToolUse-Edit")
    rec.record(r)
    (root / "prtrace_cli/show.py").write_text(SHOW_JSON)
    (root / "calc.py").write_text("def add(a, b):\n    return b + a\n")  # the developer, meanwhile
    rec.record(r)
    rec.record(r, within=["prtrace_cli/show.py"])
    agent.hook("PostToolUse-Edit")
    rec.drain()
    rec.record(r)
    events = _events(rec, r)
    (edit,) = _edits(events, "prtrace_cli/show.py")
    assert edit["actor"] == CLAUDE  # the model came from SessionStart
    assert "+def show(trace_id, as_json=False):" in edit["payload"]["diff"]
    assert edit["payload"]["before_sha"] == blob_sha(SHOW.encode())
    (human,) = _edits(events, "calc.py")
    assert human["actor"] == {"kind": "human"}


def test_the_developers_work_before_the_call_stays_theirs(claude: tuple[Agent, GitRepo]) -> None:
    agent, r = claude
    rec, root = agent.rec, r.root
    typed = SHOW + "\n\ndef hide():\n    pass\n"
    (root / "prtrace_cli/show.py").write_text(typed)  # not yet seen by a scan
    agent.hook("PreToolUse-Edit")
    rec.drain()
    (root / "prtrace_cli/show.py").write_text(
        typed.replace("def show(trace_id):", "def show(trace_id, as_json=False):")
    )
    agent.hook("PostToolUse-Edit")
    rec.drain()
    human, tool = _edits(_events(rec, r), "prtrace_cli/show.py")
    assert human["actor"] == {"kind": "human"} and "+def hide():" in human["payload"]["diff"]
    assert tool["actor"] == CLAUDE and "+def hide" not in tool["payload"]["diff"]
    assert tool["payload"]["before_sha"] == human["payload"]["after_sha"]


def test_a_file_changed_by_both_within_the_window_is_split_by_content(
    claude: tuple[Agent, GitRepo],
) -> None:
    agent, r = claude
    rec, root = agent.rec, r.root
    agent.hook("PreToolUse-Edit")
    rec.drain()
    mine = SHOW_JSON + "\n\n# the developer's line\n"
    (root / "prtrace_cli/show.py").write_text(
        mine
    )  # the tool's write and a keystroke, one debounce
    agent.hook("PostToolUse-Edit")
    rec.drain()
    tool, human = _edits(_events(rec, r), "prtrace_cli/show.py")
    assert tool["actor"] == CLAUDE and human["actor"] == {"kind": "human"}
    assert tool["payload"]["before_sha"] == blob_sha(SHOW.encode())
    assert (
        tool["payload"]["after_sha"]
        == human["payload"]["before_sha"]
        == blob_sha(SHOW_JSON.encode())
    )
    assert human["payload"]["after_sha"] == blob_sha(mine.encode())
    assert "+# the developer's line" in human["payload"]["diff"]
    assert (
        "developer" not in tool["payload"]["diff"]
        and "+def show(trace_id, as_json=False):" in tool["payload"]["diff"]
    )
    # the chain replays: the tree at the last seq is the work tree
    trace_row = rec.buffer.trace_for(str(root), "main")
    assert trace_row is not None
    trace = local_trace(rec.buffer, trace_row)
    with GitSources(r, BlobCache(rec.home.blobs)) as sources:
        report = verify_trace(trace, sources=sources)
        assert report.ok, [f.message for f in report.faults]
        replayer, _ = replay(trace, sources, None)
        write_tree(replayer, root.parent / "replayed")
    assert (root.parent / "replayed" / "prtrace_cli/show.py").read_text() == mine


def test_pieces_that_do_not_apply_give_the_whole_change_to_the_agent(
    claude: tuple[Agent, GitRepo],
) -> None:
    agent, r = claude
    rec, root = agent.rec, r.root
    agent.hook("PreToolUse-Edit")
    rec.drain()
    rewritten = "print('something else entirely')\n"
    (root / "prtrace_cli/show.py").write_text(rewritten)
    post = agent.payload("PostToolUse-Edit")
    pieces = {**post["tool_input"], "old_string": "def nowhere():\n"}
    response = {**post["tool_response"], "originalFile": "unrelated\n"}
    agent.hook("PostToolUse-Edit", tool_input=pieces, tool_response=response)
    rec.drain()
    (edit,) = _edits(_events(rec, r), "prtrace_cli/show.py")
    assert edit["actor"] == CLAUDE and edit["payload"]["after_sha"] == blob_sha(rewritten.encode())


TWINS = "def a():\n    x = 1\n\n\ndef b():\n    x = 1\n"


def _patch(*lines: str) -> str:
    return "\n".join(("*** Begin Patch", *lines, "*** End Patch")) + "\n"


def test_a_codex_hunk_lands_under_its_anchor_not_at_the_first_match(
    rec: Recorder, repo: Path
) -> None:
    _commit(repo, {"twins.py": TWINS})
    r = started(rec, repo)
    agent = Agent(rec, repo, "codex")
    patch = {
        "command": _patch("*** Update File: twins.py", "@@ def b():", "-    x = 1", "+    x = 2")
    }
    agent.hook("PreToolUse-apply_patch", tool_input=patch)
    rec.drain()
    after = TWINS.replace("def b():\n    x = 1", "def b():\n    x = 2")
    (repo / "twins.py").write_text(after)
    agent.hook("PostToolUse-apply_patch", tool_input=patch)
    rec.drain()
    (edit,) = _edits(_events(rec, r), "twins.py")  # no split: the disk is what the tool wrote
    assert edit["actor"]["name"] == "codex"
    assert edit["payload"]["after_sha"] == blob_sha(after.encode())


def test_an_ambiguous_hunk_gives_the_whole_change_to_the_agent(rec: Recorder, repo: Path) -> None:
    _commit(repo, {"twins.py": TWINS})
    r = started(rec, repo)
    agent = Agent(rec, repo, "codex")
    patch = {"command": _patch("*** Update File: twins.py", "@@", "-    x = 1", "+    x = 2")}
    agent.hook("PreToolUse-apply_patch", tool_input=patch)
    rec.drain()
    after = TWINS.replace("def b():\n    x = 1", "def b():\n    x = 2") + "# mine\n"
    (repo / "twins.py").write_text(after)
    agent.hook("PostToolUse-apply_patch", tool_input=patch)
    rec.drain()
    (edit,) = _edits(_events(rec, r), "twins.py")
    assert edit["actor"]["name"] == "codex"
    assert edit["payload"]["after_sha"] == blob_sha(after.encode())


@pytest.mark.parametrize(
    ("pieces", "anchors", "expected"),
    [
        # each hunk after the one before it: the second `x = 1` is b's
        (
            (("    x = 1\n", "    x = 2\n", False), ("    x = 1\n", "    x = 3\n", False)),
            ("def a():", None),
            TWINS.replace("x = 1", "x = 2", 1).replace("x = 1", "x = 3"),
        ),
        # an anchor is a whole line, found past the hunk before it
        (
            (("    x = 1\n", "    y = 1\n", False),),
            ("  def b():  ",),
            TWINS.replace("def b():\n    x = 1", "def b():\n    y = 1"),
        ),
        # a hunk with no old lines adds its lines at the end
        ((("", "z = 0\n", False),), (None,), TWINS + "z = 0\n"),
        # an anchor that is not there, an old text not at a line's start
        ((("    x = 1\n", "", False),), ("def c():",), None),
        ((("x = 1\n", "x = 2\n", False),), ("def a():",), None),
        # without anchors (Claude Code's pieces): found twice is no place
        ((("    x = 1\n", "    x = 2\n", False),), (), None),
        ((("    x = 1\n", "    x = 2\n", True),), (), TWINS.replace("x = 1", "x = 2")),
    ],
)
def test_pieces_are_placed_where_the_tool_placed_them(
    pieces: tuple[tuple[str, str, bool], ...], anchors: tuple[str | None, ...], expected: str | None
) -> None:
    assert apply_pieces(TWINS, pieces, anchors) == expected


def test_an_agents_delete_and_move_drained_late_are_the_agents(rec: Recorder, repo: Path) -> None:
    _commit(repo, {"a.py": "x = 1\n", "m.py": "y = 1\n"})
    r = started(rec, repo)
    agent = Agent(rec, repo, "codex")
    patch = {
        "command": _patch("*** Delete File: a.py", "*** Update File: m.py", "*** Move to: n.py")
    }
    agent.hook("PreToolUse-apply_patch", tool_input=patch, at_ns=time.time_ns() - 2_000_000_000)
    (repo / "a.py").unlink()  # the tool runs before its pre hook is drained
    (repo / "m.py").rename(repo / "n.py")  # a move keeps the file's mtime
    agent.hook("PostToolUse-apply_patch", tool_input=patch)
    rec.drain()
    events = _events(rec, r)
    (deleted,) = _edits(events, "a.py")
    (moved,) = _edits(events, "n.py")
    assert deleted["payload"]["op"] == "delete" and moved["payload"]["op"] == "rename"
    assert deleted["actor"]["name"] == moved["actor"]["name"] == "codex"
    assert _edits(events, "m.py") == []


def test_a_file_written_in_the_tick_of_the_pre_hook_is_the_tools(
    claude: tuple[Agent, GitRepo],
) -> None:
    agent, r = claude
    rec, root = agent.rec, r.root
    (root / "prtrace_cli/show.py").write_text(SHOW_JSON)
    tick = (root / "prtrace_cli/show.py").stat().st_mtime_ns
    agent.hook("PreToolUse-Edit", at_ns=tick)  # the same clock tick as the write
    agent.hook("PostToolUse-Edit")
    rec.drain()
    (edit,) = _edits(_events(rec, r), "prtrace_cli/show.py")
    assert edit["actor"] == CLAUDE


def test_a_split_in_a_file_holding_a_secret_is_redacted_and_chained(
    claude: tuple[Agent, GitRepo],
) -> None:
    agent, r = claude
    rec, root = agent.rec, r.root
    agent.hook("PreToolUse-Edit")
    rec.drain()
    mine = SHOW_JSON + f'TOKEN = "{GITHUB_TOKEN}"\n'
    (root / "prtrace_cli/show.py").write_text(mine)
    agent.hook("PostToolUse-Edit")
    rec.drain()
    tool, human = _edits(_events(rec, r), "prtrace_cli/show.py")
    assert tool["payload"]["after_sha"] == human["payload"]["before_sha"]
    assert human["payload"]["diff_redacted"] is True and GITHUB_TOKEN not in json.dumps(human)


def test_a_pre_hook_drained_after_the_tool_wrote_still_gives_the_edit_to_the_agent(
    claude: tuple[Agent, GitRepo],
) -> None:
    agent, r = claude
    rec, root = agent.rec, r.root
    ran = time.time_ns() - 2_000_000_000
    agent.hook("PreToolUse-Edit", at_ns=ran)
    (root / "prtrace_cli/show.py").write_text(SHOW_JSON)
    os.utime(root / "prtrace_cli/show.py", ns=(ran + 1_000_000_000, ran + 1_000_000_000))
    agent.hook("PostToolUse-Edit")
    rec.record(r)  # both hooks drained at once, after the write
    (edit,) = _edits(_events(rec, r), "prtrace_cli/show.py")
    assert edit["actor"] == CLAUDE


def test_an_agents_edit_of_a_withheld_file_says_only_that_it_changed(
    rec: Recorder, repo: Path
) -> None:
    _commit(repo, {".prtraceignore": "config.env\n", "config.env": "REGION=eu\n"})
    r = started(rec, repo)
    agent = Agent(rec, repo, "claude-code")
    write = {"file_path": str(repo / "config.env"), "content": "REGION=us\n"}
    agent.hook("PreToolUse-Write", tool_input=write)
    rec.drain()
    (repo / "config.env").write_text("REGION=us\nmine=1\n")
    agent.hook("PostToolUse-Write", tool_input=write)
    rec.drain()
    (edit,) = _edits(_events(rec, r), "config.env")
    assert edit["actor"]["name"] == "claude-code" and edit["payload"].get("withheld") is True
    assert "REGION" not in json.dumps(edit)


def test_a_marked_file_is_the_scans_again_once_the_mark_expires(
    claude: tuple[Agent, GitRepo],
) -> None:
    agent, r = claude
    rec, root = agent.rec, r.root
    agent.hook("PreToolUse-Edit", at_ns=time.time_ns() - AGENT_MARK_TTL_NS - 5_000_000_000)
    rec.drain()  # a post hook that never comes
    (root / "prtrace_cli/show.py").write_text(SHOW_JSON)
    assert rec.record(r).edits == 1
    (edit,) = _edits(_events(rec, r), "prtrace_cli/show.py")
    assert edit["actor"] == {"kind": "human"}


def test_a_failed_edit_unmarks_its_files(claude: tuple[Agent, GitRepo]) -> None:
    agent, r = claude
    rec, root = agent.rec, r.root
    failing = agent.payload("PostToolUseFailure-Edit")["tool_use_id"]
    agent.hook("PreToolUse-Edit", tool_use_id=failing)
    rec.drain()
    agent.hook("PostToolUseFailure-Edit")
    rec.drain()
    assert rec.buffer.marked_files(str(root), time.time_ns()) == set()
    (root / "prtrace_cli/show.py").write_text(SHOW + "# typed\n")
    rec.record(r)
    (edit,) = _edits(_events(rec, r), "prtrace_cli/show.py")
    assert edit["actor"] == {"kind": "human"}


def test_what_changed_in_a_failed_edits_files_is_the_developers(
    claude: tuple[Agent, GitRepo],
) -> None:
    agent, r = claude
    rec, root = agent.rec, r.root
    failing = agent.payload("PostToolUseFailure-Edit")["tool_use_id"]
    agent.hook("PreToolUse-Edit", tool_use_id=failing)
    rec.drain()
    (root / "prtrace_cli/show.py").write_text(SHOW + "# typed while the tool failed\n")
    agent.hook("PostToolUseFailure-Edit")
    rec.drain()
    (edit,) = _edits(_events(rec, r), "prtrace_cli/show.py")
    assert edit["actor"] == {"kind": "human"}
    assert rec.buffer.marked_files(str(root), time.time_ns()) == set()


def test_beyond_a_tools_write_is_left_to_another_call_marking_the_file(
    claude: tuple[Agent, GitRepo],
) -> None:
    agent, r = claude
    rec, root = agent.rec, r.root
    path = str(root / "prtrace_cli/show.py")
    both = SHOW_JSON + "# the second session's line\n"
    second = {"file_path": path, "content": both}
    agent.hook("PreToolUse-Edit")
    agent.hook("PreToolUse-Write", session_id="s2", tool_use_id="toolu_s2", tool_input=second)
    rec.drain()
    (root / "prtrace_cli/show.py").write_text(both)  # both tools wrote before either post
    agent.hook("PostToolUse-Edit")
    rec.drain()
    assert rec.buffer.marked_files(str(root), time.time_ns()) == {"prtrace_cli/show.py"}
    agent.hook("PostToolUse-Write", session_id="s2", tool_use_id="toolu_s2", tool_input=second)
    rec.drain()
    first, then = _edits(_events(rec, r), "prtrace_cli/show.py")
    assert first["actor"] == CLAUDE and first["payload"]["after_sha"] == blob_sha(
        SHOW_JSON.encode()
    )
    assert then["actor"]["session"] == "s2" and then["payload"]["after_sha"] == blob_sha(
        both.encode()
    )
    assert then["payload"]["before_sha"] == first["payload"]["after_sha"]


def test_a_write_outside_the_repo_is_not_recorded(
    claude: tuple[Agent, GitRepo], tmp_path: Path
) -> None:
    agent, r = claude
    rec = agent.rec
    elsewhere = tmp_path / "elsewhere.py"
    tool_input = {"file_path": str(elsewhere), "content": "x = 1\n"}
    agent.hook("PreToolUse-Write", tool_input=tool_input)
    rec.drain()
    elsewhere.write_text("x = 1\n")
    agent.hook("PostToolUse-Write", tool_input=tool_input)
    rec.drain()
    assert [e for e in _events(rec, r) if e["type"] == "edit"] == []


# shell calls


def test_what_changes_while_a_shell_call_runs_is_the_agents(
    claude: tuple[Agent, GitRepo],
) -> None:
    """An edit with an agent call around it is the agent's: the daemon's scan while the command
    runs leaves it to the call's post hook; work from before the call stays the developer's."""
    agent, r = claude
    rec, root = agent.rec, r.root
    (root / "calc.py").write_text("def add(a, b):\n    return a + b  # typed before\n")
    agent.hook("PreToolUse-Bash")
    rec.drain()
    (root / "report.txt").write_text("1 passed\n")
    assert rec.record(r).edits == 0  # the watcher, while the command runs: left to the call
    (root / "gen.txt").write_text("generated\n")  # seen by no scan
    agent.hook("PostToolUse-Bash")
    rec.drain()
    events = _events(rec, r)
    (typed,) = _edits(events, "calc.py")
    assert typed["actor"] == {"kind": "human"}
    made = [*_edits(events, "report.txt"), *_edits(events, "gen.txt")]
    assert [e["actor"] for e in made] == [CLAUDE, CLAUDE]
    (ran,) = [e for e in events if e["type"] == "test"]
    assert ran["actor"] == CLAUDE and ran["payload"]["duration_ms"] >= 0
    assert ran["payload"]["cwd"] == str(root)
    assert all(events.index(e) < events.index(ran) for e in made)
    (root / "calc.py").write_text("# after the call\n")
    rec.record(r)
    assert _edits(_events(rec, r), "calc.py")[-1]["actor"] == {"kind": "human"}


def test_a_shell_call_whose_post_never_comes_holds_nothing_past_its_time(
    claude: tuple[Agent, GitRepo],
) -> None:
    agent, r = claude
    rec, root = agent.rec, r.root
    agent.hook("PreToolUse-Bash", at_ns=time.time_ns() - AGENT_SHELL_TTL_NS - 1_000_000_000)
    rec.drain()  # a call denied long ago: no post hook ever comes
    (root / "notes.txt").write_text("typed\n")
    rec.record(r)
    assert [e["actor"] for e in _edits(_events(rec, r), "notes.txt")] == [{"kind": "human"}]


def test_a_shell_call_with_no_post_hook_takes_nothing_of_the_developers(
    claude: tuple[Agent, GitRepo],
) -> None:
    agent, r = claude
    rec, root = agent.rec, r.root
    agent.hook("PreToolUse-Bash")  # a call the developer denies: no post hook ever comes
    rec.drain()
    (root / "a.py").write_text("x = 1\n")
    git(root, "add", "a.py")
    git(root, "commit", "-q", "-m", "the developer commits")
    rec.record(r)
    events = _events(rec, r)
    (commit,) = [e for e in events if e["type"] == "commit"]
    assert commit["actor"] == {"kind": "human"}
    assert [e["actor"] for e in _edits(events, "a.py")] == [{"kind": "human"}]


def test_a_commit_is_the_agents_when_its_open_shell_call_runs_git(
    claude: tuple[Agent, GitRepo],
) -> None:
    agent, r = claude
    rec, root = agent.rec, r.root
    commits = {"command": "cd . && git add report.txt && git commit -q -m 'the agent commits'"}
    agent.hook("PreToolUse-Bash", tool_input=commits)
    rec.drain()
    (root / "report.txt").write_text("1 passed\n")
    git(root, "add", "report.txt")
    git(root, "commit", "-q", "-m", "the agent commits")
    agent.hook("PostToolUse-Bash", tool_input=commits)
    rec.drain()
    (commit,) = [e for e in _events(rec, r) if e["type"] == "commit"]
    assert commit["actor"] == CLAUDE


def test_a_git_call_left_open_past_its_time_owns_no_commit(claude: tuple[Agent, GitRepo]) -> None:
    agent, r = claude
    rec, root = agent.rec, r.root
    pushes = {"command": "git push origin main"}
    agent.hook(
        "PreToolUse-Bash",
        tool_input=pushes,
        at_ns=time.time_ns() - AGENT_SHELL_TTL_NS - 5_000_000_000,
    )
    rec.drain()
    (root / "a.py").write_text("x = 1\n")
    git(root, "add", "a.py")
    git(root, "commit", "-q", "-m", "the developer commits")
    rec.drain()
    (commit,) = [e for e in _events(rec, r) if e["type"] == "commit"]
    assert commit["actor"] == {"kind": "human"}


def test_a_failed_shell_call_is_a_failed_test_with_its_output(
    claude: tuple[Agent, GitRepo],
) -> None:
    agent, r = claude
    rec = agent.rec
    agent.hook(
        "PreToolUse-Bash",
        tool_use_id="toolu_01Pz2rFailing",
        tool_input={"command": "python -m pytest tests/cli -q"},
    )
    rec.drain()
    agent.hook("PostToolUseFailure-Bash")
    rec.drain()
    (ran,) = [e for e in _events(rec, r) if e["type"] in ("command", "test")]
    assert ran["actor"] == CLAUDE and ran["payload"]["exit_code"] != 0
    assert ran["type"] == "test" and ran["payload"]["failed"] >= 1


@pytest.mark.parametrize(
    "command",
    [
        "cd repo && python -m pytest -q",
        "source .venv/bin/activate && pytest",
        ". .venv/bin/activate && pytest tests/cli",
        "timeout 60 pytest",
        "FOO=1 pytest -q",
        "env PYTHONPATH=. pytest",
    ],
)
def test_an_agents_test_run_is_seen_through_what_it_runs_first(
    claude: tuple[Agent, GitRepo], command: str
) -> None:
    agent, r = claude
    agent.hook("PostToolUse-Bash", tool_input={"command": command})
    agent.rec.drain()
    (ran,) = [e for e in _events(agent.rec, r) if e["type"] in ("command", "test")]
    assert ran["type"] == "test" and ran["payload"]["framework"] == "pytest"
    assert ran["payload"]["command"] == command


def test_a_codex_test_run_with_failures_fails_though_its_exit_code_is_unknown(
    rec: Recorder, repo: Path
) -> None:
    _commit(repo, {"README.md": "x\n"})
    r = started(rec, repo)
    agent = Agent(rec, repo, "codex")
    agent.hook("PostToolUse-Bash-failing")
    agent.hook("PostToolUse-Bash")
    rec.drain()
    failing, passing = [e for e in _events(rec, r) if e["type"] == "test"]
    assert failing["payload"]["failed"] == 1 and failing["payload"]["exit_code"] == 1
    assert passing["payload"]["failed"] == 0 and passing["payload"]["exit_code"] == 0
    assert (
        failing["payload"]["exit_code_unknown"] is passing["payload"]["exit_code_unknown"] is True
    )


def test_a_shell_calls_output_is_capped_and_redacted_like_runs(
    claude: tuple[Agent, GitRepo],
) -> None:
    agent, r = claude
    rec = agent.rec
    response = {
        "stdout": f"token {GITHUB_TOKEN}\n" + "x" * 100_000,
        "stderr": "",
        "interrupted": False,
    }
    agent.hook("PostToolUse-Bash", tool_input={"command": "make build"}, tool_response=response)
    rec.drain()
    (ran,) = [e for e in _events(rec, r) if e["type"] == "command"]
    sample = ran["payload"]["stdout_sample"]
    assert len(sample) < 10_000 and "bytes omitted" in sample and GITHUB_TOKEN not in sample


# prompts and sessions


def test_a_secret_in_a_prompt_never_reaches_the_buffer(claude: tuple[Agent, GitRepo]) -> None:
    agent, r = claude
    rec = agent.rec
    agent.hook("UserPromptSubmit", prompt=f"push with {GITHUB_TOKEN} please")
    rec.drain()
    (asked,) = [e for e in _events(rec, r) if e["type"] == "annotation"]
    assert asked["payload"]["role"] == "prompt" and asked["actor"] == CLAUDE
    assert GITHUB_TOKEN not in asked["payload"]["text"] and "[REDACTED" in asked["payload"]["text"]
    for stored in rec.buffer.path.parent.glob(f"{rec.buffer.path.name}*"):  # its WAL too
        assert GITHUB_TOKEN.encode() not in stored.read_bytes(), stored.name


def test_sessions_stops_and_subagents_are_small_agent_events(claude: tuple[Agent, GitRepo]) -> None:
    agent, r = claude
    rec = agent.rec
    for fixture in ("SubagentStart", "SubagentStop", "Stop", "SessionEnd"):
        agent.hook(fixture)
        rec.drain()
    events = [e for e in _events(rec, r) if e["type"] == "agent"]
    assert [e["payload"]["event"] for e in events] == [
        "session_start",
        "subagent_start",
        "subagent_stop",
        "stop",
        "session_end",
    ]
    sub_stop = events[2]
    assert sub_stop["payload"]["agent_type"] == "Explore"
    assert sub_stop["actor"] == {**CLAUDE, "subagent": "Explore"}
    assert sub_stop["payload"]["last_assistant_message"].startswith("`show` is defined")
    assert events[4]["payload"]["reason"] and "last_assistant_message" in events[3]["payload"]


def test_a_line_for_no_recorded_repo_or_an_unused_hook_is_dropped(
    claude: tuple[Agent, GitRepo], tmp_path: Path
) -> None:
    agent, r = claude
    rec = agent.rec
    before = len(_events(rec, r))
    agent.hook("UserPromptSubmit", cwd=str(tmp_path))  # the hook's folder (REPO) still holds it
    outside = agent.payload("UserPromptSubmit", cwd=str(tmp_path))
    line = encode_line(AgentRecord("claude-code", outside), repo=str(tmp_path))
    (rec.home.spool / f"agent.{next(_pids)}.spool").write_bytes(line)
    agent.hook("PreToolUse-Edit", tool_name="Read")
    rec.drain()
    assert len(_events(rec, r)) == before + 1  # only the first: its REPO is the repo
    assert not list(rec.home.spool.glob("agent.*")) and not list(
        (rec.home.spool).glob("quarantine/*")
    )


def test_a_session_id_that_is_not_utf8_is_recorded_not_set_aside(
    claude: tuple[Agent, GitRepo],
) -> None:
    agent, r = claude
    rec = agent.rec
    odd = "5f0c\udcff8a3e"  # a lone surrogate: what a mangled byte decodes to
    for fixture in ("SessionStart", "UserPromptSubmit", "PreToolUse-Bash", "PostToolUse-Bash"):
        agent.hook(fixture, session_id=odd)
        rec.drain()
    assert not list(rec.home.spool.glob("quarantine/*"))
    mine = [e for e in _events(rec, r) if e["actor"].get("session", "").startswith("5f0c\\")]
    assert [e["type"] for e in mine] == ["agent", "annotation", "test"]
    assert rec.buffer.open_shell_calls(str(r.root), time.time_ns()) == []  # pre and post paired


def test_a_line_is_recorded_once_when_a_drain_is_repeated(claude: tuple[Agent, GitRepo]) -> None:
    agent, r = claude
    rec = agent.rec
    agent.hook("UserPromptSubmit")
    kept = next(rec.home.spool.glob("agent.*.spool")).read_bytes()
    mtime = next(rec.home.spool.glob("agent.*.spool")).stat().st_mtime_ns
    rec.drain()
    again = (
        rec.home.spool / f"agent.{next(_pids)}.spool.draining"
    )  # a drain that died after recording
    again.write_bytes(kept)
    os.utime(again, ns=(mtime, mtime))
    rec.drain()
    assert len([e for e in _events(rec, r) if e["type"] == "annotation"]) == 1

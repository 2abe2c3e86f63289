"""Each agent's recorded payloads through the hook commands `prtrace agent install` wrote, with
the real `prtrace` processes: the agent's events come back from `prtrace show`, its lines from
`prtrace blame`, and uninstall leaves the repo as it was."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import git, run_prtrace
from tests.daemon.test_agent_capture import AGENT_SESSIONS, FIXTURES, PROJECT

pytestmark = pytest.mark.e2e

CONFIGS = {
    "claude-code": ".claude/settings.json",
    "codex": ".codex/hooks.json",
    "gemini": ".gemini/settings.json",
    "cursor": ".cursor/hooks.json",
}
MARK = ": prtrace-agent-hook"


def _installed_command(config: Any) -> str:
    """The command prtrace's entries hold, wherever the agent's format keeps it."""
    if isinstance(config, dict):
        for value in config.values():
            if isinstance(value, str) and value.startswith(MARK):
                return value
            if isinstance(value, dict | list) and (found := _installed_command(value)):
                return found
    if isinstance(config, list):
        for item in config:
            if found := _installed_command(item):
                return found
    return ""


def _fire(repo: Path, command: str, agent: str, fixture: str) -> None:
    """Run the hook as the agent does: `sh -c COMMAND` in the project, the payload on stdin."""
    text = (FIXTURES / agent / f"{fixture}.json").read_text().replace(PROJECT, str(repo))
    done = subprocess.run(["sh", "-c", command], input=text.encode(), cwd=repo, capture_output=True, timeout=30)
    assert (done.returncode, done.stdout, done.stderr) == (0, b"", b"")


@pytest.mark.parametrize("agent", sorted(AGENT_SESSIONS))
def test_an_agents_recorded_session_through_its_installed_hooks(repo: Path, agent: str) -> None:
    before, (edit_pre, edit_post), after, (shell_pre, shell_post), prompt, start, (session, _) = AGENT_SESSIONS[agent]
    for rel, content in before.items():
        (repo / rel).parent.mkdir(parents=True, exist_ok=True)
        (repo / rel).write_text(content)
    git(repo, "add", ".")
    git(repo, "commit", "-qm", "before the agent")
    run_prtrace("start", "--no-daemon", cwd=repo, check=True)
    run_prtrace("agent", "install", agent, cwd=repo, check=True)
    config = repo / CONFIGS[agent]
    command = _installed_command(json.loads(config.read_text()))
    assert command, f"no prtrace hook in {config}"

    for fixture in (start, prompt, *([edit_pre] if edit_pre else [])):
        _fire(repo, command, agent, fixture)
    for rel, content in after.items():  # the tool's own write
        (repo / rel).parent.mkdir(parents=True, exist_ok=True)
        (repo / rel).write_text(content)
    if edit_pre:  # a scan between pre and post leaves the marked file alone
        run_prtrace("note", "the developer's note, mid-session", cwd=repo, check=True)
    _fire(repo, command, agent, edit_post)
    if not edit_pre:  # Cursor sends no hook before an edit: its post must come before a scan
        run_prtrace("note", "the developer's note, mid-session", cwd=repo, check=True)
    for fixture in (shell_pre, shell_post):
        _fire(repo, command, agent, fixture)

    shown = run_prtrace("show", "main", "--local", "--json", cwd=repo, check=True)
    events = json.loads(shown.stdout)["events"]
    mine = [e for e in events if (e.get("actor") or {}).get("name") == agent]
    assert all(e["actor"]["session"] == session for e in mine)
    # the settings file install wrote is the developer's edit; each file the tool wrote, once
    edits = [e["payload"]["file"] for e in events if e["type"] == "edit" and e["payload"]["file"] != CONFIGS[agent]]
    assert sorted(edits) == sorted(after)
    assert {e["payload"]["file"] for e in mine if e["type"] == "edit"} == set(after)
    assert [e["type"] for e in mine if e["type"] in ("test", "command")] == ["test"]
    assert [e["payload"]["role"] for e in mine if e["type"] == "annotation"] == ["prompt"]
    (note,) = [e for e in events if e["type"] == "annotation" and "role" not in e["payload"]]
    assert note["actor"] == {"kind": "human"}
    timeline = run_prtrace("show", "main", "--local", "--actor", "agent", cwd=repo, check=True).stdout
    assert agent in timeline and "the developer's note" not in timeline

    git(repo, "add", *after)
    git(repo, "commit", "-qm", "the agent's change")
    changed = next(iter(after))
    blamed = json.loads(run_prtrace("blame", changed, "--json", cwd=repo, check=True).stdout)
    added = [line for line in blamed if line["commit"] == git(repo, "rev-parse", "HEAD").strip()]
    assert added and all(line["author"] == "agent" and line["actor"]["name"] == agent for line in added)

    run_prtrace("agent", "uninstall", agent, cwd=repo, check=True)
    assert not config.exists() and not config.parent.exists()


def test_work_held_for_a_shell_call_that_never_ends_is_recorded_as_the_developers(
    repo: Path, prtrace_home: Path, tmp_path: Path
) -> None:
    """The daemon's scan leaves what changes during an agent's shell call to the call's post
    hook; when none comes (a call the developer denied), the daemon looks again once the call
    expires and records the work as the developer's."""
    import os
    import time

    from prtrace_daemon.buffer import AGENT_SHELL_TTL_NS, Buffer
    from prtrace_daemon.spool_format import AgentRecord, encode_line
    from tests.support.waiting import wait_for

    run_prtrace("start", cwd=repo, check=True)
    try:
        payload = json.loads((FIXTURES / "claude-code" / "PreToolUse-Bash.json").read_text().replace(PROJECT, str(repo)))
        line = tmp_path / "agent.4000001.spool"
        line.write_bytes(encode_line(AgentRecord("claude-code", payload), repo=str(repo)))
        began = time.time_ns() - AGENT_SHELL_TTL_NS + 3_000_000_000  # it expires in 3 s
        os.utime(line, ns=(began, began))
        os.replace(line, prtrace_home / "spool" / line.name)  # the hook's line, as if written then

        def opened() -> bool:
            with Buffer(prtrace_home / "buffer.db") as buffer:
                return bool(buffer.open_shell_calls(str(repo), time.time_ns()))

        wait_for(opened, what="the shell call opened by the daemon's drain")
        (repo / "dev.txt").write_text("the developer's, while the call runs\n")

        def recorded() -> list[dict[str, Any]]:
            with Buffer(prtrace_home / "buffer.db") as buffer:
                trace = buffer.trace_for(str(repo), "main")
                found = buffer.events(trace.trace_id) if trace else []
            return [e for e in found if e["type"] == "edit" and e["payload"]["file"] == "dev.txt"]

        (edit,) = wait_for(recorded, what="the held edit, once the call expired", timeout_s=30)
        assert edit["actor"] == {"kind": "human"}
    finally:
        run_prtrace("stop", cwd=repo)


def test_kill_9_while_agent_lines_drain_loses_and_repeats_none(repo: Path, prtrace_home: Path) -> None:
    """An agent's prompts stream through its installed hook while the daemon is killed -9 and
    started again: every prompt is recorded exactly once, in the order the hooks ran."""
    import os
    import signal

    from prtrace_daemon.buffer import Buffer
    from prtrace_daemon.paths import home
    from prtrace_daemon.process import running
    from tests.support.waiting import wait_for

    run_prtrace("start", cwd=repo, check=True)
    run_prtrace("agent", "install", "claude-code", cwd=repo, check=True)
    command = _installed_command(json.loads((repo / CONFIGS["claude-code"]).read_text()))
    payload = json.loads((FIXTURES / "claude-code" / "UserPromptSubmit.json").read_text().replace(PROJECT, str(repo)))
    sent = [f"prompt {n:03d}" for n in range(60)]
    try:
        for n, text in enumerate(sent):
            done = subprocess.run(["sh", "-c", command], input=json.dumps({**payload, "prompt": text}).encode(), cwd=repo, capture_output=True, timeout=30)
            assert (done.returncode, done.stdout) == (0, b"")
            if n == 30:
                info = running(home())
                assert info is not None
                os.kill(info.pid, signal.SIGKILL)
                wait_for(lambda: running(home()) is None, what="the daemon to die")
        run_prtrace("start", cwd=repo, check=True)  # a new daemon drains what is left

        def prompts() -> list[str]:
            with Buffer(prtrace_home / "buffer.db") as buffer:
                trace = buffer.trace_for(str(repo), "main")
                found = buffer.events(trace.trace_id) if trace else []
            return [e["payload"]["text"] for e in found if e["payload"].get("role") == "prompt"]

        wait_for(lambda: len(prompts()) >= len(sent), what="every prompt recorded", timeout_s=60)
        assert prompts() == sent
    finally:
        run_prtrace("stop", cwd=repo)

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

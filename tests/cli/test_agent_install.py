"""`prtrace agent install|uninstall|status`: the coding agents' hooks go into their settings
without harm, come out byte for byte, and record every documented payload as one spool line."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import tomlkit

from prtrace_daemon.agent_install import (
    AGENTS,
    MARKER,
    AgentConfigError,
    config_path,
    hook_command,
    install,
    installed_state,
    uninstall,
)
from prtrace_daemon.spool_format import AgentRecord, decode_line, decode_record
from tests.conftest import run_prtrace

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "agents"

# The user's own settings, each with hooks of theirs, and where each agent keeps them.
USER_CONFIGS = {
    "claude-code": [(FIXTURES / "claude-code" / "settings.json", ".claude/settings.json")],
    "codex": [
        (FIXTURES / "codex" / ".codex" / "hooks.json", ".codex/hooks.json"),
        (FIXTURES / "codex" / ".codex" / "config.toml", ".codex/config.toml"),
    ],
    "gemini": [(FIXTURES / "gemini" / "settings.with-user-hook.json", ".gemini/settings.json")],
    "cursor": [(FIXTURES / "cursor" / "hooks.with-user-hook.json", ".cursor/hooks.json")],
}
CONFIG_CASES = [
    pytest.param(agent, source, target, id=f"{agent}-{Path(target).name}")
    for agent, pairs in USER_CONFIGS.items()
    for source, target in pairs
]
PAYLOADS = [
    pytest.param(agent, path, id=f"{agent}-{path.stem}")
    for agent in AGENTS
    for path in sorted((FIXTURES / agent).glob("*.json"))
    if "hook_event_name" in json.loads(path.read_text())
]


@pytest.fixture
def user_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A HOME of the test's own: --user never reaches a real one."""
    home = tmp_path / "user-home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    return home


def _load(path: Path) -> Any:
    text = path.read_text(encoding="utf-8")
    return tomlkit.parse(text).unwrap() if path.suffix == ".toml" else json.loads(text)


def _handlers(data: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """(event, handler) for every handler, grouped (Claude, Codex, Gemini) or flat (Cursor)."""
    out = []
    for event, entries in data.get("hooks", {}).items():
        for entry in entries:
            for handler in entry.get("hooks", [entry]):
                out.append((event, handler))
    return out


def _theirs(data: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    return [(e, h) for e, h in _handlers(data) if MARKER not in h.get("command", "")]


def _ours(data: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    return [(e, h) for e, h in _handlers(data) if MARKER in h.get("command", "")]


def _registered(prtrace_home: Path, *roots: Path) -> None:
    """The repos list as `prtrace start` writes it (one real path a line), and the spool."""
    (prtrace_home / "spool").mkdir(exist_ok=True)
    (prtrace_home / "repos").write_text("".join(f"{root.resolve()}\n" for root in roots))


def _run_hook(command: str, payload: bytes, cwd: Path) -> subprocess.CompletedProcess[bytes]:
    """The command as the agent runs it: through sh, the payload on stdin, in the project."""
    return subprocess.run(
        ["sh", "-c", command], input=payload, cwd=cwd, capture_output=True, timeout=30
    )


def _spooled(prtrace_home: Path) -> list[bytes]:
    lines = []
    for path in sorted((prtrace_home / "spool").glob("agent.*.spool")):
        lines += path.read_bytes().splitlines(keepends=True)
    return lines


# ---------------------------------------------------------------- install and uninstall


@pytest.mark.parametrize(("agent", "source", "target"), CONFIG_CASES)
def test_install_keeps_the_users_hooks_and_uninstall_restores_the_file_byte_for_byte(
    agent: str, source: Path, target: str, repo: Path, prtrace_home: Path
) -> None:
    settings = repo / target
    settings.parent.mkdir(parents=True)
    shutil.copyfile(source, settings)
    settings.chmod(0o640)
    before = settings.read_bytes()
    theirs = _theirs(_load(settings))
    assert theirs, "the fixture holds hooks of the user's own"

    assert config_path(agent, repo) == settings
    report = install(agent, settings, prtrace_home)
    assert report.changed and not report.created
    after = _load(settings)
    assert _theirs(after) == theirs  # none dropped, reordered or rewritten
    events = {event for event, _ in _ours(after)}
    assert len(_ours(after)) == len(events) >= 5
    assert {h["command"] for _, h in _ours(after)} == {hook_command(agent, prtrace_home)}
    if source.suffix == ".toml":
        assert "# The user's own hook: log every shell command." in settings.read_text()
    assert settings.stat().st_mode & 0o777 == 0o640
    state = next((prtrace_home / "agents").iterdir())
    assert state.stat().st_mode & 0o777 == 0o600

    assert uninstall(agent, settings, prtrace_home).restored
    assert settings.read_bytes() == before
    assert settings.stat().st_mode & 0o777 == 0o640
    assert not any((prtrace_home / "agents").iterdir())


@pytest.mark.parametrize("agent", AGENTS)
def test_install_where_there_was_no_file_and_uninstall_leaves_nothing_behind(
    agent: str, repo: Path, prtrace_home: Path
) -> None:
    settings = config_path(agent, repo)
    report = install(agent, settings, prtrace_home)
    assert report.changed and report.created
    assert _ours(json.loads(settings.read_text()))
    # a new file is written as the agents write theirs
    assert settings.read_text().startswith("{\n  ")

    assert uninstall(agent, settings, prtrace_home).restored
    assert not settings.exists() and not settings.parent.exists()


@pytest.mark.parametrize("agent", AGENTS)
def test_a_second_install_changes_nothing(agent: str, repo: Path, prtrace_home: Path) -> None:
    settings = config_path(agent, repo)
    install(agent, settings, prtrace_home)
    once = settings.read_bytes()
    assert not install(agent, settings, prtrace_home).changed
    assert settings.read_bytes() == once
    assert installed_state(agent, settings, prtrace_home) == "installed"


def test_a_reinstall_for_another_state_folder_replaces_ours_only(
    repo: Path, prtrace_home: Path, tmp_path: Path
) -> None:
    settings = repo / ".claude" / "settings.json"
    settings.parent.mkdir()
    shutil.copyfile(FIXTURES / "claude-code" / "settings.json", settings)
    before = settings.read_bytes()
    install("claude-code", settings, tmp_path / "old-home")
    assert installed_state("claude-code", settings, prtrace_home) == "stale"
    install("claude-code", settings, prtrace_home)
    assert {h["command"] for _, h in _ours(_load(settings))} == {
        hook_command("claude-code", prtrace_home)
    }
    report = uninstall("claude-code", settings, prtrace_home)
    assert report.found and not report.restored  # this state folder never saw the file without them
    assert settings.read_bytes() == before


def test_a_file_the_user_removed_and_install_made_again_is_removed_by_uninstall(
    repo: Path, prtrace_home: Path
) -> None:
    settings = config_path("cursor", repo)
    install("cursor", settings, prtrace_home)
    settings.unlink()
    assert install("cursor", settings, prtrace_home).created
    assert uninstall("cursor", settings, prtrace_home).restored
    assert not (repo / ".cursor").exists()


def test_a_symlinked_settings_file_stays_a_symlink(
    repo: Path, prtrace_home: Path, tmp_path: Path
) -> None:
    dotfiles = tmp_path / "dotfiles" / "claude.json"
    dotfiles.parent.mkdir()
    shutil.copyfile(FIXTURES / "claude-code" / "settings.json", dotfiles)
    settings = repo / ".claude" / "settings.json"
    settings.parent.mkdir()
    settings.symlink_to(dotfiles)
    install("claude-code", settings, prtrace_home)
    assert settings.is_symlink() and _ours(json.loads(dotfiles.read_text()))
    uninstall("claude-code", settings, prtrace_home)
    assert settings.is_symlink()
    assert dotfiles.read_bytes() == (FIXTURES / "claude-code" / "settings.json").read_bytes()


@pytest.mark.parametrize(("agent", "source", "target"), CONFIG_CASES)
def test_uninstall_after_the_user_changed_the_file_takes_out_only_prtraces_entries(
    agent: str, source: Path, target: str, repo: Path, prtrace_home: Path
) -> None:
    settings = repo / target
    settings.parent.mkdir(parents=True)
    if source.suffix == ".json":  # indented with 4 spaces: uninstall keeps the user's style
        settings.write_text(json.dumps(json.loads(source.read_text()), indent=4) + "\n")
    else:
        shutil.copyfile(source, settings)
    install(agent, settings, prtrace_home)
    # The user adds a setting and a hook of their own after install.
    if source.suffix == ".toml":
        doc = tomlkit.parse(settings.read_text())
        doc["model"] = "gpt-5"
        settings.write_text(tomlkit.dumps(doc))
    else:
        data = json.loads(settings.read_text())
        data["addedLater"] = True
        event = next(iter(data["hooks"]))
        mine = (
            {"command": "echo mine"}
            if agent == "cursor"
            else {"hooks": [{"type": "command", "command": "echo mine"}]}
        )
        data["hooks"][event].append(mine)
        settings.write_text(json.dumps(data, indent=4) + "\n")
    edited = _load(settings)

    report = uninstall(agent, settings, prtrace_home)
    assert report.found and report.kept_edits and not report.restored
    left = _load(settings)
    assert not _ours(left)
    assert _theirs(left) == _theirs(edited)
    if source.suffix == ".toml":
        assert left["model"] == "gpt-5"
        assert "# The user's own hook: log every shell command." in settings.read_text()
    else:
        assert left["addedLater"] is True and ("echo mine" in settings.read_text())
        assert settings.read_text().startswith('{\n    "')


def test_json_with_comments_is_refused_with_one_clear_error_and_left_untouched(
    repo: Path, prtrace_home: Path
) -> None:
    settings = repo / ".gemini" / "settings.json"
    settings.parent.mkdir()
    settings.write_text('{\n  // my settings\n  "general": {"vimMode": true}\n}\n')
    before = settings.read_bytes()
    with pytest.raises(AgentConfigError):
        install("gemini", settings, prtrace_home)

    proc = run_prtrace("agent", "install", "gemini", cwd=repo)
    assert proc.returncode == 1
    assert (
        proc.stderr.startswith("error: ")
        and "not plain JSON" in proc.stderr
        and "hint: " in proc.stderr
    )
    assert "Traceback" not in proc.stderr and proc.stdout == ""
    assert settings.read_bytes() == before
    assert not (prtrace_home / "agents").exists()


def test_an_unknown_agent_is_one_clear_error(repo: Path) -> None:
    proc = run_prtrace("agent", "install", "copilot", cwd=repo)
    assert (
        proc.returncode == 1
        and "copilot" in proc.stderr
        and "claude-code|codex|gemini|cursor" in proc.stderr
    )


def test_user_scope_writes_in_the_home_folder_and_status_says_where(
    repo: Path, prtrace_home: Path, user_home: Path
) -> None:
    installed = run_prtrace("agent", "install", "codex", "--user", cwd=repo, check=True)
    settings = user_home / ".codex" / "hooks.json"
    assert str(settings) in installed.stdout and "trust" in installed.stdout
    assert not (repo / ".codex").exists()
    assert _ours(json.loads(settings.read_text()))

    status = run_prtrace("agent", "status", cwd=repo, check=True).stdout
    assert re.search(r"codex +user +installed +" + re.escape(str(settings)), status)
    assert re.search(r"codex +project +not installed", status)

    removed = run_prtrace("agent", "uninstall", "codex", "--user", cwd=repo, check=True)
    assert "removed" in removed.stdout
    assert not (user_home / ".codex").exists() and user_home.exists()


def test_start_mentions_the_install_for_an_agent_set_up_in_the_repo(
    repo: Path, prtrace_home: Path, user_home: Path
) -> None:
    (repo / ".claude").mkdir()
    (repo / ".cursor").mkdir()
    started = run_prtrace("start", "--no-daemon", cwd=repo, check=True).stdout
    assert (
        "prtrace agent install claude-code" in started and "prtrace agent install cursor" in started
    )
    assert "codex" not in started and "gemini" not in started

    run_prtrace("agent", "install", "claude-code", cwd=repo, check=True)
    again = run_prtrace("start", "--no-daemon", cwd=repo, check=True).stdout
    assert "agent install claude-code" not in again and "prtrace agent install cursor" in again

    # Through the real registration: a prompt in the repo is spooled.
    command = next(
        h["command"]
        for e, h in _ours(_load(repo / ".claude" / "settings.json"))
        if e == "UserPromptSubmit"
    )
    payload = (FIXTURES / "claude-code" / "UserPromptSubmit.json").read_bytes()
    assert _run_hook(command, payload, repo).returncode == 0
    assert any(b"\tagent\t" in line for line in _spooled(prtrace_home))


# ---------------------------------------------------------------- the installed command


@pytest.mark.parametrize(("agent", "fixture"), PAYLOADS)
def test_every_documented_payload_becomes_one_spool_line_through_the_installed_command(
    agent: str, fixture: Path, repo: Path, prtrace_home: Path
) -> None:
    settings = config_path(agent, repo)
    install(agent, settings, prtrace_home)
    _registered(prtrace_home, repo)
    payload = fixture.read_bytes()
    sent = json.loads(payload)
    event = sent["hook_event_name"]
    [(_, handler)] = [(e, h) for e, h in _ours(_load(settings)) if e == event]
    groups = _load(settings)["hooks"][event]
    matcher = next((g.get("matcher") for g in groups if handler in g.get("hooks", [g])), None)
    if matcher and "tool_name" in sent:  # the agent runs it for this tool
        assert re.search(matcher, sent["tool_name"])

    folder = repo / "src"  # the agent's folder: anywhere inside the repo
    folder.mkdir()
    proc = _run_hook(handler["command"], payload, folder)
    assert (proc.returncode, proc.stdout, proc.stderr) == (0, b"", b"")
    [line] = _spooled(prtrace_home)
    assert line.endswith(b"\n") and line.count(b"\n") == 1
    decoded = decode_line(line)
    assert decoded is not None
    kind, ts, where, fields = decoded
    assert (kind, ts, where) == ("agent", "", str(folder.resolve()))
    record = decode_record(kind, fields)
    assert isinstance(record, AgentRecord)
    assert (record.agent, record.payload) == (agent, sent)


def test_outside_a_registered_repo_nothing_is_spooled(
    repo: Path, prtrace_home: Path, tmp_path: Path
) -> None:
    settings = config_path("claude-code", repo)
    install("claude-code", settings, prtrace_home)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    _registered(prtrace_home, elsewhere)
    command = hook_command("claude-code", prtrace_home)
    payload = (FIXTURES / "claude-code" / "PostToolUse-Edit.json").read_bytes()
    for cwd in (repo, tmp_path):  # a registered repo's parent is not inside it either
        proc = _run_hook(command, payload, cwd)
        assert (proc.returncode, proc.stdout, proc.stderr) == (0, b"", b"")
    assert not _spooled(prtrace_home)
    proc = subprocess.run(
        ["sh", "-c", command],
        input=payload,
        cwd=elsewhere,
        capture_output=True,
        env={**os.environ, "PRTRACE_DISABLE": "1"},
        timeout=30,
    )
    assert (proc.returncode, proc.stdout, proc.stderr) == (0, b"", b"")
    assert not _spooled(prtrace_home)


def test_a_repo_reached_through_a_symlink_is_spooled_under_its_real_path(
    repo: Path, prtrace_home: Path, tmp_path: Path
) -> None:
    _registered(prtrace_home, repo)
    link = tmp_path / "link"
    link.symlink_to(repo)
    payload = (FIXTURES / "codex" / "PreToolUse-Bash.json").read_bytes()
    assert _run_hook(hook_command("codex", prtrace_home), payload, link).returncode == 0
    [line] = _spooled(prtrace_home)
    assert line.split(b"\t")[3] == str(repo.resolve()).encode()


@pytest.mark.parametrize("gone", ["spool", "home"])
def test_a_missing_spool_or_state_folder_still_exits_0_in_silence(
    gone: str, repo: Path, prtrace_home: Path
) -> None:
    _registered(prtrace_home, repo)
    command = hook_command("gemini", prtrace_home)
    shutil.rmtree(prtrace_home / "spool" if gone == "spool" else prtrace_home)
    payload = (FIXTURES / "gemini" / "AfterTool.write_file.json").read_bytes()
    proc = _run_hook(command, payload, repo)
    assert (proc.returncode, proc.stdout, proc.stderr) == (0, b"", b"")
    assert not (prtrace_home / "spool").exists()


def test_huge_and_empty_input_exit_0_in_silence(repo: Path, prtrace_home: Path) -> None:
    _registered(prtrace_home, repo)
    command = hook_command("cursor", prtrace_home)
    huge = json.dumps(
        {"hook_event_name": "afterFileEdit", "edits": [{"new_string": "x\ty\n" * 1_000_000}]}
    )
    for payload in (huge.encode(), b""):
        proc = _run_hook(command, payload, repo)
        assert (proc.returncode, proc.stdout, proc.stderr) == (0, b"", b"")
    [big, _empty] = sorted(_spooled(prtrace_home), key=len, reverse=True)
    decoded = decode_line(big)
    assert decoded is not None
    record = decode_record(decoded[0], decoded[3])
    assert isinstance(record, AgentRecord) and record.payload == json.loads(huge)


def test_the_command_starts_no_process_but_tr(
    repo: Path, prtrace_home: Path, tmp_path: Path
) -> None:
    """With only `tr` on PATH the command still records: it needs no other program (outside
    recorded repos it runs `cat` instead, to read the input it discards)."""
    _registered(prtrace_home, repo)
    tools = tmp_path / "tools"
    tools.mkdir()
    (tools / "tr").symlink_to(shutil.which("tr") or "/usr/bin/tr")
    payload = (FIXTURES / "claude-code" / "Stop.json").read_bytes()
    proc = subprocess.run(
        ["/bin/sh", "-c", hook_command("claude-code", prtrace_home)],
        input=payload,
        cwd=repo,
        capture_output=True,
        env={"PATH": str(tools)},
        timeout=30,
    )
    assert (proc.returncode, proc.stdout, proc.stderr) == (0, b"", b"")
    assert len(_spooled(prtrace_home)) == 1


def test_a_state_folder_with_spaces_and_quotes_in_its_path_is_baked_in_safely(
    repo: Path, tmp_path: Path
) -> None:
    odd = tmp_path / "it's a $HOME; `x`"
    odd.mkdir()
    _registered(odd, repo)
    payload = (FIXTURES / "codex" / "Stop.json").read_bytes()
    proc = _run_hook(hook_command("codex", odd), payload, repo)
    assert (proc.returncode, proc.stdout, proc.stderr) == (0, b"", b"")
    assert len(_spooled(odd)) == 1

"""Reading the coding agents' hook inputs: every recorded payload in tests/fixtures/agents reads as
the call it is, Codex's apply_patch text names the files and pieces it writes, and no input at
all, however odd, makes the reader raise."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from prtrace_daemon.agent_calls import AGENTS, HOOKS, AgentCall, FileWrite, parse_call, runs_git
from prtrace_daemon.agent_patch import parse_patch

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "agents"
# The agents' own settings files sit beside the payloads: they are not hook inputs.
SETTINGS = {"settings.json", "settings.with-user-hook.json", "hooks.with-user-hook.json"}

CLAUDE_SESSION = "5f0c8a3e-2b7d-4c1e-9a64-3d8e1f7b2c90"
CODEX_SESSION = "019a6f2e-8c41-7d30-b5e2-6a9f0c3d1e77"
GEMINI_SESSION = "7c1e2f4a-9b3d-4e5f-8a6b-0c1d2e3f4a5b"
CURSOR_SESSION = "3f6c2a9e-1d4b-4c8a-9e7f-5b2d0a1c8e34"
PROJECT = "/home/dev/project"

SHOW = f"{PROJECT}/prtrace_cli/show.py"
SHOW_BEFORE = (
    "import sys\n\n\ndef show(trace_id):\n    events = load(trace_id)\n    print(render(events))\n"
)
SHOW_EDIT = ("def show(trace_id):\n", "def show(trace_id, as_json=False):\n", False)
MULTI_EDIT = (
    ("import sys\n", "import json\nimport sys\n", False),
    (
        "    print(render(events))\n",
        "    print(json.dumps(events) if as_json else render(events))\n",
        False,
    ),
)
CLAUDE_TEST = f"{PROJECT}/tests/cli/test_show_json.py"
CLAUDE_TEST_TEXT = (
    "from prtrace_cli.show import show\n\n\n"
    'def test_show_json(tmp_path):\n    assert show("t1", as_json=True) is not None\n'
)
CODEX_FILES = (
    FileWrite(
        path="prtrace_cli/show.py",
        op="replace",
        replacements=(
            (
                "def show(trace_id):\n    events = load(trace_id)\n",
                "def show(trace_id, as_json=False):\n    events = load(trace_id)\n",
                False,
            ),
        ),
        anchors=(None,),  # its hunk's `@@` line names no anchor
    ),
    FileWrite(
        path="tests/cli/test_show_json.py",
        op="write",
        content=(
            "from prtrace_cli.show import show\n\n\n"
            'def test_show_json():\n    assert show("t1", as_json=True) is not None\n'
        ),
    ),
)
DURATION = f"{PROJECT}/src/duration.py"
UNITS_EDIT = ('UNITS = {"s": 1, "m": 60}\n', 'UNITS = {"s": 1, "m": 60, "h": 3600}\n', False)
DURATION_TEST = f"{PROJECT}/tests/test_duration.py"
DURATION_TEST_TEXT = (
    "from src.duration import parse_duration\n\n\n"
    'def test_hours_and_minutes():\n    assert parse_duration("1h30m") == 5400\n'
)
PROMPT = "Add a --json flag to `prtrace show` and a test for it"
DURATION_PROMPT = "Make parse_duration accept '1h30m' and add a test for it"

# What each fixture reads as: the fields named here, exactly (the others are checked for
# every fixture below: agent, and session/cwd per agent).
EXPECTED: dict[str, dict[str, dict[str, Any]]] = {
    "claude-code": {
        "SessionStart.json": {
            "hook": "session_start",
            "model": "claude-sonnet-4-5-20250929",
            "tool": None,
            "details": {"source": "startup"},
        },
        "UserPromptSubmit.json": {"hook": "prompt", "prompt": PROMPT, "tool_kind": None},
        "PreToolUse-Bash.json": {
            "hook": "pre_tool",
            "tool": "Bash",
            "tool_kind": "shell",
            "call_id": "toolu_01Jd4nWs8ZkQ6tHb1VcR3xPm",
            "command": "python -m pytest tests/cli/test_show_json.py -q",
            "output": None,
            "exit_code": None,
        },
        "PostToolUse-Bash.json": {
            "hook": "post_tool",
            "tool_kind": "shell",
            "call_id": "toolu_01Jd4nWs8ZkQ6tHb1VcR3xPm",
            "command": "python -m pytest tests/cli/test_show_json.py -q",
            "output": "." + " " * 72 + "[100%]\n1 passed in 0.04s\n",
            "exit_code": 0,
        },
        "PostToolUseFailure-Bash.json": {
            "hook": "tool_failed",
            "tool_kind": "shell",
            "call_id": "toolu_01Pz2rWq7NcX5kLb8YtG4dHe",
            "command": "python -m pytest tests/cli -q",
            "exit_code": 1,
            "output": (
                "FAILED tests/cli/test_show_json.py::test_show_json - AssertionError\n"
                "1 failed, 41 passed in 1.93s"
            ),
        },
        "PreToolUse-Edit.json": {
            "hook": "pre_tool",
            "tool": "Edit",
            "tool_kind": "edit",
            "call_id": "toolu_01VbX3kq8ZfR2mYc4nTg7LhA",
            "files": (FileWrite(path=SHOW, op="replace", replacements=(SHOW_EDIT,)),),
        },
        "PostToolUse-Edit.json": {
            "hook": "post_tool",
            "tool_kind": "edit",
            "call_id": "toolu_01VbX3kq8ZfR2mYc4nTg7LhA",
            "files": (
                FileWrite(path=SHOW, op="replace", replacements=(SHOW_EDIT,), original=SHOW_BEFORE),
            ),
        },
        "PostToolUseFailure-Edit.json": {
            "hook": "tool_failed",
            "tool_kind": "edit",
            "exit_code": None,
            "files": (
                FileWrite(
                    path=SHOW,
                    op="replace",
                    replacements=(
                        ("def render(events):\n", "def render(events, color=True):\n", False),
                    ),
                ),
            ),
            "details": {
                "error": "String to replace not found in file.\nString: def render(events):\n"
            },
        },
        "PreToolUse-MultiEdit.json": {
            "hook": "pre_tool",
            "tool": "MultiEdit",
            "files": (FileWrite(path=SHOW, op="replace", replacements=MULTI_EDIT),),
        },
        "PostToolUse-MultiEdit.json": {
            "hook": "post_tool",
            "tool": "MultiEdit",
            "call_id": "toolu_01Mq7cRt5YxL3vFa9DpE2sKw",
            "files": (
                FileWrite(
                    path=SHOW,
                    op="replace",
                    replacements=MULTI_EDIT,
                    original=SHOW_BEFORE.replace("(trace_id)", "(trace_id, as_json=False)", 1),
                ),
            ),
        },
        "PreToolUse-Write.json": {
            "hook": "pre_tool",
            "tool": "Write",
            "files": (FileWrite(path=CLAUDE_TEST, op="write", content=CLAUDE_TEST_TEXT),),
        },
        "PostToolUse-Write.json": {
            "hook": "post_tool",
            "tool": "Write",
            "call_id": "toolu_01Hs9dQe4WwP6rJt2KyN8uBf",
            # a created file: nothing was there before
            "files": (
                FileWrite(path=CLAUDE_TEST, op="write", content=CLAUDE_TEST_TEXT, original=""),
            ),
        },
        "SubagentStart.json": {
            "hook": "subagent_start",
            "subagent": "Explore",
            "details": {"agent_id": "a7c3e9f1b2d4"},
        },
        "SubagentStop.json": {
            "hook": "subagent_stop",
            "subagent": "Explore",
            "details": {
                "agent_id": "a7c3e9f1b2d4",
                "last_assistant_message": "`show` is defined in prtrace_cli/show.py; rendering"
                " lives in render() in the same file.",
                "stop_hook_active": False,
            },
        },
        "Stop.json": {
            "hook": "stop",
            "details": {
                "last_assistant_message": "Added `--json` to `prtrace show` and a test;"
                " `pytest tests/cli` passes."
            },
        },
        "SessionEnd.json": {"hook": "session_end", "details": {"reason": "prompt_input_exit"}},
    },
    "codex": {
        "SessionStart.json": {
            "hook": "session_start",
            "model": "gpt-5-codex",
            "details": {"source": "startup"},
        },
        "UserPromptSubmit.json": {
            "hook": "prompt",
            "prompt": PROMPT,
            "details": {"turn_id": "019a6f2f-0d12-7a44-9c3b-1e5d8f2a6b90"},
        },
        "PreToolUse-Bash.json": {
            "hook": "pre_tool",
            "tool": "Bash",
            "tool_kind": "shell",
            "call_id": "call_Lp8sW2eRq5VnK3tZy6GbM4xD",
            "command": "python -m pytest tests/cli/test_show_json.py -q",
        },
        "PostToolUse-Bash.json": {
            "hook": "post_tool",
            "tool_kind": "shell",
            "call_id": "call_Lp8sW2eRq5VnK3tZy6GbM4xD",
            "output": "." + " " * 72 + "[100%]\n1 passed in 0.04s\n",
            "exit_code": None,
            "details": {"exit_code_unknown": True},
        },
        "PostToolUse-Bash-failing.json": {
            "hook": "post_tool",
            "command": "python -m pytest tests/cli -q",
            "exit_code": None,  # only the output says it failed
            "details": {"exit_code_unknown": True},
        },
        "PreToolUse-apply_patch.json": {
            "hook": "pre_tool",
            "tool": "apply_patch",
            "tool_kind": "edit",
            "call_id": "call_Qm3vT8kLx2NfR7bYc1HdW9sJ",
            "files": CODEX_FILES,
        },
        "PostToolUse-apply_patch.json": {
            "hook": "post_tool",
            "tool_kind": "edit",
            "files": CODEX_FILES,
            "details": {
                "result": "Success. Updated the following files:\n"
                "A tests/cli/test_show_json.py\nM prtrace_cli/show.py\n"
            },
        },
        "Stop.json": {
            "hook": "stop",
            "model": "gpt-5-codex",
            "details": {
                "last_assistant_message": "Added `--json` to `prtrace show` and a test;"
                " `pytest tests/cli` passes."
            },
        },
    },
    "gemini": {
        "SessionStart.json": {
            "hook": "session_start",
            "model": None,
            "details": {"source": "startup"},
        },
        "BeforeAgent.json": {"hook": "prompt", "prompt": DURATION_PROMPT},
        "BeforeTool.replace.json": {
            "hook": "pre_tool",
            "tool": "replace",
            "tool_kind": "edit",
            "files": (FileWrite(path=DURATION, op="replace", replacements=(UNITS_EDIT,)),),
        },
        "AfterTool.replace.json": {
            "hook": "post_tool",
            "tool": "replace",
            "tool_kind": "edit",
            "files": (
                FileWrite(
                    path=DURATION,
                    op="replace",
                    replacements=(UNITS_EDIT,),
                    original=(
                        'import re\n\nUNITS = {"s": 1, "m": 60}\n\n\ndef parse_duration(text):\n'
                        "    total = 0\n"
                        '    for value, unit in re.findall(r"(\\d+)([smh])", text):\n'
                        "        total += int(value) * UNITS[unit]\n    return total\n"
                    ),
                ),
            ),
        },
        "BeforeTool.write_file.json": {
            "hook": "pre_tool",
            "tool": "write_file",
            "files": (FileWrite(path=DURATION_TEST, op="write", content=DURATION_TEST_TEXT),),
        },
        "AfterTool.write_file.json": {
            "hook": "post_tool",
            "tool": "write_file",
            "files": (
                FileWrite(path=DURATION_TEST, op="write", content=DURATION_TEST_TEXT, original=""),
            ),
        },
        "BeforeTool.run_shell_command.json": {
            "hook": "pre_tool",
            "tool": "run_shell_command",
            "tool_kind": "shell",
            "command": "python -m pytest -q tests/test_duration.py",
            "exit_code": None,
        },
        "AfterTool.run_shell_command.json": {
            "hook": "post_tool",
            "tool_kind": "shell",
            "command": "python -m pytest -q tests/test_duration.py",
            "output": "." + " " * 72 + "[100%]\n1 passed in 0.03s",
            "exit_code": 0,
        },
        "AfterTool.run_shell_command.failed.json": {
            "hook": "post_tool",
            "tool_kind": "shell",
            "command": "python -m pytest -q",
            "exit_code": 1,
        },
        "AfterAgent.json": {
            "hook": "stop",
            "prompt": None,
            "details": {
                "last_assistant_message": 'parse_duration now accepts hour units ("1h30m" =='
                " 5400) and tests/test_duration.py covers it.",
                "stop_hook_active": False,
            },
        },
        "SessionEnd.json": {"hook": "session_end", "details": {"reason": "exit"}},
    },
    "cursor": {
        "sessionStart.json": {"hook": "session_start", "model": "claude-4.5-sonnet"},
        "beforeSubmitPrompt.json": {"hook": "prompt", "prompt": DURATION_PROMPT},
        "beforeShellExecution.json": {
            "hook": "pre_tool",
            "tool": "shell",
            "tool_kind": "shell",
            "command": "python -m pytest -q tests/test_duration.py",
        },
        "afterShellExecution.json": {
            "hook": "post_tool",
            "tool": "shell",
            "tool_kind": "shell",
            "command": "python -m pytest -q tests/test_duration.py",
            "output": "." + " " * 72 + "[100%]\n1 passed in 0.03s\n",
            "duration_ms": 1448,
            "exit_code": None,
            "details": {"exit_code_unknown": True, "command_cwd": PROJECT},
        },
        "afterFileEdit.json": {
            "hook": "post_tool",
            "tool": "edit",
            "tool_kind": "edit",
            "files": (FileWrite(path=DURATION, op="replace", replacements=(UNITS_EDIT,)),),
        },
        "afterFileEdit.new-file.json": {
            "hook": "post_tool",
            "tool_kind": "edit",
            "files": (
                FileWrite(path=DURATION_TEST, op="write", content=DURATION_TEST_TEXT, original=""),
            ),
        },
        "stop.json": {"hook": "stop", "details": {"status": "completed", "loop_count": 0}},
        "sessionEnd.json": {
            "hook": "session_end",
            "details": {"reason": "completed", "session_duration_ms": 301437},
        },
    },
}
SESSIONS = {
    "claude-code": CLAUDE_SESSION,
    "codex": CODEX_SESSION,
    "gemini": GEMINI_SESSION,
    "cursor": CURSOR_SESSION,
}


def _payload(agent: str, name: str) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((FIXTURES / agent / name).read_text())
    return loaded


def _call(agent: str, name: str, **changes: Any) -> AgentCall:
    call = parse_call(agent, {**_payload(agent, name), **changes})
    assert call is not None
    return call


def test_every_payload_fixture_has_its_expected_call() -> None:
    on_disk = {
        (path.parent.name, path.name)
        for path in FIXTURES.glob("*/*.json")
        if path.name not in SETTINGS
    }
    expected = {(agent, name) for agent, files in EXPECTED.items() for name in files}
    assert on_disk == expected


@pytest.mark.parametrize(
    ("agent", "name"), [(agent, name) for agent, files in EXPECTED.items() for name in files]
)
def test_fixture_reads_as_its_call(agent: str, name: str) -> None:
    call = _call(agent, name)
    assert call.agent == agent
    assert call.hook in HOOKS
    assert call.session == SESSIONS[agent]
    assert call.cwd == PROJECT
    for field_name, value in EXPECTED[agent][name].items():
        if field_name == "details":
            assert {key: call.details.get(key) for key in value} == value
        else:
            assert getattr(call, field_name) == value, field_name


@pytest.mark.parametrize("agent", ["claude-code", "gemini", "cursor"])
@pytest.mark.parametrize(
    "name", ["settings.json", "settings.with-user-hook.json", "hooks.with-user-hook.json"]
)
def test_a_settings_file_is_no_call(agent: str, name: str) -> None:
    path = FIXTURES / agent / name
    if path.exists():
        assert parse_call(agent, json.loads(path.read_text())) is None


def test_claude_and_codex_send_their_transcript_path() -> None:
    call = _call("claude-code", "Stop.json")
    assert call.details["transcript_path"].endswith(f"{CLAUDE_SESSION}.jsonl")
    assert _call("codex", "Stop.json").details["turn_id"] == "019a6f2f-0d12-7a44-9c3b-1e5d8f2a6b90"


# -- tools and hooks the capture does not use ------------------------------------------------


@pytest.mark.parametrize(
    ("agent", "name", "changes"),
    [
        ("claude-code", "PreToolUse-Bash.json", {"tool_name": "Read"}),
        ("claude-code", "PostToolUse-Bash.json", {"tool_name": "mcp__github__create_issue"}),
        ("claude-code", "Stop.json", {"hook_event_name": "Notification"}),
        ("claude-code", "Stop.json", {"hook_event_name": "PreCompact"}),
        ("codex", "PreToolUse-Bash.json", {"tool_name": "mcp__docs__search"}),
        ("codex", "Stop.json", {"hook_event_name": "PermissionRequest"}),
        ("gemini", "BeforeTool.replace.json", {"tool_name": "read_file"}),
        ("gemini", "BeforeTool.replace.json", {"tool_name": "google_web_search"}),
        ("gemini", "SessionStart.json", {"hook_event_name": "BeforeModel"}),
        ("gemini", "SessionStart.json", {"hook_event_name": "PreCompress"}),
        ("cursor", "stop.json", {"hook_event_name": "beforeReadFile"}),
        ("cursor", "stop.json", {"hook_event_name": "beforeMCPExecution"}),
        ("cursor", "stop.json", {"hook_event_name": None}),
    ],
)
def test_tools_and_hooks_the_capture_ignores_read_as_none(
    agent: str, name: str, changes: dict[str, Any]
) -> None:
    assert parse_call(agent, {**_payload(agent, name), **changes}) is None


def test_an_unknown_agent_or_a_payload_that_is_no_object_reads_as_none() -> None:
    assert parse_call("aider", _payload("claude-code", "Stop.json")) is None
    assert parse_call("claude-code", ["not", "an", "object"]) is None  # type: ignore[arg-type]
    assert parse_call("claude-code", {}) is None


# -- Claude Code -----------------------------------------------------------------------------


def test_claude_bash_output_is_stdout_then_stderr() -> None:
    response = {"stdout": "built", "stderr": "warning: slow\n", "interrupted": False}
    call = _call("claude-code", "PostToolUse-Bash.json", tool_response=response)
    assert call.output == "built\nwarning: slow\n"
    assert call.exit_code == 0


def test_claude_interrupted_bash_is_the_shells_ctrl_c_code() -> None:
    response = {"stdout": "", "stderr": "", "interrupted": True}
    assert _call("claude-code", "PostToolUse-Bash.json", tool_response=response).exit_code == 130
    failure = _call(
        "claude-code",
        "PostToolUseFailure-Bash.json",
        error="Interrupted by user",
        is_interrupt=True,
    )
    assert (failure.exit_code, failure.output) == (130, "Interrupted by user")


def test_claude_background_bash_has_no_exit_code_yet() -> None:
    payload = _payload("claude-code", "PostToolUse-Bash.json")
    payload["tool_input"]["run_in_background"] = True
    payload["tool_response"] = {"stdout": "", "stderr": "", "backgroundTaskId": "bash_1"}
    call = parse_call("claude-code", payload)
    assert call is not None
    assert call.exit_code is None
    assert call.details["background"] is True


def test_claude_failure_reads_the_exit_code_it_names_else_1() -> None:
    named = _call("claude-code", "PostToolUseFailure-Bash.json", error="Exit code 127\nsh: nope")
    assert (named.exit_code, named.output) == (127, "sh: nope")
    unnamed = _call("claude-code", "PostToolUseFailure-Bash.json", error="Command timed out")
    assert (unnamed.exit_code, unnamed.output) == (1, "Command timed out")
    missing = _call("claude-code", "PostToolUseFailure-Bash.json", error=None)
    assert missing.exit_code == 1


def test_claude_notebook_edit_names_the_notebook_and_no_content() -> None:
    call = _call(
        "claude-code",
        "PostToolUse-Edit.json",
        tool_name="NotebookEdit",
        tool_input={"notebook_path": "/home/dev/project/a.ipynb", "new_source": "x = 1"},
        tool_response={},
    )
    assert call.tool_kind == "edit"
    assert call.files == (FileWrite(path="/home/dev/project/a.ipynb", op="write"),)


def test_claude_replace_all_is_kept() -> None:
    payload = _payload("claude-code", "PreToolUse-Edit.json")
    payload["tool_input"]["replace_all"] = True
    call = parse_call("claude-code", payload)
    assert call is not None
    assert call.files[0].replacements == ((*SHOW_EDIT[:2], True),)


def test_a_multi_edit_with_a_broken_piece_gives_the_path_and_no_pieces() -> None:
    payload = _payload("claude-code", "PreToolUse-MultiEdit.json")
    payload["tool_input"]["edits"][1] = {"old_string": 3}
    call = parse_call("claude-code", payload)
    assert call is not None
    assert call.files == (FileWrite(path=SHOW, op="replace"),)


def test_an_edit_call_without_a_path_has_no_files() -> None:
    call = _call("claude-code", "PreToolUse-Edit.json", tool_input={"old_string": "a"})
    assert (call.tool_kind, call.files) == ("edit", ())


def test_a_call_inside_a_subagent_names_it() -> None:
    call = _call("claude-code", "PreToolUse-Edit.json", agent_id="a7c", agent_type="Explore")
    assert call.subagent == "Explore"
    assert call.details["agent_id"] == "a7c"


# -- Codex -----------------------------------------------------------------------------------


def test_codex_patch_inside_a_heredoc_still_reads() -> None:
    patch = _payload("codex", "PreToolUse-apply_patch.json")["tool_input"]["command"]
    call = _call(
        "codex",
        "PreToolUse-apply_patch.json",
        tool_input={"command": f"apply_patch <<'EOF'\n{patch}EOF\n"},
    )
    assert call.files == CODEX_FILES


def test_codex_tool_response_that_is_no_text_is_no_output() -> None:
    call = _call("codex", "PostToolUse-Bash.json", tool_response={"output": 1})
    assert call.output is None


# -- Gemini ----------------------------------------------------------------------------------


def test_gemini_pre_and_post_of_one_call_share_a_stand_in_id() -> None:
    for tool in ("replace", "write_file", "run_shell_command"):
        before = _call("gemini", f"BeforeTool.{tool}.json")
        after = _call("gemini", f"AfterTool.{tool}.json")
        assert before.call_id is not None
        assert before.call_id == after.call_id
    other = _call("gemini", "BeforeTool.run_shell_command.json", tool_input={"command": "ls"})
    elsewhere = _call("gemini", "BeforeTool.run_shell_command.json", session_id="other")
    ids = {
        other.call_id,
        elsewhere.call_id,
        _call("gemini", "BeforeTool.run_shell_command.json").call_id,
    }
    assert len(ids) == 3


def test_gemini_failed_shell_output_leaves_out_its_trailer() -> None:
    call = _call("gemini", "AfterTool.run_shell_command.failed.json")
    assert call.output is not None
    assert call.output.startswith(".F")
    assert call.output.endswith("1 failed, 1 passed in 0.05s")
    assert "Exit Code" not in call.output
    assert "PGID" not in call.output


def _shell_response(llm_content: str, **more: Any) -> dict[str, Any]:
    return {"llmContent": llm_content, "returnDisplay": "shown", **more}


def test_gemini_shell_exit_code_signal_cancel_and_error() -> None:
    name = "AfterTool.run_shell_command.json"
    empty = _call(
        "gemini", name, tool_response=_shell_response("Output: (empty)\nProcess Group PGID: 9")
    )
    assert (empty.output, empty.exit_code) == ("", 0)
    code = _call("gemini", name, tool_response=_shell_response("Output: x\nExit Code: 2"))
    assert (code.output, code.exit_code) == ("x", 2)
    killed = _call("gemini", name, tool_response=_shell_response("Output: x\nSignal: 9"))
    assert (killed.exit_code, killed.details["signal"]) == (None, "9")
    cancelled = _call(
        "gemini",
        name,
        tool_response=_shell_response("Command was cancelled by user before it could complete."),
    )
    assert (cancelled.exit_code, cancelled.output, cancelled.details["cancelled"]) == (
        None,
        "shown",
        True,
    )
    failed = _call(
        "gemini",
        name,
        tool_response=_shell_response(
            "Output: (empty)\nError: spawn ENOENT", error={"message": "spawn ENOENT"}
        ),
    )
    assert (failed.hook, failed.exit_code, failed.details["error"]) == (
        "tool_failed",
        1,
        "spawn ENOENT",
    )


def test_gemini_exit_code_too_long_to_be_one_is_unknown() -> None:
    response = _shell_response("Output: x\nExit Code: " + "9" * 5000)
    assert (
        _call("gemini", "AfterTool.run_shell_command.json", tool_response=response).exit_code
        is None
    )


def test_huge_inputs_read_in_one_pass() -> None:
    lines = [f"+line {n}" for n in range(200_000)]
    added = parse_patch(_patch("*** Add File: big.txt", *lines))
    assert added[0].content is not None
    assert added[0].content.count("\n") == 200_000
    output = "x" * 5_000_000
    call = _call("claude-code", "PostToolUseFailure-Bash.json", error=f"Exit code 2\n{output}")
    assert (call.exit_code, call.output) == (2, output)


def test_gemini_failed_edit_is_a_failed_tool() -> None:
    call = _call(
        "gemini",
        "AfterTool.replace.json",
        tool_response={"llmContent": "no match", "error": {"message": "0 occurrences found"}},
    )
    assert call.hook == "tool_failed"
    assert call.details["error"] == "0 occurrences found"
    assert call.files == (FileWrite(path=DURATION, op="replace", replacements=(UNITS_EDIT,)),)


def test_gemini_allow_multiple_is_replace_all() -> None:
    payload = _payload("gemini", "BeforeTool.replace.json")
    payload["tool_input"]["allow_multiple"] = True
    call = parse_call("gemini", payload)
    assert call is not None
    assert call.files[0].replacements == ((*UNITS_EDIT[:2], True),)


# -- Cursor ----------------------------------------------------------------------------------


def test_cursor_before_and_after_a_command_share_a_stand_in_id() -> None:
    before = _call("cursor", "beforeShellExecution.json")
    after = _call("cursor", "afterShellExecution.json")
    assert before.call_id is not None
    assert before.call_id == after.call_id
    assert _call("cursor", "afterFileEdit.json").call_id not in {None, after.call_id}


def test_cursor_without_workspace_roots_uses_its_cwd() -> None:
    call = _call("cursor", "afterShellExecution.json", workspace_roots=[])
    assert call.cwd == PROJECT


def test_cursor_exit_code_is_read_when_sent() -> None:
    call = _call("cursor", "afterShellExecution.json", exit_code=3)
    assert call.exit_code == 3
    assert "exit_code_unknown" not in call.details


# -- Codex apply_patch -----------------------------------------------------------------------


def _patch(*lines: str) -> str:
    return "\n".join(("*** Begin Patch", *lines, "*** End Patch")) + "\n"


def test_patch_add_file_is_a_write_of_its_lines() -> None:
    assert parse_patch(_patch("*** Add File: a/new.py", "+x = 1", "+", "+y = 2")) == (
        FileWrite(path="a/new.py", op="write", content="x = 1\n\ny = 2\n"),
    )
    assert parse_patch(_patch("*** Add File: empty.txt")) == (
        FileWrite(path="empty.txt", op="write", content=""),
    )


def test_patch_update_gives_one_piece_per_hunk_in_order() -> None:
    patch = _patch(
        "*** Update File: src/app.py",
        "@@ def main():",
        " def main():",
        "-    run()",
        "+    run(fast=True)",
        "     log()",
        "@@",
        " a",
        "",
        "-b",
        "-c",
        "+C",
        "*** End of File",
    )
    assert parse_patch(patch) == (
        FileWrite(
            path="src/app.py",
            op="replace",
            replacements=(
                (
                    "def main():\n    run()\n    log()\n",
                    "def main():\n    run(fast=True)\n    log()\n",
                    False,
                ),
                ("a\n\nb\nc\n", "a\n\nC\n", False),
            ),
            anchors=("def main():", None),
        ),
    )


def test_patch_anchors_stay_in_step_with_the_pieces_they_place() -> None:
    patch = _patch("*** Update File: f", "@@ def a():", "@@ def b():", "-x", "+y")
    assert parse_patch(patch) == (
        FileWrite(
            path="f", op="replace", replacements=(("x\n", "y\n", False),), anchors=("def b():",)
        ),
    )


@pytest.mark.parametrize(
    ("command", "runs"),
    [
        ("git commit -m wip", True),
        ("cd repo && git push origin main", True),
        ("GIT_DIR=.git git merge main", True),
        ("/usr/bin/git rebase -i", True),
        ("(git add -A; git commit -qm x)", True),
        ("python -m pytest -q", False),
        ("echo legit && gitk", False),
        ("git-lfs pull", False),
        ("git -C sub commit -q", True),
        ("git stash pop", True),
        ("git diff --stat && npm test", False),  # read-only git: the developer's commits stay theirs
        ("git status", False),
        ("git --no-pager log -3", False),
        ("", False),
        (None, False),
    ],
)
def test_a_command_runs_git_only_when_git_is_a_command_in_it(
    command: str | None, runs: bool
) -> None:
    assert runs_git(command) is runs


def test_patch_first_hunk_may_leave_out_its_header() -> None:
    assert parse_patch(_patch("*** Update File: f", "-old", "+new")) == (
        FileWrite(
            path="f", op="replace", replacements=(("old\n", "new\n", False),), anchors=(None,)
        ),
    )


def test_patch_delete_and_move() -> None:
    patch = _patch(
        "*** Delete File: gone.py",
        "*** Update File: old/name.py",
        "*** Move to: new/name.py",
        "@@",
        "-x = 1",
        "+x = 2",
        "*** Update File: plain/rename.py",
        "*** Move to: plain/renamed.py",
    )
    assert parse_patch(patch) == (
        FileWrite(path="gone.py", op="delete"),
        FileWrite(
            path="old/name.py",
            op="move",
            replacements=(("x = 1\n", "x = 2\n", False),),
            moved_to="new/name.py",
            anchors=(None,),
        ),
        FileWrite(path="plain/rename.py", op="move", moved_to="plain/renamed.py"),
    )


def test_patch_markers_are_trimmed_and_crlf_kept_in_lines() -> None:
    patch = "  *** Begin Patch\r\n*** Update File: w.txt\r\n-a\r\n+b\r\n*** End Patch  \r\n"
    assert parse_patch(patch) == (
        FileWrite(
            path="w.txt",
            op="replace",
            replacements=(("a\r\n", "b\r\n", False),),
            anchors=(None,),
        ),
    )


@pytest.mark.parametrize(
    "patch",
    [
        # no End Patch
        "*** Begin Patch\n*** Update File: a.py\n-x\n+y\n*** Add File: b.py\n+z\n",
        # no Begin Patch
        "*** Update File: a.py\n-x\n+y\n*** Add File: b.py\n+z\n*** End Patch\n",
        # a hunk line that is no hunk line
        _patch("*** Update File: a.py", "-x", "?y", "*** Add File: b.py", "+z"),
        # an Add File line without its +
        _patch("*** Update File: a.py", "-x", "+y", "*** Add File: b.py", "z"),
        # junk between the Begin and the first file
        _patch("hello", "*** Update File: a.py", "-x", "+y", "*** Add File: b.py", "+z"),
    ],
)
def test_a_malformed_patch_names_its_files_with_no_pieces(patch: str) -> None:
    assert parse_patch(patch) == (
        FileWrite(path="a.py", op="replace"),
        FileWrite(path="b.py", op="write"),
    )


def test_a_malformed_delete_or_move_still_names_the_file() -> None:
    patch = _patch(
        "*** Delete File: d.py", "+oops", "*** Update File: m.py", "*** Move to: n.py", "?"
    )
    assert parse_patch(patch) == (
        FileWrite(path="d.py", op="delete"),
        FileWrite(path="m.py", op="move", moved_to="n.py"),
    )


@pytest.mark.parametrize(
    "text", ["", "hello", "*** Begin Patch\n*** End Patch", "*** Add File: \n+x"]
)
def test_a_patch_that_names_no_file_gives_none(text: str) -> None:
    assert parse_patch(text) == ()


def test_a_patch_that_is_no_text_gives_none() -> None:
    assert parse_patch(None) == ()  # type: ignore[arg-type]


# -- never raises ----------------------------------------------------------------------------

_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=30),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4)
    ),
    max_leaves=20,
)
_HOOK_NAMES = st.sampled_from(
    [
        "SessionStart",
        "UserPromptSubmit",
        "PreToolUse",
        "PostToolUse",
        "PostToolUseFailure",
        "SubagentStart",
        "SubagentStop",
        "Stop",
        "SessionEnd",
        "BeforeTool",
        "AfterTool",
        "BeforeAgent",
        "AfterAgent",
        "afterFileEdit",
        "beforeShellExecution",
        "afterShellExecution",
        "beforeSubmitPrompt",
        "sessionStart",
        "sessionEnd",
        "stop",
    ]
)
_TOOL_NAMES = st.sampled_from(
    [
        "Edit",
        "MultiEdit",
        "Write",
        "NotebookEdit",
        "Bash",
        "apply_patch",
        "replace",
        "write_file",
        "run_shell_command",
        "Read",
    ]
)
_PATCH_LINES = st.lists(
    st.sampled_from(
        [
            "*** Begin Patch",
            "*** End Patch",
            "*** Add File: a",
            "*** Update File: b",
            "*** Delete File: c",
            "*** Move to: d",
            "*** End of File",
            "@@",
            "@@ x",
            " ctx",
            "-old",
            "+new",
            "",
            "junk",
            "*** Add File: ",
        ]
    ),
    max_size=12,
).map("\n".join)
_TEXTISH = (
    st.text(max_size=40) | _PATCH_LINES | st.just("Output: x\nExit Code: 99999999999\nSignal: 2")
)
# The fields the parsers read, each any JSON, or a value of the right type made to look real.
_FIELDS = {
    "hook_event_name": _HOOK_NAMES | _JSON,
    "tool_name": _TOOL_NAMES | _JSON,
    "tool_input": st.dictionaries(
        st.sampled_from(
            [
                "command",
                "file_path",
                "content",
                "old_string",
                "new_string",
                "edits",
                "notebook_path",
                "replace_all",
                "allow_multiple",
                "run_in_background",
                "input",
            ]
        ),
        _TEXTISH | _JSON,
        max_size=5,
    )
    | _JSON,
    "tool_response": st.dictionaries(
        st.sampled_from(
            [
                "stdout",
                "stderr",
                "interrupted",
                "originalFile",
                "type",
                "llmContent",
                "returnDisplay",
                "error",
                "backgroundTaskId",
            ]
        ),
        _TEXTISH | _JSON,
        max_size=5,
    )
    | _TEXTISH
    | _JSON,
    "error": _TEXTISH | _JSON,
    "session_id": _JSON,
    "conversation_id": _JSON,
    "generation_id": _JSON,
    "workspace_roots": _JSON,
    "edits": _JSON,
    "file_path": _JSON,
    "command": _JSON,
    "duration": _JSON,
    "duration_ms": _JSON,
    "exit_code": _JSON | _TEXTISH,
    "cwd": _JSON,
    "model": _JSON,
    "agent_type": _JSON,
}


_FIXTURE_NAMES = sorted((agent, name) for agent, files in EXPECTED.items() for name in files)
_NESTED = ("tool_input", "tool_response")
_NAMED = ("hook_event_name", "tool_name")


def _mutated(data: st.DataObject, payload: dict[str, Any]) -> dict[str, Any]:
    """`payload` with a few of its fields (or of its tool_input's and tool_response's) made
    anything: the same hook, as a broken or hostile writer might send it."""
    keys = sorted(set(payload) | set(_FIELDS))
    for key in data.draw(st.lists(st.sampled_from(keys), max_size=4, unique=True)):
        payload[key] = data.draw(_FIELDS.get(key, _TEXTISH | _JSON))
    for key in _NESTED:
        inner = payload.get(key)
        if isinstance(inner, dict) and inner:
            inner = dict(inner)
            for name in data.draw(st.lists(st.sampled_from(sorted(inner)), max_size=3)):
                inner[name] = data.draw(_TEXTISH | _JSON)
            payload[key] = inner
    return payload


@settings(max_examples=300, deadline=None)
@given(data=st.data())
def test_parse_call_never_raises_on_a_recorded_payload_broken_anywhere(
    data: st.DataObject,
) -> None:
    agent, name = data.draw(st.sampled_from(_FIXTURE_NAMES))
    call = parse_call(agent, _mutated(data, _payload(agent, name)))
    assert call is None or (call.agent == agent and call.hook in HOOKS)


@settings(max_examples=200, deadline=None)
@given(
    agent=st.sampled_from(AGENTS),
    payload=st.fixed_dictionaries(
        {"hook_event_name": _HOOK_NAMES, "tool_name": _TOOL_NAMES},
        optional={key: value for key, value in _FIELDS.items() if key not in _NAMED},
    ),
)
def test_parse_call_never_raises_on_hook_shaped_payloads(
    agent: str, payload: dict[str, Any]
) -> None:
    call = parse_call(agent, payload)
    assert call is None or (call.agent == agent and call.hook in HOOKS)


@settings(max_examples=200, deadline=None)
@given(agent=st.sampled_from([*AGENTS, "other"]), payload=_JSON)
def test_parse_call_never_raises_on_any_json(agent: str, payload: Any) -> None:
    call = parse_call(agent, payload)
    assert call is None or call.hook in HOOKS


@settings(max_examples=300, deadline=None)
@given(text=_PATCH_LINES | st.text())
def test_parse_patch_never_raises_and_names_only_files_it_holds(text: str) -> None:
    for written in parse_patch(text):
        assert written.path and written.path in text
        assert written.op in {"write", "replace", "delete", "move"}

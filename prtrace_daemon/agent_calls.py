"""A coding agent's hook input, read into one normalised call the capture can record.

Each agent names its hooks, tools and fields its own way (tests/fixtures/agents/ keeps their
shapes); `parse_call` turns any of them into an `AgentCall`, so the capture has one thing to
record. It is pure and never raises: a hook's input is whatever the agent (or a user's own
hook) wrote, and one odd line must not stop the drain. A field of the wrong type reads as
absent. A hook or a tool the capture does not use (Read, Grep, MCP tools, model events …)
gives None, so the drain drops it cheaply.

What is read, per agent:

- claude-code: `hook_event_name` names the hook. Edit and MultiEdit give replace pieces, Write
  the whole content, NotebookEdit the notebook's path only (the capture reads the file);
  `tool_response.originalFile` is the content before. Bash's output is stdout then stderr.
  A PostToolUse carries no exit code: Claude Code sends PostToolUseFailure for a command that
  failed, so a PostToolUse Bash is 0, or 130 (the shell's code for Ctrl-C) when
  `interrupted`, and unknown for a command left running in the background. A
  PostToolUseFailure is the code its `error` starts with (`Exit code N`), else 130 when
  interrupted, else 1; the rest of `error` is the output. `agent_type` names a subagent.
- codex: the same hook names. `tool_input` is `{"command": …}`: the shell command for Bash,
  the patch text for apply_patch (read by agent_patch.py). Bash's `tool_response` is its
  output only: the exit code is unknown (`details["exit_code_unknown"]`).
- gemini: BeforeTool/AfterTool are the tool hooks, BeforeAgent the prompt, AfterAgent the
  stop. write_file writes, replace replaces; run_shell_command's output and exit code are
  read from `llmContent` (`Exit Code: N` is there only when it is not 0). An AfterTool whose
  `tool_response.error` is set is a failed tool.
- cursor: afterFileEdit is an edit's post (Cursor sends no pre), before/afterShellExecution a
  command's pre and post, beforeSubmitPrompt the prompt. The session is `conversation_id`,
  the folder `workspace_roots[0]`. Cursor names no tool: its calls say `edit` and `shell`.

Gemini and Cursor send no id for a tool call, so `call_id` is a stand-in: a hash of the
session (Cursor: the generation), the tool and its input (Cursor: the command or the file),
the same for a call's pre and post hooks. The same call made twice gets the same id, so the
capture pairs a pre with the first post that follows it.

`details` holds what an agent says beyond the call, under these keys when present: source,
reason, transcript_path, last_assistant_message, turn_id, error, agent_id,
agent_transcript_path, stop_hook_active, permission_mode, is_interrupt, timestamp, status,
loop_count, generation_id, session_duration_ms, command_cwd, result, background, signal,
cancelled, exit_code_unknown.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = ["AGENTS", "HOOKS", "AgentCall", "FileWrite", "parse_call", "runs_git"]

HOOKS = (
    "session_start",
    "prompt",
    "pre_tool",
    "post_tool",
    "tool_failed",
    "subagent_start",
    "subagent_stop",
    "stop",
    "session_end",
)


@dataclass(frozen=True, slots=True)
class FileWrite:
    """One file an edit tool writes, as the agent described the change."""

    path: str  # as the agent sent it (absolute, or relative to cwd)
    op: str  # "write" (whole content), "replace" (old→new pieces), "delete", "move"
    content: str | None = None  # whole new content ("write", apply_patch Add File)
    replacements: tuple[tuple[str, str, bool], ...] = ()  # (old, new, replace_all), in order
    original: str | None = None  # content before, when the agent says
    moved_to: str | None = None  # apply_patch "*** Move to:"
    # apply_patch only: each piece's `@@` line (None: its hunk had none). A patch's hunks are
    # placed in order, each after the `@@` line and after the hunk before it (as Codex applies
    # them), not at the first place their old text occurs; empty for other tools' pieces.
    anchors: tuple[str | None, ...] = ()


@dataclass(frozen=True, slots=True)
class AgentCall:
    """One hook an agent ran, in the terms the capture records, whichever agent sent it."""

    agent: str  # "claude-code" | "codex" | "gemini" | "cursor"
    hook: str  # one of HOOKS
    session: str | None  # session_id / conversation_id
    model: str | None
    cwd: str | None  # cwd / workspace_roots[0]
    tool: str | None  # the tool name as the agent sent it
    tool_kind: str | None  # "edit" | "shell" | None
    call_id: str | None  # tool_use_id, or a stable stand-in (Gemini, Cursor)
    files: tuple[FileWrite, ...] = ()  # edit tools: pre hooks give the paths at least
    command: str | None = None  # a shell tool's command
    output: str | None = None  # stdout (+ stderr) as the agent reported it
    exit_code: int | None = None  # when the agent says, or it can be read
    duration_ms: int | None = None  # when the agent says
    prompt: str | None = None
    subagent: str | None = None  # agent_type, for subagent events and calls inside one
    details: dict[str, Any] = field(default_factory=dict)


def parse_call(agent: str, payload: Mapping[str, Any]) -> AgentCall | None:
    """The call `payload` (a hook's JSON input from `agent`) describes; None for a hook or a tool
    the capture does not use. Never raises, whatever the payload holds."""
    parser = _PARSERS.get(agent) if isinstance(agent, str) else None
    if parser is None or not isinstance(payload, Mapping):
        return None
    return parser(payload)


# Claude Code's hook names; Codex uses the same ones for the hooks it has.
_CLAUDE_HOOKS = {
    "SessionStart": "session_start",
    "UserPromptSubmit": "prompt",
    "PreToolUse": "pre_tool",
    "PostToolUse": "post_tool",
    "PostToolUseFailure": "tool_failed",
    "SubagentStart": "subagent_start",
    "SubagentStop": "subagent_stop",
    "Stop": "stop",
    "SessionEnd": "session_end",
}
_GEMINI_HOOKS = {
    "SessionStart": "session_start",
    "BeforeAgent": "prompt",
    "BeforeTool": "pre_tool",
    "AfterTool": "post_tool",
    "AfterAgent": "stop",
    "SessionEnd": "session_end",
}
_CURSOR_HOOKS = {
    "sessionStart": "session_start",
    "beforeSubmitPrompt": "prompt",
    "beforeShellExecution": "pre_tool",
    "afterShellExecution": "post_tool",
    "afterFileEdit": "post_tool",
    "stop": "stop",
    "sessionEnd": "session_end",
}
_TOOL_HOOKS = ("pre_tool", "post_tool", "tool_failed")

_CLAUDE_TOOLS = {
    "Edit": "edit",
    "MultiEdit": "edit",
    "Write": "edit",
    "NotebookEdit": "edit",
    "Bash": "shell",
}
# Codex reports all its shell tools as Bash; the others are names older builds used.
_CODEX_TOOLS = {
    "apply_patch": "edit",
    "Bash": "shell",
    "shell": "shell",
    "exec_command": "shell",
    "local_shell": "shell",
}
_GEMINI_TOOLS = {"write_file": "edit", "replace": "edit", "run_shell_command": "shell"}

# The details each agent may send, copied when they are plain values (agent key → details key).
_DETAIL_KEYS = {
    "source": "source",
    "reason": "reason",
    "transcript_path": "transcript_path",
    "last_assistant_message": "last_assistant_message",
    "turn_id": "turn_id",
    "agent_id": "agent_id",
    "agent_transcript_path": "agent_transcript_path",
    "stop_hook_active": "stop_hook_active",
    "permission_mode": "permission_mode",
    "is_interrupt": "is_interrupt",
    "timestamp": "timestamp",
    "status": "status",
    "loop_count": "loop_count",
    "generation_id": "generation_id",
    "prompt_response": "last_assistant_message",  # Gemini's AfterAgent
}

_CLAUDE_EXIT = re.compile(r"Exit code (-?[0-9]{1,9})\b")
_INTEGER = re.compile(r"-?[0-9]{1,18}")
_GEMINI_TRAILER = (
    "Error: ",
    "Exit Code: ",
    "Signal: ",
    "Background PIDs: ",
    "Process Group PGID: ",
)
_INTERRUPTED = 130  # the shell's code for a command stopped by Ctrl-C (128 + SIGINT)


def _claude(payload: Mapping[str, Any]) -> AgentCall | None:
    return _claude_or_codex("claude-code", payload)


def _codex(payload: Mapping[str, Any]) -> AgentCall | None:
    return _claude_or_codex("codex", payload)


def _claude_or_codex(agent: str, payload: Mapping[str, Any]) -> AgentCall | None:
    """Claude Code's and Codex's hooks: the same names and common fields, different tools."""
    hook = _CLAUDE_HOOKS.get(_text(payload.get("hook_event_name")) or "")
    if hook is None:
        return None
    base = _Base(agent, hook, payload)
    base.subagent = _text(payload.get("agent_type"))
    if hook == "prompt":
        base.prompt = _text(payload.get("prompt"))
    if hook not in _TOOL_HOOKS:
        return base.call()
    tool = _text(payload.get("tool_name"))
    kinds = _CLAUDE_TOOLS if agent == "claude-code" else _CODEX_TOOLS
    kind = kinds.get(tool or "")
    if kind is None:
        return None
    base.tool, base.tool_kind = tool, kind
    base.call_id = _text(payload.get("tool_use_id"))
    tool_input = _mapping(payload.get("tool_input"))
    response = payload.get("tool_response")
    error = _text(payload.get("error"))
    if error is not None:
        base.details["error"] = error
    if kind == "shell":
        base.command = _text(tool_input.get("command"))
        if agent == "codex":
            _codex_shell(base, response)
        else:
            _claude_shell(base, tool_input, _mapping(response), error)
    elif agent == "codex":
        base.files = _codex_patch(tool_input)
        if isinstance(response, str):
            base.details["result"] = response
    else:
        base.files = _claude_files(tool or "", tool_input, _mapping(response))
    return base.call()


def _claude_shell(
    base: _Base, tool_input: Mapping[str, Any], response: Mapping[str, Any], error: str | None
) -> None:
    """A Bash call's output and exit code, from its PostToolUse or PostToolUseFailure."""
    interrupted = response.get("interrupted") is True or base.details.get("is_interrupt") is True
    if base.hook == "post_tool":
        stdout, stderr = _text(response.get("stdout")), _text(response.get("stderr"))
        if stdout is not None or stderr is not None:
            base.output = _joined_output(stdout or "", stderr or "")
        if tool_input.get("run_in_background") is True or "backgroundTaskId" in response:
            base.details["background"] = True  # still running: its exit code comes later, if ever
        else:
            base.exit_code = _INTERRUPTED if interrupted else 0
    elif base.hook == "tool_failed":
        found = _CLAUDE_EXIT.match(error or "")
        if found:
            base.exit_code = _int(found.group(1))
            base.output = (error or "")[found.end() :].lstrip("\n")
        else:
            base.exit_code = _INTERRUPTED if interrupted else 1
            base.output = error


def _claude_files(
    tool: str, tool_input: Mapping[str, Any], response: Mapping[str, Any]
) -> tuple[FileWrite, ...]:
    """The file a Claude Code edit tool writes; none when its input names no file."""
    path = _text(tool_input.get("file_path"))
    original = _text(response.get("originalFile"))
    if original is None:
        original = _text(response.get("originalFileContents"))  # MultiEdit's name for it
    if tool == "NotebookEdit":
        notebook = _text(tool_input.get("notebook_path"))
        return (FileWrite(path=notebook, op="write"),) if notebook else ()
    if not path:
        return ()
    if tool == "Write":
        if original is None and response.get("type") == "create":
            original = ""  # a new file: nothing was there before
        content = _text(tool_input.get("content"))
        return (FileWrite(path=path, op="write", content=content, original=original),)
    edits = [tool_input] if tool == "Edit" else _list(tool_input.get("edits"))
    pieces = _pieces(edits, "replace_all")
    return (FileWrite(path=path, op="replace", replacements=pieces, original=original),)


def _codex_shell(base: _Base, response: object) -> None:
    """A Codex Bash call's output: the text is all its PostToolUse carries."""
    if base.hook == "post_tool":
        base.output = _text(response)
        base.details["exit_code_unknown"] = True


def _codex_patch(tool_input: Mapping[str, Any]) -> tuple[FileWrite, ...]:
    """The files an apply_patch call's patch text writes."""
    text = _text(tool_input.get("command"))
    if text is None:
        text = _text(tool_input.get("input"))
    if text is None:
        return ()
    from prtrace_daemon.agent_patch import parse_patch  # only Codex edits need it

    return parse_patch(text)


def _gemini(payload: Mapping[str, Any]) -> AgentCall | None:
    """Gemini CLI's hooks."""
    hook = _GEMINI_HOOKS.get(_text(payload.get("hook_event_name")) or "")
    if hook is None:
        return None
    base = _Base("gemini", hook, payload)
    if hook == "prompt":
        base.prompt = _text(payload.get("prompt"))
    if hook not in _TOOL_HOOKS:
        return base.call()
    tool = _text(payload.get("tool_name"))
    kind = _GEMINI_TOOLS.get(tool or "")
    if kind is None:
        return None
    base.tool, base.tool_kind = tool, kind
    raw_input = payload.get("tool_input")
    base.call_id = _stable_id(base.session, tool, raw_input)
    tool_input = _mapping(raw_input)
    response = _mapping(payload.get("tool_response"))
    error = response.get("error")
    message = _text(_mapping(error).get("message")) or _text(error)
    if error is not None and hook == "post_tool":
        base.hook = "tool_failed"
        base.details["error"] = message if message is not None else "failed"
    if kind == "shell":
        base.command = _text(tool_input.get("command"))
        if base.hook != "pre_tool":
            _gemini_shell(base, response)
        return base.call()
    path = _text(tool_input.get("file_path"))
    if not path:
        return base.call()
    display = _mapping(response.get("returnDisplay"))
    original = _text(display.get("originalContent"))
    if tool == "write_file":
        content = _text(tool_input.get("content"))
        base.files = (FileWrite(path=path, op="write", content=content, original=original),)
    else:
        pieces = _pieces([tool_input], "allow_multiple")
        base.files = (FileWrite(path=path, op="replace", replacements=pieces, original=original),)
    return base.call()


def _gemini_shell(base: _Base, response: Mapping[str, Any]) -> None:
    """run_shell_command's output and exit code, from the text Gemini gives the model."""
    content = _text(response.get("llmContent")) or ""
    display = _text(response.get("returnDisplay"))
    body = content.strip()
    for tag in ("<untrusted_context>", "</untrusted_context>"):
        body = body.removeprefix(tag).removesuffix(tag).strip("\n")
    if not body.startswith("Output: "):
        # cancelled, moved to the background, or summarised: no exit code to read
        base.output = display if display is not None else (content or None)
        if "cancelled" in body[:200]:
            base.details["cancelled"] = True
        elif "background" in body[:200]:
            base.details["background"] = True
        return
    lines = body.split("\n")
    trailer = len(lines)
    while trailer > 1 and lines[trailer - 1].startswith(_GEMINI_TRAILER):
        trailer -= 1
    output = "\n".join(lines[:trailer]).removeprefix("Output: ")
    base.output = "" if output == "(empty)" else output
    exit_code: int | None = 0  # Gemini writes the line only for a code that is not 0
    for line in lines[trailer:]:
        if line.startswith("Exit Code: "):
            exit_code = _int(line.removeprefix("Exit Code: ").strip())
        elif line.startswith("Signal: "):
            base.details["signal"] = line.removeprefix("Signal: ")
            exit_code = None
        elif line.startswith("Error: ") and exit_code == 0:
            exit_code = 1  # it did not run as asked, whatever its code
    base.exit_code = exit_code


def _cursor(payload: Mapping[str, Any]) -> AgentCall | None:
    """Cursor's hooks: no tool names and no pre hook for edits."""
    event = _text(payload.get("hook_event_name")) or ""
    hook = _CURSOR_HOOKS.get(event)
    if hook is None:
        return None
    base = _Base("cursor", hook, payload)
    base.session = _text(payload.get("conversation_id")) or base.session
    roots = _list(payload.get("workspace_roots"))
    root = _text(roots[0]) if roots else None
    base.cwd = root or base.cwd
    command_cwd = _text(payload.get("cwd"))
    if command_cwd is not None:
        base.details["command_cwd"] = command_cwd
    session_ms = _int(payload.get("duration_ms")) if hook == "session_end" else None
    if session_ms is not None:
        base.details["session_duration_ms"] = session_ms
    generation = _text(payload.get("generation_id"))
    if hook == "prompt":
        base.prompt = _text(payload.get("prompt"))
    elif event == "afterFileEdit":
        path = _text(payload.get("file_path"))
        base.tool, base.tool_kind = "edit", "edit"
        base.call_id = _stable_id(generation or base.session, "edit", path)
        if path:
            base.files = (_cursor_file(path, _list(payload.get("edits"))),)
    elif hook in _TOOL_HOOKS:
        base.tool, base.tool_kind = "shell", "shell"
        base.command = _text(payload.get("command"))
        base.call_id = _stable_id(generation or base.session, "shell", base.command)
        if hook == "post_tool":
            base.output = _text(payload.get("output"))
            base.duration_ms = _int(payload.get("duration"))
            base.exit_code = _int(payload.get("exit_code"))
            if base.exit_code is None:
                base.details["exit_code_unknown"] = True
    return base.call()


def _cursor_file(path: str, edits: list[Any]) -> FileWrite:
    """An afterFileEdit's file: its pieces, or its whole content when it was created."""
    pieces = _pieces(edits, None)
    if len(pieces) == 1 and pieces[0][0] == "":
        # A new file comes as one edit from "" (not confirmed by Cursor's documentation).
        return FileWrite(path=path, op="write", content=pieces[0][1], original="")
    return FileWrite(path=path, op="replace", replacements=pieces)


class _Base:
    """The fields every agent's hook shares, filled in as a parser reads the rest."""

    __slots__ = (
        "agent",
        "call_id",
        "command",
        "cwd",
        "details",
        "duration_ms",
        "exit_code",
        "files",
        "hook",
        "model",
        "output",
        "prompt",
        "session",
        "subagent",
        "tool",
        "tool_kind",
    )

    def __init__(self, agent: str, hook: str, payload: Mapping[str, Any]) -> None:
        self.agent, self.hook = agent, hook
        self.session = _text(payload.get("session_id"))
        self.model = _text(payload.get("model"))
        self.cwd = _text(payload.get("cwd"))
        self.tool: str | None = None
        self.tool_kind: str | None = None
        self.call_id: str | None = None
        self.files: tuple[FileWrite, ...] = ()
        self.command: str | None = None
        self.output: str | None = None
        self.exit_code: int | None = None
        self.duration_ms: int | None = None
        self.prompt: str | None = None
        self.subagent: str | None = None
        self.details: dict[str, Any] = {
            name: payload[key]
            for key, name in _DETAIL_KEYS.items()
            if isinstance(payload.get(key), str | bool | int | float)
        }

    def call(self) -> AgentCall:
        """The call as read."""
        return AgentCall(
            agent=self.agent,
            hook=self.hook,
            session=self.session,
            model=self.model,
            cwd=self.cwd,
            tool=self.tool,
            tool_kind=self.tool_kind,
            call_id=self.call_id,
            files=self.files,
            command=self.command,
            output=self.output,
            exit_code=self.exit_code,
            duration_ms=self.duration_ms,
            prompt=self.prompt,
            subagent=self.subagent,
            details=self.details,
        )


def _pieces(edits: list[Any], all_key: str | None) -> tuple[tuple[str, str, bool], ...]:
    """The (old, new, replace_all) pieces of `edits`; none when any of them is not one, since
    a piece left out would make the others wrong."""
    pieces = []
    for edit in edits:
        old = _text(_mapping(edit).get("old_string"))
        new = _text(_mapping(edit).get("new_string"))
        if old is None or new is None:
            return ()
        pieces.append((old, new, all_key is not None and _mapping(edit).get(all_key) is True))
    return tuple(pieces)


def _joined_output(stdout: str, stderr: str) -> str:
    """stdout then stderr, as a terminal would have shown them one after the other."""
    if stdout and stderr and not stdout.endswith("\n"):
        return f"{stdout}\n{stderr}"
    return stdout + stderr


def _stable_id(*parts: object) -> str | None:
    """A call id that is the same for the same parts: a hash of their canonical JSON."""
    try:
        canonical = json.dumps(parts, sort_keys=True, separators=(",", ":"))
    except (TypeError, ValueError, RecursionError):
        return None  # not JSON (no agent sends that): no id rather than a wrong one
    return hashlib.sha256(canonical.encode()).hexdigest()[:32]


def _text(value: object) -> str | None:
    return value if isinstance(value, str) else None


def _int(value: object) -> int | None:
    """An integer value, or a float or digits that hold one (agents differ); else None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and _INTEGER.fullmatch(value):
        return int(value)
    return None


def _mapping(value: object) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _list(value: object) -> list[Any]:
    return value if isinstance(value, list) else []


_PARSERS: dict[str, Callable[[Mapping[str, Any]], AgentCall | None]] = {
    "claude-code": _claude,
    "codex": _codex,
    "gemini": _gemini,
    "cursor": _cursor,
}
AGENTS = tuple(_PARSERS)


# `git` run as a command anywhere in a shell line: at its start, or after a separator, a
# subshell or substitution, an assignment (`GIT_DIR=x git`), or a path (`/usr/bin/git`).
# git, its global options (-C DIR, -c KEY=VALUE, --no-pager …), then a command that moves
# HEAD or a branch, or talks to a remote: what the git hooks record
_GIT_COMMAND = re.compile(
    r"(?:^|[\s;&|(){}`=])(?:[\w.~-]*/)*git"
    r"(?:\s+(?:-[Cc]\s+\S+|--?[\w-]+(?:=\S+)?))*"
    r"\s+(?:commit|merge|pull|push|rebase|cherry-pick|revert|am|checkout|switch|reset|stash)"
    r"(?=\s|$|[;&|)}`])"
)


def runs_git(command: str | None) -> bool:
    """Whether a shell call's command line runs a git command the git hooks record (`git
    commit`, `cd x && git push` …): only such a call may own the commits, merges and pushes
    recorded while it runs. `git status` or `git diff`, which agents run all the time, do not
    make the developer's own commit in another shell the agent's."""
    return bool(command) and _GIT_COMMAND.search(command or "") is not None

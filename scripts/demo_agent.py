"""A short Claude Code session for scripts/demo, played through the hooks `prtrace agent install
claude-code` wrote into the repo's .claude/settings.json.

The payloads are the recorded shapes in tests/fixtures/agents/claude-code/, with the paths, the
edit and the command's output made this repo's. Each hook command is run as Claude Code runs it
(`sh -c COMMAND`, the payload on stdin, in the project folder), and the tool's work is done for
real between its PreToolUse and PostToolUse: the edit lands in the file, the tests really run.

    python scripts/demo_agent.py REPO
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

FIXTURES = Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "agents" / "claude-code"
SESSION = "5f0c8a3e-2b7d-4c1e-9a64-3d8e1f7b2c90"
MODEL = "claude-sonnet-4-5"


def hooks_for(settings: dict[str, Any], event: str, tool: str | None) -> list[str]:
    """The commands Claude Code would run for `event` (and `tool`), as the settings hold them."""
    commands = []
    for group in settings.get("hooks", {}).get(event, []):
        matcher = group.get("matcher") or ""
        if tool is not None and matcher not in ("", "*") and not re.fullmatch(matcher, tool):
            continue
        commands += [hook["command"] for hook in group.get("hooks", []) if hook.get("type") == "command"]
    return commands


def fire(repo: Path, fixture: str, **fields: Any) -> None:
    """Send one hook's payload (the fixture's shape, made this repo's) through prtrace's hooks."""
    payload = json.loads((FIXTURES / f"{fixture}.json").read_text())
    payload.update(session_id=SESSION, cwd=str(repo), **fields)
    payload["transcript_path"] = str(repo / ".claude-transcript.jsonl")
    settings = json.loads((repo / ".claude" / "settings.json").read_text())
    for command in hooks_for(settings, payload["hook_event_name"], payload.get("tool_name")):
        if "prtrace" not in command:
            continue  # the user's own hooks are theirs to run
        done = subprocess.run(["sh", "-c", command], input=json.dumps(payload).encode(), cwd=repo, capture_output=True)
        assert done.returncode == 0 and not done.stdout, "a prtrace hook must say nothing and exit 0"


def main(repo: Path) -> None:
    calc = repo / "calc.py"
    fire(repo, "SessionStart", model=MODEL, source="startup")
    prompt = "add a modulo(a, b) function next to divide, with a test"
    fire(repo, "UserPromptSubmit", prompt=prompt)
    print(f"  prompt: {prompt}")

    before = calc.read_text()
    old = "    return a / b\n"
    new = old + "\n\ndef modulo(a, b):\n    if b == 0:\n        return None\n    return a % b\n"
    edit = {"file_path": str(calc), "old_string": old, "new_string": new, "replace_all": False}
    fire(repo, "PreToolUse-Edit", tool_input=edit, tool_use_id="toolu_demo_edit_1")
    calc.write_text(before.replace(old, new, 1))
    response = {"filePath": str(calc), "oldString": old, "newString": new, "originalFile": before,
                "structuredPatch": [], "userModified": False, "replaceAll": False}
    fire(repo, "PostToolUse-Edit", tool_input=edit, tool_response=response, tool_use_id="toolu_demo_edit_1")
    print("  Edit calc.py: modulo()")

    test = repo / "test_calc.py"
    content = test.read_text() + "\n\ndef test_modulo():\n    from calc import modulo\n\n    assert modulo(7, 3) == 1\n"
    write = {"file_path": str(test), "content": content}
    fire(repo, "PreToolUse-Write", tool_input=write, tool_use_id="toolu_demo_write_1")
    test.write_text(content)
    fire(repo, "PostToolUse-Write", tool_input=write, tool_use_id="toolu_demo_write_1",
         tool_response={"type": "update", "filePath": str(test), "content": content, "structuredPatch": []})
    print("  Write test_calc.py: test_modulo()")

    command = "python -m pytest -q"
    bash = {"command": command, "description": "Run the tests"}
    fire(repo, "PreToolUse-Bash", tool_input=bash, tool_use_id="toolu_demo_bash_1")
    ran = subprocess.run(command.split(), cwd=repo, capture_output=True, text=True)
    fixture = "PostToolUse-Bash" if ran.returncode == 0 else "PostToolUseFailure-Bash"
    fire(repo, fixture, tool_input=bash, tool_use_id="toolu_demo_bash_1",
         tool_response={"stdout": ran.stdout, "stderr": ran.stderr, "interrupted": False, "isImage": False})
    print(f"  Bash: {command} (exit {ran.returncode})")
    fire(repo, "Stop", last_assistant_message="Added modulo() with a zero check and a test.")
    fire(repo, "SessionEnd", reason="prompt_input_exit")
    time.sleep(0.1)


if __name__ == "__main__":
    main(Path(sys.argv[1]).resolve())

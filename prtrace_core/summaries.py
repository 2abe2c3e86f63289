"""An event in one line of words: what `prtrace show`, `prtrace replay` and the viewer print
beside each event, and whether it went well. Pure, and plain text: each caller escapes it for
where it goes (Rich markup, HTML)."""

from __future__ import annotations

import json
from typing import Any, Literal

from prtrace_core.text import printable

__all__ = ["Tone", "event_summary"]

# How a summary reads: a run or check that passed or failed, a developer's words, or
# bookkeeping the reader can skim.
Tone = Literal["", "pass", "fail", "note", "muted"]
_CI_GREEN = ("success", "neutral", "skipped")


def event_summary(event: dict[str, Any]) -> tuple[str, Tone]:
    """(one printable line, tone) for an event."""
    text, tone = _summary(event)
    return printable(text, one_line=True), tone


def _short(sha: Any) -> str:
    return str(sha)[:7] if sha else "none"


def _summary(event: dict[str, Any]) -> tuple[str, Tone]:
    p = event.get("payload") or {}
    kind = event.get("type")
    if kind == "start":
        dirty = p.get("dirty") or []
        return f"capture began at {_short(p.get('head_sha'))} on {p.get('branch')}, {len(dirty)} file(s) already changed", ""
    if kind == "edit":
        name = f"{p.get('old_file')} → {p.get('file')}" if p.get("old_file") else str(p.get("file"))
        notes = " (diff truncated)" if p.get("diff_truncated") else " (no diff: file too large)" if p.get("diff_omitted") else ""
        return f"{p.get('op', 'modify')} {name} {p.get('change_summary', '')}{notes}", ""
    if kind == "test":
        failed, errors = p.get("failed") or 0, p.get("errors") or 0
        ok = p.get("exit_code") == 0 and not failed and not errors
        counts = ", ".join(
            f"{p[k]} {k}" for k in ("passed", "failed", "errors", "skipped") if p.get(k)
        ) or "no results read"
        names = p.get("failed_tests") or []
        tail = f" — {', '.join(names[:3])}{' …' if len(names) > 3 else ''}" if names else ""
        return f"{p.get('framework')}: {counts} (exit {p.get('exit_code')}){tail}  `{p.get('command')}`", "pass" if ok else "fail"
    if kind == "command":
        secs = (p.get("duration_ms") or 0) / 1000
        tone: Tone = "" if p.get("exit_code") == 0 else "fail"
        return f"`{p.get('command')}` → exit {p.get('exit_code')} ({secs:.1f}s)", tone
    if kind == "commit":
        first = str(p.get("message", "")).splitlines()[0] if p.get("message") else ""
        stats = f"{p.get('files_changed')} file(s)"
        if p.get("insertions") is not None:
            stats += f", +{p.get('insertions')}/-{p.get('deletions')}"
        return f"{_short(p.get('sha'))} {first} ({stats})", ""
    if kind == "annotation":
        role = f"{p['role']}: " if isinstance(p.get("role"), str) else ""
        return f"{role}“{p.get('text')}”", "note"
    if kind == "attribution":
        files: dict[str, Any] = p["files"] if isinstance(p.get("files"), dict) else {}
        entries = [f for f in files.values() if isinstance(f, dict)]
        # counts from a server or a file: anything but an integer counts as none
        agent = sum(f["agent"] for f in entries if type(f.get("agent")) is int)
        human = sum(f["human"] for f in entries if type(f.get("human")) is int)
        return f"{_short(p.get('commit'))} from {p.get('source')}: {len(files)} file(s), {agent} agent / {human} human line(s)", "muted"
    if kind == "agent":
        detail = p.get("reason") or p.get("source") or p.get("agent_type") or ""
        return f"{p.get('event')} {detail}".rstrip(), "muted"
    if kind == "checkout":
        return f"{p.get('from_branch')} → {p.get('to_branch')}", ""
    if kind == "push":
        return f"to {p.get('remote')}", ""
    if kind == "ci":
        outcome = p.get("conclusion") or p.get("status")
        attempt = f" (attempt {p['run_attempt']})" if (p.get("run_attempt") or 1) > 1 else ""
        ci_tone: Tone = "" if not p.get("conclusion") else "pass" if p.get("conclusion") in _CI_GREEN else "fail"
        return f"{p.get('name')}: {outcome}{attempt} at {_short(p.get('head_sha'))}", ci_tone
    return json.dumps(p, ensure_ascii=False, sort_keys=True)[:200], "muted"

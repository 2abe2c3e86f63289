"""Secret redaction, applied before an event is written anywhere.

Recording shell commands, their output and diffs means recording secrets people paste,
export and commit. Each pattern keeps enough context to read the event (`password=`,
`AKIA…` prefix) and replaces the secret itself with `[REDACTED:<name>]`.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Mapping
from typing import Any

__all__ = ["DEFAULT_PATTERNS", "Redactor"]

# (name, pattern). A group named `secret` is what gets replaced; otherwise the whole match.
DEFAULT_PATTERNS: tuple[tuple[str, str], ...] = (
    ("private_key", r"-----BEGIN (?:[A-Z ]+ )?PRIVATE KEY-----[\s\S]*?(?:-----END (?:[A-Z ]+ )?PRIVATE KEY-----|\Z)"),
    ("aws_access_key", r"\b(?P<secret>(?:AKIA|ASIA)[0-9A-Z]{16})\b"),
    ("github_token", r"\b(?P<secret>(?:gh[pousr]_[A-Za-z0-9]{36,255}|github_pat_[A-Za-z0-9_]{22,255}))\b"),
    ("gitlab_token", r"\b(?P<secret>glpat-[A-Za-z0-9_-]{20,})\b"),
    ("slack_token", r"\b(?P<secret>xox[abposr]-[A-Za-z0-9-]{10,})\b"),
    ("stripe_key", r"\b(?P<secret>[sr]k_(?:live|test)_[A-Za-z0-9]{16,})\b"),
    ("google_api_key", r"\b(?P<secret>AIza[0-9A-Za-z_-]{35})\b"),
    ("openai_key", r"\b(?P<secret>sk-(?:proj-)?[A-Za-z0-9_-]{20,})\b"),
    ("anthropic_key", r"\b(?P<secret>sk-ant-[A-Za-z0-9_-]{20,})\b"),
    ("jwt", r"\b(?P<secret>eyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,})"),
    ("bearer", r"(?i)\b(?:authorization:\s*)?bearer\s+(?P<secret>[A-Za-z0-9._~+/=-]{16,})"),
    ("url_password", r"(?i)\b[a-z][a-z0-9+.-]*://[^\s:/@]+:(?P<secret>[^\s@/]+)@"),
    (
        "assignment",
        r"(?i)\b[\w.-]*(?:password|passwd|pwd|secret|token|api[_-]?key|access[_-]?key|private[_-]?key|credentials?)[\w.-]*"
        r"[\"']?\s*[:=]\s*[\"']?(?!\[REDACTED)(?P<secret>[^\s\"',;]{4,})",
    ),
)


class Redactor:
    """Applies the named default patterns plus the user's own, to text and to whole payloads."""

    def __init__(self, extra: Iterable[str] = ()) -> None:
        rules = [(name, re.compile(pattern)) for name, pattern in DEFAULT_PATTERNS]
        rules += [(f"custom{i}", re.compile(pattern)) for i, pattern in enumerate(extra, 1)]
        self._rules = rules

    def text(self, value: str) -> str:
        """The text with every secret replaced by `[REDACTED:<name>]`."""
        for name, rule in self._rules:
            if rule.search(value) is None:
                continue
            value = rule.sub(functools.partial(_replace, name=name), value)
        return value

    def value(self, value: Any) -> Any:
        """Redact every string inside a JSON-like value (payloads), keys left alone."""
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, Mapping):
            return {key: self.value(item) for key, item in value.items()}
        if isinstance(value, list):
            return [self.value(item) for item in value]
        return value


def _replace(match: re.Match[str], name: str) -> str:
    marker = f"[REDACTED:{name}]"
    if "secret" in match.re.groupindex and match.group("secret") is not None:
        start, end = match.span("secret")
        whole_start = match.start()
        text = match.group(0)
        return text[: start - whole_start] + marker + text[end - whole_start :]
    return marker

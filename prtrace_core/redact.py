"""Secret redaction, applied before an event is written anywhere.

Recording shell commands, their output and diffs means recording secrets people paste,
export and commit. Every rule (`prtrace_core.secret_rules`) reads the original text and
reports spans; overlapping spans merge, and each becomes `[REDACTED:<rule>]`, keeping the
context that makes the event readable (`password=`, `curl -u me:`). A marker is never
redacted again, so redacting twice changes nothing.

User patterns from the config run on the `regex` engine with a time limit: one that is
invalid, or slow on a probe, is refused when the config is loaded; one that still runs over
its limit on real text redacts that whole text rather than let a secret through.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from prtrace_core.errors import PrtraceError
from prtrace_core.secret_rules import RULES, Rule, Span

__all__ = ["RULES", "BadPattern", "Redactor", "check_patterns", "marker"]

# More secrets than this in one text (a credentials dump, or input built to make redaction
# slow) and the whole text is withheld: it costs a bounded time and lets nothing through.
MAX_SECRETS = 2_000
# The time one user pattern may take on one text during capture, and on a probe at load.
PATTERN_BUDGET_S = 0.25
PROBE_BUDGET_S = 0.05
_PROBES = ("a" * 20_000 + "!", " " * 20_000 + "x", "=" * 20_000, "aA1_-." * 4_000 + "\n",
           "\t a=1;" * 4_000)


class BadPattern(PrtraceError):
    """A `redact_patterns` entry that is not a valid pattern, or too slow to run on every event."""

    hint = "fix or remove it in config.toml (redact_patterns)"


def marker(name: str) -> str:
    """What a secret becomes."""
    return f"[REDACTED:{name}]"


_MARKER = re.compile(r"\[REDACTED:[\w-]{1,40}\]")


@dataclass(frozen=True, slots=True)
class _UserRule:
    name: str
    pattern: Any  # a `regex` pattern: the engine that can stop a match after a time limit

    def spans(self, text: str) -> Iterator[Span]:
        group = "secret" if "secret" in self.pattern.groupindex else 0
        for match in self.pattern.finditer(text, timeout=PATTERN_BUDGET_S):
            start, end = match.span(group)
            if end > start:
                yield start, end


def _compile(index: int, source: str) -> _UserRule:
    import regex  # only users with their own patterns pay for the second engine

    where = f"redact_patterns[{index}] {source!r}"
    try:
        pattern = regex.compile(source)
    except (regex.error, TypeError, ValueError, OverflowError) as exc:
        raise BadPattern(f"{where} is not a valid pattern: {exc}") from exc
    try:
        for probe in _PROBES:
            pattern.search(probe, timeout=PROBE_BUDGET_S)
    except TimeoutError as exc:
        raise BadPattern(
            f"{where} is too slow: it backtracks on long input",
            hint="bound its repeats ({1,64} rather than + or *) and avoid nested repeats",
        ) from exc
    if pattern.search("") is not None and pattern.fullmatch("") is not None:
        raise BadPattern(f"{where} matches empty text", hint="make it match at least one character")
    return _UserRule(f"custom{index + 1}", pattern)


def check_patterns(patterns: Sequence[str]) -> None:
    """Raise `BadPattern` for the first user pattern that would fail or stall capture."""
    for index, source in enumerate(patterns):
        _compile(index, source)


class Redactor:
    """Applies the built-in rules plus the user's own, to text and to whole payloads.

    `skip_invalid`: capture paths pass True, so a pattern that `check_patterns` would refuse
    is left out (and listed in `refused`) instead of stopping a command; commands that load
    the config report it instead."""

    def __init__(self, extra: Iterable[str] = (), *, skip_invalid: bool = False) -> None:
        self._rules: tuple[Rule, ...] = RULES
        self._user: list[_UserRule] = []
        self.refused: list[BadPattern] = []
        for index, source in enumerate(extra):
            try:
                self._user.append(_compile(index, source))
            except BadPattern as exc:
                if not skip_invalid:
                    raise
                self.refused.append(exc)

    def spans(self, value: str) -> list[tuple[int, int, str]]:
        """Where the secrets are, as (start, end, rule), merged and in order."""
        lower = value.lower()
        found: list[tuple[int, int, str]] = []
        for rule in self._rules:
            if rule.keywords and not any(keyword in lower for keyword in rule.keywords):
                continue
            if rule.needs and not any(need in lower for need in rule.needs):
                continue
            for start, end in rule.find(value):
                if end > start:
                    found.append((start, end, rule.name))
                    if len(found) > MAX_SECRETS:  # a dump of secrets, or a hostile text: withhold it whole
                        return [(0, len(value), "dense")]
        for user in self._user:
            try:
                found += [(start, end, user.name) for start, end in user.spans(value)]
            except TimeoutError:
                return [(0, len(value), f"{user.name}-timeout")]
        return _merge(found, value)

    def text(self, value: str) -> str:
        """The text with every secret replaced by `[REDACTED:<rule>]`."""
        if not value:
            return value
        spans = self.spans(value)
        if not spans:
            return value
        out: list[str] = []
        pos = 0
        for start, end, name in spans:
            out += [value[pos:start], marker(name)]
            pos = end
        out.append(value[pos:])
        return "".join(out)

    def value(self, value: Any) -> Any:
        """Redact every string inside a JSON-like value (payloads), keys left alone."""
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, Mapping):
            return {key: self.value(item) for key, item in value.items()}
        if isinstance(value, list):
            return [self.value(item) for item in value]
        return value


def _merge(found: list[tuple[int, int, str]], text: str) -> list[tuple[int, int, str]]:
    """Union of overlapping spans; spans that fall inside an earlier marker are dropped, so a
    redacted text redacts to itself."""
    if not found:
        return []
    markers = [m.span() for m in _MARKER.finditer(text)] if "[REDACTED:" in text else []
    starts = [a for a, _ in markers]
    merged: list[tuple[int, int, str]] = []
    for start, end, name in sorted(found, key=lambda s: (s[0], -s[1])):
        if (i := bisect.bisect_right(starts, start) - 1) >= 0 and end <= markers[i][1]:
            continue  # inside a marker already there
        if merged and start < merged[-1][1]:
            last = merged[-1]
            merged[-1] = (last[0], max(last[1], end), last[2])
        else:
            merged.append((start, end, name))
    if markers:
        merged = [_clip(span, markers, starts) for span in merged]
    return [span for span in merged if span[1] > span[0]]


def _clip(span: tuple[int, int, str], markers: list[tuple[int, int]], starts: list[int]) -> tuple[int, int, str]:
    """A span that reaches into a marker stops where the marker begins, or starts where it ends."""
    start, end, name = span
    if (i := bisect.bisect_right(starts, start) - 1) >= 0 and start < markers[i][1]:
        start = markers[i][1]
    if (j := bisect.bisect_left(starts, start)) < len(starts) and starts[j] < end:
        end = starts[j]
    return start, end, name

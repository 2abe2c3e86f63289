"""Recognising test runs and reading their results from output. Pure: argv and text in, counts out."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import PurePath
from typing import Any

__all__ = ["TestSummary", "detect_framework", "parse_output"]

_ANSI = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]")


@dataclass(slots=True)
class TestSummary:
    """What a test run reported."""

    __test__ = False  # not a pytest test class

    framework: str
    passed: int = 0
    failed: int = 0
    skipped: int = 0
    errors: int = 0
    failed_tests: list[str] = field(default_factory=list)
    found: bool = False  # a summary line was seen

    def payload(self) -> dict[str, Any]:
        return {
            "framework": self.framework,
            "passed": self.passed,
            "failed": self.failed,
            "skipped": self.skipped,
            "errors": self.errors,
            "failed_tests": self.failed_tests,
        }


def _is_python(word: str) -> bool:
    return re.fullmatch(r"python[\d.]*", PurePath(word).name) is not None


def detect_framework(argv: Sequence[str]) -> str | None:
    """The test framework a command runs, or None for any other command."""
    if not argv:
        return None
    words = list(argv)
    # `uv run pytest`, `poetry run pytest`, `pipenv run …`: look past the launcher
    while len(words) > 2 and PurePath(words[0]).name in {"uv", "poetry", "pipenv", "pdm", "hatch"} and words[1] == "run":
        words = words[2:]
    name = PurePath(words[0]).name
    if name in {"pytest", "py.test"}:
        return "pytest"
    if _is_python(words[0]) and len(words) > 2 and words[1] == "-m":
        if words[2] == "pytest":
            return "pytest"
        if words[2] == "unittest":
            return "unittest"
    return None


_PYTEST_SUMMARY = re.compile(r"^=*\s*(?P<body>(?:\d+ \w+(?:, )?)+)(?: in [\d.]+s(?: \([^)]*\))?)?\s*=*$")
_PYTEST_COUNT = re.compile(r"(\d+) (\w+)")
_PYTEST_FAILED = re.compile(r"^(?:FAILED|ERROR) (\S+)")


def _parse_pytest(text: str) -> TestSummary:
    summary = TestSummary("pytest")
    for line in text.splitlines():
        line = line.strip()
        if match := _PYTEST_FAILED.match(line):
            name = match.group(1)
            if name not in summary.failed_tests:
                summary.failed_tests.append(name)
        if (match := _PYTEST_SUMMARY.match(line)) and (" in " in line or line.startswith("=")):
            counts = dict((word, int(n)) for n, word in _PYTEST_COUNT.findall(match["body"]))
            summary.passed = counts.get("passed", 0)
            summary.failed = counts.get("failed", 0)
            summary.skipped = counts.get("skipped", 0)
            summary.errors = counts.get("error", 0) + counts.get("errors", 0)
            summary.found = True
    return summary


_UNITTEST_RAN = re.compile(r"^Ran (\d+) tests? in")
_UNITTEST_RESULT = re.compile(r"^(OK|FAILED)(?: \((?P<body>[^)]*)\))?$")
_UNITTEST_FAIL = re.compile(r"^(?:FAIL|ERROR): (\S+) \(([^)]+)\)")


def _parse_unittest(text: str) -> TestSummary:
    summary = TestSummary("unittest")
    ran = None
    for line in text.splitlines():
        line = line.strip()
        if match := _UNITTEST_FAIL.match(line):
            name, where = match.groups()
            # Python 3.11+ prints the full id in the parentheses; older ones only the class
            full = where if where.endswith(f".{name}") else f"{where}.{name}"
            if full not in summary.failed_tests:
                summary.failed_tests.append(full)
        if match := _UNITTEST_RAN.match(line):
            ran = int(match.group(1))
        if ran is not None and (match := _UNITTEST_RESULT.match(line)):
            counts = {}
            for part in (match["body"] or "").split(","):
                key, _, value = part.strip().partition("=")
                if value.isdigit():
                    counts[key] = int(value)
            summary.failed = counts.get("failures", 0)
            summary.errors = counts.get("errors", 0)
            summary.skipped = counts.get("skipped", 0)
            summary.passed = ran - summary.failed - summary.errors - summary.skipped
            summary.found = True
    return summary


def parse_output(framework: str, text: str) -> TestSummary:
    """Counts and failing test names from a runner's output (ANSI colours ignored)."""
    text = _ANSI.sub("", text)
    if framework == "pytest":
        return _parse_pytest(text)
    if framework == "unittest":
        return _parse_unittest(text)
    return TestSummary(framework)

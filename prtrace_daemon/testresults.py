"""Recognising test runs and reading their results from output. Pure: argv and text in, counts out."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

__all__ = ["TestSummary", "parse_junit", "parse_output"]

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


_JEST_TESTS = re.compile(r"^Tests:\s+(?P<body>.*?)\s*(\d+) total")
_JEST_FAILED = re.compile(r"^\s*● (?P<name>.+?)\s*$")


def _parse_jest(text: str) -> TestSummary:
    summary = TestSummary("jest")
    for line in text.splitlines():
        if match := _JEST_TESTS.match(line.strip()):
            counts = {word: int(n) for n, word in re.findall(r"(\d+) (\w+)", match["body"])}
            summary.passed = counts.get("passed", 0)
            summary.failed = counts.get("failed", 0)
            summary.skipped = counts.get("skipped", 0) + counts.get("todo", 0)
            summary.found = True
        elif (match := _JEST_FAILED.match(line)) and "›" in match["name"] and match["name"] not in summary.failed_tests:
            summary.failed_tests.append(match["name"])
    return summary


_VITEST_TESTS = re.compile(r"^Tests\s+(?P<body>.*?)\s*\((\d+)\)")
_VITEST_FAILED = re.compile(r"^\s*FAIL\s+(?P<name>\S.* > .+?)\s*$")


def _parse_vitest(text: str) -> TestSummary:
    summary = TestSummary("vitest")
    for line in text.splitlines():
        if match := _VITEST_TESTS.match(line.strip()):
            counts = {word: int(n) for n, word in re.findall(r"(\d+) (\w+)", match["body"])}
            summary.passed = counts.get("passed", 0)
            summary.failed = counts.get("failed", 0)
            summary.skipped = counts.get("skipped", 0) + counts.get("todo", 0)
            summary.found = True
        elif (match := _VITEST_FAILED.match(line)) and match["name"] not in summary.failed_tests:
            summary.failed_tests.append(match["name"])
    return summary


def _parse_mocha(text: str) -> TestSummary:
    summary = TestSummary("mocha")
    lines = text.splitlines()
    for i, line in enumerate(lines):
        stripped = line.strip()
        if match := re.match(r"^(\d+) (passing|failing|pending)\b", stripped):
            n, word = int(match.group(1)), match.group(2)
            summary.found = True
            if word == "passing":
                summary.passed = n
            elif word == "failing":
                summary.failed = n
            else:
                summary.skipped = n
        elif summary.failed and (match := re.match(r"^\d+\) (.+)$", stripped)):
            # "1) suite" then "   test:" on the next line(s)
            name = match.group(1).rstrip(":")
            follow = lines[i + 1].strip() if i + 1 < len(lines) else ""
            if follow.endswith(":") and not follow.startswith(("Error", "AssertionError")):
                name = f"{name} {follow.rstrip(':')}"
            if name not in summary.failed_tests:
                summary.failed_tests.append(name)
    return summary


def _parse_tap(text: str) -> TestSummary:
    """`node --test` (TAP): `# pass N`, `# fail N`, `not ok N - name`."""
    summary = TestSummary("node")
    for line in text.splitlines():
        stripped = line.strip()
        if match := re.match(r"^# (pass|fail|skipped|todo|cancelled) (\d+)$", stripped):
            key, n = match.group(1), int(match.group(2))
            summary.found = True
            if key == "pass":
                summary.passed = n
            elif key == "fail":
                summary.failed = n
            elif key in ("skipped", "todo"):
                summary.skipped += n
            else:
                summary.errors = n
        elif (match := re.match(r"^not ok \d+ - (.+?)(?: # .*)?$", line)) and match.group(1) not in summary.failed_tests:
            summary.failed_tests.append(match.group(1))
    return summary


def _parse_go(text: str) -> TestSummary:
    """`go test` (plain or -v): `--- PASS/FAIL/SKIP: TestName`, package `ok`/`FAIL` lines."""
    summary = TestSummary("go")
    for line in text.splitlines():
        stripped = line.strip()
        if match := re.match(r"^--- (PASS|FAIL|SKIP): (\S+)", stripped):
            summary.found = True
            kind, name = match.groups()
            if kind == "PASS":
                summary.passed += 1
            elif kind == "SKIP":
                summary.skipped += 1
            else:
                summary.failed += 1
                summary.failed_tests.append(name)
        elif re.match(r"^(ok|FAIL)\s+\S+\s+[\d.]+s", stripped) or re.match(r"^ok\s+\S+\s+\(cached\)", stripped):
            summary.found = True
    return summary


def _parse_cargo(text: str) -> TestSummary:
    """`cargo test`: a `test result:` line per test binary (summed), `test name ... FAILED`."""
    summary = TestSummary("cargo")
    for line in text.splitlines():
        stripped = line.strip()
        if match := re.match(r"^test result: \w+\. (\d+) passed; (\d+) failed; (\d+) ignored", stripped):
            summary.found = True
            summary.passed += int(match.group(1))
            summary.failed += int(match.group(2))
            summary.skipped += int(match.group(3))
        elif (
            match := re.match(r"^test (\S+) \.\.\. FAILED$", stripped) or re.match(r"^---- (\S+) stdout ----$", stripped)
        ) and match.group(1) not in summary.failed_tests:
            summary.failed_tests.append(match.group(1))
    return summary


_PARSERS = {
    "pytest": _parse_pytest,
    "unittest": _parse_unittest,
    "jest": _parse_jest,
    "vitest": _parse_vitest,
    "mocha": _parse_mocha,
    "node": _parse_tap,
    "go": _parse_go,
    "cargo": _parse_cargo,
}


def parse_junit(data: bytes, framework: str = "junit") -> TestSummary:
    """Counts and failing tests from a JUnit XML report (`<testsuites>` or one `<testsuite>`),
    as pytest, jest-junit, gotestsum, cargo-nextest, Maven and most CI tools write them."""
    import xml.etree.ElementTree as ElementTree

    summary = TestSummary(framework)
    try:
        root = ElementTree.fromstring(data)
    except ElementTree.ParseError:
        return summary
    for case in root.iter("testcase"):
        summary.found = True
        name = case.get("name", "?")
        owner = case.get("classname") or case.get("file")
        full = f"{owner}.{name}" if owner else name
        if case.find("failure") is not None:
            summary.failed += 1
            summary.failed_tests.append(full)
        elif case.find("error") is not None:
            summary.errors += 1
            summary.failed_tests.append(full)
        elif case.find("skipped") is not None:
            summary.skipped += 1
        else:
            summary.passed += 1
    return summary


def parse_output(framework: str, text: str) -> TestSummary:
    """Counts and failing test names from a runner's output (ANSI colours ignored). With
    framework "auto" (a package script), the first parser that finds a summary wins."""
    text = _ANSI.sub("", text)
    if framework == "auto":
        for parser in _PARSERS.values():
            result = parser(text)
            if result.found:
                return result
        return TestSummary("unknown")
    chosen = _PARSERS.get(framework)
    return chosen(text) if chosen is not None else TestSummary(framework)

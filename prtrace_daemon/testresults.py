"""Recognising test runs and reading their results from output. Pure: argv and text in, counts out.

Output arrives as `prtrace run` keeps it: colours and cursor moves left in, CRLF from a
pseudo-terminal, and for a long run only its head and tail, joined by an `… [N bytes omitted] …`
line whose neighbours may be cut mid-line. Every pattern is anchored or bounded and every line
is capped, so a hostile or enormous output costs time in proportion to its length.

Failing tests are named as each runner prints them, so a name can be searched for in the log:

- pytest: the node id of its `FAILED`/`ERROR` lines (`tests/test_x.py::TestY::test_z`).
- unittest: the dotted id (`test_calc.TestCalc.test_wrong`).
- jest: the `●` header over each failure, `describe › nested › test`; a suite that fails to
  run (an import that does not resolve, a throwing `afterAll`) by the path on its `FAIL`
  line, also counted in `errors`.
- vitest: its `FAIL` lines, `file > describe > nested > test`; a failed suite (a file that
  does not load, a throwing `beforeAll`) by its path without the `[ file ]` tag, also counted
  in `errors`, as are unhandled errors.
- mocha: the title path joined by spaces, `describe nested test`, a hook as mocha names it
  (`describe "before all" hook for "test"`); a spec file that fails to load by the outermost
  path of the require stack mocha prints, counted in `errors`.
- `node --test`, go, cargo: the name on the `not ok`, `--- FAIL:`, `test … FAILED` lines.

A name keeps `›`, `>`, quotes and unicode exactly; it is never split on them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

__all__ = ["TestSummary", "parse_junit", "parse_output"]

# CSI (colours, cursor moves), OSC (titles, links) and charset escapes: each bounded
_ANSI = re.compile(r"\x1b(?:\[[0-?]{0,32}[ -/]{0,8}[@-~]|\][^\x07\x1b]{0,2048}(?:\x07|\x1b\\)|[()][0-9A-Za-z]|[78=>])")
_OMITTED = re.compile(r"\n… \[\d{1,20} bytes omitted\] …\n")  # runner.py's head+tail joint
_LINE_CAP = 4096  # longer lines are read only this far
_MAX_DEPTH = 64  # describe blocks nested deeper than this are not followed


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


def _add(summary: TestSummary, name: str) -> bool:
    """Note a failing test once (a runner may list a failure twice); True when it was new."""
    if not name or name in summary.failed_tests:
        return False
    summary.failed_tests.append(name)
    return True


_COUNT = re.compile(r"(\d{1,9}) (passed|failed|skipped|todo|total)\b")


def _counts(line: str, needed: str | None = None) -> dict[str, int] | None:
    """`9 failed, 1 todo, 6 passed, 17 total` (jest) or `8 failed | 5 passed (15)` (vitest)."""
    counts = {word: int(n) for n, word in _COUNT.findall(line)}
    if not counts or (needed is not None and needed not in counts):
        return None
    return counts


_PYTEST_SUMMARY = re.compile(
    r"^=*\s*(?P<body>(?:\d{1,9} \w{1,20}(?:, )?){1,12})(?: in [\d.]{1,20}s(?: \([^)]{0,40}\))?)?\s*=*$"
)
_PYTEST_COUNT = re.compile(r"(\d{1,9}) (\w{1,20})")
_PYTEST_FAILED = re.compile(r"^(?:FAILED|ERROR) (\S+)")


def _parse_pytest(lines: list[str]) -> TestSummary:
    summary = TestSummary("pytest")
    for line in lines:
        line = line.strip()
        if match := _PYTEST_FAILED.match(line):
            _add(summary, match.group(1))
        if (match := _PYTEST_SUMMARY.match(line)) and (" in " in line or line.startswith("=")):
            counts = dict((word, int(n)) for n, word in _PYTEST_COUNT.findall(match["body"]))
            summary.passed = counts.get("passed", 0)
            summary.failed = counts.get("failed", 0)
            summary.skipped = counts.get("skipped", 0)
            summary.errors = counts.get("error", 0) + counts.get("errors", 0)
            summary.found = True
    return summary


_UNITTEST_RAN = re.compile(r"^Ran (\d{1,9}) tests? in")
_UNITTEST_RESULT = re.compile(r"^(OK|FAILED)(?: \((?P<body>[^)]{0,200})\))?$")
_UNITTEST_FAIL = re.compile(r"^(?:FAIL|ERROR): (\S+) \(([^)]+)\)")


def _parse_unittest(lines: list[str]) -> TestSummary:
    summary = TestSummary("unittest")
    ran = None
    for line in lines:
        line = line.strip()
        if match := _UNITTEST_FAIL.match(line):
            name, where = match.groups()
            # Python 3.11+ prints the full id in the parentheses; older ones only the class
            _add(summary, where if where.endswith(f".{name}") else f"{where}.{name}")
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


# ` FAIL  path/x.test.js` (` (5.2 s)` after a slow file); `FAIL path` without colours
_JEST_FILE = re.compile(r"^ {0,4}(?:FAIL|PASS) {1,4}(?P<path>\S.{0,2000}?)(?: \(\d[\d.,]{0,12} m?s\))?$")
_JEST_HEADER = re.compile(r"^ {0,4}● (?P<name>.{1,4000})$")
_JEST_SUITE_FAILED = "Test suite failed to run"


def _jest_names_a_test(name: str) -> bool:
    """A `●` header is a test unless it is one of jest's own notices (`● Validation Error:`,
    `● Console`, `● Cannot log after tests are done…`); a test at the top level has no `›`."""
    if " › " in name:
        return True
    return not (name == "Console" or name.endswith(":") or name.startswith("Cannot log after tests are done"))


def _parse_jest(lines: list[str]) -> TestSummary:
    summary = TestSummary("jest")
    current: str | None = None  # the file whose results are being printed
    broken: set[str] = set()
    for line in lines:
        stripped = line.strip()
        if stripped.startswith("Tests:"):
            if (counts := _counts(stripped, "total")) is not None:
                summary.passed = counts.get("passed", 0)
                summary.failed = counts.get("failed", 0)
                summary.skipped = counts.get("skipped", 0) + counts.get("todo", 0)
                summary.found = True
        elif match := _JEST_FILE.match(line):
            current = match["path"]
        elif match := _JEST_HEADER.match(line):
            name = match["name"].strip()
            if name == _JEST_SUITE_FAILED:
                # the file is named; one whose FAIL line was cut away still counts as an error
                if current is None or current not in broken:
                    summary.errors += 1
                if current is not None:
                    broken.add(current)
                    _add(summary, current)
            elif _jest_names_a_test(name):
                _add(summary, name)
    return summary


# ` FAIL  file > describe > test`; a suite: ` FAIL  file [ file ]` or ` FAIL  file > describe`
_VITEST_FAIL = re.compile(r"^ {0,4}FAIL {1,4}(?P<name>\S.{0,4000})$")
_VITEST_ERRORS = re.compile(r"^Errors {1,20}(\d{1,9}) errors?\b")


def _parse_vitest(lines: list[str]) -> TestSummary:
    summary = TestSummary("vitest")
    in_suites = False  # in the "Failed Suites" section, whose FAIL lines name suites, not tests
    for line in lines:
        stripped = line.strip()
        if stripped.startswith("⎯"):
            if "Failed Suites" in stripped:
                in_suites = True
            elif "Failed Tests" in stripped or "Unhandled Errors" in stripped:
                in_suites = False
        elif stripped.startswith("Tests "):
            if (counts := _counts(stripped)) is not None or stripped.endswith("no tests"):
                counts = counts or {}
                summary.passed = counts.get("passed", 0)
                summary.failed = counts.get("failed", 0)
                summary.skipped = counts.get("skipped", 0) + counts.get("todo", 0)
                summary.found = True
        elif stripped.startswith("Test Files "):
            summary.found = True
        elif match := _VITEST_ERRORS.match(stripped):
            summary.errors += int(match.group(1))  # unhandled errors, raised outside any test
        elif match := _VITEST_FAIL.match(line):
            name = match["name"].rstrip()
            tagged = name.endswith(" ]") and " [ " in name  # a file that failed to load
            if tagged:
                name = name.rpartition(" [ ")[0].rstrip()
            if _add(summary, name) and (in_suites or tagged):
                summary.errors += 1
    return summary


_MOCHA_SUMMARY = re.compile(r"^(\d{1,9}) (passing|failing|pending)\b")
_MOCHA_ENTRY = re.compile(r"^  \d{1,9}\) (?P<title>\S.{0,4000})$")


def _parse_mocha(lines: list[str]) -> TestSummary:
    summary = TestSummary("mocha")
    for i, line in enumerate(lines):
        stripped = line.strip()
        if match := _MOCHA_SUMMARY.match(stripped):
            n, word = int(match.group(1)), match.group(2)
            summary.found = True
            if word == "passing":
                summary.passed = n
            elif word == "failing":
                summary.failed = n
            else:
                summary.skipped = n
        elif match := _MOCHA_ENTRY.match(line):
            if (name := _mocha_title(match["title"], lines, i + 1)) is not None:
                _add(summary, name)
        elif stripped.startswith("Exception during run:"):
            # a spec file that does not load: mocha runs nothing and prints no summary
            summary.found = True
            summary.errors += 1
            if (where := _mocha_load_failure(lines, i + 1)) is not None:
                _add(summary, where)
    return summary


def _mocha_title(first: str, lines: list[str], start: int) -> str | None:
    """A failure's title as mocha lists it after the summary: `  1) describe`, then one line
    per level, each indented two more, the last ending in `:`. None for the `1) test` mark
    the spec reporter prints as a test fails (no `:` at its end, nothing indented under it)."""
    parts = [first.rstrip()]
    for depth, line in enumerate(lines[start : start + _MAX_DEPTH], start=1):
        if parts[-1].endswith(":"):
            break
        indent = 5 + 2 * depth  # "  1) " and two spaces a level
        if len(line) <= indent or line[:indent].strip() or line[indent] == " ":
            return None
        parts.append(line.strip())
    if not parts[-1].endswith(":"):
        return None
    parts[-1] = parts[-1][:-1]
    return " ".join(parts)


def _mocha_load_failure(lines: list[str], start: int) -> str | None:
    """The spec file that failed to load: the outermost entry of Node's require stack (an
    ES module's import error prints none)."""
    for at in range(start, min(start + 3, len(lines))):
        if lines[at].strip() == "Require stack:":
            where = None
            for entry in lines[at + 1 : at + 1 + _MAX_DEPTH]:
                if not entry.startswith("- "):
                    break
                where = entry[2:].strip()
            return where
    return None


_TAP_COUNT = re.compile(r"^# (pass|fail|skipped|todo|cancelled) (\d{1,9})$")
_TAP_NOT_OK = re.compile(r"^not ok \d{1,9} - (.+?)(?: # .*)?$")


def _parse_tap(lines: list[str]) -> TestSummary:
    """`node --test` (TAP): `# pass N`, `# fail N`, `not ok N - name`."""
    summary = TestSummary("node")
    for line in lines:
        stripped = line.strip()
        if not stripped:
            continue
        if match := _TAP_COUNT.match(stripped):
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
        elif match := _TAP_NOT_OK.match(line):
            _add(summary, match.group(1))
    return summary


_GO_RESULT = re.compile(r"^--- (PASS|FAIL|SKIP): (\S+)")
_GO_PACKAGE = re.compile(r"^(?:(?:ok|FAIL)\s+\S+\s+[\d.]{1,20}s|ok\s+\S+\s+\(cached\))")


def _parse_go(lines: list[str]) -> TestSummary:
    """`go test` (plain or -v): `--- PASS/FAIL/SKIP: TestName`, package `ok`/`FAIL` lines."""
    summary = TestSummary("go")
    for line in lines:
        stripped = line.strip()
        if not stripped.startswith(("---", "ok", "FAIL")):
            continue
        if match := _GO_RESULT.match(stripped):
            summary.found = True
            kind, name = match.groups()
            if kind == "PASS":
                summary.passed += 1
            elif kind == "SKIP":
                summary.skipped += 1
            else:
                summary.failed += 1
                summary.failed_tests.append(name)
        elif _GO_PACKAGE.match(stripped):
            summary.found = True
    return summary


_CARGO_RESULT = re.compile(r"^test result: \w+\. (\d{1,9}) passed; (\d{1,9}) failed; (\d{1,9}) ignored")
_CARGO_FAILED = re.compile(r"^(?:test (\S+) \.\.\. FAILED|---- (\S+) stdout ----)$")


def _parse_cargo(lines: list[str]) -> TestSummary:
    """`cargo test`: a `test result:` line per test binary (summed), `test name ... FAILED`."""
    summary = TestSummary("cargo")
    for line in lines:
        stripped = line.strip()
        if not stripped.startswith(("test", "----")):
            continue
        if match := _CARGO_RESULT.match(stripped):
            summary.found = True
            summary.passed += int(match.group(1))
            summary.failed += int(match.group(2))
            summary.skipped += int(match.group(3))
        elif match := _CARGO_FAILED.match(stripped):
            _add(summary, match.group(1) or match.group(2))
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


def _lines(text: str) -> list[str]:
    """The output's non-blank lines without escapes, each capped; where the middle was left
    out, the lines on either side of the joint (likely cut short) are dropped, not misread."""
    text = _ANSI.sub("", text)
    if joint := _OMITTED.search(text):
        head, tail = text[: joint.start()], text[joint.end() :]
        text = head[: head.rfind("\n") + 1] + tail.partition("\n")[2]
    return [line[:_LINE_CAP] for line in text.splitlines() if line and not line.isspace()]


def parse_output(framework: str, text: str) -> TestSummary:
    """Counts and failing test names from a runner's output (ANSI colours ignored). With
    framework "auto" (a package script), the first parser that finds a summary wins."""
    lines = _lines(text)
    if framework == "auto":
        for parser in _PARSERS.values():
            result = parser(lines)
            if result.found:
                return result
        return TestSummary("unknown")
    chosen = _PARSERS.get(framework)
    return chosen(lines) if chosen is not None else TestSummary(framework)

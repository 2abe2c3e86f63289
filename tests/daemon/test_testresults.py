"""Parsers checked against output produced here by the real runners."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from prtrace_daemon.testcommands import detect_framework
from prtrace_daemon.testresults import parse_output

SUITE = """
import unittest

def test_ok():
    assert 1 + 1 == 2

def test_also_ok():
    assert 2 > 1

def test_broken():
    assert 1 + 1 == 3

@__import__("pytest").mark.skip(reason="later")
def test_later():
    pass

class TestCalc(unittest.TestCase):
    def test_fine(self):
        self.assertEqual(2, 2)

    def test_wrong(self):
        self.assertEqual(2, 3)

    @unittest.skip("later")
    def test_skipped(self):
        pass
"""


def _run(args: list[str], cwd: Path) -> str:
    proc = subprocess.run([sys.executable, *args], cwd=cwd, capture_output=True, text=True, env={"PATH": "/usr/bin:/bin"})
    return proc.stdout + proc.stderr


@pytest.fixture
def suite(tmp_path: Path) -> Path:
    (tmp_path / "test_calc.py").write_text(SUITE)
    return tmp_path


@pytest.mark.parametrize("quiet", [[], ["-q"]])
def test_real_pytest_output_is_counted(suite: Path, quiet: list[str]) -> None:
    out = _run(["-m", "pytest", "-p", "no:cacheprovider", *quiet, "test_calc.py"], suite)
    result = parse_output("pytest", out)
    assert (result.passed, result.failed, result.skipped) == (3, 2, 2), out
    assert result.found
    assert set(result.failed_tests) == {"test_calc.py::test_broken", "test_calc.py::TestCalc::test_wrong"}


def test_real_unittest_output_is_counted(suite: Path) -> None:
    (suite / "test_calc.py").write_text(SUITE.replace('@__import__("pytest").mark.skip(reason="later")\n', ""))
    out = _run(["-m", "unittest", "test_calc"], suite)
    result = parse_output("unittest", out)
    assert (result.passed, result.failed, result.skipped) == (1, 1, 1), out
    assert result.failed_tests == ["test_calc.TestCalc.test_wrong"]


def test_all_passing_pytest_run(suite: Path) -> None:
    (suite / "test_calc.py").write_text("def test_a():\n    pass\n")
    result = parse_output("pytest", _run(["-m", "pytest", "-p", "no:cacheprovider", "test_calc.py"], suite))
    assert (result.passed, result.failed, result.failed_tests) == (1, 0, [])


@pytest.mark.parametrize(
    ("argv", "framework"),
    [
        (["pytest", "-q"], "pytest"),
        (["/usr/bin/python3.11", "-m", "pytest", "tests"], "pytest"),
        (["python", "-m", "unittest", "discover"], "unittest"),
        (["uv", "run", "pytest"], "pytest"),
        (["npx", "jest", "--ci"], "jest"),
        (["go", "test", "./..."], "go"),
        (["cargo", "test"], "cargo"),
        (["node", "--test"], "node"),
        (["npm", "test"], "auto"),
        (["yarn", "test"], "auto"),
        (["pnpm", "run", "test:unit"], "auto"),
        (["npx", "--yes", "vitest", "run"], "vitest"),
        (["npx", "-p", "mocha@11", "mocha"], "mocha"),
        (["npm", "exec", "--", "jest"], "jest"),
        (["pnpm", "exec", "vitest"], "vitest"),
        (["yarn", "dlx", "mocha"], "mocha"),
        (["node_modules/.bin/jest", "--ci"], "jest"),
        (["yarn"], None),
        (["ls", "-l"], None),
        (["python", "script.py"], None),
        # a line of several commands, as agents write them: the first test runner in it
        (["cd", "repo", "&&", "python", "-m", "pytest", "-q"], "pytest"),
        (["pytest", "-q", "&&", "echo", "ok"], "pytest"),
        (["npm", "test", "&&", "git", "add", "-A"], "auto"),
        (["python", "-m", "pytest", "-x;", "echo", "$?"], "pytest"),
        (["make", "build", "||", "pytest"], "pytest"),
        (["timeout", "60", "env", "CI=1", "pytest"], "pytest"),
        (["ls", "&&", "echo", "pytest"], None),
    ],
)
def test_test_runners_are_recognised(argv: list[str], framework: str | None) -> None:
    assert detect_framework(argv) == framework


FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "test_output"


@pytest.mark.parametrize(
    ("framework", "counts", "failed"),
    [
        ("jest", (1, 1, 1), ["calc › divides by zero"]),
        ("vitest", (1, 1, 1), ["src/calc.test.ts > calc > divides by zero"]),
        ("mocha", (1, 1, 1), ["calc divides by zero"]),
        ("go", (1, 1, 1), ["TestDivideByZero"]),
    ],
)
def test_recorded_runner_output_is_counted(framework: str, counts: tuple[int, int, int], failed: list[str]) -> None:
    """Runners not installable here: their real output, recorded, in tests/fixtures/test_output."""
    result = parse_output(framework, (FIXTURES / f"{framework}.txt").read_text())
    assert (result.passed, result.failed, result.skipped) == counts
    assert result.failed_tests == failed and result.found


def test_a_package_script_is_read_by_whichever_runner_its_output_shows() -> None:
    result = parse_output("auto", (FIXTURES / "jest.txt").read_text())
    assert result.framework == "jest" and result.failed == 1


NODE_SUITE = """
import test from 'node:test';
import assert from 'node:assert';
test('adds', () => { assert.strictEqual(1 + 1, 2); });
test('breaks', () => { assert.strictEqual(1 + 1, 3); });
test('later', { skip: true }, () => {});
"""


@pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed on this machine")
def test_real_node_test_output_is_counted(tmp_path: Path) -> None:
    (tmp_path / "calc.test.mjs").write_text(NODE_SUITE)
    proc = subprocess.run(["node", "--test", "calc.test.mjs"], cwd=tmp_path, capture_output=True, text=True)
    result = parse_output("node", proc.stdout + proc.stderr)
    assert (result.passed, result.failed, result.skipped) == (1, 1, 1)
    assert result.failed_tests == ["breaks"]


CARGO_LIB = """
pub fn add(a: i32, b: i32) -> i32 { a + b }
#[cfg(test)]
mod tests {
    use super::*;
    #[test] fn adds() { assert_eq!(add(1, 1), 2); }
    #[test] fn breaks() { assert_eq!(add(1, 1), 3); }
    #[test] #[ignore] fn later() {}
}
"""


@pytest.mark.skipif(shutil.which("cargo") is None, reason="cargo is not installed on this machine")
def test_real_cargo_test_output_is_counted(tmp_path: Path) -> None:
    crate = tmp_path / "calc"
    (crate / "src").mkdir(parents=True)
    (crate / "Cargo.toml").write_text('[package]\nname = "calc"\nversion = "0.1.0"\nedition = "2021"\n')
    (crate / "src" / "lib.rs").write_text(CARGO_LIB)
    proc = subprocess.run(
        ["cargo", "test", "--offline", "-q"], cwd=crate, capture_output=True, text=True, timeout=300,
        env={**os.environ, "CARGO_TARGET_DIR": str(tmp_path / "target")},
    )
    result = parse_output("cargo", proc.stdout + proc.stderr)
    assert (result.passed, result.failed, result.skipped) == (1, 1, 1)
    assert result.failed_tests == ["tests::breaks"]


def test_a_real_pytest_junit_report_is_read(suite: Path) -> None:
    from prtrace_daemon.testresults import parse_junit

    _run(["-m", "pytest", "-p", "no:cacheprovider", "-q", "--junitxml=report.xml", "test_calc.py"], suite)
    result = parse_junit((suite / "report.xml").read_bytes(), "pytest")
    assert (result.passed, result.failed, result.skipped) == (3, 2, 2)
    assert set(result.failed_tests) == {"test_calc.test_broken", "test_calc.TestCalc.test_wrong"}


def test_a_broken_junit_report_finds_nothing() -> None:
    from prtrace_daemon.testresults import parse_junit

    assert not parse_junit(b"<testsuite><testcase name='x'>").found


def test_a_run_is_a_test_only_with_results_this_run_wrote(suite: Path) -> None:
    """What `prtrace run` records, whichever way it was started: a report written before the
    run is not this run's, and a command that is no runner stays a `command`."""
    import time

    from prtrace_daemon.run_event import run_event
    from prtrace_daemon.runner import Outcome

    _run(["-m", "pytest", "-p", "no:cacheprovider", "-q", "--junitxml=report.xml", "test_calc.py"], suite)
    report = suite / "report.xml"
    started = report.stat().st_mtime - 0.5  # the run that wrote it began just before
    ended = Outcome(1, 900, "sample", "no summary here")
    kind, payload = run_event(["make", "check"], ended, junit=report, started_s=started)
    assert kind == "test" and (payload["passed"], payload["failed"], payload["skipped"]) == (3, 2, 2)
    assert payload["command"] == "make check" and payload["exit_code"] == 1 and payload["duration_ms"] == 900
    os.utime(report, (started - 60, started - 60))  # left by an earlier run
    assert run_event(["make", "check"], ended, junit=report, started_s=started)[0] == "command"
    plain = {"command": "echo hi", "exit_code": 1, "stdout_sample": "sample", "duration_ms": 900, "cwd": os.getcwd()}
    assert run_event(["echo", "hi"], ended, junit=None, started_s=time.time()) == ("command", plain)


# The JavaScript runners' own output, produced for real, is checked in test_js_runners.py;
# these pin the shapes around it: escapes, line ends, cut output, and lines that look like
# failures but are not.


def test_crlf_and_colour_codes_do_not_reach_the_names() -> None:
    text = (
        "\x1b[0m\x1b[7m\x1b[1m\x1b[31m FAIL \x1b[39m\x1b[22m\x1b[27m\x1b[0m \x1b[2msrc/\x1b[22m\x1b[1ma.test.js\x1b[22m\r\n"
        "\x1b[1m\x1b[31m  \x1b[1m● \x1b[22m\x1b[1mtop level fails\x1b[39m\x1b[22m\r\n\r\n"
        "\x1b]8;;file:///src/a.test.js\x07src/a.test.js\x1b]8;;\x07\r\n"
        "Tests:       \x1b[1m\x1b[31m1 failed\x1b[39m\x1b[22m, 1 total\r\n"
    )
    result = parse_output("jest", text)
    assert (result.failed, result.found, result.failed_tests) == (1, True, ["top level fails"])


def test_jest_notices_are_not_tests_and_a_slow_file_keeps_its_path() -> None:
    text = (
        "● Validation Error:\n\n  Module x in the setupFiles option was not found.\n\n"
        " FAIL  src/slow.test.js (6.204 s)\n  ● Test suite failed to run\n\n    boom\n\n"
        "  ● Cannot log after tests are done. Did you forget to wait for something async in your test?\n"
        "Tests:       0 total\n"
    )
    result = parse_output("jest", text)
    assert result.failed_tests == ["src/slow.test.js"] and result.errors == 1


def test_a_failure_at_the_joint_of_a_cut_run_is_not_misread() -> None:
    """Head and tail as `prtrace run` keeps them: the lines either side of the joint may be cut
    mid-name, so they are dropped; whole lines beyond them are read."""
    text = (
        "  1) suite\n       first:\n     Error: x\n  2) suite\n       seco"
        "\n… [81234 bytes omitted] …\n"
        "nd half:\n  9) suite\n       nested\n         last:\n     Error: y\n"
        "  3 passing (5ms)\n  9 failing\n"
    )
    result = parse_output("mocha", text)
    assert result.failed_tests == ["suite first", "suite nested last"]
    assert (result.passed, result.failed) == (3, 9)


def test_the_mark_the_spec_reporter_prints_as_a_test_fails_is_not_a_full_name() -> None:
    text = "  suite\n    1) fails\n  2) top\n  other\n\n  0 passing\n  2 failing\n\n  1) suite\n       fails:\n     Error\n"
    assert parse_output("mocha", text).failed_tests == ["suite fails"]


def test_a_vitest_run_whose_only_file_fails_to_load() -> None:
    text = (
        " FAIL  src/a.test.ts [ src/a.test.ts ]\nError: Cannot find module './x'\n\n"
        " Test Files  1 failed (1)\n      Tests  no tests\n"
    )
    result = parse_output("vitest", text)
    assert result.found and (result.failed, result.errors, result.failed_tests) == (0, 1, ["src/a.test.ts"])


@pytest.mark.parametrize(
    "text",
    [
        "Tests: " + "1" * 200_000,
        " FAIL  " + "a (1 s)" * 30_000,
        "  ● " + "› " * 100_000,
        "\x1b[" + "1;" * 100_000,
        "\x1b]" * 100_000,
        ("  1) a\n" + "".join(" " * (5 + 2 * d) + "b\n" for d in range(1, 200))) * 50,
        "= " + "1 a1 " * 40_000 + "!",
        "not ok 1 - " + " # " * 60_000,
    ],
    ids=["digits", "durations", "separators", "csi", "osc", "deep-titles", "pytest-counts", "tap-comments"],
)
def test_hostile_output_is_read_in_one_pass(text: str) -> None:
    """Each of these took a quadratic or worse path before patterns were bounded; now they
    finish as quickly as any output of their length."""
    for framework in ("auto", "jest", "vitest", "mocha"):
        parse_output(framework, text)


_PIECES = [*" \n\r\t\x1b[]();:>›●⎯-|.019aF", "FAIL  ", "  1) ", "       ", "Tests:", " passed", " failed, ",
           " total", "Test Files ", " passing", " failing", "\n… [9 bytes omitted] …\n", "Exception during run:"]


@settings(max_examples=200)
@given(st.lists(st.sampled_from(_PIECES), max_size=80).map("".join))
def test_any_output_parses_without_error(text: str) -> None:
    for framework in ("auto", "jest", "vitest", "mocha", "node", "go", "cargo"):
        result = parse_output(framework, text)
        assert len(result.failed_tests) == len(set(result.failed_tests))

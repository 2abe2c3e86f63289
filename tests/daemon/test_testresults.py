"""Parsers checked against output produced here by the real runners."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

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
        (["ls", "-l"], None),
        (["python", "script.py"], None),
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

"""Parsers checked against output produced here by the real runners."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from prtrace_daemon.testresults import detect_framework, parse_output

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
        (["ls", "-l"], None),
        (["python", "script.py"], None),
    ],
)
def test_test_runners_are_recognised(argv: list[str], framework: str | None) -> None:
    assert detect_framework(argv) == framework

"""jest, vitest and mocha, run for real on tests/fixtures/js_runners: whatever reporter, colour
setting or launcher (npx, `npm test`, a terminal) prints the results, the parsers find the
counts the suites hold and name every failing test as its runner prints it (the forms are
listed in prtrace_daemon/testresults.py)."""

from __future__ import annotations

import json
import shutil
from collections.abc import Mapping, Sequence
from pathlib import Path

import pytest

from prtrace_daemon.runner import _Sampler
from prtrace_daemon.testcommands import detect_framework
from prtrace_daemon.testresults import TestSummary, parse_output
from tests.conftest import run_prtrace
from tests.daemon.js_runners import FIXTURE, JsProject, installed_project

_E2E_TIMEOUT = 180
BIN = "node_modules/.bin"  # the runners as a package script or an editor starts them; npx too below
PLAIN = {"NO_COLOR": "1"}
COLOUR = {"FORCE_COLOR": "1"}

JEST_COUNTS = (6, 10, 2, 1)  # passed, failed, skipped (with todo), errors (suites that did not run)
JEST_FAILED = [
    "fails at the top level",
    "calc › division › by zero › returns null",
    "names › keeps a › inside the name",
    "names › keeps \"double\" and 'single' quotes",
    "names › keeps unicode: naïve café ✓ 日本語",
    "errors › throws outside an expect",
    "errors › rejects asynchronously",
    "table › add(2, 2) is 5",
    "snapshots › drifts from the stored shape",
    "with a failing setup hook › runs after the hook",
    "jest/broken.test.js",
]

VITEST_COUNTS = (5, 8, 3, 2)  # the failed suites: a file that does not load, a throwing beforeAll
VITEST_FAILED = [
    "vitest/broken.test.mjs",
    "vitest/calc.test.mjs > with a failing setup hook",
    "vitest/calc.test.mjs > fails at the top level",
    "vitest/calc.test.mjs > calc > division > by zero > returns null",
    "vitest/calc.test.mjs > names > keeps a › and a > inside the name",
    "vitest/calc.test.mjs > names > keeps \"double\" and 'single' quotes",
    "vitest/calc.test.mjs > names > keeps unicode: naïve café ✓ 日本語",
    "vitest/calc.test.mjs > errors > throws outside an expect",
    "vitest/calc.test.mjs > errors > rejects asynchronously",
    "vitest/calc.test.mjs > table > add(2, 2) is 5",
]

MOCHA_FILES = ["mocha/calc.spec.js", "mocha/passing.spec.js"]
MOCHA_COUNTS = (4, 8, 2, 0)  # mocha counts the failed hook among its failures
MOCHA_FAILED = [
    "fails at the top level",
    "calc division by zero returns null",
    "names keeps a › inside the name",
    "names keeps \"double\" and 'single' quotes",
    "names keeps unicode: naïve café ✓ 日本語",
    "errors throws outside an assertion",
    "errors rejects asynchronously",
    'with a failing setup hook "before all" hook for "runs after the hook"',
]

EXPECTED = {"jest": (JEST_COUNTS, JEST_FAILED), "vitest": (VITEST_COUNTS, VITEST_FAILED), "mocha": (MOCHA_COUNTS, MOCHA_FAILED)}


@pytest.fixture(scope="session")
def js_project(tmp_path_factory: pytest.TempPathFactory) -> JsProject:
    """The fixture project, installed once (npm ci, cached by its lock file) and copied per session."""
    return installed_project(tmp_path_factory)


def _counts(result: TestSummary) -> tuple[int, int, int, int]:
    return result.passed, result.failed, result.skipped, result.errors


def _check(project: JsProject, runner: str, argv: Sequence[str], env: Mapping[str, str], *,
           coloured: bool | None = None, tty: bool = False) -> str:
    """Run the command as `prtrace run` would read it and check what the parsers make of it."""
    project.require(runner)
    output = project.run(argv, env, tty=tty)
    if coloured is not None:  # the case really is the colour setting it claims to be
        assert ("\x1b[" in output) == coloured, output
    framework = detect_framework(argv)
    assert framework in (runner, "auto")
    result = parse_output(framework, output)
    counts, failed = EXPECTED[runner]
    assert result.framework == runner and result.found, output
    assert _counts(result) == counts, output
    assert sorted(result.failed_tests) == sorted(failed), output
    return output


@pytest.mark.parametrize(
    ("argv", "env", "coloured"),
    [
        (["npx", "jest"], PLAIN, False),
        ([f"{BIN}/jest"], COLOUR, True),
        ([f"{BIN}/jest", "--colors"], {}, True),
        ([f"{BIN}/jest", "--verbose"], PLAIN, False),
        ([f"{BIN}/jest", "--verbose", "--colors"], {}, True),
        ([f"{BIN}/jest", "--ci"], {"CI": "true"}, None),  # CI colours the code frames only
        (["npm", "test"], PLAIN, False),
        (["npm", "test", "--", "--verbose", "--colors"], {}, True),
    ],
    ids=["default", "force-color", "colors-flag", "verbose", "verbose-colors", "ci", "npm-test", "npm-test-verbose"],
)
def test_jest_failures_are_named_by_their_describe_path(
    js_project: JsProject, argv: list[str], env: dict[str, str], coloured: bool | None
) -> None:
    output = _check(js_project, "jest", argv, env, coloured=coloured)
    if coloured is False:
        assert all(f"● {name}" in output for name in JEST_FAILED[:-1])  # the names as jest prints them


@pytest.mark.parametrize("reporter", ["default", "verbose", "dot"])
@pytest.mark.parametrize(("env", "coloured"), [(PLAIN, False), (COLOUR, True)], ids=["no-color", "force-color"])
def test_vitest_failures_are_named_by_file_and_describe_path(
    js_project: JsProject, reporter: str, env: dict[str, str], coloured: bool
) -> None:
    launcher = ["npx", "vitest"] if reporter == "default" else [f"{BIN}/vitest"]
    output = _check(js_project, "vitest", [*launcher, "run", f"--reporter={reporter}"], env, coloured=coloured)
    if not coloured:
        assert all(f"FAIL  {name}" in output for name in VITEST_FAILED)


@pytest.mark.parametrize(
    ("argv", "env", "coloured"),
    [
        (["npm", "run", "test:vitest"], PLAIN, False),
        (["npm", "run", "test:vitest", "--", "--reporter=verbose"], COLOUR, True),
    ],
    ids=["plain", "verbose-colour"],
)
def test_vitest_through_npm_run(js_project: JsProject, argv: list[str], env: dict[str, str], coloured: bool) -> None:
    _check(js_project, "vitest", argv, env, coloured=coloured)


@pytest.mark.parametrize("reporter", ["spec", "dot"])
@pytest.mark.parametrize(("colour", "env", "coloured"), [(["--colors"], {}, True), (["--no-colors"], PLAIN, False)],
                         ids=["colors", "no-colors"])
def test_mocha_failures_are_named_by_their_title_path(
    js_project: JsProject, reporter: str, colour: list[str], env: dict[str, str], coloured: bool
) -> None:
    launcher = ["npx", "mocha"] if reporter == "spec" else [f"{BIN}/mocha"]
    _check(js_project, "mocha", [*launcher, "--reporter", reporter, *colour, *MOCHA_FILES], env, coloured=coloured)


def test_mocha_through_npm_run(js_project: JsProject) -> None:
    _check(js_project, "mocha", ["npm", "run", "test:mocha"], PLAIN, coloured=False)


def test_a_mocha_spec_that_fails_to_load_is_an_error_named_by_its_file(js_project: JsProject) -> None:
    js_project.require("mocha")
    argv = [f"{BIN}/mocha", "mocha/broken.spec.js", "mocha/passing.spec.js"]
    output = js_project.run(argv, PLAIN)
    result = parse_output("mocha", output)
    assert result.found and _counts(result) == (0, 0, 0, 1), output
    assert result.failed_tests == [str((js_project.root / "mocha" / "broken.spec.js").resolve())]


@pytest.mark.parametrize(
    ("runner", "argv"),
    [("jest", [f"{BIN}/jest"]), ("vitest", [f"{BIN}/vitest", "run"]), ("mocha", [f"{BIN}/mocha", *MOCHA_FILES])],
    ids=["jest", "vitest", "mocha"],
)
def test_on_a_terminal_progress_lines_and_crlf_do_not_change_the_result(
    js_project: JsProject, runner: str, argv: list[str]
) -> None:
    output = _check(js_project, runner, argv, {}, tty=True)
    assert "\r\n" in output and "\x1b[" in output


@pytest.mark.parametrize(
    ("runner", "argv"),
    [
        ("jest", [f"{BIN}/jest", "--verbose"]),
        ("vitest", [f"{BIN}/vitest", "run", "--reporter=verbose"]),
        ("mocha", [f"{BIN}/mocha", *MOCHA_FILES]),
    ],
    ids=["jest", "vitest", "mocha"],
)
def test_a_run_cut_in_the_middle_still_has_its_summary_and_names_no_fragment(
    js_project: JsProject, runner: str, argv: list[str]
) -> None:
    """`prtrace run` keeps the head and tail of a long run; the lines cut at the joint are
    not misread as names, and the failures listed in the tail are still found."""
    js_project.require(runner)
    output = js_project.run(argv, COLOUR).encode()
    # the tail holds the summary (mocha prints its failures after it, jest and vitest before)
    summary = output.rindex({"jest": b"Tests:", "vitest": b"Test Files", "mocha": b"passing"}[runner])
    sampler = _Sampler(300, max(len(output) // 2, len(output) - summary + 100))
    for start in range(0, len(output), 997):  # in pieces, as a pipe delivers it
        sampler.feed(output[start : start + 997])
    text = sampler.text()
    assert "bytes omitted" in text
    result = parse_output(runner, text)
    counts, failed = EXPECTED[runner]
    assert _counts(result)[:3] == counts[:3]
    assert result.failed_tests and set(result.failed_tests) <= set(failed), result.failed_tests


@pytest.mark.e2e
def test_prtrace_run_of_jest_records_the_failing_tests(js_project: JsProject, repo: Path) -> None:
    js_project.require("jest")
    for name in ("package.json", "package-lock.json"):
        (repo / name).write_bytes((FIXTURE / name).read_bytes())
    shutil.copytree(FIXTURE / "jest", repo / "jest")  # copied: jest does not follow a linked folder
    (repo / "node_modules").symlink_to((js_project.root / "node_modules").resolve(), target_is_directory=True)
    with (repo / ".gitignore").open("a") as ignore:
        ignore.write("node_modules\n")
    run_prtrace("start", "--no-daemon", cwd=repo, check=True)
    result = run_prtrace("run", "--", "npx", "jest", cwd=repo, env=PLAIN, timeout=_E2E_TIMEOUT)
    assert result.returncode == 1, result.stdout + result.stderr
    shown = run_prtrace("show", "main", "--local", "--json", cwd=repo, check=True).stdout
    event = json.loads(shown)["events"][-1]
    assert event["type"] == "test" and event["payload"]["framework"] == "jest"
    payload = event["payload"]
    assert (payload["passed"], payload["failed"], payload["skipped"], payload["errors"]) == JEST_COUNTS
    assert sorted(payload["failed_tests"]) == sorted(JEST_FAILED)


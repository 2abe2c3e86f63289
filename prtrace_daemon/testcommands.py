"""Which test runner a command line runs, and where it writes a JUnit report: decided from the
words alone, so `prtrace run` pays for the output parsers (testresults.py) only for a test run."""

from __future__ import annotations

import re
from collections.abc import Sequence
from os.path import basename  # not pathlib: this is on `prtrace run`'s path

__all__ = ["detect_framework", "junit_path"]

_SCRIPT_RUNNERS = {"npm", "pnpm", "yarn", "bun"}
_SCRIPT_VERBS = {"test", "t", "run", "run-script"}
_ASSIGNMENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*=")
# options of `timeout` and `env` that take a value (`-s KILL`, `-u NAME`); the others stand alone
_TIMEOUT_VALUED = {"-s", "--signal", "-k", "--kill-after"}
_ENV_VALUED = {"-u", "--unset", "-C", "--chdir"}


def _is_python(word: str) -> bool:
    return re.fullmatch(r"python[\d.]*", basename(word)) is not None


def detect_framework(argv: Sequence[str]) -> str | None:
    """The test framework a command runs, or None for any other command. A command line of
    several commands (`cd repo && pytest`, `pytest -q && echo ok`, `pytest -x; echo $?`), as a
    coding agent writes one, runs the first of them that is a test runner."""
    for segment in _segments(argv):
        found = _framework(_past_prefixes(segment))
        if found is not None:
            return found
    return None


def _segments(argv: Sequence[str]) -> list[list[str]]:
    """The commands of a command line split at `&&`, `||` and `;` (also a `;` ending a word)."""
    segments: list[list[str]] = [[]]
    for word in argv:
        if word in ("&&", "||", ";"):
            segments.append([])
        elif word.endswith(";") and not word.endswith("\\;"):
            segments[-1].append(word[:-1])
            segments.append([])
        else:
            segments[-1].append(word)
    return [segment for segment in segments if segment]


def _framework(words: list[str]) -> str | None:
    if not words:
        return None
    # `uv run pytest`, `poetry run pytest`, `pipenv run …`: look past the launcher
    while len(words) > 2 and basename(words[0]) in {"uv", "poetry", "pipenv", "pdm", "hatch"} and words[1] == "run":
        words = words[2:]
    if basename(words[0]) in _SCRIPT_RUNNERS and words[1:2] and words[1] in _SCRIPT_VERBS:
        return "auto"  # a package script: which runner it calls shows in its output
    words = _past_package_launcher(words)
    if not words:
        return None
    name = basename(words[0])
    if name in {"pytest", "py.test"}:
        return "pytest"
    if _is_python(words[0]) and len(words) > 2 and words[1] == "-m":
        if words[2] == "pytest":
            return "pytest"
        if words[2] == "unittest":
            return "unittest"
    if name in {"jest", "vitest", "mocha"}:
        return name
    if name == "node" and "--test" in words[1:]:
        return "node"
    if name == "go" and words[1:2] == ["test"]:
        return "go"
    if name == "cargo" and words[1:2] in (["test"], ["nextest"]):
        return "cargo"
    return None


def _past_prefixes(argv: Sequence[str]) -> list[str]:
    """The words of the command one command runs, past `VAR=value` and `env VAR=value`
    settings and a `timeout N` or `time` in front of it."""
    words = list(argv)
    while words:
        first = basename(words[0])
        if _ASSIGNMENT.match(words[0]):
            words = words[1:]
        elif first == "env":
            words = words[1:]
            while words and words[0].startswith("-") and words[0] != "--":
                words = words[2:] if words[0] in _ENV_VALUED else words[1:]
            words = words[1:] if words[:1] == ["--"] else words
        elif first == "timeout":
            words = words[1:]
            while words and words[0].startswith("-"):
                words = words[2:] if words[0] in _TIMEOUT_VALUED else words[1:]
            words = words[1:]  # the duration
        elif first == "time":
            words = words[1:]
        else:
            break
    return words


def _past_package_launcher(words: list[str]) -> list[str]:
    """`npx --yes jest`, `pnpm exec vitest`, `yarn dlx mocha`, `npm exec -- jest`: the words from
    the tool the launcher starts (npx's own options, and `-p PKG`, are passed over)."""
    launcher = basename(words[0])
    if launcher == "npm" and words[1:2] in (["exec"], ["x"]):
        words, launcher = words[1:], "npx"
    if launcher not in {"npx", "pnpm", "yarn", "bunx"} or len(words) < 2:
        return words
    rest = words[1:]
    if launcher in {"pnpm", "yarn"} and rest[0] in {"exec", "dlx"}:
        rest = rest[1:]
    while rest and rest[0].startswith("-"):
        rest = rest[2:] if rest[0] in {"-p", "--package"} else rest[1:]  # `--` ends them too
    return rest


def junit_path(argv: Sequence[str]) -> str | None:
    """Where a command writes a JUnit report, when it says so (`--junitxml=PATH` for pytest)."""
    for i, word in enumerate(argv):
        if word.startswith("--junitxml="):
            return word.split("=", 1)[1]
        if word == "--junitxml" and i + 1 < len(argv):
            return argv[i + 1]
    return None

"""User redaction patterns from config.toml: refused when the config is read, never a reason
for capture or `prtrace run` to stop."""

from __future__ import annotations

import json
import os
from pathlib import Path

from tests.conftest import run_prtrace


def _config(patterns: list[str]) -> None:
    home = Path(os.environ["PRTRACE_HOME"])
    home.mkdir(parents=True, exist_ok=True)
    quoted = ", ".join(json.dumps(p) for p in patterns)  # a JSON string is a TOML basic string
    (home / "config.toml").write_text(f"redact_patterns = [{quoted}]\n")


def _events(repo: Path) -> list[dict]:
    shown = run_prtrace("show", "main", "--local", "--json", cwd=repo, check=True).stdout
    return json.loads(shown)["events"]


def test_an_invalid_pattern_is_reported_when_the_config_is_read(repo: Path) -> None:
    _config([r"corp-[0-9]{6}", r"(unclosed"])
    result = run_prtrace("status", cwd=repo)
    assert result.returncode != 0
    assert "redact_patterns[1]" in result.stderr and "not a valid pattern" in result.stderr
    assert "Traceback" not in result.stderr


def test_a_slow_pattern_is_refused_when_the_config_is_read(repo: Path) -> None:
    _config([r"a.*a.*a.*b"])
    result = run_prtrace("status", cwd=repo)
    assert result.returncode != 0 and "too slow" in result.stderr


def test_run_still_runs_the_command_and_the_good_patterns_still_apply(repo: Path) -> None:
    run_prtrace("start", "--no-daemon", cwd=repo, check=True)
    _config([r"(unclosed", r"corp-(?P<secret>[0-9]{6})"])
    result = run_prtrace("run", "--", "echo", "badge corp-123456", cwd=repo)
    assert result.returncode == 0 and "badge corp-123456" in result.stdout  # the terminal sees it all
    assert "left out of redaction" in result.stderr
    _config([r"corp-(?P<secret>[0-9]{6})"])  # reading commands insist on a config that reads
    run = _events(repo)[-1]["payload"]
    assert "123456" not in json.dumps(run) and "corp-[REDACTED:custom2]" in run["command"]

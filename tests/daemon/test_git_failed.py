"""A git command that fails is `GitFailed`: git's own words and a hint, one line for the user,
never a traceback or "please report"."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from prtrace_core.errors import PrtraceError
from prtrace_core.guard import CrashLog, run_guarded
from prtrace_daemon.client_errors import GitFailed
from prtrace_daemon.gitrepo import GitRepo


def test_a_failed_git_command_carries_gits_stderr_and_a_hint(tmp_path: Path) -> None:
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    with pytest.raises(GitFailed) as caught:
        GitRepo(tmp_path).git("rev-parse", "--verify", "no-such-ref")
    failed = caught.value
    assert isinstance(failed, PrtraceError)
    assert failed.returncode == 128 and failed.stderr == b"fatal: Needed a single revision\n"
    assert (
        str(failed)
        == "`git rev-parse --verify no-such-ref` failed: fatal: Needed a single revision"
    )
    assert failed.hint and "report" not in failed.hint


def test_a_long_command_is_shortened_in_the_message(tmp_path: Path) -> None:
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    paths = [f"no-such-file-{n}" for n in range(2000)]
    with pytest.raises(GitFailed) as caught:
        GitRepo(tmp_path).git("ls-files", "--error-unmatch", "--", *paths)
    assert str(caught.value).startswith("`git ls-files --error-unmatch -- no-such-file-0 no-such-file-1 …` failed: ")
    assert len(str(caught.value)) < 700 and "\n" not in str(caught.value)
    assert caught.value.cmd[-1] == "no-such-file-1999"  # all of it kept for whoever catches it


def test_the_guard_says_it_in_one_line_and_exits_1(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    crash = CrashLog("prtrace", lambda: tmp_path / "state")

    def entry() -> object:
        return GitRepo(tmp_path).git("show", "no-such-ref")

    assert run_guarded(entry, crash) == 1
    err = capsys.readouterr().err.splitlines()
    assert err[0].startswith("error: `git show no-such-ref` failed: fatal: ")
    assert err[1].startswith("hint: ") and len(err) == 2
    assert not (tmp_path / "state" / "crash.log").exists()

"""`prtrace shell-init`: real bash, zsh and fish, typed at through a pseudo-terminal.

What is checked is what a user would notice — the prompt, `$?`, `PIPESTATUS`, their other
prompt hooks — and what lands in the trace: each command, its exit code, folder and order.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from prtrace_daemon.spool import parse_line
from prtrace_daemon.spool_format import CommandRecord
from tests.conftest import BIN, run_prtrace
from tests.shells import Shell, available

SHELLS = [
    pytest.param(shell, marks=pytest.mark.skipif(not available(shell), reason=f"{shell} is not installed (.ci/run installs it)"))
    for shell in ("bash", "zsh", "fish")
]


def _commands(repo: Path) -> list[dict[str, object]]:
    proc = run_prtrace("show", "main", "--local", "--json", cwd=repo, check=True)
    return [e["payload"] for e in json.loads(proc.stdout)["events"] if e["type"] == "command"]


@pytest.fixture
def started(repo: Path) -> Path:
    run_prtrace("start", "--no-daemon", cwd=repo, check=True)
    return repo


@pytest.fixture
def open_shell(tmp_path: Path, prtrace_home: Path) -> Iterator[object]:
    shells: list[Shell] = []

    def launch(kind: str, cwd: Path, *, before: str = "", after: str = "", wrap: tuple[str, ...] = ()) -> Shell:
        args = [str(BIN / "prtrace"), "shell-init", kind, *(f"--wrap={w}" for w in wrap)]
        load = " ".join(args) + (" | source" if kind == "fish" else "")
        hook = load if kind == "fish" else f'eval "$({load})"'
        path = f"set -gx PATH {BIN} $PATH" if kind == "fish" else f'PATH="{BIN}:$PATH"'
        rc = "\n".join([path, before, hook, after])
        shell = Shell(kind, rc, cwd=cwd, env={**os.environ, "PRTRACE_HOME": str(prtrace_home)}, home=tmp_path / f"home-{len(shells)}")
        shells.append(shell)
        return shell

    yield launch
    for shell in shells:
        shell.close()


@pytest.mark.parametrize("kind", SHELLS)
def test_typed_commands_are_recorded_in_order_with_exit_codes_and_folders(kind: str, started: Path, open_shell) -> None:
    (started / "sub").mkdir()
    sh = open_shell(kind, started)
    sh.type("echo one")
    sh.type("false")
    assert sh.last_status == 1, "the prompt shows the command's own exit code"
    sh.type("cd sub")
    sh.type("sleep 0.3; echo two")
    sh.type("cd ..")
    commands = _commands(started)
    assert [c["command"] for c in commands] == ["echo one", "false", "cd sub", "sleep 0.3; echo two", "cd .."]
    assert [c["exit_code"] for c in commands] == [0, 1, 0, 0, 0]
    assert commands[3]["cwd"] == str(started / "sub")
    assert commands[0]["cwd"] == str(started)
    assert int(commands[3]["duration_ms"]) >= 250  # type: ignore[call-overload]
    assert {c["shell"] for c in commands} == {kind}


@pytest.mark.parametrize("kind", SHELLS)
def test_exit_status_and_pipe_statuses_are_left_as_they_were(kind: str, started: Path, open_shell) -> None:
    sh = open_shell(kind, started)
    sh.type("false | true")
    pipe = {"bash": "${PIPESTATUS[*]}", "zsh": "${pipestatus[*]}", "fish": "$pipestatus"}[kind]
    assert "pipe=1 0" in sh.lines(f'echo "pipe={pipe}"')
    sh.type("sh -c 'exit 7'")
    assert sh.last_status == 7
    status = "$status" if kind == "fish" else "$?"
    assert "status=7" in sh.lines(f'echo "status={status}"')
    recorded = _commands(started)
    assert recorded[0]["command"] == "false | true" and recorded[0]["pipestatus"] == [1, 0]
    assert recorded[2]["exit_code"] == 7


@pytest.mark.parametrize("kind", SHELLS)
def test_leading_space_ignore_patterns_and_other_folders_are_not_recorded(
    kind: str, started: Path, open_shell, tmp_path: Path
) -> None:
    config = Path(os.environ["PRTRACE_HOME"]) / "config.toml"
    config.write_text('shell_ignore = ["ls*", "*--password*"]\n')
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    before = "HISTCONTROL=ignoreboth" if kind == "bash" else ("setopt HIST_IGNORE_SPACE HIST_IGNORE_DUPS" if kind == "zsh" else "")
    sh = open_shell(kind, started, before=before)
    sh.type(" echo secret-token")
    sh.type("ls")
    sh.type("login --password hunter2")
    sh.type("echo kept")
    sh.type("echo kept")  # the same command again is a second run, even where history keeps one
    sh.type(f"cd {elsewhere}")
    sh.type("echo outside")
    sh.type(f"cd {started}")
    sh.type("prtrace note 'from the shell'")
    # `cd` back in was typed outside the repo: what counts is the folder a command starts in.
    # bash with ignoreboth keeps one history entry for a repeat and none for a leading-space
    # line: it cannot tell them apart without a fork, so it leaves the repeat out (see README).
    repeats = ["echo kept"] if kind == "bash" else ["echo kept", "echo kept"]
    assert [c["command"] for c in _commands(started)] == [*repeats, f"cd {elsewhere}"]
    if kind == "bash":  # bash's own history is left as the user's settings made it
        history = sh.type("history")
        assert "secret-token" not in history and "echo kept" in history


@pytest.mark.parametrize("kind", SHELLS)
def test_other_prompt_hooks_still_run_and_see_the_exit_status(kind: str, started: Path, open_shell) -> None:
    before = {
        "bash": 'PROMPT_COMMAND=\'echo "theirs:$?:${PIPESTATUS[*]}"\'',
        "zsh": 'theirs() { echo "theirs:$?:${pipestatus[*]}"; }; precmd_functions+=(theirs)',
        "fish": 'function theirs --on-event fish_postexec\n    echo "theirs:$status:$pipestatus"\nend',
    }[kind]
    sh = open_shell(kind, started, before=before)
    assert "theirs:3:" in sh.type("sh -c 'exit 3'")
    out = sh.type("true | false")
    assert "theirs:1:" in out
    if kind != "bash":  # bash: a PROMPT_COMMAND entry after prtrace's sees $? but one pipe status
        assert "theirs:1:0 1" in out
    assert [c["exit_code"] for c in _commands(started)] == [3, 1]


@pytest.mark.parametrize("kind", SHELLS)
def test_a_wrapped_command_runs_through_prtrace_run_inside_repos_only(
    kind: str, started: Path, open_shell, tmp_path: Path
) -> None:
    tool = tmp_path / "bin" / "mytests"
    tool.parent.mkdir()
    tool.write_text("#!/bin/sh\necho \"ran with $*\"\nexit 4\n")
    tool.chmod(0o755)
    add_path = f"set -gx PATH {tool.parent} $PATH" if kind == "fish" else f'PATH="{tool.parent}:$PATH"'
    sh = open_shell(kind, started, before=add_path, wrap=("mytests",))
    assert "ran with -x" in sh.type("mytests -x")
    assert sh.last_status == 4
    sh.type(f"cd {tmp_path}")
    assert "ran with -y" in sh.type("mytests -y")
    assert sh.last_status == 4
    proc = run_prtrace("show", "main", "--local", "--json", cwd=started, check=True)
    commands = [e["payload"] for e in json.loads(proc.stdout)["events"] if e["type"] == "command"]
    # Recorded once, by `prtrace run` (with its output), not again by the shell hook; the run
    # outside the repo is not recorded at all.
    assert [(c["command"], c["exit_code"]) for c in commands] == [("mytests -x", 4), (f"cd {tmp_path}", 0)]
    assert "ran with -x" in str(commands[0]["stdout_sample"])


@pytest.mark.parametrize("kind", SHELLS)
def test_a_shell_keeps_working_when_prtrace_state_is_gone(kind: str, started: Path, open_shell, prtrace_home: Path) -> None:
    import shutil

    sh = open_shell(kind, started)
    sh.type("echo before")
    shutil.rmtree(prtrace_home)
    out = sh.lines("echo after")
    assert out[1:] == ["after"], out
    assert sh.last_status == 0


@pytest.mark.parametrize("kind", SHELLS)
@pytest.mark.parametrize("wrap", [(), ("pytest", "npm run test:unit")])
def test_the_printed_hook_is_valid_code_for_its_shell(kind: str, wrap: tuple[str, ...], tmp_path: Path) -> None:
    import subprocess

    proc = run_prtrace("shell-init", kind, *(f"--wrap={w}" for w in wrap), cwd=tmp_path)
    assert proc.returncode == 0 and proc.stderr == ""
    checked = subprocess.run([kind, "-n"], input=proc.stdout, capture_output=True, text=True)
    assert checked.returncode == 0, checked.stderr


def test_an_unknown_shell_or_a_wrap_that_is_not_a_plain_command_is_one_clear_error(tmp_path: Path) -> None:
    proc = run_prtrace("shell-init", "tcsh", cwd=tmp_path)
    assert proc.returncode == 1 and "no hook for 'tcsh'" in proc.stderr and "Traceback" not in proc.stderr
    proc = run_prtrace("shell-init", "bash", "--wrap", "rm -rf $(x)", cwd=tmp_path)
    assert proc.returncode == 1 and "cannot wrap" in proc.stderr


@pytest.mark.parametrize("kind", [SHELLS[0]])
def test_a_running_daemon_records_typed_commands_as_they_end(kind: str, repo: Path, open_shell, prtrace_home: Path) -> None:
    from tests.daemon.test_daemon import events
    from tests.support.waiting import wait_for

    run_prtrace("start", cwd=repo, check=True)  # with the daemon
    try:
        sh = open_shell(kind, repo)
        sh.type("echo 'def sub(a, b):\n    return a - b' >> calc.py")
        sh.type("git commit -qam 'sub'")
        sh.type("false")

        def recorded() -> list[dict[str, object]]:
            found = events(prtrace_home, repo)
            return found if sum(e["type"] == "command" for e in found) == 3 else []

        found = wait_for(recorded, what="three commands, with no prtrace command run")
        kinds = [e["type"] for e in found]
        assert "edit" in kinds and kinds.index("edit") < kinds.index("commit"), kinds
        assert [e["payload"]["exit_code"] for e in found if e["type"] == "command"] == [0, 0, 1]
        assert [e["seq"] for e in found] == list(range(1, len(found) + 1))
    finally:
        run_prtrace("stop", cwd=repo)


@pytest.mark.parametrize("kind", SHELLS)
def test_quotes_backslashes_unicode_and_multi_line_commands_are_recorded_as_typed(
    kind: str, started: Path, open_shell
) -> None:
    sh = open_shell(kind, started)
    typed = r"""echo "naïve \\ back\tslash" 'it''s' | cat"""
    sh.type(typed)
    if kind == "fish":
        sh.type("for i in 1 2\necho $i\nend")
    else:
        sh.type("for i in 1 2\ndo echo $i\ndone")
    commands = [c["command"] for c in _commands(started)]
    assert commands[0] == typed
    assert "for i in 1 2" in commands[1] and "echo $i" in commands[1]


@pytest.mark.parametrize("kind", SHELLS)
def test_commands_typed_while_the_repo_is_paused_are_not_recorded(kind: str, started: Path, open_shell) -> None:
    sh = open_shell(kind, started)
    sh.type("echo before")
    sh.type("prtrace pause")
    sh.type("echo while-paused")
    sh.type("prtrace resume")
    sh.type("echo after")
    assert [c["command"] for c in _commands(started)] == ["echo before", "echo after"]


def test_bash_records_repeats_where_history_keeps_leading_space_lines(started: Path, open_shell) -> None:
    sh = open_shell("bash", started, before="HISTCONTROL=ignoredups")
    sh.type("echo again")
    sh.type("echo again")
    sh.type(" echo secret-token")
    sh.type("set +o history")
    sh.type("echo unknowable")  # not in the history list: its text cannot be read, so not recorded
    assert [c["command"] for c in _commands(started)] == ["echo again", "echo again"]


@pytest.mark.parametrize("kind", SHELLS[:2])
def test_strict_settings_and_odd_options_of_the_user_change_nothing(kind: str, started: Path, open_shell) -> None:
    before = {
        "bash": "set -u; shopt -s extglob nullglob failglob",
        "zsh": "setopt nounset noclobber ksharrays shwordsplit",
    }[kind]
    sh = open_shell(kind, started, after=before)
    out = sh.lines("echo one")
    sh.type("false")
    assert out[1:] == ["one"], out
    assert sh.last_status == 1
    assert [c["command"] for c in _commands(started)] == ["echo one", "false"]


@pytest.mark.parametrize("kind", SHELLS)
def test_a_repo_reached_through_a_symlink_is_recorded(kind: str, started: Path, open_shell, tmp_path: Path) -> None:
    link = tmp_path / "link"
    link.symlink_to(started)
    sh = open_shell(kind, tmp_path)
    sh.type(f"cd {link}")
    sh.type("echo via-link")
    assert [c["command"] for c in _commands(started)] == ["echo via-link"]


@pytest.mark.parametrize("kind", SHELLS[:2])
def test_a_wrap_named_like_a_users_alias_leaves_the_alias_alone(
    kind: str, started: Path, open_shell, tmp_path: Path
) -> None:
    sh = open_shell(kind, started, before="alias mytests='echo aliased'", wrap=("mytests",))
    out = sh.lines("mytests run")
    assert out[1:] == ["aliased run"], out
    assert [c["command"] for c in _commands(started)] == ["mytests run"]  # recorded by the hook instead


def test_a_prompt_command_prepended_after_the_hook_does_not_hide_exit_codes(started: Path, open_shell) -> None:
    sh = open_shell("bash", started, after='PROMPT_COMMAND="history -a; $PROMPT_COMMAND"')
    sh.type("false")
    sh.type("sh -c 'exit 6'")
    assert [c["exit_code"] for c in _commands(started)][-1] == 6


@pytest.mark.parametrize("kind", SHELLS)
def test_a_drained_command_leaves_nothing_in_the_spool_while_the_shell_runs(
    kind: str, started: Path, open_shell, prtrace_home: Path
) -> None:
    def spooled() -> list[Path]:
        return sorted(path for path in (prtrace_home / "spool").iterdir() if path.is_file())

    sh = open_shell(kind, started)
    sh.type("echo first")
    sh.type("echo second")
    assert [path.name.split(".")[0] for path in spooled()] == ["shell", "shell"]  # a file per command
    assert [c["command"] for c in _commands(started)] == ["echo first", "echo second"]  # drained
    assert spooled() == []  # gone from disk, though the shell that wrote them runs on
    sh.type("echo third")
    assert b"echo third" in b"".join(path.read_bytes() for path in spooled())
    assert [c["command"] for c in _commands(started)][-1] == "echo third"
    assert spooled() == []


@pytest.mark.parametrize("kind", SHELLS)
def test_the_hooks_lines_decode_into_typed_command_records(kind: str, started: Path, open_shell, prtrace_home: Path) -> None:
    (started / "sub dir").mkdir()
    sh = open_shell(kind, started)
    sh.type("false | true")
    sh.type("cd 'sub dir'")
    sh.type("echo back\\\\slash")
    sh.type("sh -c 'exit 3'")
    lines = []
    for path in (prtrace_home / "spool").glob("shell.*.spool"):  # nothing has drained them yet
        for raw in path.read_bytes().splitlines(keepends=True):
            line = parse_line(raw, path.stat().st_mtime_ns)
            assert line is not None and isinstance(line.record, CommandRecord), raw
            assert line.repo_path == str(started)
            lines.append(line)
    records = [line.record for line in sorted(lines, key=lambda line: line.order)]
    durations = [record.duration_ms for record in records if isinstance(record, CommandRecord)]
    assert all(isinstance(ms, int) and ms >= 0 for ms in durations)
    sub = str(started / "sub dir")
    assert records == [
        CommandRecord("false | true", 0, duration_ms=durations[0], cwd=str(started), pipestatus=(1, 0), shell=kind),
        CommandRecord("cd 'sub dir'", 0, duration_ms=durations[1], cwd=str(started), pipestatus=(0,), shell=kind),
        CommandRecord("echo back\\\\slash", 0, duration_ms=durations[2], cwd=sub, pipestatus=(0,), shell=kind),
        CommandRecord("sh -c 'exit 3'", 3, duration_ms=durations[3], cwd=sub, pipestatus=(3,), shell=kind),
    ]

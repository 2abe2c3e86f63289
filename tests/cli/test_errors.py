"""Errors a user meets: one clear line, a non-zero exit, never a traceback, nothing lost."""

from __future__ import annotations

from pathlib import Path

from tests.conftest import run_prtrace


def _one_clear_error(result, text: str) -> None:  # type: ignore[no-untyped-def]
    assert result.returncode != 0
    assert "Traceback" not in result.stderr and "Traceback" not in result.stdout
    assert result.stderr.startswith("error: ") and text in result.stderr


def test_outside_a_git_repo(tmp_path: Path) -> None:
    _one_clear_error(run_prtrace("note", "hi", cwd=tmp_path), "not inside a git work tree")


def test_unregistered_repo(repo: Path) -> None:
    _one_clear_error(run_prtrace("note", "hi", cwd=repo), "not registered")
    assert "prtrace start" in run_prtrace("note", "hi", cwd=repo).stderr


def test_unknown_ref(repo: Path) -> None:
    run_prtrace("start", cwd=repo, check=True)
    _one_clear_error(run_prtrace("show", "no-such-branch", "--local", cwd=repo), "no trace matches")
    _one_clear_error(run_prtrace("show", "PR-999", "--local", cwd=repo), "no trace matches")


def test_corrupt_buffer_is_reported_and_kept(repo: Path, prtrace_home: Path) -> None:
    (prtrace_home / "buffer.db").write_bytes(b"garbage" * 1000)
    _one_clear_error(run_prtrace("status", cwd=repo), "damaged")
    assert (prtrace_home / "buffer.db").read_bytes().startswith(b"garbage")


def test_push_without_a_server(repo: Path) -> None:
    run_prtrace("start", cwd=repo, check=True)
    _one_clear_error(run_prtrace("push", cwd=repo), "no server")


def test_run_returns_the_commands_exit_code_and_records_it(repo: Path) -> None:
    run_prtrace("start", cwd=repo, check=True)
    result = run_prtrace("run", "--", "sh", "-c", "echo out; echo err >&2; exit 7", cwd=repo)
    assert result.returncode == 7 and "out" in result.stdout and "err" in result.stdout
    shown = run_prtrace("show", "main", "--local", "--json", cwd=repo, check=True).stdout
    import json

    command = json.loads(shown)["events"][-1]["payload"]
    assert command["exit_code"] == 7 and "out" in command["stdout_sample"] and command["command"].startswith("sh -c")


def test_run_of_a_missing_or_unrunnable_command_answers_as_a_shell_does(repo: Path) -> None:
    run_prtrace("start", "--no-daemon", cwd=repo, check=True)
    missing = run_prtrace("run", "--", "no-such-command-xyz", cwd=repo)
    _one_clear_error(missing, "command not found")
    assert missing.returncode == 127
    (repo / "data.txt").write_text("not a program\n")
    for unrunnable in ("./data.txt", "./data.txt/below"):
        result = run_prtrace("run", "--", unrunnable, cwd=repo)
        _one_clear_error(result, "cannot run")
        assert result.returncode == 126


def test_run_of_a_script_without_a_shebang_runs_it_with_sh(repo: Path) -> None:
    run_prtrace("start", "--no-daemon", cwd=repo, check=True)
    script = repo / "plain.sh"
    script.write_text("echo from sh\nexit 5\n")
    script.chmod(0o755)
    result = run_prtrace("run", "--", "./plain.sh", cwd=repo)
    assert result.returncode == 5 and "from sh" in result.stdout


def test_run_with_stdout_closed_still_runs_and_records(repo: Path, prtrace_home: Path) -> None:
    import subprocess

    from prtrace_daemon.buffer import Buffer
    from tests.conftest import BIN

    run_prtrace("start", "--no-daemon", cwd=repo, check=True)
    code = subprocess.run(f"{BIN / 'prtrace'} run -- sh -c 'exit 3' >&-", shell=True, cwd=repo).returncode
    assert code == 3
    with Buffer(prtrace_home / "buffer.db") as buffer:
        trace = buffer.trace_for(str(repo), "main")
        assert trace is not None
        recorded = [e for e in buffer.events(trace.trace_id) if e["type"] != "start"]
    assert [(e["type"], e["payload"]["command"], e["payload"]["exit_code"]) for e in recorded] == [
        ("command", "sh -c exit 3", 3)  # the argv, joined
    ]


def test_every_command_has_help_text_wrapped_to_the_terminal() -> None:
    """Every command, the `agent` and `import` ones too, has help; its paragraphs are one line
    each (Typer keeps a docstring's breaks, which cut the command list's lines in two), except
    an indented block of examples."""
    import typer

    from prtrace_cli.app import app

    def commands(group: typer.Typer) -> list[typer.models.CommandInfo]:
        subs = [c for sub in group.registered_groups if sub.typer_instance for c in commands(sub.typer_instance)]
        return [*group.registered_commands, *subs]

    found = commands(app)
    assert {c.callback.__name__ for c in found if c.callback} >= {"blame", "install", "uninstall", "git_ai", "entire"}
    for command in found:
        assert command.callback is not None and (command.help or "").strip(), command.name
        for paragraph in command.help.split("\n\n"):
            lines = paragraph.splitlines()
            assert len(lines) == 1 or all(line[:1].isspace() for line in lines[1:]), (command.name, paragraph)


def test_a_pr_title_is_redacted_before_it_is_stored(repo: Path, prtrace_home: Path) -> None:
    token = "ghp_" + "Ab3Cd5Ef7Gh9Ij1Kl3Mn5Op7Qr9St1Uv3Wx5"
    run_prtrace("start", "--no-daemon", cwd=repo, check=True)
    run_prtrace("pr", "acme/app#7", "--title", f"rotate {token}", cwd=repo, check=True)
    assert not any(token.encode() in path.read_bytes() for path in prtrace_home.rglob("*") if path.is_file())


def test_crash_log_keeps_the_valid_user_patterns_when_one_is_bad(prtrace_home: Path) -> None:
    from prtrace_cli.main import CRASH_LOG
    from prtrace_core.guard import redacted

    prtrace_home.mkdir(parents=True, exist_ok=True)
    (prtrace_home / "config.toml").write_text('redact_patterns = ["INTERNAL-[0-9]{6}", "("]\n')
    assert "123456" not in redacted("--- prtrace note INTERNAL-123456", CRASH_LOG)

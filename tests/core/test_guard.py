"""The guarded entry both commands share: one line for what prtrace expects, 130 for Ctrl-C,
3 and a redacted crash log for a bug, never a traceback."""

from __future__ import annotations

import stat
from collections.abc import Callable
from pathlib import Path

import pytest
import typer
from typer.core import TyperGroup

from prtrace_core.errors import ConfigError, PrtraceError
from prtrace_core.guard import CrashLog, guarded_group, run_guarded

TOKEN = "ghp_" + "Ab3Cd5Ef7Gh9Ij1Kl3Mn5Op7Qr9St1Uv3Wx5"


def _crash_log(folder: Path) -> CrashLog:
    return CrashLog("prtrace-test", lambda: folder, hint="please report this with the log")


def _raise(exc: BaseException) -> object:
    raise exc


def test_an_expected_error_is_one_line_and_a_hint(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = run_guarded(
        lambda: _raise(ConfigError("bad setting", hint="set it right")), _crash_log(tmp_path)
    )
    assert code == 1
    assert capsys.readouterr().err.splitlines() == ["error: bad setting", "hint: set it right"]
    assert not (tmp_path / "crash.log").exists()


def test_an_error_keeps_its_own_exit_code(tmp_path: Path) -> None:
    class Special(PrtraceError):
        exit_code = 4

    assert run_guarded(lambda: _raise(Special("no")), _crash_log(tmp_path)) == 4


def test_ctrl_c_is_130_and_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run_guarded(lambda: _raise(KeyboardInterrupt()), _crash_log(tmp_path)) == 130
    assert capsys.readouterr().err.splitlines() == ["interrupted"]


def test_a_bug_exits_3_naming_a_private_crash_log_without_the_secret(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(
        "sys.argv", ["prtrace-test", "run", "--", "curl", "-H", f"Authorization: token {TOKEN}"]
    )
    folder = tmp_path / "state"
    code = run_guarded(lambda: _raise(ValueError(f"boom {TOKEN}")), _crash_log(folder))
    assert code == 3
    err = capsys.readouterr().err
    assert "Traceback" not in err and TOKEN not in err
    assert err.splitlines() == [
        f"error: prtrace-test hit an unexpected problem (details in {folder / 'crash.log'})",
        "hint: please report this with the log",
    ]
    log = (folder / "crash.log").read_text()
    assert "Traceback" in log and "ValueError" in log and TOKEN not in log
    assert stat.S_IMODE((folder / "crash.log").stat().st_mode) == 0o600


def test_a_commands_own_exit_code_passes_through(tmp_path: Path) -> None:
    assert run_guarded(lambda: 7, _crash_log(tmp_path)) == 7
    assert run_guarded(lambda: _raise(SystemExit(2)), _crash_log(tmp_path)) == 2
    assert run_guarded(lambda: None, _crash_log(tmp_path)) == 0


def _typer_app(body: Callable[[], None]) -> typer.Typer:
    app = typer.Typer(
        cls=guarded_group(TyperGroup), add_completion=False, pretty_exceptions_enable=False
    )
    app.command("one")(body)
    app.command("two")(lambda: None)  # a group, as both commands are
    return app


def test_ctrl_c_in_a_typer_command_is_130_not_aborted(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    def interrupted() -> None:
        raise KeyboardInterrupt

    app = _typer_app(interrupted)
    assert run_guarded(lambda: app(["one"], prog_name="t"), _crash_log(tmp_path)) == 130
    err = capsys.readouterr().err
    assert err.splitlines() == ["interrupted"] and "Aborted" not in err


def test_the_server_writes_its_crash_log_in_its_data_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from prtrace_server.cli import CRASH_LOG

    monkeypatch.setenv("PRTRACE_DATA_DIR", str(tmp_path / "data"))
    assert CRASH_LOG.folder() == tmp_path / "data"
    assert run_guarded(lambda: _raise(RuntimeError("bug")), CRASH_LOG) == 3
    assert "RuntimeError: bug" in (tmp_path / "data" / "crash.log").read_text()

"""The `prtrace-server` command, run as a real process."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from prtrace_server.stores import open_index
from prtrace_server.tokens import verify_token

SERVER = Path(sys.executable).parent / "prtrace-server"


def run(tmp_path: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    environment = {k: v for k, v in os.environ.items() if not k.startswith("PRTRACE_")}
    environment.update({"PRTRACE_DATA_DIR": str(tmp_path / "data"), "NO_COLOR": "1", **env})
    return subprocess.run(
        [str(SERVER), *args], env=environment, capture_output=True, text=True, timeout=60, check=False
    )


def assert_one_error_line(result: subprocess.CompletedProcess[str], *words: str) -> None:
    assert result.returncode == 1, result
    assert "Traceback" not in result.stderr
    lines = [line for line in result.stderr.splitlines() if not line.startswith("hint:")]
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ")
    for word in words:
        assert word in lines[0]


def test_token_create_prints_the_token_alone_on_the_last_line_of_stdout(tmp_path: Path) -> None:
    result = run(tmp_path, "token", "create", "--user", "alice", "--role", "reader")
    assert result.returncode == 0, result.stderr
    token = result.stdout.splitlines()[-1]
    assert result.stdout == token + "\n"
    assert "shown only now" in result.stderr
    index = open_index(f"sqlite:///{tmp_path}/data/index.db")
    try:
        record = verify_token(index, token)
        assert record is not None and (record.user, record.role) == ("alice", "reader")
        assert token not in (tmp_path / "data" / "index.db").read_bytes().decode("latin-1")
    finally:
        index.close()


def test_token_list_shows_ids_and_users_never_tokens(tmp_path: Path) -> None:
    token = run(tmp_path, "token", "create", "--user", "alice").stdout.strip()
    listing = run(tmp_path, "token", "list")
    assert listing.returncode == 0
    assert "alice" in listing.stdout and "writer" in listing.stdout
    assert token not in listing.stdout
    assert token.split("_")[1] in listing.stdout


def test_token_revoke_by_id_and_by_user(tmp_path: Path) -> None:
    first = run(tmp_path, "token", "create", "--user", "alice").stdout.strip()
    run(tmp_path, "token", "create", "--user", "alice")
    run(tmp_path, "token", "create", "--user", "bob")
    by_id = run(tmp_path, "token", "revoke", first.split("_")[1])
    assert by_id.returncode == 0 and "Revoked 1 token." in by_id.stderr
    by_user = run(tmp_path, "token", "revoke", "--user", "alice")
    assert by_user.returncode == 0 and "Revoked 1 token." in by_user.stderr
    listing = run(tmp_path, "token", "list").stdout.splitlines()
    assert sum(1 for line in listing if line.split()[1] == "alice" and line.rstrip().endswith("-")) == 0
    assert sum(1 for line in listing if line.split()[1] == "bob" and line.rstrip().endswith("-")) == 1


def test_revoking_what_is_not_there_is_one_red_line(tmp_path: Path) -> None:
    assert_one_error_line(run(tmp_path, "token", "revoke", "000000000000"), "no active token")
    assert_one_error_line(run(tmp_path, "token", "revoke"), "TOKEN_ID or --user")


def test_token_create_refuses_a_bad_user_name(tmp_path: Path) -> None:
    assert_one_error_line(run(tmp_path, "token", "create", "--user", "no spaces"), "user name")


def test_serve_refuses_auth_off_on_a_public_address(tmp_path: Path) -> None:
    result = run(tmp_path, "serve", "--host", "0.0.0.0", PRTRACE_AUTH="off")
    assert_one_error_line(result, "PRTRACE_AUTH=off", "loopback")


@pytest.mark.parametrize(
    ("variable", "value", "words"),
    [
        ("PRTRACE_DATABASE_URL", "postgresql://postgres:secret@localhost/telemetry", ("PostgreSQL", "not available")),
        ("PRTRACE_STORAGE_URL", "s3://traces", ("S3", "not available")),
        ("PRTRACE_DATABASE_URL", "mysql://x", ("unsupported",)),
        ("PRTRACE_AUTH", "maybe", ("PRTRACE_AUTH",)),
    ],
)
def test_serve_refuses_settings_it_cannot_honour(
    tmp_path: Path, variable: str, value: str, words: tuple[str, ...]
) -> None:
    result = run(tmp_path, "serve", **{variable: value})
    assert_one_error_line(result, *words)
    assert "secret" not in result.stderr


@pytest.mark.parametrize(
    "command",
    [(), ("serve",), ("token",), ("token", "create"), ("token", "list"), ("token", "revoke")],
)
def test_every_command_has_help_text(tmp_path: Path, command: tuple[str, ...]) -> None:
    result = run(tmp_path, *command, "--help")
    assert result.returncode == 0
    assert "Usage" in result.stdout
    description = result.stdout.split("Usage", 1)[1].splitlines()[2:4]
    assert any(line.strip() for line in description), result.stdout


def test_serve_help_is_honest_about_the_worker(tmp_path: Path) -> None:
    result = run(tmp_path, "serve", "--help", COLUMNS="200")
    assert "--no-worker" in result.stdout
    assert "no compaction worker yet" in " ".join(result.stdout.split())

"""The `prtrace-server` command, run as a real process."""

from __future__ import annotations

import os
import signal
import subprocess
from pathlib import Path

import pytest

from prtrace_server.stores import open_index
from prtrace_server.tokens import verify_token
from tests.conftest import S3Endpoint
from tests.support.server import SERVER, ServerProcess
from tests.support.stack import free_port


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


NOBODY = f"127.0.0.1:{free_port()}"  # a port nothing listens on
S3_KEYS = {"AWS_ACCESS_KEY_ID": "k", "AWS_SECRET_ACCESS_KEY": "s", "AWS_REGION": "us-east-1"}


@pytest.mark.parametrize(
    ("env", "words"),
    [
        pytest.param(
            {"PRTRACE_DATABASE_URL": f"postgresql://postgres:secret@{NOBODY}/telemetry"},
            ("PostgreSQL", "cannot connect", "refused"),
            id="postgres-unreachable",
        ),
        pytest.param({"PRTRACE_DATABASE_URL": "postgresql://u:secret%zz@h/db"}, ("PRTRACE_DATABASE_URL",), id="postgres-bad-url"),
        pytest.param(
            {"PRTRACE_STORAGE_URL": "s3://traces", "AWS_ENDPOINT_URL": f"http://{NOBODY}", **S3_KEYS},
            ("S3", "traces", "does not answer"),
            id="s3-unreachable",
        ),
        pytest.param({"PRTRACE_STORAGE_URL": "s3://Not_A_Bucket"}, ("not a bucket name",), id="s3-bad-bucket-name"),
        pytest.param({"PRTRACE_DATABASE_URL": "mysql://x"}, ("unsupported",), id="unsupported-scheme"),
        pytest.param({"PRTRACE_AUTH": "maybe"}, ("PRTRACE_AUTH",), id="bad-auth"),
    ],
)
def test_serve_refuses_settings_it_cannot_honour(tmp_path: Path, env: dict[str, str], words: tuple[str, ...]) -> None:
    result = run(tmp_path, "serve", **env)
    assert_one_error_line(result, *words)
    assert "secret" not in result.stderr


def test_serve_refuses_a_bucket_that_does_not_exist(tmp_path: Path, s3_server: S3Endpoint) -> None:
    result = run(tmp_path, "serve", PRTRACE_STORAGE_URL="s3://no-such-bucket", **s3_server.env())
    assert_one_error_line(result, "bucket no-such-bucket does not exist")
    assert "create it first" in result.stderr


def test_serve_refuses_wrong_s3_keys(tmp_path: Path, s3_server: S3Endpoint, s3_bucket: str) -> None:
    env = {**s3_server.env(), "AWS_SECRET_ACCESS_KEY": "not-the-secret"}
    result = run(tmp_path, "serve", PRTRACE_STORAGE_URL=f"s3://{s3_bucket}", **env)
    assert_one_error_line(result, f"access to bucket {s3_bucket}", "denied")
    assert "not-the-secret" not in result.stderr


def test_token_commands_keep_tokens_in_postgresql(tmp_path: Path, postgres_url: str) -> None:
    token = run(tmp_path, "token", "create", "--user", "alice", PRTRACE_DATABASE_URL=postgres_url).stdout.strip()
    listing = run(tmp_path, "token", "list", PRTRACE_DATABASE_URL=postgres_url)
    assert listing.returncode == 0 and "alice" in listing.stdout
    index = open_index(postgres_url)
    try:
        record = verify_token(index, token)
        assert record is not None and record.user == "alice"
    finally:
        index.close()
    assert not (tmp_path / "data" / "index.db").exists()


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


def test_serve_help_points_to_the_separate_worker(tmp_path: Path) -> None:
    result = run(tmp_path, "serve", "--help", COLUMNS="200")
    assert "--no-worker" in result.stdout
    assert "prtrace-server worker" in " ".join(result.stdout.split())


def test_version_is_the_installed_one(tmp_path: Path) -> None:
    from importlib.metadata import version

    result = run(tmp_path, "--version")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"prtrace-server {version('prtrace')}"


def test_ctrl_c_stops_serve_with_130_and_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for key in [key for key in os.environ if key.startswith("PRTRACE_")]:
        monkeypatch.delenv(key)  # only this test's settings
    stderr = tmp_path / "serve.stderr"
    server = ServerProcess(
        {"PRTRACE_DATA_DIR": str(tmp_path / "data"), "PRTRACE_AUTH": "off", "NO_COLOR": "1"},
        tmp_path / "serve.stdout",
        ready_path="/readyz",
        stderr_log=stderr,
        default_sigint=True,  # SIGINT as a shell leaves it, even when the test runner's is ignored
    )
    code = server.start().stop(signal.SIGINT, timeout_s=60)
    err = stderr.read_text()
    assert code == 130, err
    assert "Traceback" not in err and "Aborted" not in err
    assert err.splitlines()[-1] == "interrupted", err

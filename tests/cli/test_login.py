"""`prtrace login` against a real server with token auth."""

from __future__ import annotations

import os
import stat
import subprocess
from pathlib import Path

import pytest

from tests.conftest import BIN, run_prtrace

pytestmark = pytest.mark.e2e


def _token(data_dir: Path, user: str, role: str = "writer") -> str:
    out = subprocess.run(
        [str(BIN / "prtrace-server"), "token", "create", "--user", user, "--role", role],
        env={**os.environ, "PRTRACE_DATA_DIR": str(data_dir)}, capture_output=True, text=True, check=True,
    )
    return out.stdout.strip().splitlines()[-1]


def test_login_stores_server_and_token_privately_and_push_uses_them(
    repo: Path, prtrace_home: Path, auth_server: tuple[str, Path]
) -> None:
    url, data_dir = auth_server
    token = _token(data_dir, "alice")
    run_prtrace("login", "--server", url, "--token", token, cwd=repo, check=True)
    config = prtrace_home / "config.toml"
    assert stat.S_IMODE(config.stat().st_mode) == 0o600
    assert token in config.read_text()
    run_prtrace("start", cwd=repo, check=True)
    pushed = run_prtrace("push", cwd=repo, check=True)
    assert "1 new" in pushed.stdout
    assert "main" in run_prtrace("show", "main", cwd=repo, check=True).stdout


def test_login_with_a_bad_token_is_refused_and_saves_nothing(
    repo: Path, prtrace_home: Path, auth_server: tuple[str, Path]
) -> None:
    url, _ = auth_server
    result = run_prtrace("login", "--server", url, "--token", "prt_000000000000_nope", cwd=repo)
    assert result.returncode == 1 and "401" in result.stderr and "Traceback" not in result.stderr
    assert not (prtrace_home / "config.toml").exists()

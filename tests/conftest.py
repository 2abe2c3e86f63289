"""Every test runs with its own PRTRACE_HOME and git identity, and never touches a real home."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from tests.support.server import serving as serve_process

if TYPE_CHECKING:
    from tests.support.stack import LocalPostgres

BIN = Path(sys.executable).parent


def pytest_configure(config: pytest.Config) -> None:
    """Child processes (`prtrace`, the daemon, `prtrace-server`) start thousands of times in a
    run. With bytecode writing off (PYTHONDONTWRITEBYTECODE) each would compile prtrace's own
    modules again, installed packages having theirs: compile them once, here, into the
    __pycache__ folders git ignores. Checked against the source's hash, not its mtime, so a file
    edited during the run is never run from a stale copy; nothing else is written."""
    if os.environ.get("PYTHONDONTWRITEBYTECODE") and not hasattr(config, "workerinput"):
        import compileall
        import py_compile

        root = Path(__file__).resolve().parent.parent
        for package in ("prtrace_core", "prtrace_daemon", "prtrace_cli", "prtrace_viewer", "server"):
            compileall.compile_dir(root / package, quiet=2, force=True,
                                   invalidation_mode=py_compile.PycInvalidationMode.CHECKED_HASH)


def isolate(monkeypatch: pytest.MonkeyPatch, home: Path) -> None:
    """Make `home` the PRTRACE_HOME, with a git config of its own; unset what would leak in.
    Also for fixtures wider than a test, through `pytest.MonkeyPatch.context()`."""
    gitconfig = home / "gitconfig"
    gitconfig.write_text("[user]\n\tname = Test Dev\n\temail = dev@example.com\n[init]\n\tdefaultBranch = main\n")
    monkeypatch.setenv("PRTRACE_HOME", str(home))
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", str(gitconfig))
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    def refuse(*_args: object, **_kwargs: object) -> str:
        raise AssertionError("a test reached for the real user data dir; set PRTRACE_HOME")

    monkeypatch.setattr("platformdirs.user_data_dir", refuse)
    for var in ("PRTRACE_SERVER", "PRTRACE_TOKEN", "GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE"):
        monkeypatch.delenv(var, raising=False)


@pytest.fixture(autouse=True)
def isolated_env(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A private PRTRACE_HOME and git config; no server, token or hook setting leaks in; a
    daemon that the test started (`prtrace start`) is stopped when it ends."""
    home = tmp_path_factory.mktemp("prtrace-home")
    isolate(monkeypatch, home)
    yield home
    from prtrace_daemon.paths import Home
    from prtrace_daemon.process import stop

    stop(Home(home))


@pytest.fixture
def prtrace_home(isolated_env: Path) -> Path:
    return isolated_env


def git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=repo, check=True, capture_output=True, text=True).stdout


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A git repo with one commit, in its own temp folder."""
    return make_repo(tmp_path / "repo")


def make_repo(root: Path) -> Path:
    """A git repo with one commit at `root` (a new folder)."""
    root.mkdir()
    git(root, "init", "-q", "-b", "main")
    (root / "calc.py").write_text("def add(a, b):\n    return a + b\n")
    (root / ".gitignore").write_text("__pycache__/\n*.log\n")
    git(root, "add", ".")
    git(root, "commit", "-q", "-m", "initial")
    return root


def run_prtrace(*args: str, cwd: Path, check: bool = False, env: dict[str, str] | None = None,
                timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """The real `prtrace` process, as a user runs it."""
    proc = subprocess.run(
        [str(BIN / "prtrace"), *args], cwd=cwd, capture_output=True, text=True, timeout=timeout,
        env={**os.environ, **(env or {})},
    )
    if check and proc.returncode != 0:
        raise AssertionError(f"prtrace {' '.join(args)} exited {proc.returncode}:\n{proc.stdout}\n{proc.stderr}")
    return proc


@contextmanager
def serving(data: Path, *, auth: str = "off", env: dict[str, str] | None = None) -> Iterator[str]:
    """A real `prtrace-server serve` process on a free loopback port; yields its base URL. Its
    log is `<data>-server.log` beside the data folder."""
    data.mkdir(parents=True, exist_ok=True)
    server_env = {"PRTRACE_AUTH": auth, "PRTRACE_DATA_DIR": str(data), **(env or {})}
    with serve_process(server_env, data.parent / f"{data.name}-server.log") as server:
        yield server.url


@pytest.fixture
def server_url(tmp_path: Path) -> Iterator[str]:
    """A real server, auth off, embedded storage in tmp."""
    with serving(tmp_path / "server-data") as url:
        yield url


@pytest.fixture
def auth_server(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """A real server that requires tokens; its URL and data dir (for `token create`)."""
    data = tmp_path / "auth-server-data"
    with serving(data, auth="required") as url:
        yield url, data


# Real services, started once per test session (or named by the environment).


@dataclass(frozen=True)
class S3Endpoint:
    endpoint: str
    access_key: str
    secret_key: str

    def env(self) -> dict[str, str]:
        return {
            "AWS_ENDPOINT_URL": self.endpoint,
            "AWS_ACCESS_KEY_ID": self.access_key,
            "AWS_SECRET_ACCESS_KEY": self.secret_key,
            "AWS_REGION": "us-east-1",
        }

    def client(self):  # type: ignore[no-untyped-def]
        import boto3
        from botocore.config import Config

        return boto3.client(
            "s3", endpoint_url=self.endpoint, aws_access_key_id=self.access_key,
            aws_secret_access_key=self.secret_key, region_name="us-east-1",
            config=Config(s3={"addressing_style": "path"}),
        )


def start_postgres_cluster(pgdata: Path) -> LocalPostgres:
    """start_postgres, one at a time across parallel test workers: the first start as root
    also creates the system user PostgreSQL runs as, which two at once would both try."""
    import fcntl
    import tempfile

    from tests.support.stack import start_postgres

    with open(Path(tempfile.gettempdir()) / "prtrace-test-postgres.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        return start_postgres(pgdata)


@pytest.fixture(scope="session")
def postgres_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A PostgreSQL server URL (database `postgres`): PRTRACE_TEST_DATABASE_URL, or embedded."""
    given = os.environ.get("PRTRACE_TEST_DATABASE_URL")
    if given:
        yield given
        return
    pg = start_postgres_cluster(tmp_path_factory.mktemp("postgres") / "pgdata")
    try:
        yield pg.url()
    finally:
        pg.stop()


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Endpoint]:
    """An S3 endpoint: PRTRACE_TEST_S3_ENDPOINT (keys from AWS_*), or `weed mini`."""
    given = os.environ.get("PRTRACE_TEST_S3_ENDPOINT")
    if given:
        yield S3Endpoint(given, os.environ.get("AWS_ACCESS_KEY_ID", "test"), os.environ.get("AWS_SECRET_ACCESS_KEY", "test"))
        return
    from tests.support.stack import S3_ACCESS_KEY, S3_SECRET_KEY, start_s3

    s3 = start_s3(tmp_path_factory.mktemp("s3"))
    try:
        yield S3Endpoint(s3.endpoint, S3_ACCESS_KEY, S3_SECRET_KEY)
    finally:
        s3.kill()  # its data is thrown away: no need to wait seconds for a clean shutdown


@pytest.fixture
def postgres_url(postgres_server: str) -> Iterator[str]:
    """A fresh, empty database on the session's PostgreSQL server, dropped afterwards."""
    import uuid
    from urllib.parse import urlsplit, urlunsplit

    import psycopg

    name = f"t_{uuid.uuid4().hex[:16]}"
    with psycopg.connect(postgres_server, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    # A postgresql:// URL, as PRTRACE_DATABASE_URL takes it (a socket host stays in the query).
    yield urlunsplit(urlsplit(postgres_server)._replace(path=f"/{name}"))
    with psycopg.connect(postgres_server, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def s3_bucket(s3_server: S3Endpoint) -> str:
    """A fresh, empty bucket on the session's S3 server; its name."""
    import uuid

    name = f"t-{uuid.uuid4().hex[:16]}"
    s3_server.client().create_bucket(Bucket=name)
    return name


@pytest.fixture(params=["embedded", "postgres+s3"])
def backend(request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """Server settings for each storage configuration, as environment variables (also set)."""
    env = {"PRTRACE_DATA_DIR": str(tmp_path / "server-data")}
    if request.param == "postgres+s3":
        s3: S3Endpoint = request.getfixturevalue("s3_server")
        env["PRTRACE_DATABASE_URL"] = request.getfixturevalue("postgres_url")
        env["PRTRACE_STORAGE_URL"] = f"s3://{request.getfixturevalue('s3_bucket')}"
        env.update(s3.env())
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    return env

